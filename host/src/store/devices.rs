//! The `devices` table: the time clocks the bridge knows.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};

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
    /// The instance polling it now, if any.
    pub poll_lease_owner: Option<String>,
    /// Until when that instance holds the poll, UTC.
    pub poll_lease_until: Option<NaiveDateTime>,
    /// The latest instant the device has fully delivered, UTC.
    pub watermark_at: Option<NaiveDateTime>,
    /// Device clock minus bridge clock at the last poll, seconds.
    pub clock_offset_s: Option<i32>,
    /// Whether a real-time event subscription is kept open.
    pub live_mode: bool,
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

/// One device by id.
///
/// # Errors
/// [`StoreError::NotFound`] when there is no such device.
pub async fn get(store: &Store, id: DeviceId) -> Result<Device, StoreError> {
    crate::with_conn!(store, |conn| {
        devices::table.find(id).select(Device::as_select()).first(conn).await.optional().map_err(StoreError::from)
    })?
    .ok_or_else(|| StoreError::NotFound(format!("device {id}")))
}

/// Enables or disables polling of a device.
///
/// # Errors
/// [`StoreError::NotFound`] when there is no such device.
pub async fn set_enabled(store: &Store, id: DeviceId, enabled: bool) -> Result<(), StoreError> {
    let now = now_utc();
    let changed = crate::with_conn!(store, |conn| {
        diesel::update(devices::table.find(id))
            .set((devices::enabled.eq(enabled), devices::updated_at.eq(now)))
            .execute(conn)
            .await
            .map_err(StoreError::from)
    })?;
    if changed == 0 { Err(StoreError::NotFound(format!("device {id}"))) } else { Ok(()) }
}

/// Removes a device that has no stored punches; a device with history can only be disabled, so no
/// punch ever loses the device it came from.
///
/// # Errors
/// [`StoreError::NotFound`], or [`StoreError::Invalid`] when punches refer to it.
pub async fn remove(store: &Store, id: DeviceId) -> Result<(), StoreError> {
    use super::schema::raw_punches;
    crate::with_conn!(store, |conn| {
        conn.transaction::<(), StoreError, _>(async |conn| {
            let punches: i64 =
                raw_punches::table.filter(raw_punches::device_id.eq(id)).count().get_result(conn).await?;
            if punches > 0 {
                return Err(StoreError::Invalid(format!(
                    "device {id} has {punches} stored punches; disable it instead of removing it"
                )));
            }
            let removed = diesel::delete(devices::table.find(id)).execute(conn).await?;
            if removed == 0 { Err(StoreError::NotFound(format!("device {id}"))) } else { Ok(()) }
        })
        .await
    })
}

/// Claims the right to poll `id` until `until`; false when another instance holds it.
///
/// One conditional UPDATE, atomic on both backends: a device is polled by one instance at a time.
///
/// # Errors
/// When the query fails.
pub async fn claim_poll(
    store: &Store,
    id: DeviceId,
    instance: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let now = now.naive_utc();
    crate::with_conn!(store, |conn| {
        let claimed = diesel::update(
            devices::table
                .find(id)
                .filter(devices::poll_lease_until.is_null().or(devices::poll_lease_until.lt(now)).or(devices::poll_lease_owner.eq(instance))),
        )
        .set((devices::poll_lease_owner.eq(instance), devices::poll_lease_until.eq(until.naive_utc())))
        .execute(conn)
        .await?;
        Ok(claimed == 1)
    })
}

/// Gives back a poll lease.
///
/// # Errors
/// When the query fails.
pub async fn release_poll(store: &Store, id: DeviceId, instance: &str) -> Result<(), StoreError> {
    crate::with_conn!(store, |conn| {
        diesel::update(devices::table.find(id).filter(devices::poll_lease_owner.eq(instance)))
            .set((devices::poll_lease_owner.eq(None::<String>), devices::poll_lease_until.eq(None::<NaiveDateTime>)))
            .execute(conn)
            .await
            .map(drop)
            .map_err(StoreError::from)
    })
}
