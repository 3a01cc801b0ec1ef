//! The HR reports in headless Chromium on a seeded database: every report opens for a viewer (and
//! sends a signed-out browser to the sign-in page), its CSV and XLSX carry the same rows as the API,
//! the XLSX cells are typed, names are text everywhere (`<script>` shown, `=` not a formula), and the
//! daily report and monthly timesheet print to A4 PDFs with the header row repeated on page 2.

use std::collections::HashMap;
use std::io::Cursor;

use attendance_bridge::domain::Role;
use bridge_e2e::browser::Chrome;
use bridge_e2e::report_seed::{self, NIGHT_WORKER, SPECIAL};
use bridge_e2e::web::{Browser, PASSWORD, create_account};
use bridge_e2e::{Backend, TestApp, on_both_backends};
use calamine::{Data, Reader, Xlsx};
use serde_json::Value;

const SLUGS: [&str; 9] = [
    "daily-attendance",
    "monthly-timesheet",
    "late-early",
    "absent",
    "missing-punches",
    "outliers",
    "first-last-punch",
    "punch-details",
    "employee-history",
];

const DAY: &str = "2026-10-21";

/// The page to open for each report on the seeded period.
fn path_of(slug: &str) -> String {
    match slug {
        "daily-attendance" => format!("/reports/{slug}?date={DAY}"),
        "monthly-timesheet" => format!("/reports/{slug}?month=2026-10"),
        "employee-history" => format!("/reports/{slug}?employee=1001&from=2026-10-01&to=2026-11-04"),
        _ => format!("/reports/{slug}?from=2026-10-19&to=2026-10-30"),
    }
}

async fn start(backend: Backend) -> TestApp {
    TestApp::start_with(backend, |c| {
        c.company_name = Some("Acme Bakery GmbH".into());
        c.time_zone = attendance_bridge::config::TimeZone(report_seed::ZONE.parse().expect("zone"));
        // Web only: no processing job rewrites the seeded days.
        c.role = attendance_bridge::config::Role::Web;
    })
    .await
}

/// A CSV download parsed into rows (the BOM stripped, RFC 4180 quotes honoured).
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
    let text = text.strip_prefix('\u{feff}').expect("a byte-order mark");
    let mut rows = Vec::new();
    let (mut row, mut cell, mut quoted, mut chars) = (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

/// Every result of an API list, following `next`.
async fn api_all(mut get: impl AsyncFnMut(String) -> Vec<u8>, first: &str) -> Vec<Value> {
    let mut results = Vec::new();
    let mut path = Some(first.to_owned());
    while let Some(p) = path {
        let body: Value = serde_json::from_slice(&get(p).await).expect("JSON");
        results.extend(body["results"].as_array().expect("results").iter().cloned());
        path = body["next"].as_str().map(|next| {
            let url = url::Url::parse(next).expect("next URL");
            format!("{}?{}", url.path(), url.query().unwrap_or_default())
        });
    }
    results
}

fn column(header: &[String], title: &str) -> usize {
    header.iter().position(|h| h == title).unwrap_or_else(|| panic!("a {title} column in {header:?}"))
}

fn instant(text: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %:z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(text))
        .unwrap_or_else(|e| panic!("a time: {text}: {e}"))
}

/// The daily report's CSV agrees with `/api/processed-attendance/` for the day, row for row.
fn check_daily_against_api(csv: &[Vec<String>], api: &[Value]) {
    let header = &csv[0];
    let (code, worked, late, early, overtime, status, clock_in, clock_out) = (
        column(header, "Code"),
        column(header, "Worked"),
        column(header, "Late by"),
        column(header, "Early by"),
        column(header, "Overtime"),
        column(header, "Status"),
        column(header, "Clock in"),
        column(header, "Clock out"),
    );
    let rows: HashMap<&str, &Vec<String>> = csv[1..].iter().filter(|r| !r[0].starts_with("Total")).map(|r| (r[code].as_str(), r)).collect();
    assert_eq!(rows.len(), api.len(), "one row per employee-day");
    for day in api {
        let row = rows.get(day["user_id"].as_str().expect("user_id")).unwrap_or_else(|| panic!("a row for {day}"));
        let minutes = |v: &Value| v.as_i64().map(|m| m.to_string()).unwrap_or_default();
        assert_eq!(row[worked], minutes(&day["worked_minutes"]), "worked of {day}");
        assert_eq!(row[late], minutes(&day["late_minutes"]), "late of {day}");
        assert_eq!(row[early], minutes(&day["early_minutes"]), "early of {day}");
        assert_eq!(row[overtime], minutes(&day["overtime_minutes"]), "overtime of {day}");
        assert_eq!(row[status].to_lowercase().replace(' ', "_"), day["status"].as_str().expect("status"), "status of {day}");
        for (cell, field) in [(&row[clock_in], "clock_in"), (&row[clock_out], "clock_out")] {
            match day[field].as_str() {
                Some(api_time) => assert_eq!(instant(cell), instant(api_time), "{field} of {day}"),
                None => assert!(cell.is_empty(), "no {field} for {day}: {cell}"),
            }
        }
    }
}

/// The timesheet's totals agree with the API's days of the month.
fn check_timesheet_against_api(csv: &[Vec<String>], api: &[Value]) {
    let header = &csv[0];
    let (code, absent, late, late_min, worked) =
        (column(header, "Code"), column(header, "Absent"), column(header, "Late"), column(header, "Late min"), column(header, "Worked h"));
    let mut checked = 0;
    for row in csv[1..].iter().filter(|r| !r[0].starts_with("Total")) {
        let days: Vec<&Value> = api.iter().filter(|d| d["user_id"] == row[code].as_str()).collect();
        let is = |d: &&&Value, f: &str| d["flags"].as_array().is_some_and(|a| a.iter().any(|x| x == f));
        let absent_days = days.iter().filter(|d| d["status"] == "absent" && !is(d, "holiday") && !is(d, "off_day")).count();
        let late_days: Vec<i64> = days.iter().filter_map(|d| d["late_minutes"].as_i64()).filter(|m| *m > 0).collect();
        let worked_min: i64 = days.iter().filter_map(|d| d["worked_minutes"].as_i64()).sum();
        assert_eq!(row[absent], absent_days.to_string(), "absent of {}", row[code]);
        assert_eq!(row[late], late_days.len().to_string(), "late count of {}", row[code]);
        assert_eq!(row[late_min], late_days.iter().sum::<i64>().to_string(), "late minutes of {}", row[code]);
        assert_eq!(row[worked], format!("{:.2}", (worked_min as f64 / 60.0 * 100.0).round() / 100.0), "worked hours of {}", row[code]);
        checked += 1;
    }
    assert!(checked >= 60, "every employee has a row: {checked}");
}

fn xlsx_sheet(bytes: &[u8]) -> calamine::Range<Data> {
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes.to_vec())).expect("an XLSX workbook");
    let name = workbook.sheet_names().first().cloned().expect("a sheet");
    workbook.worksheet_range(&name).expect("the sheet")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_in_the_browser_matches_the_api_exports_and_prints() {
    let app = start(Backend::Sqlite).await;
    let store = app.db.store().await;
    let seeded = report_seed::seed(&store, 60, report_seed::first_day(), report_seed::last_day(), true).await;
    assert!(seeded.punches > 2_000, "punches from two devices: {}", seeded.punches);
    create_account(&store, "hr", Role::Viewer).await;
    let chrome = Chrome::start(&app.base_url, "web_reports").await;

    // Signed out, every report (and the list) sends the browser to the sign-in page.
    for path in std::iter::once("/reports".to_owned()).chain(SLUGS.iter().map(|s| path_of(s))) {
        chrome.open(&path).await;
        assert!(chrome.current_path().await.starts_with("/login"), "{path} needs a sign-in");
    }

    chrome.sign_in("hr", PASSWORD).await;
    chrome.open("/reports").await;
    let text = chrome.page_text().await;
    for title in ["Daily attendance", "Monthly timesheet", "Late arrivals and early exits", "Punch details", "Employee history"] {
        assert!(text.contains(title), "the list names {title}: {text}");
    }
    chrome.screenshot("reports-index").await;

    let fetch = async |path: String| chrome.download(&path).await.2;
    for slug in SLUGS {
        let path = path_of(slug);
        chrome.open(&path).await;
        let text = chrome.page_text().await;
        assert!(!text.contains("Something went wrong") && !text.contains("403"), "{slug} opens for a viewer: {text}");
        assert!(chrome.find("#report-table").await.is_displayed().await.unwrap_or(false), "{slug} shows a table: {text}");
        chrome.screenshot(&format!("report-{slug}")).await;
        if slug != "employee-history" {
            assert!(text.contains("<script>alert(1)</script> Bob"), "{slug} shows the <script> name as text");
        }

        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, headers, csv) = chrome.download(&format!("{path}{sep}format=csv")).await;
        assert_eq!(status, 200, "{slug} CSV");
        let disposition = headers.get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(disposition.starts_with("attachment; filename=\"") && disposition.contains(slug) && disposition.ends_with(".csv\""), "{disposition}");
        let rows = csv_rows(&csv);
        assert!(rows.len() > 2, "{slug} CSV has rows");
        let (status, headers, xlsx) = chrome.download(&format!("{path}{sep}format=xlsx")).await;
        assert_eq!(status, 200, "{slug} XLSX");
        assert!(headers.get("content-disposition").and_then(|v| v.to_str().ok()).is_some_and(|v| v.ends_with(".xlsx\"")));
        let sheet = xlsx_sheet(&xlsx);
        // Three title rows, the header, then the same rows as the CSV (totals included).
        assert_eq!(sheet.height(), 3 + rows.len(), "{slug}: XLSX and CSV carry the same rows");
        let header: Vec<String> = (0..rows[0].len()).map(|c| sheet.get((3, c)).map(|d| d.to_string()).unwrap_or_default()).collect();
        assert_eq!(header, rows[0], "{slug}: same columns");

        match slug {
            "daily-attendance" => {
                let api = api_all(&fetch, &format!("/api/processed-attendance/?start_date={DAY}&end_date={DAY}&page_size=1000")).await;
                check_daily_against_api(&rows, &api);
                // The name beginning with `=` is text in the CSV.
                let formula = rows.iter().find(|r| r[0] == SPECIAL[1].0).expect("the = row");
                assert_eq!(formula[1], format!("'{}", SPECIAL[1].1), "a leading = is neutralised");
                assert!(rows.iter().any(|r| r[1] == SPECIAL[0].1), "accents survive the CSV");
                // Typed cells: the date a date, minutes numbers, clock-in a date-time.
                let h = &rows[0];
                let first = 4;
                assert!(matches!(sheet.get((first, column(h, "Date"))), Some(Data::DateTime(_))), "date cell: {:?}", sheet.get((first, column(h, "Date"))));
                assert!(matches!(sheet.get((first, column(h, "Worked"))), Some(Data::Float(_))), "minutes: {:?}", sheet.get((first, column(h, "Worked"))));
                let clock_in = (4..sheet.height()).find_map(|r| match sheet.get((r, column(h, "Clock in"))) {
                    Some(d @ Data::DateTime(_)) => Some(d.clone()),
                    _ => None,
                });
                assert!(clock_in.is_some(), "clock-in cells are date-times");
                let formula_cell = (4..sheet.height()).find_map(|r| match sheet.get((r, 1)) {
                    Some(Data::String(s)) if s.starts_with('=') => Some(s.clone()),
                    _ => None,
                });
                assert_eq!(formula_cell.as_deref(), Some(SPECIAL[1].1), "the XLSX keeps the = name as a string, not a formula");
            }
            "monthly-timesheet" => {
                let api = api_all(&fetch, "/api/processed-attendance/?start_date=2026-10-01&end_date=2026-10-31&page_size=1000").await;
                check_timesheet_against_api(&rows, &api);
                let h = &rows[0];
                assert!(matches!(sheet.get((4, column(h, "Late min"))), Some(Data::Float(_))), "minutes are numbers");
                assert!(text.contains("HD") && text.contains(" M") && text.contains(" H"), "status codes are shown");
            }
            "punch-details" => {
                let api = api_all(&fetch, "/api/raw-attendance/?start_date=2026-10-19&end_date=2026-10-30&page_size=1000").await;
                assert_eq!(rows.len() - 1, api.len(), "one row per punch, as the API lists them");
                assert!(text.contains("Front door") && text.contains("Warehouse gate") && text.contains("Fingerprint") && text.contains("Face"));
            }
            "outliers" => assert!(text.contains("clock-in 3 h 40 min before the shift") && text.contains("Front door"), "reason and punches"),
            "employee-history" => {
                assert!(chrome.find("#history-chart svg").await.is_displayed().await.unwrap_or(false), "the chart is drawn");
                assert!(text.contains(SPECIAL[0].1), "the history names the employee");
            }
            _ => {}
        }
    }

    // Sorting by a header link: the late report by minutes late, longest first.
    chrome.open("/reports/late-early?from=2026-10-19&to=2026-10-30&sort=late&desc=1").await;
    chrome.screenshot("report-late-early-sorted").await;
    let (_, _, csv) = chrome.download("/reports/late-early?from=2026-10-19&to=2026-10-30&sort=late&desc=1&format=csv").await;
    let rows = csv_rows(&csv);
    let late_col = column(&rows[0], "Late by");
    let lates: Vec<i64> = rows[1..rows.len() - 1].iter().filter_map(|r| r[late_col].parse().ok()).collect();
    assert!(lates.windows(2).all(|w| w[0] >= w[1]) && !lates.is_empty(), "sorted longest first: {lates:?}");

    // The night of the DST change shows both offsets.
    chrome.open(&format!("/reports/daily-attendance?date={}&employee={NIGHT_WORKER}", report_seed::dst_night())).await;
    let text = chrome.page_text().await;
    assert!(text.contains("+02:00") && text.contains("+01:00"), "both offsets of the night shift: {text}");
    chrome.screenshot("report-daily-dst-night").await;

    // Print: the daily report and the timesheet on A4, header row again on page 2, page numbers.
    for (slug, expected_header) in [("daily-attendance", "Clock in"), ("monthly-timesheet", "Late min")] {
        chrome.open(&path_of(slug)).await;
        let pages = chrome.print_pdf(&format!("print-{slug}")).await;
        assert!(pages.len() >= 2, "{slug} prints on 2+ pages: {}", pages.len());
        assert!(pages[0].contains("Acme Bakery GmbH") && pages[0].contains("Generated") && pages[0].contains("by hr"), "print head: {}", pages[0]);
        assert!(pages[0].contains(SPECIAL[0].1), "rows are printed: {}", pages[0]);
        assert!(pages[1].contains(expected_header), "{slug}: the header row repeats on page 2: {}", pages[1]);
        assert!(pages[1].contains("Page 2 of"), "{slug}: page numbers: {}", pages[1]);
        assert!(!pages[0].contains("Sign out") && !pages[0].contains("Administration") && !pages[0].contains("Show report"), "no navigation chrome");
    }
    chrome.close().await;
}

/// The reports' numbers equal the API's on both backends (through the same HTTP downloads a user makes).
async fn reports_match_the_api(backend: Backend) {
    let app = start(backend).await;
    let store = app.db.store().await;
    report_seed::seed(&store, 12, report_seed::first_day(), report_seed::last_day(), true).await;
    create_account(&store, "viewer", Role::Viewer).await;
    let mut browser = Browser::new(&app.base_url);
    browser.sign_in("viewer").await;
    let mut get = async |path: String| browser.get(&path).await.bytes().await.expect("body").to_vec();
    let daily = csv_rows(&get(format!("/reports/daily-attendance?date={DAY}&format=csv")).await);
    let api = api_all(&mut get, &format!("/api/processed-attendance/?start_date={DAY}&end_date={DAY}&page_size=1000")).await;
    assert_eq!(api.len(), 12);
    check_daily_against_api(&daily, &api);
    for slug in SLUGS {
        let response = browser.get(&path_of(slug)).await;
        assert_eq!(response.status(), 200, "{slug}");
        let html = response.text().await.expect("page");
        assert!(!html.contains("<script>alert(1)"), "{slug}: the name is escaped");
    }
    // Unknown reports and bad periods are clear errors, not failures.
    assert_eq!(browser.get("/reports/no-such-report").await.status(), 404);
    let html = browser.get("/reports/late-early?from=2026-10-30&to=2026-10-01").await.text().await.expect("page");
    assert!(html.contains("the period ends before it starts"), "{html}");
    assert_eq!(browser.get("/reports/late-early?from=2026-10-30&to=2026-10-01&format=csv").await.status(), 400);
    assert_eq!(browser.get("/reports/daily-attendance?date=yesterday").await.status(), 200);
}

on_both_backends!(reports_match_the_api);
