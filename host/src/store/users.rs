//! Login accounts (`users`) and their API tokens (`api_tokens`).
//!
//! Only hashes are stored: an argon2id PHC string per password and the SHA-256 of each token, so a
//! copy of the database gives away neither. Hashing itself lives in [`crate::auth`].

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::closed_set::{self, ClosedSet};
use super::schema::{api_tokens, users};
use super::{Store, StoreError, now_utc};
use crate::domain::{Role, UserId};

/// `users.role`: read exactly as written (the lenient spelling [`Role`]'s `FromStr` accepts is for
/// typed input, not for stored words).
impl ClosedSet for Role {
    const ALL: &'static [(Self, &'static str)] = &[(Role::Admin, Role::Admin.as_str()), (Role::Viewer, Role::Viewer.as_str())];
    const WHAT: &'static str = "role";
}

impl<DB: diesel::backend::Backend> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for Role
where
    String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        closed_set::from_sql::<Self, DB>(bytes)
    }
}

impl<DB: diesel::backend::Backend> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for Role
where
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
        closed_set::to_sql(self, out)
    }
}

/// A login account. `Debug` leaves out the password hash (written by hand below).
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    /// Row id.
    pub id: UserId,
    /// Unique login name.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// May administer everything.
    pub is_superuser: bool,
    /// May log in at all.
    pub is_active: bool,
    /// Creation time, UTC.
    #[diesel(deserialize_as = super::sql_time::SqlTimestamp)]
    pub created_at: NaiveDateTime,
    /// Last successful login, UTC.
    #[diesel(deserialize_as = super::sql_time::SqlNullableTimestamp)]
    pub last_login_at: Option<NaiveDateTime>,
    /// What the account may do (admins are also `is_superuser`).
    pub role: Role,
}

/// A stored API token (its hash, never the token). `Debug` shows the prefix, not the hash.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    /// Row id.
    pub id: i64,
    /// Owner.
    pub user_id: UserId,
    /// What the token is for ("payroll export").
    pub name: String,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// The token's first characters, to recognise it in a list.
    pub token_prefix: String,
    /// Creation time, UTC.
    pub created_at: NaiveDateTime,
    /// Last use, UTC.
    pub last_used_at: Option<NaiveDateTime>,
    /// Expiry, UTC; `None` never expires.
    pub expires_at: Option<NaiveDateTime>,
    /// Revocation time, UTC.
    pub revoked_at: Option<NaiveDateTime>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"REDACTED")
            .field("is_superuser", &self.is_superuser)
            .field("is_active", &self.is_active)
            .field("created_at", &self.created_at)
            .field("last_login_at", &self.last_login_at)
            .field("role", &self.role)
            .finish()
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("token_hash", &"REDACTED")
            .field("token_prefix", &self.token_prefix)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}

fn unique_violation(e: StoreError, what: String) -> StoreError {
    match e {
        StoreError::Query(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            StoreError::AlreadyExists(what)
        }
        other => other,
    }
}

/// Creates an account with an already-hashed password: a superuser is an admin, anyone else a viewer.
///
/// # Errors
/// [`StoreError::AlreadyExists`] when the name is taken.
pub async fn create(store: &Store, username: &str, password_hash: &str, superuser: bool) -> Result<User, StoreError> {
    create_with_role(store, username, password_hash, if superuser { Role::Admin } else { Role::Viewer }).await
}

/// Creates an account with an already-hashed password and a role (`is_superuser` follows it).
///
/// # Errors
/// [`StoreError::AlreadyExists`] when the name is taken.
pub async fn create_with_role(store: &Store, username: &str, password_hash: &str, role: Role) -> Result<User, StoreError> {
    let values = (
        users::username.eq(username),
        users::password_hash.eq(password_hash),
        users::is_superuser.eq(role == Role::Admin),
        users::role.eq(role),
        users::created_at.eq(now_utc()),
    );
    crate::with_conn!(store, |conn| {
        diesel::insert_into(users::table)
            .values(values)
            .returning(User::as_returning())
            .get_result(conn)
            .await
            .map_err(StoreError::from)
    })
    .map_err(|e| unique_violation(e, format!("user {username:?}")))
}

/// Finds an account by login name.
///
/// # Errors
/// When the query fails.
pub async fn find_by_username(store: &Store, username: &str) -> Result<Option<User>, StoreError> {
    crate::with_conn!(store, |conn| {
        users::table
            .filter(users::username.eq(username))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()
            .map_err(StoreError::from)
    })
}

/// Every account, by login name.
///
/// # Errors
/// When the query fails.
pub async fn list(store: &Store) -> Result<Vec<User>, StoreError> {
    crate::with_conn!(store, |conn| {
        users::table.order(users::username).select(User::as_select()).load(conn).await.map_err(StoreError::from)
    })
}

/// Replaces an account's password hash (a reset by an admin, or the owner's own change).
///
/// # Errors
/// [`StoreError::NotFound`] when there is no such account.
pub async fn set_password_hash(store: &Store, user: UserId, password_hash: &str) -> Result<(), StoreError> {
    let changed = crate::with_conn!(store, |conn| {
        diesel::update(users::table.find(user)).set(users::password_hash.eq(password_hash)).execute(conn).await.map_err(StoreError::from)
    })?;
    if changed == 0 { Err(StoreError::NotFound(format!("user {}", user.0))) } else { Ok(()) }
}

/// Allows or stops an account's sign-in (and with it its tokens: [`find_by_token_hash`] needs an
/// active owner). Returns the account as changed.
///
/// # Errors
/// [`StoreError::NotFound`] when there is no such account.
pub async fn set_active(store: &Store, user: UserId, active: bool) -> Result<User, StoreError> {
    crate::with_conn!(store, |conn| {
        diesel::update(users::table.find(user))
            .set(users::is_active.eq(active))
            .returning(User::as_returning())
            .get_result(conn)
            .await
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("user {}", user.0)))
    })
}

/// One account by id.
///
/// # Errors
/// When the query fails.
pub async fn get(store: &Store, user: UserId) -> Result<Option<User>, StoreError> {
    crate::with_conn!(store, |conn| {
        users::table.find(user).select(User::as_select()).first(conn).await.optional().map_err(StoreError::from)
    })
}

/// Stores a new token's hash for `user`.
///
/// # Errors
/// When the query fails.
pub async fn create_token(
    store: &Store,
    user: UserId,
    name: &str,
    token_hash: &str,
    token_prefix: &str,
) -> Result<ApiToken, StoreError> {
    let values = (
        api_tokens::user_id.eq(user),
        api_tokens::name.eq(name),
        api_tokens::token_hash.eq(token_hash),
        api_tokens::token_prefix.eq(token_prefix),
        api_tokens::created_at.eq(now_utc()),
    );
    crate::with_conn!(store, |conn| {
        diesel::insert_into(api_tokens::table)
            .values(values)
            .returning(ApiToken::as_returning())
            .get_result(conn)
            .await
            .map_err(StoreError::from)
    })
}

/// How stale a token's `last_used_at` may get before a use writes it again: a busy API client
/// would otherwise cost one write per request.
pub const TOKEN_USE_RESOLUTION: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// The active account owning the live (unrevoked, unexpired) token with this hash; marks the token
/// used (at most once per [`TOKEN_USE_RESOLUTION`]).
///
/// # Errors
/// When the query fails.
pub async fn find_by_token_hash(store: &Store, token_hash: &str) -> Result<Option<User>, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        let found: Option<(i64, Option<NaiveDateTime>, User)> = api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::token_hash.eq(token_hash))
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::expires_at.is_null().or(api_tokens::expires_at.gt(now)))
            .filter(users::is_active.eq(true))
            .select((api_tokens::id, api_tokens::last_used_at, User::as_select()))
            .first(conn)
            .await
            .optional()?;
        if let Some((token_id, last_used, _)) = &found
            && last_used.is_none_or(|at| now - at >= TOKEN_USE_RESOLUTION)
        {
            diesel::update(api_tokens::table.find(*token_id)).set(api_tokens::last_used_at.eq(now)).execute(conn).await?;
        }
        Ok(found.map(|(_, _, user)| user))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accounts and tokens end up in log lines and error messages through `Debug`: never a hash.
    #[test]
    fn debug_output_holds_no_hash() {
        let at = chrono::DateTime::from_timestamp(1_750_000_000, 0).unwrap_or_default().naive_utc();
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
        let user = User {
            id: UserId(1),
            username: "admin".into(),
            password_hash: hash.into(),
            is_superuser: true,
            is_active: true,
            created_at: at,
            last_login_at: None,
            role: Role::Admin,
        };
        let shown = format!("{user:?} {user:#?}");
        assert!(!shown.contains("argon2") && !shown.contains("aGFzaGhhc2hoYXNo"), "{shown}");
        assert!(shown.contains("admin") && shown.contains("REDACTED"), "{shown}");
        let token = ApiToken {
            id: 1,
            user_id: UserId(1),
            name: "payroll".into(),
            token_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            token_prefix: "zkb_1234abcd".into(),
            created_at: at,
            last_used_at: None,
            expires_at: None,
            revoked_at: None,
        };
        let shown = format!("{token:?}");
        assert!(!shown.contains("9f86d081") && shown.contains("zkb_1234abcd"), "{shown}");
    }
}
