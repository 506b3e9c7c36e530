//! Shipping: events → numbered batches → spool → HTTP upload with retry.
//!
//! ```text
//! sources ─► mpsc<Event> ─► batcher (one buffer per DataClass; seq, JSON, zstd)
//!         ─► Spool (DiskSpool: fsync'd files) ─► uploader ─► POST /v1/ingest ─► delete
//! ```
//!
//! The event channel is bounded: sources wait when it is full. The spool is
//! bounded: when the collector stays away long enough to fill it, the oldest
//! batch of the lowest class is dropped (host samples first, security events
//! last), counted in [`shouwang_proto::QueueStats`] (every heartbeat reports
//! them) and reported as a [`shouwang_proto::DataGap`] event.

pub mod disk;
pub mod spool;
pub mod upload;

use std::time::Duration;

use bytes::Bytes;
use shouwang_proto::{Batch, DataClass, Event, EventBody, Timestamp};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::state::SeqAllocator;
use spool::{EncodedBatch, Spool};

/// At most one data-gap event per this long while drops go on (the counts
/// are cumulative, so nothing is lost by waiting).
pub const GAP_REPORT_EVERY: Duration = Duration::from_secs(10);

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

/// Events of one class waiting to become a batch.
#[derive(Debug, Default)]
struct Pending {
    events: Vec<Event>,
    deadline: Option<tokio::time::Instant>,
}

struct Batcher<'a> {
    origin: Origin,
    seq: SeqAllocator,
    spool: Spool,
    compressor: zstd::bulk::Compressor<'a>,
    pending: [Pending; 3],
    max_events: usize,
    flush: Duration,
    last_gap: Option<tokio::time::Instant>,
    /// The events-per-second cap (`[limits]`), when the agent set one.
    cap: Option<(crate::limits::RateCap, crate::limits::Governor)>,
}

impl Batcher<'_> {
    fn add(&mut self, e: Event) -> anyhow::Result<()> {
        let kind_class = e.kind().class();
        if let Some((cap, gov)) = &mut self.cap
            && !cap.admit(kind_class)
        {
            gov.rate_limited(kind_class);
            return Ok(());
        }
        let max = self.max_events;
        let p = &mut self.pending[kind_class as usize];
        if p.events.is_empty() {
            p.deadline = Some(tokio::time::Instant::now() + self.flush);
        }
        p.events.push(e);
        if p.events.len() >= max {
            self.seal(kind_class)?;
        }
        Ok(())
    }

    fn next_deadline(&self) -> Option<tokio::time::Instant> {
        self.pending.iter().filter_map(|p| p.deadline).min()
    }

    /// Seals every class whose deadline passed (all of them if `all`).
    fn seal_due(&mut self, all: bool) -> anyhow::Result<()> {
        let now = tokio::time::Instant::now();
        for class in DataClass::ALL {
            let p = &self.pending[class as usize];
            if !p.events.is_empty() && (all || p.deadline.is_some_and(|d| now >= d)) {
                self.seal(class)?;
            }
        }
        Ok(())
    }

    fn seal(&mut self, class: DataClass) -> anyhow::Result<()> {
        let p = &mut self.pending[class as usize];
        let events = std::mem::take(&mut p.events);
        p.deadline = None;
        if events.is_empty() {
            return Ok(());
        }
        let n = events.len() as u64;
        let first_ts = events.iter().map(|e| e.ts.as_nanos()).min().unwrap_or(0);
        let last_ts = events.iter().map(|e| e.ts.as_nanos()).max().unwrap_or(0);
        let first_seq = self.seq.take(n)?;
        let mut batch = Batch::new(self.origin.agent.clone(), first_seq, events);
        batch.exercise.clone_from(&self.origin.exercise);
        let body = encode(&batch, &mut self.compressor)?;
        debug!(
            first_seq,
            events = n,
            bytes = body.len(),
            class = class.as_str(),
            "batch queued"
        );
        let dropped = self.spool.push(EncodedBatch {
            first_seq,
            events: n,
            class,
            first_ts,
            last_ts,
            body,
        });
        if dropped > 0 {
            warn!(
                dropped_events = dropped,
                "upload spool full: dropped the oldest low-value batch (collector unreachable?)"
            );
        }
        Ok(())
    }

    /// Turns drops into a data-gap event (at most one per
    /// [`GAP_REPORT_EVERY`], unless `now`).
    fn report_gap(&mut self, now: bool) -> anyhow::Result<()> {
        let due = now
            || self
                .last_gap
                .is_none_or(|t| t.elapsed() >= GAP_REPORT_EVERY);
        if !due {
            return Ok(());
        }
        if let Some(gap) = self.spool.take_gap() {
            warn!(
                events = gap.events,
                host = gap.host_events,
                network = gap.network_events,
                security = gap.security_events,
                reason = %gap.reason,
                "data gap: telemetry dropped before the collector had it"
            );
            self.last_gap = Some(tokio::time::Instant::now());
            let ev = Event::new(
                Timestamp::from_system_time(std::time::SystemTime::now()),
                EventBody::DataGap(gap),
            );
            self.add(ev)?;
        }
        Ok(())
    }
}

/// Collects events into batches of at most `max_events` per data class,
/// closing a batch at the latest `flush` after its first event. Ends when
/// every sender is gone, after flushing what it holds (and reporting any
/// data gap). With a `governor`, events beyond its events-per-second cap
/// are dropped and counted there.
#[allow(clippy::too_many_arguments)]
pub async fn run_batcher(
    mut rx: mpsc::Receiver<Event>,
    origin: Origin,
    seq: SeqAllocator,
    spool: Spool,
    max_events: usize,
    flush: Duration,
    zstd_level: i32,
    governor: Option<crate::limits::Governor>,
) -> anyhow::Result<()> {
    let mut b = Batcher {
        origin,
        seq,
        spool,
        compressor: zstd::bulk::Compressor::new(zstd_level)?,
        pending: Default::default(),
        max_events: max_events.max(1),
        flush,
        last_gap: None,
        cap: governor.map(|g| {
            (
                crate::limits::RateCap::new(g.config().max_events_per_second),
                g,
            )
        }),
    };
    // Damaged batches found when the spool opened are reported at once.
    b.report_gap(true)?;
    loop {
        let deadline = b.next_deadline();
        let closed = tokio::select! {
            ev = rx.recv() => match ev {
                Some(e) => {
                    b.add(e)?;
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
        b.seal_due(closed)?;
        b.report_gap(closed)?;
        if closed {
            b.seal_due(true)?;
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shouwang_proto::{EventBody, Level, Notice, Timestamp};
    use spool::MemorySpool;

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

    fn drain(q: &Spool) -> Vec<Batch> {
        let mut out = Vec::new();
        while let Some(b) = q.front() {
            out.push(decode(&b));
            q.complete(b.first_seq, false);
        }
        out
    }

    /// A batcher for agent `a1` (flush after 1 s, zstd level 3, no rate
    /// cap) into a memory spool of `max_batches`; the state directory lives
    /// as long as the returned guard.
    fn start_batcher(
        max_batches: usize,
        full_reason: &str,
        max_events: usize,
    ) -> (
        tempfile::TempDir,
        Spool,
        mpsc::Sender<Event>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let seq = SeqAllocator::open(dir.path()).unwrap();
        let q = Spool::new(
            Box::new(MemorySpool::new(max_batches, u64::MAX)),
            full_reason,
        );
        let (tx, rx) = mpsc::channel(100);
        let task = tokio::spawn(run_batcher(
            rx,
            Origin::from("a1".to_owned()),
            seq,
            q.clone(),
            max_events,
            Duration::from_secs(1),
            3,
            None,
        ));
        (dir, q, tx, task)
    }

    #[tokio::test(start_paused = true)]
    async fn batches_by_size_and_by_time_with_contiguous_seqs() {
        let (_dir, q, tx, task) = start_batcher(100, "full", 3);
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

    #[tokio::test(start_paused = true)]
    async fn classes_batch_apart_and_drops_become_a_data_gap_event() {
        let (_dir, q, tx, task) = start_batcher(3, "spool full (test)", 1);
        let hb = |i: i64| {
            Event::new(
                Timestamp::from_secs(i),
                EventBody::Heartbeat(Box::default()),
            )
        };
        // A notice (security) and three heartbeats (host), one per batch,
        // into room for three: the third heartbeat's batch pushes the
        // oldest host batch out although the notice is older; the gap
        // report (security) then pushes out another heartbeat.
        tx.send(ev(1)).await.unwrap();
        for i in 2..5 {
            tx.send(hb(i)).await.unwrap();
        }
        drop(tx);
        task.await.unwrap().unwrap();
        let batches = drain(&q);
        let kinds: Vec<String> = batches
            .iter()
            .map(|b| b.events[0].kind().as_str().to_owned())
            .collect();
        assert!(kinds.contains(&"notice".to_owned()), "{kinds:?}");
        let gap = batches
            .iter()
            .find_map(|b| match &b.events[0].body {
                EventBody::DataGap(g) => Some(g.clone()),
                _ => None,
            })
            .expect("a data-gap event");
        assert!(gap.host_events >= 1 && gap.security_events == 0, "{gap:?}");
        assert_eq!(gap.reason, "spool full (test)");
        assert_eq!(gap.seq_ranges[0], (1, 2), "the first heartbeat's seq");
        let st = q.stats();
        assert!(st.dropped_host_events >= 2, "{st:?}");
        assert_eq!(st.dropped_security_events, 0);
    }
}
