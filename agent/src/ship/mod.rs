//! Shipping: events → numbered batches → queue → HTTP upload with retry.
//!
//! ```text
//! sources ─► mpsc<Event> ─► batcher (seq, JSON, zstd) ─► ShipQueue ─► uploader ─► POST /v1/ingest
//! ```
//!
//! The event channel is bounded: sources wait when it is full. The queue is
//! bounded: when the collector stays away long enough to fill it, the oldest
//! batch is dropped and counted in [`shouwang_proto::QueueStats`], which every
//! heartbeat reports.

pub mod queue;
pub mod upload;

use std::time::Duration;

use bytes::Bytes;
use shouwang_proto::{Batch, Event};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::state::SeqAllocator;
use queue::{EncodedBatch, ShipQueue};

/// Serialises and compresses one batch (one zstd context, reused).
pub fn encode(batch: &Batch, compressor: &mut zstd::bulk::Compressor<'_>) -> anyhow::Result<Bytes> {
    let json = serde_json::to_vec(batch)?;
    Ok(Bytes::from(compressor.compress(&json)?))
}

/// Who the batches are from: the agent, and the exercise (drill) the
/// events belong to, if any.
#[derive(Debug, Clone)]
pub struct Origin {
    pub agent: String,
    pub exercise: Option<String>,
}

impl From<String> for Origin {
    fn from(agent: String) -> Self {
        Self {
            agent,
            exercise: None,
        }
    }
}

/// Collects events into batches of at most `max_events`, closing a batch at
/// the latest `flush` after its first event. Ends when every sender is gone,
/// after flushing what it holds.
pub async fn run_batcher(
    mut rx: mpsc::Receiver<Event>,
    origin: Origin,
    mut seq: SeqAllocator,
    queue: ShipQueue,
    max_events: usize,
    flush: Duration,
    zstd_level: i32,
) -> anyhow::Result<()> {
    let mut compressor = zstd::bulk::Compressor::new(zstd_level)?;
    let mut buf: Vec<Event> = Vec::with_capacity(max_events);
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let closed = tokio::select! {
            ev = rx.recv() => match ev {
                Some(e) => {
                    if buf.is_empty() {
                        deadline = Some(tokio::time::Instant::now() + flush);
                    }
                    buf.push(e);
                    false
                }
                None => true,
            },
            () = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => false,
        };
        let due = deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
        if !buf.is_empty() && (closed || due || buf.len() >= max_events) {
            let events = std::mem::replace(&mut buf, Vec::with_capacity(max_events));
            deadline = None;
            let n = events.len() as u64;
            let first_seq = seq.take(n)?;
            let mut batch = Batch::new(origin.agent.clone(), first_seq, events);
            batch.exercise.clone_from(&origin.exercise);
            let body = encode(&batch, &mut compressor)?;
            debug!(first_seq, events = n, bytes = body.len(), "batch queued");
            let dropped = queue.push(EncodedBatch {
                first_seq,
                events: n,
                body,
            });
            if dropped > 0 {
                warn!(
                    dropped_events = dropped,
                    "upload queue full: dropped the oldest batch (collector unreachable?)"
                );
            }
        }
        if closed {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use queue::MemoryStore;
    use shouwang_proto::{EventBody, Level, Notice, Timestamp};

    fn ev(i: i64) -> Event {
        Event::new(
            Timestamp::from_secs(i),
            EventBody::Notice(Notice {
                level: Level::Info,
                component: "t".into(),
                message: i.to_string(),
            }),
        )
    }

    fn decode(b: &EncodedBatch) -> Batch {
        serde_json::from_slice(&zstd::decode_all(&b.body[..]).unwrap()).unwrap()
    }

    fn drain(q: &ShipQueue) -> Vec<Batch> {
        let mut out = Vec::new();
        while let Some(b) = q.front() {
            out.push(decode(&b));
            q.complete_front(false);
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn batches_by_size_and_by_time_with_contiguous_seqs() {
        let dir = tempfile::tempdir().unwrap();
        let seq = SeqAllocator::open(dir.path()).unwrap();
        let q = ShipQueue::new(Box::new(MemoryStore::new(100, u64::MAX)));
        let (tx, rx) = mpsc::channel(100);
        let task = tokio::spawn(run_batcher(
            rx,
            Origin::from("a1".to_owned()),
            seq,
            q.clone(),
            3,
            Duration::from_secs(1),
            3,
        ));
        for i in 0..4 {
            tx.send(ev(i)).await.unwrap();
        }
        tokio::task::yield_now().await;
        // Three events make a full batch at once; the fourth waits for the timer.
        let first = drain(&q);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].events.len(), 3);
        tokio::time::sleep(Duration::from_millis(1001)).await;
        let second = drain(&q);
        assert_eq!(second.len(), 1, "time flush");
        assert_eq!(second[0].first_seq, first[0].first_seq + 3);
        tx.send(ev(9)).await.unwrap();
        drop(tx);
        task.await.unwrap().unwrap();
        let last = drain(&q);
        assert_eq!(last.len(), 1, "flush on close");
        assert_eq!(last[0].first_seq, first[0].first_seq + 4);
        assert_eq!(last[0].agent, "a1");
    }
}
