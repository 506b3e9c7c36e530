//! File integrity of one web root: compares what is on disk with the
//! baseline, reports each difference once, and (when asked) puts the
//! baseline back and keeps the tampered content for forensics.
//!
//! State per root, under `STATE/integrity/<id>/`:
//! - `baseline`: every authorised file (see [`super::baseline`]);
//! - `golden/<blake3>`: content-addressed copies of baseline files, kept for
//!   restoring (all files, when `restore` is on) and for diffs (text files
//!   up to `text-max-size`);
//! - `quarantine/`: tampered content moved or copied away before a restore;
//! - `publishing`: present while `shouwang-agent publish` runs.
//!
//! Two maps drive reporting: `baseline` (authorised state) and `observed`
//! (the last state reported for paths that differ from it). A change is
//! reported when what is on disk differs from the observed state, or from
//! the baseline for paths with none, so each tamper is reported once however
//! many watcher events or rescans see it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aho_corasick::AhoCorasick;
use anyhow::Context;
use shouwang_proto::{FileChange, FileChangeKind};
use tracing::{info, warn};

use super::baseline::{self, Entry, Filter, Kind};
use super::config::RootConfig;

/// Counters for one root, shared with the heartbeat.
#[derive(Debug, Default)]
pub struct RootStats {
    pub files: AtomicU64,
    pub changes: AtomicU64,
    pub authorised: AtomicU64,
    pub restores: AtomicU64,
    pub restore_failures: AtomicU64,
    pub quarantined: AtomicU64,
    pub rescans: AtomicU64,
    /// Changes a rescan found that the watcher had not reported (missed
    /// events, queue overflow).
    pub rescan_found: AtomicU64,
    /// Watcher queue overflows and errors that forced a rescan.
    pub overflows: AtomicU64,
    /// 1 while the root is polled instead of watched.
    pub polling: AtomicU64,
    /// Set once the watch (or polling) is in place.
    pub ready: std::sync::atomic::AtomicBool,
}

/// File name extensions treated as text (diffs, golden copies for diffs).
const TEXT_EXT: &[&str] = &[
    "html", "htm", "shtml", "xhtml", "css", "js", "mjs", "json", "xml", "txt", "php", "jsp",
    "jspx", "asp", "aspx", "ashx", "cgi", "pl", "py", "sh", "svg", "md", "conf", "ini", "htaccess",
    "tpl", "vue", "csv",
];
/// Extensions of server-side scripts, scanned for web-shell signatures.
const SCRIPT_EXT: &[&str] = &[
    "php", "php3", "php4", "php5", "phtml", "jsp", "jspx", "asp", "aspx", "ashx", "asa", "cer",
    "cgi", "pl", "py", "sh",
];
/// Largest script scanned for signatures.
const SIGNATURE_MAX: u64 = 2 * 1024 * 1024;

/// One-line web-shell shapes (China Chopper and its kin, common PHP/JSP/ASP
/// backdoors), matched on lower-cased content with whitespace removed.
const SIGNATURES: &[(&str, &str)] = &[
    ("eval($_post", "php-eval-request"),
    ("eval($_get", "php-eval-request"),
    ("eval($_request", "php-eval-request"),
    ("eval($_cookie", "php-eval-request"),
    ("assert($_post", "php-assert-request"),
    ("assert($_get", "php-assert-request"),
    ("assert($_request", "php-assert-request"),
    ("eval(base64_decode(", "php-eval-encoded"),
    ("eval(gzinflate(", "php-eval-encoded"),
    ("eval(str_rot13(", "php-eval-encoded"),
    ("system($_get", "php-exec-request"),
    ("system($_post", "php-exec-request"),
    ("shell_exec($_", "php-exec-request"),
    ("passthru($_", "php-exec-request"),
    ("call_user_func($_", "php-callback-request"),
    (
        "runtime.getruntime().exec(request.getparameter",
        "jsp-exec-request",
    ),
    ("evalrequest(", "asp-eval-request"),
    ("executerequest(", "asp-eval-request"),
    ("eval(request.item", "aspx-eval-request"),
    ("eval(request[", "aspx-eval-request"),
];

fn ext_of(rel: &Path) -> Option<String> {
    let name = rel.file_name()?.to_str()?;
    let (_, ext) = name.rsplit_once('.')?;
    Some(ext.to_ascii_lowercase())
}

fn is_text(rel: &Path) -> bool {
    ext_of(rel).is_some_and(|e| TEXT_EXT.contains(&e.as_str()))
}

fn is_script(rel: &Path) -> bool {
    ext_of(rel).is_some_and(|e| SCRIPT_EXT.contains(&e.as_str()))
}

/// Web-shell signature matcher.
#[derive(Debug, Clone)]
pub struct Signatures(Option<Arc<AhoCorasick>>);

impl Signatures {
    pub fn new() -> Self {
        Self(
            AhoCorasick::new(SIGNATURES.iter().map(|(p, _)| *p))
                .ok()
                .map(Arc::new),
        )
    }

    /// The signature names `content` matches, sorted, once each.
    pub fn scan(&self, content: &[u8]) -> Vec<String> {
        let Some(ac) = &self.0 else {
            return Vec::new();
        };
        let squashed: Vec<u8> = content
            .iter()
            .filter(|b| !b.is_ascii_whitespace())
            .map(u8::to_ascii_lowercase)
            .collect();
        let names: BTreeSet<&str> = ac
            .find_overlapping_iter(&squashed)
            .filter_map(|m| SIGNATURES.get(m.pattern().as_usize()).map(|(_, n)| *n))
            .collect();
        names.into_iter().map(str::to_owned).collect()
    }
}

impl Default for Signatures {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a golden copy of `rel` is kept: every file when restoring,
/// text files up to `text_max` for diffs.
fn keeps_copy(restore: bool, diff_max: usize, text_max: u64, rel: &Path, e: &Entry) -> bool {
    e.kind == Kind::File && (restore || (diff_max > 0 && e.size <= text_max && is_text(rel)))
}

/// Octal permission bits written as decimal digits (0o644 → 644).
fn mode_digits(mode: u32) -> u32 {
    format!("{mode:o}").parse().unwrap_or(0)
}

/// `STATE/integrity/<first 16 hex of BLAKE3(root path)>`.
pub fn root_state_dir(state_dir: &Path, root: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let id = blake3::hash(root.as_os_str().as_bytes()).to_hex();
    state_dir.join("integrity").join(&id.as_str()[..16])
}

/// The integrity state of one web root.
#[derive(Debug)]
pub struct Monitor {
    pub root: PathBuf,
    root_label: String,
    site: Option<String>,
    dir: PathBuf,
    filter: Filter,
    max_hash: u64,
    restore: bool,
    diff_max: usize,
    text_max: u64,
    threads: usize,
    baseline: BTreeMap<PathBuf, Entry>,
    observed: HashMap<PathBuf, Option<Entry>>,
    dirty: bool,
    buf: Vec<u8>,
    signatures: Signatures,
    pub stats: Arc<RootStats>,
    /// What building the baseline found, when `open` had to build it.
    pub built: Option<baseline::WalkStats>,
    /// Paces rescans (`[limits]`), when the agent runs with budgets.
    pace: Option<crate::limits::Governor>,
}

/// Why a change is allowed, if it is.
pub type Authorised = Option<String>;

struct Raw {
    rel: PathBuf,
    before: Option<Entry>,
    after: Option<Entry>,
}

impl Monitor {
    /// Opens the root's state. With no baseline yet, builds one (nothing is
    /// reported: what is there now is taken as authorised). With one and
    /// `check`, rescans and returns what changed while the agent was not
    /// watching. Rescans hash at the pace `pace` sets, when given.
    pub fn open(
        cfg: &RootConfig,
        state_dir: &Path,
        check: bool,
        pace: Option<crate::limits::Governor>,
    ) -> anyhow::Result<(Self, Vec<FileChange>)> {
        let root = cfg.path.clone();
        let md = std::fs::metadata(&root)
            .with_context(|| format!("web root {} cannot be read", root.display()))?;
        if !md.is_dir() {
            anyhow::bail!("web root {} is not a directory", root.display());
        }
        let dir = root_state_dir(state_dir, &root);
        for sub in ["golden", "quarantine"] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
        }
        let _ = std::fs::set_permissions(
            dir.join("quarantine"),
            std::fs::Permissions::from_mode(0o700),
        );
        std::fs::write(dir.join("root"), root.as_os_str().as_encoded_bytes())
            .with_context(|| format!("cannot write {}", dir.join("root").display()))?;
        let mut m = Self {
            root_label: root.display().to_string(),
            root,
            site: cfg.site.clone(),
            filter: Filter::new(&cfg.include, &cfg.exclude)?,
            max_hash: cfg.max_hash_size,
            restore: cfg.restore,
            diff_max: cfg.diff_max_bytes,
            text_max: cfg.text_max_size,
            threads: cfg.hash_threads.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
            }),
            baseline: BTreeMap::new(),
            observed: HashMap::new(),
            dirty: false,
            buf: Vec::new(),
            signatures: Signatures::new(),
            stats: Arc::new(RootStats::default()),
            built: None,
            pace,
            dir,
        };
        let changes = match baseline::load(&m.baseline_path())? {
            Some(b) => {
                m.baseline = b;
                m.stats
                    .files
                    .store(m.baseline.len() as u64, Ordering::Relaxed);
                if !check {
                    return Ok((m, Vec::new()));
                }
                let changes = m.rescan(&None);
                info!(root = %m.root_label, files = m.baseline.len(), changes = changes.len(),
                    "web root baseline loaded and checked");
                changes
            }
            None => {
                let started = std::time::Instant::now();
                let stats = m.rebuild()?;
                m.built = Some(stats);
                info!(root = %m.root_label, files = stats.files, bytes = stats.bytes,
                    unreadable = stats.errors, secs = started.elapsed().as_secs_f64(),
                    "web root baseline built");
                Vec::new()
            }
        };
        m.save_if_dirty()?;
        Ok((m, changes))
    }

    /// Builds the baseline from what is on disk now, replacing the old one.
    pub fn rebuild(&mut self) -> anyhow::Result<baseline::WalkStats> {
        let golden = self.dir.join("golden");
        let (restore, diff_max, text_max) = (self.restore, self.diff_max, self.text_max);
        let wants = move |rel: &Path, e: &Entry| keeps_copy(restore, diff_max, text_max, rel, e);
        let keep = baseline::Keep {
            dir: &golden,
            wants: &wants,
        };
        let (map, stats) = baseline::scan_tree(
            &self.root,
            Path::new(""),
            &self.filter,
            &|p| self.baseline.get(p).copied(),
            self.max_hash,
            self.threads,
            (restore || diff_max > 0).then_some(&keep),
            None,
        );
        self.baseline = map;
        self.observed.clear();
        // Unchanged files reused their hashes above; make sure their
        // copies exist too.
        let missing: Vec<(PathBuf, Entry)> = self
            .baseline
            .iter()
            .filter(|(rel, e)| {
                self.keeps_copy(rel, e) && e.blake3.is_some_and(|b| !self.golden_path(&b).exists())
            })
            .map(|(r, e)| (r.clone(), *e))
            .collect();
        for (rel, e) in missing {
            self.store_golden(&rel, &e);
        }
        self.dirty = true;
        self.save_if_dirty()?;
        self.stats
            .files
            .store(self.baseline.len() as u64, Ordering::Relaxed);
        Ok(stats)
    }

    pub fn baseline_path(&self) -> PathBuf {
        self.dir.join("baseline")
    }

    /// The publish marker of this root.
    pub fn publish_marker(&self) -> PathBuf {
        self.dir.join("publishing")
    }

    pub fn baseline(&self) -> &BTreeMap<PathBuf, Entry> {
        &self.baseline
    }

    /// Paths that differ from the baseline right now (as last observed).
    pub fn deviations(&self) -> usize {
        self.observed.len()
    }

    /// Removes golden copies no baseline file refers to any more (after a
    /// publish replaced them). Returns how many went.
    pub fn collect_garbage(&self) -> usize {
        let keep: std::collections::HashSet<String> = self
            .baseline
            .values()
            .filter_map(Entry::blake3_hex)
            .collect();
        let mut removed = 0;
        let Ok(shards) = std::fs::read_dir(self.dir.join("golden")) else {
            return 0;
        };
        for shard in shards.flatten() {
            let Ok(files) = std::fs::read_dir(shard.path()) else {
                continue;
            };
            for f in files.flatten() {
                let name = f.file_name();
                let Some(name) = name.to_str() else { continue };
                if name.len() == 64
                    && !keep.contains(name)
                    && std::fs::remove_file(f.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Writes the baseline if it changed since the last write.
    pub fn save_if_dirty(&mut self) -> anyhow::Result<()> {
        if self.dirty {
            baseline::save(&self.baseline_path(), &self.baseline)?;
            self.dirty = false;
        }
        Ok(())
    }

    fn keeps_copy(&self, rel: &Path, e: &Entry) -> bool {
        e.blake3.is_some() && keeps_copy(self.restore, self.diff_max, self.text_max, rel, e)
    }

    fn golden_path(&self, b3: &[u8; 32]) -> PathBuf {
        baseline::golden_file(&self.dir.join("golden"), b3)
    }

    /// Copies `rel` into the golden store if its content still has the
    /// entry's hash.
    fn store_golden(&mut self, rel: &Path, e: &Entry) {
        let Some(b3) = e.blake3 else { return };
        let dst = self.golden_path(&b3);
        if dst.exists() {
            return;
        }
        if let Some(parent) = dst.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let tmp = dst.with_extension("part");
        let ok = std::fs::copy(self.root.join(rel), &tmp).is_ok()
            && baseline::hash_file(&tmp, &mut self.buf).is_ok_and(|(h, _)| h == b3);
        if ok {
            let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o400));
            let _ = std::fs::rename(&tmp, &dst);
        } else {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// The state a path is compared with: what was last reported for it, or
    /// its baseline.
    fn reference(&self, rel: &Path) -> Option<&Entry> {
        match self.observed.get(rel) {
            Some(o) => o.as_ref(),
            None => self.baseline.get(rel),
        }
    }

    /// Paths the watcher reported (relative to the root; directories stand
    /// for everything under them).
    pub fn changed(&mut self, rels: &BTreeSet<PathBuf>, auth: &Authorised) -> Vec<FileChange> {
        let mut candidates: BTreeMap<PathBuf, Option<Entry>> = BTreeMap::new();
        for rel in rels {
            let abs = self.root.join(rel);
            let is_dir = std::fs::symlink_metadata(&abs).is_ok_and(|m| m.is_dir());
            if is_dir {
                let (found, _) = baseline::scan_tree(
                    &self.root,
                    rel,
                    &self.filter,
                    &|p| self.reference(p).copied(),
                    self.max_hash,
                    1,
                    None,
                    None,
                );
                candidates.extend(found.into_iter().map(|(r, e)| (r, Some(e))));
            }
            // Known paths at or under `rel` (a removed or renamed directory).
            let under: Vec<PathBuf> = self
                .baseline
                .range(rel.clone()..)
                .take_while(|(k, _)| k.starts_with(rel))
                .map(|(k, _)| k.clone())
                .chain(self.observed.keys().filter(|k| k.starts_with(rel)).cloned())
                .collect();
            for k in under {
                candidates.entry(k).or_insert(None);
            }
            if !is_dir && self.filter.wants(rel) {
                candidates.entry(rel.clone()).or_insert(None);
            }
        }
        let mut raws = Vec::new();
        for (rel, scanned) in candidates {
            let before = self.reference(&rel).copied();
            let after = match scanned {
                Some(e) => Some(e),
                None => match baseline::read_entry(
                    &self.root.join(&rel),
                    before.as_ref(),
                    self.max_hash,
                    &mut self.buf,
                ) {
                    Ok(e) => e,
                    Err(e) => {
                        warn!(root = %self.root_label, path = %rel.display(), "cannot read: {e}");
                        continue;
                    }
                },
            };
            if !baseline::same_state(before.as_ref(), after.as_ref()) {
                raws.push(Raw { rel, before, after });
            }
        }
        self.apply(raws, auth)
    }

    /// Compares the whole tree with the baseline: the periodic safety net,
    /// and the answer to a watcher overflow.
    pub fn rescan(&mut self, auth: &Authorised) -> Vec<FileChange> {
        self.stats.rescans.fetch_add(1, Ordering::Relaxed);
        let (disk, _) = baseline::scan_tree(
            &self.root,
            Path::new(""),
            &self.filter,
            &|p| self.reference(p).copied(),
            self.max_hash,
            self.threads,
            None,
            self.pace.as_ref(),
        );
        let mut raws = Vec::new();
        let keys: BTreeSet<PathBuf> = disk
            .keys()
            .chain(self.baseline.keys())
            .chain(self.observed.keys())
            .cloned()
            .collect();
        for rel in keys {
            let after = disk.get(&rel).copied();
            let before = self.reference(&rel).copied();
            if !baseline::same_state(before.as_ref(), after.as_ref()) {
                raws.push(Raw { rel, before, after });
            }
        }
        let out = self.apply(raws, auth);
        self.stats
            .rescan_found
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        out
    }

    /// Pairs renames, then authorises, restores or records each change.
    fn apply(&mut self, raws: Vec<Raw>, auth: &Authorised) -> Vec<FileChange> {
        // A path gone and a new path with the same content: a rename.
        let mut added_by_hash: HashMap<[u8; 32], usize> = HashMap::new();
        for (i, r) in raws.iter().enumerate() {
            if r.before.is_none()
                && let Some(h) = r.after.as_ref().and_then(|e| e.blake3)
            {
                added_by_hash.entry(h).or_insert(i);
            }
        }
        let mut renamed_from: HashMap<usize, usize> = HashMap::new();
        let mut consumed = BTreeSet::new();
        for (i, r) in raws.iter().enumerate() {
            if r.after.is_none()
                && let Some(h) = r.before.as_ref().and_then(|e| e.blake3)
                && let Some(&j) = added_by_hash.get(&h)
                && !renamed_from.contains_key(&j)
            {
                renamed_from.insert(j, i);
                consumed.insert(i);
            }
        }
        let mut out = Vec::new();
        for (i, r) in raws.iter().enumerate() {
            if consumed.contains(&i) {
                continue;
            }
            let old = renamed_from.get(&i).and_then(|&k| raws.get(k));
            out.push(self.act(r, old, auth));
        }
        self.stats
            .changes
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        self.stats
            .files
            .store(self.baseline.len() as u64, Ordering::Relaxed);
        out
    }

    fn act(&mut self, r: &Raw, renamed_from: Option<&Raw>, auth: &Authorised) -> FileChange {
        let kind = match (&r.before, &r.after, renamed_from) {
            (_, Some(_), Some(_)) => FileChangeKind::Renamed,
            (None, Some(_), None) => FileChangeKind::Added,
            (Some(_), None, _) | (None, None, _) => FileChangeKind::Removed,
            (Some(b), Some(a), None) => {
                if b.same_content(a) {
                    FileChangeKind::Permissions
                } else {
                    FileChangeKind::Modified
                }
            }
        };
        let base = self
            .baseline
            .get(&r.rel)
            .copied()
            .or_else(|| renamed_from.and_then(|o| self.baseline.get(&o.rel).copied()));
        let mut fc = FileChange::new(&self.root_label, r.rel.display().to_string(), kind);
        fc.site.clone_from(&self.site);
        fc.old_path = renamed_from.map(|o| o.rel.display().to_string());
        if let Some(a) = &r.after {
            fc.size = Some(a.size);
            fc.mode = Some(mode_digits(a.mode));
            fc.owner = Some(a.owner());
            fc.sha256 = a.sha256_hex();
        }
        if let Some(b) = &base {
            fc.baseline_mode = Some(mode_digits(b.mode));
            fc.baseline_owner = Some(b.owner());
            fc.baseline_sha256 = b.sha256_hex();
        }
        // Content of the new version, for diffs and signatures.
        if let Some(a) = &r.after
            && a.kind == Kind::File
            && matches!(
                kind,
                FileChangeKind::Added | FileChangeKind::Modified | FileChangeKind::Renamed
            )
        {
            let want_diff = self.diff_max > 0 && is_text(&r.rel) && a.size <= self.text_max;
            let want_sig = is_script(&r.rel) && a.size <= SIGNATURE_MAX;
            if (want_diff || want_sig)
                && let Ok(new) = std::fs::read(self.root.join(&r.rel))
            {
                if want_sig {
                    fc.signatures = self.signatures.scan(&new);
                }
                if want_diff && kind == FileChangeKind::Modified {
                    self.diff_into(&mut fc, base.as_ref(), &new, &r.rel);
                }
            }
        }

        if let Some(how) = auth {
            fc.authorised = true;
            fc.authorised_by = Some(how.clone());
            self.stats.authorised.fetch_add(1, Ordering::Relaxed);
            if let Some(o) = renamed_from {
                self.baseline.remove(&o.rel);
                self.observed.remove(&o.rel);
            }
            match &r.after {
                Some(a) => {
                    if self.keeps_copy(&r.rel, a) {
                        self.store_golden(&r.rel, a);
                    }
                    self.baseline.insert(r.rel.clone(), *a);
                }
                None => {
                    self.baseline.remove(&r.rel);
                }
            }
            self.observed.remove(&r.rel);
            self.dirty = true;
            return fc;
        }

        if self.restore {
            match self.restore_path(r, renamed_from) {
                Ok(q) => {
                    fc.restored = true;
                    fc.quarantined = q;
                    self.stats.restores.fetch_add(1, Ordering::Relaxed);
                    if fc.quarantined.is_some() {
                        self.stats.quarantined.fetch_add(1, Ordering::Relaxed);
                    }
                    return fc;
                }
                Err(e) => {
                    self.stats.restore_failures.fetch_add(1, Ordering::Relaxed);
                    warn!(root = %self.root_label, path = %r.rel.display(), "restore failed: {e:#}");
                }
            }
        }
        if let Some(o) = renamed_from {
            self.record(&o.rel, None);
        }
        self.record(&r.rel, r.after);
        fc
    }

    /// Remembers `rel`'s reported state (forgotten when it is the baseline).
    fn record(&mut self, rel: &Path, state: Option<Entry>) {
        if baseline::same_state(state.as_ref(), self.baseline.get(rel)) {
            self.observed.remove(rel);
        } else {
            self.observed.insert(rel.to_path_buf(), state);
        }
    }

    fn diff_into(&self, fc: &mut FileChange, base: Option<&Entry>, new: &[u8], rel: &Path) {
        let Some(b3) = base.and_then(|b| b.blake3) else {
            return;
        };
        let Ok(old) = std::fs::read(self.golden_path(&b3)) else {
            return;
        };
        let (Ok(old), Ok(new)) = (std::str::from_utf8(&old), std::str::from_utf8(new)) else {
            return;
        };
        let name = rel.display().to_string();
        let diff = similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(2)
            .header(&format!("a/{name}"), &format!("b/{name}"))
            .to_string();
        if diff.len() > self.diff_max {
            let mut cut = self.diff_max;
            while !diff.is_char_boundary(cut) {
                cut -= 1;
            }
            fc.diff = Some(diff[..cut].to_owned());
            fc.diff_truncated = true;
        } else {
            fc.diff = Some(diff);
        }
    }

    /// Keeps the tampered content and puts the baseline back. Returns where
    /// the tampered content went.
    fn restore_path(
        &mut self,
        r: &Raw,
        renamed_from: Option<&Raw>,
    ) -> anyhow::Result<Option<String>> {
        let abs = self.root.join(&r.rel);
        let mut quarantined = None;
        let base = self.baseline.get(&r.rel).copied();
        match (&base, &r.after) {
            // A file that should not be there (new, or a rename target).
            (None, Some(_)) => {
                quarantined = Some(self.quarantine(&r.rel, true)?);
            }
            (Some(b), after) => {
                if let Some(a) = after
                    && a.same_content(b)
                {
                    self.put_perms(&abs, b)?;
                } else {
                    if after.is_some() {
                        quarantined = Some(self.quarantine(&r.rel, false)?);
                    }
                    self.put_back(&r.rel, b)?;
                }
            }
            (None, None) => {}
        }
        if let Some(o) = renamed_from
            && let Some(b) = self.baseline.get(&o.rel).copied()
        {
            self.put_back(&o.rel, &b)?;
        }
        self.observed.remove(&r.rel);
        if let Some(o) = renamed_from {
            self.observed.remove(&o.rel);
        }
        Ok(quarantined)
    }

    /// Moves (`take`) or copies the file at `rel` into the quarantine.
    fn quarantine(&self, rel: &Path, take: bool) -> anyhow::Result<String> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let flat: String = rel
            .display()
            .to_string()
            .chars()
            .map(|c| if c == '/' { '%' } else { c })
            .collect();
        let dst = self.dir.join("quarantine").join(format!("{stamp}-{flat}"));
        let src = self.root.join(rel);
        if take {
            if std::fs::rename(&src, &dst).is_err() {
                std::fs::copy(&src, &dst)
                    .with_context(|| format!("cannot copy {} to quarantine", src.display()))?;
                std::fs::remove_file(&src)
                    .with_context(|| format!("cannot remove {}", src.display()))?;
            }
        } else {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("cannot copy {} to quarantine", src.display()))?;
        }
        let _ = std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o400));
        Ok(dst.display().to_string())
    }

    /// Writes the baseline content of `rel` back (temporary file, rename).
    fn put_back(&mut self, rel: &Path, b: &Entry) -> anyhow::Result<()> {
        let abs = self.root.join(rel);
        let tmp = baseline::temp_beside(&abs)?;
        match b.kind {
            Kind::Symlink => anyhow::bail!("symlinks are not restored (no copy kept)"),
            Kind::File => {
                let b3 = b
                    .blake3
                    .context("the file was larger than max-hash-size: no copy kept")?;
                let golden = self.golden_path(&b3);
                std::fs::copy(&golden, &tmp).with_context(|| {
                    format!("no golden copy {} to restore from", golden.display())
                })?;
            }
        }
        self.put_perms(&tmp, b)?;
        std::fs::rename(&tmp, &abs)
            .with_context(|| format!("cannot rename into {}", abs.display()))?;
        // The restored file is new on disk: its inode and ctime move.
        if let Ok(md) = std::fs::symlink_metadata(&abs)
            && let Some(mut e) = baseline::stat_entry(&md)
        {
            e.blake3 = b.blake3;
            e.sha256 = b.sha256;
            if e.same_content(b) {
                self.baseline.insert(rel.to_path_buf(), e);
                self.dirty = true;
            }
        }
        Ok(())
    }

    fn put_perms(&self, abs: &Path, b: &Entry) -> anyhow::Result<()> {
        std::fs::set_permissions(abs, std::fs::Permissions::from_mode(b.mode))
            .with_context(|| format!("cannot chmod {}", abs.display()))?;
        let md = std::fs::symlink_metadata(abs)?;
        use std::os::unix::fs::MetadataExt;
        if md.uid() != b.uid || md.gid() != b.gid {
            std::os::unix::fs::chown(abs, Some(b.uid), Some(b.gid))
                .with_context(|| format!("cannot chown {}", abs.display()))?;
        }
        Ok(())
    }

    /// Writes a line per change to `w` (for `publish` and the demo).
    pub fn describe(changes: &[FileChange], w: &mut impl Write) -> std::io::Result<()> {
        for c in changes {
            match &c.old_path {
                Some(o) => writeln!(w, "  {:<11} {} (was {o})", c.change.as_str(), c.path)?,
                None => writeln!(w, "  {:<11} {}", c.change.as_str(), c.path)?,
            }
        }
        Ok(())
    }
}
