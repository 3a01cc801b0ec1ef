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
