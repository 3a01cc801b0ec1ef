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

/// A wall time with no instant: so far from today that the calendar arithmetic of a conversion
/// overflows (chrono's range ends at ±262,143 years, and a zone offset or a gap search can push past it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("wall time {0} is outside the range of representable instants")]
pub struct TimeOutOfRange(pub WallTime);

impl WallTime {
    /// The instant this wall time denotes in `tz`, with how it was chosen.
    ///
    /// The rule (`shift-rules.md` R2): in a gap use the UTC offset in force just before the gap, which
    /// is the same as moving forward by the gap's length (02:30 on a spring-forward night in Berlin →
    /// 01:30Z); in a fold take the earlier instant. The caller keeps the wall time as written either way.
    ///
    /// # Errors
    /// [`TimeOutOfRange`] at the very ends of chrono's calendar, where a device (or a hostile push
    /// request) can place a time but no offset arithmetic is possible; never a panic.
    pub fn resolve(self, tz: chrono_tz::Tz) -> Result<(chrono::DateTime<chrono::Utc>, Resolution), TimeOutOfRange> {
        use chrono::{LocalResult, TimeZone as _};
        match tz.from_local_datetime(&self.0) {
            LocalResult::Single(t) => Ok((t.with_timezone(&chrono::Utc), Resolution::Exact)),
            LocalResult::Ambiguous(earlier, later) => {
                let (a, b) = (earlier.with_timezone(&chrono::Utc), later.with_timezone(&chrono::Utc));
                Ok((a.min(b), Resolution::Fold))
            }
            LocalResult::None => {
                // Find the offset in force before the gap: gaps are at most a few hours long, so the
                // wall time three hours earlier is on the far side of it.
                let before = self.0.checked_sub_signed(chrono::TimeDelta::hours(3)).ok_or(TimeOutOfRange(self))?;
                let offset_seconds = match tz.from_local_datetime(&before) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                        chrono::Offset::fix(t.offset()).local_minus_utc()
                    }
                    LocalResult::None => 0,
                };
                let utc = self
                    .0
                    .checked_sub_signed(chrono::TimeDelta::seconds(i64::from(offset_seconds)))
                    .ok_or(TimeOutOfRange(self))?
                    .and_utc();
                Ok((utc, Resolution::Gap))
            }
        }
    }
}

/// The wall times a real punch can carry: from a fixed earliest date (`PUNCH_MIN_DATE`) to a little
/// ahead of the device zone's current time (`PUNCH_MAX_FUTURE_HOURS`).
///
/// Every path that stores punches (poll, live, push) checks them against it, because a time far
/// outside it is never a real punch: a flat clock battery (1970, 2000-01-01 resets), a corrupt log
/// record, or a crafted push request. Such a time would mark a pending day processing cannot handle,
/// or push a day into the CRM for a year nobody will ever look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PunchWindow {
    /// The first accepted local date.
    pub earliest: chrono::NaiveDate,
    /// How far past the zone's current wall time a punch may be (device clocks run a little fast).
    pub max_ahead: chrono::TimeDelta,
}

impl Default for PunchWindow {
    fn default() -> Self {
        Self { earliest: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default(), max_ahead: chrono::TimeDelta::hours(24) }
    }
}

/// Why a punch's time was refused; the punch is skipped and the rest of its batch stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PunchTimeError {
    /// Before `PUNCH_MIN_DATE`.
    #[error("punch time {time} is before {earliest} (PUNCH_MIN_DATE)")]
    TooEarly {
        /// The refused time.
        time: WallTime,
        /// The first accepted date.
        earliest: chrono::NaiveDate,
    },
    /// More than `PUNCH_MAX_FUTURE_HOURS` ahead of the zone's current time.
    #[error("punch time {time} is more than {hours} h ahead of the device zone's current time (PUNCH_MAX_FUTURE_HOURS)")]
    TooLate {
        /// The refused time.
        time: WallTime,
        /// The allowed lead, hours.
        hours: i64,
    },
    /// No instant can be computed for it.
    #[error(transparent)]
    OutOfRange(#[from] TimeOutOfRange),
}

impl PunchWindow {
    /// Checks `time` (a wall time in `tz`) against the window at `now`, and resolves it to its instant.
    ///
    /// # Errors
    /// [`PunchTimeError`] naming which end of the window the time is outside.
    pub fn check(&self, time: WallTime, tz: chrono_tz::Tz, now: chrono::DateTime<chrono::Utc>) -> Result<chrono::DateTime<chrono::Utc>, PunchTimeError> {
        if time.0.date() < self.earliest {
            return Err(PunchTimeError::TooEarly { time, earliest: self.earliest });
        }
        let latest = now.with_timezone(&tz).naive_local().checked_add_signed(self.max_ahead);
        if latest.is_none_or(|latest| time.0 > latest) {
            return Err(PunchTimeError::TooLate { time, hours: self.max_ahead.num_hours() });
        }
        Ok(time.resolve(tz)?.0)
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
            assert_eq!(local.resolve(berlin), Ok((expected, kind)), "{local}");
        }
        assert_eq!(wall(2025, 3, 30, 2, 30).resolve(chrono_tz::UTC).map(|r| r.1), Ok(Resolution::Exact));
    }

    /// The ends of chrono's calendar give a named error, never a panic (issue 14, item 1).
    #[test]
    fn extreme_wall_times_are_refused_not_panicked_on() {
        let berlin = chrono_tz::Europe::Berlin;
        for extreme in [chrono::NaiveDateTime::MIN, chrono::NaiveDateTime::MAX] {
            let time = WallTime(extreme);
            for tz in [berlin, chrono_tz::UTC, chrono_tz::Pacific::Kiritimati, chrono_tz::America::Adak] {
                let _ = time.resolve(tz);
            }
            let now = utc(2025, 6, 2, 12, 0);
            assert!(PunchWindow::default().check(time, berlin, now).is_err());
        }
        let far = WallTime(NaiveDate::from_ymd_opt(262_142, 12, 31).and_then(|d| d.and_hms_opt(12, 0, 0)).expect("valid"));
        let error = PunchWindow::default().check(far, berlin, utc(2025, 6, 2, 12, 0)).expect_err("refused");
        assert!(matches!(error, PunchTimeError::TooLate { .. }), "{error}");
    }

    #[test]
    fn the_window_runs_from_the_earliest_date_to_a_day_ahead_in_the_device_zone() {
        let window = PunchWindow::default();
        let now = utc(2025, 6, 2, 12, 0);
        let nairobi = chrono_tz::Africa::Nairobi; // UTC+3: 15:00 local
        assert!(window.check(wall(2025, 6, 3, 14, 59), nairobi, now).is_ok());
        assert!(matches!(window.check(wall(2025, 6, 3, 15, 1), nairobi, now), Err(PunchTimeError::TooLate { .. })));
        assert!(window.check(wall(2000, 1, 1, 0, 0), nairobi, now).is_ok());
        assert!(matches!(window.check(wall(1999, 12, 31, 23, 59), nairobi, now), Err(PunchTimeError::TooEarly { .. })));
    }
}

/// What a login account may do. Admins change things; viewers (HR staff) read reports and data only.
///
/// Stored as text (`admin`, `viewer`) in `users.role` (mapped in [`crate::store::users`]);
/// `create-user --superuser` makes an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, diesel::FromSqlRow, diesel::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including every change.
    Admin,
    /// Reads everything, changes nothing.
    Viewer,
}

impl Role {
    /// The stored and displayed name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role {other:?} (admin or viewer)")),
        }
    }
}

/// What a processed day amounts to (`shift-rules.md` R9 and R11): the statuses of the plugin
/// contract ([`crate::plugins::contract::STATUSES`] is [`AttendanceStatus::WORDS`]), stored as the same
/// words in `processed_attendance.status` (mapped in [`crate::store::attendance_status`]).
///
/// A day's `status` field stays text because a rules plugin writes it as text and the contract checks
/// it; code that decides by status compares with this enum, so a misspelt word cannot compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::FromSqlRow, diesel::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum AttendanceStatus {
    /// Both punches, enough time worked.
    Present,
    /// Scheduled, no punch (or worked less than the absent threshold).
    Absent,
    /// A punch is missing.
    Incomplete,
    /// Worked less than the half-day threshold.
    HalfDay,
    /// Worked on an off day or a holiday.
    OffDayWork,
    /// Worked without a schedule.
    UnscheduledWork,
}

impl AttendanceStatus {
    /// Every status, in the contract's order.
    pub const ALL: [AttendanceStatus; 6] = [
        AttendanceStatus::Present,
        AttendanceStatus::Absent,
        AttendanceStatus::Incomplete,
        AttendanceStatus::HalfDay,
        AttendanceStatus::OffDayWork,
        AttendanceStatus::UnscheduledWork,
    ];

    /// Every status's word, in the same order.
    pub const WORDS: [&'static str; 6] = [
        AttendanceStatus::ALL[0].as_str(),
        AttendanceStatus::ALL[1].as_str(),
        AttendanceStatus::ALL[2].as_str(),
        AttendanceStatus::ALL[3].as_str(),
        AttendanceStatus::ALL[4].as_str(),
        AttendanceStatus::ALL[5].as_str(),
    ];

    /// The stored and displayed word.
    pub const fn as_str(self) -> &'static str {
        match self {
            AttendanceStatus::Present => "present",
            AttendanceStatus::Absent => "absent",
            AttendanceStatus::Incomplete => "incomplete",
            AttendanceStatus::HalfDay => "half_day",
            AttendanceStatus::OffDayWork => "off_day_work",
            AttendanceStatus::UnscheduledWork => "unscheduled_work",
        }
    }

    /// The status a word names, if any (exactly as stored: no trimming or case folding).
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }
}

impl fmt::Display for AttendanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A day's text status compared with a status: `day.status == AttendanceStatus::Absent`.
impl PartialEq<AttendanceStatus> for String {
    fn eq(&self, other: &AttendanceStatus) -> bool {
        self.as_str() == other.as_str()
    }
}

/// A stored status as the text a day carries (how [`crate::store::attendance::ProcessedDay`] reads it:
/// through the enum, so an unknown word is a read error).
impl From<AttendanceStatus> for String {
    fn from(status: AttendanceStatus) -> Self {
        status.as_str().to_owned()
    }
}
