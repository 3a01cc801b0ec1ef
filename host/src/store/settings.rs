//! Run-time settings (`settings`): values an operator changes without a restart, shared by every
//! instance on the database. Today: which shift-rules plugin processing uses.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::settings;
use super::{Store, StoreError, now_utc};

/// The active shift-rules plugin (overrides `RULES_PLUGIN` once set).
pub const RULES_PLUGIN: &str = "rules_plugin";
/// The shift-rules plugin it replaced, for roll-back.
pub const PREVIOUS_RULES_PLUGIN: &str = "rules_plugin_previous";

/// A setting's value.
///
/// # Errors
/// When the query fails.
pub async fn get(store: &Store, key: &str) -> Result<Option<String>, StoreError> {
    crate::with_conn!(store, |conn| {
        settings::table.find(key).select(settings::value).first(conn).await.optional().map_err(StoreError::from)
    })
}

/// Sets a value (insert or replace).
///
/// # Errors
/// When the query fails.
pub async fn set(store: &Store, key: &str, value: &str) -> Result<(), StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        diesel::insert_into(settings::table)
            .values((settings::key.eq(key), settings::value.eq(value), settings::updated_at.eq(now)))
            .on_conflict(settings::key)
            .do_update()
            .set((settings::value.eq(value), settings::updated_at.eq(now)))
            .execute(conn)
            .await
            .map(drop)
            .map_err(StoreError::from)
    })
}
