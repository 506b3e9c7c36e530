//! The serving process: binds, serves HTTP or HTTPS, and runs the
//! periodic tasks (retention, rule reloads and ticks, notifiers, watchdog)
//! until cancelled.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::app::App;
use crate::{api, notify, tls};
use shouwang_daemon::systemd;

/// Deletes expired events every `every` until cancelled.
pub async fn run_retention(app: Arc<App>, every: Duration, cancel: CancellationToken) {
    let retention = i64::try_from(app.config.store.event_retention.as_millis()).unwrap_or(i64::MAX);
    let mut ticker = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        match app
            .store
            .prune(app.clock.now_ms().saturating_sub(retention))
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                app.metrics.events_pruned.inc_by(n);
                info!(deleted = n, "expired events deleted");
            }
            Err(e) => {
                app.metrics.store_errors.inc();
                warn!("retention failed: {e:#}");
            }
        }
    }
}

/// Rule reloads, absence rules, escalations and incident retention, every
/// `every`, until cancelled.
pub async fn run_detector(app: Arc<App>, every: Duration, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(every);
    let mut last_prune = i64::MIN;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        app.detector.maybe_reload().await;
        let now = app.clock.now_ms();
        if let Err(e) = app.detector.tick(&app.store, now).await {
            app.metrics.store_errors.inc();
            warn!("incident tick failed: {e:#}");
        }
        if now.saturating_sub(last_prune) >= 3_600_000 {
            last_prune = now;
            match app.detector.prune(&app.store, now).await {
                Ok(0) => {}
                Ok(n) => info!(deleted = n, "incidents past retention deleted"),
                Err(e) => {
                    app.metrics.store_errors.inc();
                    warn!("incident retention failed: {e:#}");
                }
            }
        }
    }
}

/// Binds the listener; a separate step so callers can learn the port.
pub async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (in use, or needs privileges?)"))
}

/// Serves until `cancel` fires, then finishes in-flight requests.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    // Plaintext off loopback is refused here (before anything is served).
    let mode = tls::mode(&app.config)?;
    let tls_config = match &mode {
        tls::Mode::Tls {
            cert,
            key,
            client_ca,
        } => Some(Arc::new(tls::server_config(
            cert,
            key,
            client_ca.as_deref(),
        )?)),
        tls::Mode::Plain => None,
    };
    match &mode {
        tls::Mode::Tls { client_ca, .. } => info!(
            mutual_tls = client_ca.is_some(),
            "listening on {}",
            tls::url(addr, &mode)
        ),
        tls::Mode::Plain => info!("listening on {}", tls::url(addr, &mode)),
    }
    let retention = tokio::spawn(run_retention(
        app.clone(),
        Duration::from_secs(3600),
        cancel.clone(),
    ));
    let detector = tokio::spawn(run_detector(
        app.clone(),
        app.config.rules.reload_interval.min(Duration::from_secs(5)),
        cancel.clone(),
    ));
    let sampler = app.admission.spawn_sampler(Duration::from_millis(250));
    let rx = app.notify_rx.lock().ok().and_then(|mut r| r.take());
    let notifier = rx.map(|rx| {
        tokio::spawn(notify::run(
            app.config.notifiers.clone(),
            rx,
            app.metrics.clone(),
            app.clock.clone(),
            cancel.clone(),
        ))
    });
    // Ready once the router exists (the listener is already bound); the
    // watchdog is fed while the store answers a query within 5 s.
    systemd::ready(&format!("serving on {}", tls::url(addr, &mode)));
    let watchdog = systemd::watchdog_interval().map(|every| {
        let store = app.store.clone();
        tokio::spawn(systemd::run_watchdog(
            every,
            move || {
                let store = store.clone();
                async move {
                    match tokio::time::timeout(Duration::from_secs(5), store.ping()).await {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(e)) => Err(format!("store: {e:#}")),
                        Err(_) => Err("store did not answer within 5s".to_owned()),
                    }
                }
            },
            cancel.clone().cancelled_owned(),
        ))
    });
    let router = api::router(app);
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    match tls_config {
        None => axum::serve(listener, service)
            .with_graceful_shutdown(cancel.clone().cancelled_owned())
            .await
            .context("HTTP server failed")?,
        Some(cfg) => {
            let handle = axum_server::Handle::new();
            let h = handle.clone();
            let c = cancel.clone();
            tokio::spawn(async move {
                c.cancelled().await;
                h.graceful_shutdown(Some(Duration::from_secs(10)));
            });
            axum_server::from_tcp_rustls(
                listener.into_std()?,
                axum_server::tls_rustls::RustlsConfig::from_config(cfg),
            )?
            .handle(handle)
            .serve(service)
            .await
            .context("HTTPS server failed")?;
        }
    }
    cancel.cancel();
    systemd::stopping();
    sampler.abort();
    if let Some(w) = watchdog {
        let _ = w.await;
    }
    let _ = retention.await;
    let _ = detector.await;
    if let Some(n) = notifier {
        let _ = n.await;
    }
    Ok(())
}
