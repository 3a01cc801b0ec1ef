//! E-mail alerts (outlier digests) through the configured backend: SMTP, the log ("console", as in
//! Django), `.eml` files in a folder (for tests and dry runs), or nowhere.
//!
//! Messages are rendered from `templates/email/<name>/{subject.txt, body.txt, body.html}` (compiled
//! into the binary) and sent as text + HTML alternatives.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use minijinja::{Environment, context};
use secrecy::ExposeSecret as _;
use serde::Serialize;

use crate::config::{EmailBackend, EmailSettings};

pub mod alerts;

/// A file attached to a message.
#[derive(Debug, Clone)]
pub struct FileAttachment {
    /// File name shown to the reader (`daily-attendance_2025-06-02.xlsx`).
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// The MIME type of an XLSX workbook.
pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Why a message could not be built or sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// An address in the configuration is not usable.
    #[error("e-mail address {0:?} is not valid")]
    Address(String),
    /// A template failed to render.
    #[error("e-mail template: {0}")]
    Template(#[from] minijinja::Error),
    /// The message could not be assembled.
    #[error("e-mail message: {0}")]
    Message(#[from] lettre::error::Error),
    /// The SMTP conversation failed.
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// Writing the message file failed.
    #[error("e-mail file: {0}")]
    File(#[from] lettre::transport::file::Error),
}

/// One outlier in a digest: who, which day, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutlierLine {
    /// Employee code.
    pub employee: String,
    /// Employee name, when known.
    pub name: Option<String>,
    /// Work date, `YYYY-MM-DD`.
    pub date: String,
    /// Shift code, if scheduled.
    pub shift: Option<String>,
    /// Why it is an outlier (flags or the rule's reason).
    pub reason: String,
    /// Clock-in, local time as shown to people.
    pub clock_in: Option<String>,
    /// Clock-out, local time as shown to people.
    pub clock_out: Option<String>,
}

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("outlier_digest/subject.txt", include_str!("../../../templates/email/outlier_digest/subject.txt")),
        ("outlier_digest/body.txt", include_str!("../../../templates/email/outlier_digest/body.txt")),
        ("outlier_digest/body.html", include_str!("../../../templates/email/outlier_digest/body.html")),
    ] {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(template = name, error = %e, "e-mail template does not compile");
        }
    }
    env
});

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Console,
    File(AsyncFileTransport<Tokio1Executor>),
    Disabled,
}

/// Whether SMTP credentials would cross the network unencrypted: a login and password are set,
/// STARTTLS is off, and the server is not on this machine (a loopback relay never leaves it).
pub fn sends_credentials_in_clear(settings: &EmailSettings) -> bool {
    let has_credentials = settings.host_user.is_some() && settings.host_password.is_some();
    let host = settings.host.trim().trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    matches!(settings.backend, EmailBackend::Smtp) && has_credentials && !settings.use_tls && !loopback
}

/// Sends the bridge's e-mails.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    recipients: Vec<Mailbox>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).field("recipients", &self.recipients).finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for the configured backend. The file backend writes `.eml` files to
    /// `EMAIL_FILE_PATH` when set, else to `default_file_dir`.
    ///
    /// # Errors
    /// [`NotifyError`] for an unusable address or SMTP settings.
    pub fn from_settings(settings: &EmailSettings, default_file_dir: PathBuf) -> Result<Self, NotifyError> {
        let parse = |a: &str| a.parse::<Mailbox>().map_err(|_| NotifyError::Address(a.to_owned()));
        let from = parse(&settings.default_from)?;
        let recipients = settings.outlier_recipients.0.iter().map(|a| parse(a)).collect::<Result<_, _>>()?;
        let transport = match settings.backend {
            EmailBackend::Smtp => {
                // Django's EMAIL_USE_TLS means STARTTLS; without it the conversation is plain (a relay on the LAN).
                let builder = if settings.use_tls {
                    AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)?
                } else {
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
                };
                let mut builder = builder.port(settings.port).timeout(Some(Duration::from_secs(30)));
                if let (Some(user), Some(password)) = (&settings.host_user, &settings.host_password) {
                    if sends_credentials_in_clear(settings) {
                        tracing::warn!(
                            host = %settings.host,
                            "EMAIL_USE_TLS is off: the SMTP login and password go to {} unencrypted; set EMAIL_USE_TLS=True",
                            settings.host
                        );
                    }
                    builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
                }
                Transport::Smtp(builder.build())
            }
            EmailBackend::Console => Transport::Console,
            EmailBackend::File => {
                let dir = settings.file_path.clone().unwrap_or(default_file_dir);
                let _ = std::fs::create_dir_all(&dir);
                Transport::File(AsyncFileTransport::new(dir))
            }
            EmailBackend::Disabled => Transport::Disabled,
        };
        Ok(Self { transport, from, recipients })
    }

    /// Sends a plain-text message (with an optional attachment) to `recipients`. Returns whether a
    /// message went out (not with no recipients or the disabled backend).
    ///
    /// # Errors
    /// [`NotifyError`] for an unusable address, or when sending fails.
    pub async fn send_text(&self, recipients: &[String], subject: &str, text: &str, attachment: Option<FileAttachment>) -> Result<bool, NotifyError> {
        if recipients.is_empty() || matches!(self.transport, Transport::Disabled) {
            return Ok(false);
        }
        let mut builder = Message::builder().from(self.from.clone()).subject(subject);
        for to in recipients {
            builder = builder.to(to.parse::<Mailbox>().map_err(|_| NotifyError::Address(to.clone()))?);
        }
        let message = match attachment {
            None => builder.singlepart(SinglePart::plain(text.to_owned()))?,
            Some(file) => {
                let content_type = ContentType::parse(&file.content_type).unwrap_or(ContentType::TEXT_PLAIN);
                builder.multipart(
                    MultiPart::mixed()
                        .singlepart(SinglePart::plain(text.to_owned()))
                        .singlepart(Attachment::new(file.name).body(file.bytes, content_type)),
                )?
            }
        };
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await?;
            }
            Transport::File(file) => {
                file.send(message).await?;
            }
            Transport::Console => tracing::info!(%subject, "e-mail (console e-mail backend):\n{text}"),
            Transport::Disabled => return Ok(false),
        }
        Ok(true)
    }

    /// Sends one digest of `outliers` to the outlier recipients. Returns whether a message went out
    /// (nothing is sent for an empty list, with no recipients, or with the disabled backend).
    ///
    /// # Errors
    /// [`NotifyError`] when rendering or sending fails.
    pub async fn send_outlier_digest(&self, outliers: &[OutlierLine], site: &str) -> Result<bool, NotifyError> {
        if outliers.is_empty() || self.recipients.is_empty() || matches!(self.transport, Transport::Disabled) {
            return Ok(false);
        }
        let ctx = context! { outliers => minijinja::value::Serde(outliers), site };
        let subject = TEMPLATES.get_template("outlier_digest/subject.txt")?.render(&ctx)?;
        let text = TEMPLATES.get_template("outlier_digest/body.txt")?.render(&ctx)?;
        let html = TEMPLATES.get_template("outlier_digest/body.html")?.render(&ctx)?;
        let mut builder = Message::builder().from(self.from.clone()).subject(subject.trim());
        for to in &self.recipients {
            builder = builder.to(to.clone());
        }
        let message = builder.multipart(MultiPart::alternative_plain_html(text.clone(), html))?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await?;
            }
            Transport::File(file) => {
                file.send(message).await?;
            }
            Transport::Console => tracing::info!(subject = %subject.trim(), "outlier digest (console e-mail backend):\n{text}"),
            Transport::Disabled => return Ok(false),
        }
        Ok(true)
    }
}
