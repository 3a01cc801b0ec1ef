//! Benchmark: download 100,000 attendance records from the simulator with our client and with pyzk,
//! over TCP and UDP, the same number of runs each; prints every run, both medians and their ratio.
//! Run with `cargo bench -p bridge-e2e --bench device_download` (after `scripts/test.sh` made .venv-test).

use std::time::Instant;

use attendance_bridge::device::client::{ConnectOptions, ZkClient};
use attendance_bridge::simulator::{DeviceData, SimConfig, SimulatedDevice};
use chrono::NaiveDate;

const RECORDS: usize = 100_000;

#[tokio::main]
async fn main() {
    let data = DeviceData::generate(500, RECORDS, 1, NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default());
    let sim = SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), SimConfig::default(), data).await.expect("simulator");
    let address = sim.address();
    println!("download of {RECORDS} attendance records (40-byte layout) + 500 users from the simulator");
    // Both clients do the same work per run (connect, users, attendance, disconnect), the same number
    // of runs, alternating so a slow spell of a shared machine hits both; the median run is the figure.
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    for udp in [false, true] {
        let transport = if udp { "udp" } else { "tcp" };
        let (mut ours, mut pyzk) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let started = Instant::now();
            let options = ConnectOptions { udp, ..ConnectOptions::new(address) };
            let mut client = ZkClient::connect(options).await.expect("connect");
            let download = client.download().await.expect("download");
            client.disconnect().await;
            assert_eq!(download.attendance.len(), RECORDS);
            ours.push(started.elapsed().as_secs_f64());
            pyzk.push(pyzk_run(address, transport).await);
        }
        let runs = |times: &[f64]| times.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>().join(", ");
        println!("{transport}: ours runs [{}] s; pyzk runs [{}] s", runs(&ours), runs(&pyzk));
        let (ours, pyzk) = (median(&mut ours), median(&mut pyzk));
        println!(
            "{transport}: median of {rounds}: ours {:.3} s ({:.0} records/s), pyzk {:.3} s ({:.0} records/s), ours is {:.1}x faster",
            ours,
            RECORDS as f64 / ours,
            pyzk,
            RECORDS as f64 / pyzk,
            pyzk / ours
        );
    }
    sim.stop();
}

/// One timed pyzk download (its own timer, around the same steps as ours); seconds.
async fn pyzk_run(address: std::net::SocketAddr, transport: &str) -> f64 {
    let python = bridge_e2e::pyzk::python();
    let script = bridge_e2e::workspace_root().join("tests/python/pyzk_bench.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .args([address.ip().to_string(), address.port().to_string(), transport.to_owned()])
        .output()
        .await
        .expect("pyzk runs");
    assert!(out.status.success(), "pyzk: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["records"], RECORDS);
    report["seconds"].as_f64().expect("seconds")
}

/// The median of `times` (the upper one of an even count).
fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
