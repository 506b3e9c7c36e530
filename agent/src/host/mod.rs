//! Host telemetry: periodic samples, listening sockets, sessions, and the
//! auth log.
//!
//! Sources run as tasks (or, for blocking file reads, one OS thread) that
//! send [`Event`]s into the shipping channel. A source that must wait for
//! room in the channel waits; the auth-log follower keeps its file position
//! until lines are handed over, so back-pressure delays lines, never drops
//! them.

pub mod authlog;
pub mod follow;
pub mod sampler;
pub mod sessions;
pub mod sockets;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shouwang_proto::{
    Event, EventBody, Level, ListenSnapshot, Notice, Skipped, Timestamp, TransportProto,
};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{AuthLogSource, HostConfig};
use crate::state::write_atomic;

/// Components the agent is not collecting, for heartbeats and the demo.
#[derive(Debug, Clone, Default)]
pub struct SkipList(Arc<Mutex<Vec<Skipped>>>);

impl SkipList {
    /// Records (once per component) that `component` is skipped.
    pub fn add(&self, component: &str, reason: impl Into<String>) {
        let reason = reason.into();
        if let Ok(mut v) = self.0.lock()
            && !v.iter().any(|s| s.component == component)
        {
            warn!(component, %reason, "telemetry skipped");
            v.push(Skipped {
                component: component.to_owned(),
                reason,
            });
        }
    }

    pub fn snapshot(&self) -> Vec<Skipped> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// Samples the host every `cfg.interval` until cancelled.
pub async fn run_sampler(
    cfg: HostConfig,
    tx: mpsc::Sender<Event>,
    skipped: SkipList,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let utmp = cfg.utmp.clone();
    let mut sampler =
        tokio::task::spawn_blocking(move || sampler::HostSampler::new(utmp)).await??;
    let mut watcher = sockets::ListenWatcher::new();
    let mut ticker = tokio::time::interval(cfg.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_snapshot: Option<Instant> = None;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        let (s, w, sample, listen) = tokio::task::spawn_blocking(move || {
            let sample = sampler.sample();
            let listen = watcher.refresh();
            (sampler, watcher, sample, listen)
        })
        .await?;
        sampler = s;
        watcher = w;
        let ts = now();
        let mut sample = sample;
        let mut events = Vec::new();
        match listen {
            Ok((all, changes)) => {
                let count = |p| {
                    u32::try_from(all.iter().filter(|s| s.proto == p).count()).unwrap_or(u32::MAX)
                };
                sample.listening_tcp = count(TransportProto::Tcp);
                sample.listening_udp = count(TransportProto::Udp);
                if watcher.owner_skipped() {
                    skipped.add(
                        "listening-sockets.owner",
                        "cannot read other processes' /proc/PID/fd; owners of their sockets are \
                         unknown (run as root or grant CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE)",
                    );
                }
                let due = last_snapshot.is_none_or(|t| t.elapsed() >= cfg.listen_snapshot);
                if due {
                    last_snapshot = Some(Instant::now());
                    events.push(EventBody::ListenSnapshot(ListenSnapshot { sockets: all }));
                }
                events.extend(changes.into_iter().map(EventBody::ListenChange));
            }
            Err(e) => skipped.add("listening-sockets", format!("cannot read /proc/net: {e}")),
        }
        events.insert(0, EventBody::HostSample(Box::new(sample)));
        for body in events {
            if tx.send(Event::new(ts, body)).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// Where auth events come from on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvedAuthLog {
    File(PathBuf),
    Journald,
}

/// Picks the auth-log source, or says why there is none.
pub fn resolve_auth_log(src: &AuthLogSource) -> Result<ResolvedAuthLog, String> {
    match src {
        AuthLogSource::Off => Err("auth-log = \"off\" in the config".to_owned()),
        AuthLogSource::File(p) => Ok(ResolvedAuthLog::File(p.clone())),
        AuthLogSource::Journald => {
            if journalctl_available() {
                Ok(ResolvedAuthLog::Journald)
            } else {
                Err(
                    "auth-log = \"journald\" but journalctl or /run/systemd/journal is missing"
                        .into(),
                )
            }
        }
        AuthLogSource::Auto => {
            for p in ["/var/log/auth.log", "/var/log/secure"] {
                let path = Path::new(p);
                if path.exists() {
                    return match std::fs::File::open(path) {
                        Ok(_) => Ok(ResolvedAuthLog::File(path.to_owned())),
                        Err(e) => Err(format!(
                            "{p} is not readable ({e}); run the agent as root or add its user to \
                             the group that owns {p} (adm on Debian)"
                        )),
                    };
                }
            }
            if journalctl_available() {
                Ok(ResolvedAuthLog::Journald)
            } else {
                Err("no /var/log/auth.log, /var/log/secure or systemd journal on this host".into())
            }
        }
    }
}

fn journalctl_available() -> bool {
    Path::new("/run/systemd/journal").is_dir()
        && std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|d| d.join("journalctl").is_file())
        })
}

const AUTH_POS_FILE: &str = "authlog.pos";

/// Follows an auth-log file on its own OS thread until cancelled.
pub fn spawn_auth_file(
    path: PathBuf,
    poll: Duration,
    state_dir: PathBuf,
    tx: mpsc::Sender<Event>,
    cancel: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("auth-log".into())
        .spawn(move || follow_auth_file(&path, poll, &state_dir, &tx, &cancel))
}

fn follow_auth_file(
    path: &Path,
    poll: Duration,
    state_dir: &Path,
    tx: &mpsc::Sender<Event>,
    cancel: &CancellationToken,
) {
    let pos_file = state_dir.join(AUTH_POS_FILE);
    let resume = std::fs::read(&pos_file)
        .ok()
        .and_then(|b| serde_json::from_slice::<(PathBuf, follow::Position)>(&b).ok())
        .filter(|(p, _)| p == path)
        .map(|(_, pos)| pos);
    let mut follower = follow::Follower::new(path, resume);
    let mut saved = resume;
    let mut last_error: Option<String> = None;
    let mut announced = false;
    let mut log = authlog::AuthLog::new(shouwang_logs::Format::Auth);
    while !cancel.is_cancelled() {
        let mut events = Vec::new();
        let wall = chrono::Local::now();
        let result = follower.poll(&mut |line| {
            events.extend(log.line(line, wall));
        });
        // Connections whose last line is long past end (pending failures
        // of pam-only or pubkey-only sessions go out).
        events.extend(log.tick(wall));
        match result {
            Ok(report) => {
                last_error = None;
                // Say once where reading starts, so operators (and tests)
                // know from which point on lines are covered.
                if !announced && let Some(pos) = follower.position() {
                    announced = true;
                    info!(path = %path.display(), offset = pos.offset, resumed = resume.is_some(), "following auth log");
                    events.insert(
                        0,
                        Event::new(
                            now(),
                            EventBody::Notice(Notice {
                                level: Level::Info,
                                component: "auth-log".into(),
                                message: format!(
                                    "following {} from byte {}",
                                    path.display(),
                                    pos.offset
                                ),
                            }),
                        ),
                    );
                }
                if report.rotated || report.truncated {
                    let what = if report.rotated {
                        "rotated"
                    } else {
                        "truncated"
                    };
                    info!(path = %path.display(), what, "auth log {what}");
                    events.push(Event::new(
                        now(),
                        EventBody::Notice(Notice {
                            level: Level::Info,
                            component: "auth-log".into(),
                            message: format!(
                                "{} was {what}; following the new file",
                                path.display()
                            ),
                        }),
                    ));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                if last_error.as_deref() != Some(&msg) {
                    warn!(path = %path.display(), error = %msg, "cannot read auth log");
                    last_error = Some(msg);
                }
            }
        }
        for ev in events {
            // Blocks while the pipeline is full: lines wait in the file.
            if tx.blocking_send(ev).is_err() {
                return;
            }
        }
        let pos = follower.position();
        if pos != saved
            && let Some(p) = pos
            && let Ok(bytes) = serde_json::to_vec(&(path, p))
            && write_atomic(&pos_file, &bytes).is_ok()
        {
            saved = pos;
        }
        std::thread::sleep(poll);
    }
}

/// Follows the systemd journal's auth facilities through `journalctl`.
pub async fn run_journald(
    state_dir: PathBuf,
    tx: mpsc::Sender<Event>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let cursor = state_dir.join("journal.cursor");
    let mut delay = Duration::from_secs(1);
    while !cancel.is_cancelled() {
        let mut cmd = tokio::process::Command::new("journalctl");
        cmd.args(["--follow", "--output=json", "--no-pager", "--quiet"])
            .arg(format!("--cursor-file={}", cursor.display()));
        if !cursor.exists() {
            cmd.arg("--lines=0");
        }
        // Facilities auth (4) and authpriv (10).
        cmd.args(["SYSLOG_FACILITY=4", "SYSLOG_FACILITY=10"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let Some(stdout) = child.stdout.take() else {
            anyhow::bail!("journalctl gave no stdout");
        };
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let mut log = authlog::AuthLog::new(shouwang_logs::Format::JournalJson);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                line = lines.next_line() => match line {
                    Ok(Some(l)) => {
                        delay = Duration::from_secs(1);
                        for ev in log.line(&l, chrono::Local::now()) {
                            if tx.send(ev).await.is_err() {
                                return Ok(());
                            }
                        }
                    }
                    Ok(None) | Err(_) => break,
                },
                // No line for a while: idle sessions end.
                () = tokio::time::sleep(Duration::from_secs(5)) => {
                    for ev in log.tick(chrono::Local::now()) {
                        if tx.send(ev).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
        }
        warn!(retry_in = ?delay, "journalctl exited; restarting");
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(60));
    }
    Ok(())
}
