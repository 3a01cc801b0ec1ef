//! The output contract: what a plugin's result must look like before the host stores or sends it.
//!
//! A plugin is site code the bridge does not control. Its output is checked here, purely (no
//! storage, no clock), after conversion to the common text model, so version-1 (text) and
//! version-2 (typed) shift rules meet the same rules. A violation is a [`Violation`] naming the
//! plugin, its version, the employee, the date, the field and the offending value (shortened for
//! display); the caller fails that employee's batch and keeps its days pending.
//!
//! Shift-rules output ([`check_rules_output`]):
//! - at most [`max_records`] records (days of the input × (templates + 1)); one per (date, shift);
//! - an output with no record, no unassigned and no review entry for an employee who punched on an
//!   asked day is refused (it would clear the days without storing anything);
//! - `date` is `YYYY-MM-DD` within the days the input covers: the asked days from 3 days before the
//!   first to 2 days after the last (the host reads punches from 2 days before to 2 days after, and
//!   an early-morning punch can belong to the previous day's night shift). The host stores the
//!   asked range ± 1 day and drops the outer context days, as before;
//! - `shift` is one of the input's template codes, or none (unscheduled);
//! - `status` is one of [`STATUSES`]; every flag is one of [`FLAGS`], or the plugin's own flag
//!   under [`OWN_FLAG_PREFIX`] (version-2 plugins' extra flags are their own by construction);
//!   flags are at most [`MAX_FLAG_CHARS`] characters of `a-z 0-9 _ -`, at most [`MAX_FLAGS`];
//! - `clock_in` / `clock_out` are RFC 3339 times; clock-out is not before clock-in; both lie in the
//!   shift's window as the rules define it (start − early-in window, end + late-out window, in the
//!   local wall time written, ± 1 h for a DST night), or for an unscheduled record within its date
//!   and the next day;
//! - every minute figure is within `0..=`[`MAX_DAY_MINUTES`] (or the window's length if longer);
//!   worked and break fit between clock-in and clock-out; payable is at most worked plus two
//!   rounding steps ([`PAYABLE_ROUNDING_SLACK_MIN`]); `duplicates` is at most the input's punches;
//! - `reason` is at most [`MAX_REASON_BYTES`] bytes;
//! - unassigned and review entries are at most as many as the input's punches.
//!
//! CRM-mapping output ([`check_crm_request`]): the body at most [`MAX_BODY_BYTES`]; at most
//! [`MAX_HEADERS`] headers, each name an HTTP token of at most [`MAX_HEADER_NAME_BYTES`], each
//! value visible ASCII / spaces / tabs (no CR, LF or other control characters) of at most
//! [`MAX_HEADER_VALUE_BYTES`]; no header the host sets itself ([`RESERVED_HEADERS`]).

use std::collections::{BTreeSet, HashSet};

use attendance_plugin_sdk::text as model;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

/// The statuses of `shift-rules.md` R9 and R11: the words of [`crate::domain::AttendanceStatus`].
pub const STATUSES: [&str; 6] = crate::domain::AttendanceStatus::WORDS;

/// The flags of `shift-rules.md` §6 (R2–R10).
pub const FLAGS: [&str; 20] = [
    "amended",
    "below_absent_threshold",
    "clock_suspect",
    "dst_ambiguous",
    "dst_gap",
    "dst_transition",
    "duplicate",
    "early_exit",
    "holiday",
    "in_outlier",
    "late",
    "missing_in",
    "missing_out",
    "off_day",
    "out_outlier",
    "outlier_punches",
    "overtime",
    "short_span",
    "state_mismatch",
    "unpaired_break",
];

/// A version-1 plugin's own flags start with this (`x-night_bonus`).
pub const OWN_FLAG_PREFIX: &str = "x-";
/// Longest reason, bytes.
pub const MAX_REASON_BYTES: usize = 1024;
/// Longest flag, characters.
pub const MAX_FLAG_CHARS: usize = 64;
/// Most flags on one record.
pub const MAX_FLAGS: usize = 32;
/// Largest minute figure of one day (unless the shift's window is longer).
pub const MAX_DAY_MINUTES: i32 = 1440;
/// How far payable time may exceed worked time: two rounding steps of up to an hour (clock-in
/// rounded down, clock-out up).
pub const PAYABLE_ROUNDING_SLACK_MIN: i32 = 120;
/// DST slack on windows written in local wall time: a night may be an hour longer or shorter.
const DST_SLACK_MIN: i64 = 60;
/// Largest CRM body, bytes.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Most extra headers on a CRM request.
pub const MAX_HEADERS: usize = 32;
/// Longest header name, bytes.
pub const MAX_HEADER_NAME_BYTES: usize = 128;
/// Longest header value, bytes.
pub const MAX_HEADER_VALUE_BYTES: usize = 8 * 1024;
/// Headers the host sets itself; a mapping may not set or override them (lower case).
pub const RESERVED_HEADERS: [&str; 8] =
    ["authorization", "idempotency-key", "content-type", "content-length", "host", "webhook-id", "webhook-timestamp", "webhook-signature"];
/// Longest value shown in an error, characters.
const SHOWN_VALUE_CHARS: usize = 80;

/// One broken rule of the output contract, with everything needed to find it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin {plugin} {version} broke the output contract for employee {employee}{on}: {field} = {value}: {rule}", on = self.date.as_ref().map(|d| format!(" on {d}")).unwrap_or_default())]
pub struct Violation {
    /// Plugin name.
    pub plugin: String,
    /// Plugin version (as the plugin reports it).
    pub version: String,
    /// The employee (or, for a CRM request, the day's user id).
    pub employee: String,
    /// The record's date, when the violation is in one record.
    pub date: Option<String>,
    /// The field (`status`, `clock_out`, `headers[2].name`, …).
    pub field: String,
    /// The offending value, quoted and shortened for display.
    pub value: String,
    /// Which rule.
    pub rule: Rule,
}

/// The rules of the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rule {
    /// More records than the input can have days × shifts.
    #[error("more records than days × shifts of the input ({max})")]
    TooManyRecords {
        /// The bound.
        max: usize,
    },
    /// No record at all although the employee punched on an asked day.
    #[error("no record, unassigned or review entry although the employee punched on an asked day")]
    NoRecords,
    /// Two records for the same date and shift.
    #[error("a second record for the same date and shift")]
    DuplicateRecord,
    /// Not a `YYYY-MM-DD` date.
    #[error("not a date (YYYY-MM-DD)")]
    BadDate,
    /// A date outside the days the input covers.
    #[error("not a day the input covers ({from} to {to})")]
    DateOutOfRange {
        /// First allowed day.
        from: NaiveDate,
        /// Last allowed day.
        to: NaiveDate,
    },
    /// A shift code the input has no template for.
    #[error("not a shift template of the input")]
    UnknownShift,
    /// A status outside the vocabulary.
    #[error("not a documented status ({})", STATUSES.join(", "))]
    UnknownStatus,
    /// A flag outside the vocabulary (and without the own-flag prefix).
    #[error("not a documented flag (a plugin's own flags start with {OWN_FLAG_PREFIX:?})")]
    UnknownFlag,
    /// A flag that is too long or has characters outside `a-z 0-9 _ -`.
    #[error("a flag is at most {MAX_FLAG_CHARS} characters of a-z, 0-9, _ and -")]
    BadFlag,
    /// Too many flags.
    #[error("at most {MAX_FLAGS} flags")]
    TooManyFlags,
    /// The reason is too long.
    #[error("at most {MAX_REASON_BYTES} bytes")]
    ReasonTooLong,
    /// A time that does not parse.
    #[error("not an RFC 3339 time")]
    BadTime,
    /// Clock-out before clock-in.
    #[error("clock-out before clock-in")]
    OutBeforeIn,
    /// A time outside the shift's window.
    #[error("outside the shift's window ({from} to {to})")]
    OutsideWindow {
        /// Window start (local wall time).
        from: NaiveDateTime,
        /// Window end (local wall time).
        to: NaiveDateTime,
    },
    /// A minute figure out of range.
    #[error("not within 0..={max} minutes")]
    MinutesOutOfRange {
        /// The bound.
        max: i32,
    },
    /// Worked or break time longer than clock-in to clock-out.
    #[error("longer than clock-in to clock-out ({span} min)")]
    LongerThanSpan {
        /// Minutes between clock-in and clock-out.
        span: i64,
    },
    /// Payable time beyond worked time plus rounding.
    #[error("payable exceeds worked ({worked}) + {PAYABLE_ROUNDING_SLACK_MIN} min of rounding")]
    PayableAboveWorked {
        /// Worked minutes.
        worked: i32,
    },
    /// More of something than the input has punches.
    #[error("more than the input's {punches} punches")]
    MoreThanPunches {
        /// Punches in the input.
        punches: usize,
    },
    /// The CRM body is too large.
    #[error("the body is larger than {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    /// Too many headers.
    #[error("at most {MAX_HEADERS} headers")]
    TooManyHeaders,
    /// A header name that is not an HTTP token (or too long).
    #[error("not an HTTP header name (a token of at most {MAX_HEADER_NAME_BYTES} bytes)")]
    BadHeaderName,
    /// A header value with control characters (CR, LF: a smuggled header) or too long.
    #[error("not a header value (visible ASCII, spaces and tabs, at most {MAX_HEADER_VALUE_BYTES} bytes)")]
    BadHeaderValue,
    /// A header the host sets itself.
    #[error("a header the bridge sets itself ({})", RESERVED_HEADERS.join(", "))]
    ReservedHeader,
}

/// The value as shown in an error: quoted (control characters escaped) and cut to a few dozen
/// characters, so a 1 MB reason never ends up in a log line.
pub fn shown(value: &str) -> String {
    let mut out = String::from("\"");
    let mut cut = false;
    for c in value.chars() {
        if out.len() >= SHOWN_VALUE_CHARS {
            cut = true;
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    if cut {
        out.push_str(&format!(" (… {} bytes)", value.len()));
    }
    out
}

/// Who produced the output, for the errors.
#[derive(Debug, Clone, Copy)]
pub struct Producer<'a> {
    /// Plugin name.
    pub plugin: &'a str,
    /// Plugin version.
    pub version: &'a str,
    /// Whether it is a version-2 (typed) plugin: its flags are documented ones or its extra flags.
    pub typed: bool,
}

/// What the host asked a shift-rules plugin.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    /// The input it was given.
    pub input: &'a model::RulesInput,
    /// The pending days it was asked about.
    pub days: &'a BTreeSet<NaiveDate>,
}

impl Asked<'_> {
    /// The dates a record may carry: the asked span from 3 days before to 2 days after.
    pub fn allowed_dates(&self) -> Option<(NaiveDate, NaiveDate)> {
        let (first, last) = (self.days.first()?, self.days.last()?);
        Some((first.checked_sub_signed(TimeDelta::days(3))?, last.checked_add_signed(TimeDelta::days(2))?))
    }
}

/// The most records an input allows: its days × (templates + the unscheduled record).
pub fn max_records(asked: &Asked<'_>) -> usize {
    let days = asked.allowed_dates().map_or(0, |(from, to)| usize::try_from((to - from).num_days() + 1).unwrap_or(0));
    days.saturating_mul(asked.input.templates.len() + 1)
}

struct Checker<'a> {
    producer: Producer<'a>,
    employee: &'a str,
}

impl Checker<'_> {
    fn violation(&self, date: Option<&str>, field: impl Into<String>, value: &str, rule: Rule) -> Box<Violation> {
        Box::new(Violation {
            plugin: self.producer.plugin.to_owned(),
            version: self.producer.version.to_owned(),
            employee: self.employee.to_owned(),
            date: date.map(|d| shown(d).trim_matches('"').to_owned()),
            field: field.into(),
            value: shown(value),
            rule,
        })
    }
}

/// Checks one employee's shift-rules output against the contract.
///
/// # Errors
/// The first [`Violation`] found (boxed: the happy path stays small).
pub fn check_rules_output(producer: Producer<'_>, asked: Asked<'_>, output: &model::RulesOutput) -> Result<(), Box<Violation>> {
    let checker = Checker { producer, employee: &asked.input.user_id };
    let max = max_records(&asked);
    if output.records.len() > max {
        return Err(checker.violation(None, "records", &format!("{} records", output.records.len()), Rule::TooManyRecords { max }));
    }
    let punches = asked.input.punches.len();
    for (field, count) in [("unassigned", output.unassigned.len()), ("review", output.review.len())] {
        if count > punches {
            return Err(checker.violation(None, field, &format!("{count} entries"), Rule::MoreThanPunches { punches }));
        }
    }
    if output.records.is_empty() && output.unassigned.is_empty() && output.review.is_empty() {
        let punched = asked.input.punches.iter().any(|p| punch_date(&p.time).is_some_and(|d| asked.days.contains(&d)));
        if punched {
            return Err(checker.violation(None, "records", "no records", Rule::NoRecords));
        }
    }
    let Some((from, to)) = asked.allowed_dates() else { return Ok(()) };
    let mut seen = HashSet::with_capacity(output.records.len());
    for record in &output.records {
        let date = parse_date(&record.date).ok_or_else(|| checker.violation(Some(&record.date), "date", &record.date, Rule::BadDate))?;
        if date < from || date > to {
            return Err(checker.violation(Some(&record.date), "date", &record.date, Rule::DateOutOfRange { from, to }));
        }
        if !seen.insert((date, record.shift.as_deref())) {
            return Err(checker.violation(Some(&record.date), "shift", record.shift.as_deref().unwrap_or(""), Rule::DuplicateRecord));
        }
        check_record(&checker, asked.input, date, record)?;
    }
    Ok(())
}

/// The local date of a punch's wall time (`YYYY-MM-DDTHH:MM:SS`).
fn punch_date(time: &str) -> Option<NaiveDate> {
    parse_date(time.get(..10)?)
}

/// Reads a `YYYY-MM-DD` date. The zero-padded form every plugin writes is read by hand: this runs
/// once per record of every batch, and chrono's format interpreter cost a measurable share of the
/// plugin path. Anything else goes through chrono as before (it also takes `2025-3-3`).
fn parse_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

/// Reads a template's `HH:MM` start or end (by hand when zero-padded, as [`parse_date`]).
fn parse_hh_mm(text: &str) -> Option<NaiveTime> {
    let b = text.as_bytes();
    if b.len() != 5 || b[2] != b':' {
        return NaiveTime::parse_from_str(text, "%H:%M").ok();
    }
    NaiveTime::from_hms_opt(digits(&b[0..2])?, digits(&b[3..5])?, 0)
}

/// The decimal value of ASCII digits (`None` if any byte is not a digit).
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |n, &b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
}

fn check_record(checker: &Checker<'_>, input: &model::RulesInput, date: NaiveDate, record: &model::AttendanceRecord) -> Result<(), Box<Violation>> {
    let on = Some(record.date.as_str());
    let fail = |field: &str, value: &str, rule: Rule| Err(checker.violation(on, field, value, rule));
    if !STATUSES.contains(&record.status.as_str()) {
        return fail("status", &record.status, Rule::UnknownStatus);
    }
    if record.flags.len() > MAX_FLAGS {
        return fail("flags", &format!("{} flags", record.flags.len()), Rule::TooManyFlags);
    }
    for flag in &record.flags {
        let well_formed = !flag.is_empty()
            && flag.chars().count() <= MAX_FLAG_CHARS
            && flag.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !well_formed {
            return fail("flags", flag, Rule::BadFlag);
        }
        if !(FLAGS.contains(&flag.as_str()) || flag.starts_with(OWN_FLAG_PREFIX) || checker.producer.typed) {
            return fail("flags", flag, Rule::UnknownFlag);
        }
    }
    if record.reason.len() > MAX_REASON_BYTES {
        return fail("reason", &record.reason, Rule::ReasonTooLong);
    }
    let window = match record.shift.as_deref() {
        Some(code) => {
            let Some(template) = input.templates.get(code) else { return fail("shift", code, Rule::UnknownShift) };
            shift_window(date, template)
        }
        None => None,
    };
    let window = match window {
        Some(window) => window,
        // Unscheduled (R11 groups at a day boundary up to 24 h), or a template whose times do not
        // read: the date and the next day.
        None => (date.and_time(NaiveTime::MIN), date.and_time(NaiveTime::MIN) + TimeDelta::days(2)),
    };
    let parse = |field: &str, text: &Option<String>| -> Result<Option<DateTime<FixedOffset>>, Box<Violation>> {
        let Some(text) = text else { return Ok(None) };
        let time = DateTime::parse_from_rfc3339(text).map_err(|_| checker.violation(on, field, text, Rule::BadTime))?;
        let local = time.naive_local();
        if local < window.0 || local > window.1 {
            return Err(checker.violation(on, field, text, Rule::OutsideWindow { from: window.0, to: window.1 }));
        }
        Ok(Some(time))
    };
    let clock_in = parse("clock_in", &record.clock_in)?;
    let clock_out = parse("clock_out", &record.clock_out)?;
    let span = match (clock_in, clock_out) {
        (Some(i), Some(o)) if o < i => return fail("clock_out", record.clock_out.as_deref().unwrap_or_default(), Rule::OutBeforeIn),
        (Some(i), Some(o)) => Some((o - i).num_minutes()),
        _ => None,
    };
    let max = i32::try_from((window.1 - window.0).num_minutes()).unwrap_or(i32::MAX).max(MAX_DAY_MINUTES);
    let minutes = [
        ("worked_min", record.worked_min),
        ("break_min", record.break_min),
        ("payable_min", record.payable_min),
        ("scheduled_min", record.scheduled_min),
        ("overtime_min", record.overtime_min),
        ("late_min", record.late_min),
        ("early_min", record.early_min),
    ];
    for (field, value) in minutes {
        if let Some(v) = value
            && !(0..=max).contains(&v)
        {
            return fail(field, &v.to_string(), Rule::MinutesOutOfRange { max });
        }
    }
    if let Some(span) = span {
        for (field, value) in [("worked_min", record.worked_min), ("break_min", record.break_min)] {
            if let Some(v) = value
                && i64::from(v) > span
            {
                return fail(field, &v.to_string(), Rule::LongerThanSpan { span });
            }
        }
    }
    if let (Some(payable), Some(worked)) = (record.payable_min, record.worked_min)
        && payable > worked.saturating_add(PAYABLE_ROUNDING_SLACK_MIN)
    {
        return fail("payable_min", &payable.to_string(), Rule::PayableAboveWorked { worked });
    }
    let punches = input.punches.len();
    if usize::try_from(record.duplicates).unwrap_or(usize::MAX) > punches {
        return fail("duplicates", &record.duplicates.to_string(), Rule::MoreThanPunches { punches });
    }
    Ok(())
}

/// The shift's window on `date` in local wall time (R3), widened by an hour each side for a DST
/// night; `None` when the template's times do not read.
fn shift_window(date: NaiveDate, template: &model::Template) -> Option<(NaiveDateTime, NaiveDateTime)> {
    let start = parse_hh_mm(&template.start)?;
    let end = parse_hh_mm(&template.end)?;
    let starts = date.and_time(start);
    let ends = if end <= start { date.checked_add_signed(TimeDelta::days(1))?.and_time(end) } else { date.and_time(end) };
    let from = starts - TimeDelta::minutes(i64::from(template.early_in_window_min) + DST_SLACK_MIN);
    let to = ends + TimeDelta::minutes(i64::from(template.late_out_window_min) + DST_SLACK_MIN);
    Some((from, to))
}

/// Checks a CRM mapping's request for one day.
///
/// # Errors
/// The first [`Violation`] found (boxed: the happy path stays small).
pub fn check_crm_request(producer: Producer<'_>, day: &model::CrmDay, body_len: usize, headers: &[(String, String)]) -> Result<(), Box<Violation>> {
    let checker = Checker { producer, employee: &day.user_id };
    let on = Some(day.day.date.as_str());
    if body_len > MAX_BODY_BYTES {
        return Err(checker.violation(on, "body", &format!("{body_len} bytes"), Rule::BodyTooLarge));
    }
    if headers.len() > MAX_HEADERS {
        return Err(checker.violation(on, "headers", &format!("{} headers", headers.len()), Rule::TooManyHeaders));
    }
    for (i, (name, value)) in headers.iter().enumerate() {
        if name.is_empty() || name.len() > MAX_HEADER_NAME_BYTES || !name.bytes().all(is_token_byte) {
            return Err(checker.violation(on, format!("headers[{i}].name"), name, Rule::BadHeaderName));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(checker.violation(on, format!("headers[{i}].name"), name, Rule::ReservedHeader));
        }
        if value.len() > MAX_HEADER_VALUE_BYTES || !value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) {
            return Err(checker.violation(on, format!("headers[{i}].value"), value, Rule::BadHeaderValue));
        }
    }
    Ok(())
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests;
