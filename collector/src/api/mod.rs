//! HTTP routes: ingest, agents, events, health, metrics.
//!
//! Every error is JSON: `{"error": {"code": "...", "message": "..."}}`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use shouwang_proto::api::{
    AgentList, AgentStatus, AgentView, CaptureStatus, Health, HostSummary, SiteList, Stats,
};
use shouwang_proto::{Heartbeat, HostSample};

pub mod duty;
pub mod error;
pub mod guard;
pub mod incidents;

pub use error::ApiError;

use crate::app::App;
use crate::ingest::IngestError;
use crate::store::AgentRow;

pub fn router(app: Arc<App>) -> Router {
    let timeout = app.config.ingest.request_timeout;
    Router::new()
        .route("/v1/ingest", post(ingest))
        .route("/v1/agents", get(list_agents))
        .route("/v1/agents/{name}", get(agent_detail))
        .route("/v1/events", get(events))
        .route("/v1/incidents", get(incidents::list))
        .route("/v1/incidents/{id}", get(incidents::detail))
        .route("/v1/incidents/{id}/{action}", post(incidents::action))
        .route(
            "/v1/silences",
            get(incidents::silences).post(incidents::add_silence),
        )
        .route(
            "/v1/silences/{id}",
            axum::routing::delete(incidents::delete_silence),
        )
        .route("/v1/audit", get(incidents::audit))
        .route("/v1/rules", get(rules_view))
        .route("/v1/sites", get(sites_view))
        .route("/v1/duty", get(duty::get_duty).post(duty::post_duty))
        .route("/v1/stats", get(stats))
        .route("/v1/stream", get(incidents::stream))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::guard,
        ))
        .with_state(app)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn ingest(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let started = std::time::Instant::now();
    match ingest_inner(&app, &headers, body).await {
        Ok(accepted) => {
            app.metrics
                .ingest_seconds
                .observe(started.elapsed().as_secs_f64());
            axum::Json(accepted).into_response()
        }
        Err(e) => {
            app.metrics.reject(e.code());
            let retry = e.retry_after();
            let mut r = ApiError::from(e).into_response();
            if let Some(s) = retry {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(s));
            }
            r
        }
    }
}

async fn ingest_inner(
    app: &App,
    headers: &HeaderMap,
    body: Body,
) -> Result<crate::ingest::Accepted, IngestError> {
    let text = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    let agent = app.ingest.authenticate(text(header::AUTHORIZATION)).await?;
    // A turn before the body is read: under overload the bodies wait in the
    // agents' spools, not in our memory.
    let _slot = match app.admission.admit().await {
        Ok(p) => p,
        Err(crate::ingest::admit::Refusal::Busy) => {
            return Err(IngestError::Overloaded(format!(
                "the collector is busy ({} batches in progress); retry later",
                app.config.ingest.max_concurrent
            )));
        }
        Err(crate::ingest::admit::Refusal::MemoryHigh { rss, limit }) => {
            return Err(IngestError::MemoryHigh(format!(
                "the collector's memory is high ({} MiB of a {} MiB limit); retry later",
                rss >> 20,
                limit >> 20
            )));
        }
    };
    app.metrics
        .ingest_in_flight
        .set(i64::try_from(app.admission.in_flight()).unwrap_or(i64::MAX));
    let max = app.ingest.limits().max_body;
    let too_large = || {
        IngestError::TooLarge(format!(
            "request body exceeds {max} bytes (ingest.max-body-bytes)"
        ))
    };
    if let Some(len) = text(header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok())
        && len > max as u64
    {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, max).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
        {
            too_large()
        } else {
            IngestError::Malformed(format!("cannot read request body: {e}"))
        }
    })?;
    let batch = app
        .ingest
        .decode(bytes, text(header::CONTENT_ENCODING))
        .await?;
    app.ingest.accept(&agent, batch, app.clock.now_ms()).await
}

/// Status from the last time heard from.
pub fn agent_status(
    last_seen_ms: Option<i64>,
    now_ms: i64,
    offline_after: Duration,
) -> AgentStatus {
    match last_seen_ms {
        None => AgentStatus::NeverSeen,
        Some(t)
            if now_ms.saturating_sub(t)
                <= i64::try_from(offline_after.as_millis()).unwrap_or(i64::MAX) =>
        {
            AgentStatus::Online
        }
        Some(_) => AgentStatus::Offline,
    }
}

fn agent_view(
    row: AgentRow,
    now_ms: i64,
    offline_after: Duration,
    detail: bool,
    capture: Option<CaptureStatus>,
) -> AgentView {
    let hb: Option<Heartbeat> = row
        .heartbeat
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let host: Option<HostSample> = row
        .host
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let status = match agent_status(row.last_seen_ms, now_ms, offline_after) {
        AgentStatus::NeverSeen => AgentStatus::NeverSeen,
        _ if hb.as_ref().is_some_and(|h| h.stopping.is_some()) => AgentStatus::Stopped,
        s => s,
    };
    AgentView {
        status,
        stopping: hb.as_ref().and_then(|h| h.stopping.clone()),
        limits: hb.as_ref().and_then(|h| h.limits),
        labels: serde_json::from_str(&row.labels).unwrap_or_default(),
        created_at_ms: row.created_at,
        last_seen_ms: row.last_seen_ms,
        agent_version: hb.as_ref().map(|h| h.agent_version.clone()),
        config_hash: hb.as_ref().map(|h| h.config_hash.clone()),
        hostname: hb.as_ref().map(|h| h.hostname.clone()),
        os: hb.as_ref().map(|h| h.os.clone()),
        kernel: hb.as_ref().map(|h| h.kernel.clone()),
        boot_time: row.boot_time,
        reboots: row.reboots,
        queue: hb.as_ref().map(|h| h.queue),
        skipped: hb.map(|h| h.skipped).unwrap_or_default(),
        host: host
            .as_ref()
            .map(|h| HostSummary::new(row.host_ts.unwrap_or_default(), h)),
        capture,
        host_sample: if detail { host } else { None },
        listening: if detail {
            Some(
                row.listening
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or_default(),
            )
        } else {
            None
        },
        name: row.name,
    }
}

async fn rules_view(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    incidents::authorize(&app, &headers, incidents::Role::Viewer).await?;
    Ok(axum::Json(app.detector.rules_view().await).into_response())
}

async fn sites_view(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    incidents::authorize(&app, &headers, incidents::Role::Viewer).await?;
    let sites = app
        .boards
        .sites
        .lock()
        .map(|b| b.list())
        .unwrap_or_default();
    Ok(axum::Json(SiteList { sites }).into_response())
}

async fn list_agents(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    incidents::authorize(&app, &headers, incidents::Role::Viewer).await?;
    let rows = app
        .store
        .agents()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let now = app.clock.now_ms();
    let offline_after = app.config.agents.offline_after;
    let captures = app.boards.captures.lock().ok();
    let agents: Vec<AgentView> = rows
        .into_iter()
        .map(|r| {
            let c = captures.as_ref().and_then(|b| b.get(&r.name));
            agent_view(r, now, offline_after, false, c)
        })
        .collect();
    drop(captures);
    Ok(axum::Json(AgentList { agents }).into_response())
}

async fn agent_detail(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    incidents::authorize(&app, &headers, incidents::Role::Viewer).await?;
    let row = app
        .store
        .agent(&name)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let Some(row) = row else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no agent named {name:?}"),
        ));
    };
    let capture = app
        .boards
        .captures
        .lock()
        .ok()
        .and_then(|b| b.get(&row.name));
    Ok(axum::Json(agent_view(
        row,
        app.clock.now_ms(),
        app.config.agents.offline_after,
        true,
        capture,
    ))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    agent: Option<String>,
    kind: Option<String>,
    before_id: Option<i64>,
    limit: Option<u32>,
}

/// Largest page of `/v1/events`.
pub const MAX_EVENTS_PAGE: u32 = 1000;

async fn events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    incidents::authorize(&app, &headers, incidents::Role::Viewer).await?;
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_EVENTS_PAGE {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("limit must be 1 to {MAX_EVENTS_PAGE}"),
        ));
    }
    let evs = app
        .store
        .events(q.agent.as_deref(), q.kind.as_deref(), q.before_id, limit)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(axum::Json(serde_json::json!({ "events": evs })).into_response())
}

/// `GET /v1/stats`: running totals a client turns into rates (the
/// console's sparklines), and the collector's clock.
async fn stats(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    incidents::authorize(&app, &headers, incidents::Role::Viewer).await?;
    let m = &app.metrics;
    let events: u64 = shouwang_proto::EventKind::ALL
        .iter()
        .map(|k| m.ingest_events.with_label_values(&[k.as_str()]).get())
        .sum();
    let opened = m.incidents_changes.with_label_values(&["opened"]).get()
        + m.incidents_changes.with_label_values(&["reopened"]).get();
    Ok(axum::Json(Stats {
        now_ms: app.clock.now_ms(),
        events_total: events,
        duplicate_events_total: m.ingest_duplicate_events.get(),
        batches_total: m.ingest_batches.get(),
        incidents_opened_total: opened,
        stream_clients: m.stream_clients.get(),
    })
    .into_response())
}

async fn healthz() -> Response {
    axum::Json(Health {
        status: "ok".into(),
    })
    .into_response()
}

async fn readyz(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    app.store.ping().await.map_err(|e| ApiError::internal(&e))?;
    Ok(axum::Json(Health {
        status: "ready".into(),
    })
    .into_response())
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    // Liveness gauges depend on the clock, so they are set at scrape time.
    if let Ok(rows) = app.store.agents().await {
        let now = app.clock.now_ms();
        app.metrics.agents.set(rows.len() as i64);
        for r in &rows {
            let up = agent_status(r.last_seen_ms, now, app.config.agents.offline_after)
                == AgentStatus::Online;
            app.metrics
                .set_agent_status(&r.name, up, r.last_seen_ms.map(|t| t as f64 / 1000.0));
        }
    } else {
        app.metrics.store_errors.inc();
    }
    app.admission.sample();
    app.metrics
        .resident_bytes
        .set(i64::try_from(app.admission.resident()).unwrap_or(i64::MAX));
    app.metrics
        .ingest_in_flight
        .set(i64::try_from(app.admission.in_flight()).unwrap_or(i64::MAX));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_injected_clock() {
        let d = Duration::from_secs(180);
        assert_eq!(agent_status(None, 1_000_000, d), AgentStatus::NeverSeen);
        assert_eq!(
            agent_status(Some(1_000_000), 1_000_000 + 180_000, d),
            AgentStatus::Online
        );
        assert_eq!(
            agent_status(Some(1_000_000), 1_000_000 + 180_001, d),
            AgentStatus::Offline
        );
    }
}
