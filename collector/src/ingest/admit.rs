//! Admission control for `POST /v1/ingest`: the collector takes on no more
//! than it can hold, and tells agents when to come back.
//!
//! - At most `ingest.max-concurrent` requests are read, decoded and
//!   committed at once. A request waits up to `ingest.queue-wait` for a
//!   turn, body unread (so TCP holds it back, not our memory); then it is
//!   refused with 429 and `Retry-After`.
//! - While the resident memory is above 80 % of `ingest.memory-limit-bytes`,
//!   every ingest request is refused at once with 503 and `Retry-After`,
//!   leaving the last 20 % for the requests already admitted.
//!
//! Refused batches were never acknowledged: the agents keep them in their
//! spools and send them again after the pause (jittered).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Seconds an agent is asked to wait when every slot is taken.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;
/// Seconds an agent is asked to wait when memory is high.
pub const MEMORY_RETRY_AFTER_SECS: u64 = 5;
/// Share of the memory limit above which new batches are refused.
pub const MEMORY_HIGH_RATIO: f64 = 0.8;

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Busy,
    MemoryHigh { rss: u64, limit: u64 },
}

#[derive(Debug)]
pub struct Admission {
    slots: Semaphore,
    max: usize,
    wait: Duration,
    memory_limit: u64,
    rss: AtomicU64,
}

impl Admission {
    pub fn new(max_concurrent: usize, wait: Duration, memory_limit: u64) -> Self {
        let max = max_concurrent.max(1);
        Self {
            slots: Semaphore::new(max),
            max,
            wait,
            memory_limit,
            rss: AtomicU64::new(resident_bytes().unwrap_or(0)),
        }
    }

    /// A slot for one request, or why not.
    pub async fn admit(&self) -> Result<SemaphorePermit<'_>, Refusal> {
        if self.memory_limit > 0 {
            let rss = self.rss.load(Ordering::Relaxed);
            #[allow(clippy::cast_precision_loss)]
            if rss as f64 >= self.memory_limit as f64 * MEMORY_HIGH_RATIO {
                return Err(Refusal::MemoryHigh {
                    rss,
                    limit: self.memory_limit,
                });
            }
        }
        match tokio::time::timeout(self.wait, self.slots.acquire()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(Refusal::Busy),
        }
    }

    /// Requests being handled now.
    pub fn in_flight(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    /// The latest resident-memory reading, bytes.
    pub fn resident(&self) -> u64 {
        self.rss.load(Ordering::Relaxed)
    }

    /// Reads the resident memory now (the sampler calls this).
    pub fn sample(&self) {
        if let Some(r) = resident_bytes() {
            self.rss.store(r, Ordering::Relaxed);
        }
    }

    /// Samples resident memory every `every` for as long as the collector
    /// runs.
    pub fn spawn_sampler(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut t = tokio::time::interval(every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                t.tick().await;
                me.sample();
            }
        })
    }
}

/// `VmRSS` of this process, from `/proc/self/status`.
pub fn resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&s)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_full_house_refuses_after_the_wait() {
        let a = Admission::new(2, Duration::from_millis(500), 0);
        let p1 = a.admit().await.unwrap();
        let _p2 = a.admit().await.unwrap();
        assert_eq!(a.in_flight(), 2);
        let started = tokio::time::Instant::now();
        assert_eq!(a.admit().await.unwrap_err(), Refusal::Busy);
        assert!(started.elapsed() >= Duration::from_millis(500));
        // A slot freed during the wait is taken.
        let waiter = a.admit();
        drop(p1);
        assert!(waiter.await.is_ok());
    }

    #[tokio::test]
    async fn high_memory_refuses_at_once() {
        let a = Admission::new(4, Duration::from_secs(5), 1000);
        a.rss.store(799, Ordering::Relaxed);
        assert!(a.admit().await.is_ok());
        a.rss.store(800, Ordering::Relaxed);
        assert_eq!(
            a.admit().await.unwrap_err(),
            Refusal::MemoryHigh {
                rss: 800,
                limit: 1000
            }
        );
        // No limit: never refused for memory.
        let b = Admission::new(4, Duration::from_secs(5), 0);
        b.rss.store(u64::MAX, Ordering::Relaxed);
        assert!(b.admit().await.is_ok());
    }

    #[test]
    fn reads_vm_rss() {
        assert_eq!(
            parse_vm_rss("Name:\tx\nVmRSS:\t   12345 kB\nThreads: 3\n"),
            Some(12345 * 1024)
        );
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(resident_bytes().unwrap() > 0);
    }
}
