//! Collector configuration (TOML, kebab-case keys, unknown keys rejected).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use shouwang_proto::config::parse_toml;

/// Address served when the config names none (loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9740";
/// Where the SQLite database lives.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/shouwang";
/// Largest request body accepted, before decompression.
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;
/// Largest request body after zstd decompression.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 32 * 1024 * 1024;
/// An agent not heard from for this long is shown offline.
pub const DEFAULT_OFFLINE_AFTER: Duration = Duration::from_secs(180);
/// Stored events older than this are deleted.
pub const DEFAULT_EVENT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where rules are read from by default.
pub const DEFAULT_RULES_DIR: &str = "/etc/shouwang/rules";

/// The configuration the demo and a bare `shouwang-collector` start with.
pub const EMBEDDED_DEFAULT: &str = include_str!("../collector.example.toml");

/// The whole collector configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CollectorConfig {
    /// Address and port to serve HTTP on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Directory for `shouwang.db` (SQLite, WAL mode).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub agents: AgentsConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub incidents: IncidentsConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Where incident notifications go (`[[notifiers]]`, any number).
    #[serde(default)]
    pub notifiers: Vec<crate::notify::NotifierConfig>,
}

/// TLS on the listener (see `tls.rs`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TlsConfig {
    /// Server certificate chain (PEM). Default: `<data-dir>/tls/server.crt`
    /// when it exists (`shouwang-collector certs init` writes it).
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// Require client certificates signed by this CA (mutual TLS).
    pub client_ca: Option<PathBuf>,
    /// Serve plaintext on a non-loopback address (behind a TLS-terminating
    /// proxy only).
    #[serde(default)]
    pub allow_plaintext: bool,
}

/// Where detection rules come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RulesConfig {
    /// Directory of rule files (`*.toml`, `lists/*.txt`, `profiles.toml`).
    /// A directory that does not exist means no detection (logged at
    /// start); one with errors stops the collector from starting.
    #[serde(default = "default_rules_dir")]
    pub dir: PathBuf,
    /// How often the directory is checked for changes. A change that
    /// compiles replaces the running rules; one that does not keeps them
    /// and raises `shouwang_rules_reload_errors_total`.
    #[serde(default = "default_reload_interval", with = "humantime_serde")]
    pub reload_interval: Duration,
}

/// Incident lifecycle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IncidentsConfig {
    /// A resolved incident whose rule fires again within this time is
    /// reopened; later it becomes a new incident.
    #[serde(default = "default_reopen_within", with = "humantime_serde")]
    pub reopen_within: Duration,
    /// Open high and critical incidents not acknowledged within this time
    /// escalate (notified again, marked escalated).
    #[serde(default = "default_escalate_after", with = "humantime_serde")]
    pub escalate_after: Duration,
    /// Resolved incidents, their timelines and the audit log are kept this
    /// long (网络安全法 §21: at least six months).
    #[serde(default = "default_incident_retention", with = "humantime_serde")]
    pub retention: Duration,
    /// How long "resolve as false positive" suppresses the rule for that
    /// group, unless the operator gives another time.
    #[serde(default = "default_fp_for", with = "humantime_serde")]
    pub false_positive_for: Duration,
    /// Open incidents per rule; past this, new groups of the rule fold into
    /// one overflow incident (group `*`), so a spray from thousands of
    /// addresses is one line on the console, not thousands.
    #[serde(default = "default_max_open_per_rule")]
    pub max_open_per_rule: usize,
}

fn default_max_open_per_rule() -> usize {
    1000
}

/// The read/operate API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ApiConfig {
    /// Serve read endpoints (agents, events, incidents, stream) without a
    /// token. Actions always need an operator token.
    #[serde(default)]
    pub anonymous_read: bool,
    /// Failed authentications (401, any endpoint, agent or API token) from
    /// one address within `auth-failure-window` that block it.
    #[serde(default = "default_max_auth_failures")]
    pub max_auth_failures: usize,
    #[serde(default = "default_auth_failure_window", with = "humantime_serde")]
    pub auth_failure_window: Duration,
    /// How long a blocked address gets 429 before its token is looked at.
    #[serde(default = "default_auth_block_for", with = "humantime_serde")]
    pub auth_block_for: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            anonymous_read: false,
            max_auth_failures: default_max_auth_failures(),
            auth_failure_window: default_auth_failure_window(),
            auth_block_for: default_auth_block_for(),
        }
    }
}

fn default_max_auth_failures() -> usize {
    10
}
fn default_auth_failure_window() -> Duration {
    Duration::from_secs(60)
}
fn default_auth_block_for() -> Duration {
    Duration::from_secs(300)
}

/// Limits on `POST /v1/ingest`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IngestConfig {
    /// Largest request body in bytes, as sent (compressed). Larger bodies are
    /// refused with 413 before they are read.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Largest body after decompression; guards against zstd bombs.
    #[serde(default = "default_max_decompressed")]
    pub max_decompressed_bytes: usize,
    /// Requests decoded at the same time (decompression and JSON parsing run
    /// on blocking threads); more wait their turn.
    #[serde(default = "default_decode_concurrency")]
    pub decode_concurrency: usize,
    /// Whole-request timeout.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Ingest requests handled at once; more wait `queue-wait`, then get
    /// 429 with `Retry-After`.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    /// How long a request may wait for a turn before 429.
    #[serde(default = "default_queue_wait", with = "humantime_serde")]
    pub queue_wait: Duration,
    /// Resident memory the collector must stay under; above 80 % of it,
    /// ingest answers 503 with `Retry-After` until memory drops. 0: no limit.
    #[serde(default = "default_memory_limit")]
    pub memory_limit_bytes: u64,
}

/// Agent registry settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AgentsConfig {
    /// An agent silent for this long is `offline` in `/v1/agents` and
    /// `shouwang_agent_up` is 0.
    #[serde(default = "default_offline_after", with = "humantime_serde")]
    pub offline_after: Duration,
}

/// Event store settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StoreConfig {
    /// Events (auth attempts, socket changes, notices, heartbeats) are kept
    /// this long. Host samples are not stored as events: the registry keeps
    /// each agent's latest sample and Prometheus keeps the history.
    #[serde(default = "default_retention", with = "humantime_serde")]
    pub event_retention: Duration,
    /// Event kinds kept in the event store (`/v1/events`), or `["all"]`.
    /// Every kind is run through the rules whether stored or not; incidents
    /// keep their evidence either way. Leaving out the bulk network kinds
    /// (`flow`, `dns`, `tls`, `http_request`, …) spares the disk on busy
    /// sensors.
    #[serde(default = "default_event_kinds")]
    pub event_kinds: Vec<String>,
}

impl StoreConfig {
    /// Whether events of `kind` are stored.
    pub fn keeps(&self, kind: shouwang_proto::EventKind) -> bool {
        self.event_kinds
            .iter()
            .any(|k| k == "all" || k == kind.as_str())
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9740))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from(DEFAULT_DATA_DIR)
}
fn default_max_body() -> usize {
    DEFAULT_MAX_BODY
}
fn default_max_decompressed() -> usize {
    DEFAULT_MAX_DECOMPRESSED
}
fn default_decode_concurrency() -> usize {
    4
}
fn default_max_concurrent() -> usize {
    16
}
fn default_queue_wait() -> Duration {
    Duration::from_secs(1)
}
fn default_memory_limit() -> u64 {
    1024 * 1024 * 1024
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_offline_after() -> Duration {
    DEFAULT_OFFLINE_AFTER
}
fn default_retention() -> Duration {
    DEFAULT_EVENT_RETENTION
}
fn default_rules_dir() -> PathBuf {
    PathBuf::from(DEFAULT_RULES_DIR)
}
fn default_reload_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_reopen_within() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_escalate_after() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_incident_retention() -> Duration {
    Duration::from_secs(180 * 24 * 3600)
}
fn default_fp_for() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            dir: default_rules_dir(),
            reload_interval: default_reload_interval(),
        }
    }
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        Self {
            reopen_within: default_reopen_within(),
            escalate_after: default_escalate_after(),
            retention: default_incident_retention(),
            false_positive_for: default_fp_for(),
            max_open_per_rule: default_max_open_per_rule(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED,
            decode_concurrency: default_decode_concurrency(),
            request_timeout: default_request_timeout(),
            max_concurrent: default_max_concurrent(),
            queue_wait: default_queue_wait(),
            memory_limit_bytes: default_memory_limit(),
        }
    }
}

impl Default for AgentsConfig {
    fn default() -> Self {
        Self {
            offline_after: DEFAULT_OFFLINE_AFTER,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            event_retention: DEFAULT_EVENT_RETENTION,
            event_kinds: default_event_kinds(),
        }
    }
}

fn default_event_kinds() -> Vec<String> {
    vec!["all".to_owned()]
}

impl CollectorConfig {
    /// Reads `path`, or the embedded default when `None`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            Some(p) => {
                let src = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                Self::parse(&p.display().to_string(), &src)
            }
            None => Self::parse("<embedded default>", EMBEDDED_DEFAULT),
        }
    }

    pub fn parse(origin: &str, src: &str) -> anyhow::Result<Self> {
        let c: Self = parse_toml(origin, src)?;
        c.validate()
            .with_context(|| format!("{origin}: invalid configuration"))?;
        Ok(c)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.ingest.max_body_bytes < 1024 {
            bail!("ingest.max-body-bytes must be at least 1024");
        }
        if self.ingest.max_decompressed_bytes < self.ingest.max_body_bytes {
            bail!("ingest.max-decompressed-bytes must be at least ingest.max-body-bytes");
        }
        if self.ingest.max_concurrent == 0 {
            bail!("ingest.max-concurrent must be at least 1");
        }
        if self.ingest.memory_limit_bytes != 0 && self.ingest.memory_limit_bytes < 64 * 1024 * 1024
        {
            bail!("ingest.memory-limit-bytes must be 0 (no limit) or at least 64 MiB");
        }
        if self.ingest.decode_concurrency == 0 {
            bail!("ingest.decode-concurrency must be at least 1");
        }
        if self.agents.offline_after < Duration::from_secs(1) {
            bail!("agents.offline-after must be at least 1s");
        }
        if self.rules.reload_interval < Duration::from_millis(100) {
            bail!("rules.reload-interval must be at least 100ms");
        }
        for n in &self.notifiers {
            n.validate()?;
        }
        for k in &self.store.event_kinds {
            if k != "all"
                && !shouwang_proto::EventKind::ALL
                    .iter()
                    .any(|x| x.as_str() == k)
            {
                bail!(
                    "store.event-kinds: unknown kind {k:?} (use \"all\" or kinds from docs/protocol.md)"
                );
            }
        }
        if self.incidents.retention < Duration::from_secs(24 * 3600) {
            bail!("incidents.retention must be at least 1d");
        }
        Ok(())
    }

    /// Path of the SQLite database.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("shouwang.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses() {
        let c = CollectorConfig::load(None).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.ingest.max_body_bytes, DEFAULT_MAX_BODY);
    }

    #[test]
    fn unknown_key_is_located() {
        let err = CollectorConfig::parse(
            "c.toml",
            "listen = \"127.0.0.1:1\"\n[ingest]\nmax-body = 5\n",
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").starts_with("c.toml:3:1: unknown field `max-body`"),
            "{err:#}"
        );
    }

    #[test]
    fn bad_listen_address_is_located() {
        let err = CollectorConfig::parse("c.toml", "listen = \"localhost\"\n").unwrap_err();
        assert!(format!("{err:#}").starts_with("c.toml:1:10:"), "{err:#}");
    }

    #[test]
    fn inconsistent_limits_are_refused() {
        let err = CollectorConfig::parse(
            "c.toml",
            "[ingest]\nmax-body-bytes = 10000\nmax-decompressed-bytes = 5000\n",
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("max-decompressed-bytes must be at least"),
            "{err:#}"
        );
    }
}
