//! The CRM commands as an operator runs them: `sync-to-crm` with trace logging never prints a secret
//! (S7), `test-crm` shows a dry-run payload and diagnoses the connection, `stats --json` carries the
//! sync counts.

use std::process::Output;

use attendance_bridge::simulator::crm::Faults;
use bridge_e2e::crm::{TOKEN, mock_crm, seed_days};
use bridge_e2e::{Backend, TestDb, bridge_command, free_port, on_both_backends};

on_both_backends!(
    secrets_never_reach_the_logs,
    test_crm_dry_run_and_diagnosis,
    test_crm_never_prints_credentials,
    stats_count_the_outbox,
    retry_failed_and_force_flags
);

const SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn run(db: &TestDb, crm_url: &str, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut command = bridge_command(dir.path());
    command
        .args(args)
        .env("DATABASE_URL", db.database_url())
        // The test's own data folder, its plugin cache started warm.
        .env("BRIDGE_DATA_DIR", bridge_e2e::plugins::data_dir(&db.dir.path().join("data")))
        .env("CRM_API_URL", crm_url)
        .env("CRM_API_TOKEN", TOKEN)
        .env("CRM_RETRY_BASE_SECONDS", "0")
        .env("CRM_RETRY_MAX_SECONDS", "0");
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("run the bridge")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

async fn secrets_never_reach_the_logs(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 50).await;
    let crm = mock_crm(Faults { fail_500: 30, ..Faults::default() }).await;
    let mut logs = String::new();
    for _ in 0..5 {
        let output = run(&db, &crm.url(), &["sync-to-crm"], &[("RUST_LOG", "trace"), ("CRM_SIGNING_SECRET", SIGNING_SECRET)]);
        assert!(output.status.success(), "{}", text(&output));
        logs.push_str(&text(&output));
    }
    let secret_body = SIGNING_SECRET.trim_start_matches("whsec_");
    let leaks = logs.matches(TOKEN).count() + logs.matches(secret_body).count();
    println!("S7: {} bytes of trace logs over 5 runs with 30 injected 500s: {leaks} occurrences of the token or the signing secret", logs.len());
    assert_eq!(leaks, 0);
    assert_eq!(crm.stats().applied, 50);
}

async fn test_crm_dry_run_and_diagnosis(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 2).await;
    let crm = mock_crm(Faults::default()).await;
    let output = run(&db, &crm.url(), &["test-crm"], &[]);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("dry run") && out.contains("\"user_id\"") && out.contains("\"clock_in\""), "{out}");
    assert_eq!(crm.stats().applied, 0, "a dry run sends nothing");

    let wrong_token = run(&db, &crm.url(), &["test-crm"], &[("CRM_API_TOKEN", "nope")]);
    assert!(!wrong_token.status.success());
    assert!(text(&wrong_token).contains("refused the token"), "{}", text(&wrong_token));

    let nobody = format!("http://127.0.0.1:{}/api/", free_port());
    let down = run(&db, &nobody, &["test-crm"], &[]);
    assert!(!down.status.success());
    assert!(text(&down).contains("cannot connect"), "{}", text(&down));
}

/// `test-crm` against a CRM URL carrying a password (and a secret query value), with a token and
/// trace logging: it shows where it connects, with every credential redacted, whether it succeeds
/// or fails.
async fn test_crm_never_prints_credentials(backend: Backend) {
    const PASSWORD: &str = "pa55-in-the-url";
    const API_KEY: &str = "key-in-the-query";
    const SECRET_TOKEN: &str = "tok-never-printed";
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 1).await;
    // A CRM that takes any credentials, so the probe succeeds.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let crm = attendance_bridge::simulator::crm::MockCrm::spawn(listener, None, Faults::default()).expect("crm");
    let with_credentials = crm.url().replacen("http://", &format!("http://bridge:{PASSWORD}@"), 1) + &format!("?api_key={API_KEY}");
    let envs = [("CRM_API_TOKEN", SECRET_TOKEN), ("RUST_LOG", "trace")];
    let ok = run(&db, &with_credentials, &["test-crm"], &envs);
    let down = run(&db, &format!("http://bridge:{PASSWORD}@127.0.0.1:{}/api/?api_key={API_KEY}", free_port()), &["test-crm"], &envs);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(!down.status.success(), "{}", text(&down));
    for output in [&ok, &down] {
        let out = text(output);
        assert!(out.contains("CRM endpoint: http://bridge:REDACTED@127.0.0.1:"), "{out}");
        assert!(out.contains("api_key=REDACTED"), "{out}");
        for secret in [PASSWORD, API_KEY, SECRET_TOKEN] {
            assert!(!out.contains(secret), "{secret} printed: {out}");
        }
    }
}

async fn stats_count_the_outbox(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 5).await;
    let crm = mock_crm(Faults { reject_400: 1, reject_message: "no".into(), ..Faults::default() }).await;
    let sync = run(&db, &crm.url(), &["sync-to-crm", "--limit", "3"], &[("CRM_CONCURRENCY", "1")]);
    assert!(sync.status.success(), "{}", text(&sync));
    let output = run(&db, &crm.url(), &["stats", "--json"], &[]);
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!((stats["sync_pending"].as_i64(), stats["sync_failed"].as_i64(), stats["synced"].as_i64()), (Some(2), Some(1), Some(2)), "{stats}");
}

async fn retry_failed_and_force_flags(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 4).await;
    let crm = mock_crm(Faults { reject_400: 4, reject_message: "maintenance".into(), ..Faults::default() }).await;
    let first = run(&db, &crm.url(), &["sync-to-crm"], &[]);
    assert!(first.status.success(), "a run whose deliveries failed still worked: {}", text(&first));
    assert_eq!(crm.stats().applied, 0);
    // Employee 2's dead letter only, then everyone's.
    let one = run(&db, &crm.url(), &["sync-to-crm", "--retry-failed", "--user-id", "2"], &[]);
    assert!(text(&one).contains("re-queued 1 failed"), "{}", text(&one));
    assert_eq!(crm.stats().applied, 1);
    let all = run(&db, &crm.url(), &["sync-to-crm", "--retry-failed"], &[]);
    assert!(text(&all).contains("re-queued 3 failed"), "{}", text(&all));
    assert_eq!(crm.stats().applied, 4);
    // --force for one date and one employee: a new version with a new key.
    let forced = run(&db, &crm.url(), &["sync-to-crm", "--force", "--start-date", "2025-01-01", "--end-date", "2025-01-01", "--user-id", "3"], &[]);
    assert!(text(&forced).contains("re-sending 1 days"), "{}", text(&forced));
    let c = crm.stats();
    assert_eq!((c.applied, c.duplicates), (5, 0));
}
