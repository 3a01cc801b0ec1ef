//! Operational alerts: each condition sends one e-mail when it starts and one when it ends (SMTP
//! sink), however many checks run, on both backends; two checkers at once still send one.

use std::time::Duration;

use attendance_bridge::config::{CommaList, Config, EmailBackend};
use attendance_bridge::notify::Mailer;
use attendance_bridge::notify::alerts;
use attendance_bridge::simulator::crm::Faults;
use attendance_bridge::store::attendance::DaySelection;
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::{Store, jobs, outbox};
use bridge_e2e::crm::{drain, mock_crm, registry, seed_days, sender, settings};
use bridge_e2e::smtp_sink::SmtpSink;
use bridge_e2e::{Backend, TestDb, on_both_backends};

const SECOND: Duration = Duration::from_secs(1);

fn config(sink: &SmtpSink, db: &TestDb) -> Config {
    let mut config = Config { data_dir: db.dir.path().join("data"), company_name: Some("Head office".into()), ..Config::default() };
    config.email.backend = EmailBackend::Smtp;
    config.email.host = "127.0.0.1".into();
    config.email.port = sink.address.port();
    config.email.default_from = "bridge@example.com".into();
    config.email.outlier_recipients = CommaList(vec!["hr@example.com".into()]);
    config.alerts.recipients = CommaList(vec!["ops@example.com".into()]);
    config.alerts.crm_unreachable_minutes = 0;
    config
}

/// Runs `times` checks (sequentially), returning the subjects of the e-mails that arrived meanwhile.
async fn check(store: &Store, config: &Config, sink: &SmtpSink, times: usize) -> Vec<String> {
    let before = sink.messages().len();
    let mailer = Mailer::from_settings(&config.email, config.data_dir.join("mail")).expect("mailer");
    for _ in 0..times {
        alerts::check(store, config, &mailer).await.expect("check");
    }
    sink.messages()[before..]
        .iter()
        .map(|m| {
            assert_eq!(m.to, ["ops@example.com"], "ALERT_EMAIL_RECIPIENTS, not the outlier recipients");
            m.data.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_owned()
        })
        .collect()
}

on_both_backends!(a_silent_device_alerts_once_and_recovers_once);

async fn a_silent_device_alerts_once_and_recovers_once(backend: Backend) {
    let (sink, db) = (SmtpSink::start().await, TestDb::new(backend).await);
    let store = db.store().await;
    let config = config(&sink, &db);
    let device = devices::insert(&store, &NewDevice::pull("Gate", "127.0.0.1", 4370, 0)).await.expect("device");
    assert!(check(&store, &config, &sink, 2).await.is_empty(), "a new device is not silent yet");

    db.execute("UPDATE devices SET created_at = '2020-01-01 00:00:00'").await;
    // Two instances checking at once: one claim wins, one e-mail.
    let mailer = Mailer::from_settings(&config.email, config.data_dir.join("mail")).expect("mailer");
    let (a, b) = tokio::join!(alerts::check(&store, &config, &mailer), alerts::check(&store, &config, &mailer));
    assert_eq!(a.expect("a").started.len() + b.expect("b").started.len(), 1, "one checker claims the start");
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].data.contains("Subject: [Head office] ALERT: device Gate silent for"), "{}", messages[0].data);
    assert!(messages[0].data.contains("Last successful download: never"), "{}", messages[0].data);
    assert!(check(&store, &config, &sink, 3).await.is_empty(), "no e-mail per run while it lasts");

    devices::record_sync(&store, device.id, chrono::Utc::now(), None).await.expect("sync");
    let ended = check(&store, &config, &sink, 3).await;
    assert_eq!(ended, [format!("[Head office] RESOLVED: device #{} is delivering again", device.id.0)]);
}

on_both_backends!(a_failed_delivery_alerts_once_and_recovers_once);

async fn a_failed_delivery_alerts_once_and_recovers_once(backend: Backend) {
    let (sink, db) = (SmtpSink::start().await, TestDb::new(backend).await);
    let store = db.store().await;
    let config = config(&sink, &db);
    seed_days(&store, 2).await;
    let crm = mock_crm(Faults { reject_400: 1, reject_message: "unknown employee".into(), ..Faults::default() }).await;
    let registry = registry(vec![]);
    let s = sender(&store, &registry, settings(&crm, 2 * SECOND, 5));
    drain(&s, &store).await;
    assert_eq!(outbox::stats(&store).await.expect("stats").failed, 1);

    let started = check(&store, &config, &sink, 3).await;
    assert_eq!(started, ["[Head office] ALERT: 1 deliveries to the CRM failed for good"]);
    let body = sink.messages().last().expect("mail").data.clone();
    assert!(body.contains("unknown employee"), "{body}");

    outbox::requeue_failed(&store, &DaySelection::default()).await.expect("requeue");
    drain(&s, &store).await;
    assert_eq!(check(&store, &config, &sink, 3).await, ["[Head office] RESOLVED: no delivery is failed any more"]);
}

on_both_backends!(an_unreachable_crm_alerts_once_and_recovers_once);

async fn an_unreachable_crm_alerts_once_and_recovers_once(backend: Backend) {
    let (sink, db) = (SmtpSink::start().await, TestDb::new(backend).await);
    let store = db.store().await;
    let config = config(&sink, &db);
    seed_days(&store, 2).await;
    let crm = mock_crm(Faults { fail_500: 1_000, ..Faults::default() }).await;
    let registry = registry(vec![]);
    let s = sender(&store, &registry, settings(&crm, 2 * SECOND, 100));
    s.run_once(None).await.expect("run");
    s.run_once(None).await.expect("run");

    let started = check(&store, &config, &sink, 3).await;
    assert_eq!(started.len(), 1, "{started:?}");
    assert!(started[0].starts_with("[Head office] ALERT: the CRM has been unreachable for"), "{started:?}");

    crm.set_faults(Faults::default());
    // Deliveries wait for their back-off; bring them due now.
    db.execute("UPDATE crm_outbox SET next_attempt_at = '2020-01-01 00:00:00' WHERE status = 'pending'").await;
    drain(&s, &store).await;
    assert_eq!(check(&store, &config, &sink, 3).await, ["[Head office] RESOLVED: the CRM answers again"]);
}

on_both_backends!(a_plugin_failing_every_run_alerts_once_and_recovers_once);

async fn a_plugin_failing_every_run_alerts_once_and_recovers_once(backend: Backend) {
    let (sink, db) = (SmtpSink::start().await, TestDb::new(backend).await);
    let store = db.store().await;
    let config = config(&sink, &db);
    let run = |error: Option<&'static str>, counts: serde_json::Value| {
        let store = store.clone();
        async move {
            let id = jobs::start_run(&store, alerts::PROCESS_JOB, "test", chrono::Utc::now()).await.expect("start");
            jobs::finish_run(&store, id, chrono::Utc::now(), &counts, error).await.expect("finish");
        }
    };
    let set_aside = serde_json::json!({ "employees": 0, "failed": 12, "days_written": 0 });
    run(Some("plugin standard-shifts: trap: unreachable"), serde_json::json!({})).await;
    run(None, set_aside.clone()).await;
    assert!(check(&store, &config, &sink, 2).await.is_empty(), "two failed runs are not yet 'every run'");
    run(None, set_aside).await;
    assert_eq!(check(&store, &config, &sink, 3).await, ["[Head office] ALERT: the shift-rules plugin fails every run"]);

    run(None, serde_json::json!({ "employees": 12, "failed": 0, "days_written": 30 })).await;
    assert_eq!(check(&store, &config, &sink, 3).await, ["[Head office] RESOLVED: process_attendance runs succeed again"]);
}
