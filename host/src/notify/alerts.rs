//! Operational alerts that need no Prometheus: each condition sends ONE e-mail when it starts and
//! ONE when it ends, however often it is checked.
//!
//! The conditions, evaluated from the database by [`check`] (the `check_alerts` job, every
//! `ALERT_CHECK_SECONDS`):
//! - `device_silent:<id>`: an enabled, approved device without a successful download (push: an
//!   upload or command poll) for longer than `ALERT_DEVICE_SILENT_INTERVALS` polling intervals;
//! - `deliveries_failed`: at least one delivery failed for good (a dead letter); it ends when none
//!   is left (after `sync-to-crm --retry-failed` or `retry_failed_syncs` delivered them);
//! - `plugin_failing:process_attendance`: the last `ALERT_PLUGIN_FAILED_RUNS` processing runs all
//!   failed, or set every employee aside (the shift-rules plugin fails on everything);
//! - `crm_unreachable`: deliveries are waiting whose attempts got no answer or a 5xx, and nothing
//!   was acknowledged for `ALERT_CRM_UNREACHABLE_MINUTES`.
//!
//! Each transition is claimed in the database before its e-mail goes out ([`alerts`]): restarts
//! and several instances never send a second one; an e-mail that fails is retried at the next check.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, TimeDelta};

use super::{Mailer, NotifyError};
use crate::config::Config;
use crate::store::jobs::JobName;
use crate::store::{Store, StoreError, alerts, devices, jobs, outbox};

/// Why a check could not complete.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The mailer could not be built.
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// A condition that holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Its key in `alert_states`.
    pub key: String,
    /// One line for the subject.
    pub title: String,
    /// What the e-mail explains.
    pub detail: String,
}

/// What one check did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    /// Conditions holding now.
    pub active: usize,
    /// Start e-mails sent by this check.
    pub started: Vec<String>,
    /// End e-mails sent by this check.
    pub ended: Vec<String>,
}

/// The job whose runs tell whether the shift-rules plugin fails every run.
pub const PROCESS_JOB: &str = JobName::ProcessAttendance.as_str();

fn minutes(delta: TimeDelta) -> i64 {
    delta.num_minutes().max(0)
}

/// Every condition that holds at `now` (UTC).
///
/// # Errors
/// When the database cannot be read.
pub async fn conditions(store: &Store, config: &Config, now: NaiveDateTime) -> Result<Vec<Condition>, StoreError> {
    let settings = &config.alerts;
    let mut found = Vec::new();

    // Devices: the poll interval as scheduled now (the CLI may have changed it), else configured.
    let schedules = jobs::list(store).await?;
    let poll_seconds = schedules
        .iter()
        .find(|s| JobName::from_name(&s.name) == Some(JobName::PollDevices))
        .and_then(|s| s.interval_seconds)
        .map_or_else(|| i64::from(config.devices.polling_interval_minutes) * 60, i64::from);
    let silent_after = TimeDelta::seconds(poll_seconds.saturating_mul(i64::from(settings.device_silent_intervals.max(1))));
    for device in devices::list(store).await? {
        if !device.enabled || !device.approved {
            continue;
        }
        let heard = match device.transport {
            devices::Transport::Pull => device.last_sync_at,
            devices::Transport::Push => device.last_seen_at,
        };
        let since = heard.unwrap_or(device.created_at);
        if now - since > silent_after {
            let last = heard.map_or_else(|| "never".to_owned(), |t| format!("{t} UTC"));
            found.push(Condition {
                key: format!("device_silent:{}", device.id.0),
                title: format!("device {} silent for {} min", device.name, minutes(now - since)),
                detail: format!(
                    "Device {:?} has not delivered its records for {} minutes (more than {} polling intervals).\nLast successful download: {last}.\nLast error: {}",
                    device.name,
                    minutes(now - since),
                    settings.device_silent_intervals,
                    device.last_error.as_deref().unwrap_or("none")
                ),
            });
        }
    }

    let stats = outbox::stats(store).await?;
    if stats.failed > 0 {
        let latest = outbox::failures(store, 5).await?;
        let lines: Vec<String> = latest
            .iter()
            .map(|d| format!("- {} (HTTP {}): {}", d.idempotency_key, d.last_status.map_or_else(|| "-".to_owned(), |s| s.to_string()), d.last_error.as_deref().unwrap_or("")))
            .collect();
        found.push(Condition {
            key: "deliveries_failed".into(),
            title: format!("{} deliveries to the CRM failed for good", stats.failed),
            detail: format!(
                "{} deliveries failed for good and wait for an operator (attendance-bridge sync-to-crm --retry-failed).\nLatest:\n{}",
                stats.failed,
                lines.join("\n")
            ),
        });
    }

    let runs_needed = usize::try_from(settings.plugin_failed_runs.max(1)).unwrap_or(usize::MAX);
    let runs = jobs::recent_runs(store, Some(PROCESS_JOB), i64::try_from(runs_needed).unwrap_or(i64::MAX).saturating_add(1)).await?;
    let finished: Vec<_> = runs.iter().filter(|r| r.finished_at.is_some()).take(runs_needed).collect();
    let plugin_failed = |run: &jobs::JobRun| {
        if run.outcome == jobs::JobOutcome::Failed {
            return true;
        }
        let counts: serde_json::Value = serde_json::from_str(&run.counts).unwrap_or_default();
        counts["failed"].as_u64().unwrap_or(0) > 0 && counts["employees"].as_u64().unwrap_or(0) == 0
    };
    if finished.len() == runs_needed && finished.iter().all(|r| plugin_failed(r)) {
        let last_error = finished.first().and_then(|r| r.error.clone()).unwrap_or_else(|| "every employee was set aside".into());
        found.push(Condition {
            key: format!("plugin_failing:{PROCESS_JOB}"),
            title: "the shift-rules plugin fails every run".into(),
            detail: format!(
                "The last {runs_needed} processing runs failed in the shift-rules plugin; days stay pending.\nLast error: {last_error}\nSee attendance-bridge jobs history and the plugin's settings."
            ),
        });
    }

    let crm = alerts::crm_reachability(store).await?;
    if let Some(failing) = crm.failing_since {
        let since = crm.last_delivered.map_or(failing, |d| d.max(failing));
        if now - since >= TimeDelta::minutes(i64::from(settings.crm_unreachable_minutes)) {
            found.push(Condition {
                key: "crm_unreachable".into(),
                title: format!("the CRM has been unreachable for {} min", minutes(now - since)),
                detail: format!(
                    "Deliveries are waiting and their attempts get no answer or a server error; nothing was acknowledged since {}.\nLast delivery acknowledged: {}.\nThey are retried automatically.",
                    format_args!("{since} UTC"),
                    crm.last_delivered.map_or_else(|| "never".to_owned(), |t| format!("{t} UTC"))
                ),
            });
        }
    }
    Ok(found)
}

/// Whom alert e-mails go to: `ALERT_EMAIL_RECIPIENTS`, else the outlier recipients.
pub fn recipients(config: &Config) -> Vec<String> {
    if config.alerts.recipients.0.is_empty() { config.email.outlier_recipients.0.clone() } else { config.alerts.recipients.0.clone() }
}

/// Evaluates the conditions and sends the start and end e-mails this check is the one to send.
///
/// # Errors
/// When the database cannot be read. A failed e-mail gives its claim back and is logged; the
/// next check sends it.
pub async fn check(store: &Store, config: &Config, mailer: &Mailer) -> Result<CheckReport, AlertError> {
    let now = crate::store::now_utc();
    let holding: BTreeMap<String, Condition> = conditions(store, config, now).await?.into_iter().map(|c| (c.key.clone(), c)).collect();
    let to = recipients(config);
    let site = config.company_name.clone().unwrap_or_else(|| "Attendance Bridge".into());
    let mut report = CheckReport { active: holding.len(), ..CheckReport::default() };

    for condition in holding.values() {
        if !alerts::claim_start(store, &condition.key, &condition.detail).await? {
            continue;
        }
        let subject = format!("[{site}] ALERT: {}", condition.title);
        let body = format!("{}\n\nStarted: {now} UTC. You will get one more e-mail when this is resolved.\n", condition.detail);
        if send(mailer, &to, &subject, &body).await {
            report.started.push(condition.key.clone());
        } else {
            alerts::unclaim(store, &condition.key, false).await?;
        }
    }
    for state in alerts::active(store).await? {
        if holding.contains_key(&state.alert_key) || !alerts::claim_end(store, &state.alert_key).await? {
            continue;
        }
        let started = state.started_at.map_or_else(String::new, |t| format!(" (started {t} UTC, lasted {} min)", minutes(now - t)));
        let subject = format!("[{site}] RESOLVED: {}", describe(&state.alert_key));
        let body = format!("Resolved at {now} UTC{started}.\n\nWhat was reported:\n{}\n", state.detail.as_deref().unwrap_or(""));
        if send(mailer, &to, &subject, &body).await {
            report.ended.push(state.alert_key);
        } else {
            alerts::unclaim(store, &state.alert_key, true).await?;
        }
    }
    Ok(report)
}

/// A title for an alert key when only the key is left (the end e-mail).
fn describe(key: &str) -> String {
    match key.split_once(':') {
        Some(("device_silent", id)) => format!("device #{id} is delivering again"),
        Some(("plugin_failing", job)) => format!("{job} runs succeed again"),
        _ if key == "deliveries_failed" => "no delivery is failed any more".into(),
        _ if key == "crm_unreachable" => "the CRM answers again".into(),
        _ => format!("{key} ended"),
    }
}

/// Sends one alert e-mail; false (logged) when it could not go out.
async fn send(mailer: &Mailer, to: &[String], subject: &str, body: &str) -> bool {
    match mailer.send_text(to, subject, body, None).await {
        Ok(true) => true,
        Ok(false) => {
            // No recipients or e-mail disabled: the transition still counts, nothing to retry.
            tracing::info!(%subject, "alert (no e-mail sent: no recipients or e-mail disabled)");
            true
        }
        Err(e) => {
            tracing::warn!(%subject, error = %e, "alert e-mail failed; the next check tries again");
            false
        }
    }
}
