//! The write transaction every storage change runs in: [`write_tx`].
//!
//! diesel's `conn.transaction(…)` opens SQLite's deferred kind, which cannot wait for a concurrent
//! writer once it has read (see [`Dialect::begin_write`]); two API requests or jobs that each read
//! then write would make one of them fail with "database is locked". [`write_tx`] is the same
//! begin / commit / roll back, opened with [`Dialect::begin_write`] instead.

use diesel_async::TransactionManager as _;

use super::dialect::Dialect;

/// Runs `body` in a transaction that writes: committed when it returns `Ok`, rolled back when it
/// returns `Err`. Inside an open transaction it is a savepoint, as diesel's `transaction` is.
///
/// # Errors
/// `body`'s error, or the database's when the transaction cannot be opened, committed or rolled back.
pub async fn write_tx<R, E, C>(conn: &mut C, body: impl AsyncFnOnce(&mut C) -> Result<R, E>) -> Result<R, E>
where
    C: Dialect,
    E: From<diesel::result::Error>,
{
    conn.begin_write().await?;
    match body(&mut *conn).await {
        Ok(value) => {
            C::TransactionManager::commit_transaction(conn).await?;
            Ok(value)
        }
        // As diesel's `transaction`: a rollback that fails because the transaction manager is
        // already broken says less than the error that caused it.
        Err(error) => match C::TransactionManager::rollback_transaction(conn).await {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
            Err(rollback) => Err(rollback.into()),
        },
    }
}
