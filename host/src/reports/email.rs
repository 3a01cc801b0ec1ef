//! Scheduled report e-mails: the daily attendance each morning (yesterday), the monthly timesheet on
//! the 1st (last month), late-and-early weekly on Mondays (last week), each with the XLSX attached
//! and a short summary in the body. Sent by the `send_reports` job through [`send_due`]; each
//! `(subscription, period)` is claimed in the database before sending
//! ([`crate::store::report_subscriptions`]), so a period goes out once across every instance.

use chrono::{Datelike as _, Days, NaiveDate, NaiveDateTime, Timelike as _};

use super::{ReportError, ReportKind, ReportRequest, build, xlsx};
use crate::config::Config;
use crate::notify::{FileAttachment, Mailer, NotifyError, XLSX_TYPE};
use crate::store::report_subscriptions::{self as subscriptions, Subscription};
use crate::store::{Store, StoreError};

/// The reports one can subscribe to.
pub const SUBSCRIBABLE: [ReportKind; 3] = [ReportKind::DailyAttendance, ReportKind::MonthlyTimesheet, ReportKind::LateEarly];

/// Why a run of the report e-mails failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportEmailError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The mailer could not be built.
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// The period a subscription's next e-mail covers, as of local date `today`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// Its key in `report_sends` (`2025-06-02`, `2025-06`, `2025-W23`).
    pub key: String,
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
}

/// The period due on `today` for `kind`: yesterday, last month, or last ISO week.
pub fn due_period(kind: ReportKind, today: NaiveDate) -> Option<Period> {
    let yesterday = today.checked_sub_days(Days::new(1))?;
    match kind {
        ReportKind::DailyAttendance => Some(Period { key: yesterday.to_string(), from: yesterday, to: yesterday }),
        ReportKind::MonthlyTimesheet => {
            let to = today.with_day(1)?.checked_sub_days(Days::new(1))?;
            let from = to.with_day(1)?;
            Some(Period { key: from.format("%Y-%m").to_string(), from, to })
        }
        ReportKind::LateEarly => {
            let to = today.checked_sub_days(Days::new(u64::from(today.weekday().num_days_from_monday()) + 1))?;
            let from = to.checked_sub_days(Days::new(6))?;
            let week = from.iso_week();
            Some(Period { key: format!("{}-W{:02}", week.year(), week.week()), from, to })
        }
        _ => None,
    }
}

/// What one run sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SendReport {
    /// `subscription/period` of each e-mail sent by this run.
    pub sent: Vec<String>,
    /// Failures (their claims were given back for the next run).
    pub failed: Vec<String>,
}

/// Sends every subscription's due period not yet claimed, as of `now` (site local time), unless it
/// is before `REPORT_EMAIL_HOUR`.
///
/// # Errors
/// When the database cannot be read or the mailer built; one report's failure is recorded in the
/// result and does not stop the others.
pub async fn send_due(store: &Store, config: &Config, instance: &str, now: NaiveDateTime) -> Result<SendReport, ReportEmailError> {
    let mut report = SendReport::default();
    if now.hour() < config.reports.email_hour {
        return Ok(report);
    }
    let mailer = Mailer::from_settings(&config.email, config.data_dir.join("mail"))?;
    for subscription in subscriptions::list(store).await? {
        let Some(kind) = ReportKind::from_slug(&subscription.report) else { continue };
        let Some(period) = due_period(kind, now.date()) else { continue };
        if !subscriptions::claim(store, subscription.id, &period.key, instance).await? {
            continue;
        }
        let label = format!("{}/{}", subscription.id, period.key);
        match send_one(store, config, &mailer, &subscription, kind, &period).await {
            Ok(()) => {
                subscriptions::mark_sent(store, subscription.id, &period.key).await?;
                report.sent.push(label);
            }
            Err(e) => {
                tracing::warn!(subscription = subscription.id, period = %period.key, error = %e, "report e-mail failed; the next run tries again");
                subscriptions::release(store, subscription.id, &period.key).await?;
                report.failed.push(format!("{label}: {e}"));
            }
        }
    }
    Ok(report)
}

/// Why one report e-mail could not go out.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

async fn send_one(store: &Store, config: &Config, mailer: &Mailer, subscription: &Subscription, kind: ReportKind, period: &Period) -> Result<(), SendError> {
    let request = ReportRequest { kind, from: period.from, to: period.to, employee: None, shift: None, sort: None, descending: false };
    let table = build(store, config, &request, "scheduled").await?;
    let bytes = xlsx::to_xlsx(&table)?;
    let site = config.company_name.clone().unwrap_or_else(|| "Attendance Bridge".into());
    let span = if period.from == period.to { period.from.format("%A %-d %B %Y").to_string() } else { format!("{} to {}", period.from, period.to) };
    let subject = format!("[{site}] {}: {span}", table.title);
    let mut body = format!("{} for {span}.\n\n{} rows", table.title, table.rows.len());
    if let Some(status) = table.columns.iter().position(|c| c.key == "status") {
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for row in &table.rows {
            *counts.entry(row.get(status).map(super::Cell::display).unwrap_or_default()).or_default() += 1;
        }
        let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{s}: {n}")).collect();
        body.push_str(&format!(" ({})", parts.join(", ")));
    }
    body.push_str(&format!(
        ".\nThe spreadsheet is attached ({}.xlsx).\n\nGenerated {} by the scheduled report e-mails; unsubscribe with `attendance-bridge reports unsubscribe {}`.\n",
        table.file_stem(),
        table.generated_at.format("%Y-%m-%d %H:%M %:z"),
        subscription.id
    ));
    let to: Vec<String> = subscription.recipients.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect();
    let attachment = FileAttachment { name: format!("{}.xlsx", table.file_stem()), content_type: XLSX_TYPE.into(), bytes };
    mailer.send_text(&to, &subject, &body, Some(attachment)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        let monday = NaiveDate::from_ymd_opt(2025, 6, 9).expect("date");
        assert_eq!(due_period(ReportKind::DailyAttendance, monday).map(|p| p.key), Some("2025-06-08".into()));
        let month = due_period(ReportKind::MonthlyTimesheet, NaiveDate::from_ymd_opt(2025, 3, 1).expect("date")).expect("p");
        assert_eq!((month.key.as_str(), month.from.to_string(), month.to.to_string()), ("2025-02", "2025-02-01".into(), "2025-02-28".into()));
        let week = due_period(ReportKind::LateEarly, NaiveDate::from_ymd_opt(2025, 6, 11).expect("date")).expect("p");
        assert_eq!((week.key.as_str(), week.from.to_string(), week.to.to_string()), ("2025-W23", "2025-06-02".into(), "2025-06-08".into()));
    }
}
