//! CRM delivery through the outbox against the in-process mock CRM, on both backends: every day arrives
//! once however the CRM misbehaves, transient failures are retried with the same key, permanent ones
//! are dead-lettered at once with the CRM's message.

use std::time::Duration;

use attendance_bridge::store::attendance::{self, DayContent, UpsertOutcome};
use attendance_bridge::store::{Store, outbox};
use attendance_bridge::sync::mock_crm::{Faults, MockCrm};
use attendance_bridge::sync::payload::{DayForCrm, DefaultJson, Mapped, PayloadMapper as _};
use attendance_bridge::sync::sender::AuthScheme;
use attendance_bridge::sync::{SendSettings, Sender};
use bridge_e2e::{Backend, TestDb};
use chrono::NaiveDate;

macro_rules! on_both_backends {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$check(super::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$check(super::Backend::Postgres).await;
            }
        }
    )*};
}

on_both_backends!(
    upsert_bumps_revision_only_on_change,
    exactly_once_across_500s,
    slow_answers_and_dropped_connections_do_not_double_count,
    rate_limit_honours_retry_after,
    bad_request_fails_at_once_with_message,
    replayed_500_is_dead_lettered,
    retry_failed_and_force,
);

fn day(user: &str, n: u32) -> DayContent {
    let date = NaiveDate::from_ymd_opt(2025, 6, 2).and_then(|d| d.checked_add_days(chrono::Days::new(u64::from(n)))).expect("date");
    DayContent {
        user_id: user.into(),
        work_date: date,
        shift_code: String::new(),
        status: "complete".into(),
        clock_in_local: date.and_hms_opt(8, 0, 0),
        clock_out_local: date.and_hms_opt(17, 0, 0),
        worked_min: Some(480),
        flags: "[]".into(),
        reason: None,
        rule_plugin: "default".into(),
        rule_version: "1.0.0".into(),
    }
}

async fn upsert(store: &Store, d: &DayContent, force: bool) -> UpsertOutcome {
    let make = |id: i64, revision: i32| match DefaultJson.map(&DayForCrm { attendance_id: id, revision, day: d, device_name: None, device_ip: None }) {
        Ok(Mapped::Send { body, .. }) => body,
        _ => String::from("{}"),
    };
    attendance::upsert_day(store, d, force, &make).await.expect("upsert")
}

async fn seed(store: &Store, n: u32) {
    for i in 0..n {
        upsert(store, &day(&format!("u{}", i % 50), i / 50), false).await;
    }
}

async fn crm(faults: Faults) -> MockCrm {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    MockCrm::spawn(listener, Some("secret".into()), faults).expect("mock crm")
}

fn sender(store: &Store, crm: &MockCrm, timeout_ms: u64, max_retries: u32) -> Sender {
    let settings = SendSettings {
        url: crm.url().parse().expect("url"),
        token: Some("secret".to_string().into()),
        auth_scheme: AuthScheme::Token,
        timeout: Duration::from_millis(timeout_ms),
        concurrency: 8,
        max_retries,
        retry_base: Duration::from_millis(10),
        retry_max: Duration::from_millis(50),
        batch_size: 100,
    };
    Sender::new(store.clone(), settings, "test").expect("sender")
}

/// Runs the sender until the outbox has nothing pending, like the scheduler would; returns the rounds.
async fn drain(s: &Sender, store: &Store) -> u32 {
    for round in 1..=200 {
        s.run_once(None).await.expect("run");
        let st = outbox::stats(store).await.expect("stats");
        if st.pending == 0 && st.in_flight == 0 {
            return round;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("outbox never drained");
}

async fn upsert_bumps_revision_only_on_change(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let d = day("7", 0);
    let UpsertOutcome::Inserted { id, revision: 1 } = upsert(&store, &d, false).await else { panic!("insert") };
    assert_eq!(upsert(&store, &d, false).await, UpsertOutcome::Unchanged { id });
    let mut changed = d.clone();
    changed.worked_min = Some(470);
    assert_eq!(upsert(&store, &changed, false).await, UpsertOutcome::Updated { id, revision: 2 });
    let rows = outbox::for_day(&store, id).await.expect("rows");
    assert_eq!(rows.len(), 2);
    assert_ne!(rows[0].idempotency_key, rows[1].idempotency_key);
    assert!(rows[1].body.contains("\"revision\":2"));
}

async fn exactly_once_across_500s(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed(&store, 200).await;
    let crm = crm(Faults { fail_500: 150, ..Faults::default() }).await;
    let rounds = drain(&sender(&store, &crm, 2_000, 50), &store).await;
    let st = outbox::stats(&store).await.expect("stats");
    let c = crm.stats();
    println!("R: 200 days, 150 injected 500s: {rounds} rounds, CRM requests {}, applied {}, duplicates {}", c.requests, c.applied, c.duplicates);
    assert_eq!((st.synced, st.failed, c.applied), (200, 0, 200));
}

async fn slow_answers_and_dropped_connections_do_not_double_count(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed(&store, 60).await;
    let crm = crm(Faults { slow_ms: 800, slow_count: 10, drop_count: 10, ..Faults::default() }).await;
    drain(&sender(&store, &crm, 300, 50), &store).await;
    let st = outbox::stats(&store).await.expect("stats");
    let c = crm.stats();
    println!("R: 60 days, 10 slow + 10 dropped answers: CRM requests {}, applied {}, duplicates (answered from key) {}", c.requests, c.applied, c.duplicates);
    assert_eq!((st.synced, c.applied), (60, 60));
    assert!(c.duplicates >= 20, "lost answers were retried with the same key");
}

async fn rate_limit_honours_retry_after(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed(&store, 1).await;
    let crm = crm(Faults { rate_limit: 1, retry_after_secs: 1, ..Faults::default() }).await;
    // Cap above 1 s so Retry-After is not clamped away.
    let settings_sender = Sender::new(
            store.clone(),
            SendSettings {
                url: crm.url().parse().expect("url"),
                token: Some("secret".to_string().into()),
                auth_scheme: AuthScheme::Bearer,
                timeout: Duration::from_secs(2),
                concurrency: 1,
                max_retries: 5,
                retry_base: Duration::from_millis(10),
                retry_max: Duration::from_secs(10),
                batch_size: 10,
            },
            "test",
        )
        .expect("sender");
    let r = settings_sender.run_once(None).await.expect("run");
    assert_eq!(r.retried, 1);
    // Due again only after Retry-After: an immediate run sends nothing.
    let r = settings_sender.run_once(None).await.expect("run");
    assert_eq!(r.delivered + r.retried, 0, "Retry-After honoured");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let r = settings_sender.run_once(None).await.expect("run");
    assert_eq!(r.delivered, 1);
    assert_eq!(crm.stats().requests, 2);
}

async fn bad_request_fails_at_once_with_message(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed(&store, 5).await;
    let crm = crm(Faults { reject_400: 1, reject_message: "unknown employee 42".into(), ..Faults::default() }).await;
    let s = sender(&store, &crm, 2_000, 5);
    drain(&s, &store).await;
    let st = outbox::stats(&store).await.expect("stats");
    assert_eq!((st.synced, st.failed), (4, 1));
    assert_eq!(crm.stats().requests, 5, "no retry storm on a 400");
    let mut message = None;
    for id in 1..=5 {
        for d in outbox::for_day(&store, id).await.expect("rows") {
            if d.status == outbox::FAILED {
                message = d.last_error;
            }
        }
    }
    assert!(message.is_some_and(|m| m.contains("unknown employee 42")));
}

async fn replayed_500_is_dead_lettered(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed(&store, 3).await;
    let crm = crm(Faults { replay_500_keys: 1, ..Faults::default() }).await;
    drain(&sender(&store, &crm, 2_000, 50), &store).await;
    let st = outbox::stats(&store).await.expect("stats");
    assert_eq!((st.synced, st.failed), (2, 1));
    assert_eq!(crm.stats().requests, 4, "one first 500, one replay, then dead letter");
}

async fn retry_failed_and_force(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed(&store, 3).await;
    let crm = crm(Faults { reject_400: 3, reject_message: "CRM down for maintenance".into(), ..Faults::default() }).await;
    let s = sender(&store, &crm, 2_000, 5);
    drain(&s, &store).await;
    assert_eq!(outbox::stats(&store).await.expect("stats").failed, 3);
    assert_eq!(outbox::requeue_failed(&store).await.expect("requeue"), 3);
    drain(&s, &store).await;
    let st = outbox::stats(&store).await.expect("stats");
    assert_eq!((st.synced, st.failed, crm.stats().applied), (3, 0, 3));
    // --force: identical content becomes a new revision with a new key, applied again by the CRM.
    let UpsertOutcome::Updated { revision: 2, .. } = upsert(&store, &day("u0", 0), true).await else { panic!("forced") };
    drain(&s, &store).await;
    assert_eq!(crm.stats().applied, 4);
    assert_eq!(outbox::stats(&store).await.expect("stats").synced, 3);
}
