//! Online backups of the SQLite database.
//!
//! `VACUUM INTO` writes a consistent snapshot of the database as of one read transaction into a
//! new file, while other connections (a running `serve`) keep writing: in WAL mode readers never
//! block writers, and the snapshot includes every committed transaction up to its start and none
//! after. The result is a plain, compact database file (no `-wal` to carry along). PostgreSQL is
//! backed up with `pg_dump`, which the CLI prints instead.

use std::path::Path;

use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;

use super::{Store, StoreError};

/// Writes a snapshot of the SQLite database to `to`, which must not exist.
///
/// # Errors
/// [`StoreError::Invalid`] on PostgreSQL or for a path that is not UTF-8; the database's error
/// when the snapshot fails (the destination exists, the disk is full).
pub async fn vacuum_into(store: &Store, to: &Path) -> Result<(), StoreError> {
    let Store::Sqlite(pool) = store else {
        return Err(StoreError::Invalid("VACUUM INTO is SQLite only; back PostgreSQL up with pg_dump".into()));
    };
    let path = to.to_str().ok_or_else(|| StoreError::Invalid(format!("{} is not a UTF-8 path", to.display())))?.to_owned();
    let mut conn = pool.get().await?;
    diesel::sql_query("VACUUM INTO ?").bind::<Text, _>(path).execute(&mut *conn).await?;
    Ok(())
}
