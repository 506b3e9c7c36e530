//! Website integrity: web-root file integrity (watch + baseline + restore)
//! and remote checks of public pages.
//!
//! - [`baseline`]: walking, hashing and persisting a root's baseline;
//! - [`fim`]: comparing a root with its baseline, restoring, quarantining;
//! - [`watch`]: the thread per root (notify, debounce, rescans, polling
//!   fallback, publish windows);
//! - [`publish`]: `shouwang-agent publish ROOT`;
//! - [`site`]: remote checks (HTTP, TLS, DNS, content analysis, SLO).

pub mod baseline;
pub mod fim;
pub mod publish;
pub mod site;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use shouwang_daemon::clock::{Clock, SystemClock};
use shouwang_proto::{Event, EventBody, Level, Notice, Timestamp};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::error;

/// Counters of every guarded root, for heartbeats and the demo.
#[derive(Debug, Clone, Default)]
pub struct IntegrityStats(Arc<Mutex<Vec<RootEntry>>>);

type RootEntry = (PathBuf, Arc<fim::RootStats>);

impl IntegrityStats {
    pub fn register(&self, root: &Path, stats: Arc<fim::RootStats>) {
        if let Ok(mut v) = self.0.lock() {
            v.retain(|(r, _)| r != root);
            v.push((root.to_path_buf(), stats));
        }
    }

    /// Every registered root is watched (or polled); false before any is.
    pub fn ready(&self) -> bool {
        use std::sync::atomic::Ordering::Acquire;
        self.0
            .lock()
            .is_ok_and(|v| !v.is_empty() && v.iter().all(|(_, s)| s.ready.load(Acquire)))
    }

    /// Sums over all roots.
    pub fn snapshot(&self) -> shouwang_proto::IntegrityStatus {
        use std::sync::atomic::Ordering::Relaxed;
        let mut out = shouwang_proto::IntegrityStatus::default();
        let Ok(v) = self.0.lock() else { return out };
        for (_, s) in v.iter() {
            out.roots += 1;
            out.files += s.files.load(Relaxed);
            out.changes += s.changes.load(Relaxed);
            out.authorised += s.authorised.load(Relaxed);
            out.restores += s.restores.load(Relaxed);
            out.restore_failures += s.restore_failures.load(Relaxed);
            out.quarantined += s.quarantined.load(Relaxed);
            out.rescans += s.rescans.load(Relaxed);
            out.rescan_found += s.rescan_found.load(Relaxed);
            out.overflows += s.overflows.load(Relaxed);
            out.polling_roots += s.polling.load(Relaxed);
        }
        out
    }
}

/// How long a root that cannot be opened waits before the next try.
const ROOT_RETRY: Duration = Duration::from_secs(30);

/// Starts the thread guarding `cfg`'s root. A root that cannot be opened
/// (missing, unreadable) is reported as a notice and retried.
pub fn spawn_root(
    cfg: RootConfig,
    state_dir: PathBuf,
    tx: mpsc::Sender<Event>,
    cancel: CancellationToken,
    registry: IntegrityStats,
    pace: Option<crate::limits::Governor>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("web-root".into())
        .spawn(move || {
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            while !cancel.is_cancelled() {
                match watch::run_root(
                    cfg.clone(),
                    state_dir.clone(),
                    clock.clone(),
                    tx.clone(),
                    cancel.clone(),
                    &registry,
                    pace.clone(),
                ) {
                    Ok(()) => return,
                    Err(e) => {
                        let msg = format!(
                            "web root {}: {e:#}; retrying in {}s",
                            cfg.path.display(),
                            ROOT_RETRY.as_secs()
                        );
                        error!("{msg}");
                        let ev = Event::new(
                            Timestamp::from_system_time(std::time::SystemTime::now()),
                            EventBody::Notice(Notice {
                                level: Level::Error,
                                component: "integrity".into(),
                                message: msg,
                            }),
                        );
                        if tx.blocking_send(ev).is_err() {
                            return;
                        }
                        let until = std::time::Instant::now() + ROOT_RETRY;
                        while std::time::Instant::now() < until && !cancel.is_cancelled() {
                            std::thread::sleep(Duration::from_millis(200));
                        }
                    }
                }
            }
        })
}

/// `[integrity]`: web roots to guard and sites to check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IntegrityConfig {
    /// `[[integrity.roots]]`: web roots watched for changes.
    #[serde(default)]
    pub roots: Vec<RootConfig>,
    /// `[[integrity.sites]]`: public pages checked from this agent.
    #[serde(default)]
    pub sites: Vec<site::SiteConfig>,
    /// Directory of sensitive-word lexicons (`*.txt`, one term per line;
    /// the file name is the category; `allow.txt` lists terms never
    /// reported). Default: the lexicons shipped with the agent.
    #[serde(default)]
    pub lexicons: Option<PathBuf>,
}

/// One watched web root.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RootConfig {
    /// The directory (absolute).
    pub path: PathBuf,
    /// Name of the site it serves; remote checks with the same `site` are
    /// correlated with its changes.
    #[serde(default)]
    pub site: Option<String>,
    /// Globs (relative to the root) of files to watch; empty: all.
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs of files to leave alone (`cache/**`, `*.log`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Files larger than this are compared by size and mtime, not hashed.
    #[serde(default = "default_max_hash")]
    pub max_hash_size: u64,
    /// Put tampered and deleted files back from the golden copy and move
    /// unexpected new files to the quarantine.
    #[serde(default)]
    pub restore: bool,
    /// Daily windows (`HH:MM-HH:MM`, local time, may wrap midnight) in which
    /// changes are authorised releases.
    #[serde(default)]
    pub publish_windows: Vec<String>,
    /// Process names (`comm`, e.g. `rsync`) whose running marks changes as
    /// authorised.
    #[serde(default)]
    pub publishers: Vec<String>,
    /// Full comparison with the baseline this often (also at start, after a
    /// watcher overflow, and when watching fails).
    #[serde(default = "default_rescan", with = "humantime_serde")]
    pub rescan_interval: Duration,
    /// How long the watcher waits for a burst of events on a path to settle.
    #[serde(default = "default_debounce", with = "humantime_serde")]
    pub debounce: Duration,
    /// `auto` (inotify; polling when the watch limit is reached) or `poll`.
    #[serde(default)]
    pub watch: WatchMode,
    /// Rescan interval while polling.
    #[serde(default = "default_poll", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Largest unified diff attached to a change of a text file (0: none).
    #[serde(default = "default_diff_max")]
    pub diff_max_bytes: usize,
    /// Text files up to this size are copied aside so changes can be
    /// diffed.
    #[serde(default = "default_text_max")]
    pub text_max_size: u64,
    /// Threads hashing during baseline builds and rescans (default: one per
    /// core).
    #[serde(default)]
    pub hash_threads: Option<usize>,
}

/// How a root is watched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WatchMode {
    #[default]
    Auto,
    Poll,
}

fn default_max_hash() -> u64 {
    256 * 1024 * 1024
}
fn default_rescan() -> Duration {
    Duration::from_secs(600)
}
fn default_debounce() -> Duration {
    Duration::from_millis(40)
}
fn default_poll() -> Duration {
    Duration::from_secs(2)
}
fn default_diff_max() -> usize {
    4096
}
fn default_text_max() -> u64 {
    256 * 1024
}

impl RootConfig {
    /// A root at `path` with every default.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            site: None,
            include: Vec::new(),
            exclude: Vec::new(),
            max_hash_size: default_max_hash(),
            restore: false,
            publish_windows: Vec::new(),
            publishers: Vec::new(),
            rescan_interval: default_rescan(),
            debounce: default_debounce(),
            watch: WatchMode::Auto,
            poll_interval: default_poll(),
            diff_max_bytes: default_diff_max(),
            text_max_size: default_text_max(),
            hash_threads: None,
        }
    }

    /// Checks what serde cannot: absolute path, globs, windows.
    pub fn validate(&self) -> anyhow::Result<()> {
        let at = self.path.display();
        if !self.path.is_absolute() {
            anyhow::bail!("integrity.roots: path {at} must be absolute");
        }
        baseline::Filter::new(&self.include, &self.exclude)
            .map_err(|e| anyhow::anyhow!("integrity.roots {at}: {e:#}"))?;
        for w in &self.publish_windows {
            parse_window(w).map_err(|e| anyhow::anyhow!("integrity.roots {at}: {e}"))?;
        }
        if self.debounce.is_zero() || self.debounce > Duration::from_secs(10) {
            anyhow::bail!("integrity.roots {at}: debounce must be between 1ms and 10s");
        }
        if self.poll_interval < Duration::from_millis(100) {
            anyhow::bail!("integrity.roots {at}: poll-interval must be at least 100ms");
        }
        if self.rescan_interval < Duration::from_secs(1) {
            anyhow::bail!("integrity.roots {at}: rescan-interval must be at least 1s");
        }
        Ok(())
    }
}

impl IntegrityConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut seen = std::collections::BTreeSet::new();
        for r in &self.roots {
            r.validate()?;
            if !seen.insert(r.path.clone()) {
                anyhow::bail!("integrity.roots: {} is listed twice", r.path.display());
            }
        }
        for s in &self.sites {
            s.validate()?;
        }
        Ok(())
    }
}

/// A daily window in minutes since midnight, `[start, end)`.
pub fn parse_window(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("publish window {s:?}: expected HH:MM-HH:MM");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let hm = |t: &str| -> Option<u16> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let (a, b) = (hm(a).ok_or_else(bad)?, hm(b).ok_or_else(bad)?);
    if a == b {
        return Err(format!("publish window {s:?} is empty"));
    }
    Ok((a, b))
}

/// Whether `minute` (since midnight) falls in `[start, end)`, wrapping.
pub fn in_window(minute: u16, (start, end): (u16, u16)) -> bool {
    if start < end {
        (start..end).contains(&minute)
    } else {
        minute >= start || minute < end
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_and_wrap() {
        assert_eq!(parse_window("22:00-23:30"), Ok((1320, 1410)));
        let night = parse_window("23:00-01:00").unwrap();
        assert!(in_window(23 * 60 + 30, night));
        assert!(in_window(30, night));
        assert!(!in_window(60, night));
        assert!(!in_window(12 * 60, night));
        for bad in ["22:00", "25:00-26:00", "10:61-11:00", "x-y", "10:00-10:00"] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }
}
