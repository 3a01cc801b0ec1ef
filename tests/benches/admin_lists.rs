//! `cargo bench -p bridge-e2e --bench admin_lists [-- sqlite|postgres]`: every administration list
//! page on a database holding 1,000,000 processed days, 1,000,000 raw punches and 1,000,000 CRM
//! deliveries (the size "Web, part 1" benchmarks its API on), served by this release build on
//! loopback, signed in as an admin.
//!
//! Each page is requested once to warm caches (the count cache, SQLite's page cache; that first
//! time is printed too, since a large filtered count is computed then), then [`ROUNDS`] times; the figure is the time from sending the request to the last byte of the page,
//! measured by the client in the same process (an upper bound on the server's time). Target: every
//! page under 200 ms.

use std::time::{Duration, Instant};

use attendance_bridge::config::Role as ServeRole;
use attendance_bridge::domain::Role;
use attendance_bridge::store::devices;
use bridge_e2e::web::{Browser, create_account};
use bridge_e2e::{Backend, TestApp};

const ROWS: i64 = 1_000_000;
const EMPLOYEES: i64 = 2_000;
const ROUNDS: usize = 5;
const TARGET: Duration = Duration::from_millis(200);

/// The pages, with the filters HR staff use: by employee, period, status, outliers, not yet
/// delivered; a deep page; one day's detail; the queue, jobs and devices.
const PAGES: &[&str] = &[
    "/admin/days",
    "/admin/days?page=50",
    "/admin/days?user_id=E5",
    "/admin/days?status=absent&from=2021-03-01&to=2021-04-30",
    "/admin/days?outliers=on",
    "/admin/days?unsynced=on",
    "/admin/days?user_id=E5&from=2021-01-01&to=2021-06-30",
    "/admin/days/500000",
    "/admin/punches",
    "/admin/punches?page=50",
    "/admin/punches?user_id=E5&from=2021-02-01&to=2021-02-28",
    "/admin/punches?device=1",
    "/admin/sync",
    "/admin/jobs",
    "/admin/devices",
    "/admin/employees",
    "/admin/users",
    "/admin/shifts",
];

/// The seed, per backend: days (employee `E<n % 2000>`, one date per 2,000 rows, every 17th absent,
/// every 101st an outlier), one punch per minute, and a delivery per day (every 10th pending, every
/// 997th failed, the rest delivered).
fn seed(backend: Backend) -> Vec<String> {
    match backend {
        Backend::Sqlite => vec![
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {ROWS}) \
                 INSERT INTO processed_attendance (user_id, work_date, shift_code, status, flags, revision, rule_plugin, rule_version, created_at, updated_at) \
                 SELECT 'E' || (i % {EMPLOYEES}), date('2020-01-01', '+' || (i / {EMPLOYEES}) || ' days'), 'DEFAULT', \
                        CASE WHEN i % 17 = 0 THEN 'absent' ELSE 'present' END, \
                        CASE WHEN i % 101 = 0 THEN '[\"outlier_punches\"]' ELSE '[]' END, 1, 'standard-shifts', '0.1.0', \
                        '2024-01-01 00:00:00', '2024-01-01 00:00:00' FROM n"
            ),
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {ROWS}) \
                 INSERT INTO raw_punches (device_id, device_user_id, local_time, utc_time, received_at) \
                 SELECT 1, 'E' || (i % {EMPLOYEES}), datetime('2020-01-01', '+' || i || ' minutes'), datetime('2020-01-01', '+' || i || ' minutes'), \
                        '2024-01-01 00:00:00' FROM n"
            ),
            OUTBOX.to_owned(),
            "ANALYZE".to_owned(),
        ],
        Backend::Postgres => vec![
            format!(
                "INSERT INTO processed_attendance (user_id, work_date, shift_code, status, flags, revision, rule_plugin, rule_version, created_at, updated_at) \
                 SELECT 'E' || (i % {EMPLOYEES}), DATE '2020-01-01' + (i / {EMPLOYEES})::int, 'DEFAULT', \
                        CASE WHEN i % 17 = 0 THEN 'absent' ELSE 'present' END, \
                        CASE WHEN i % 101 = 0 THEN '[\"outlier_punches\"]' ELSE '[]' END, 1, 'standard-shifts', '0.1.0', \
                        TIMESTAMP '2024-01-01 00:00:00', TIMESTAMP '2024-01-01 00:00:00' FROM generate_series(0, {ROWS} - 1) AS i"
            ),
            format!(
                "INSERT INTO raw_punches (device_id, device_user_id, local_time, utc_time, received_at) \
                 SELECT 1, 'E' || (i % {EMPLOYEES}), TIMESTAMP '2020-01-01' + i * INTERVAL '1 minute', TIMESTAMP '2020-01-01' + i * INTERVAL '1 minute', \
                        TIMESTAMP '2024-01-01 00:00:00' FROM generate_series(0, {ROWS} - 1) AS i"
            ),
            OUTBOX.to_owned(),
            "ANALYZE".to_owned(),
        ],
    }
}

const OUTBOX: &str = "INSERT INTO crm_outbox (attendance_id, revision, idempotency_key, status, next_attempt_at, created_at) \
     SELECT id, 1, 'attendance-' || id || '-r1', CASE WHEN id % 10 = 0 THEN 'pending' WHEN id % 997 = 0 THEN 'failed' ELSE 'delivered' END, \
            '2024-01-01 00:00:00', '2024-01-01 00:00:00' FROM processed_attendance";

async fn run(backend: Backend) -> bool {
    let app = TestApp::start_with(backend, |c| c.role = ServeRole::Web).await;
    let store = app.db.store().await;
    create_account(&store, "admin", Role::Admin).await;
    devices::insert(&store, &devices::NewDevice::pull("Gate", "127.0.0.1", bridge_e2e::free_port(), 0)).await.expect("device");
    let seeded = Instant::now();
    for statement in seed(backend) {
        app.db.execute(&statement).await;
    }
    println!("{backend:?}: seeded {ROWS} days, punches and deliveries in {:.1?}", seeded.elapsed());

    let mut admin = Browser::new(&app.base_url);
    admin.sign_in("admin").await;
    let mut all_met = true;
    println!("{:<58} {:>9} {:>9} {:>9}", "page", "median", "max", "first");
    for path in PAGES {
        let started = Instant::now();
        let warm = admin.get(path).await;
        assert_eq!(warm.status(), 200, "{path}");
        warm.bytes().await.expect("the page");
        let first = started.elapsed();
        let mut times = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let response = admin.get(path).await;
            assert_eq!(response.status(), 200, "{path}");
            response.bytes().await.expect("the page");
            times.push(started.elapsed());
        }
        times.sort();
        let (median, max) = (times[ROUNDS / 2], times[ROUNDS - 1]);
        let met = max < TARGET;
        all_met &= met;
        println!("{path:<58} {:>7.1}ms {:>7.1}ms {:>7.1}ms{}", ms(median), ms(max), ms(first), if met { "" } else { "  over 200 ms" });
    }
    app.stop().await.expect("clean shutdown");
    all_met
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let only = std::env::args().skip(1).find(|a| a == "sqlite" || a == "postgres");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut verdicts = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        verdicts.push((name, runtime.block_on(run(backend))));
    }
    for (name, met) in verdicts {
        println!("{name}: {}", if met { "every page under 200 ms" } else { "some pages over 200 ms" });
    }
}
