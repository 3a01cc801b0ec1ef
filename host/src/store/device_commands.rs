//! Commands queued for push terminals (`device_commands`), which fetch them when they poll.
//!
//! A command moves pending → sent (handed to the device) → done or failed (the device's result).
//! A command handed out but never answered stays `sent`; it is visible, not silently resent, because
//! commands such as a reboot must not run twice.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::closed_set::{self, ClosedSet};
use super::schema::device_commands;
use super::{Store, StoreError, now_utc};
use crate::domain::DeviceId;

/// A queued command.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = device_commands)]
pub struct DeviceCommand {
    /// Id, sent to the device as `C:<id>:…`.
    pub id: i64,
    /// The device it is for.
    pub device_id: DeviceId,
    /// The command line.
    pub command: String,
    /// Pending, sent, done or failed.
    pub status: CommandStatus,
    /// The device's return code.
    pub return_code: Option<i32>,
    /// Extra result text.
    pub result: Option<String>,
    /// Queued, UTC.
    pub created_at: NaiveDateTime,
    /// Handed to the device, UTC.
    pub sent_at: Option<NaiveDateTime>,
    /// Answered, UTC.
    pub done_at: Option<NaiveDateTime>,
}

/// Where a command stands (stored as `pending`, `sent`, `done` or `failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::FromSqlRow, diesel::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum CommandStatus {
    /// Queued, not yet handed out.
    Pending,
    /// Handed to the device, no answer yet.
    Sent,
    /// The device ran it (return code 0 or more).
    Done,
    /// The device reported a failure.
    Failed,
}

impl ClosedSet for CommandStatus {
    const ALL: &'static [(Self, &'static str)] =
        &[(CommandStatus::Pending, "pending"), (CommandStatus::Sent, "sent"), (CommandStatus::Done, "done"), (CommandStatus::Failed, "failed")];
    const WHAT: &'static str = "device command status";
}

impl CommandStatus {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        self.word()
    }
}

impl std::fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets a test or a report compare with the stored word (`command.status == "done"`).
impl PartialEq<&str> for CommandStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<DB: diesel::backend::Backend> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for CommandStatus
where
    String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        closed_set::from_sql::<Self, DB>(bytes)
    }
}

impl<DB: diesel::backend::Backend> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for CommandStatus
where
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
        closed_set::to_sql(self, out)
    }
}

/// Queues `command` for `device`; returns its id.
///
/// # Errors
/// When the query fails.
pub async fn enqueue(store: &Store, device: DeviceId, command: &str) -> Result<i64, StoreError> {
    let values = (
        device_commands::device_id.eq(device),
        device_commands::command.eq(command),
        device_commands::created_at.eq(now_utc()),
    );
    crate::with_conn!(store, |conn| {
        diesel::insert_into(device_commands::table)
            .values(values)
            .returning(device_commands::id)
            .get_result(conn)
            .await
            .map_err(StoreError::from)
    })
}

/// Hands out the device's pending commands, oldest first, marking them sent.
///
/// # Errors
/// When the query fails.
pub async fn take_pending(store: &Store, device: DeviceId) -> Result<Vec<DeviceCommand>, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        super::write_tx::<Vec<DeviceCommand>, StoreError, _>(conn, async |conn| {
            let pending: Vec<DeviceCommand> = device_commands::table
                .filter(device_commands::device_id.eq(device))
                .filter(device_commands::status.eq(CommandStatus::Pending))
                .order(device_commands::id)
                .select(DeviceCommand::as_select())
                .load(conn)
                .await?;
            let mut sent = Vec::with_capacity(pending.len());
            for command in pending {
                // The status condition makes a concurrent poll of the same device hand it out once.
                let claimed = diesel::update(
                    device_commands::table.find(command.id).filter(device_commands::status.eq(CommandStatus::Pending)),
                )
                .set((device_commands::status.eq(CommandStatus::Sent), device_commands::sent_at.eq(now)))
                .execute(conn)
                .await?;
                if claimed == 1 {
                    sent.push(command);
                }
            }
            Ok(sent)
        })
        .await
    })
}

/// Records a device's answer to one of its commands; false when the id is not one of its sent commands.
///
/// # Errors
/// When the query fails.
pub async fn record_result(store: &Store, device: DeviceId, id: i64, return_code: i32, result: &str) -> Result<bool, StoreError> {
    let status = if return_code >= 0 { CommandStatus::Done } else { CommandStatus::Failed };
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        let updated = diesel::update(
            device_commands::table.find(id).filter(device_commands::device_id.eq(device)).filter(device_commands::status.eq(CommandStatus::Sent)),
        )
        .set((
            device_commands::status.eq(status),
            device_commands::return_code.eq(return_code),
            device_commands::result.eq(result),
            device_commands::done_at.eq(now),
        ))
        .execute(conn)
        .await?;
        Ok(updated == 1)
    })
}

/// A device's commands, newest first.
///
/// # Errors
/// When the query fails.
pub async fn list(store: &Store, device: DeviceId) -> Result<Vec<DeviceCommand>, StoreError> {
    crate::with_conn!(store, |conn| {
        device_commands::table
            .filter(device_commands::device_id.eq(device))
            .order(device_commands::id.desc())
            .select(DeviceCommand::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from)
    })
}
