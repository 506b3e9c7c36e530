//! Ingest: authenticate, decode within limits, drop already-seen sequence
//! numbers, and commit the rest with the agent's registry changes.
//!
//! Order of checks for `POST /v1/ingest`: token (401) → declared size (413,
//! before reading) → body read with a limit (413) → zstd decode with a limit
//! (413) → JSON (400) → batch rules (400) → agent matches token (403) →
//! store (503 on failure, so the agent retries). Nothing is stored unless
//! every check passed.

pub mod admit;
mod error;
mod plan;
pub mod seqset;
pub mod token;

pub use error::IngestError;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Serialize;
use shouwang_proto::body::decode_body;
use shouwang_proto::{Batch, EventKind, HostSample};
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::boards::Boards;
use crate::metrics::Metrics;
use crate::store::Store;
use plan::AgentState;

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
    /// Site checks and capture health for the API's views.
    boards: Arc<Boards>,
    limits: Limits,
    decode_permits: Semaphore,
    agents: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<AgentState>>>>>,
}

impl Ingestor {
    pub fn new(
        store: Store,
        metrics: Metrics,
        detector: Arc<crate::incidents::Detector>,
        boards: Arc<Boards>,
        limits: Limits,
        decode_concurrency: usize,
        keep: Vec<EventKind>,
    ) -> Self {
        Self {
            store,
            keep,
            boards,
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

        let plan = plan::plan(st, &batch, &self.keep, now_ms)?;

        // Rules see every new event (host samples too); the lock is held
        // until the batch and its incident changes are committed together.
        let fresh = &plan.fresh;
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
            .commit_batch(agent, &plan.rows, &plan.update, &changes)
            .await
            .map_err(|e| self.unavailable(&e))?;
        if fired {
            let detector = self.detector.lock().await;
            self.detector.publish(&detector, changes);
        }
        self.detector.tail(agent, fresh);
        self.boards.observe(agent, fresh);

        // Committed: now metrics (which read the old memory), then memory.
        let accepted = plan.accepted();
        let n = plan.total;
        for (kind, count) in &plan.kinds {
            self.metrics
                .ingest_events
                .with_label_values(&[kind.as_str()])
                .inc_by(*count);
        }
        self.metrics.ingest_duplicate_events.inc_by(n - accepted);
        self.metrics.ingest_batches.inc();
        let (auth_ok, auth_fail) = plan.auth;
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
        if let Some((_, h)) = plan.latest_host {
            self.metrics.observe_host(agent, h);
            self.observe_net(agent, st, h);
            if plan.reboot {
                info!(agent, old = ?st.boot_time, new = h.boot_time, "host rebooted");
                self.metrics.host_reboots.with_label_values(&[agent]).inc();
            }
        }
        if let Some((_, hb)) = plan.latest_hb {
            self.metrics
                .observe_heartbeat(agent, st.agent_version.as_deref(), hb);
        }
        plan::remember(st, plan);
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
