//! `GET /v1/duty` and `POST /v1/duty`: the duty (shift) log over HTTP
//! (the log itself and its view are in `duty.rs`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shouwang_proto::{DutyEntry, DutyKind};

use super::error::ApiError;
use super::incidents::{Role, authorize, json_body};
use crate::app::App;
use crate::audit::AuditRecord;
use crate::duty::{MAX_DUTY_ENTRIES, MAX_DUTY_TEXT, duty_view};

/// `GET /v1/duty`.
pub async fn get_duty(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&app, &headers, Role::Viewer).await?;
    let entries = app
        .store
        .duty_entries(MAX_DUTY_ENTRIES)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(axum::Json(duty_view(entries)).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DutyBody {
    /// `start`, `handover`, `note` or `end`.
    kind: String,
    #[serde(default)]
    text: String,
}

/// `POST /v1/duty` (operator): `{"kind": "start", "text": "张伟"}`.
pub async fn post_duty(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let caller = authorize(&app, &headers, Role::Operator).await?;
    let b: DutyBody = json_body(body, false).await?;
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m);
    let kind = DutyKind::parse(&b.kind).ok_or_else(|| {
        bad(format!(
            "kind is start, handover, note or end, not {:?}",
            b.kind
        ))
    })?;
    let text = b.text.trim().to_owned();
    if text.len() > MAX_DUTY_TEXT {
        return Err(bad(format!("text is at most {MAX_DUTY_TEXT} bytes")));
    }
    if text.is_empty() && matches!(kind, DutyKind::Handover | DutyKind::Note) {
        return Err(bad(format!("a {} needs a text", kind.as_str())));
    }
    let now = app.clock.now_ms();
    let mut entry = DutyEntry {
        id: 0,
        ts_ms: now,
        actor: caller.name.clone(),
        kind,
        text: if kind == DutyKind::Start && text.is_empty() {
            caller.name.clone()
        } else {
            text
        },
    };
    let audit = AuditRecord {
        id: 0,
        ts_ms: now,
        actor: caller.name,
        role: caller.role.as_str().into(),
        action: format!("duty.{}", kind.as_str()),
        target: String::new(),
        detail: entry.text.clone(),
    };
    entry.id = app
        .store
        .add_duty(&entry, &audit)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok((StatusCode::CREATED, axum::Json(entry)).into_response())
}
