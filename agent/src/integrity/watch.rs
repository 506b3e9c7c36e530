//! The thread that guards one web root: inotify through notify's full
//! debouncer, periodic and overflow-triggered rescans, a polling fallback
//! when the kernel's watch limit is reached, and publish authorisation
//! (`shouwang-agent publish`, windows, publisher processes).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer_opt};
use shouwang_daemon::clock::Clock;
use shouwang_proto::{Event, EventBody, FileChange, Timestamp};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::fim::{Authorised, Monitor, RootStats};

use super::config::{RootConfig, WatchMode, in_window, parse_window};
use super::stats::IntegrityStats;

/// How often the loop wakes without events (publish markers, timers,
/// cancellation).
const TICK: Duration = Duration::from_millis(100);
/// Baseline writes are at most this frequent.
const SAVE_EVERY: Duration = Duration::from_secs(2);
/// Publisher-process lookups are cached this long.
const PROCESS_CACHE: Duration = Duration::from_secs(1);

/// State of `STATE/integrity/<id>/publishing`: `open PID` while a publish
/// runs, `done PID` when its writes are finished and the agent should take
/// the result into the baseline (then the agent removes the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Open(u32),
    Done(u32),
}

impl Marker {
    pub fn read(path: &Path) -> Option<Self> {
        let s = std::fs::read_to_string(path).ok()?;
        let (state, pid) = s.trim().split_once(' ')?;
        let pid = pid.parse().ok()?;
        match state {
            "open" => Some(Self::Open(pid)),
            "done" => Some(Self::Done(pid)),
            _ => None,
        }
    }

    pub fn write(self, path: &Path) -> anyhow::Result<()> {
        let s = match self {
            Self::Open(p) => format!("open {p}\n"),
            Self::Done(p) => format!("done {p}\n"),
        };
        crate::state::write_atomic(path, s.as_bytes())
    }
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Decides whether a change now is authorised.
#[derive(Debug)]
pub struct Authoriser {
    windows: Vec<(u16, u16)>,
    publishers: Vec<String>,
    clock: Arc<dyn Clock>,
    cache: Option<(Instant, BTreeSet<String>)>,
}

impl Authoriser {
    pub fn new(cfg: &RootConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            windows: cfg
                .publish_windows
                .iter()
                .filter_map(|w| parse_window(w).ok())
                .collect(),
            publishers: cfg.publishers.clone(),
            clock,
            cache: None,
        }
    }

    /// Why changes are authorised right now (publish window, publisher
    /// process), if they are. The publish marker is checked by the caller.
    pub fn check(&mut self) -> Authorised {
        let minute = self.clock.minute_of_day();
        if self.windows.iter().any(|w| in_window(minute, *w)) {
            return Some("window".to_owned());
        }
        if self.publishers.is_empty() {
            return None;
        }
        let fresh = self
            .cache
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < PROCESS_CACHE);
        if !fresh {
            self.cache = Some((Instant::now(), running_process_names()));
        }
        let running = self.cache.as_ref().map(|(_, s)| s)?;
        self.publishers
            .iter()
            .find(|p| running.contains(p.as_str()))
            .map(|p| format!("process:{p}"))
    }
}

enum Source {
    /// The debouncer, kept alive while watching.
    Watch {
        _debouncer: notify_debouncer_full::Debouncer<
            notify::RecommendedWatcher,
            notify_debouncer_full::NoCache,
        >,
    },
    Poll,
}

fn is_limit(e: &notify::Error) -> bool {
    matches!(e.kind, notify::ErrorKind::MaxFilesWatch)
        || matches!(&e.kind, notify::ErrorKind::Io(io) if io.raw_os_error() == Some(libc::ENOSPC))
}

/// Starts watching `root`; `Err` carries whether the watch limit was the
/// reason.
fn start_watch(
    root: &Path,
    debounce: Duration,
    tx: std::sync::mpsc::Sender<DebounceEventResult>,
) -> Result<Source, (bool, String)> {
    let mut d = new_debouncer_opt::<_, notify::RecommendedWatcher, _>(
        debounce,
        Some(debounce / 4),
        tx,
        notify_debouncer_full::NoCache,
        notify::Config::default(),
    )
    .map_err(|e| (is_limit(&e), e.to_string()))?;
    d.watch(root, RecursiveMode::Recursive)
        .map_err(|e| (is_limit(&e), e.to_string()))?;
    Ok(Source::Watch { _debouncer: d })
}

/// Sends changes as events; false when the channel is closed.
fn send(tx: &mpsc::Sender<Event>, changes: Vec<FileChange>) -> bool {
    for c in changes {
        let ev = Event::new(
            Timestamp::from_system_time(std::time::SystemTime::now()),
            EventBody::FileChange(c),
        );
        if tx.blocking_send(ev).is_err() {
            return false;
        }
    }
    true
}

/// Guards one root until `cancel`. Blocking: run it on its own thread.
pub fn run_root(
    cfg: RootConfig,
    state_dir: PathBuf,
    clock: Arc<dyn Clock>,
    tx: mpsc::Sender<Event>,
    cancel: CancellationToken,
    registry: &IntegrityStats,
    pace: Option<crate::limits::Governor>,
) -> anyhow::Result<()> {
    let (mut mon, startup) = Monitor::open(&cfg, &state_dir, true, pace)?;
    registry.register(&cfg.path, mon.stats.clone());
    let stats = mon.stats.clone();
    let mut auth = Authoriser::new(&cfg, clock);
    let root_label = cfg.path.display().to_string();
    let startup_auth = auth.check();
    let startup = if startup_auth.is_some() {
        // Started inside a window: what changed while down is a release.
        mon.rescan(&startup_auth)
    } else {
        startup
    };
    if !startup.is_empty() {
        warn!(root = %root_label, changes = startup.len(), "web root changed while the agent was not watching");
    }
    if !send(&tx, startup) {
        return Ok(());
    }

    let (etx, erx) = std::sync::mpsc::channel::<DebounceEventResult>();
    let mut source = match cfg.watch {
        WatchMode::Poll => {
            info!(root = %root_label, every = ?cfg.poll_interval, "polling web root (watch = \"poll\")");
            stats.polling.store(1, Ordering::Relaxed);
            Source::Poll
        }
        WatchMode::Auto => match start_watch(&cfg.path, cfg.debounce, etx.clone()) {
            Ok(s) => s,
            Err((limit, e)) => {
                fallback(&stats, &root_label, limit, &e, cfg.poll_interval);
                Source::Poll
            }
        },
    };
    stats.ready.store(true, Ordering::Release);
    let mut last_rescan = Instant::now();
    let mut last_save = Instant::now();
    let marker_path = mon.publish_marker();
    loop {
        if cancel.is_cancelled() {
            break;
        }
        let wait = match source {
            Source::Watch { .. } => TICK,
            Source::Poll => TICK.min(cfg.poll_interval),
        };
        let mut paths = BTreeSet::new();
        let mut rescan = false;
        let mut limit_hit = None;
        let mut absorb = |res: DebounceEventResult| match res {
            Ok(events) => {
                for ev in events {
                    if ev.need_rescan() {
                        rescan = true;
                    }
                    // Reads change nothing, and our own reads (hashing,
                    // scanning a directory) would feed back into more
                    // events. A close after writing is kept.
                    if let notify::EventKind::Access(a) = ev.kind
                        && !matches!(
                            a,
                            notify::event::AccessKind::Close(notify::event::AccessMode::Write)
                        )
                    {
                        continue;
                    }
                    for p in &ev.paths {
                        if let Ok(rel) = p.strip_prefix(&cfg.path) {
                            paths.insert(rel.to_path_buf());
                        }
                    }
                }
            }
            Err(errors) => {
                for e in errors {
                    if is_limit(&e) {
                        limit_hit = Some(e.to_string());
                    } else {
                        warn!(root = %root_label, "watcher error (rescanning): {e}");
                    }
                }
                rescan = true;
            }
        };
        match erx.recv_timeout(wait) {
            Ok(r) => {
                absorb(r);
                while let Ok(r) = erx.try_recv() {
                    absorb(r);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {}
        }
        if rescan {
            stats.overflows.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(e) = limit_hit
            && matches!(source, Source::Watch { .. })
        {
            fallback(&stats, &root_label, true, &e, cfg.poll_interval);
            source = Source::Poll;
            rescan = true;
        }
        if matches!(source, Source::Poll) && last_rescan.elapsed() >= cfg.poll_interval {
            rescan = true;
        }
        if last_rescan.elapsed() >= cfg.rescan_interval {
            rescan = true;
        }

        // Publishing: `open` authorises; `done` ends it with a rescan.
        let mut publishing = false;
        match Marker::read(&marker_path) {
            Some(Marker::Open(pid)) if pid_alive(pid) => publishing = true,
            Some(Marker::Done(_)) => {
                let mut changes = mon.changed(&paths, &Some("publish".to_owned()));
                changes.extend(mon.rescan(&Some("publish".to_owned())));
                paths.clear();
                last_rescan = Instant::now();
                if let Err(e) = mon.save_if_dirty() {
                    warn!(root = %root_label, "{e:#}");
                }
                last_save = Instant::now();
                let _ = std::fs::remove_file(&marker_path);
                let dropped = mon.collect_garbage();
                info!(root = %root_label, changes = changes.len(), old_copies_removed = dropped,
                    "publish taken into the baseline");
                if !send(&tx, changes) {
                    break;
                }
                continue;
            }
            Some(Marker::Open(pid)) => {
                warn!(root = %root_label, pid, "publish marker left by a process that is gone; removing it");
                let _ = std::fs::remove_file(&marker_path);
            }
            None => {}
        }

        // Windows and publisher processes are looked at only when there is
        // something to judge.
        let mut why = || {
            if publishing {
                Some("publish".to_owned())
            } else {
                auth.check()
            }
        };
        let changes = if rescan {
            last_rescan = Instant::now();
            let why = why();
            let mut c = mon.changed(&paths, &why);
            c.extend(mon.rescan(&why));
            c
        } else if !paths.is_empty() {
            mon.changed(&paths, &why())
        } else {
            Vec::new()
        };
        if !send(&tx, changes) {
            break;
        }
        if last_save.elapsed() >= SAVE_EVERY {
            if let Err(e) = mon.save_if_dirty() {
                warn!(root = %root_label, "{e:#}");
            }
            last_save = Instant::now();
        }
    }
    drop(source);
    mon.save_if_dirty()
}

fn fallback(stats: &RootStats, root: &str, limit: bool, err: &str, every: Duration) {
    stats.polling.store(1, Ordering::Relaxed);
    if limit {
        warn!(
            root,
            every = ?every,
            "inotify watch limit reached ({err}); polling the web root instead. \
             Raise fs.inotify.max_user_watches (sysctl) to watch it again"
        );
    } else {
        warn!(root, every = ?every, "cannot watch web root ({err}); polling it instead");
    }
}

/// Names of running processes (`/proc/*/comm`).
pub fn running_process_names() -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for de in rd.flatten() {
        let name = de.file_name();
        if !name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        if let Ok(comm) = std::fs::read_to_string(de.path().join("comm")) {
            out.insert(comm.trim_end().to_owned());
        }
    }
    out
}
