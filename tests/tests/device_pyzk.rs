//! The simulator is faithful: pyzk, an independent client, reads from it exactly what it holds,
//! over TCP and UDP, with and without a comm key, in every record layout.

use attendance_bridge::device::records::AttendanceLayout;
use attendance_bridge::simulator::{DeviceData, SimConfig, SimulatedDevice};
use chrono::NaiveDate;

async fn check(layout: AttendanceLayout, comm_key: u32, udp: bool, punches: usize) {
    let held = DeviceData::generate(12, punches, 9, NaiveDate::from_ymd_opt(2025, 6, 2).expect("date"));
    let config = SimConfig { comm_key, layout, ..SimConfig::default() };
    let sim = SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), config, held.clone()).await.expect("simulator");
    let address = sim.address();
    let seen = tokio::task::spawn_blocking(move || bridge_e2e::pyzk::read_device(address, comm_key, udp)).await.expect("pyzk task");
    let what = format!("{layout:?} key={comm_key} udp={udp} n={punches}");

    assert_eq!(seen["serial"], "AIOR192960031", "{what}");
    assert_eq!(seen["platform"], "ZMM210_TFT", "{what}");
    assert_eq!(seen["firmware"], "Ver 6.60 Apr 26 2016", "{what}");
    assert_eq!(seen["mac"], "00:17:61:12:34:56", "{what}");
    assert_eq!(seen["device_name"], "F18/ID", "{what}");
    let device_time = chrono::NaiveDateTime::parse_from_str(seen["time"].as_str().expect("time"), "%Y-%m-%dT%H:%M:%S").expect("iso");
    assert!((device_time - sim.clock()).num_seconds().abs() <= 3, "{what}: clock");
    assert_eq!(seen["records"], punches, "{what}");

    let users = seen["users"].as_array().expect("users");
    assert_eq!(users.len(), held.users.len(), "{what}");
    for (got, want) in users.iter().zip(&held.users) {
        assert_eq!(got["uid"], want.uid, "{what}");
        assert_eq!(got["user_id"], want.user_id.0, "{what}");
        assert_eq!(got["name"], want.name, "{what}");
        assert_eq!(got["privilege"], want.privilege, "{what}");
    }
    let attendance = seen["attendance"].as_array().expect("attendance");
    assert_eq!(attendance.len(), held.attendance.len(), "{what}");
    for (i, (got, want)) in attendance.iter().zip(&held.attendance).enumerate() {
        let time = want.time.0.format("%Y-%m-%dT%H:%M:%S").to_string();
        let same = got["user_id"] == want.user_id.0.as_str() && got["time"] == time.as_str() && got["status"] == want.verify && got["punch"] == want.state;
        assert!(same, "{what}: record {i}: pyzk saw {got}, the simulator holds {want:?}");
    }
    assert!(sim.stats().enabled);
    sim.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzk_reads_what_the_simulator_holds() {
    for layout in [AttendanceLayout::Short8, AttendanceLayout::Numeric16, AttendanceLayout::Tft40] {
        for (comm_key, udp) in [(0, false), (0, true), (55_555, false), (55_555, true)] {
            // Enough punches for multi-chunk buffered reads over UDP (16 KiB chunks).
            check(layout, comm_key, udp, 1500).await;
        }
    }
    // Small sets travel inline.
    check(AttendanceLayout::Tft40, 0, false, 4).await;
    check(AttendanceLayout::Tft40, 0, true, 4).await;
}
