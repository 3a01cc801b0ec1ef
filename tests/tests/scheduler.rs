//! The job scheduler on both backends: ticks run once across instances, failures are recorded and
//! survived, and schedule changes apply without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use attendance_bridge::pipeline::{Job, JobError, JobFuture, Scheduler};
use attendance_bridge::store::jobs::{self, ScheduleChange};
use attendance_bridge::store::Store;
use bridge_e2e::{Backend, TestDb};
use tokio_util::sync::CancellationToken;

bridge_e2e::on_both_backends!(each_tick_runs_once_across_instances, failures_are_recorded_and_survived, pause_and_run_now);

const JOB: &str = "process_attendance";

/// Counts its runs, takes a little time, and fails or panics when told to.
struct CountingJob {
    runs: AtomicUsize,
    behaviour: &'static str,
}

impl Job for CountingJob {
    fn name(&self) -> &'static str {
        JOB
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

async fn run_for(schedulers: Vec<Scheduler>, how_long: Duration) {
    let stop = CancellationToken::new();
    let handles: Vec<_> = schedulers.into_iter().map(|s| tokio::spawn(s.run(stop.clone()))).collect();
    tokio::time::sleep(how_long).await;
    stop.cancel();
    for handle in handles {
        handle.await.expect("scheduler task");
    }
}

async fn each_tick_runs_once_across_instances(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    jobs::update_schedule(&store, JOB, &ScheduleChange { interval_seconds: Some(1), run_now: true, ..Default::default() })
        .await
        .expect("schedule");
    let job = Arc::new(CountingJob { runs: AtomicUsize::new(0), behaviour: "ok" });
    let instances = vec![scheduler(&store, "a", &job), scheduler(&store, "b", &job), scheduler(&store, "c", &job)];
    run_for(instances, Duration::from_millis(3300)).await;

    // Ticks at about 0 s, 1 s, 2 s and 3 s: three instances looking every 50 ms still run each once.
    let runs = job.runs.load(Ordering::SeqCst);
    assert!((3..=4).contains(&runs), "{runs} runs in 3.3 s at a 1 s interval");
    let recorded = jobs::recent_runs(&store, Some(JOB), 100).await.expect("runs");
    assert_eq!(recorded.len(), runs, "every run is recorded once");
    assert!(recorded.iter().all(|r| r.outcome == "ok" && r.finished_at.is_some()));
    let mut starts: Vec<_> = recorded.iter().map(|r| r.started_at).collect();
    starts.sort();
    for pair in starts.windows(2) {
        assert!(pair[1] - pair[0] >= chrono::TimeDelta::milliseconds(900), "ticks overlap: {pair:?}");
    }
}

async fn failures_are_recorded_and_survived(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    for behaviour in ["fail", "panic"] {
        jobs::update_schedule(&store, JOB, &ScheduleChange { interval_seconds: Some(1), run_now: true, ..Default::default() })
            .await
            .expect("schedule");
        let job = Arc::new(CountingJob { runs: AtomicUsize::new(0), behaviour });
        run_for(vec![scheduler(&store, "a", &job)], Duration::from_millis(1500)).await;
        assert_eq!(job.runs.load(Ordering::SeqCst), 2, "{behaviour}: retried at the next tick");
        let recorded = jobs::recent_runs(&store, Some(JOB), 2).await.expect("runs");
        assert!(recorded.iter().all(|r| r.outcome == "failed" && r.error.is_some()), "{recorded:?}");
    }
    let last = &jobs::recent_runs(&store, Some(JOB), 1).await.expect("runs")[0];
    assert_eq!(last.error.as_deref(), Some("the job panicked"));
}

async fn pause_and_run_now(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let paused = ScheduleChange { paused: Some(true), run_now: true, ..Default::default() };
    jobs::update_schedule(&store, JOB, &paused).await.expect("pause");
    let job = Arc::new(CountingJob { runs: AtomicUsize::new(0), behaviour: "ok" });
    run_for(vec![scheduler(&store, "a", &job)], Duration::from_millis(400)).await;
    assert_eq!(job.runs.load(Ordering::SeqCst), 0, "a paused job does not run");

    // Resumed while a scheduler is running: picked up without a restart.
    let stop = CancellationToken::new();
    let running = tokio::spawn(scheduler(&store, "a", &job).run(stop.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    jobs::update_schedule(&store, JOB, &ScheduleChange { paused: Some(false), ..Default::default() }).await.expect("resume");
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.cancel();
    running.await.expect("scheduler");
    assert_eq!(job.runs.load(Ordering::SeqCst), 1);

    let missing = jobs::update_schedule(&store, "no_such_job", &ScheduleChange::default()).await;
    assert!(missing.is_err());
}
