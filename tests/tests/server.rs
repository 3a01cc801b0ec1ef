//! The HTTP server, started in-process on an ephemeral port, on both backends.

use attendance_bridge::auth;
use attendance_bridge::store::users;
use bridge_e2e::{Backend, TestApp};

bridge_e2e::on_both_backends!(health_and_readiness, api_requires_a_valid_token, allowed_hosts_reject_other_host_names);

async fn health_and_readiness(backend: Backend) {
    let app = TestApp::start(backend).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    let anonymous = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let overview = anonymous.get(format!("{}/", app.base_url)).send().await.expect("overview");
    assert_eq!(overview.status(), 303, "the overview needs a sign-in");
    let store = app.db.store().await;
    let page = bridge_e2e::web::signed_in_page(&app.base_url, &store, "/").await;
    assert!(page.contains("Arrivals by hour"));
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.expect("json");
    let expected = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
    assert_eq!(body["database"], expected);
    app.stop().await.expect("clean shutdown");
}

async fn api_requires_a_valid_token(backend: Backend) {
    let app = TestApp::start(backend).await;
    let store = app.db.store().await;
    let hash = auth::hash_password("long enough password").expect("hash");
    let user = users::create(&store, "clerk", &hash, false).await.expect("user");
    let token = auth::generate_token();
    users::create_token(&store, user.id, "test", &token.hash, &token.prefix).await.expect("token");

    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/me", app.base_url);
    let anonymous = client.get(&url).send().await.expect("request");
    assert_eq!(anonymous.status(), 401);
    let body: serde_json::Value = anonymous.json().await.expect("json error body");
    assert!(body["error"].is_string());

    let wrong = client.get(&url).bearer_auth("zkb_nope").send().await.expect("request");
    assert_eq!(wrong.status(), 401);

    for scheme in ["Bearer", "Token"] {
        let ok = client.get(&url).header("Authorization", format!("{scheme} {}", token.token)).send().await.expect("request");
        assert_eq!(ok.status(), 200, "{scheme}");
        let me: serde_json::Value = ok.json().await.expect("json");
        assert_eq!(me["username"], "clerk");
    }
}

async fn allowed_hosts_reject_other_host_names(backend: Backend) {
    let app = TestApp::start_with(backend, |c| {
        c.allowed_hosts.0 = vec!["bridge.local".into()];
    })
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/me", app.base_url);
    let rejected = client.get(&url).send().await.expect("request");
    assert_eq!(rejected.status(), 400, "127.0.0.1 is not in ALLOWED_HOSTS");
    let accepted = client.get(&url).header("Host", "bridge.local").send().await.expect("request");
    assert_eq!(accepted.status(), 401, "an allowed host reaches the API (which then wants a token)");
    assert_eq!(app.get("/readyz").await.status(), 200, "probes answer by IP");
}
