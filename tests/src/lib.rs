//! End-to-end tests' helpers: real `shouwang-collector` and
//! `shouwang-agent` processes on loopback, with temporary configs and data
//! directories, started through `shouwang-harness` (the same code the drill
//! and the demo use); this crate adds an HTTP client and JSON helpers around
//! them. Processes are killed when their handle drops.
//!
//! Binaries are taken from the cargo target directory this test binary was
//! built into (`cargo test --workspace` builds them), or from
//! `SHOUWANG_BIN_DIR`.

pub mod web;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use shouwang_harness::agent::AgentConfig;
use shouwang_harness::collector::Configured;
pub use shouwang_harness::{Proc, bin, cli, lab, wait_for};

/// A running collector.
pub struct Collector {
    pub proc: Proc,
    pub url: String,
    pub config: PathBuf,
    /// The collector binary (also used for `agents add`).
    pub exe: PathBuf,
    /// The API client, with the admin token.
    pub api: shouwang_client::blocking::Client,
    /// An admin API token (made before start).
    pub token: String,
}

/// A blocking API client of the collector at `url`: `token` as bearer,
/// TLS files (the collector's CA, a client certificate) when given.
pub fn api_client(
    url: &str,
    token: Option<&str>,
    tls: &shouwang_client::Tls,
) -> anyhow::Result<shouwang_client::blocking::Client> {
    // reqwest is built without a default crypto provider (one provider in
    // the tree, chosen at start); install it once per test process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let material = shouwang_client::load_tls(tls, &shouwang_client::TlsNames::FLAGS)?;
    Ok(shouwang_client::blocking::Client::new(
        url,
        token,
        &material,
        &shouwang_client::Options {
            connect_timeout: Duration::from_secs(30),
            timeout: Some(Duration::from_secs(30)),
            ..shouwang_client::Options::default()
        },
    )?)
}

impl Collector {
    /// Starts a collector on 127.0.0.1 (free port), data in `dir`.
    /// `extra` is appended to the config file.
    pub fn start(dir: &Path, extra: &str) -> anyhow::Result<Self> {
        Self::start_at(dir, "127.0.0.1:0", extra)
    }

    /// Like [`Collector::start`] on a given address (to come back on the
    /// same port after a restart).
    pub fn start_at(dir: &Path, listen: &str, extra: &str) -> anyhow::Result<Self> {
        Self::start_exe(&bin("shouwang-collector")?, dir, listen, extra)
    }

    /// Starts the collector binary `exe` (benchmarks use release builds).
    pub fn start_exe(exe: &Path, dir: &Path, listen: &str, extra: &str) -> anyhow::Result<Self> {
        // The shipped rules, unless the test brings its own.
        let rules = repo_root().join("rules");
        let rules = (!extra.contains("[rules]")).then_some(rules.as_path());
        let configured = Configured::write(exe, dir, listen, rules, extra)?;
        let token = configured.add_token("e2e-admin", "admin")?;
        let running = configured.serve()?;
        let api = api_client(&running.url, Some(&token), &shouwang_client::Tls::default())?;
        Ok(Self {
            proc: running.proc,
            url: running.url,
            config: configured.config,
            exe: exe.to_owned(),
            token,
            api,
        })
    }

    /// Starts the collector again with the same binary, config and data
    /// (after [`Proc::kill9`] or a stop); it must come back on the same
    /// address.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let running = Configured {
            exe: self.exe.clone(),
            config: self.config.clone(),
        }
        .serve()?;
        if running.url != self.url {
            bail!("collector came back on {} (was {})", running.url, self.url);
        }
        self.proc = running.proc;
        Ok(())
    }

    /// Every stored event of `agent` and `kind`, oldest first (all pages).
    pub fn all_events(&self, agent: &str, kind: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let mut out = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let page = self.get_json(&format!(
                "/v1/events?agent={agent}&kind={kind}&limit=1000{}",
                before
                    .map(|b| format!("&before_id={b}"))
                    .unwrap_or_default()
            ))?;
            let evs = page["events"].as_array().cloned().unwrap_or_default();
            let Some(last) = evs.last().and_then(|e| e["id"].as_i64()) else {
                break;
            };
            let n = evs.len();
            out.extend(evs);
            if n < 1000 {
                break;
            }
            before = Some(last);
        }
        out.reverse();
        Ok(out)
    }

    /// `shouwang-collector agents add NAME`; returns the token.
    pub fn add_agent(&self, name: &str) -> anyhow::Result<String> {
        cli(&self.exe, &self.config, &["agents", "add", name])
    }

    /// A token of another role (`viewer`, `operator`, `admin`).
    pub fn api_token(&self, name: &str, role: &str) -> anyhow::Result<String> {
        cli(
            &self.exe,
            &self.config,
            &["tokens", "add", name, "--role", role],
        )
    }

    /// POST JSON with the admin token; returns status and body.
    pub fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let r = self
            .api
            .request(reqwest::Method::POST, path)
            .json(body)
            .send()?;
        let status = r.status().as_u16();
        let text = r.text()?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        ))
    }

    /// Incidents (newest first) matching `query` (`active=true&rule=…`).
    pub fn incidents(&self, query: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let v = self.get_json(&format!("/v1/incidents?limit=1000&{query}"))?;
        Ok(v["incidents"].as_array().cloned().unwrap_or_default())
    }

    pub fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let r = self.api.request(reqwest::Method::GET, path).send()?;
        let status = r.status();
        let v: serde_json::Value = r.json()?;
        if !status.is_success() {
            bail!("GET {path}: {status}: {v}");
        }
        Ok(v)
    }

    pub fn metrics(&self) -> anyhow::Result<String> {
        Ok(self
            .api
            .bare(reqwest::Method::GET, "/metrics")
            .send()?
            .error_for_status()?
            .text()?)
    }

    /// The agent's entry in `/v1/agents`.
    pub fn agent(&self, name: &str) -> anyhow::Result<Option<serde_json::Value>> {
        let v = self.get_json("/v1/agents")?;
        Ok(v["agents"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == name).cloned()))
    }

    /// Stored events, oldest first.
    pub fn events(&self, agent: &str, kind: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let v = self.get_json(&format!("/v1/events?agent={agent}&kind={kind}&limit=1000"))?;
        let mut evs = v["events"].as_array().cloned().unwrap_or_default();
        evs.reverse();
        Ok(evs)
    }

    /// Posts raw bytes to /v1/ingest.
    pub fn post_ingest(
        &self,
        token: Option<&str>,
        body: Vec<u8>,
        zstd: bool,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let mut req = self
            .api
            .bare(reqwest::Method::POST, shouwang_proto::INGEST_PATH)
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if zstd {
            req = req.header("content-encoding", "zstd");
        }
        let r = req.send()?;
        let status = r.status().as_u16();
        let text = r.text()?;
        let v = serde_json::from_str(&text)
            .with_context(|| format!("response is not JSON: {text:?}"))?;
        Ok((status, v))
    }

    /// A metric sample's value, e.g. `shouwang_ingest_events_total{kind="auth"}`.
    pub fn metric(&self, series: &str) -> anyhow::Result<Option<f64>> {
        Ok(metric_value(&self.metrics()?, series))
    }
}

/// The value of `series` (name with labels, exactly as exposed) in `text`.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
}

/// The `[host]` lines that make an agent follow `log`, polling every
/// `poll` (`100ms`).
pub fn auth_log_lines(log: &Path, poll: &str) -> String {
    format!(
        "auth-log = \"{}\"\nauth-log-poll = \"{poll}\"",
        log.display()
    )
}

/// A running agent.
pub struct Agent {
    pub proc: Proc,
    pub config: PathBuf,
}

impl Agent {
    /// Writes the config of an agent named `name` reporting to
    /// `collector` with `token`: samples every second; `host_extra` is
    /// appended to the `[host]` section (and may open further tables).
    pub fn write_config(
        dir: &Path,
        name: &str,
        collector: &str,
        token: &str,
        host_extra: &str,
    ) -> anyhow::Result<PathBuf> {
        let config = dir.join(format!("{name}.toml"));
        AgentConfig {
            name,
            collector,
            token_file: dir.join(format!("{name}.token")),
            state_dir: dir.join(format!("{name}-state")),
            labels: &[
                ("district", "d1"),
                ("town", "t1"),
                ("site", "s1"),
                ("role", "web"),
            ],
            interval: "1s",
            host_extra,
            ship: "flush-interval = \"200ms\"\nbackoff-min = \"100ms\"\nbackoff-max = \"1s\"",
        }
        .write(&config, token)?;
        Ok(config)
    }

    /// Starts an agent (see [`Agent::write_config`]).
    pub fn start(
        dir: &Path,
        name: &str,
        collector: &str,
        token: &str,
        host_extra: &str,
    ) -> anyhow::Result<Self> {
        let config = Self::write_config(dir, name, collector, token, host_extra)?;
        let mut cmd = Command::new(bin("shouwang-agent")?);
        cmd.arg("--config").arg(&config).env("RUST_LOG", "info");
        Ok(Self {
            proc: Proc::spawn(cmd, None)?,
            config,
        })
    }

    /// Starts an agent with a config from [`Agent::write_config`] through
    /// `cmd` (a wrapper such as `unshare …` ending in the agent binary).
    pub fn start_cmd(mut cmd: Command, config: PathBuf) -> anyhow::Result<Self> {
        cmd.env("RUST_LOG", "info");
        Ok(Self {
            proc: Proc::spawn(cmd, None)?,
            config,
        })
    }
}

/// The source tree's root (for `rules/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The JSON lines a finished command printed; panics with its stderr if it
/// failed (test helper).
pub fn jsonl_output(what: &str, out: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: bad JSON line {l:?}: {e}"))
        })
        .collect()
}

/// An encoded batch body for hand-made requests.
pub fn batch_json(agent: &str, first_seq: u64, events: Vec<shouwang_proto::Event>) -> Vec<u8> {
    serde_json::to_vec(&shouwang_proto::Batch::new(agent, first_seq, events)).unwrap_or_default()
}

/// What a sensor ships for a SYN scan of 40 ports of `dst` from `src` at
/// `ts_s`: three fan-out reports a second apart, growing to 40 unanswered
/// ports (the packet core reports scans this way while they run; each
/// report fires `network.scan.tcp-ports`).
pub fn scan_reports(src: &str, dst: &str, ts_s: i64) -> Vec<shouwang_proto::Event> {
    let src: std::net::IpAddr = src.parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
    let dst: std::net::IpAddr = dst.parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
    [14u32, 27, 40]
        .iter()
        .enumerate()
        .map(|(k, &ports)| {
            shouwang_proto::Event::new(
                shouwang_proto::Timestamp::from_secs(ts_s + k as i64),
                shouwang_proto::EventBody::Fanout(shouwang_proto::Fanout {
                    direction: shouwang_proto::FanDirection::Out,
                    proto: 6,
                    src,
                    dst,
                    dst_port: 1000 + u16::try_from(ports).unwrap_or(0),
                    first_ts: ts_s * 1_000_000_000,
                    burst_ts: 0,
                    probes: u64::from(ports),
                    answered: 0,
                    packets: u64::from(ports),
                    hosts: 1,
                    ports,
                    recent_packets: u64::from(ports),
                    recent_unanswered: u64::from(ports),
                    recent_hosts: 1,
                    recent_ports: ports.min(27),
                    window_ports: ports.min(27),
                    saturated: false,
                }),
            )
        })
        .collect()
}

/// A half-open TCP probe from `src` to `dst:port` at `ts_s` (capture time).
pub fn syn_probe(src: &str, dst: &str, port: u16, ts_s: i64) -> shouwang_proto::Event {
    shouwang_proto::Event::new(
        shouwang_proto::Timestamp::from_secs(ts_s),
        shouwang_proto::EventBody::Flow(shouwang_proto::FlowRecord {
            iface: "eth0".into(),
            proto: 6,
            src: src.parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
            src_port: 40000,
            dst: dst.parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
            dst_port: port,
            vlan: None,
            first_ts: ts_s * 1_000_000_000,
            last_ts: ts_s * 1_000_000_000,
            packets_to_server: 1,
            bytes_to_server: 60,
            packets_to_client: 1,
            bytes_to_client: 40,
            tcp_flags_to_server: 2,
            tcp_flags_to_client: 0x14,
            syn: 1,
            syn_ack: 0,
            rst: 1,
            fin: 0,
            tcp_state: shouwang_proto::TcpState::Reset,
            end: shouwang_proto::FlowEnd::Idle,
            app: shouwang_proto::AppProto::Unknown,
        }),
    )
}

/// A notice event, the smallest valid event.
pub fn notice(i: u64) -> shouwang_proto::Event {
    shouwang_proto::Event::new(
        shouwang_proto::Timestamp::from_secs(1_700_000_000 + i64::try_from(i).unwrap_or_default()),
        shouwang_proto::EventBody::Notice(shouwang_proto::Notice {
            level: shouwang_proto::Level::Info,
            component: "e2e".into(),
            message: format!("n{i}"),
        }),
    )
}
