//! Harness for end-to-end tests: real `shouwang-collector` and
//! `shouwang-agent` processes on loopback, with temporary configs and data
//! directories. Processes are killed when their handle drops.
//!
//! Binaries are taken from the cargo target directory this test binary was
//! built into (`cargo test --workspace` builds them), or from
//! `SHOUWANG_BIN_DIR`.

pub mod lab;
pub mod web;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Path of a workspace binary.
pub fn bin(name: &str) -> anyhow::Result<PathBuf> {
    let dir = match std::env::var_os("SHOUWANG_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe()?;
            // target/<profile>/deps/this-test → target/<profile>
            let deps = exe.parent().context("test binary has no directory")?;
            if deps.ends_with("deps") {
                deps.parent().context("no profile directory")?.to_owned()
            } else {
                deps.to_owned()
            }
        }
    };
    let p = dir.join(name);
    if !p.is_file() {
        bail!(
            "{} not built; run `cargo build --workspace --bins` (or `cargo test --workspace`)",
            p.display()
        );
    }
    Ok(p)
}

/// Polls `f` every 50 ms until it returns `Some`, failing after `limit`.
///
/// This waits for a condition with a bound; it never sleeps a fixed time and
/// hopes.
pub fn wait_for<T>(
    limit: Duration,
    what: &str,
    mut f: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process whose stderr is collected; killed on drop.
pub struct Proc {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Spawns `cmd`, collecting stderr; `first_line` sends the first line
    /// containing a pattern.
    pub fn spawn(
        mut cmd: Command,
        first_line: Option<(&str, mpsc::Sender<String>)>,
    ) -> anyhow::Result<Self> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {cmd:?}"))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        let wanted = first_line.map(|(pat, tx)| (pat.to_owned(), tx));
        std::thread::spawn(move || {
            let mut wanted = wanted;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some((pat, tx)) = &wanted
                    && line.contains(pat.as_str())
                {
                    let _ = tx.send(line.clone());
                    wanted = None;
                }
                if let Ok(mut l) = log2.lock() {
                    l.push(line);
                }
            }
        });
        Ok(Self { child, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// A field of /proc/PID/status in KiB (`VmRSS`, `VmHWM`).
    pub fn status_kib(&self, field: &str) -> anyhow::Result<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let line = s
            .lines()
            .find(|l| l.starts_with(&format!("{field}:")))
            .with_context(|| format!("no {field} in /proc status"))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("no value")?
            .parse()?)
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Sends SIGTERM and waits up to `limit` for exit.
    pub fn terminate(&mut self, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()?;
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            if start.elapsed() > limit {
                bail!("process {} did not exit within {limit:?}", self.pid());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `exe --config config serve` and waits for its listening line;
/// returns the process and the URL it serves on.
fn serve(exe: &Path, config: &Path) -> anyhow::Result<(Proc, String)> {
    let mut cmd = Command::new(exe);
    cmd.arg("--config")
        .arg(config)
        .arg("serve")
        .env("RUST_LOG", "info");
    let (tx, rx) = mpsc::channel();
    let proc = Proc::spawn(cmd, Some(("listening on ", tx)))?;
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .map_err(|_| anyhow::anyhow!("collector did not start:\n{}", proc.log()))?;
    let url = line
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .context("no address in listening line")?
        .to_owned();
    Ok((proc, url))
}

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
        let config = dir.join("collector.toml");
        // The shipped rules, unless the test brings its own.
        let rules = if extra.contains("[rules]") {
            String::new()
        } else {
            format!(
                "\n[rules]\ndir = \"{}\"\n",
                repo_root().join("rules").display()
            )
        };
        std::fs::write(
            &config,
            format!(
                "listen = \"{listen}\"\ndata-dir = \"{}\"\n{extra}\n{rules}",
                dir.join("data").display()
            ),
        )?;
        let token = cli(
            exe,
            &config,
            &["tokens", "add", "e2e-admin", "--role", "admin"],
        )?;
        let (proc, url) = serve(exe, &config)?;
        let api = api_client(&url, Some(&token), &shouwang_client::Tls::default())?;
        Ok(Self {
            proc,
            url,
            config,
            exe: exe.to_owned(),
            token,
            api,
        })
    }

    /// Starts the collector again with the same binary, config and data
    /// (after [`Proc::kill9`] or a stop); it must come back on the same
    /// address.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let (proc, url) = serve(&self.exe, &self.config)?;
        if url != self.url {
            bail!("collector came back on {url} (was {})", self.url);
        }
        self.proc = proc;
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
        let token_file = dir.join(format!("{name}.token"));
        std::fs::write(&token_file, format!("{token}\n"))?;
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "name = \"{name}\"\ncollector = \"{collector}\"\ntoken-file = \"{}\"\nstate-dir = \"{}\"\n\
                 [labels]\ndistrict = \"d1\"\ntown = \"t1\"\nsite = \"s1\"\nrole = \"web\"\n\
                 [host]\ninterval = \"1s\"\nheartbeat = \"1s\"\n{host_extra}\n\
                 [ship]\nflush-interval = \"200ms\"\nbackoff-min = \"100ms\"\nbackoff-max = \"1s\"\n",
                token_file.display(),
                dir.join(format!("{name}-state")).display()
            ),
        )?;
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

/// Runs a collector subcommand against `config`; returns its stdout.
pub fn cli(exe: &Path, config: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(exe)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!("{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
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
