//! The collector's HTTP API as values: what its routes answer, the error
//! body every refusal carries, and the items of `/v1/stream`.
//!
//! The collector serialises these and its clients (console, drill, tests)
//! read them, so a route's JSON is written down once. Response views never
//! refuse unknown fields, and fields a client may miss are defaulted, so a
//! newer collector does not break an older client.

use serde::{Deserialize, Serialize};

use crate::{
    Bilingual, Event, HostSample, Incident, LimitStatus, ListenSocket, QueueStats, Severity,
    Silence, Skipped, TimelineEntry,
};

/// `/v1/stream` item names (the SSE `event:` line).
pub const STREAM_INCIDENT: &str = "incident";
pub const STREAM_EVENT: &str = "event";
pub const STREAM_LAGGED: &str = "lagged";

/// The body of every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable `code` for programs, a `message` for people.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        }
    }

    /// The message of an error answer's body; `None` when the body is not
    /// one (a proxy's page, say).
    pub fn message_of(body: &str) -> Option<String> {
        serde_json::from_str::<Self>(body)
            .ok()
            .map(|b| b.error.message)
    }
}

/// Liveness of an agent as shown in `/v1/agents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Online,
    Offline,
    /// The agent said goodbye (graceful shutdown) and has not spoken since.
    Stopped,
    #[default]
    NeverSeen,
    /// A status this build does not know (from a newer collector); the
    /// collector never sends it.
    #[serde(other)]
    Unknown,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Offline => "offline",
            Self::Stopped => "stopped",
            Self::NeverSeen => "never_seen",
            Self::Unknown => "unknown",
        }
    }
}

/// Summary of an agent's latest host sample.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HostSummary {
    pub ts: i64,
    pub cpu_pct: f32,
    pub cpus: usize,
    pub load1: f64,
    pub memory_used: u64,
    pub memory_total: u64,
    pub swap_used: u64,
    pub disk_max_used_pct: f64,
    pub processes: u32,
    pub listening_tcp: u32,
    pub listening_udp: u32,
    pub sessions: usize,
    pub uptime_secs: u64,
}

impl HostSummary {
    pub fn new(ts: i64, h: &HostSample) -> Self {
        Self {
            ts,
            cpu_pct: h.cpu.usage_pct,
            cpus: h.cpu.per_core_pct.len(),
            load1: h.load.one,
            memory_used: h.memory.used,
            memory_total: h.memory.total,
            swap_used: h.memory.swap_used,
            disk_max_used_pct: h
                .disks
                .iter()
                .filter(|d| d.total > 0)
                .map(|d| 100.0 * d.total.saturating_sub(d.available) as f64 / d.total as f64)
                .fold(0.0, f64::max),
            processes: h.processes.count,
            listening_tcp: h.listening_tcp,
            listening_udp: h.listening_udp,
            sessions: h.sessions.len(),
            uptime_secs: h.uptime_secs,
        }
    }
}

/// Capture health of one agent, summed over its interfaces since the
/// collector started (from `iface_stats` events).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CaptureStatus {
    pub packets: u64,
    /// Packets the kernel dropped.
    pub kernel_drops: u64,
    /// Packets the agent could not keep (its queue was full).
    pub agent_drops: u64,
    /// Event time of the latest interval, ns.
    pub last_ts: i64,
    /// Packets per second over the interfaces in the latest interval seen
    /// for each.
    pub packets_per_sec: f64,
}

/// One agent in `/v1/agents` and `/v1/agents/{name}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentView {
    pub name: String,
    pub status: AgentStatus,
    /// Region hierarchy (`district`, `town`, `site`) and other labels, as
    /// the agent sent them.
    pub labels: serde_json::Value,
    pub created_at_ms: i64,
    pub last_seen_ms: Option<i64>,
    pub agent_version: Option<String>,
    pub config_hash: Option<String>,
    pub hostname: Option<String>,
    pub os: Option<String>,
    pub kernel: Option<String>,
    pub boot_time: Option<i64>,
    pub reboots: i64,
    pub queue: Option<QueueStats>,
    /// Why the agent stopped, when its last heartbeat was a goodbye.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopping: Option<String>,
    /// The agent's own resource use and what it shed (self-protection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitStatus>,
    pub skipped: Vec<Skipped>,
    pub host: Option<HostSummary>,
    /// Capture totals since the collector started (agents that capture).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureStatus>,
    /// Only in `/v1/agents/{name}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_sample: Option<HostSample>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listening: Option<Vec<ListenSocket>>,
}

impl AgentView {
    pub fn online(&self) -> bool {
        self.status == AgentStatus::Online
    }

    /// A string label, or `""`.
    pub fn label(&self, key: &str) -> &str {
        self.labels
            .get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
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

/// `GET /v1/agents`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentList {
    pub agents: Vec<AgentView>,
}

/// The latest check of a page from one agent, in `/v1/sites`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SiteStatus {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    pub agent: String,
    /// Event time of the check, ns since the epoch.
    pub ts: i64,
    /// `up`, `degraded` (up with findings, or a certificate within 14 days
    /// of expiry) or `down`. A string, so a state a newer collector adds
    /// still shows.
    pub state: String,
    pub up: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub response_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_days_left: Option<i64>,
    pub defacement_score: f64,
    pub slo_success_ratio: f64,
    /// Open findings, short: `defaced`, `hidden-links`, `cloaking`,
    /// `sensitive-words`, `new-scripts`, `dns-hijack`, `tls-error`,
    /// `tls-expiring`, `slo-failing` (strings, for the same reason).
    pub findings: Vec<String>,
}

/// `GET /v1/sites`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SiteList {
    pub sites: Vec<SiteStatus>,
}

/// One rule in `/v1/rules`, with its counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleView {
    pub id: String,
    /// The rule's name (its incidents carry a title rendered from the
    /// rule's template, naming the entities).
    #[serde(default)]
    pub title: Bilingual,
    /// `single`, `threshold`, … (a string: kinds grow).
    #[serde(default)]
    pub kind: String,
    pub severity: Severity,
    #[serde(default)]
    pub attack: Vec<String>,
    #[serde(default)]
    pub file: String,
    /// Missing (an older collector): enabled, as rules are by default.
    #[serde(default = "enabled_by_default")]
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
    #[serde(default)]
    pub evictions: u64,
}

fn enabled_by_default() -> bool {
    true
}

/// `GET /v1/rules`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RulesView {
    pub dir: String,
    pub rules: Vec<RuleView>,
    /// Errors of the last failed reload (the previous rules keep running).
    pub load_errors: Vec<String>,
    pub load_errors_at_ms: Option<i64>,
}

/// `GET /v1/stats`: running totals a client turns into rates, and the
/// collector's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub now_ms: i64,
    pub events_total: u64,
    pub duplicate_events_total: u64,
    pub batches_total: u64,
    pub incidents_opened_total: u64,
    pub stream_clients: i64,
}

/// `GET /v1/incidents`: a page, newest first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IncidentPage {
    #[serde(default)]
    pub incidents: Vec<Incident>,
    /// `before=` of the next page; `None` on the last one.
    #[serde(default)]
    pub next_before: Option<i64>,
}

/// `GET /v1/incidents/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDetail {
    pub incident: Incident,
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
}

/// `POST /v1/incidents/{id}/{action}`: the incident after the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentResult {
    pub incident: Incident,
}

/// `GET /v1/silences`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SilenceList {
    pub silences: Vec<Silence>,
}

/// `POST /v1/silences`: the silence made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceCreated {
    pub silence: Silence,
}

/// `GET /healthz`, `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    /// `ok` (alive) or `ready` (the store answers).
    pub status: String,
}

/// Data of an `incident` item of `/v1/stream`: an incident changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentChange {
    /// `opened`, `reopened`, `updated`, `acked`, … (a string: changes grow).
    pub change: String,
    pub incident: Box<Incident>,
}

/// Data of a `lagged` item of `/v1/stream`: items this client missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Lagged {
    pub missed: u64,
}

/// What `/v1/stream` sends in its `incident` and `event` items (JSON with
/// a `type` tag). Clients read `incident` data as [`IncidentChange`] and
/// `event` data as loose JSON (event kinds grow).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamItem {
    /// An incident changed.
    Incident(IncidentChange),
    /// An accepted event (live tail).
    Event {
        agent: String,
        #[serde(flatten)]
        event: Box<Event>,
    },
}

impl StreamItem {
    /// The SSE `event:` name of this item.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Incident(_) => STREAM_INCIDENT,
            Self::Event { .. } => STREAM_EVENT,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn agents_read_leniently() {
        let a: AgentView = serde_json::from_str(
            r#"{"name":"h1","status":"online","labels":{"district":"城关区"},"host":{"cpu_pct":12.5,"memory_used":50,"memory_total":200,"extra":1},"capture":{"kernel_drops":3,"agent_drops":4},"future":true}"#,
        )
        .unwrap();
        assert!(a.online());
        assert_eq!(a.label("district"), "城关区");
        assert_eq!(a.mem_pct(), Some(25.0));
        assert_eq!(a.drops(), Some(7));
        let b: AgentView = serde_json::from_str(r#"{"name":"h2","status":"hibernating"}"#).unwrap();
        assert_eq!(b.status, AgentStatus::Unknown);
    }

    #[test]
    fn an_agent_view_keeps_its_wire_form() {
        let v = serde_json::to_value(AgentView {
            name: "h1".into(),
            status: AgentStatus::NeverSeen,
            ..AgentView::default()
        })
        .unwrap();
        assert_eq!(v["status"], "never_seen");
        assert_eq!(v["labels"], serde_json::Value::Null);
        assert_eq!(v["queue"], serde_json::Value::Null);
        assert_eq!(v["skipped"], serde_json::json!([]));
        for absent in ["stopping", "limits", "capture", "host_sample", "listening"] {
            assert!(v.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn the_error_body_has_code_and_message() {
        let s = serde_json::to_string(&ErrorBody::new("not_found", "no such endpoint")).unwrap();
        assert_eq!(
            s,
            r#"{"error":{"code":"not_found","message":"no such endpoint"}}"#
        );
        assert_eq!(
            ErrorBody::message_of(&s).as_deref(),
            Some("no such endpoint")
        );
        assert_eq!(ErrorBody::message_of("<html>"), None);
    }

    #[test]
    fn stream_items_are_tagged_with_their_type() {
        let lag = serde_json::to_string(&Lagged { missed: 3 }).unwrap();
        assert_eq!(lag, r#"{"missed":3}"#);
        let item = StreamItem::Event {
            agent: "web-1".into(),
            event: Box::new(Event::new(
                crate::Timestamp(17),
                crate::EventBody::Notice(crate::Notice {
                    level: crate::Level::Info,
                    component: "t".into(),
                    message: "m".into(),
                }),
            )),
        };
        assert_eq!(item.name(), STREAM_EVENT);
        let v = serde_json::to_value(&item).unwrap();
        assert_eq!(
            (v["type"].as_str(), v["agent"].as_str()),
            (Some("event"), Some("web-1"))
        );
    }
}
