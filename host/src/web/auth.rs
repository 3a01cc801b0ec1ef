//! Request authentication by API token.
//!
//! Tokens travel in the `Authorization` header only (`Bearer zkb_…` or, as Django REST Framework
//! clients send it, `Token zkb_…`), never in the query string, where proxies would log them.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{AppError, AppState};
use crate::auth::hash_token;
use crate::store::users::{self, User};

/// The account behind a valid API token; a handler taking it rejects anonymous requests with 401.
#[derive(Debug, Clone)]
pub struct Authenticated(pub User);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AppError::Unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("Token "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AppError::Unauthorized)?;
        let user = users::find_by_token_hash(&state.store, &hash_token(token)).await?.ok_or(AppError::Unauthorized)?;
        Ok(Authenticated(user))
    }
}

/// What an account may do. Admins change things; viewers (HR staff) read reports and data only.
///
/// Until accounts carry a stored role, superusers are admins and everyone else is a viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including every change.
    Admin,
    /// Reads everything, changes nothing.
    Viewer,
}

impl Role {
    /// The role of an account.
    pub fn of(user: &User) -> Self {
        if user.is_superuser { Role::Admin } else { Role::Viewer }
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
