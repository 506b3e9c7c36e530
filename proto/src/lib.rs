//! Wire types of shouwang (守望): what an agent sends to the collector.
//!
//! An agent ships [`Batch`]es of [`Event`]s. Every event carries its capture
//! timestamp ([`Timestamp`], nanoseconds since the Unix epoch) and a body whose
//! `kind` names what it is. Detection rules refer to the field names defined
//! here, so renaming a field is a protocol change.
//!
//! This crate does no I/O and depends on no runtime: it is values and their
//! JSON form, shared by the agent, the collector, the console and the drill
//! runner. The format is documented for people in `docs/protocol.md`.

pub mod api;
mod auth;
mod batch;
#[cfg(feature = "body")]
pub mod body;
pub mod config;
mod host;
pub mod incident;
mod integrity;
mod packet;

pub use auth::{AuthEvent, AuthOutcome, AuthService};
pub use batch::{
    AGENT_NAME_MAX, Batch, BatchError, DataClass, DataGap, Event, EventBody, EventKind, Heartbeat,
    IntegrityStatus, Level, LimitStatus, MAX_EVENTS_PER_BATCH, Notice, PROTOCOL_VERSION,
    QueueStats, Skipped, Timestamp, valid_agent_name,
};
pub use host::{
    CpuSample, DiskSample, HostSample, InterfaceSample, ListenChange, ListenSnapshot, ListenSocket,
    LoadAverage, MemorySample, ProcessInfo, ProcessSummary, Session, SocketChange, TransportProto,
};
pub use incident::{
    Bilingual, DutyEntry, DutyKind, DutyView, Incident, IncidentState, Matcher, Resolution,
    Severity, Silence, TimelineEntry,
};
pub use integrity::{FileChange, FileChangeKind, SiteCheck};
pub use packet::{
    AppProto, ArpObservation, DnsAnswer, DnsEvent, EchoContext, EchoPairing, Endpoints,
    FanDirection, Fanout, FlowEnd, FlowRecord, HttpRequest, HttpResponse, IcmpEcho, IfaceStats,
    LoginReply, SshBanner, TcpState, TlsClientHello, WINDOW_PORTS_MANY,
};

/// Path of the ingest endpoint on the collector.
pub const INGEST_PATH: &str = "/v1/ingest";
/// Header an agent sets to say which protocol version its body is in; the
/// body's own `version` field is authoritative.
pub const VERSION_HEADER: &str = "x-shouwang-protocol";
