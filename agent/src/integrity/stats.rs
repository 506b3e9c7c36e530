//! Counters of every guarded root, summed for heartbeats and the demo.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::fim::RootStats;

/// Counters of every guarded root, for heartbeats and the demo.
#[derive(Debug, Clone, Default)]
pub struct IntegrityStats(Arc<Mutex<Vec<RootEntry>>>);

type RootEntry = (PathBuf, Arc<RootStats>);

impl IntegrityStats {
    pub fn register(&self, root: &Path, stats: Arc<RootStats>) {
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
