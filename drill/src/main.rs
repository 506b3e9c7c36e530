//! `shouwang-drill`: exercises (攻防演练) against a collector.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use shouwang_drill::api::{Api, Target};
use shouwang_drill::corpus::{self, CorpusOptions, Sink};
use shouwang_drill::private::{Private, sibling};
use shouwang_drill::run::{RunOptions, run_all};
use shouwang_drill::score::Report;
use shouwang_drill::{coverage, packets, playbook};

#[derive(Debug, Parser)]
#[command(
    name = "shouwang-drill",
    version,
    about = "Run attack playbooks and capture corpora against a shouwang collector and score detection"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run playbooks (files or directories), print the scorecard, write
    /// JSON and Markdown reports; exit 1 on a miss.
    Run {
        /// Playbook files or directories of them.
        #[arg(required = true)]
        playbooks: Vec<PathBuf>,
        #[command(flatten)]
        conn: Conn,
        /// `name=value` for a playbook's `${name}` (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Only playbooks whose steps are all of these kinds (inject,packets,pcap,files,http,exec,wait).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Wait this long past the last deadline for late detections.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        grace: Duration,
        /// Match only incidents tagged with the exercise, also for live steps
        /// (when the agents were started with --exercise).
        #[arg(long)]
        tagged_only: bool,
        /// Exit 2 when a playbook was skipped (missing tool, variable, root).
        #[arg(long)]
        strict: bool,
        /// State of pcap replays' sequence numbers (kept across runs).
        #[arg(long, env = "SHOUWANG_DRILL_STATE")]
        state_dir: Option<PathBuf>,
    },
    /// Replay every capture of DIR/expect.toml through the agent pipeline
    /// into a collector; per-case results, recall, false positives; exit 1
    /// on a miss.
    Corpus {
        dir: PathBuf,
        #[command(flatten)]
        conn: Conn,
        /// Longest wait for a case's incidents to settle after its replay.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        settle: Duration,
    },
    /// ATT&CK techniques claimed by the rules, exercised by the playbooks,
    /// and detected in the last run.
    Coverage {
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        #[arg(long, default_value = "playbooks")]
        playbooks: Vec<PathBuf>,
        /// A run's JSON report (default: OUT/last.json).
        #[arg(long)]
        report: Option<PathBuf>,
        #[arg(long, default_value = "drill-reports")]
        out: PathBuf,
    },
    /// Send one `packets` step given as JSON (what `run` executes inside a
    /// network namespace); needs CAP_NET_RAW.
    Packets {
        #[arg(long)]
        json: String,
    },
}

#[derive(Debug, Args)]
struct Conn {
    /// The collector (http://host:port). Without it, a private collector
    /// is started on loopback with --rules (needs shouwang-collector).
    #[arg(long, env = "SHOUWANG_COLLECTOR")]
    collector: Option<String>,
    /// Agent token of the drill's exercise agent (inject and pcap steps).
    #[arg(long, env = "SHOUWANG_DRILL_AGENT_TOKEN", hide_env_values = true)]
    agent_token: Option<String>,
    /// File holding the agent token.
    #[arg(long, conflicts_with = "agent_token")]
    agent_token_file: Option<PathBuf>,
    /// API token (viewer or above) to read incidents.
    #[arg(long, env = "SHOUWANG_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// File holding the API token.
    #[arg(long, conflicts_with = "api_token")]
    api_token_file: Option<PathBuf>,
    /// The drill agent's name (the one the agent token was issued to).
    #[arg(long, default_value = "drill")]
    agent: String,
    /// CA certificate (PEM) of an https:// collector with its own CA.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Exercise id the run is tagged with (default drill-YYYYMMDDTHHMMSS).
    #[arg(long)]
    exercise: Option<String>,
    /// Rules for a private collector.
    #[arg(long, default_value = "rules")]
    rules: PathBuf,
    /// Where reports go.
    #[arg(long, default_value = "drill-reports")]
    out: PathBuf,
    /// shouwang-agent (pcap replays); default: beside this program, else PATH.
    #[arg(long)]
    agent_bin: Option<PathBuf>,
    /// shouwang-collector (private collectors); default: beside, else PATH.
    #[arg(long)]
    collector_bin: Option<PathBuf>,
}

fn read_secret(
    v: Option<String>,
    file: Option<&Path>,
    what: &str,
) -> anyhow::Result<Option<String>> {
    if let Some(f) = file {
        let s = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read {what} file {}", f.display()))?;
        let s = s.trim().to_owned();
        if s.is_empty() {
            bail!("{what} file {} is empty", f.display());
        }
        return Ok(Some(s));
    }
    Ok(v.filter(|s| !s.trim().is_empty()))
}

impl Conn {
    fn exercise(&self) -> anyhow::Result<String> {
        let x = self.exercise.clone().unwrap_or_else(|| {
            chrono::Local::now()
                .format("drill-%Y%m%dT%H%M%S")
                .to_string()
        });
        if !shouwang_proto::valid_agent_name(&x) || x.len() > 40 {
            bail!("exercise {x:?}: use 1-40 of A-Z a-z 0-9 . _ -");
        }
        Ok(x)
    }

    /// The collector to use: given, or a private one (kept alive by the
    /// returned guard).
    fn target(&self) -> anyhow::Result<(Target, Option<Private>)> {
        match &self.collector {
            Some(url) => {
                let api_token = read_secret(self.api_token.clone(), self.api_token_file.as_deref(), "API token")?
                    .context("give --api-token (or SHOUWANG_TOKEN, --api-token-file): a viewer token to read incidents")?;
                let agent_token = read_secret(
                    self.agent_token.clone(),
                    self.agent_token_file.as_deref(),
                    "agent token",
                )?;
                Ok((
                    Target {
                        url: url.clone(),
                        agent_token,
                        api_token,
                        ca: self.ca.clone(),
                    },
                    None,
                ))
            }
            None => {
                let exe = self
                    .collector_bin
                    .clone()
                    .unwrap_or_else(|| sibling("shouwang-collector"));
                eprintln!(
                    "starting a private collector ({}, rules {})",
                    exe.display(),
                    self.rules.display()
                );
                let p = Private::start(&exe, &self.rules, &self.agent)?;
                eprintln!("private collector on {}", p.url);
                Ok((
                    Target {
                        url: p.url.clone(),
                        agent_token: Some(p.agent_token.clone()),
                        api_token: p.api_token.clone(),
                        ca: None,
                    },
                    Some(p),
                ))
            }
        }
    }

    fn agent_bin(&self) -> PathBuf {
        self.agent_bin
            .clone()
            .unwrap_or_else(|| sibling("shouwang-agent"))
    }
}

fn write_reports(out: &Path, report: &Report) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let json = serde_json::to_string_pretty(report)?;
    let j = out.join(format!("{}.json", report.exercise));
    let m = out.join(format!("{}.md", report.exercise));
    std::fs::write(&j, &json).with_context(|| format!("cannot write {}", j.display()))?;
    std::fs::write(&m, report.markdown())
        .with_context(|| format!("cannot write {}", m.display()))?;
    std::fs::write(out.join("last.json"), &json).context("cannot write last.json")?;
    Ok((j, m))
}

fn now() -> String {
    chrono::Local::now()
        .format("%Y-%m-%d %H:%M:%S %z")
        .to_string()
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let code = match real_main(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("shouwang-drill: error: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

fn real_main(cli: Cli) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    match cli.cmd {
        Cmd::Packets { json } => {
            let p: playbook::Packets =
                serde_json::from_str(&json).context("--json is not a packets step")?;
            let sent = packets::send(&p)?;
            eprintln!("sent {} packets, {} requests", sent.packets, sent.requests);
            Ok(0)
        }
        Cmd::Coverage {
            rules,
            playbooks,
            report,
            out,
        } => {
            let report = report.unwrap_or_else(|| out.join("last.json"));
            let c = coverage::compute(&rules, &playbooks, Some(&report))?;
            print!("{}", c.table());
            Ok(0)
        }
        Cmd::Run {
            playbooks,
            conn,
            vars,
            only,
            grace,
            tagged_only,
            strict,
            state_dir,
        } => {
            let files = playbook::expand_paths(&playbooks)?;
            if files.is_empty() {
                bail!(
                    "no playbooks in {}",
                    playbooks
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            let mut var_map = BTreeMap::new();
            for v in &vars {
                let (k, val) = v
                    .split_once('=')
                    .with_context(|| format!("--var {v:?}: use NAME=VALUE"))?;
                playbook::check_var(k, val)?;
                var_map.insert(k.to_owned(), val.to_owned());
            }
            for k in &only {
                if !["inject", "packets", "pcap", "files", "http", "exec", "wait"]
                    .contains(&k.as_str())
                {
                    bail!("--only {k}: kinds are inject, packets, pcap, files, http, exec, wait");
                }
            }
            let exercise = conn.exercise()?;
            let (target, _private) = conn.target()?;
            let state_dir = state_dir.unwrap_or_else(|| {
                std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(std::env::temp_dir)
                    .join(".local/state/shouwang/drill")
            });
            let opts = RunOptions {
                exercise: exercise.clone(),
                vars: var_map,
                grace,
                only_kinds: only,
                agent_bin: conn.agent_bin(),
                state_dir,
                untagged_live: !tagged_only,
            };
            let url = target.url.clone();
            let started = now();
            eprintln!(
                "exercise {exercise}: {} playbooks against {url}",
                files.len()
            );
            let results = rt.block_on(async {
                let mut api = Api::new(target, conn.agent.clone())?;
                run_all(&mut api, &files, &opts, &mut |line| eprintln!("{line}")).await
            })?;
            let report = Report {
                exercise,
                collector: url,
                started,
                finished: now(),
                playbooks: results,
            };
            print!("{}", report.text());
            let (j, m) = write_reports(&conn.out, &report)?;
            println!("reports: {} {}", j.display(), m.display());
            Ok(report.exit_code(strict))
        }
        Cmd::Corpus { dir, conn, settle } => {
            let exercise = conn.exercise()?;
            let sink = match &conn.collector {
                Some(_) => Sink::External(conn.target()?.0),
                None => Sink::Private {
                    collector_bin: conn
                        .collector_bin
                        .clone()
                        .unwrap_or_else(|| sibling("shouwang-collector")),
                    rules: conn.rules.clone(),
                },
            };
            let opts = CorpusOptions {
                agent_bin: conn.agent_bin(),
                agent: conn.agent.clone(),
                exercise: exercise.clone(),
                settle,
                replay_timeout: Duration::from_secs(600),
            };
            let started = now();
            println!(
                "{:<52} {:<44} {:<30} {:>7}  result",
                "capture", "expected", "raised", "replay"
            );
            let results = rt.block_on(corpus::run(&dir, &sink, &opts, &mut |l| println!("{l}")))?;
            let (hit, total, fps) = corpus::summary(&results);
            let report = Report {
                exercise,
                collector: conn
                    .collector
                    .clone()
                    .unwrap_or_else(|| "private (one per case)".into()),
                started,
                finished: now(),
                playbooks: results,
            };
            let t = report.totals();
            println!(
                "\n{} cases: {} passed, {} failed, {} errors; recall {hit}/{total} = {:.1}%; false positives {fps} (medium+ on benign captures); {} further incidents on attack captures (other techniques; listed in the report)",
                report.playbooks.len(),
                t.passed,
                t.failed,
                t.errors,
                if total == 0 {
                    100.0
                } else {
                    hit as f64 * 100.0 / total as f64
                },
                corpus::extra(&report.playbooks)
            );
            let (j, m) = write_reports(&conn.out, &report)?;
            println!("reports: {} {}", j.display(), m.display());
            Ok(report.exit_code(true))
        }
    }
}
