//! The REST API under `/api/` (and `/api/v1/`): the original bridge's paths and shapes, so its
//! scripts keep working, plus our own fields.
//!
//! Every read takes [`Authenticated`], every change [`AdminOnly`]. Errors are JSON
//! (`{"error": "…"}`, with `"errors": {"field": ["…"]}` for bad fields), including the ones axum
//! would answer in plain text (bad JSON, wrong content type, unknown path or method). Each resource
//! has its own module; queries live in `store::listing`, `store::corrections` and `store::audit`.

mod audit;
mod devices;
mod employees;
mod jobs;
pub mod openapi;
mod pagination;
mod processed_attendance;
mod raw_attendance;

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Offset as _};
use serde_json::{Value, json};

use super::{AppError, AppState, Authenticated};
use crate::store::StoreError;

/// The API's routes, relative to where they are mounted (`/api` and `/api/v1`).
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .merge(devices::router())
        .merge(raw_attendance::router())
        .merge(processed_attendance::router())
        .merge(employees::router())
        .merge(jobs::router())
        .merge(audit::router())
        .merge(openapi::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// Who the presented token belongs to: the simplest way to check a token works.
async fn me(Authenticated(user): Authenticated) -> Json<Value> {
    Json(json!({ "username": user.username, "is_superuser": user.is_superuser }))
}

async fn not_found() -> ApiError {
    ApiError::Status(StatusCode::NOT_FOUND, "no such API endpoint".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::Status(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this endpoint".into())
}

/// Why an API request failed: one of the web layer's errors, or a status the API adds
/// (405, 413, 415, 502).
#[derive(Debug)]
pub enum ApiError {
    /// As the rest of the web layer answers.
    App(AppError),
    /// A status with a message.
    Status(StatusCode, String),
    /// A status with a prepared JSON body.
    Body(StatusCode, Value),
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError::App(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // A value the database refuses is the caller's to fix, not a server fault.
            StoreError::Invalid(message) => ApiError::Status(StatusCode::CONFLICT, message),
            other => ApiError::App(AppError::Store(other)),
        }
    }
}

impl ApiError {
    /// 400 naming one field.
    pub(crate) fn field(name: &str, message: impl Into<String>) -> Self {
        ApiError::App(AppError::Validation(BTreeMap::from([(name.to_owned(), vec![message.into()])])))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::App(e) => e.into_response(),
            ApiError::Status(status, message) => (status, Json(json!({ "error": message }))).into_response(),
            ApiError::Body(status, body) => (status, Json(body)).into_response(),
        }
    }
}

/// The API's result type.
pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON body whose rejections are JSON too: 415 without a JSON content type, 413 when too large,
/// 400 for malformed JSON or a body that is not an object. Handlers validate the fields themselves,
/// so each bad field is named.
pub(crate) struct ApiJson(pub serde_json::Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for ApiJson {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        use axum::extract::rejection::JsonRejection;
        if !request.headers().contains_key(axum::http::header::CONTENT_TYPE) {
            // No body at all is an empty object (actions whose options are all optional).
            let bytes = axum::body::Bytes::from_request(request, state)
                .await
                .map_err(|_| ApiError::Status(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large".into()))?;
            return if bytes.iter().all(u8::is_ascii_whitespace) {
                Ok(ApiJson(serde_json::Map::new()))
            } else {
                Err(ApiError::Status(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the body as JSON (Content-Type: application/json)".into()))
            };
        }
        match Json::<Value>::from_request(request, state).await {
            Ok(Json(Value::Object(map))) => {
                // Databases refuse NUL in text (PostgreSQL fails the query): refuse it here, named.
                if let Some((key, _)) = map.iter().find(|(key, value)| key.contains('\0') || has_nul(value)) {
                    return Err(ApiError::field(&key.replace('\0', ""), "contains a NUL character"));
                }
                Ok(ApiJson(map))
            }
            Ok(Json(_)) => Err(ApiError::field("body", "expected a JSON object")),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::Status(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the body as JSON (Content-Type: application/json)".into()))
            }
            Err(JsonRejection::BytesRejection(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::Status(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large".into()))
            }
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::field("body", format!("malformed JSON: {}", e.body_text().rsplit(": ").next().unwrap_or("syntax error")))),
            Err(e) => Err(ApiError::field("body", e.body_text())),
        }
    }
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Reads typed fields out of a JSON object or a query string, collecting every problem so the
/// answer names each bad field at once.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    errors: BTreeMap<String, Vec<String>>,
}

impl Fields {
    /// Records a problem with `field`.
    pub(crate) fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.entry(field.to_owned()).or_default().push(message.into());
    }

    /// The problems recorded, one (field, message) each.
    pub(crate) fn into_problems(self) -> Vec<(String, String)> {
        self.errors.into_iter().flat_map(|(field, messages)| messages.into_iter().map(move |m| (field.clone(), m))).collect()
    }

    /// `Ok(())` when no problem was recorded, else the 400 naming them.
    pub(crate) fn finish(self) -> ApiResult<()> {
        if self.errors.is_empty() { Ok(()) } else { Err(ApiError::App(AppError::Validation(self.errors))) }
    }

    /// A date `YYYY-MM-DD` from a query value.
    pub(crate) fn date(&mut self, field: &str, value: Option<&str>) -> Option<NaiveDate> {
        let value = value.filter(|v| !v.is_empty())?;
        match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                self.error(field, "not a date (YYYY-MM-DD)");
                None
            }
        }
    }

    /// A boolean from a query value (`true`/`false`, `1`/`0`, as Django filters accept them).
    pub(crate) fn flag(&mut self, field: &str, value: Option<&str>) -> Option<bool> {
        match value.filter(|v| !v.is_empty())?.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => {
                self.error(field, "not a boolean (true or false)");
                None
            }
        }
    }

    /// A whole number in `range` from a query value.
    pub(crate) fn number(&mut self, field: &str, value: Option<&str>, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
        let value = value.filter(|v| !v.is_empty())?;
        match value.parse::<i64>() {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                self.error(field, format!("not a whole number from {} to {}", range.start(), range.end()));
                None
            }
        }
    }
}

/// The query string as name → value (the last of repeated names wins); never rejects.
pub(crate) fn query_map(query: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

/// A stored local time and its instant as RFC 3339 with the offset in force then.
pub(crate) fn with_offset(local: Option<NaiveDateTime>, utc: Option<NaiveDateTime>) -> Option<String> {
    let utc = utc?;
    let offset = local.map_or(0, |l| (l - utc).num_seconds());
    let offset = i32::try_from(offset).ok().and_then(FixedOffset::east_opt).unwrap_or(chrono::Utc.fix());
    Some(DateTime::<FixedOffset>::from_naive_utc_and_offset(utc, offset).to_rfc3339())
}

/// A stored UTC instant as RFC 3339 in the site's zone.
pub(crate) fn site_time(utc: Option<NaiveDateTime>, site: chrono_tz::Tz) -> Option<String> {
    utc.map(|t| t.and_utc().with_timezone(&site).fixed_offset().to_rfc3339())
}
