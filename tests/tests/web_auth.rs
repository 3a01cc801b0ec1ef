//! The access layer on a real server, on both backends: sign-in pages, sessions, CSRF, the sign-in
//! limits, deny-by-default routing, roles and API tokens.

use std::time::Instant;

use attendance_bridge::auth;
use attendance_bridge::domain::Role;
use attendance_bridge::store::{tokens, users};
use bridge_e2e::web::{Browser, PASSWORD, create_account, hidden_field};
use bridge_e2e::{Backend, TestApp};

bridge_e2e::on_both_backends!(
    login_page_renders_and_sign_in_rotates_the_session,
    secure_cookies_when_configured,
    secure_cookies_over_https_behind_a_trusted_proxy,
    failures_look_alike_and_the_eleventh_is_refused,
    forwarded_for_counts_only_from_trusted_proxies,
    an_account_is_throttled_from_rotating_addresses,
    next_is_followed_only_on_this_site,
    logout_ends_the_session,
    sessions_of_deactivated_or_deleted_accounts_end,
    session_posts_need_the_csrf_token,
    viewers_change_nothing,
    every_protected_route_wants_credentials,
    revoked_and_expired_tokens_are_refused_at_once,
    idle_and_absolute_expiry_end_sessions,
    token_and_role_commands,
);

/// Routes that must never answer without credentials. Pages redirect to the sign-in page, API paths
/// answer 401. The access layer runs before routing, so paths not yet served are listed too: the
/// REST API, the OpenAPI document and pages still to come are protected the day they are added.
const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/devices"),
    ("GET", "/reports/daily?date=2026-11-02"),
    ("GET", "/admin/users"),
    ("POST", "/logout"),
    ("GET", "/api"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs/"),
    ("GET", "/api/devices/"),
    ("POST", "/api/devices/"),
    ("GET", "/api/devices/1/"),
    ("PUT", "/api/devices/1/"),
    ("PATCH", "/api/devices/1/"),
    ("DELETE", "/api/devices/1/"),
    ("GET", "/api/devices/1/info/"),
    ("POST", "/api/devices/1/poll/"),
    ("POST", "/api/devices/poll_all/"),
    ("GET", "/api/raw-attendance/"),
    ("GET", "/api/processed-attendance/"),
    ("GET", "/api/processed-attendance/1/"),
    ("PATCH", "/api/processed-attendance/1/"),
    ("GET", "/api/processed-attendance/unsynced/"),
    ("GET", "/api/processed-attendance/outliers/"),
    ("GET", "/api/processed-attendance/stats/"),
    ("POST", "/api/processed-attendance/process/"),
    ("POST", "/api/processed-attendance/sync/"),
    ("GET", "/api/employees/"),
    ("GET", "/api/jobs/"),
    ("POST", "/api/jobs/poll_devices/run/"),
    ("GET", "/api/jobs/runs/1/"),
    ("GET", "/api/audit/"),
    ("GET", "/api/v1/devices/"),
];

fn set_cookie_of<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

async fn error_text(response: reqwest::Response) -> String {
    let html = response.text().await.expect("page");
    let start = html.find("id=\"login-error\"").expect("an error message is shown");
    let from = html[start..].find('>').map(|i| start + i + 1).expect("tag end");
    let to = html[from..].find('<').map(|i| from + i).expect("text end");
    html[from..to].trim().to_owned()
}

async fn login_page_renders_and_sign_in_rotates_the_session(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    create_account(&store, "ada", Role::Admin).await;
    let mut browser = Browser::new(&app.base_url);

    let page = browser.get("/login").await;
    assert_eq!(page.status(), 200);
    let csrf_cookie = set_cookie_of(&page, "bridge_login_csrf").expect("login CSRF cookie").to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(csrf_cookie.contains(attribute), "{csrf_cookie}");
    }
    let html = page.text().await.expect("html");
    assert!(html.contains("Sign in") && html.contains("name=\"password\"") && html.contains("Attendance Bridge"), "{html}");
    assert!(!html.contains("http://") && !html.contains("https://"), "no external assets");

    let signed_in = browser.login("ada", PASSWORD, None).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(location(&signed_in), "/");
    let cookie = set_cookie_of(&signed_in, "bridge_session").expect("session cookie").to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP by default: {cookie}");
    let first = browser.cookie_ending("bridge_session").expect("kept");
    assert!(first.len() >= 32);

    let overview = browser.get("/").await;
    assert_eq!(overview.status(), 200);
    let html = overview.text().await.expect("html");
    assert!(html.contains("Arrivals by hour") && html.contains("signed-in-user\">ada<") && html.contains("action=\"/logout\""), "{html}");

    // The session id is stored hashed only.
    let raw_ids = count(&app, &format!("SELECT COUNT(*) AS n FROM sessions WHERE id_hash = '{first}'")).await;
    assert_eq!(raw_ids, 0, "the raw session id is never stored");

    // Signing in again from the same browser: a new id, and the old one stops working.
    let again = browser.login("ada", PASSWORD, Some("/")).await;
    assert_eq!(again.status(), 303);
    let second = browser.cookie_ending("bridge_session").expect("kept");
    assert_ne!(first, second, "the session id changes at sign-in");
    let mut old = Browser::new(&app.base_url);
    old.cookies.insert("bridge_session".into(), first);
    assert_eq!(old.get("/").await.status(), 303, "the pre-sign-in id is dropped");
    assert_eq!(browser.get("/").await.status(), 200);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM sessions").await, 1);
}

async fn secure_cookies_when_configured(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.web.session_cookie_secure = true).await;
    let store = app.db.store().await;
    create_account(&store, "ada", Role::Admin).await;
    let mut browser = Browser::new(&app.base_url);
    let page = browser.get("/login").await;
    let csrf = set_cookie_of(&page, "__Host-bridge_login_csrf").expect("prefixed login cookie");
    assert!(csrf.contains("; Secure") && csrf.contains("Path=/") && !csrf.contains("Domain"), "{csrf}");
    let signed_in = browser.login("ada", PASSWORD, None).await;
    assert_eq!(signed_in.status(), 303);
    let cookie = set_cookie_of(&signed_in, "__Host-bridge_session").expect("prefixed session cookie");
    assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert_eq!(browser.get("/").await.status(), 200);
}

/// Behind a TLS proxy the bridge serves plain HTTP: the trusted proxy's `X-Forwarded-Proto: https`
/// makes the cookies `Secure` and `__Host-` named without `SESSION_COOKIE_SECURE`; the same header
/// from anyone else changes nothing.
async fn secure_cookies_over_https_behind_a_trusted_proxy(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.web.trusted_proxies.0 = vec!["127.0.0.1/32".parse().expect("net")]).await;
    let store = app.db.store().await;
    create_account(&store, "ada", Role::Admin).await;
    let mut browser = Browser::new(&app.base_url);
    browser.forwarded_proto = Some("https".into());
    let signed_in = browser.login("ada", PASSWORD, None).await;
    assert_eq!(signed_in.status(), 303);
    let cookie = set_cookie_of(&signed_in, "__Host-bridge_session").expect("prefixed session cookie over HTTPS");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert_eq!(browser.get("/").await.status(), 200, "the prefixed cookie signs the next request in");

    let plain = TestApp::start(backend).await;
    create_account(&plain.db.store().await, "ada", Role::Admin).await;
    let mut browser = Browser::new(&plain.base_url);
    browser.forwarded_proto = Some("https".into());
    let signed_in = browser.login("ada", PASSWORD, None).await;
    let cookie = set_cookie_of(&signed_in, "bridge_session").expect("plain cookie: the peer is no trusted proxy");
    assert!(!cookie.contains("Secure"), "{cookie}");
}

async fn failures_look_alike_and_the_eleventh_is_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    create_account(&store, "ada", Role::Admin).await;
    let mut browser = Browser::new(&app.base_url);

    let started = Instant::now();
    let wrong_password = browser.login("ada", "not the password", None).await;
    let wrong_password_time = started.elapsed();
    assert_eq!(wrong_password.status(), 401);
    let started = Instant::now();
    let unknown_user = browser.login("nobody-here", "not the password", None).await;
    let unknown_user_time = started.elapsed();
    assert_eq!(unknown_user.status(), 401);
    let (a, b) = (error_text(wrong_password).await, error_text(unknown_user).await);
    assert_eq!(a, b, "one message for both");
    assert_eq!(a, "Wrong user name or password.");
    println!("failed sign-in: wrong password {wrong_password_time:?}, unknown user {unknown_user_time:?}");
    // Both verify an argon2 hash: the unknown name costs the same order of time, not a fast path.
    assert!(unknown_user_time * 3 >= wrong_password_time, "{unknown_user_time:?} vs {wrong_password_time:?}");

    // Ten failures in the window from this address (two so far); the eleventh attempt is refused,
    // even with the right password.
    for i in 2..10 {
        let response = browser.login(&format!("user{i}"), "wrong password", None).await;
        assert_eq!(response.status(), 401, "attempt {}", i + 1);
    }
    let refused = browser.login("ada", PASSWORD, None).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    let message = error_text(refused).await;
    assert!(message.starts_with("Too many failed sign-in attempts"), "{message}");
    assert!(browser.cookie_ending("bridge_session").is_none());
    // The password never reaches the database.
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM login_failures WHERE subject LIKE '%wrong password%'").await, 0);
}

async fn forwarded_for_counts_only_from_trusted_proxies(backend: Backend) {
    // Untrusted peer: X-Forwarded-For is ignored, so rotating it does not escape the limit.
    let app = TestApp::start_with(backend, |c| c.web.login_max_failures = 3).await;
    let mut browser = Browser::new(&app.base_url);
    for i in 0..3 {
        browser.forwarded_for = Some(format!("127.0.0.{}", 10 + i));
        assert_eq!(browser.login(&format!("u{i}"), "wrong password", None).await.status(), 401);
    }
    browser.forwarded_for = Some("127.0.0.99".into());
    assert_eq!(browser.login("u9", "wrong password", None).await.status(), 429, "spoofed X-Forwarded-For is ignored");
    drop(app);

    // Trusted proxy (the loopback peer): each forwarded client has its own count.
    let app = TestApp::start_with(backend, |c| {
        c.web.login_max_failures = 3;
        c.web.trusted_proxies.0 = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    let mut browser = Browser::new(&app.base_url);
    browser.forwarded_for = Some("127.0.0.5".into());
    for i in 0..3 {
        assert_eq!(browser.login(&format!("u{i}"), "wrong password", None).await.status(), 401);
    }
    assert_eq!(browser.login("u3", "wrong password", None).await.status(), 429, "127.0.0.5 is over its limit");
    browser.forwarded_for = Some("127.0.0.6".into());
    assert_eq!(browser.login("u4", "wrong password", None).await.status(), 401, "127.0.0.6 is another client");
    let stored = count(&app, "SELECT COUNT(*) AS n FROM login_failures WHERE scope = 'address' AND subject = '127.0.0.5'").await;
    assert_eq!(stored, 3);
}

async fn an_account_is_throttled_from_rotating_addresses(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.web.login_max_failures = 3;
        c.web.trusted_proxies.0 = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    let store = app.db.store().await;
    create_account(&store, "ada", Role::Admin).await;
    let mut browser = Browser::new(&app.base_url);
    for i in 0..3 {
        browser.forwarded_for = Some(format!("127.0.1.{i}"));
        assert_eq!(browser.login("ada", "wrong password", None).await.status(), 401);
    }
    browser.forwarded_for = Some("127.0.1.50".into());
    let refused = browser.login("ada", PASSWORD, None).await;
    assert_eq!(refused.status(), 429, "the account is throttled whatever the address");
    assert!(refused.headers().get("retry-after").is_some());
    // Another account from the same fresh address is not affected.
    create_account(&store, "bob", Role::Viewer).await;
    assert_eq!(browser.login("bob", PASSWORD, None).await.status(), 303);
}

async fn next_is_followed_only_on_this_site(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    create_account(&store, "ada", Role::Admin).await;
    let mut browser = Browser::new(&app.base_url);

    let redirect = browser.get("/devices?page=2&q=a b").await;
    assert_eq!(redirect.status(), 303);
    assert_eq!(location(&redirect), "/login?next=%2Fdevices%3Fpage%3D2%26q%3Da%2520b");

    for evil in ["//evil.example", "https://evil.example/", "/\\evil.example", "http:/evil.example", " //evil.example"] {
        let response = browser.login("ada", PASSWORD, Some(evil)).await;
        assert_eq!(response.status(), 303);
        assert_eq!(location(&response), "/", "next={evil:?} is not followed");
    }
    let response = browser.login("ada", PASSWORD, Some("/devices?page=2")).await;
    assert_eq!(location(&response), "/devices?page=2");
    // The page carries `next` into its form.
    let html = browser.get("/login?next=%2Freports").await.text().await.expect("html");
    assert_eq!(hidden_field(&html, "next").as_deref(), Some("/reports"), "{html}");
    let html = browser.get("/login?next=%2F%2Fevil.example").await.text().await.expect("html");
    assert_eq!(hidden_field(&html, "next").as_deref(), Some("/"), "{html}");
}

async fn logout_ends_the_session(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    create_account(&store, "ada", Role::Viewer).await;
    let mut browser = Browser::new(&app.base_url);
    browser.sign_in("ada").await;
    let session = browser.cookie_ending("bridge_session").expect("session");
    let csrf = browser.session_csrf().await;
    let out = browser.post_form("/logout", &[("csrf_token", &csrf)], &[]).await;
    assert_eq!(out.status(), 303, "a viewer may sign out");
    assert_eq!(location(&out), "/login");
    let cleared = set_cookie_of(&out, "bridge_session").expect("cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(browser.cookie_ending("bridge_session").is_none());
    let mut replay = Browser::new(&app.base_url);
    replay.cookies.insert("bridge_session".into(), session);
    assert_eq!(replay.get("/").await.status(), 303, "the ended session is refused");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM sessions").await, 0);
}

async fn sessions_of_deactivated_or_deleted_accounts_end(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    create_account(&store, "ada", Role::Admin).await;
    create_account(&store, "bob", Role::Admin).await;
    let mut ada = Browser::new(&app.base_url);
    ada.sign_in("ada").await;
    let mut bob = Browser::new(&app.base_url);
    bob.sign_in("bob").await;
    assert_eq!(ada.get("/").await.status(), 200);

    app.db.execute("UPDATE users SET is_active = FALSE WHERE username = 'ada'").await;
    assert_eq!(ada.get("/").await.status(), 303, "a deactivated account's session is refused at once");
    assert_eq!(ada.get("/api/v1/me").await.status(), 401);
    assert_eq!(ada.login("ada", PASSWORD, None).await.status(), 401, "and it cannot sign in");

    app.db.execute("DELETE FROM users WHERE username = 'bob'").await;
    assert_eq!(bob.get("/").await.status(), 303, "a deleted account's session is gone");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'bob'").await, 0);
}

async fn session_posts_need_the_csrf_token(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    let admin = create_account(&store, "ada", Role::Admin).await;
    let mut browser = Browser::new(&app.base_url);
    browser.sign_in("ada").await;
    let csrf = browser.session_csrf().await;

    // A session-authenticated change without the token, or with a wrong one: 403, nothing done.
    assert_eq!(browser.post_form("/logout", &[], &[]).await.status(), 403);
    assert_eq!(browser.post_form("/logout", &[("csrf_token", "0".repeat(64).as_str())], &[]).await.status(), 403);
    let cross_site = browser.post_form("/logout", &[], &[("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site")]).await;
    assert_eq!(cross_site.status(), 403);
    let api = browser.client.delete(format!("{}/api/devices/1/", app.base_url)).header("Cookie", format!("bridge_session={}", browser.cookie_ending("bridge_session").expect("session"))).send().await.expect("delete");
    assert_eq!(api.status(), 403, "API changes through a session need the token too");
    let body: serde_json::Value = api.json().await.expect("json");
    assert!(body["error"].as_str().expect("message").contains("CSRF"), "{body}");
    assert_eq!(browser.get("/").await.status(), 200, "still signed in");

    // With the header, the same request reaches the handler (405: /api/v1/me has no POST).
    let with_header = browser.post_form("/api/v1/me", &[], &[("X-CSRF-Token", &csrf)]).await;
    assert_eq!(with_header.status(), 405);
    // With the form field: signs out.
    assert_eq!(browser.post_form("/logout", &[("csrf_token", &csrf)], &[]).await.status(), 303);

    // A token-authenticated change needs no CSRF token.
    let token = auth::generate_token();
    users::create_token(&store, admin.id, "t", &token.hash, &token.prefix).await.expect("token");
    let by_token = reqwest::Client::new().post(format!("{}/api/v1/me", app.base_url)).bearer_auth(&token.token).send().await.expect("post");
    assert_eq!(by_token.status(), 405, "past the access layer without a CSRF token");

    // The login form itself is protected by its double-submit cookie.
    let mut fresh = Browser::new(&app.base_url);
    let forged = fresh.post_form("/login", &[("username", "ada"), ("password", PASSWORD), ("csrf_token", "abc")], &[]).await;
    assert_eq!(forged.status(), 403, "a login POST without the form's cookie is refused");
}

async fn viewers_change_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    let viewer = create_account(&store, "vera", Role::Viewer).await;
    let admin = create_account(&store, "ada", Role::Admin).await;
    assert_eq!(Role::of(&viewer), Role::Viewer);
    let client = reqwest::Client::new();
    let token_for = async |user: &users::User| {
        let token = auth::generate_token();
        users::create_token(&store, user.id, "t", &token.hash, &token.prefix).await.expect("token");
        token.token
    };
    let viewer_token = token_for(&viewer).await;
    let admin_token = token_for(&admin).await;

    let me = client.get(format!("{}/api/v1/me", app.base_url)).bearer_auth(&viewer_token).send().await.expect("me");
    assert_eq!(me.status(), 200, "viewers read");
    for (method, path) in PROTECTED.iter().filter(|(m, p)| *m != "GET" && *p != "/logout") {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let as_viewer = client.request(method.clone(), format!("{}{path}", app.base_url)).bearer_auth(&viewer_token).send().await.expect("request");
        assert_eq!(as_viewer.status(), 403, "viewer {method} {path}");
        let as_admin = client.request(method.clone(), format!("{}{path}", app.base_url)).bearer_auth(&admin_token).send().await.expect("request");
        assert_ne!(as_admin.status(), 403, "admin {method} {path}");
    }
    // Through a session with a valid CSRF token too.
    let mut browser = Browser::new(&app.base_url);
    browser.sign_in("vera").await;
    let csrf = browser.session_csrf().await;
    assert_eq!(browser.post_form("/api/devices/", &[], &[("X-CSRF-Token", &csrf)]).await.status(), 403);
    let html = browser.get("/").await.text().await.expect("html");
    assert!(html.contains("class=\"badge\">viewer<"), "the page says who is signed in and as what");
}

async fn every_protected_route_wants_credentials(backend: Backend) {
    let app = TestApp::start(backend).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let mut unprotected = Vec::new();
    for (method, path) in PROTECTED {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = client.request(method.clone(), format!("{}{path}", app.base_url)).send().await.expect("request");
        let status = response.status().as_u16();
        let api = path.starts_with("/api");
        let ok = if api {
            status == 401 && response.headers().contains_key("www-authenticate")
        } else {
            status == 303 && location(&response).starts_with("/login")
        };
        if ok && api {
            let body: serde_json::Value = response.json().await.expect("401 is JSON");
            assert!(body["error"].is_string());
        }
        if !ok {
            unprotected.push(format!("{method} {path} -> {status}"));
        }
    }
    assert!(unprotected.is_empty(), "unprotected routes: {unprotected:?}");
    // A wrong token is no better than none.
    let wrong = client.get(format!("{}/api/v1/me", app.base_url)).header("Authorization", "Token zkb_wrong").send().await.expect("request");
    assert_eq!(wrong.status(), 401);
    // The public ones stay public.
    for path in ["/healthz", "/readyz", "/login", "/iclock/cdata?SN=OPENSN01&options=all"] {
        let status = client.get(format!("{}{path}", app.base_url)).send().await.expect("request").status();
        assert_eq!(status, 200, "{path}");
    }
}

async fn revoked_and_expired_tokens_are_refused_at_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    let user = create_account(&store, "ada", Role::Admin).await;
    let client = reqwest::Client::new();
    let me = |token: String| {
        let request = client.get(format!("{}/api/v1/me", app.base_url)).header("Authorization", format!("Token {token}"));
        async move { request.send().await.expect("me").status() }
    };
    let issue = async |expires_at: Option<chrono::NaiveDateTime>| {
        let token = auth::generate_token();
        let new = tokens::NewToken { user: user.id, name: "t", token_hash: &token.hash, token_prefix: &token.prefix, expires_at };
        tokens::issue(&store, &new).await.expect("issue");
        token
    };
    let live = issue(None).await;
    assert_eq!(me(live.token.clone()).await, 200);
    let listed = tokens::list(&store, Some("ada")).await.expect("list");
    assert!(listed[0].token.last_used_at.is_some(), "use is recorded");
    tokens::revoke(&store, &tokens::TokenRef::parse(&live.prefix)).await.expect("revoke");
    assert_eq!(me(live.token.clone()).await, 401, "revoked: refused at once");

    let expired = issue(Some(chrono::Utc::now().naive_utc() - chrono::TimeDelta::seconds(1))).await;
    assert_eq!(me(expired.token).await, 401, "expired");
    let later = issue(Some(chrono::Utc::now().naive_utc() + chrono::TimeDelta::days(1))).await;
    assert_eq!(me(later.token.clone()).await, 200, "not yet expired");
    let by_id = tokens::list(&store, None).await.expect("list").last().expect("token").token.id;
    tokens::revoke(&store, &tokens::TokenRef::Id(by_id)).await.expect("revoke by id");
    assert_eq!(me(later.token).await, 401);
    assert!(tokens::revoke(&store, &tokens::TokenRef::Id(9_999)).await.is_err());
}

async fn idle_and_absolute_expiry_end_sessions(backend: Backend) {
    let app = TestApp::start_with(backend, |c| c.web.session_idle_minutes = 1).await;
    let store = app.db.store().await;
    create_account(&store, "ada", Role::Admin).await;
    let mut browser = Browser::new(&app.base_url);
    browser.sign_in("ada").await;
    assert_eq!(browser.get("/").await.status(), 200);
    // The last request is two minutes ago now: idle longer than SESSION_IDLE_MINUTES.
    let past = (chrono::Utc::now().naive_utc() - chrono::TimeDelta::minutes(2)).format("%Y-%m-%d %H:%M:%S");
    app.db.execute(&format!("UPDATE sessions SET last_seen_at = '{past}'")).await;
    assert_eq!(browser.get("/").await.status(), 303, "idle session ended");
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM sessions").await, 0, "and deleted");

    browser.sign_in("ada").await;
    assert_eq!(browser.get("/").await.status(), 200);
    app.db.execute(&format!("UPDATE sessions SET expires_at = '{past}'")).await;
    assert_eq!(browser.get("/").await.status(), 303, "past its absolute end");

    // The cleanup job purges what is left of expired sessions.
    browser.sign_in("ada").await;
    app.db.execute(&format!("UPDATE sessions SET last_seen_at = '{past}'")).await;
    use attendance_bridge::pipeline::Job as _;
    let result = attendance_bridge::pipeline::cleanup::DailyCleanup::new(store.clone(), 0)
        .with_web_settings(&app.config.web)
        .run()
        .await
        .expect("cleanup");
    assert_eq!(result["sessions_deleted"], 1);
}

/// `SELECT COUNT(*) AS n …` on the app's database.
async fn count(app: &TestApp, sql: &str) -> i64 {
    use diesel::QueryableByName;
    use diesel_async::RunQueryDsl as _;
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let store = app.db.store().await;
    let rows: Vec<N> = match &store {
        attendance_bridge::store::Store::Sqlite(pool) => {
            let mut conn = pool.get().await.expect("conn");
            diesel::sql_query(sql).load(&mut *conn).await.expect("query")
        }
        attendance_bridge::store::Store::Postgres(pool) => {
            let mut conn = pool.get().await.expect("conn");
            diesel::sql_query(sql).load(&mut *conn).await.expect("query")
        }
    };
    <[N]>::first(&rows).map_or(0, |r| r.n)
}

/// `create-user --role`, `create-token --expires-in-days`, `tokens list`, `tokens revoke` through the
/// real binary.
async fn token_and_role_commands(backend: Backend) {
    use std::io::Write as _;
    let db = bridge_e2e::TestDb::new(backend).await;
    let dir = db.dir.path().to_path_buf();
    let run = |args: &[&str]| {
        let out = bridge_e2e::bridge_command(&dir).args(args).env("DATABASE_URL", db.database_url()).output().expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{args:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    let mut create = bridge_e2e::bridge_command(&dir)
        .args(["create-user", "--username", "vera", "--password-stdin", "--role", "viewer"])
        .env("DATABASE_URL", db.database_url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("create-user");
    create.stdin.take().expect("stdin").write_all(b"a long enough password\n").expect("password");
    let out = create.wait_with_output().expect("create-user ends");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("(role viewer)"));
    run(&["create-user", "--username", "root", "--superuser"]);
    let store = db.store().await;
    let root = users::find_by_username(&store, "root").await.expect("query").expect("root");
    assert_eq!((root.role, root.is_superuser), (Role::Admin, true), "a superuser is an admin");

    let issued = run(&["create-token", "--username", "vera", "--name", "payroll", "--expires-in-days", "30"]);
    let token = issued.trim_end().lines().last().expect("token line").to_owned();
    assert!(token.starts_with("zkb_") && issued.contains("valid until"), "{issued}");
    let plain = run(&["create-token", "--username", "root"]);
    assert!(plain.starts_with("API token for \"root\" (cli); it is shown only now"), "unchanged output: {plain}");

    let listed = run(&["tokens", "list"]);
    assert!(listed.contains("payroll") && listed.contains("vera") && listed.contains("active"), "{listed}");
    assert!(!listed.contains(&token), "the token itself is never listed");
    let only_root = run(&["tokens", "list", "--user", "root"]);
    assert!(!only_root.contains("payroll") && only_root.contains("root"), "{only_root}");

    let prefix: String = token.chars().take(12).collect();
    let revoked = run(&["tokens", "revoke", &prefix]);
    assert!(revoked.contains("revoked API token"), "{revoked}");
    let listed = run(&["tokens", "list", "--user", "vera"]);
    assert!(listed.contains("revoked"), "{listed}");
    let missing = bridge_e2e::bridge_command(&dir).args(["tokens", "revoke", "zkb_00000000"]).env("DATABASE_URL", db.database_url()).output().expect("runs");
    assert!(!missing.status.success(), "an unknown prefix is an error");
}
