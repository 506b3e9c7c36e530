//! The spool between the batcher and the uploader.
//!
//! [`SpoolStore`] is where batches wait: [`super::disk::DiskSpool`] (the
//! default: crash-safe files under the state directory) or [`MemorySpool`]
//! (one-shot uploads such as `pcap --collector`). Both are bounded in
//! batches and bytes; when full, the store drops the oldest batch of the
//! lowest [`DataClass`] (host samples first, security events last). Every
//! drop is counted in [`QueueStats`] and gathered into a [`DataGap`] that the
//! batcher sends as an event.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use shouwang_proto::{DataClass, DataGap, QueueStats};
use tokio::sync::Notify;

/// A batch ready to send: serialised and compressed once. Every event in it
/// is of one [`DataClass`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBatch {
    pub first_seq: u64,
    pub events: u64,
    pub class: DataClass,
    /// Event time of the oldest and newest event, ns.
    pub first_ts: i64,
    pub last_ts: i64,
    /// zstd-compressed JSON.
    pub body: Bytes,
}

impl EncodedBatch {
    /// The same batch without its body (what a drop report needs).
    pub fn meta(&self) -> BatchMeta {
        BatchMeta {
            first_seq: self.first_seq,
            events: self.events,
            class: self.class,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            bytes: self.body.len() as u64,
        }
    }
}

/// What a store knows of a batch without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_seq: u64,
    pub events: u64,
    pub class: DataClass,
    pub first_ts: i64,
    pub last_ts: i64,
    pub bytes: u64,
}

/// Why a batch left a store without reaching the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossReason {
    /// The store was full.
    Full,
    /// A spooled batch could not be read back (damaged file).
    Unreadable,
}

/// Where batches wait for upload, oldest sequence number first.
pub trait SpoolStore: Send {
    /// Appends; returns the batches dropped to make room.
    fn push(&mut self, batch: EncodedBatch) -> Vec<BatchMeta>;
    /// The batch with the lowest sequence number, without removing it.
    fn front(&mut self) -> Option<EncodedBatch>;
    /// Removes the batch that starts at `first_seq` (the collector has it,
    /// or refused it for good); false if it is no longer there.
    fn remove(&mut self, first_seq: u64) -> bool;
    /// Batches lost other than by `push` (unreadable files) since the last
    /// call.
    fn take_lost(&mut self) -> Vec<(BatchMeta, LossReason)> {
        Vec::new()
    }
    fn len(&self) -> usize;
    fn bytes(&self) -> u64;
    fn max_bytes(&self) -> u64;
    /// Whether batches survive a restart.
    fn durable(&self) -> bool;
    /// Spool writes that failed (the batch was kept in memory instead).
    fn write_errors(&self) -> u64 {
        0
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which batches to drop when `len` and `bytes` exceed the bounds: the
/// oldest of the lowest class first, keeping at least one batch. Shared by
/// both stores so they drop alike.
#[derive(Debug, Default)]
pub(crate) struct DropOrder {
    by_class: [BTreeSet<u64>; 3],
}

impl DropOrder {
    pub(crate) fn insert(&mut self, class: DataClass, first_seq: u64) {
        self.by_class[class as usize].insert(first_seq);
    }

    pub(crate) fn remove(&mut self, class: DataClass, first_seq: u64) {
        self.by_class[class as usize].remove(&first_seq);
    }

    /// The next batch to drop.
    pub(crate) fn victim(&self) -> Option<u64> {
        self.by_class.iter().find_map(|s| s.first().copied())
    }
}

/// Bounded in-memory store.
#[derive(Debug)]
pub struct MemorySpool {
    batches: BTreeMap<u64, EncodedBatch>,
    order: DropOrder,
    bytes: u64,
    max_batches: usize,
    max_bytes: u64,
}

impl MemorySpool {
    pub fn new(max_batches: usize, max_bytes: u64) -> Self {
        Self {
            batches: BTreeMap::new(),
            order: DropOrder::default(),
            bytes: 0,
            max_batches: max_batches.max(1),
            max_bytes,
        }
    }

    fn take(&mut self, first_seq: u64) -> Option<EncodedBatch> {
        let b = self.batches.remove(&first_seq)?;
        self.order.remove(b.class, first_seq);
        self.bytes -= b.body.len() as u64;
        Some(b)
    }
}

impl SpoolStore for MemorySpool {
    fn push(&mut self, batch: EncodedBatch) -> Vec<BatchMeta> {
        self.bytes += batch.body.len() as u64;
        self.order.insert(batch.class, batch.first_seq);
        self.batches.insert(batch.first_seq, batch);
        let mut dropped = Vec::new();
        // Keep at least one batch even if it alone exceeds max_bytes.
        while self.batches.len() > 1
            && (self.batches.len() > self.max_batches || self.bytes > self.max_bytes)
        {
            match self.order.victim().and_then(|v| self.take(v)) {
                Some(old) => dropped.push(old.meta()),
                None => break,
            }
        }
        dropped
    }

    fn front(&mut self) -> Option<EncodedBatch> {
        self.batches.values().next().cloned()
    }

    fn remove(&mut self, first_seq: u64) -> bool {
        self.take(first_seq).is_some()
    }

    fn len(&self) -> usize {
        self.batches.len()
    }

    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn durable(&self) -> bool {
        false
    }
}

/// Drops gathered since the last data-gap event.
#[derive(Debug, Default)]
struct PendingGap {
    gap: DataGap,
}

impl PendingGap {
    fn add(&mut self, m: &BatchMeta, reason: &str) {
        let g = &mut self.gap;
        if g.batches == 0 {
            g.from_ts = m.first_ts;
            g.to_ts = m.last_ts;
        } else {
            g.from_ts = g.from_ts.min(m.first_ts);
            g.to_ts = g.to_ts.max(m.last_ts);
        }
        g.batches += 1;
        g.events += m.events;
        match m.class {
            DataClass::Host => g.host_events += m.events,
            DataClass::Network => g.network_events += m.events,
            DataClass::Security => g.security_events += m.events,
        }
        let (s, e) = (m.first_seq, m.first_seq + m.events);
        g.seq_ranges.push((s, e));
        g.seq_ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(g.seq_ranges.len());
        for &(s, e) in &g.seq_ranges {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        // A long outage with interleaved classes makes many ranges: keep the
        // event small (the counts stay exact).
        if merged.len() > 64 {
            let tail = merged.split_off(63);
            if let (Some(f), Some(l)) = (tail.first(), tail.last()) {
                merged.push((f.0, l.1));
            }
        }
        g.seq_ranges = merged;
        if !g.reason.contains(reason) {
            if !g.reason.is_empty() {
                g.reason.push_str("; ");
            }
            g.reason.push_str(reason);
        }
    }
}

struct Inner {
    store: Box<dyn SpoolStore>,
    stats: QueueStats,
    gap: PendingGap,
    full_reason: String,
}

impl Inner {
    fn record_drops(&mut self, dropped: &[BatchMeta], reason: LossReason) -> u64 {
        let mut events = 0;
        for m in dropped {
            events += m.events;
            self.stats.dropped_batches += 1;
            self.stats.dropped_events += m.events;
            match m.class {
                DataClass::Host => self.stats.dropped_host_events += m.events,
                DataClass::Network => self.stats.dropped_network_events += m.events,
                DataClass::Security => self.stats.dropped_security_events += m.events,
            }
            let why = match reason {
                LossReason::Full => self.full_reason.clone(),
                LossReason::Unreadable => {
                    self.stats.corrupt_batches += 1;
                    "a spooled batch was unreadable".to_owned()
                }
            };
            self.gap.add(m, &why);
        }
        events
    }

    fn refresh(&mut self) {
        let lost = self.store.take_lost();
        for (m, why) in lost {
            self.record_drops(&[m], why);
        }
        self.stats.queued_batches = self.store.len() as u64;
        self.stats.queued_bytes = self.store.bytes();
        self.stats.max_bytes = self.store.max_bytes();
        self.stats.durable = self.store.durable();
        self.stats.write_errors = self.store.write_errors();
    }
}

/// The store plus counters, shared by batcher, uploader and heartbeat.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Mutex<Inner>>,
    ready: Arc<Notify>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Spool {
    /// `full_reason` is what a data-gap event says when the store is full,
    /// e.g. `spool full (64 MiB, 2048 batches)`.
    pub fn new(store: Box<dyn SpoolStore>, full_reason: impl Into<String>) -> Self {
        let mut inner = Inner {
            store,
            stats: QueueStats::default(),
            gap: PendingGap::default(),
            full_reason: full_reason.into(),
        };
        inner.refresh();
        Self {
            inner: Arc::new(Mutex::new(inner)),
            ready: Arc::new(Notify::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-update;
        // the queue itself is still consistent enough to keep shipping.
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }

    /// Adds a batch and wakes the uploader; returns how many events were dropped.
    pub fn push(&self, batch: EncodedBatch) -> u64 {
        let dropped = self.with(|i| {
            let dropped = i.store.push(batch);
            let events = i.record_drops(&dropped, LossReason::Full);
            i.refresh();
            events
        });
        self.ready.notify_one();
        dropped
    }

    /// The oldest batch (lowest sequence number).
    pub fn front(&self) -> Option<EncodedBatch> {
        self.with(|i| {
            let b = i.store.front();
            i.refresh();
            b
        })
    }

    /// The batch starting at `first_seq` was delivered (`rejected`: refused
    /// as invalid, not to be retried).
    pub fn complete(&self, first_seq: u64, rejected: bool) {
        self.with(|i| {
            if i.store.remove(first_seq) {
                if rejected {
                    i.stats.rejected_batches += 1;
                } else {
                    i.stats.sent_batches += 1;
                }
            }
            i.refresh();
        });
    }

    pub fn record_failure(&self) {
        self.with(|i| i.stats.failed_uploads += 1);
    }

    pub fn record_deferred(&self) {
        self.with(|i| i.stats.deferred_uploads += 1);
    }

    pub fn stats(&self) -> QueueStats {
        self.with(|i| i.stats)
    }

    /// The drops since the last call, if any, as one data-gap report.
    pub fn take_gap(&self) -> Option<DataGap> {
        self.with(|i| {
            i.refresh();
            (i.gap.gap.batches > 0).then(|| std::mem::take(&mut i.gap).gap)
        })
    }

    /// Resolves when a batch may have been pushed.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn batch(seq: u64, len: usize, class: DataClass) -> EncodedBatch {
        EncodedBatch {
            first_seq: seq,
            events: 10,
            class,
            first_ts: i64::try_from(seq).unwrap() * 1_000,
            last_ts: i64::try_from(seq).unwrap() * 1_000 + 9,
            body: Bytes::from(vec![0u8; len]),
        }
    }

    fn q(max_batches: usize, max_bytes: u64) -> Spool {
        Spool::new(
            Box::new(MemorySpool::new(max_batches, max_bytes)),
            "queue full",
        )
    }

    #[test]
    fn full_queue_drops_oldest_and_counts() {
        let q = q(2, u64::MAX);
        assert_eq!(q.push(batch(0, 1, DataClass::Network)), 0);
        assert_eq!(q.push(batch(10, 1, DataClass::Network)), 0);
        assert_eq!(q.push(batch(20, 1, DataClass::Network)), 10);
        assert_eq!(q.front().unwrap().first_seq, 10);
        let s = q.stats();
        assert_eq!(
            (s.dropped_batches, s.dropped_events, s.queued_batches),
            (1, 10, 2)
        );
        assert_eq!(s.dropped_network_events, 10);
        let gap = q.take_gap().expect("a gap report");
        assert_eq!((gap.batches, gap.events, gap.network_events), (1, 10, 10));
        assert_eq!(gap.seq_ranges, vec![(0, 10)]);
        assert_eq!((gap.from_ts, gap.to_ts), (0, 9));
        assert_eq!(gap.reason, "queue full");
        assert!(q.take_gap().is_none(), "reported once");
    }

    #[test]
    fn host_samples_go_first_and_security_events_last() {
        let q = q(3, u64::MAX);
        q.push(batch(0, 1, DataClass::Security));
        q.push(batch(10, 1, DataClass::Network));
        q.push(batch(20, 1, DataClass::Host));
        // Full: the next push drops the host batch although it is newer.
        q.push(batch(30, 1, DataClass::Security));
        assert_eq!(q.stats().dropped_host_events, 10);
        // Then network, then the oldest security batch.
        q.push(batch(40, 1, DataClass::Security));
        assert_eq!(q.stats().dropped_network_events, 10);
        q.push(batch(50, 1, DataClass::Host));
        assert_eq!(
            q.stats().dropped_host_events,
            20,
            "a new host batch goes before any security batch"
        );
        q.push(batch(60, 1, DataClass::Security));
        let s = q.stats();
        assert_eq!(s.dropped_security_events, 10);
        assert_eq!(q.front().unwrap().first_seq, 30);
        let gap = q.take_gap().unwrap();
        assert_eq!(
            (gap.host_events, gap.network_events, gap.security_events),
            (20, 10, 10)
        );
        assert_eq!(gap.seq_ranges, vec![(0, 30), (50, 60)]);
    }

    #[test]
    fn byte_bound_applies_but_keeps_newest() {
        let q = q(100, 100);
        q.push(batch(0, 60, DataClass::Network));
        q.push(batch(10, 60, DataClass::Network));
        assert_eq!(q.stats().dropped_batches, 1);
        q.push(batch(20, 500, DataClass::Network));
        assert_eq!(q.front().unwrap().first_seq, 20);
        assert_eq!(q.stats().queued_batches, 1);
        assert_eq!(q.stats().queued_bytes, 500);
    }

    #[test]
    fn completion_counts_by_sequence_number() {
        let q = q(10, u64::MAX);
        q.push(batch(0, 1, DataClass::Network));
        q.push(batch(10, 1, DataClass::Network));
        q.complete(0, false);
        q.complete(0, false); // already gone: not counted twice
        q.complete(10, true);
        let s = q.stats();
        assert_eq!(
            (s.sent_batches, s.rejected_batches, s.queued_batches),
            (1, 1, 0)
        );
    }
}
