//! CRM delivery through the outbox against the mock CRM, on both backends: every day arrives once
//! however the CRM misbehaves, transient failures are retried with the same key and body, permanent
//! ones are dead-lettered at once with the CRM's message. Each fault test prints its figures.

use std::time::Duration;

use attendance_bridge::domain::EmployeeId;
use attendance_bridge::simulator::crm::Faults;
use attendance_bridge::store::attendance::{self, DaySelection, Upserted};
use attendance_bridge::store::outbox;
use attendance_bridge::sync::signing::SigningKey;
use bridge_e2e::crm::{day_content, drain, mock_crm, nth_day, registry, seed_days, sender, settings};
use bridge_e2e::{Backend, TestDb, on_both_backends};

on_both_backends!(
    an_endless_answer_is_read_up_to_a_bound,
    a_new_revision_enqueues_once_and_supersedes_the_unsent_one,
    exactly_once_across_500s,
    slow_answers_and_dropped_connections_do_not_double_count,
    rate_limit_honours_retry_after,
    bad_request_fails_at_once_with_message,
    replayed_500_is_dead_lettered,
    retry_failed_and_force,
    the_body_is_frozen_before_the_first_attempt,
    skipped_days_are_not_sent,
    batch_requests_carry_a_key_per_day,
    signed_requests_verify,
    exhausted_deliveries_are_retried_by_the_job_but_rejections_are_not,
    redirects_are_not_followed,
    corrections_reach_the_crm_in_order,
);

const SECOND: Duration = Duration::from_secs(1);

async fn a_new_revision_enqueues_once_and_supersedes_the_unsent_one(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (employee, date) = nth_day(0);
    assert_eq!(attendance::upsert(&store, &employee, date, "", &day_content(date, 480)).await.expect("upsert"), Upserted::Inserted);
    assert_eq!(attendance::upsert(&store, &employee, date, "", &day_content(date, 480)).await.expect("upsert"), Upserted::Unchanged);
    assert_eq!(attendance::upsert(&store, &employee, date, "", &day_content(date, 470)).await.expect("upsert"), Upserted::Updated(2));
    // The same result again (the rules do not know about `amended`): no new revision, nothing re-sent.
    assert_eq!(attendance::upsert(&store, &employee, date, "", &day_content(date, 470)).await.expect("upsert"), Upserted::Unchanged);
    let rows = outbox::for_day(&store, 1).await.expect("rows");
    let summary: Vec<(i32, &str)> = rows.iter().map(|r| (r.revision, r.status.as_str())).collect();
    assert_eq!(summary, [(1, outbox::SUPERSEDED), (2, outbox::PENDING)], "revision 1 never went out, so only revision 2 is sent");
    assert_ne!(rows[0].idempotency_key, rows[1].idempotency_key);

    let crm = mock_crm(Faults::default()).await;
    let registry = registry(vec![]);
    drain(&sender(&store, &registry, settings(&crm, 2 * SECOND, 5)), &store).await;
    let records = crm.records();
    assert_eq!(records.len(), 1);
    let body = records.values().next().expect("one record");
    assert_eq!((body["worked_minutes"].as_i64(), body["revision"].as_i64()), (Some(470), Some(2)));
    assert_eq!(body["user_id"], "1");
    assert_eq!(body["clock_in"], "2025-01-01T08:00:00+02:00");
}

async fn exactly_once_across_500s(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 1_000).await;
    let crm = mock_crm(Faults { fail_500: 600, ..Faults::default() }).await;
    let registry = registry(vec![]);
    let rounds = drain(&sender(&store, &registry, settings(&crm, 2 * SECOND, 50)), &store).await;
    let stats = outbox::stats(&store).await.expect("stats");
    let c = crm.stats();
    println!(
        "R: 1,000 days queued, the CRM answers 500 to the first 600 requests: {rounds} rounds, {} requests, unique deliveries {}, duplicates seen {}",
        c.requests, c.applied, c.duplicates
    );
    assert_eq!((stats.synced, stats.failed, c.applied, c.duplicates), (1_000, 0, 1_000, 0));
}

async fn slow_answers_and_dropped_connections_do_not_double_count(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 60).await;
    let crm = mock_crm(Faults { slow_ms: 800, slow_count: 10, drop_count: 10, ..Faults::default() }).await;
    let registry = registry(vec![]);
    drain(&sender(&store, &registry, settings(&crm, Duration::from_millis(300), 50)), &store).await;
    let stats = outbox::stats(&store).await.expect("stats");
    let c = crm.stats();
    println!(
        "R: 60 days, 10 answers slower than the timeout + 10 dropped connections: {} requests, applied {}, repeats answered from the key {}",
        c.requests, c.applied, c.duplicates
    );
    assert_eq!((stats.synced, c.applied), (60, 60), "each day counted once");
    assert!(c.duplicates >= 20, "the lost answers were retried with the same key");
}

async fn rate_limit_honours_retry_after(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 1).await;
    let crm = mock_crm(Faults { rate_limit: 1, retry_after_secs: 1, ..Faults::default() }).await;
    let registry = registry(vec![]);
    // A cap above 1 s, so Retry-After is not clamped away.
    let mut settings = settings(&crm, 2 * SECOND, 5);
    settings.retry_max = 10 * SECOND;
    settings.auth_scheme = attendance_bridge::sync::sender::AuthScheme::Bearer;
    let s = sender(&store, &registry, settings);
    assert_eq!(s.run_once(None).await.expect("run").retried, 1);
    let again = s.run_once(None).await.expect("run");
    assert_eq!(again.delivered + again.retried, 0, "not due again before Retry-After");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(s.run_once(None).await.expect("run").delivered, 1);
    println!("R: 429 with Retry-After: 1 → nothing sent before 1 s, delivered after; {} requests", crm.stats().requests);
    assert_eq!(crm.stats().requests, 2);
}

/// A CRM whose answer never ends (a broken proxy, a hostile endpoint): the bridge reads the first
/// MiB, takes the acknowledgement in it, and moves on; it neither holds the whole answer nor waits
/// for the request timeout.
async fn an_endless_answer_is_read_up_to_a_bound(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 2).await;
    let crm = mock_crm(Faults { endless_body: 2, ..Faults::default() }).await;
    let registry = registry(vec![]);
    let s = sender(&store, &registry, settings(&crm, 10 * SECOND, 5));
    let started = std::time::Instant::now();
    let report = s.run_once(None).await.expect("run");
    println!("R: endless answers → {report:?} in {:?}", started.elapsed());
    assert_eq!(report.delivered, 2, "acknowledged from the first MiB of the answer");
    assert!(started.elapsed() < 5 * SECOND, "not waiting for the answer to end: {:?}", started.elapsed());
    assert_eq!((crm.stats().applied, crm.stats().faults), (2, 2));
    assert_eq!(outbox::stats(&store).await.expect("stats").synced, 2);
}

async fn bad_request_fails_at_once_with_message(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 5).await;
    let crm = mock_crm(Faults { reject_400: 1, reject_message: "unknown employee 42".into(), ..Faults::default() }).await;
    let registry = registry(vec![]);
    drain(&sender(&store, &registry, settings(&crm, 2 * SECOND, 5)), &store).await;
    let stats = outbox::stats(&store).await.expect("stats");
    assert_eq!((stats.synced, stats.failed), (4, 1));
    assert_eq!(crm.stats().requests, 5, "no retry storm on a 400");
    let failures = outbox::failures(&store, 10).await.expect("failures");
    println!("R: a 400 → failed at once: {:?}", failures[0].last_error);
    assert!(failures[0].last_error.as_deref().is_some_and(|m| m.contains("unknown employee 42")));
    assert_eq!(failures[0].last_status, Some(400));
}

async fn replayed_500_is_dead_lettered(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 3).await;
    let crm = mock_crm(Faults { replay_500_keys: 1, ..Faults::default() }).await;
    let registry = registry(vec![]);
    drain(&sender(&store, &registry, settings(&crm, 2 * SECOND, 50)), &store).await;
    let stats = outbox::stats(&store).await.expect("stats");
    println!("R: a CRM replaying a stored 500 for one key: {} requests, synced {}, dead letters {}", crm.stats().requests, stats.synced, stats.failed);
    assert_eq!((stats.synced, stats.failed), (2, 1));
    assert_eq!(crm.stats().requests, 4, "one first 500, one replay, then a dead letter (not an endless retry)");
}

async fn retry_failed_and_force(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 3).await;
    let crm = mock_crm(Faults { reject_400: 3, reject_message: "CRM in maintenance".into(), ..Faults::default() }).await;
    let registry = registry(vec![]);
    let s = sender(&store, &registry, settings(&crm, 2 * SECOND, 5));
    drain(&s, &store).await;
    assert_eq!(outbox::stats(&store).await.expect("stats").failed, 3);

    // --retry-failed for one employee only, then for everyone: same keys, each applied once.
    let one = DaySelection { employee: Some(EmployeeId("2".into())), ..DaySelection::default() };
    assert_eq!(outbox::requeue_failed(&store, &one).await.expect("requeue"), 1);
    drain(&s, &store).await;
    assert_eq!(crm.stats().applied, 1);
    assert_eq!(outbox::requeue_failed(&store, &DaySelection::default()).await.expect("requeue"), 2);
    drain(&s, &store).await;
    let stats = outbox::stats(&store).await.expect("stats");
    assert_eq!((stats.synced, stats.failed, crm.stats().applied), (3, 0, 3));

    // --force for one date: synced days go again as a new version (new keys), the rest stay as they are.
    let (_, date) = nth_day(0);
    let ids = attendance::select_ids(&store, &DaySelection { start: Some(date), end: Some(date), employee: Some(EmployeeId("1".into())) }).await.expect("ids");
    assert_eq!(attendance::bump_revisions(&store, &ids).await.expect("force"), 1);
    drain(&s, &store).await;
    let c = crm.stats();
    println!("R: --retry-failed re-sent 3 dead letters under their keys, --force re-sent 1 day as revision 2: applied {}", c.applied);
    assert_eq!((c.applied, c.duplicates), (4, 0));
    assert_eq!(outbox::stats(&store).await.expect("stats").synced, 3);
}

async fn the_body_is_frozen_before_the_first_attempt(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 1).await;
    let crm = mock_crm(Faults { fail_500: 1, ..Faults::default() }).await;
    let registry = registry(vec![]);
    let s = sender(&store, &registry, settings(&crm, 2 * SECOND, 5));
    assert_eq!(s.run_once(None).await.expect("run").retried, 1);
    let first = outbox::for_day(&store, 1).await.expect("rows").remove(0);
    let frozen = first.body.clone().expect("rendered before the first attempt");
    // The employee gets a name after the first attempt: a retry still sends the frozen bytes.
    attendance_bridge::store::employees::upsert_names(&store, &[(EmployeeId("1".into()), Some("Ada".into()))]).await.expect("name");
    drain(&s, &store).await;
    let row = outbox::for_day(&store, 1).await.expect("rows").remove(0);
    assert_eq!(row.body.as_deref(), Some(frozen.as_str()));
    assert_eq!(crm.records().get(&row.idempotency_key), Some(&serde_json::from_str::<serde_json::Value>(&frozen).expect("json")));
    assert!(!frozen.contains("Ada"));
}

async fn skipped_days_are_not_sent(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (employee, date) = nth_day(0);
    let mut absent = day_content(date, 0);
    absent.status = "absent".into();
    attendance::upsert(&store, &employee, date, "", &absent).await.expect("upsert");
    let (employee, date) = nth_day(1);
    attendance::upsert(&store, &employee, date, "", &day_content(date, 480)).await.expect("upsert");
    let crm = mock_crm(Faults::default()).await;
    let registry = registry(vec![("crm-json".into(), serde_json::json!({ "skip_statuses": ["absent"] }))]);
    drain(&sender(&store, &registry, settings(&crm, 2 * SECOND, 5)), &store).await;
    let stats = outbox::stats(&store).await.expect("stats");
    assert_eq!((crm.stats().requests, stats.skipped, stats.synced), (1, 1, 1));
}

async fn batch_requests_carry_a_key_per_day(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 250).await;
    let crm = mock_crm(Faults { fail_500: 1, ..Faults::default() }).await;
    let registry = registry(vec![]);
    let mut settings = settings(&crm, 2 * SECOND, 5);
    settings.batch_requests = true;
    drain(&sender(&store, &registry, settings), &store).await;
    let c = crm.stats();
    println!("R: 250 days as batch requests of up to 100 (one 500 on the way): {} requests, {} batches, applied {}", c.requests, c.batches, c.applied);
    assert_eq!((c.applied, c.duplicates), (250, 0));
    assert_eq!(c.batches, 3);
    assert_eq!(outbox::stats(&store).await.expect("stats").synced, 250);
}

async fn signed_requests_verify(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 20).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let crm = mock_crm(Faults { fail_500: 1, ..Faults::default() }).await.with_signing(SigningKey::parse(secret).expect("secret"));
    let registry = registry(vec![]);
    let mut signed = settings(&crm, 2 * SECOND, 5);
    signed.concurrency = 1;
    signed.signing = Some(SigningKey::parse(secret).expect("secret"));
    drain(&sender(&store, &registry, signed), &store).await;
    assert_eq!((crm.stats().applied, crm.stats().bad_signatures), (20, 0));
    // S1: the failed first attempt and its retry carry the same webhook-id (the idempotency key).
    let attempts = crm.signed_requests();
    let first = &attempts[0];
    let retries: Vec<&(String, i64)> = attempts.iter().filter(|(id, _)| *id == first.0).collect();
    println!("S1: {} signed requests, 0 refused; {} carried webhook-id {} (timestamps {:?})", attempts.len(), retries.len(), first.0, retries);
    assert_eq!(retries.len(), 2);
    assert!(retries[1].1 >= retries[0].1);

    // A sender with the wrong secret is refused (401 → dead letter, with the CRM's words).
    seed_more(&store).await;
    let mut wrong = settings(&crm, 2 * SECOND, 5);
    wrong.signing = Some(SigningKey::parse("whsec_c2VjcmV0").expect("secret"));
    drain(&sender(&store, &registry, wrong), &store).await;
    assert_eq!(crm.stats().bad_signatures, 1);
    assert!(outbox::failures(&store, 1).await.expect("failures")[0].last_error.as_deref().is_some_and(|e| e.contains("bad signature")));
}

async fn seed_more(store: &attendance_bridge::store::Store) {
    let (employee, date) = nth_day(500);
    attendance::upsert(store, &employee, date, "", &day_content(date, 480)).await.expect("upsert");
}

async fn exhausted_deliveries_are_retried_by_the_job_but_rejections_are_not(backend: Backend) {
    use attendance_bridge::pipeline::Job as _;
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 3).await;
    let crm = mock_crm(Faults { fail_500: 2, reject_400: 0, ..Faults::default() }).await;
    let registry = registry(vec![]);
    // One attempt each: the two 500s exhaust their budget at once.
    let s = sender(&store, &registry, settings(&crm, 2 * SECOND, 1));
    drain(&s, &store).await;
    crm.set_faults(Faults { reject_400: 1, reject_message: "no such employee".into(), ..Faults::default() });
    let (employee, date) = nth_day(700);
    attendance::upsert(&store, &employee, date, "", &day_content(date, 480)).await.expect("upsert");
    drain(&s, &store).await;
    assert_eq!(outbox::stats(&store).await.expect("stats").failed, 3);
    let job = attendance_bridge::pipeline::crm_sync::RetryFailedSyncs::new(store.clone());
    let result = job.run().await.expect("job");
    assert_eq!(result["requeued"], 2, "the two that ran out of retries, not the rejected one");
    drain(&s, &store).await;
    let stats = outbox::stats(&store).await.expect("stats");
    assert_eq!((stats.synced, stats.failed), (3, 1));
}

async fn redirects_are_not_followed(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 1).await;
    let elsewhere = mock_crm(Faults::default()).await;
    let crm = mock_crm(Faults { redirect_count: 2, redirect_to: elsewhere.url(), ..Faults::default() }).await;
    let registry = registry(vec![]);
    drain(&sender(&store, &registry, settings(&crm, 2 * SECOND, 5)), &store).await;
    println!("R7: two 307s to another host: {} requests reached it; delivered after {} requests to the CRM", elsewhere.stats().requests, crm.stats().requests);
    assert_eq!(elsewhere.stats().requests, 0, "the token never went to the redirect target");
    assert_eq!((crm.stats().requests, crm.stats().applied), (3, 1));
}

async fn corrections_reach_the_crm_in_order(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (employee, date) = nth_day(0);
    let crm = mock_crm(Faults::default()).await;
    let registry = registry(vec![]);
    let s = sender(&store, &registry, settings(&crm, 2 * SECOND, 5));
    attendance::upsert(&store, &employee, date, "", &day_content(date, 480)).await.expect("r1");
    drain(&s, &store).await;
    // Two corrections before the next sync: only the newest goes out, after the first.
    attendance::upsert(&store, &employee, date, "", &day_content(date, 470)).await.expect("r2");
    attendance::upsert(&store, &employee, date, "", &day_content(date, 460)).await.expect("r3");
    drain(&s, &store).await;
    let records = crm.records();
    let order: Vec<i64> = crm.applied_order().iter().filter_map(|k| records[k]["worked_minutes"].as_i64()).collect();
    println!("R13: versions applied at the CRM in order: {order:?} (480 = r1, 460 = r3; r2 was superseded before it went out)");
    assert_eq!(order, [480, 460]);
}
