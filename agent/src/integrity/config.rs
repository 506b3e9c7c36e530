//! `[integrity]` in the agent config: web roots and sites, their defaults
//! and validation, and the publish windows' syntax (pure).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::baseline;
use super::site::SiteConfig;

/// `[integrity]`: web roots to guard and sites to check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IntegrityConfig {
    /// `[[integrity.roots]]`: web roots watched for changes.
    #[serde(default)]
    pub roots: Vec<RootConfig>,
    /// `[[integrity.sites]]`: public pages checked from this agent.
    #[serde(default)]
    pub sites: Vec<SiteConfig>,
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
