//! Reports HR staff print, export and receive by e-mail: each one is a [`Table`] built from storage,
//! then rendered as a page (`web::reports`), CSV ([`csv`]) or XLSX ([`xlsx`]), so the page, the
//! download and the e-mail attachment always carry the same numbers.
//!
//! Sits beside `pipeline` in the layering: it reads `store` and `config`, knows no HTTP, and the
//! scheduled report e-mails (a job) use it as the web pages do.
//!
//! Times are shown in the site's display zone ([`crate::config::Config::display_zone`]) with their
//! offset kept in [`Cell::DateTime`], so a night shift across a DST change shows both offsets.

mod build;
pub mod csv;
pub mod email;
pub mod xlsx;

pub use build::{MAX_DAYS, day_code, month_of, punch_state_label, status_label, verify_label};

use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::domain::EmployeeId;
use crate::store::{Store, StoreError};

/// Why a report could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request is not valid (a period that ends before it starts, one too long); the message says how.
    #[error("{0}")]
    Invalid(String),
    /// Writing the spreadsheet failed.
    #[error("writing the spreadsheet: {0}")]
    Xlsx(String),
}

/// Which report. The slug is its path under `/reports/` and its name in subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportKind {
    /// One row per employee and day: shift, scheduled and actual in/out, worked, break, payable,
    /// overtime, late by, early by, status, flags; totals.
    DailyAttendance,
    /// One row per employee, one column per day with a status code, then totals.
    MonthlyTimesheet,
    /// Days with a late arrival or an early exit.
    LateEarly,
    /// Days marked absent.
    Absent,
    /// Days with a clock-in but no clock-out (or the reverse), and single punches.
    MissingPunches,
    /// Days with outlier punches, their reason and the raw punches behind them.
    Outliers,
    /// First and last punch per employee and day.
    FirstLastPunch,
    /// Every raw punch with device and verify type.
    PunchDetails,
    /// One employee's days and punches over a period.
    EmployeeHistory,
}

impl ReportKind {
    /// Every report, in the order the reports page lists them.
    pub const ALL: [ReportKind; 9] = [
        ReportKind::DailyAttendance,
        ReportKind::MonthlyTimesheet,
        ReportKind::LateEarly,
        ReportKind::Absent,
        ReportKind::MissingPunches,
        ReportKind::Outliers,
        ReportKind::FirstLastPunch,
        ReportKind::PunchDetails,
        ReportKind::EmployeeHistory,
    ];

    /// The path segment and subscription name (`daily-attendance`).
    pub fn slug(self) -> &'static str {
        match self {
            ReportKind::DailyAttendance => "daily-attendance",
            ReportKind::MonthlyTimesheet => "monthly-timesheet",
            ReportKind::LateEarly => "late-early",
            ReportKind::Absent => "absent",
            ReportKind::MissingPunches => "missing-punches",
            ReportKind::Outliers => "outliers",
            ReportKind::FirstLastPunch => "first-last-punch",
            ReportKind::PunchDetails => "punch-details",
            ReportKind::EmployeeHistory => "employee-history",
        }
    }

    /// The report named by `slug`.
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.slug() == slug)
    }

    /// Its title on pages, printouts, file names and e-mails.
    pub fn title(self) -> &'static str {
        match self {
            ReportKind::DailyAttendance => "Daily attendance",
            ReportKind::MonthlyTimesheet => "Monthly timesheet",
            ReportKind::LateEarly => "Late arrivals and early exits",
            ReportKind::Absent => "Absences",
            ReportKind::MissingPunches => "Missing punches",
            ReportKind::Outliers => "Outliers",
            ReportKind::FirstLastPunch => "First and last punch",
            ReportKind::PunchDetails => "Punch details",
            ReportKind::EmployeeHistory => "Employee history",
        }
    }
}

/// What to report on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    /// Which report.
    pub kind: ReportKind,
    /// First day of the period (local dates, inclusive).
    pub from: NaiveDate,
    /// Last day of the period (inclusive).
    pub to: NaiveDate,
    /// Only this employee (required by [`ReportKind::EmployeeHistory`]).
    pub employee: Option<EmployeeId>,
    /// Only days on this shift code.
    pub shift: Option<String>,
    /// Sort by this column key (see [`Column::key`]), descending when `descending`.
    pub sort: Option<String>,
    /// Reverse the sort.
    pub descending: bool,
}

/// How a column's cells are typed: decides alignment on the page, quoting in CSV and the cell type
/// and number format in XLSX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Free text.
    Text,
    /// A calendar date.
    Date,
    /// A local time with its UTC offset.
    DateTime,
    /// A duration in whole minutes (shown as `h:mm` on pages, a number in files).
    Minutes,
    /// A count.
    Integer,
    /// Hours with two decimals.
    Hours,
    /// A short status code (the timesheet's `P`, `A`, `L`...).
    Code,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Column {
    /// Stable key for sorting and tests (`clock_in`, `worked`).
    pub key: String,
    /// Header text.
    pub title: String,
    /// Cell type.
    pub kind: ColumnKind,
}

impl Column {
    /// A column.
    pub fn new(key: impl Into<String>, title: impl Into<String>, kind: ColumnKind) -> Self {
        Column { key: key.into(), title: title.into(), kind }
    }
}

/// One typed cell.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Cell {
    /// Nothing (shown as "—" on pages, empty in files).
    Empty,
    /// Text.
    Text(String),
    /// A date.
    Date(NaiveDate),
    /// A local time with its offset.
    DateTime(DateTime<FixedOffset>),
    /// Whole minutes.
    Minutes(i64),
    /// A count.
    Integer(i64),
    /// Hours.
    Hours(f64),
    /// A status code.
    Code(String),
}

impl Cell {
    /// The text a page or CSV shows for this cell (`—` is the page's business, not this).
    pub fn display(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) | Cell::Code(s) => s.clone(),
            Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
            Cell::DateTime(t) => t.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
            Cell::Minutes(m) => format!("{}{}:{:02}", if *m < 0 { "-" } else { "" }, m.abs() / 60, m.abs() % 60),
            Cell::Integer(n) => n.to_string(),
            Cell::Hours(h) => format!("{h:.2}"),
        }
    }
}

/// A finished report: what pages, CSV, XLSX and e-mails render.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Table {
    /// Which report.
    pub kind: ReportKind,
    /// Title (the kind's, possibly with the employee's name).
    pub title: String,
    /// First day covered.
    pub from: NaiveDate,
    /// Last day covered.
    pub to: NaiveDate,
    /// The columns, in order.
    pub columns: Vec<Column>,
    /// The rows; each has one cell per column.
    pub rows: Vec<Vec<Cell>>,
    /// A totals row, when the report has one (one cell per column).
    pub totals: Option<Vec<Cell>>,
    /// When it was produced, in the display zone.
    pub generated_at: DateTime<FixedOffset>,
    /// Who asked for it (a user name, or "scheduled" for e-mails).
    pub generated_by: String,
    /// `COMPANY_NAME`, for the printed header.
    pub company: Option<String>,
}

impl Table {
    /// A base file name for downloads and attachments: `daily-attendance_2026-11-30` or
    /// `monthly-timesheet_2026-11-01_2026-11-30`.
    pub fn file_stem(&self) -> String {
        if self.from == self.to {
            format!("{}_{}", self.kind.slug(), self.from)
        } else {
            format!("{}_{}_{}", self.kind.slug(), self.from, self.to)
        }
    }
}

/// Builds the report `request` asks for, as of now, for `generated_by`.
///
/// Times are in the display zone (`DISPLAY_TIMEZONE`); rows are sorted by `request.sort` (a column
/// key; unknown keys fall back to the report's own order) and always come in the same order for
/// the same data, so a page, its CSV and its XLSX match row for row.
///
/// # Errors
/// [`ReportError::Invalid`] for a bad request, [`ReportError::Store`] when the database fails.
pub async fn build(store: &Store, config: &crate::config::Config, request: &ReportRequest, generated_by: &str) -> Result<Table, ReportError> {
    if request.to < request.from {
        return Err(ReportError::Invalid("the period ends before it starts".into()));
    }
    if (request.to - request.from).num_days() >= MAX_DAYS {
        return Err(ReportError::Invalid(format!("a report covers at most {MAX_DAYS} days")));
    }
    let zone = config.display_zone();
    let ctx = build::Context::load(store, zone, request).await?;
    let filter = crate::store::reports::PeriodFilter { employee: request.employee.as_ref().map(|e| e.0.clone()), shift: request.shift.clone() };
    let body = match request.kind {
        ReportKind::DailyAttendance => build::daily(store, &ctx, request, &filter).await?,
        ReportKind::MonthlyTimesheet => build::timesheet(store, &ctx, request, &filter).await?,
        ReportKind::LateEarly => build::late_early(store, &ctx, request, &filter).await?,
        ReportKind::Absent => build::absent(store, &ctx, request, &filter).await?,
        ReportKind::MissingPunches => build::missing(store, &ctx, request, &filter).await?,
        ReportKind::Outliers => build::outliers(store, &ctx, request, &filter).await?,
        ReportKind::FirstLastPunch => build::first_last(store, &ctx, request).await?,
        ReportKind::PunchDetails => build::punch_details(store, &ctx, request).await?,
        ReportKind::EmployeeHistory => build::history(store, &ctx, request, &filter).await?,
    };
    let mut rows = body.rows;
    let mut keys: Vec<usize> = Vec::new();
    if let Some(i) = request.sort.as_deref().and_then(|key| body.columns.iter().position(|c| c.key == key)) {
        keys.push(i);
    }
    keys.extend(body.default_sort.iter().filter_map(|key| body.columns.iter().position(|c| c.key == *key)));
    let descending = request.descending && request.sort.is_some();
    rows.sort_by(|a, b| {
        for (n, &i) in keys.iter().enumerate() {
            let order = compare(&a[i], &b[i]);
            let order = if n == 0 && descending { order.reverse() } else { order };
            if order.is_ne() {
                return order;
            }
        }
        std::cmp::Ordering::Equal
    });
    Ok(Table {
        kind: request.kind,
        title: body.title,
        from: request.from,
        to: request.to,
        columns: body.columns,
        rows,
        totals: body.totals,
        generated_at: chrono::Utc::now().with_timezone(&zone).fixed_offset(),
        generated_by: generated_by.to_owned(),
        company: config.company_name.clone(),
    })
}

/// How two cells of one column sort: empty cells last, text without regard to case, numbers as numbers.
fn compare(a: &Cell, b: &Cell) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Cell::Empty, Cell::Empty) => Ordering::Equal,
        (Cell::Empty, _) => Ordering::Greater,
        (_, Cell::Empty) => Ordering::Less,
        (Cell::Text(x) | Cell::Code(x), Cell::Text(y) | Cell::Code(y)) => x.to_lowercase().cmp(&y.to_lowercase()).then_with(|| x.cmp(y)),
        (Cell::Date(x), Cell::Date(y)) => x.cmp(y),
        (Cell::DateTime(x), Cell::DateTime(y)) => x.cmp(y),
        (Cell::Minutes(x) | Cell::Integer(x), Cell::Minutes(y) | Cell::Integer(y)) => x.cmp(y),
        (Cell::Hours(x), Cell::Hours(y)) => x.total_cmp(y),
        _ => a.display().cmp(&b.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_sort_as_their_kind_with_empty_cells_last() {
        use std::cmp::Ordering::*;
        assert_eq!(compare(&Cell::Minutes(9), &Cell::Minutes(10)), Less, "numbers as numbers, not text");
        assert_eq!(compare(&Cell::Text("anna".into()), &Cell::Text("Bert".into())), Less, "case does not matter");
        assert_eq!(compare(&Cell::Empty, &Cell::Minutes(0)), Greater);
        assert_eq!(compare(&Cell::Hours(1.5), &Cell::Hours(1.25)), Greater);
    }

    #[test]
    fn every_kind_round_trips_through_its_slug() {
        for kind in ReportKind::ALL {
            assert_eq!(ReportKind::from_slug(kind.slug()), Some(kind));
        }
        assert_eq!(ReportKind::from_slug("nope"), None);
    }
}
