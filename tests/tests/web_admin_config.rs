//! Administration pages, part B, in headless Chromium and over HTTP: shift templates (an edit marks
//! the affected days, says how many, and "Re-process now" updates them), plugins (upload the
//! quarter-hour example, preview it, activate, roll back; a bad `.wasm` refused with the reason),
//! employees, users and tokens, and the account page; viewers get 403 on every admin page and action,
//! every form without its CSRF token gets 403, and account and token changes are audited. A
//! plugin's settings edited as JSON are tried before they are kept, audited, and used by processing.

use std::time::Duration;

use attendance_bridge::domain::{DeviceId, EmployeeId, Role};
use attendance_bridge::plugins::registry::BUILTINS;
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::punches::{self, NewPunch};
use attendance_bridge::store::rosters::{self, ShiftTemplate};
use attendance_bridge::store::{Store, attendance, audit, employees, pending, settings};
use bridge_e2e::browser::Chrome;
use bridge_e2e::web::{Browser, PASSWORD, create_account, hidden_field};
use bridge_e2e::{Backend, TestApp, on_both_backends};
use chrono::{NaiveDate, NaiveTime, TimeDelta, Utc};

const SUITE: &str = "web_admin_config";

fn punch(device: DeviceId, employee: &str, date: NaiveDate, h: u32, m: u32, state: u8) -> NewPunch {
    bridge_e2e::utc_punch(device, employee, date.and_hms_opt(h, m, 0).expect("time").and_utc(), state)
}

fn time(h: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, 0, 0).expect("time")
}

/// An app whose plugin compile cache starts warm (built-ins compiled once per build).
async fn start(backend: Backend) -> TestApp {
    TestApp::start_with(backend, |c| c.data_dir = bridge_e2e::plugins::data_dir(&c.data_dir.clone())).await
}

/// Two employees on shifts DAY and LATE with a day of punches three days ago, processed.
async fn seed(app: &TestApp, store: &Store) -> NaiveDate {
    let gate = devices::insert(store, &NewDevice::pull("Gate", "127.0.0.1", 4370, 0)).await.expect("device").id;
    let day = (Utc::now() - TimeDelta::days(3)).date_naive();
    rosters::save_template(store, &ShiftTemplate { name: "Day shift".into(), ..ShiftTemplate::new("DAY", time(8), time(17)) }).await.expect("DAY");
    rosters::save_template(store, &ShiftTemplate::new("LATE", time(12), time(21))).await.expect("LATE");
    let all_week = "mon,tue,wed,thu,fri,sat,sun";
    employees::set_pattern(store, &EmployeeId("1001".into()), Some("DAY"), Some("DAY"), all_week).await.expect("1001");
    employees::set_pattern(store, &EmployeeId("1002".into()), Some("LATE"), Some("LATE"), all_week).await.expect("1002");
    employees::upsert_names(store, &[(EmployeeId("1001".into()), Some("Ada Baker".into())), (EmployeeId("1002".into()), Some("Ben Cole".into()))])
        .await
        .expect("names");
    let batch =
        [punch(gate, "1001", day, 8, 7, 0), punch(gate, "1001", day, 16, 53, 1), punch(gate, "1002", day, 12, 0, 0), punch(gate, "1002", day, 21, 0, 1)];
    punches::insert(store, &batch).await.expect("punches");
    let registry = attendance_bridge::pipeline::plugin_registry(&app.config).expect("registry");
    attendance_bridge::pipeline::process::process_pending(store, &registry, &app.config, 1000).await.expect("processed");
    assert_eq!(pending::count(store).await.expect("count"), 0);
    day
}

async fn day_of(store: &Store, employee: &str, day: NaiveDate) -> attendance::ProcessedDay {
    attendance::for_employee(store, &EmployeeId(employee.into())).await.expect("days").into_iter().find(|d| d.work_date == day).expect("the day")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_edits_a_shift_then_tries_activates_and_rolls_back_a_plugin() {
    let app = start(Backend::Sqlite).await;
    let store = app.db.store().await;
    create_account(&store, "boss", Role::Admin).await;
    let day = seed(&app, &store).await;
    let before = day_of(&store, "1001", day).await;
    let untouched = day_of(&store, "1002", day).await;
    let chrome = Chrome::start(&app.base_url, SUITE).await;
    chrome.sign_in("boss", PASSWORD).await;

    // Employees: the list and one person's page.
    chrome.open("/admin/employees").await;
    let text = chrome.page_text().await;
    assert!(text.contains("Ada Baker") && text.contains("DAY every day"), "{text}");
    chrome.screenshot("admin-employees").await;
    chrome.open("/admin/employees/1001").await;
    chrome.screenshot("admin-employee").await;

    // Shifts: raise DAY's lateness grace; the days worked on DAY are marked, and the count is shown.
    chrome.open("/admin/shifts").await;
    assert!(chrome.text("#waiting").await.contains("Nothing waiting"));
    chrome.screenshot("admin-shifts").await;
    chrome.open("/admin/shifts/DAY").await;
    let form = chrome.page_text().await;
    assert!(form.contains("Lateness forgiven") && form.contains("default 0 min") && form.contains("default 120 min"), "{form}");
    chrome.fill("input[name=late_grace_min]", "10").await;
    chrome.fill("input[name=early_grace_min]", "10").await;
    chrome.screenshot("admin-shift-form").await;
    chrome.click("#save-shift").await;
    let flash = chrome.text("#flash").await;
    // 1001's punch day and the day before it (a night shift could have ended that morning); not 1002's.
    assert_eq!(flash, "Saved shift DAY. 2 employee-days marked for re-processing.", "{flash}");
    assert!(chrome.text("#waiting").await.contains("2 employee-days waiting"));
    chrome.click("#reprocess").await;
    assert!(chrome.text("#flash").await.contains("Re-processing 2 days"));
    for _ in 0..240 {
        if pending::count(&store).await.expect("count") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    chrome.open("/admin/shifts").await;
    assert!(chrome.text("#waiting").await.contains("Nothing waiting"), "the marked days were re-processed");
    let after = day_of(&store, "1001", day).await;
    // Within the new 10-minute grace: neither late nor early any more.
    assert_eq!((before.late_min, before.early_min), (Some(7), Some(7)), "{before:?}");
    assert_eq!((after.late_min, after.early_min, after.revision), (None, None, before.revision + 1), "{after:?}");
    assert_eq!(day_of(&store, "1002", day).await, untouched, "another shift's days are left alone");

    // Plugins: a bad file is refused with the reason and not kept.
    let files = tempfile::tempdir().expect("folder");
    let bad = files.path().join("broken.wasm");
    std::fs::write(&bad, b"\0asm this is not a component").expect("write");
    chrome.open("/admin/plugins").await;
    chrome.find("#upload-file").await.send_keys(&bad.display().to_string()).await.expect("choose file");
    chrome.click("#upload").await;
    let refused = chrome.text("#flash").await;
    assert!(refused.starts_with("broken.wasm was refused and not kept:") && refused.contains("not a valid WebAssembly component"), "{refused}");
    assert!(!app.config.plugins_dir().join("broken.wasm").exists());
    chrome.screenshot("admin-plugins-refused").await;

    // The quarter-hour example: upload, check, preview, activate, roll back.
    let (_, bytes) = BUILTINS.iter().find(|(n, _)| *n == "quarter-hour").expect("the example plugin is built in");
    let good = files.path().join("quarter-hour.wasm");
    std::fs::write(&good, bytes).expect("write");
    chrome.find("#upload-file").await.send_keys(&good.display().to_string()).await.expect("choose file");
    chrome.click("#upload").await;
    let uploaded = chrome.text("#flash").await;
    assert!(uploaded.starts_with("Uploaded quarter-hour"), "{uploaded}");
    assert!(app.config.plugins_dir().join("quarter-hour.wasm").exists());
    let row = chrome.text("#plugin-quarter-hour").await;
    assert!(row.contains("uploaded") && row.contains("shift-rules"), "{row}");
    chrome.click("#plugin-quarter-hour form[action$='/test'] button").await;
    let gate = chrome.text("#flash").await;
    assert!(gate.starts_with("Golden fixtures:") && gate.contains("none broken"), "{gate}");
    chrome.screenshot("admin-plugins").await;

    // Its settings page: settings the plugin fails on are refused in place, the form keeps them.
    chrome.open("/admin/plugins/quarter-hour/config").await;
    chrome.fill("#config-text", "{\"interval_min\": 4000000000, \"mode\": \"up\"}").await;
    chrome.click("#save-config").await;
    let refused = chrome.text("#flash").await;
    assert!(refused.starts_with("The settings were not saved") && refused.contains("golden fixtures"), "{refused}");
    assert!(chrome.text("#saved-config").await.contains('—'), "nothing was saved");
    chrome.screenshot("admin-plugin-settings").await;

    chrome.open("/admin/plugins/quarter-hour/preview?days=7").await;
    assert_eq!(chrome.text("#changed-count").await, "1", "only 1001's day changes");
    let changes = chrome.text("#changes").await;
    assert!(changes.contains("1001") && changes.contains(&day.to_string()) && changes.contains("payable 526 540"), "{changes}");
    assert!(!changes.contains("1002"), "{changes}");
    chrome.screenshot("admin-plugin-preview").await;
    assert_eq!(day_of(&store, "1001", day).await, after, "a preview writes nothing");

    chrome.click("#activate").await;
    let activated = chrome.text("#flash").await;
    assert!(activated.starts_with("quarter-hour is the shift-rules plugin from the next processing run (was standard-shifts"), "{activated}");
    assert_eq!(chrome.text("#active-plugin").await, "quarter-hour");
    assert_eq!(settings::get(&store, settings::RULES_PLUGIN).await.expect("setting").as_deref(), Some("quarter-hour"));
    chrome.click("#rollback").await;
    assert!(chrome.text("#flash").await.starts_with("standard-shifts is the shift-rules plugin"), "rolled back");
    assert_eq!(chrome.text("#active-plugin").await, "standard-shifts");

    // Users and the account page.
    chrome.open("/admin/users").await;
    chrome.fill("#create-user input[name=username]", "payroll").await;
    chrome.click("#create-user button").await;
    assert!(chrome.text("#flash").await.contains("Created viewer payroll"));
    assert!(chrome.text("#secret").await.contains("Password for payroll"), "a generated password is shown once");
    chrome.fill("#create-token input[name=name]", "payroll export").await;
    chrome.click("#create-token button").await;
    let token = chrome.text("#secret-value").await;
    assert!(token.starts_with("zkb_") && token.len() == 68, "{token}");
    chrome.screenshot("admin-users").await;
    chrome.open("/account").await;
    assert_eq!(chrome.text("#account-username").await, "boss");
    chrome.screenshot("account").await;
    chrome.close().await;
}

/// Every admin page and action of this area, as (method, path).
const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/admin/employees"),
    ("GET", "/admin/employees/1001"),
    ("POST", "/admin/employees/1001"),
    ("POST", "/admin/employees/1001/pattern"),
    ("POST", "/admin/employees/1001/roster"),
    ("GET", "/admin/shifts"),
    ("POST", "/admin/shifts"),
    ("GET", "/admin/shifts/new"),
    ("GET", "/admin/shifts/DAY"),
    ("POST", "/admin/shifts/DAY/remove"),
    ("POST", "/admin/shifts/reprocess"),
    ("POST", "/admin/shifts/holidays"),
    ("POST", "/admin/shifts/holidays/2025-12-25/remove"),
    ("GET", "/admin/plugins"),
    ("POST", "/admin/plugins/upload"),
    ("POST", "/admin/plugins/rollback"),
    ("POST", "/admin/plugins/quarter-hour/test"),
    ("GET", "/admin/plugins/quarter-hour/preview"),
    ("POST", "/admin/plugins/quarter-hour/activate"),
    ("GET", "/admin/plugins/quarter-hour/config"),
    ("POST", "/admin/plugins/quarter-hour/config"),
    ("GET", "/admin/users"),
    ("POST", "/admin/users"),
    ("POST", "/admin/users/1/password"),
    ("POST", "/admin/users/1/active"),
    ("POST", "/admin/users/tokens"),
    ("POST", "/admin/users/tokens/1/revoke"),
];

on_both_backends!(viewers_csrf_and_audit);

async fn viewers_csrf_and_audit(backend: Backend) {
    let app = start(backend).await;
    let store = app.db.store().await;
    create_account(&store, "boss", Role::Admin).await;
    create_account(&store, "reader", Role::Viewer).await;
    rosters::save_template(&store, &ShiftTemplate::new("DAY", time(8), time(17))).await.expect("DAY");
    employees::set_pattern(&store, &EmployeeId("1001".into()), Some("DAY"), Some("DAY"), "mon").await.expect("1001");

    // A viewer: 403 on every page and action, even with a valid CSRF token.
    let mut viewer = Browser::new(&app.base_url);
    viewer.sign_in("reader").await;
    let csrf = viewer.session_csrf().await;
    for (method, path) in ADMIN_ROUTES {
        let status = if *method == "GET" { viewer.get(path).await.status() } else { viewer.post_form(path, &[("csrf_token", &csrf)], &[]).await.status() };
        assert_eq!(status, 403, "viewer {method} {path}");
    }
    // ...but may change their own password, with the current one.
    let wrong = viewer.post_form("/account/password", &[("csrf_token", &csrf), ("current", "nope"), ("new", "a new secret 1"), ("confirm", "a new secret 1")], &[]).await;
    assert_eq!(wrong.status(), 303);
    assert!(viewer.get("/account").await.text().await.expect("page").contains("The current password is not right."));
    let ok = viewer.post_form("/account/password", &[("csrf_token", &csrf), ("current", PASSWORD), ("new", "a new secret 1"), ("confirm", "a new secret 1")], &[]).await;
    assert_eq!(ok.status(), 303);
    assert!(viewer.get("/account").await.text().await.expect("page").contains("Your password is changed."));
    let mut again = Browser::new(&app.base_url);
    assert_eq!(again.login("reader", "a new secret 1", None).await.status(), 303, "the new password signs in");

    // An admin without the CSRF token: 403 on every form, urlencoded or multipart.
    let mut admin = Browser::new(&app.base_url);
    admin.sign_in("boss").await;
    for (method, path) in ADMIN_ROUTES.iter().filter(|(m, _)| *m == "POST").chain([&("POST", "/account/password")]) {
        assert_eq!(admin.post_form(path, &[("name", "x")], &[]).await.status(), 403, "{method} {path} without a token");
    }
    let cookies = admin.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let multipart = |token: Option<&str>| {
        let mut body = String::new();
        if let Some(token) = token {
            body.push_str(&format!("--B0undary\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"));
        }
        body.push_str("--B0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.wasm\"\r\n\r\nnot wasm\r\n--B0undary--\r\n");
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .post(format!("{}/admin/plugins/upload", app.base_url))
            .header("Cookie", cookies.clone())
            .header("Content-Type", "multipart/form-data; boundary=B0undary")
            .body(body)
    };
    assert_eq!(multipart(None).send().await.expect("upload").status(), 403, "an upload without the token");
    let csrf = admin.session_csrf().await;
    let refused = multipart(Some(&csrf)).send().await.expect("upload");
    assert_eq!(refused.status(), 303, "with the token the upload reaches the check");
    admin.absorb(&refused);
    let page = admin.get("/admin/plugins").await.text().await.expect("page");
    assert!(page.contains("x.wasm was refused and not kept"), "{page}");

    // Roster changes say how many days they mark (none here: no punches).
    let next_week = (Utc::now() + TimeDelta::days(7)).date_naive().to_string();
    let set = admin.post_form("/admin/employees/1001/roster", &[("csrf_token", &csrf), ("date", &next_week), ("shift", "off")], &[]).await;
    assert_eq!(set.status(), 303);
    let page = admin.get("/admin/employees/1001").await.text().await.expect("page");
    assert!(page.contains(&format!("1001 on {next_week}: a day off. 0 days marked for re-processing.")), "{page}");
    let holiday = admin.post_form("/admin/shifts/holidays", &[("csrf_token", &csrf), ("date", "2025-12-25"), ("name", "Christmas Day")], &[]).await;
    assert_eq!(holiday.status(), 303);
    assert!(admin.get("/admin/shifts").await.text().await.expect("page").contains("Christmas Day"));

    // Account changes are audited: create, reset, token create and revoke.
    let created = admin.post_form("/admin/users", &[("csrf_token", &csrf), ("username", "clerk"), ("role", "viewer"), ("password", "clerk password")], &[]).await;
    assert_eq!(created.status(), 303);
    let clerk = attendance_bridge::store::users::find_by_username(&store, "clerk").await.expect("query").expect("clerk");
    let reset = admin.post_form(&format!("/admin/users/{}/password", clerk.id.0), &[("csrf_token", &csrf), ("password", "another password")], &[]).await;
    assert_eq!(reset.status(), 303);
    let issued = admin.post_form("/admin/users/tokens", &[("csrf_token", &csrf), ("username", "clerk"), ("name", "export"), ("expires_in_days", "30")], &[]).await;
    assert_eq!(issued.status(), 200, "the new token is shown on the answer itself");
    let shown = issued.text().await.expect("page");
    let token = shown.split("id=\"secret-value\">").nth(1).and_then(|rest| rest.get(..68)).expect("the token is shown once").to_owned();
    assert!(token.starts_with("zkb_"), "{token}");
    let api = reqwest::Client::new().get(format!("{}/api/v1/me", app.base_url)).header("Authorization", format!("Token {token}")).send().await.expect("api");
    assert_eq!(api.status(), 200, "the token works");
    let listed = attendance_bridge::store::tokens::list(&store, Some("clerk")).await.expect("tokens");
    let revoked = admin.post_form(&format!("/admin/users/tokens/{}/revoke", listed[0].token.id), &[("csrf_token", &csrf)], &[]).await;
    assert_eq!(revoked.status(), 303);
    let api = reqwest::Client::new().get(format!("{}/api/v1/me", app.base_url)).header("Authorization", format!("Token {token}")).send().await.expect("api");
    assert_eq!(api.status(), 401, "a revoked token stops working");
    let deactivated = admin.post_form(&format!("/admin/users/{}/active", clerk.id.0), &[("csrf_token", &csrf), ("active", "0")], &[]).await;
    assert_eq!(deactivated.status(), 303);
    let (entries, _) = audit::page(&store, 0, 100).await.expect("audit");
    let actions: Vec<(&str, &str)> = entries.iter().map(|e| (e.actor.as_str(), e.action.as_str())).collect();
    for action in ["user.create", "user.password_reset", "token.create", "token.revoke", "user.deactivate"] {
        assert!(actions.contains(&("boss", action)), "{action} audited: {actions:?}");
    }
    assert!(actions.contains(&("reader", "user.password_change")), "{actions:?}");
    assert!(!entries.iter().any(|e| e.new_value.as_deref().is_some_and(|v| v.contains(&token))), "the token itself is never in the audit log");
    assert!(hidden_field(&page, "csrf_token").is_some(), "forms carry the token");
}

on_both_backends!(plugin_settings_are_checked_saved_audited_and_used);

/// Settings typed on a plugin's page: JSON that is not an object, or that the plugin fails its golden
/// fixtures with, comes back with the reason and is not kept; good settings are kept, audited, and the
/// next processing run uses them; emptying the form goes back to the configuration file's.
async fn plugin_settings_are_checked_saved_audited_and_used(backend: Backend) {
    let app = start(backend).await;
    let store = app.db.store().await;
    create_account(&store, "boss", Role::Admin).await;
    let day = seed(&app, &store).await;
    let mut admin = Browser::new(&app.base_url);
    admin.sign_in("boss").await;
    let csrf = admin.session_csrf().await;
    let page = admin.get("/admin/plugins/quarter-hour/config").await.text().await.expect("page");
    assert!(page.contains("Settings of quarter-hour"), "{page}");
    assert!(admin.get("/admin/plugins/no-such-plugin/config").await.status() == 404);

    for (text, why) in [
        ("{\"interval_min\": 30,", "not valid JSON at line 1"),
        ("[30]", "must be a JSON object"),
        ("{\"interval_min\": 4000000000, \"mode\": \"up\"}", "golden fixtures"),
    ] {
        let refused = save_settings(&mut admin, &csrf, text).await;
        assert_eq!(refused.status(), 422, "{text}");
        let page = refused.text().await.expect("page");
        assert!(page.contains("The settings were not saved") && page.contains(why), "{text}: {page}");
        assert!(page.contains(&minijinja_escaped(text)), "the typed text comes back: {page}");
    }
    assert!(settings::plugin_configs(&store).await.expect("saved").0.is_empty(), "nothing refused is kept");

    // Hourly rounding down: kept, audited, and processing uses it.
    let saved = save_settings(&mut admin, &csrf, "{\"interval_min\": 60, \"mode\": \"down\"}").await;
    assert_eq!(saved.status(), 303);
    admin.absorb(&saved);
    let page = admin.get("/admin/plugins/quarter-hour/config").await.text().await.expect("page");
    assert!(page.contains("Settings saved for quarter-hour"), "{page}");
    let activated = admin.post_form("/admin/plugins/quarter-hour/activate", &[("csrf_token", &csrf)], &[]).await;
    assert_eq!(activated.status(), 303);
    let before = day_of(&store, "1001", day).await;
    let reprocess = |store: Store| {
        let config = app.config.clone();
        async move {
            pending::mark_range(&store, day, day).await.expect("marked");
            let registry = attendance_bridge::pipeline::plugin_registry(&config).expect("registry");
            attendance_bridge::pipeline::process::process_pending(&store, &registry, &config, 1000).await.expect("processed");
            day_of(&store, "1001", day).await
        }
    };
    let hourly = reprocess(store.clone()).await;
    assert_eq!(hourly.rule_plugin, "quarter-hour");
    // 08:07–16:53 rounded down to whole hours: 08:00–16:00, an hour less than the standard rules pay.
    let payable = |d: &attendance::ProcessedDay| d.payable_min.expect("a present day has payable time");
    assert!(payable(&hourly) < payable(&before), "hourly rounding down pays less: {hourly:?} vs {before:?}");
    let (entries, _) = audit::page(&store, 0, 100).await.expect("audit");
    let entry = entries.iter().find(|e| e.action == "plugin.configure").expect("the change is audited");
    assert_eq!(entry.actor, "boss");
    assert_eq!(entry.target_id.as_deref(), Some("quarter-hour"));
    assert!(entry.new_value.as_deref().is_some_and(|v| v.contains("\"interval_min\":60")), "{entry:?}");

    // Emptied: the saved settings go, the plugin's defaults (quarter hours) apply again.
    let cleared = save_settings(&mut admin, &csrf, "").await;
    assert_eq!(cleared.status(), 303);
    assert!(settings::plugin_configs(&store).await.expect("saved").0.is_empty());
    let quarter = reprocess(store.clone()).await;
    assert!(payable(&quarter) > payable(&hourly), "quarter-hour rounding again: {quarter:?} vs {hourly:?}");
}

async fn save_settings(admin: &mut Browser, csrf: &str, text: &str) -> reqwest::Response {
    admin.post_form("/admin/plugins/quarter-hour/config", &[("csrf_token", csrf), ("config", text)], &[]).await
}

/// `text` as the template writes it into the page (HTML-escaped quotes).
fn minijinja_escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}
