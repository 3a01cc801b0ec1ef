//! The `raw_punches` table: every punch exactly as a device reported it.
//!
//! A punch is identified by device, employee and wall time; storing one that is already there is a
//! no-op, so re-downloading a device log (or a push terminal re-sending it) never duplicates anything.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::dialect::{self, Dialect, Sql};
use super::outbox::OutboxStatus;
use super::schema::raw_punches;
use super::{Store, StoreError, now_utc};
use crate::domain::{DeviceId, EmployeeId, WallTime};

/// A punch to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPunch {
    /// The device that recorded it.
    pub device_id: DeviceId,
    /// The employee's number on the device.
    pub employee: EmployeeId,
    /// The wall time the device wrote.
    pub local_time: WallTime,
    /// The instant that wall time resolves to in the device's zone.
    pub utc_time: DateTime<Utc>,
    /// The device's status byte.
    pub status: u8,
    /// Punch state (0 in, 1 out, 2 break-out, 3 break-in, 4 OT-in, 5 OT-out, 255 unknown).
    pub punch_state: u8,
    /// How the employee was verified (finger, card, password…).
    pub verify_type: u8,
    /// Position in the device's log, when known.
    pub device_seq: Option<i64>,
}

/// A stored punch.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = raw_punches)]
pub struct StoredPunch {
    /// Row id.
    pub id: i64,
    /// The device that recorded it.
    pub device_id: DeviceId,
    /// The employee's number on the device.
    #[diesel(column_name = device_user_id)]
    pub employee: EmployeeId,
    /// The wall time the device wrote.
    pub local_time: WallTime,
    /// The resolved instant, UTC.
    pub utc_time: chrono::NaiveDateTime,
    /// Status byte.
    pub status: i32,
    /// Punch state.
    pub punch_state: i32,
    /// Verification method.
    pub verify_type: i32,
    /// Position in the device log.
    pub device_seq: Option<i64>,
    /// When the bridge stored it, UTC.
    pub received_at: chrono::NaiveDateTime,
}

/// The employee-days new punches touch: each punch's local date and the day before (an overnight
/// shift that started then may end with this punch).
pub(crate) fn touched_days(new: &[(EmployeeId, WallTime)]) -> std::collections::BTreeSet<(EmployeeId, chrono::NaiveDate)> {
    new.iter()
        .flat_map(|(employee, time)| {
            let day = time.0.date();
            [Some(day), day.pred_opt()].into_iter().flatten().map(move |d| (employee.clone(), d))
        })
        .collect()
}

/// Stores `punches` in one transaction, skipping those already stored; returns how many were new.
///
/// All or nothing: a failure part-way leaves none of this call's punches behind, so a caller that
/// retries the whole batch cannot end up with a silent gap.
///
/// # Errors
/// When the database fails; nothing is stored then.
pub async fn insert(store: &Store, punches: &[NewPunch]) -> Result<usize, StoreError> {
    insert_marking(store, punches, true).await
}

/// [`insert`] for a push terminal awaiting approval: the punches are kept, but no day is marked for
/// processing (approval marks them, see [`super::devices::approve_with`]), so an unknown terminal
/// changes nothing real.
///
/// # Errors
/// As [`insert`].
pub async fn insert_held(store: &Store, punches: &[NewPunch]) -> Result<usize, StoreError> {
    insert_marking(store, punches, false).await
}

async fn insert_marking(store: &Store, punches: &[NewPunch], mark: bool) -> Result<usize, StoreError> {
    if punches.is_empty() {
        return Ok(0);
    }
    let received_at = now_utc();
    crate::with_conn!(store, |conn| {
        super::write_tx::<usize, StoreError, _>(conn, async |conn| Ok(insert_in(conn, punches, mark, received_at).await?)).await
    })
}

/// Stores `punches` inside the caller's transaction in multi-row `INSERT … ON CONFLICT DO NOTHING`
/// statements, and (with `mark`) marks the days of those that were new for processing in the same
/// transaction: a crash can never leave a stored punch whose day nobody will process, and a punch
/// already stored is skipped, so a retried batch stores each punch once. Returns how many were new.
///
/// # Errors
/// When a statement fails (the caller's transaction then stores nothing).
pub(crate) async fn insert_in<C: Dialect>(conn: &mut C, punches: &[NewPunch], mark: bool, received_at: chrono::NaiveDateTime) -> QueryResult<usize> {
    #[derive(QueryableByName)]
    struct Inserted {
        #[diesel(sql_type = diesel::sql_types::Text)]
        device_user_id: String,
        #[diesel(sql_type = diesel::sql_types::Timestamp)]
        local_time: chrono::NaiveDateTime,
    }
    let mut new = Vec::new();
    for chunk in dialect::chunks::<C, _>(punches, 9) {
        let mut sql = Sql::<C>::new(
            "INSERT INTO raw_punches (device_id, device_user_id, local_time, utc_time, status, punch_state, verify_type, device_seq, received_at) ",
        );
        sql.rows(chunk, |p| {
            vec![
                p.device_id.0.into(),
                p.employee.0.as_str().into(),
                p.local_time.0.into(),
                p.utc_time.naive_utc().into(),
                i32::from(p.status).into(),
                i32::from(p.punch_state).into(),
                i32::from(p.verify_type).into(),
                p.device_seq.into(),
                received_at.into(),
            ]
        });
        sql.push(" ON CONFLICT DO NOTHING RETURNING device_user_id, local_time");
        new.extend(sql.load::<Inserted>(conn).await?.into_iter().map(|r| (EmployeeId(r.device_user_id), WallTime(r.local_time))));
    }
    if mark {
        super::pending::mark_days(conn, touched_days(&new), received_at).await?;
    }
    Ok(new.len())
}

/// How many punches are stored.
///
/// # Errors
/// When the query fails.
pub async fn count(store: &Store) -> Result<i64, StoreError> {
    crate::with_conn!(store, |conn| raw_punches::table.count().get_result(conn).await.map_err(StoreError::from))
}

/// A device's punches in log order.
///
/// # Errors
/// When the query fails.
pub async fn list_for_device(store: &Store, device: DeviceId) -> Result<Vec<StoredPunch>, StoreError> {
    crate::with_conn!(store, |conn| {
        raw_punches::table
            .filter(raw_punches::device_id.eq(device))
            .order((raw_punches::local_time, raw_punches::id))
            .select(StoredPunch::as_select())
            .load(conn)
            .await
            .map_err(StoreError::from)
    })
}

/// An employee's punches with local times in `[from, to)`, from approved devices only (data from a
/// push terminal awaiting approval is kept but not processed).
///
/// # Errors
/// When the query fails.
pub async fn for_employee_between(
    store: &Store,
    employee: &EmployeeId,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
) -> Result<Vec<StoredPunch>, StoreError> {
    Ok(for_employees_between(store, &[(employee, from, to)]).await?.remove(employee).unwrap_or_default())
}

/// [`for_employee_between`] for several employees, each with its own range: one query per chunk of
/// employees (over the union of their ranges, then each employee's own range kept). Each
/// employee's punches come by device, then in the order they were stored.
///
/// # Errors
/// When the query fails.
pub async fn for_employees_between(
    store: &Store,
    wanted: &[(&EmployeeId, chrono::NaiveDateTime, chrono::NaiveDateTime)],
) -> Result<std::collections::HashMap<EmployeeId, Vec<StoredPunch>>, StoreError> {
    use super::schema::devices;
    let mut found: std::collections::HashMap<EmployeeId, Vec<StoredPunch>> = std::collections::HashMap::new();
    for chunk in wanted.chunks(1000) {
        let (Some(from), Some(to)) = (chunk.iter().map(|w| w.1).min(), chunk.iter().map(|w| w.2).max()) else { continue };
        let employees: Vec<&str> = chunk.iter().map(|w| w.0.0.as_str()).collect();
        let rows: Vec<StoredPunch> = crate::with_conn!(store, |conn| {
            raw_punches::table
                .inner_join(devices::table)
                .filter(devices::approved.eq(true))
                .filter(raw_punches::device_user_id.eq_any(employees))
                .filter(raw_punches::local_time.ge(from))
                .filter(raw_punches::local_time.lt(to))
                .order((raw_punches::device_id, raw_punches::id))
                .select(StoredPunch::as_select())
                .load(conn)
                .await
                .map_err(StoreError::from)
        })?;
        let ranges: std::collections::HashMap<&EmployeeId, (chrono::NaiveDateTime, chrono::NaiveDateTime)> = chunk.iter().map(|w| (w.0, (w.1, w.2))).collect();
        for punch in rows {
            if let Some((from, to)) = ranges.get(&punch.employee)
                && punch.local_time.0 >= *from
                && punch.local_time.0 < *to
            {
                found.entry(punch.employee.clone()).or_default().push(punch);
            }
        }
    }
    Ok(found)
}

/// The devices (name, address) that recorded the given punches, by (employee, UTC instant): the CRM
/// payload names the terminal a day's clock-in came from, as the original bridge did. One query for
/// the whole batch.
///
/// # Errors
/// When the query fails.
pub async fn source_devices(
    store: &Store,
    punches: &[(EmployeeId, chrono::NaiveDateTime)],
) -> Result<std::collections::HashMap<(EmployeeId, chrono::NaiveDateTime), (String, Option<String>)>, StoreError> {
    use super::schema::devices;
    if punches.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let users: Vec<&str> = punches.iter().map(|(e, _)| e.0.as_str()).collect();
    let times: Vec<chrono::NaiveDateTime> = punches.iter().map(|(_, t)| *t).collect();
    let rows: Vec<(String, chrono::NaiveDateTime, String, Option<String>)> = crate::with_conn!(store, |conn| {
        raw_punches::table
            .inner_join(devices::table)
            .filter(raw_punches::device_user_id.eq_any(&users))
            .filter(raw_punches::utc_time.eq_any(&times))
            .select((raw_punches::device_user_id, raw_punches::utc_time, devices::name, devices::address))
            .load(conn)
            .await
            .map_err(StoreError::from)
    })?;
    // The query matched users and instants separately; keep the pairs asked for.
    let wanted: std::collections::HashSet<&(EmployeeId, chrono::NaiveDateTime)> = punches.iter().collect();
    Ok(rows
        .into_iter()
        .map(|(user, at, name, address)| ((EmployeeId(user), at), (name, address)))
        .filter(|(key, _)| wanted.contains(key))
        .collect())
}

/// Deletes raw punches recorded before `cutoff` that nothing needs any more; returns how many.
///
/// A punch goes only when its device is approved (a pending terminal's data waits for the admin) and
/// its employee has nothing unfinished up to the cutoff date (plus a day, for night shifts): no day
/// waiting for processing, and no processed day whose latest revision the CRM has not acknowledged
/// (delivered, or skipped by the mapping plugin). The check is per employee, so one unsynced day
/// keeps all of that person's old punches: coarse, but it can never delete what is not synced.
///
/// # Errors
/// When a query fails.
pub async fn delete_synced_before(store: &Store, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
    use super::schema::{crm_outbox, devices, pending_days, processed_attendance as pa};
    let last_date = cutoff.date_naive() + chrono::TimeDelta::days(1);
    crate::with_conn!(store, |conn| {
        let mut blocked: Vec<String> = pa::table
            .filter(pa::work_date.le(last_date))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                crm_outbox::table
                    .filter(crm_outbox::attendance_id.eq(pa::id))
                    .filter(crm_outbox::revision.eq(pa::revision))
                    .filter(crm_outbox::status.eq_any([OutboxStatus::Delivered, OutboxStatus::Skipped])),
            )))
            .select(pa::user_id)
            .distinct()
            .load(conn)
            .await?;
        blocked.extend(
            pending_days::table.filter(pending_days::work_date.le(last_date)).select(pending_days::employee_code).distinct().load::<String>(conn).await?,
        );
        let unapproved: Vec<DeviceId> = devices::table.filter(devices::approved.eq(false)).select(devices::id).load(conn).await?;
        diesel::delete(
            raw_punches::table
                .filter(raw_punches::utc_time.lt(cutoff.naive_utc()))
                .filter(raw_punches::device_user_id.ne_all(blocked))
                .filter(raw_punches::device_id.ne_all(unapproved)),
        )
        .execute(conn)
        .await
        .map_err(StoreError::from)
    })
}

/// The employees with punches whose local times fall in `[from, to)`.
///
/// # Errors
/// When the query fails.
pub async fn employees_between(store: &Store, from: chrono::NaiveDateTime, to: chrono::NaiveDateTime) -> Result<Vec<EmployeeId>, StoreError> {
    crate::with_conn!(store, |conn| {
        raw_punches::table
            .filter(raw_punches::local_time.ge(from))
            .filter(raw_punches::local_time.lt(to))
            .select(raw_punches::device_user_id)
            .distinct()
            .order(raw_punches::device_user_id)
            .load::<String>(conn)
            .await
            .map(|codes| codes.into_iter().map(EmployeeId).collect())
            .map_err(StoreError::from)
    })
}
