//! `shouwang-drill run`: steps, waiting for expectations, the scorecard.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use shouwang_proto::{Incident, Timestamp};
use shouwang_rules::testing::{Step as TestStep, expand_events};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::api::Api;
use crate::playbook::{
    self, Exec, FileAction, Files, Http, Inject, Pcap, PcapMode, Playbook, Step,
};
use crate::score::{self, PlaybookResult, Seen, Status};

/// Options of a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub exercise: String,
    pub vars: BTreeMap<String, String>,
    /// Extra wait after the last deadline for late detections.
    pub grace: Duration,
    /// Only playbooks whose steps are all of these kinds (empty: all).
    pub only_kinds: Vec<String>,
    /// `shouwang-agent` for pcap steps.
    pub agent_bin: PathBuf,
    /// Sequence-number state of pcap replays (kept across runs).
    pub state_dir: PathBuf,
    /// Also match untagged incidents opened during live steps (packets,
    /// exec, wire replay, files, http), whose telemetry comes from real
    /// agents that do not know the exercise.
    pub untagged_live: bool,
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// Whether `tool` is an executable on PATH.
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            let f = d.join(tool);
            f.is_file()
                && std::fs::metadata(&f).is_ok_and(|m| {
                    std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
                })
        })
    })
}

/// The exercise tag of one playbook in a run (at most 64 characters).
pub fn playbook_exercise(run: &str, id: &str) -> String {
    let mut s = format!("{run}.{id}");
    s.truncate(64);
    s
}

fn steps_live(pb: &Playbook) -> bool {
    pb.steps.iter().any(|s| match s {
        Step::Inject(_) | Step::Wait(_) => false,
        Step::Pcap(p) => p.mode == PcapMode::Wire,
        _ => true,
    })
}

/// What a playbook's run leaves to undo.
#[derive(Default)]
struct Scratch {
    /// Original content of files touched (None: did not exist).
    saved: BTreeMap<PathBuf, Option<Vec<u8>>>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for s in &self.servers {
            s.abort();
        }
    }
}

/// Runs every playbook in order and returns the results.
pub async fn run_all(
    api: &mut Api,
    files: &[PathBuf],
    opts: &RunOptions,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<PlaybookResult>> {
    let mut out = Vec::new();
    for path in files {
        let r = run_one(api, path, opts, progress).await;
        progress(&format!(
            "{} {}",
            match r.status {
                Status::Passed => "PASS ",
                Status::Failed => "FAIL ",
                Status::Skipped => "SKIP ",
                Status::Error => "ERROR",
            },
            r.id
        ));
        out.push(r);
    }
    Ok(out)
}

fn unrun(path: &Path, id: String, status: Status, reason: String, ex: String) -> PlaybookResult {
    PlaybookResult {
        id,
        title: String::new(),
        file: path.display().to_string(),
        attack: Vec::new(),
        exercise: ex,
        status,
        reason: Some(reason),
        steps_ms: 0,
        outcomes: Vec::new(),
        false_positives: Vec::new(),
        incidents: Vec::new(),
    }
}

async fn run_one(
    api: &mut Api,
    path: &Path,
    opts: &RunOptions,
    progress: &mut dyn FnMut(&str),
) -> PlaybookResult {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut builtin = BTreeMap::new();
    let pb_dir = path
        .parent()
        .unwrap_or(Path::new("."))
        .display()
        .to_string();
    builtin.insert("playbook-dir".to_owned(), pb_dir);
    let pb = match playbook::load(path, &builtin, &opts.vars) {
        Err(e) => {
            return unrun(path, stem, Status::Error, format!("{e:#}"), String::new());
        }
        Ok(Err(missing)) => {
            let need = missing
                .iter()
                .map(|m| format!("--var {m}=…"))
                .collect::<Vec<_>>()
                .join(" ");
            return unrun(
                path,
                stem,
                Status::Skipped,
                format!("needs {need}"),
                String::new(),
            );
        }
        Ok(Ok(pb)) => pb,
    };
    let exercise = playbook_exercise(&opts.exercise, &pb.id);
    let mut result = unrun(
        path,
        pb.id.clone(),
        Status::Skipped,
        String::new(),
        exercise.clone(),
    );
    result.title.clone_from(&pb.title);
    result.attack.clone_from(&pb.attack);
    result.reason = None;
    if !opts.only_kinds.is_empty()
        && !pb
            .steps
            .iter()
            .all(|s| opts.only_kinds.iter().any(|k| k == s.kind()))
    {
        result.reason = Some(format!(
            "step kinds {} not selected (--only {})",
            pb.steps
                .iter()
                .map(Step::kind)
                .collect::<Vec<_>>()
                .join(","),
            opts.only_kinds.join(",")
        ));
        return result;
    }
    if pb.prerequisites.root && !is_root() {
        result.reason = Some("needs root (raw sockets, namespaces)".to_owned());
        return result;
    }
    let missing: Vec<&String> = pb
        .prerequisites
        .tools
        .iter()
        .filter(|t| !on_path(t))
        .collect();
    if !missing.is_empty() {
        result.reason = Some(format!(
            "tools not on PATH: {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return result;
    }
    progress(&format!(
        "run   {} ({} steps) as {exercise}",
        pb.id,
        pb.steps.len()
    ));
    match execute(api, &pb, &exercise, opts, progress).await {
        Ok(r) => r,
        Err(e) => {
            result.status = Status::Error;
            result.reason = Some(format!("{e:#}"));
            result
        }
    }
}

async fn execute(
    api: &mut Api,
    pb: &Playbook,
    exercise: &str,
    opts: &RunOptions,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<PlaybookResult> {
    let start_ms = api
        .now_ms()
        .await
        .context("reading the collector's clock")?;
    let started = Instant::now();
    let live = opts.untagged_live && steps_live(pb);
    // Untagged incidents already open: a live attack on the same victim or
    // from the same source as an earlier one recurs in them (the collector
    // deduplicates), so their detection counts now are the baseline.
    let mut recur = Recurrences::default();
    if live {
        recur.baseline(&api.incidents("", 1000).await?);
    }
    let mut scratch = Scratch::default();
    let mut step_error = None;
    for (n, s) in pb.steps.iter().enumerate() {
        progress(&format!(
            "      step {}/{}: {}",
            n + 1,
            pb.steps.len(),
            s.kind()
        ));
        if let Err(e) = step(api, pb, s, exercise, opts, &mut scratch).await {
            step_error = Some(e.context(format!("step {} ({})", n + 1, s.kind())));
            break;
        }
    }
    let steps_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut incidents = Vec::new();
    if step_error.is_none() {
        // Wait until every positive expectation is met (then 2 s more for
        // extra incidents to show), or the last deadline plus grace.
        let last = pb.expect.iter().map(|e| e.within).max().unwrap_or_default();
        let quiet_until = pb
            .expect
            .iter()
            .filter(|e| e.none)
            .map(|e| e.within)
            .max()
            .unwrap_or_default();
        let hard = started + last + opts.grace;
        let mut all_met_at: Option<Instant> = None;
        loop {
            incidents = fetch(api, exercise, live, start_ms, &mut recur).await?;
            let met = pb
                .expect
                .iter()
                .filter(|e| !e.none)
                .all(|e| incidents.iter().any(|i| score::meets(e, i)));
            let now = Instant::now();
            if met && now >= started + quiet_until {
                let t = *all_met_at.get_or_insert(now);
                if now >= t + Duration::from_secs(2) {
                    break;
                }
            }
            if now >= hard {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    // Cleanup runs whatever happened.
    for (n, s) in pb.cleanup.iter().enumerate() {
        progress(&format!(
            "      cleanup {}/{}: {}",
            n + 1,
            pb.cleanup.len(),
            s.kind()
        ));
        if let Err(e) = step(api, pb, s, exercise, opts, &mut scratch).await {
            progress(&format!("      cleanup {} failed: {e:#}", n + 1));
        }
    }
    drop(scratch);
    let outcomes = score::judge(&pb.expect, &incidents, start_ms);
    let fps: Vec<Seen> = score::false_positives(&pb.expect, &pb.attack, &incidents)
        .into_iter()
        .map(Seen::from)
        .collect();
    let (status, reason) = match step_error {
        Some(e) => (Status::Error, Some(format!("{e:#}"))),
        None if outcomes.iter().all(|o| o.verdict.passed()) => (Status::Passed, None),
        None => (Status::Failed, None),
    };
    Ok(PlaybookResult {
        id: pb.id.clone(),
        title: pb.title.clone(),
        file: pb.path.display().to_string(),
        attack: pb.attack.clone(),
        exercise: exercise.to_owned(),
        status,
        reason,
        steps_ms,
        outcomes,
        false_positives: fps,
        incidents: incidents.iter().map(Seen::from).collect(),
    })
}

/// Untagged incidents open before a live run began, and when the run first
/// saw each gain a detection.
#[derive(Debug, Default)]
struct Recurrences {
    /// id -> detections when the run began.
    before: HashMap<i64, u64>,
    /// id -> the incident's `updated_ms` when the run first saw it grow.
    seen: HashMap<i64, i64>,
}

impl Recurrences {
    fn baseline(&mut self, open: &[Incident]) {
        self.before = open.iter().map(|i| (i.id, i.detections)).collect();
    }

    /// The incident as this run's: opened since the run began, or a
    /// recurrence of an older one, which counts from when it grew.
    fn credit(&mut self, i: Incident, start_ms: i64) -> Option<Incident> {
        if i.exercise.is_some() {
            return None;
        }
        if i.opened_ms >= start_ms {
            return Some(i);
        }
        let grew = self.before.get(&i.id).is_some_and(|&n| i.detections > n);
        if !grew {
            return None;
        }
        let at = *self.seen.entry(i.id).or_insert(i.updated_ms.max(start_ms));
        Some(Incident { opened_ms: at, ..i })
    }
}

/// The run's incidents: tagged with the exercise, plus (live steps)
/// untagged ones opened since the steps began or that gained a detection
/// since (a recurrence, timed from when the run first saw it).
async fn fetch(
    api: &Api,
    exercise: &str,
    live: bool,
    start_ms: i64,
    recur: &mut Recurrences,
) -> anyhow::Result<Vec<Incident>> {
    let mut v = api.exercise_incidents(exercise).await?;
    if live {
        let recent = api.incidents("", 1000).await?;
        v.extend(recent.into_iter().filter_map(|i| recur.credit(i, start_ms)));
    }
    v.sort_by_key(|i| i.id);
    v.dedup_by_key(|i| i.id);
    Ok(v)
}

async fn step(
    api: &mut Api,
    pb: &Playbook,
    s: &Step,
    exercise: &str,
    opts: &RunOptions,
    scratch: &mut Scratch,
) -> anyhow::Result<()> {
    match s {
        Step::Inject(i) => inject(api, i, exercise).await,
        Step::Packets(p) => {
            let p = p.clone();
            match &p.netns {
                None => {
                    tokio::task::spawn_blocking(move || crate::packets::send(&p))
                        .await
                        .context("packet sender")??;
                    Ok(())
                }
                Some(ns) => {
                    let me = std::env::current_exe().context("own executable")?;
                    let json = serde_json::to_string(&p)?;
                    let argv = vec![
                        "ip".to_owned(),
                        "netns".to_owned(),
                        "exec".to_owned(),
                        ns.clone(),
                        me.display().to_string(),
                        "packets".to_owned(),
                        "--json".to_owned(),
                        json,
                    ];
                    let limit =
                        p.max_duration.unwrap_or(Duration::from_secs(60)) + Duration::from_secs(10);
                    exec_argv(&argv, limit, &[0], false).await
                }
            }
        }
        Step::Pcap(p) => pcap(api, pb, p, exercise, opts).await,
        Step::Files(f) => files(f, scratch),
        Step::Http(h) => {
            let h = h.clone();
            let listener = tokio::net::TcpListener::bind(&h.listen)
                .await
                .with_context(|| format!("cannot listen on {}", h.listen))?;
            scratch.servers.push(tokio::spawn(serve(listener, h)));
            Ok(())
        }
        Step::Exec(x) => exec(x).await,
        Step::Wait(w) => {
            tokio::time::sleep(w.duration).await;
            Ok(())
        }
    }
}

async fn inject(api: &mut Api, i: &Inject, exercise: &str) -> anyhow::Result<()> {
    let tables: Vec<&toml::Table> = i.events.iter().collect();
    // Lay the events out from 0 to learn their span, then end them at now
    // (minus `ago`) so windows see them as live traffic.
    let probe = expand_events(&tables, 0).map_err(|e| anyhow::anyhow!("inject: {e}"))?;
    let span = probe
        .iter()
        .filter_map(|s| match s {
            TestStep::Event { event, .. } => Some(event.ts.as_nanos()),
            TestStep::Tick(_) => None,
        })
        .max()
        .unwrap_or(0);
    let now = Timestamp::from_system_time(std::time::SystemTime::now()).as_nanos();
    let ago = i64::try_from(i.ago.unwrap_or_default().as_nanos()).unwrap_or(i64::MAX);
    let start = now.saturating_sub(ago).saturating_sub(span);
    let steps = expand_events(&tables, start).map_err(|e| anyhow::anyhow!("inject: {e}"))?;
    let mut events = Vec::with_capacity(steps.len());
    for s in steps {
        match s {
            TestStep::Event { agent, event, .. } => {
                if agent != "test-agent" && agent != api.agent {
                    bail!(
                        "inject: events are sent as the drill agent {:?}; `agent = {agent:?}` cannot be honoured",
                        api.agent
                    );
                }
                events.push(*event);
            }
            TestStep::Tick(_) => bail!(
                "inject: `tick` is for rule tests; the collector's clock moves by itself (use `ago`)"
            ),
        }
    }
    api.ingest(exercise, events).await
}

async fn pcap(
    api: &Api,
    pb: &Playbook,
    p: &Pcap,
    exercise: &str,
    opts: &RunOptions,
) -> anyhow::Result<()> {
    let file = {
        let f = PathBuf::from(&p.file);
        if f.is_absolute() {
            f
        } else {
            pb.path.parent().unwrap_or(Path::new(".")).join(f)
        }
    };
    if !file.is_file() {
        bail!("capture {} not found", file.display());
    }
    let timeout = p.timeout.unwrap_or(Duration::from_secs(300));
    match p.mode {
        PcapMode::Pipeline => {
            let token = api
                .target
                .agent_token
                .clone()
                .context("pcap steps send as the drill's agent: give --agent-token")?;
            let argv = vec![
                opts.agent_bin.display().to_string(),
                "pcap".to_owned(),
                "--collector".to_owned(),
                api.target.url.clone(),
                "--token".to_owned(),
                token,
                "--exercise".to_owned(),
                exercise.to_owned(),
                "--state-dir".to_owned(),
                opts.state_dir.display().to_string(),
                file.display().to_string(),
            ];
            exec_argv(&argv, timeout, &[0], false).await
        }
        PcapMode::Wire => {
            let iface = p
                .iface
                .clone()
                .context("pcap mode = \"wire\" needs iface")?;
            let mut argv = Vec::new();
            if let Some(ns) = &p.netns {
                argv.extend(["ip", "netns", "exec", ns].map(str::to_owned));
            }
            argv.extend(["tcpreplay", "-q", "-i", &iface, "-t"].map(str::to_owned));
            argv.push(file.display().to_string());
            exec_argv(&argv, timeout, &[0], false).await
        }
    }
}

fn files(f: &Files, scratch: &mut Scratch) -> anyhow::Result<()> {
    let root = PathBuf::from(&f.root);
    if !root.is_dir() {
        bail!("web root {} is not a directory", root.display());
    }
    let path = root.join(&f.path);
    let remember = |scratch: &mut Scratch| {
        if !scratch.saved.contains_key(&path) {
            scratch
                .saved
                .insert(path.clone(), std::fs::read(&path).ok());
        }
    };
    match f.action {
        FileAction::Tamper => {
            remember(scratch);
            if f.replace {
                std::fs::write(&path, &f.content)
            } else {
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .and_then(|mut h| std::io::Write::write_all(&mut h, f.content.as_bytes()))
            }
            .with_context(|| format!("tamper {}", path.display()))
        }
        FileAction::Create => {
            remember(scratch);
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d).with_context(|| format!("mkdir {}", d.display()))?;
            }
            std::fs::write(&path, &f.content).with_context(|| format!("create {}", path.display()))
        }
        FileAction::Delete => {
            remember(scratch);
            std::fs::remove_file(&path).with_context(|| format!("delete {}", path.display()))
        }
        FileAction::Restore => match scratch.saved.get(&path) {
            None => bail!("restore {}: this run did not change it", path.display()),
            Some(Some(orig)) => {
                std::fs::write(&path, orig).with_context(|| format!("restore {}", path.display()))
            }
            Some(None) => match std::fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(anyhow::Error::new(e).context(format!("remove {}", path.display()))),
            },
        },
    }
}

/// A tiny HTTP/1.1 server: one page, or another for the cloaked agent.
async fn serve(listener: tokio::net::TcpListener, h: Http) {
    let until = tokio::time::Instant::now() + h.serve_for;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = tokio::time::sleep_until(until) => return,
        };
        let Ok((mut conn, _)) = accepted else {
            continue;
        };
        let h = h.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut len = 0;
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while len < buf.len() {
                    match conn.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            len += n;
                            if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                                break;
                            }
                        }
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let head = String::from_utf8_lossy(&buf[..len]).to_ascii_lowercase();
            let cloaked = match (&h.cloak_agent, &h.cloak_body) {
                (Some(a), Some(_)) => head
                    .lines()
                    .any(|l| l.starts_with("user-agent:") && l.contains(&a.to_ascii_lowercase())),
                _ => false,
            };
            let body = if cloaked {
                h.cloak_body.as_deref().unwrap_or_default()
            } else {
                &h.body
            };
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(resp.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

async fn exec(x: &Exec) -> anyhow::Result<()> {
    let mut argv = Vec::new();
    if let Some(ns) = &x.netns {
        argv.extend(["ip", "netns", "exec", ns].map(str::to_owned));
    }
    argv.extend(x.command.iter().cloned());
    let ok = x.ok_exit.clone().unwrap_or_else(|| vec![0]);
    exec_argv(&argv, x.timeout, &ok, x.timeout_ok).await
}

/// Runs `argv` (no shell) with a timeout; fails with the output's tail.
async fn exec_argv(
    argv: &[String],
    timeout: Duration,
    ok: &[i32],
    timeout_ok: bool,
) -> anyhow::Result<()> {
    let (prog, args) = argv.split_first().context("empty command")?;
    let mut child = tokio::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {prog}"))?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let collect = async {
        let mut o = Vec::new();
        let mut e = Vec::new();
        if let Some(s) = out.as_mut() {
            let _ = s.read_to_end(&mut o).await;
        }
        if let Some(s) = err.as_mut() {
            let _ = s.read_to_end(&mut e).await;
        }
        (o, e)
    };
    let shown = argv
        .iter()
        .map(|a| {
            if a.chars().count() > 80 {
                format!("{}…", a.chars().take(80).collect::<String>())
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    match tokio::time::timeout(timeout, async {
        let (o, e) = collect.await;
        (child.wait().await, o, e)
    })
    .await
    {
        Ok((status, o, e)) => {
            let status = status.with_context(|| format!("waiting for {prog}"))?;
            let code = status.code().unwrap_or(-1);
            if ok.contains(&code) {
                return Ok(());
            }
            let tail = |b: &[u8]| {
                let s = String::from_utf8_lossy(b);
                let lines: Vec<&str> = s.lines().collect();
                lines[lines.len().saturating_sub(8)..].join("\n")
            };
            bail!("`{shown}` exited with {code}\n{}\n{}", tail(&e), tail(&o))
        }
        Err(_) if timeout_ok => Ok(()),
        Err(_) => bail!(
            "`{shown}` did not finish within {}",
            humantime::format_duration(timeout)
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn incident(id: i64, detections: u64, opened_ms: i64, updated_ms: i64) -> Incident {
        let flood = crate::score::tests::incident;
        let i = flood(
            id,
            "network.flood.syn",
            &["T1499"],
            "dst=10.0.0.2",
            opened_ms,
        );
        Incident {
            detections,
            updated_ms,
            ..i
        }
    }

    #[test]
    fn an_older_incident_counts_from_when_the_run_first_saw_it_grow() {
        let start = 10_000;
        let mut r = Recurrences::default();
        r.baseline(&[incident(1, 3, 1_000, 2_000), incident(2, 5, 1_500, 1_500)]);
        // Unchanged since the run began: not the run's.
        assert!(r.credit(incident(1, 3, 1_000, 2_000), start).is_none());
        // A new detection: the run's, timed from that update...
        let got = r.credit(incident(1, 4, 1_000, 12_500), start).unwrap();
        assert_eq!(got.opened_ms, 12_500);
        // ...and later updates do not move it.
        let got = r.credit(incident(1, 9, 1_000, 19_000), start).unwrap();
        assert_eq!(got.opened_ms, 12_500);
        assert!(r.credit(incident(2, 5, 1_500, 1_500), start).is_none());
        // Opened during the run: as it is; opened before but unknown to the
        // baseline (past its page): not the run's.
        assert_eq!(
            r.credit(incident(3, 1, 11_000, 11_000), start)
                .unwrap()
                .opened_ms,
            11_000
        );
        assert!(r.credit(incident(4, 1, 9_000, 11_000), start).is_none());
        // Opened after the run's clock was read but before its baseline:
        // the run's, though it has not grown since.
        r.baseline(&[incident(6, 1, 10_200, 10_200)]);
        assert_eq!(
            r.credit(incident(6, 1, 10_200, 10_200), start)
                .unwrap()
                .opened_ms,
            10_200
        );
        // Tagged incidents are fetched by their exercise, not here.
        let mut tagged = incident(5, 1, 11_000, 11_000);
        tagged.exercise = Some("x".into());
        assert!(r.credit(tagged, start).is_none());
    }
}
