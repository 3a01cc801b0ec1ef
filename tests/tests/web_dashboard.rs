//! The HR home page ("Today", `/`): its number cards equal what the API reports for the same date on
//! both backends; device health marks a device silent for more than twice its interval as a
//! problem; the CRM queue matches the stats endpoint; viewers can open it, signed-out browsers are
//! sent to sign in, and names with markup render as text. In headless Chromium the page is signed
//! into through the form and photographed (`home`, `home-viewer`).

use attendance_bridge::config::TimeZone;
use attendance_bridge::domain::{DeviceId, EmployeeId, Role};
use attendance_bridge::store::attendance::{self, DayContent};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::{employees, punches};
use bridge_e2e::browser::Chrome;
use bridge_e2e::web::{Browser, PASSWORD, create_account};
use bridge_e2e::{Backend, TestApp, on_both_backends, utc_punch};
use chrono::{Days, NaiveDate, TimeDelta, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde_json::Value;

const ZONE: Tz = chrono_tz::Europe::Berlin;
const EMPLOYEES: usize = 14;
const WEEKS: u64 = 5;
/// An employee and a device whose names carry markup.
const HOSTILE_EMPLOYEE: &str = "<script>alert('employee')</script>";
const HOSTILE_DEVICE: &str = "Warehouse <script>alert('device')</script>";

/// What the seed made, for the checks.
struct Seeded {
    today: NaiveDate,
    silent: DeviceId,
    healthy: DeviceId,
}

fn start(backend: Backend) -> impl std::future::Future<Output = TestApp> {
    TestApp::start_with(backend, |c| {
        // The pages read what the seed wrote; background jobs would poll the seeded devices (nothing
        // listens at their addresses) and mark the healthy one failed while a check reads it.
        c.role = attendance_bridge::config::Role::Web;
        c.time_zone = TimeZone(ZONE);
        c.company_name = Some("Acme Bakery".into());
    })
}

/// A day of employee `e`, `k` days before today: mostly present 08:00–16:30 local with a spread of
/// arrivals, some absent, late, early, open (missing punch-out) and outlier days.
fn day(e: usize, k: u64, date: NaiveDate) -> DayContent {
    let at = |h: u32, m: u32| {
        let local = date.and_hms_opt(h, m, 0).expect("time");
        let utc = ZONE.from_local_datetime(&local).earliest().expect("local time").with_timezone(&Utc).naive_utc();
        (local, utc)
    };
    let k = k as usize;
    let mut flags: Vec<&str> = Vec::new();
    let spread = ((e * 17 + k * 7) % 100) as u32;
    let (in_h, in_m) = (6 + (spread + 40) / 60 + u32::from(e % 5 == 0), (spread + 40) % 60);
    let mut status = "present";
    let (mut clock_in, mut clock_out) = (Some(at(in_h.min(10), in_m)), Some(at(16, 30 + (e as u32 % 25))));
    if (e + k) % 9 == 0 {
        status = "absent";
        flags.push("absent");
        clock_in = None;
        clock_out = None;
    } else {
        if in_h >= 8 && in_m > 10 {
            flags.push("late");
        }
        if (e * 3 + k) % 8 == 0 {
            flags.push("early_exit");
            clock_out = Some(at(14, 50));
        }
        if (e + 2 * k) % 11 == 0 {
            status = "incomplete";
            flags.push("missing_out");
            clock_out = None;
        }
        if (e * 5 + k) % 13 == 0 {
            flags.push("outlier_punches");
        }
        if (e + k) % 17 == 0 {
            flags.push("in_outlier");
        }
        if e == 3 && k % 6 == 0 && status == "present" {
            status = "half_day";
        }
    }
    flags.sort_unstable();
    let worked = match (clock_in, clock_out) {
        (Some(i), Some(o)) => Some((o.1 - i.1).num_minutes() as i32),
        _ => None,
    };
    DayContent {
        status: status.into(),
        clock_in_local: clock_in.map(|t| t.0),
        clock_in_utc: clock_in.map(|t| t.1),
        clock_out_local: clock_out.map(|t| t.0),
        clock_out_utc: clock_out.map(|t| t.1),
        worked_min: worked,
        break_min: worked.map(|_| 30),
        payable_min: worked.map(|w| w - 30),
        scheduled_min: Some(480),
        overtime_min: Some(0),
        late_min: flags.contains(&"late").then_some(12),
        early_min: flags.contains(&"early_exit").then_some(100),
        duplicates: 0,
        flags: serde_json::to_string(&flags).expect("flags"),
        is_final: k > 0,
        reason: None,
        rule_plugin: "standard-shifts".into(),
        rule_version: "1.0.0".into(),
    }
}

fn code(e: usize) -> String {
    format!("E{:03}", e + 1)
}

/// Employees, five weeks of processed days (all delivered but a few pending and one failed today),
/// punches today on two devices, a device silent for hours, and a push terminal awaiting approval.
async fn seed(app: &TestApp) -> Seeded {
    let store = app.db.store().await;
    let today = Utc::now().with_timezone(&ZONE).date_naive();
    let names = [
        "Anna Schmidt", "Ben Müller", "Clara Weber", "David Fischer", "Eva Wagner", "Felix Becker", "Greta Hoffmann",
        "Hannes Koch", "Ida Richter", "Jonas Klein", HOSTILE_EMPLOYEE, "Lena Wolf", "Max Schröder", "Nora Neumann",
    ];
    let people: Vec<(EmployeeId, Option<String>)> = (0..EMPLOYEES).map(|e| (EmployeeId(code(e)), Some(names[e].to_owned()))).collect();
    employees::upsert_names(&store, &people).await.expect("employees");
    for e in 0..EMPLOYEES {
        let days: Vec<(NaiveDate, String, DayContent)> = (0..WEEKS * 7)
            .map(|k| {
                let date = today - Days::new(k);
                (date, "day".to_owned(), day(e, k, date))
            })
            .collect();
        attendance::upsert_days(&store, &EmployeeId(code(e)), &days).await.expect("days");
    }
    let on = |date: NaiveDate| date.format("'%Y-%m-%d'").to_string();
    app.db.execute("UPDATE crm_outbox SET status = 'delivered'").await;
    app.db
        .execute(&format!(
            "UPDATE crm_outbox SET status = 'pending' WHERE attendance_id IN (SELECT id FROM processed_attendance WHERE work_date = {} AND user_id IN ('E001', 'E002', 'E003'));
             UPDATE crm_outbox SET status = 'pending' WHERE attendance_id IN (SELECT id FROM processed_attendance WHERE work_date = {} AND user_id = 'E004');
             UPDATE crm_outbox SET status = 'failed', last_error = 'CRM answered 422' WHERE attendance_id IN (SELECT id FROM processed_attendance WHERE work_date = {} AND user_id = 'E005')",
            on(today),
            on(today - Days::new(7)),
            on(today - Days::new(1)),
        ))
        .await;

    let healthy = devices::insert(&store, &NewDevice::pull("Main entrance", "127.0.0.1", 4370, 0)).await.expect("device");
    let now = Utc::now();
    devices::record_poll(&store, healthy.id, now - TimeDelta::minutes(4), 3, now - TimeDelta::minutes(4)).await.expect("poll");
    let silent = devices::insert(&store, &NewDevice::pull(HOSTILE_DEVICE, "127.0.0.2", 4370, 0)).await.expect("device");
    devices::record_poll(&store, silent.id, now - TimeDelta::hours(3), -95, now - TimeDelta::hours(3)).await.expect("poll");
    devices::record_sync(&store, silent.id, now, Some("connecting to 127.0.0.2:4370: timed out after 10 s")).await.expect("error");
    let push = devices::insert(&store, &NewDevice::push("Front desk", "FRONT001", true)).await.expect("device");
    devices::record_push(&store, push.id, None, None, None).await.expect("push");
    devices::insert(&store, &NewDevice::push("NEWSN0001", "NEWSN0001", false)).await.expect("pending terminal");

    // Today's punches: arrivals on the entrance, a few on the front desk.
    let mut batch = Vec::new();
    for e in 0..EMPLOYEES {
        let content = day(e, 0, today);
        if let Some(at) = content.clock_in_utc {
            let device = if e % 4 == 0 { push.id } else { healthy.id };
            batch.push(utc_punch(device, &code(e), Utc.from_utc_datetime(&at), 0));
        }
    }
    punches::insert(&store, &batch).await.expect("punches");
    Seeded { today, silent: silent.id, healthy: healthy.id }
}

/// The text of the element with `id` (the first tag carrying it), entities decoded.
fn by_id(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no #{id} in the page"));
    let start = html[at..].find('>').expect("tag end") + at + 1;
    let end = html[start..].find('<').expect("text end") + start;
    decode(&html[start..end]).trim().to_owned()
}

/// The page's text with minijinja's entities decoded.
fn decode(html: &str) -> String {
    html.replace("&#x2f;", "/").replace("&#x27;", "'").replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

fn number(html: &str, id: &str) -> i64 {
    by_id(html, id).parse().unwrap_or_else(|e| panic!("#{id}: {e}"))
}

/// The card figures of `date` counted from `/api/processed-attendance/` rows.
async fn api_counts(browser: &mut Browser, date: NaiveDate) -> [(&'static str, i64); 7] {
    let d = date.format("%Y-%m-%d");
    let response = browser.get(&format!("/api/processed-attendance/?start_date={d}&end_date={d}&page_size=1000")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let rows = body["results"].as_array().expect("results");
    assert_eq!(body["count"].as_u64(), Some(rows.len() as u64));
    let count = |f: &dyn Fn(&Value) -> bool| rows.iter().filter(|r| f(r)).count() as i64;
    let has = |r: &Value, flag: &str| r["flags"].as_array().is_some_and(|fs| fs.iter().any(|f| f == flag));
    // Cross-check one figure with the API's own status filter.
    let absent: Value = browser.get(&format!("/api/processed-attendance/?start_date={d}&end_date={d}&status=absent")).await.json().await.expect("json");
    let absent_rows = count(&|r| r["status"] == "absent");
    assert_eq!(absent["count"].as_i64(), Some(absent_rows));
    [
        ("present", count(&|r| r["status"] != "absent")),
        ("absent", absent_rows),
        ("late", count(&|r| has(r, "late"))),
        ("early-leave", count(&|r| has(r, "early_exit"))),
        ("missing-out", count(&|r| r["status"] == "incomplete" && has(r, "missing_out"))),
        ("outliers", count(&|r| r["is_outlier"] == true)),
        ("waiting-crm", count(&|r| matches!(r["sync_status"].as_str(), Some("pending" | "in_flight")))),
    ]
}

async fn the_cards_equal_the_api_for_the_same_date(backend: Backend) {
    let app = start(backend).await;
    let seeded = seed(&app).await;
    let store = app.db.store().await;
    create_account(&store, "hr-admin", Role::Admin).await;
    let mut browser = Browser::new(&app.base_url);
    browser.sign_in("hr-admin").await;

    for date in [seeded.today, seeded.today - Days::new(1), seeded.today - Days::new(7)] {
        let page = browser.get(&format!("/?date={}", date.format("%Y-%m-%d"))).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("html");
        let expected = api_counts(&mut browser, date).await;
        for (id, value) in expected {
            assert_eq!(number(&html, id), value, "card #{id} on {date}");
        }
        assert!(expected[0].1 > 0 && expected[1].1 > 0, "the seed has present and absent days on {date}");
        // The change against the same weekday a week before is on each card.
        let before = api_counts(&mut browser, date - Days::new(7)).await;
        for ((id, now), (_, then)) in expected.iter().zip(before) {
            let delta = by_id(&html, &format!("{id}-delta"));
            if *now == then {
                assert_eq!(delta, "same as last week", "#{id} on {date}");
            } else {
                assert_eq!(delta, format!("{:+} vs last week ({then})", now - then), "#{id} on {date}");
            }
        }
    }

    let html = browser.get("/").await.text().await.expect("html");
    eprintln!("seeded home page: {} bytes", html.len());
    assert!(html.len() < 40_000, "{} bytes", html.len());
    let today = api_counts(&mut browser, seeded.today).await;
    assert!(today.iter().all(|(_, v)| *v > 0), "the seed makes every card non-zero today: {today:?}");
    assert_eq!(number(&html, "waiting-crm"), 3, "three of today's days wait for the CRM");

    let stats: Value = browser.get("/api/processed-attendance/stats/").await.json().await.expect("stats");
    assert_eq!(number(&html, "sync-pending"), stats["sync_pending"].as_i64().expect("sync_pending"));
    assert_eq!(number(&html, "sync-failed"), stats["sync_failed"].as_i64().expect("sync_failed"));
    assert_eq!(number(&html, "sync-failed"), 1);
    assert_eq!(number(&html, "awaiting-approval"), stats["devices_pending_approval"].as_i64().expect("pending"));
    assert!(html.contains("href=\"/admin/sync\""), "the queue links to the failures");
    assert!(html.contains("href=\"/admin/devices\""), "the approval notice links to the devices");

    // Device health: the silent one is a problem, the polled one is online with today's records.
    assert!(by_id(&html, &format!("device-{}-state", seeded.silent.0)).starts_with("Silent for 3 h"), "{html}");
    assert_eq!(by_id(&html, &format!("device-{}-state", seeded.healthy.0)), "Online");
    let stored_today = number(&html, &format!("device-{}-today", seeded.healthy.0));
    assert!(stored_today > 0, "records stored today on the entrance");
    assert!(html.contains("timed out after 10 s"), "an admin sees the last error");
    assert!(html.contains("-95 s"), "the clock drift");
    // The newest punch, in the display zone with its offset.
    let newest = by_id(&html, "newest-punch");
    assert!(newest.contains("+01:00") || newest.contains("+02:00"), "{newest}");
    assert!(html.contains("Europe&#x2f;Berlin"), "the display zone is named");
    // The charts are inline SVG with tooltips.
    assert!(html.contains("<svg") && html.contains("id=\"trend-chart\"") && html.contains("id=\"arrivals-chart\""));
    assert!(html.matches("<title>").count() > 30, "a tooltip per day and hour");
    assert!(!html.contains("<script"), "no script and no unescaped markup");
    app.stop().await.expect("stop");
}

async fn a_bad_date_is_reported_and_today_shown(backend: Backend) {
    let app = start(backend).await;
    let store = app.db.store().await;
    create_account(&store, "hr-admin", Role::Admin).await;
    let mut browser = Browser::new(&app.base_url);
    browser.sign_in("hr-admin").await;
    let page = browser.get("/?date=2026-13-45").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(by_id(&html, "date-error").contains("is not a date"), "{html}");
    assert_eq!(number(&html, "present"), 0, "an empty database shows zeros");
    assert!(html.contains("no punches stored yet"));
    // `push_security` holds the home page of a one-device database under 20 kB.
    assert!(html.len() < 16_000, "the empty page is small: {} bytes", html.len());
    app.stop().await.expect("stop");
}

on_both_backends!(the_cards_equal_the_api_for_the_same_date, a_bad_date_is_reported_and_today_shown);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_see_it_signed_out_browsers_sign_in_and_markup_is_text() {
    let app = start(Backend::Sqlite).await;
    seed(&app).await;
    let store = app.db.store().await;
    create_account(&store, "viewer", Role::Viewer).await;

    let anonymous = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let response = anonymous.get(format!("{}/", app.base_url)).send().await.expect("get");
    assert_eq!(response.status(), 303);
    let location = response.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned();
    assert!(location.starts_with("/login"), "{location}");

    let mut browser = Browser::new(&app.base_url);
    browser.sign_in("viewer").await;
    let page = browser.get("/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(!html.contains("<script"), "markup in names is escaped");
    assert!(html.contains("Warehouse &lt;script&gt;"), "the device name shows as text");
    assert!(html.contains("&lt;script&gt;alert("), "the employee name shows as text");
    assert!(!html.contains("timed out after 10 s"), "a viewer does not see error texts (they can name addresses)");
    assert!(html.contains("details for admins"));
    assert!(!html.contains("href=\"/admin/sync\""), "no admin links for a viewer");
    assert!(number(&html, "present") > 0);
    app.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_home_page_shows_the_seeded_numbers() {
    let app = start(Backend::Sqlite).await;
    let seeded = seed(&app).await;
    let store = app.db.store().await;
    create_account(&store, "hr", Role::Admin).await;
    create_account(&store, "vera", Role::Viewer).await;
    let mut api = Browser::new(&app.base_url);
    api.sign_in("hr").await;
    let expected = api_counts(&mut api, seeded.today).await;

    let chrome = Chrome::start(&app.base_url, "web_dashboard").await;
    chrome.open("/").await;
    assert!(chrome.current_path().await.starts_with("/login"), "signed out, / goes to the sign-in page");
    chrome.sign_in("hr", PASSWORD).await;
    assert_eq!(chrome.current_path().await, "/");
    for (id, value) in expected {
        assert_eq!(chrome.text(&format!("#{id}")).await, value.to_string(), "#{id}");
    }
    let text = chrome.page_text().await;
    assert!(text.contains("Warehouse <script>alert('device')</script>"), "the device name shows as typed");
    assert!(text.contains("Silent for 3 h"), "{text}");
    chrome.screenshot("home").await;

    // The date picker works without JavaScript: a GET form.
    let yesterday = (seeded.today - Days::new(1)).format("%Y-%m-%d").to_string();
    chrome.open(&format!("/?date={yesterday}")).await;
    let expected = api_counts(&mut api, seeded.today - Days::new(1)).await;
    assert_eq!(chrome.text("#present").await, expected[0].1.to_string());
    chrome.click("a[aria-label='Next day']").await;
    assert_eq!(chrome.current_path().await, format!("/?date={}", seeded.today.format("%Y-%m-%d")));
    chrome.close().await;

    let chrome = Chrome::start(&app.base_url, "web_dashboard").await;
    chrome.sign_in("vera", PASSWORD).await;
    assert_eq!(chrome.current_path().await, "/");
    assert!(chrome.text("#present").await.parse::<i64>().expect("figure") > 0);
    chrome.screenshot("home-viewer").await;
    chrome.close().await;
}
