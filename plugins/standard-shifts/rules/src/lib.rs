//! The default shift rules (`shift-rules.md` §6.2, R1–R11), on the SDK's typed model
//! (interface 2).
//!
//! Times are compared as instants (Unix seconds); wall times are kept for display and rounding
//! only. Every punch ends up traceable: assigned (kept or a duplicate), unassigned (outside every
//! window), or in the review list (invalid or future timestamp).
//!
//! [`process`] takes the text model (fixtures, interface-1 plugins such as `quarter-hour`) and
//! converts exactly as the host does for a version-2 plugin; [`process_typed`] is the rules.

mod zone;

use std::collections::BTreeMap;

use attendance_plugin_sdk::text;
use attendance_plugin_sdk::v2::wire;
use attendance_plugin_sdk::v2::model::{
    AttendanceRecord, Device, Flag, Flags, Review, ReviewReason, RoundingMode, RulesInput, RulesOutput, Status, Template, Unassigned,
};
use chrono::{Datelike as _, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use chrono_tz::Tz;

use zone::{Instant, Resolved, Zone};

/// Runs the default rules on a text input.
///
/// # Errors
/// A message for input the rules cannot read (an unknown time zone or template, a bad time).
pub fn process(input: &text::RulesInput) -> Result<text::RulesOutput, String> {
    attendance_plugin_sdk::v2::process_text(input, |typed| process_typed(&typed))
}

/// A valid punch, resolved.
#[derive(Clone, Copy)]
struct Punch {
    device: u32,
    seq: i64,
    at: Instant,
    state: u8,
    resolved: Resolved,
    suspect: bool,
}

/// One shift instance (a workday, or an off-day built from the default template).
struct Instance<'a> {
    date: NaiveDate,
    shift: u32,
    template: &'a Template,
    off: bool,
    holiday: bool,
    explicit: bool,
    start: Instant,
    end: Instant,
    window_start: Instant,
    window_end: Instant,
    end_open: bool,
    outlier: bool,
}

impl Instance<'_> {
    fn contains(&self, at: Instant) -> bool {
        at >= self.window_start && if self.end_open { at < self.window_end } else { at <= self.window_end }
    }

    fn distance(&self, at: Instant) -> Instant {
        if at < self.window_start { self.window_start - at } else { at - self.window_end }
    }
}

const MINUTE: i64 = 60;

fn minutes(seconds: i64) -> i32 {
    i32::try_from(seconds.div_euclid(MINUTE)).unwrap_or(i32::MAX)
}

fn min_s(minutes: u32) -> i64 {
    i64::from(minutes) * MINUTE
}

/// Runs the default rules.
///
/// # Errors
/// A message for input the rules cannot read (an unknown site time zone, a template position
/// the input does not have).
pub fn process_typed(input: &RulesInput) -> Result<RulesOutput, String> {
    let site_tz: Tz = input.site_tz.parse().map_err(|_| format!("unknown site time zone {:?}", input.site_tz))?;
    let mut site = Zone::new(site_tz);
    let now = input.now.timestamp();
    let mut output = RulesOutput::default();
    let punches = resolve(input, site_tz, &mut site, now, &mut output);

    let scheduled = !input.roster.is_empty() || input.weekly.is_some() || input.default_shift.is_some();
    if !scheduled {
        output.records = unscheduled(input, &mut site, now, &punches);
        return Ok(output);
    }

    let mut instances = build_instances(input, &mut site, &punches)?;
    let (first, members, unassigned) = assign(&mut instances, &punches);
    output.unassigned = unassigned.into_iter().map(|(at, date)| Unassigned { time: site.zoned(at), date }).collect();
    output.records.reserve(instances.len());
    let mut kept = Vec::new();
    for (k, instance) in instances.iter().enumerate() {
        let assigned = members[first[k]..first[k + 1]].iter().filter_map(|i| punches.get(*i));
        if let Some(record) = evaluate(input, &mut site, now, instance, assigned, &mut kept) {
            output.records.push(record);
        }
    }
    output.records.sort_by_key(|r| (r.date, r.shift));
    Ok(output)
}

/// R4: each punch goes to the first instance, in start order, whose window holds it; a punch
/// outside every window is tied to the nearest instance (which gets the outlier flag).
///
/// Returns `(first, members, outliers)`: the instances' punches side by side in one list
/// (`members`, positions in `punches`, in time order), instance `k`'s being
/// `members[first[k]..first[k + 1]]`; and the outliers as `(instant, date of their instance)`,
/// sorted.
fn assign(instances: &mut [Instance<'_>], punches: &[Punch]) -> (Vec<usize>, Vec<usize>, Vec<(Instant, NaiveDate)>) {
    // Windows rarely nest, so the search starts at the first instance whose window (or an
    // earlier one's) reaches the punch.
    let mut reach = Vec::with_capacity(instances.len());
    let mut furthest = Instant::MIN;
    for i in instances.iter() {
        furthest = furthest.max(i.window_end);
        reach.push(furthest);
    }
    let mut owner: Vec<Option<usize>> = Vec::with_capacity(punches.len());
    let mut unassigned: Vec<(Instant, NaiveDate)> = Vec::new();
    for p in punches {
        let from = reach.partition_point(|end| *end < p.at);
        if let Some(k) = instances[from..].iter().position(|i| i.contains(p.at)) {
            owner.push(Some(from + k));
            continue;
        }
        owner.push(None);
        let mut nearest: Option<usize> = None;
        for (k, i) in instances.iter().enumerate() {
            if nearest.is_none_or(|b| instances[b].distance(p.at) > i.distance(p.at)) {
                nearest = Some(k);
            }
        }
        if let Some(k) = nearest {
            instances[k].outlier = true;
            unassigned.push((p.at, instances[k].date));
        }
    }
    unassigned.sort_unstable();
    let mut first = vec![0usize; instances.len() + 1];
    for k in owner.iter().flatten() {
        first[k + 1] += 1;
    }
    for k in 0..instances.len() {
        first[k + 1] += first[k];
    }
    let mut filled = first.clone();
    let mut members = vec![0usize; punches.len()];
    for (index, k) in owner.iter().enumerate() {
        if let Some(k) = k {
            members[filled[*k]] = index;
            filled[*k] += 1;
        }
    }
    (first, members, unassigned)
}

/// R1, R2: identity, validity, wall time → instant (per device, in log order for the fold
/// rule). Returns the valid punches in time order; invalid and future ones go to review.
fn resolve(input: &RulesInput, site_tz: Tz, site: &mut Zone, now: Instant, output: &mut RulesOutput) -> Vec<Punch> {
    let all = &input.punches;
    let mut order: Vec<u32> = (0..u32::try_from(all.len()).unwrap_or(u32::MAX)).collect();
    let punch = |i: u32| &all[i as usize];
    order.sort_unstable_by_key(|i| (punch(*i).device, punch(*i).seq, *i));
    let repulled = repulled(&order, all);

    let default_valid_from = NaiveDate::from_ymd_opt(2020, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or_default();
    let mut punches = Vec::with_capacity(all.len());
    // What depends only on the device, worked out once per run of its punches.
    let mut current: Option<(u32, Option<&Device>, Zone, NaiveDateTime)> = None;
    let mut previous: Option<Instant> = None;
    for (rank, i) in order.iter().enumerate() {
        if repulled.get(rank).copied().unwrap_or(false) {
            continue;
        }
        let p = punch(*i);
        if current.as_ref().is_none_or(|(d, ..)| *d != p.device) {
            let device = input.devices.get(p.device as usize);
            let tz: Tz = device.and_then(|d| d.tz.parse().ok()).unwrap_or(site_tz);
            let valid_from = device.and_then(|d| d.valid_from).unwrap_or(default_valid_from);
            current = Some((p.device, device, Zone::new(tz), valid_from));
            previous = None;
        }
        let Some((_, device, zone, valid_from)) = current.as_mut() else { continue };
        let (earlier, later, resolved) = zone.candidates(p.time);
        let at = if resolved == Resolved::Fold && previous.is_some_and(|prev| earlier < prev) { later } else { earlier };
        previous = Some(at);
        if p.time < *valid_from {
            output.review.push(Review { time: site.zoned(at), reason: ReviewReason::InvalidTimestamp });
            continue;
        }
        if at > now + 10 * MINUTE {
            output.review.push(Review { time: site.zoned(at), reason: ReviewReason::FutureTimestamp });
            continue;
        }
        let suspect = device.is_some_and(|d| d.clock_offset_s.abs() > 120);
        punches.push(Punch { device: p.device, seq: p.seq, at, state: p.state, resolved, suspect });
    }
    punches.sort_unstable_by_key(|p| (p.at, p.device, p.seq));
    punches
}

/// Which punches (by rank in `order`) repeat an earlier (device, wall time): a record pulled
/// twice. The first in log order stays.
fn repulled(order: &[u32], all: &[attendance_plugin_sdk::v2::model::Punch]) -> Vec<bool> {
    let punch = |i: u32| &all[i as usize];
    // Usually each device's log is in time order, and repeats sit next to each other.
    let in_time_order = order.windows(2).all(|w| {
        let (a, b) = (punch(w[0]), punch(w[1]));
        a.device != b.device || a.time <= b.time
    });
    let mut repeated = vec![false; order.len()];
    if in_time_order {
        for rank in 1..order.len() {
            let (a, b) = (punch(order[rank - 1]), punch(order[rank]));
            repeated[rank] = a.device == b.device && a.time == b.time;
        }
        return repeated;
    }
    let mut keyed: Vec<(u32, NaiveDateTime, usize)> = order.iter().enumerate().map(|(rank, i)| (punch(*i).device, punch(*i).time, rank)).collect();
    keyed.sort_unstable();
    for k in 1..keyed.len() {
        if keyed[k].0 == keyed[k - 1].0 && keyed[k].1 == keyed[k - 1].1 {
            repeated[keyed[k].2] = true;
        }
    }
    repeated
}

fn template(input: &RulesInput, index: u32) -> Result<&Template, String> {
    input.templates.get(index as usize).ok_or_else(|| format!("no shift template at position {index}"))
}

/// R3: the instances around the punches and on every rostered date, with windows cut where
/// consecutive instances overlap.
fn build_instances<'a>(input: &'a RulesInput, site: &mut Zone, punches: &[Punch]) -> Result<Vec<Instance<'a>>, String> {
    // The roster by date (for a date listed twice, the later entry wins), walked alongside the
    // dates below, which come in the same order.
    let mut listed: Vec<(NaiveDate, Option<u32>)> = input.roster.iter().map(|r| (r.date, r.shift)).collect();
    listed.sort_by_key(|(date, _)| *date);
    let mut roster: Vec<(NaiveDate, Option<u32>)> = Vec::with_capacity(listed.len());
    for (date, shift) in listed {
        match roster.last_mut() {
            Some(last) if last.0 == date => last.1 = shift,
            _ => roster.push((date, shift)),
        }
    }
    let mut holidays = input.holidays.clone();
    holidays.sort_unstable();
    // The local dates of the punches and a day on each side, in order (punches are in time
    // order), merged with the rostered dates.
    let mut around: Vec<NaiveDate> = Vec::new();
    let mut last_day = None;
    for p in punches {
        let day = site.local_day(p.at);
        if last_day == Some(day) {
            continue;
        }
        last_day = Some(day);
        for d in day - 1..=day + 1 {
            if around.last().is_none_or(|last| i64::from(wire::day_number(*last)) < d)
                && let Some(date) = i32::try_from(d).ok().and_then(|d| wire::date(d).ok())
            {
                around.push(date);
            }
        }
    }
    let mut dates: Vec<NaiveDate> = Vec::with_capacity(around.len() + roster.len());
    let (mut a, mut r) = (around.into_iter().peekable(), roster.iter().map(|(date, _)| *date).peekable());
    loop {
        let next = match (a.peek(), r.peek()) {
            (Some(x), Some(y)) if x < y => a.next(),
            (Some(x), Some(y)) if x > y => r.next(),
            (Some(_), Some(_)) => {
                r.next();
                a.next()
            }
            (Some(_), None) => a.next(),
            (None, _) => r.next(),
        };
        let Some(date) = next else { break };
        dates.push(date);
    }
    let mut instances = Vec::with_capacity(dates.len());
    let mut rostered = roster.iter().peekable();
    for date in dates {
        while rostered.next_if(|(d, _)| *d < date).is_some() {}
        let (shift, mut off, explicit) = match rostered.peek().filter(|(d, _)| *d == date).map(|(_, shift)| shift) {
            Some(Some(shift)) => (Some(*shift), false, true),
            Some(None) => (input.default_shift, true, true),
            None => match &input.weekly {
                Some(w) if w.days.contains(&date.weekday()) => (Some(w.shift), false, false),
                _ => (input.default_shift, true, false),
            },
        };
        let holiday = holidays.binary_search(&date).is_ok();
        let shift = if holiday && !off {
            off = true;
            input.default_shift.or(shift)
        } else {
            shift
        };
        let Some(shift) = shift else { continue };
        let t = template(input, shift)?;
        let end_date = if t.end <= t.start { date.succ_opt().unwrap_or(date) } else { date };
        let start = site.instant(date.and_time(t.start));
        let end = site.instant(end_date.and_time(t.end));
        instances.push(Instance {
            date,
            shift,
            template: t,
            off,
            holiday,
            explicit,
            start,
            end,
            window_start: start - min_s(t.early_in_window_min),
            window_end: end + min_s(t.late_out_window_min),
            end_open: false,
            outlier: false,
        });
    }
    instances.sort_by_key(|i| i.start);
    for k in 1..instances.len() {
        let (before, after) = instances.split_at_mut(k);
        let (prev, next) = (&mut before[k - 1], &mut after[0]);
        if prev.window_end >= next.window_start {
            // The midpoint, rounded up: punches are whole seconds, so "before a half second" and
            // "before the next whole second" select the same punches.
            let middle = prev.end + (next.start - prev.end + 1).div_euclid(2);
            let cut = middle.clamp(next.window_start, prev.window_end);
            prev.window_end = cut;
            prev.end_open = true;
            next.window_start = cut;
        }
    }
    Ok(instances)
}

/// R5–R10 for one instance; `None` when it produces no record. Each step is a function below,
/// named as in `shift-rules.md` §6.2.
fn evaluate<'p>(
    input: &RulesInput,
    site: &mut Zone,
    now: Instant,
    instance: &Instance<'_>,
    assigned: impl Iterator<Item = &'p Punch> + Clone,
    kept: &mut Vec<&'p Punch>,
) -> Option<AttendanceRecord> {
    let t = instance.template;
    let is_final = finalized(input, now, instance.window_end, t.settle_min);
    let mut flags = Flags::empty();
    if instance.outlier {
        flags.insert(Flag::OutlierPunches);
    }
    if assigned.clone().next().is_none() {
        return absent(instance, is_final, flags);
    }
    if site.offset_at(instance.start) != site.offset_at(instance.end) {
        flags.insert(Flag::DstTransition);
    }
    punch_flags(assigned.clone(), &mut flags);
    let duplicates = dedup(assigned, t.dedup_window_s, kept, &mut flags);
    let (clock_in, clock_out) = in_out(kept, instance, &mut flags);
    let both = clock_in.zip(clock_out);
    let break_seconds = both.map_or(0, |(cin, cout)| breaks(kept, cin, cout, &mut flags));
    let metrics = both.map(|(cin, cout)| metrics(site, instance, cin, cout, break_seconds, &mut flags));
    let (late_min, early_min) = if instance.off { (None, None) } else { punctuality(instance, clock_in, clock_out, &mut flags) };
    let status = status(instance, clock_in, clock_out, metrics.map(|m| m.worked_min), &mut flags);
    Some(AttendanceRecord {
        date: instance.date,
        shift: Some(instance.shift),
        status,
        clock_in: clock_in.map(|p| site.zoned(p.at)),
        clock_out: clock_out.map(|p| site.zoned(p.at)),
        worked_min: metrics.map(|m| m.worked_min),
        break_min: metrics.map(|m| m.break_min),
        payable_min: metrics.map(|m| m.payable_min),
        scheduled_min: Some(minutes(instance.end - instance.start)),
        overtime_min: metrics.map(|m| m.overtime_min),
        late_min,
        early_min,
        duplicates,
        flags,
        extra_flags: Vec::new(),
        is_final,
        reason: reason(t),
    })
}

/// R10: a day is final once `settle_min` has passed after `end` and every listed device has
/// delivered up to `end`.
fn finalized(input: &RulesInput, now: Instant, end: Instant, settle_min: u32) -> bool {
    now >= end + min_s(settle_min) && input.devices.iter().filter(|d| d.listed).all(|d| d.watermark.is_some_and(|w| w.timestamp() >= end))
}

/// R9 for a workday with no punch: absent, emitted only when final (R10); off-days and days
/// only a weekly pattern names produce no record.
fn absent(instance: &Instance<'_>, is_final: bool, flags: Flags) -> Option<AttendanceRecord> {
    if instance.off || !instance.explicit || !is_final {
        return None;
    }
    Some(AttendanceRecord {
        date: instance.date,
        shift: Some(instance.shift),
        status: Status::Absent,
        clock_in: None,
        clock_out: None,
        worked_min: None,
        break_min: None,
        payable_min: None,
        scheduled_min: Some(minutes(instance.end - instance.start)),
        overtime_min: None,
        late_min: None,
        early_min: None,
        duplicates: 0,
        flags,
        extra_flags: Vec::new(),
        is_final,
        reason: "no punch in the shift window".into(),
    })
}

/// R1, R2 carried to the day: DST-resolved and clock-suspect punches flag it.
fn punch_flags<'p>(assigned: impl Iterator<Item = &'p Punch>, flags: &mut Flags) {
    for p in assigned {
        match p.resolved {
            Resolved::Gap => flags.insert(Flag::DstGap),
            Resolved::Fold => flags.insert(Flag::DstAmbiguous),
            Resolved::Exact => {}
        }
        if p.suspect {
            flags.insert(Flag::ClockSuspect);
        }
    }
}

/// R5: anchor-based bounce dedup across devices: a punch within `window_s` of the last kept one
/// is dropped. Leaves the kept punches in `kept`; returns how many were dropped.
fn dedup<'p>(punches: impl Iterator<Item = &'p Punch>, window_s: u32, kept: &mut Vec<&'p Punch>, flags: &mut Flags) -> u32 {
    kept.clear();
    let mut duplicates = 0;
    for p in punches {
        match kept.last() {
            Some(last) if p.at - last.at <= i64::from(window_s) => duplicates += 1,
            _ => kept.push(p),
        }
    }
    if duplicates > 0 {
        flags.insert(Flag::Duplicate);
    }
    duplicates
}

/// R6: first and last kept punch, or one event (in or out, whichever end of the shift is nearer)
/// when the span is too short. `kept` is not empty.
fn in_out<'p>(kept: &[&'p Punch], instance: &Instance<'_>, flags: &mut Flags) -> (Option<&'p Punch>, Option<&'p Punch>) {
    let (first, last) = (kept[0], kept[kept.len() - 1]);
    let (clock_in, clock_out) = if last.at - first.at < min_s(instance.template.min_span_min) {
        if kept.len() > 1 {
            flags.insert(Flag::ShortSpan);
        }
        if (first.at - instance.start).abs() <= (first.at - instance.end).abs() {
            flags.insert(Flag::MissingOut);
            (Some(first), None)
        } else {
            flags.insert(Flag::MissingIn);
            (None, Some(last))
        }
    } else {
        (Some(first), Some(last))
    };
    if clock_in.is_some_and(|p| p.state == 1 || p.state == 5) || clock_out.is_some_and(|p| p.state == 0 || p.state == 4) {
        flags.insert(Flag::StateMismatch);
    }
    (clock_in, clock_out)
}

/// R7: seconds of paired breaks (state 2 … state 3) between clock-in and clock-out.
fn breaks(kept: &[&Punch], clock_in: &Punch, clock_out: &Punch, flags: &mut Flags) -> i64 {
    let mut seconds = 0;
    let mut open: Option<Instant> = None;
    for p in kept.iter().filter(|p| p.at > clock_in.at && p.at < clock_out.at) {
        match p.state {
            2 if open.is_some() => flags.insert(Flag::UnpairedBreak),
            2 => open = Some(p.at),
            3 => match open.take() {
                Some(started) => seconds += p.at - started,
                None => flags.insert(Flag::UnpairedBreak),
            },
            _ => {}
        }
    }
    if open.is_some() {
        flags.insert(Flag::UnpairedBreak);
    }
    seconds
}

/// R8's figures of a day with both a clock-in and a clock-out.
#[derive(Clone, Copy)]
struct Metrics {
    worked_min: i32,
    break_min: i32,
    payable_min: i32,
    overtime_min: i32,
}

/// R8: worked, break, payable (from rounded wall times) and overtime minutes.
fn metrics(site: &mut Zone, instance: &Instance<'_>, clock_in: &Punch, clock_out: &Punch, break_seconds: i64, flags: &mut Flags) -> Metrics {
    let t = instance.template;
    let worked_min = minutes(clock_out.at - clock_in.at - break_seconds);
    let (payable_min, out_for_overtime) = match &t.rounding {
        Some(r) if r.interval_min > 0 => {
            let rin = round_wall(site.local(clock_in.at), r.interval_min, r.mode);
            let rout = round_wall(site.local(clock_out.at), r.interval_min, r.mode);
            (minutes((rout - rin).num_seconds() - break_seconds), site.instant(rout))
        }
        _ => (worked_min, clock_out.at),
    };
    let overtime_min = if instance.off {
        worked_min
    } else {
        let post = minutes((out_for_overtime - instance.end).max(0));
        let overtime = if post >= i32::try_from(t.overtime_min_min).unwrap_or(i32::MAX) { post } else { 0 };
        if overtime > 0 {
            flags.insert(Flag::Overtime);
        }
        overtime
    };
    Metrics { worked_min, break_min: minutes(break_seconds), payable_min, overtime_min }
}

/// R8 on workdays: lateness and early exit, each evaluated even when the other side is missing.
/// Returns `(late_min, early_min)`.
fn punctuality(instance: &Instance<'_>, clock_in: Option<&Punch>, clock_out: Option<&Punch>, flags: &mut Flags) -> (Option<i32>, Option<i32>) {
    let t = instance.template;
    let (mut late_min, mut early_min) = (None, None);
    if let Some(cin) = clock_in {
        if cin.at > instance.start + min_s(t.late_grace_min) {
            flags.insert(Flag::Late);
            late_min = Some(minutes(cin.at - instance.start));
        }
        if cin.at > instance.start + min_s(t.late_in_outlier_min) {
            flags.insert(Flag::InOutlier);
        }
    }
    if let Some(cout) = clock_out {
        if cout.at < instance.end - min_s(t.early_grace_min) {
            flags.insert(Flag::EarlyExit);
            early_min = Some(minutes(instance.end - cout.at));
        }
        if cout.at < instance.end - min_s(t.early_out_outlier_min) {
            flags.insert(Flag::OutOutlier);
        }
    }
    (late_min, early_min)
}

/// R9: the status of a day with punches; thresholds apply to complete workdays only.
fn status(instance: &Instance<'_>, clock_in: Option<&Punch>, clock_out: Option<&Punch>, worked_min: Option<i32>, flags: &mut Flags) -> Status {
    let t = instance.template;
    if instance.off {
        flags.insert(Flag::OffDay);
        if instance.holiday {
            flags.insert(Flag::Holiday);
        }
        return Status::OffDayWork;
    }
    if clock_in.is_none() || clock_out.is_none() {
        return Status::Incomplete;
    }
    let worked = worked_min.unwrap_or(0);
    if t.absent_below_min > 0 && worked < i32::try_from(t.absent_below_min).unwrap_or(i32::MAX) {
        flags.insert(Flag::BelowAbsentThreshold);
        Status::Absent
    } else if t.half_day_below_min > 0 && worked < i32::try_from(t.half_day_below_min).unwrap_or(i32::MAX) {
        Status::HalfDay
    } else {
        Status::Present
    }
}

/// The reason of a day with punches. Built by hand: `format!` is slow inside the sandbox, and
/// this runs for every day.
fn reason(t: &Template) -> String {
    let mut reason = String::with_capacity(t.code.len() + 32);
    reason.push_str("first/last punch in the ");
    reason.push_str(&t.code);
    reason.push_str(" window");
    reason
}

/// Rounds a wall time to `interval` minutes.
fn round_wall(t: NaiveDateTime, interval_min: u32, mode: RoundingMode) -> NaiveDateTime {
    let step = i64::from(interval_min) * MINUTE;
    let midnight = t.date().and_time(NaiveTime::MIN);
    let seconds = (t - midnight).num_seconds();
    let rounded = match mode {
        RoundingMode::Up => (seconds + step - 1).div_euclid(step) * step,
        RoundingMode::Down => seconds.div_euclid(step) * step,
        RoundingMode::NearestHalfUp => (seconds + step / 2).div_euclid(step) * step,
    };
    midnight + TimeDelta::seconds(rounded)
}

/// R11: users with no roster and no default: first and last punch per 04:00-split day.
fn unscheduled(input: &RulesInput, site: &mut Zone, now: Instant, punches: &[Punch]) -> Vec<AttendanceRecord> {
    let defaults = text::Template::default();
    let boundary = NaiveTime::parse_from_str(&defaults.unscheduled_day_boundary, "%H:%M").unwrap_or_default();
    let shift_back = TimeDelta::seconds(i64::from(chrono::Timelike::num_seconds_from_midnight(&boundary)));
    let mut groups: BTreeMap<NaiveDate, Vec<&Punch>> = BTreeMap::new();
    for p in punches {
        groups.entry((site.local(p.at) - shift_back).date()).or_default().push(p);
    }
    groups
        .into_iter()
        .map(|(date, group)| {
            let mut kept: Vec<&Punch> = Vec::new();
            let mut flags = Flags::empty();
            let duplicates = dedup(group.into_iter(), defaults.dedup_window_s, &mut kept, &mut flags);
            let (first, last) = (kept[0], kept[kept.len() - 1]);
            let short = last.at - first.at < min_s(defaults.min_span_min);
            if short {
                flags.insert(Flag::MissingOut);
                if kept.len() > 1 {
                    flags.insert(Flag::ShortSpan);
                }
            }
            let day_end = site.instant(date.succ_opt().unwrap_or(date).and_time(boundary));
            let is_final = finalized(input, now, day_end, defaults.settle_min);
            let worked = (!short).then(|| minutes(last.at - first.at));
            AttendanceRecord {
                date,
                shift: None,
                status: Status::UnscheduledWork,
                clock_in: Some(site.zoned(first.at)),
                clock_out: (!short).then(|| site.zoned(last.at)),
                worked_min: worked,
                break_min: worked.map(|_| 0),
                payable_min: worked,
                scheduled_min: None,
                overtime_min: Some(0),
                late_min: None,
                early_min: None,
                duplicates,
                flags,
                extra_flags: Vec::new(),
                is_final,
                reason: "no schedule: first and last punch of the day".into(),
            }
        })
        .collect()
}
