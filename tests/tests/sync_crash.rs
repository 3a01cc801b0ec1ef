//! Crash safety: `sync-to-crm` is SIGKILLed mid-run with ~1,000 deliveries; runs after it deliver every
//! day, and the mock CRM applies each idempotency key at most once.

use std::time::{Duration, Instant};

use attendance_bridge::simulator::crm::{Faults, MockCrm};
use attendance_bridge::store::outbox;
use bridge_e2e::crm::{TOKEN, seed_days};
use bridge_e2e::{Backend, TestDb, bridge_command, on_both_backends};

on_both_backends!(killed_mid_sync_then_every_day_arrives_once);

const DAYS: u32 = 1_000;

async fn killed_mid_sync_then_every_day_arrives_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, DAYS).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let crm = MockCrm::spawn(listener, Some(TOKEN.into()), Faults { slow_ms: 20, slow_count: u64::MAX, ..Faults::default() }).expect("crm");
    let dir = tempfile::tempdir().expect("tempdir");
    let command = |dir: &std::path::Path| {
        let mut c = bridge_command(dir);
        c.arg("sync-to-crm")
            .env("DATABASE_URL", db.database_url())
            .env("CRM_API_URL", crm.url())
            .env("CRM_API_TOKEN", TOKEN)
            .env("CRM_TIMEOUT_SECONDS", "1")
            .env("CRM_CONCURRENCY", "8")
            .env("CRM_RETRY_BASE_SECONDS", "1")
            .env("CRM_RETRY_MAX_SECONDS", "1")
            .env("CRM_MAX_RETRIES", "50")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    // Build the binary before timing anything.
    let _ = bridge_e2e::bridge_binary();
    let mut child = command(dir.path()).spawn().expect("spawn");
    let started = Instant::now();
    while crm.stats().applied < 200 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let at_kill = crm.stats();
    let after_kill = outbox::stats(&store).await.expect("stats");
    crm.set_faults(Faults::default());
    let restarted = Instant::now();
    let mut runs = 0;
    loop {
        runs += 1;
        let status = command(dir.path()).status().expect("rerun");
        assert!(status.success());
        let st = outbox::stats(&store).await.expect("stats");
        if st.pending == 0 && st.in_flight == 0 {
            break;
        }
        assert!(restarted.elapsed() < Duration::from_secs(60), "outbox never drained: {st:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let st = outbox::stats(&store).await.expect("stats");
    let c = crm.stats();
    println!(
        "crash test ({backend:?}): killed after {} applied ({} in flight left), {runs} restart run(s) in {:.1}s; \
         CRM applied {} of {DAYS} keys, {} repeats answered from the key, synced {}",
        at_kill.applied,
        after_kill.in_flight,
        restarted.elapsed().as_secs_f64(),
        c.applied,
        c.duplicates,
        st.synced
    );
    assert_eq!(c.applied, u64::from(DAYS), "each key applied exactly once at the CRM");
    assert_eq!((st.synced, st.failed), (i64::from(DAYS), 0));
}
