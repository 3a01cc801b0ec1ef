//! A property test of the push endpoints (issue 14): random query strings and bodies, from a seeded
//! generator, are thrown at `/iclock/…` of a served bridge for a fixed time. Whatever arrives, the
//! bridge answers without a 5xx and without a panic, and afterwards the database holds only
//! well-formed rows: punch times inside the window, bounded names and errors, numeric stamps, no
//! more self-registered terminals than the cap, no day marked by a terminal nobody approved; and
//! processing what is pending completes.
//!
//! `BRIDGE_FUZZ_SECONDS` (default 6) sets the time per backend, `BRIDGE_FUZZ_SEED` the seed (printed).

use std::time::{Duration, Instant};

use attendance_bridge::pipeline::push::MAX_LAST_ERROR_BYTES;
use attendance_bridge::pipeline::{plugin_registry, process};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::{employees, pending, punches};
use bridge_e2e::{Backend, TestApp};
use chrono::{NaiveDate, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

bridge_e2e::on_both_backends!(random_push_requests_leave_only_well_formed_rows);

const MAX_PENDING: u32 = 5;

/// Serials the generator picks from: an approved terminal, a few unknown ones, and junk.
const SERIALS: &[&str] = &["FUZZOK01", "FUZZOK01", "FUZZOK01", "NEW1", "NEW2", "NEW3", "NEW4", "NEW5", "NEW6", "NEW7", "", "a b", "../x", "SN\n1"];
const TABLES: &[&str] = &["ATTLOG", "attlog", "USERINFO", "OPERLOG", "ATTPHOTO", "", "ATTLOG\nX=1", "<script>"];

fn pick<'a>(rng: &mut StdRng, options: &[&'a str]) -> &'a str {
    options[rng.random_range(0..options.len())]
}

/// A random piece of text: printable, control characters, tabs, non-ASCII, sometimes long.
fn junk(rng: &mut StdRng, max: usize) -> String {
    let len = if rng.random_bool(0.05) { rng.random_range(0..max.max(1) * 20) } else { rng.random_range(0..max.max(1)) };
    (0..len)
        .map(|_| match rng.random_range(0..10) {
            0 => '\t',
            1 => char::from(rng.random_range(0u8..32)),
            2 => ['é', '💥', '\u{202e}', '\u{0}', '"', '\\', '=', '&', '%'][rng.random_range(0..9)],
            3 => char::from(rng.random_range(b'0'..=b'9')),
            _ => char::from(rng.random_range(b' '..=b'~')),
        })
        .collect()
}

/// A time field: real, out of the window at either end, malformed, or junk.
fn time_field(rng: &mut StdRng) -> String {
    match rng.random_range(0..8) {
        0 => "+262142-12-31 12:00:00".into(),
        1 => "-262143-01-01 00:00:00".into(),
        2 => format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", rng.random_range(0..10_000), rng.random_range(0..14), rng.random_range(0..33), rng.random_range(0..25), rng.random_range(0..61), rng.random_range(0..61)),
        3 => (Utc::now() + TimeDelta::hours(rng.random_range(-48..72))).format("%Y-%m-%d %H:%M:%S").to_string(),
        4 => junk(rng, 30),
        _ => format!("2025-06-{:02} {:02}:{:02}:00", rng.random_range(1..29), rng.random_range(0..24), rng.random_range(0..60)),
    }
}

fn body(rng: &mut StdRng) -> String {
    let lines = if rng.random_bool(0.05) { rng.random_range(0..3000) } else { rng.random_range(0..20) };
    let mut body = String::new();
    for _ in 0..lines {
        let pin = match rng.random_range(0..6) {
            0 => junk(rng, 40),
            1 => "9".repeat(rng.random_range(20..40)),
            _ => rng.random_range(1000..1020).to_string(),
        };
        let line = match rng.random_range(0..6) {
            0 => format!("PIN={pin}\tName={}\tPri=0", junk(rng, 300)),
            1 => format!("USER PIN={pin}\tName={}", junk(rng, 50)),
            2 => format!("ID={}&Return={}&CMD={}", rng.random_range(-5..50), rng.random_range(-2000..10), junk(rng, 80)),
            3 => junk(rng, 200),
            _ => {
                let extra: String = (0..rng.random_range(0..12)).map(|_| format!("\t{}", junk(rng, 12))).collect();
                format!("{pin}\t{}\t{}\t{}{extra}", time_field(rng), rng.random_range(0..300), rng.random_range(0..300))
            }
        };
        body.push_str(&line);
        body.push_str(if rng.random_bool(0.1) { "\r\n" } else { "\n" });
    }
    body
}

fn encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// One random request: path, method, query, body.
async fn one_request(rng: &mut StdRng, client: &reqwest::Client, base: &str) -> (String, u16) {
    let mut query = Vec::new();
    if rng.random_bool(0.95) {
        query.push(format!("SN={}", encoded(pick(rng, SERIALS))));
    }
    if rng.random_bool(0.8) {
        query.push(format!("table={}", encoded(pick(rng, TABLES))));
    }
    match rng.random_range(0..5) {
        0 => query.push(format!("Stamp={}", encoded(&junk(rng, 30)))),
        1 | 2 => query.push(format!("Stamp={}", rng.random::<u64>())),
        _ => {}
    }
    if rng.random_bool(0.2) {
        query.push(format!("{}={}", encoded(&junk(rng, 10)), encoded(&junk(rng, 10))));
    }
    if rng.random_bool(0.1) {
        query.push("options=all".into());
    }
    if rng.random_bool(0.05) {
        query.push(junk(rng, 20).replace(['#', ' '], "x"));
    }
    let path = ["/iclock/cdata", "/iclock/cdata", "/iclock/cdata", "/iclock/getrequest", "/iclock/devicecmd", "/iclock/registry"][rng.random_range(0..6)];
    let url = format!("{base}{path}?{}", query.join("&"));
    let response = if path == "/iclock/getrequest" || (path == "/iclock/cdata" && rng.random_bool(0.2)) {
        client.get(&url).send().await
    } else {
        let body: reqwest::Body = if rng.random_bool(0.03) {
            // Not UTF-8 at all.
            (0..rng.random_range(1..500)).map(|_| rng.random::<u8>()).collect::<Vec<u8>>().into()
        } else {
            body(rng).into()
        };
        client.post(&url).body(body).send().await
    };
    let response = response.unwrap_or_else(|e| panic!("{url}: the connection failed: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert!(text.len() < 10_000, "{url}: an answer of {} bytes", text.len());
    assert!(!text.contains("Injected") && !text.contains("<script>"), "{url}: the answer repeats the request: {text}");
    (url, status)
}

async fn random_push_requests_leave_only_well_formed_rows(backend: Backend) {
    let seconds: u64 = std::env::var("BRIDGE_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    let seed: u64 = std::env::var("BRIDGE_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    println!("{backend:?}: BRIDGE_FUZZ_SEED={seed}, {seconds} s");
    let mut rng = StdRng::seed_from_u64(seed);
    let app = TestApp::start_with(backend, |c| c.push.max_pending_devices = MAX_PENDING).await;
    let store = app.db.store().await;
    devices::insert(&store, &NewDevice::push("Approved", "FUZZOK01", true)).await.expect("device");
    let client = reqwest::Client::new();

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut requests = 0;
    while Instant::now() < deadline {
        let (url, status) = one_request(&mut rng, &client, &app.base_url).await;
        assert!(status < 500, "seed {seed}: {url} answered {status}");
        requests += 1;
    }
    println!("{backend:?}: {requests} requests, none answered 5xx");

    // Only well-formed rows.
    let now = Utc::now().naive_utc();
    let (earliest, latest) = (NaiveDate::from_ymd_opt(2000, 1, 1).expect("date"), now + TimeDelta::hours(25));
    let all = devices::list(&store).await.expect("devices");
    assert!(all.iter().filter(|d| !d.approved).count() <= MAX_PENDING as usize, "seed {seed}: too many self-registered terminals");
    for device in &all {
        assert!(device.last_error.as_deref().is_none_or(|e| e.len() <= MAX_LAST_ERROR_BYTES), "seed {seed}: {:?}", device.name);
        for stamp in [&device.attlog_stamp, &device.operlog_stamp].into_iter().flatten() {
            assert!(stamp.len() <= 20 && stamp.bytes().all(|b| b.is_ascii_digit()), "seed {seed}: stamp {stamp:?}");
        }
        for punch in punches::list_for_device(&store, device.id).await.expect("punches") {
            let time = punch.local_time.0;
            assert!(time.date() >= earliest && time <= latest, "seed {seed}: punch at {time}");
            let pin = &punch.employee.0;
            assert!(!pin.is_empty() && pin.len() <= 24 && pin.chars().all(|c| c.is_ascii_alphanumeric()), "seed {seed}: pin {pin:?}");
        }
    }
    for person in employees::list(&store).await.expect("employees") {
        assert!(person.code.0.len() <= 24 && person.code.0.chars().all(|c| c.is_ascii_alphanumeric()), "seed {seed}: {:?}", person.code);
        assert!(person.name.as_deref().is_none_or(|n| n.chars().count() <= 100), "seed {seed}: a name of {:?} chars", person.name.map(|n| n.len()));
    }
    // Days are marked by the approved terminal's punches only (they are at most a day before the earliest).
    let approved = devices::find_by_serial(&store, "FUZZOK01").await.expect("lookup").expect("there");
    let approved_pins: std::collections::BTreeSet<String> =
        punches::list_for_device(&store, approved.id).await.expect("punches").into_iter().map(|p| p.employee.0).collect();
    for day in pending::list(&store, 1_000_000).await.expect("pending") {
        assert!(approved_pins.contains(&day.employee.0), "seed {seed}: {} marked by an unapproved terminal", day.employee);
        assert!(day.work_date >= earliest.pred_opt().expect("date") && day.work_date <= latest.date(), "seed {seed}: {day:?}");
    }

    // And processing what was marked completes.
    let config = attendance_bridge::config::Config { data_dir: app.db.dir.path().join("data"), ..attendance_bridge::config::Config::default() };
    let registry = plugin_registry(&config).expect("registry");
    let report = process::run_processing(&store, &registry, &config).await.expect("processing completes");
    println!("{backend:?}: processing after the run: {} employees, {} days written, {} set aside", report.employees, report.days_written, report.failed);
}
