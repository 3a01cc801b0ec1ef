//! The web edge's error type: every handler returns `Result<_, AppError>`.
//!
//! Client mistakes (4xx) answer with a JSON `{"error": "..."}` saying what to fix. Server faults (5xx)
//! are logged in full and answer with a generic message, so internals never leak to a caller.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No valid credentials were presented.
    #[error("authentication required")]
    Unauthorized,
    /// The request names something that does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The request is malformed; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// Fields of the request are invalid: each named field with what is wrong with it
    /// (answered as `{"errors": {"field": ["message", ...]}}`).
    #[error("invalid fields: {}", .0.keys().cloned().collect::<Vec<_>>().join(", "))]
    Validation(std::collections::BTreeMap<String, Vec<String>>),
    /// The caller is known but may not do this (a viewer asking for a change, a missing CSRF token).
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with what is stored (a name already taken, an action already running).
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts; try again after this many seconds.
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooManyRequests {
        /// Seconds until the next attempt may succeed (sent as `Retry-After`).
        retry_after_secs: u64,
    },
    /// Something inside the bridge failed (the message is logged, not shown).
    #[error("{0}")]
    Internal(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) | AppError::Validation(_) => StatusCode::BAD_REQUEST,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
            AppError::Store(StoreError::AlreadyExists(_)) => StatusCode::CONFLICT,
            AppError::Store(StoreError::Pool(_) | StoreError::Connect { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Store(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            "internal error; see the bridge's log".to_owned()
        } else {
            self.to_string()
        };
        let body = match &self {
            AppError::Validation(errors) => json!({ "error": message, "errors": errors }),
            _ => json!({ "error": message }),
        };
        let mut response = (status, Json(body)).into_response();
        if let AppError::TooManyRequests { retry_after_secs } = self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(retry_after_secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"attendance-bridge\""),
            );
        }
        response
    }
}
