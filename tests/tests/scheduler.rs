//! The job scheduler on both backends: ticks run once across instances, failures are recorded and
//! survived, and schedule changes apply without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use attendance_bridge::pipeline::{Job, JobError, JobFuture, Scheduler};
use attendance_bridge::store::jobs::{self, ScheduleChange};
use attendance_bridge::store::Store;
use bridge_e2e::{Backend, TestDb};
use tokio_util::sync::CancellationToken;

bridge_e2e::on_both_backends!(each_tick_runs_once_across_instances, failures_are_recorded_and_survived, pause_and_run_now);

const JOB: &str = "process_attendance";

/// Another scheduled job, left running where a test needs proof that the scheduler was looking.
const OTHER_JOB: &str = "sync_to_crm";

/// Counts its runs, takes a little time, and fails or panics when told to.
struct CountingJob {
    name: &'static str,
    runs: AtomicUsize,
    behaviour: &'static str,
}

impl CountingJob {
    fn new(behaviour: &'static str) -> Arc<Self> {
        Self::named(JOB, behaviour)
    }

    fn named(name: &'static str, behaviour: &'static str) -> Arc<Self> {
        Arc::new(CountingJob { name, runs: AtomicUsize::new(0), behaviour })
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

impl Job for CountingJob {
    fn name(&self) -> attendance_bridge::store::jobs::JobName {
        attendance_bridge::store::jobs::JobName::from_name(self.name).expect("one of the bridge's jobs")
    }

    fn run(&self) -> JobFuture {
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        let behaviour = self.behaviour;
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            match behaviour {
                "fail" => Err(JobError::Failed(format!("run {n} failed on purpose"))),
                "panic" => panic!("run {n} panicked on purpose"),
                _ => Ok(serde_json::json!({ "run": n })),
            }
        })
    }
}

fn scheduler(store: &Store, instance: &str, job: &Arc<CountingJob>) -> Scheduler {
    Scheduler::new(store.clone(), instance, chrono_tz::UTC)
        .with_job(Arc::clone(job) as Arc<dyn Job>)
        .look_every(Duration::from_millis(50))
}

/// Runs the schedulers until `done` holds (checked every 20 ms), then stops them and waits for the
/// jobs in progress. Panics naming `what` if it does not hold within 30 s.
async fn run_until(schedulers: Vec<Scheduler>, what: &str, done: impl Fn() -> bool) {
    let stop = CancellationToken::new();
    let handles: Vec<_> = schedulers.into_iter().map(|s| tokio::spawn(s.run(stop.clone()))).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    for handle in handles {
        handle.await.expect("scheduler task");
    }
}

/// No two starts closer than `at_least`: each tick ran once.
fn assert_ticks_apart(runs: &[jobs::JobRun], at_least: chrono::TimeDelta) {
    let mut starts: Vec<_> = runs.iter().map(|r| r.started_at).collect();
    starts.sort();
    for pair in starts.windows(2) {
        assert!(pair[1] - pair[0] >= at_least, "two runs for one tick: {pair:?}");
    }
}

async fn each_tick_runs_once_across_instances(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    jobs::update_schedule(&store, JOB, &ScheduleChange { interval_seconds: Some(1), run_now: true, ..Default::default() })
        .await
        .expect("schedule");
    let job = CountingJob::new("ok");
    let instances = vec![scheduler(&store, "a", &job), scheduler(&store, "b", &job), scheduler(&store, "c", &job)];
    let started = Instant::now();
    run_until(instances, "four ticks ran", || job.runs() >= 4).await;
    let elapsed = started.elapsed();

    // Three instances looking every 50 ms: each tick (one a second) still runs once.
    let runs = job.runs();
    let recorded = jobs::recent_runs(&store, Some(JOB), 100).await.expect("runs");
    println!("{runs} runs in {elapsed:?} at a 1 s interval, by {:?}", recorded.iter().map(|r| r.instance.as_str()).collect::<Vec<_>>());
    assert_eq!(recorded.len(), runs, "every run is recorded once");
    assert!(recorded.iter().all(|r| r.outcome == "ok" && r.finished_at.is_some()));
    assert_ticks_apart(&recorded, chrono::TimeDelta::milliseconds(900));
    // And never more runs than ticks that fell due in the time (one at the start, then one a second).
    assert!(runs as f64 <= elapsed.as_secs_f64() + 1.0, "{runs} runs in {elapsed:?}");
}

async fn failures_are_recorded_and_survived(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    for behaviour in ["fail", "panic"] {
        jobs::update_schedule(&store, JOB, &ScheduleChange { interval_seconds: Some(1), run_now: true, ..Default::default() })
            .await
            .expect("schedule");
        let job = CountingJob::new(behaviour);
        run_until(vec![scheduler(&store, "a", &job)], "the job ran again after failing", || job.runs() >= 2).await;
        let runs = job.runs();
        let recorded = jobs::recent_runs(&store, Some(JOB), i64::try_from(runs).expect("small")).await.expect("runs");
        assert_eq!(recorded.len(), runs, "{behaviour}: every run recorded");
        assert!(recorded.iter().all(|r| r.outcome == "failed" && r.error.is_some()), "{recorded:?}");
        // Retried at the next tick, not at once.
        assert_ticks_apart(&recorded, chrono::TimeDelta::milliseconds(900));
    }
    let last = &jobs::recent_runs(&store, Some(JOB), 1).await.expect("runs")[0];
    assert_eq!(last.error.as_deref(), Some("the job panicked"));
}

async fn pause_and_run_now(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let paused = ScheduleChange { paused: Some(true), run_now: true, ..Default::default() };
    jobs::update_schedule(&store, JOB, &paused).await.expect("pause");
    // A second job ticks every second beside it: its runs prove the scheduler was looking all along.
    jobs::update_schedule(&store, OTHER_JOB, &ScheduleChange { interval_seconds: Some(1), run_now: true, ..Default::default() })
        .await
        .expect("schedule");
    let job = CountingJob::new("ok");
    let other = CountingJob::named(OTHER_JOB, "ok");
    let with_other = |instance: &str| scheduler(&store, instance, &job).with_job(Arc::clone(&other) as Arc<dyn Job>);
    run_until(vec![with_other("a")], "the other job ran twice", || other.runs() >= 2).await;
    assert_eq!(job.runs(), 0, "a paused job does not run");

    // Resumed while a scheduler is running: picked up without a restart, once (its interval is an hour).
    let stop = CancellationToken::new();
    let running = tokio::spawn(with_other("a").run(stop.clone()));
    let before = other.runs();
    let deadline = Instant::now() + Duration::from_secs(30);
    while other.runs() == before {
        assert!(Instant::now() < deadline, "the scheduler stopped looking");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(job.runs(), 0, "still paused");
    jobs::update_schedule(&store, JOB, &ScheduleChange { paused: Some(false), ..Default::default() }).await.expect("resume");
    while job.runs() == 0 {
        assert!(Instant::now() < deadline, "the resumed job never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    running.await.expect("scheduler");
    assert_eq!(job.runs(), 1);

    let missing = jobs::update_schedule(&store, "no_such_job", &ScheduleChange::default()).await;
    assert!(missing.is_err());
}
