//! Incidents as the API serves them (console, drill and notifiers read
//! these shapes).

use serde::{Deserialize, Serialize};

/// How bad an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Self; 5] = [
        Self::Info,
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Critical,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an incident is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    Open,
    Acknowledged,
    Resolved,
}

impl IncidentState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Acknowledged, Self::Resolved]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// How an incident was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// An operator resolved it.
    Operator,
    /// The condition cleared (site up, agent back, load down).
    Auto,
    /// An operator resolved it as a false positive (an exception was made).
    FalsePositive,
}

/// A text in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Bilingual {
    pub en: String,
    pub zh: String,
}

/// One incident: a rule and a group key, however often it recurs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    /// `rule id` + `/` + group key: what recurrences are matched on.
    pub fingerprint: String,
    pub rule: String,
    pub title: Bilingual,
    pub description: Bilingual,
    pub severity: Severity,
    /// MITRE ATT&CK technique ids.
    pub attack: Vec<String>,
    /// `name=value` pairs the rule groups by (`src=203.0.113.5`).
    pub group: String,
    pub state: IncidentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// Events (or distinct values) counted over all detections.
    pub count: u64,
    /// How many times the rule fired for this incident.
    pub detections: u64,
    /// Event time of the first and latest detection, ns.
    pub first_ts: i64,
    pub last_ts: i64,
    /// Wall-clock times, ms since the epoch.
    pub opened_ms: i64,
    pub updated_ms: i64,
    /// Bumped on every change; stores keep the highest.
    #[serde(default)]
    pub rev: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Agents that reported evidence (at most 16).
    pub agents: Vec<String>,
    /// Set when the evidence came from an exercise (drill, replay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exercise: Option<String>,
    /// A sample of the events that made the rule fire (bounded).
    pub evidence: Vec<serde_json::Value>,
    /// Unacknowledged past the escalation time.
    #[serde(default)]
    pub escalated: bool,
    /// A silence matched it: recorded, not notified.
    #[serde(default)]
    pub silenced: bool,
    /// Times it came back after being resolved.
    #[serde(default)]
    pub reopened: u32,
    /// Capture time (ns) the activity began: the earliest `first_ts` (or
    /// event time) of the events the rule counted. None for rules that
    /// fire on silence (absence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<i64>,
    /// How long after `first_seen` the incident opened, ms: on the wall
    /// clock for live traffic, on event time for a replay of an old
    /// capture (docs/rules.md, "Detection delay").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_delay_ms: Option<i64>,
}

/// An entry in an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub ts_ms: i64,
    /// Token name of the operator, or `system`.
    pub actor: String,
    /// opened, reopened, acknowledged, resolved, auto_resolved, note,
    /// assigned, escalated.
    pub action: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
}

/// One condition of a silence; all of a silence's matchers must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// `rule`, `severity`, `agent`, `group` or `attack`.
    pub field: String,
    /// Exact value; for `group` a substring (`src=203.0.113.5`); for
    /// `attack` a prefix (`T1110` matches `T1110.001`); for `rule` a
    /// trailing `*` matches a prefix.
    pub value: String,
}

/// Incidents matching every matcher are recorded but not notified until
/// the silence expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: i64,
    pub matchers: Vec<Matcher>,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

/// What an entry of the duty (shift) log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DutyKind {
    /// An engineer took the watch; the text is the name shown as on duty.
    Start,
    /// A note for the next shift.
    Handover,
    /// Anything worth writing down during the shift.
    Note,
    /// The watch ended without a successor taking it yet.
    End,
}

impl DutyKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Handover => "handover",
            Self::Note => "note",
            Self::End => "end",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Start, Self::Handover, Self::Note, Self::End]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One entry of the duty log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DutyEntry {
    pub id: i64,
    pub ts_ms: i64,
    /// Token name of whoever wrote it.
    pub actor: String,
    pub kind: DutyKind,
    #[serde(default)]
    pub text: String,
}

/// `GET /v1/duty`: who is on duty and the log of the current and previous
/// shift.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DutyView {
    /// The `start` entry of the shift under way, if one is.
    #[serde(default)]
    pub on_duty: Option<DutyEntry>,
    /// Newest first: the current shift's entries, then the previous
    /// shift's (its handover notes are what the current shift read).
    pub entries: Vec<DutyEntry>,
}
