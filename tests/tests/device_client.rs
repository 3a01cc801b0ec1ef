//! Our ZK client against the device simulator: every record layout, TCP and UDP, with and without a
//! comm key; each injected fault gives its typed error within the timeout and leaves the device enabled.

use std::time::{Duration, Instant};

use attendance_bridge::device::DeviceError;
use attendance_bridge::device::client::{ConnectOptions, ZkClient};
use attendance_bridge::device::records::AttendanceLayout;
use attendance_bridge::simulator::{DeviceData, Faults, SimConfig, SimulatedDevice};
use chrono::{NaiveDate, TimeDelta};

fn data(users: usize, punches: usize) -> DeviceData {
    DeviceData::generate(users, punches, 42, NaiveDate::from_ymd_opt(2025, 6, 2).expect("date"))
}

async fn device(config: SimConfig, data: DeviceData) -> SimulatedDevice {
    SimulatedDevice::start("127.0.0.1:0".parse().expect("addr"), config, data).await.expect("simulator starts")
}

fn options(device: &SimulatedDevice, comm_key: u32, udp: bool) -> ConnectOptions {
    ConnectOptions { address: device.address(), comm_key, timeout: Duration::from_secs(2), udp }
}

/// Equal lists, or a short message naming the first difference.
fn assert_same<T: PartialEq + std::fmt::Debug>(got: &[T], want: &[T], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: record count");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!("{what}: record {i} differs: got {:?}, want {:?}", got[i], want[i]);
    }
}

#[tokio::test]
async fn reads_everything_in_every_layout_over_tcp_and_udp() {
    for layout in [AttendanceLayout::Short8, AttendanceLayout::Numeric16, AttendanceLayout::Tft40] {
        for comm_key in [0, 123_456] {
            // 3,000 punches: buffered reads in several UDP chunks; 5 punches: inline replies.
            for punches in [5, 3000] {
                let held = data(30, punches);
                let sim = device(SimConfig { comm_key, layout, ..SimConfig::default() }, held.clone()).await;
                for udp in [false, true] {
                    let mut client = ZkClient::connect(options(&sim, comm_key, udp)).await.expect("connects");
                    let info = client.device_info().await.expect("info");
                    assert_eq!(info.serial_number, "AIOR192960031");
                    assert_eq!(info.sizes.records as usize, punches);
                    assert_eq!(info.firmware, "Ver 6.60 Apr 26 2016");
                    let download = client.download().await.expect("download");
                    assert_eq!(download.users, held.users, "{layout:?} udp={udp}");
                    let mut expected = held.attendance.clone();
                    if layout == AttendanceLayout::Numeric16 {
                        expected.iter_mut().for_each(|r| r.uid = 0);
                    }
                    assert_same(&download.attendance, &expected, &format!("{layout:?} key={comm_key} udp={udp} n={punches}"));
                    client.disconnect().await;
                    assert!(sim.stats().enabled, "re-enabled after the download");
                }
                sim.stop();
            }
        }
    }
}

#[tokio::test]
async fn clock_read_set_and_drift() {
    let sim = device(SimConfig { clock_skew: TimeDelta::seconds(-300), ..SimConfig::default() }, data(3, 10)).await;
    let mut client = ZkClient::connect(options(&sim, 0, false)).await.expect("connects");
    let drift = client.time().await.expect("time") - chrono::Utc::now().naive_utc();
    assert!((drift.num_seconds() + 300).abs() <= 2, "{drift:?}");
    client.set_time(chrono::Utc::now().naive_utc()).await.expect("set");
    let drift = client.time().await.expect("time") - chrono::Utc::now().naive_utc();
    assert!(drift.num_seconds().abs() <= 2, "{drift:?}");
}

#[tokio::test]
async fn live_events_arrive_on_a_subscription() {
    let sim = device(SimConfig::default(), data(3, 10)).await;
    let client = ZkClient::connect(options(&sim, 0, false)).await.expect("connects");
    let mut events = client.subscribe().await.expect("subscribed");
    assert_eq!(events.next(Duration::from_millis(200)).await.expect("quiet"), None);
    let punched = sim.punch("1002", 1);
    let event = events.next(Duration::from_secs(2)).await.expect("event").expect("a punch");
    assert_eq!((event.user_id, event.time, event.state), (punched.user_id, punched.time, 1));
}

#[tokio::test]
async fn wrong_or_missing_comm_key_is_named() {
    let sim = device(SimConfig { comm_key: 4242, ..SimConfig::default() }, data(3, 10)).await;
    for udp in [false, true] {
        let wrong = ZkClient::connect(options(&sim, 4243, udp)).await.expect_err("refused");
        assert_eq!(wrong, DeviceError::WrongCommKey);
        assert!(wrong.to_string().contains("wrong comm key"));
        assert_eq!(ZkClient::connect(options(&sim, 0, udp)).await.expect_err("needs a key"), DeviceError::CommKeyRequired);
    }
}

/// Each fault: the expected typed error, within the timeout, and the device left enabled.
#[tokio::test]
async fn faults_give_typed_errors_within_the_timeout() {
    let cases: Vec<(&str, Faults, bool, fn(&DeviceError) -> bool)> = vec![
        ("drop mid-transfer", Faults { drop_after_bytes: Some(40_000), ..Faults::default() }, false, |e| {
            matches!(e, DeviceError::Truncated { .. } | DeviceError::Closed)
        }),
        ("slow answers", Faults { delay: Some(Duration::from_secs(5)), ..Faults::default() }, false, |e| {
            matches!(e, DeviceError::Timeout(_))
        }),
        ("slow answers (udp)", Faults { delay: Some(Duration::from_secs(5)), ..Faults::default() }, true, |e| {
            matches!(e, DeviceError::Timeout(_))
        }),
        ("corrupt checksum", Faults { corrupt_checksum: true, ..Faults::default() }, false, |e| {
            matches!(e, DeviceError::Malformed(m) if m.contains("checksum"))
        }),
        ("refused auth", Faults { refuse_auth: true, ..Faults::default() }, false, |e| *e == DeviceError::CommKeyRequired),
    ];
    for (name, faults, udp, expected) in cases {
        let sim = device(SimConfig::default(), data(40, 5000)).await;
        let connected = ZkClient::connect(options(&sim, 0, udp)).await;
        sim.set_faults(faults.clone());
        let started = Instant::now();
        let outcome = match connected {
            Ok(client) if faults.refuse_auth => {
                client.disconnect().await;
                ZkClient::connect(options(&sim, 0, udp)).await.map(drop)
            }
            Ok(mut client) => client.download().await.map(drop),
            Err(e) => Err(e),
        };
        let error = outcome.expect_err(name);
        assert!(expected(&error), "{name}: unexpected {error:?}");
        assert!(started.elapsed() < Duration::from_secs(15), "{name}: took {:?}", started.elapsed());
        sim.set_faults(Faults::default());
        // The download's guard re-enables the device, over a fresh connection if needed.
        assert!(sim.stats().enabled, "{name}: device left disabled");
        sim.stop();
    }
}

#[tokio::test]
async fn an_unreachable_device_is_diagnosed() {
    let port = bridge_e2e::free_port();
    let options = ConnectOptions::new(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let error = ZkClient::connect(options).await.expect_err("nobody there");
    assert!(matches!(error, DeviceError::Unreachable(_)), "{error:?}");
}
