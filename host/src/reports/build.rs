//! The report builders: storage rows in, a [`Table`] out. One function per report; what they share
//! (names, schedules, the display zone, the period's punches) is read once into [`Context`].

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone};

use super::{Cell, Column, ColumnKind, ReportError, ReportKind, ReportRequest};
use crate::domain::{AttendanceStatus, WallTime};
use crate::store::attendance::ProcessedDay;
use crate::store::reports::{self as queries, PeriodFilter, PunchRow, Schedule};
use crate::store::{Store, employees};

/// The longest period one report covers.
pub const MAX_DAYS: i64 = 366;

/// What the builders read once per report.
pub(super) struct Context {
    pub(super) zone: chrono_tz::Tz,
    /// Code → name, every known employee.
    pub(super) names: BTreeMap<String, String>,
    /// Active employees' codes (rows for people with no record yet).
    pub(super) active: Vec<String>,
    pub(super) schedules: HashMap<String, Schedule>,
    pub(super) holidays: HashMap<NaiveDate, String>,
}

/// Columns and rows (and totals) of one report, before the common parts are added.
pub(super) struct Body {
    pub(super) title: String,
    pub(super) columns: Vec<Column>,
    pub(super) rows: Vec<Vec<Cell>>,
    pub(super) totals: Option<Vec<Cell>>,
    /// The column rows are sorted by when the request names none.
    pub(super) default_sort: Vec<&'static str>,
}

impl Context {
    pub(super) async fn load(store: &Store, zone: chrono_tz::Tz, request: &ReportRequest) -> Result<Context, ReportError> {
        let people = employees::list(store).await?;
        let names = people.iter().map(|e| (e.code.0.clone(), e.name.clone().unwrap_or_default())).collect();
        let active = people
            .iter()
            .filter(|e| e.active && request.employee.as_ref().is_none_or(|only| *only == e.code))
            .map(|e| e.code.0.clone())
            .collect();
        Ok(Context {
            zone,
            names,
            active,
            schedules: queries::schedules(store).await?,
            holidays: queries::holidays_between(store, request.from, request.to).await?,
        })
    }

    fn name(&self, code: &str) -> Cell {
        self.names.get(code).filter(|n| !n.is_empty()).map_or(Cell::Empty, |n| Cell::Text(n.clone()))
    }

    /// A stored UTC instant in the display zone, with its offset.
    pub(super) fn time(&self, utc: Option<NaiveDateTime>) -> Cell {
        utc.map_or(Cell::Empty, |t| Cell::DateTime(self.zone.from_utc_datetime(&t).fixed_offset()))
    }

    /// The display zone's local date of a stored UTC instant.
    fn local_date(&self, utc: NaiveDateTime) -> NaiveDate {
        self.zone.from_utc_datetime(&utc).date_naive()
    }

    /// The UTC instant a local date starts at in the display zone.
    fn midnight(&self, date: NaiveDate) -> NaiveDateTime {
        WallTime(date.and_time(NaiveTime::MIN)).resolve(self.zone).map_or(date.and_time(NaiveTime::MIN), |(t, _)| t.naive_utc())
    }

    fn shift(&self, code: &str) -> Cell {
        if code.is_empty() { Cell::Text("Unscheduled".into()) } else { Cell::Text(code.to_owned()) }
    }

    fn scheduled(&self, code: &str) -> (Cell, Cell) {
        match self.schedules.get(code) {
            Some(s) => (Cell::Text(s.start.clone()), Cell::Text(s.end.clone())),
            None => (Cell::Empty, Cell::Empty),
        }
    }

    /// The punches of the period (local dates `from..=to`, plus the next day for overnight shifts).
    async fn punches(&self, store: &Store, request: &ReportRequest) -> Result<Vec<PunchRow>, ReportError> {
        let until = request.to.succ_opt().and_then(|d| d.succ_opt()).unwrap_or(request.to);
        Ok(queries::punches_between(store, self.midnight(request.from), self.midnight(until), request.employee.as_ref().map(|e| e.0.as_str())).await?)
    }
}

fn col(key: &str, title: &str, kind: ColumnKind) -> Column {
    Column::new(key, title, kind)
}

fn minutes(value: Option<i32>) -> Cell {
    value.map_or(Cell::Empty, |m| Cell::Minutes(i64::from(m)))
}

fn flags_of(day: &ProcessedDay) -> Vec<String> {
    serde_json::from_str(&day.flags).unwrap_or_default()
}

/// A status as people read it (`half_day` → `Half day`).
pub fn status_label(status: &str) -> String {
    let text = status.replace('_', " ");
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

fn flags_label(flags: &[String]) -> Cell {
    if flags.is_empty() { Cell::Empty } else { Cell::Text(flags.iter().map(|f| f.replace('_', " ")).collect::<Vec<_>>().join(", ")) }
}

/// Whether a day counts as an outlier (as the API's `is_outlier` decides).
fn is_outlier(flags: &[String]) -> bool {
    flags.iter().any(|f| f.contains("outlier"))
}

/// The timesheet code of a day: `H` holiday, `O` off, `A` absent, `M` missing punch, `HD` half day,
/// `L` late, `P` present.
pub fn day_code(day: &ProcessedDay, holiday: bool) -> &'static str {
    let flags = flags_of(day);
    let has = |f: &str| flags.iter().any(|x| x == f);
    let worked = day.worked_min.unwrap_or(0) > 0 || day.clock_in_utc.is_some();
    match AttendanceStatus::parse(&day.status) {
        _ if (holiday || has("holiday")) && !worked => "H",
        _ if has("off_day") && !worked => "O",
        Some(AttendanceStatus::Absent) => "A",
        Some(AttendanceStatus::Incomplete) => "M",
        _ if has("missing_in") || has("missing_out") => "M",
        Some(AttendanceStatus::HalfDay) => "HD",
        _ if day.late_min.unwrap_or(0) > 0 || has("late") => "L",
        _ => "P",
    }
}

/// Whether a day counts as present in totals (every worked status, late and half days included).
fn counts_present(code: &str) -> bool {
    matches!(code, "P" | "L" | "HD" | "M")
}

/// The columns the per-day exception reports start with: which day, who, on which shift.
fn day_head_columns() -> Vec<Column> {
    vec![
        col("date", "Date", ColumnKind::Date),
        col("weekday", "Day", ColumnKind::Text),
        col("code", "Code", ColumnKind::Text),
        col("name", "Name", ColumnKind::Text),
        col("shift", "Shift", ColumnKind::Text),
    ]
}

/// A day's cells under [`day_head_columns`].
fn day_head_cells(ctx: &Context, d: &ProcessedDay) -> Vec<Cell> {
    vec![Cell::Date(d.work_date), weekday(d.work_date), Cell::Text(d.user_id.clone()), ctx.name(&d.user_id), ctx.shift(&d.shift_code)]
}

fn weekday(date: NaiveDate) -> Cell {
    Cell::Text(date.format("%a").to_string())
}

fn sum(rows: &[Vec<Cell>], col: usize) -> i64 {
    rows.iter()
        .filter_map(|r| match r.get(col) {
            Some(Cell::Minutes(m) | Cell::Integer(m)) => Some(*m),
            _ => None,
        })
        .sum()
}

/// A totals row: `label` in the first column, sums under the given minute columns, empty elsewhere.
fn totals_row(width: usize, label: String, rows: &[Vec<Cell>], minute_cols: &[usize]) -> Vec<Cell> {
    let mut totals = vec![Cell::Empty; width];
    totals[0] = Cell::Text(label);
    for &c in minute_cols {
        totals[c] = Cell::Minutes(sum(rows, c));
    }
    totals
}

pub(super) async fn daily(store: &Store, ctx: &Context, request: &ReportRequest, filter: &PeriodFilter) -> Result<Body, ReportError> {
    let days = queries::days_between(store, request.from, request.to, filter).await?;
    let columns = vec![
        col("code", "Code", ColumnKind::Text),
        col("name", "Name", ColumnKind::Text),
        col("date", "Date", ColumnKind::Date),
        col("shift", "Shift", ColumnKind::Text),
        col("scheduled_in", "Sched. in", ColumnKind::Text),
        col("scheduled_out", "Sched. out", ColumnKind::Text),
        col("clock_in", "Clock in", ColumnKind::DateTime),
        col("clock_out", "Clock out", ColumnKind::DateTime),
        col("worked", "Worked", ColumnKind::Minutes),
        col("break", "Break", ColumnKind::Minutes),
        col("payable", "Payable", ColumnKind::Minutes),
        col("overtime", "Overtime", ColumnKind::Minutes),
        col("late", "Late by", ColumnKind::Minutes),
        col("early", "Early by", ColumnKind::Minutes),
        col("status", "Status", ColumnKind::Text),
        col("flags", "Flags", ColumnKind::Text),
    ];
    let mut seen = std::collections::HashSet::new();
    let mut rows: Vec<Vec<Cell>> = days
        .iter()
        .map(|d| {
            seen.insert((d.user_id.clone(), d.work_date));
            let (sin, sout) = ctx.scheduled(&d.shift_code);
            vec![
                Cell::Text(d.user_id.clone()),
                ctx.name(&d.user_id),
                Cell::Date(d.work_date),
                ctx.shift(&d.shift_code),
                sin,
                sout,
                ctx.time(d.clock_in_utc),
                ctx.time(d.clock_out_utc),
                minutes(d.worked_min),
                minutes(d.break_min),
                minutes(d.payable_min),
                minutes(d.overtime_min),
                minutes(d.late_min),
                minutes(d.early_min),
                Cell::Text(status_label(&d.status)),
                flags_label(&flags_of(d)),
            ]
        })
        .collect();
    // Active people with nothing recorded that day still get their row: HR reads the gap.
    if filter.shift.is_none() && request.from == request.to {
        for code in &ctx.active {
            if !seen.contains(&(code.clone(), request.from)) {
                let mut row = vec![Cell::Empty; columns.len()];
                row[0] = Cell::Text(code.clone());
                row[1] = ctx.name(code);
                row[2] = Cell::Date(request.from);
                row[14] = Cell::Text("No record".into());
                rows.push(row);
            }
        }
    }
    let totals = totals_row(columns.len(), "Total".to_owned(), &rows, &[8, 9, 10, 11, 12, 13]);
    Ok(Body { title: ReportKind::DailyAttendance.title().into(), columns, rows, totals: Some(totals), default_sort: vec!["code", "date"] })
}

pub(super) async fn timesheet(store: &Store, ctx: &Context, request: &ReportRequest, filter: &PeriodFilter) -> Result<Body, ReportError> {
    let days = queries::days_between(store, request.from, request.to, filter).await?;
    let dates: Vec<NaiveDate> = request.from.iter_days().take_while(|d| *d <= request.to).collect();
    let mut columns = vec![col("code", "Code", ColumnKind::Text), col("name", "Name", ColumnKind::Text)];
    columns.extend(dates.iter().map(|d| col(&format!("day-{d}"), &d.format("%d").to_string(), ColumnKind::Code)));
    let first_total = columns.len();
    columns.extend([
        col("present", "Present", ColumnKind::Integer),
        col("absent", "Absent", ColumnKind::Integer),
        col("late_count", "Late", ColumnKind::Integer),
        col("late_minutes", "Late min", ColumnKind::Minutes),
        col("early_count", "Early", ColumnKind::Integer),
        col("early_minutes", "Early min", ColumnKind::Minutes),
        col("worked_hours", "Worked h", ColumnKind::Hours),
        col("overtime_hours", "OT h", ColumnKind::Hours),
    ]);
    let mut by_person: BTreeMap<String, Vec<&ProcessedDay>> = BTreeMap::new();
    if filter.shift.is_none() {
        for code in &ctx.active {
            by_person.entry(code.clone()).or_default();
        }
    }
    for day in &days {
        by_person.entry(day.user_id.clone()).or_default().push(day);
    }
    let index_of: HashMap<NaiveDate, usize> = dates.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let mut present_per_day = vec![0_i64; dates.len()];
    let mut rows = Vec::with_capacity(by_person.len());
    for (code, person_days) in by_person {
        let mut codes: Vec<Cell> = dates
            .iter()
            .map(|d| match ctx.holidays.contains_key(d) {
                true => Cell::Code("H".into()),
                false => Cell::Empty,
            })
            .collect();
        let (mut present, mut absent, mut late, mut late_min, mut early, mut early_min, mut worked, mut overtime) = (0, 0, 0, 0, 0, 0, 0_i64, 0_i64);
        for day in person_days {
            let Some(&i) = index_of.get(&day.work_date) else { continue };
            let code = day_code(day, ctx.holidays.contains_key(&day.work_date));
            codes[i] = Cell::Code(code.into());
            if counts_present(code) {
                present += 1;
                present_per_day[i] += 1;
            }
            if code == "A" {
                absent += 1;
            }
            if let Some(m) = day.late_min.filter(|m| *m > 0) {
                late += 1;
                late_min += i64::from(m);
            }
            if let Some(m) = day.early_min.filter(|m| *m > 0) {
                early += 1;
                early_min += i64::from(m);
            }
            worked += i64::from(day.worked_min.unwrap_or(0));
            overtime += i64::from(day.overtime_min.unwrap_or(0));
        }
        let mut row = vec![Cell::Text(code.clone()), ctx.name(&code)];
        row.extend(codes);
        row.extend([
            Cell::Integer(present),
            Cell::Integer(absent),
            Cell::Integer(late),
            Cell::Minutes(late_min),
            Cell::Integer(early),
            Cell::Minutes(early_min),
            Cell::Hours(hours(worked)),
            Cell::Hours(hours(overtime)),
        ]);
        rows.push(row);
    }
    let mut totals = vec![Cell::Text("Total".to_owned()), Cell::Empty];
    totals.extend(present_per_day.into_iter().map(Cell::Integer));
    for c in first_total..columns.len() {
        totals.push(match columns[c].kind {
            ColumnKind::Integer => Cell::Integer(sum(&rows, c)),
            ColumnKind::Minutes => Cell::Minutes(sum(&rows, c)),
            _ => Cell::Hours(rows.iter().filter_map(|r| if let Some(Cell::Hours(h)) = r.get(c) { Some(*h) } else { None }).sum::<f64>()),
        });
    }
    Ok(Body { title: ReportKind::MonthlyTimesheet.title().into(), columns, rows, totals: Some(totals), default_sort: vec!["code"] })
}

fn hours(minutes: i64) -> f64 {
    (minutes as f64 / 60.0 * 100.0).round() / 100.0
}

pub(super) async fn late_early(store: &Store, ctx: &Context, request: &ReportRequest, filter: &PeriodFilter) -> Result<Body, ReportError> {
    let days = queries::days_between(store, request.from, request.to, filter).await?;
    let columns = [
        day_head_columns(),
        vec![
            col("scheduled_in", "Sched. in", ColumnKind::Text),
            col("clock_in", "Clock in", ColumnKind::DateTime),
            col("late", "Late by", ColumnKind::Minutes),
            col("scheduled_out", "Sched. out", ColumnKind::Text),
            col("clock_out", "Clock out", ColumnKind::DateTime),
            col("early", "Early by", ColumnKind::Minutes),
        ],
    ]
    .concat();
    let rows: Vec<Vec<Cell>> = days
        .iter()
        .filter(|d| d.late_min.unwrap_or(0) > 0 || d.early_min.unwrap_or(0) > 0)
        .map(|d| {
            let (sin, sout) = ctx.scheduled(&d.shift_code);
            [
                day_head_cells(ctx, d),
                vec![
                    sin,
                    ctx.time(d.clock_in_utc),
                    minutes(d.late_min.filter(|m| *m > 0)),
                    sout,
                    ctx.time(d.clock_out_utc),
                    minutes(d.early_min.filter(|m| *m > 0)),
                ],
            ]
            .concat()
        })
        .collect();
    let totals = totals_row(columns.len(), "Total".to_owned(), &rows, &[7, 10]);
    Ok(Body { title: ReportKind::LateEarly.title().into(), columns, rows, totals: Some(totals), default_sort: vec!["date", "code"] })
}

pub(super) async fn absent(store: &Store, ctx: &Context, request: &ReportRequest, filter: &PeriodFilter) -> Result<Body, ReportError> {
    let days = queries::days_between(store, request.from, request.to, filter).await?;
    let columns = [
        day_head_columns(),
        vec![
            col("scheduled_in", "Sched. in", ColumnKind::Text),
            col("scheduled_out", "Sched. out", ColumnKind::Text),
            col("scheduled", "Scheduled", ColumnKind::Minutes),
            col("reason", "Reason", ColumnKind::Text),
        ],
    ]
    .concat();
    let rows: Vec<Vec<Cell>> = days
        .iter()
        .filter(|d| day_code(d, ctx.holidays.contains_key(&d.work_date)) == "A")
        .map(|d| {
            let (sin, sout) = ctx.scheduled(&d.shift_code);
            [
                day_head_cells(ctx, d),
                vec![
                    sin,
                    sout,
                    minutes(d.scheduled_min),
                    d.reason.clone().map_or(Cell::Empty, Cell::Text),
                ],
            ]
            .concat()
        })
        .collect();
    let totals = totals_row(columns.len(), "Total".to_owned(), &rows, &[7]);
    Ok(Body { title: ReportKind::Absent.title().into(), columns, rows, totals: Some(totals), default_sort: vec!["date", "code"] })
}

/// Punches grouped by employee and the display zone's local date.
fn punches_by_day<'a>(ctx: &Context, punches: &'a [PunchRow]) -> BTreeMap<(String, NaiveDate), Vec<&'a PunchRow>> {
    let mut grouped: BTreeMap<(String, NaiveDate), Vec<&PunchRow>> = BTreeMap::new();
    for p in punches {
        grouped.entry((p.user_id.clone(), ctx.local_date(p.utc_time))).or_default().push(p);
    }
    grouped
}

/// A day's punches as one cell, one punch a line: `08:02 Front door\n17:31 Back door`.
fn punch_list(ctx: &Context, punches: &[&PunchRow]) -> Cell {
    if punches.is_empty() {
        return Cell::Empty;
    }
    Cell::Text(
        punches
            .iter()
            .map(|p| format!("{} {}", ctx.zone.from_utc_datetime(&p.utc_time).format("%H:%M"), p.device_name))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Which day each punch belongs to when it lies between a day's clock-in and clock-out (an
/// overnight shift's morning punch belongs to the evening before, not to its own date).
fn claimed_punches(ctx: &Context, days: &[ProcessedDay], grouped: &BTreeMap<(String, NaiveDate), Vec<&PunchRow>>) -> HashMap<i64, NaiveDate> {
    let mut claimed = HashMap::new();
    for day in days {
        let (Some(start), Some(end)) = (day.clock_in_utc, day.clock_out_utc) else { continue };
        let dates = [ctx.local_date(start), ctx.local_date(end)];
        for date in dates.iter().copied().collect::<std::collections::BTreeSet<_>>() {
            for p in grouped.get(&(day.user_id.clone(), date)).into_iter().flatten() {
                if p.utc_time >= start && p.utc_time <= end {
                    claimed.insert(p.id, day.work_date);
                }
            }
        }
    }
    claimed
}

/// The punches behind a processed day: those between its clock-in and clock-out, and those of its
/// local date no other day claims.
fn punches_of_day<'a>(
    ctx: &Context,
    day: &ProcessedDay,
    grouped: &BTreeMap<(String, NaiveDate), Vec<&'a PunchRow>>,
    claimed: &HashMap<i64, NaiveDate>,
) -> Vec<&'a PunchRow> {
    let mut dates = vec![day.work_date];
    if let Some(end) = day.clock_out_utc
        && ctx.local_date(end) != day.work_date
    {
        dates.push(ctx.local_date(end));
    }
    dates
        .into_iter()
        .flat_map(|date| grouped.get(&(day.user_id.clone(), date)).into_iter().flatten().copied())
        .filter(|p| claimed.get(&p.id).map_or(p_date_is(ctx, p, day.work_date), |owner| *owner == day.work_date))
        .collect()
}

/// Whether an unclaimed punch falls on `date` (the display zone's local date).
fn p_date_is(ctx: &Context, punch: &PunchRow, date: NaiveDate) -> bool {
    ctx.local_date(punch.utc_time) == date
}

pub(super) async fn missing(store: &Store, ctx: &Context, request: &ReportRequest, filter: &PeriodFilter) -> Result<Body, ReportError> {
    let days = queries::days_between(store, request.from, request.to, filter).await?;
    let punches = ctx.punches(store, request).await?;
    let grouped = punches_by_day(ctx, &punches);
    let claimed = claimed_punches(ctx, &days, &grouped);
    let columns = [
        day_head_columns(),
        vec![
            col("clock_in", "Clock in", ColumnKind::DateTime),
            col("clock_out", "Clock out", ColumnKind::DateTime),
            col("missing", "Missing", ColumnKind::Text),
            col("punch_count", "Punches", ColumnKind::Integer),
            col("punches", "Punch times", ColumnKind::Text),
        ],
    ]
    .concat();
    let mut rows = Vec::new();
    for d in &days {
        let flags = flags_of(d);
        let behind = punches_of_day(ctx, d, &grouped, &claimed);
        let missing = match (d.clock_in_utc.is_some(), d.clock_out_utc.is_some()) {
            (true, false) => "Clock-out",
            (false, true) => "Clock-in",
            _ if behind.len() == 1 => "Single punch",
            _ if flags.iter().any(|f| f == "missing_out") => "Clock-out",
            _ if flags.iter().any(|f| f == "missing_in") => "Clock-in",
            _ if d.status == AttendanceStatus::Incomplete => "Clock-in or out",
            _ => continue,
        };
        if d.status == AttendanceStatus::Absent && behind.is_empty() {
            continue;
        }
        rows.push(
            [
                day_head_cells(ctx, d),
                vec![
                ctx.time(d.clock_in_utc),
                ctx.time(d.clock_out_utc),
                Cell::Text(missing.into()),
                Cell::Integer(behind.len() as i64),
                punch_list(ctx, &behind),
                ],
            ]
            .concat(),
        );
    }
    let totals = Some(totals_row(columns.len(), "Total".to_owned(), &rows, &[]));
    Ok(Body { title: ReportKind::MissingPunches.title().into(), columns, rows, totals, default_sort: vec!["date", "code"] })
}

pub(super) async fn outliers(store: &Store, ctx: &Context, request: &ReportRequest, filter: &PeriodFilter) -> Result<Body, ReportError> {
    let days = queries::days_between(store, request.from, request.to, filter).await?;
    let punches = ctx.punches(store, request).await?;
    let grouped = punches_by_day(ctx, &punches);
    let claimed = claimed_punches(ctx, &days, &grouped);
    let columns = vec![
        col("date", "Date", ColumnKind::Date),
        col("code", "Code", ColumnKind::Text),
        col("name", "Name", ColumnKind::Text),
        col("shift", "Shift", ColumnKind::Text),
        col("clock_in", "Clock in", ColumnKind::DateTime),
        col("clock_out", "Clock out", ColumnKind::DateTime),
        col("status", "Status", ColumnKind::Text),
        col("flags", "Flags", ColumnKind::Text),
        col("reason", "Reason", ColumnKind::Text),
        col("punches", "Raw punches", ColumnKind::Text),
    ];
    let rows: Vec<Vec<Cell>> = days
        .iter()
        .filter(|d| is_outlier(&flags_of(d)))
        .map(|d| {
            let behind = punches_of_day(ctx, d, &grouped, &claimed);
            vec![
                Cell::Date(d.work_date),
                Cell::Text(d.user_id.clone()),
                ctx.name(&d.user_id),
                ctx.shift(&d.shift_code),
                ctx.time(d.clock_in_utc),
                ctx.time(d.clock_out_utc),
                Cell::Text(status_label(&d.status)),
                flags_label(&flags_of(d)),
                d.reason.clone().map_or(Cell::Empty, Cell::Text),
                punch_list(ctx, &behind),
            ]
        })
        .collect();
    let totals = None;
    Ok(Body { title: ReportKind::Outliers.title().into(), columns, rows, totals, default_sort: vec!["date", "code"] })
}

fn in_period(date: NaiveDate, request: &ReportRequest) -> bool {
    date >= request.from && date <= request.to
}

pub(super) async fn first_last(store: &Store, ctx: &Context, request: &ReportRequest) -> Result<Body, ReportError> {
    let punches = ctx.punches(store, request).await?;
    let columns = vec![
        col("date", "Date", ColumnKind::Date),
        col("weekday", "Day", ColumnKind::Text),
        col("code", "Code", ColumnKind::Text),
        col("name", "Name", ColumnKind::Text),
        col("first", "First punch", ColumnKind::DateTime),
        col("last", "Last punch", ColumnKind::DateTime),
        col("span", "Total time", ColumnKind::Minutes),
        col("punch_count", "Punches", ColumnKind::Integer),
        col("devices", "Devices", ColumnKind::Text),
    ];
    let mut rows = Vec::new();
    for ((code, date), list) in punches_by_day(ctx, &punches) {
        let (Some(first), Some(last)) = (list.first(), list.last()) else { continue };
        if !in_period(date, request) {
            continue;
        }
        let mut devices: Vec<&str> = list.iter().map(|p| p.device_name.as_str()).collect();
        devices.sort_unstable();
        devices.dedup();
        rows.push(vec![
            Cell::Date(date),
            weekday(date),
            Cell::Text(code.clone()),
            ctx.name(&code),
            ctx.time(Some(first.utc_time)),
            ctx.time(Some(last.utc_time)),
            Cell::Minutes((last.utc_time - first.utc_time).num_minutes()),
            Cell::Integer(list.len() as i64),
            Cell::Text(devices.join(", ")),
        ]);
    }
    let totals = Some(totals_row(columns.len(), "Total".to_owned(), &rows, &[6, 7]));
    Ok(Body { title: ReportKind::FirstLastPunch.title().into(), columns, rows, totals, default_sort: vec!["date", "code"] })
}

/// A ZKTeco punch state as people read it.
pub fn punch_state_label(state: i32) -> String {
    match state {
        0 => "Check-in".into(),
        1 => "Check-out".into(),
        2 => "Break out".into(),
        3 => "Break in".into(),
        4 => "Overtime in".into(),
        5 => "Overtime out".into(),
        255 => "Undefined".into(),
        n => format!("State {n}"),
    }
}

/// A ZKTeco verify type as people read it.
pub fn verify_label(verify: i32) -> String {
    match verify {
        0 | 3 => "Password".into(),
        1 => "Fingerprint".into(),
        2 | 4 => "Card".into(),
        15 => "Face".into(),
        25 => "Palm".into(),
        n => format!("Type {n}"),
    }
}

pub(super) async fn punch_details(store: &Store, ctx: &Context, request: &ReportRequest) -> Result<Body, ReportError> {
    let punches = ctx.punches(store, request).await?;
    let columns = vec![
        col("date", "Date", ColumnKind::Date),
        col("time", "Punch time", ColumnKind::DateTime),
        col("code", "Code", ColumnKind::Text),
        col("name", "Name", ColumnKind::Text),
        col("device", "Device", ColumnKind::Text),
        col("state", "Punch state", ColumnKind::Text),
        col("verify", "Verify type", ColumnKind::Text),
        col("device_time", "Device wall time", ColumnKind::Text),
    ];
    let rows: Vec<Vec<Cell>> = punches
        .iter()
        .filter(|p| in_period(ctx.local_date(p.utc_time), request))
        .map(|p| {
            vec![
                Cell::Date(ctx.local_date(p.utc_time)),
                ctx.time(Some(p.utc_time)),
                Cell::Text(p.user_id.clone()),
                ctx.name(&p.user_id),
                Cell::Text(p.device_name.clone()),
                Cell::Text(punch_state_label(p.punch_state)),
                Cell::Text(verify_label(p.verify_type)),
                Cell::Text(p.local_time.format("%Y-%m-%d %H:%M:%S").to_string()),
            ]
        })
        .collect();
    let totals = None;
    Ok(Body { title: ReportKind::PunchDetails.title().into(), columns, rows, totals, default_sort: vec!["time", "code"] })
}

pub(super) async fn history(store: &Store, ctx: &Context, request: &ReportRequest, filter: &PeriodFilter) -> Result<Body, ReportError> {
    let Some(employee) = &request.employee else {
        return Err(ReportError::Invalid("choose an employee for the employee history".into()));
    };
    let days = queries::days_between(store, request.from, request.to, filter).await?;
    let punches = ctx.punches(store, request).await?;
    let grouped = punches_by_day(ctx, &punches);
    let claimed = claimed_punches(ctx, &days, &grouped);
    let columns = vec![
        col("date", "Date", ColumnKind::Date),
        col("weekday", "Day", ColumnKind::Text),
        col("code", "Code", ColumnKind::Code),
        col("shift", "Shift", ColumnKind::Text),
        col("clock_in", "Clock in", ColumnKind::DateTime),
        col("clock_out", "Clock out", ColumnKind::DateTime),
        col("worked", "Worked", ColumnKind::Minutes),
        col("overtime", "Overtime", ColumnKind::Minutes),
        col("late", "Late by", ColumnKind::Minutes),
        col("early", "Early by", ColumnKind::Minutes),
        col("status", "Status", ColumnKind::Text),
        col("flags", "Flags", ColumnKind::Text),
        col("punches", "Punches", ColumnKind::Text),
    ];
    let by_date: HashMap<NaiveDate, Vec<&ProcessedDay>> = days.iter().fold(HashMap::new(), |mut m, d| {
        m.entry(d.work_date).or_insert_with(Vec::new).push(d);
        m
    });
    let mut rows = Vec::new();
    let mut date = request.from;
    while date <= request.to {
        let holiday = ctx.holidays.contains_key(&date);
        match by_date.get(&date) {
            Some(list) => {
                for d in list {
                    rows.push(vec![
                        Cell::Date(date),
                        weekday(date),
                        Cell::Code(day_code(d, holiday).into()),
                        ctx.shift(&d.shift_code),
                        ctx.time(d.clock_in_utc),
                        ctx.time(d.clock_out_utc),
                        minutes(d.worked_min),
                        minutes(d.overtime_min),
                        minutes(d.late_min),
                        minutes(d.early_min),
                        Cell::Text(status_label(&d.status)),
                        flags_label(&flags_of(d)),
                        punch_list(ctx, &punches_of_day(ctx, d, &grouped, &claimed)),
                    ]);
                }
            }
            None if filter.shift.is_none() => {
                let mut row = vec![Cell::Empty; columns.len()];
                row[0] = Cell::Date(date);
                row[1] = weekday(date);
                row[2] = if holiday { Cell::Code("H".into()) } else { Cell::Empty };
                row[10] = Cell::Text(ctx.holidays.get(&date).map_or_else(|| "No record".into(), |name| format!("Holiday: {name}")));
                let unclaimed: Vec<&PunchRow> =
                    grouped.get(&(employee.0.clone(), date)).into_iter().flatten().copied().filter(|p| !claimed.contains_key(&p.id)).collect();
                row[12] = punch_list(ctx, &unclaimed);
                rows.push(row);
            }
            None => {}
        }
        date += TimeDelta::days(1);
    }
    let totals = totals_row(columns.len(), "Total".to_owned(), &rows, &[6, 7, 8, 9]);
    let name = ctx.names.get(&employee.0).filter(|n| !n.is_empty()).map_or_else(|| employee.0.clone(), |n| format!("{n} ({})", employee.0));
    Ok(Body {
        title: format!("{} · {name}", ReportKind::EmployeeHistory.title()),
        columns,
        rows,
        totals: Some(totals),
        default_sort: vec!["date"],
    })
}

/// The first and last day of the month `date` falls in.
pub fn month_of(date: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = date.with_day(1).unwrap_or(date);
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    (first, next.and_then(|n| n.pred_opt()).unwrap_or(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(status: &str, flags: &str, late: Option<i32>, clock_in: bool) -> ProcessedDay {
        let at = NaiveDate::from_ymd_opt(2026, 10, 21).and_then(|d| d.and_hms_opt(7, 0, 0)).expect("time");
        ProcessedDay {
            id: 1,
            user_id: "1001".into(),
            work_date: at.date(),
            shift_code: "DAY".into(),
            status: status.into(),
            clock_in_local: clock_in.then_some(at),
            clock_in_utc: clock_in.then_some(at),
            clock_out_local: None,
            clock_out_utc: None,
            worked_min: None,
            break_min: None,
            payable_min: None,
            scheduled_min: None,
            overtime_min: None,
            late_min: late,
            early_min: None,
            duplicates: 0,
            flags: flags.into(),
            is_final: true,
            reason: None,
            revision: 1,
            rule_plugin: "standard".into(),
            rule_version: "1".into(),
            manual_override: false,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn timesheet_codes_follow_status_and_flags() {
        assert_eq!(day_code(&day("present", "[]", Some(0), true), false), "P");
        assert_eq!(day_code(&day("present", "[\"late\"]", Some(12), true), false), "L");
        assert_eq!(day_code(&day("absent", "[]", None, false), false), "A");
        assert_eq!(day_code(&day("absent", "[\"holiday\"]", None, false), false), "H");
        assert_eq!(day_code(&day("absent", "[]", None, false), true), "H", "a holiday date without the flag");
        assert_eq!(day_code(&day("absent", "[\"off_day\"]", None, false), false), "O");
        assert_eq!(day_code(&day("incomplete", "[\"missing_out\"]", None, true), false), "M");
        assert_eq!(day_code(&day("half_day", "[]", None, true), false), "HD");
        assert_eq!(day_code(&day("off_day_work", "[\"off_day\"]", Some(0), true), false), "P", "worked on an off day");
    }

    #[test]
    fn labels_read_as_words() {
        assert_eq!(status_label("half_day"), "Half day");
        assert_eq!(status_label(""), "");
        assert_eq!(punch_state_label(1), "Check-out");
        assert_eq!(verify_label(15), "Face");
        assert_eq!(verify_label(99), "Type 99");
    }

    #[test]
    fn months_end_on_their_last_day() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        assert_eq!(month_of(d(2026, 2, 14)), (d(2026, 2, 1), d(2026, 2, 28)));
        assert_eq!(month_of(d(2026, 12, 31)), (d(2026, 12, 1), d(2026, 12, 31)));
    }
}
