//! How interface 2 writes times and dates as numbers. The host and the plugin side both convert
//! through these functions, so the two ends cannot drift apart.

use chrono::{DateTime, Datelike as _, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike as _, Utc};

/// Days from 0001-01-01 (chrono's day count) to 1970-01-01 (the WIT `day` origin).
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// A wall time as WIT `wall-time`: seconds since 1970-01-01T00:00:00 on that clock.
pub fn wall_seconds(time: NaiveDateTime) -> i64 {
    time.and_utc().timestamp()
}

/// A WIT `wall-time` back.
///
/// # Errors
/// When chrono cannot represent it.
pub fn wall_time(seconds: i64) -> Result<NaiveDateTime, String> {
    Days::default().wall_time(seconds)
}

/// A WIT `utc-time` back (an instant is written with [`DateTime::timestamp`]).
///
/// # Errors
/// When chrono cannot represent it.
pub fn utc_time(seconds: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp(seconds, 0).ok_or_else(|| format!("instant {seconds} is out of range"))
}

/// A date as WIT `day`: days since 1970-01-01.
pub fn day_number(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

/// A WIT `day` back.
///
/// # Errors
/// When chrono cannot represent it.
pub fn date(days: i32) -> Result<NaiveDate, String> {
    Days::default().date(days)
}

/// A local time of day as minutes after midnight (templates are whole minutes).
pub fn minute_of_day(time: NaiveTime) -> u32 {
    time.num_seconds_from_midnight() / 60
}

/// Minutes after midnight back.
///
/// # Errors
/// When it is a day or more.
pub fn time_of_day(minutes: u32) -> Result<NaiveTime, String> {
    NaiveTime::from_num_seconds_from_midnight_opt(minutes.saturating_mul(60), 0).ok_or_else(|| format!("minute of day {minutes} is out of range"))
}

/// An instant with an offset as WIT `local-time`'s two fields `(utc, offset-s)`.
pub fn local_time_parts(at: DateTime<FixedOffset>) -> (i64, i32) {
    (at.timestamp(), at.offset().local_minus_utc())
}

/// WIT `local-time` back.
///
/// # Errors
/// When the instant or the offset is out of range.
pub fn local_time(utc: i64, offset_s: i32) -> Result<DateTime<FixedOffset>, String> {
    Days::default().local_time(utc, offset_s)
}

/// The conversions above for many values in a row, remembering the last calendar day: a
/// person's punches and days come in time order, so most values fall on the day before, and
/// working out a calendar date from a day count is most of what a conversion costs. The
/// one-value functions above are a fresh `Days` each, so both give the same answers.
#[derive(Default)]
pub struct Days {
    last: Option<(i64, NaiveDate)>,
}

impl Days {
    fn date_of(&mut self, days: i64) -> Option<NaiveDate> {
        match self.last {
            Some((known, date)) if known == days => Some(date),
            _ => {
                let date = i32::try_from(days).ok().and_then(|d| d.checked_add(UNIX_EPOCH_DAYS_FROM_CE)).and_then(NaiveDate::from_num_days_from_ce_opt)?;
                self.last = Some((days, date));
                Some(date)
            }
        }
    }

    fn date_time(&mut self, seconds: i64) -> Option<NaiveDateTime> {
        let date = self.date_of(seconds.div_euclid(86_400))?;
        let second = u32::try_from(seconds.rem_euclid(86_400)).ok()?;
        NaiveTime::from_num_seconds_from_midnight_opt(second, 0).map(|t| date.and_time(t))
    }

    /// [`date`], remembering the day.
    ///
    /// # Errors
    /// As [`date`].
    pub fn date(&mut self, days: i32) -> Result<NaiveDate, String> {
        self.date_of(i64::from(days)).ok_or_else(|| format!("day {days} is out of range"))
    }

    /// [`wall_time`], remembering the day.
    ///
    /// # Errors
    /// As [`wall_time`].
    pub fn wall_time(&mut self, seconds: i64) -> Result<NaiveDateTime, String> {
        self.date_time(seconds).ok_or_else(|| format!("wall time {seconds} is out of range"))
    }

    /// [`local_time`], remembering the day.
    ///
    /// # Errors
    /// As [`local_time`].
    pub fn local_time(&mut self, utc: i64, offset_s: i32) -> Result<DateTime<FixedOffset>, String> {
        let offset = FixedOffset::east_opt(offset_s).ok_or_else(|| format!("UTC offset {offset_s} s is out of range"))?;
        let at = self.date_time(utc).ok_or_else(|| format!("instant {utc} is out of range"))?;
        Ok(at.and_utc().with_timezone(&offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        let at = NaiveDate::from_ymd_opt(2025, 3, 30).and_then(|d| d.and_hms_opt(2, 30, 0)).unwrap_or_default();
        assert_eq!(wall_seconds(at), 1_743_301_800);
        assert_eq!(wall_time(wall_seconds(at)), Ok(at));
        assert_eq!(day_number(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap_or_default()), 1);
        assert_eq!(date(day_number(at.date())), Ok(at.date()));
        assert_eq!(date(-1), Ok(NaiveDate::from_ymd_opt(1969, 12, 31).unwrap_or_default()));
        assert_eq!(time_of_day(minute_of_day(at.time())), Ok(at.time()));
        assert!(time_of_day(24 * 60).is_err());
        let zoned = local_time(1_748_847_432, 7200).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(zoned.to_rfc3339(), "2025-06-02T08:57:12+02:00");
        assert_eq!(local_time_parts(zoned), (1_748_847_432, 7200));
    }

    /// One `Days` used for many values in a row answers as a fresh one does, and as chrono's own
    /// timestamp conversion does: across day boundaries, backwards, before 1970 and out of range.
    #[test]
    fn days_agree_with_fresh_conversions_and_chrono() {
        let mut days = Days::default();
        for seconds in [0, 86_399, 86_400, -1, -86_400, -86_401, 1_743_301_800, 1_743_301_800 + 86_400, 5, i64::MAX, i64::MIN, 1_743_301_800] {
            let chrono = DateTime::from_timestamp(seconds, 0);
            assert_eq!(days.wall_time(seconds), wall_time(seconds), "wall {seconds}");
            assert_eq!(wall_time(seconds).ok(), chrono.map(|t| t.naive_utc()), "wall {seconds}");
            for offset_s in [3600, -5400] {
                let Some(offset) = FixedOffset::east_opt(offset_s) else { panic!("offset {offset_s}") };
                assert_eq!(days.local_time(seconds, offset_s), local_time(seconds, offset_s), "local {seconds}");
                assert_eq!(local_time(seconds, offset_s).ok(), chrono.map(|t| t.with_timezone(&offset)), "local {seconds}");
            }
        }
        assert!(days.local_time(0, 86_400).is_err());
        for day in [0, 1, -1, 20_000, 20_001, 19_999, i32::MAX, i32::MIN, 0] {
            let chrono = day.checked_add(UNIX_EPOCH_DAYS_FROM_CE).and_then(NaiveDate::from_num_days_from_ce_opt);
            assert_eq!(days.date(day), date(day), "day {day}");
            assert_eq!(date(day).ok(), chrono, "day {day}");
        }
    }
}
