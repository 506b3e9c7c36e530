//! [`App`]: everything a request handler needs, opened once at start.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::boards::Boards;
use crate::config::CollectorConfig;
use crate::ingest::{Ingestor, Limits};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::{guard, incidents, ingest, notify};
use shouwang_daemon::clock::Clock;

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
    pub guard: guard::AuthGuard,
    pub detector: Arc<incidents::Detector>,
    /// Site checks and capture health (fed by ingest, read by the API).
    pub boards: Arc<Boards>,
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
        let boards = Arc::new(Boards::default());
        let ingest = Ingestor::new(
            store.clone(),
            metrics.clone(),
            detector.clone(),
            boards.clone(),
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
        let guard = guard::AuthGuard::new(
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
            boards,
            clock,
            notify_rx: std::sync::Mutex::new(notify_rx),
        }))
    }
}
