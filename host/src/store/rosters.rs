//! Shift templates, per-date roster entries and holidays: what the rules need to know who was
//! expected when.
//!
//! A person's day is decided in this order: a roster entry for that date (a template, or off), else
//! their weekly pattern, else their default template; holidays turn a working day into an off day.

use chrono::{NaiveDate, NaiveTime};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::closed_set::{self, ClosedSet};
use super::schema::{employees, holidays, processed_attendance, raw_punches, roster_entries, shift_templates};
use super::{Store, StoreError, now_utc};
use crate::domain::EmployeeId;

/// How a template rounds clock-in and clock-out (`shift-rules.md` R8), stored as the word the rules
/// plugins receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::FromSqlRow, diesel::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum RoundingMode {
    /// To the nearest step, halves up (`nearest_half_up`).
    NearestHalfUp,
    /// Up to the next step (`up`).
    Up,
    /// Down to the previous step (`down`).
    Down,
}

impl ClosedSet for RoundingMode {
    const ALL: &'static [(Self, &'static str)] =
        &[(RoundingMode::NearestHalfUp, "nearest_half_up"), (RoundingMode::Up, "up"), (RoundingMode::Down, "down")];
    const WHAT: &'static str = "rounding mode";
}

impl RoundingMode {
    /// The stored word, which is also what forms, the CLI and the plugins use.
    pub fn as_str(self) -> &'static str {
        self.word()
    }
}

impl std::fmt::Display for RoundingMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Typed input (a form field, a CLI flag): exactly one of the words.
impl std::str::FromStr for RoundingMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s).ok_or_else(|| format!("{s:?} is not a rounding mode: nearest_half_up, up or down"))
    }
}

impl<DB: diesel::backend::Backend> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for RoundingMode
where
    String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        closed_set::from_sql::<Self, DB>(bytes)
    }
}

impl<DB: diesel::backend::Backend> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for RoundingMode
where
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
        closed_set::to_sql(self, out)
    }
}

/// A shift template: every parameter of the default rules (`shift-rules.md` §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = shift_templates, treat_none_as_null = true)]
pub struct ShiftTemplate {
    /// Short code used in rosters (`DAY`, `N22`).
    pub code: String,
    /// Human name.
    pub name: String,
    /// Start, `HH:MM` local.
    pub start_time: String,
    /// End, `HH:MM` local; at or before the start for a night shift.
    pub end_time: String,
    /// Minutes before the start a punch still opens the shift.
    pub early_in_window_min: i32,
    /// Minutes after the end a punch still closes the shift.
    pub late_out_window_min: i32,
    /// Clock-in this late is an outlier.
    pub late_in_outlier_min: i32,
    /// Clock-out this early is an outlier.
    pub early_out_outlier_min: i32,
    /// Lateness forgiven.
    pub late_grace_min: i32,
    /// Early leaving forgiven.
    pub early_grace_min: i32,
    /// Punches closer than this collapse into one.
    pub dedup_window_s: i32,
    /// A day shorter than this is flagged.
    pub min_span_min: i32,
    /// Overtime below this is not counted.
    pub overtime_min_min: i32,
    /// Worked less than this counts as absent (0 = off).
    pub absent_below_min: i32,
    /// Worked less than this counts as half a day (0 = off).
    pub half_day_below_min: i32,
    /// Rounding interval; `None` = no rounding.
    pub rounding_interval_min: Option<i32>,
    /// How; set exactly when the interval is.
    pub rounding_mode: Option<RoundingMode>,
    /// Minutes after the window closes before a day is final.
    pub settle_min: i32,
    /// Local time that splits unscheduled days.
    pub unscheduled_day_boundary: String,
    /// Last change, UTC.
    pub updated_at: chrono::NaiveDateTime,
}

impl ShiftTemplate {
    /// A template with the documented defaults.
    pub fn new(code: &str, start: NaiveTime, end: NaiveTime) -> Self {
        Self {
            code: code.to_owned(),
            name: String::new(),
            start_time: start.format("%H:%M").to_string(),
            end_time: end.format("%H:%M").to_string(),
            early_in_window_min: 120,
            late_out_window_min: 180,
            late_in_outlier_min: 120,
            early_out_outlier_min: 120,
            late_grace_min: 0,
            early_grace_min: 0,
            dedup_window_s: 60,
            min_span_min: 10,
            overtime_min_min: 30,
            absent_below_min: 0,
            half_day_below_min: 0,
            rounding_interval_min: None,
            rounding_mode: None,
            settle_min: 30,
            unscheduled_day_boundary: "04:00".to_owned(),
            updated_at: now_utc(),
        }
    }

    /// Checks the template's invariants: valid times, start ≠ end, and consecutive instances that can
    /// never overlap (shift length plus both windows under 24 hours).
    ///
    /// # Errors
    /// A sentence saying what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let parse = |label: &str, value: &str| {
            NaiveTime::parse_from_str(value, "%H:%M").map_err(|_| format!("{label} {value:?} is not HH:MM"))
        };
        let start = parse("start", &self.start_time)?;
        let end = parse("end", &self.end_time)?;
        parse("unscheduled_day_boundary", &self.unscheduled_day_boundary)?;
        if start == end {
            return Err("start and end must differ".into());
        }
        let minutes = |t: NaiveTime| i64::from(chrono::Timelike::num_seconds_from_midnight(&t) / 60);
        let length = (minutes(end) - minutes(start)).rem_euclid(1440);
        let span = length + i64::from(self.early_in_window_min) + i64::from(self.late_out_window_min);
        if span >= 1440 {
            return Err(format!("shift length plus windows is {span} min; it must stay under 1440"));
        }
        let non_negative = [
            self.early_in_window_min,
            self.late_out_window_min,
            self.late_in_outlier_min,
            self.early_out_outlier_min,
            self.late_grace_min,
            self.early_grace_min,
            self.dedup_window_s,
            self.min_span_min,
            self.overtime_min_min,
            self.absent_below_min,
            self.half_day_below_min,
            self.settle_min,
        ];
        if non_negative.iter().any(|v| *v < 0) {
            return Err("minute and second parameters cannot be negative".into());
        }
        match (self.rounding_interval_min, self.rounding_mode) {
            (None, None) => Ok(()),
            (Some(i), Some(_)) if i > 0 => Ok(()),
            _ => Err("rounding needs a positive interval and a mode: nearest_half_up, up or down".into()),
        }
    }
}

/// Creates or replaces a template after validating it.
///
/// # Errors
/// [`StoreError::Invalid`] for a template that breaks its invariants.
pub async fn save_template(store: &Store, template: &ShiftTemplate) -> Result<(), StoreError> {
    template.validate().map_err(|e| StoreError::Invalid(format!("shift {}: {e}", template.code)))?;
    let mut template = template.clone();
    template.updated_at = now_utc();
    let template = &template;
    crate::with_conn!(store, |conn| {
        diesel::insert_into(shift_templates::table)
            .values(template)
            .on_conflict(shift_templates::code)
            .do_update()
            .set(template)
            .execute(conn)
            .await
            .map(drop)
            .map_err(StoreError::from)
    })
}

/// Every template, by code.
///
/// # Errors
/// When the query fails.
pub async fn list_templates(store: &Store) -> Result<Vec<ShiftTemplate>, StoreError> {
    crate::with_conn!(store, |conn| {
        shift_templates::table.order(shift_templates::code).select(ShiftTemplate::as_select()).load(conn).await.map_err(StoreError::from)
    })
}

/// Removes a template.
///
/// # Errors
/// [`StoreError::NotFound`] when there is none by that code.
pub async fn remove_template(store: &Store, code: &str) -> Result<(), StoreError> {
    let removed = crate::with_conn!(store, |conn| {
        diesel::delete(shift_templates::table.find(code)).execute(conn).await.map_err(StoreError::from)
    })?;
    if removed == 0 { Err(StoreError::NotFound(format!("shift {code:?}"))) } else { Ok(()) }
}

/// Sets one person's roster for one date: `Some(code)` to work that template, `None` for a day off.
///
/// # Errors
/// When the database fails.
pub async fn set_roster(store: &Store, employee: &EmployeeId, date: NaiveDate, shift: Option<&str>) -> Result<(), StoreError> {
    crate::with_conn!(store, |conn| {
        diesel::insert_into(roster_entries::table)
            .values((roster_entries::employee_code.eq(employee), roster_entries::work_date.eq(date), roster_entries::shift_code.eq(shift)))
            .on_conflict((roster_entries::employee_code, roster_entries::work_date))
            .do_update()
            .set(roster_entries::shift_code.eq(shift))
            .execute(conn)
            .await
            .map(drop)
            .map_err(StoreError::from)
    })
}

/// Removes a per-date entry so the weekly pattern applies again.
///
/// # Errors
/// When the database fails.
pub async fn clear_roster(store: &Store, employee: &EmployeeId, date: NaiveDate) -> Result<(), StoreError> {
    crate::with_conn!(store, |conn| {
        diesel::delete(roster_entries::table.find((employee, date))).execute(conn).await.map(drop).map_err(StoreError::from)
    })
}

/// A person's per-date entries between two dates, inclusive: `(date, template or None for off)`.
///
/// # Errors
/// When the query fails.
pub async fn roster_between(
    store: &Store,
    employee: &EmployeeId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, Option<String>)>, StoreError> {
    Ok(rosters_between(store, &[employee], from, to).await?.remove(employee).unwrap_or_default())
}

/// [`roster_between`] for several employees over one date range: one query per chunk of employees.
///
/// # Errors
/// When the query fails.
pub async fn rosters_between(
    store: &Store,
    employees: &[&EmployeeId],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<std::collections::HashMap<EmployeeId, Vec<(NaiveDate, Option<String>)>>, StoreError> {
    let mut found: std::collections::HashMap<EmployeeId, Vec<(NaiveDate, Option<String>)>> = std::collections::HashMap::new();
    for chunk in employees.chunks(1000) {
        let codes: Vec<&str> = chunk.iter().map(|e| e.0.as_str()).collect();
        let rows: Vec<(EmployeeId, NaiveDate, Option<String>)> = crate::with_conn!(store, |conn| {
            roster_entries::table
                .filter(roster_entries::employee_code.eq_any(codes))
                .filter(roster_entries::work_date.between(from, to))
                .order((roster_entries::employee_code, roster_entries::work_date))
                .select((roster_entries::employee_code, roster_entries::work_date, roster_entries::shift_code))
                .load(conn)
                .await
                .map_err(StoreError::from)
        })?;
        for (employee, date, shift) in rows {
            found.entry(employee).or_default().push((date, shift));
        }
    }
    Ok(found)
}

/// Adds (or renames) a holiday.
///
/// # Errors
/// When the database fails.
pub async fn add_holiday(store: &Store, date: NaiveDate, name: &str) -> Result<(), StoreError> {
    crate::with_conn!(store, |conn| {
        diesel::insert_into(holidays::table)
            .values((holidays::holiday_date.eq(date), holidays::name.eq(name)))
            .on_conflict(holidays::holiday_date)
            .do_update()
            .set(holidays::name.eq(name))
            .execute(conn)
            .await
            .map(drop)
            .map_err(StoreError::from)
    })
}

/// Removes a holiday.
///
/// # Errors
/// [`StoreError::NotFound`] when that date is not a holiday.
pub async fn remove_holiday(store: &Store, date: NaiveDate) -> Result<(), StoreError> {
    let removed = crate::with_conn!(store, |conn| {
        diesel::delete(holidays::table.find(date)).execute(conn).await.map_err(StoreError::from)
    })?;
    if removed == 0 { Err(StoreError::NotFound(format!("holiday {date}"))) } else { Ok(()) }
}

/// Every holiday, by date.
///
/// # Errors
/// When the query fails.
pub async fn list_holidays(store: &Store) -> Result<Vec<(NaiveDate, String)>, StoreError> {
    crate::with_conn!(store, |conn| {
        holidays::table.order(holidays::holiday_date).select((holidays::holiday_date, holidays::name)).load(conn).await.map_err(StoreError::from)
    })
}

/// Which employee-days a roster change can alter, for [`mark_affected`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Affected {
    /// Everyone working the template (weekly pattern, default, a per-date entry, or a stored day).
    Template(String),
    /// All of one person's days (a new weekly pattern, activated again).
    Employee(EmployeeId),
    /// One person's day (a per-date entry).
    EmployeeDay(EmployeeId, NaiveDate),
    /// Everyone's day (a holiday added or removed).
    Day(NaiveDate),
}

/// Marks for re-processing the employee-days a roster change can alter and returns how many: the
/// days with punches (a punch's date and the day before, as new punches mark them: a night shift
/// ends the next morning) and the days already stored. The next processing run applies the change.
///
/// # Errors
/// When the database fails.
pub async fn mark_affected(store: &Store, affected: &Affected) -> Result<usize, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        let (people, dates): (Option<Vec<String>>, Option<(NaiveDate, NaiveDate)>) = match affected {
            Affected::Template(code) => {
                let mut people: Vec<String> = employees::table
                    .filter(employees::default_shift.eq(code).or(employees::weekly_shift.eq(code)))
                    .select(employees::employee_code)
                    .load(conn)
                    .await?;
                people.extend(
                    roster_entries::table
                        .filter(roster_entries::shift_code.eq(code))
                        .select(roster_entries::employee_code)
                        .distinct()
                        .load::<String>(conn)
                        .await?,
                );
                people.extend(
                    processed_attendance::table
                        .filter(processed_attendance::shift_code.eq(code))
                        .select(processed_attendance::user_id)
                        .distinct()
                        .load::<String>(conn)
                        .await?,
                );
                people.sort();
                people.dedup();
                (Some(people), None)
            }
            Affected::Employee(e) => (Some(vec![e.0.clone()]), None),
            Affected::EmployeeDay(e, d) => (Some(vec![e.0.clone()]), Some((*d, *d))),
            Affected::Day(d) => (None, Some((*d, *d))),
        };
        if people.as_ref().is_some_and(Vec::is_empty) {
            return Ok(0);
        }
        let mut punches = raw_punches::table.select((raw_punches::device_user_id, raw_punches::local_time)).into_boxed();
        let mut stored = processed_attendance::table.select((processed_attendance::user_id, processed_attendance::work_date)).into_boxed();
        if let Some(people) = &people {
            punches = punches.filter(raw_punches::device_user_id.eq_any(people.clone()));
            stored = stored.filter(processed_attendance::user_id.eq_any(people.clone()));
        }
        if let Some((from, to)) = dates {
            // A day's shift can end the next morning: its punches run to the end of the day after.
            let start = from.and_hms_opt(0, 0, 0).unwrap_or_default();
            let end = to.checked_add_days(chrono::Days::new(2)).unwrap_or(to).and_hms_opt(0, 0, 0).unwrap_or_default();
            punches = punches.filter(raw_punches::local_time.ge(start)).filter(raw_punches::local_time.lt(end));
            stored = stored.filter(processed_attendance::work_date.between(from, to));
        }
        let rows: Vec<(String, crate::domain::WallTime)> = punches.load(conn).await?;
        let kept: Vec<(String, NaiveDate)> = stored.load(conn).await?;
        let in_range = |d: &NaiveDate| dates.is_none_or(|(from, to)| (from..=to).contains(d));
        let mut days: std::collections::BTreeSet<(EmployeeId, NaiveDate)> = rows
            .into_iter()
            .flat_map(|(e, t)| {
                let day = t.0.date();
                [Some(day), day.pred_opt()].into_iter().flatten().map(move |d| (EmployeeId(e.clone()), d))
            })
            .filter(|(_, d)| in_range(d))
            .collect();
        days.extend(kept.into_iter().map(|(e, d)| (EmployeeId(e), d)));
        let count = days.len();
        super::pending::mark_days(conn, days, now).await?;
        Ok(count)
    })
}
