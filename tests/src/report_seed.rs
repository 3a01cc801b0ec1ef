//! A seeded month and a bit of attendance for the report suites and the timesheet benchmark:
//! employees (names with accents, one beginning with `=`, one with `<script>`), a day and a night
//! shift, a holiday, weekends off, and working days that are late, early, absent, incomplete or
//! outliers, with punches from two devices. Days are stored as processing stores them
//! (`attendance::upsert_days`), so the API and the reports read the same rows.

use attendance_bridge::domain::{DeviceId, EmployeeId, WallTime};
use attendance_bridge::store::attendance::{self, DayContent};
use attendance_bridge::store::devices::{self, NewDevice};
use attendance_bridge::store::punches::{self, NewPunch};
use attendance_bridge::store::rosters::{self, ShiftTemplate};
use attendance_bridge::store::{Store, employees};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Weekday};

/// The site zone the seed is written for (October 2026 has its DST change on the 25th).
pub const ZONE: &str = "Europe/Berlin";
/// First seeded day.
pub fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 1).expect("date")
}
/// Last seeded day (five weeks).
pub fn last_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 4).expect("date")
}
/// The company holiday.
pub fn holiday() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 14).expect("date")
}
/// The night the clocks go back (the night shift starting that evening ends an hour later by the clock).
pub fn dst_night() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 24).expect("date")
}
/// The employee working nights (across the DST change).
pub const NIGHT_WORKER: &str = "1004";

/// The special names, by code.
pub const SPECIAL: [(&str, &str); 3] = [("1001", "Zoë Ångström-Núñez"), ("1002", "=SUM(A1:A9) Formula"), ("1003", "<script>alert(1)</script> Bob")];

const FIRST_NAMES: [&str; 12] = ["Anna", "Björn", "Chloé", "Dmitri", "Eva", "François", "Greta", "Hiroshi", "Inés", "Jonas", "Kübra", "Léa"];
const LAST_NAMES: [&str; 8] = ["Müller", "Schmidt", "Okafor", "García", "Nowak", "Rossi", "Yılmaz", "Dubois"];

/// The code of the `i`th employee (0-based).
pub fn code(i: usize) -> String {
    format!("{}", 1001 + i)
}

fn name(i: usize) -> String {
    let code = code(i);
    SPECIAL
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| format!("{} {}", FIRST_NAMES[i % FIRST_NAMES.len()], LAST_NAMES[(i / FIRST_NAMES.len()) % LAST_NAMES.len()]), |(_, n)| (*n).to_owned())
}

fn template(code: &str, name: &str, start: &str, end: &str) -> ShiftTemplate {
    ShiftTemplate {
        code: code.into(),
        name: name.into(),
        start_time: start.into(),
        end_time: end.into(),
        early_in_window_min: 120,
        late_out_window_min: 240,
        late_in_outlier_min: 180,
        early_out_outlier_min: 180,
        late_grace_min: 5,
        early_grace_min: 5,
        dedup_window_s: 60,
        min_span_min: 30,
        overtime_min_min: 15,
        absent_below_min: 0,
        half_day_below_min: 0,
        rounding_interval_min: None,
        rounding_mode: None,
        settle_min: 60,
        unscheduled_day_boundary: "04:00".into(),
        updated_at: chrono::Utc::now().naive_utc(),
    }
}

/// What kind of day employee `i` has on `date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    Off,
    Holiday,
    Present,
    Late,
    Early,
    Absent,
    Incomplete,
    Outlier,
    HalfDay,
}

/// The seed's plan for one employee and date.
pub fn kind_of(i: usize, date: NaiveDate) -> DayKind {
    // The night of the DST change (Saturday 24 to Sunday 25 October) is worked: +02:00 in, +01:00 out.
    if code(i) == NIGHT_WORKER && date == dst_night() {
        return DayKind::Present;
    }
    if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        return DayKind::Off;
    }
    if date == holiday() {
        return DayKind::Holiday;
    }
    match (i + date.ordinal() as usize) % 11 {
        0 => DayKind::Absent,
        1 => DayKind::Late,
        2 => DayKind::Early,
        3 => DayKind::Incomplete,
        4 => DayKind::Outlier,
        5 => DayKind::HalfDay,
        6 => DayKind::Late,
        _ => DayKind::Present,
    }
}

fn utc(zone: chrono_tz::Tz, local: NaiveDateTime) -> chrono::DateTime<chrono::Utc> {
    WallTime(local).resolve(zone).map(|(t, _)| t).expect("a local time that exists")
}

/// One employee's day: the content stored and the punches (local time, device index, state).
fn day(i: usize, date: NaiveDate, zone: chrono_tz::Tz) -> (String, DayContent, Vec<(NaiveDateTime, usize, u8)>) {
    let night = code(i) == NIGHT_WORKER;
    let shift = if night { "NIGHT" } else { "DAY" };
    let (start, hours) = if night { (NaiveTime::from_hms_opt(22, 0, 0), 8) } else { (NaiveTime::from_hms_opt(9, 0, 0), 8) };
    let start = date.and_time(start.expect("time"));
    let kind = kind_of(i, date);
    let empty = |status: &str, flags: &str, reason: Option<&str>| DayContent {
        status: status.into(),
        clock_in_local: None,
        clock_in_utc: None,
        clock_out_local: None,
        clock_out_utc: None,
        worked_min: None,
        break_min: None,
        payable_min: None,
        scheduled_min: Some(480),
        overtime_min: None,
        late_min: None,
        early_min: None,
        duplicates: 0,
        flags: flags.into(),
        is_final: true,
        reason: reason.map(str::to_owned),
        rule_plugin: "standard-shifts".into(),
        rule_version: "1.0.0".into(),
    };
    let (late, early, worked_extra, flags, status, reason) = match kind {
        DayKind::Off => return (shift.into(), DayContent { scheduled_min: None, ..empty("absent", "[\"off_day\"]", None) }, Vec::new()),
        DayKind::Holiday => return (shift.into(), DayContent { scheduled_min: None, ..empty("absent", "[\"holiday\"]", None) }, Vec::new()),
        DayKind::Absent => return (shift.into(), empty("absent", "[]", Some("no punches")), Vec::new()),
        DayKind::Incomplete => {
            let cin = start + TimeDelta::minutes(2);
            let content = DayContent {
                clock_in_local: Some(cin),
                clock_in_utc: Some(utc(zone, cin).naive_utc()),
                ..empty("incomplete", "[\"missing_out\"]", Some("no clock-out"))
            };
            return (shift.into(), content, vec![(cin, 0, 0)]);
        }
        DayKind::Late => (17 + (i % 5) as i64 * 6, 0, 0, "[\"late\"]", "present", None),
        DayKind::Early => (0, 25 + (i % 3) as i64 * 10, 0, "[\"early_exit\"]", "present", None),
        DayKind::Outlier => (0, 0, 30, "[\"in_outlier\",\"outlier_punches\"]", "present", Some("clock-in 3 h 40 min before the shift")),
        DayKind::HalfDay => (0, 240, 0, "[]", "half_day", Some("worked half the day")),
        DayKind::Present => (0, 0, (i % 4) as i64 * 20, "[]", "present", None),
    };
    let cin = start + TimeDelta::minutes(late - 3);
    let cout = start + TimeDelta::hours(hours) - TimeDelta::minutes(early) + TimeDelta::minutes(worked_extra + 1);
    let (cin_utc, cout_utc) = (utc(zone, cin), utc(zone, cout));
    let worked = (cout_utc - cin_utc).num_minutes() - 30;
    let overtime = (worked - 450).max(0);
    let content = DayContent {
        status: status.into(),
        clock_in_local: Some(cin),
        clock_in_utc: Some(cin_utc.naive_utc()),
        clock_out_local: Some(cout),
        clock_out_utc: Some(cout_utc.naive_utc()),
        worked_min: Some(i32::try_from(worked).expect("minutes")),
        break_min: Some(30),
        payable_min: Some(i32::try_from(worked.min(450)).expect("minutes")),
        scheduled_min: Some(480),
        overtime_min: Some(i32::try_from(overtime).expect("minutes")),
        late_min: Some(i32::try_from(late.max(0)).expect("minutes")),
        early_min: Some(i32::try_from(early).expect("minutes")),
        duplicates: 0,
        flags: flags.into(),
        is_final: true,
        reason: reason.map(str::to_owned),
        rule_plugin: "standard-shifts".into(),
        rule_version: "1.0.0".into(),
    };
    let mut punches = vec![(cin, 0, 0), (cout, 1, 1)];
    if kind == DayKind::Outlier {
        punches.push((start - TimeDelta::minutes(220), 0, 0));
    }
    (shift.into(), content, punches)
}

/// What [`seed`] stored.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// Employee codes, in order.
    pub codes: Vec<String>,
    /// Processed days stored.
    pub days: usize,
    /// Punches stored.
    pub punches: usize,
}

/// Seeds `employees` people over `from..=to` (`with_punches` adds the raw punches from two devices).
///
/// # Panics
/// When the database refuses the seed.
pub async fn seed(store: &Store, employees_count: usize, from: NaiveDate, to: NaiveDate, with_punches: bool) -> Seeded {
    let zone: chrono_tz::Tz = ZONE.parse().expect("zone");
    rosters::save_template(store, &template("DAY", "Day shift", "09:00", "17:00")).await.expect("template");
    rosters::save_template(store, &template("NIGHT", "Night shift", "22:00", "06:00")).await.expect("template");
    rosters::add_holiday(store, holiday(), "Company day").await.expect("holiday");
    let front = devices::insert(store, &NewDevice::pull("Front door", "127.0.0.1", 4370, 0)).await.expect("device");
    let back = devices::insert(store, &NewDevice::pull("Warehouse gate", "127.0.0.2", 4370, 0)).await.expect("device");
    let device_ids: [DeviceId; 2] = [front.id, back.id];
    let people: Vec<(EmployeeId, Option<String>)> = (0..employees_count).map(|i| (EmployeeId(code(i)), Some(name(i)))).collect();
    employees::upsert_names(store, &people).await.expect("names");
    let dates: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
    let mut all_punches = Vec::new();
    let mut days = 0;
    for i in 0..employees_count {
        let employee = EmployeeId(code(i));
        let mut rows = Vec::with_capacity(dates.len());
        for date in &dates {
            let (shift, content, punches) = day(i, *date, zone);
            rows.push((*date, shift, content));
            for (local, device, state) in punches {
                all_punches.push(NewPunch {
                    device_id: device_ids[device],
                    employee: employee.clone(),
                    local_time: WallTime(local),
                    utc_time: utc(zone, local),
                    status: 0,
                    punch_state: state,
                    verify_type: if device == 0 { 1 } else { 15 },
                    device_seq: None,
                });
            }
        }
        days += rows.len();
        attendance::upsert_days(store, &employee, &rows).await.expect("days");
    }
    let mut stored = 0;
    if with_punches {
        for chunk in all_punches.chunks(5_000) {
            stored += punches::insert(store, chunk).await.expect("punches");
        }
    }
    Seeded { codes: (0..employees_count).map(code).collect(), days, punches: stored }
}
