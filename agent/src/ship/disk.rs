//! The disk spool: every batch is a file under `<state-dir>/spool/` from the
//! moment it is made until the collector acknowledges it.
//!
//! A batch file is written to `tmp/`, flushed to disk (`fsync`), renamed into
//! place and the directory flushed, so after a crash (agent, host or power)
//! a batch is either complete or absent. It is deleted only after the
//! collector answered 200 (which it does only once the batch is committed),
//! so delivery is at-least-once; the collector's `(agent, seq)`
//! deduplication makes the repeats after a crash harmless.
//!
//! File layout (little-endian): magic `SWSPOOL1`, first seq (u64), events
//! (u64), class (u8) + 7 bytes zero, first and last event time (i64 ns),
//! body length (u64), BLAKE3 of the body (32 bytes), then the body (zstd
//! JSON, exactly what is uploaded). A file whose header, length or hash is
//! wrong is moved to `spool/damaged/` and counted as dropped, never sent.
//!
//! If a write fails (disk full, read-only), the batch is kept in memory and
//! counted in `write_errors`: the bound still applies, and nothing is lost
//! unless the agent also stops before the collector is back.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use shouwang_proto::DataClass;
use tracing::{info, warn};

use super::spool::{BatchMeta, DropOrder, EncodedBatch, LossReason, SpoolStore};

const MAGIC: &[u8; 8] = b"SWSPOOL1";
const HEADER: usize = 8 + 8 + 8 + 8 + 8 + 8 + 8 + 32;
const SUFFIX: &str = ".batch";

#[derive(Debug)]
enum Body {
    /// In the file `<first_seq>.batch`.
    Disk,
    /// Writing failed: kept here instead.
    Memory(Bytes),
}

#[derive(Debug)]
struct Entry {
    meta: BatchMeta,
    body: Body,
}

/// A bounded, crash-safe spool of batches in a directory.
#[derive(Debug)]
pub struct DiskSpool {
    dir: PathBuf,
    entries: BTreeMap<u64, Entry>,
    order: DropOrder,
    bytes: u64,
    max_batches: usize,
    max_bytes: u64,
    lost: Vec<(BatchMeta, LossReason)>,
    write_errors: u64,
    /// The front batch's body, read once per batch rather than once per try.
    cached: Option<EncodedBatch>,
}

fn file_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SUFFIX}")
}

fn encode_header(b: &EncodedBatch) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&b.first_seq.to_le_bytes());
    h[16..24].copy_from_slice(&b.events.to_le_bytes());
    h[24] = b.class as u8;
    h[32..40].copy_from_slice(&b.first_ts.to_le_bytes());
    h[40..48].copy_from_slice(&b.last_ts.to_le_bytes());
    h[48..56].copy_from_slice(&(b.body.len() as u64).to_le_bytes());
    h[56..88].copy_from_slice(blake3::hash(&b.body).as_bytes());
    h
}

fn u64_at(h: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Parses a header; `None` if it is not one of ours.
fn decode_header(h: &[u8; HEADER]) -> Option<(BatchMeta, [u8; 32])> {
    if &h[0..8] != MAGIC || h[25..32].iter().any(|&b| b != 0) {
        return None;
    }
    let class = DataClass::from_u8(h[24])?;
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&h[56..88]);
    Some((
        BatchMeta {
            first_seq: u64_at(h, 8),
            events: u64_at(h, 16),
            class,
            first_ts: u64_at(h, 32).cast_signed(),
            last_ts: u64_at(h, 40).cast_signed(),
            bytes: u64_at(h, 48),
        },
        hash,
    ))
}

/// Reads and checks a whole batch file.
fn read_batch(path: &Path) -> io::Result<EncodedBatch> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    let mut f = File::open(path)?;
    let mut h = [0u8; HEADER];
    f.read_exact(&mut h)
        .map_err(|_| bad("shorter than a header"))?;
    let (meta, hash) = decode_header(&h).ok_or_else(|| bad("not a spool batch header"))?;
    let len = f.metadata()?.len();
    if len != HEADER as u64 + meta.bytes {
        return Err(bad("length does not match the header"));
    }
    let mut body = Vec::with_capacity(usize::try_from(meta.bytes).unwrap_or(0));
    f.read_to_end(&mut body)?;
    if blake3::hash(&body).as_bytes() != &hash {
        return Err(bad("body hash does not match the header"));
    }
    Ok(EncodedBatch {
        first_seq: meta.first_seq,
        events: meta.events,
        class: meta.class,
        first_ts: meta.first_ts,
        last_ts: meta.last_ts,
        body: Bytes::from(body),
    })
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl DiskSpool {
    /// Opens (creating) the spool in `dir` and indexes the batches a
    /// previous run left, checking each; damaged ones are moved aside and
    /// reported through [`SpoolStore::take_lost`].
    pub fn open(dir: &Path, max_batches: usize, max_bytes: u64) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        fs::create_dir_all(dir.join("tmp"))
            .with_context(|| format!("cannot create the spool {}", dir.display()))?;
        // Half-written batches of a crash: never renamed, never acknowledged.
        for e in fs::read_dir(dir.join("tmp"))?.flatten() {
            let _ = fs::remove_file(e.path());
        }
        let mut spool = Self {
            dir: dir.to_owned(),
            entries: BTreeMap::new(),
            order: DropOrder::default(),
            bytes: 0,
            max_batches: max_batches.max(1),
            max_bytes,
            lost: Vec::new(),
            write_errors: 0,
            cached: None,
        };
        for e in fs::read_dir(dir)
            .with_context(|| format!("cannot read the spool {}", dir.display()))?
            .flatten()
        {
            let path = e.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(seq) = name
                .strip_suffix(SUFFIX)
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            match read_batch(&path) {
                Ok(b) if b.first_seq == seq => {
                    let meta = b.meta();
                    spool.index(meta, Body::Disk);
                }
                Ok(_) => spool.quarantine(&path, None, "file name and header disagree"),
                Err(err) => {
                    // What the header says, if it says anything, is what we
                    // report as lost.
                    let meta = File::open(&path).ok().and_then(|mut f| {
                        let mut h = [0u8; HEADER];
                        f.read_exact(&mut h).ok()?;
                        decode_header(&h).map(|(m, _)| m)
                    });
                    spool.quarantine(&path, meta, &err.to_string());
                }
            }
        }
        if !spool.entries.is_empty() {
            info!(
                dir = %dir.display(),
                batches = spool.entries.len(),
                bytes = spool.bytes,
                "spool holds batches from a previous run; sending them first"
            );
        }
        // A smaller bound than last time applies at once.
        let dropped = spool.enforce_bound();
        spool
            .lost
            .extend(dropped.into_iter().map(|m| (m, LossReason::Full)));
        Ok(spool)
    }

    fn index(&mut self, meta: BatchMeta, body: Body) {
        self.bytes += meta.bytes;
        self.order.insert(meta.class, meta.first_seq);
        self.entries.insert(meta.first_seq, Entry { meta, body });
    }

    fn quarantine(&mut self, path: &Path, meta: Option<BatchMeta>, why: &str) {
        let damaged = self.dir.join("damaged");
        let moved = fs::create_dir_all(&damaged).and_then(|()| {
            fs::rename(
                path,
                damaged.join(path.file_name().unwrap_or_else(|| "batch".as_ref())),
            )
        });
        if moved.is_err() {
            let _ = fs::remove_file(path);
        }
        warn!(path = %path.display(), reason = why, "damaged spool batch moved aside; counted as dropped");
        let meta = meta.unwrap_or(BatchMeta {
            first_seq: 0,
            events: 0,
            class: DataClass::Security,
            first_ts: 0,
            last_ts: 0,
            bytes: 0,
        });
        self.lost.push((meta, LossReason::Unreadable));
    }

    fn write(&self, b: &EncodedBatch) -> io::Result<()> {
        let name = file_name(b.first_seq);
        let tmp = self.dir.join("tmp").join(&name);
        let mut f = File::create(&tmp)?;
        f.write_all(&encode_header(b))?;
        f.write_all(&b.body)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, self.dir.join(&name))?;
        sync_dir(&self.dir)
    }

    /// Forgets a batch without touching its file (the caller deletes or
    /// moves it).
    fn forget(&mut self, first_seq: u64) -> Option<Entry> {
        let e = self.entries.remove(&first_seq)?;
        self.order.remove(e.meta.class, first_seq);
        self.bytes -= e.meta.bytes;
        if self
            .cached
            .as_ref()
            .is_some_and(|c| c.first_seq == first_seq)
        {
            self.cached = None;
        }
        Some(e)
    }

    /// Forgets a batch and deletes its file.
    fn take(&mut self, first_seq: u64) -> Option<BatchMeta> {
        let e = self.forget(first_seq)?;
        if matches!(e.body, Body::Disk) {
            // A file that survives a crash is sent again and deduplicated
            // by the collector, so no directory sync is needed here.
            if let Err(err) = fs::remove_file(self.dir.join(file_name(first_seq)))
                && err.kind() != io::ErrorKind::NotFound
            {
                warn!(first_seq, error = %err, "cannot delete a spooled batch");
            }
        }
        Some(e.meta)
    }

    fn enforce_bound(&mut self) -> Vec<BatchMeta> {
        let mut dropped = Vec::new();
        while self.entries.len() > 1
            && (self.entries.len() > self.max_batches || self.bytes > self.max_bytes)
        {
            match self.order.victim().and_then(|v| self.take(v)) {
                Some(m) => dropped.push(m),
                None => break,
            }
        }
        dropped
    }
}

impl SpoolStore for DiskSpool {
    fn push(&mut self, batch: EncodedBatch) -> Vec<BatchMeta> {
        let meta = batch.meta();
        let body = match self.write(&batch) {
            Ok(()) => Body::Disk,
            Err(e) => {
                self.write_errors += 1;
                if self.write_errors == 1 || self.write_errors.is_multiple_of(100) {
                    warn!(
                        dir = %self.dir.display(),
                        error = %e,
                        write_errors = self.write_errors,
                        "cannot write to the spool; keeping the batch in memory"
                    );
                }
                Body::Memory(batch.body)
            }
        };
        self.index(meta, body);
        self.enforce_bound()
    }

    fn front(&mut self) -> Option<EncodedBatch> {
        loop {
            let (&seq, entry) = self.entries.iter().next()?;
            if let Some(c) = &self.cached
                && c.first_seq == seq
            {
                return Some(c.clone());
            }
            let read = match &entry.body {
                Body::Memory(body) => Ok(EncodedBatch {
                    first_seq: entry.meta.first_seq,
                    events: entry.meta.events,
                    class: entry.meta.class,
                    first_ts: entry.meta.first_ts,
                    last_ts: entry.meta.last_ts,
                    body: body.clone(),
                }),
                Body::Disk => read_batch(&self.dir.join(file_name(seq))),
            };
            match read {
                Ok(b) => {
                    self.cached = Some(b.clone());
                    return Some(b);
                }
                Err(e) => {
                    // Damaged or deleted behind our back: never send it.
                    let path = self.dir.join(file_name(seq));
                    if let Some(entry) = self.forget(seq) {
                        self.quarantine(&path, Some(entry.meta), &e.to_string());
                    }
                }
            }
        }
    }

    fn remove(&mut self, first_seq: u64) -> bool {
        self.take(first_seq).is_some()
    }

    fn take_lost(&mut self) -> Vec<(BatchMeta, LossReason)> {
        std::mem::take(&mut self.lost)
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn durable(&self) -> bool {
        true
    }

    fn write_errors(&self) -> u64 {
        self.write_errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(seq: u64, len: usize, class: DataClass) -> EncodedBatch {
        EncodedBatch {
            first_seq: seq,
            events: 10,
            class,
            first_ts: 1_000 + i64::try_from(seq).unwrap(),
            last_ts: 2_000 + i64::try_from(seq).unwrap(),
            body: Bytes::from(vec![u8::try_from(seq % 251).unwrap(); len]),
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn batches_survive_a_restart_and_leave_only_when_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = DiskSpool::open(dir.path(), 100, 1 << 20).unwrap();
        assert!(s.push(batch(0, 100, DataClass::Network)).is_empty());
        assert!(s.push(batch(10, 200, DataClass::Security)).is_empty());
        assert_eq!(files(dir.path()).len(), 2);
        assert_eq!(s.front().unwrap().first_seq, 0);
        drop(s); // a crash: nothing acknowledged

        let mut s = DiskSpool::open(dir.path(), 100, 1 << 20).unwrap();
        assert_eq!((s.len(), s.bytes()), (2, 300));
        let b = s.front().unwrap();
        assert_eq!(b, batch(0, 100, DataClass::Network), "read back exactly");
        assert!(s.remove(0));
        assert_eq!(s.front().unwrap(), batch(10, 200, DataClass::Security));
        assert!(s.remove(10));
        assert!(s.is_empty());
        assert!(files(dir.path()).is_empty(), "acknowledged files deleted");
        assert!(s.take_lost().is_empty());
    }

    #[test]
    fn a_half_written_or_damaged_batch_is_never_sent_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = DiskSpool::open(dir.path(), 100, 1 << 20).unwrap();
        s.push(batch(0, 100, DataClass::Network));
        s.push(batch(10, 100, DataClass::Security));
        s.push(batch(20, 100, DataClass::Host));
        drop(s);
        // A crash mid-write leaves a file in tmp/ (never renamed).
        fs::write(dir.path().join("tmp").join(file_name(30)), b"partial").unwrap();
        // Bit rot in one body, truncation of another.
        let p10 = dir.path().join(file_name(10));
        let mut bytes = fs::read(&p10).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&p10, bytes).unwrap();
        let p20 = dir.path().join(file_name(20));
        let bytes = fs::read(&p20).unwrap();
        fs::write(&p20, &bytes[..HEADER + 10]).unwrap();

        let mut s = DiskSpool::open(dir.path(), 100, 1 << 20).unwrap();
        assert_eq!(s.len(), 1, "only the intact batch is queued");
        assert_eq!(s.front().unwrap().first_seq, 0);
        let mut lost = s.take_lost();
        lost.sort_by_key(|(m, _)| m.first_seq);
        assert_eq!(lost.len(), 2);
        assert_eq!(lost[0].0.first_seq, 10);
        assert_eq!(lost[0].0.class, DataClass::Security);
        assert_eq!(lost[0].0.events, 10);
        assert_eq!(lost[1].0.first_seq, 20);
        assert!(lost.iter().all(|(_, r)| *r == LossReason::Unreadable));
        assert!(dir.path().join("damaged").join(file_name(10)).exists());
        assert!(
            fs::read_dir(dir.path().join("tmp"))
                .unwrap()
                .next()
                .is_none(),
            "partial writes removed"
        );
    }

    #[test]
    fn a_file_damaged_while_queued_is_skipped_at_send_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = DiskSpool::open(dir.path(), 100, 1 << 20).unwrap();
        s.push(batch(0, 100, DataClass::Network));
        s.push(batch(10, 100, DataClass::Network));
        fs::write(dir.path().join(file_name(0)), b"garbage").unwrap();
        assert_eq!(s.front().unwrap().first_seq, 10);
        assert_eq!(s.take_lost().len(), 1);
        assert_eq!((s.len(), s.bytes()), (1, 100));
    }

    #[test]
    fn the_bound_holds_on_disk_dropping_host_samples_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = DiskSpool::open(dir.path(), 1000, 1000).unwrap();
        let mut dropped = Vec::new();
        for i in 0..30u64 {
            let class = match i % 3 {
                0 => DataClass::Host,
                1 => DataClass::Network,
                _ => DataClass::Security,
            };
            dropped.extend(s.push(batch(i * 10, 100, class)));
            let on_disk: u64 = fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .filter(|e| e.path().is_file())
                .map(|e| e.metadata().unwrap().len() - HEADER as u64)
                .sum();
            assert!(s.bytes() <= 1000 && on_disk == s.bytes(), "{i}: {on_disk}");
        }
        assert_eq!(s.len(), 10);
        // 20 dropped: the 10 host batches, then the 10 oldest network ones
        // (security batches all kept).
        assert_eq!(dropped.len(), 20);
        assert_eq!(
            dropped
                .iter()
                .filter(|m| m.class == DataClass::Security)
                .count(),
            0
        );
        let kept: Vec<DataClass> = (0..10)
            .map(|_| {
                let b = s.front().unwrap();
                s.remove(b.first_seq);
                b.class
            })
            .collect();
        assert_eq!(
            kept.iter().filter(|c| **c == DataClass::Security).count(),
            10
        );

        // Reopening with a smaller bound drops at once, and says so.
        let mut s = DiskSpool::open(dir.path(), 1000, 1000).unwrap();
        for i in 0..5u64 {
            s.push(batch(1000 + i * 10, 100, DataClass::Network));
        }
        drop(s);
        let mut s = DiskSpool::open(dir.path(), 2, u64::MAX).unwrap();
        assert_eq!(s.len(), 2);
        let lost = s.take_lost();
        assert_eq!(lost.len(), 3);
        assert!(lost.iter().all(|(_, r)| *r == LossReason::Full));
    }

    #[test]
    fn a_failed_write_keeps_the_batch_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = DiskSpool::open(dir.path(), 100, 1 << 20).unwrap();
        // tmp/ replaced by a file: every write fails.
        fs::remove_dir_all(dir.path().join("tmp")).unwrap();
        fs::write(dir.path().join("tmp"), b"").unwrap();
        assert!(s.push(batch(0, 100, DataClass::Security)).is_empty());
        assert_eq!(s.write_errors(), 1);
        assert_eq!(s.front().unwrap(), batch(0, 100, DataClass::Security));
        assert!(s.remove(0));
        assert!(s.is_empty());
    }
}
