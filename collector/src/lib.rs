//! shouwang-collector: receives agents' batches, keeps the agent registry and
//! event store (SQLite), and exposes the REST API and Prometheus metrics.
//!
//! Layers, by what they may touch:
//! - [`ingest::seqset`], [`ingest::token`], [`config`]: pure values;
//! - [`ingest`]: the ingest pipeline (store and metrics, no HTTP);
//! - [`store`]: SQLite only;
//! - [`api`]: HTTP only; [`metrics`]: the Prometheus registry;
//! - [`demo`]: the one-command demo (spawns the agent process).
//!
//! Deliberately absent: no packet capture, no host sampling (that is the
//! agent), no terminal UI (that is the console).

pub mod api;
pub mod audit;
pub mod certs;
pub mod config;
pub mod demo;
pub mod duty;
pub mod incidents;
pub mod ingest;
pub mod metrics;
pub mod notify;
pub mod rules;
pub mod store;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use config::CollectorConfig;
use ingest::{Ingestor, Limits};
use metrics::Metrics;
use store::Store;

/// Wall-clock source, injectable for tests.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Everything a request handler needs.
#[derive(Debug)]
pub struct App {
    pub config: CollectorConfig,
    pub store: Store,
    pub metrics: Metrics,
    pub ingest: Ingestor,
    /// Who may send a batch now (backpressure).
    pub admission: Arc<ingest::admit::Admission>,
    /// Failed-authentication tracking per peer.
    pub guard: api::guard::AuthGuard,
    pub detector: Arc<incidents::Detector>,
    pub clock: Arc<dyn Clock>,
    /// Taken by `serve` to start the notifiers.
    pub notify_rx: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<incidents::Change>>>,
}

impl App {
    /// Opens the store and primes metrics from it.
    pub async fn open(config: CollectorConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Self>> {
        let store = Store::open(&config.db_path()).await?;
        let metrics = Metrics::new().context("cannot build the metrics registry")?;
        // Gauges survive a collector restart: start from each agent's last sample.
        for row in store.agents().await? {
            if let Some(h) = row
                .host
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
            {
                metrics.observe_host(&row.name, &h);
            }
            if let Some(hb) = row
                .heartbeat
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
            {
                metrics.observe_heartbeat(&row.name, None, &hb);
            }
        }
        let mut detector = incidents::Detector::open(&config, &store, &metrics, &*clock).await?;
        let notify_rx = if config.notifiers.is_empty() {
            None
        } else {
            let (tx, rx) = tokio::sync::mpsc::channel(notify::QUEUE);
            detector.notify = Some(tx);
            Some(rx)
        };
        let detector = Arc::new(detector);
        let ingest = Ingestor::new(
            store.clone(),
            metrics.clone(),
            detector.clone(),
            Limits {
                max_body: config.ingest.max_body_bytes,
                max_decompressed: config.ingest.max_decompressed_bytes,
            },
            config.ingest.decode_concurrency,
            shouwang_proto::EventKind::ALL
                .into_iter()
                .filter(|k| config.store.keeps(*k))
                .collect(),
        );
        let admission = Arc::new(ingest::admit::Admission::new(
            config.ingest.max_concurrent,
            config.ingest.queue_wait,
            config.ingest.memory_limit_bytes,
        ));
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let guard = api::guard::AuthGuard::new(
            config.api.max_auth_failures,
            ms(config.api.auth_failure_window),
            ms(config.api.auth_block_for),
        );
        Ok(Arc::new(Self {
            config,
            store,
            metrics,
            ingest,
            admission,
            guard,
            detector,
            clock,
            notify_rx: std::sync::Mutex::new(notify_rx),
        }))
    }
}

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
    shouwang_daemon::systemd::ready(&format!("serving on {}", tls::url(addr, &mode)));
    let watchdog = shouwang_daemon::systemd::watchdog_interval().map(|every| {
        let store = app.store.clone();
        tokio::spawn(shouwang_daemon::systemd::run_watchdog(
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
    shouwang_daemon::systemd::stopping();
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
