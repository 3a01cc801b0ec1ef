//! The REST API under `/api/v1`.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{AppState, Authenticated};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/me", get(me))
}

/// Who the presented token belongs to: the simplest way to check a token works.
async fn me(Authenticated(user): Authenticated) -> Json<Value> {
    Json(json!({ "username": user.username, "is_superuser": user.is_superuser }))
}
