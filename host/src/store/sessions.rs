//! Server-side sign-in sessions (`sessions`).
//!
//! The browser holds a random session id; the table holds only its SHA-256 (`id_hash`), so a copy of
//! the database cannot be replayed as cookies. A session ends at `expires_at` (absolute), after the
//! idle time without a request, when it is deleted (logout, a new sign-in from the same browser), or
//! when its account is deleted (cascade) or deactivated (the lookup joins active accounts only).

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::{sessions, users};
use super::users::User;
use super::{Store, StoreError, now_utc};
use crate::domain::UserId;

/// How stale `last_seen_at` may get before a request writes it again: idle expiry is counted in
/// minutes, and one write per request would double the database work of every page view.
pub const SEEN_RESOLUTION: TimeDelta = TimeDelta::minutes(1);

/// A stored session. `Debug` leaves out the id hash and the CSRF token.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    /// Row id.
    pub id: i64,
    /// Hex SHA-256 of the session id in the cookie.
    pub id_hash: String,
    /// The signed-in account.
    pub user_id: UserId,
    /// The token every state-changing request of this session must carry.
    pub csrf_token: String,
    /// Sign-in time, UTC.
    pub created_at: NaiveDateTime,
    /// Last request, UTC (to [`SEEN_RESOLUTION`]).
    pub last_seen_at: NaiveDateTime,
    /// Absolute end, UTC.
    pub expires_at: NaiveDateTime,
    /// Client address at sign-in.
    pub client_addr: Option<String>,
    /// Browser at sign-in (cut to 256 characters).
    pub user_agent: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .field("expires_at", &self.expires_at)
            .field("client_addr", &self.client_addr)
            .finish_non_exhaustive()
    }
}

/// What a new session stores.
#[derive(Clone)]
pub struct NewSession<'a> {
    /// Hex SHA-256 of the new session id.
    pub id_hash: &'a str,
    /// The account signing in.
    pub user: UserId,
    /// The session's CSRF token.
    pub csrf_token: &'a str,
    /// How long the session may live at most.
    pub lifetime: TimeDelta,
    /// Client address.
    pub client_addr: Option<&'a str>,
    /// Browser.
    pub user_agent: Option<&'a str>,
}

/// Starts a session, ending the one it replaces (the same browser's earlier session, if any) in the
/// same transaction, and stamps the account's last login.
///
/// # Errors
/// When the query fails.
pub async fn start(store: &Store, new: &NewSession<'_>, replaces: Option<&str>) -> Result<Session, StoreError> {
    let now = now_utc();
    let user_agent = new.user_agent.map(|ua| ua.chars().take(256).collect::<String>());
    let user_agent = user_agent.as_deref();
    crate::with_conn!(store, |conn| {
        super::write_tx::<Session, StoreError, _>(conn, async |conn| {
            if let Some(old) = replaces {
                diesel::delete(sessions::table.filter(sessions::id_hash.eq(old))).execute(conn).await?;
            }
            diesel::update(users::table.find(new.user)).set(users::last_login_at.eq(now)).execute(conn).await?;
            let values = (
                sessions::id_hash.eq(new.id_hash),
                sessions::user_id.eq(new.user),
                sessions::csrf_token.eq(new.csrf_token),
                sessions::created_at.eq(now),
                sessions::last_seen_at.eq(now),
                sessions::expires_at.eq(now + new.lifetime),
                sessions::client_addr.eq(new.client_addr),
                sessions::user_agent.eq(user_agent),
            );
            Ok(diesel::insert_into(sessions::table).values(values).returning(Session::as_returning()).get_result(conn).await?)
        })
        .await
    })
}

/// The live session with this id hash and its (active) account; records the use. An expired
/// session found here is deleted and reported as absent.
///
/// # Errors
/// When the query fails.
pub async fn find_live(store: &Store, id_hash: &str, idle: TimeDelta) -> Result<Option<(Session, User)>, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        let found: Option<(Session, User)> = sessions::table
            .inner_join(users::table)
            .filter(sessions::id_hash.eq(id_hash))
            .filter(users::is_active.eq(true))
            .select((Session::as_select(), User::as_select()))
            .first(conn)
            .await
            .optional()?;
        let Some((mut session, user)) = found else { return Ok(None) };
        if now >= session.expires_at || now - session.last_seen_at >= idle {
            diesel::delete(sessions::table.find(session.id)).execute(conn).await?;
            return Ok(None);
        }
        if now - session.last_seen_at >= SEEN_RESOLUTION {
            diesel::update(sessions::table.find(session.id)).set(sessions::last_seen_at.eq(now)).execute(conn).await?;
            session.last_seen_at = now;
        }
        Ok(Some((session, user)))
    })
}

/// Ends the session with this id hash; whether there was one.
///
/// # Errors
/// When the query fails.
pub async fn end(store: &Store, id_hash: &str) -> Result<bool, StoreError> {
    crate::with_conn!(store, |conn| {
        Ok(diesel::delete(sessions::table.filter(sessions::id_hash.eq(id_hash))).execute(conn).await? > 0)
    })
}

/// Ends every session of an account (a password change, a deactivation); how many.
///
/// # Errors
/// When the query fails.
pub async fn end_all_of(store: &Store, user: UserId) -> Result<usize, StoreError> {
    crate::with_conn!(store, |conn| {
        Ok(diesel::delete(sessions::table.filter(sessions::user_id.eq(user))).execute(conn).await?)
    })
}

/// Deletes sessions past their absolute end or idle longer than `idle`; how many.
///
/// # Errors
/// When the query fails.
pub async fn purge_expired(store: &Store, idle: TimeDelta) -> Result<usize, StoreError> {
    let now = now_utc();
    let idle_cutoff = now - idle;
    crate::with_conn!(store, |conn| {
        Ok(diesel::delete(sessions::table.filter(sessions::expires_at.le(now).or(sessions::last_seen_at.le(idle_cutoff))))
            .execute(conn)
            .await?)
    })
}
