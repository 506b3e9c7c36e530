//! Self-protection: the agent must never be what takes a host down.
//!
//! A monitor samples the agent's own CPU (`/proc/self/stat`) and resident
//! memory every second against `[limits]`. Over either budget the agent is
//! *overloaded*: live capture keeps the packets of one flow in
//! `sample_every` (by a hash of the flow's addresses and ports, so a kept
//! flow is whole and replies never show up without their requests;
//! doubling each second while overloaded, up to 64, halving back once
//! under), and
//! integrity rescans hash at a quarter of their pace. Independently, an
//! events-per-second cap drops host and network telemetry beyond the rate
//! (security events are never capped). Everything is counted and reported
//! in every heartbeat (`limits`), exported by the collector and shown on
//! the console.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::Deserialize;
use shouwang_proto::{DataClass, LimitStatus};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Largest capture sampling factor.
pub const MAX_SAMPLE_EVERY: u32 = 64;

/// `[limits]` in the agent config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LimitsConfig {
    /// CPU the agent may use, percent of one core, averaged over a second.
    #[serde(default = "default_cpu")]
    pub cpu_percent: f32,
    /// Resident memory the agent may use, bytes.
    #[serde(default = "default_memory")]
    pub memory_bytes: u64,
    /// Host and network events shipped per second at most (0: no cap).
    #[serde(default = "default_eps")]
    pub max_events_per_second: u64,
    /// Bytes per second integrity rescans hash at most (a quarter of it
    /// while overloaded; 0: no pacing).
    #[serde(default = "default_rescan")]
    pub rescan_bytes_per_second: u64,
}

fn default_cpu() -> f32 {
    100.0
}
fn default_memory() -> u64 {
    512 * 1024 * 1024
}
fn default_eps() -> u64 {
    50_000
}
fn default_rescan() -> u64 {
    64 * 1024 * 1024
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            cpu_percent: default_cpu(),
            memory_bytes: default_memory(),
            max_events_per_second: default_eps(),
            rescan_bytes_per_second: default_rescan(),
        }
    }
}

impl LimitsConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(1.0..=10_000.0).contains(&self.cpu_percent) {
            anyhow::bail!(
                "limits.cpu-percent = {}: must be 1 to 10000",
                self.cpu_percent
            );
        }
        if self.memory_bytes < 32 * 1024 * 1024 {
            anyhow::bail!("limits.memory-bytes must be at least 32 MiB");
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Shared {
    cpu_pct_x10: AtomicU32,
    rss: AtomicU64,
    overloaded: AtomicBool,
    overloaded_secs: AtomicU64,
    sample_every: AtomicU32,
    sampled_out: AtomicU64,
    limited_host: AtomicU64,
    limited_network: AtomicU64,
    rescan_paced_ms: AtomicU64,
}

/// The budgets and the live state, shared by the monitor, the capture
/// threads, the batcher, integrity and the heartbeat. A cheap handle
/// (clones share one state): the agent's run makes one and hands a clone
/// to each of them; without one (tests, `pcap`, `publish`), nothing is
/// limited.
#[derive(Debug, Clone)]
pub struct Governor {
    cfg: LimitsConfig,
    s: Arc<Shared>,
}

impl Governor {
    pub fn new(cfg: LimitsConfig) -> Self {
        let s = Shared {
            sample_every: AtomicU32::new(1),
            ..Default::default()
        };
        Self {
            cfg,
            s: Arc::new(s),
        }
    }

    pub fn config(&self) -> &LimitsConfig {
        &self.cfg
    }

    pub fn overloaded(&self) -> bool {
        self.s.overloaded.load(Relaxed)
    }

    /// Capture keeps one flow in this many now (1: all).
    pub fn sample_every(&self) -> u32 {
        self.s.sample_every.load(Relaxed).max(1)
    }

    /// Capture: whether to analyse a frame whose flow hashes to `flow`
    /// (sampling while overloaded: one flow in N, whole); counts the frames
    /// skipped.
    pub fn keep_frame(&self, flow: u64) -> bool {
        let every = u64::from(self.s.sample_every.load(Relaxed).max(1));
        if every == 1 || flow.is_multiple_of(every) {
            true
        } else {
            self.s.sampled_out.fetch_add(1, Relaxed);
            false
        }
    }

    /// Batcher: an event of `class` was dropped by the rate cap.
    pub fn rate_limited(&self, class: DataClass) {
        match class {
            DataClass::Host => self.s.limited_host.fetch_add(1, Relaxed),
            DataClass::Network => self.s.limited_network.fetch_add(1, Relaxed),
            DataClass::Security => 0,
        };
    }

    /// Rescans: `bytes` were just hashed; sleeps as long as the pace asks
    /// (the pacer is shared by the hashing threads of one rescan).
    pub fn pace(&self, pacer: &std::sync::Mutex<Pacer>, bytes: u64) {
        let mut rate = self.cfg.rescan_bytes_per_second;
        if rate == 0 {
            return;
        }
        if self.overloaded() {
            rate = (rate / 4).max(1);
        }
        let owed = pacer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .owed(bytes, rate);
        if let Some(wait) = owed {
            self.s
                .rescan_paced_ms
                .fetch_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), Relaxed);
            std::thread::sleep(wait);
        }
    }

    /// One reading of the agent's own use: updates the overload state and
    /// the sampling factor.
    pub fn observe(&self, cpu_pct: f32, rss: u64) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        self.s
            .cpu_pct_x10
            .store((cpu_pct.max(0.0) * 10.0) as u32, Relaxed);
        self.s.rss.store(rss, Relaxed);
        let over = cpu_pct > self.cfg.cpu_percent || rss > self.cfg.memory_bytes;
        let was = self.s.overloaded.swap(over, Relaxed);
        let every = self.s.sample_every.load(Relaxed).max(1);
        let next = if over {
            self.s.overloaded_secs.fetch_add(1, Relaxed);
            (every * 2).min(MAX_SAMPLE_EVERY)
        } else {
            (every / 2).max(1)
        };
        self.s.sample_every.store(next, Relaxed);
        if over && !was {
            warn!(
                cpu_pct,
                cpu_budget = self.cfg.cpu_percent,
                rss,
                memory_budget = self.cfg.memory_bytes,
                "agent over its resource budget: sampling capture, slowing rescans"
            );
        } else if !over && was {
            info!(cpu_pct, rss, "agent back within its resource budget");
        }
    }

    /// The heartbeat's view.
    pub fn status(&self) -> LimitStatus {
        let s = &self.s;
        #[allow(clippy::cast_precision_loss)]
        LimitStatus {
            cpu_pct: s.cpu_pct_x10.load(Relaxed) as f32 / 10.0,
            cpu_budget_pct: self.cfg.cpu_percent,
            rss_bytes: s.rss.load(Relaxed),
            memory_budget_bytes: self.cfg.memory_bytes,
            overloaded: s.overloaded.load(Relaxed),
            overloaded_secs: s.overloaded_secs.load(Relaxed),
            sample_every: s.sample_every.load(Relaxed).max(1),
            sampled_out_frames: s.sampled_out.load(Relaxed),
            max_events_per_sec: self.cfg.max_events_per_second,
            rate_limited_host_events: s.limited_host.load(Relaxed),
            rate_limited_network_events: s.limited_network.load(Relaxed),
            rescan_paced_ms: s.rescan_paced_ms.load(Relaxed),
        }
    }
}

/// Byte pacing for one rescan.
#[derive(Debug)]
pub struct Pacer {
    started: Instant,
    bytes: u64,
}

impl Default for Pacer {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            bytes: 0,
        }
    }
}

impl Pacer {
    /// How long to wait so that all bytes so far took at least
    /// bytes / rate seconds.
    fn owed(&mut self, bytes: u64, rate: u64) -> Option<Duration> {
        self.bytes += bytes;
        #[allow(clippy::cast_precision_loss)]
        let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
        due.checked_sub(self.started.elapsed())
            .filter(|w| *w >= Duration::from_millis(1))
    }
}

/// Events-per-second cap as a token bucket (burst: one second's worth).
#[derive(Debug)]
pub struct RateCap {
    per_sec: u64,
    tokens: f64,
    last: tokio::time::Instant,
}

impl RateCap {
    pub fn new(per_sec: u64) -> Self {
        #[allow(clippy::cast_precision_loss)]
        Self {
            per_sec,
            tokens: per_sec as f64,
            last: tokio::time::Instant::now(),
        }
    }

    /// Whether an event of `class` may go; security events always may
    /// (and use up a token if one is there).
    pub fn admit(&mut self, class: DataClass) -> bool {
        if self.per_sec == 0 {
            return true;
        }
        let now = tokio::time::Instant::now();
        #[allow(clippy::cast_precision_loss)]
        let cap = self.per_sec as f64;
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * cap).min(cap);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            class == DataClass::Security
        }
    }
}

/// CPU seconds (user + system) of this process, from `/proc/self/stat`.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    #[allow(clippy::cast_precision_loss)]
    let hz = procfs::ticks_per_second() as f64;
    Some((utime + stime) / hz)
}

fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Samples the agent's own CPU and memory every second until cancelled.
pub async fn run_monitor(gov: Governor, cancel: CancellationToken) -> anyhow::Result<()> {
    let mut t = tokio::time::interval(Duration::from_secs(1));
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = (Instant::now(), cpu_seconds().unwrap_or(0.0));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            _ = t.tick() => {}
        }
        let now = Instant::now();
        let cpu = cpu_seconds().unwrap_or(last.1);
        let wall = now.duration_since(last.0).as_secs_f64();
        #[allow(clippy::cast_possible_truncation)]
        let pct = if wall > 0.0 {
            ((cpu - last.1) / wall * 100.0) as f32
        } else {
            0.0
        };
        last = (now, cpu);
        gov.observe(pct, rss_bytes().unwrap_or(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shouwang_packet::{Analyzer, AnalyzerConfig};

    #[test]
    fn overload_samples_capture_and_recovers() {
        let g = Governor::new(LimitsConfig {
            cpu_percent: 20.0,
            memory_bytes: 100 << 20,
            ..Default::default()
        });
        assert!((0..10).all(|n| g.keep_frame(n)), "no sampling at first");
        g.observe(35.0, 10 << 20);
        assert!(g.overloaded());
        g.observe(35.0, 10 << 20);
        assert_eq!(g.status().sample_every, 4);
        let kept = (0..100).filter(|&n| g.keep_frame(n)).count();
        assert_eq!(kept, 25);
        assert_eq!(g.status().sampled_out_frames, 75);
        assert!(g.keep_frame(0), "unplaced frames are always kept");
        for _ in 0..10 {
            g.observe(99.0, 10 << 20);
        }
        assert_eq!(g.status().sample_every, MAX_SAMPLE_EVERY);
        // Memory over budget alone is overload too.
        g.observe(1.0, 200 << 20);
        assert!(g.overloaded());
        // Back under: halves each second down to 1.
        for _ in 0..7 {
            g.observe(1.0, 10 << 20);
        }
        let st = g.status();
        assert!(!st.overloaded);
        assert_eq!(st.sample_every, 1);
        assert_eq!(st.overloaded_secs, 13);
    }

    fn eth_ipv4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, flags: u8) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        f[14] = 0x45;
        f[16..18].copy_from_slice(&40u16.to_be_bytes()); // IP total length
        f[23] = 6;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f[46] = 5 << 4; // TCP header length
        f[47] = flags;
        f
    }

    /// The flow hash the capture's sampler is asked about for `frame`, or
    /// `None` when the analyzer holds no IP packet for it (never asked:
    /// always kept).
    fn flow_hash(linktype: i32, frame: &[u8]) -> Option<u64> {
        let mut an = Analyzer::new("t", AnalyzerConfig::default());
        let mut asked = None;
        an.frame_sampled(1, linktype, frame, &mut |p| {
            asked = Some(p.flow_hash());
            true
        });
        asked
    }

    #[test]
    fn a_flow_hashes_the_same_both_ways_so_sampling_keeps_flows_whole() {
        let a = [10, 0, 0, 1];
        let b = [10, 0, 0, 2];
        let syn = flow_hash(1, &eth_ipv4(a, b, 40000, 80, 0x02));
        let rst = flow_hash(1, &eth_ipv4(b, a, 80, 40000, 0x14));
        assert_eq!(syn, rst, "request and reply are one flow");
        assert_ne!(syn, Some(0));
        assert!(syn.is_some());
        assert_ne!(syn, flow_hash(1, &eth_ipv4(a, b, 40001, 80, 0x02)));
        // What it cannot place is kept (the sampler is never asked).
        assert_eq!(flow_hash(1, &[0u8; 10]), None);
        // An Ethernet frame read as Linux SLL is no IP packet.
        assert_eq!(flow_hash(113, &eth_ipv4(a, b, 1, 2, 2)), None);
        let mut frag = eth_ipv4(a, b, 1, 2, 2);
        frag[20] = 0x20; // more fragments
        assert_eq!(flow_hash(1, &frag), None);
        // Under sampling a flow's request and reply are kept or skipped
        // together.
        let g = Governor::new(LimitsConfig::default());
        for _ in 0..3 {
            g.observe(1000.0, 0);
        }
        for sport in 30000..30200u16 {
            let req = flow_hash(1, &eth_ipv4(a, b, sport, 80, 0x02)).unwrap();
            let rep = flow_hash(1, &eth_ipv4(b, a, 80, sport, 0x14)).unwrap();
            assert_eq!(g.keep_frame(req), g.keep_frame(rep));
        }
    }

    #[test]
    fn sampling_keeps_about_one_flow_in_n() {
        let g = Governor::new(LimitsConfig::default());
        let flows: Vec<u64> = (0..4000u32)
            .map(|i| {
                let [_, _, hi, lo] = i.to_be_bytes();
                let sport = 20000 + u16::try_from(i % 5000).unwrap();
                flow_hash(
                    1,
                    &eth_ipv4([10, 0, hi, lo], [192, 168, 1, 7], sport, 443, 0x02),
                )
                .unwrap()
            })
            .collect();
        for every in [2u32, 4, 8] {
            g.observe(1000.0, 0); // each overloaded second doubles the factor
            assert_eq!(g.sample_every(), every);
            let kept = flows.iter().filter(|&&h| g.keep_frame(h)).count();
            #[allow(clippy::cast_precision_loss)]
            let fraction = kept as f64 / flows.len() as f64;
            let want = 1.0 / f64::from(every);
            assert!(
                kept > 0 && (fraction - want).abs() < want * 0.25,
                "factor {every}: kept {kept} of {} ({fraction:.3}, want about {want:.3})",
                flows.len()
            );
            // The same flow is always decided the same way.
            for &h in flows.iter().take(200) {
                assert_eq!(g.keep_frame(h), g.keep_frame(h));
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_cap_drops_telemetry_but_never_security_events() {
        let mut cap = RateCap::new(100);
        let (mut host, mut sec) = (0, 0);
        for _ in 0..300 {
            host += usize::from(cap.admit(DataClass::Host));
            sec += usize::from(cap.admit(DataClass::Security));
        }
        assert_eq!(sec, 300, "security events pass");
        assert!(host <= 100, "{host}");
        tokio::time::advance(Duration::from_millis(500)).await;
        let more = (0..100).filter(|_| cap.admit(DataClass::Network)).count();
        assert_eq!(more, 50, "refilled at the rate");
        assert!(RateCap::new(0).admit(DataClass::Host), "0: no cap");
    }

    #[test]
    fn rescans_are_paced_and_slower_when_overloaded() {
        let g = Governor::new(LimitsConfig {
            rescan_bytes_per_second: 1_000_000,
            ..Default::default()
        });
        let p = std::sync::Mutex::new(Pacer::default());
        let t = Instant::now();
        for _ in 0..10 {
            g.pace(&p, 10_000); // 100 kB at 1 MB/s: 0.1 s
        }
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(95), "{took:?}");
        g.observe(1000.0, 0);
        let p = std::sync::Mutex::new(Pacer::default());
        let t = Instant::now();
        g.pace(&p, 50_000); // at 250 kB/s: 0.2 s
        assert!(
            t.elapsed() >= Duration::from_millis(195),
            "{:?}",
            t.elapsed()
        );
        assert!(g.status().rescan_paced_ms > 0);
    }

    #[test]
    fn reads_its_own_cpu_and_memory() {
        assert!(cpu_seconds().is_some());
        assert!(rss_bytes().unwrap() > 0);
    }
}
