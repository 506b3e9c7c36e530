//! Website integrity: web-root file integrity (watch + baseline + restore)
//! and remote checks of public pages.
//!
//! - [`config`]: `[integrity]` (roots, sites, publish windows), pure;
//! - [`stats`]: the counters of every guarded root, for heartbeats;
//! - [`baseline`]: walking, hashing and persisting a root's baseline;
//! - [`fim`]: comparing a root with its baseline, restoring, quarantining;
//! - [`watch`]: the thread per root (notify, debounce, rescans, polling
//!   fallback, publish windows);
//! - [`publish`]: `shouwang-agent publish ROOT`;
//! - [`site`]: remote checks (HTTP, TLS, DNS, content analysis, SLO).

pub mod baseline;
pub mod config;
pub mod fim;
pub mod publish;
pub mod site;
pub mod stats;
pub mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use shouwang_daemon::clock::{Clock, SystemClock};
use shouwang_proto::{Event, EventBody, Level, Notice, Timestamp};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::error;

pub use config::{IntegrityConfig, RootConfig, WatchMode, in_window, parse_window};
pub use stats::IntegrityStats;

/// How long a root that cannot be opened waits before the next try.
const ROOT_RETRY: Duration = Duration::from_secs(30);

/// Starts the thread guarding `cfg`'s root. A root that cannot be opened
/// (missing, unreadable) is reported as a notice and retried.
pub fn spawn_root(
    cfg: RootConfig,
    state_dir: PathBuf,
    tx: mpsc::Sender<Event>,
    cancel: CancellationToken,
    registry: IntegrityStats,
    pace: Option<crate::limits::Governor>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("web-root".into())
        .spawn(move || {
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            while !cancel.is_cancelled() {
                match watch::run_root(
                    cfg.clone(),
                    state_dir.clone(),
                    clock.clone(),
                    tx.clone(),
                    cancel.clone(),
                    &registry,
                    pace.clone(),
                ) {
                    Ok(()) => return,
                    Err(e) => {
                        let msg = format!(
                            "web root {}: {e:#}; retrying in {}s",
                            cfg.path.display(),
                            ROOT_RETRY.as_secs()
                        );
                        error!("{msg}");
                        let ev = Event::new(
                            Timestamp::from_system_time(std::time::SystemTime::now()),
                            EventBody::Notice(Notice {
                                level: Level::Error,
                                component: "integrity".into(),
                                message: msg,
                            }),
                        );
                        if tx.blocking_send(ev).is_err() {
                            return;
                        }
                        let until = std::time::Instant::now() + ROOT_RETRY;
                        while std::time::Instant::now() < until && !cancel.is_cancelled() {
                            std::thread::sleep(Duration::from_millis(200));
                        }
                    }
                }
            }
        })
}
