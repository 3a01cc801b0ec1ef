//! Reports HR staff print, export and receive by e-mail: each one is a [`Table`] built from storage,
//! then rendered as a page (`web::reports`), CSV ([`csv`]) or XLSX ([`xlsx`]), so the page, the
//! download and the e-mail attachment always carry the same numbers.
//!
//! Sits beside `pipeline` in the layering: it reads `store` and `config`, knows no HTTP, and the
//! scheduled report e-mails (a job) use it as the web pages do.
//!
//! Times are shown in the site's display zone ([`crate::config::Config::display_zone`]) with their
//! offset kept in [`Cell::DateTime`], so a night shift across a DST change shows both offsets.

pub mod csv;
pub mod email;
pub mod xlsx;

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
/// # Errors
/// [`ReportError::Invalid`] for a bad request, [`ReportError::Store`] when the database fails.
pub async fn build(store: &Store, config: &crate::config::Config, request: &ReportRequest, generated_by: &str) -> Result<Table, ReportError> {
    if request.to < request.from {
        return Err(ReportError::Invalid("the period ends before it starts".into()));
    }
    // ---- BEGIN TEMPORARY (ops branch): a minimal daily attendance so the scheduled report e-mails
    // ---- can be tested end to end. The lead drops this block at merge in favour of the real `build`.
    if request.kind == ReportKind::DailyAttendance {
        return temporary_daily_attendance(store, config, request, generated_by).await;
    }
    // ---- END TEMPORARY
    let _ = (store, config, generated_by);
    Err(ReportError::Invalid(format!("the {} report is not available yet", request.kind.title())))
}

// ---- BEGIN TEMPORARY (ops branch): dropped at merge, see `build`.
async fn temporary_daily_attendance(
    store: &Store,
    config: &crate::config::Config,
    request: &ReportRequest,
    generated_by: &str,
) -> Result<Table, ReportError> {
    use crate::store::schema::processed_attendance as pa;
    use diesel::{ExpressionMethods as _, QueryDsl as _};
    use diesel_async::RunQueryDsl as _;
    let query = async {
        crate::with_conn!(store, |conn| {
            pa::table
                .filter(pa::work_date.ge(request.from))
                .filter(pa::work_date.le(request.to))
                .order((pa::work_date, pa::user_id))
                .select((pa::user_id, pa::work_date, pa::status, pa::worked_min))
                .load::<(String, NaiveDate, String, Option<i32>)>(conn)
                .await
                .map_err(StoreError::from)
        })
    };
    let rows = query.await?;
    let zone = config.display_zone();
    let now = chrono::Utc::now().with_timezone(&zone).fixed_offset();
    Ok(Table {
        kind: request.kind,
        title: request.kind.title().to_owned(),
        from: request.from,
        to: request.to,
        columns: vec![
            Column::new("employee", "Employee", ColumnKind::Text),
            Column::new("date", "Date", ColumnKind::Date),
            Column::new("status", "Status", ColumnKind::Text),
            Column::new("worked", "Worked", ColumnKind::Minutes),
        ],
        rows: rows
            .into_iter()
            .map(|(employee, date, status, worked)| {
                vec![Cell::Text(employee), Cell::Date(date), Cell::Text(status), worked.map_or(Cell::Empty, |m| Cell::Minutes(i64::from(m)))]
            })
            .collect(),
        totals: None,
        generated_at: now,
        generated_by: generated_by.to_owned(),
        company: config.company_name.clone(),
    })
}
// ---- END TEMPORARY
