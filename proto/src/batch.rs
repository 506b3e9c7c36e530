//! Batches, events and their envelope.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{
    ArpObservation, AuthEvent, DnsEvent, Fanout, FileChange, FlowRecord, HostSample, HttpRequest,
    HttpResponse, IcmpEcho, IfaceStats, ListenChange, ListenSnapshot, LoginReply, SiteCheck,
    SshBanner, TlsClientHello,
};

/// Version of the batch format this crate reads and writes.
///
/// A collector refuses batches whose `version` is newer than the one it was
/// built with, so an old collector never half-understands a new agent.
pub const PROTOCOL_VERSION: u16 = 1;

/// Upper bound on events in one batch; the collector refuses larger batches.
pub const MAX_EVENTS_PER_BATCH: usize = 10_000;

/// Longest agent name accepted.
pub const AGENT_NAME_MAX: usize = 64;

/// Whether `name` may name an agent: 1 to 64 of `A-Z a-z 0-9 . _ -`, not
/// starting with `.` or `-`.
///
/// Names appear as Prometheus label values and inside tokens, so the set is
/// kept small and printable.
pub fn valid_agent_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= AGENT_NAME_MAX
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Capture time: nanoseconds since 1970-01-01T00:00:00Z.
///
/// Rules run on this time, never on the collector's wall clock, so a replayed
/// capture from 2011 behaves like live traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From whole seconds since the epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1_000_000_000))
    }

    /// From nanoseconds since the epoch.
    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    /// From a `SystemTime`; times before the epoch become negative.
    pub fn from_system_time(t: std::time::SystemTime) -> Self {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Self(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            Err(e) => Self(-i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX)),
        }
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded towards negative infinity).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }

    /// Seconds since the epoch as a float, for Prometheus.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}",
            self.as_secs(),
            self.0.rem_euclid(1_000_000_000)
        )
    }
}

/// What an agent sends in one `POST /v1/ingest`.
///
/// Events are numbered: the first event of the batch has sequence number
/// `first_seq`, the next `first_seq + 1`, and so on. Sequence numbers of an
/// agent only grow, across restarts too, and the collector stores an
/// `(agent, seq)` pair at most once, so re-sending a batch is always safe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// Format version; see [`PROTOCOL_VERSION`].
    pub version: u16,
    /// Agent name; must match the agent the token was issued to.
    pub agent: String,
    /// Sequence number of `events[0]`.
    pub first_seq: u64,
    /// Exercise (drill) name: events replayed or generated for an exercise;
    /// incidents they raise carry the tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exercise: Option<String>,
    /// The events, in the order the agent produced them.
    pub events: Vec<Event>,
}

/// Why a batch is not acceptable, apart from JSON syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("unsupported protocol version {found}; this build reads versions 1 to {supported}")]
    Version { found: u16, supported: u16 },
    #[error("batch has no events")]
    Empty,
    #[error("batch has {found} events; at most {max} are accepted per batch")]
    TooManyEvents { found: usize, max: usize },
    #[error("sequence numbers overflow: first_seq {first_seq} + {count} events passes 2^64")]
    SeqOverflow { first_seq: u64, count: usize },
    #[error("invalid agent name {0:?}: use 1-64 of A-Z a-z 0-9 . _ -")]
    AgentName(String),
    #[error("invalid exercise name {0:?}: use 1-64 of A-Z a-z 0-9 . _ -")]
    Exercise(String),
}

impl Batch {
    /// A batch in the current protocol version.
    pub fn new(agent: impl Into<String>, first_seq: u64, events: Vec<Event>) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            agent: agent.into(),
            first_seq,
            exercise: None,
            events,
        }
    }

    /// Checks what JSON parsing cannot: version, size, sequence range, name.
    pub fn validate(&self) -> Result<(), BatchError> {
        if self.version == 0 || self.version > PROTOCOL_VERSION {
            return Err(BatchError::Version {
                found: self.version,
                supported: PROTOCOL_VERSION,
            });
        }
        if !valid_agent_name(&self.agent) {
            return Err(BatchError::AgentName(self.agent.clone()));
        }
        if let Some(x) = &self.exercise
            && !valid_agent_name(x)
        {
            return Err(BatchError::Exercise(x.clone()));
        }
        if self.events.is_empty() {
            return Err(BatchError::Empty);
        }
        if self.events.len() > MAX_EVENTS_PER_BATCH {
            return Err(BatchError::TooManyEvents {
                found: self.events.len(),
                max: MAX_EVENTS_PER_BATCH,
            });
        }
        if self
            .first_seq
            .checked_add(self.events.len() as u64)
            .is_none()
        {
            return Err(BatchError::SeqOverflow {
                first_seq: self.first_seq,
                count: self.events.len(),
            });
        }
        Ok(())
    }

    /// `(seq, event)` pairs.
    pub fn numbered(&self) -> impl Iterator<Item = (u64, &Event)> {
        (self.first_seq..).zip(self.events.iter())
    }
}

/// One thing an agent observed, at the time it observed it.
///
/// In JSON the body's fields sit beside `ts`, with `kind` naming the body:
/// `{"ts": 1700000000000000000, "kind": "auth", "service": "sshd", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Capture time.
    pub ts: Timestamp,
    /// What was observed.
    #[serde(flatten)]
    pub body: EventBody,
}

/// The general (slow) shape, for objects whose keys are not in the usual
/// order.
#[derive(Deserialize)]
struct EventAnyOrder {
    ts: Timestamp,
    #[serde(flatten)]
    body: EventBody,
}

/// A key of an event object, told apart without allocating for the two
/// the fast path needs.
enum EventKey {
    Ts,
    Kind,
    Other(String),
}

impl<'de> Deserialize<'de> for EventKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = EventKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EventKey, E> {
                Ok(match v {
                    "ts" => EventKey::Ts,
                    "kind" => EventKey::Kind,
                    other => EventKey::Other(other.to_owned()),
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = EventKind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event kind")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EventKind, E> {
                EventKind::ALL
                    .into_iter()
                    .find(|k| k.as_str() == v)
                    .ok_or_else(|| {
                        E::custom(format!(
                            "unknown event kind {v:?}; this build reads {}",
                            EventKind::ALL.map(EventKind::as_str).join(", ")
                        ))
                    })
            }
        }
        d.deserialize_str(V)
    }
}

/// Events are read in one pass when `ts` and `kind` come first (as agents
/// write them): the body's fields are then parsed straight into the body
/// type. Any other key order takes the general path, which buffers the
/// object first.
impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EventVisitor)
    }
}

struct EventVisitor;

fn body_from<'de, A: serde::de::MapAccess<'de>>(
    kind: EventKind,
    map: A,
) -> Result<EventBody, A::Error> {
    use serde::de::value::MapAccessDeserializer as M;
    let d = M::new(map);
    Ok(match kind {
        EventKind::Heartbeat => EventBody::Heartbeat(Box::new(Deserialize::deserialize(d)?)),
        EventKind::HostSample => EventBody::HostSample(Box::new(Deserialize::deserialize(d)?)),
        EventKind::ListenSnapshot => EventBody::ListenSnapshot(Deserialize::deserialize(d)?),
        EventKind::ListenChange => EventBody::ListenChange(Deserialize::deserialize(d)?),
        EventKind::Auth => EventBody::Auth(Box::new(Deserialize::deserialize(d)?)),
        EventKind::Notice => EventBody::Notice(Deserialize::deserialize(d)?),
        EventKind::Flow => EventBody::Flow(Deserialize::deserialize(d)?),
        EventKind::IfaceStats => EventBody::IfaceStats(Deserialize::deserialize(d)?),
        EventKind::Dns => EventBody::Dns(Box::new(Deserialize::deserialize(d)?)),
        EventKind::Tls => EventBody::Tls(Deserialize::deserialize(d)?),
        EventKind::HttpRequest => EventBody::HttpRequest(Box::new(Deserialize::deserialize(d)?)),
        EventKind::HttpResponse => EventBody::HttpResponse(Deserialize::deserialize(d)?),
        EventKind::SshBanner => EventBody::SshBanner(Deserialize::deserialize(d)?),
        EventKind::IcmpEcho => EventBody::IcmpEcho(Deserialize::deserialize(d)?),
        EventKind::Fanout => EventBody::Fanout(Deserialize::deserialize(d)?),
        EventKind::LoginReply => EventBody::LoginReply(Deserialize::deserialize(d)?),
        EventKind::Arp => EventBody::Arp(Deserialize::deserialize(d)?),
        EventKind::FileChange => EventBody::FileChange(Deserialize::deserialize(d)?),
        EventKind::SiteCheck => EventBody::SiteCheck(Box::new(Deserialize::deserialize(d)?)),
        EventKind::DataGap => EventBody::DataGap(Deserialize::deserialize(d)?),
    })
}

impl<'de> serde::de::Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object with `ts` and `kind`")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let mut slow = serde_json::Map::new();
        match map.next_key::<EventKey>()? {
            Some(EventKey::Ts) => {
                let ts: Timestamp = map.next_value()?;
                match map.next_key::<EventKey>()? {
                    Some(EventKey::Kind) => {
                        let kind: EventKind = map.next_value()?;
                        return Ok(Event::new(ts, body_from(kind, map)?));
                    }
                    Some(EventKey::Ts) => return Err(serde::de::Error::duplicate_field("ts")),
                    Some(EventKey::Other(k)) => {
                        slow.insert("ts".into(), serde_json::Value::from(ts.0));
                        slow.insert(k, map.next_value()?);
                    }
                    None => return Err(serde::de::Error::missing_field("kind")),
                }
            }
            Some(EventKey::Kind) => {
                let kind: EventKind = map.next_value()?;
                slow.insert("kind".into(), serde_json::Value::from(kind.as_str()));
            }
            Some(EventKey::Other(k)) => {
                slow.insert(k, map.next_value()?);
            }
            None => return Err(serde::de::Error::missing_field("ts")),
        }
        while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
            slow.insert(k, v);
        }
        let e: EventAnyOrder = serde_json::from_value(serde_json::Value::Object(slow))
            .map_err(serde::de::Error::custom)?;
        Ok(Event::new(e.ts, e.body))
    }
}

impl Event {
    pub fn new(ts: Timestamp, body: EventBody) -> Self {
        Self { ts, body }
    }

    pub fn kind(&self) -> EventKind {
        self.body.kind()
    }

    /// Capture time (ns) the activity this event describes began: an
    /// event that summarises an activity (a flow record: its first packet)
    /// carries it as `first_ts`; any other event began at its own time.
    /// Never later than the event's time (a clock that went back, or a
    /// field left 0, falls back to it).
    pub fn activity_start(&self) -> i64 {
        let ts = self.ts.as_nanos();
        let first = match &self.body {
            EventBody::Flow(f) => f.first_ts,
            // A flood's start is its burst's, not the hour-long activity's.
            EventBody::Fanout(f) if f.burst_ts > 0 => f.burst_ts,
            EventBody::Fanout(f) => f.first_ts,
            _ => ts,
        };
        if first > 0 && first < ts { first } else { ts }
    }
}

/// The kinds of event. New kinds (packet flows, protocol metadata, integrity
/// findings) are added as variants; an old collector refuses a batch with a
/// kind it does not know rather than dropping it silently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// Agent liveness, identity and pipeline health.
    Heartbeat(Box<Heartbeat>),
    /// Periodic host metrics.
    HostSample(Box<HostSample>),
    /// The full set of listening sockets (at start and periodically).
    ListenSnapshot(ListenSnapshot),
    /// A listening socket opened or closed.
    ListenChange(ListenChange),
    /// A login, su or sudo attempt from the system auth log.
    Auth(Box<AuthEvent>),
    /// Something the agent itself wants an operator to know.
    Notice(Notice),
    /// A bidirectional flow record.
    Flow(FlowRecord),
    /// Per-interval capture statistics.
    IfaceStats(IfaceStats),
    /// A DNS query or response.
    Dns(Box<DnsEvent>),
    /// A TLS ClientHello.
    Tls(TlsClientHello),
    /// An HTTP/1.x request.
    HttpRequest(Box<HttpRequest>),
    /// An HTTP/1.x response status.
    HttpResponse(HttpResponse),
    /// An SSH identification string.
    SshBanner(SshBanner),
    /// An ICMP echo request or reply.
    IcmpEcho(IcmpEcho),
    /// Per-packet fan-out / fan-in counters of one address (scans, floods).
    Fanout(Fanout),
    /// A clear-text login reply (FTP, POP3, IMAP, SMTP).
    LoginReply(LoginReply),
    /// An ARP IP↔MAC observation.
    Arp(ArpObservation),
    /// A file under a watched web root changed.
    FileChange(FileChange),
    /// A remote check of a public page.
    SiteCheck(Box<SiteCheck>),
    /// Telemetry the agent dropped before the collector had it.
    DataGap(DataGap),
}

impl EventBody {
    pub fn kind(&self) -> EventKind {
        match self {
            Self::Heartbeat(_) => EventKind::Heartbeat,
            Self::HostSample(_) => EventKind::HostSample,
            Self::ListenSnapshot(_) => EventKind::ListenSnapshot,
            Self::ListenChange(_) => EventKind::ListenChange,
            Self::Auth(_) => EventKind::Auth,
            Self::Notice(_) => EventKind::Notice,
            Self::Flow(_) => EventKind::Flow,
            Self::IfaceStats(_) => EventKind::IfaceStats,
            Self::Dns(_) => EventKind::Dns,
            Self::Tls(_) => EventKind::Tls,
            Self::HttpRequest(_) => EventKind::HttpRequest,
            Self::HttpResponse(_) => EventKind::HttpResponse,
            Self::SshBanner(_) => EventKind::SshBanner,
            Self::IcmpEcho(_) => EventKind::IcmpEcho,
            Self::Fanout(_) => EventKind::Fanout,
            Self::LoginReply(_) => EventKind::LoginReply,
            Self::Arp(_) => EventKind::Arp,
            Self::FileChange(_) => EventKind::FileChange,
            Self::SiteCheck(_) => EventKind::SiteCheck,
            Self::DataGap(_) => EventKind::DataGap,
        }
    }
}

/// The `kind` of an event without its body: a bounded metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Heartbeat,
    HostSample,
    ListenSnapshot,
    ListenChange,
    Auth,
    Notice,
    Flow,
    IfaceStats,
    Dns,
    Tls,
    HttpRequest,
    HttpResponse,
    SshBanner,
    IcmpEcho,
    Fanout,
    LoginReply,
    Arp,
    FileChange,
    SiteCheck,
    DataGap,
}

impl EventKind {
    /// Every kind, for pre-registering metrics.
    pub const ALL: [EventKind; 20] = [
        Self::Heartbeat,
        Self::HostSample,
        Self::ListenSnapshot,
        Self::ListenChange,
        Self::Auth,
        Self::Notice,
        Self::Flow,
        Self::IfaceStats,
        Self::Dns,
        Self::Tls,
        Self::HttpRequest,
        Self::HttpResponse,
        Self::SshBanner,
        Self::IcmpEcho,
        Self::Fanout,
        Self::LoginReply,
        Self::Arp,
        Self::FileChange,
        Self::SiteCheck,
        Self::DataGap,
    ];

    /// The `kind` string used on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Heartbeat => "heartbeat",
            Self::HostSample => "host_sample",
            Self::ListenSnapshot => "listen_snapshot",
            Self::ListenChange => "listen_change",
            Self::Auth => "auth",
            Self::Notice => "notice",
            Self::Flow => "flow",
            Self::IfaceStats => "iface_stats",
            Self::Dns => "dns",
            Self::Tls => "tls",
            Self::HttpRequest => "http_request",
            Self::HttpResponse => "http_response",
            Self::SshBanner => "ssh_banner",
            Self::IcmpEcho => "icmp_echo",
            Self::Fanout => "fanout",
            Self::LoginReply => "login_reply",
            Self::Arp => "arp",
            Self::FileChange => "file_change",
            Self::SiteCheck => "site_check",
            Self::DataGap => "data_gap",
        }
    }
}

impl EventKind {
    /// What the agent drops first when its spool is full: host samples and
    /// pipeline statistics, then network telemetry, and security events last.
    pub const fn class(self) -> DataClass {
        match self {
            Self::Heartbeat | Self::HostSample | Self::IfaceStats => DataClass::Host,
            Self::ListenSnapshot
            | Self::Flow
            | Self::Dns
            | Self::Tls
            | Self::HttpRequest
            | Self::HttpResponse
            | Self::SshBanner
            | Self::IcmpEcho
            | Self::Fanout
            | Self::LoginReply
            | Self::Arp => DataClass::Network,
            Self::ListenChange
            | Self::Auth
            | Self::Notice
            | Self::FileChange
            | Self::SiteCheck
            | Self::DataGap => DataClass::Security,
        }
    }
}

/// How much an event is worth keeping when something must go, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// Host samples, heartbeats, capture statistics.
    Host = 0,
    /// Flows and protocol metadata.
    Network = 1,
    /// Logins, file changes, site checks, notices, data gaps.
    Security = 2,
}

impl DataClass {
    pub const ALL: [DataClass; 3] = [Self::Host, Self::Network, Self::Security];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Network => "network",
            Self::Security => "security",
        }
    }

    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Host),
            1 => Some(Self::Network),
            2 => Some(Self::Security),
            _ => None,
        }
    }
}

/// Telemetry an agent dropped before the collector acknowledged it (its
/// spool was full, or a spooled batch was unreadable). One event covers the
/// drops since the previous one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DataGap {
    /// Batches and events dropped.
    pub batches: u64,
    pub events: u64,
    /// Dropped events by class (`host`, `network`, `security`).
    pub host_events: u64,
    pub network_events: u64,
    pub security_events: u64,
    /// Sequence numbers of the dropped events: `[first, end)` ranges, merged.
    pub seq_ranges: Vec<(u64, u64)>,
    /// Event time of the oldest and newest dropped event, ns.
    pub from_ts: i64,
    pub to_ts: i64,
    /// Why, e.g. `spool full (64 MiB, 2048 batches)`.
    pub reason: String,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sent at agent start and then every heartbeat interval.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Agent build version (`CARGO_PKG_VERSION`).
    pub agent_version: String,
    /// First 16 hex digits of the BLAKE3 hash of the agent's config file
    /// bytes (or of the built-in default), to spot drift across a fleet.
    pub config_hash: String,
    /// Host name as the kernel reports it.
    pub hostname: String,
    /// Operating system name and version, e.g. `Debian GNU/Linux 12`.
    pub os: String,
    /// Kernel release.
    pub kernel: String,
    /// Labels from the agent config: region hierarchy (`district`, `town`,
    /// `site`), `role`, and any others the operator set.
    pub labels: BTreeMap<String, String>,
    /// Host sampling interval in milliseconds.
    pub sample_interval_ms: u64,
    /// Boot time of the host, seconds since the epoch.
    pub boot_time: i64,
    /// The agent's upload pipeline.
    pub queue: QueueStats,
    /// Telemetry the agent is not collecting, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// Web-root integrity counters, when the agent guards any root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<IntegrityStatus>,
    /// Set on the last heartbeat of a graceful shutdown: why the agent is
    /// stopping (`SIGTERM`, …). A collector does not raise "agent silent"
    /// for an agent that said goodbye.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping: Option<String>,
    /// The agent's own resource use against its budgets, and what it shed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitStatus>,
}

/// The agent protecting its host: its CPU and memory against the
/// configured budgets, and what it held back to stay within them.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LimitStatus {
    /// CPU used by the agent over the last second, percent of one core.
    pub cpu_pct: f32,
    pub cpu_budget_pct: f32,
    /// Resident memory of the agent.
    pub rss_bytes: u64,
    pub memory_budget_bytes: u64,
    /// Over a budget now: capture is sampled and rescans slowed.
    pub overloaded: bool,
    /// Seconds spent overloaded since start.
    pub overloaded_secs: u64,
    /// Capture keeps one frame in this many (1: every frame).
    pub sample_every: u32,
    /// Frames skipped by sampling since start.
    pub sampled_out_frames: u64,
    /// The events-per-second cap, and events it dropped since start (host
    /// and network telemetry only; security events are never capped).
    pub max_events_per_sec: u64,
    pub rate_limited_host_events: u64,
    pub rate_limited_network_events: u64,
    /// Time integrity rescans spent waiting on their pace, ms.
    pub rescan_paced_ms: u64,
}

/// Web-root integrity counters of an agent since it started (summed over
/// its roots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IntegrityStatus {
    pub roots: u64,
    /// Files in the baselines.
    pub files: u64,
    /// Changes reported (authorised or not).
    pub changes: u64,
    pub authorised: u64,
    pub restores: u64,
    pub restore_failures: u64,
    pub quarantined: u64,
    pub rescans: u64,
    /// Changes found by rescans that the watcher missed.
    pub rescan_found: u64,
    /// Watcher overflows and errors that forced a rescan.
    pub overflows: u64,
    /// Roots polled because they cannot be watched (watch limit).
    pub polling_roots: u64,
}

/// Counters of the agent's shipping pipeline since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueStats {
    /// Batches waiting to be uploaded.
    pub queued_batches: u64,
    /// Batches accepted by the collector.
    pub sent_batches: u64,
    /// Upload attempts that failed and will be retried.
    pub failed_uploads: u64,
    /// Batches dropped because the queue was full (oldest first).
    pub dropped_batches: u64,
    /// Events inside the dropped batches.
    pub dropped_events: u64,
    /// Batches the collector refused as invalid (not retried).
    pub rejected_batches: u64,
    /// Compressed bytes waiting (in the spool or in memory).
    #[serde(default)]
    pub queued_bytes: u64,
    /// The bound on `queued_bytes`.
    #[serde(default)]
    pub max_bytes: u64,
    /// Whether batches wait on disk (a spool) rather than in memory.
    #[serde(default)]
    pub durable: bool,
    /// Dropped events by class: host samples go first, security events last.
    #[serde(default)]
    pub dropped_host_events: u64,
    #[serde(default)]
    pub dropped_network_events: u64,
    #[serde(default)]
    pub dropped_security_events: u64,
    /// Spool writes that failed (the batch was kept in memory instead).
    #[serde(default)]
    pub write_errors: u64,
    /// Spooled batches found unreadable (moved aside, counted as dropped).
    #[serde(default)]
    pub corrupt_batches: u64,
    /// Uploads the collector deferred with 429/503 (overloaded).
    #[serde(default)]
    pub deferred_uploads: u64,
}

/// A part of the telemetry the agent does not collect, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// e.g. `auth-log`, `listening-sockets.owner`.
    pub component: String,
    /// Human-readable reason and fix.
    pub reason: String,
}

/// Severity of a [`Notice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Info,
    Warning,
    Error,
}

/// A message from the agent about itself (a log file rotated, a source
/// failing, the host rebooted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub level: Level,
    /// The part of the agent speaking, e.g. `auth-log`.
    pub component: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuthOutcome, AuthService};

    fn auth_event() -> Event {
        Event::new(
            Timestamp::from_secs(1_700_000_000),
            EventBody::Auth(Box::new(AuthEvent {
                service: AuthService::Sshd,
                outcome: AuthOutcome::Failure,
                user: "root".into(),
                source_addr: Some("192.0.2.7".parse().unwrap()),
                source_port: Some(50022),
                source_host: None,
                method: Some("password".into()),
                target_user: None,
                invalid_user: false,
                hostname: Some("web-01".into()),
                message: "Failed password for root from 192.0.2.7 port 50022 ssh2".into(),
            })),
        )
    }

    #[test]
    fn event_json_has_kind_beside_ts() {
        let json = serde_json::to_value(auth_event()).unwrap();
        assert_eq!(json["ts"], 1_700_000_000_000_000_000i64);
        assert_eq!(json["kind"], "auth");
        assert_eq!(json["service"], "sshd");
        assert_eq!(json["outcome"], "failure");
        assert_eq!(json["source_addr"], "192.0.2.7");
    }

    #[test]
    fn batch_round_trips() {
        let b = Batch::new("web-01", 41, vec![auth_event(), auth_event()]);
        let bytes = serde_json::to_vec(&b).unwrap();
        let back: Batch = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, b);
        let seqs: Vec<u64> = back.numbered().map(|(s, _)| s).collect();
        assert_eq!(seqs, vec![41, 42]);
    }

    #[test]
    fn unknown_kind_is_an_error_naming_it() {
        let err = serde_json::from_str::<Event>(r#"{"ts":1,"kind":"martian","bytes":3}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown event kind \"martian\""), "{err}");
    }

    #[test]
    fn validate_rejects_bad_batches() {
        let mut b = Batch::new("web-01", 0, vec![]);
        assert_eq!(b.validate(), Err(BatchError::Empty));
        b.events.push(auth_event());
        assert_eq!(b.validate(), Ok(()));
        b.version = 2;
        assert!(matches!(
            b.validate(),
            Err(BatchError::Version { found: 2, .. })
        ));
        b.version = 1;
        b.first_seq = u64::MAX;
        assert!(matches!(b.validate(), Err(BatchError::SeqOverflow { .. })));
        b.first_seq = 0;
        b.agent = "bad name".into();
        assert!(matches!(b.validate(), Err(BatchError::AgentName(_))));
    }

    #[test]
    fn agent_names() {
        assert!(valid_agent_name("gw-district3.site_7"));
        assert!(!valid_agent_name(""));
        assert!(!valid_agent_name("-x"));
        assert!(!valid_agent_name("a:b"));
        assert!(!valid_agent_name("主机"));
        assert!(!valid_agent_name(&"a".repeat(65)));
    }

    #[test]
    fn timestamps_before_epoch() {
        let t = Timestamp::from_nanos(-1);
        assert_eq!(t.as_secs(), -1);
        assert_eq!(t.to_string(), "-1.999999999");
        let st = std::time::UNIX_EPOCH - std::time::Duration::from_secs(2);
        assert_eq!(Timestamp::from_system_time(st).as_secs(), -2);
    }

    fn endpoints() -> crate::Endpoints {
        crate::Endpoints {
            src: "192.0.2.1".parse().unwrap(),
            src_port: 1234,
            dst: "192.0.2.2".parse().unwrap(),
            dst_port: 80,
            app: crate::AppProto::Http,
        }
    }

    fn packet_body(kind: EventKind) -> EventBody {
        let ip: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        match kind {
            EventKind::Flow => {
                EventBody::Flow(crate::FlowRecord::syn_probe("eth0", (ip, 1), (ip, 2), 0))
            }
            EventKind::IfaceStats => EventBody::IfaceStats(crate::IfaceStats {
                iface: "eth0".into(),
                interval_ms: 1000,
                packets: 1,
                bytes: 1,
                packets_per_sec: 1.0,
                bits_per_sec: 8.0,
                syn: 0,
                syn_per_sec: 0.0,
                kernel_drops: 0,
                agent_drops: 0,
                malformed: 0,
                flow_evictions: 0,
            }),
            EventKind::Dns => EventBody::Dns(Box::new(crate::DnsEvent {
                endpoints: endpoints(),
                transport: "udp".into(),
                id: 1,
                response: false,
                qname: "example.org".into(),
                qtype: "A".into(),
                rcode: None,
                answers: vec![],
                size: 29,
            })),
            EventKind::Tls => EventBody::Tls(crate::TlsClientHello {
                endpoints: endpoints(),
                sni: None,
                version: "1.2".into(),
                alpn: vec![],
                ja4: "t12i000000_000000000000_000000000000".into(),
            }),
            EventKind::HttpRequest => EventBody::HttpRequest(Box::new(crate::HttpRequest {
                endpoints: endpoints(),
                method: "GET".into(),
                uri: "/".into(),
                version: "HTTP/1.1".into(),
                host: None,
                user_agent: None,
                headers: vec![],
            })),
            EventKind::HttpResponse => EventBody::HttpResponse(crate::HttpResponse {
                endpoints: endpoints(),
                version: "HTTP/1.1".into(),
                status: 200,
            }),
            EventKind::SshBanner => EventBody::SshBanner(crate::SshBanner {
                endpoints: endpoints(),
                banner: "SSH-2.0-x".into(),
                from_server: true,
            }),
            EventKind::IcmpEcho => EventBody::IcmpEcho(crate::IcmpEcho {
                src: ip,
                dst: ip,
                reply: false,
                payload_len: 56,
                entropy: 0.5,
                echo: crate::EchoContext::default(),
            }),
            EventKind::Fanout => EventBody::Fanout(crate::Fanout {
                direction: crate::FanDirection::Out,
                proto: 17,
                src: ip,
                dst: ip,
                dst_port: 161,
                first_ts: 1,
                burst_ts: 0,
                probes: 40,
                answered: 1,
                packets: 41,
                hosts: 1,
                ports: 39,
                recent_packets: 20,
                recent_unanswered: 20,
                recent_hosts: 0,
                recent_ports: 19,
                window_ports: 20,
                saturated: false,
            }),
            EventKind::LoginReply => EventBody::LoginReply(crate::LoginReply {
                endpoints: endpoints(),
                protocol: "ftp".into(),
                success: false,
                reply: "530 Login incorrect.".into(),
            }),
            EventKind::Arp => EventBody::Arp(crate::ArpObservation {
                ip,
                mac: "00:11:22:33:44:55".into(),
                previous_mac: None,
            }),
            other => unreachable!("{other} is not a packet kind"),
        }
    }

    #[test]
    fn a_fanout_starts_at_its_burst_when_it_has_one() {
        let EventBody::Fanout(mut f) = packet_body(EventKind::Fanout) else {
            unreachable!()
        };
        f.first_ts = 10_000_000_000;
        let ev =
            |f: &crate::Fanout| Event::new(Timestamp::from_secs(60), EventBody::Fanout(f.clone()));
        assert_eq!(ev(&f).activity_start(), 10_000_000_000);
        // Absent on the wire when 0 (out reports, old agents).
        assert!(!serde_json::to_string(&ev(&f)).unwrap().contains("burst_ts"));
        f.burst_ts = 55_000_000_000;
        assert_eq!(ev(&f).activity_start(), 55_000_000_000);
        let back: Event = serde_json::from_str(&serde_json::to_string(&ev(&f)).unwrap()).unwrap();
        assert_eq!(back, ev(&f));
    }

    #[test]
    fn every_kind_string_matches_serde() {
        for kind in EventKind::ALL {
            let quoted = format!("\"{}\"", kind.as_str());
            // The tag serde writes for each variant must equal as_str.
            let body = match kind {
                EventKind::Heartbeat => EventBody::Heartbeat(Box::default()),
                EventKind::HostSample => EventBody::HostSample(Box::default()),
                EventKind::ListenSnapshot => EventBody::ListenSnapshot(ListenSnapshot::default()),
                EventKind::ListenChange => EventBody::ListenChange(ListenChange {
                    change: crate::SocketChange::Opened,
                    socket: crate::ListenSocket {
                        proto: crate::TransportProto::Tcp,
                        addr: "0.0.0.0".parse().unwrap(),
                        port: 22,
                        pid: None,
                        process: None,
                        uid: None,
                    },
                }),
                EventKind::Auth => auth_event().body,
                EventKind::Notice => EventBody::Notice(Notice {
                    level: Level::Info,
                    component: "x".into(),
                    message: "y".into(),
                }),
                EventKind::FileChange => EventBody::FileChange(crate::FileChange {
                    size: Some(120),
                    sha256: Some("ab".repeat(32)),
                    restored: true,
                    old_path: Some("x.php".into()),
                    authorised: true,
                    diff: Some("@@ -1 +1 @@\n-a\n+b\n".into()),
                    signatures: vec!["eval-post".into()],
                    ..crate::FileChange::new(
                        "/var/www",
                        "shell.php",
                        crate::FileChangeKind::Renamed,
                    )
                }),
                EventKind::SiteCheck => EventBody::SiteCheck(Box::new(crate::SiteCheck {
                    error: Some("timeout".into()),
                    response_ms: 10_000,
                    tls_days_left: Some(12),
                    dns_addrs: vec!["192.0.2.1".into()],
                    hidden_links: vec!["http://spam.example/".into()],
                    slo_probes: 30,
                    slo_success_ratio: 0.9,
                    slo_failing: true,
                    ..crate::SiteCheck::new("https://www.example.gov.cn/")
                })),
                EventKind::DataGap => EventBody::DataGap(DataGap {
                    batches: 2,
                    events: 20,
                    host_events: 20,
                    seq_ranges: vec![(0, 20)],
                    reason: "spool full".into(),
                    ..Default::default()
                }),
                other => packet_body(other),
            };
            assert_eq!(body.kind(), kind);
            let ev = Event::new(Timestamp(0), body);
            let json = serde_json::to_string(&ev).unwrap();
            assert!(json.contains(&format!("\"kind\":{quoted}")), "{json}");
            assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), ev, "{json}");
        }
    }

    #[test]
    fn any_key_order_reads_the_same_event() {
        let usual = r#"{"ts":5,"kind":"notice","level":"info","component":"c","message":"m"}"#;
        let want: Event = serde_json::from_str(usual).unwrap();
        assert_eq!(want.ts, Timestamp(5));
        for other in [
            r#"{"kind":"notice","ts":5,"level":"info","component":"c","message":"m"}"#,
            r#"{"level":"info","component":"c","message":"m","kind":"notice","ts":5}"#,
            r#"{"ts":5,"level":"info","kind":"notice","component":"c","message":"m"}"#,
        ] {
            assert_eq!(
                serde_json::from_str::<Event>(other).unwrap(),
                want,
                "{other}"
            );
        }
        for bad in [
            r#"{"ts":5,"kind":"nope","x":1}"#,
            r#"{"ts":5}"#,
            r#"{"kind":"notice","level":"info","component":"c","message":"m"}"#,
            r#"{"ts":5,"ts":6,"kind":"notice"}"#,
            r#"{"ts":"x","kind":"notice","level":"info","component":"c","message":"m"}"#,
            r#"{"ts":5,"kind":"notice","level":"loud","component":"c","message":"m"}"#,
            r#"[]"#,
        ] {
            assert!(serde_json::from_str::<Event>(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(b) = serde_json::from_slice::<Batch>(&bytes) {
                let _ = b.validate();
            }
        }
    }
}
