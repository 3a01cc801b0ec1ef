//! Who is asking: the [`Principal`] the access layer ([`super::access`]) attaches to every
//! authenticated request, and the extractors handlers take.
//!
//! Credentials are an API token in the `Authorization` header (`Bearer zkb_…` or, as Django REST
//! Framework clients send it, `Token zkb_…`; never in the query string, where proxies would log
//! them) or a session cookie set by `POST /login`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{AppError, AppState};
use crate::auth::hash_token;
pub use crate::domain::Role;
use crate::store::users::{self, User};

/// How a request proved who it is.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An API token: no CSRF token needed (a browser never adds it on its own).
    Token,
    /// A session cookie, with the session's CSRF token and id hash.
    Session {
        /// The token state-changing requests must carry; pages put it in their forms.
        csrf_token: String,
        /// Hex SHA-256 of the session id (logout ends this session).
        id_hash: String,
    },
}

/// The signed-in account behind a request, as the access layer found it.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The account (active, with a live session or token).
    pub user: User,
    /// How it signed in.
    pub credential: Credential,
}

impl Principal {
    /// The session's CSRF token, for forms (none for token-authenticated calls).
    pub fn csrf_token(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session { csrf_token, .. } => Some(csrf_token),
            Credential::Token => None,
        }
    }
}

/// The token in an `Authorization: Bearer …` or `Token …` header, if the request has one.
pub(super) fn bearer_token(parts: &axum::http::HeaderMap) -> Option<&str> {
    let header = parts.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = header.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The account behind a token; `None` for an unknown, revoked or expired token or an inactive account.
pub(super) async fn user_for_token(state: &AppState, token: &str) -> Result<Option<User>, AppError> {
    Ok(users::find_by_token_hash(&state.store, &hash_token(token)).await?)
}

/// Any signed-in account (session or token); a handler taking it rejects anonymous requests with 401.
#[derive(Debug, Clone)]
pub struct Authenticated(pub User);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(Authenticated(principal.user.clone()));
        }
        // Outside the access layer (a router built without it): tokens still work, sessions do not.
        let token = bearer_token(&parts.headers).ok_or(AppError::Unauthorized)?;
        let user = user_for_token(state, token).await?.ok_or(AppError::Unauthorized)?;
        Ok(Authenticated(user))
    }
}

impl Role {
    /// The role of an account.
    pub fn of(user: &User) -> Self {
        user.role
    }
}

/// An authenticated admin: a handler that changes anything takes this; a viewer gets 403.
#[derive(Debug, Clone)]
pub struct AdminOnly(pub User);

impl FromRequestParts<AppState> for AdminOnly {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Authenticated(user) = Authenticated::from_request_parts(parts, state).await?;
        match Role::of(&user) {
            Role::Admin => Ok(AdminOnly(user)),
            Role::Viewer => Err(AppError::Forbidden("this needs an admin account; viewers read only".into())),
        }
    }
}
