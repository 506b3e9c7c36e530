//! Refused authentication: every 401 and 403 is logged (peer, method,
//! path, reason) and counted; a peer with too many 401s in a window is
//! blocked for a while (429 + `Retry-After`, token not even looked at), so
//! tokens cannot be guessed at line speed.
//!
//! Runs as a middleware around every route, so no handler can forget it.
//! The peer address comes from the connection (`ConnectInfo`); requests
//! without one (in-process tests) are logged but not tracked.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::warn;

use super::error::ApiError;
use crate::app::App;

/// The middleware.
pub async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let now = app.clock.now_ms();
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    if let Some(ip) = peer
        && let Some(wait_ms) = app.guard.blocked(ip, now)
    {
        app.metrics.auth_refused("blocked");
        let secs = (wait_ms + 999) / 1000;
        let mut r = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_failures",
            format!("too many failed authentications from {ip}; try again in {secs}s"),
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        return r;
    }
    let resp = next.run(req).await;
    let status = resp.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        let reason = if status == StatusCode::UNAUTHORIZED {
            "unauthorized"
        } else {
            "forbidden"
        };
        app.metrics.auth_refused(reason);
        let peer_s = peer.map_or_else(|| "-".to_owned(), |p| p.to_string());
        warn!(peer = %peer_s, %method, %path, status = status.as_u16(), "authentication refused");
        // Only wrong or missing credentials count towards a block; a
        // valid token short of a role (403) is not guessing.
        if status == StatusCode::UNAUTHORIZED
            && let Some(ip) = peer
            && app.guard.failed(ip, now)
        {
            app.metrics.auth_refused("peer_blocked");
            warn!(peer = %ip, "too many failed authentications: peer blocked");
        }
    }
    resp
}
