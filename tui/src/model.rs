//! What the console reads from the collector's API, as typed values.
//!
//! Incidents, timelines and the duty log use the wire types of
//! `shouwang-proto`; the views of agents, sites, rules and stats are read
//! leniently (unknown fields ignored, missing ones defaulted) so a newer
//! collector does not break an older console.

use std::collections::BTreeMap;

use serde::Deserialize;
use shouwang_proto::{Bilingual, Severity};

/// One agent from `GET /v1/agents`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AgentInfo {
    pub name: String,
    /// `online`, `offline`, `stopped` (said goodbye) or `never_seen`.
    pub status: String,
    /// Region hierarchy (`district`, `town`, `site`) and other labels.
    pub labels: BTreeMap<String, String>,
    pub last_seen_ms: Option<i64>,
    pub agent_version: Option<String>,
    pub hostname: Option<String>,
    pub queue: Option<QueueBrief>,
    /// The agent's own CPU and what it shed (self-protection).
    pub limits: Option<LimitBrief>,
    pub host: Option<HostBrief>,
    pub capture: Option<CaptureBrief>,
}

impl AgentInfo {
    pub fn online(&self) -> bool {
        self.status == "online"
    }

    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map_or("", String::as_str)
    }

    /// Memory in use, percent.
    pub fn mem_pct(&self) -> Option<f64> {
        self.host
            .as_ref()
            .filter(|h| h.memory_total > 0)
            .map(|h| 100.0 * h.memory_used as f64 / h.memory_total as f64)
    }

    /// Packets dropped by the kernel or the agent since the collector
    /// started.
    pub fn drops(&self) -> Option<u64> {
        self.capture
            .as_ref()
            .map(|c| c.kernel_drops.saturating_add(c.agent_drops))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct QueueBrief {
    /// Batches waiting in the agent's spool.
    pub queued_batches: u64,
    /// Events the agent dropped before the collector had them (data gaps).
    pub dropped_events: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LimitBrief {
    /// CPU the agent itself used, percent of one core.
    pub cpu_pct: f32,
    /// Over its CPU or memory budget (capture sampled, rescans slowed).
    pub overloaded: bool,
    pub sample_every: u32,
    pub rate_limited_host_events: u64,
    pub rate_limited_network_events: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct HostBrief {
    pub cpu_pct: f32,
    pub memory_used: u64,
    pub memory_total: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CaptureBrief {
    pub packets: u64,
    pub kernel_drops: u64,
    pub agent_drops: u64,
}

/// One page as seen by one agent, from `GET /v1/sites`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SiteInfo {
    pub url: String,
    pub site: Option<String>,
    pub agent: String,
    /// Event time of the check, ns.
    pub ts: i64,
    /// `up`, `degraded` or `down`.
    pub state: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub response_ms: u64,
    pub tls_days_left: Option<i64>,
    pub defacement_score: f64,
    pub slo_success_ratio: f64,
    pub findings: Vec<String>,
}

/// One rule from `GET /v1/rules`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RuleInfo {
    pub id: String,
    #[serde(default)]
    pub title: Bilingual,
    pub severity: Severity,
    #[serde(default)]
    pub attack: Vec<String>,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub evaluated: u64,
    #[serde(default)]
    pub matched: u64,
    #[serde(default)]
    pub fired: u64,
    /// Event time of the last firing, ns.
    #[serde(default)]
    pub last_fired: Option<i64>,
    #[serde(default)]
    pub groups: u64,
}

/// `GET /v1/rules`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RulesInfo {
    pub dir: String,
    pub rules: Vec<RuleInfo>,
    /// Errors of the last failed reload (the previous rules keep running).
    pub load_errors: Vec<String>,
    pub load_errors_at_ms: Option<i64>,
}

/// `GET /v1/stats`: running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub now_ms: i64,
    pub events_total: u64,
    pub incidents_opened_total: u64,
}

/// One line of the live tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    pub agent: String,
    pub kind: String,
    /// Event time, ns.
    pub ts: i64,
    /// The event's fields, compact.
    pub summary: String,
}

/// Longest summary kept per live event, characters.
pub const MAX_SUMMARY: usize = 400;

impl LiveEvent {
    /// From an `event` item of `/v1/stream`; `None` when it is not one.
    pub fn from_stream(v: &serde_json::Value) -> Option<Self> {
        let obj = v.as_object()?;
        let agent = obj.get("agent")?.as_str()?.to_owned();
        let kind = obj.get("kind")?.as_str()?.to_owned();
        let ts = obj
            .get("ts")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        let mut summary = String::new();
        for (k, v) in obj {
            if matches!(k.as_str(), "type" | "agent" | "kind" | "ts" | "seq") {
                continue;
            }
            if !summary.is_empty() {
                summary.push(' ');
            }
            summary.push_str(k);
            summary.push('=');
            match v {
                serde_json::Value::String(s) => summary.push_str(s),
                other => summary.push_str(&other.to_string()),
            }
            if summary.chars().count() > MAX_SUMMARY {
                summary = summary.chars().take(MAX_SUMMARY).collect();
                summary.push('…');
                break;
            }
        }
        Some(Self {
            agent,
            kind,
            ts,
            summary,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_stream_event_becomes_a_tail_line_and_junk_is_refused() {
        let v = serde_json::json!({"type": "event", "agent": "web-1", "seq": 4, "ts": 17, "kind": "auth", "user": "root", "outcome": "failure"});
        let e = LiveEvent::from_stream(&v).unwrap();
        assert_eq!(
            (e.agent.as_str(), e.kind.as_str(), e.ts),
            ("web-1", "auth", 17)
        );
        assert_eq!(e.summary, "outcome=failure user=root");
        assert_eq!(LiveEvent::from_stream(&serde_json::json!([1, 2])), None);
        assert_eq!(
            LiveEvent::from_stream(&serde_json::json!({"agent": 3})),
            None
        );
        let long = serde_json::json!({"agent": "a", "kind": "k", "x": "y".repeat(5000)});
        let e = LiveEvent::from_stream(&long).unwrap();
        assert_eq!(e.summary.chars().count(), MAX_SUMMARY + 1);
    }

    #[test]
    fn agents_read_leniently() {
        let a: AgentInfo = serde_json::from_str(
            r#"{"name":"h1","status":"online","labels":{"district":"城关区"},"host":{"cpu_pct":12.5,"memory_used":50,"memory_total":200,"extra":1},"capture":{"kernel_drops":3,"agent_drops":4},"future":true}"#,
        )
        .unwrap();
        assert!(a.online());
        assert_eq!(a.label("district"), "城关区");
        assert_eq!(a.mem_pct(), Some(25.0));
        assert_eq!(a.drops(), Some(7));
    }
}
