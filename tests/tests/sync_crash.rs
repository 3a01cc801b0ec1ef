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
            .env("CRM_SYNC_BATCH_SIZE", "100")
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
    // Kill in the worst window: some batches delivered and recorded, and the current batch (100 rows
    // leased) sent only in part, so the CRM holds days the bridge has not recorded as delivered and
    // at least half the batch is still to go (eight at a time, 20 ms each: the round cannot end in
    // the few milliseconds between this check and the kill).
    let started = Instant::now();
    loop {
        let crm_applied = crm.stats().applied;
        let st = outbox::stats(&store).await.expect("stats");
        let unrecorded = crm_applied.saturating_sub(u64::try_from(st.synced).expect("count"));
        if crm_applied >= 200 && st.in_flight >= 50 && unrecorded >= 1 && unrecorded <= u64::try_from(st.in_flight / 2).expect("count") {
            break;
        }
        assert!(child.try_wait().expect("child status").is_none(), "sync-to-crm ended before it could be killed mid-run");
        assert!(started.elapsed() < Duration::from_secs(60), "never saw a batch half-way: CRM applied {crm_applied}, outbox {st:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(child.try_wait().expect("child status").is_none(), "still running at the kill");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let at_kill = crm.stats();
    let after_kill = outbox::stats(&store).await.expect("stats");
    // The kill interrupted the run: not everything had arrived, deliveries were leased, and the CRM had
    // applied days the bridge never recorded (they must be sent again and answered from the key).
    let recorded_at_kill = u64::try_from(after_kill.synced).expect("count");
    assert!(at_kill.applied < u64::from(DAYS), "killed mid-run, not after it: {at_kill:?}");
    assert!(after_kill.in_flight > 0, "deliveries were in flight at the kill: {after_kill:?}");
    assert!(at_kill.applied > recorded_at_kill, "the CRM applied days the bridge had not recorded: {at_kill:?} vs {after_kill:?}");
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
    assert!(
        c.duplicates >= at_kill.applied - recorded_at_kill,
        "the days applied but unrecorded at the kill were sent again and answered from their key: {c:?}"
    );
    assert_eq!((st.synced, st.failed), (i64::from(DAYS), 0));
}
