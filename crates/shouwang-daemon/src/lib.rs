//! shouwang-daemon: what the agent and the collector binaries share as
//! long-running services: systemd `Type=notify` readiness and watchdog
//! ([`systemd`]), the shutdown signal ([`shutdown_signal`]), the log
//! set-up ([`init_logging`]) and the injected wall clock ([`clock`]).
//!
//! Deliberately small: sd-notify, tokio (signals, timers), tracing,
//! tracing-subscriber and chrono (local time) only. No HTTP, no SQL, no config types: each binary
//! keeps its own.

pub mod clock;
pub mod systemd;

use std::io::IsTerminal;

/// Resolves when SIGINT or SIGTERM arrives, with the signal's name.
pub async fn shutdown_signal() -> String {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT".to_owned(),
        () = term => "SIGTERM".to_owned(),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (else `default_filter`, e.g.
/// `"info"`), coloured only when stderr is a terminal.
pub fn init_logging(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
