//! Ingest: authenticate, decode within limits, drop already-seen sequence
//! numbers, and commit the rest with the agent's registry changes.
//!
//! Order of checks for `POST /v1/ingest`: token (401) → declared size (413,
//! before reading) → body read with a limit (413) → zstd decode with a limit
//! (413) → JSON (400) → batch rules (400) → agent matches token (403) →
//! store (503 on failure, so the agent retries). Nothing is stored unless
//! every check passed.

pub mod admit;
pub mod seqset;
pub mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Serialize;
use shouwang_proto::body::{BodyError, decode_body};
use shouwang_proto::{
    AuthOutcome, Batch, EventBody, EventKind, Heartbeat, HostSample, ListenSocket, SocketChange,
};
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::metrics::Metrics;
use crate::store::{AgentRow, AgentUpdate, NewEvent, Store};
use seqset::SeqSet;

/// Boot times closer than this are the same boot (btime rounding).
const BOOT_TIME_SLACK_SECS: i64 = 5;

/// Why a request was refused; maps to an HTTP status and error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    UnsupportedEncoding(String),
    #[error("{0}")]
    Unavailable(String),
    /// Every ingest slot is taken (429).
    #[error("{0}")]
    Overloaded(String),
    /// Resident memory is near `ingest.memory-limit-bytes` (503).
    #[error("{0}")]
    MemoryHigh(String),
}

impl IngestError {
    /// Metric label and JSON error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::TooLarge(_) => "too_large",
            Self::Malformed(_) => "malformed",
            Self::Invalid(_) => "invalid",
            Self::UnsupportedEncoding(_) => "unsupported_encoding",
            Self::Unavailable(_) => "unavailable",
            Self::Overloaded(_) => "overloaded",
            Self::MemoryHigh(_) => "memory_high",
        }
    }

    /// Seconds the agent should wait before sending again, for refusals
    /// that are about load rather than the batch.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Overloaded(_) => Some(admit::BUSY_RETRY_AFTER_SECS),
            Self::MemoryHigh(_) | Self::Unavailable(_) => Some(admit::MEMORY_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl From<BodyError> for IngestError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge(m) => Self::TooLarge(m),
            BodyError::Malformed(m) => Self::Malformed(m),
        }
    }
}

/// An authenticated agent: its name and registration time. An agent removed
/// and added again under the same name has a new `created_at`, and starts
/// with a fresh set of delivered sequence numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentId {
    pub name: String,
    pub created_at: i64,
}

/// Reply to an accepted batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// Events new to the collector.
    pub accepted: u64,
    /// Events already received before (ignored).
    pub duplicates: u64,
}

/// What the collector remembers about an agent between batches.
#[derive(Debug, Default)]
struct AgentState {
    /// Registration this state belongs to (see [`AgentId`]).
    created_at: i64,
    seen: SeqSet,
    host_ts: Option<i64>,
    heartbeat_ts: Option<i64>,
    listen_ts: Option<i64>,
    boot_time: Option<i64>,
    agent_version: Option<String>,
    net: Option<(u64, u64)>,
    listening: Vec<ListenSocket>,
}

impl AgentState {
    fn from_row(row: &AgentRow) -> Self {
        let heartbeat: Option<Heartbeat> = row
            .heartbeat
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        Self {
            created_at: row.created_at,
            seen: serde_json::from_str(&row.seen_seqs).unwrap_or_default(),
            host_ts: row.host_ts,
            heartbeat_ts: None,
            listen_ts: None,
            boot_time: row.boot_time,
            agent_version: heartbeat.map(|h| h.agent_version),
            net: None,
            listening: row
                .listening
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default(),
        }
    }
}

/// Limits applied to request bodies.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body: usize,
    pub max_decompressed: usize,
}

/// The ingest pipeline; shared by all requests.
#[derive(Debug)]
pub struct Ingestor {
    store: Store,
    /// Event kinds stored as rows (`store.event-kinds`).
    keep: Vec<EventKind>,
    metrics: Metrics,
    detector: Arc<crate::incidents::Detector>,
    limits: Limits,
    decode_permits: Semaphore,
    agents: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<AgentState>>>>>,
}

impl Ingestor {
    pub fn new(
        store: Store,
        metrics: Metrics,
        detector: Arc<crate::incidents::Detector>,
        limits: Limits,
        decode_concurrency: usize,
        keep: Vec<EventKind>,
    ) -> Self {
        Self {
            store,
            keep,
            metrics,
            detector,
            limits,
            decode_permits: Semaphore::new(decode_concurrency.max(1)),
            agents: Mutex::new(HashMap::new()),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The agent a bearer token belongs to.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<AgentId, IngestError> {
        let unauthorized = || IngestError::Unauthorized("missing or invalid agent token".into());
        let presented = authorization
            .and_then(token::bearer)
            .ok_or_else(unauthorized)?;
        let Some(name) = token::claimed_agent(presented) else {
            return Err(unauthorized());
        };
        let stored = self
            .store
            .token_digest(name)
            .await
            .map_err(|e| self.unavailable(&e))?;
        match stored {
            Some((d, created_at)) if token::verify(presented, &d) => Ok(AgentId {
                name: name.to_owned(),
                created_at,
            }),
            _ => Err(unauthorized()),
        }
    }

    fn unavailable(&self, e: &anyhow::Error) -> IngestError {
        self.metrics.store_errors.inc();
        warn!("store error: {e:#}");
        IngestError::Unavailable("the collector's store is unavailable; retry later".into())
    }

    /// Decompresses (when `encoding` is zstd) and parses a body, on a
    /// blocking thread, at most `decode-concurrency` at a time.
    pub async fn decode(&self, body: Bytes, encoding: Option<&str>) -> Result<Batch, IngestError> {
        let zstd = match encoding.map(str::trim) {
            None | Some("") | Some("identity") => false,
            Some(e) if e.eq_ignore_ascii_case("zstd") => true,
            Some(other) => {
                return Err(IngestError::UnsupportedEncoding(format!(
                    "content-encoding {other:?} is not supported; use zstd or none"
                )));
            }
        };
        let _permit = self
            .decode_permits
            .acquire()
            .await
            .map_err(|_| IngestError::Unavailable("shutting down".into()))?;
        let max = self.limits.max_decompressed;
        tokio::task::spawn_blocking(move || decode_body(&body, zstd, max))
            .await
            .map_err(|e| IngestError::Unavailable(format!("decoder failed: {e}")))?
            .map_err(IngestError::from)
    }

    fn state(&self, agent: &str) -> Arc<tokio::sync::Mutex<Option<AgentState>>> {
        let mut map = self
            .agents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(agent.to_owned()).or_default().clone()
    }

    /// Stores the events of `batch` that `agent` has not delivered before.
    pub async fn accept(
        &self,
        id: &AgentId,
        batch: Batch,
        now_ms: i64,
    ) -> Result<Accepted, IngestError> {
        let agent = id.name.as_str();
        batch
            .validate()
            .map_err(|e| IngestError::Invalid(e.to_string()))?;
        if batch.agent != agent {
            return Err(IngestError::Forbidden(format!(
                "token belongs to agent {agent:?} but the batch is from {:?}",
                batch.agent
            )));
        }
        let slot = self.state(agent);
        let mut guard = slot.lock().await;
        // Load on first use, and again if the agent was re-registered since.
        if guard
            .as_ref()
            .is_none_or(|st| st.created_at != id.created_at)
        {
            let row = self
                .store
                .agent(agent)
                .await
                .map_err(|e| self.unavailable(&e))?;
            let Some(row) = row.filter(|r| r.created_at == id.created_at) else {
                return Err(IngestError::Unauthorized("agent was removed".into()));
            };
            *guard = Some(AgentState::from_row(&row));
        }
        let Some(st) = guard.as_mut() else {
            return Err(IngestError::Unavailable("agent state missing".into()));
        };

        let n = batch.events.len() as u64;
        let end = batch.first_seq + n;
        let missing = st.seen.missing(batch.first_seq, end);
        let is_new = |seq: u64| missing.iter().any(|&(s, e)| s <= seq && seq < e);
        let mut seen = st.seen.clone();
        seen.insert(batch.first_seq, end);

        let mut update = AgentUpdate {
            last_seen_ms: now_ms,
            seen,
            ..Default::default()
        };
        let mut rows = Vec::new();
        let mut kinds: HashMap<EventKind, u64> = HashMap::new();
        let mut latest_host: Option<(i64, &HostSample)> = None;
        let mut latest_hb: Option<(i64, &Heartbeat)> = None;
        let mut listening = st.listening.clone();
        let mut listen_ts = st.listen_ts;
        let mut listen_changed = false;
        let (mut auth_ok, mut auth_fail) = (0u64, 0u64);
        for (seq, ev) in batch.numbered().filter(|(s, _)| is_new(*s)) {
            let ts = ev.ts.as_nanos();
            *kinds.entry(ev.kind()).or_default() += 1;
            match &ev.body {
                EventBody::HostSample(h) => {
                    if st.host_ts.is_none_or(|t| ts >= t)
                        && latest_host.is_none_or(|(t, _)| ts >= t)
                    {
                        latest_host = Some((ts, h));
                    }
                    continue; // samples live in the registry and Prometheus
                }
                EventBody::Heartbeat(hb) => {
                    if st.heartbeat_ts.is_none_or(|t| ts >= t)
                        && latest_hb.is_none_or(|(t, _)| ts >= t)
                    {
                        latest_hb = Some((ts, hb));
                    }
                }
                EventBody::ListenSnapshot(s) => {
                    if listen_ts.is_none_or(|t| ts >= t) {
                        listening.clone_from(&s.sockets);
                        listen_ts = Some(ts);
                        listen_changed = true;
                    }
                }
                EventBody::ListenChange(c) => {
                    let key = |s: &ListenSocket| (s.proto, s.addr, s.port);
                    listening.retain(|s| key(s) != key(&c.socket));
                    if c.change == SocketChange::Opened {
                        listening.push(c.socket.clone());
                    }
                    listen_changed = true;
                }
                EventBody::Auth(a) => match a.outcome {
                    AuthOutcome::Success => auth_ok += 1,
                    AuthOutcome::Failure => auth_fail += 1,
                },
                // Notices and packet telemetry are stored as they are.
                EventBody::Notice(_)
                | EventBody::Flow(_)
                | EventBody::IfaceStats(_)
                | EventBody::Dns(_)
                | EventBody::Tls(_)
                | EventBody::HttpRequest(_)
                | EventBody::HttpResponse(_)
                | EventBody::SshBanner(_)
                | EventBody::IcmpEcho(_)
                | EventBody::LoginReply(_)
                | EventBody::Arp(_)
                | EventBody::FileChange(_)
                | EventBody::SiteCheck(_)
                | EventBody::DataGap(_) => {}
            }
            if !self.keep.iter().any(|k| *k == ev.kind()) {
                continue;
            }
            let body =
                serde_json::to_string(ev).map_err(|e| IngestError::Invalid(e.to_string()))?;
            rows.push(NewEvent {
                seq,
                ts,
                kind: ev.kind().as_str(),
                body,
            });
        }
        let mut reboot = false;
        if let Some((ts, h)) = latest_host {
            update.host = Some((serde_json::to_string(h).unwrap_or_default(), ts));
            if h.boot_time > 0 {
                reboot = st
                    .boot_time
                    .is_some_and(|b| (h.boot_time - b).abs() > BOOT_TIME_SLACK_SECS);
                update.boot_time = Some(h.boot_time);
                update.reboots_added = i64::from(reboot);
            }
        }
        if let Some((_, hb)) = latest_hb {
            update.heartbeat = serde_json::to_string(hb).ok();
            update.labels = serde_json::to_string(&hb.labels).ok();
        }
        if listen_changed {
            update.listening = serde_json::to_string(&listening).ok();
        }

        // Rules see every new event (host samples too); the lock is held
        // until the batch and its incident changes are committed together.
        let fresh: Vec<&shouwang_proto::Event> = batch
            .numbered()
            .filter(|(s, _)| is_new(*s))
            .map(|(_, e)| e)
            .collect();
        // Rules run under the detector's lock; the commit does not hold it
        // (incident rows carry revisions, so commits may land in any order).
        let (changes, fired) = {
            let mut detector = self.detector.lock().await;
            let started = std::time::Instant::now();
            let changes = detector.detect(
                agent,
                batch.exercise.as_deref(),
                fresh.iter().copied(),
                now_ms,
            );
            self.metrics
                .rules_eval_seconds
                .observe(started.elapsed().as_secs_f64());
            (changes, !detector.detections().is_empty())
        };
        self.metrics
            .rules_events_evaluated
            .inc_by(fresh.len() as u64);
        self.store
            .commit_batch(agent, &rows, &update, &changes)
            .await
            .map_err(|e| self.unavailable(&e))?;
        if fired {
            let detector = self.detector.lock().await;
            self.detector.publish(&detector, changes);
        }
        self.detector.tail(agent, &fresh);
        self.detector.observe_boards(agent, &fresh);

        // Committed: now update memory and metrics.
        let accepted: u64 = kinds.values().sum();
        st.seen = update.seen;
        if listen_changed {
            st.listening = listening;
            st.listen_ts = listen_ts;
        }
        for (kind, count) in &kinds {
            self.metrics
                .ingest_events
                .with_label_values(&[kind.as_str()])
                .inc_by(*count);
        }
        self.metrics.ingest_duplicate_events.inc_by(n - accepted);
        self.metrics.ingest_batches.inc();
        if auth_ok > 0 {
            self.metrics
                .host_auth_successes
                .with_label_values(&[agent])
                .inc_by(auth_ok);
        }
        if auth_fail > 0 {
            self.metrics
                .host_auth_failures
                .with_label_values(&[agent])
                .inc_by(auth_fail);
        }
        if let Some((ts, h)) = latest_host {
            st.host_ts = Some(ts);
            self.metrics.observe_host(agent, h);
            self.observe_net(agent, st, h);
            if reboot {
                info!(agent, old = ?st.boot_time, new = h.boot_time, "host rebooted");
                self.metrics.host_reboots.with_label_values(&[agent]).inc();
            }
            if h.boot_time > 0 {
                st.boot_time = Some(h.boot_time);
            }
        }
        if let Some((ts, hb)) = latest_hb {
            st.heartbeat_ts = Some(ts);
            self.metrics
                .observe_heartbeat(agent, st.agent_version.as_deref(), hb);
            st.agent_version = Some(hb.agent_version.clone());
        }
        Ok(Accepted {
            accepted,
            duplicates: n - accepted,
        })
    }

    fn observe_net(&self, agent: &str, st: &mut AgentState, h: &HostSample) {
        let (rx, tx) = h
            .interfaces
            .iter()
            .filter(|i| i.name != "lo")
            .fold((0u64, 0u64), |(r, t), i| {
                (r.saturating_add(i.rx_bytes), t.saturating_add(i.tx_bytes))
            });
        // A lower cumulative value means a reboot or a removed interface:
        // count from the new value, as Prometheus does for counter resets.
        let delta = |new: u64, old: Option<u64>| match old {
            Some(o) if new >= o => new - o,
            _ => new,
        };
        self.metrics
            .host_net_rx
            .with_label_values(&[agent])
            .inc_by(delta(rx, st.net.map(|n| n.0)));
        self.metrics
            .host_net_tx
            .with_label_values(&[agent])
            .inc_by(delta(tx, st.net.map(|n| n.1)));
        st.net = Some((rx, tx));
    }
}
