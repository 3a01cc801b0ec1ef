//! Outlier digests through each e-mail backend; SMTP through a real conversation with a local sink.

use attendance_bridge::config::{CommaList, EmailBackend, EmailSettings};
use attendance_bridge::notify::{Mailer, OutlierLine};
use bridge_e2e::smtp_sink::SmtpSink;

fn outliers() -> Vec<OutlierLine> {
    vec![
        OutlierLine {
            employee: "1001".into(),
            name: Some("Ann Lee".into()),
            date: "2025-06-02".into(),
            shift: Some("DAY".into()),
            reason: "in_outlier: clocked in 2 h 40 min late".into(),
            clock_in: Some("11:40".into()),
            clock_out: Some("17:05".into()),
        },
        OutlierLine {
            employee: "1002".into(),
            name: None,
            date: "2025-06-02".into(),
            shift: None,
            reason: "missing_out".into(),
            clock_in: Some("08:01".into()),
            clock_out: None,
        },
    ]
}

fn settings(backend: EmailBackend) -> EmailSettings {
    EmailSettings {
        outlier_notifications: true,
        outlier_recipients: CommaList(vec!["hr@example.com".into(), "boss@example.com".into()]),
        backend,
        default_from: "bridge@example.com".into(),
        ..EmailSettings::default()
    }
}

#[tokio::test]
async fn smtp_digest_is_one_message_with_every_outlier() {
    let sink = SmtpSink::start().await;
    let mut smtp = settings(EmailBackend::Smtp);
    smtp.host = "127.0.0.1".into();
    smtp.port = sink.address.port();
    let dir = tempfile::tempdir().expect("dir");
    let mailer = Mailer::from_settings(&smtp, dir.path().join("mail")).expect("mailer");

    assert!(mailer.send_outlier_digest(&outliers(), "Head office").await.expect("sent"));
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "one digest per run");
    let mail = &messages[0];
    assert_eq!(mail.from, "bridge@example.com");
    assert_eq!(mail.to, ["hr@example.com", "boss@example.com"]);
    assert!(mail.data.contains("Subject: [Attendance Bridge] 2 new attendance outliers"), "{}", mail.data);
    for needle in ["1001 (Ann Lee), 2025-06-02 DAY: in_outlier", "1002, 2025-06-02: missing_out", "Head office"] {
        assert!(mail.data.contains(needle), "{needle:?} in {}", mail.data);
    }
    assert!(mail.data.contains("text/html"), "HTML alternative too");

    assert!(!mailer.send_outlier_digest(&[], "Head office").await.expect("nothing to send"));
    assert_eq!(sink.messages().len(), 1, "no outliers, no message");
}

/// A log sink the test can read back: what the console backend wrote.
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLog {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
    }
}

// One thread: the subscriber set below sees everything the mailer logs.
#[tokio::test(flavor = "current_thread")]
async fn file_console_and_disabled_backends() {
    let dir = tempfile::tempdir().expect("dir");
    let mail_dir = dir.path().join("mail");
    let file = Mailer::from_settings(&settings(EmailBackend::File), mail_dir.clone()).expect("mailer");
    assert!(file.send_outlier_digest(&outliers(), "").await.expect("written"));
    let written: Vec<_> = std::fs::read_dir(&mail_dir).expect("mail dir").map(|e| e.expect("entry").path()).collect();
    assert_eq!(written.len(), 1);
    let eml = std::fs::read_to_string(&written[0]).expect("read the message");
    for needle in ["Subject: [Attendance Bridge] 2 new attendance outliers", "1001 (Ann Lee), 2025-06-02 DAY: in_outlier", "1002, 2025-06-02: missing_out"] {
        assert!(eml.contains(needle), "{needle:?} in the written message: {eml}");
    }

    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let console = Mailer::from_settings(&settings(EmailBackend::Console), mail_dir.clone()).expect("mailer");
    {
        let _guard = tracing::subscriber::set_default(subscriber);
        assert!(console.send_outlier_digest(&outliers(), "Head office").await.expect("logged"));
    }
    let logged = log.text();
    for needle in ["2 new attendance outliers", "1001 (Ann Lee), 2025-06-02 DAY: in_outlier", "1002, 2025-06-02: missing_out", "Head office"] {
        assert!(logged.contains(needle), "{needle:?} in the console output: {logged}");
    }
    let disabled = Mailer::from_settings(&settings(EmailBackend::Disabled), mail_dir.clone()).expect("mailer");
    assert!(!disabled.send_outlier_digest(&outliers(), "").await.expect("dropped"));
    assert_eq!(std::fs::read_dir(&mail_dir).expect("mail dir").count(), 1, "the console and disabled backends write no file");
}

#[tokio::test]
async fn an_unreachable_smtp_server_is_an_error_not_a_panic() {
    let port = bridge_e2e::free_port();
    let mut smtp = settings(EmailBackend::Smtp);
    smtp.host = "127.0.0.1".into();
    smtp.port = port;
    let dir = tempfile::tempdir().expect("dir");
    let mailer = Mailer::from_settings(&smtp, dir.path().to_path_buf()).expect("mailer");
    let error = mailer.send_outlier_digest(&outliers(), "").await.expect_err("nobody listens");
    assert!(error.to_string().starts_with("SMTP"), "{error}");
}

/// `EMAIL_FILE_PATH` names the file backend's folder; without it the default folder is used.
#[tokio::test]
async fn the_file_backend_writes_to_email_file_path() {
    let dir = tempfile::tempdir().expect("dir");
    let default_dir = dir.path().join("mail");
    let chosen = dir.path().join("outbox").join("eml");
    let mut file = settings(EmailBackend::File);
    file.file_path = Some(chosen.clone());
    let mailer = Mailer::from_settings(&file, default_dir.clone()).expect("mailer");
    assert!(mailer.send_outlier_digest(&outliers(), "").await.expect("written"));
    assert_eq!(std::fs::read_dir(&chosen).expect("chosen folder").count(), 1, "the message is in EMAIL_FILE_PATH");
    assert!(!default_dir.exists(), "and not in the default folder");
}

/// A login sent without STARTTLS to another machine is flagged (and warned about at start-up);
/// over loopback, without credentials, or with TLS it is not.
#[test]
fn smtp_credentials_in_clear_text_are_flagged() {
    let mut smtp = settings(EmailBackend::Smtp);
    smtp.host = "mail.internal".into();
    smtp.host_user = Some("bridge".into());
    smtp.host_password = Some("hunter2".to_owned().into());
    assert!(attendance_bridge::notify::sends_credentials_in_clear(&smtp));
    for (host, use_tls, user) in [("127.0.0.1", false, true), ("localhost", false, true), ("[::1]", false, true), ("mail.internal", true, true), ("mail.internal", false, false)] {
        let mut quiet = smtp.clone();
        quiet.host = host.into();
        quiet.use_tls = use_tls;
        if !user {
            quiet.host_user = None;
        }
        assert!(!attendance_bridge::notify::sends_credentials_in_clear(&quiet), "{host} tls={use_tls} user={user}");
    }
}
