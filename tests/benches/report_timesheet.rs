//! `cargo bench -p bridge-e2e --bench report_timesheet [-- sqlite|postgres]`: the monthly timesheet
//! for 2,000 employees (62,000 processed days of October 2026, seeded as processing stores them),
//! on SQLite and PostgreSQL, in a release build:
//!
//! - `reports::build` alone (the queries and the table), and
//! - `GET /reports/monthly-timesheet?month=2026-10` through the real server with a signed-in session
//!   (build + HTML, what a user waits for).
//!
//! Prints the best and median of five runs each. Target: under one second for the page.

use std::time::{Duration, Instant};

use attendance_bridge::reports::{self, ReportKind, ReportRequest};
use bridge_e2e::report_seed;
use bridge_e2e::web::{Browser, create_account};
use bridge_e2e::{Backend, TestApp};

const EMPLOYEES: usize = 2_000;
const RUNS: usize = 5;

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    format!("best {:>7.1} ms, median {:>7.1} ms", times[0].as_secs_f64() * 1e3, times[times.len() / 2].as_secs_f64() * 1e3)
}

async fn run(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.time_zone = attendance_bridge::config::TimeZone(report_seed::ZONE.parse().expect("zone"));
        c.role = attendance_bridge::config::Role::Web;
    })
    .await;
    let store = app.db.store().await;
    let started = Instant::now();
    let (from, to) = reports::month_of(report_seed::first_day());
    let seeded = report_seed::seed(&store, EMPLOYEES, from, to, false).await;
    println!("{backend:?}: seeded {} days of {EMPLOYEES} employees in {:.1} s", seeded.days, started.elapsed().as_secs_f64());

    let request = ReportRequest { kind: ReportKind::MonthlyTimesheet, from, to, employee: None, shift: None, sort: None, descending: false };
    let mut build = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let table = reports::build(&store, &app.config, &request, "bench").await.expect("the timesheet");
        build.push(t.elapsed());
        assert_eq!(table.rows.len(), EMPLOYEES);
    }
    create_account(&store, "bench", attendance_bridge::domain::Role::Viewer).await;
    let mut browser = Browser::new(&app.base_url);
    browser.sign_in("bench").await;
    let mut page = Vec::new();
    let mut bytes = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let response = browser.get("/reports/monthly-timesheet?month=2026-10").await;
        assert_eq!(response.status(), 200);
        bytes = response.bytes().await.expect("the page").len();
        page.push(t.elapsed());
    }
    let mut csv = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let response = browser.get("/reports/monthly-timesheet?month=2026-10&format=xlsx").await;
        assert_eq!(response.status(), 200);
        let _ = response.bytes().await.expect("the file");
        csv.push(t.elapsed());
    }
    let best_page = page.iter().min().copied().unwrap_or_default();
    println!("{backend:?}: reports::build          {}", summary(build));
    println!("{backend:?}: GET timesheet page      {}  ({:.1} MB of HTML)", summary(page), bytes as f64 / 1e6);
    println!("{backend:?}: GET timesheet as XLSX   {}", summary(csv));
    assert!(best_page < Duration::from_secs(1), "{backend:?}: the page takes {best_page:?}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only = std::env::args().skip(1).find(|a| a == "sqlite" || a == "postgres");
    for (name, backend) in [("sqlite", Backend::Sqlite), ("postgres", Backend::Postgres)] {
        if only.as_deref().is_none_or(|o| o == name) {
            run(backend).await;
        }
    }
}
