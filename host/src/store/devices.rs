//! The `devices` table: the time clocks the bridge knows.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::devices;
use super::{Store, StoreError, now_utc};
use crate::domain::DeviceId;

/// A time clock as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = devices)]
pub struct Device {
    /// Row id.
    pub id: DeviceId,
    /// A unique name people recognise ("Main entrance").
    pub name: String,
    /// Host or IP for pulled devices; `None` for push-only ones.
    pub address: Option<String>,
    /// TCP/UDP port of the ZK protocol.
    pub port: i32,
    /// The device's communication key (0 = none).
    pub comm_key: i32,
    /// Serial number, once known.
    pub serial_number: Option<String>,
    /// Whether the device is polled.
    pub enabled: bool,
    /// IANA zone overriding the site zone for this device's wall times.
    pub time_zone: Option<String>,
    /// When the last download finished, UTC.
    pub last_sync_at: Option<NaiveDateTime>,
    /// The last failure, cleared by a successful download.
    pub last_error: Option<String>,
    /// When the row was created, UTC.
    pub created_at: NaiveDateTime,
    /// When the row last changed, UTC.
    pub updated_at: NaiveDateTime,
}

/// What it takes to register a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    /// Unique name.
    pub name: String,
    /// Host or IP; `None` for push-only devices.
    pub address: Option<String>,
    /// Port (4370 by default).
    pub port: u16,
    /// Communication key.
    pub comm_key: u32,
    /// Serial number, if known.
    pub serial_number: Option<String>,
    /// IANA zone override.
    pub time_zone: Option<String>,
}

/// Registers a device.
///
/// # Errors
/// [`StoreError::AlreadyExists`] when the name or serial number is taken.
pub async fn insert(store: &Store, new: &NewDevice) -> Result<Device, StoreError> {
    let now = now_utc();
    let comm_key = i32::try_from(new.comm_key)
        .map_err(|_| StoreError::Invalid(format!("comm key {} is out of range", new.comm_key)))?;
    let values = (
        devices::name.eq(&new.name),
        devices::address.eq(&new.address),
        devices::port.eq(i32::from(new.port)),
        devices::comm_key.eq(comm_key),
        devices::serial_number.eq(&new.serial_number),
        devices::time_zone.eq(&new.time_zone),
        devices::created_at.eq(now),
        devices::updated_at.eq(now),
    );
    let result = crate::with_conn!(store, |conn| {
        diesel::insert_into(devices::table)
            .values(values)
            .returning(Device::as_returning())
            .get_result(conn)
            .await
            .map_err(StoreError::from)
    });
    match result {
        Err(StoreError::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ))) => Err(StoreError::AlreadyExists(format!("device {:?}", new.name))),
        other => other,
    }
}

/// Every device, by name.
///
/// # Errors
/// When the query fails.
pub async fn list(store: &Store) -> Result<Vec<Device>, StoreError> {
    crate::with_conn!(store, |conn| {
        devices::table.order(devices::name).select(Device::as_select()).load(conn).await.map_err(StoreError::from)
    })
}

/// Records the outcome of a download: the time on success, the error text on failure.
///
/// # Errors
/// When the query fails.
pub async fn record_sync(store: &Store, id: DeviceId, at: DateTime<Utc>, error: Option<&str>) -> Result<(), StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        let target = devices::table.find(id);
        match error {
            None => diesel::update(target)
                .set((devices::last_sync_at.eq(at.naive_utc()), devices::last_error.eq(None::<String>), devices::updated_at.eq(now)))
                .execute(conn)
                .await,
            Some(message) => diesel::update(target)
                .set((devices::last_error.eq(message), devices::updated_at.eq(now)))
                .execute(conn)
                .await,
        }
        .map(drop)
        .map_err(StoreError::from)
    })
}
