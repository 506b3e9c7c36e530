//! `shouwang-agent pcap FILE`: replays a capture through the same analyzer
//! as live traffic and prints the events (JSON lines) or sends them to a
//! collector.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use shouwang_packet::{Analyzer, AnalyzerConfig};
use shouwang_proto::Event;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::packet::file;
use crate::ship::run_batcher;
use crate::ship::spool::{MemorySpool, Spool};
use crate::ship::upload::{HttpSink, run_uploader};
use crate::state::SeqAllocator;

/// Where the events go.
#[derive(Debug, Clone)]
pub enum Output {
    /// JSON lines on stdout.
    Jsonl,
    /// Count only (benchmarks).
    None,
    /// POST to a collector.
    Collector {
        url: String,
        token: String,
        name: String,
        state_dir: PathBuf,
        /// Tags the batches (and the incidents they raise) with an exercise.
        exercise: Option<String>,
    },
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub frames: u64,
    pub events: u64,
    pub flows: u64,
    pub malformed: u64,
    pub truncated: bool,
    pub seconds: f64,
}

/// The agent name inside a token `sw1:NAME:SECRET`.
pub fn name_from_token(token: &str) -> Option<&str> {
    let rest = token.strip_prefix("sw1:")?;
    let (name, _) = rest.rsplit_once(':')?;
    shouwang_proto::valid_agent_name(name).then_some(name)
}

/// Default state directory for replays sent as `name`.
pub fn default_state_dir(name: &str) -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("shouwang").join(format!("replay-{name}"))
}

/// Reads `path` and feeds every event to `sink` (on the calling thread),
/// a frame's events at a time: the sink reads or drains the batch in place
/// (events are not moved one by one to reach it), and it is cleared after.
pub fn replay(
    path: &Path,
    cfg: AnalyzerConfig,
    realtime: bool,
    mut sink: impl FnMut(&mut Vec<Event>) -> anyhow::Result<()>,
) -> anyhow::Result<Summary> {
    let name = path
        .file_name()
        .map_or_else(|| "pcap".to_owned(), |n| n.to_string_lossy().into_owned());
    let mut an = Analyzer::new(name, cfg);
    let started = Instant::now();
    let mut s = Summary::default();
    let mut first_ts: Option<i64> = None;
    let mut last_progress = Instant::now();
    let mut failure: Option<anyhow::Error> = None;
    let mut count_and_send =
        |an: &mut Analyzer, s: &mut Summary, failure: &mut Option<anyhow::Error>| {
            if an.out.is_empty() {
                return;
            }
            s.events += an.out.len() as u64;
            s.flows += an
                .out
                .iter()
                .filter(|ev| ev.kind() == shouwang_proto::EventKind::Flow)
                .count() as u64;
            if failure.is_none()
                && let Err(e) = sink(&mut an.out)
            {
                *failure = Some(e);
            }
            an.out.clear();
        };
    let fs = file::read_file(path, |f| {
        if failure.is_some() {
            return;
        }
        if realtime {
            let first = *first_ts.get_or_insert(f.ts);
            let due = Duration::from_nanos(u64::try_from(f.ts - first).unwrap_or(0));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        an.frame(f.ts, f.linktype, f.data);
        count_and_send(&mut an, &mut s, &mut failure);
        // Look at the clock every 4096 frames, not every frame.
        if an.stats().frames.is_multiple_of(4096)
            && last_progress.elapsed() >= Duration::from_secs(5)
        {
            last_progress = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "pcap: {} frames, {} events, {:.0} frames/s",
                an.stats().frames,
                s.events,
                an.stats().frames as f64 / secs
            );
        }
    })?;
    an.finish();
    count_and_send(&mut an, &mut s, &mut failure);
    if let Some(e) = failure {
        return Err(e);
    }
    s.frames = fs.frames;
    s.truncated = fs.truncated;
    s.malformed = an.stats().malformed;
    s.seconds = started.elapsed().as_secs_f64();
    Ok(s)
}

/// Runs the subcommand.
pub fn run(
    path: &Path,
    output: Output,
    cfg: AnalyzerConfig,
    realtime: bool,
) -> anyhow::Result<Summary> {
    match output {
        Output::Jsonl => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            let s = replay(path, cfg, realtime, |batch| {
                for ev in batch.iter() {
                    serde_json::to_writer(&mut w, ev)?;
                    w.write_all(b"\n").context("writing to stdout")?;
                }
                Ok(())
            })?;
            w.flush()?;
            Ok(s)
        }
        Output::None => replay(path, cfg, realtime, |_| Ok(())),
        Output::Collector {
            url,
            token,
            name,
            state_dir,
            exercise,
        } => send(
            path,
            cfg,
            realtime,
            &url,
            &token,
            crate::ship::Origin {
                agent: name,
                exercise,
            },
            &state_dir,
        ),
    }
}

fn send(
    path: &Path,
    cfg: AnalyzerConfig,
    realtime: bool,
    url: &str,
    token: &str,
    origin: crate::ship::Origin,
    state_dir: &Path,
) -> anyhow::Result<Summary> {
    let p = path.to_owned();
    ship_all(url, token, origin, state_dir, move |sink| {
        replay(&p, cfg, realtime, |batch| {
            for ev in batch.drain(..) {
                sink(ev)?;
            }
            Ok(())
        })
    })
}

/// Runs `produce` on a blocking thread, shipping every event it hands to
/// its sink to the collector (numbered batches, retried); fails unless
/// everything was accepted. Shared by `pcap` and `log`.
pub fn ship_all<S, F>(
    url: &str,
    token: &str,
    origin: crate::ship::Origin,
    state_dir: &Path,
    produce: F,
) -> anyhow::Result<S>
where
    S: Send + 'static,
    F: FnOnce(&mut dyn FnMut(Event) -> anyhow::Result<()>) -> anyhow::Result<S> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let seq = SeqAllocator::open(state_dir)?;
        // Offline replay must not drop: the queue is sized so the batcher
        // never evicts, and any drop fails the command.
        let spool = Spool::new(Box::new(MemorySpool::new(usize::MAX, u64::MAX)), "memory queue full");
        let sink = HttpSink::new(url, token, Duration::from_secs(5), Duration::from_secs(30), &Default::default())?;
        let (tx, rx) = mpsc::channel::<Event>(8192);
        let batcher = tokio::spawn(run_batcher(rx, origin, seq, spool.clone(), 1000, Duration::from_millis(500), 3, None));
        let stop = CancellationToken::new();
        let uploader = tokio::spawn(run_uploader(sink, spool.clone(), Duration::from_millis(200), Duration::from_secs(5), stop.clone(), Duration::from_secs(60)));
        let reader = tokio::task::spawn_blocking(move || {
            produce(&mut |ev| tx.blocking_send(ev).map_err(|_| anyhow::anyhow!("pipeline closed")))
        });
        let summary = reader.await??;
        batcher.await??;
        stop.cancel();
        uploader.await?;
        let st = spool.stats();
        if st.queued_batches > 0 || st.dropped_batches > 0 || st.rejected_batches > 0 {
            bail!(
                "not everything reached the collector: {} batches unsent, {} dropped, {} refused (see the log above)",
                st.queued_batches, st.dropped_batches, st.rejected_batches
            );
        }
        Ok(summary)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names() {
        assert_eq!(name_from_token("sw1:gw-01:abcd"), Some("gw-01"));
        assert_eq!(name_from_token("sw1:bad name:x"), None);
        assert_eq!(name_from_token("nope"), None);
    }
}
