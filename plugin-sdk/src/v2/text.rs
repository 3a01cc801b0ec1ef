//! Between the typed model and the text model of interface 1 (and of the fixtures).
//!
//! The host gives version-2 plugins the same input it gives version-1 plugins, read from text
//! here once, in native code; and a version-2 plugin's output is written back to text here. The
//! fixture helpers and native tests go through the same two functions, so a typed plugin is judged
//! exactly as the host will run it.

use chrono::{DateTime, Datelike as _, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike as _, Utc, Weekday};

use super::model as typed;
use crate::text as text;

/// Reads a text input. Every time, date and template reference is checked here, so the rules
/// receive only well-formed values.
///
/// # Errors
/// A message naming the first value that cannot be read: a punch time, a roster date, `now`, a
/// template's start or end, or a shift code with no template.
pub fn input_from_text(input: &text::RulesInput) -> Result<typed::RulesInput, String> {
    let now = parse_instant(&input.now).ok_or_else(|| format!("bad now {:?}", input.now))?;
    let codes: Vec<&str> = input.templates.keys().map(String::as_str).collect();
    let template_index = |code: &str| {
        codes.binary_search(&code).ok().and_then(|i| u32::try_from(i).ok()).ok_or_else(|| format!("unknown shift template {code:?}"))
    };
    let templates = input.templates.iter().map(|(code, t)| template_from_text(code, t)).collect::<Result<Vec<_>, _>>()?;

    // Listed devices first (sorted by id, stable, so the first of a repeated id wins as in
    // interface 1), then any device only a punch names.
    let mut devices: Vec<typed::Device> = input
        .devices
        .iter()
        .map(|d| typed::Device {
            id: d.id.clone(),
            tz: d.tz.clone(),
            valid_from: d.valid_from.as_deref().and_then(parse_local),
            watermark: d.watermark.as_deref().and_then(parse_instant),
            clock_offset_s: d.clock_offset_s,
            listed: true,
        })
        .collect();
    let mut unlisted: Vec<&str> = input.punches.iter().map(|p| p.device.as_str()).filter(|id| !devices.iter().any(|d| d.id == *id)).collect();
    unlisted.sort_unstable();
    unlisted.dedup();
    devices.extend(unlisted.into_iter().map(|id| typed::Device {
        id: id.to_owned(),
        tz: input.site_tz.clone(),
        valid_from: None,
        watermark: None,
        clock_offset_s: 0,
        listed: false,
    }));
    devices.sort_by(|a, b| a.id.cmp(&b.id));
    let device_index = |id: &str| {
        let first = devices.partition_point(|d| d.id.as_str() < id);
        u32::try_from(first).map_err(|_| "too many devices".to_owned())
    };

    let mut punches = Vec::with_capacity(input.punches.len());
    let mut last: Option<(&str, u32)> = None;
    for p in &input.punches {
        // Punches come grouped by device: look the device up once per run of them.
        let device = match last {
            Some((id, index)) if id == p.device => index,
            _ => {
                let index = device_index(&p.device)?;
                last = Some((p.device.as_str(), index));
                index
            }
        };
        let time = parse_local(&p.time).ok_or_else(|| format!("bad punch time {:?}", p.time))?;
        punches.push(typed::Punch { device, seq: p.seq, time, state: p.state });
    }
    let roster = input
        .roster
        .iter()
        .map(|r| {
            let date = parse_date(&r.date).ok_or_else(|| format!("bad roster date {:?}", r.date))?;
            let shift = r.shift.as_deref().map(template_index).transpose()?;
            Ok(typed::RosterEntry { date, shift })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let weekly = match &input.weekly {
        Some(w) => Some(typed::Weekly { days: w.days.iter().filter_map(|d| weekday(d)).collect(), shift: template_index(&w.shift)? }),
        None => None,
    };
    Ok(typed::RulesInput {
        user_id: input.user_id.clone(),
        site_tz: input.site_tz.clone(),
        now,
        devices,
        templates,
        roster,
        weekly,
        default_shift: input.default_shift.as_deref().map(template_index).transpose()?,
        holidays: input.holidays.iter().filter_map(|h| parse_date(h)).collect(),
        punches,
        config: input.config.clone(),
    })
}

fn template_from_text(code: &str, t: &text::Template) -> Result<typed::Template, String> {
    let time = |text: &str, what: &str| NaiveTime::parse_from_str(text, "%H:%M").map_err(|_| format!("bad {what} {text:?} in {code}"));
    Ok(crate::__shared_fields!(template: typed::Template {
        code: code.to_owned(),
        start: time(&t.start, "start")?,
        end: time(&t.end, "end")?,
        rounding: t.rounding.as_ref().map(|r| typed::Rounding {
            interval_min: r.interval_min,
            mode: match r.mode.as_str() {
                "up" => typed::RoundingMode::Up,
                "down" => typed::RoundingMode::Down,
                _ => typed::RoundingMode::NearestHalfUp,
            },
        }),
        unscheduled_day_boundary: NaiveTime::parse_from_str(&t.unscheduled_day_boundary, "%H:%M")
            .unwrap_or_else(|_| NaiveTime::from_hms_opt(4, 0, 0).unwrap_or_default()),
    } from t))
}

fn weekday(name: &str) -> Option<Weekday> {
    const NAMES: [(&str, Weekday); 7] = [
        ("mon", Weekday::Mon),
        ("tue", Weekday::Tue),
        ("wed", Weekday::Wed),
        ("thu", Weekday::Thu),
        ("fri", Weekday::Fri),
        ("sat", Weekday::Sat),
        ("sun", Weekday::Sun),
    ];
    NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, d)| *d)
}

/// Writes a typed output as text, naming templates by code (`templates`: the input's codes, by
/// position).
///
/// # Errors
/// When a record names a template position the input does not have.
pub fn output_to_text(output: typed::RulesOutput, templates: &[String]) -> Result<text::RulesOutput, String> {
    let records = output
        .records
        .into_iter()
        .map(|r| {
            let shift = match r.shift {
                Some(i) => Some(
                    usize::try_from(i)
                        .ok()
                        .and_then(|i| templates.get(i))
                        .cloned()
                        .ok_or_else(|| format!("a record names template {i}, which the input does not have"))?,
                ),
                None => None,
            };
            let mut flags: Vec<String> = r.flags.iter().map(|f| f.name().to_owned()).collect();
            if !r.extra_flags.is_empty() {
                flags.extend(r.extra_flags);
                flags.sort();
                flags.dedup();
            }
            Ok(crate::__shared_fields!(record: text::AttendanceRecord {
                date: date_text(r.date),
                shift,
                status: r.status.name().to_owned(),
                clock_in: r.clock_in.map(time_text),
                clock_out: r.clock_out.map(time_text),
                flags,
                is_final: r.is_final,
                reason: r.reason,
            } from r))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(text::RulesOutput {
        records,
        unassigned: output.unassigned.into_iter().map(|u| text::Unassigned { time: time_text(u.time), date: date_text(u.date) }).collect(),
        review: output.review.into_iter().map(|r| text::Review { time: time_text(r.time), reason: r.reason.name().to_owned() }).collect(),
    })
}

/// `YYYY-MM-DDTHH:MM:SS`. The fixed-width form every device and the host write is read directly
/// (chrono's format-string parser was the largest single cost of a rules run); anything else goes
/// through chrono, so what is accepted does not change.
pub fn parse_local(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() == 19
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && let (Some(date), Some(h), Some(m), Some(s)) = (fixed_date(&b[..10]), digits(&b[11..13]), digits(&b[14..16]), digits(&b[17..19]))
        && let Some(at) = date.and_hms_opt(h, m, s)
    {
        return Some(at);
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").ok()
}

/// `YYYY-MM-DD`, read directly when fixed-width, else through chrono (see [`parse_local`]).
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    fixed_date(text.as_bytes()).or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
}

fn fixed_date(b: &[u8]) -> Option<NaiveDate> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i32::try_from(digits(&b[..4])?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(&b[5..7])?, digits(&b[8..10])?)
}

/// The value of a run of ASCII digits (`None` if any byte is not one).
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
}

/// An instant: RFC 3339, or a wall time without zone read as UTC.
pub fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc()).or_else(|| parse_local(text).map(|t| t.and_utc()))
}

/// RFC 3339 with the offset (`2025-06-02T08:57:12+02:00`), the same text chrono's
/// `%Y-%m-%dT%H:%M:%S%:z` gives. Written digit by digit: `format!`'s machinery was a fifth of a
/// rules run. Years outside 0..=9999 take `format!`.
pub fn time_text(at: DateTime<FixedOffset>) -> String {
    let local = at.naive_local();
    let offset = at.offset().local_minus_utc();
    let (sign, offset) = if offset < 0 { ('-', offset.unsigned_abs()) } else { ('+', offset.unsigned_abs()) };
    let Some(year) = u32::try_from(local.year()).ok().filter(|y| *y <= 9999) else {
        return at.format("%Y-%m-%dT%H:%M:%S%:z").to_string();
    };
    let mut text = String::with_capacity(25);
    push_digits(&mut text, year, 4);
    text.push('-');
    push_digits(&mut text, local.month(), 2);
    text.push('-');
    push_digits(&mut text, local.day(), 2);
    text.push('T');
    push_digits(&mut text, local.hour(), 2);
    text.push(':');
    push_digits(&mut text, local.minute(), 2);
    text.push(':');
    push_digits(&mut text, local.second(), 2);
    text.push(sign);
    push_digits(&mut text, offset / 3600 % 100, 2);
    text.push(':');
    push_digits(&mut text, offset % 3600 / 60, 2);
    text
}

/// `YYYY-MM-DD`, what `NaiveDate`'s `to_string` gives, written directly (see [`time_text`]).
pub fn date_text(date: NaiveDate) -> String {
    let Some(year) = u32::try_from(date.year()).ok().filter(|y| *y <= 9999) else {
        return date.to_string();
    };
    let mut text = String::with_capacity(10);
    push_digits(&mut text, year, 4);
    text.push('-');
    push_digits(&mut text, date.month(), 2);
    text.push('-');
    push_digits(&mut text, date.day(), 2);
    text
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(text: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10u32.pow(place) % 10;
        text.push(char::from(b'0' + u8::try_from(digit).unwrap_or(0)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(punches: serde_json::Value) -> text::RulesInput {
        serde_json::from_value(serde_json::json!({
            "user_id": "1", "site_tz": "Europe/Berlin", "now": "2025-06-03T00:00:00Z",
            "devices": [{"id": "B", "tz": "Europe/Berlin"}, {"id": "A", "tz": "Europe/Berlin", "watermark": "2025-06-02T20:00:00+02:00"}],
            "templates": {"NIGHT": {"start": "22:00", "end": "06:00"}, "DAY": {"start": "09:00", "end": "17:00"}},
            "roster": [{"date": "2025-06-02", "shift": "NIGHT"}], "weekly": {"days": ["Mon", "xyz"], "shift": "DAY"},
            "punches": punches,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Devices sorted by id (so positions order punches as ids do), a device only punches name
    /// added unlisted, templates by code, unknown weekday names ignored as interface 1 did.
    #[test]
    fn text_input_reads_as_interface_1_meant_it() {
        let typed = input_from_text(&input(serde_json::json!([
            {"device": "Z", "seq": 1, "time": "2025-06-02T08:00:00", "state": 0},
            {"device": "A", "seq": 2, "time": "2025-06-02T09:00:00", "state": 1},
        ])))
        .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<(&str, bool)> = typed.devices.iter().map(|d| (d.id.as_str(), d.listed)).collect();
        assert_eq!(ids, [("A", true), ("B", true), ("Z", false)]);
        assert_eq!(typed.punches.iter().map(|p| p.device).collect::<Vec<_>>(), [2, 0]);
        assert_eq!(typed.templates.iter().map(|t| t.code.as_str()).collect::<Vec<_>>(), ["DAY", "NIGHT"]);
        assert_eq!(typed.roster[0].shift, Some(1));
        assert_eq!(typed.weekly.as_ref().map(|w| (w.days.clone(), w.shift)), Some((vec![Weekday::Mon], 0)));
        assert_eq!(typed.devices[0].watermark.map(|w| w.to_rfc3339()), Some("2025-06-02T18:00:00+00:00".to_owned()));
        let bad = input_from_text(&input(serde_json::json!([{"device": "A", "seq": 1, "time": "yesterday", "state": 0}])));
        assert_eq!(bad, Err("bad punch time \"yesterday\"".to_owned()));
    }

    /// Flags come out sorted by name, extra flags merged in; a template position the input does
    /// not have is an error, not a panic.
    #[test]
    fn typed_output_writes_as_interface_1() {
        let at = DateTime::from_timestamp(1_748_847_432, 0).unwrap_or_default().with_timezone(&FixedOffset::east_opt(7200).unwrap_or_else(|| panic!()));
        let record = typed::AttendanceRecord {
            date: at.date_naive(),
            shift: Some(1),
            status: typed::Status::HalfDay,
            clock_in: Some(at),
            clock_out: None,
            worked_min: Some(200),
            break_min: None,
            payable_min: None,
            scheduled_min: None,
            overtime_min: None,
            late_min: None,
            early_min: None,
            duplicates: 0,
            flags: [typed::Flag::Late, typed::Flag::EarlyExit].into_iter().collect(),
            extra_flags: vec!["night_bonus".into()],
            is_final: true,
            reason: "why".into(),
        };
        let codes = ["DAY".to_owned(), "NIGHT".to_owned()];
        let output = typed::RulesOutput { records: vec![record.clone()], ..typed::RulesOutput::default() };
        let written = output_to_text(output, &codes).unwrap_or_else(|e| panic!("{e}"));
        let r = &written.records[0];
        assert_eq!((r.date.as_str(), r.shift.as_deref(), r.status.as_str()), ("2025-06-02", Some("NIGHT"), "half_day"));
        assert_eq!(r.clock_in.as_deref(), Some("2025-06-02T08:57:12+02:00"));
        assert_eq!(r.flags, ["early_exit", "late", "night_bonus"]);
        let wrong = typed::RulesOutput { records: vec![typed::AttendanceRecord { shift: Some(7), ..record }], ..typed::RulesOutput::default() };
        assert!(output_to_text(wrong, &codes).is_err());
    }

    /// The direct readers and writers agree with chrono's format strings they replace.
    #[test]
    fn fast_paths_match_chrono() {
        for text in [
            "2025-06-02T08:57:12", "2025-03-30T02:30:00", "2024-02-29T23:59:59", "2025-02-29T10:00:00", "2025-06-02T24:00:00",
            "2016-12-31T23:59:60", "2025-6-2T8:57:12", "2025-06-02 08:57:12", "2025-06-02T08:57", "x025-06-02T08:57:12", "",
        ] {
            assert_eq!(parse_local(text), NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").ok(), "{text}");
        }
        for text in ["2025-06-02", "2024-02-29", "2025-02-29", "2025-6-2", "2025/06/02", "20250602", ""] {
            assert_eq!(parse_date(text), NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(), "{text}");
        }
        for offset in [7200, -12_600, 19_800, 0, -3600] {
            let zone = FixedOffset::east_opt(offset).unwrap_or_else(|| panic!("offset {offset}"));
            for seconds in [0_i64, 1_711_846_800, 1_729_990_800, 1_748_847_432, -86_400, 951_868_800, 1_009_843_199] {
                let at = DateTime::from_timestamp(seconds, 0).unwrap_or_default().with_timezone(&zone);
                assert_eq!(time_text(at), at.format("%Y-%m-%dT%H:%M:%S%:z").to_string());
                let date = at.date_naive();
                assert_eq!(date_text(date), date.to_string());
            }
        }
    }
}
