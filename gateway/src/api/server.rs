//! The API's HTTP server: hyper under our own accept loop, so that a hostile or broken client
//! cannot take the box's sockets or memory.
//!
//! | bound | value | past it |
//! |---|---|---|
//! | open connections | [`MAX_CONNECTIONS`] | a new connection is closed at once, counted in `api:refused_connections` |
//! | request head (headers) | [`HEADER_READ_TIMEOUT`] | the connection is closed (slow or half-sent requests) |
//! | one request's handling | [`REQUEST_TIMEOUT`] | `503 timeout`, counted in `api:timeouts` |
//! | request body | [`MAX_BODY`] | `413` |

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::link::Links;

/// Connections served at once: the page and a few tools need a handful.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// Time a client has to send a request's head, from the connection's start or the end of
/// the previous response.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time one ordinary request may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request body (contacts, a text to send).
pub(crate) const MAX_BODY: usize = 256 * 1024;

/// Accepts and serves until `shutdown`; connections in flight finish their request.
pub async fn run(listener: TcpListener, app: Router, links: Links, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // EMFILE and friends: wait a little instead of spinning on the error.
                tracing::warn!(error = %e, "local API cannot accept a connection");
                links.count("api:accept_errors");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            links.count("api:refused_connections");
            drop(stream);
            continue;
        };
        while connections.try_join_next().is_some() {}
        let service = TowerToHyperService::new(app.clone());
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), connection).await;
                }
            }
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}
