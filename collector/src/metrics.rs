//! The collector's Prometheus registry.
//!
//! Names are `shouwang_<thing>_<unit>[_total]`. Label values are bounded:
//! agent name, event kind, a fixed set of reasons; never an address, port,
//! path or user. Host gauges carry only the `agent` label; per-mount and
//! per-interface detail is in `/v1/agents/{name}`, not in label values.

use prometheus::core::Collector;
use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use shouwang_proto::{EventKind, Heartbeat, HostSample, IntegrityStatus};

/// Why an ingest request was refused (label values of
/// `shouwang_ingest_rejected_requests_total`).
pub const REJECT_REASONS: [&str; 9] = [
    "unauthorized",
    "forbidden",
    "too_large",
    "malformed",
    "invalid",
    "unsupported_encoding",
    "unavailable",
    "overloaded",
    "memory_high",
];

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub ingest_events: IntCounterVec,
    pub ingest_duplicate_events: IntCounter,
    pub ingest_batches: IntCounter,
    pub ingest_rejected: IntCounterVec,
    pub ingest_seconds: Histogram,
    pub store_errors: IntCounter,
    pub events_pruned: IntCounter,
    agent_up: IntGaugeVec,
    agent_last_seen: GaugeVec,
    agent_info: IntGaugeVec,
    agent_queued: IntGaugeVec,
    agent_dropped: IntGaugeVec,
    agent_failed_uploads: IntGaugeVec,
    agent_skipped: IntGaugeVec,
    /// Web-root integrity counters from heartbeats, one gauge per field.
    agent_integrity: Vec<(IntGaugeVec, IntegrityField)>,
    /// Self-protection gauges from heartbeats.
    agent_limits: Vec<(IntGaugeVec, LimitField)>,
    agent_spool_bytes: IntGaugeVec,
    host_gauges: Vec<(HostGauge, GaugeVec)>,
    pub host_net_rx: IntCounterVec,
    pub host_net_tx: IntCounterVec,
    pub host_reboots: IntCounterVec,
    pub host_auth_failures: IntCounterVec,
    pub host_auth_successes: IntCounterVec,
    pub agents: IntGauge,
    /// Refused authentications, by reason.
    auth_refused: IntCounterVec,
    /// Ingest requests being read, decoded or committed now.
    pub ingest_in_flight: IntGauge,
    /// Resident memory of the collector process.
    pub resident_bytes: IntGauge,
    /// Incidents not resolved, by severity.
    pub incidents_open: IntGaugeVec,
    pub incidents_changes: IntCounterVec,
    pub incidents_suppressed: IntCounter,
    pub incidents_folded: IntCounter,
    /// Detections per rule (label: rule id, a bounded set).
    pub rule_detections: IntCounterVec,
    pub rule_group_evictions: IntCounterVec,
    pub rules_loaded: IntGauge,
    pub rules_reload_errors: IntCounter,
    pub rules_reloads: IntCounter,
    /// Rule evaluation time per ingest batch.
    pub rules_eval_seconds: Histogram,
    /// From the first event of an attack to its incident opening, per rule
    /// (observed when an incident opens).
    pub detection_delay_seconds: HistogramVec,
    pub rules_events_evaluated: IntCounter,
    /// Events not evaluated, by cause.
    pub events_dropped: IntCounterVec,
    pub notifications: IntCounterVec,
    pub stream_clients: IntGauge,
}

/// Causes of `shouwang_events_dropped_total`.
pub const DROP_CAUSES: [&str; 2] = ["stream_lagged", "notify_queue_full"];
/// Outcomes of `shouwang_notifications_total`.
pub const NOTIFY_OUTCOMES: [&str; 4] = ["sent", "failed", "rate_limited", "silenced"];

/// Host gauges with one `agent` label, and how to read each from a sample.
#[derive(Debug, Clone, Copy)]
enum HostGauge {
    CpuRatio,
    Cpus,
    Load1,
    Load5,
    Load15,
    MemTotal,
    MemUsed,
    MemAvailable,
    SwapTotal,
    SwapUsed,
    FsSize,
    FsAvail,
    FsMaxUsedRatio,
    Processes,
    ListenTcp,
    ListenUdp,
    Sessions,
    BootTime,
    Uptime,
}

impl HostGauge {
    const ALL: [HostGauge; 19] = [
        Self::CpuRatio,
        Self::Cpus,
        Self::Load1,
        Self::Load5,
        Self::Load15,
        Self::MemTotal,
        Self::MemUsed,
        Self::MemAvailable,
        Self::SwapTotal,
        Self::SwapUsed,
        Self::FsSize,
        Self::FsAvail,
        Self::FsMaxUsedRatio,
        Self::Processes,
        Self::ListenTcp,
        Self::ListenUdp,
        Self::Sessions,
        Self::BootTime,
        Self::Uptime,
    ];

    fn name_help(self) -> (&'static str, &'static str) {
        match self {
            Self::CpuRatio => (
                "shouwang_host_cpu_usage_ratio",
                "CPU busy over the last sample interval, 0-1, all CPUs.",
            ),
            Self::Cpus => ("shouwang_host_cpus", "Logical CPUs."),
            Self::Load1 => ("shouwang_host_load1", "1-minute load average."),
            Self::Load5 => ("shouwang_host_load5", "5-minute load average."),
            Self::Load15 => ("shouwang_host_load15", "15-minute load average."),
            Self::MemTotal => ("shouwang_host_memory_total_bytes", "Physical memory."),
            Self::MemUsed => ("shouwang_host_memory_used_bytes", "Physical memory in use."),
            Self::MemAvailable => (
                "shouwang_host_memory_available_bytes",
                "Memory available to new processes.",
            ),
            Self::SwapTotal => ("shouwang_host_swap_total_bytes", "Swap space."),
            Self::SwapUsed => ("shouwang_host_swap_used_bytes", "Swap in use."),
            Self::FsSize => (
                "shouwang_host_filesystem_size_bytes",
                "Size of all block-device filesystems.",
            ),
            Self::FsAvail => (
                "shouwang_host_filesystem_avail_bytes",
                "Space available on all block-device filesystems.",
            ),
            Self::FsMaxUsedRatio => (
                "shouwang_host_filesystem_max_used_ratio",
                "Used fraction of the fullest filesystem.",
            ),
            Self::Processes => ("shouwang_host_processes", "Processes (not threads)."),
            Self::ListenTcp => (
                "shouwang_host_listening_tcp_sockets",
                "Listening TCP sockets.",
            ),
            Self::ListenUdp => (
                "shouwang_host_listening_udp_sockets",
                "Bound unconnected UDP sockets.",
            ),
            Self::Sessions => ("shouwang_host_sessions", "Logged-in sessions (utmp)."),
            Self::BootTime => (
                "shouwang_host_boot_time_seconds",
                "Host boot time, seconds since the epoch.",
            ),
            Self::Uptime => ("shouwang_host_uptime_seconds", "Seconds since boot."),
        }
    }

    fn value(self, h: &HostSample) -> f64 {
        let fs_used_ratio = |d: &shouwang_proto::DiskSample| {
            if d.total == 0 {
                0.0
            } else {
                d.total.saturating_sub(d.available) as f64 / d.total as f64
            }
        };
        match self {
            Self::CpuRatio => f64::from(h.cpu.usage_pct) / 100.0,
            Self::Cpus => h.cpu.per_core_pct.len() as f64,
            Self::Load1 => h.load.one,
            Self::Load5 => h.load.five,
            Self::Load15 => h.load.fifteen,
            Self::MemTotal => h.memory.total as f64,
            Self::MemUsed => h.memory.used as f64,
            Self::MemAvailable => h.memory.available as f64,
            Self::SwapTotal => h.memory.swap_total as f64,
            Self::SwapUsed => h.memory.swap_used as f64,
            Self::FsSize => h.disks.iter().map(|d| d.total as f64).sum(),
            Self::FsAvail => h.disks.iter().map(|d| d.available as f64).sum(),
            Self::FsMaxUsedRatio => h.disks.iter().map(fs_used_ratio).fold(0.0, f64::max),
            Self::Processes => f64::from(h.processes.count),
            Self::ListenTcp => f64::from(h.listening_tcp),
            Self::ListenUdp => f64::from(h.listening_udp),
            Self::Sessions => h.sessions.len() as f64,
            Self::BootTime => h.boot_time as f64,
            Self::Uptime => h.uptime_secs as f64,
        }
    }
}

fn reg<C: Collector + Clone + 'static>(r: &Registry, c: C) -> prometheus::Result<C> {
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

type IntegrityField = fn(&IntegrityStatus) -> u64;

/// Heartbeat integrity counters exported per agent (values since the
/// agent started; the agent sums over its web roots).
type LimitField = fn(&shouwang_proto::LimitStatus) -> u64;

/// Self-protection gauges from heartbeats (`limits`).
const LIMIT_FIELDS: &[(&str, &str, LimitField)] = &[
    (
        "shouwang_agent_self_cpu_percent",
        "CPU the agent itself used over its last second, percent of one core (last heartbeat).",
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        |l| l.cpu_pct.max(0.0).round() as u64,
    ),
    (
        "shouwang_agent_self_resident_bytes",
        "Resident memory of the agent itself (last heartbeat).",
        |l| l.rss_bytes,
    ),
    (
        "shouwang_agent_overloaded",
        "1 while the agent is over its CPU or memory budget (sampling capture, slowing rescans).",
        |l| u64::from(l.overloaded),
    ),
    (
        "shouwang_agent_capture_sample_every",
        "Capture keeps one frame in this many (1: all).",
        |l| u64::from(l.sample_every),
    ),
    (
        "shouwang_agent_sampled_out_frames",
        "Frames the agent skipped by sampling since it started.",
        |l| l.sampled_out_frames,
    ),
    (
        "shouwang_agent_rate_limited_events",
        "Host and network events the agent dropped at its events-per-second cap since it started.",
        |l| l.rate_limited_host_events + l.rate_limited_network_events,
    ),
];

const INTEGRITY_FIELDS: &[(&str, &str, IntegrityField)] = &[
    (
        "shouwang_agent_integrity_roots",
        "Web roots the agent guards.",
        |i| i.roots,
    ),
    (
        "shouwang_agent_integrity_files",
        "Files in the agent's web-root baselines.",
        |i| i.files,
    ),
    (
        "shouwang_agent_integrity_changes",
        "Web-root changes reported since the agent started.",
        |i| i.changes,
    ),
    (
        "shouwang_agent_integrity_authorised",
        "Web-root changes made through publish, a window or a publisher process.",
        |i| i.authorised,
    ),
    (
        "shouwang_agent_integrity_restores",
        "Tampered web-root files the agent put back.",
        |i| i.restores,
    ),
    (
        "shouwang_agent_integrity_restore_failures",
        "Restores that failed.",
        |i| i.restore_failures,
    ),
    (
        "shouwang_agent_integrity_quarantined",
        "Tampered files kept in the agent's quarantine.",
        |i| i.quarantined,
    ),
    (
        "shouwang_agent_integrity_rescans",
        "Full web-root rescans.",
        |i| i.rescans,
    ),
    (
        "shouwang_agent_integrity_rescan_found",
        "Changes found by rescans that the watcher missed.",
        |i| i.rescan_found,
    ),
    (
        "shouwang_agent_integrity_overflows",
        "Watcher overflows and errors that forced a rescan.",
        |i| i.overflows,
    ),
    (
        "shouwang_agent_integrity_polling_roots",
        "Web roots polled because inotify's watch limit was reached.",
        |i| i.polling_roots,
    ),
];

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let r = Registry::new();
        let agent = &["agent"];
        let gauge = |name: &str, help: &str| reg(&r, GaugeVec::new(Opts::new(name, help), agent)?);
        let igauge =
            |name: &str, help: &str| reg(&r, IntGaugeVec::new(Opts::new(name, help), agent)?);
        let counter =
            |name: &str, help: &str| reg(&r, IntCounterVec::new(Opts::new(name, help), agent)?);

        let build = reg(
            &r,
            IntGaugeVec::new(
                Opts::new("shouwang_build_info", "Build of this collector; always 1."),
                &["version"],
            )?,
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);

        let ingest_events = reg(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "shouwang_ingest_events_total",
                    "Events accepted, by kind (duplicates not counted).",
                ),
                &["kind"],
            )?,
        )?;
        for k in EventKind::ALL {
            ingest_events.with_label_values(&[k.as_str()]);
        }
        let ingest_rejected = reg(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "shouwang_ingest_rejected_requests_total",
                    "Ingest requests refused, by reason.",
                ),
                &["reason"],
            )?,
        )?;
        for reason in REJECT_REASONS {
            ingest_rejected.with_label_values(&[reason]);
        }
        let host_gauges = HostGauge::ALL
            .iter()
            .map(|g| {
                let (name, help) = g.name_help();
                Ok((*g, gauge(name, help)?))
            })
            .collect::<prometheus::Result<Vec<_>>>()?;

        Ok(Self {
            ingest_duplicate_events: reg(
                &r,
                IntCounter::new(
                    "shouwang_ingest_duplicate_events_total",
                    "Events received again and ignored (same agent and sequence number).",
                )?,
            )?,
            ingest_batches: reg(
                &r,
                IntCounter::new("shouwang_ingest_batches_total", "Batches accepted.")?,
            )?,
            ingest_seconds: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "shouwang_ingest_request_duration_seconds",
                        "Time to handle an accepted ingest request.",
                    )
                    .buckets(vec![
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ]),
                )?,
            )?,
            store_errors: reg(
                &r,
                IntCounter::new(
                    "shouwang_store_errors_total",
                    "Database operations that failed.",
                )?,
            )?,
            events_pruned: reg(
                &r,
                IntCounter::new(
                    "shouwang_store_events_pruned_total",
                    "Events deleted by retention.",
                )?,
            )?,
            agents: reg(&r, IntGauge::new("shouwang_agents", "Registered agents.")?)?,
            auth_refused: {
                let c = reg(
                    &r,
                    IntCounterVec::new(
                        Opts::new(
                            "shouwang_auth_refused_total",
                            "Requests refused for authentication: unauthorized (no or wrong token), forbidden (role too low), blocked (peer blocked after too many failures), peer_blocked (blocks imposed).",
                        ),
                        &["reason"],
                    )?,
                )?;
                for reason in ["unauthorized", "forbidden", "blocked", "peer_blocked"] {
                    c.with_label_values(&[reason]);
                }
                c
            },
            ingest_in_flight: reg(
                &r,
                IntGauge::new(
                    "shouwang_ingest_in_flight_requests",
                    "Ingest requests being read, decoded or committed now (bounded by ingest.max-concurrent).",
                )?,
            )?,
            resident_bytes: reg(
                &r,
                IntGauge::new(
                    "shouwang_collector_resident_bytes",
                    "Resident memory of the collector process (refuses ingest above 80% of ingest.memory-limit-bytes).",
                )?,
            )?,
            incidents_open: {
                let g = reg(
                    &r,
                    IntGaugeVec::new(
                        Opts::new(
                            "shouwang_incidents_open",
                            "Incidents not resolved, by severity.",
                        ),
                        &["severity"],
                    )?,
                )?;
                for sev in shouwang_proto::Severity::ALL {
                    g.with_label_values(&[sev.as_str()]).set(0);
                }
                g
            },
            incidents_changes: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "shouwang_incident_changes_total",
                        "Incident changes: opened, updated, reopened, acknowledged, resolved, auto_resolved, note, assigned, escalated.",
                    ),
                    &["change"],
                )?,
            )?,
            incidents_suppressed: reg(
                &r,
                IntCounter::new(
                    "shouwang_incidents_suppressed_total",
                    "Detections dropped by a false-positive exception.",
                )?,
            )?,
            incidents_folded: reg(
                &r,
                IntCounter::new(
                    "shouwang_incidents_folded_total",
                    "Detections folded into a rule's overflow incident (incidents.max-open-per-rule reached).",
                )?,
            )?,
            rule_detections: reg(
                &r,
                IntCounterVec::new(
                    Opts::new("shouwang_rule_detections_total", "Times each rule fired."),
                    &["rule"],
                )?,
            )?,
            rule_group_evictions: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "shouwang_rule_group_evictions_total",
                        "Rule groups dropped because the rule's max-groups was reached.",
                    ),
                    &["rule"],
                )?,
            )?,
            rules_loaded: reg(
                &r,
                IntGauge::new("shouwang_rules_loaded", "Enabled rules running.")?,
            )?,
            rules_reload_errors: reg(
                &r,
                IntCounter::new(
                    "shouwang_rules_reload_errors_total",
                    "Rule directory changes that did not compile (the previous rules kept running).",
                )?,
            )?,
            rules_reloads: reg(
                &r,
                IntCounter::new(
                    "shouwang_rules_reloads_total",
                    "Rule directory changes applied.",
                )?,
            )?,
            rules_eval_seconds: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "shouwang_rules_eval_seconds",
                        "Time to run the rules and update incidents for one ingest batch.",
                    )
                    .buckets(vec![
                        0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
                    ]),
                )?,
            )?,
            detection_delay_seconds: reg(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "shouwang_detection_delay_seconds",
                        "From the first event of the activity (first_seen) to its incident opening: wall clock for live traffic, event time for replays.",
                    )
                    .buckets(DETECTION_DELAY_BUCKETS.to_vec()),
                    &["rule"],
                )?,
            )?,
            rules_events_evaluated: reg(
                &r,
                IntCounter::new(
                    "shouwang_rules_events_evaluated_total",
                    "Events run through the rules.",
                )?,
            )?,
            events_dropped: {
                let c = reg(
                    &r,
                    IntCounterVec::new(
                        Opts::new(
                            "shouwang_events_dropped_total",
                            "Events or changes not delivered, by cause (stream_lagged: a slow SSE client missed them; notify_queue_full: notifications behind).",
                        ),
                        &["cause"],
                    )?,
                )?;
                for cause in DROP_CAUSES {
                    c.with_label_values(&[cause]);
                }
                c
            },
            notifications: reg(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "shouwang_notifications_total",
                        "Notifications by notifier and outcome.",
                    ),
                    &["notifier", "outcome"],
                )?,
            )?,
            stream_clients: reg(
                &r,
                IntGauge::new("shouwang_stream_clients", "Connected /v1/stream clients.")?,
            )?,
            agent_up: igauge(
                "shouwang_agent_up",
                "1 if the agent was heard from within agents.offline-after.",
            )?,
            agent_last_seen: gauge(
                "shouwang_agent_last_seen_timestamp_seconds",
                "When the collector last accepted a batch from the agent.",
            )?,
            agent_info: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new("shouwang_agent_info", "Agent build version; always 1."),
                    &["agent", "version"],
                )?,
            )?,
            agent_queued: igauge(
                "shouwang_agent_queued_batches",
                "Batches waiting in the agent's upload queue (last heartbeat).",
            )?,
            agent_dropped: igauge(
                "shouwang_agent_dropped_events",
                "Events the agent dropped because its queue was full, since it started (last heartbeat).",
            )?,
            agent_failed_uploads: igauge(
                "shouwang_agent_failed_uploads",
                "Failed upload attempts since the agent started (last heartbeat).",
            )?,
            agent_skipped: igauge(
                "shouwang_agent_skipped_components",
                "Telemetry components the agent reports it cannot collect.",
            )?,
            agent_integrity: INTEGRITY_FIELDS
                .iter()
                .map(|(name, help, f)| Ok((igauge(name, help)?, *f)))
                .collect::<Result<_, prometheus::Error>>()?,
            agent_limits: LIMIT_FIELDS
                .iter()
                .map(|(name, help, f)| Ok((igauge(name, help)?, *f)))
                .collect::<Result<_, prometheus::Error>>()?,
            agent_spool_bytes: igauge(
                "shouwang_agent_spool_bytes",
                "Compressed bytes waiting in the agent's spool (last heartbeat).",
            )?,
            host_net_rx: counter(
                "shouwang_host_network_receive_bytes_total",
                "Bytes received on all interfaces except loopback.",
            )?,
            host_net_tx: counter(
                "shouwang_host_network_transmit_bytes_total",
                "Bytes sent on all interfaces except loopback.",
            )?,
            host_reboots: counter(
                "shouwang_host_reboots_total",
                "Reboots seen (boot time changed).",
            )?,
            host_auth_failures: counter(
                "shouwang_host_auth_failures_total",
                "Failed sshd/su/sudo authentication attempts.",
            )?,
            host_auth_successes: counter(
                "shouwang_host_auth_successes_total",
                "Successful sshd/su/sudo authentications.",
            )?,
            registry: r,
            ingest_events,
            ingest_rejected,
            host_gauges,
        })
    }

    pub fn auth_refused(&self, reason: &'static str) {
        self.auth_refused.with_label_values(&[reason]).inc();
    }

    pub fn reject(&self, reason: &'static str) {
        self.ingest_rejected.with_label_values(&[reason]).inc();
    }

    pub fn observe_host(&self, agent: &str, h: &HostSample) {
        for (g, vec) in &self.host_gauges {
            vec.with_label_values(&[agent]).set(g.value(h));
        }
    }

    pub fn observe_heartbeat(&self, agent: &str, previous_version: Option<&str>, hb: &Heartbeat) {
        if let Some(old) = previous_version
            && old != hb.agent_version
        {
            let _ = self.agent_info.remove_label_values(&[agent, old]);
        }
        self.agent_info
            .with_label_values(&[agent, &hb.agent_version])
            .set(1);
        let q = &hb.queue;
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.agent_queued
            .with_label_values(&[agent])
            .set(clamp(q.queued_batches));
        self.agent_dropped
            .with_label_values(&[agent])
            .set(clamp(q.dropped_events));
        self.agent_failed_uploads
            .with_label_values(&[agent])
            .set(clamp(q.failed_uploads));
        self.agent_skipped
            .with_label_values(&[agent])
            .set(hb.skipped.len() as i64);
        if let Some(i) = &hb.integrity {
            for (g, f) in &self.agent_integrity {
                g.with_label_values(&[agent]).set(clamp(f(i)));
            }
        }
        self.agent_spool_bytes
            .with_label_values(&[agent])
            .set(clamp(q.queued_bytes));
        if let Some(l) = &hb.limits {
            for (g, f) in &self.agent_limits {
                g.with_label_values(&[agent]).set(clamp(f(l)));
            }
        }
    }

    /// Per-agent liveness, set just before each scrape.
    pub fn set_agent_status(&self, agent: &str, up: bool, last_seen_secs: Option<f64>) {
        self.agent_up.with_label_values(&[agent]).set(i64::from(up));
        if let Some(t) = last_seen_secs {
            self.agent_last_seen.with_label_values(&[agent]).set(t);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// Buckets of `shouwang_detection_delay_seconds`: half a second (a burst
/// caught by the fan-out counters) to five minutes (a slow scan, a flow
/// seen only at expiry); the 5 s bucket is the target.
pub const DETECTION_DELAY_BUCKETS: [f64; 11] = [
    0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_sample_sets_gauges_by_agent_only() {
        let m = Metrics::new().unwrap();
        let mut h = HostSample::default();
        h.memory.total = 1000;
        h.cpu.usage_pct = 50.0;
        h.disks.push(shouwang_proto::DiskSample {
            mount: "/".into(),
            device: "/dev/vda".into(),
            fs: "ext4".into(),
            total: 100,
            available: 25,
        });
        m.observe_host("gw-01", &h);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(
            text.contains("shouwang_host_memory_total_bytes{agent=\"gw-01\"} 1000"),
            "{text}"
        );
        assert!(text.contains("shouwang_host_cpu_usage_ratio{agent=\"gw-01\"} 0.5"));
        assert!(text.contains("shouwang_host_filesystem_max_used_ratio{agent=\"gw-01\"} 0.75"));
        assert!(!text.contains("mount="), "no per-mount labels");
        assert!(text.contains("shouwang_build_info{version="));
        assert!(text.contains("shouwang_ingest_events_total{kind=\"auth\"} 0"));
    }

    #[test]
    fn version_change_replaces_info_series() {
        let m = Metrics::new().unwrap();
        let mut hb = Heartbeat {
            agent_version: "9.1.0".into(),
            ..Default::default()
        };
        m.observe_heartbeat("a", None, &hb);
        hb.agent_version = "9.2.0".into();
        hb.integrity = Some(IntegrityStatus {
            roots: 1,
            restores: 3,
            ..Default::default()
        });
        m.observe_heartbeat("a", Some("9.1.0"), &hb);
        let text = String::from_utf8(m.render()).unwrap();
        assert!(!text.contains("version=\"9.1.0\""), "{text}");
        assert!(text.contains("shouwang_agent_info{agent=\"a\",version=\"9.2.0\"} 1"));
        assert!(
            text.contains("shouwang_agent_integrity_restores{agent=\"a\"} 3"),
            "{text}"
        );
    }
}
