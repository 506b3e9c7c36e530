//! Incident, silence, audit and stream endpoints, and API-token roles.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shouwang_proto::api::{
    IncidentDetail, IncidentPage, IncidentResult, Lagged, STREAM_LAGGED, SilenceCreated,
    SilenceList,
};
use shouwang_proto::{IncidentState, Matcher, Severity, Silence};

use super::error::ApiError;
use crate::app::App;
use crate::audit::AuditRecord;
use crate::incidents::StreamItem;
use crate::incidents::book::ActionError;
use crate::incidents::book::MATCHER_FIELDS;
use crate::ingest::token;
use crate::store::incidents::IncidentFilter;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "operator" => Some(Self::Operator),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

/// Checks the bearer token and that its role is at least `need`.
pub async fn authorize(app: &App, headers: &HeaderMap, need: Role) -> Result<Caller, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(token::bearer);
    let Some(t) = presented else {
        if need == Role::Viewer && app.config.api.anonymous_read {
            return Ok(Caller {
                name: "anonymous".into(),
                role: Role::Viewer,
            });
        }
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send `Authorization: Bearer swa1:…` (`shouwang-collector tokens add NAME --role ROLE` makes one)",
        ));
    };
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "unknown or wrong API token",
        )
    };
    let name = token::claimed_api_name(t).ok_or_else(unauthorized)?;
    let (role, digest) = app
        .store
        .api_token(name)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(unauthorized)?;
    if !token::verify(t, &digest) {
        return Err(unauthorized());
    }
    let role = Role::parse(&role).unwrap_or(Role::Viewer);
    if role < need {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token {name:?} is a {}; this needs {}",
                role.as_str(),
                need.as_str()
            ),
        ));
    }
    Ok(Caller {
        name: name.to_owned(),
        role,
    })
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", msg)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    /// `active`: open or acknowledged.
    #[serde(default)]
    active: bool,
    severity: Option<String>,
    rule: Option<String>,
    exercise: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
    /// `false` leaves the evidence samples out (list views that fetch one
    /// incident's detail when it is opened).
    evidence: Option<bool>,
}

pub async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    authorize(&app, &headers, Role::Viewer).await?;
    let Query(q) = query?;
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(
            IncidentState::parse(s)
                .ok_or_else(|| bad("state is open, acknowledged or resolved"))?,
        ),
    };
    let min_severity =
        match q.severity.as_deref() {
            None => None,
            Some(s) => Some(Severity::parse(s).ok_or_else(|| {
                bad("severity is info, low, medium, high or critical (the minimum)")
            })?),
        };
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(bad("limit must be 1 to 1000"));
    }
    let mut rows = app
        .store
        .incidents(&IncidentFilter {
            state,
            active: q.active,
            min_severity,
            rule: q.rule,
            exercise: q.exercise,
            before: q.before,
            limit,
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if q.evidence == Some(false) {
        for r in &mut rows {
            r.evidence = Vec::new();
        }
    }
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|i| i.id))
        .flatten();
    Ok(axum::Json(IncidentPage {
        incidents: rows,
        next_before: next,
    })
    .into_response())
}

pub async fn detail(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    authorize(&app, &headers, Role::Viewer).await?;
    let Some((incident, timeline)) = app
        .store
        .incident(id)
        .await
        .map_err(|e| ApiError::internal(&e))?
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no incident {id}"),
        ));
    };
    Ok(axum::Json(IncidentDetail { incident, timeline }).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    #[serde(default)]
    note: String,
    #[serde(default)]
    text: String,
    assignee: Option<String>,
    #[serde(default)]
    false_positive: bool,
    /// For a false positive: how long the exception lasts (`7d`).
    exception_for: Option<String>,
}

fn action_error(e: ActionError) -> ApiError {
    match e {
        ActionError::NotFound(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
        }
        ActionError::Resolved(_) | ActionError::Invalid(_) => {
            ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
        }
    }
}

/// Largest action or silence body.
const MAX_ACTION_BODY: usize = 64 * 1024;

/// Reads a JSON body of at most `MAX_ACTION_BODY` bytes; with
/// `empty_is_default`, an empty (or blank) body is `T::default()`.
pub(crate) async fn json_body<T: serde::de::DeserializeOwned + Default>(
    body: axum::body::Body,
    empty_is_default: bool,
) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_ACTION_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("a request body is at most {MAX_ACTION_BODY} bytes"),
            )
        })?;
    if empty_is_default && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("body: {e}")))
}

pub async fn action(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((id, verb)): Path<(i64, String)>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let caller = authorize(&app, &headers, Role::Operator).await?;
    let b: ActionBody = json_body(body, true).await?;
    let note = if b.note.is_empty() {
        b.text.clone()
    } else {
        b.note.clone()
    };
    if note.len() > 8192 {
        return Err(bad("a note is at most 8192 bytes"));
    }
    let now = app.clock.now_ms();
    let mut inner = app.detector.lock().await;
    let (change, exception) = match verb.as_str() {
        "ack" => (inner.book.ack(id, &caller.name, &note, now), None),
        "note" => (inner.book.note(id, &caller.name, &note, now), None),
        "assign" => {
            let who = b
                .assignee
                .clone()
                .ok_or_else(|| bad("assign needs {\"assignee\": \"NAME\"}"))?;
            (inner.book.assign(id, &caller.name, &who, now), None)
        }
        "resolve" => {
            let fp = if b.false_positive {
                let d = match &b.exception_for {
                    Some(s) => humantime::parse_duration(s)
                        .map_err(|e| bad(format!("exception_for: {e}")))?,
                    None => app.detector.false_positive_for,
                };
                Some(now + i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2))
            } else {
                None
            };
            match inner.book.resolve(id, &caller.name, &note, fp, now) {
                Ok((c, e)) => (Ok(c), e),
                Err(e) => (Err(e), None),
            }
        }
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no action {other:?} (ack, resolve, note, assign)"),
            ));
        }
    };
    let change = change.map_err(action_error)?;
    let audit = AuditRecord {
        id: 0,
        ts_ms: now,
        actor: caller.name.clone(),
        role: caller.role.as_str().into(),
        action: format!("incident.{verb}"),
        target: format!("incident {id}"),
        detail: serde_json::json!({ "note": note, "assignee": b.assignee, "false_positive": b.false_positive, "exception": exception }).to_string(),
    };
    let stored = app
        .store
        .commit_action(std::slice::from_ref(&change), exception.as_ref(), &audit)
        .await;
    if let Err(e) = stored {
        // The book already holds the change; the next write of this
        // incident persists its state (this timeline entry is lost).
        app.metrics.store_errors.inc();
        return Err(ApiError::internal(&e));
    }
    let incident = change.incident.clone();
    app.detector.publish(&inner, vec![change]);
    Ok(axum::Json(IncidentResult { incident }).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceBody {
    matchers: Vec<Matcher>,
    /// How long: `2h`, `1d`.
    duration: String,
    #[serde(default)]
    comment: String,
}

pub async fn silences(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&app, &headers, Role::Viewer).await?;
    let s = app
        .store
        .silences(app.clock.now_ms())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(axum::Json(SilenceList { silences: s }).into_response())
}

pub async fn add_silence(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let caller = authorize(&app, &headers, Role::Operator).await?;
    let b: SilenceBody = json_body(body, false).await?;
    if b.matchers.is_empty() {
        return Err(bad(
            "a silence needs at least one matcher (it would silence everything)",
        ));
    }
    for m in &b.matchers {
        if !MATCHER_FIELDS.contains(&m.field.as_str()) || m.value.is_empty() {
            return Err(bad(format!(
                "matcher field is one of {} with a non-empty value",
                MATCHER_FIELDS.join(", ")
            )));
        }
    }
    let d = humantime::parse_duration(&b.duration).map_err(|e| bad(format!("duration: {e}")))?;
    if d > Duration::from_secs(90 * 24 * 3600) || d.is_zero() {
        return Err(bad("duration is between 1s and 90d"));
    }
    let now = app.clock.now_ms();
    let silence = Silence {
        id: 0,
        matchers: b.matchers,
        created_ms: now,
        expires_ms: now + i64::try_from(d.as_millis()).unwrap_or(0),
        created_by: caller.name.clone(),
        comment: b.comment,
    };
    let audit = AuditRecord {
        id: 0,
        ts_ms: now,
        actor: caller.name,
        role: caller.role.as_str().into(),
        action: "silence.add".into(),
        target: String::new(),
        detail: serde_json::to_string(&silence).unwrap_or_default(),
    };
    let s = app
        .detector
        .add_silence(&app.store, silence, &audit)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(SilenceCreated { silence: s }),
    )
        .into_response())
}

pub async fn delete_silence(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let caller = authorize(&app, &headers, Role::Operator).await?;
    let now = app.clock.now_ms();
    let audit = AuditRecord {
        id: 0,
        ts_ms: now,
        actor: caller.name,
        role: caller.role.as_str().into(),
        action: "silence.expire".into(),
        target: format!("silence {id}"),
        detail: String::new(),
    };
    if app
        .detector
        .expire_silence(&app.store, id, now, &audit)
        .await
        .map_err(|e| ApiError::internal(&e))?
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no silence {id}"),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

pub async fn audit(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    authorize(&app, &headers, Role::Admin).await?;
    let Query(q) = query?;
    let rows = app
        .store
        .audit(q.before, q.limit.unwrap_or(100))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(axum::Json(serde_json::json!({ "audit": rows })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Also send accepted events (live tail).
    #[serde(default)]
    events: bool,
}

/// `GET /v1/stream`: server-sent events, `incident` for changes and (with
/// `?events=true`) `event` for every accepted event.
pub async fn stream(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    authorize(&app, &headers, Role::Viewer).await?;
    let Query(q) = query?;
    let mut rx = app.detector.stream.subscribe();
    let metrics = app.metrics.clone();
    metrics.stream_clients.inc();
    let guard = StreamGuard(metrics.clone());
    let s = async_stream(move |tx| async move {
        let _guard = guard;
        loop {
            match rx.recv().await {
                Ok(item) => {
                    if matches!(&*item, StreamItem::Event { .. }) && !q.events {
                        continue;
                    }
                    let name = item.name();
                    let data = serde_json::to_string(&*item).unwrap_or_default();
                    if tx
                        .send(Ok(SseEvent::default().event(name).data(data)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    metrics
                        .events_dropped
                        .with_label_values(&["stream_lagged"])
                        .inc_by(n);
                    let data = serde_json::to_string(&Lagged { missed: n }).unwrap_or_default();
                    if tx
                        .send(Ok(SseEvent::default().event(STREAM_LAGGED).data(data)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    Ok(Sse::new(s)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

struct StreamGuard(crate::metrics::Metrics);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.stream_clients.dec();
    }
}

/// A stream fed by a task through a bounded channel.
fn async_stream<F, Fut>(f: F) -> impl futures_util::Stream<Item = Result<SseEvent, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<SseEvent, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(f(tx));
    tokio_stream_from(rx)
}

fn tokio_stream_from<T>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
