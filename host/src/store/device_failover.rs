//! A pulled device's failover address (`devices.secondary_address`) and the address that answered
//! last (`devices.answered_address`).
//!
//! Sites coming from the Django bridge register a second address for a device reachable over two
//! networks; the poll tries it when the first one does not answer, and the operator sees which did.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::devices;
use super::{Store, StoreError, now_utc};
use crate::domain::DeviceId;

/// Sets (or with `None`, clears) a device's failover address.
///
/// # Errors
/// [`StoreError::NotFound`] when there is no such device.
pub async fn set_secondary(store: &Store, id: DeviceId, address: Option<&str>) -> Result<(), StoreError> {
    let now = now_utc();
    let updated = crate::with_conn!(store, |conn| {
        diesel::update(devices::table.find(id))
            .set((devices::secondary_address.eq(address), devices::updated_at.eq(now)))
            .execute(conn)
            .await
            .map_err(StoreError::from)
    })?;
    if updated == 0 { Err(StoreError::NotFound(format!("device {id}"))) } else { Ok(()) }
}

/// Records which address answered the device's last connection.
///
/// # Errors
/// When the query fails.
pub async fn record_answered(store: &Store, id: DeviceId, address: &str) -> Result<(), StoreError> {
    crate::with_conn!(store, |conn| {
        diesel::update(devices::table.find(id))
            .set(devices::answered_address.eq(address))
            .execute(conn)
            .await
            .map(drop)
            .map_err(StoreError::from)
    })
}

/// What `devices edit` changes on a pulled device; `None` leaves a value as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceEdit {
    /// New address.
    pub address: Option<String>,
    /// New failover address; `Some(None)` removes it.
    pub secondary_address: Option<Option<String>>,
    /// New port.
    pub port: Option<u16>,
    /// New IANA zone; `Some(None)` falls back to the site zone.
    pub time_zone: Option<Option<String>>,
}

/// Applies `edit` to a device in one statement per value, inside one transaction.
///
/// # Errors
/// [`StoreError::NotFound`] when there is no such device.
pub async fn edit(store: &Store, id: DeviceId, edit: &DeviceEdit) -> Result<(), StoreError> {
    let now = now_utc();
    let found = crate::with_conn!(store, |conn| {
        super::write_tx::<usize, StoreError, _>(conn, async |conn| {
            let target = devices::table.find(id);
            let found = diesel::update(target).set(devices::updated_at.eq(now)).execute(conn).await?;
            if let Some(address) = &edit.address {
                diesel::update(target).set(devices::address.eq(address)).execute(conn).await?;
            }
            if let Some(secondary) = &edit.secondary_address {
                diesel::update(target).set(devices::secondary_address.eq(secondary)).execute(conn).await?;
            }
            if let Some(port) = edit.port {
                diesel::update(target).set(devices::port.eq(i32::from(port))).execute(conn).await?;
            }
            if let Some(zone) = &edit.time_zone {
                diesel::update(target).set(devices::time_zone.eq(zone)).execute(conn).await?;
            }
            Ok(found)
        })
        .await
    })?;
    if found == 0 { Err(StoreError::NotFound(format!("device {id}"))) } else { Ok(()) }
}
