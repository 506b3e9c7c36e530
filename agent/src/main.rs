//! `shouwang-agent`: see the library docs and README.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use shouwang_agent::config::LoadedConfig;
use shouwang_agent::host;
use shouwang_proto::{Event, EventBody, ListenSnapshot, Timestamp, TransportProto};

/// shouwang (守望) host agent: host telemetry and auth events to the collector.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Config file (TOML). Without it, built-in defaults are used.
    #[arg(long, short, global = true, env = "SHOUWANG_AGENT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent (the default).
    Run,
    /// Check the config file and print the effective settings.
    CheckConfig,
    /// Take one host sample and print it as JSON lines, then exit.
    Sample,
    /// Replay a capture file (pcap or pcapng) through the packet analyzer.
    Pcap(PcapArgs),
    /// Capture live on an interface and print the events as JSON lines
    /// (needs CAP_NET_RAW).
    Capture(CaptureArgs),
    /// Read a log file (`--format auth`: syslog RFC 3164/5424/3339 or
    /// `sshd -E` lines; `journal`: `journalctl -o json`) through the agent's
    /// log parser and print the events as JSON lines, or send them to a
    /// collector (offline analysis, the drill, the fail2ban-regex
    /// benchmark). `auth-log` is the old name.
    #[command(alias = "auth-log")]
    Log(LogArgs),
    /// Publish to a watched web root: changes made while this runs are
    /// authorised and become the new baseline (restore leaves them alone).
    Publish(PublishArgs),
    /// Build the baseline of a web root and print what it holds (also the
    /// baseline benchmark).
    Baseline(BaselineArgs),
    /// Check the configured sites (or one URL) once and print the results
    /// as JSON lines.
    CheckSite(CheckSiteArgs),
}

#[derive(Debug, clap::Args)]
struct PublishArgs {
    /// The web root (one of integrity.roots in the config).
    root: PathBuf,
    /// Copy this directory over the root (changed and new files).
    #[arg(long)]
    from: Option<PathBuf>,
    /// With --from, also delete files the source directory lacks.
    #[arg(long, requires = "from")]
    delete: bool,
    /// How long to wait for the running agent to take the publish in.
    #[arg(long, default_value = "60s", value_parser = humantime_serde::re::humantime::parse_duration)]
    timeout: std::time::Duration,
    /// A command to run with the publish window open (after `--`).
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct BaselineArgs {
    /// The directory. Settings come from its integrity.roots entry when
    /// the config has one, else defaults.
    root: PathBuf,
    /// Keep the baseline here instead of the config's state-dir.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Hashing threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Debug, clap::Args)]
struct CheckSiteArgs {
    /// Check this URL with default settings instead of the configured
    /// sites.
    url: Option<String>,
}

#[derive(Debug, clap::Args)]
struct LogArgs {
    /// The log file (`-` for standard input).
    file: PathBuf,
    /// What the file holds: auth (any syslog framing or `sshd -E`),
    /// journal (`journalctl -o json`).
    #[arg(long, default_value = "auth")]
    format: String,
    /// Print events (`jsonl`, the default without --collector) or only the
    /// summary (`none`).
    #[arg(long, value_parser = ["jsonl", "none"])]
    emit: Option<String>,
    /// Send events to this collector instead of printing them.
    #[arg(long, requires = "token")]
    collector: Option<String>,
    /// Agent token for --collector.
    #[arg(long)]
    token: Option<String>,
    /// Where the replay keeps its sequence numbers.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Tag what is sent as part of this exercise (drill).
    #[arg(long, requires = "collector")]
    exercise: Option<String>,
    /// Place year-less (RFC 3164) stamps relative to this RFC 3339 time
    /// instead of now (replaying an old log).
    #[arg(long)]
    now: Option<String>,
    /// Instead of events, print what each line says on its own, before
    /// lines are counted into attempts: `{"line":N,"says":"failure",
    /// "evidence":true,"text":"…"}` for every line that says something
    /// about authentication (debugging a dialect; comparing with
    /// fail2ban-regex, which counts lines).
    #[arg(long, conflicts_with_all = ["collector", "emit"])]
    explain: bool,
}

#[derive(Debug, clap::Args)]
struct CaptureArgs {
    /// Interface to capture on.
    iface: String,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long = "for", value_parser = humantime_serde::re::humantime::parse_duration)]
    run_for: Option<std::time::Duration>,
    /// Interval of the interface statistics events.
    #[arg(long, default_value = "10s", value_parser = humantime_serde::re::humantime::parse_duration)]
    stats_interval: std::time::Duration,
    /// Print events (`jsonl`) or only the summary (`none`).
    #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "none"])]
    emit: String,
    /// Capture backend (default from the config: tpacket-v3).
    #[arg(long, value_parser = ["tpacket-v3", "pnet"])]
    backend: Option<String>,
}

#[derive(Debug, clap::Args)]
struct PcapArgs {
    /// Capture file; the format is read from its magic bytes.
    file: PathBuf,
    /// Print events as JSON lines (`jsonl`, the default without
    /// --collector) or only the summary (`none`).
    #[arg(long, value_parser = ["jsonl", "none"])]
    emit: Option<String>,
    /// Send events to this collector instead of printing them.
    #[arg(long, requires = "token")]
    collector: Option<String>,
    /// Agent token for --collector (`shouwang-collector agents add NAME`).
    #[arg(long)]
    token: Option<String>,
    /// Where the replay keeps its sequence numbers (default: per agent name
    /// under $XDG_STATE_HOME/shouwang).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Tag what is sent as part of this exercise (drill); incidents it
    /// raises carry the tag. 1-64 of A-Z a-z 0-9 . _ -
    #[arg(long, requires = "collector")]
    exercise: Option<String>,
    /// Pace the replay by capture timestamps instead of as fast as possible.
    #[arg(long)]
    realtime: bool,
    /// Interval of the interface statistics events (capture time).
    #[arg(long, default_value = "10s", value_parser = humantime_serde::re::humantime::parse_duration)]
    stats_interval: std::time::Duration,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("shouwang-agent: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    shouwang_daemon::init_logging("info");
    let loaded = LoadedConfig::load(cli.config.as_deref())?;
    if let Some(Command::Pcap(args)) = &cli.command {
        return pcap(&loaded, args);
    }
    if let Some(Command::Capture(args)) = &cli.command {
        return capture(&loaded, args);
    }
    if let Some(Command::Log(args)) = &cli.command {
        return log_cmd(args);
    }
    if let Some(Command::Publish(args)) = &cli.command {
        return publish(&loaded, args);
    }
    if let Some(Command::Baseline(args)) = &cli.command {
        return baseline(&loaded, args);
    }
    // One async thread; /proc reads go to a blocking thread kept alive
    // across sampling intervals instead of being re-created each time.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .thread_keep_alive(std::time::Duration::from_secs(300))
        .build()
        .context("cannot start the async runtime")?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => rt.block_on(shouwang_agent::run::run(loaded)),
        Command::CheckConfig => {
            let c = &loaded.config;
            println!("config: {} (hash {})", loaded.origin, loaded.hash);
            println!("name: {}", shouwang_agent::runtime::agent_name(c)?);
            println!("collector: {}", c.collector);
            println!("state-dir: {}", c.state_dir.display());
            println!("host.interval: {:?}", c.host.interval);
            match host::resolve_auth_log(&c.host.auth_log) {
                Ok(src) => println!("auth-log: {src:?}"),
                Err(why) => println!("auth-log: skipped: {why}"),
            }
            shouwang_agent::runtime::read_token(c)?;
            println!("token: present");
            Ok(())
        }
        Command::Pcap(_)
        | Command::Capture(_)
        | Command::Log(_)
        | Command::Publish(_)
        | Command::Baseline(_) => Ok(()),
        Command::CheckSite(args) => rt.block_on(check_site(&loaded, &args)),
        Command::Sample => rt.block_on(async {
            let utmp = loaded.config.host.utmp.clone();
            let mut sampler =
                tokio::task::spawn_blocking(move || host::sampler::HostSampler::new(utmp))
                    .await??;
            // CPU usage needs two readings some time apart.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let (mut sample, sockets) = tokio::task::spawn_blocking(move || {
                let s = sampler.sample();
                (s, host::sockets::ListenWatcher::new().refresh())
            })
            .await?;
            let sockets = sockets.context("reading /proc/net")?.0;
            let count = |p| sockets.iter().filter(|s| s.proto == p).count() as u32;
            sample.listening_tcp = count(TransportProto::Tcp);
            sample.listening_udp = count(TransportProto::Udp);
            let ts = Timestamp::from_system_time(std::time::SystemTime::now());
            for body in [
                EventBody::HostSample(Box::new(sample)),
                EventBody::ListenSnapshot(ListenSnapshot { sockets }),
            ] {
                println!("{}", serde_json::to_string(&Event::new(ts, body))?);
            }
            Ok(())
        }),
    }
}

fn publish(loaded: &LoadedConfig, args: &PublishArgs) -> anyhow::Result<()> {
    use shouwang_agent::integrity::publish::{PublishRequest, publish};
    let cfg = &loaded.config;
    let req = PublishRequest {
        root: args.root.clone(),
        from: args.from.clone(),
        delete: args.delete,
        command: args.command.clone(),
        timeout: args.timeout,
    };
    let report = publish(&cfg.integrity.roots, &cfg.state_dir, &req, &mut |line| {
        eprintln!("publish: {line}");
    })?;
    println!(
        "published {}: baseline +{} added, {} modified, -{} removed{}",
        args.root.display(),
        report.added,
        report.modified,
        report.removed,
        if report.by_agent {
            " (taken in by the running agent)"
        } else {
            ""
        }
    );
    Ok(())
}

fn baseline(loaded: &LoadedConfig, args: &BaselineArgs) -> anyhow::Result<()> {
    use shouwang_agent::integrity::{RootConfig, fim::Monitor};
    let cfg = &loaded.config;
    let want = std::fs::canonicalize(&args.root)
        .with_context(|| format!("{} cannot be read", args.root.display()))?;
    let mut root = cfg
        .integrity
        .roots
        .iter()
        .find(|r| std::fs::canonicalize(&r.path).is_ok_and(|p| p == want))
        .cloned()
        .unwrap_or_else(|| RootConfig::new(&want));
    if args.threads.is_some() {
        root.hash_threads = args.threads;
    }
    let state = args
        .state_dir
        .clone()
        .unwrap_or_else(|| cfg.state_dir.clone());
    let started = std::time::Instant::now();
    let (mut mon, _) = Monitor::open(&root, &state, false, None)?;
    let stats = match mon.built {
        Some(s) => s,
        None => mon.rebuild()?,
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "baseline of {}: {} files, {} bytes, {} hashed, {} unreadable, {:.3} s -> {}",
        want.display(),
        stats.files,
        stats.bytes,
        stats.hashed,
        stats.errors,
        secs,
        mon.baseline_path().display()
    );
    Ok(())
}

async fn check_site(loaded: &LoadedConfig, args: &CheckSiteArgs) -> anyhow::Result<()> {
    use shouwang_agent::integrity::site::{Site, SiteConfig, lexicon::Lexicon};
    let cfg = &loaded.config;
    let sites = match &args.url {
        Some(u) => {
            let s = SiteConfig::new(u.clone());
            s.validate()?;
            vec![s]
        }
        None if cfg.integrity.sites.is_empty() => {
            anyhow::bail!("no sites configured (integrity.sites); give a URL to check one")
        }
        None => cfg.integrity.sites.clone(),
    };
    let lexicon = std::sync::Arc::new(Lexicon::load(cfg.integrity.lexicons.as_deref())?);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    for mut site in Site::prepare(&sites, lexicon, &cfg.state_dir)? {
        let r = site.check(now).await;
        let ev = Event::new(
            Timestamp::from_system_time(std::time::SystemTime::now()),
            EventBody::SiteCheck(Box::new(r)),
        );
        println!("{}", serde_json::to_string(&ev)?);
    }
    Ok(())
}

fn log_cmd(args: &LogArgs) -> anyhow::Result<()> {
    use shouwang_agent::pcap_cmd::{self, Output};
    let format = shouwang_logs::Format::parse(&args.format)?;
    let now = match &args.now {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t).with_context(|| {
            format!("--now {t:?}: give an RFC 3339 time such as 2026-12-03T18:00:00+08:00")
        })?,
        None => chrono::Local::now().fixed_offset(),
    };
    if args.explain {
        let s = shouwang_agent::log_cmd::explain(&args.file, format, now)?;
        eprintln!(
            "log --explain: {}: {} lines, {} say something about authentication, {} of them failure evidence",
            args.file.display(),
            s.lines,
            s.saying,
            s.evidence
        );
        return Ok(());
    }
    let output = match (&args.collector, &args.token, args.emit.as_deref()) {
        (Some(url), Some(token), None) => {
            let name = pcap_cmd::name_from_token(token)
                .context("--token is not an agent token (sw1:NAME:SECRET from `shouwang-collector agents add NAME`)")?
                .to_owned();
            if let Some(x) = &args.exercise
                && !shouwang_proto::valid_agent_name(x)
            {
                anyhow::bail!("invalid exercise name {x:?}: use 1-64 of A-Z a-z 0-9 . _ -");
            }
            Output::Collector {
                url: url.clone(),
                token: token.clone(),
                state_dir: args
                    .state_dir
                    .clone()
                    .unwrap_or_else(|| pcap_cmd::default_state_dir(&name)),
                name,
                exercise: args.exercise.clone(),
            }
        }
        (Some(_), _, Some(_)) => anyhow::bail!("use either --emit or --collector, not both"),
        (None, _, Some("none")) => Output::None,
        _ => Output::Jsonl,
    };
    let s = shouwang_agent::log_cmd::run(&args.file, format, now, output)?;
    eprintln!(
        "log: {}: {} lines ({} not {}), {} events ({} failures, {} successes) in {:.2} s ({:.0} lines/s)",
        args.file.display(),
        s.lines,
        s.bad_lines,
        format.as_str(),
        s.events,
        s.failures,
        s.successes,
        s.seconds,
        s.lines as f64 / s.seconds.max(1e-9)
    );
    Ok(())
}

fn pcap(loaded: &LoadedConfig, args: &PcapArgs) -> anyhow::Result<()> {
    use shouwang_agent::pcap_cmd::{self, Output};
    let mut analyzer = shouwang_agent::runtime::analyzer_config(&loaded.config.packet);
    analyzer.stats_interval_ns = i64::try_from(args.stats_interval.as_nanos())
        .unwrap_or(i64::MAX)
        .max(1);
    let output = match (&args.collector, &args.token, args.emit.as_deref()) {
        (Some(url), Some(token), None) => {
            let name = pcap_cmd::name_from_token(token)
                .context("--token is not an agent token (sw1:NAME:SECRET from `shouwang-collector agents add NAME`)")?
                .to_owned();
            let state_dir = args
                .state_dir
                .clone()
                .unwrap_or_else(|| pcap_cmd::default_state_dir(&name));
            if let Some(x) = &args.exercise
                && !shouwang_proto::valid_agent_name(x)
            {
                anyhow::bail!("invalid exercise name {x:?}: use 1-64 of A-Z a-z 0-9 . _ -");
            }
            Output::Collector {
                url: url.clone(),
                token: token.clone(),
                name,
                state_dir,
                exercise: args.exercise.clone(),
            }
        }
        (Some(_), _, Some(_)) => anyhow::bail!("use either --emit or --collector, not both"),
        (None, _, Some("none")) => Output::None,
        _ => Output::Jsonl,
    };
    let s = pcap_cmd::run(&args.file, output, analyzer, args.realtime)?;
    eprintln!(
        "pcap: {}: {} frames ({} malformed{}), {} flows, {} events in {:.2} s ({:.0} frames/s)",
        args.file.display(),
        s.frames,
        s.malformed,
        if s.truncated { ", file cut short" } else { "" },
        s.flows,
        s.events,
        s.seconds,
        s.frames as f64 / s.seconds.max(1e-9),
    );
    Ok(())
}

fn capture(loaded: &LoadedConfig, args: &CaptureArgs) -> anyhow::Result<()> {
    use shouwang_agent::packet::live;
    use std::io::Write;
    let p = &loaded.config.packet;
    let mut analyzer = shouwang_agent::runtime::analyzer_config(p);
    analyzer.stats_interval_ns = i64::try_from(args.stats_interval.as_nanos())
        .unwrap_or(i64::MAX)
        .max(1);
    let mut lc = shouwang_agent::runtime::live_config(p)?;
    lc.analyzer = analyzer;
    if let Some(b) = &args.backend {
        lc.backend = if b == "pnet" {
            live::Backend::Pnet
        } else {
            live::Backend::TpacketV3
        };
    }
    let cap = live::open(&args.iface, lc)?;
    let cancel = tokio_util::sync::CancellationToken::new();
    let stopper = cancel.clone();
    let run_for = args.run_for;
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(rt) = rt {
            rt.block_on(async {
                let limit = async {
                    match run_for {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shouwang_daemon::shutdown_signal() => {}
                    () = limit => {}
                }
            });
        }
        stopper.cancel();
    });
    let print = args.emit == "jsonl";
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let mut events = 0u64;
    let totals = cap.run(&cancel, |ev, _| {
        events += 1;
        if print {
            // A closed stdout (| head) ends nothing here; the capture stops on its own.
            let _ = serde_json::to_writer(&mut w, &ev);
            let _ = w.write_all(b"\n");
            let _ = w.flush();
        }
        true
    });
    eprintln!(
        "capture: {}: {} frames, {} kernel drops, {events} events",
        args.iface, totals.frames, totals.kernel_drops
    );
    Ok(())
}
