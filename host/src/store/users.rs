//! Login accounts (`users`) and their API tokens (`api_tokens`).
//!
//! Only hashes are stored: an argon2id PHC string per password and the SHA-256 of each token, so a
//! copy of the database gives away neither. Hashing itself lives in [`crate::auth`].

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::{api_tokens, users};
use super::{Store, StoreError, now_utc};
use crate::domain::UserId;

/// A login account.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
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
    pub created_at: NaiveDateTime,
    /// Last successful login, UTC.
    pub last_login_at: Option<NaiveDateTime>,
}

/// A stored API token (its hash, never the token).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
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

fn unique_violation(e: StoreError, what: String) -> StoreError {
    match e {
        StoreError::Query(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            StoreError::AlreadyExists(what)
        }
        other => other,
    }
}

/// Creates an account with an already-hashed password.
///
/// # Errors
/// [`StoreError::AlreadyExists`] when the name is taken.
pub async fn create(store: &Store, username: &str, password_hash: &str, superuser: bool) -> Result<User, StoreError> {
    let values = (
        users::username.eq(username),
        users::password_hash.eq(password_hash),
        users::is_superuser.eq(superuser),
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

/// The active account owning the live (unrevoked, unexpired) token with this hash; marks the token used.
///
/// # Errors
/// When the query fails.
pub async fn find_by_token_hash(store: &Store, token_hash: &str) -> Result<Option<User>, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        let found: Option<(i64, User)> = api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::token_hash.eq(token_hash))
            .filter(api_tokens::revoked_at.is_null())
            .filter(api_tokens::expires_at.is_null().or(api_tokens::expires_at.gt(now)))
            .filter(users::is_active.eq(true))
            .select((api_tokens::id, User::as_select()))
            .first(conn)
            .await
            .optional()?;
        if let Some((token_id, _)) = &found {
            diesel::update(api_tokens::table.find(*token_id)).set(api_tokens::last_used_at.eq(now)).execute(conn).await?;
        }
        Ok(found.map(|(_, user)| user))
    })
}
