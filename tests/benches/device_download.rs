//! Benchmark: download 100,000 attendance records from the simulator with our client and with pyzk,
//! in one run, over TCP and UDP; prints both times and the ratio.
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
    for udp in [false, true] {
        let transport = if udp { "udp" } else { "tcp" };
        // Ours: best of three.
        let mut ours = f64::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            let options = ConnectOptions { udp, ..ConnectOptions::new(address) };
            let mut client = ZkClient::connect(options).await.expect("connect");
            let download = client.download().await.expect("download");
            client.disconnect().await;
            assert_eq!(download.attendance.len(), RECORDS);
            ours = ours.min(started.elapsed().as_secs_f64());
        }
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
        let pyzk = report["seconds"].as_f64().expect("seconds");
        println!(
            "{transport}: ours {:.3} s ({:.0} records/s), pyzk {:.3} s ({:.0} records/s), ours is {:.1}x faster",
            ours,
            RECORDS as f64 / ours,
            pyzk,
            RECORDS as f64 / pyzk,
            pyzk / ours
        );
    }
    sim.stop();
}
