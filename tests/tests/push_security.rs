//! Issue 14: hostile push requests and impossible punch times, on both backends.
//!
//! Each check names the confirmed problem it covers: one unauthenticated request stopping all
//! processing (item 1), unapproved terminals changing real data (5), stamp injection (3), unbounded
//! errors, names and registrations (4), punch injection from another address and the command queue (2, 8).

use std::net::IpAddr;

use attendance_bridge::config::Config;
use attendance_bridge::domain::{DeviceId, EmployeeId, WallTime};
use attendance_bridge::pipeline::push::{MAX_LAST_ERROR_BYTES, hash_push_key};
use attendance_bridge::pipeline::{plugin_registry, process};
use attendance_bridge::store::devices::{self, Approval, NewDevice};
use attendance_bridge::store::{Store, attendance, device_commands, employees, pending, punches};
use bridge_e2e::{Backend, TestApp};
use chrono::{NaiveDate, NaiveDateTime};

bridge_e2e::on_both_backends!(
    the_issue_request_from_an_unknown_serial_marks_nothing_and_stores_nothing,
    punch_times_outside_the_window_are_refused_by_name_and_the_rest_stored,
    processing_sets_aside_an_employee_with_impossible_dates_and_goes_on,
    a_pending_terminal_changes_nothing_until_approved,
    an_injected_stamp_is_refused_and_never_echoed,
    four_megabytes_of_bad_lines_give_a_bounded_error,
    names_are_cut_and_self_registrations_capped,
    an_approved_terminal_pushes_only_from_its_bound_address,
    approval_binds_to_the_address_the_terminal_pushed_from,
    a_polled_device_never_accepts_pushes,
    a_terminal_with_a_secret_must_send_it,
    the_cli_binds_rebinds_and_shows_the_binding,
);

/// The far-future line of issue 14, item 1.
const FAR_FUTURE_LINE: &str = "0\t+262142-12-31 12:00:00\t0\t1\n";

/// A client whose requests come from `source` (a loopback address: 127.0.0.1 or 127.0.0.2).
fn client_from(source: &str) -> reqwest::Client {
    let source: IpAddr = source.parse().expect("address");
    reqwest::Client::builder().local_address(source).build().expect("client")
}

async fn post(client: &reqwest::Client, url: String, body: impl Into<reqwest::Body>) -> (u16, String) {
    let response = client.post(url).body(body).send().await.expect("post");
    let status = response.status().as_u16();
    (status, response.text().await.expect("text"))
}

async fn get(client: &reqwest::Client, url: String) -> (u16, String) {
    let response = client.get(url).send().await.expect("get");
    let status = response.status().as_u16();
    (status, response.text().await.expect("text"))
}

async fn device(store: &Store, serial: &str) -> devices::Device {
    devices::find_by_serial(store, serial).await.expect("lookup").expect("registered")
}

async fn stored(store: &Store, serial: &str) -> usize {
    match devices::find_by_serial(store, serial).await.expect("lookup") {
        Some(d) => punches::list_for_device(store, d.id).await.expect("list").len(),
        None => 0,
    }
}

fn at(y: i32, mo: u32, d: u32, h: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d).and_then(|d| d.and_hms_opt(h, 0, 0)).expect("valid")
}

fn raw(device: DeviceId, employee: &str, time: NaiveDateTime, state: u8) -> punches::NewPunch {
    punches::NewPunch {
        device_id: device,
        employee: EmployeeId(employee.into()),
        local_time: WallTime(time),
        utc_time: time.and_utc(),
        status: 0,
        punch_state: state,
        verify_type: 1,
        device_seq: None,
    }
}

async fn the_issue_request_from_an_unknown_serial_marks_nothing_and_stores_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    let client = reqwest::Client::new();
    let (status, text) = post(&client, format!("{}/iclock/cdata?SN=ANY&table=ATTLOG", app.base_url), FAR_FUTURE_LINE).await;
    assert_eq!((status, text.trim()), (200, "OK: 0"), "the line is refused, not stored");
    assert_eq!(stored(&store, "ANY").await, 0);
    assert_eq!(pending::count(&store).await.expect("count"), 0, "no pending day is marked");
    let error = device(&store, "ANY").await.last_error.expect("the refusal is recorded");
    assert!(error.contains("line 1") && error.contains("PUNCH_MAX_FUTURE_HOURS"), "{error}");
}

async fn punch_times_outside_the_window_are_refused_by_name_and_the_rest_stored(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    devices::insert(&store, &NewDevice::push("Gate", "WINDOW01", true)).await.expect("device");
    let body = format!(
        "1001\t2025-06-02 08:00:00\t0\t1\n{FAR_FUTURE_LINE}\
         0\t-262143-01-01 00:00:00\t0\t1\n\
         1002\t1999-12-31 23:59:59\t0\t1\n\
         1003\t2025-06-02 17:00:00\t1\t1\n"
    );
    let client = reqwest::Client::new();
    let (status, text) = post(&client, format!("{}/iclock/cdata?SN=WINDOW01&table=ATTLOG&Stamp=7", app.base_url), body).await;
    assert_eq!((status, text.trim()), (200, "OK: 2"));
    assert_eq!(stored(&store, "WINDOW01").await, 2, "the two real punches are stored");
    let error = device(&store, "WINDOW01").await.last_error.expect("refusals recorded");
    assert!(error.contains("line 2") && error.contains("PUNCH_MAX_FUTURE_HOURS"), "{error}");
    assert!(error.contains("line 3") && error.contains("line 4") && error.contains("PUNCH_MIN_DATE"), "{error}");
    assert!(error.contains("3 line(s)"), "{error}");

    // A tighter window from the configuration.
    let strict = TestApp::start_with(backend, |c| c.devices.punch_min_date = NaiveDate::from_ymd_opt(2025, 6, 2).expect("date")).await;
    let strict_store = strict.db.store().await;
    devices::insert(&strict_store, &NewDevice::push("Gate", "WINDOW02", true)).await.expect("device");
    let body = "1001\t2025-06-01 23:59:59\t0\t1\n1001\t2025-06-02 00:00:00\t0\t1\n";
    let (_, text) = post(&client, format!("{}/iclock/cdata?SN=WINDOW02&table=ATTLOG", strict.base_url), body).await;
    assert_eq!(text.trim(), "OK: 1");
}

async fn processing_sets_aside_an_employee_with_impossible_dates_and_goes_on(backend: Backend) {
    let db = bridge_e2e::TestDb::new(backend).await;
    let store = db.store().await;
    let gate = devices::insert(&store, &NewDevice::pull("Gate", "127.0.0.1", 4370, 0)).await.expect("device");
    // Stored directly, as a database written before times were checked on the way in would hold them.
    let mut rows = vec![
        raw(gate.id, "1001", at(2025, 6, 2, 8), 0),
        raw(gate.id, "1001", at(2025, 6, 2, 17), 1),
        raw(gate.id, "666", NaiveDate::MAX.and_hms_opt(12, 0, 0).expect("valid"), 0),
        raw(gate.id, "1002", at(2025, 6, 3, 8), 0),
        raw(gate.id, "1002", at(2025, 6, 3, 17), 1),
    ];
    if backend == Backend::Sqlite {
        // PostgreSQL cannot even store a timestamp this early (its range starts in 4713 BC).
        rows.push(raw(gate.id, "667", NaiveDate::MIN.and_hms_opt(0, 0, 0).expect("valid"), 0));
    }
    punches::insert(&store, &rows).await.expect("stored");
    let config = Config { data_dir: db.dir.path().join("data"), ..Config::default() };
    let registry = plugin_registry(&config).expect("registry");

    let report = process::run_processing(&store, &registry, &config).await.expect("the run completes");
    let bad = if backend == Backend::Sqlite { 2 } else { 1 };
    assert_eq!((report.employees, report.failed), (2, bad), "{report:?}");
    for (employee, date) in [("1001", "2025-06-02"), ("1002", "2025-06-03")] {
        let days = attendance::for_employee(&store, &EmployeeId(employee.into())).await.expect("days");
        assert!(days.iter().any(|d| d.work_date.to_string() == date && d.status == "present"), "{employee}: {days:?}");
    }
    let left = pending::list(&store, 100).await.expect("pending");
    assert!(left.iter().all(|d| d.employee.0 == "666" || d.employee.0 == "667"), "{left:?}");
    let set_aside = left.iter().find(|d| d.employee.0 == "666").expect("666 stays pending");
    assert_eq!(set_aside.attempts, 1);
    assert!(set_aside.last_error.as_deref().is_some_and(|e| e.contains("outside the dates processing can handle")), "{set_aside:?}");

    // The next run sets it aside again and is not stopped by it.
    let again = process::run_processing(&store, &registry, &config).await.expect("the run completes");
    assert_eq!(again.failed, bad);
}

async fn a_pending_terminal_changes_nothing_until_approved(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    let client = reqwest::Client::new();
    let cdata = |table: &str| format!("{}/iclock/cdata?SN=PENDSN01&table={table}", app.base_url);
    let (_, text) = post(&client, cdata("ATTLOG"), "1001\t2025-06-02 08:00:00\t0\t1\n1001\t2025-06-02 17:00:00\t1\t1\n").await;
    assert_eq!(text.trim(), "OK: 2");
    let (status, _) = post(&client, cdata("USERINFO"), "PIN=1001\tName=<script>alert(1)</script>\nPIN=1002\tName=Mallory\n").await;
    assert_eq!(status, 200);

    assert_eq!(stored(&store, "PENDSN01").await, 2, "the punches are kept");
    assert_eq!(pending::count(&store).await.expect("count"), 0, "but mark no day for processing");
    assert!(employees::list(&store).await.expect("list").is_empty(), "and USERINFO creates nobody");
    let page = bridge_e2e::web::signed_in_page(&app.base_url, &store, "/").await;
    assert!(!page.contains("PENDSN01"), "the overview page shows no serial");
    assert!(page.contains("await approval"), "{page}");

    let pending_device = device(&store, "PENDSN01").await;
    assert_eq!(pending_device.name, "PENDSN01", "named by its serial alone while pending");
    let approved = devices::approve(&store, "PENDSN01").await.expect("approve");
    assert_eq!(approved.name, format!("terminal {}", approved.id), "renamed on approval");
    assert_eq!(approved.push_bound_network.as_deref(), Some("127.0.0.1/32"), "bound where it pushed from");
    // The day of the punches and the day before (a night shift may end in them) are marked now.
    let marked: Vec<String> = pending::list(&store, 10).await.expect("list").iter().map(|d| format!("{} {}", d.employee, d.work_date)).collect();
    assert_eq!(marked.len(), 2, "{marked:?}");
    assert!(marked.contains(&"1001 2025-06-02".to_owned()), "{marked:?}");

    // Once approved, its user records are used.
    post(&client, cdata("USERINFO"), "PIN=1001\tName=Ann\n").await;
    let ann = employees::get(&store, &EmployeeId("1001".into())).await.expect("get").expect("created");
    assert_eq!(ann.name.as_deref(), Some("Ann"));
}

async fn an_injected_stamp_is_refused_and_never_echoed(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    devices::insert(&store, &NewDevice::push("Gate", "STAMPSN1", true)).await.expect("device");
    let client = reqwest::Client::new();
    let url = format!("{}/iclock/cdata?SN=STAMPSN1&table=ATTLOG&Stamp=99999999999%0AInjected=1", app.base_url);
    let (status, _) = post(&client, url, "1001\t2025-06-02 08:00:00\t0\t1\n").await;
    assert_eq!(status, 400);
    assert_eq!(stored(&store, "STAMPSN1").await, 0, "the upload is refused as a whole; the terminal sends it again");
    assert_eq!(device(&store, "STAMPSN1").await.attlog_stamp, None);
    let (_, options) = get(&client, format!("{}/iclock/cdata?SN=STAMPSN1&options=all", app.base_url)).await;
    assert!(!options.contains("Injected"), "{options}");
    assert!(options.contains("ATTLOGStamp=0\n"), "{options}");

    let url = format!("{}/iclock/cdata?SN=STAMPSN1&table=ATTLOG&Stamp=12345", app.base_url);
    assert_eq!(post(&client, url, "1001\t2025-06-02 08:00:00\t0\t1\n").await.0, 200);
    let (_, options) = get(&client, format!("{}/iclock/cdata?SN=STAMPSN1&options=all", app.base_url)).await;
    assert!(options.contains("ATTLOGStamp=12345\n"), "{options}");
}

async fn four_megabytes_of_bad_lines_give_a_bounded_error(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    devices::insert(&store, &NewDevice::push("Gate", "BIGBAD01", true)).await.expect("device");
    let line = format!("1001\t{}\t0\t1\n", "\u{1F4A5}\"\\".repeat(2_000));
    let body = line.repeat((4 << 20) / line.len() - 1);
    assert!(body.len() > 4_000_000 && body.len() <= 4 << 20);
    let client = reqwest::Client::new();
    // The server runs in this process: its peak memory while it reads, parses and reports the body.
    bridge_e2e::reset_peak_memory();
    let before = bridge_e2e::peak_memory_mib();
    let (status, text) = post(&client, format!("{}/iclock/cdata?SN=BIGBAD01&table=ATTLOG", app.base_url), body).await;
    let grown = bridge_e2e::peak_memory_mib() - before;
    assert_eq!((status, text.trim()), (200, "OK: 0"));
    // The body itself is held a few times over (client copy, request buffer, lines); what must not
    // happen is an error text or log line as big as the body, copied again per line.
    assert!(grown < 24.0, "a 4 MB upload of bad lines costs {grown:.1} MiB at its peak");
    let error = device(&store, "BIGBAD01").await.last_error.expect("recorded");
    assert!(error.len() <= MAX_LAST_ERROR_BYTES, "{} bytes", error.len());
    assert!(error.starts_with("ATTLOG") && error.contains("line 1: bad time"), "{error}");
    let page = bridge_e2e::web::signed_in_page(&app.base_url, &store, "/").await;
    assert!(page.len() < 20_000, "the overview stays small: {} bytes", page.len());
}

async fn names_are_cut_and_self_registrations_capped(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.push.max_pending_devices = 2).await;
    let store = app.db.store().await;
    devices::insert(&store, &NewDevice::push("Gate", "NAMES001", true)).await.expect("device");
    let client = reqwest::Client::new();
    let long = "N".repeat(5_000);
    let body = format!("PIN=1001\tName={long}\nPIN={}\tName=Too long a PIN\n", "9".repeat(200));
    let (status, _) = post(&client, format!("{}/iclock/cdata?SN=NAMES001&table=USERINFO", app.base_url), body).await;
    assert_eq!(status, 200);
    let people = employees::list(&store).await.expect("list");
    assert_eq!(people.len(), 1, "a record with an unusable PIN is skipped");
    assert_eq!(people[0].name.as_deref().map(str::len), Some(100));

    for (serial, expected) in [("SELF0001", 200), ("SELF0002", 200), ("SELF0003", 403), ("SELF0001", 200)] {
        let (status, _) = get(&client, format!("{}/iclock/cdata?SN={serial}&options=all", app.base_url)).await;
        assert_eq!(status, expected, "{serial}");
    }
    assert!(devices::find_by_serial(&store, "SELF0003").await.expect("lookup").is_none(), "beyond the cap nothing is registered");
}

async fn an_approved_terminal_pushes_only_from_its_bound_address(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    let gate = devices::insert(&store, &NewDevice::push("Gate", "BOUND001", true)).await.expect("device");
    let (home, other) = (client_from("127.0.0.1"), client_from("127.0.0.2"));
    let base = &app.base_url;
    let line = "1001\t2025-06-02 08:00:00\t0\t1\n";

    // Approved without a binding: its first request binds it (trust on first use).
    assert_eq!(get(&home, format!("{base}/iclock/cdata?SN=BOUND001&options=all")).await.0, 200);
    assert_eq!(device(&store, "BOUND001").await.push_bound_network.as_deref(), Some("127.0.0.1/32"));

    let (status, _) = post(&other, format!("{base}/iclock/cdata?SN=BOUND001&table=ATTLOG"), line).await;
    assert_eq!(status, 403, "a push from another address is refused");
    assert_eq!(get(&other, format!("{base}/iclock/cdata?SN=BOUND001&options=all")).await.0, 403);
    assert_eq!(stored(&store, "BOUND001").await, 0);

    // The command queue: another address neither receives (consumes) commands nor reports results.
    let id = device_commands::enqueue(&store, gate.id, "INFO").await.expect("queue");
    assert_eq!(get(&other, format!("{base}/iclock/getrequest?SN=BOUND001")).await.0, 403);
    assert_eq!(device_commands::list(&store, gate.id).await.expect("list")[0].status, "pending");
    let (status, text) = get(&home, format!("{base}/iclock/getrequest?SN=BOUND001")).await;
    assert_eq!((status, text.trim()), (200, format!("C:{id}:INFO").as_str()));
    let result = format!("ID={id}&Return=-1&CMD=INFO\n");
    assert_eq!(post(&other, format!("{base}/iclock/devicecmd?SN=BOUND001"), result.clone()).await.0, 403);
    assert_eq!(post(&home, format!("{base}/iclock/devicecmd?SN=BOUND001"), format!("ID={id}&Return=0&CMD=INFO\n")).await.0, 200);
    // A second report for the same command does not overwrite the recorded result.
    assert_eq!(post(&home, format!("{base}/iclock/devicecmd?SN=BOUND001"), result).await.0, 200);
    let command = &device_commands::list(&store, gate.id).await.expect("list")[0];
    assert_eq!((command.status.as_str(), command.return_code), ("done", Some(0)));

    let (status, text) = post(&home, format!("{base}/iclock/cdata?SN=BOUND001&table=ATTLOG"), line).await;
    assert_eq!((status, text.trim()), (200, "OK: 1"));

    // The admin re-binds it after it moved.
    devices::rebind(&store, "BOUND001", Some("127.0.0.2/32".parse().expect("cidr"))).await.expect("rebind");
    assert_eq!(post(&home, format!("{base}/iclock/cdata?SN=BOUND001&table=ATTLOG"), line).await.0, 403);
    assert_eq!(post(&other, format!("{base}/iclock/cdata?SN=BOUND001&table=ATTLOG"), line).await.0, 200);
}

async fn approval_binds_to_the_address_the_terminal_pushed_from(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    let (home, other) = (client_from("127.0.0.1"), client_from("127.0.0.2"));
    let base = &app.base_url;
    assert_eq!(get(&other, format!("{base}/iclock/cdata?SN=FARSN001&options=all")).await.0, 200);
    let approved = devices::approve(&store, "FARSN001").await.expect("approve");
    assert_eq!(approved.push_bound_network.as_deref(), Some("127.0.0.2/32"));
    assert_eq!(get(&home, format!("{base}/iclock/cdata?SN=FARSN001&options=all")).await.0, 403);
    assert_eq!(get(&other, format!("{base}/iclock/cdata?SN=FARSN001&options=all")).await.0, 200);

    // An explicit network on approval.
    assert_eq!(get(&other, format!("{base}/iclock/cdata?SN=FARSN002&options=all")).await.0, 200);
    let approval = Approval { name: Some("Yard".into()), bind: Some("127.0.0.0/30".parse().expect("cidr")) };
    let yard = devices::approve_with(&store, "FARSN002", &approval).await.expect("approve");
    assert_eq!((yard.name.as_str(), yard.push_bound_network.as_deref()), ("Yard", Some("127.0.0.0/30")));
    assert_eq!(get(&home, format!("{base}/iclock/cdata?SN=FARSN002&options=all")).await.0, 200);
}

async fn a_polled_device_never_accepts_pushes(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    let pulled = NewDevice { serial_number: Some("PULLSN01".into()), ..NewDevice::pull("Gate", "127.0.0.1", 4370, 0) };
    devices::insert(&store, &pulled).await.expect("device");
    let client = reqwest::Client::new();
    let (status, _) = post(&client, format!("{}/iclock/cdata?SN=PULLSN01&table=ATTLOG", app.base_url), "1001\t2025-06-02 08:00:00\t0\t1\n").await;
    assert_eq!(status, 403);
    assert_eq!(get(&client, format!("{}/iclock/getrequest?SN=PULLSN01", app.base_url)).await.0, 403);
    assert_eq!(stored(&store, "PULLSN01").await, 0);
}

async fn a_terminal_with_a_secret_must_send_it(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    let gate = devices::insert(&store, &NewDevice::push("Gate", "KEYSN001", true)).await.expect("device");
    devices::set_push_secret_hash(&store, gate.id, Some(&hash_push_key("correct horse"))).await.expect("secret");
    let client = reqwest::Client::new();
    let base = &app.base_url;
    assert_eq!(get(&client, format!("{base}/iclock/cdata?SN=KEYSN001&options=all")).await.0, 403);
    assert_eq!(get(&client, format!("{base}/iclock/cdata?SN=KEYSN001&options=all&pushcommkey=wrong")).await.0, 403);
    assert_eq!(get(&client, format!("{base}/iclock/cdata?SN=KEYSN001&options=all&pushcommkey=correct%20horse")).await.0, 200);
}

async fn the_cli_binds_rebinds_and_shows_the_binding(backend: Backend) {
    let db = bridge_e2e::TestDb::new(backend).await;
    let cli = |args: &[&str]| {
        let out = bridge_e2e::bridge_command(db.dir.path()).args(args).env("DATABASE_URL", db.database_url()).output().expect("runs");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    cli(&["devices", "add", "--name", "Lobby", "--serial", "CLISN001", "--push", "--bind", "127.0.0.2", "--secret", "long enough"]);
    let line = |listed: String, serial: &str| listed.lines().find(|l| l.contains(serial)).map(str::to_owned).unwrap_or_default();
    let lobby = line(cli(&["devices", "list"]), "CLISN001");
    assert!(lobby.contains("bound 127.0.0.2/32") && lobby.contains("key set"), "{lobby}");
    let store = db.store().await;
    assert_eq!(device(&store, "CLISN001").await.push_secret_hash, Some(hash_push_key("long enough")));

    cli(&["devices", "rebind", "CLISN001", "127.0.0.0/24"]);
    assert!(line(cli(&["devices", "list"]), "CLISN001").contains("bound 127.0.0.0/24"));
    cli(&["devices", "rebind", "CLISN001"]);
    assert!(line(cli(&["devices", "list"]), "CLISN001").contains("bound -"), "unbound: its next request binds it");

    devices::register_push_capped(&store, "CLISN002", 10).await.expect("register").expect("under the cap");
    let out = cli(&["devices", "approve", "CLISN002", "--name", "Yard", "--bind", "127.0.0.3"]);
    assert!(out.contains("Yard") && out.contains("127.0.0.3/32"), "{out}");
    let yard = line(cli(&["devices", "list"]), "CLISN002");
    assert!(yard.contains("Yard") && yard.contains("bound 127.0.0.3/32") && yard.contains("enabled"), "{yard}");
}
