//! The baseline of a web root: every file's size, mode, owner, times and
//! hashes (BLAKE3 for our own comparisons, SHA-256 for anything compared
//! with outside tools), kept in the agent's state directory.
//!
//! Building it walks the tree once and hashes on every core; a rescan reuses
//! a known hash when size, mtime, ctime, inode, mode and owner are unchanged
//! (ctime cannot be set back from user space, so `touch -r` does not fool
//! it), and hashes only what moved.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use globset::{Glob, GlobSet, GlobSetBuilder};

/// Regular file or symbolic link (directories are not entries; a symlink's
/// "content" is its target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Symlink,
}

/// What the baseline knows about one path (plain data, cheap to copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub size: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    /// `None` when the file is larger than the hashing limit: then size and
    /// mtime stand for the content.
    pub blake3: Option<[u8; 32]>,
    pub sha256: Option<[u8; 32]>,
}

impl Entry {
    /// Same content (hash, or size and mtime when unhashed).
    pub fn same_content(&self, other: &Entry) -> bool {
        self.kind == other.kind
            && self.size == other.size
            && match (self.blake3, other.blake3) {
                (Some(a), Some(b)) => a == b,
                (None, None) => self.mtime_ns == other.mtime_ns,
                _ => false,
            }
    }

    /// Same mode and owner.
    pub fn same_perms(&self, other: &Entry) -> bool {
        self.mode == other.mode && self.uid == other.uid && self.gid == other.gid
    }

    /// The metadata that, unchanged, lets a rescan reuse the hash.
    fn same_stat(&self, other: &Entry) -> bool {
        self.kind == other.kind
            && self.size == other.size
            && self.mtime_ns == other.mtime_ns
            && self.ctime_ns == other.ctime_ns
            && self.ino == other.ino
    }

    pub fn sha256_hex(&self) -> Option<String> {
        self.sha256.map(hex::encode)
    }

    pub fn blake3_hex(&self) -> Option<String> {
        self.blake3.map(hex::encode)
    }

    /// `uid:gid`.
    pub fn owner(&self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }
}

/// Which files under a root are watched.
#[derive(Debug, Clone)]
pub struct Filter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl Filter {
    /// `include` empty means everything. Globs are matched against the path
    /// relative to the root (`news/*.html`, `**/*.php`, `cache/**`).
    pub fn new(include: &[String], exclude: &[String]) -> anyhow::Result<Self> {
        let build = |globs: &[String], what: &str| -> anyhow::Result<GlobSet> {
            let mut b = GlobSetBuilder::new();
            for g in globs {
                b.add(
                    Glob::new(g)
                        .with_context(|| format!("{what} glob {g:?} is not a valid glob"))?,
                );
            }
            b.build().with_context(|| format!("{what} globs"))
        };
        Ok(Self {
            include: if include.is_empty() {
                None
            } else {
                Some(build(include, "include")?)
            },
            exclude: build(exclude, "exclude")?,
        })
    }

    /// Everything.
    pub fn all() -> Self {
        Self {
            include: None,
            exclude: GlobSet::empty(),
        }
    }

    /// Whether the file at `rel` is watched (never our own temporary
    /// files, see [`temp_beside`]).
    pub fn wants(&self, rel: &Path) -> bool {
        if rel
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(TEMP_SUFFIX))
        {
            return false;
        }
        if self.exclude.is_match(rel) {
            return false;
        }
        self.include.as_ref().is_none_or(|i| i.is_match(rel))
    }
}

/// Suffix of the temporary files restores and publishes write beside their
/// target before renaming over it; never reported.
pub const TEMP_SUFFIX: &str = ".shouwang-tmp";

/// A temporary path beside `path` (same directory, so a rename is atomic),
/// creating the directory if needed.
pub fn temp_beside(path: &Path) -> anyhow::Result<PathBuf> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(path.with_file_name(format!(".{name}{TEMP_SUFFIX}")))
}

/// Whether two states of a path are the same: both absent, or same content
/// and permissions.
pub fn same_state(a: Option<&Entry>, b: Option<&Entry>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.same_content(b) && a.same_perms(b),
        _ => false,
    }
}

/// Reads `path` once, feeding both hashes.
pub fn hash_file(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<([u8; 32], [u8; 32])> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)?;
    let mut b3 = blake3::Hasher::new();
    let mut sha = sha2::Sha256::new();
    if buf.len() < 64 * 1024 {
        buf.resize(64 * 1024, 0);
    }
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        b3.update(&buf[..n]);
        sha.update(&buf[..n]);
    }
    Ok((*b3.finalize().as_bytes(), sha.finalize().into()))
}

fn nanos(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

/// The entry for `path` from its metadata, without hashes.
pub fn stat_entry(md: &std::fs::Metadata) -> Option<Entry> {
    let ft = md.file_type();
    let kind = if ft.is_file() {
        Kind::File
    } else if ft.is_symlink() {
        Kind::Symlink
    } else {
        return None;
    };
    Some(Entry {
        kind,
        size: md.len(),
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        mtime_ns: nanos(md.mtime(), md.mtime_nsec()),
        ctime_ns: nanos(md.ctime(), md.ctime_nsec()),
        ino: md.ino(),
        blake3: None,
        sha256: None,
    })
}

/// Fills in the hashes of `entry` (read from `path`), unless it is larger
/// than `max_hash` bytes.
pub fn hash_entry(
    path: &Path,
    entry: &mut Entry,
    max_hash: u64,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    match entry.kind {
        Kind::Symlink => {
            use sha2::Digest;
            let target = std::fs::read_link(path)?;
            let bytes = target.as_os_str().as_bytes();
            entry.blake3 = Some(*blake3::hash(bytes).as_bytes());
            entry.sha256 = Some(sha2::Sha256::digest(bytes).into());
        }
        Kind::File if entry.size <= max_hash => {
            let (b, s) = hash_file(path, buf)?;
            entry.blake3 = Some(b);
            entry.sha256 = Some(s);
        }
        Kind::File => {}
    }
    Ok(())
}

/// Reads one path fresh: `Ok(None)` when it does not exist or is not a file
/// or symlink. Reuses `known`'s hashes when the metadata says nothing moved.
pub fn read_entry(
    path: &Path,
    known: Option<&Entry>,
    max_hash: u64,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Entry>> {
    let md = match std::fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(mut e) = stat_entry(&md) else {
        return Ok(None);
    };
    if let Some(k) = known
        && k.same_stat(&e)
    {
        e.blake3 = k.blake3;
        e.sha256 = k.sha256;
        return Ok(Some(e));
    }
    match hash_entry(path, &mut e, max_hash, buf) {
        Ok(()) => Ok(Some(e)),
        // Removed between stat and read.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Files up to this size are copied from the buffer they were hashed
/// from; larger ones are copied afterwards.
const KEEP_IN_MEMORY: u64 = 8 * 1024 * 1024;

/// Content copies made while hashing: files `wants` picks are read whole,
/// hashed from memory and written to the golden store under `dir` (named
/// by BLAKE3) unless already there.
pub struct Keep<'a> {
    pub dir: &'a Path,
    pub wants: &'a (dyn Fn(&Path, &Entry) -> bool + Sync),
}

impl std::fmt::Debug for Keep<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keep").field("dir", &self.dir).finish()
    }
}

/// Where the golden copy of content with BLAKE3 `b3` lives under `dir`
/// (256 subdirectories keep directories small).
pub fn golden_file(dir: &Path, b3: &[u8; 32]) -> PathBuf {
    let h = hex::encode(b3);
    dir.join(&h[..2]).join(h)
}

/// Hashes `path` from one read and stores the bytes as a golden copy.
fn hash_and_keep(path: &Path, e: &mut Entry, keep: &Keep<'_>) -> std::io::Result<()> {
    use sha2::Digest;
    let bytes = std::fs::read(path)?;
    let b3 = *blake3::hash(&bytes).as_bytes();
    e.blake3 = Some(b3);
    e.sha256 = Some(sha2::Sha256::digest(&bytes).into());
    e.size = bytes.len() as u64;
    let dst = golden_file(keep.dir, &b3);
    if !dst.exists() {
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = dst.with_extension(
            format!("part{:?}", std::thread::current().id()).replace(['(', ')'], ""),
        );
        std::fs::write(&tmp, &bytes)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o400))?;
        }
        std::fs::rename(&tmp, &dst)?;
    }
    Ok(())
}

/// What a walk found besides entries.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WalkStats {
    pub files: usize,
    pub bytes: u64,
    pub hashed: usize,
    /// Files that could not be read (permissions, vanished mid-walk).
    pub errors: usize,
}

/// Walks `root` (not following symlinks) and returns every wanted file and
/// symlink under it, hashed on `threads` threads. Hashes are reused from
/// `known` (the state each path is compared with) where metadata is
/// unchanged.
///
/// Hashing goes at the pace `[limits]` sets through `pace`, when given
/// (periodic rescans: the safety net must not hog the host's disk).
#[allow(clippy::too_many_arguments)]
pub fn scan_tree(
    root: &Path,
    sub: &Path,
    filter: &Filter,
    known: &(dyn Fn(&Path) -> Option<Entry> + Sync),
    max_hash: u64,
    threads: usize,
    keep: Option<&Keep<'_>>,
    pace: Option<&crate::limits::Governor>,
) -> (BTreeMap<PathBuf, Entry>, WalkStats) {
    let pacer = std::sync::Mutex::new(crate::limits::Pacer::default());
    let mut found: Vec<(PathBuf, Entry)> = Vec::new();
    let mut stats = WalkStats::default();
    let mut stack = vec![root.join(sub)];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            if dir != root.join(sub) {
                stats.errors += 1;
            }
            continue;
        };
        for de in rd.flatten() {
            let Ok(ft) = de.file_type() else { continue };
            let path = de.path();
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            if !filter.wants(rel) {
                continue;
            }
            let Ok(md) = std::fs::symlink_metadata(&path) else {
                stats.errors += 1;
                continue;
            };
            if let Some(e) = stat_entry(&md) {
                found.push((rel.to_path_buf(), e));
            }
        }
    }
    let next = AtomicUsize::new(0);
    let errors = AtomicUsize::new(0);
    let hashed = AtomicUsize::new(0);
    {
        // Work is handed out in small slices so one huge file does not
        // leave the other threads idle.
        const SLICE: usize = 64;
        let slices: Vec<std::sync::Mutex<&mut [(PathBuf, Entry)]>> =
            found.chunks_mut(SLICE).map(std::sync::Mutex::new).collect();
        std::thread::scope(|s| {
            for _ in 0..threads.max(1) {
                s.spawn(|| {
                    let mut buf = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(slot) = slices.get(i) else { break };
                        let Ok(mut slice) = slot.lock() else { break };
                        for (rel, e) in slice.iter_mut() {
                            if let Some(k) = known(rel)
                                && k.same_stat(e)
                            {
                                e.blake3 = k.blake3;
                                e.sha256 = k.sha256;
                                continue;
                            }
                            let kept = keep.filter(|k| {
                                e.kind == Kind::File
                                    && e.size <= max_hash.min(KEEP_IN_MEMORY)
                                    && (k.wants)(rel, e)
                            });
                            let done = match kept {
                                Some(k) => hash_and_keep(&root.join(&*rel), e, k),
                                None => hash_entry(&root.join(&*rel), e, max_hash, &mut buf),
                            };
                            if let Some(g) = pace {
                                g.pace(&pacer, e.size.min(max_hash));
                            }
                            match done {
                                Ok(()) => {
                                    if e.blake3.is_some() {
                                        hashed.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                                Err(_) => {
                                    errors.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    }
                });
            }
        });
    }
    stats.errors += errors.into_inner();
    stats.hashed = hashed.into_inner();
    stats.files = found.len();
    stats.bytes = found.iter().map(|(_, e)| e.size).sum();
    (found.into_iter().collect(), stats)
}

// ---- persistence ---------------------------------------------------------

const HEADER: &str = "# shouwang baseline v1";

fn escape_path(p: &Path, out: &mut Vec<u8>) {
    for &b in p.as_os_str().as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

fn unescape_path(s: &[u8]) -> PathBuf {
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter();
    while let Some(&b) = it.next() {
        if b == b'\\' {
            match it.next() {
                Some(b'n') => out.push(b'\n'),
                Some(&o) => out.push(o),
                None => out.push(b'\\'),
            }
        } else {
            out.push(b);
        }
    }
    PathBuf::from(OsStr::from_bytes(&out))
}

/// Writes the baseline to `path` atomically (temporary file, fsync, rename).
pub fn save(path: &Path, entries: &BTreeMap<PathBuf, Entry>) -> anyhow::Result<()> {
    let mut out = Vec::with_capacity(entries.len() * 200 + 64);
    out.extend_from_slice(HEADER.as_bytes());
    out.push(b'\n');
    for (rel, e) in entries {
        let h = |x: Option<[u8; 32]>| x.map_or_else(|| "-".to_owned(), hex::encode);
        let _ = write!(
            out,
            "{} {} {} {} {:o} {} {} {} {} {} ",
            match e.kind {
                Kind::File => 'f',
                Kind::Symlink => 'l',
            },
            h(e.blake3),
            h(e.sha256),
            e.size,
            e.mode,
            e.uid,
            e.gid,
            e.mtime_ns,
            e.ctime_ns,
            e.ino
        );
        escape_path(rel, &mut out);
        out.push(b'\n');
    }
    crate::state::write_atomic(path, &out)
        .with_context(|| format!("cannot write baseline {}", path.display()))
}

/// Reads a baseline written by [`save`]; `Ok(None)` when there is none.
pub fn load(path: &Path) -> anyhow::Result<Option<BTreeMap<PathBuf, Entry>>> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut r = std::io::BufReader::new(f);
    let mut map = BTreeMap::new();
    let mut line = Vec::new();
    let mut no = 0usize;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        no += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if no == 1 {
            if line != HEADER.as_bytes() {
                anyhow::bail!(
                    "{}:1: not a shouwang baseline (remove it to build a new one)",
                    path.display()
                );
            }
            continue;
        }
        let (rel, e) = parse_line(&line)
            .with_context(|| format!("{}:{no}: corrupt baseline line", path.display()))?;
        map.insert(rel, e);
    }
    Ok(Some(map))
}

fn parse_line(line: &[u8]) -> anyhow::Result<(PathBuf, Entry)> {
    let mut parts = line.splitn(11, |&b| b == b' ');
    let mut next = || -> anyhow::Result<&str> {
        let p = parts.next().context("too few fields")?;
        std::str::from_utf8(p).context("not UTF-8")
    };
    let kind = match next()? {
        "f" => Kind::File,
        "l" => Kind::Symlink,
        other => anyhow::bail!("unknown kind {other:?}"),
    };
    let hash = |s: &str| -> anyhow::Result<Option<[u8; 32]>> {
        if s == "-" {
            return Ok(None);
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).context("bad hash")?;
        Ok(Some(out))
    };
    let blake3 = hash(next()?)?;
    let sha256 = hash(next()?)?;
    let size = next()?.parse()?;
    let mode = u32::from_str_radix(next()?, 8)?;
    let uid = next()?.parse()?;
    let gid = next()?.parse()?;
    let mtime_ns = next()?.parse()?;
    let ctime_ns = next()?.parse()?;
    let ino = next()?.parse()?;
    let rel = parts.next().context("no path")?;
    Ok((
        unescape_path(rel),
        Entry {
            kind,
            size,
            mode,
            uid,
            gid,
            mtime_ns,
            ctime_ns,
            ino,
            blake3,
            sha256,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_hashes_files_and_save_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("index.html"), b"<h1>hi</h1>").unwrap();
        std::fs::write(root.join("a/b/x.css"), b"body{}").unwrap();
        std::fs::write(root.join("a/we\nird\\name"), b"odd").unwrap();
        std::os::unix::fs::symlink("index.html", root.join("home.html")).unwrap();
        std::fs::write(root.join("big.bin"), vec![7u8; 5000]).unwrap();
        std::fs::write(root.join("skip.log"), b"log").unwrap();
        let filter = Filter::new(&[], &["*.log".into()]).unwrap();
        let (map, stats) = scan_tree(root, Path::new(""), &filter, &|_| None, 4096, 2, None, None);
        assert_eq!(stats.files, 5);
        assert_eq!(stats.hashed, 4, "big.bin is over the limit");
        let idx = &map[Path::new("index.html")];
        assert_eq!(
            idx.blake3.unwrap(),
            *blake3::hash(b"<h1>hi</h1>").as_bytes()
        );
        {
            use sha2::Digest;
            assert_eq!(
                idx.sha256.unwrap(),
                <[u8; 32]>::from(sha2::Sha256::digest(b"<h1>hi</h1>"))
            );
        }
        assert_eq!(map[Path::new("home.html")].kind, Kind::Symlink);
        assert!(map[Path::new("big.bin")].blake3.is_none());
        assert!(!map.contains_key(Path::new("skip.log")));
        // Our own temporary files are never part of a root.
        assert!(!Filter::all().wants(Path::new("a/.index.html.shouwang-tmp")));
        assert!(Filter::all().wants(Path::new("a/index.html")));
        let state = tempfile::tempdir().unwrap();
        let file = state.path().join("b");
        save(&file, &map).unwrap();
        let back = load(&file).unwrap().unwrap();
        assert_eq!(back, map);
        assert!(back.contains_key(Path::new("a/we\nird\\name")));
    }

    #[test]
    fn corrupt_baseline_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b");
        std::fs::write(&p, "# shouwang baseline v1\nf zz - 1 644 0 0 1 1 1 x\n").unwrap();
        let err = format!("{:#}", load(&p).unwrap_err());
        assert!(err.contains(":2: corrupt baseline line"), "{err}");
        std::fs::write(&p, "hello\n").unwrap();
        let err = format!("{:#}", load(&p).unwrap_err());
        assert!(err.contains("not a shouwang baseline"), "{err}");
        assert!(load(&dir.path().join("none")).unwrap().is_none());
    }

    #[test]
    fn rescan_reuses_hashes_only_when_metadata_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.html"), b"one").unwrap();
        let filter = Filter::all();
        let (first, _) = scan_tree(
            root,
            Path::new(""),
            &filter,
            &|_| None,
            1 << 20,
            1,
            None,
            None,
        );
        // Same size, mtime put back: ctime still moves, so it is re-hashed.
        let mtime = std::fs::metadata(root.join("a.html"))
            .unwrap()
            .modified()
            .unwrap();
        std::fs::write(root.join("a.html"), b"two").unwrap();
        std::fs::File::options()
            .write(true)
            .open(root.join("a.html"))
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        // Rescan against what `known` holds.
        let rescan = |known: &BTreeMap<PathBuf, Entry>| {
            scan_tree(
                root,
                Path::new(""),
                &filter,
                &|p| known.get(p).copied(),
                1 << 20,
                1,
                None,
                None,
            )
        };
        let (second, stats) = rescan(&first);
        assert_eq!(stats.hashed, 1);
        assert!(!second[Path::new("a.html")].same_content(&first[Path::new("a.html")]));
        let (third, stats) = rescan(&second);
        assert_eq!(stats.hashed, 0, "nothing moved: hashes reused");
        assert_eq!(third, second);
    }
}
