//! Agent configuration (TOML, kebab-case keys, unknown keys rejected): the
//! serde structs, their defaults and validation. What runs is made from it
//! in [`crate::runtime`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use shouwang_proto::config::parse_toml;

/// Collector address used when the config names none.
pub const DEFAULT_COLLECTOR: &str = "http://127.0.0.1:9740";
/// Where the agent keeps its sequence reservation and log positions.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/shouwang-agent";
/// Host sampling interval.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_secs(10);
/// Heartbeat interval.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(60);
/// How often the full listening-socket set is re-sent.
pub const DEFAULT_LISTEN_SNAPSHOT_INTERVAL: Duration = Duration::from_secs(600);
/// How often the auth log is polled for new lines.
pub const DEFAULT_AUTH_LOG_POLL: Duration = Duration::from_millis(500);
/// Largest number of events in one batch.
pub const DEFAULT_BATCH_MAX_EVENTS: usize = 1000;
/// A batch is sent at the latest this long after its first event.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Batches held (in the spool) while the collector is unreachable.
pub const DEFAULT_SPOOL_MAX_BATCHES: usize = 100_000;
/// Compressed bytes held (in the spool) while the collector is unreachable.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The whole agent configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AgentConfig {
    /// Agent name as registered with `shouwang-collector agents add NAME`.
    /// Defaults to the host name.
    #[serde(default)]
    pub name: Option<String>,
    /// Base URL of the collector, e.g. `http://10.1.2.3:9740`.
    #[serde(default = "default_collector")]
    pub collector: String,
    /// The agent token, inline. Prefer `token-file`.
    #[serde(default)]
    pub token: Option<String>,
    /// File holding the agent token (first line; surrounding space ignored).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Directory for the agent's own state (sequence numbers, log positions).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Labels sent with every heartbeat: the region hierarchy (`district`,
    /// `town`, `site`), `role`, and any others. Keys: `a-z 0-9 _ -`, at most
    /// 32 characters; values at most 128 characters; at most 16 labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Host telemetry.
    #[serde(default)]
    pub host: HostConfig,
    /// Shipping to the collector.
    #[serde(default)]
    pub ship: ShipConfig,
    /// Live packet capture.
    #[serde(default)]
    pub packet: PacketConfig,
    /// Web-root integrity and remote site checks.
    #[serde(default)]
    pub integrity: crate::integrity::IntegrityConfig,
    /// TLS towards an `https://` collector.
    #[serde(default)]
    pub tls: ClientTls,
    /// The agent's own budgets (self-protection).
    #[serde(default)]
    pub limits: crate::limits::LimitsConfig,
}

/// TLS settings for talking to the collector.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClientTls {
    /// CA certificate (PEM) that signed the collector's certificate, e.g.
    /// the `ca.crt` of `shouwang-collector certs init`. Without it the
    /// system's roots are trusted.
    pub ca: Option<PathBuf>,
    /// This agent's client certificate and key (PEM), for a collector that
    /// requires mutual TLS (`agent-NAME.crt` / `.key` from `certs init`).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Live packet capture settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PacketConfig {
    /// Interfaces to capture on, one thread each. Empty: no live capture.
    /// Needs CAP_NET_RAW (root or `setcap cap_net_raw+ep`).
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// How packets are read: `tpacket-v3` (PACKET_MMAP ring, the default)
    /// or `pnet` (one read per packet).
    #[serde(default = "default_backend")]
    pub backend: crate::packet::live::Backend,
    /// Size of the TPACKET_V3 ring per interface, in bytes (1 MiB blocks).
    #[serde(default = "default_ring_bytes")]
    pub ring_bytes: usize,
    /// Put the interfaces in promiscuous mode.
    #[serde(default = "yes")]
    pub promiscuous: bool,
    /// Optional classic BPF filter, as printed by `tcpdump -ddd 'EXPR'`.
    #[serde(default)]
    pub bpf: Option<String>,
    /// Socket receive buffer in bytes (SO_RCVBUF; SO_RCVBUFFORCE with
    /// CAP_NET_ADMIN).
    #[serde(default = "default_rcvbuf")]
    pub rcvbuf_bytes: usize,
    /// Interval of the per-interface statistics events.
    #[serde(default = "default_stats_interval", with = "humantime_serde")]
    pub stats_interval: Duration,
    /// A flow with no packets for this long (capture time) is reported and
    /// forgotten.
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Idle timeout of a TCP flow after a reset or a close from both sides
    /// (reported sooner: scans and floods reach the collector in seconds).
    #[serde(default = "default_closed_timeout", with = "humantime_serde")]
    pub closed_timeout: Duration,
    /// A flow open this long is reported and continues in a new record.
    #[serde(default = "default_active_timeout", with = "humantime_serde")]
    pub active_timeout: Duration,
    /// Flows tracked per interface; past this the idlest are evicted
    /// (reported and counted).
    #[serde(default = "default_max_flows")]
    pub max_flows: usize,
    /// How often (capture time) scans, sweeps and floods are reported while
    /// they go on (`fanout` events), independent of the flow timeouts.
    /// 1s to 2s (the reports' `recent_*` window is 2 s).
    #[serde(default = "default_fanout_interval", with = "humantime_serde")]
    pub fanout_interval: Duration,
    /// Sources (and, separately, destinations) whose fan-out is tracked per
    /// interface; when full, those below the report floor are forgotten
    /// (counted). At least 1000.
    #[serde(default = "default_fanout_max_actors")]
    pub fanout_max_actors: usize,
}

fn default_backend() -> crate::packet::live::Backend {
    crate::packet::live::Backend::TpacketV3
}
fn default_ring_bytes() -> usize {
    16 * 1024 * 1024
}
fn default_rcvbuf() -> usize {
    8 * 1024 * 1024
}
fn default_stats_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(15)
}
fn default_closed_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_active_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_flows() -> usize {
    200_000
}
fn default_fanout_interval() -> Duration {
    Duration::from_nanos(shouwang_packet::fanout::REPORT_NS.unsigned_abs())
}
fn default_fanout_max_actors() -> usize {
    shouwang_packet::fanout::MAX_ACTORS
}

impl Default for PacketConfig {
    fn default() -> Self {
        Self {
            interfaces: Vec::new(),
            backend: default_backend(),
            ring_bytes: default_ring_bytes(),
            promiscuous: true,
            bpf: None,
            rcvbuf_bytes: default_rcvbuf(),
            stats_interval: default_stats_interval(),
            idle_timeout: default_idle_timeout(),
            closed_timeout: default_closed_timeout(),
            active_timeout: default_active_timeout(),
            max_flows: default_max_flows(),
            fanout_interval: default_fanout_interval(),
            fanout_max_actors: default_fanout_max_actors(),
        }
    }
}

impl PacketConfig {
    /// The parsed BPF program, if one is set.
    pub fn bpf_program(&self) -> anyhow::Result<Option<Vec<crate::packet::live::sock::BpfInsn>>> {
        self.bpf
            .as_deref()
            .map(|t| {
                crate::packet::live::sock::parse_bpf(t)
                    .map_err(|e| anyhow::anyhow!("packet.bpf: {e}"))
            })
            .transpose()
    }
}

/// Which auth log to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthLogSource {
    /// `/var/log/auth.log`, then `/var/log/secure`, then journald.
    Auto,
    /// The systemd journal, through `journalctl`.
    Journald,
    /// Do not follow any auth log.
    Off,
    /// This file (rotation followed).
    File(PathBuf),
}

impl<'de> Deserialize<'de> for AuthLogSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "auto" => Self::Auto,
            "journald" => Self::Journald,
            "off" => Self::Off,
            path if path.starts_with('/') => Self::File(PathBuf::from(path)),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "auth-log = {other:?}: use \"auto\", \"journald\", \"off\" or an absolute path"
                )));
            }
        })
    }
}

/// Host telemetry settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HostConfig {
    /// Sample CPU, memory, disks, interfaces, processes, sockets, sessions.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Sampling interval (`10s`, `1m`, …). At least 1 s.
    #[serde(default = "default_sample_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Heartbeat interval. At least 1 s.
    #[serde(default = "default_heartbeat", with = "humantime_serde")]
    pub heartbeat: Duration,
    /// How often to re-send the full set of listening sockets; changes are
    /// sent at every sample regardless.
    #[serde(default = "default_listen_snapshot", with = "humantime_serde")]
    pub listen_snapshot: Duration,
    /// `auto`, `journald`, `off`, or an absolute path to a syslog-format file.
    #[serde(default = "default_auth_log")]
    pub auth_log: AuthLogSource,
    /// How often the auth-log file is checked for new lines and rotation.
    #[serde(default = "default_auth_log_poll", with = "humantime_serde")]
    pub auth_log_poll: Duration,
    /// utmp file listing logged-in sessions.
    #[serde(default = "default_utmp")]
    pub utmp: PathBuf,
}

/// Shipping settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ShipConfig {
    /// Largest number of events in one batch (1 to 10000).
    #[serde(default = "default_batch_max_events")]
    pub batch_max_events: usize,
    /// A batch is closed at the latest this long after its first event.
    #[serde(default = "default_flush_interval", with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Batches wait on disk (`<state-dir>/spool`) until the collector
    /// acknowledges them, surviving agent, host and collector restarts.
    /// `false` keeps them in memory only (lost when the agent stops).
    #[serde(default = "yes")]
    pub spool: bool,
    /// Batches kept while the collector is unreachable; past this the oldest
    /// batch of the lowest class is dropped (host samples first, security
    /// events last), counted and reported as a data-gap event.
    /// (Formerly `queue-max-batches`, still read, with a warning.)
    #[serde(default = "default_spool_max_batches", alias = "queue-max-batches")]
    pub spool_max_batches: usize,
    /// Compressed bytes kept while the collector is unreachable.
    /// (Formerly `queue-max-bytes`, still read, with a warning.)
    #[serde(default = "default_spool_max_bytes", alias = "queue-max-bytes")]
    pub spool_max_bytes: u64,
    /// TCP connect timeout.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Whole-request timeout (connect, send, response).
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// First retry delay after a failed upload (doubles, with jitter).
    #[serde(default = "default_backoff_min", with = "humantime_serde")]
    pub backoff_min: Duration,
    /// Longest retry delay.
    #[serde(default = "default_backoff_max", with = "humantime_serde")]
    pub backoff_max: Duration,
    /// zstd level for request bodies (1 to 19).
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
}

fn yes() -> bool {
    true
}
fn default_collector() -> String {
    DEFAULT_COLLECTOR.to_owned()
}
fn default_state_dir() -> PathBuf {
    PathBuf::from(DEFAULT_STATE_DIR)
}
fn default_sample_interval() -> Duration {
    DEFAULT_SAMPLE_INTERVAL
}
fn default_heartbeat() -> Duration {
    DEFAULT_HEARTBEAT_INTERVAL
}
fn default_listen_snapshot() -> Duration {
    DEFAULT_LISTEN_SNAPSHOT_INTERVAL
}
fn default_auth_log() -> AuthLogSource {
    AuthLogSource::Auto
}
fn default_auth_log_poll() -> Duration {
    DEFAULT_AUTH_LOG_POLL
}
fn default_utmp() -> PathBuf {
    PathBuf::from("/var/run/utmp")
}
fn default_batch_max_events() -> usize {
    DEFAULT_BATCH_MAX_EVENTS
}
fn default_flush_interval() -> Duration {
    DEFAULT_FLUSH_INTERVAL
}
fn default_spool_max_batches() -> usize {
    DEFAULT_SPOOL_MAX_BATCHES
}
fn default_spool_max_bytes() -> u64 {
    DEFAULT_SPOOL_MAX_BYTES
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(20)
}
fn default_backoff_min() -> Duration {
    Duration::from_millis(500)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}
fn default_zstd_level() -> i32 {
    3
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: DEFAULT_SAMPLE_INTERVAL,
            heartbeat: DEFAULT_HEARTBEAT_INTERVAL,
            listen_snapshot: DEFAULT_LISTEN_SNAPSHOT_INTERVAL,
            auth_log: AuthLogSource::Auto,
            auth_log_poll: DEFAULT_AUTH_LOG_POLL,
            utmp: default_utmp(),
        }
    }
}

impl Default for ShipConfig {
    fn default() -> Self {
        Self {
            batch_max_events: DEFAULT_BATCH_MAX_EVENTS,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            spool: true,
            spool_max_batches: DEFAULT_SPOOL_MAX_BATCHES,
            spool_max_bytes: DEFAULT_SPOOL_MAX_BYTES,
            connect_timeout: default_connect_timeout(),
            request_timeout: default_request_timeout(),
            backoff_min: default_backoff_min(),
            backoff_max: default_backoff_max(),
            zstd_level: default_zstd_level(),
        }
    }
}

/// A parsed config plus what it was parsed from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: AgentConfig,
    /// First 16 hex digits of BLAKE3 over the file bytes.
    pub hash: String,
    /// The file, or `<built-in>`.
    pub origin: String,
    /// Old key names the file used (still read, under their new names):
    /// one note each, logged once at load.
    pub deprecated: Vec<String>,
}

/// Keys renamed since they were introduced: (section, old, new). The old
/// name stays an alias of the new one (`#[serde(alias)]`).
pub const RENAMED_KEYS: &[(&str, &str, &str)] = &[
    ("ship", "queue-max-batches", "spool-max-batches"),
    ("ship", "queue-max-bytes", "spool-max-bytes"),
];

/// Which of [`RENAMED_KEYS`] `src` uses under their old names.
fn deprecated_keys(origin: &str, src: &str) -> Vec<String> {
    use serde::de::IgnoredAny;
    /// A top-level value: a section's keys, or anything else.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Item {
        Section(BTreeMap<String, IgnoredAny>),
        #[allow(dead_code)]
        Other(IgnoredAny),
    }
    // The real parse has already checked the file; only key names matter.
    let Ok(items) = parse_toml::<BTreeMap<String, Item>>(origin, src) else {
        return Vec::new();
    };
    let has = |section: &str, key: &str| matches!(items.get(section), Some(Item::Section(keys)) if keys.contains_key(key));
    RENAMED_KEYS
        .iter()
        .filter(|(section, old, _)| has(section, old))
        .map(|(section, old, new)| {
            format!("{origin}: {section}.{old} is now called {section}.{new}; rename it (the old name will go)")
        })
        .collect()
}

/// The config used when no `--config` is given: every default.
pub const BUILT_IN: &str = "# shouwang-agent built-in defaults\n";

impl LoadedConfig {
    /// Reads and validates `path`, or the built-in defaults when `None`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let (origin, src) = match path {
            Some(p) => (
                p.display().to_string(),
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?,
            ),
            None => ("<built-in>".to_owned(), BUILT_IN.to_owned()),
        };
        Self::parse(&origin, &src)
    }

    /// Parses and validates config text.
    pub fn parse(origin: &str, src: &str) -> anyhow::Result<Self> {
        let config: AgentConfig = parse_toml(origin, src)?;
        config
            .validate()
            .with_context(|| format!("{origin}: invalid configuration"))?;
        let hash = blake3::hash(src.as_bytes()).to_hex();
        let deprecated = deprecated_keys(origin, src);
        for note in &deprecated {
            tracing::warn!("deprecated config key: {note}");
        }
        Ok(Self {
            config,
            hash: hash.as_str().get(..16).unwrap_or_default().to_owned(),
            origin: origin.to_owned(),
            deprecated,
        })
    }
}

impl AgentConfig {
    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(name) = &self.name
            && !shouwang_proto::valid_agent_name(name)
        {
            bail!("name = {name:?}: use 1-64 of A-Z a-z 0-9 . _ - (not starting with . or -)");
        }
        if !(self.collector.starts_with("http://") || self.collector.starts_with("https://")) {
            bail!(
                "collector = {:?}: must be an http:// or https:// URL",
                self.collector
            );
        }
        if self.token.is_some() && self.token_file.is_some() {
            bail!("set either token or token-file, not both");
        }
        if self.labels.len() > 16 {
            bail!("{} labels set; at most 16 are allowed", self.labels.len());
        }
        for (k, v) in &self.labels {
            let key_ok = !k.is_empty()
                && k.len() <= 32
                && k.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !key_ok {
                bail!("label key {k:?}: use 1-32 of a-z 0-9 _ -");
            }
            if v.chars().count() > 128 {
                bail!("label {k}: value longer than 128 characters");
            }
        }
        if self.host.interval < Duration::from_secs(1) {
            bail!("host.interval must be at least 1s");
        }
        if self.host.heartbeat < Duration::from_secs(1) {
            bail!("host.heartbeat must be at least 1s");
        }
        if self.host.auth_log_poll < Duration::from_millis(50) {
            bail!("host.auth-log-poll must be at least 50ms");
        }
        if !(1..=shouwang_proto::MAX_EVENTS_PER_BATCH).contains(&self.ship.batch_max_events) {
            bail!(
                "ship.batch-max-events = {}: must be 1 to {}",
                self.ship.batch_max_events,
                shouwang_proto::MAX_EVENTS_PER_BATCH
            );
        }
        if self.ship.spool_max_batches == 0 {
            bail!("ship.spool-max-batches must be at least 1");
        }
        if !(1..=19).contains(&self.ship.zstd_level) {
            bail!(
                "ship.zstd-level = {}: must be 1 to 19",
                self.ship.zstd_level
            );
        }
        self.limits.validate()?;
        if self.ship.backoff_min > self.ship.backoff_max {
            bail!("ship.backoff-min is larger than ship.backoff-max");
        }
        let p = &self.packet;
        if p.stats_interval < Duration::from_millis(100) {
            bail!("packet.stats-interval must be at least 100ms");
        }
        if p.closed_timeout < Duration::from_millis(100) || p.closed_timeout > p.idle_timeout {
            bail!("packet.closed-timeout must be between 100ms and packet.idle-timeout");
        }
        if p.idle_timeout < Duration::from_secs(1) || p.active_timeout < p.idle_timeout {
            bail!(
                "packet.idle-timeout must be at least 1s and packet.active-timeout at least as long"
            );
        }
        if p.fanout_interval < Duration::from_secs(1) || p.fanout_interval > Duration::from_secs(2)
        {
            bail!(
                "packet.fanout-interval = {:?}: must be 1s to 2s (scans and floods must reach the collector within seconds)",
                p.fanout_interval
            );
        }
        if p.fanout_max_actors < 1000 {
            bail!("packet.fanout-max-actors must be at least 1000");
        }
        if p.max_flows < 16 {
            bail!("packet.max-flows must be at least 16");
        }
        self.packet.bpf_program()?;
        self.integrity.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_defaults() {
        let c = LoadedConfig::parse("<built-in>", BUILT_IN).unwrap();
        assert_eq!(c.config.host.interval, Duration::from_secs(10));
        assert_eq!(c.config.collector, DEFAULT_COLLECTOR);
        assert_eq!(c.hash.len(), 16);
    }

    #[test]
    fn full_config_parses() {
        let src = r#"
name = "gw-01"
collector = "http://10.0.0.1:9740"
token-file = "/etc/shouwang/agent.token"
[labels]
district = "dongcheng"
town = "jianguomen"
site = "jfz-2"
role = "gateway"
[host]
interval = "5s"
auth-log = "/var/log/auth.log"
[ship]
batch-max-events = 200
backoff-max = "1m"
"#;
        let c = LoadedConfig::parse("a.toml", src).unwrap().config;
        assert_eq!(c.host.interval, Duration::from_secs(5));
        assert_eq!(
            c.host.auth_log,
            AuthLogSource::File("/var/log/auth.log".into())
        );
        assert_eq!(c.labels["district"], "dongcheng");
        assert_eq!(c.ship.backoff_max, Duration::from_secs(60));
        assert!(
            c.packet.interfaces.is_empty(),
            "no live capture unless configured"
        );
        let p = LoadedConfig::parse(
            "p.toml",
            "[packet]\ninterfaces = [\"eth0\"]\nbackend = \"pnet\"\nbpf = \"1\\n6 0 0 262144\"\n",
        )
        .unwrap()
        .config
        .packet;
        assert_eq!(p.backend, crate::packet::live::Backend::Pnet);
        assert_eq!(p.bpf_program().unwrap().unwrap().len(), 1);
    }

    #[test]
    fn unknown_key_in_section_is_located() {
        let err = LoadedConfig::parse("a.toml", "[host]\ninterval = \"5s\"\nintervall = \"6s\"\n")
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.starts_with("a.toml:3:1: unknown field `intervall`"),
            "{msg}"
        );
    }

    #[test]
    fn invalid_values_are_explained() {
        for (src, want) in [
            ("name = \"bad name\"", "name = \"bad name\""),
            ("collector = \"10.0.0.1:9740\"", "http:// or https://"),
            (
                "[host]\ninterval = \"100ms\"",
                "host.interval must be at least 1s",
            ),
            ("[host]\nauth-log = \"auth.log\"", "absolute path"),
            ("[labels]\nDistrict = \"x\"", "label key \"District\""),
            ("[ship]\nbatch-max-events = 0", "batch-max-events = 0"),
            ("token = \"a\"\ntoken-file = \"/x\"", "not both"),
            (
                "[packet]\nbpf = \"tcp port 80\"",
                "packet.bpf: first line must be the instruction count",
            ),
            ("[packet]\nbackend = \"dpdk\"", "unknown variant `dpdk`"),
            (
                "[packet]\nidle-timeout = \"90s\"",
                "packet.active-timeout at least as long",
            ),
            (
                "[packet]\nmax-flows = 3",
                "packet.max-flows must be at least 16",
            ),
            (
                "[packet]\nfanout-interval = \"5s\"",
                "packet.fanout-interval = 5s: must be 1s to 2s",
            ),
            (
                "[packet]\nfanout-max-actors = 10",
                "packet.fanout-max-actors must be at least 1000",
            ),
        ] {
            let msg = format!("{:#}", LoadedConfig::parse("a.toml", src).unwrap_err());
            assert!(msg.contains(want), "{src:?} gave {msg:?}");
        }
    }

    #[test]
    fn old_spool_key_names_still_parse_and_are_reported() {
        let parsed = |prefix: &str| {
            let src = format!("[ship]\n{prefix}-max-batches = 7\n{prefix}-max-bytes = 4096\n");
            let c = LoadedConfig::parse("a.toml", &src).unwrap();
            assert_eq!(c.config.ship.spool_max_batches, 7, "{prefix}");
            assert_eq!(c.config.ship.spool_max_bytes, 4096, "{prefix}");
            c.deprecated
        };
        assert!(parsed("spool").is_empty());
        let old = parsed("queue");
        assert_eq!(old.len(), 2, "{old:?}");
        assert!(
            old[0].contains("a.toml: ship.queue-max-batches is now called ship.spool-max-batches"),
            "{old:?}"
        );
        assert!(old[1].contains("ship.spool-max-bytes"), "{old:?}");
        let msg = format!(
            "{:#}",
            LoadedConfig::parse("a.toml", "[ship]\nqueue-max-batches = 0\n").unwrap_err()
        );
        assert!(
            msg.contains("ship.spool-max-batches must be at least 1"),
            "{msg}"
        );
    }

    #[test]
    fn hash_changes_with_content() {
        let a = LoadedConfig::parse("a", "name = \"a\"").unwrap();
        let b = LoadedConfig::parse("a", "name = \"b\"").unwrap();
        assert_ne!(a.hash, b.hash);
    }
}
