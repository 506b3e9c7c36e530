//! What the agent runs with, made from its configuration: the analyzer and
//! live-capture settings, the agent's name and its token. [`crate::config`]
//! stays data and validation; this is where values become runtime objects
//! (and where the host name and the token file are read).

use std::time::Duration;

use anyhow::{Context, bail};
use shouwang_packet::AnalyzerConfig;
use shouwang_packet::fanout::FanoutConfig;
use shouwang_packet::flow::FlowConfig;

use crate::config::{AgentConfig, PacketConfig};
use crate::packet::live::LiveConfig;

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The analyzer settings `[packet]` gives.
pub fn analyzer_config(p: &PacketConfig) -> AnalyzerConfig {
    AnalyzerConfig {
        flows: FlowConfig {
            idle_ns: nanos(p.idle_timeout),
            closed_ns: nanos(p.closed_timeout),
            active_ns: nanos(p.active_timeout),
            max_flows: p.max_flows,
        },
        fanout: FanoutConfig {
            report_ns: nanos(p.fanout_interval),
            max_actors: p.fanout_max_actors,
            ..FanoutConfig::default()
        },
        stats_interval_ns: nanos(p.stats_interval),
    }
}

/// Settings for one live capture.
pub fn live_config(p: &PacketConfig) -> anyhow::Result<LiveConfig> {
    Ok(LiveConfig {
        backend: p.backend,
        ring_bytes: p.ring_bytes,
        promiscuous: p.promiscuous,
        rcvbuf: p.rcvbuf_bytes,
        bpf: p.bpf_program()?,
        analyzer: analyzer_config(p),
    })
}

/// The agent's name: configured, or the host name.
pub fn agent_name(cfg: &AgentConfig) -> anyhow::Result<String> {
    if let Some(n) = &cfg.name {
        return Ok(n.clone());
    }
    let host = sysinfo::System::host_name().unwrap_or_default();
    let short = host.split('.').next().unwrap_or_default().to_owned();
    if shouwang_proto::valid_agent_name(&short) {
        Ok(short)
    } else {
        bail!("host name {host:?} is not a valid agent name; set `name = \"...\"` in the config")
    }
}

/// The token from `token` or `token-file`.
pub fn read_token(cfg: &AgentConfig) -> anyhow::Result<String> {
    let token = match (&cfg.token, &cfg.token_file) {
        (Some(t), _) => t.trim().to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read token-file {}", path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        (None, None) => bail!(
            "no agent token: set token-file (or token) in the config; \
             create one with `shouwang-collector agents add NAME`"
        ),
    };
    if token.is_empty() {
        bail!("the agent token is empty");
    }
    Ok(token)
}
