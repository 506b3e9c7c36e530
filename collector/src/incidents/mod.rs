//! Incidents: the book (pure lifecycle, [`book`]), their tables
//! ([`store`]), and the [`Detector`] that joins the rule engine, the book,
//! the store and the listeners (SSE stream, notifiers).
//!
//! Ingest holds the detector's lock while the rules run; the batch and its
//! incident changes are then committed in one transaction outside the lock.
//! Incident rows carry a revision and a store keeps the highest, so commits
//! landing out of order cannot roll an incident back.

pub mod book;
pub mod deadman;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use shouwang_proto::{Event, Silence};
use tokio::sync::{Mutex, MutexGuard, broadcast};
use tracing::{error, info, warn};

pub use book::{ActionError, Book, Change, ChangeKind, Exception, Policy};

use crate::audit::AuditRecord;
use crate::config::CollectorConfig;
use crate::metrics::Metrics;
use shouwang_daemon::clock::Clock;
use shouwang_rules::{Detection, Engine, Ruleset};

pub use shouwang_proto::api::StreamItem;
use shouwang_proto::api::{IncidentChange, RuleView, RulesView};

/// The rule engine and incident book, under the detector's lock.
#[derive(Debug)]
pub struct Inner {
    pub engine: Engine,
    pub book: Book,
    detections: Vec<Detection>,
}

impl Inner {
    /// Runs `events` through the rules and the book.
    pub fn detect<'e>(
        &mut self,
        agent: &str,
        exercise: Option<&str>,
        events: impl Iterator<Item = &'e Event>,
        now_ms: i64,
    ) -> Vec<Change> {
        self.detections.clear();
        for ev in events {
            self.engine
                .process(agent, exercise, ev, &mut self.detections);
        }
        let mut changes: Vec<Change> = Vec::new();
        for d in &self.detections {
            if let Some(c) = self.book.detect(d, now_ms) {
                // Several updates of one incident in a batch: keep the last.
                if c.kind == ChangeKind::Updated
                    && let Some(prev) = changes
                        .iter_mut()
                        .rev()
                        .find(|p| p.incident.id == c.incident.id)
                    && prev.timeline.is_none()
                {
                    *prev = c;
                    continue;
                }
                changes.push(c);
            }
        }
        changes
    }

    pub fn detections(&self) -> &[Detection] {
        &self.detections
    }
}

/// Modification stamp of a rules directory: newest mtime and file count.
fn dir_stamp(dir: &Path) -> Option<(SystemTime, usize)> {
    fn walk(dir: &Path, newest: &mut SystemTime, n: &mut usize) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else {
                continue;
            };
            if let Ok(m) = md.modified() {
                *newest = (*newest).max(m);
            }
            *n += 1;
            if md.is_dir() {
                walk(&e.path(), newest, n);
            }
        }
    }
    let md = std::fs::metadata(dir).ok()?;
    let mut newest = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let mut n = 0;
    walk(dir, &mut newest, &mut n);
    Some((newest, n))
}

/// Rules, incidents and their listeners.
#[derive(Debug)]
pub struct Detector {
    inner: Mutex<Inner>,
    pub stream: broadcast::Sender<Arc<StreamItem>>,
    pub notify: Option<tokio::sync::mpsc::Sender<Change>>,
    rules_dir: PathBuf,
    stamp: std::sync::Mutex<Option<(SystemTime, usize)>>,
    metrics: Metrics,
    pub false_positive_for: Duration,
    retention: Duration,
    /// The last reload that failed: when (ms) and its errors; cleared by a
    /// good reload.
    reload_errors: std::sync::Mutex<Option<(i64, Vec<String>)>>,
}

/// Raises a Prometheus counter to `total`, a running count kept elsewhere
/// (counters never go down, and a reset would read as a process restart).
fn catch_up(counter: &prometheus::IntCounter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Detector {
    /// Loads the rules (errors stop the start) and the live incidents.
    pub async fn open(
        config: &CollectorConfig,
        store: &crate::store::Store,
        metrics: &Metrics,
        clock: &dyn Clock,
    ) -> anyhow::Result<Self> {
        let dir = config.rules.dir.clone();
        let set = if dir.is_dir() {
            let set = shouwang_rules::load_dir(&dir).map_err(|errors| {
                for e in &errors {
                    error!("{e}");
                }
                anyhow::anyhow!(
                    "{}: {} error(s) in the rules; `shouwang-collector rules check {}` lists them",
                    dir.display(),
                    errors.len(),
                    dir.display()
                )
            })?;
            info!(dir = %dir.display(), rules = set.rules.len(), "rules loaded");
            set
        } else {
            warn!(dir = %dir.display(), "rules directory not found: no detection (set [rules] dir)");
            Ruleset::default()
        };
        metrics
            .rules_loaded
            .set(set.rules.iter().filter(|r| r.enabled).count() as i64);
        let policy = Policy {
            reopen_within_ms: ms(config.incidents.reopen_within),
            escalate_after_ms: ms(config.incidents.escalate_after),
            max_open_per_rule: config.incidents.max_open_per_rule,
        };
        let now = clock.now_ms();
        let mut book = Book::new(policy);
        let live = store
            .live_incidents(now - policy.reopen_within_ms)
            .await
            .context("cannot load incidents")?;
        book.restore(live, store.max_incident_id().await?);
        book.silences = store.silences(now).await?;
        book.exceptions = store.exceptions(now).await?;
        let (stream, _) = broadcast::channel(4096);
        let d = Self {
            inner: Mutex::new(Inner {
                engine: Engine::new(Arc::new(set)),
                book,
                detections: Vec::new(),
            }),
            stream,
            notify: None,
            stamp: std::sync::Mutex::new(dir_stamp(&dir)),
            rules_dir: dir,
            metrics: metrics.clone(),
            false_positive_for: config.incidents.false_positive_for,
            retention: config.incidents.retention,
            reload_errors: std::sync::Mutex::new(None),
        };
        d.refresh_gauges(&*d.inner.lock().await);
        Ok(d)
    }

    pub async fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().await
    }

    fn refresh_gauges(&self, inner: &Inner) {
        for (sev, n) in inner.book.open_by_severity() {
            self.metrics
                .incidents_open
                .with_label_values(&[sev.as_str()])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        catch_up(&self.metrics.incidents_suppressed, inner.book.suppressed);
        catch_up(&self.metrics.incidents_folded, inner.book.folded);
        let set = inner.engine.ruleset();
        for (r, c) in set.rules.iter().zip(&inner.engine.counters) {
            let id: &[&str] = &[&r.meta.id];
            catch_up(&self.metrics.rule_detections.with_label_values(id), c.fired);
            catch_up(
                &self.metrics.rule_group_evictions.with_label_values(id),
                c.evictions,
            );
        }
    }

    /// After a commit: gauges, the stream, the notifiers.
    pub fn publish(&self, inner: &Inner, changes: Vec<Change>) {
        self.refresh_gauges(inner);
        for c in changes {
            self.metrics
                .incidents_changes
                .with_label_values(&[c.kind.as_str()])
                .inc();
            if c.kind == ChangeKind::Opened
                && let Some(ms) = c.incident.detection_delay_ms
            {
                #[allow(clippy::cast_precision_loss)]
                self.metrics
                    .detection_delay_seconds
                    .with_label_values(&[&c.incident.rule])
                    .observe(ms as f64 / 1000.0);
            }
            if self.stream.receiver_count() > 0 {
                let _ = self
                    .stream
                    .send(Arc::new(StreamItem::Incident(IncidentChange {
                        change: c.kind.as_str().to_owned(),
                        incident: Box::new(c.incident.clone()),
                    })));
            }
            if c.kind.notifies()
                && let Some(tx) = &self.notify
                && tx.try_send(c).is_err()
            {
                self.metrics
                    .events_dropped
                    .with_label_values(&["notify_queue_full"])
                    .inc();
            }
        }
    }

    /// The rules view: every rule with its counters, and the errors of the
    /// last failed reload (the previous rules keep running meanwhile).
    pub async fn rules_view(&self) -> RulesView {
        let inner = self.lock().await;
        let set = inner.engine.ruleset();
        let groups = inner.engine.group_counts();
        let rules: Vec<RuleView> = set
            .rules
            .iter()
            .zip(&inner.engine.counters)
            .enumerate()
            .map(|(i, (r, c))| RuleView {
                id: r.meta.id.clone(),
                title: shouwang_proto::Bilingual {
                    en: r.meta.title.en.clone(),
                    zh: r.meta.title.zh.clone(),
                },
                kind: r.meta.kind.as_str().to_owned(),
                severity: r.meta.severity,
                attack: r.meta.attack.clone(),
                file: r.meta.file.clone(),
                enabled: r.enabled,
                evaluated: c.evaluated,
                matched: c.matched,
                fired: c.fired,
                last_fired: (c.last_fired != 0).then_some(c.last_fired),
                groups: groups.get(i).copied().unwrap_or(0) as u64,
                evictions: c.evictions,
            })
            .collect();
        drop(inner);
        let errors = self.reload_errors.lock().ok().and_then(|e| e.clone());
        RulesView {
            dir: self.rules_dir.display().to_string(),
            rules,
            load_errors: errors.as_ref().map(|(_, e)| e.clone()).unwrap_or_default(),
            load_errors_at_ms: errors.map(|(at, _)| at),
        }
    }

    /// Live tail: accepted events to stream clients (only when someone
    /// listens).
    pub fn tail(&self, agent: &str, events: &[&Event]) {
        if self.stream.receiver_count() == 0 {
            return;
        }
        for e in events {
            let _ = self.stream.send(Arc::new(StreamItem::Event {
                agent: agent.to_owned(),
                event: Box::new((*e).clone()),
            }));
        }
    }

    /// Reloads the rules when the directory changed. A broken change keeps
    /// the running rules.
    pub async fn maybe_reload(&self) -> bool {
        let now = dir_stamp(&self.rules_dir);
        {
            let Ok(mut stamp) = self.stamp.lock() else {
                return false;
            };
            if *stamp == now {
                return false;
            }
            *stamp = now;
        }
        let dir = self.rules_dir.clone();
        let loaded = tokio::task::spawn_blocking(move || shouwang_rules::load_dir(&dir)).await;
        match loaded {
            Ok(Ok(set)) => {
                let n = set.rules.iter().filter(|r| r.enabled).count();
                self.lock().await.engine.replace(Arc::new(set));
                self.metrics.rules_loaded.set(n as i64);
                self.metrics.rules_reloads.inc();
                if let Ok(mut e) = self.reload_errors.lock() {
                    *e = None;
                }
                info!(dir = %self.rules_dir.display(), rules = n, "rules reloaded");
                true
            }
            Ok(Err(errors)) => {
                self.metrics.rules_reload_errors.inc();
                for e in &errors {
                    error!("{e}");
                }
                if let Ok(mut e) = self.reload_errors.lock() {
                    let at = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                    *e = Some((at, errors.iter().map(ToString::to_string).collect()));
                }
                error!(
                    dir = %self.rules_dir.display(),
                    errors = errors.len(),
                    "rules changed but do not compile; the previous rules keep running"
                );
                false
            }
            Err(e) => {
                self.metrics.rules_reload_errors.inc();
                error!(error = %e, "rule reload task failed");
                false
            }
        }
    }

    /// Periodic work: absence rules on wall-clock time, escalations, expiry.
    pub async fn tick(&self, store: &crate::store::Store, now_ms: i64) -> anyhow::Result<()> {
        let mut inner = self.lock().await;
        let mut dets = Vec::new();
        inner
            .engine
            .tick(now_ms.saturating_mul(1_000_000), &mut dets);
        // A silent agent's incident says what it last looked like.
        for d in &mut dets {
            if d.rule.kind == shouwang_rules::spec::RuleKind::Absence && !d.clear {
                match deadman::last_known_state(store, &d.agent, now_ms).await {
                    Ok(Some(v)) => d.evidence.insert(0, v),
                    Ok(None) => {}
                    Err(e) => warn!(agent = %d.agent, "cannot read the agent's last state: {e:#}"),
                }
            }
        }
        let mut changes = Vec::new();
        for d in &dets {
            if let Some(c) = inner.book.detect(d, now_ms) {
                changes.push(c);
            }
        }
        changes.extend(inner.book.tick(now_ms));
        if !changes.is_empty() {
            store.write_incident_changes(&changes).await?;
        }
        self.publish(&inner, changes);
        Ok(())
    }

    /// Deletes incidents past retention.
    pub async fn prune(&self, store: &crate::store::Store, now_ms: i64) -> anyhow::Result<u64> {
        store.prune_incidents(now_ms - ms(self.retention)).await
    }

    /// Adds a silence (persisted first).
    pub async fn add_silence(
        &self,
        store: &crate::store::Store,
        s: Silence,
        audit: &AuditRecord,
    ) -> anyhow::Result<Silence> {
        let s = store.add_silence(s, audit).await?;
        self.lock().await.book.silences.push(s.clone());
        Ok(s)
    }

    pub async fn expire_silence(
        &self,
        store: &crate::store::Store,
        id: i64,
        now_ms: i64,
        audit: &AuditRecord,
    ) -> anyhow::Result<bool> {
        let ok = store.expire_silence(id, now_ms, audit).await?;
        if ok {
            self.lock().await.book.silences.retain(|s| s.id != id);
        }
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shouwang_proto::{AuthEvent, EventBody, Timestamp};

    /// The injected wall clock, set by the test.
    #[derive(Debug)]
    struct At(std::sync::atomic::AtomicI64);

    impl Clock for At {
        fn now_ms(&self) -> i64 {
            self.0.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    const RULE: &str = r#"
id = "t.ssh"
severity = "high"
kind = "threshold"
event = "auth"
group-by = ["src"]
count = 5
window = "2m"
[title]
en = "SSH brute force"
zh = "SSH 暴力破解"
incident.en = "SSH brute force from {src} against {target} ({count|failure|failures}, {distinct.user|user|users})"
incident.zh = "来自 {src} 针对 {target} 的 SSH 暴力破解（{count} 次失败）"
[description]
en = "t"
zh = "t"
"#;

    fn fail(ts_ms: i64, src: &str, user: &str) -> Event {
        let a: AuthEvent = serde_json::from_value(serde_json::json!({
            "service": "sshd", "outcome": "failure", "user": user, "source_addr": src,
            "hostname": "web-03", "message": "Failed password",
        }))
        .unwrap();
        Event::new(
            Timestamp::from_nanos(ts_ms * 1_000_000),
            EventBody::Auth(Box::new(a)),
        )
    }

    async fn detector(dir: &Path, clock: &At) -> (Detector, crate::store::Store, Metrics) {
        let rules = dir.join("rules");
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::write(rules.join("ssh.toml"), RULE).unwrap();
        let mut config = CollectorConfig::parse("test.toml", "").unwrap();
        config.data_dir = dir.to_path_buf();
        config.rules.dir = rules;
        let store = crate::store::Store::open(&dir.join("shouwang.db"))
            .await
            .unwrap();
        let metrics = Metrics::new().unwrap();
        let d = Detector::open(&config, &store, &metrics, clock)
            .await
            .unwrap();
        (d, store, metrics)
    }

    /// Runs `events` as one batch at the clock's time; commits and
    /// publishes like ingest does.
    async fn ingest(d: &Detector, store: &crate::store::Store, clock: &At, events: &[Event]) {
        let mut inner = d.lock().await;
        let changes = inner.detect("web-03", None, events.iter(), clock.now_ms());
        store.write_incident_changes(&changes).await.unwrap();
        d.publish(&inner, changes);
    }

    fn bucket(text: &str, le: &str) -> u64 {
        let key = format!("shouwang_detection_delay_seconds_bucket{{rule=\"t.ssh\",le=\"{le}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .map_or(0, |v| v.trim().parse().unwrap())
    }

    #[tokio::test]
    async fn live_delay_is_wall_clock_minus_first_seen_and_the_title_grows() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = 1_790_000_000_000; // 2026, ms
        let clock = At(t0.into());
        let (d, store, metrics) = detector(dir.path(), &clock).await;
        // Four failures over 3 s: quiet.
        let early: Vec<Event> = (0..4)
            .map(|i| fail(t0 + i * 1000, "203.0.113.9", &format!("u{i}")))
            .collect();
        clock
            .0
            .store(t0 + 3_500, std::sync::atomic::Ordering::SeqCst);
        ingest(&d, &store, &clock, &early).await;
        assert!(d.lock().await.book.live().next().is_none());
        // The fifth arrives at 4 s; the batch reaches the collector at 4.2 s.
        clock
            .0
            .store(t0 + 4_200, std::sync::atomic::Ordering::SeqCst);
        ingest(
            &d,
            &store,
            &clock,
            &[fail(t0 + 4000, "203.0.113.9", "root")],
        )
        .await;
        let inc = d.lock().await.book.live().next().cloned().unwrap();
        assert_eq!(inc.first_seen, Some(t0 * 1_000_000));
        assert_eq!(
            inc.detection_delay_ms,
            Some(4_200),
            "wall clock − first_seen"
        );
        assert_eq!(
            inc.title.en,
            "SSH brute force from 203.0.113.9 against web-03 (5 failures, 5 users)"
        );
        assert_eq!(
            inc.title.zh,
            "来自 203.0.113.9 针对 web-03 的 SSH 暴力破解（5 次失败）"
        );
        let text = String::from_utf8(metrics.render()).unwrap();
        assert_eq!(bucket(&text, "3"), 0, "{text}");
        assert_eq!(bucket(&text, "5"), 1, "{text}");
        // A recurrence re-renders with the incident's totals; the delay and
        // the histogram stay as they were at opening.
        clock
            .0
            .store(t0 + 9_000, std::sync::atomic::Ordering::SeqCst);
        let more: Vec<Event> = (0..5)
            .map(|i| fail(t0 + 5000 + i * 500, "203.0.113.9", "root"))
            .collect();
        ingest(&d, &store, &clock, &more).await;
        let inc = d.lock().await.book.get(inc.id).cloned().unwrap();
        assert_eq!(
            inc.title.en,
            "SSH brute force from 203.0.113.9 against web-03 (10 failures, 5 users)"
        );
        assert_eq!(inc.detection_delay_ms, Some(4_200));
        let text = String::from_utf8(metrics.render()).unwrap();
        assert!(
            text.contains("shouwang_detection_delay_seconds_count{rule=\"t.ssh\"} 1"),
            "{text}"
        );
        // The stored row carries both.
        let (stored, _) = store.incident(inc.id).await.unwrap().unwrap();
        assert_eq!(stored.detection_delay_ms, Some(4_200));
        assert_eq!(stored.title, inc.title);
    }

    #[tokio::test]
    async fn a_replayed_old_capture_is_measured_on_event_time() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_790_000_000_000; // the wall clock: 2026
        let clock = At(now.into());
        let (d, store, metrics) = detector(dir.path(), &clock).await;
        let t0 = 1_300_000_000_000; // the capture: 2011
        let events: Vec<Event> = (0..5)
            .map(|i| fail(t0 + i * 250, "198.51.100.7", "admin"))
            .collect();
        ingest(&d, &store, &clock, &events).await;
        let inc = d.lock().await.book.live().next().cloned().unwrap();
        assert_eq!(inc.first_seen, Some(t0 * 1_000_000));
        assert_eq!(
            inc.detection_delay_ms,
            Some(1_000),
            "event time of the detection − first_seen, not 15 years"
        );
        let text = String::from_utf8(metrics.render()).unwrap();
        assert_eq!(bucket(&text, "0.5"), 0, "{text}");
        assert_eq!(bucket(&text, "1"), 1, "{text}");
    }
}
