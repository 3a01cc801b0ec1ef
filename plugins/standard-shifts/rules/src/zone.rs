//! Wall time ↔ instant in an IANA zone, remembering the offset of recent local days.
//!
//! chrono-tz answers each question with a search of the zone's transitions; a month of punches
//! asks it thousands of times about a few dozen days (and a batch of employees about the same
//! days again). A local day whose offset is the same at
//! 00:00:00 and 23:59:59 (and unambiguous at both) is taken to have one offset all day, which
//! holds for every zone in the tz database (no zone changes its offset and back within a day);
//! only days with a transition, or not yet seen, go to chrono-tz.

use std::cell::RefCell;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset as _, TimeDelta, TimeZone as _, Utc};
use chrono_tz::Tz;

/// Unix seconds.
pub type Instant = i64;

/// How a wall time was turned into an instant.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Resolved {
    Exact,
    Gap,
    Fold,
}

const DAY: i64 = 86_400;

/// A local day: where it starts on the wall clock (seconds since 1970-01-01T00:00:00), and its
/// one offset if it has one.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Day {
    wall_start: i64,
    offset: Option<i32>,
}

/// Days a [`Zone`] keeps at hand, by day number modulo this: a call covers a few weeks, so
/// its days rarely share a slot.
const SLOTS: usize = 64;
/// Slots of the shared [`MEMO`].
const MEMO_SLOTS: usize = 4096;

thread_local! {
    /// Day offsets already worked out, by zone and day, shared by every call in this process or
    /// plugin instance: a batch of employees covers the same few dates, so only the first one
    /// asks chrono-tz. A memo of a pure function (the tz database is compiled in), so results
    /// never depend on what ran before. Direct-mapped: a day that lands on an occupied slot
    /// replaces its occupant, so the memo never grows.
    static MEMO: RefCell<Vec<Option<(Tz, Day)>>> = RefCell::new(vec![None; MEMO_SLOTS]);
}

fn memo_slot(tz: Tz, wall_start: i64) -> usize {
    let key = (wall_start.div_euclid(DAY).cast_unsigned()).wrapping_add((tz as u64) << 32);
    // Fibonacci hashing: the top bits of a multiple of 2^64/φ spread neighbouring keys.
    let hash = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - MEMO_SLOTS.trailing_zeros());
    usize::try_from(hash).unwrap_or(0)
}

pub struct Zone {
    tz: Tz,
    slots: [Option<Day>; SLOTS],
    /// The offset of the day last looked at: the first guess for the next instant.
    last_offset: Option<i32>,
}

impl Zone {
    pub fn new(tz: Tz) -> Self {
        Zone { tz, slots: [None; SLOTS], last_offset: None }
    }

    /// The local day starting at `wall_start`, with its one offset if it has one.
    fn day(&mut self, wall_start: i64) -> Day {
        let slot = usize::try_from(wall_start.div_euclid(DAY).rem_euclid(SLOTS as i64)).unwrap_or(0);
        if let Some(day) = self.slots[slot]
            && day.wall_start == wall_start
        {
            return day;
        }
        let tz = self.tz;
        let day = MEMO.with(|memo| {
            let mut memo = memo.borrow_mut();
            let index = memo_slot(tz, wall_start);
            match memo.get(index).copied().flatten() {
                Some((t, day)) if t == tz && day.wall_start == wall_start => day,
                _ => {
                    let day = Day { wall_start, offset: uniform_offset(tz, wall_start) };
                    if let Some(entry) = memo.get_mut(index) {
                        *entry = Some((tz, day));
                    }
                    day
                }
            }
        });
        self.slots[slot] = Some(day);
        day
    }

    /// Both candidates of a wall time: (earlier, later, kind). In a gap, the offset in force
    /// before the gap is used (R2).
    pub fn candidates(&mut self, local: NaiveDateTime) -> (Instant, Instant, Resolved) {
        let wall = local.and_utc().timestamp();
        if let Some(offset) = self.day(wall - wall.rem_euclid(DAY)).offset {
            self.last_offset = Some(offset);
            let at = wall - i64::from(offset);
            return (at, at, Resolved::Exact);
        }
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => (t.timestamp(), t.timestamp(), Resolved::Exact),
            LocalResult::Ambiguous(a, b) => (a.timestamp().min(b.timestamp()), a.timestamp().max(b.timestamp()), Resolved::Fold),
            LocalResult::None => {
                let before = match self.tz.from_local_datetime(&(local - TimeDelta::hours(3))) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.offset().fix().local_minus_utc(),
                    LocalResult::None => 0,
                };
                let at = wall - i64::from(before);
                (at, at, Resolved::Gap)
            }
        }
    }

    /// The earlier instant of a wall time.
    pub fn instant(&mut self, local: NaiveDateTime) -> Instant {
        self.candidates(local).0
    }

    /// The zone's UTC offset at an instant, seconds.
    pub fn offset_at(&mut self, at: Instant) -> i32 {
        // The day the last offset suggests answers when it has one offset that puts `at` in it.
        if let Some(guess) = self.last_offset {
            let wall = at + i64::from(guess);
            let day = self.day(wall - wall.rem_euclid(DAY));
            if let Some(offset) = day.offset
                && (0..DAY).contains(&(at + i64::from(offset) - day.wall_start))
            {
                self.last_offset = Some(offset);
                return offset;
            }
        }
        let Some(utc) = DateTime::from_timestamp(at, 0) else { return 0 };
        let offset = self.tz.offset_from_utc_datetime(&utc.naive_utc()).fix().local_minus_utc();
        self.last_offset = Some(offset);
        offset
    }

    /// The local date at an instant, as days since 1970-01-01 (cheaper than a date).
    pub fn local_day(&mut self, at: Instant) -> i64 {
        (at + i64::from(self.offset_at(at))).div_euclid(DAY)
    }

    /// The wall time at an instant.
    pub fn local(&mut self, at: Instant) -> NaiveDateTime {
        let offset = self.offset_at(at);
        DateTime::from_timestamp(at + i64::from(offset), 0).map(|t| t.naive_utc()).unwrap_or_default()
    }

    /// The instant with the zone's offset at it, for display.
    pub fn zoned(&mut self, at: Instant) -> DateTime<FixedOffset> {
        let offset = FixedOffset::east_opt(self.offset_at(at)).unwrap_or_else(|| Utc.fix());
        DateTime::from_timestamp(at, 0).unwrap_or_default().with_timezone(&offset)
    }
}

/// The offset that holds all of the local day starting at `wall_start`, if one does: the same,
/// unambiguous offset at its first and last second.
fn uniform_offset(tz: Tz, wall_start: i64) -> Option<i32> {
    let at = |wall: i64| {
        let local = DateTime::from_timestamp(wall, 0)?.naive_utc();
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => Some(t.offset().fix().local_minus_utc()),
            _ => None,
        }
    };
    let first = at(wall_start);
    first.filter(|f| Some(*f) == at(wall_start + DAY - 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    /// The remembered offsets give what chrono-tz gives, around transitions too.
    #[test]
    fn agrees_with_chrono_tz() {
        let zones: [Tz; 5] = [chrono_tz::Europe::Berlin, chrono_tz::America::St_Johns, chrono_tz::Asia::Kolkata, chrono_tz::Australia::Lord_Howe, chrono_tz::America::Sao_Paulo];
        for tz in zones {
            let mut zone = Zone::new(tz);
            let start = NaiveDate::from_ymd_opt(2015, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).unwrap_or_default();
            // Every 37 minutes over two years, forwards: crosses every transition of those years.
            for step in 0..(2 * 366 * 24 * 60 / 37) {
                let local = start + TimeDelta::minutes(37 * step);
                let expected = match tz.from_local_datetime(&local) {
                    LocalResult::Single(t) => Some((t.timestamp(), t.timestamp(), Resolved::Exact)),
                    LocalResult::Ambiguous(a, b) => Some((a.timestamp().min(b.timestamp()), a.timestamp().max(b.timestamp()), Resolved::Fold)),
                    LocalResult::None => None,
                };
                let got = zone.candidates(local);
                if let Some(expected) = expected {
                    assert_eq!(got, expected, "{tz} {local}");
                } else {
                    assert_eq!(got.2, Resolved::Gap, "{tz} {local}");
                }
                let at = got.0;
                let utc = DateTime::from_timestamp(at, 0).unwrap_or_default();
                assert_eq!(zone.offset_at(at), tz.offset_from_utc_datetime(&utc.naive_utc()).fix().local_minus_utc(), "{tz} {local}");
            }
        }
    }
}
