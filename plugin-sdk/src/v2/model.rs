//! The rules' input and output with typed values: what interface 2 carries.
//!
//! Times are chrono values (a device's wall time is a [`NaiveDateTime`], an instant a
//! [`DateTime<Utc>`]), templates and devices are referred to by position, and statuses and flags
//! are enums, so rules never parse or format text and a misspelt flag does not compile.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};

/// Position of a device in [`RulesInput::devices`].
pub type DeviceIndex = u32;
/// Position of a template in [`RulesInput::templates`].
pub type TemplateIndex = u32;

/// One punch as the device stored it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Punch {
    /// Its device.
    pub device: DeviceIndex,
    /// Position in the device log.
    pub seq: i64,
    /// Device wall time.
    pub time: NaiveDateTime,
    /// 0 in, 1 out, 2 break-out, 3 break-in, 4 OT-in, 5 OT-out, 255 unknown.
    pub state: u8,
}

/// A time clock. [`RulesInput::devices`] is sorted by id, so device positions order punches as
/// their ids would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Device id.
    pub id: String,
    /// IANA zone of its wall times.
    pub tz: String,
    /// Punches before this wall time are invalid.
    pub valid_from: Option<NaiveDateTime>,
    /// The latest instant the device has fully delivered.
    pub watermark: Option<DateTime<Utc>>,
    /// Device clock minus reference clock at the last poll, seconds.
    pub clock_offset_s: i64,
    /// False for a device that appears only in punches (disabled or removed since): its wall
    /// times are read in the site's zone and finalization does not wait for it.
    pub listed: bool,
}

/// How worked time is rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundingMode {
    /// To the nearest step, halves up.
    NearestHalfUp,
    /// Up to the next step.
    Up,
    /// Down to the previous step.
    Down,
}

/// Rounding of worked time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rounding {
    /// Step, minutes.
    pub interval_min: u32,
    /// Direction.
    pub mode: RoundingMode,
}

/// A shift template with every rule parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // the parameters of shift-rules.md §6.1, named as there
pub struct Template {
    pub code: String,
    /// Local start; overnight when `end <= start`.
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub early_in_window_min: u32,
    pub late_out_window_min: u32,
    pub late_in_outlier_min: u32,
    pub early_out_outlier_min: u32,
    pub late_grace_min: u32,
    pub early_grace_min: u32,
    pub dedup_window_s: u32,
    pub min_span_min: u32,
    pub overtime_min_min: u32,
    pub absent_below_min: u32,
    pub half_day_below_min: u32,
    pub rounding: Option<Rounding>,
    pub settle_min: u32,
    pub unscheduled_day_boundary: NaiveTime,
}

/// The roster for one date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RosterEntry {
    /// The date.
    pub date: NaiveDate,
    /// Its template; `None` = off.
    pub shift: Option<TemplateIndex>,
}

/// A weekly pattern standing in for a date list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weekly {
    /// Working weekdays.
    pub days: Vec<Weekday>,
    /// Their template.
    pub shift: TemplateIndex,
}

/// One employee's punches over a period, with everything the rules need.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesInput {
    /// The employee.
    pub user_id: String,
    /// IANA zone of the site.
    pub site_tz: String,
    /// The current instant (finalization is the only use of "now").
    pub now: DateTime<Utc>,
    /// Sorted by id.
    pub devices: Vec<Device>,
    /// Sorted by code.
    pub templates: Vec<Template>,
    /// Explicit dates.
    pub roster: Vec<RosterEntry>,
    /// A weekly pattern for dates the roster does not name.
    pub weekly: Option<Weekly>,
    /// The template of days off (and holidays) when punches arrive on them.
    pub default_shift: Option<TemplateIndex>,
    /// Public holidays.
    pub holidays: Vec<NaiveDate>,
    /// The punches, in any order.
    pub punches: Vec<Punch>,
    /// The plugin's own configuration.
    pub config: serde_json::Value,
}

/// What the rules decided for a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)] // the statuses of shift-rules.md §6.2 R9
pub enum Status {
    Present,
    Absent,
    Incomplete,
    HalfDay,
    OffDayWork,
    UnscheduledWork,
}

impl Status {
    /// The name interface 1 and the fixtures use (`half_day`).
    pub fn name(self) -> &'static str {
        match self {
            Status::Present => "present",
            Status::Absent => "absent",
            Status::Incomplete => "incomplete",
            Status::HalfDay => "half_day",
            Status::OffDayWork => "off_day_work",
            Status::UnscheduledWork => "unscheduled_work",
        }
    }
}

/// A flag of `shift-rules.md`, in alphabetical order of its name (so a [`Flags`] set lists
/// its names sorted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)] // named as in shift-rules.md
pub enum Flag {
    BelowAbsentThreshold,
    ClockSuspect,
    DstAmbiguous,
    DstGap,
    DstTransition,
    Duplicate,
    EarlyExit,
    Holiday,
    InOutlier,
    Late,
    MissingIn,
    MissingOut,
    OffDay,
    OutOutlier,
    OutlierPunches,
    Overtime,
    ShortSpan,
    StateMismatch,
    UnpairedBreak,
}

impl Flag {
    /// Every flag, in bit order.
    pub const ALL: [Flag; 19] = [
        Flag::BelowAbsentThreshold,
        Flag::ClockSuspect,
        Flag::DstAmbiguous,
        Flag::DstGap,
        Flag::DstTransition,
        Flag::Duplicate,
        Flag::EarlyExit,
        Flag::Holiday,
        Flag::InOutlier,
        Flag::Late,
        Flag::MissingIn,
        Flag::MissingOut,
        Flag::OffDay,
        Flag::OutOutlier,
        Flag::OutlierPunches,
        Flag::Overtime,
        Flag::ShortSpan,
        Flag::StateMismatch,
        Flag::UnpairedBreak,
    ];

    /// The name interface 1 and the fixtures use (`early_exit`).
    pub fn name(self) -> &'static str {
        match self {
            Flag::BelowAbsentThreshold => "below_absent_threshold",
            Flag::ClockSuspect => "clock_suspect",
            Flag::DstAmbiguous => "dst_ambiguous",
            Flag::DstGap => "dst_gap",
            Flag::DstTransition => "dst_transition",
            Flag::Duplicate => "duplicate",
            Flag::EarlyExit => "early_exit",
            Flag::Holiday => "holiday",
            Flag::InOutlier => "in_outlier",
            Flag::Late => "late",
            Flag::MissingIn => "missing_in",
            Flag::MissingOut => "missing_out",
            Flag::OffDay => "off_day",
            Flag::OutOutlier => "out_outlier",
            Flag::OutlierPunches => "outlier_punches",
            Flag::Overtime => "overtime",
            Flag::ShortSpan => "short_span",
            Flag::StateMismatch => "state_mismatch",
            Flag::UnpairedBreak => "unpaired_break",
        }
    }

    /// The flag with this name.
    pub fn from_name(name: &str) -> Option<Flag> {
        Flag::ALL.into_iter().find(|f| f.name() == name)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of [`Flag`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u32);

impl Flags {
    /// No flags.
    pub const fn empty() -> Self {
        Flags(0)
    }

    /// Adds a flag.
    pub fn insert(&mut self, flag: Flag) {
        self.0 |= flag.bit();
    }

    /// Removes a flag.
    pub fn remove(&mut self, flag: Flag) {
        self.0 &= !flag.bit();
    }

    /// Whether the flag is set.
    pub fn contains(self, flag: Flag) -> bool {
        self.0 & flag.bit() != 0
    }

    /// Whether no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set as bits, bit `n` for the `n`th of [`Flag::ALL`] (the WIT `day-flags` layout).
    pub fn bits(self) -> u32 {
        self.0
    }

    /// The set from bits (see [`Flags::bits`]); bits beyond the known flags are dropped.
    pub fn from_bits(bits: u32) -> Self {
        Flags(bits & ((1 << Flag::ALL.len()) - 1))
    }

    /// The flags set, in alphabetical order of their names.
    pub fn iter(self) -> impl Iterator<Item = Flag> {
        Flag::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

impl FromIterator<Flag> for Flags {
    fn from_iter<I: IntoIterator<Item = Flag>>(iter: I) -> Self {
        let mut flags = Flags::empty();
        for flag in iter {
            flags.insert(flag);
        }
        flags
    }
}

/// One attendance day.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // the fields of the fixture format, named as there
pub struct AttendanceRecord {
    pub date: NaiveDate,
    pub shift: Option<TemplateIndex>,
    pub status: Status,
    /// The instant, with the site's offset at it.
    pub clock_in: Option<DateTime<FixedOffset>>,
    pub clock_out: Option<DateTime<FixedOffset>>,
    pub worked_min: Option<i32>,
    pub break_min: Option<i32>,
    pub payable_min: Option<i32>,
    pub scheduled_min: Option<i32>,
    pub overtime_min: Option<i32>,
    pub late_min: Option<i32>,
    pub early_min: Option<i32>,
    pub duplicates: u32,
    pub flags: Flags,
    /// Flags beyond [`Flag`], named as the plugin likes (snake_case by convention).
    pub extra_flags: Vec<String>,
    pub is_final: bool,
    /// A short human reason for what the rules decided.
    pub reason: String,
}

/// A punch outside every window, with the date it was associated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unassigned {
    /// The punch's instant, with the site's offset at it.
    pub time: DateTime<FixedOffset>,
    /// The date of the nearest shift.
    pub date: NaiveDate,
}

/// Why a punch was set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewReason {
    /// Before the device's `valid_from` (a clock reset to its factory date).
    InvalidTimestamp,
    /// More than ten minutes after "now".
    FutureTimestamp,
}

impl ReviewReason {
    /// The name interface 1 and the fixtures use.
    pub fn name(self) -> &'static str {
        match self {
            ReviewReason::InvalidTimestamp => "invalid_timestamp",
            ReviewReason::FutureTimestamp => "future_timestamp",
        }
    }
}

/// A punch set aside for a person to review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Review {
    /// The punch's instant, with the site's offset at it.
    pub time: DateTime<FixedOffset>,
    /// Why.
    pub reason: ReviewReason,
}

/// The rules' output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulesOutput {
    /// One record per day that has one.
    pub records: Vec<AttendanceRecord>,
    /// Punches outside every window.
    pub unassigned: Vec<Unassigned>,
    /// Punches set aside.
    pub review: Vec<Review>,
}
