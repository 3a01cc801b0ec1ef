//! Leases, written once: the right of one instance to work on a row (poll a device, keep it live,
//! run a job's tick, send a delivery) until a time, so a crashed holder's work is simply taken over
//! once its lease runs out.
//!
//! A lease is a pair of columns, owner and expiry, on the row it guards. It is taken with one
//! conditional `UPDATE` (the condition "free, or run out" is re-checked by the database under its
//! row lock), which is atomic on both backends: two instances never both get it.

use chrono::NaiveDateTime;

use super::dialect::{Dialect, Sql};

/// A lease's columns on its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The table holding it.
    pub table: &'static str,
    /// Who holds it (`NULL` when free).
    pub owner: &'static str,
    /// Until when (`NULL` when free), UTC.
    pub until: &'static str,
}

/// The poll lease of a device: the right to download its log.
pub const DEVICE_POLL: Lease = Lease { table: "devices", owner: "poll_lease_owner", until: "poll_lease_until" };
/// The live lease of a device: the right to keep its real-time connection open.
pub const DEVICE_LIVE: Lease = Lease { table: "devices", owner: "live_lease_owner", until: "live_lease_until" };
/// A job's tick.
pub const JOB: Lease = Lease { table: "job_schedules", owner: "lease_owner", until: "lease_until" };
/// A CRM delivery being sent.
pub const OUTBOX: Lease = Lease { table: "crm_outbox", owner: "lease_owner", until: "lease_until" };

/// Whether a lease already held by the claimant may be taken again (renewed by claiming).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reentry {
    /// Claiming again what one holds renews it (devices).
    Renews,
    /// Only a free or run-out lease is taken (a job's tick, a delivery: each claim is new work).
    FreeOnly,
}

impl Lease {
    /// Takes the lease on the rows `scope` selects for `owner` until `until`, where it is free at
    /// `now` (or already `owner`'s, with [`Reentry::Renews`]). `also_set` adds assignments (each
    /// starting with `, `); `scope` adds the row conditions (starting with ` AND `). Returns the rows
    /// taken.
    ///
    /// # Errors
    /// When the statement fails.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim<C: Dialect>(
        &self,
        conn: &mut C,
        owner: &str,
        now: NaiveDateTime,
        until: NaiveDateTime,
        reentry: Reentry,
        also_set: impl FnOnce(&mut Sql<C>),
        scope: impl FnOnce(&mut Sql<C>),
    ) -> diesel::QueryResult<usize> {
        let Lease { table, owner: owner_col, until: until_col } = *self;
        let mut sql = Sql::<C>::new(&format!("UPDATE {table} SET {owner_col} = "));
        sql.bind(owner).push(&format!(", {until_col} = ")).bind(until);
        also_set(&mut sql);
        sql.push(&format!(" WHERE ({until_col} IS NULL OR {until_col} < ")).bind(now);
        if reentry == Reentry::Renews {
            sql.push(&format!(" OR {owner_col} = ")).bind(owner);
        }
        sql.push(")");
        scope(&mut sql);
        sql.execute(conn).await
    }

    /// Extends `owner`'s lease on the rows `scope` selects (` AND …`) to `until`; returns the rows
    /// still `owner`'s (0: the lease was lost).
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn renew<C: Dialect>(&self, conn: &mut C, owner: &str, until: NaiveDateTime, scope: impl FnOnce(&mut Sql<C>)) -> diesel::QueryResult<usize> {
        let Lease { table, owner: owner_col, until: until_col } = *self;
        let mut sql = Sql::<C>::new(&format!("UPDATE {table} SET {until_col} = "));
        sql.bind(until).push(&format!(" WHERE {owner_col} = ")).bind(owner);
        scope(&mut sql);
        sql.execute(conn).await
    }

    /// Gives back `owner`'s lease on the rows `scope` selects (` AND …`); a lease someone else holds
    /// now is left alone.
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn release<C: Dialect>(&self, conn: &mut C, owner: &str, scope: impl FnOnce(&mut Sql<C>)) -> diesel::QueryResult<usize> {
        let Lease { table, .. } = *self;
        let mut sql = Sql::<C>::new(&format!("UPDATE {table} SET "));
        self.push_release(&mut sql);
        self.push_held_by(&mut sql, owner);
        scope(&mut sql);
        sql.execute(conn).await
    }

    /// Appends the assignments that free the lease (for a statement that also records an outcome).
    pub fn push_release<C: Dialect>(&self, sql: &mut Sql<C>) {
        sql.push(&format!("{} = NULL, {} = NULL", self.owner, self.until));
    }

    /// Appends ` WHERE owner = …`: the rows `owner` holds.
    pub fn push_held_by<C: Dialect>(&self, sql: &mut Sql<C>, owner: &str) {
        sql.push(&format!(" WHERE {}.{} = ", self.table, self.owner)).bind(owner);
    }
}
