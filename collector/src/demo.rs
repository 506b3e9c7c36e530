//! `shouwang-collector demo`: a collector with the embedded default config,
//! a registered local agent process watching this machine, and a status line
//! per interval. No setup and no root: what needs privileges is skipped and
//! said so.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use shouwang_proto::{Heartbeat, HostSample};
use tokio_util::sync::CancellationToken;

use shouwang_harness::agent::AgentConfig;
use shouwang_harness::write_private;

use crate::app::App;
use crate::config::CollectorConfig;
use crate::ingest::token;
use shouwang_daemon::clock::{Clock, SystemClock};

/// Name the demo registers its local agent under.
pub const DEMO_AGENT: &str = "demo-local";

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Keep demo data (database, agent config, logs) here instead of a
    /// temporary directory removed at exit.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Address to serve on; a free port is used if this one is taken.
    #[arg(long, default_value = "127.0.0.1:9740")]
    pub listen: SocketAddr,
    /// Agent sampling interval.
    #[arg(long, default_value = "5s", value_parser = humantime_serde::re::humantime::parse_duration)]
    pub interval: Duration,
    /// Stop by itself after this long (default: run until Ctrl-C).
    #[arg(long = "for", value_parser = humantime_serde::re::humantime::parse_duration)]
    pub run_for: Option<Duration>,
    /// Do not open the duty console (it opens by default when this runs in
    /// a terminal and `shouwang-console` sits next to this program).
    #[arg(long)]
    pub no_console: bool,
}

fn agent_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let agent = exe.with_file_name("shouwang-agent");
    if !agent.is_file() {
        bail!(
            "{} not found; build both binaries first: cargo build --release",
            agent.display()
        );
    }
    Ok(agent)
}

fn gib(b: u64) -> f64 {
    b as f64 / f64::from(1u32 << 30)
}

/// One status line from the agent's latest sample.
pub fn status_line(name: &str, online: bool, h: &HostSample, events: i64) -> String {
    let disk = h
        .disks
        .iter()
        .filter(|d| d.total > 0)
        .map(|d| 100.0 * d.total.saturating_sub(d.available) as f64 / d.total as f64)
        .fold(0.0, f64::max);
    format!(
        "{name} {}  cpu {:.1}%  mem {:.1}/{:.1} GiB  load {:.2}  disk {:.0}%  procs {}  listening tcp {} udp {}  sessions {}  stored events {}",
        if online { "online" } else { "OFFLINE" },
        h.cpu.usage_pct,
        gib(h.memory.used),
        gib(h.memory.total),
        h.load.one,
        disk,
        h.processes.count,
        h.listening_tcp,
        h.listening_udp,
        h.sessions.len(),
        events,
    )
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let agent_bin = agent_binary()?;
    let _tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            let t = tempfile::Builder::new()
                .prefix("shouwang-demo-")
                .tempdir()?;
            let p = t.path().to_owned();
            _tmp = t;
            p
        }
    };
    let agent_dir = dir.join("agent");
    std::fs::create_dir_all(&agent_dir)
        .with_context(|| format!("cannot create {}", agent_dir.display()))?;

    let mut config = CollectorConfig::load(None)?;
    config.data_dir = dir.join("collector");
    // The shipped rules: ./rules when run from the source tree.
    for candidate in [
        std::path::PathBuf::from("rules"),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules"),
    ] {
        if candidate.join("network").is_dir() {
            config.rules.dir = candidate;
            break;
        }
    }
    let listener = match crate::server::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            println!("note: {e:#}; using a free port instead");
            crate::server::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?
        }
    };
    let addr = listener.local_addr()?;
    config.listen = addr;
    let clock = Arc::new(SystemClock);
    let app = App::open(config, clock.clone()).await?;

    let t = token::generate(DEMO_AGENT)?;
    if !app
        .store
        .add_agent(DEMO_AGENT, &t.digest, clock.now_ms())
        .await?
    {
        app.store.rotate_token(DEMO_AGENT, &t.digest).await?;
    }
    let api = token::generate_api("demo-admin")?;
    app.store
        .put_api_token("demo-admin", "admin", &api.digest, clock.now_ms())
        .await?;
    let agent_config = agent_dir.join("agent.toml");
    let interval = humantime_serde::re::humantime::format_duration(args.interval).to_string();
    let collector_url = format!("http://{addr}");
    AgentConfig {
        name: DEMO_AGENT,
        collector: &collector_url,
        token_file: agent_dir.join("token"),
        state_dir: agent_dir.join("state"),
        labels: &[
            ("district", "demo"),
            ("site", "localhost"),
            ("role", "demo"),
        ],
        interval: &interval,
        host_extra: "",
        ship: "",
    }
    .write(&agent_config, &t.token)?;

    let cancel = CancellationToken::new();
    let server = tokio::spawn(crate::server::serve(app.clone(), listener, cancel.clone()));
    let log_path = agent_dir.join("agent.log");
    let log = std::fs::File::create(&log_path)?;
    let mut child = tokio::process::Command::new(&agent_bin)
        .arg("--config")
        .arg(&agent_config)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", agent_bin.display()))?;

    println!("shouwang demo");
    println!("  collector  http://{addr}   data: {}", dir.display());
    println!(
        "  agent      {DEMO_AGENT} (pid {}), sampling this machine every {interval}; log: {}",
        child.id().unwrap_or_default(),
        log_path.display()
    );
    let rules = app.detector.lock().await.engine.ruleset().rules.len();
    println!(
        "  rules      {rules} from {}",
        app.config.rules.dir.display()
    );
    println!("  api token  {} (admin)", api.token);
    println!(
        "  try        curl -s -H 'Authorization: Bearer {}' http://{addr}/v1/agents",
        api.token
    );
    println!(
        "             curl -s -H 'Authorization: Bearer {}' 'http://{addr}/v1/incidents?active=true'",
        api.token
    );
    println!("             curl -s http://{addr}/metrics | grep '^shouwang_'");
    // The duty console takes over the terminal when there is one.
    let console_bin = std::env::current_exe()
        .ok()
        .map(|e| e.with_file_name("shouwang-console"))
        .filter(|p| p.is_file());
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::io::IsTerminal::is_terminal(&std::io::stdin());
    let duty = token::generate_api("demo-duty")?;
    app.store
        .put_api_token("demo-duty", "operator", &duty.digest, clock.now_ms())
        .await?;
    let duty_token_file = dir.join("console.token");
    write_private(&duty_token_file, &format!("{}\n", duty.token))?;
    let console_cmd = format!(
        "shouwang-console --collector http://{addr} --token-file {}",
        duty_token_file.display()
    );
    let mut console = match (&console_bin, tty, args.no_console) {
        (Some(bin), true, false) => {
            println!("  console    opening the duty console (q quits it and stops the demo)…");
            Some(
                tokio::process::Command::new(bin)
                    .arg("--collector")
                    .arg(format!("http://{addr}"))
                    .arg("--token-file")
                    .arg(&duty_token_file)
                    .arg("--log-file")
                    .arg(dir.join("console.log"))
                    .arg("--report-dir")
                    .arg(&dir)
                    .kill_on_drop(true)
                    .spawn()
                    .with_context(|| format!("cannot start {}", bin.display()))?,
            )
        }
        (None, _, _) => {
            println!(
                "  console    shouwang-console not built next to this program (cargo build --release)"
            );
            None
        }
        (Some(_), _, _) => {
            println!("  console    {console_cmd}   (operator token demo-duty)");
            None
        }
    };
    // The listener is bound already: the console's first requests wait in
    // its backlog until the server task accepts them.
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(0);
    if uid != 0 {
        println!(
            "  note       running as uid {uid}, not root: parts that need privileges are skipped (listed below)"
        );
    }
    println!(
        "  stop       Ctrl-C{}",
        args.run_for.map_or(String::new(), |d| format!(
            " (or wait {})",
            humantime_serde::re::humantime::format_duration(d)
        ))
    );
    println!();

    let deadline = args.run_for.map(|d| tokio::time::Instant::now() + d);
    let mut ticker = tokio::time::interval(args.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut skipped_shown = false;
    let mut outcome = Ok(());
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            status = async { match console.as_mut() { Some(c) => c.wait().await, None => std::future::pending().await } } => {
                if let Ok(s) = status && !s.success() {
                    outcome = Err(anyhow::anyhow!("the console exited with {s}; its log: {}", dir.join("console.log").display()));
                }
                break;
            }
            () = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => break,
            status = child.wait() => {
                let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(5).collect();
                outcome = Err(anyhow::anyhow!(
                    "the agent exited ({}); last log lines:\n{}",
                    status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
                break;
            }
            _ = ticker.tick() => {
                // The console owns the terminal: print nothing under it.
                if console.is_some() {
                    continue;
                }
                let Ok(Some(row)) = app.store.agent(DEMO_AGENT).await else { continue };
                let hb: Option<Heartbeat> = row.heartbeat.as_deref().and_then(|s| serde_json::from_str(s).ok());
                if let (Some(hb), false) = (&hb, skipped_shown) {
                    skipped_shown = true;
                    if hb.skipped.is_empty() {
                        println!("  skipped    nothing: the agent collects every host source");
                    }
                    for s in &hb.skipped {
                        println!("  skipped    {}: {}", s.component, s.reason);
                    }
                }
                let host: Option<HostSample> = row.host.as_deref().and_then(|s| serde_json::from_str(s).ok());
                let online = row.last_seen_ms.is_some_and(|t| clock.now_ms() - t < 3 * i64::try_from(args.interval.as_millis()).unwrap_or(i64::MAX));
                let events = app.store.event_count().await.unwrap_or_default();
                match host {
                    Some(h) => {
                        let open = app.detector.lock().await.book.open_by_severity();
                        let open: u64 = open.iter().map(|(_, n)| n).sum();
                        println!("{}  {}  open incidents {open}", chrono_like_now(), status_line(DEMO_AGENT, online, &h, events));
                    }
                    None => println!("{}  waiting for the first sample from {DEMO_AGENT}…", chrono_like_now()),
                }
            }
        }
    }
    // Stop the agent gracefully so it flushes, then the server.
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        if tokio::time::timeout(Duration::from_secs(8), child.wait())
            .await
            .is_err()
        {
            let _ = child.start_kill();
        }
    }
    cancel.cancel();
    let _ = server.await;
    println!("demo stopped");
    outcome
}

/// `HH:MM:SS` (UTC) without a date-time dependency.
fn chrono_like_now() -> String {
    let secs = SystemClock.now_ms() / 1000;
    let s = secs.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}
