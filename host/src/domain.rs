//! Value types every layer shares: identifiers and the two kinds of time.
//!
//! A time clock knows no time zone: it writes wall-clock readings. Those stay [`WallTime`]s until the
//! pipeline resolves them, with the device's zone, into UTC instants (`DateTime<Utc>`). Keeping the two
//! apart in the types means a wall time can never be compared with an instant by mistake.

use std::fmt;

use chrono::NaiveDateTime;
use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};

/// A device's row id in the `devices` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DieselNewType)]
pub struct DeviceId(pub i64);

/// A bridge login account's row id (`users` table): dashboard and API users, not employees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DieselNewType)]
pub struct UserId(pub i64);

/// An employee as the time clock knows them: the enrolment number typed on the device (`"1001"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DieselNewType)]
pub struct EmployeeId(pub String);

/// A wall-clock reading as a device wrote it, with no zone: exactly what is on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DieselNewType)]
pub struct WallTime(pub NaiveDateTime);

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for EmployeeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%dT%H:%M:%S"))
    }
}

/// How a wall time maps onto the time line in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Exactly one instant has this wall time.
    Exact,
    /// The wall time does not exist (clocks jumped over it); the offset in force before the jump is used.
    Gap,
    /// The wall time happened twice (clocks went back); the earlier instant is used.
    Fold,
}

impl WallTime {
    /// The instant this wall time denotes in `tz`, with how it was chosen.
    ///
    /// The rule (`shift-rules.md` R2): in a gap use the UTC offset in force just before the gap, which
    /// is the same as moving forward by the gap's length (02:30 on a spring-forward night in Berlin →
    /// 01:30Z); in a fold take the earlier instant. The caller keeps the wall time as written either way.
    pub fn resolve(self, tz: chrono_tz::Tz) -> (chrono::DateTime<chrono::Utc>, Resolution) {
        use chrono::{LocalResult, TimeZone as _};
        match tz.from_local_datetime(&self.0) {
            LocalResult::Single(t) => (t.with_timezone(&chrono::Utc), Resolution::Exact),
            LocalResult::Ambiguous(earlier, later) => {
                let (a, b) = (earlier.with_timezone(&chrono::Utc), later.with_timezone(&chrono::Utc));
                (a.min(b), Resolution::Fold)
            }
            LocalResult::None => {
                // Find the offset in force before the gap: gaps are at most a few hours long, so the
                // wall time three hours earlier is on the far side of it.
                let before = self.0 - chrono::TimeDelta::hours(3);
                let offset_seconds = match tz.from_local_datetime(&before) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                        chrono::Offset::fix(t.offset()).local_minus_utc()
                    }
                    LocalResult::None => 0,
                };
                let utc = (self.0 - chrono::TimeDelta::seconds(i64::from(offset_seconds))).and_utc();
                (utc, Resolution::Gap)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn wall(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> WallTime {
        WallTime(NaiveDate::from_ymd_opt(y, mo, d).and_then(|d| d.and_hms_opt(h, mi, 0)).expect("valid"))
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> chrono::DateTime<chrono::Utc> {
        wall(y, mo, d, h, mi).0.and_utc()
    }

    /// Golden cases from `shift-rules.md` (S43–S46).
    #[test]
    fn dst_resolution_follows_the_rules() {
        let berlin = chrono_tz::Europe::Berlin;
        let cases = [
            (wall(2025, 3, 29, 21, 55), utc(2025, 3, 29, 20, 55), Resolution::Exact),
            (wall(2025, 3, 30, 6, 5), utc(2025, 3, 30, 4, 5), Resolution::Exact),
            (wall(2025, 3, 30, 2, 30), utc(2025, 3, 30, 1, 30), Resolution::Gap),
            (wall(2025, 10, 26, 2, 30), utc(2025, 10, 26, 0, 30), Resolution::Fold),
            (wall(2025, 10, 26, 6, 0), utc(2025, 10, 26, 5, 0), Resolution::Exact),
        ];
        for (local, expected, kind) in cases {
            assert_eq!(local.resolve(berlin), (expected, kind), "{local}");
        }
        assert_eq!(wall(2025, 3, 30, 2, 30).resolve(chrono_tz::UTC).1, Resolution::Exact);
    }
}
