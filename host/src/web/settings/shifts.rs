//! `/admin/shifts`: shift templates with every rule parameter, holidays, and re-processing of the
//! days a change touches.
//!
//! A saved template, a removed one or a holiday marks the employee-days it can alter for
//! re-processing ([`rosters::mark_affected`]) and says how many; "Re-process now" starts the same
//! processing run the API's `process` action starts.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::NaiveDate;
use minijinja::context;

use super::super::view::{Flash, Nav, TakenFlash, frame, render};
use super::super::{AdminOnly, AppError, AppState, Principal};
use super::{plural, record, shown};
use crate::pipeline::on_demand::{self, Action};
use crate::store::rosters::{self, Affected, RoundingMode, ShiftTemplate};
use crate::store::{StoreError, pending};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/shifts", get(list).post(save))
        .route("/admin/shifts/new", get(new_form))
        .route("/admin/shifts/reprocess", post(reprocess))
        .route("/admin/shifts/holidays", post(add_holiday))
        .route("/admin/shifts/holidays/{date}/remove", post(remove_holiday))
        .route("/admin/shifts/{code}", get(edit_form))
        .route("/admin/shifts/{code}/remove", post(remove))
}

/// How a parameter is edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Minutes,
    Seconds,
    Time,
}

/// One rule parameter: form key, label, group, what it does, and its unit.
struct Param {
    key: &'static str,
    label: &'static str,
    group: &'static str,
    help: &'static str,
    kind: Kind,
}

/// Every parameter of [`ShiftTemplate`] besides code, name, start and end, grouped as the rules
/// documentation groups them (`shift-rules.md` §6.1).
const PARAMS: &[Param] = &[
    Param { key: "early_in_window_min", label: "Earliest clock-in before start", group: "Which punches belong to the shift", help: "A punch this many minutes before the start still opens the shift.", kind: Kind::Minutes },
    Param { key: "late_out_window_min", label: "Latest clock-out after end", group: "Which punches belong to the shift", help: "A punch this many minutes after the end still closes the shift.", kind: Kind::Minutes },
    Param { key: "dedup_window_s", label: "Double punches within", group: "Which punches belong to the shift", help: "Punches closer than this many seconds count once.", kind: Kind::Seconds },
    Param { key: "unscheduled_day_boundary", label: "Day boundary when unscheduled", group: "Which punches belong to the shift", help: "Local time that splits days of people without a roster.", kind: Kind::Time },
    Param { key: "late_grace_min", label: "Lateness forgiven", group: "Lateness and early leaving", help: "Arriving up to this many minutes late is not late.", kind: Kind::Minutes },
    Param { key: "early_grace_min", label: "Early leaving forgiven", group: "Lateness and early leaving", help: "Leaving up to this many minutes early is not early.", kind: Kind::Minutes },
    Param { key: "late_in_outlier_min", label: "Flag clock-in later than", group: "Lateness and early leaving", help: "A clock-in this late is flagged for review.", kind: Kind::Minutes },
    Param { key: "early_out_outlier_min", label: "Flag clock-out earlier than", group: "Lateness and early leaving", help: "A clock-out this early is flagged for review.", kind: Kind::Minutes },
    Param { key: "min_span_min", label: "Shortest plausible day", group: "Worked time", help: "A day shorter than this is flagged.", kind: Kind::Minutes },
    Param { key: "overtime_min_min", label: "Overtime counted from", group: "Worked time", help: "Overtime below this many minutes is not counted.", kind: Kind::Minutes },
    Param { key: "absent_below_min", label: "Absent below", group: "Worked time", help: "Worked less than this counts as absent (0 = off).", kind: Kind::Minutes },
    Param { key: "half_day_below_min", label: "Half day below", group: "Worked time", help: "Worked less than this counts as half a day (0 = off).", kind: Kind::Minutes },
    Param { key: "rounding_interval_min", label: "Round worked time to", group: "Worked time", help: "Minutes; leave empty for no rounding.", kind: Kind::Minutes },
    Param { key: "settle_min", label: "Final after", group: "When a day is final", help: "Minutes after the clock-out window closes before a day is final.", kind: Kind::Minutes },
];

/// The rounding modes the rules know, with their labels.
const ROUNDING_MODES: &[(Option<RoundingMode>, &str)] = &[
    (None, "No rounding"),
    (Some(RoundingMode::NearestHalfUp), "To the nearest (half up)"),
    (Some(RoundingMode::Up), "Always up"),
    (Some(RoundingMode::Down), "Always down"),
];

fn value_of(t: &ShiftTemplate, key: &str) -> String {
    match key {
        "early_in_window_min" => t.early_in_window_min.to_string(),
        "late_out_window_min" => t.late_out_window_min.to_string(),
        "dedup_window_s" => t.dedup_window_s.to_string(),
        "unscheduled_day_boundary" => t.unscheduled_day_boundary.clone(),
        "late_grace_min" => t.late_grace_min.to_string(),
        "early_grace_min" => t.early_grace_min.to_string(),
        "late_in_outlier_min" => t.late_in_outlier_min.to_string(),
        "early_out_outlier_min" => t.early_out_outlier_min.to_string(),
        "min_span_min" => t.min_span_min.to_string(),
        "overtime_min_min" => t.overtime_min_min.to_string(),
        "absent_below_min" => t.absent_below_min.to_string(),
        "half_day_below_min" => t.half_day_below_min.to_string(),
        "rounding_interval_min" => t.rounding_interval_min.map(|v| v.to_string()).unwrap_or_default(),
        "settle_min" => t.settle_min.to_string(),
        _ => String::new(),
    }
}

fn defaults() -> ShiftTemplate {
    let nine = chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default();
    let five = chrono::NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default();
    ShiftTemplate::new("", nine, five)
}

/// The form's fields for the template: grouped parameters with value and default.
fn groups(values: &HashMap<String, String>, errors: &BTreeMap<String, String>) -> Vec<minijinja::Value> {
    let defaults = defaults();
    let mut out: Vec<(&str, Vec<minijinja::Value>)> = Vec::new();
    for p in PARAMS {
        let field = context! {
            key => p.key, label => p.label, help => p.help,
            unit => match p.kind { Kind::Minutes => "min", Kind::Seconds => "s", Kind::Time => "" },
            is_time => p.kind == Kind::Time,
            value => values.get(p.key).cloned().unwrap_or_default(),
            default => { let d = value_of(&defaults, p.key); if d.is_empty() { "none".to_owned() } else { d } },
            error => errors.get(p.key).cloned(),
        };
        match out.iter_mut().find(|(g, _)| *g == p.group) {
            Some((_, fields)) => fields.push(field),
            None => out.push((p.group, vec![field])),
        }
    }
    out.into_iter().map(|(name, fields)| context! { name, fields }).collect()
}

fn template_values(t: &ShiftTemplate) -> HashMap<String, String> {
    let mut values: HashMap<String, String> = PARAMS.iter().map(|p| (p.key.to_owned(), value_of(t, p.key))).collect();
    values.insert("code".into(), t.code.clone());
    values.insert("name".into(), t.name.clone());
    values.insert("start_time".into(), t.start_time.clone());
    values.insert("end_time".into(), t.end_time.clone());
    values.insert("rounding_mode".into(), t.rounding_mode.map(|m| m.as_str().to_owned()).unwrap_or_default());
    values
}

async fn list(State(state): State<AppState>, AdminOnly(_): AdminOnly, taken: TakenFlash, axum::Extension(principal): axum::Extension<Principal>) -> Result<impl IntoResponse, AppError> {
    let templates = rosters::list_templates(&state.store).await?;
    let people = crate::store::employees::list(&state.store).await?;
    let defaults = defaults();
    let rows: Vec<_> = templates
        .iter()
        .map(|t| {
            let used_by = people.iter().filter(|e| e.default_shift.as_deref() == Some(&t.code) || e.weekly_shift.as_deref() == Some(&t.code)).count();
            let changed: Vec<String> = PARAMS
                .iter()
                .filter(|p| value_of(t, p.key) != value_of(&defaults, p.key))
                .map(|p| format!("{} {}", p.label.to_lowercase(), value_of(t, p.key)))
                .collect();
            let night = t.end_time <= t.start_time;
            context! {
                code => t.code.clone(), name => t.name.clone(), start => t.start_time.clone(), end => t.end_time.clone(), night,
                grace => format!("{} / {}", t.late_grace_min, t.early_grace_min),
                rounding => t.rounding_interval_min.map(|i| format!("{i} min, {}", t.rounding_mode.map_or("", |m| m.as_str()).replace('_', " "))),
                used_by, changed,
            }
        })
        .collect();
    let holidays: Vec<_> = rosters::list_holidays(&state.store)
        .await?
        .into_iter()
        .map(|(date, name)| context! { date => date.to_string(), weekday => date.format("%a").to_string(), name })
        .collect();
    let waiting = pending::count(&state.store).await?;
    Ok((
        taken.clone(),
        render(
            "web/settings/shifts.html",
            context! { templates => rows, holidays, waiting, flash => shown(taken.message()), ..frame(&state, &principal, Nav::Shifts) },
        )?,
    ))
}

async fn new_form(State(state): State<AppState>, AdminOnly(_): AdminOnly, axum::Extension(principal): axum::Extension<Principal>) -> Result<Html<String>, AppError> {
    let mut values = template_values(&defaults());
    values.insert("start_time".into(), String::new());
    values.insert("end_time".into(), String::new());
    form_page(&state, &principal, &values, &BTreeMap::new(), true)
}

async fn edit_form(
    State(state): State<AppState>,
    AdminOnly(_): AdminOnly,
    axum::Extension(principal): axum::Extension<Principal>,
    Path(code): Path<String>,
) -> Result<Html<String>, AppError> {
    let template = rosters::list_templates(&state.store)
        .await?
        .into_iter()
        .find(|t| t.code == code)
        .ok_or_else(|| AppError::NotFound(format!("shift {code:?}")))?;
    form_page(&state, &principal, &template_values(&template), &BTreeMap::new(), false)
}

fn form_page(
    state: &AppState,
    principal: &Principal,
    values: &HashMap<String, String>,
    errors: &BTreeMap<String, String>,
    is_new: bool,
) -> Result<Html<String>, AppError> {
    let modes: Vec<_> = ROUNDING_MODES.iter().map(|(v, l)| context! { value => v.map_or("", RoundingMode::as_str), label => *l }).collect();
    render(
        "web/settings/shift_form.html",
        context! {
            is_new, values => values.clone(), errors => errors.clone(), groups => groups(values, errors), modes,
            ..frame(state, principal, Nav::Shifts)
        },
    )
}

/// A template from the posted form, or the fields that are wrong.
fn parse_template(form: &HashMap<String, String>) -> Result<ShiftTemplate, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let text = |k: &str| form.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let code = text("code");
    if code.is_empty() || code.len() > 20 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        errors.insert("code".into(), "1 to 20 letters, digits, - or _".into());
    }
    let time = |k: &str, errors: &mut BTreeMap<String, String>| match chrono::NaiveTime::parse_from_str(&text(k), "%H:%M") {
        Ok(t) => t,
        Err(_) => {
            errors.insert(k.into(), "a time like 08:00".into());
            chrono::NaiveTime::MIN
        }
    };
    let start = time("start_time", &mut errors);
    let end = time("end_time", &mut errors);
    let mut t = ShiftTemplate::new(&code, start, end);
    t.name = text("name").chars().take(100).collect();
    let number = |k: &str, errors: &mut BTreeMap<String, String>| -> Option<i32> {
        let v = text(k);
        if v.is_empty() {
            return None;
        }
        match v.parse::<i32>() {
            Ok(n) if (0..=100_000).contains(&n) => Some(n),
            _ => {
                errors.insert(k.into(), "a whole number, 0 or more".into());
                None
            }
        }
    };
    let defaults = defaults();
    for p in PARAMS {
        if p.kind == Kind::Time {
            let v = text(p.key);
            if chrono::NaiveTime::parse_from_str(&v, "%H:%M").is_err() {
                errors.insert(p.key.into(), "a time like 04:00".into());
            }
            t.unscheduled_day_boundary = v;
            continue;
        }
        let value = number(p.key, &mut errors);
        let or_default = |v: Option<i32>, d: i32| v.unwrap_or(d);
        match p.key {
            "early_in_window_min" => t.early_in_window_min = or_default(value, defaults.early_in_window_min),
            "late_out_window_min" => t.late_out_window_min = or_default(value, defaults.late_out_window_min),
            "dedup_window_s" => t.dedup_window_s = or_default(value, defaults.dedup_window_s),
            "late_grace_min" => t.late_grace_min = or_default(value, defaults.late_grace_min),
            "early_grace_min" => t.early_grace_min = or_default(value, defaults.early_grace_min),
            "late_in_outlier_min" => t.late_in_outlier_min = or_default(value, defaults.late_in_outlier_min),
            "early_out_outlier_min" => t.early_out_outlier_min = or_default(value, defaults.early_out_outlier_min),
            "min_span_min" => t.min_span_min = or_default(value, defaults.min_span_min),
            "overtime_min_min" => t.overtime_min_min = or_default(value, defaults.overtime_min_min),
            "absent_below_min" => t.absent_below_min = or_default(value, defaults.absent_below_min),
            "half_day_below_min" => t.half_day_below_min = or_default(value, defaults.half_day_below_min),
            "rounding_interval_min" => t.rounding_interval_min = value.filter(|v| *v > 0),
            "settle_min" => t.settle_min = or_default(value, defaults.settle_min),
            _ => {}
        }
    }
    let mode = text("rounding_mode");
    t.rounding_mode = match mode.parse() {
        Ok(mode) => Some(mode),
        Err(_) if mode.is_empty() => None,
        // What `ShiftTemplate::validate` says of a rounding without a valid mode.
        Err(_) => {
            errors.insert("form".into(), "rounding needs a positive interval and a mode: nearest_half_up, up or down".into());
            None
        }
    };
    if errors.is_empty()
        && let Err(e) = t.validate()
    {
        errors.insert("form".into(), e);
    }
    if errors.is_empty() { Ok(t) } else { Err(errors) }
}

/// Creates or replaces a template, then marks the days it can change.
async fn save(
    State(state): State<AppState>,
    AdminOnly(admin): AdminOnly,
    axum::Extension(principal): axum::Extension<Principal>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let is_new = form.get("is_new").is_some_and(|v| v == "1");
    let template = match parse_template(&form) {
        Ok(t) => t,
        Err(errors) => return Ok(form_page(&state, &principal, &form, &errors, is_new)?.into_response()),
    };
    let before = rosters::list_templates(&state.store).await?.into_iter().find(|t| t.code == template.code);
    if is_new && before.is_some() {
        let errors = BTreeMap::from([("code".to_owned(), format!("a shift {} exists already; edit it instead", template.code))]);
        return Ok(form_page(&state, &principal, &form, &errors, is_new)?.into_response());
    }
    match rosters::save_template(&state.store, &template).await {
        Ok(()) => {}
        Err(StoreError::Invalid(message)) => {
            let errors = BTreeMap::from([("form".to_owned(), message)]);
            return Ok(form_page(&state, &principal, &form, &errors, is_new)?.into_response());
        }
        Err(e) => return Err(e.into()),
    }
    let marked = rosters::mark_affected(&state.store, &Affected::Template(template.code.clone())).await?;
    let show = |t: &ShiftTemplate| serde_json::Value::Object(template_values(t).into_iter().map(|(k, v)| (k, v.into())).collect());
    record(&state, &admin.username, "shift.save", ("shift_template", Some(template.code.clone())), before.as_ref().map(show), Some(show(&template))).await?;
    Ok(Flash::ok(format!(
        "Saved shift {}. {} marked for re-processing.",
        template.code,
        plural(marked, "employee-day", "employee-days")
    ))
    .redirect("/admin/shifts"))
}

async fn remove(State(state): State<AppState>, AdminOnly(admin): AdminOnly, Path(code): Path<String>) -> Result<Response, AppError> {
    // Marked first: once the template is gone, the stored days still name it.
    let marked = rosters::mark_affected(&state.store, &Affected::Template(code.clone())).await?;
    match rosters::remove_template(&state.store, &code).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Ok(Flash::error(format!("There is no shift {code}.")).redirect("/admin/shifts")),
        Err(e) => return Err(e.into()),
    }
    record(&state, &admin.username, "shift.remove", ("shift_template", Some(code.clone())), None, None).await?;
    Ok(Flash::ok(format!("Removed shift {code}. {} marked for re-processing.", plural(marked, "employee-day", "employee-days"))).redirect("/admin/shifts"))
}

#[derive(Debug, serde::Deserialize)]
struct HolidayForm {
    date: String,
    #[serde(default)]
    name: String,
}

async fn add_holiday(State(state): State<AppState>, AdminOnly(admin): AdminOnly, Form(form): Form<HolidayForm>) -> Result<Response, AppError> {
    let Ok(date) = NaiveDate::parse_from_str(form.date.trim(), "%Y-%m-%d") else {
        return Ok(Flash::error("A holiday needs a date.").redirect("/admin/shifts"));
    };
    let name: String = form.name.trim().chars().filter(|c| !c.is_control()).take(100).collect();
    rosters::add_holiday(&state.store, date, &name).await?;
    let marked = rosters::mark_affected(&state.store, &Affected::Day(date)).await?;
    record(&state, &admin.username, "holiday.add", ("holiday", Some(date.to_string())), None, Some(serde_json::json!({ "name": name }))).await?;
    Ok(Flash::ok(format!("{date} is a holiday. {} marked for re-processing.", plural(marked, "employee-day", "employee-days"))).redirect("/admin/shifts"))
}

async fn remove_holiday(State(state): State<AppState>, AdminOnly(admin): AdminOnly, Path(date): Path<String>) -> Result<Response, AppError> {
    let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d").map_err(|_| AppError::BadRequest(format!("{date:?} is not a date")))?;
    match rosters::remove_holiday(&state.store, date).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Ok(Flash::error(format!("{date} is not a holiday.")).redirect("/admin/shifts")),
        Err(e) => return Err(e.into()),
    }
    let marked = rosters::mark_affected(&state.store, &Affected::Day(date)).await?;
    record(&state, &admin.username, "holiday.remove", ("holiday", Some(date.to_string())), None, None).await?;
    Ok(Flash::ok(format!("{date} is a working day again. {} marked for re-processing.", plural(marked, "employee-day", "employee-days")))
        .redirect("/admin/shifts"))
}

/// Starts processing what is marked (the API's `process` action), instead of waiting for the schedule.
async fn reprocess(State(state): State<AppState>, AdminOnly(admin): AdminOnly) -> Result<Response, AppError> {
    let waiting = pending::count(&state.store).await?;
    let run = on_demand::trigger(&state.store, &state.config, Action::Process(None)).await?;
    record(&state, &admin.username, "job.run", ("job", Some(Action::Process(None).run_name())), None, Some(serde_json::json!({ "run": run.run_id }))).await?;
    Ok(Flash::info(format!("Re-processing {} (run {}); reload to follow it.", plural(usize::try_from(waiting).unwrap_or(0), "day", "days"), run.run_id))
        .redirect("/admin/shifts"))
}
