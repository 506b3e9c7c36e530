//! Assembles sources, batcher and uploader, and shuts them down in order:
//! sources stop → a goodbye heartbeat (`stopping`) → the batcher flushes
//! what it holds into the spool → the uploader sends what is queued, for a
//! few seconds at most; the rest waits in the spool for the next start.

use std::time::Duration;

use shouwang_proto::{Event, EventBody, Heartbeat, Timestamp};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::LoadedConfig;
use crate::host::{self, ResolvedAuthLog, SkipList};
use crate::ship::disk::DiskSpool;
use crate::ship::run_batcher;
use crate::ship::spool::{MemorySpool, Spool, SpoolStore};
use crate::ship::upload::{HttpSink, run_uploader};
use crate::state::SeqAllocator;

/// Capacity of the channel from sources to the batcher.
pub const EVENT_CHANNEL: usize = 4096;
/// How long queued batches may take to send at shutdown.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// What never changes while the agent runs, for heartbeats.
#[derive(Debug, Clone)]
pub struct Identity {
    pub heartbeat: Heartbeat,
}

impl Identity {
    pub fn from_config(loaded: &LoadedConfig) -> Self {
        let cfg = &loaded.config;
        Self {
            heartbeat: Heartbeat {
                agent_version: env!("CARGO_PKG_VERSION").to_owned(),
                config_hash: loaded.hash.clone(),
                hostname: sysinfo::System::host_name().unwrap_or_default(),
                os: sysinfo::System::long_os_version().unwrap_or_default(),
                kernel: sysinfo::System::kernel_version().unwrap_or_default(),
                labels: cfg.labels.clone(),
                sample_interval_ms: u64::try_from(cfg.host.interval.as_millis())
                    .unwrap_or(u64::MAX),
                boot_time: 0,
                queue: Default::default(),
                skipped: Vec::new(),
                integrity: None,
                stopping: None,
                limits: None,
            },
        }
    }
}

/// What a heartbeat is made of.
#[derive(Debug, Clone)]
struct HeartbeatSource {
    identity: Identity,
    spool: Spool,
    governor: Option<crate::limits::Governor>,
    skipped: SkipList,
    integrity: Option<crate::integrity::IntegrityStats>,
}

impl HeartbeatSource {
    fn event(&self, stopping: Option<String>) -> Event {
        let mut hb = self.identity.heartbeat.clone();
        hb.boot_time = host::sampler::boot_time();
        hb.queue = self.spool.stats();
        hb.skipped = self.skipped.snapshot();
        hb.integrity = self
            .integrity
            .as_ref()
            .map(crate::integrity::IntegrityStats::snapshot);
        hb.stopping = stopping;
        hb.limits = self.governor.as_ref().map(crate::limits::Governor::status);
        Event::new(
            Timestamp::from_system_time(std::time::SystemTime::now()),
            EventBody::Heartbeat(Box::new(hb)),
        )
    }
}

async fn run_heartbeat(
    source: HeartbeatSource,
    every: Duration,
    tx: mpsc::Sender<Event>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        if tx.send(source.event(None)).await.is_err() {
            return Ok(());
        }
    }
}

/// The upload spool: on disk (default) or in memory.
fn open_spool(cfg: &crate::config::AgentConfig) -> anyhow::Result<Spool> {
    let (max_b, max_bytes) = (cfg.ship.spool_max_batches, cfg.ship.spool_max_bytes);
    let bound = format!("{} bytes / {} batches", max_bytes, max_b);
    let store: Box<dyn SpoolStore> = if cfg.ship.spool {
        let dir = cfg.state_dir.join("spool");
        Box::new(DiskSpool::open(&dir, max_b, max_bytes)?)
    } else {
        Box::new(MemorySpool::new(max_b, max_bytes))
    };
    let what = if cfg.ship.spool {
        "spool"
    } else {
        "memory queue"
    };
    Ok(Spool::new(store, format!("{what} full ({bound})")))
}

/// Runs the agent until a shutdown signal.
pub async fn run(loaded: LoadedConfig) -> anyhow::Result<()> {
    run_until(loaded, shouwang_daemon::shutdown_signal()).await
}

/// Runs the agent until `until` resolves (with the reason, sent to the
/// collector in the goodbye heartbeat).
pub async fn run_until(
    loaded: LoadedConfig,
    until: impl Future<Output = String>,
) -> anyhow::Result<()> {
    let cfg = loaded.config.clone();
    let name = crate::runtime::agent_name(&cfg)?;
    let token = crate::runtime::read_token(&cfg)?;
    let seq = SeqAllocator::open(&cfg.state_dir)?;
    let spool = open_spool(&cfg)?;
    // Self-protection: one governor for the process, handed to the capture
    // threads, rescans, the batcher and the heartbeat.
    let governor = crate::limits::Governor::new(cfg.limits.clone());
    let sink = HttpSink::new(
        &cfg.collector,
        &token,
        cfg.ship.connect_timeout,
        cfg.ship.request_timeout,
        &cfg.tls,
    )?;
    let (tx, rx) = mpsc::channel(EVENT_CHANNEL);
    let sources = CancellationToken::new();
    let skipped = SkipList::default();
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
    let mut threads = Vec::new();
    let integrity_stats = crate::integrity::IntegrityStats::default();

    if cfg.host.enabled {
        tasks.spawn(host::run_sampler(
            cfg.host.clone(),
            tx.clone(),
            skipped.clone(),
            sources.clone(),
        ));
    } else {
        skipped.add("host", "host.enabled = false in the config");
    }
    match host::resolve_auth_log(&cfg.host.auth_log) {
        Ok(ResolvedAuthLog::File(path)) => {
            if !path.exists() {
                warn!(path = %path.display(), "auth log does not exist yet; waiting for it");
            }
            threads.push(host::spawn_auth_file(
                path,
                cfg.host.auth_log_poll,
                cfg.state_dir.clone(),
                tx.clone(),
                sources.clone(),
            )?);
        }
        Ok(ResolvedAuthLog::Journald) => {
            info!("following auth events in the systemd journal");
            tasks.spawn(host::run_journald(
                cfg.state_dir.clone(),
                tx.clone(),
                sources.clone(),
            ));
        }
        Err(reason) => skipped.add("auth-log", reason),
    }
    for name in &cfg.packet.interfaces {
        let live = crate::runtime::live_config(&cfg.packet)?;
        match crate::packet::live::open(name, live) {
            Ok(cap) => threads.push(
                cap.governed(governor.clone())
                    .spawn(tx.clone(), sources.clone())?,
            ),
            Err(e) => {
                error!("packet capture on {name}: {e:#}");
                skipped.add(&format!("packet-capture.{name}"), format!("{e:#}"));
            }
        }
    }
    if !cfg.integrity.roots.is_empty() || !cfg.integrity.sites.is_empty() {
        crate::integrity::publish::write_agent_pid(&cfg.state_dir)?;
    }
    for root in &cfg.integrity.roots {
        threads.push(crate::integrity::spawn_root(
            root.clone(),
            cfg.state_dir.clone(),
            tx.clone(),
            sources.clone(),
            integrity_stats.clone(),
            Some(governor.clone()),
        )?);
    }
    if !cfg.integrity.sites.is_empty() {
        tasks.spawn(crate::integrity::site::run_sites(
            cfg.integrity.sites.clone(),
            cfg.integrity.lexicons.clone(),
            cfg.state_dir.clone(),
            tx.clone(),
            sources.clone(),
        ));
    }
    tasks.spawn(crate::limits::run_monitor(
        governor.clone(),
        sources.clone(),
    ));
    let heartbeat = HeartbeatSource {
        identity: Identity::from_config(&loaded),
        spool: spool.clone(),
        governor: Some(governor.clone()),
        skipped: skipped.clone(),
        integrity: (!cfg.integrity.roots.is_empty()).then(|| integrity_stats.clone()),
    };
    tasks.spawn(run_heartbeat(
        heartbeat.clone(),
        cfg.host.heartbeat,
        tx.clone(),
        sources.clone(),
    ));
    // Kept for the goodbye; dropped after it so the batcher can finish.
    let goodbye = tx;

    let batcher = tokio::spawn(run_batcher(
        rx,
        crate::ship::Origin::from(name.clone()),
        seq,
        spool.clone(),
        cfg.ship.batch_max_events,
        cfg.ship.flush_interval,
        cfg.ship.zstd_level,
        Some(governor.clone()),
    ));
    let upload_stop = CancellationToken::new();
    let uploader = tokio::spawn(run_uploader(
        sink,
        spool.clone(),
        cfg.ship.backoff_min,
        cfg.ship.backoff_max,
        upload_stop.clone(),
        SHUTDOWN_DRAIN,
    ));
    // systemd: ready now; the watchdog is fed while the batcher and the
    // uploader run and the spool directory takes a write.
    shouwang_daemon::systemd::ready(&format!("shipping to {}", cfg.collector));
    let watchdog_stop = CancellationToken::new();
    let watchdog = shouwang_daemon::systemd::watchdog_interval().map(|every| {
        let (b, u) = (batcher.abort_handle(), uploader.abort_handle());
        let probe_dir = cfg.state_dir.clone();
        tokio::spawn(shouwang_daemon::systemd::run_watchdog(
            every,
            move || {
                let alive = !b.is_finished() && !u.is_finished();
                let probe = probe_dir.join(".watchdog");
                async move {
                    if !alive {
                        return Err("the batcher or the uploader stopped".to_owned());
                    }
                    std::fs::write(&probe, b"ok")
                        .and_then(|()| std::fs::remove_file(&probe))
                        .map_err(|e| format!("state directory not writable: {e}"))
                }
            },
            watchdog_stop.clone().cancelled_owned(),
        ))
    });
    info!(
        agent = %name,
        collector = %cfg.collector,
        config = %loaded.origin,
        config_hash = %loaded.hash,
        interval = ?cfg.host.interval,
        "shouwang-agent started"
    );

    // A source that fails ends the agent (with its error); otherwise run
    // until asked to stop.
    let mut failure = None;
    let mut reason = String::new();
    tokio::pin!(until);
    loop {
        tokio::select! {
            r = &mut until => { reason = r; break; }
            Some(done) = tasks.join_next() => match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => { failure = Some(e); break; }
                Err(e) => { failure = Some(anyhow::anyhow!("source task failed: {e}")); break; }
            },
        }
    }
    info!("stopping: flushing queued telemetry");
    shouwang_daemon::systemd::stopping();
    watchdog_stop.cancel();
    if let Some(w) = watchdog {
        let _ = w.await;
    }
    sources.cancel();
    while let Some(done) = tasks.join_next().await {
        if let Ok(Err(e)) = done {
            warn!("source ended with an error: {e:#}");
        }
    }
    for t in threads {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    // The goodbye: the collector marks the agent stopped rather than silent.
    let why = match &failure {
        Some(e) => format!("error: {e:#}"),
        None if reason.is_empty() => "stopped".to_owned(),
        None => reason,
    };
    let _ = goodbye.send(heartbeat.event(Some(why))).await;
    drop(goodbye);
    match batcher.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => error!("batcher failed: {e:#}"),
        Err(e) => error!("batcher task failed: {e}"),
    }
    upload_stop.cancel();
    let _ = uploader.await;
    let st = spool.stats();
    info!(
        sent_batches = st.sent_batches,
        unsent_batches = st.queued_batches,
        spooled = st.durable,
        dropped_events = st.dropped_events,
        "shouwang-agent stopped"
    );
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
