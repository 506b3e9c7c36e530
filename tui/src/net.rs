//! The network edge: polls the collector's API, follows `/v1/stream`, and
//! carries out operator requests, all on tokio tasks that report to the UI
//! through a bounded channel. The UI never waits on any of it.
//!
//! Channel decisions: incident changes, snapshots and results are sent
//! with back-pressure (the UI drains the channel every frame); live-tail
//! events are sent with `try_send`, and those that do not fit are counted
//! and reported as `Lagged` — the tail may skip, the incident list may not.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use shouwang_proto::api::{
    AgentList, IncidentChange, IncidentDetail, IncidentPage, IncidentResult, Lagged, RulesView,
    STREAM_EVENT, STREAM_INCIDENT, STREAM_LAGGED, SiteList, Stats,
};
use shouwang_proto::{DutyView, Incident};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::app::{NetMsg, Request};
use crate::live::LiveEvent;

/// Messages waiting for the UI.
pub const UI_QUEUE: usize = 4096;
/// Operator requests waiting for the network.
pub const REQUEST_QUEUE: usize = 64;
/// Stats poll period; also the liveness check.
pub const POLL_EVERY: Duration = Duration::from_secs(2);
/// Agents, sites, rules and duty every this many polls.
const SLOW_EVERY: u64 = 3;
/// Full incident list every this many polls (changes arrive on the stream).
const INCIDENTS_EVERY: u64 = 15;
/// Most active incidents loaded.
pub const MAX_INCIDENTS: usize = 50_000;
/// Longest wait between stream reconnects.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Largest SSE message buffered.
const MAX_SSE_MESSAGE: usize = 4 * 1024 * 1024;

/// The console's API client: one for requests (10 s each) and one for
/// the stream (no total timeout; a read timeout well above the server's
/// 15 s keep-alive detects a dead connection).
#[derive(Debug, Clone)]
pub struct Client {
    api: shouwang_client::Client,
    stream: shouwang_client::Client,
}

impl Client {
    /// A client for `base`; `tls` brings the collector's CA and a client
    /// certificate when the collector needs them.
    pub fn new(
        base: &str,
        token: &str,
        tls: &crate::config::ConsoleConfig,
    ) -> anyhow::Result<Self> {
        let material = shouwang_client::load_tls(
            &shouwang_client::Tls {
                ca: tls.ca.clone(),
                cert: tls.cert.clone(),
                key: tls.key.clone(),
            },
            &shouwang_client::TlsNames::FLAGS,
        )?;
        let opts = |timeout, read_timeout| shouwang_client::Options {
            connect_timeout: Duration::from_secs(3),
            timeout,
            read_timeout,
            user_agent: Some(concat!("shouwang-console/", env!("CARGO_PKG_VERSION")).to_owned()),
        };
        Ok(Self {
            api: shouwang_client::Client::new(
                base,
                Some(token),
                &material,
                &opts(Some(Duration::from_secs(10)), None),
            )?,
            stream: shouwang_client::Client::new(
                base,
                Some(token),
                &material,
                &opts(None, Some(Duration::from_secs(45))),
            )?,
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        self.api.get(path).await.map_err(|e| e.to_string())
    }

    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        self.api.post(path, body).await.map_err(|e| e.to_string())
    }

    /// Incidents matching `query` (without `limit`/`before`), newest
    /// first, page by page, until a page satisfies `enough`, the pages end
    /// or `MAX_INCIDENTS` are held.
    pub async fn incident_pages(
        &self,
        query: &str,
        enough: impl Fn(&[Incident]) -> bool,
    ) -> Result<Vec<Incident>, String> {
        let mut all = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let q = match before {
                Some(b) => format!("/v1/incidents?{query}&evidence=false&limit=1000&before={b}"),
                None => format!("/v1/incidents?{query}&evidence=false&limit=1000"),
            };
            let p: IncidentPage = self.get(&q).await?;
            let stop = enough(&p.incidents);
            all.extend(p.incidents);
            match p.next_before {
                Some(b) if !stop && all.len() < MAX_INCIDENTS => before = Some(b),
                _ => return Ok(all),
            }
        }
    }
}

/// The channels the UI holds.
#[derive(Debug)]
pub struct Handles {
    pub rx: mpsc::Receiver<NetMsg>,
    pub requests: mpsc::Sender<Request>,
}

/// Starts the poller, the stream follower and the request worker.
pub fn start(rt: &tokio::runtime::Handle, client: Client, cancel: CancellationToken) -> Handles {
    let (tx, rx) = mpsc::channel(UI_QUEUE);
    let (req_tx, req_rx) = mpsc::channel(REQUEST_QUEUE);
    let resync = Arc::new(Notify::new());
    rt.spawn(poll_loop(
        client.clone(),
        tx.clone(),
        resync.clone(),
        cancel.clone(),
    ));
    rt.spawn(stream_loop(
        client.clone(),
        tx.clone(),
        resync,
        cancel.clone(),
    ));
    rt.spawn(request_loop(client, tx, req_rx, cancel));
    Handles {
        rx,
        requests: req_tx,
    }
}

async fn poll_loop(
    client: Client,
    tx: mpsc::Sender<NetMsg>,
    resync: Arc<Notify>,
    cancel: CancellationToken,
) {
    let mut n: u64 = 0;
    let mut healthy = false;
    let mut need_incidents = true;
    loop {
        let result = poll_once(&client, &tx, n, need_incidents).await;
        match result {
            Ok(()) => {
                need_incidents = false;
                if !healthy {
                    info!(collector = %client.api.base(), "connected");
                    healthy = true;
                }
            }
            Err(error) => {
                if healthy {
                    warn!(%error, "collector unreachable");
                }
                healthy = false;
                // Reload everything once it answers again.
                need_incidents = true;
                if tx.send(NetMsg::Disconnected { error }).await.is_err() {
                    return;
                }
            }
        }
        n += 1;
        if n.is_multiple_of(INCIDENTS_EVERY) {
            need_incidents = true;
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(POLL_EVERY) => {}
            () = resync.notified() => need_incidents = true,
        }
    }
}

async fn poll_once(
    client: &Client,
    tx: &mpsc::Sender<NetMsg>,
    n: u64,
    incidents: bool,
) -> Result<(), String> {
    let stats: Stats = client.get("/v1/stats").await?;
    let mut msgs = vec![NetMsg::Connected, NetMsg::Stats(stats)];
    if n.is_multiple_of(SLOW_EVERY) || incidents {
        let a: AgentList = client.get("/v1/agents").await?;
        let s: SiteList = client.get("/v1/sites").await?;
        let r: RulesView = client.get("/v1/rules").await?;
        let d: DutyView = client.get("/v1/duty").await?;
        msgs.extend([
            NetMsg::Agents(a.agents),
            NetMsg::Sites(s.sites),
            NetMsg::Rules(r),
            NetMsg::Duty(d),
        ]);
    }
    if incidents {
        let list = client.incident_pages("active=true", |_| false).await?;
        debug!(incidents = list.len(), "incident list loaded");
        msgs.push(NetMsg::Incidents(list));
    }
    for m in msgs {
        tx.send(m).await.map_err(|_| "console closing".to_owned())?;
    }
    Ok(())
}

/// One server-sent event.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SseMessage {
    pub event: String,
    pub data: String,
}

/// Splits complete messages off the front of `buf` (SSE framing: lines,
/// a blank line ends a message; `:` lines are comments/keep-alives).
pub fn take_sse(buf: &mut String) -> Vec<SseMessage> {
    let mut out = Vec::new();
    loop {
        let normalized_end = buf.find("\n\n");
        let Some(end) = normalized_end else {
            break;
        };
        let block: String = buf.drain(..end + 2).collect();
        let mut m = SseMessage::default();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                m.event = v.trim_start().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                if !m.data.is_empty() {
                    m.data.push('\n');
                }
                m.data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if !m.event.is_empty() || !m.data.is_empty() {
            out.push(m);
        }
    }
    out
}

/// Turns a stream message into what the UI gets.
pub fn sse_to_msg(m: &SseMessage) -> Option<NetMsg> {
    match m.event.as_str() {
        STREAM_INCIDENT => {
            let IncidentChange {
                change,
                mut incident,
            } = serde_json::from_str(&m.data).ok()?;
            // Evidence is read from the detail when an incident is opened;
            // the list keeps none (11 000 incidents with evidence samples
            // took 265 MB).
            incident.evidence = Vec::new();
            Some(NetMsg::IncidentChange { change, incident })
        }
        STREAM_EVENT => {
            let v: serde_json::Value = serde_json::from_str(&m.data).ok()?;
            LiveEvent::from_stream(&v).map(NetMsg::Event)
        }
        STREAM_LAGGED => {
            let l: Lagged = serde_json::from_str(&m.data).ok()?;
            Some(NetMsg::Lagged(l.missed))
        }
        _ => None,
    }
}

async fn stream_loop(
    client: Client,
    tx: mpsc::Sender<NetMsg>,
    resync: Arc<Notify>,
    cancel: CancellationToken,
) {
    let dropped = AtomicU64::new(0);
    let mut backoff = Duration::from_millis(500);
    loop {
        let r = tokio::select! {
            () = cancel.cancelled() => return,
            r = follow(&client, &tx, &resync, &dropped) => r,
        };
        match r {
            Ok(()) => debug!("stream ended; reconnecting"),
            Err(e) => debug!(error = %e, "stream failed; reconnecting"),
        }
        if tx.is_closed() {
            return;
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn follow(
    client: &Client,
    tx: &mpsc::Sender<NetMsg>,
    resync: &Notify,
    dropped: &AtomicU64,
) -> Result<(), String> {
    let mut resp = client
        .stream
        .send(
            client
                .stream
                .request(reqwest::Method::GET, "/v1/stream?events=true"),
        )
        .await
        .map_err(|e| e.to_string())?;
    info!("stream connected");
    // Changes may have been missed while the stream was down.
    resync.notify_one();
    let mut buf = String::new();
    let mut pending = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| shouwang_client::short(&e))? {
        pending.extend_from_slice(&chunk);
        // Keep incomplete UTF-8 at the end for the next chunk.
        let valid = match std::str::from_utf8(&pending) {
            Ok(s) => s.len(),
            Err(e) => e.valid_up_to(),
        };
        buf.push_str(&String::from_utf8_lossy(&pending[..valid]));
        pending.drain(..valid);
        if buf.contains('\r') {
            buf = buf.replace("\r\n", "\n");
        }
        for m in take_sse(&mut buf) {
            let Some(msg) = sse_to_msg(&m) else {
                continue;
            };
            if let NetMsg::Event(_) = msg {
                if tx.try_send(msg).is_err() {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            let missed = dropped.swap(0, Ordering::Relaxed);
            if missed > 0 {
                let _ = tx.try_send(NetMsg::Lagged(missed));
            }
            tx.send(msg)
                .await
                .map_err(|_| "console closing".to_owned())?;
        }
        if buf.len() > MAX_SSE_MESSAGE {
            return Err(format!("a stream message exceeds {MAX_SSE_MESSAGE} bytes"));
        }
    }
    Ok(())
}

async fn request_loop(
    client: Client,
    tx: mpsc::Sender<NetMsg>,
    mut rx: mpsc::Receiver<Request>,
    cancel: CancellationToken,
) {
    loop {
        let req = tokio::select! {
            () = cancel.cancelled() => return,
            r = rx.recv() => match r { Some(r) => r, None => return },
        };
        let what = req.describe();
        let msgs = match perform(&client, req).await {
            Ok(m) => m,
            Err(error) => {
                warn!(%what, %error, "request failed");
                vec![NetMsg::Failed { what, error }]
            }
        };
        for m in msgs {
            if tx.send(m).await.is_err() {
                return;
            }
        }
    }
}

async fn perform(client: &Client, req: Request) -> Result<Vec<NetMsg>, String> {
    use serde_json::json;
    let what = req.describe();
    let incident_result = |v: serde_json::Value| -> Vec<NetMsg> {
        let mut out = Vec::new();
        if let Ok(r) = serde_json::from_value::<IncidentResult>(v) {
            out.push(NetMsg::IncidentChange {
                change: "action".into(),
                incident: Box::new(r.incident),
            });
        }
        out.push(NetMsg::Done { what: what.clone() });
        out
    };
    match req {
        Request::Ack { id } => {
            info!(id, "ack");
            let v = client
                .post(&format!("/v1/incidents/{id}/ack"), &json!({}))
                .await?;
            Ok(incident_result(v))
        }
        Request::Resolve {
            id,
            note,
            false_positive,
        } => {
            let v = client
                .post(
                    &format!("/v1/incidents/{id}/resolve"),
                    &json!({ "note": note, "false_positive": false_positive }),
                )
                .await?;
            Ok(incident_result(v))
        }
        Request::Note { id, text } => {
            let v = client
                .post(
                    &format!("/v1/incidents/{id}/note"),
                    &json!({ "note": text }),
                )
                .await?;
            Ok(incident_result(v))
        }
        Request::Assign { id, who } => {
            let v = client
                .post(
                    &format!("/v1/incidents/{id}/assign"),
                    &json!({ "assignee": who }),
                )
                .await?;
            Ok(incident_result(v))
        }
        Request::Silence {
            rule,
            duration,
            comment,
        } => {
            client
                .post(
                    "/v1/silences",
                    &json!({ "matchers": [{ "field": "rule", "value": rule }], "duration": duration, "comment": comment }),
                )
                .await?;
            Ok(vec![NetMsg::Done { what }])
        }
        Request::Detail { id } => {
            let d: IncidentDetail = client.get(&format!("/v1/incidents/{id}")).await?;
            Ok(vec![NetMsg::Detail {
                incident: Box::new(d.incident),
                timeline: d.timeline,
            }])
        }
        Request::Duty { kind, text } => {
            client
                .post("/v1/duty", &json!({ "kind": kind.as_str(), "text": text }))
                .await?;
            let d: DutyView = client.get("/v1/duty").await?;
            Ok(vec![NetMsg::Duty(d), NetMsg::Done { what }])
        }
        Request::ShiftIncidents { since_ms } => {
            // Newest first: stop after the page that reaches before the shift.
            let all = client
                .incident_pages("active=false", |page| {
                    page.last().is_some_and(|i| i.opened_ms < since_ms)
                })
                .await?;
            Ok(vec![NetMsg::ShiftIncidents(all)])
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sse_frames_are_split_on_blank_lines_and_comments_skipped() {
        let mut buf = String::from(
            ": keep-alive\n\nevent: incident\ndata: {\"a\":1}\n\nevent: event\ndata: x\ndata: y\n\nevent: par",
        );
        let m = take_sse(&mut buf);
        assert_eq!(
            m,
            [
                SseMessage {
                    event: "incident".into(),
                    data: "{\"a\":1}".into()
                },
                SseMessage {
                    event: "event".into(),
                    data: "x\ny".into()
                }
            ]
        );
        assert_eq!(buf, "event: par");
    }

    #[test]
    fn stream_messages_become_ui_messages_and_junk_is_dropped() {
        let inc = serde_json::to_string(&crate::fixture::incidents(1, 0)[0]).unwrap();
        let m = SseMessage {
            event: "incident".into(),
            data: format!("{{\"type\":\"incident\",\"change\":\"opened\",\"incident\":{inc}}}"),
        };
        match sse_to_msg(&m) {
            Some(NetMsg::IncidentChange { change, incident }) => {
                assert_eq!(change, "opened");
                assert_eq!(incident.id, 1);
            }
            other => panic!("{other:?}"),
        }
        let lag = SseMessage {
            event: "lagged".into(),
            data: "{\"missed\":12}".into(),
        };
        assert_eq!(sse_to_msg(&lag), Some(NetMsg::Lagged(12)));
        for (event, data) in [
            (
                "incident",
                "{\"change\":\"opened\",\"incident\":{\"id\":\"x\"}}",
            ),
            ("incident", "not json"),
            ("event", "{\"agent\":1}"),
            ("whatever", "{}"),
        ] {
            let m = SseMessage {
                event: event.into(),
                data: data.into(),
            };
            assert_eq!(sse_to_msg(&m), None, "{event} {data}");
        }
    }
}
