//! Closed sets stored as text (an outbox status, a job's outcome, a command's state): Rust code sees
//! an enum, the database a short word, and the mapping is written once per set in [`ClosedSet::ALL`].
//!
//! Each enum implements diesel's `ToSql`/`FromSql` for `Text` by delegating to [`to_sql`] and
//! [`from_sql`], as [`super::devices::Transport`] does; a word the enum does not know is a read error,
//! never a silent default.

use diesel::backend::Backend;
use diesel::deserialize::FromSql;
use diesel::serialize::{Output, ToSql};
use diesel::sql_types::Text;

/// An enum stored as one of a fixed set of words.
pub trait ClosedSet: Copy + Eq + Sized + 'static {
    /// Every value with its word.
    const ALL: &'static [(Self, &'static str)];
    /// What the set is, for the error on an unknown word.
    const WHAT: &'static str;

    /// The stored word.
    fn word(self) -> &'static str {
        Self::ALL.iter().find(|(v, _)| *v == self).map_or("", |(_, word)| word)
    }

    /// The value of a stored word.
    fn parse(word: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, w)| *w == word).map(|(v, _)| *v)
    }
}

/// `FromSql` body for a [`ClosedSet`].
///
/// # Errors
/// When the word is not one of the set's.
pub fn from_sql<T: ClosedSet, DB: Backend>(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<T>
where
    String: FromSql<Text, DB>,
{
    let word = String::from_sql(bytes)?;
    T::parse(&word).ok_or_else(|| format!("unknown {} {word:?}", T::WHAT).into())
}

/// `ToSql` body for a [`ClosedSet`].
///
/// # Errors
/// When the backend cannot write text.
pub fn to_sql<'b, T: ClosedSet, DB: Backend>(value: &T, out: &mut Output<'b, '_, DB>) -> diesel::serialize::Result
where
    str: ToSql<Text, DB>,
{
    value.word().to_sql(out)
}
