//! Dates and timestamps read from SQLite without format strings.
//!
//! SQLite keeps them as text (`2024-03-01 08:00:00`, what diesel writes). diesel reads such a
//! value by trying chrono format strings in turn, and chrono parses the format string itself on
//! every call: an API page of 50 days reads ~400 of them, and under load that parsing was several
//! per cent of the server's CPU. These wrappers read the form diesel writes directly and hand
//! anything else to diesel's own reader, so what can be read and what it means stay diesel's.
//! On PostgreSQL (binary timestamps) they are diesel's reader unchanged.
//!
//! Use them as `#[diesel(deserialize_as = …)]` on a `Queryable` field, or in a select's tuple type.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::Pg;
use diesel::sql_types::{Date, Nullable, Timestamp};
use diesel::sqlite::{Sqlite, SqliteType, SqliteValue};

/// A `TIMESTAMP` column's value (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub struct SqlTimestamp(pub NaiveDateTime);

/// A nullable `TIMESTAMP` column's value, for `Option<NaiveDateTime>` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub struct SqlNullableTimestamp(pub Option<NaiveDateTime>);

/// A `DATE` column's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub struct SqlDate(pub NaiveDate);

impl From<SqlTimestamp> for NaiveDateTime {
    fn from(value: SqlTimestamp) -> Self {
        value.0
    }
}

impl From<SqlNullableTimestamp> for Option<NaiveDateTime> {
    fn from(value: SqlNullableTimestamp) -> Self {
        value.0
    }
}

impl From<SqlDate> for NaiveDate {
    fn from(value: SqlDate) -> Self {
        value.0
    }
}

/// A SQLite value read by `fast` when it is text in the form `fast` knows, else by diesel's reader
/// of `T` for SQL type `ST`: the one rule both wrappers follow.
fn read_sqlite<T, ST>(mut value: SqliteValue<'_, '_, '_>, fast: fn(&str) -> Option<T>) -> deserialize::Result<T>
where
    T: FromSql<ST, Sqlite>,
{
    if value.value_type() == Some(SqliteType::Text)
        && let Some(read) = fast(value.read_text())
    {
        return Ok(read);
    }
    T::from_sql(value)
}

impl FromSql<Timestamp, Sqlite> for SqlTimestamp {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        read_sqlite::<NaiveDateTime, Timestamp>(value, parse_timestamp).map(Self)
    }
}

impl FromSql<Timestamp, Pg> for SqlTimestamp {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Self)
    }
}

impl FromSql<Date, Sqlite> for SqlDate {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        read_sqlite::<NaiveDate, Date>(value, parse_date).map(Self)
    }
}

impl FromSql<Date, Pg> for SqlDate {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDate as FromSql<Date, Pg>>::from_sql(value).map(Self)
    }
}

impl<DB: Backend> FromSql<Nullable<Timestamp>, DB> for SqlNullableTimestamp
where
    SqlTimestamp: FromSql<Timestamp, DB>,
{
    fn from_sql(value: DB::RawValue<'_>) -> deserialize::Result<Self> {
        SqlTimestamp::from_sql(value).map(|at| Self(Some(at.0)))
    }

    fn from_nullable_sql(value: Option<DB::RawValue<'_>>) -> deserialize::Result<Self> {
        value.map_or(Ok(Self(None)), Self::from_sql)
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional fraction of 1 to 9 digits (`T` accepted for the
/// space); `None` for anything else, which then goes to diesel's reader.
fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    let bytes = text.as_bytes();
    let (date, rest) = (bytes.get(..10)?, bytes.get(10..)?);
    let date = date_from(date)?;
    let [b' ' | b'T', h1, h2, b':', m1, m2, b':', s1, s2, fraction @ ..] = rest else { return None };
    let nanos = match fraction {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => number(digits)? * 10_u32.pow(9 - u32::try_from(digits.len()).ok()?),
        _ => return None,
    };
    date.and_hms_nano_opt(number(&[*h1, *h2])?, number(&[*m1, *m2])?, number(&[*s1, *s2])?, nanos)
}

/// `YYYY-MM-DD` exactly.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 {
        return None;
    }
    date_from(bytes)
}

fn date_from(bytes: &[u8]) -> Option<NaiveDate> {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = bytes else { return None };
    let year = i32::try_from(number(&[*y1, *y2, *y3, *y4])?).ok()?;
    NaiveDate::from_ymd_opt(year, number(&[*m1, *m2])?, number(&[*d1, *d2])?)
}

/// The value of ASCII digits (at most 9 of them here); `None` if any byte is not one.
fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0_u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    use super::*;

    /// Every text SQLite may hold reads as diesel's own reader reads it, through SQLite itself:
    /// the forms diesel writes take the fast path, the rest fall back.
    #[test]
    fn reads_what_diesel_reads() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap_or_else(|e| panic!("{e}"));
        let timestamps = [
            "2024-03-01 08:00:00",
            "2024-03-01 08:00:00.5",
            "2024-03-01 08:00:00.123456789",
            "2024-03-01T08:00:00",
            "2024-03-01 08:00",
            "2024-03-01T08:00:00Z",
            "2024-03-01 08:00:00+02:00",
            "1999-12-31 23:59:59.000001",
            "2024-02-29 00:00:00",
        ];
        for text in timestamps {
            let query = diesel::select(diesel::dsl::sql::<Timestamp>("CAST(").bind::<Text, _>(text).sql(" AS TEXT)"));
            let ours: SqlTimestamp = query.clone().get_result(&mut conn).unwrap_or_else(|e| panic!("{text}: {e}"));
            let diesels: NaiveDateTime = query.get_result(&mut conn).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(ours.0, diesels, "{text}");
        }
        for bad in ["2023-02-29 00:00:00", "2024-13-01 00:00:00", "2024-03-01 24:00:00", "soon"] {
            let query = diesel::select(diesel::dsl::sql::<Timestamp>("CAST(").bind::<Text, _>(bad).sql(" AS TEXT)"));
            assert!(query.get_result::<SqlTimestamp>(&mut conn).is_err(), "{bad} must not read");
        }
        for text in ["2024-03-01", "0001-01-01", "9999-12-31"] {
            let query = diesel::select(diesel::dsl::sql::<Date>("CAST(").bind::<Text, _>(text).sql(" AS TEXT)"));
            let ours: SqlDate = query.clone().get_result(&mut conn).unwrap_or_else(|e| panic!("{text}: {e}"));
            let diesels: NaiveDate = query.get_result(&mut conn).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(ours.0, diesels, "{text}");
        }
        let null = diesel::select(diesel::dsl::sql::<Nullable<Timestamp>>("NULL"));
        assert_eq!(null.get_result::<SqlNullableTimestamp>(&mut conn).ok(), Some(SqlNullableTimestamp(None)));
    }
}
