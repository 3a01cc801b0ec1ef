//! The REST API over HTTP on an ephemeral port, on both backends: authentication and roles on every
//! endpoint, JSON errors naming bad fields, pagination followed the way the original's clients do,
//! the long actions (202 + a run to follow), and a manual correction reaching the mock CRM.

use std::time::Duration;

use attendance_bridge::auth;
use attendance_bridge::domain::EmployeeId;
use attendance_bridge::store::attendance;
use attendance_bridge::store::users;
use bridge_e2e::crm::{TOKEN, day_content, mock_crm};
use bridge_e2e::{Backend, TestApp};
use chrono::NaiveDate;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

bridge_e2e::on_both_backends!(
    every_endpoint_checks_credentials_and_roles,
    bad_input_answers_json_naming_the_field,
    original_client_follows_next_to_the_end,
    long_actions_answer_202_and_join_a_running_one,
    manual_correction_reaches_the_crm_and_the_audit_list,
    schema_driven_fuzzing_finds_no_server_error_nor_contradiction,
);

/// An admin's and a viewer's token on `app`.
async fn tokens(app: &TestApp) -> (String, String) {
    let store = app.db.store().await;
    let hash = auth::hash_password("long enough password").expect("hash");
    let admin = users::create(&store, "admin", &hash, true).await.expect("admin");
    let viewer = users::create(&store, "hr", &hash, false).await.expect("viewer");
    let (a, v) = (auth::generate_token(), auth::generate_token());
    users::create_token(&store, admin.id, "test", &a.hash, &a.prefix).await.expect("token");
    users::create_token(&store, viewer.id, "test", &v.hash, &v.prefix).await.expect("token");
    (a.token, v.token)
}

async fn call(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", app.base_url) };
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Token {token}"));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    let json = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}")) };
    (status, json)
}

async fn seed_days(app: &TestApp, employee: &str, days: u32) -> Vec<i64> {
    let store = app.db.store().await;
    let first = NaiveDate::from_ymd_opt(2025, 1, 1).expect("date");
    let rows: Vec<_> = (0..days)
        .map(|i| {
            let date = first + chrono::Days::new(u64::from(i));
            (date, String::new(), day_content(date, 480))
        })
        .collect();
    attendance::upsert_days(&store, &EmployeeId(employee.into()), &rows).await.expect("seed");
    attendance::for_employee(&store, &EmployeeId(employee.into())).await.expect("days").into_iter().map(|d| d.id).collect()
}

async fn every_endpoint_checks_credentials_and_roles(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (admin, viewer) = tokens(&app).await;
    let day = seed_days(&app, "7", 3).await[0];
    let (status, created) = call(&app, Method::POST, "/api/devices/", Some(&admin), Some(json!({"name": "front door", "ip_address": "127.0.0.9", "port": 4370}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let device = created["id"].as_i64().expect("id");
    let (_, run) = call(&app, Method::POST, "/api/devices/poll_all/", Some(&admin), None).await;
    let run = run["job_run_id"].as_i64().expect("run id");

    let reads = [
        "/api/devices/".to_owned(),
        format!("/api/devices/{device}/"),
        "/api/devices/pending/".to_owned(),
        "/api/raw-attendance/?user_id=7&start_date=2025-01-01&end_date=2025-01-31".to_owned(),
        "/api/processed-attendance/?user_id=7".to_owned(),
        format!("/api/processed-attendance/{day}/"),
        "/api/processed-attendance/unsynced/".to_owned(),
        "/api/processed-attendance/outliers/".to_owned(),
        "/api/processed-attendance/stats/".to_owned(),
        "/api/employees/".to_owned(),
        "/api/jobs/".to_owned(),
        format!("/api/jobs/runs/{run}/"),
        "/api/audit/".to_owned(),
        "/api/openapi.json".to_owned(),
        "/api/v1/devices/".to_owned(),
        "/api/v1/me".to_owned(),
    ];
    for path in &reads {
        let (status, body) = call(&app, Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} without credentials: {body}");
        assert!(body["error"].is_string(), "{path}: JSON error");
        let (status, body) = call(&app, Method::GET, path, Some(&viewer), None).await;
        assert_eq!(status, StatusCode::OK, "{path} as viewer: {body}");
        let (status, _) = call(&app, Method::GET, path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::OK, "{path} as admin");
    }
    let docs = reqwest::Client::new().get(format!("{}/api/docs", app.base_url)).header("Authorization", format!("Token {viewer}")).send().await.expect("docs");
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.expect("page").contains("/api/processed-attendance/{id}/"));

    let changes: Vec<(Method, String, Option<Value>, StatusCode)> = vec![
        (Method::POST, "/api/devices/".into(), Some(json!({"name": "back door", "ip_address": "127.0.0.10"})), StatusCode::CREATED),
        (Method::PATCH, format!("/api/devices/{device}/"), Some(json!({"enabled": false})), StatusCode::OK),
        (Method::PUT, format!("/api/devices/{device}/"), Some(json!({"name": "front door", "ip_address": "127.0.0.9", "enabled": false})), StatusCode::OK),
        (Method::POST, format!("/api/devices/{device}/poll/"), None, StatusCode::ACCEPTED),
        (Method::POST, "/api/devices/poll_all/".into(), None, StatusCode::ACCEPTED),
        (Method::POST, "/api/processed-attendance/process/".into(), Some(json!({})), StatusCode::ACCEPTED),
        (Method::POST, "/api/processed-attendance/sync/".into(), Some(json!({"limit": 10})), StatusCode::ACCEPTED),
        (Method::PATCH, format!("/api/processed-attendance/{day}/"), Some(json!({"status": "absent", "reason": "sick note"})), StatusCode::OK),
        (Method::POST, "/api/jobs/daily_cleanup/run/".into(), None, StatusCode::ACCEPTED),
        (Method::DELETE, format!("/api/devices/{device}/"), None, StatusCode::NO_CONTENT),
    ];
    for (method, path, body, expected) in changes {
        let (status, answer) = call(&app, method.clone(), &path, None, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} without credentials: {answer}");
        let (status, answer) = call(&app, method.clone(), &path, Some(&viewer), body.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as viewer: {answer}");
        let (status, answer) = call(&app, method.clone(), &path, Some(&admin), body).await;
        assert_eq!(status, expected, "{method} {path} as admin: {answer}");
    }
    let (_, audit) = call(&app, Method::GET, "/api/audit/?page_size=100", Some(&viewer), None).await;
    let actions: Vec<&str> = audit["results"].as_array().expect("results").iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["device.create", "device.update", "device.delete", "job.trigger", "attendance.correct"] {
        assert!(actions.contains(&action), "{action} audited: {actions:?}");
    }
    app.stop().await.expect("clean shutdown");
}

async fn bad_input_answers_json_naming_the_field(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (admin, _) = tokens(&app).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/devices/", app.base_url);
    let auth = format!("Token {admin}");

    let broken = client.post(&url).header("Authorization", &auth).header("Content-Type", "application/json").body("{\"name\": ").send().await.expect("request");
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    let body: Value = broken.json().await.expect("json");
    assert!(body["errors"]["body"].is_array(), "{body}");

    let not_json = client.post(&url).header("Authorization", &auth).header("Content-Type", "text/plain").body("name=x").send().await.expect("request");
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(not_json.json::<Value>().await.expect("json")["error"].is_string());

    let (status, body) = call(&app, Method::POST, "/api/devices/", Some(&admin), Some(json!({"name": "", "ip_address": "not-an-ip", "port": 70000, "comm_key": -1, "enabled": "yes", "time_zone": "Mars/Base"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for field in ["name", "ip_address", "port", "comm_key", "enabled", "time_zone"] {
        assert!(body["errors"][field].is_array(), "{field} named: {body}");
    }
    assert_eq!(body["errors"]["ip_address"][0], "not an IP address");

    let (status, _) = call(&app, Method::POST, "/api/devices/", Some(&admin), Some(json!({"name": "gate", "ip_address": "127.0.0.5"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = call(&app, Method::POST, "/api/devices/", Some(&admin), Some(json!({"name": "gate", "ip_address": "127.0.0.6"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["errors"]["name"].is_array());

    let (status, body) = call(&app, Method::GET, "/api/processed-attendance/?page_size=5000&start_date=2025-13-01&synced=maybe", Some(&admin), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for field in ["page_size", "start_date", "synced"] {
        assert!(body["errors"][field].is_array(), "{field} named: {body}");
    }
    let day = seed_days(&app, "3", 1).await[0];
    let (status, body) = call(&app, Method::PATCH, &format!("/api/processed-attendance/{day}/"), Some(&admin), Some(json!({"clock_in": "8 am"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"]["clock_in"].is_array() && body["errors"]["reason"].is_array(), "{body}");

    let (status, body) = call(&app, Method::GET, "/api/no-such-thing/", Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
    let (status, body) = call(&app, Method::DELETE, "/api/employees/", Some(&admin), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["error"].is_string());
    let (status, _) = call(&app, Method::GET, "/api/processed-attendance/999999/", Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&app, Method::GET, "/api/processed-attendance/?page=99", Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await.expect("clean shutdown");
}

async fn original_client_follows_next_to_the_end(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (_, viewer) = tokens(&app).await;
    let mut expected = seed_days(&app, "1001", 120).await;
    seed_days(&app, "1002", 30).await;
    expected.sort_unstable();

    // Written as the original's clients are: plain HTTP, `Authorization: Token …`, follow `next`.
    let client = reqwest::Client::new();
    let mut url = Some(format!("{}/api/processed-attendance/?user_id=1001&page_size=50", app.base_url));
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(next) = url {
        let page: Value = client.get(&next).header("Authorization", format!("Token {viewer}")).send().await.expect("get").json().await.expect("json");
        assert_eq!(page["count"], 120);
        for day in page["results"].as_array().expect("results") {
            assert_eq!(day["user_id"], "1001");
            assert!(day["clock_in"].as_str().expect("clock_in").ends_with("+02:00"), "RFC 3339 with offset: {day}");
            seen.push(day["id"].as_i64().expect("id"));
        }
        url = page["next"].as_str().map(str::to_owned);
        pages += 1;
    }
    assert_eq!(pages, 3);
    seen.sort_unstable();
    assert_eq!(seen, expected, "every day once");

    // The same client in Python with `requests`, when the test interpreter has it.
    if let Ok(python) = std::env::var("BRIDGE_TEST_PYTHON") {
        let has_requests = std::process::Command::new(&python).args(["-c", "import requests"]).status().is_ok_and(|s| s.success());
        if has_requests {
            let script = bridge_e2e::workspace_root().join("tests/python/original_client.py");
            let out = tokio::process::Command::new(&python)
                .arg(script)
                .arg(format!("{}/api/processed-attendance/?user_id=1001&page_size=50", app.base_url))
                .arg(&viewer)
                .output()
                .await
                .expect("python");
            assert!(out.status.success(), "python client: {}", String::from_utf8_lossy(&out.stderr));
            let report: Value = serde_json::from_slice(&out.stdout).expect("python output");
            assert_eq!(report["pages"], 3);
            assert_eq!(report["ids"].as_array().expect("ids").len(), 120);
        } else {
            eprintln!("BRIDGE_TEST_PYTHON has no `requests`: the Python variant of the client is skipped");
        }
    }
    app.stop().await.expect("clean shutdown");
}

async fn wait_for_run(app: &TestApp, token: &str, run: i64) -> Value {
    for _ in 0..400 {
        let (_, body) = call(app, Method::GET, &format!("/api/jobs/runs/{run}/"), Some(token), None).await;
        if body["status"] != "running" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run} never finished");
}

async fn long_actions_answer_202_and_join_a_running_one(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (admin, _) = tokens(&app).await;
    // A device that accepts connections and never answers: its poll runs until the step timeout,
    // long enough to ask twice.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent_port = silent.local_addr().expect("address").port();
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            connections.push(stream);
        }
    });
    let (_, device) = call(&app, Method::POST, "/api/devices/", Some(&admin), Some(json!({"name": "silent", "ip_address": "127.0.0.1", "port": silent_port}))).await;
    let id = device["id"].as_i64().expect("id");
    let (status, first) = call(&app, Method::POST, &format!("/api/devices/{id}/poll/"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, second) = call(&app, Method::POST, &format!("/api/devices/{id}/poll/"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(first["job_run_id"], second["job_run_id"], "one run for two identical triggers: {first} {second}");
    assert_eq!(second["joined"], true);
    let (_, run) = call(&app, Method::GET, &format!("/api/jobs/runs/{}/", first["job_run_id"]), Some(&admin), None).await;
    assert_eq!(run["status"], "running", "{run}");

    let (status, body) = call(&app, Method::GET, &format!("/api/devices/{id}/info/"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("timeout")), "{body}");
    held.abort();

    // A device nothing listens for fails at once; the run says which and why.
    let (_, refused) = call(&app, Method::POST, "/api/devices/", Some(&admin), Some(json!({"name": "unplugged", "ip_address": "127.0.0.1", "port": bridge_e2e::free_port()}))).await;
    let (status, started) = call(&app, Method::POST, &format!("/api/devices/{}/poll/", refused["id"]), Some(&admin), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let run = wait_for_run(&app, &admin, started["job_run_id"].as_i64().expect("id")).await;
    assert_eq!(run["status"], "failed", "nothing answers: {run}");
    assert!(run["error"].as_str().is_some_and(|e| e.contains("unplugged") && e.contains("unreachable")), "{run}");
    let (status, body) = call(&app, Method::GET, &format!("/api/devices/{}/info/", refused["id"]), Some(&admin), None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("unreachable")), "{body}");

    let (status, process) = call(&app, Method::POST, "/api/processed-attendance/process/", Some(&admin), Some(json!({"start_date": "2025-01-01", "end_date": "2025-01-31"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{process}");
    let run = wait_for_run(&app, &admin, process["job_run_id"].as_i64().expect("id")).await;
    assert_eq!(run["status"], "ok", "{run}");
    app.stop().await.expect("clean shutdown");
}

async fn manual_correction_reaches_the_crm_and_the_audit_list(backend: Backend) {
    let crm = mock_crm(Default::default()).await;
    let app = TestApp::start_with(backend, |c| {
        // The seeded days are 08:00-17:00 at UTC+2.
        c.time_zone = attendance_bridge::config::TimeZone(chrono_tz::Africa::Johannesburg);
        c.crm.api_url = Some(attendance_bridge::config::HttpUrl(crm.url().parse().expect("url")));
        c.crm.api_token = Some(TOKEN.to_string().into());
    })
    .await;
    let (admin, viewer) = tokens(&app).await;
    let day = seed_days(&app, "55", 1).await[0];

    let (status, body) = call(&app, Method::PATCH, &format!("/api/processed-attendance/{day}/"), Some(&admin), Some(json!({"clock_in": "2025-01-01T08:00:00+02:00"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a reason is required");
    assert!(body["errors"]["reason"].is_array());

    let correction = json!({"clock_in": "2025-01-01T07:30:00+02:00", "clock_out": "2025-01-01T17:00:00+02:00", "status": "present", "reason": "forgot to punch in; confirmed by the supervisor"});
    let (status, corrected) = call(&app, Method::PATCH, &format!("/api/processed-attendance/{day}/"), Some(&admin), Some(correction)).await;
    assert_eq!(status, StatusCode::OK, "{corrected}");
    assert_eq!(corrected["manual_override"], true);
    assert_eq!(corrected["revision"], 2);
    assert_eq!(corrected["clock_in"], "2025-01-01T07:30:00+02:00");
    assert_eq!(corrected["worked_minutes"], 570);

    let (status, sync) = call(&app, Method::POST, "/api/processed-attendance/sync/", Some(&admin), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sync}");
    let run = wait_for_run(&app, &admin, sync["job_run_id"].as_i64().expect("id")).await;
    assert_eq!(run["status"], "ok", "{run}");
    let key = format!("attendance-{day}-r2");
    let records = crm.records();
    assert!(records.contains_key(&key), "the CRM has the corrected revision {key}: {:?}", records.keys().collect::<Vec<_>>());
    let (_, after) = call(&app, Method::GET, &format!("/api/processed-attendance/{day}/"), Some(&viewer), None).await;
    assert_eq!(after["synced_to_crm"], true, "{after}");

    let (_, audit) = call(&app, Method::GET, "/api/audit/", Some(&viewer), None).await;
    let entry = audit["results"].as_array().expect("results").iter().find(|e| e["action"] == "attendance.correct").expect("audited");
    assert_eq!(entry["actor"], "admin");
    assert_eq!(entry["target_id"], day.to_string());
    assert_eq!(entry["reason"], "forgot to punch in; confirmed by the supervisor");
    assert_eq!(entry["old_value"]["revision"], 1);
    assert_eq!(entry["new_value"]["revision"], 2);
    assert_eq!(entry["new_value"]["clock_in"], "2025-01-01T05:30:00+00:00");
    app.stop().await.expect("clean shutdown");
}

/// The `schemathesis` command from the test virtualenv (next to the test Python, else `.venv-test`).
fn schemathesis() -> std::path::PathBuf {
    let beside_python = std::env::var_os("BRIDGE_TEST_PYTHON").map(std::path::PathBuf::from).and_then(|p| p.parent().map(|d| d.join("schemathesis")));
    let candidates = beside_python.into_iter().chain([bridge_e2e::workspace_root().join(".venv-test/bin/schemathesis")]);
    let found = candidates.into_iter().find(|p| p.exists());
    found.unwrap_or_else(|| panic!("schemathesis is needed: run ./scripts/test.sh (it installs tests/python/requirements.txt into .venv-test)"))
}

/// schemathesis generates requests from the served `/api/openapi.json` (as an admin) and checks that
/// none gets a 5xx and every documented answer matches its schema.
///
/// Generated device addresses are arbitrary and the suite talks to 127.0.0.0/8 only: the bridge runs
/// without its scheduler, and the operations that would contact a device (`info`, `poll`,
/// `poll_all`, running jobs) are left out; registering and changing devices is fuzzed. (`info` answers 502
/// by design when a device does not answer; `long_actions_answer_202_and_join_a_running_one` covers it.)
async fn schema_driven_fuzzing_finds_no_server_error_nor_contradiction(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.role = attendance_bridge::config::Role::Web).await;
    let (admin, _) = tokens(&app).await;
    seed_days(&app, "1001", 40).await;
    let (status, _) = call(&app, Method::POST, "/api/devices/", Some(&admin), Some(json!({"name": "door", "ip_address": "127.0.0.9", "port": bridge_e2e::free_port()}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let out = tokio::process::Command::new(schemathesis())
        .arg("run")
        .arg(format!("{}/api/openapi.json", app.base_url))
        .args(["-H", &format!("Authorization: Token {admin}")])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args(["--max-examples", "25", "--workers", "2", "--request-timeout", "10"])
        .args(["--exclude-operation-id-regex", "^(devices_(info|poll|poll_all)|jobs_run_now)$"])
        .env("SCHEMATHESIS_HOOKS", "")
        // Its example cache (`.schemathesis/`) goes to the test's scratch folder, not the source tree.
        .current_dir(app.db.dir.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(170), out).await.expect("schemathesis finished within its time").expect("schemathesis runs");
    let report = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "schemathesis found problems:\n{report}");
    app.stop().await.expect("clean shutdown");
}
