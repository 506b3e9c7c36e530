//! The agent's small durable state: sequence-number reservations and
//! log-follower positions, each in its own file under `state-dir`.
//!
//! Sequence numbers must only grow, across crashes too, or the collector
//! would take new events for re-sent old ones. The allocator reserves blocks
//! ahead (hi/lo): before handing out numbers past the reserved bound it
//! durably writes a new bound. A crash skips at most one block; it never
//! reuses a number.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Numbers reserved per durable write.
pub const SEQ_BLOCK: u64 = 1 << 20;

const SEQ_FILE: &str = "seq";

/// Hands out increasing sequence numbers that survive restarts.
#[derive(Debug)]
pub struct SeqAllocator {
    path: PathBuf,
    next: u64,
    reserved_until: u64,
}

impl SeqAllocator {
    /// Opens (or creates) the reservation in `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create state-dir {} (set state-dir to a directory this user can write)",
                dir.display()
            )
        })?;
        let path = dir.join(SEQ_FILE);
        let start = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().parse::<u64>().with_context(|| {
                format!(
                    "{} is corrupt ({:?}); remove it only if the collector forgets this agent too",
                    path.display(),
                    s.trim()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut alloc = Self {
            path,
            next: start,
            reserved_until: start,
        };
        alloc.reserve(start.saturating_add(SEQ_BLOCK))?;
        Ok(alloc)
    }

    /// Reserves `n` consecutive numbers and returns the first.
    pub fn take(&mut self, n: u64) -> anyhow::Result<u64> {
        let first = self.next;
        let end = first
            .checked_add(n)
            .context("sequence numbers exhausted (2^64)")?;
        if end > self.reserved_until {
            self.reserve(end.saturating_add(SEQ_BLOCK))?;
        }
        self.next = end;
        Ok(first)
    }

    /// The next number `take` would return.
    pub fn peek(&self) -> u64 {
        self.next
    }

    fn reserve(&mut self, until: u64) -> anyhow::Result<()> {
        write_atomic(&self.path, format!("{until}\n").as_bytes())?;
        self.reserved_until = until;
        Ok(())
    }
}

/// Writes `bytes` to `path` via a temporary file, fsync and rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_grow_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = SeqAllocator::open(dir.path()).unwrap();
        assert_eq!(a.take(10).unwrap(), 0);
        assert_eq!(a.take(5).unwrap(), 10);
        drop(a); // a crash: nothing written beyond the reservation
        let mut b = SeqAllocator::open(dir.path()).unwrap();
        let first = b.take(1).unwrap();
        assert!(first >= 15, "reused sequence number {first}");
        assert_eq!(first, SEQ_BLOCK);
    }

    #[test]
    fn crossing_a_block_reserves_more() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = SeqAllocator::open(dir.path()).unwrap();
        a.take(SEQ_BLOCK - 1).unwrap();
        assert_eq!(a.take(10).unwrap(), SEQ_BLOCK - 1);
        let stored: u64 = std::fs::read_to_string(dir.path().join(SEQ_FILE))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            stored >= SEQ_BLOCK + 9,
            "reservation {stored} behind numbers handed out"
        );
    }

    #[test]
    fn corrupt_file_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SEQ_FILE), "garbage").unwrap();
        let err = format!("{:#}", SeqAllocator::open(dir.path()).unwrap_err());
        assert!(err.contains("is corrupt"), "{err}");
    }
}
