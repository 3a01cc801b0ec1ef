//! "Today", the home page after sign-in: one date's attendance as number cards (with the change
//! against the same weekday a week before), device health, the CRM queue, and two charts drawn on the
//! server. The figures come from [`crate::store::dashboard::figures`]; this module only turns them into
//! text in the display zone and renders. Works without JavaScript: the date picker is a GET form.

mod charts;

use axum::extract::{RawQuery, State};
use axum::response::Html;
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta, Utc};
use minijinja::context;
use serde::Serialize;

use super::auth::Principal;
use super::view::{Nav, frame, render};
use super::{AppError, AppState, Role};
use crate::store::dashboard::{self, DashboardFigures, DayCounts, DeviceHealth, ExpectedIntervals};
use crate::store::devices::Transport;

/// This area's templates.
pub(super) const TEMPLATES: &[(&str, &str)] =
    &[("web/dashboard/today.html", include_str!("../../../../templates/web/dashboard/today.html"))];

/// The page's stylesheet, compiled in (kept out of the page so the page stays small).
const DASHBOARD_CSS: &str = include_str!("../../../../static/dashboard.css");

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/", get(today)).route("/static/dashboard.css", get(stylesheet))
}

async fn stylesheet() -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse as _;
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], DASHBOARD_CSS).into_response()
}

/// One number card.
#[derive(Debug, Serialize)]
struct Card {
    /// Element id (tests and links read it).
    id: &'static str,
    label: &'static str,
    value: i64,
    /// "+3 vs last week (5)", or "same as last week".
    delta: String,
    /// `better`, `worse` or `same`: whether the change is good news (more present is, more late is not).
    trend: &'static str,
    /// A problem figure above zero is highlighted.
    alert: bool,
    help: &'static str,
}

/// A device card's text.
#[derive(Debug, Serialize)]
struct DeviceCard {
    id: i64,
    name: String,
    /// "Live", "Polled" or "Push".
    mode: &'static str,
    /// `ok`, `warn`, `bad` or `off`.
    state: &'static str,
    state_text: String,
    last_download: Option<String>,
    last_download_ago: Option<String>,
    last_error: Option<String>,
    drift: Option<String>,
    drift_warn: bool,
    stored_today: i64,
}

/// The page for `?date=` (default: today in the display zone).
async fn today(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    RawQuery(query): RawQuery,
) -> Result<Html<String>, AppError> {
    let zone = state.config.display_zone();
    let now = Utc::now();
    let today = now.with_timezone(&zone).date_naive();
    // `?date=YYYY-MM-DD`; anything else is reported on the page, which then shows today.
    let raw = query
        .as_deref()
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "date").map(|(_, v)| v.into_owned()))
        .filter(|d| !d.trim().is_empty());
    let (date, date_error) = match raw.as_deref().map(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")) {
        None => (today, None),
        Some(Ok(date)) => (date, None),
        Some(Err(_)) => (today, Some(format!("{:?} is not a date (YYYY-MM-DD); showing today.", raw.unwrap_or_default()))),
    };
    let intervals = ExpectedIntervals {
        pull: TimeDelta::minutes(i64::from(state.config.devices.polling_interval_minutes.max(1))),
        // Terminals wait `Delay` seconds between requests but are not punctual to the second: a
        // minute's floor keeps a 10-second delay from raising an alarm after 21 seconds.
        push: TimeDelta::seconds(i64::from(state.config.push.poll_delay_seconds.max(60))),
    };
    let figures = dashboard::figures(&state.store, date, zone, intervals).await?;
    let is_admin = Role::of(&principal.user) == Role::Admin;
    let clock = Clock { zone, now: figures.read_at };

    let devices: Vec<DeviceCard> = figures.devices.iter().map(|d| device_card(d, &clock, is_admin)).collect();
    let device_problems = devices.iter().filter(|d| d.state == "bad").count();
    let cards = cards(&figures);
    let offset = clock.offset(figures.read_at);
    render(
        "web/dashboard/today.html",
        context! {
            date => date.format("%Y-%m-%d").to_string(),
            date_long => date.format("%A, %-d %B %Y").to_string(),
            is_today => date == today,
            today => today.format("%Y-%m-%d").to_string(),
            previous => (date - TimeDelta::days(1)).format("%Y-%m-%d").to_string(),
            next => (date < today).then(|| (date + TimeDelta::days(1)).format("%Y-%m-%d").to_string()),
            week_before => (date - TimeDelta::days(7)).format("%a %-d %b").to_string(),
            date_error,
            zone => zone.name(),
            offset,
            cards => minijinja::value::Serde(&cards),
            total_days => figures.day.days,
            devices => minijinja::value::Serde(&devices),
            device_problems,
            awaiting_approval => figures.awaiting_approval,
            sync => context! {
                pending => figures.sync.pending,
                failed => figures.sync.failed,
                oldest => figures.sync.oldest_pending.map(|t| clock.time(t)),
                oldest_age => figures.sync.oldest_pending.map(|t| age(figures.read_at - t)),
                oldest_warn => figures.sync.oldest_pending.is_some_and(|t| figures.read_at - t > TimeDelta::hours(1)),
            },
            newest_punch => figures.newest_punch.map(|t| clock.time(t)),
            newest_punch_ago => figures.newest_punch.map(|t| age(figures.read_at - t)),
            read_at => clock.time(figures.read_at),
            trend_svg => charts::trend(&figures.trend, date),
            arrivals_svg => charts::arrivals(&figures.arrivals_by_hour),
            attention => minijinja::value::Serde(&attention(&figures, &clock)),
            attention_more => figures.day.missing_out + figures.day.outliers > figures.attention.len() as i64,
            arrivals_total => figures.arrivals_by_hour.iter().sum::<i64>(),
            ..frame(&state, &principal, Nav::Today)
        },
    )
}

/// Times in the display zone.
struct Clock {
    zone: chrono_tz::Tz,
    now: NaiveDateTime,
}

impl Clock {
    /// "14:05 +01:00" today, "Mon 30 Nov 14:05 +01:00" on another day.
    fn time(&self, at: NaiveDateTime) -> String {
        let local = dashboard::in_zone(at, self.zone);
        let today = dashboard::in_zone(self.now, self.zone).date_naive();
        if local.date_naive() == today {
            local.format("%H:%M %:z").to_string()
        } else {
            local.format("%a %-d %b %H:%M %:z").to_string()
        }
    }

    /// "UTC+01:00".
    fn offset(&self, at: NaiveDateTime) -> String {
        format!("UTC{}", dashboard::in_zone(at, self.zone).format("%:z"))
    }
}

/// "3 min", "2 h 5 min", "4 days".
fn age(delta: TimeDelta) -> String {
    let minutes = delta.num_minutes().max(0);
    match minutes {
        0 => "<1 min".to_owned(),
        1..=59 => format!("{minutes} min"),
        60..=2879 if minutes % 60 == 0 => format!("{} h", minutes / 60),
        60..=2879 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} days", minutes / 1440),
    }
}

/// An employee day to look at, as the page lists it.
#[derive(Debug, Serialize)]
struct AttentionRow {
    code: String,
    name: Option<String>,
    /// "Missing punch-out", "Outlier punches", ...
    problem: String,
    clock_in: Option<String>,
}

fn attention(figures: &DashboardFigures, clock: &Clock) -> Vec<AttentionRow> {
    figures
        .attention
        .iter()
        .map(|day| {
            let flags: Vec<String> = serde_json::from_str(&day.flags).unwrap_or_default();
            let mut problems: Vec<&str> = flags
                .iter()
                .filter_map(|f| match f.as_str() {
                    "missing_out" => Some("Missing punch-out"),
                    "missing_in" => Some("Missing punch-in"),
                    "outlier_punches" => Some("Punches outside the shift"),
                    "in_outlier" => Some("Arrival far off the shift"),
                    "out_outlier" => Some("Departure far off the shift"),
                    _ => None,
                })
                .collect();
            if problems.is_empty() {
                problems.push(if day.status == crate::domain::AttendanceStatus::Incomplete { "Incomplete" } else { "Outlier" });
            }
            AttentionRow {
                code: day.user_id.clone(),
                name: day.name.clone(),
                problem: problems.join(", "),
                clock_in: day.clock_in_utc.map(|t| dashboard::in_zone(t, clock.zone).format("%H:%M").to_string()),
            }
        })
        .collect()
}

/// The number cards, each against the same weekday a week before.
fn cards(figures: &DashboardFigures) -> Vec<Card> {
    let (now, before) = (&figures.day, &figures.week_before);
    let card = |id, label, get: fn(&DayCounts) -> i64, more_is_better: bool, alert_on_any: bool, help| {
        let (value, previous) = (get(now), get(before));
        let change = value - previous;
        let trend = match change.signum() {
            0 => "same",
            1 if more_is_better => "better",
            -1 if !more_is_better => "better",
            _ => "worse",
        };
        let delta = match change {
            0 => "same as last week".to_owned(),
            c => format!("{c:+} vs last week ({previous})"),
        };
        Card { id, label, value, delta, trend, alert: alert_on_any && value > 0, help }
    };
    vec![
        card("present", "Present", |d| d.present, true, false, "Employees who came (any status but absent)"),
        card("absent", "Absent", |d| d.absent, false, false, "Scheduled, no punch"),
        card("late", "Late", |d| d.late, false, false, "Arrived after shift start plus grace"),
        card("early-leave", "Early leave", |d| d.early_leave, false, false, "Left before shift end minus grace"),
        card("missing-out", "No punch-out", |d| d.missing_out, false, true, "Open days: a punch-out is needed"),
        card("outliers", "Outliers", |d| d.outliers, false, true, "Punches far outside the shift window"),
        card("waiting-crm", "Waiting for CRM", |d| d.waiting_crm, false, false, "Days of this date not yet delivered"),
    ]
}

fn device_card(health: &DeviceHealth, clock: &Clock, is_admin: bool) -> DeviceCard {
    let device = &health.device;
    let live = device.wants_live() && device.live_lease_until.is_some_and(|until| until > clock.now);
    let mode = match device.transport {
        Transport::Push => "Push",
        Transport::Pull if live => "Live",
        Transport::Pull => "Polled",
    };
    let (state, state_text) = if device.transport == Transport::Pull && !device.enabled {
        ("off", "Disabled".to_owned())
    } else if let Some(silent) = health.silent_for {
        let what = if health.last_contact().is_some() { format!("Silent for {}", age(silent)) } else { "Never reported".to_owned() };
        ("bad", what)
    } else if device.last_error.is_some() {
        ("warn", "Last attempt failed".to_owned())
    } else {
        ("ok", "Online".to_owned())
    };
    // Error texts can name addresses; viewers see that there is one, admins what it says.
    let last_error = device.last_error.as_ref().map(|e| if is_admin { shorten(e) } else { "The last download failed (details for admins)".to_owned() });
    let drift = device.clock_offset_s.map(|s| match s {
        0 => "in step".to_owned(),
        s if s.abs() < 120 => format!("{s:+} s"),
        s => format!("{:+} min", s / 60),
    });
    DeviceCard {
        id: device.id.0,
        name: device.name.clone(),
        mode,
        state,
        state_text,
        last_download: health.last_download.map(|t| clock.time(t)),
        last_download_ago: health.last_download.map(|t| age(clock.now - t)),
        last_error,
        drift,
        drift_warn: device.clock_offset_s.is_some_and(|s| s.abs() >= 60),
        stored_today: health.stored_today,
    }
}

/// At most 240 characters of an error text (the devices page shows all of it).
fn shorten(text: &str) -> String {
    match text.char_indices().nth(240) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_speech() {
        assert_eq!(age(TimeDelta::seconds(20)), "<1 min");
        assert_eq!(age(TimeDelta::minutes(59)), "59 min");
        assert_eq!(age(TimeDelta::minutes(125)), "2 h 5 min");
        assert_eq!(age(TimeDelta::hours(3)), "3 h");
        assert_eq!(age(TimeDelta::days(4)), "4 days");
    }

    #[test]
    fn a_card_knows_good_news_from_bad() {
        let figures = DashboardFigures {
            day: DayCounts { present: 10, late: 3, ..DayCounts::default() },
            week_before: DayCounts { present: 8, late: 1, ..DayCounts::default() },
            trend: Vec::new(),
            arrivals_by_hour: [0; 24],
            devices: Vec::new(),
            awaiting_approval: 0,
            sync: dashboard::SyncQueue::default(),
            newest_punch: None,
            read_at: NaiveDateTime::default(),
            attention: Vec::new(),
        };
        let cards = cards(&figures);
        assert_eq!((cards[0].trend, cards[0].delta.as_str()), ("better", "+2 vs last week (8)"));
        assert_eq!((cards[2].trend, cards[2].delta.as_str()), ("worse", "+2 vs last week (1)"));
        assert_eq!(cards[1].trend, "same");
    }
}
