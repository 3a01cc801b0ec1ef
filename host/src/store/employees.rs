//! Employees (`employees`): names learned from the devices, and each person's shift pattern.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::employees;
use super::{Store, StoreError, now_utc};
use crate::domain::EmployeeId;

/// An employee as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = employees)]
pub struct Employee {
    /// Row id.
    pub id: i64,
    /// The user id on the time clocks.
    #[diesel(column_name = employee_code)]
    pub code: EmployeeId,
    /// Name, as the device or an admin gave it.
    pub name: Option<String>,
    /// Template for unrostered days (off-days and holidays are grouped with it).
    pub default_shift: Option<String>,
    /// Template worked on `weekly_days`.
    pub weekly_shift: Option<String>,
    /// Comma-separated weekdays (`mon,tue,…`) the weekly template applies to.
    pub weekly_days: String,
    /// Inactive people are kept for history but not processed.
    pub active: bool,
    /// Created, UTC.
    pub created_at: chrono::NaiveDateTime,
    /// Last change, UTC.
    pub updated_at: chrono::NaiveDateTime,
}

/// The longest name stored from a device; longer ones are cut (a device, or a request posing as one,
/// is not trusted with the size of what lands in pages, e-mails and CRM payloads).
pub const MAX_DEVICE_NAME_CHARS: usize = 100;

/// Records names reported by a device: new people are added, known ones get the device's name
/// only when they have none yet (an admin's correction is never overwritten). Returns how many were new.
/// One transaction: a batch of names lands whole or not at all. Names are cut to [`MAX_DEVICE_NAME_CHARS`].
///
/// # Errors
/// When the database fails.
pub async fn upsert_names(store: &Store, people: &[(EmployeeId, Option<String>)]) -> Result<usize, StoreError> {
    let now = now_utc();
    // Control characters go too: PostgreSQL text cannot hold NUL, and line breaks would forge lines.
    let clean = |name: &str| -> Option<String> {
        let printable: String = name.chars().filter(|c| !c.is_control()).collect();
        let trimmed = printable.trim();
        let cut = trimmed.char_indices().nth(MAX_DEVICE_NAME_CHARS).map_or(trimmed, |(at, _)| &trimmed[..at]);
        (!cut.is_empty()).then(|| cut.to_owned())
    };
    let people: Vec<(&EmployeeId, Option<String>)> = people.iter().map(|(code, name)| (code, name.as_deref().and_then(clean))).collect();
    let people = &people;
    crate::with_conn!(store, |conn| {
        super::write_tx::<usize, StoreError, _>(conn, async |conn| {
            let mut added = 0;
            for (code, name) in people {
                added += diesel::insert_into(employees::table)
                    .values((
                        employees::employee_code.eq(*code),
                        employees::name.eq(name),
                        employees::created_at.eq(now),
                        employees::updated_at.eq(now),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
                if let Some(name) = name {
                    diesel::update(employees::table.filter(employees::employee_code.eq(*code)).filter(employees::name.is_null()))
                        .set((employees::name.eq(name), employees::updated_at.eq(now)))
                        .execute(conn)
                        .await?;
                }
            }
            Ok(added)
        })
        .await
    })
}

/// Every employee, by code.
///
/// # Errors
/// When the query fails.
pub async fn list(store: &Store) -> Result<Vec<Employee>, StoreError> {
    crate::with_conn!(store, |conn| {
        employees::table.order(employees::employee_code).select(Employee::as_select()).load(conn).await.map_err(StoreError::from)
    })
}

/// Sets a person's default template and weekly pattern (creating the employee if needed).
///
/// # Errors
/// When the database fails.
pub async fn set_pattern(
    store: &Store,
    code: &EmployeeId,
    default_shift: Option<&str>,
    weekly_shift: Option<&str>,
    weekly_days: &str,
) -> Result<(), StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        diesel::insert_into(employees::table)
            .values((employees::employee_code.eq(code), employees::created_at.eq(now), employees::updated_at.eq(now)))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        diesel::update(employees::table.filter(employees::employee_code.eq(code)))
            .set((
                employees::default_shift.eq(default_shift),
                employees::weekly_shift.eq(weekly_shift),
                employees::weekly_days.eq(weekly_days),
                employees::updated_at.eq(now),
            ))
            .execute(conn)
            .await
            .map(drop)
            .map_err(StoreError::from)
    })
}

/// Sets a person's name (an admin's edit: devices never overwrite it afterwards, see
/// [`upsert_names`]) and whether they are processed. Returns the employee as changed.
///
/// # Errors
/// [`StoreError::NotFound`] when there is no such employee; [`StoreError::Invalid`] for a name
/// longer than [`MAX_DEVICE_NAME_CHARS`] or holding control characters.
pub async fn update(store: &Store, code: &EmployeeId, name: Option<&str>, active: bool) -> Result<Employee, StoreError> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    if let Some(name) = name
        && (name.chars().count() > MAX_DEVICE_NAME_CHARS || name.chars().any(char::is_control))
    {
        return Err(StoreError::Invalid(format!("a name has at most {MAX_DEVICE_NAME_CHARS} printable characters")));
    }
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        diesel::update(employees::table.filter(employees::employee_code.eq(code)))
            .set((employees::name.eq(name), employees::active.eq(active), employees::updated_at.eq(now)))
            .returning(Employee::as_returning())
            .get_result(conn)
            .await
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("employee {code}")))
    })
}

/// The names of the given employees (those without a name are left out).
///
/// # Errors
/// When the query fails.
pub async fn names(store: &Store, codes: &[EmployeeId]) -> Result<std::collections::HashMap<EmployeeId, String>, StoreError> {
    let rows: Vec<(EmployeeId, Option<String>)> = crate::with_conn!(store, |conn| {
        employees::table
            .filter(employees::employee_code.eq_any(codes))
            .select((employees::employee_code, employees::name))
            .load(conn)
            .await
            .map_err(StoreError::from)
    })?;
    Ok(rows.into_iter().filter_map(|(code, name)| Some((code, name?))).collect())
}

/// One employee by code.
///
/// # Errors
/// When the query fails.
pub async fn get(store: &Store, code: &EmployeeId) -> Result<Option<Employee>, StoreError> {
    crate::with_conn!(store, |conn| {
        employees::table.filter(employees::employee_code.eq(code)).select(Employee::as_select()).first(conn).await.optional().map_err(StoreError::from)
    })
}

/// [`get`] for several employees: the ones found, by code.
///
/// # Errors
/// When the query fails.
pub async fn get_many(store: &Store, codes: &[&EmployeeId]) -> Result<std::collections::HashMap<EmployeeId, Employee>, StoreError> {
    let mut found = std::collections::HashMap::new();
    for chunk in codes.chunks(1000) {
        let codes: Vec<&str> = chunk.iter().map(|e| e.0.as_str()).collect();
        let rows: Vec<Employee> = crate::with_conn!(store, |conn| {
            employees::table.filter(employees::employee_code.eq_any(codes)).select(Employee::as_select()).load(conn).await.map_err(StoreError::from)
        })?;
        found.extend(rows.into_iter().map(|e| (e.code.clone(), e)));
    }
    Ok(found)
}
