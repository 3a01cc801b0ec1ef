//! Django REST Framework's page shape: `{"count", "next", "previous", "results"}` with `?page=` and
//! `?page_size=` (at most [`MAX_PAGE_SIZE`]).
//!
//! `next` and `previous` are absolute URLs, as DRF clients expect (they `GET` them as they are):
//! built from the request's `Host` header (checked against `ALLOWED_HOSTS` before any handler runs)
//! and `X-Forwarded-Proto` for the scheme, keeping every other query parameter.

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Serialize;

use super::{ApiError, Fields, query_map};

/// The default page size.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// The largest page size a client may ask for.
pub const MAX_PAGE_SIZE: i64 = 1000;
/// The deepest page (keeps `OFFSET` arithmetic far from overflow).
const MAX_PAGE: i64 = 10_000_000;

/// A list answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Paginated<T> {
    /// How many items the whole list has (an estimate above 10,000 on an unfiltered list).
    pub count: i64,
    /// The next page's URL, if any.
    pub next: Option<String>,
    /// The previous page's URL, if any.
    pub previous: Option<String>,
    /// This page's items.
    pub results: Vec<T>,
}

/// What a list request asked for: its page, its filters, and where it came from (for the links).
#[derive(Debug, Clone)]
pub struct ListRequest {
    /// 1-based page number.
    pub page: i64,
    /// Items per page.
    pub page_size: i64,
    /// Every query parameter.
    pub query: BTreeMap<String, String>,
    base: String,
    /// Problems with `page`, `page_size` or NUL characters, reported with the handler's own filters.
    problems: Vec<(String, String)>,
}

impl ListRequest {
    /// The problems found so far, for the handler to add its filters' to and [`Fields::finish`].
    pub fn fields(&self) -> Fields {
        let mut fields = Fields::default();
        for (name, message) in &self.problems {
            fields.error(name, message.clone());
        }
        fields
    }

    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.page_size
    }

    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    fn link(&self, page: i64) -> String {
        let mut query = self.query.clone();
        query.insert("page".into(), page.to_string());
        let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query.iter()).finish();
        format!("{}?{encoded}", self.base)
    }

    /// The answer for `results` out of `count`, with `more` telling whether a next page exists.
    ///
    /// # Errors
    /// 404 for a page past the end (as DRF answers "Invalid page").
    pub fn answer<T>(&self, results: Vec<T>, more: bool, count: i64) -> Result<Paginated<T>, ApiError> {
        if results.is_empty() && self.page > 1 {
            return Err(ApiError::Status(axum::http::StatusCode::NOT_FOUND, "invalid page".into()));
        }
        Ok(Paginated {
            count,
            next: more.then(|| self.link(self.page + 1)),
            previous: (self.page > 1).then(|| self.link(self.page - 1)),
            results,
        })
    }

    /// A page cut out of a list held in memory (short lists: devices, jobs).
    ///
    /// # Errors
    /// As [`Self::answer`].
    pub fn answer_slice<T>(&self, mut all: Vec<T>) -> Result<Paginated<T>, ApiError> {
        let count = all.len() as i64;
        let start = usize::try_from(self.offset()).unwrap_or(usize::MAX).min(all.len());
        let end = start.saturating_add(usize::try_from(self.page_size).unwrap_or(0)).min(all.len());
        let more = end < all.len();
        all.truncate(end);
        let page = all.split_off(start);
        self.answer(page, more, count)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = query_map(parts.uri.query());
        let mut problems = Vec::new();
        for (name, value) in query.iter().filter(|(name, value)| name.contains('\0') || value.contains('\0')) {
            problems.push((name.replace('\0', ""), format!("contains a NUL character ({} bytes)", value.len())));
        }
        let mut fields = Fields::default();
        let page = fields.number("page", query.get("page").map(String::as_str), 1..=MAX_PAGE);
        let page_size = fields.number("page_size", query.get("page_size").map(String::as_str), 1..=MAX_PAGE_SIZE);
        problems.extend(fields.into_problems());
        let (page, page_size) = (page.unwrap_or(1), page_size.unwrap_or(DEFAULT_PAGE_SIZE));
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.path().to_owned(), |original| original.0.path().to_owned());
        let host = parts.headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
        let scheme = match parts.headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()) {
            Some("https") => "https",
            _ => "http",
        };
        Ok(ListRequest { page, page_size, query, base: format!("{scheme}://{host}{path}"), problems })
    }
}
