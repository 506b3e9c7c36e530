//! The queue between the batcher and the uploader.
//!
//! [`BatchStore`] is the seam for the durable spool: today the store is
//! memory ([`MemoryStore`]), bounded in batches and bytes; when full, the
//! oldest batch is dropped and counted. A disk spool implements the same
//! trait and makes the drop a rare last resort.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use shouwang_proto::QueueStats;
use tokio::sync::Notify;

/// A batch ready to send: serialised and compressed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBatch {
    pub first_seq: u64,
    pub events: u64,
    /// zstd-compressed JSON.
    pub body: Bytes,
}

/// Where batches wait for upload, in order.
pub trait BatchStore: Send {
    /// Appends; returns batches dropped to make room (oldest first).
    fn push(&mut self, batch: EncodedBatch) -> Vec<EncodedBatch>;
    /// The oldest batch, without removing it.
    fn front(&self) -> Option<EncodedBatch>;
    /// Removes the oldest batch once the collector has it (or refused it).
    fn pop_front(&mut self) -> Option<EncodedBatch>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Bounded in-memory store.
#[derive(Debug)]
pub struct MemoryStore {
    batches: VecDeque<EncodedBatch>,
    bytes: u64,
    max_batches: usize,
    max_bytes: u64,
}

impl MemoryStore {
    pub fn new(max_batches: usize, max_bytes: u64) -> Self {
        Self {
            batches: VecDeque::new(),
            bytes: 0,
            max_batches: max_batches.max(1),
            max_bytes,
        }
    }
}

impl BatchStore for MemoryStore {
    fn push(&mut self, batch: EncodedBatch) -> Vec<EncodedBatch> {
        self.bytes += batch.body.len() as u64;
        self.batches.push_back(batch);
        let mut dropped = Vec::new();
        // Keep at least the newest batch even if it alone exceeds max_bytes.
        while self.batches.len() > 1
            && (self.batches.len() > self.max_batches || self.bytes > self.max_bytes)
        {
            if let Some(old) = self.pop_front() {
                dropped.push(old);
            }
        }
        dropped
    }

    fn front(&self) -> Option<EncodedBatch> {
        self.batches.front().cloned()
    }

    fn pop_front(&mut self) -> Option<EncodedBatch> {
        let b = self.batches.pop_front()?;
        self.bytes -= b.body.len() as u64;
        Some(b)
    }

    fn len(&self) -> usize {
        self.batches.len()
    }
}

struct Inner {
    store: Box<dyn BatchStore>,
    stats: QueueStats,
}

/// The store plus counters, shared by batcher, uploader and heartbeat.
#[derive(Clone)]
pub struct ShipQueue {
    inner: Arc<Mutex<Inner>>,
    ready: Arc<Notify>,
}

impl std::fmt::Debug for ShipQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShipQueue")
            .field("stats", &self.stats())
            .finish()
    }
}

impl ShipQueue {
    pub fn new(store: Box<dyn BatchStore>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                store,
                stats: QueueStats::default(),
            })),
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

    /// Enqueues and wakes the uploader; returns how many events were dropped.
    pub fn push(&self, batch: EncodedBatch) -> u64 {
        let dropped = self.with(|i| {
            let dropped = i.store.push(batch);
            let events: u64 = dropped.iter().map(|b| b.events).sum();
            i.stats.dropped_batches += dropped.len() as u64;
            i.stats.dropped_events += events;
            i.stats.queued_batches = i.store.len() as u64;
            events
        });
        self.ready.notify_one();
        dropped
    }

    pub fn front(&self) -> Option<EncodedBatch> {
        self.with(|i| i.store.front())
    }

    /// The front batch was delivered (`rejected`: refused as invalid).
    pub fn complete_front(&self, rejected: bool) {
        self.with(|i| {
            i.store.pop_front();
            if rejected {
                i.stats.rejected_batches += 1;
            } else {
                i.stats.sent_batches += 1;
            }
            i.stats.queued_batches = i.store.len() as u64;
        });
    }

    pub fn record_failure(&self) {
        self.with(|i| i.stats.failed_uploads += 1);
    }

    pub fn stats(&self) -> QueueStats {
        self.with(|i| i.stats)
    }

    /// Resolves when a batch may have been pushed.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(seq: u64, len: usize) -> EncodedBatch {
        EncodedBatch {
            first_seq: seq,
            events: 10,
            body: Bytes::from(vec![0u8; len]),
        }
    }

    #[test]
    fn full_queue_drops_oldest_and_counts() {
        let q = ShipQueue::new(Box::new(MemoryStore::new(2, u64::MAX)));
        assert_eq!(q.push(batch(0, 1)), 0);
        assert_eq!(q.push(batch(10, 1)), 0);
        assert_eq!(q.push(batch(20, 1)), 10);
        assert_eq!(q.front().unwrap().first_seq, 10);
        let s = q.stats();
        assert_eq!(
            (s.dropped_batches, s.dropped_events, s.queued_batches),
            (1, 10, 2)
        );
    }

    #[test]
    fn byte_bound_applies_but_keeps_newest() {
        let q = ShipQueue::new(Box::new(MemoryStore::new(100, 100)));
        q.push(batch(0, 60));
        q.push(batch(10, 60));
        assert_eq!(q.stats().dropped_batches, 1);
        q.push(batch(20, 500));
        assert_eq!(q.front().unwrap().first_seq, 20);
        assert_eq!(q.stats().queued_batches, 1);
    }

    #[test]
    fn completion_counts() {
        let q = ShipQueue::new(Box::new(MemoryStore::new(10, u64::MAX)));
        q.push(batch(0, 1));
        q.push(batch(10, 1));
        q.complete_front(false);
        q.complete_front(true);
        let s = q.stats();
        assert_eq!(
            (s.sent_batches, s.rejected_batches, s.queued_batches),
            (1, 1, 0)
        );
    }
}
