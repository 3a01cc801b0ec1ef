//! The `devices` table: the time clocks the bridge knows.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::closed_set::{self, ClosedSet};
use super::lease::{self, Reentry};
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
    /// When the last download finished (pulled) or the last attendance upload was stored (push), UTC.
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
    /// How the device talks to the bridge.
    pub transport: Transport,
    /// Whether an admin approved it; data from unapproved devices is kept but not processed.
    pub approved: bool,
    /// The last ATTLOG stamp a push device sent and the bridge stored.
    pub attlog_stamp: Option<String>,
    /// The last OPERLOG stamp a push device sent and the bridge stored.
    pub operlog_stamp: Option<String>,
    /// The last request from a push device, UTC.
    pub last_seen_at: Option<NaiveDateTime>,
    /// Records in a pulled device's log at its last complete poll.
    pub log_count: Option<i32>,
    /// That log's last record, as [`log_mark`] writes it.
    pub log_tail: Option<String>,
    /// The instance holding the device's live connection, if any.
    pub live_lease_owner: Option<String>,
    /// Until when that instance holds it, UTC.
    pub live_lease_until: Option<NaiveDateTime>,
    /// The network (CIDR) an approved push terminal must push from; `None` until it is bound.
    pub push_bound_network: Option<String>,
    /// Hex SHA-256 of the terminal's own secret (`pushcommkey`), when an admin set one.
    pub push_secret_hash: Option<String>,
    /// The source address of the terminal's last push request.
    pub last_push_peer: Option<String>,
    /// A failover address of a pulled device, tried when `address` does not answer.
    pub secondary_address: Option<String>,
    /// The address that answered the last poll (primary or secondary), for the operator to see.
    pub answered_address: Option<String>,
}

impl Device {
    /// Whether a live connection should be open: live mode on a usable pulled device.
    pub fn wants_live(&self) -> bool {
        self.live_mode && self.enabled && self.approved && self.transport == Transport::Pull && self.address.is_some()
    }

    /// The zone of the device's wall times: its own override, or the site's.
    pub fn zone(&self, site: chrono_tz::Tz) -> chrono_tz::Tz {
        self.time_zone.as_deref().and_then(|tz| tz.parse().ok()).unwrap_or(site)
    }
}

/// Whether the bridge pulls from the device (ZK protocol) or the device pushes (ADMS over HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::FromSqlRow, diesel::AsExpression)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum Transport {
    /// The bridge connects to the device on port 4370.
    Pull,
    /// The device calls the bridge's `/iclock/…` endpoints.
    Push,
}

impl ClosedSet for Transport {
    const ALL: &'static [(Self, &'static str)] = &[(Transport::Pull, "pull"), (Transport::Push, "push")];
    const WHAT: &'static str = "device transport";
}

impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for Transport
where
    DB: diesel::backend::Backend,
    String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        closed_set::from_sql::<Self, DB>(bytes)
    }
}

impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for Transport
where
    DB: diesel::backend::Backend,
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
        closed_set::to_sql(self, out)
    }
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
    /// Pull (ZK protocol) or push (ADMS).
    pub transport: Transport,
    /// Approved by an admin (unknown push serials start unapproved).
    pub approved: bool,
}

impl NewDevice {
    /// A pulled device at `address:port`, approved.
    pub fn pull(name: &str, address: &str, port: u16, comm_key: u32) -> Self {
        Self {
            name: name.to_owned(),
            address: Some(address.to_owned()),
            port,
            comm_key,
            serial_number: None,
            time_zone: None,
            transport: Transport::Pull,
            approved: true,
        }
    }

    /// A push device known by its serial number.
    pub fn push(name: &str, serial: &str, approved: bool) -> Self {
        Self {
            name: name.to_owned(),
            address: None,
            port: 0,
            comm_key: 0,
            serial_number: Some(serial.to_owned()),
            time_zone: None,
            transport: Transport::Push,
            approved,
        }
    }
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
        devices::transport.eq(new.transport),
        devices::approved.eq(new.approved),
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
        ))) => Err(StoreError::AlreadyExists(format!(
            "device {:?}{}",
            new.name,
            new.serial_number.as_deref().map(|sn| format!(" or serial {sn}")).unwrap_or_default()
        ))),
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
        super::write_tx::<(), StoreError, _>(conn, async |conn| {
            // Tells an unknown id apart; rolled back with the rest when refused. (It was also how this
            // transaction took SQLite's write lock first, before `write_tx` opened it as a writer.)
            let found = diesel::update(devices::table.find(id)).set(devices::updated_at.eq(super::now_utc())).execute(conn).await?;
            if found == 0 {
                return Err(StoreError::NotFound(format!("device {id}")));
            }
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

/// Which of a device's two leases: the poll (a download) or the live connection.
///
/// They are separate because a live connection stays open for days while polls come and go beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// The right to download the device's log.
    Poll,
    /// The right to keep its real-time connection open.
    Live,
}

impl Lease {
    fn columns(self) -> lease::Lease {
        match self {
            Lease::Poll => lease::DEVICE_POLL,
            Lease::Live => lease::DEVICE_LIVE,
        }
    }
}

/// Claims (or renews) `lease` on device `id` for `instance` until `until`; false when another
/// instance holds it. A device is polled, and kept live, by one instance at a time.
///
/// # Errors
/// When the query fails.
pub async fn claim(store: &Store, lease: Lease, id: DeviceId, instance: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
    let (now, until) = (now.naive_utc(), until.naive_utc());
    let claimed = crate::with_conn!(store, |conn| {
        Ok::<_, StoreError>(lease.columns().claim(conn, instance, now, until, Reentry::Renews, |_| {}, |scope| {
            scope.push(" AND id = ").bind(id.0);
        })
        .await?)
    })?;
    Ok(claimed == 1)
}

/// Gives back `lease` on device `id` if `instance` holds it.
///
/// # Errors
/// When the query fails.
pub async fn release(store: &Store, lease: Lease, id: DeviceId, instance: &str) -> Result<(), StoreError> {
    crate::with_conn!(store, |conn| {
        lease.columns().release(conn, instance, |scope| {
            scope.push(" AND id = ").bind(id.0);
        })
        .await?;
        Ok(())
    })
}

/// Turns live mode on or off.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown device.
pub async fn set_live_mode(store: &Store, id: DeviceId, live: bool) -> Result<(), StoreError> {
    let now = now_utc();
    let changed = crate::with_conn!(store, |conn| {
        diesel::update(devices::table.find(id))
            .set((devices::live_mode.eq(live), devices::updated_at.eq(now)))
            .execute(conn)
            .await
            .map_err(StoreError::from)
    })?;
    if changed == 0 { Err(StoreError::NotFound(format!("device {id}"))) } else { Ok(()) }
}

/// The device with this serial number, if any.
///
/// # Errors
/// When the query fails.
pub async fn find_by_serial(store: &Store, serial: &str) -> Result<Option<Device>, StoreError> {
    crate::with_conn!(store, |conn| {
        devices::table
            .filter(devices::serial_number.eq(serial))
            .select(Device::as_select())
            .first(conn)
            .await
            .optional()
            .map_err(StoreError::from)
    })
}

/// The push device with this serial, registering it unapproved (named by its serial alone) when it
/// is new. Two first requests racing each other end up with the same single row.
///
/// # Errors
/// When the database fails.
pub async fn find_or_register_push(store: &Store, serial: &str) -> Result<Device, StoreError> {
    register_push_capped(store, serial, u32::MAX)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("device with serial {serial}")))
}

/// [`find_or_register_push`], registering a new serial only while fewer than `max_pending`
/// terminals await approval (`None` then): each unknown serial would otherwise add a row, without end.
/// Concurrent first requests can overshoot the cap by the number of requests racing.
///
/// # Errors
/// When the database fails.
pub async fn register_push_capped(store: &Store, serial: &str, max_pending: u32) -> Result<Option<Device>, StoreError> {
    if let Some(device) = find_by_serial(store, serial).await? {
        return Ok(Some(device));
    }
    let waiting: i64 = crate::with_conn!(store, |conn| {
        devices::table.filter(devices::approved.eq(false)).count().get_result(conn).await.map_err(StoreError::from)
    })?;
    if waiting >= i64::from(max_pending) {
        return Ok(None);
    }
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        diesel::insert_into(devices::table)
            .values((
                devices::name.eq(serial),
                devices::serial_number.eq(serial),
                devices::port.eq(0),
                devices::transport.eq(Transport::Push),
                devices::approved.eq(false),
                devices::created_at.eq(now),
                devices::updated_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await
            .map(drop)
            .map_err(StoreError::from)
    })?;
    find_by_serial(store, serial).await
}

/// How an admin approves a push terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approval {
    /// Its name from now on [default: `terminal <id>`]; a self-registered terminal is named by its
    /// serial until then, and serials should not be shown where anyone can read them.
    pub name: Option<String>,
    /// The network it must push from [default: the address of its last request, when known; else
    /// the address of its next request].
    pub bind: Option<ipnet::IpNet>,
}

/// Approves a device (by serial) with the defaults of [`Approval`].
///
/// # Errors
/// As [`approve_with`].
pub async fn approve(store: &Store, serial: &str) -> Result<Device, StoreError> {
    approve_with(store, serial, &Approval::default()).await
}

/// Approves a device (by serial): enabled, renamed, bound, and, in the same transaction, every day its
/// stored punches touch is marked for processing (an unapproved terminal's punches mark nothing).
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown serial, [`StoreError::AlreadyExists`] when the name is taken.
pub async fn approve_with(store: &Store, serial: &str, approval: &Approval) -> Result<Device, StoreError> {
    use super::schema::raw_punches;
    let device = find_by_serial(store, serial).await?.ok_or_else(|| StoreError::NotFound(format!("device with serial {serial}")))?;
    let name = match &approval.name {
        Some(name) => name.clone(),
        None if device.approved || device.name != serial => device.name.clone(),
        None => format!("terminal {}", device.id),
    };
    let bind = approval
        .bind
        .map(|net| net.to_string())
        .or_else(|| device.push_bound_network.clone())
        .or_else(|| device.last_push_peer.as_deref().and_then(|peer| peer.parse::<std::net::IpAddr>().ok()).map(|ip| ipnet::IpNet::from(ip).to_string()));
    let now = now_utc();
    let was_approved = device.approved;
    let result = crate::with_conn!(store, |conn| {
        super::write_tx::<(), StoreError, _>(conn, async |conn| {
            diesel::update(devices::table.find(device.id))
                .set((
                    devices::approved.eq(true),
                    devices::enabled.eq(true),
                    devices::name.eq(&name),
                    devices::push_bound_network.eq(&bind),
                    devices::updated_at.eq(now),
                ))
                .execute(conn)
                .await?;
            if !was_approved {
                let held: Vec<(crate::domain::EmployeeId, crate::domain::WallTime)> = raw_punches::table
                    .filter(raw_punches::device_id.eq(device.id))
                    .select((raw_punches::device_user_id, raw_punches::local_time))
                    .load(conn)
                    .await?;
                super::pending::mark_days(conn, super::punches::touched_days(&held), now).await?;
            }
            Ok(())
        })
        .await
    });
    match result {
        Err(StoreError::Query(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))) => {
            return Err(StoreError::AlreadyExists(format!("device {name:?}")));
        }
        other => other?,
    }
    get(store, device.id).await
}

/// Binds a push terminal to `network`, or unbinds it (`None`: bound again to its next request's address).
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown serial.
pub async fn rebind(store: &Store, serial: &str, network: Option<ipnet::IpNet>) -> Result<Device, StoreError> {
    let now = now_utc();
    let bound = network.map(|n| n.to_string());
    let changed = crate::with_conn!(store, |conn| {
        diesel::update(devices::table.filter(devices::serial_number.eq(serial)))
            .set((devices::push_bound_network.eq(&bound), devices::updated_at.eq(now)))
            .execute(conn)
            .await
            .map_err(StoreError::from)
    })?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("device with serial {serial}")));
    }
    find_by_serial(store, serial).await?.ok_or_else(|| StoreError::NotFound(format!("device with serial {serial}")))
}

/// Binds an approved, unbound terminal to `network` (trust on first use), unless another request bound
/// it first; returns whether this call bound it.
///
/// # Errors
/// When the query fails.
pub async fn bind_if_unbound(store: &Store, id: DeviceId, network: ipnet::IpNet) -> Result<bool, StoreError> {
    let bound = network.to_string();
    let changed = crate::with_conn!(store, |conn| {
        diesel::update(devices::table.find(id).filter(devices::push_bound_network.is_null()))
            .set(devices::push_bound_network.eq(&bound))
            .execute(conn)
            .await
            .map_err(StoreError::from)
    })?;
    Ok(changed == 1)
}

/// Sets (or clears) the hash of a push terminal's own secret.
///
/// # Errors
/// [`StoreError::NotFound`] for an unknown device.
pub async fn set_push_secret_hash(store: &Store, id: DeviceId, hash: Option<&str>) -> Result<(), StoreError> {
    let changed = crate::with_conn!(store, |conn| {
        diesel::update(devices::table.find(id)).set(devices::push_secret_hash.eq(hash)).execute(conn).await.map_err(StoreError::from)
    })?;
    if changed == 0 { Err(StoreError::NotFound(format!("device {id}"))) } else { Ok(()) }
}

/// Which push table a stamp belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampTable {
    /// Attendance records.
    AttLog,
    /// Operation log (and user records riding in it).
    OperLog,
}

/// Records a push device's request: when it was seen, from where, and, after a table upload was
/// stored, its stamp. A failed download leaves the stamp alone, so the device sends the same records again.
///
/// A stored attendance (ATTLOG) upload is a push terminal's sync: it sets `last_sync_at` as a
/// completed download does for a pulled device, so the device lists, the API and the dashboard say
/// when its punches last arrived instead of "never synced". A command poll or handshake is only
/// `last_seen_at`: the terminal is alive, but nothing new reached the bridge.
///
/// # Errors
/// When the query fails.
pub async fn record_push(
    store: &Store,
    id: DeviceId,
    peer: Option<std::net::IpAddr>,
    stamp: Option<(StampTable, &str)>,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let now = now_utc();
    let peer = peer.map(|ip| ip.to_string());
    crate::with_conn!(store, |conn| {
        let target = devices::table.find(id);
        diesel::update(target).set((devices::last_seen_at.eq(now), devices::updated_at.eq(now))).execute(conn).await?;
        if let Some(peer) = &peer {
            diesel::update(target).set(devices::last_push_peer.eq(peer)).execute(conn).await?;
        }
        match stamp {
            Some((StampTable::AttLog, stamp)) => {
                diesel::update(target).set((devices::attlog_stamp.eq(stamp), devices::last_sync_at.eq(now))).execute(conn).await?;
            }
            Some((StampTable::OperLog, stamp)) => {
                diesel::update(target).set(devices::operlog_stamp.eq(stamp)).execute(conn).await?;
            }
            None => {}
        }
        if let Some(error) = error {
            diesel::update(target).set(devices::last_error.eq(error)).execute(conn).await?;
        }
        Ok(())
    })
}

/// How a log record is remembered as the tail of a device's log.
pub fn log_mark(user: &str, local_time: NaiveDateTime, state: u8) -> String {
    format!("{user}|{local_time}|{state}")
}

/// Remembers where the device's log stood after a poll stored all of it: `count` records, the last one
/// `tail` (see [`log_mark`]).
///
/// # Errors
/// When the query fails.
pub async fn record_log_mark(store: &Store, id: DeviceId, count: usize, tail: Option<&str>) -> Result<(), StoreError> {
    crate::with_conn!(store, |conn| {
        diesel::update(devices::table.find(id))
            .set((devices::log_count.eq(i32::try_from(count).ok()), devices::log_tail.eq(tail)))
            .execute(conn)
            .await
            .map(drop)
            .map_err(StoreError::from)
    })
}

/// Records a successful poll: when, the device clock's offset, and the watermark (the latest instant
/// the device has fully delivered); clears the last error.
///
/// # Errors
/// When the query fails.
pub async fn record_poll(
    store: &Store,
    id: DeviceId,
    at: DateTime<Utc>,
    clock_offset_s: i32,
    watermark: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        diesel::update(devices::table.find(id))
            .set((
                devices::last_sync_at.eq(at.naive_utc()),
                devices::last_error.eq(None::<String>),
                devices::clock_offset_s.eq(clock_offset_s),
                devices::watermark_at.eq(watermark.naive_utc()),
                devices::updated_at.eq(now),
            ))
            .execute(conn)
            .await
            .map(drop)
            .map_err(StoreError::from)
    })
}
