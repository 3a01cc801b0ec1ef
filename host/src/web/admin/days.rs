//! `/admin/days…`: processed days (filterable), one day with its punches, revisions and CRM
//! deliveries, and the manual correction (and its undo).
//!
//! The correction is `store::corrections::correct_day`, as `PATCH /api/processed-attendance/{id}/`
//! does it: a new revision marked manual (processing never overwrites it), queued for the CRM and
//! audited in one transaction; the page then starts a sync so the CRM gets it without waiting for
//! the schedule. The undo hands the day back to the rules (`corrections::undo_correction`).

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use minijinja::context;
use serde::Deserialize;
use serde_json::Value;

use super::{PAGE_SIZE, Pager, given, page_number, shown, shown_exact, start};
use crate::domain::{AttendanceStatus, EmployeeId, WallTime};
use crate::pipeline::on_demand::{Action, SyncOptions};
use crate::store::attendance::ProcessedDay;
use crate::store::corrections::{self, Correction, Stamp};
use crate::store::listing::{self, ProcessedFilter, RawFilter, SyncState};
use crate::store::outbox::OutboxStatus;
use crate::store::{StoreError, audit, devices, employees, outbox};
use crate::web::auth::Principal;
use crate::web::view::{Flash, Nav, TakenFlash, frame, render};
use crate::web::{AdminOnly, AppError, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/days", get(list))
        .route("/admin/days/{id}", get(one))
        .route("/admin/days/{id}/correct", post(correct))
        .route("/admin/days/{id}/undo", post(undo))
}

/// The filters as typed.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
struct DayQuery {
    user_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    status: Option<String>,
    outliers: Option<String>,
    unsynced: Option<String>,
    page: Option<String>,
}

fn date(raw: &Option<String>, name: &'static str, errors: &mut HashMap<&'static str, &'static str>) -> Option<NaiveDate> {
    let value = given(raw)?;
    NaiveDate::parse_from_str(&value, "%Y-%m-%d").map_err(|_| errors.insert(name, "not a date")).ok()
}

/// A time of day as `HH:MM`, with the date when it is not the work date (night shifts).
fn clock(local: Option<NaiveDateTime>, work_date: NaiveDate) -> Option<String> {
    local.map(|t| if t.date() == work_date { t.format("%H:%M").to_string() } else { t.format("%m-%d %H:%M").to_string() })
}

fn hours(minutes: Option<i32>) -> Option<String> {
    minutes.map(|m| format!("{}:{:02}", m / 60, m.rem_euclid(60)))
}

fn day_row(day: &ProcessedDay, sync: &SyncState, names: &HashMap<EmployeeId, String>) -> minijinja::Value {
    let flags: Vec<String> = serde_json::from_str(&day.flags).unwrap_or_default();
    let sync_label = match (sync.synced, sync.status.as_deref()) {
        (true, _) => ("synced", "ok"),
        (false, Some("failed")) => ("failed", "bad"),
        (false, Some("pending" | "in_flight")) => ("queued", "info"),
        (false, Some("skipped")) => ("skipped", ""),
        _ => ("not sent", "warn"),
    };
    context! {
        id => day.id,
        user_id => day.user_id.clone(),
        name => names.get(&EmployeeId(day.user_id.clone())).cloned(),
        date => day.work_date.to_string(),
        weekday => day.work_date.format("%a").to_string(),
        shift => day.shift_code.clone(),
        status => day.status.clone(),
        clock_in => clock(day.clock_in_local, day.work_date),
        clock_out => clock(day.clock_out_local, day.work_date),
        worked => hours(day.worked_min),
        late => day.late_min.filter(|m| *m > 0),
        early => day.early_min.filter(|m| *m > 0),
        overtime => hours(day.overtime_min.filter(|m| *m > 0)),
        outlier => flags.iter().any(|f| f.contains("outlier")),
        flags,
        manual => day.manual_override,
        revision => day.revision,
        sync => sync_label.0, sync_tone => sync_label.1,
        sync_error => sync.last_error.clone(),
    }
}

/// `GET /admin/days?user_id=&from=&to=&status=&outliers=on&unsynced=on&page=`
async fn list(_: AdminOnly, State(state): State<AppState>, Extension(principal): Extension<Principal>, Query(q): Query<DayQuery>, taken: TakenFlash) -> Result<Response, AppError> {
    let mut errors = HashMap::new();
    let filter = ProcessedFilter {
        user_id: given(&q.user_id),
        start: date(&q.from, "from", &mut errors),
        end: date(&q.to, "to", &mut errors),
        is_outlier: given(&q.outliers).map(|_| true),
        synced: given(&q.unsynced).map(|_| false),
        status: given(&q.status),
    };
    let page = page_number(q.page.as_deref());
    let result = listing::processed_page(&state.store, &filter, (page - 1) * PAGE_SIZE, PAGE_SIZE).await?;
    let ids: Vec<EmployeeId> = result.rows.iter().map(|(d, _)| EmployeeId(d.user_id.clone())).collect();
    let names = employees::names(&state.store, &ids).await?;
    let rows: Vec<_> = result.rows.iter().map(|(d, s)| day_row(d, s, &names)).collect();
    let pager = Pager::new(
        "/admin/days",
        &[
            ("user_id", given(&q.user_id)),
            ("from", given(&q.from)),
            ("to", given(&q.to)),
            ("status", given(&q.status)),
            ("outliers", given(&q.outliers)),
            ("unsynced", given(&q.unsynced)),
        ],
        page,
        rows.len(),
        result.more,
        result.count,
    );
    let html = render(
        "web/admin/days.html",
        context! {
            rows, pager => minijinja::value::Serde(&pager), q => minijinja::value::Serde(&q), errors,
            statuses => crate::plugins::contract::STATUSES,
            flash => minijinja::value::Serde(taken.message()),
            ..frame(&state, &principal, Nav::Days)
        },
    )?;
    Ok((taken, html).into_response())
}

/// Every leaf of a JSON document by its dotted path (`day.clock_in`), for comparing revisions.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&path, v, out);
            }
        }
        Value::Null => {
            out.insert(prefix.to_owned(), "—".to_owned());
        }
        Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

/// What changed from one revision's payload to the next: `(field, before, after)`; the revision
/// number itself, the manual flag (the producer column says it) and delivery bookkeeping are left
/// out.
fn changes(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<(String, String, String)> {
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| !k.ends_with("revision") && !k.contains("idempotency") && !k.ends_with("manual_override"))
        .filter_map(|k| {
            let (b, a) = (before.get(k).cloned().unwrap_or_else(|| "—".into()), after.get(k).cloned().unwrap_or_else(|| "—".into()));
            (a != b).then(|| (k.clone(), b, a))
        })
        .collect()
}

/// A change as people read it: `clock in` rather than `day.clock_in`, `07:45` on 2025-06-11
/// rather than an RFC 3339 instant (shown in the display zone).
fn readable(changed: Vec<(String, String, String)>, zone: chrono_tz::Tz) -> Vec<minijinja::Value> {
    let value = |v: String| match chrono::DateTime::parse_from_rfc3339(&v) {
        Ok(t) => t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string(),
        Err(_) => v,
    };
    changed
        .into_iter()
        .map(|(f, b, a)| {
            let field = f.rsplit('.').next().unwrap_or(&f).replace("_minutes", "").replace("_min", "").replace('_', " ");
            context! { field, before => value(b), after => value(a) }
        })
        .collect()
}

/// The value of the first leaf whose path ends with `suffix`.
fn leaf<'a>(fields: &'a BTreeMap<String, String>, suffix: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k.ends_with(suffix)).map(|(_, v)| v.as_str())
}

/// `datetime-local` value of a stored wall time.
fn input_time(local: Option<NaiveDateTime>) -> String {
    local.map(|t| t.format("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default()
}

/// The correction form as posted.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
struct CorrectionForm {
    clock_in: String,
    clock_out: String,
    status: String,
    reason: String,
}

async fn day_page(
    state: &AppState,
    principal: &Principal,
    id: &str,
    form: Option<&CorrectionForm>,
    errors: &BTreeMap<&'static str, String>,
    flash: Option<Flash>,
) -> Result<Html<String>, AppError> {
    let id = id.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| AppError::NotFound(format!("day {id:?}")))?;
    let (day, sync) = listing::processed_one(&state.store, id).await.map_err(|e| match e {
        StoreError::NotFound(_) => AppError::NotFound(format!("processed day {id}")),
        other => other.into(),
    })?;
    let zone = state.config.display_zone();
    let site = state.config.time_zone.0;
    let employee = EmployeeId(day.user_id.clone());
    let names = employees::names(&state.store, std::slice::from_ref(&employee)).await?;

    // The punches of the work date (site midnight to midnight), widened to the day's own clock-in
    // and clock-out so a night shift shows all of its punches.
    let midnight = |d: NaiveDate| WallTime(d.and_time(chrono::NaiveTime::MIN)).resolve(site).ok().map(|(t, _)| t.naive_utc());
    let from = [midnight(day.work_date), day.clock_in_utc].into_iter().flatten().min();
    let until = [day.work_date.succ_opt().and_then(midnight), day.clock_out_utc.map(|t| t + TimeDelta::minutes(1))].into_iter().flatten().max();
    let filter = RawFilter { user_id: Some(day.user_id.clone()), device: None, from_utc: from, until_utc: until };
    let punches = listing::raw_page(&state.store, &filter, 0, 200).await?;
    let device_names: HashMap<i64, String> = devices::list(&state.store).await?.into_iter().map(|d| (d.id.0, d.name)).collect();
    let punches: Vec<_> = punches
        .rows
        .iter()
        .rev()
        .map(|p| {
            let used = [day.clock_in_utc, day.clock_out_utc].contains(&Some(p.utc_time));
            context! {
                device_time => p.local_time.format("%Y-%m-%d %H:%M:%S").to_string(),
                device => device_names.get(&p.device_id).cloned().unwrap_or_else(|| format!("#{}", p.device_id)),
                state => super::punches::punch_state(p.punch_state), used,
            }
        })
        .collect();

    // The audit trail of this day; a correction's entry names the revision it made, so that
    // revision is labelled with who made it and what they changed.
    let parse = |v: &Option<String>| {
        let mut out = BTreeMap::new();
        if let Some(v) = v.as_deref().and_then(|v| serde_json::from_str::<Value>(v).ok()) {
            flatten("", &v, &mut out);
        }
        out
    };
    let entries = audit::for_target(&state.store, "processed_attendance", &id.to_string(), 50).await?;
    let mut manual: HashMap<i32, (String, Vec<(String, String, String)>)> = HashMap::new();
    let history: Vec<_> = entries
        .into_iter()
        .map(|e| {
            let after = parse(&e.new_value);
            let changed = changes(&parse(&e.old_value), &after);
            if e.action == crate::store::corrections::CORRECTION_ACTION
                && let Some(revision) = after.get("revision").and_then(|r| r.parse::<i32>().ok())
            {
                manual.entry(revision).or_insert_with(|| (e.actor.clone(), changed.clone()));
            }
            context! {
                at => shown_exact(Some(e.at), zone), actor => e.actor, action => e.action, reason => e.reason,
                changes => readable(changed, zone),
            }
        })
        .collect();

    // Revisions: each delivery carries one revision's payload; comparing neighbours says what
    // changed (a revision replaced before it was rendered has no payload to compare).
    let deliveries = outbox::for_day(&state.store, id).await?;
    let mut previous: Option<BTreeMap<String, String>> = None;
    let mut revisions = Vec::new();
    for (index, d) in deliveries.iter().enumerate() {
        let fields = d.body.as_deref().and_then(|b| serde_json::from_str::<Value>(b).ok()).map(|v| {
            let mut out = BTreeMap::new();
            flatten("", &v, &mut out);
            out
        });
        let by_hand = manual.get(&d.revision);
        let changed = match (by_hand, &previous, &fields) {
            (Some((_, changed)), _, _) => changed.clone(),
            (None, Some(p), Some(f)) => changes(p, f),
            _ => Vec::new(),
        };
        let producer = match by_hand {
            Some((actor, _)) => Some(format!("manual correction by {actor}")),
            None => fields
                .as_ref()
                .and_then(|f| Some(format!("{} {}", leaf(f, "rule_plugin")?, leaf(f, "rule_version").unwrap_or(""))))
                .or_else(|| (d.revision == day.revision).then(|| format!("{} {}", day.rule_plugin, day.rule_version))),
        };
        revisions.push(context! {
            revision => d.revision,
            status => d.status.as_str(),
            tone => match d.status {
                OutboxStatus::Delivered => "ok",
                OutboxStatus::Failed => "bad",
                OutboxStatus::Pending | OutboxStatus::InFlight => "info",
                OutboxStatus::Skipped | OutboxStatus::Superseded => "",
            },
            attempts => d.attempts,
            last_status => d.last_status,
            last_error => d.last_error.clone(),
            crm_id => d.crm_id.clone(),
            key => d.idempotency_key.clone(),
            queued => shown(Some(d.created_at), zone),
            delivered => shown(d.delivered_at, zone),
            producer,
            first => index == 0,
            has_body => fields.is_some() || by_hand.is_some(),
            compared => previous.is_some() || by_hand.is_some(),
            changes => readable(changed, zone),
        });
        if fields.is_some() {
            previous = fields;
        }
    }
    revisions.reverse();

    let fallback = CorrectionForm {
        clock_in: input_time(day.clock_in_local),
        clock_out: input_time(day.clock_out_local),
        status: day.status.clone(),
        reason: String::new(),
    };
    let form = form.unwrap_or(&fallback);
    let flags: Vec<String> = serde_json::from_str(&day.flags).unwrap_or_default();
    render(
        "web/admin/day.html",
        context! {
            day => context! {
                id => day.id,
                user_id => day.user_id.clone(),
                name => names.get(&employee).cloned(),
                date => day.work_date.format("%A %-d %B %Y").to_string(),
                shift => day.shift_code.clone(),
                status => day.status.clone(),
                clock_in => shown_exact(day.clock_in_utc, site),
                clock_out => shown_exact(day.clock_out_utc, site),
                worked => hours(day.worked_min), break_time => hours(day.break_min), payable => hours(day.payable_min),
                scheduled => hours(day.scheduled_min), overtime => hours(day.overtime_min),
                late => day.late_min, early => day.early_min, duplicates => day.duplicates,
                flags, reason => day.reason.clone(), is_final => day.is_final,
                revision => day.revision, plugin => day.rule_plugin.clone(), version => day.rule_version.clone(),
                manual => day.manual_override,
                synced => sync.synced, sync_status => sync.status.clone(), sync_error => sync.last_error.clone(),
            },
            punches, revisions, history,
            form => minijinja::value::Serde(form),
            errors => errors.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
            statuses => crate::plugins::contract::STATUSES,
            site_zone => site.name(),
            crm_configured => state.config.crm.api_url.is_some(),
            flash => minijinja::value::Serde(flash),
            ..frame(state, principal, Nav::Days)
        },
    )
}

/// `GET /admin/days/{id}`.
async fn one(_: AdminOnly, State(state): State<AppState>, Extension(principal): Extension<Principal>, Path(id): Path<String>, taken: TakenFlash) -> Result<Response, AppError> {
    let page = day_page(&state, &principal, &id, None, &BTreeMap::new(), taken.message()).await?;
    Ok((taken, page).into_response())
}

/// A `datetime-local` field as a site wall time and its instant; empty means "leave as it is".
fn stamp(raw: &str, site: chrono_tz::Tz) -> Result<Option<Stamp>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let local = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M"))
        .map_err(|_| "Not a date and time (YYYY-MM-DD HH:MM).".to_owned())?;
    let (utc, _) = WallTime(local).resolve(site).map_err(|_| "That time is out of range.".to_owned())?;
    Ok(Some(Stamp { local, utc: utc.naive_utc() }))
}

/// Checks the form against the stored day; `Correction` carries only what changed.
fn check(form: &CorrectionForm, day: &ProcessedDay, site: chrono_tz::Tz, actor: &str) -> Result<Correction, BTreeMap<&'static str, String>> {
    let mut errors = BTreeMap::new();
    let clock_in = stamp(&form.clock_in, site).map_err(|e| errors.insert("clock_in", e)).ok().flatten();
    let clock_out = stamp(&form.clock_out, site).map_err(|e| errors.insert("clock_out", e)).ok().flatten();
    let status = form.status.trim();
    if !status.is_empty() && AttendanceStatus::parse(status).is_none() {
        errors.insert("status", "Choose a status from the list.".to_owned());
    }
    let reason = form.reason.trim();
    if reason.is_empty() {
        errors.insert("reason", "Say why the day is corrected: it goes into the audit log.".to_owned());
    } else if reason.chars().count() > 2000 {
        errors.insert("reason", "Keep it under 2000 characters.".to_owned());
    }
    let new_in = clock_in.filter(|s| Some(s.local) != day.clock_in_local);
    let new_out = clock_out.filter(|s| Some(s.local) != day.clock_out_local);
    let new_status = AttendanceStatus::parse(status).filter(|s| day.status != *s);
    let effective_in = clock_in.map(|s| s.utc).or(day.clock_in_utc);
    let effective_out = clock_out.map(|s| s.utc).or(day.clock_out_utc);
    if let (Some(i), Some(o)) = (effective_in, effective_out)
        && o < i
    {
        errors.entry("clock_out").or_insert_with(|| "Clock-out is before clock-in.".to_owned());
    }
    if errors.is_empty() && new_in.is_none() && new_out.is_none() && new_status.is_none() {
        errors.insert("clock_in", "Nothing changed: change the clock-in, the clock-out or the status.".to_owned());
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Correction { clock_in: new_in.map(Some), clock_out: new_out.map(Some), status: new_status, reason: reason.to_owned(), actor: actor.to_owned() })
}

/// `POST /admin/days/{id}/correct`.
async fn correct(
    AdminOnly(user): AdminOnly,
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    Form(form): Form<CorrectionForm>,
) -> Result<Response, AppError> {
    let day_id = id.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| AppError::NotFound(format!("day {id:?}")))?;
    let (day, _) = listing::processed_one(&state.store, day_id).await.map_err(|e| match e {
        StoreError::NotFound(_) => AppError::NotFound(format!("processed day {day_id}")),
        other => other.into(),
    })?;
    let correction = match check(&form, &day, state.config.time_zone.0, &user.username) {
        Ok(c) => c,
        Err(errors) => {
            let page = day_page(&state, &principal, &id, Some(&form), &errors, None).await?;
            return Ok((axum::http::StatusCode::BAD_REQUEST, page).into_response());
        }
    };
    let corrected = match corrections::correct_day(&state.store, day_id, &correction).await {
        Ok(d) => d,
        Err(StoreError::Invalid(message)) => {
            let errors = BTreeMap::from([("clock_out", message)]);
            let page = day_page(&state, &principal, &id, Some(&form), &errors, None).await?;
            return Ok((axum::http::StatusCode::BAD_REQUEST, page).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let back = format!("/admin/days/{day_id}");
    if state.config.crm.api_url.is_none() {
        return Ok(Flash::ok(format!("Corrected: revision {} is kept as entered. No CRM is configured, so nothing is sent.", corrected.revision)).redirect(&back));
    }
    let selection = crate::pipeline::on_demand::selection(Some(day.work_date), Some(day.work_date), Some(day.user_id.clone()));
    start(&state, &user, Action::Sync(SyncOptions { selection, ..SyncOptions::default() })).await?;
    Ok(Flash::ok(format!("Corrected: revision {} is on its way to the CRM.", corrected.revision)).redirect(&back))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UndoForm {
    reason: String,
}

/// `POST /admin/days/{id}/undo`: back to the rules' result (processed now, sent as a new revision).
async fn undo(AdminOnly(user): AdminOnly, State(state): State<AppState>, Path(id): Path<String>, Form(form): Form<UndoForm>) -> Result<Response, AppError> {
    let day_id = id.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| AppError::NotFound(format!("day {id:?}")))?;
    let back = format!("/admin/days/{day_id}");
    let reason = form.reason.trim();
    if reason.is_empty() {
        return Ok(Flash::error("Say why the correction is undone: it goes into the audit log.").redirect(&back));
    }
    match corrections::undo_correction(&state.store, day_id, &user.username, reason).await {
        Ok(_) => {}
        Err(StoreError::Invalid(message)) => return Ok(Flash::error(message).redirect(&back)),
        Err(StoreError::NotFound(_)) => return Err(AppError::NotFound(format!("processed day {day_id}"))),
        Err(e) => return Err(e.into()),
    }
    start(&state, &user, Action::Process(None)).await?;
    Ok(Flash::ok("Correction undone: the rules process the day again, and a changed result goes to the CRM as a new revision.").redirect(&back))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_each_changed_leaf() {
        let parse = |s: &str| {
            let mut out = BTreeMap::new();
            flatten("", &serde_json::from_str(s).expect("json"), &mut out);
            out
        };
        let before = parse(r#"{"revision":1,"day":{"status":"present","clock_in":"08:00","worked_min":480}}"#);
        let after = parse(r#"{"revision":2,"day":{"status":"present","clock_in":"07:30","worked_min":null}}"#);
        let changed = changes(&before, &after);
        assert_eq!(
            changed,
            vec![("day.clock_in".into(), "08:00".into(), "07:30".into()), ("day.worked_min".into(), "480".into(), "—".into())]
        );
    }

    #[test]
    fn a_form_time_is_a_site_wall_time() {
        let s = stamp("2025-06-02T08:00", chrono_tz::Africa::Nairobi).expect("valid").expect("given");
        assert_eq!(s.utc.format("%H:%M").to_string(), "05:00");
        assert!(stamp("", chrono_tz::UTC).expect("empty").is_none());
        assert!(stamp("08:00", chrono_tz::UTC).is_err());
    }
}
