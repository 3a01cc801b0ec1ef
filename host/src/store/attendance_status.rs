//! `processed_attendance.status` as [`AttendanceStatus`]: the words the plugin contract names, read
//! strictly (a word the enum does not know fails the read instead of passing as text).

use super::closed_set::{self, ClosedSet};
use super::dialect::Value;
use crate::domain::AttendanceStatus;

impl ClosedSet for AttendanceStatus {
    const ALL: &'static [(Self, &'static str)] = &[
        (AttendanceStatus::Present, AttendanceStatus::Present.as_str()),
        (AttendanceStatus::Absent, AttendanceStatus::Absent.as_str()),
        (AttendanceStatus::Incomplete, AttendanceStatus::Incomplete.as_str()),
        (AttendanceStatus::HalfDay, AttendanceStatus::HalfDay.as_str()),
        (AttendanceStatus::OffDayWork, AttendanceStatus::OffDayWork.as_str()),
        (AttendanceStatus::UnscheduledWork, AttendanceStatus::UnscheduledWork.as_str()),
    ];
    const WHAT: &'static str = "attendance status";
}

impl From<AttendanceStatus> for Value {
    fn from(status: AttendanceStatus) -> Self {
        Value::from(status.as_str())
    }
}

impl<DB: diesel::backend::Backend> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for AttendanceStatus
where
    String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        closed_set::from_sql::<Self, DB>(bytes)
    }
}

impl<DB: diesel::backend::Backend> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for AttendanceStatus
where
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
        closed_set::to_sql(self, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_words_are_the_contracts_statuses() {
        let words: Vec<&str> = AttendanceStatus::ALL.iter().map(|s| s.word()).collect();
        assert_eq!(words, crate::plugins::contract::STATUSES);
        assert_eq!(words, AttendanceStatus::WORDS);
        for (status, word) in <AttendanceStatus as ClosedSet>::ALL {
            assert_eq!(AttendanceStatus::parse(word), Some(*status));
        }
        assert_eq!(AttendanceStatus::parse("Present"), None, "read exactly as stored");
    }
}
