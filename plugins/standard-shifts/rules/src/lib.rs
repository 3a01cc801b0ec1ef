//! The default shift rules (`shift-rules.md` §6.2, R1–R11), on the SDK's plain model.
//!
//! Times are compared as instants; wall times are kept for display and rounding only. Every punch
//! ends up traceable: assigned (kept or a duplicate), unassigned (outside every window), or in the
//! review list (invalid or future timestamp).

use std::collections::{BTreeMap, BTreeSet};

use attendance_plugin_sdk::model::{AttendanceRecord, Device, Review, RulesInput, RulesOutput, Template, Unassigned};
use chrono::{DateTime, Datelike as _, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset as _, TimeDelta, TimeZone as _, Timelike as _, Utc};
use chrono_tz::Tz;

type Instant = DateTime<Utc>;

/// How a wall time was turned into an instant.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resolved {
    Exact,
    Gap,
    Fold,
}

/// Both candidates of a wall time in `tz`: (earlier, later, kind). In a gap, the offset in force
/// before the gap is used (R2).
fn candidates(tz: Tz, local: NaiveDateTime) -> (Instant, Instant, Resolved) {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => (t.to_utc(), t.to_utc(), Resolved::Exact),
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.to_utc(), b.to_utc());
            (a.min(b), a.max(b), Resolved::Fold)
        }
        LocalResult::None => {
            let before = match tz.from_local_datetime(&(local - TimeDelta::hours(3))) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.offset().fix().local_minus_utc(),
                LocalResult::None => 0,
            };
            let at = (local - TimeDelta::seconds(i64::from(before))).and_utc();
            (at, at, Resolved::Gap)
        }
    }
}

fn instant_of(tz: Tz, local: NaiveDateTime) -> Instant {
    candidates(tz, local).0
}

/// `YYYY-MM-DDTHH:MM:SS`. The fixed-width form every device and the host write is read directly
/// (chrono's format-string parser was the largest single cost of a rules run); anything else goes
/// through chrono, so what is accepted does not change.
fn parse_local(text: &str) -> Option<NaiveDateTime> {
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
fn parse_date(text: &str) -> Option<NaiveDate> {
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

fn parse_instant(text: &str) -> Option<Instant> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc()).or_else(|| parse_local(text).map(|t| t.and_utc()))
}

/// RFC 3339 with the zone's offset (`2025-06-02T08:57:12+02:00`), the same text chrono's
/// `%Y-%m-%dT%H:%M:%S%:z` gives. Written digit by digit: `format!`'s machinery was a fifth of a
/// rules run, most of it here (a few of these per day). Years outside 0..=9999 take `format!`.
fn display(tz: Tz, at: Instant) -> String {
    let local = at.with_timezone(&tz);
    let offset = local.offset().fix().local_minus_utc();
    let (sign, offset) = if offset < 0 { ('-', -offset) } else { ('+', offset) };
    let offset = offset.unsigned_abs();
    let Some(year) = u32::try_from(local.year()).ok().filter(|y| *y <= 9999) else {
        return format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
            local.year(),
            local.month(),
            local.day(),
            local.hour(),
            local.minute(),
            local.second(),
            offset / 3600,
            offset % 3600 / 60
        );
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

/// `YYYY-MM-DD`, what `NaiveDate`'s `to_string` gives, written directly (see [`display`]).
fn date_text(date: NaiveDate) -> String {
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

fn minutes(d: TimeDelta) -> i32 {
    i32::try_from(d.num_seconds().div_euclid(60)).unwrap_or(i32::MAX)
}

fn offset_at(tz: Tz, at: Instant) -> i32 {
    at.with_timezone(&tz).offset().fix().local_minus_utc()
}

/// A valid punch, resolved.
#[derive(Clone)]
struct Punch {
    device: String,
    seq: i64,
    at: Instant,
    state: u8,
    resolved: Resolved,
    suspect: bool,
}

/// One shift instance (a workday, or an off-day built from the default template).
struct Instance {
    date: NaiveDate,
    template: Template,
    off: bool,
    holiday: bool,
    explicit: bool,
    start: Instant,
    end: Instant,
    window_start: Instant,
    window_end: Instant,
    end_open: bool,
    punches: Vec<usize>,
    outlier: bool,
}

impl Instance {
    fn contains(&self, at: Instant) -> bool {
        at >= self.window_start && if self.end_open { at < self.window_end } else { at <= self.window_end }
    }

    fn distance(&self, at: Instant) -> TimeDelta {
        if at < self.window_start { self.window_start - at } else { at - self.window_end }
    }
}

/// Runs the default rules.
///
/// # Errors
/// A message for input the rules cannot read (an unknown time zone or template, a bad time).
pub fn process(input: &RulesInput) -> Result<RulesOutput, String> {
    let site: Tz = input.site_tz.parse().map_err(|_| format!("unknown site time zone {:?}", input.site_tz))?;
    let now = parse_instant(&input.now).ok_or_else(|| format!("bad now {:?}", input.now))?;
    let mut output = RulesOutput::default();

    // R1, R2: identity, validity, local → instant (per device, in log order for the fold rule).
    let mut raw: Vec<_> = input.punches.iter().collect();
    raw.sort_by(|a, b| (&a.device, a.seq).cmp(&(&b.device, b.seq)));
    let mut seen = BTreeSet::new();
    let mut previous: BTreeMap<&str, Instant> = BTreeMap::new();
    let mut punches = Vec::new();
    // What depends only on the device (its entry, zone, valid-from), worked out once per run of
    // its punches (they come grouped by device) instead of once per punch.
    let mut context: Option<(&str, Option<&Device>, Tz, NaiveDateTime)> = None;
    for p in raw {
        if !seen.insert((p.device.as_str(), p.time.as_str())) {
            continue; // a re-pulled record
        }
        let (device, tz, valid_from) = match context {
            Some((id, device, tz, valid_from)) if id == p.device => (device, tz, valid_from),
            _ => {
                let device = input.devices.iter().find(|d| d.id == p.device);
                let tz: Tz = device.and_then(|d| d.tz.parse().ok()).unwrap_or(site);
                let valid_from = device.and_then(|d| d.valid_from.as_deref()).and_then(parse_local).unwrap_or_else(|| {
                    NaiveDate::from_ymd_opt(2020, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or_default()
                });
                context = Some((p.device.as_str(), device, tz, valid_from));
                (device, tz, valid_from)
            }
        };
        let local = parse_local(&p.time).ok_or_else(|| format!("bad punch time {:?}", p.time))?;
        let (earlier, later, resolved) = candidates(tz, local);
        let prev = previous.get(p.device.as_str()).copied();
        let at = if resolved == Resolved::Fold && prev.is_some_and(|prev| earlier < prev) { later } else { earlier };
        previous.insert(p.device.as_str(), at);
        if local < valid_from {
            output.review.push(Review { time: display(site, at), reason: "invalid_timestamp".into() });
            continue;
        }
        if at > now + TimeDelta::minutes(10) {
            output.review.push(Review { time: display(site, at), reason: "future_timestamp".into() });
            continue;
        }
        let suspect = device.is_some_and(|d| d.clock_offset_s.abs() > 120);
        punches.push(Punch { device: p.device.clone(), seq: p.seq, at, state: p.state, resolved, suspect });
    }
    punches.sort_by(|a, b| (a.at, &a.device, a.seq).cmp(&(b.at, &b.device, b.seq)));

    let scheduled = !input.roster.is_empty() || input.weekly.is_some() || input.default_shift.is_some();
    if !scheduled {
        output.records = unscheduled(input, site, now, &punches);
        return Ok(output);
    }

    let mut instances = build_instances(input, site, &punches)?;
    // R4: assignment, and unassigned outliers tied to the nearest instance.
    let mut unassigned: Vec<(Instant, NaiveDate)> = Vec::new();
    for (index, p) in punches.iter().enumerate() {
        if let Some(instance) = instances.iter_mut().find(|i| i.contains(p.at)) {
            instance.punches.push(index);
            continue;
        }
        let nearest = instances.iter_mut().fold(None::<&mut Instance>, |best, i| match best {
            Some(b) if b.distance(p.at) <= i.distance(p.at) => Some(b),
            _ => Some(i),
        });
        if let Some(instance) = nearest {
            instance.outlier = true;
            unassigned.push((p.at, instance.date));
        }
    }
    unassigned.sort();
    output.unassigned = unassigned.into_iter().map(|(at, date)| Unassigned { time: display(site, at), date: date_text(date) }).collect();
    for instance in &instances {
        if let Some(record) = evaluate(input, site, now, instance, &punches) {
            output.records.push(record);
        }
    }
    output.records.sort_by(|a, b| (&a.date, &a.shift).cmp(&(&b.date, &b.shift)));
    Ok(output)
}

/// R3: the instances around the punches and on every rostered date, with windows cut where
/// consecutive instances overlap.
fn build_instances(input: &RulesInput, site: Tz, punches: &[Punch]) -> Result<Vec<Instance>, String> {
    let roster: BTreeMap<NaiveDate, Option<String>> = input
        .roster
        .iter()
        .map(|r| parse_date(&r.date).map(|d| (d, r.shift.clone())).ok_or_else(|| format!("bad roster date {:?}", r.date)))
        .collect::<Result<_, _>>()?;
    let holidays: BTreeSet<NaiveDate> = input.holidays.iter().filter_map(|h| parse_date(h)).collect();
    let mut dates: BTreeSet<NaiveDate> = roster.keys().copied().collect();
    for p in punches {
        let day = p.at.with_timezone(&site).date_naive();
        for d in [day.pred_opt(), Some(day), day.succ_opt()].into_iter().flatten() {
            dates.insert(d);
        }
    }
    let weekday = |d: NaiveDate| ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][d.weekday().num_days_from_monday() as usize];
    let template = |code: &str| input.template(code).ok_or_else(|| format!("unknown shift template {code:?}"));
    let mut instances = Vec::new();
    for date in dates {
        let (code, mut off, explicit) = match roster.get(&date) {
            Some(Some(code)) => (Some(code.clone()), false, true),
            Some(None) => (input.default_shift.clone(), true, true),
            None => match &input.weekly {
                Some(w) if w.days.iter().any(|d| d.eq_ignore_ascii_case(weekday(date))) => (Some(w.shift.clone()), false, false),
                _ => (input.default_shift.clone(), true, false),
            },
        };
        let holiday = holidays.contains(&date);
        let code = if holiday && !off {
            off = true;
            input.default_shift.clone().or(code)
        } else {
            code
        };
        let Some(code) = code else { continue };
        let t = template(&code)?;
        let start_time = NaiveTime::parse_from_str(&t.start, "%H:%M").map_err(|_| format!("bad start {:?} in {code}", t.start))?;
        let end_time = NaiveTime::parse_from_str(&t.end, "%H:%M").map_err(|_| format!("bad end {:?} in {code}", t.end))?;
        let end_date = if end_time <= start_time { date.succ_opt().unwrap_or(date) } else { date };
        let start = instant_of(site, date.and_time(start_time));
        let end = instant_of(site, end_date.and_time(end_time));
        instances.push(Instance {
            date,
            window_start: start - TimeDelta::minutes(i64::from(t.early_in_window_min)),
            window_end: end + TimeDelta::minutes(i64::from(t.late_out_window_min)),
            template: t,
            off,
            holiday,
            explicit,
            start,
            end,
            end_open: false,
            punches: Vec::new(),
            outlier: false,
        });
    }
    instances.sort_by_key(|i| i.start);
    for k in 1..instances.len() {
        let (before, after) = instances.split_at_mut(k);
        let (prev, next) = (&mut before[k - 1], &mut after[0]);
        if prev.window_end >= next.window_start {
            let middle = prev.end + (next.start - prev.end) / 2;
            let cut = middle.clamp(next.window_start, prev.window_end);
            prev.window_end = cut;
            prev.end_open = true;
            next.window_start = cut;
        }
    }
    Ok(instances)
}

/// R5–R10 for one instance; `None` when it produces no record.
fn evaluate(input: &RulesInput, site: Tz, now: Instant, instance: &Instance, all: &[Punch]) -> Option<AttendanceRecord> {
    let t = &instance.template;
    let final_ = now >= instance.window_end + TimeDelta::minutes(i64::from(t.settle_min))
        && input.devices.iter().all(|d| d.watermark.as_deref().and_then(parse_instant).is_some_and(|w| w >= instance.window_end));
    let scheduled_min = minutes(instance.end - instance.start);
    let mut flags: BTreeSet<&'static str> = BTreeSet::new();
    if instance.outlier {
        flags.insert("outlier_punches");
    }
    if offset_at(site, instance.start) != offset_at(site, instance.end) {
        flags.insert("dst_transition");
    }
    let mut record = AttendanceRecord {
        date: date_text(instance.date),
        shift: Some(t.code.clone()),
        status: String::new(),
        clock_in: None,
        clock_out: None,
        worked_min: None,
        break_min: None,
        payable_min: None,
        scheduled_min: Some(scheduled_min),
        overtime_min: None,
        late_min: None,
        early_min: None,
        duplicates: 0,
        flags: Vec::new(),
        is_final: final_,
        reason: String::new(),
    };
    if instance.punches.is_empty() {
        if instance.off || !instance.explicit || !final_ {
            return None;
        }
        record.status = "absent".into();
        record.reason = "no punch in the shift window".into();
        flags.remove("dst_transition");
        record.flags = flags.into_iter().map(str::to_owned).collect();
        return Some(record);
    }
    let assigned: Vec<&Punch> = instance.punches.iter().filter_map(|i| all.get(*i)).collect();
    for p in &assigned {
        match p.resolved {
            Resolved::Gap => {
                flags.insert("dst_gap");
            }
            Resolved::Fold => {
                flags.insert("dst_ambiguous");
            }
            Resolved::Exact => {}
        }
        if p.suspect {
            flags.insert("clock_suspect");
        }
    }
    // R5: anchor-based bounce dedup across devices.
    let mut kept: Vec<&Punch> = Vec::new();
    for p in assigned {
        match kept.last() {
            Some(last) if p.at - last.at <= TimeDelta::seconds(i64::from(t.dedup_window_s)) => record.duplicates += 1,
            _ => kept.push(p),
        }
    }
    if record.duplicates > 0 {
        flags.insert("duplicate");
    }
    // R6: first/last, or one event when the span is too short.
    let (first, last) = (kept[0], kept[kept.len() - 1]);
    let (clock_in, clock_out) = if last.at - first.at < TimeDelta::minutes(i64::from(t.min_span_min)) {
        if kept.len() > 1 {
            flags.insert("short_span");
        }
        if (first.at - instance.start).abs() <= (first.at - instance.end).abs() {
            flags.insert("missing_out");
            (Some(first), None)
        } else {
            flags.insert("missing_in");
            (None, Some(last))
        }
    } else {
        (Some(first), Some(last))
    };
    if clock_in.is_some_and(|p| p.state == 1 || p.state == 5) || clock_out.is_some_and(|p| p.state == 0 || p.state == 4) {
        flags.insert("state_mismatch");
    }
    record.clock_in = clock_in.map(|p| display(site, p.at));
    record.clock_out = clock_out.map(|p| display(site, p.at));
    // R7: breaks between clock-in and clock-out.
    let mut break_seconds = 0;
    if let (Some(cin), Some(cout)) = (clock_in, clock_out) {
        let mut open: Option<Instant> = None;
        for p in kept.iter().filter(|p| p.at > cin.at && p.at < cout.at) {
            match p.state {
                2 if open.is_some() => {
                    flags.insert("unpaired_break");
                }
                2 => open = Some(p.at),
                3 => match open.take() {
                    Some(started) => break_seconds += (p.at - started).num_seconds(),
                    None => {
                        flags.insert("unpaired_break");
                    }
                },
                _ => {}
            }
        }
        if open.is_some() {
            flags.insert("unpaired_break");
        }
    }
    // R8: metrics.
    if let (Some(cin), Some(cout)) = (clock_in, clock_out) {
        let worked = minutes(cout.at - cin.at - TimeDelta::seconds(break_seconds));
        record.worked_min = Some(worked);
        record.break_min = Some(minutes(TimeDelta::seconds(break_seconds)));
        let (payable, out_for_overtime) = match &t.rounding {
            Some(r) if r.interval_min > 0 => {
                let rin = round_wall(cin.at.with_timezone(&site).naive_local(), r.interval_min, &r.mode);
                let rout = round_wall(cout.at.with_timezone(&site).naive_local(), r.interval_min, &r.mode);
                (minutes(rout - rin - TimeDelta::seconds(break_seconds)), instant_of(site, rout))
            }
            _ => (worked, cout.at),
        };
        record.payable_min = Some(payable);
        if instance.off {
            record.overtime_min = Some(worked);
        } else {
            let post = minutes((out_for_overtime - instance.end).max(TimeDelta::zero()));
            let overtime = if post >= i32::try_from(t.overtime_min_min).unwrap_or(i32::MAX) { post } else { 0 };
            if overtime > 0 {
                flags.insert("overtime");
            }
            record.overtime_min = Some(overtime);
        }
    }
    if !instance.off {
        if let Some(cin) = clock_in {
            if cin.at > instance.start + TimeDelta::minutes(i64::from(t.late_grace_min)) {
                flags.insert("late");
                record.late_min = Some(minutes(cin.at - instance.start));
            }
            if cin.at > instance.start + TimeDelta::minutes(i64::from(t.late_in_outlier_min)) {
                flags.insert("in_outlier");
            }
        }
        if let Some(cout) = clock_out {
            if cout.at < instance.end - TimeDelta::minutes(i64::from(t.early_grace_min)) {
                flags.insert("early_exit");
                record.early_min = Some(minutes(instance.end - cout.at));
            }
            if cout.at < instance.end - TimeDelta::minutes(i64::from(t.early_out_outlier_min)) {
                flags.insert("out_outlier");
            }
        }
    }
    // R9: status.
    record.status = if instance.off {
        flags.insert("off_day");
        if instance.holiday {
            flags.insert("holiday");
        }
        "off_day_work".into()
    } else if clock_in.is_none() || clock_out.is_none() {
        "incomplete".into()
    } else {
        let worked = record.worked_min.unwrap_or(0);
        if t.absent_below_min > 0 && worked < i32::try_from(t.absent_below_min).unwrap_or(i32::MAX) {
            flags.insert("below_absent_threshold");
            "absent".into()
        } else if t.half_day_below_min > 0 && worked < i32::try_from(t.half_day_below_min).unwrap_or(i32::MAX) {
            "half_day".into()
        } else {
            "present".into()
        }
    };
    record.reason = format!("first/last punch in the {} window", t.code);
    record.flags = flags.into_iter().map(str::to_owned).collect();
    Some(record)
}

/// Rounds a wall time to `interval` minutes: `nearest_half_up`, `up` or `down`.
fn round_wall(t: NaiveDateTime, interval_min: u32, mode: &str) -> NaiveDateTime {
    let step = i64::from(interval_min) * 60;
    let midnight = t.date().and_hms_opt(0, 0, 0).unwrap_or(t);
    let seconds = (t - midnight).num_seconds();
    let rounded = match mode {
        "up" => (seconds + step - 1).div_euclid(step) * step,
        "down" => seconds.div_euclid(step) * step,
        _ => (seconds + step / 2).div_euclid(step) * step,
    };
    midnight + TimeDelta::seconds(rounded)
}

/// R11: users with no roster and no default: first and last punch per 04:00-split day.
fn unscheduled(input: &RulesInput, site: Tz, now: Instant, punches: &[Punch]) -> Vec<AttendanceRecord> {
    let defaults = Template::default();
    let boundary = NaiveTime::parse_from_str(&defaults.unscheduled_day_boundary, "%H:%M").unwrap_or_default();
    let shift_back = boundary.num_seconds_from_midnight();
    let mut groups: BTreeMap<NaiveDate, Vec<&Punch>> = BTreeMap::new();
    for p in punches {
        let local = p.at.with_timezone(&site).naive_local() - TimeDelta::seconds(i64::from(shift_back));
        groups.entry(local.date()).or_default().push(p);
    }
    groups
        .into_iter()
        .map(|(date, group)| {
            let mut kept: Vec<&Punch> = Vec::new();
            let mut duplicates = 0;
            for p in group {
                match kept.last() {
                    Some(last) if p.at - last.at <= TimeDelta::seconds(i64::from(defaults.dedup_window_s)) => duplicates += 1,
                    _ => kept.push(p),
                }
            }
            let mut flags = BTreeSet::new();
            if duplicates > 0 {
                flags.insert("duplicate");
            }
            let (first, last) = (kept[0], kept[kept.len() - 1]);
            let short = last.at - first.at < TimeDelta::minutes(i64::from(defaults.min_span_min));
            if short {
                flags.insert("missing_out");
                if kept.len() > 1 {
                    flags.insert("short_span");
                }
            }
            let day_end = instant_of(site, date.succ_opt().unwrap_or(date).and_time(boundary));
            let final_ = now >= day_end + TimeDelta::minutes(i64::from(defaults.settle_min))
                && input.devices.iter().all(|d| d.watermark.as_deref().and_then(parse_instant).is_some_and(|w| w >= day_end));
            let worked = (!short).then(|| minutes(last.at - first.at));
            AttendanceRecord {
                date: date_text(date),
                shift: None,
                status: "unscheduled_work".into(),
                clock_in: Some(display(site, first.at)),
                clock_out: (!short).then(|| display(site, last.at)),
                worked_min: worked,
                break_min: worked.map(|_| 0),
                payable_min: worked,
                scheduled_min: None,
                overtime_min: Some(0),
                late_min: None,
                early_min: None,
                duplicates,
                flags: flags.into_iter().map(str::to_owned).collect(),
                is_final: final_,
                reason: "no schedule: first and last punch of the day".into(),
            }
        })
        .collect()
}

#[cfg(test)]
mod time_text_tests {
    use super::*;

    /// The direct readers and writer agree with chrono's format strings they replace.
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
        let zones: [Tz; 4] = [chrono_tz::Europe::Berlin, chrono_tz::America::St_Johns, chrono_tz::Asia::Kolkata, chrono_tz::UTC];
        for zone in zones {
            for seconds in [0_i64, 1_711_846_800, 1_729_990_800, 1_748_847_432, -86_400, 951_868_800, 1_009_843_199] {
                let at = chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default();
                assert_eq!(display(zone, at), at.with_timezone(&zone).format("%Y-%m-%dT%H:%M:%S%:z").to_string());
                let date = at.date_naive();
                assert_eq!(date_text(date), date.to_string());
            }
        }
    }
}
