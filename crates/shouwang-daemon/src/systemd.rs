//! systemd integration (Type=notify): readiness once the service works
//! (the agent's pipeline runs, the collector's listener serves), and a
//! watchdog fed only while the service's own health check passes. Outside
//! systemd (`NOTIFY_SOCKET` unset) every call is a no-op.

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::{debug, warn};

/// Tells systemd the service is ready, with a status line.
pub fn ready(status: &str) {
    if let Err(e) = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(status)]) {
        warn!("sd_notify READY failed: {e}");
    }
}

/// Tells systemd the service is stopping.
pub fn stopping() {
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
}

/// Half the watchdog timeout systemd set (`WatchdogSec=`), if any.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2))
}

/// Pets the watchdog every `every` while `healthy()` says so, until `stop`
/// resolves (e.g. a cancellation token's `cancelled_owned()`); a failing
/// check skips the pet (systemd restarts the service after `WatchdogSec`).
pub async fn run_watchdog<F, Fut>(every: Duration, mut healthy: F, stop: impl Future<Output = ()>)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut t = tokio::time::interval(every);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = t.tick() => {}
        }
        match healthy().await {
            Ok(()) => {
                debug!("watchdog pet");
                let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
            }
            Err(why) => warn!("health check failed; not feeding the watchdog: {why}"),
        }
    }
}
