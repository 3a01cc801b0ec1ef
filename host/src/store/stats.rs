//! Counts for operators and scripts (`attendance-bridge stats --json`, the dashboard).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::schema::{devices, employees, pending_days, processed_attendance, raw_punches};
use super::{Store, StoreError};

/// Row counts across the pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Registered devices (pulled and pushing, approved or not).
    pub devices: i64,
    /// Push terminals waiting for approval.
    pub devices_pending_approval: i64,
    /// Stored punches.
    pub raw_punches: i64,
    /// Known employees.
    pub employees: i64,
    /// Processed attendance days.
    pub processed_days: i64,
    /// Processed days flagged as outliers.
    pub outliers: i64,
    /// Employee-days waiting for (re)processing.
    pub pending_days: i64,
    /// CRM deliveries waiting or in flight.
    pub sync_pending: i64,
    /// CRM deliveries dead-lettered (need `sync-to-crm --retry-failed`).
    pub sync_failed: i64,
    /// Processed days whose latest revision the CRM acknowledged.
    pub synced: i64,
}

/// Reads every count in one connection.
///
/// # Errors
/// When a query fails.
pub async fn counts(store: &Store) -> Result<Counts, StoreError> {
    let sync = super::outbox::stats(store).await?;
    crate::with_conn!(store, |conn| {
        Ok(Counts {
            sync_pending: sync.pending + sync.in_flight,
            sync_failed: sync.failed,
            synced: sync.synced,
            devices: devices::table.count().get_result(conn).await?,
            devices_pending_approval: devices::table.filter(devices::approved.eq(false)).count().get_result(conn).await?,
            raw_punches: raw_punches::table.count().get_result(conn).await?,
            employees: employees::table.count().get_result(conn).await?,
            processed_days: processed_attendance::table.count().get_result(conn).await?,
            // Generated from the flags (every outlier flag name contains "outlier") and indexed.
            outliers: processed_attendance::table.filter(processed_attendance::is_outlier.eq(true)).count().get_result(conn).await?,
            pending_days: pending_days::table.count().get_result(conn).await?,
        })
    })
}
