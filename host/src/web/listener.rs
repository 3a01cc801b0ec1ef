//! Serving a router on a TCP listener under the limits every listener needs, so one slow, idle or
//! buggy client cannot hold the server:
//!
//! - **header read timeout**: a client must send a request's whole head within
//!   `HTTP_HEADER_TIMEOUT_SECONDS` of starting it (or of connecting, or of the previous response
//!   on a kept-alive connection), else the connection is closed. This is hyper's own
//!   `header_read_timeout`, which `axum::serve` does not expose, hence this accept loop.
//! - **body read timeout**: a request's whole body must arrive within `HTTP_BODY_TIMEOUT_SECONDS`
//!   of its head; past that reading fails and the client gets `408 Request Timeout`.
//! - **connection limit**: at most `HTTP_MAX_CONNECTIONS` connections at once per listener; further
//!   clients wait in the kernel's accept queue.
//! - **catch-panic**: a handler that panics answers `500` and is logged, instead of the connection
//!   being dropped silently; the server goes on serving.
//!
//! Graceful shutdown works as with `axum::serve`: when the signal completes no new connection is
//! accepted, idle connections close, requests in flight finish, then [`serve`] returns.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::config::HttpSettings;

/// The limits one listener runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time to receive a request's head.
    pub header_timeout: Duration,
    /// Time to receive a request's body, from its head.
    pub body_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl HttpLimits {
    /// The configured limits (zero values are raised to the smallest that works).
    pub fn from_settings(settings: &HttpSettings) -> Self {
        Self {
            header_timeout: Duration::from_secs(u64::from(settings.header_timeout_seconds.max(1))),
            body_timeout: Duration::from_secs(u64::from(settings.body_timeout_seconds.max(1))),
            max_connections: usize::try_from(settings.max_connections.max(1)).unwrap_or(usize::MAX),
        }
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self::from_settings(&HttpSettings::default())
    }
}

/// Serves `router` on `listener` under `limits` until `shutdown` completes, then finishes the
/// requests in flight. Handlers see the peer address as `ConnectInfo<SocketAddr>`, as with
/// `into_make_service_with_connect_info`.
///
/// # Errors
/// None today: accept errors are logged and retried (a full file-descriptor table heals when
/// connections close). The `Result` leaves room for listener set-up failures.
pub async fn serve(listener: TcpListener, router: Router, limits: HttpLimits, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let router = with_limits(router, limits);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let stop = CancellationToken::new();
    // Every connection task holds a receiver; `closed()` completes when the last one is gone.
    let (all_done, done) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // the semaphore is never closed
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !is_connection_error(&e) {
                        tracing::warn!(error = %e, "cannot accept a connection; retrying in a second");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
        };
        let router = router.clone();
        let stop = stop.clone();
        let done = done.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, router, limits, stop).await;
            drop(permit);
            drop(done);
        });
    }
    drop(listener);
    stop.cancel();
    drop(done);
    all_done.closed().await;
    Ok(())
}

/// The router wrapped in the per-request limits: catch-panic outermost, so a panic anywhere inside
/// (including in other middleware) becomes a `500`.
fn with_limits(router: Router, limits: HttpLimits) -> Router {
    router
        .layer(axum::middleware::from_fn_with_state(limits.body_timeout, body_deadline))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
}

async fn serve_connection(stream: tokio::net::TcpStream, peer: SocketAddr, router: Router, limits: HttpLimits, stop: CancellationToken) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request.map(Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    if e.is_timeout() {
                        tracing::debug!(%peer, "closed a connection that did not send a request head in time");
                    } else {
                        tracing::trace!(%peer, error = %e, "connection ended with an error");
                    }
                }
                return;
            }
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset)
}

/// A handler panicked: log it (with the route) and answer `500`.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a request handler panicked; answered 500");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
}

/// Gives the request's body `limit` to arrive in full; a body still arriving then fails to read,
/// and the answer is `408 Request Timeout` (whatever the handler made of the failed read), with
/// the connection closed.
async fn body_deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let expired = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = Body::new(DeadlineBody { inner: body, deadline: Box::pin(tokio::time::sleep(limit)), expired: expired.clone() });
    let response = next.run(Request::from_parts(parts, body)).await;
    if expired.load(Ordering::Acquire) {
        tracing::warn!(limit = ?limit, "a request body did not arrive in time; answered 408");
        return (StatusCode::REQUEST_TIMEOUT, [(header::CONNECTION, "close")], "request body not received in time\n").into_response();
    }
    response
}

/// A request body that fails once its deadline passes.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        if self.expired.load(Ordering::Acquire) {
            return Poll::Ready(Some(Err(axum::Error::new("request body timed out"))));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Pending => {}
            ready => return ready,
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.expired.store(true, Ordering::Release);
                Poll::Ready(Some(Err(axum::Error::new("request body timed out"))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
