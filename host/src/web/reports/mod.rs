//! `/reports`: the list of reports, and one page per report (`/reports/{slug}`) with its period
//! picker, employee and shift filters, sortable columns, print layout and downloads
//! (`?format=csv`, `?format=xlsx`). Every report is a [`Table`] from [`crate::reports::build`]: one
//! handler and one template render them all, so the page, the files and the scheduled e-mails carry
//! the same numbers. Viewers may open all of it; nothing here changes data.

mod chart;

use std::collections::BTreeSet;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{Datelike, NaiveDate, TimeDelta};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::auth::Principal;
use super::view::{Nav, frame, render};
use super::{AppError, AppState};
use crate::domain::EmployeeId;
use crate::reports::{self, Cell, ColumnKind, ReportError, ReportKind, ReportRequest, Table};
use crate::store::{employees, rosters};

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("web/reports/index.html", include_str!("../../../../templates/web/reports/index.html")),
    ("web/reports/table.html", include_str!("../../../../templates/web/reports/table.html")),
];

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/reports", get(index)).route("/reports/", get(index)).route("/reports/{slug}", get(report))
}

/// What each report is for, on the index page.
fn description(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::DailyAttendance => "One row per employee for a day: shift, scheduled and actual times, worked, break, payable, overtime, late and early minutes, status.",
        ReportKind::MonthlyTimesheet => "The month at a glance: a status code per employee and day (P, A, L, H, O, HD, M), with present, absent, late, early and hour totals for payroll.",
        ReportKind::LateEarly => "Every late arrival and early exit of a period, with the scheduled and actual times and the minutes.",
        ReportKind::Absent => "Scheduled days nobody clocked in, by date and employee.",
        ReportKind::MissingPunches => "Days with a clock-in but no clock-out (or the reverse) and single punches, with the punches that are there.",
        ReportKind::Outliers => "Days the rules flagged as unusual, with the reason and the raw punches behind each one.",
        ReportKind::FirstLastPunch => "The first and last punch of each employee and day, and the time between them.",
        ReportKind::PunchDetails => "Every punch as the time clocks recorded it: time, device, punch state and verification.",
        ReportKind::EmployeeHistory => "One employee's days and punches over a period, with a chart of the hours worked.",
    }
}

async fn index(State(state): State<AppState>, Extension(principal): Extension<Principal>) -> Result<impl IntoResponse, AppError> {
    let reports: Vec<Value> = ReportKind::ALL
        .iter()
        .map(|k| context! { slug => k.slug(), title => k.title(), description => description(*k) })
        .collect();
    render("web/reports/index.html", context! { reports, ..frame(&state, &principal, Nav::Reports) })
}

/// The page's query: the period (by kind), filters, sorting and the download format.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub(super) struct ReportQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    month: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    employee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shift: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    desc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    format: Option<String>,
}

/// How the period is picked on a report's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Picker {
    Day,
    Month,
    Range,
}

fn picker(kind: ReportKind) -> Picker {
    match kind {
        ReportKind::DailyAttendance => Picker::Day,
        ReportKind::MonthlyTimesheet => Picker::Month,
        _ => Picker::Range,
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn parse_date(name: &str, value: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| format!("{name} must be a date like 2026-11-30, not {value:?}"))
}

/// The request the query asks for (defaults: today, this month, the last seven days), or why not.
fn request_from(kind: ReportKind, query: &ReportQuery, today: NaiveDate) -> Result<ReportRequest, String> {
    let (from, to) = match picker(kind) {
        Picker::Day => {
            let day = non_empty(&query.date).map(|d| parse_date("The date", d)).transpose()?.unwrap_or(today);
            (day, day)
        }
        Picker::Month => {
            let first = match non_empty(&query.month) {
                Some(m) => NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").map_err(|_| format!("The month must look like 2026-11, not {m:?}"))?,
                None => today.with_day(1).unwrap_or(today),
            };
            reports::month_of(first)
        }
        Picker::Range => {
            let default_days = if kind == ReportKind::EmployeeHistory { 29 } else { 6 };
            let to = non_empty(&query.to).map(|d| parse_date("The end date", d)).transpose()?.unwrap_or(today);
            let from = non_empty(&query.from).map(|d| parse_date("The start date", d)).transpose()?.unwrap_or(to - TimeDelta::days(default_days));
            (from, to)
        }
    };
    Ok(ReportRequest {
        kind,
        from,
        to,
        employee: non_empty(&query.employee).map(|e| EmployeeId(e.to_owned())),
        shift: non_empty(&query.shift).map(str::to_owned),
        sort: non_empty(&query.sort).map(str::to_owned),
        descending: non_empty(&query.desc).is_some_and(|d| d == "1" || d == "true"),
    })
}

/// Download formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Html,
    Csv,
    Xlsx,
}

async fn report(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(slug): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let Some(kind) = ReportKind::from_slug(&slug) else {
        return Err(AppError::NotFound(format!("there is no report called {slug:?}")));
    };
    let format = match non_empty(&query.format) {
        None | Some("html") => Format::Html,
        Some("csv") => Format::Csv,
        Some("xlsx") => Format::Xlsx,
        Some(other) => return Err(AppError::BadRequest(format!("unknown format {other:?}: use csv or xlsx"))),
    };
    let zone = state.config.display_zone();
    let today = chrono::Utc::now().with_timezone(&zone).date_naive();
    let request = request_from(kind, &query, today);
    let needs_employee = kind == ReportKind::EmployeeHistory && request.as_ref().is_ok_and(|r| r.employee.is_none());
    let built = match &request {
        Ok(request) if !needs_employee => match reports::build(&state.store, &state.config, request, &principal.user.username).await {
            Ok(table) => Ok(table),
            Err(ReportError::Invalid(message)) => Err(message),
            Err(e) => return Err(AppError::Internal(e.to_string())),
        },
        Ok(_) => Err(String::new()),
        Err(message) => Err(message.clone()),
    };
    match (format, built) {
        (Format::Csv, Ok(table)) => Ok(download(&table, "csv", "text/csv; charset=utf-8", reports::csv::to_csv(&table))),
        (Format::Xlsx, Ok(table)) => {
            let bytes = reports::xlsx::to_xlsx(&table).map_err(|e| AppError::Internal(e.to_string()))?;
            Ok(download(&table, "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", bytes))
        }
        (Format::Csv | Format::Xlsx, Err(message)) => {
            Err(AppError::BadRequest(if message.is_empty() { "choose an employee".into() } else { message }))
        }
        (Format::Html, built) => page(&state, &principal, kind, &query, request.ok(), built).await,
    }
}

fn download(table: &Table, extension: &str, content_type: &'static str, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{}.{extension}\"", table.file_stem());
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response()
}

/// A cell as the page shows it.
#[derive(Debug, Serialize)]
struct CellView {
    text: String,
    class: &'static str,
}

/// A column header: its text, alignment and sort link.
#[derive(Debug, Serialize)]
struct ColumnView {
    key: String,
    title: String,
    sub: Option<String>,
    class: &'static str,
    href: String,
    sorted: Option<&'static str>,
}

/// Extra layout by column: names stay on one line, long texts get room to wrap.
fn column_class(key: &str, base: &'static str) -> &'static str {
    match (key, base) {
        ("name", _) => "nowrap name",
        ("flags", _) => "long flags",
        ("punches", _) => "long punches",
        ("reason" | "devices", _) => "long",
        _ => base,
    }
}

fn cell_class(kind: ColumnKind, cell: &Cell) -> &'static str {
    match (kind, cell) {
        (ColumnKind::Code, Cell::Code(code)) => match code.as_str() {
            "P" => "code c-p",
            "L" => "code c-l",
            "A" => "code c-a",
            "H" => "code c-h",
            "O" => "code c-o",
            "HD" => "code c-hd",
            "M" => "code c-m",
            _ => "code",
        },
        (ColumnKind::Code, _) => "code num",
        (ColumnKind::Minutes | ColumnKind::Integer | ColumnKind::Hours, _) => "num",
        (ColumnKind::DateTime | ColumnKind::Date, _) => "nowrap",
        _ => "",
    }
}

/// The page text of a cell. Times show `HH:MM`, with the offset when the table holds several
/// offsets (a period across a DST change), and the date when it is not the row's date.
fn cell_text(cell: &Cell, row_date: Option<NaiveDate>, show_offset: bool) -> String {
    match cell {
        Cell::Empty => String::new(),
        Cell::DateTime(t) => {
            let mut text = t.format("%H:%M").to_string();
            if row_date.is_some_and(|d| d != t.date_naive()) {
                text = format!("{} {text}", t.format("%b %-d"));
            }
            if show_offset {
                text.push_str(&t.format(" %:z").to_string());
            }
            text
        }
        Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
        other => other.display(),
    }
}

fn link(slug: &str, query: &ReportQuery) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    let fields = [
        ("date", &query.date),
        ("month", &query.month),
        ("from", &query.from),
        ("to", &query.to),
        ("employee", &query.employee),
        ("shift", &query.shift),
        ("sort", &query.sort),
        ("desc", &query.desc),
        ("format", &query.format),
    ];
    for (name, value) in fields {
        if let Some(v) = non_empty(value) {
            serializer.append_pair(name, v);
        }
    }
    let qs = serializer.finish();
    if qs.is_empty() { format!("/reports/{slug}") } else { format!("/reports/{slug}?{qs}") }
}

async fn page(
    state: &AppState,
    principal: &Principal,
    kind: ReportKind,
    query: &ReportQuery,
    request: Option<ReportRequest>,
    built: Result<Table, String>,
) -> Result<Response, AppError> {
    let zone = state.config.display_zone();
    let people = employees::list(&state.store).await?;
    let employee_options: Vec<Value> = people
        .iter()
        .map(|e| {
            let label = match e.name.as_deref().filter(|n| !n.is_empty()) {
                Some(name) => format!("{name} ({})", e.code.0),
                None => e.code.0.clone(),
            };
            context! { code => e.code.0.clone(), label }
        })
        .collect();
    let shifts: Vec<String> = rosters::list_templates(&state.store).await?.into_iter().map(|t| t.code).collect();
    // The period fields as the form shows them: what was asked, or the defaults used.
    let (from, to) = request.as_ref().map_or((None, None), |r| (Some(r.from), Some(r.to)));
    let form = context! {
        picker => match picker(kind) { Picker::Day => "day", Picker::Month => "month", Picker::Range => "range" },
        date => from.map(|d| d.to_string()),
        month => from.map(|d| d.format("%Y-%m").to_string()),
        from => from.map(|d| d.to_string()),
        to => to.map(|d| d.to_string()),
        employee => non_empty(&query.employee),
        shift => non_empty(&query.shift),
        sort => non_empty(&query.sort),
        desc => non_empty(&query.desc),
    };
    // Links keep the period the page shows, so a sort or a download covers the same days.
    let mut base = query.clone();
    base.format = None;
    if let Some(request) = &request {
        match picker(kind) {
            Picker::Day => base.date = Some(request.from.to_string()),
            Picker::Month => base.month = Some(request.from.format("%Y-%m").to_string()),
            Picker::Range => {
                base.from = Some(request.from.to_string());
                base.to = Some(request.to.to_string());
            }
        }
    }
    let (table, error) = match built {
        Ok(table) => (Some(table), None),
        Err(message) => (None, Some(message)),
    };
    let mut ctx_table = Value::UNDEFINED;
    let mut chart = None;
    let mut zone_note = zone.name().to_owned();
    let mut period = String::new();
    if let Some(table) = &table {
        let offsets: BTreeSet<String> = table
            .rows
            .iter()
            .flatten()
            .filter_map(|c| if let Cell::DateTime(t) = c { Some(t.format("%:z").to_string()) } else { None })
            .collect();
        let show_offset = offsets.len() > 1;
        let offset_list: Vec<String> = if offsets.is_empty() {
            // No times in the table: the offsets of the period's days.
            let at = |d: NaiveDate| {
                use chrono::TimeZone as _;
                zone.from_utc_datetime(&d.and_time(chrono::NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default())).format("%:z").to_string()
            };
            let mut list = vec![at(table.from)];
            if at(table.to) != list[0] {
                list.push(at(table.to));
            }
            list
        } else {
            offsets.into_iter().collect()
        };
        zone_note = format!("{} (UTC{})", zone.name(), offset_list.join(", UTC"));
        period = if table.from == table.to {
            table.from.format("%A %-d %B %Y").to_string()
        } else if picker(kind) == Picker::Month {
            table.from.format("%B %Y").to_string()
        } else {
            format!("{} – {}", table.from.format("%-d %b %Y"), table.to.format("%-d %b %Y"))
        };
        let date_col = table.columns.iter().position(|c| c.kind == ColumnKind::Date);
        let columns: Vec<ColumnView> = table
            .columns
            .iter()
            .map(|c| {
                let sorted = (non_empty(&query.sort) == Some(c.key.as_str())).then(|| if non_empty(&query.desc).is_some() { "desc" } else { "asc" });
                let mut q = base.clone();
                q.sort = Some(c.key.clone());
                q.desc = (sorted == Some("asc")).then(|| "1".to_owned());
                let sub = c.key.strip_prefix("day-").and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).map(|d| d.format("%a").to_string()[..2].to_owned());
                let class = match c.kind {
                    ColumnKind::Minutes | ColumnKind::Integer | ColumnKind::Hours => "num",
                    ColumnKind::Code => "code",
                    _ => "",
                };
                let class = column_class(&c.key, class);
                ColumnView { key: c.key.clone(), title: c.title.clone(), sub, class, href: link(kind.slug(), &q), sorted }
            })
            .collect();
        let view_row = |row: &Vec<Cell>| -> Vec<CellView> {
            let row_date = date_col.and_then(|i| if let Some(Cell::Date(d)) = row.get(i) { Some(*d) } else { None });
            row.iter()
                .zip(&table.columns)
                .map(|(cell, column)| CellView { text: cell_text(cell, row_date, show_offset), class: column_class(&column.key, cell_class(column.kind, cell)) })
                .collect()
        };
        let rows: Vec<Vec<CellView>> = table.rows.iter().map(view_row).collect();
        let totals = table.totals.as_ref().map(view_row);
        let weekend: Vec<bool> = table
            .columns
            .iter()
            .map(|c| {
                c.key.strip_prefix("day-").and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()).is_some_and(|d| d.weekday().number_from_monday() >= 6)
            })
            .collect();
        if kind == ReportKind::EmployeeHistory {
            chart = Some(Value::from_safe_string(chart::worked_hours(table)));
        }
        ctx_table = context! {
            title => table.title.clone(),
            columns => minijinja::value::Serde(&columns),
            rows => minijinja::value::Serde(&rows),
            totals => minijinja::value::Serde(&totals),
            weekend,
            row_count => table.rows.len(),
            company => table.company.clone(),
            generated_at => table.generated_at.format("%Y-%m-%d %H:%M %:z").to_string(),
            generated_by => table.generated_by.clone(),
        };
    }
    let mut csv_q = base.clone();
    csv_q.format = Some("csv".into());
    let mut xlsx_q = base.clone();
    xlsx_q.format = Some("xlsx".into());
    let body = render(
        "web/reports/table.html",
        context! {
            slug => kind.slug(),
            kind_title => kind.title(),
            description => description(kind),
            landscape => kind == ReportKind::MonthlyTimesheet || table.as_ref().is_some_and(|t| t.columns.len() > 11),
            compact => kind == ReportKind::MonthlyTimesheet,
            form,
            employees => employee_options,
            shifts,
            table => ctx_table,
            chart,
            error,
            needs_employee => kind == ReportKind::EmployeeHistory && non_empty(&query.employee).is_none(),
            zone_note,
            period,
            csv_href => link(kind.slug(), &csv_q),
            xlsx_href => link(kind.slug(), &xlsx_q),
            ..frame(state, principal, Nav::Reports)
        },
    )?;
    Ok(body.into_response())
}
