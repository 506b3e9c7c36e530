//! Write-to-event latency of web-root integrity: how long after a write
//! returns the agent has the `file_change` event in its channel (watcher,
//! debounce, stat, hash, diff).
//!
//! `cargo bench -p shouwang-agent --bench fim-latency -- [WRITES] [SPACING_MS] [DEBOUNCE_MS]`
//! `-- [WRITES] [SPACING_MS] [DEBOUNCE_MS]` (default 2000 writes 10 ms
//! apart, the default debounce, over a 10 000-file root). Prints
//! p50/p90/p99/max. Bounded: stops after WRITES writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use shouwang_agent::integrity::{IntegrityStats, RootConfig, watch};
use shouwang_daemon::clock::Clock;
use shouwang_proto::EventBody;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
struct Noon;
impl Clock for Noon {
    fn now_ms(&self) -> i64 {
        720 * 60_000
    }
    fn minute_of_day(&self) -> u16 {
        720
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let writes: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let spacing = Duration::from_millis(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10));
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    for d in 0..100 {
        std::fs::create_dir_all(root.join(format!("d{d}"))).unwrap();
        for f in 0..100 {
            std::fs::write(
                root.join(format!("d{d}/p{f}.html")),
                format!(
                    "<html><p>page {d}/{f}</p>\n{}</html>\n",
                    "text ".repeat(200)
                ),
            )
            .unwrap();
        }
    }
    let (tx, mut rx) = mpsc::channel(100_000);
    let cancel = CancellationToken::new();
    let registry = IntegrityStats::default();
    let mut cfg = RootConfig::new(&root);
    if let Some(ms) = args.get(2).and_then(|a| a.parse().ok()) {
        cfg.debounce = Duration::from_millis(ms);
    }
    let debounce = cfg.debounce;
    let (c, r, s) = (cancel.clone(), registry.clone(), state.path().to_path_buf());
    let t = std::thread::spawn(move || watch::run_root(cfg, s, Arc::new(Noon), tx, c, &r, None));
    while !registry.ready() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut lat = Vec::with_capacity(writes);
    let mut sent_at: Vec<i64> = Vec::with_capacity(writes);
    for i in 0..writes {
        let rel = format!("d{}/p{}.html", i % 100, (i / 100) % 100);
        let body = format!("<html><p>changed {i}</p></html>\n");
        std::fs::write(root.join(&rel), body).unwrap();
        let wrote = Instant::now();
        let wrote_wall = std::time::SystemTime::now();
        loop {
            let ev = rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(10), rx.recv()).await })
                .expect("no event within 10 s")
                .expect("channel closed");
            if let EventBody::FileChange(c) = ev.body
                && c.path == rel
            {
                lat.push(wrote.elapsed());

                let sent = ev.ts.0 - shouwang_proto::Timestamp::from_system_time(wrote_wall).0;
                sent_at.push(sent);
                break;
            }
        }
        std::thread::sleep(spacing);
    }
    cancel.cancel();
    t.join().unwrap().unwrap();
    lat.sort();
    sent_at.sort();
    let sp = |p: f64| sent_at[((sent_at.len() as f64 - 1.0) * p).round() as usize] as f64 / 1e6;
    println!(
        "event created after: p50 {:.1} ms, p99 {:.1} ms",
        sp(0.5),
        sp(0.99)
    );
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{} writes, {} ms apart, debounce {} ms, 10 000-file root: write-to-event p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        spacing.as_millis(),
        debounce.as_millis(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.90).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3
    );
}
