//! Scheduled report e-mails on two instances sharing PostgreSQL: a daily attendance subscription
//! reaches the SMTP sink once per day with a valid XLSX attached (opened with calamine), however
//! many instances and runs try to send it.

use std::io::Cursor;
use std::time::Duration;

use attendance_bridge::config::{Config, EmailBackend};
use attendance_bridge::reports::email::{self, due_period};
use attendance_bridge::reports::ReportKind;
use attendance_bridge::store::report_subscriptions as subscriptions;
use attendance_bridge::store::jobs::{self, ScheduleChange};
use bridge_e2e::crm::day_content;
use bridge_e2e::smtp_sink::{ReceivedMail, SmtpSink};
use bridge_e2e::{Backend, TestApp};
use calamine::Reader as _;

fn mail_settings(config: &mut Config, sink: &SmtpSink) {
    config.email.backend = EmailBackend::Smtp;
    config.email.host = "127.0.0.1".into();
    config.email.port = sink.address.port();
    config.email.default_from = "bridge@example.com".into();
    config.reports.email_hour = 0;
    config.company_name = Some("Acme Ltd".into());
}

/// The attachment of a received multipart message, decoded from base64.
fn attachment(mail: &ReceivedMail) -> Vec<u8> {
    use base64::Engine as _;
    let data = mail.data.replace("\r\n", "\n");
    let part = data.split("Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet").nth(1).expect("an XLSX part");
    let body = part.split("\n\n").nth(1).expect("part body");
    let encoded: String = body.lines().take_while(|l| !l.starts_with("--")).collect();
    base64::engine::general_purpose::STANDARD.decode(encoded.trim()).expect("base64")
}

async fn wait_for(sink: &SmtpSink, n: usize) {
    for _ in 0..240 {
        if sink.messages().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{n} e-mails did not arrive within 60 s (got {})", sink.messages().len());
}

#[tokio::test]
async fn a_daily_report_reaches_the_sink_once_per_day_from_two_instances() {
    let sink = SmtpSink::start().await;
    let first = TestApp::start_with(Backend::Postgres, |c| mail_settings(c, &sink)).await;
    let shared = first.config.database_url.clone();
    let second = TestApp::start_with(Backend::Postgres, |c| {
        mail_settings(c, &sink);
        c.database_url = shared;
    })
    .await;
    let store = first.db.store().await;

    let today = chrono::Utc::now().date_naive();
    let yesterday = today.pred_opt().expect("date");
    for (employee, worked) in [("1001", 480), ("1002", 455)] {
        let employee = attendance_bridge::domain::EmployeeId(employee.into());
        attendance_bridge::store::attendance::upsert(&store, &employee, yesterday, "", &day_content(yesterday, worked)).await.expect("day");
    }
    let id = subscriptions::subscribe(&store, ReportKind::DailyAttendance.slug(), "hr@example.com, boss@example.com", "test").await.expect("subscribe");

    // Both instances' schedulers are told to run the job now, twice.
    let run_now = ScheduleChange { run_now: true, ..Default::default() };
    jobs::update_schedule(&store, "send_reports", &run_now).await.expect("run now");
    wait_for(&sink, 1).await;
    jobs::update_schedule(&store, "send_reports", &run_now).await.expect("run now");
    tokio::time::sleep(Duration::from_secs(12)).await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "one e-mail for the day, whatever the runs and instances");
    let mail = &messages[0];
    assert_eq!(mail.to, ["hr@example.com", "boss@example.com"]);
    assert!(mail.data.contains("Subject: [Acme Ltd] Daily attendance:"), "{}", mail.data);
    assert!(mail.data.contains("2 rows (Present: 2)"), "{}", mail.data);
    let name = format!("daily-attendance_{yesterday}.xlsx");
    assert!(mail.data.contains(&name), "attachment named {name}");

    let mut workbook = calamine::open_workbook_auto_from_rs(Cursor::new(attachment(mail))).expect("a valid XLSX");
    let sheet = workbook.sheet_names().first().cloned().expect("a sheet");
    let range = workbook.worksheet_range(&sheet).expect("range");
    let text: Vec<String> = range.rows().map(|r| r.iter().map(ToString::to_string).collect::<Vec<_>>().join("|")).collect();
    assert!(text.iter().any(|r| r.split('|').any(|c| c == "1001") && r.to_lowercase().contains("present")), "{text:#?}");
    assert!(text.iter().any(|r| r.split('|').any(|c| c == "1002")), "{text:#?}");

    // The next day: both instances race for the new period directly; one wins, one e-mail more.
    let tomorrow = (today.succ_opt().expect("date")).and_hms_opt(7, 0, 0).expect("time");
    let url = second.config.database_url.clone().expect("the shared database");
    let second_store = attendance_bridge::store::Store::open(&url, 2).await.expect("a second pool");
    let (a, b) = tokio::join!(
        email::send_due(&store, &first.config, "instance-a", tomorrow),
        email::send_due(&second_store, &second.config, "instance-b", tomorrow)
    );
    let (a, b) = (a.expect("a"), b.expect("b"));
    assert_eq!(a.sent.len() + b.sent.len(), 1, "{a:?} {b:?}");
    assert_eq!(sink.messages().len(), 2);
    let sends = subscriptions::sends(&store, id, 10).await.expect("sends");
    let periods: Vec<&str> = sends.iter().map(|s| s.period.as_str()).collect();
    assert_eq!(periods, [today.to_string().as_str(), yesterday.to_string().as_str()]);
    assert!(sends.iter().all(|s| s.sent_at.is_some()), "both marked sent");
    assert_eq!(due_period(ReportKind::DailyAttendance, tomorrow.date()).map(|p| p.key), Some(today.to_string()));

    second.stop().await.expect("stop");
    first.stop().await.expect("stop");
}
