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

/// Settings keys that hold a plugin's configuration saved on the plugins page: `plugin_config:<name>`.
const PLUGIN_CONFIG_PREFIX: &str = "plugin_config:";

/// The plugin configurations saved at run time, by plugin name. They win over the configuration
/// file's `[plugins.config.<name>]` (the pipeline hands them to the plugin registry before each run).
///
/// A stored value that is not JSON (written by hand in the database) is left out, and named in the
/// second list, rather than stopping every run: the plugin then gets its file configuration.
///
/// # Errors
/// When the query fails.
pub async fn plugin_configs(store: &Store) -> Result<(std::collections::HashMap<String, serde_json::Value>, Vec<String>), StoreError> {
    let rows: Vec<(String, String)> = crate::with_conn!(store, |conn| {
        settings::table
            .filter(settings::key.like(format!("{PLUGIN_CONFIG_PREFIX}%")))
            .select((settings::key, settings::value))
            .load(conn)
            .await
            .map_err(StoreError::from)
    })?;
    let mut configs = std::collections::HashMap::new();
    let mut unreadable = Vec::new();
    for (key, value) in rows {
        let name = key.trim_start_matches(PLUGIN_CONFIG_PREFIX).to_owned();
        match serde_json::from_str(&value) {
            Ok(json) => {
                configs.insert(name, json);
            }
            Err(_) => unreadable.push(name),
        }
    }
    Ok((configs, unreadable))
}

/// Saves (`Some`) or removes (`None`, back to the configuration file's) plugin `name`'s configuration,
/// with its audit entry, in one transaction.
///
/// # Errors
/// When a statement fails.
pub async fn set_plugin_config(store: &Store, name: &str, config: Option<&serde_json::Value>, entry: &super::audit::NewAuditEntry) -> Result<(), StoreError> {
    let key = format!("{PLUGIN_CONFIG_PREFIX}{name}");
    let value = config.map(serde_json::Value::to_string);
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        diesel_async::AsyncConnection::transaction::<(), StoreError, _>(conn, async |conn| {
            match &value {
                Some(value) => {
                    diesel::insert_into(settings::table)
                        .values((settings::key.eq(&key), settings::value.eq(value), settings::updated_at.eq(now)))
                        .on_conflict(settings::key)
                        .do_update()
                        .set((settings::value.eq(value), settings::updated_at.eq(now)))
                        .execute(conn)
                        .await?;
                }
                None => {
                    diesel::delete(settings::table.find(&key)).execute(conn).await?;
                }
            }
            super::audit::record(conn, entry).await
        })
        .await
    })
}
