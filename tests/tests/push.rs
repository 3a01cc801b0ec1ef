//! Push (ADMS / iclock) terminals against the bridge, on both backends, with the push simulator.

use std::time::{Duration, Instant};

use attendance_bridge::config::UnknownDevices;
use attendance_bridge::device::push::PushCommand;
use attendance_bridge::simulator::push::{PushConfig, PushTerminal, SimPunch};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::{Store, device_commands, punches};
use bridge_e2e::{Backend, TestApp};
use chrono::{NaiveDate, TimeDelta};
use tokio_util::sync::CancellationToken;

bridge_e2e::on_both_backends!(
    unknown_serial_stays_pending_until_approved,
    a_queued_clock_set_reaches_the_device_and_its_result_comes_back,
    a_malformed_line_is_named_and_the_others_are_stored,
    new_punches_arrive_live_and_switching_transport_adds_no_duplicates,
    a_push_terminal_s_stored_upload_is_its_last_sync,
);

/// `n` punches for ten employees over consecutive minutes from 2025-06-02 07:00.
pub fn punches_for(n: usize) -> Vec<SimPunch> {
    let start = NaiveDate::from_ymd_opt(2025, 6, 2).and_then(|d| d.and_hms_opt(7, 0, 0)).expect("time");
    (0..n)
        .map(|i| SimPunch {
            pin: format!("{}", 1000 + i % 10),
            time: start + TimeDelta::minutes(i64::try_from(i).expect("small")),
            state: u8::try_from(i % 2).expect("0 or 1"),
            verify: 1,
        })
        .collect()
}

async fn wait_until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stored_for(store: &Store, serial: &str) -> usize {
    match devices::find_by_serial(store, serial).await.expect("lookup") {
        Some(device) => punches::list_for_device(store, device.id).await.expect("list").len(),
        None => 0,
    }
}

/// A terminal that only polls for commands has been seen, not synced; once its attendance upload is
/// stored, its last sync is that moment (it used to show "never synced" whatever it uploaded).
async fn a_push_terminal_s_stored_upload_is_its_last_sync(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    let device = devices::insert(&store, &NewDevice::push("Lobby (push)", "SYNCSN01", true)).await.expect("device");
    let before = chrono::Utc::now().naive_utc() - TimeDelta::seconds(1);

    let handshake = reqwest::get(format!("{}/iclock/cdata?SN=SYNCSN01&options=all", app.base_url)).await.expect("handshake");
    assert_eq!(handshake.status(), 200);
    let seen = devices::get(&store, device.id).await.expect("device");
    assert!(seen.last_seen_at.is_some(), "the handshake is recorded as contact");
    assert_eq!(seen.last_sync_at, None, "a handshake uploads nothing: no sync yet");

    let terminal = PushTerminal::new(PushConfig::new("SYNCSN01", &app.base_url), punches_for(12));
    let stop = CancellationToken::new();
    let running = tokio::spawn(terminal.clone().run(stop.clone()));
    wait_until("the punches are stored", Duration::from_secs(20), async || stored_for(&store, "SYNCSN01").await == 12).await;
    stop.cancel();
    running.await.expect("terminal");

    let synced = devices::get(&store, device.id).await.expect("device");
    let at = synced.last_sync_at.expect("a stored upload is the terminal's last sync");
    assert!(at >= before, "last sync {at} is the upload's time (after {before})");
}

async fn unknown_serial_stays_pending_until_approved(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    let terminal = PushTerminal::new(PushConfig::new("NEWSN001", &app.base_url), punches_for(30));
    let stop = CancellationToken::new();
    let running = tokio::spawn(terminal.clone().run(stop.clone()));
    wait_until("the punches are stored", Duration::from_secs(20), async || stored_for(&store, "NEWSN001").await == 30).await;

    let device = devices::find_by_serial(&store, "NEWSN001").await.expect("lookup").expect("registered");
    assert!(!device.approved, "an unknown serial is registered as pending");
    assert_eq!(device.name, "NEWSN001", "named by its serial alone until approved");
    let approved = devices::approve(&store, "NEWSN001").await.expect("approve");
    assert!(approved.approved);
    stop.cancel();
    running.await.expect("terminal");

    // With unknown devices rejected, nothing is kept.
    let strict = TestApp::start_with(backend, |c| c.push.unknown_devices = UnknownDevices::Reject).await;
    let response = reqwest::get(format!("{}/iclock/cdata?SN=STRANGER&options=all", strict.base_url)).await.expect("request");
    assert_eq!(response.status(), 403);
    let strict_store = strict.db.store().await;
    assert!(devices::find_by_serial(&strict_store, "STRANGER").await.expect("lookup").is_none());
}

async fn a_queued_clock_set_reaches_the_device_and_its_result_comes_back(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    let device = devices::insert(&store, &NewDevice::push("Lobby", "CLOCKSN1", true)).await.expect("device");
    let terminal = PushTerminal::new(PushConfig::new("CLOCKSN1", &app.base_url), Vec::new());
    terminal.set_clock_skew(TimeDelta::hours(1));
    let stop = CancellationToken::new();
    let running = tokio::spawn(terminal.clone().run(stop.clone()));
    let now_utc = chrono::Utc::now().naive_utc();
    let id = attendance_bridge::pipeline::push::queue_command(&store, device.id, &PushCommand::SetTime(now_utc)).await.expect("queue");
    wait_until("the command result is recorded", Duration::from_secs(20), async || {
        device_commands::list(&store, device.id).await.expect("list").iter().any(|c| c.id == id && c.status == "done")
    })
    .await;
    let state = terminal.state();
    assert_eq!(state.commands.len(), 1);
    assert_eq!(state.commands[0].0, id);
    assert!(state.clock_skew.num_seconds().abs() <= 5, "clock set to the bridge's time: {:?}", state.clock_skew);
    let command = &device_commands::list(&store, device.id).await.expect("list")[0];
    assert_eq!(command.return_code, Some(0));
    assert!(command.sent_at.is_some() && command.done_at.is_some());
    stop.cancel();
    running.await.expect("terminal");
}

async fn a_malformed_line_is_named_and_the_others_are_stored(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    devices::insert(&store, &NewDevice::push("Yard", "BADLINE1", true)).await.expect("device");
    let body = "1001\t2025-06-02 08:00:00\t0\t1\t0\t0\t0\n\
                1002\t2025-06-02 8am\t0\t1\t0\t0\t0\n\
                1003\t2025-06-02 08:05:00\t0\t1\t0\t0\t0\n";
    let client = reqwest::Client::new();
    let url = format!("{}/iclock/cdata?SN=BADLINE1&table=ATTLOG&Stamp=3", app.base_url);
    let response = client.post(&url).body(body).send().await.expect("post");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("text").trim(), "OK: 2");
    assert_eq!(stored_for(&store, "BADLINE1").await, 2);
    let device = devices::find_by_serial(&store, "BADLINE1").await.expect("lookup").expect("exists");
    let error = device.last_error.expect("the bad line is reported");
    assert!(error.contains("line 2") && error.contains("bad time"), "{error}");

    // Sending the same body again stores nothing new.
    let again = client.post(&url).body(body).send().await.expect("post");
    assert_eq!(again.status(), 200);
    assert_eq!(stored_for(&store, "BADLINE1").await, 2);

    // A request without a serial is refused with a reason.
    let anonymous = client.post(format!("{}/iclock/cdata?table=ATTLOG", app.base_url)).body(body).send().await.expect("post");
    assert_eq!(anonymous.status(), 400);

    // Oversized bodies are refused before they are read. The server closes that connection, so the
    // request goes on a client of its own (a pooled connection would be reused and found closed).
    let huge = "1001\t2025-06-02 08:00:00\t0\t1\n".repeat(200_000);
    let once = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    let refused = once.post(&url).body(huge).send().await.expect("post");
    assert_eq!(refused.status(), 413);
}

async fn new_punches_arrive_live_and_switching_transport_adds_no_duplicates(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    let log = punches_for(20);
    // The device was polled before: its first 10 punches are already stored under the same device.
    let device = devices::insert(&store, &NewDevice::push("Gate", "SWITCH01", true)).await.expect("device");
    let earlier: Vec<punches::NewPunch> = log[..10]
        .iter()
        .map(|p| punches::NewPunch {
            device_id: device.id,
            employee: attendance_bridge::domain::EmployeeId(p.pin.clone()),
            local_time: attendance_bridge::domain::WallTime(p.time),
            utc_time: p.time.and_utc(),
            status: 0,
            punch_state: p.state,
            verify_type: p.verify,
            device_seq: None,
        })
        .collect();
    assert_eq!(punches::insert(&store, &earlier).await.expect("pulled"), 10);

    let terminal = PushTerminal::new(PushConfig::new("SWITCH01", &app.base_url), log);
    let stop = CancellationToken::new();
    let running = tokio::spawn(terminal.clone().run(stop.clone()));
    wait_until("the whole log is stored", Duration::from_secs(20), async || stored_for(&store, "SWITCH01").await == 20).await;
    terminal.punch("2001", 0);
    wait_until("the live punch is stored", Duration::from_secs(10), async || stored_for(&store, "SWITCH01").await == 21).await;
    stop.cancel();
    running.await.expect("terminal");
}

bridge_e2e::on_both_backends!(sources_outside_the_allowed_networks_are_refused);

async fn sources_outside_the_allowed_networks_are_refused(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.push.allowed_networks = attendance_bridge::config::Networks(vec!["10.0.0.0/8".parse().expect("cidr")]);
    })
    .await;
    let response = reqwest::get(format!("{}/iclock/cdata?SN=X1&options=all", app.base_url)).await.expect("request");
    assert_eq!(response.status(), 403);
    let open = TestApp::start_with(backend, |c| {
        c.push.allowed_networks = attendance_bridge::config::Networks(vec!["127.0.0.0/8".parse().expect("cidr")]);
    })
    .await;
    let response = reqwest::get(format!("{}/iclock/cdata?SN=X1&options=all", open.base_url)).await.expect("request");
    assert_eq!(response.status(), 200);
    assert!(response.text().await.expect("text").starts_with("GET OPTION FROM: X1"));
}

/// The real binary is killed (SIGKILL) while a terminal uploads in batches, then restarted on the
/// same port: every punch is stored exactly once.
async fn exactly_once_across_a_bridge_crash(backend: Backend) {

    let db = bridge_e2e::TestDb::new(backend).await;
    // The first start picks a free port itself; the restart must come back on that same port (the
    // terminal knows only that address). A port is reused right after a kill (SO_REUSEADDR), so a
    // failed restart is retried briefly rather than taken as an answer.
    let start = |listen: &str| {
        let mut command = bridge_e2e::bridge_command(db.dir.path());
        command.env("DATABASE_URL", db.database_url());
        bridge_e2e::spawn_serve(command, listen)
    };
    let (mut server, address) = start("127.0.0.1:0");
    let restart = || {
        for _ in 0..20 {
            let mut command = bridge_e2e::bridge_command(db.dir.path());
            command.env("DATABASE_URL", db.database_url());
            if let Some(started) = bridge_e2e::try_spawn_serve(command, &address) {
                return started.0;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("the bridge could not listen on {address} again");
    };
    let log = punches_for(3000);
    let mut config = PushConfig::new("CRASHSN1", &format!("http://{address}"));
    config.batch_size = 50;
    let terminal = PushTerminal::new(config, log.clone());
    let stop = CancellationToken::new();
    let running = tokio::spawn(terminal.clone().run(stop.clone()));

    wait_until("a third is acknowledged", Duration::from_secs(30), async || terminal.state().acknowledged >= 1000).await;
    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    let acknowledged_at_crash = terminal.state().acknowledged;
    assert!(acknowledged_at_crash < log.len(), "the crash came before the terminal was done");
    // The terminal notices: its uploads fail while the bridge is down.
    wait_until("an upload fails against the dead bridge", Duration::from_secs(10), async || terminal.state().failed_uploads > 0).await;
    let mut server = restart();
    wait_until("everything is acknowledged", Duration::from_secs(60), async || terminal.state().acknowledged == log.len()).await;
    stop.cancel();
    running.await.expect("terminal");
    let _ = server.kill();
    let _ = server.wait();

    let store = db.store().await;
    let device = devices::find_by_serial(&store, "CRASHSN1").await.expect("lookup").expect("registered");
    let stored = punches::list_for_device(&store, device.id).await.expect("list");
    assert_eq!(stored.len(), log.len(), "every punch exactly once");
    let mut times: Vec<_> = stored.iter().map(|p| (p.employee.0.clone(), p.local_time.0)).collect();
    times.sort();
    let mut expected: Vec<_> = log.iter().map(|p| (p.pin.clone(), p.time)).collect();
    expected.sort();
    assert_eq!(times, expected);
    println!(
        "{backend:?}: {} punches, crash after {acknowledged_at_crash} acknowledged, {} failed uploads retried, stored once each",
        log.len(),
        terminal.state().failed_uploads
    );
}

bridge_e2e::on_both_backends!(exactly_once_across_a_bridge_crash);

bridge_e2e::on_both_backends!(a_separate_push_listener_serves_only_the_push_endpoints);

async fn a_separate_push_listener_serves_only_the_push_endpoints(backend: Backend) {
    // The push port is chosen before the bridge binds it; should another process take it in between,
    // the bridge refuses to start and the test picks another.
    let mut tries = 0;
    let (app, port) = loop {
        let port = bridge_e2e::free_port();
        let started = TestApp::try_start_with(backend, |c| {
            c.push.listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        })
        .await;
        match started {
            Ok(app) => break (app, port),
            Err(e) if tries < 5 => {
                tries += 1;
                println!("push port {port} was taken ({e:#}); trying another");
            }
            Err(e) => panic!("the bridge did not start: {e:#}"),
        }
    };
    let push_base = format!("http://127.0.0.1:{port}");
    wait_until("the push listener answers", Duration::from_secs(10), async || {
        reqwest::get(format!("{push_base}/healthz")).await.is_ok()
    })
    .await;
    let handshake = reqwest::get(format!("{push_base}/iclock/cdata?SN=PORTSN1&options=all")).await.expect("handshake");
    assert_eq!(handshake.status(), 200);
    let api = reqwest::get(format!("{push_base}/api/v1/me")).await.expect("api");
    assert_eq!(api.status(), 404, "the device-facing port serves no dashboard or API");
    let main = reqwest::get(format!("{}/iclock/cdata?SN=PORTSN1&options=all", app.base_url)).await.expect("main");
    assert_eq!(main.status(), 200, "the main listener serves the push endpoints too");
}
