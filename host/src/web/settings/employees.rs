//! `/admin/employees`: the people the time clocks know, their names, whether they are processed,
//! their weekly pattern and their per-date roster entries.
//!
//! A change to whom a day belongs (pattern, per-date entry, active again) marks that person's
//! affected days for re-processing and says how many.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use chrono::{NaiveDate, Utc};
use minijinja::context;

use super::super::view::{Flash, Nav, TakenFlash, frame, render};
use super::super::{AdminOnly, AppError, AppState, Principal};
use super::{plural, record, shown};
use crate::domain::EmployeeId;
use crate::store::employees::{self, Employee};
use crate::store::rosters::{self, Affected};
use crate::store::StoreError;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/employees", get(list))
        .route("/admin/employees/{code}", get(show).post(update))
        .route("/admin/employees/{code}/pattern", post(set_pattern))
        .route("/admin/employees/{code}/roster", post(set_date))
}

const WEEKDAYS: [(&str, &str); 7] = [("mon", "Mon"), ("tue", "Tue"), ("wed", "Wed"), ("thu", "Thu"), ("fri", "Fri"), ("sat", "Sat"), ("sun", "Sun")];

/// The employee's page, its code percent-encoded as one path segment.
fn href(code: &EmployeeId) -> String {
    let segment: String = url::form_urlencoded::byte_serialize(code.0.as_bytes()).collect();
    format!("/admin/employees/{}", segment.replace('+', "%20"))
}

/// "DAY on Mon–Fri · otherwise DAY", or "Unscheduled".
fn pattern(e: &Employee) -> String {
    let days: Vec<&str> = e.weekly_days.split(',').filter(|d| !d.is_empty()).collect();
    let day_names = |days: &[&str]| -> String {
        let shown: Vec<&str> = WEEKDAYS.iter().filter(|(k, _)| days.contains(k)).map(|(_, l)| *l).collect();
        match shown.as_slice() {
            ["Mon", "Tue", "Wed", "Thu", "Fri"] => "on Mon–Fri".to_owned(),
            ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] => "every day".to_owned(),
            _ => format!("on {}", shown.join(", ")),
        }
    };
    match (&e.weekly_shift, &e.default_shift) {
        (Some(w), Some(d)) if w != d => format!("{w} {} · other days grouped as {d}", day_names(&days)),
        (Some(w), _) => format!("{w} {}", day_names(&days)),
        (None, Some(d)) => format!("grouped as {d}, no weekly shift"),
        (None, None) => "Unscheduled".to_owned(),
    }
}

async fn list(State(state): State<AppState>, AdminOnly(_): AdminOnly, taken: TakenFlash, Extension(principal): Extension<Principal>) -> Result<impl IntoResponse, AppError> {
    let people = employees::list(&state.store).await?;
    let active = people.iter().filter(|e| e.active).count();
    let rows: Vec<_> = people
        .iter()
        .map(|e| context! { code => e.code.0.clone(), href => href(&e.code), name => e.name.clone(), active => e.active, pattern => pattern(e), scheduled => e.weekly_shift.is_some() || e.default_shift.is_some() })
        .collect();
    Ok((
        taken.clone(),
        render(
            "web/settings/employees.html",
            context! { employees => rows, total => people.len(), active, flash => shown(taken.message()), ..frame(&state, &principal, Nav::Employees) },
        )?,
    ))
}

async fn find(state: &AppState, code: &str) -> Result<Employee, AppError> {
    employees::get(&state.store, &EmployeeId(code.to_owned())).await?.ok_or_else(|| AppError::NotFound(format!("employee {code:?}")))
}

async fn show(
    State(state): State<AppState>,
    AdminOnly(_): AdminOnly,
    taken: TakenFlash,
    Extension(principal): Extension<Principal>,
    Path(code): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let employee = find(&state, &code).await?;
    let today = Utc::now().with_timezone(&state.config.time_zone.0).date_naive();
    let from = today - chrono::Days::new(31);
    let to = today + chrono::Days::new(62);
    let entries: Vec<_> = rosters::roster_between(&state.store, &employee.code, from, to)
        .await?
        .into_iter()
        .map(|(date, shift)| context! { date => date.to_string(), weekday => date.format("%a").to_string(), shift, past => date < today })
        .collect();
    let shifts: Vec<_> = rosters::list_templates(&state.store)
        .await?
        .into_iter()
        .map(|t| context! { code => t.code.clone(), label => format!("{} · {}–{}{}", t.code, t.start_time, t.end_time, if t.name.is_empty() { String::new() } else { format!(" ({})", t.name) }) })
        .collect();
    let days: Vec<&str> = employee.weekly_days.split(',').collect();
    let weekdays: Vec<_> = WEEKDAYS.iter().map(|(k, l)| context! { key => *k, label => *l, on => days.contains(k) }).collect();
    render(
        "web/settings/employee.html",
        context! {
            employee => context! {
                code => employee.code.0.clone(), href => href(&employee.code), name => employee.name.clone(), active => employee.active,
                weekly_shift => employee.weekly_shift.clone(), default_shift => employee.default_shift.clone(), pattern => pattern(&employee),
            },
            entries, shifts, weekdays, today => today.to_string(), from => from.to_string(), to => to.to_string(),
            flash => shown(taken.message()), ..frame(&state, &principal, Nav::Employees)
        },
    )
    .map(|page| (taken, page))
}

#[derive(Debug, serde::Deserialize)]
struct EmployeeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    active: Option<String>,
}

async fn update(State(state): State<AppState>, AdminOnly(admin): AdminOnly, Path(code): Path<String>, Form(form): Form<EmployeeForm>) -> Result<Response, AppError> {
    let before = find(&state, &code).await?;
    let active = form.active.is_some();
    let name = form.name.trim();
    let after = match employees::update(&state.store, &before.code, Some(name), active).await {
        Ok(after) => after,
        Err(StoreError::Invalid(message)) => return Ok(Flash::error(message).redirect(&href(&before.code))),
        Err(e) => return Err(e.into()),
    };
    let show = |e: &Employee| serde_json::json!({ "name": e.name, "active": e.active });
    record(&state, &admin.username, "employee.update", ("employee", Some(code.clone())), Some(show(&before)), Some(show(&after))).await?;
    let mut message = format!("Saved {code}.");
    if active && !before.active {
        let marked = rosters::mark_affected(&state.store, &Affected::Employee(before.code.clone())).await?;
        message.push_str(&format!(" Active again: {} marked for re-processing.", plural(marked, "day", "days")));
    } else if !active && before.active {
        message.push_str(" Inactive: kept for history, no longer processed.");
    }
    Ok(Flash::ok(message).redirect(&href(&before.code)))
}

/// Checks that a shift code names a template.
async fn known_shift(state: &AppState, code: &str) -> Result<bool, AppError> {
    Ok(rosters::list_templates(&state.store).await?.iter().any(|t| t.code == code))
}

async fn set_pattern(
    State(state): State<AppState>,
    AdminOnly(admin): AdminOnly,
    Path(code): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let back = href(&EmployeeId(code.clone()));
    let before = find(&state, &code).await?;
    let pick = |k: &str| form.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let weekly = pick("weekly_shift");
    let default = pick("default_shift");
    for shift in weekly.iter().chain(default.iter()) {
        if !known_shift(&state, shift).await? {
            return Ok(Flash::error(format!("There is no shift {shift}.")).redirect(&back));
        }
    }
    let days: Vec<&str> = WEEKDAYS.iter().map(|(k, _)| *k).filter(|k| form.contains_key(&format!("day_{k}"))).collect();
    if weekly.is_some() && days.is_empty() {
        return Ok(Flash::error("Pick the weekdays the weekly shift is worked.").redirect(&back));
    }
    let days = days.join(",");
    employees::set_pattern(&state.store, &before.code, default.as_deref(), weekly.as_deref(), &days).await?;
    let marked = rosters::mark_affected(&state.store, &Affected::Employee(before.code.clone())).await?;
    record(
        &state,
        &admin.username,
        "employee.pattern",
        ("employee", Some(code.clone())),
        Some(serde_json::json!({ "weekly_shift": before.weekly_shift, "weekly_days": before.weekly_days, "default_shift": before.default_shift })),
        Some(serde_json::json!({ "weekly_shift": weekly, "weekly_days": days, "default_shift": default })),
    )
    .await?;
    Ok(Flash::ok(format!("Saved {code}'s weekly pattern. {} marked for re-processing.", plural(marked, "day", "days"))).redirect(&back))
}

#[derive(Debug, serde::Deserialize)]
struct DateForm {
    date: String,
    /// A template code, `off`, or `clear` (back to the weekly pattern).
    shift: String,
}

async fn set_date(State(state): State<AppState>, AdminOnly(admin): AdminOnly, Path(code): Path<String>, Form(form): Form<DateForm>) -> Result<Response, AppError> {
    let back = href(&EmployeeId(code.clone()));
    let employee = find(&state, &code).await?;
    let Ok(date) = NaiveDate::parse_from_str(form.date.trim(), "%Y-%m-%d") else {
        return Ok(Flash::error("Pick a date.").redirect(&back));
    };
    let what = match form.shift.as_str() {
        "clear" => {
            rosters::clear_roster(&state.store, &employee.code, date).await?;
            "the weekly pattern".to_owned()
        }
        "off" => {
            rosters::set_roster(&state.store, &employee.code, date, None).await?;
            "a day off".to_owned()
        }
        shift => {
            if !known_shift(&state, shift).await? {
                return Ok(Flash::error(format!("There is no shift {shift}.")).redirect(&back));
            }
            rosters::set_roster(&state.store, &employee.code, date, Some(shift)).await?;
            format!("shift {shift}")
        }
    };
    let marked = rosters::mark_affected(&state.store, &Affected::EmployeeDay(employee.code.clone(), date)).await?;
    record(&state, &admin.username, "roster.set", ("employee", Some(code.clone())), None, Some(serde_json::json!({ "date": date, "shift": form.shift }))).await?;
    Ok(Flash::ok(format!("{code} on {date}: {what}. {} marked for re-processing.", plural(marked, "day", "days"))).redirect(&back))
}
