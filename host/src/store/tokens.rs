//! Listing, issuing with an expiry, and revoking API tokens (`api_tokens`).
//!
//! Look-up on use stays in [`super::users::find_by_token_hash`]; a revoked or expired token stops
//! working at its next request because every request reads the row.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::{api_tokens, users};
use super::users::ApiToken;
use super::{Store, StoreError, now_utc};
use crate::domain::UserId;

/// A token with its owner's name, for lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenListing {
    /// The token (its hash is never shown).
    pub token: ApiToken,
    /// The owner's login name.
    pub username: String,
}

/// What a new token stores.
#[derive(Clone)]
pub struct NewToken<'a> {
    /// Owner.
    pub user: UserId,
    /// What it is for.
    pub name: &'a str,
    /// Hex SHA-256 of the token.
    pub token_hash: &'a str,
    /// Its first characters.
    pub token_prefix: &'a str,
    /// When it stops working, UTC; `None` never.
    pub expires_at: Option<NaiveDateTime>,
}

/// Stores a new token.
///
/// # Errors
/// When the query fails.
pub async fn issue(store: &Store, new: &NewToken<'_>) -> Result<ApiToken, StoreError> {
    let values = (
        api_tokens::user_id.eq(new.user),
        api_tokens::name.eq(new.name),
        api_tokens::token_hash.eq(new.token_hash),
        api_tokens::token_prefix.eq(new.token_prefix),
        api_tokens::created_at.eq(now_utc()),
        api_tokens::expires_at.eq(new.expires_at),
    );
    crate::with_conn!(store, |conn| {
        Ok(diesel::insert_into(api_tokens::table).values(values).returning(ApiToken::as_returning()).get_result(conn).await?)
    })
}

/// Every token (of one account when `username` is given), oldest first.
///
/// # Errors
/// When the query fails.
pub async fn list(store: &Store, username: Option<&str>) -> Result<Vec<TokenListing>, StoreError> {
    crate::with_conn!(store, |conn| {
        let mut query = api_tokens::table.inner_join(users::table).select((ApiToken::as_select(), users::username)).into_boxed();
        if let Some(name) = username {
            query = query.filter(users::username.eq(name.to_owned()));
        }
        let rows: Vec<(ApiToken, String)> = query.order(api_tokens::id.asc()).load(conn).await?;
        Ok(rows.into_iter().map(|(token, username)| TokenListing { token, username }).collect())
    })
}

/// How a token to revoke is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRef {
    /// Its row id.
    Id(i64),
    /// Its displayed prefix (`zkb_1a2b3c4d`), or a longer start of the token.
    Prefix(String),
}

impl TokenRef {
    /// A number is an id; anything else a prefix.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        text.parse().map(TokenRef::Id).unwrap_or_else(|_| TokenRef::Prefix(text.to_owned()))
    }
}

/// Revokes the one token `which` names (already revoked ones stay as they are) and returns it.
///
/// # Errors
/// [`StoreError::NotFound`] when nothing matches, [`StoreError::Invalid`] when a prefix matches
/// several tokens.
pub async fn revoke(store: &Store, which: &TokenRef) -> Result<ApiToken, StoreError> {
    let now = now_utc();
    crate::with_conn!(store, |conn| {
        let candidates: Vec<ApiToken> = match which {
            TokenRef::Id(id) => api_tokens::table.filter(api_tokens::id.eq(*id)).select(ApiToken::as_select()).load(conn).await?,
            TokenRef::Prefix(prefix) => {
                // The stored prefix is 12 characters; a longer text must start with it.
                let stored: String = prefix.chars().take(12).collect();
                let rows: Vec<ApiToken> =
                    api_tokens::table.filter(api_tokens::token_prefix.eq(&stored)).select(ApiToken::as_select()).load(conn).await?;
                if prefix.len() > stored.len() {
                    // A longer text is the whole token (or a start of it): match its hash exactly when whole.
                    let hash = crate::auth::hash_token(prefix);
                    let exact: Vec<ApiToken> = rows.iter().filter(|t| t.token_hash == hash).cloned().collect();
                    if exact.is_empty() { rows } else { exact }
                } else {
                    rows
                }
            }
        };
        let token = match candidates.as_slice() {
            [] => return Err(StoreError::NotFound(format!("API token {}", describe(which)))),
            [one] => one.clone(),
            many => {
                return Err(StoreError::Invalid(format!(
                    "{} tokens start with {}; revoke by id ({})",
                    many.len(),
                    describe(which),
                    many.iter().map(|t| t.id.to_string()).collect::<Vec<_>>().join(", ")
                )));
            }
        };
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        Ok(diesel::update(api_tokens::table.find(token.id))
            .set(api_tokens::revoked_at.eq(now))
            .returning(ApiToken::as_returning())
            .get_result(conn)
            .await?)
    })
}

fn describe(which: &TokenRef) -> String {
    match which {
        TokenRef::Id(id) => format!("id {id}"),
        TokenRef::Prefix(prefix) => format!("{:?}", prefix.chars().take(12).collect::<String>()),
    }
}
