//! Notifiers: a generic JSON webhook, Prometheus Alertmanager (API v2), and
//! the WeCom (企业微信) and DingTalk (钉钉) group robots (markdown).
//!
//! Incident changes that matter (opened, reopened, escalated, resolved)
//! arrive on a bounded channel; each notifier filters by severity, skips
//! silenced incidents, rate-limits against storms and retries with
//! exponential backoff. Formatting ([`payload`]) is pure and tested on its
//! own; only [`run`] touches the network.

use std::time::Duration;

use anyhow::{Context, bail};
use backon::{ExponentialBuilder, Retryable};
use serde::Deserialize;
use shouwang_proto::{Incident, IncidentState, Severity};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::incidents::book::{Change, ChangeKind};
use crate::metrics::Metrics;

/// Changes waiting for the notifiers; more are counted and dropped.
pub const QUEUE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifierKind {
    Webhook,
    Alertmanager,
    Wecom,
    Dingtalk,
}

/// One `[[notifiers]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NotifierConfig {
    /// Name in logs and in `shouwang_notifications_total{notifier=…}`.
    pub name: String,
    pub kind: NotifierKind,
    /// Webhook URL; for Alertmanager its base URL (`http://127.0.0.1:9093`).
    pub url: String,
    /// Only incidents at least this severe.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// DingTalk: the robot's signing secret (`SEC…`), if it has one.
    pub secret: Option<String>,
    /// Most messages per minute; more are dropped and counted
    /// (`rate_limited`) so a storm cannot flood a group chat.
    #[serde(default = "default_per_minute")]
    pub max_per_minute: u32,
    /// Attempts per message (exponential backoff between them).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Also notify incidents raised by exercises (drills, replays).
    #[serde(default)]
    pub include_exercises: bool,
    /// Link to the console or a dashboard, put in messages.
    pub console_url: Option<String>,
}

fn default_min_severity() -> Severity {
    Severity::Medium
}
fn default_per_minute() -> u32 {
    20
}
fn default_attempts() -> u32 {
    5
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl NotifierConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.url.starts_with("http://") && !self.url.starts_with("https://") {
            bail!(
                "notifier {:?}: url must start with http:// or https://",
                self.name
            );
        }
        if self.name.is_empty() || self.name.len() > 64 {
            bail!("notifier names are 1 to 64 characters");
        }
        if self.attempts == 0 || self.max_per_minute == 0 {
            bail!(
                "notifier {:?}: attempts and max-per-minute must be at least 1",
                self.name
            );
        }
        if self.secret.is_some() && self.kind != NotifierKind::Dingtalk {
            bail!("notifier {:?}: `secret` is for dingtalk robots", self.name);
        }
        Ok(())
    }
}

fn ts_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Event time in China Standard Time (UTC+8), as duty rooms read clocks.
fn event_time(ns: i64) -> String {
    let t = chrono::DateTime::from_timestamp_nanos(ns);
    match chrono::FixedOffset::east_opt(8 * 3600) {
        Some(tz) => t
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S %:z")
            .to_string(),
        None => t.to_rfc3339(),
    }
}

fn change_word(kind: &ChangeKind) -> (&'static str, &'static str) {
    match kind {
        ChangeKind::Opened => ("New incident", "新告警"),
        ChangeKind::Reopened => ("Incident reopened", "告警复发"),
        ChangeKind::Escalated => ("Escalated: not acknowledged", "告警升级（未确认）"),
        ChangeKind::Resolved | ChangeKind::AutoResolved => ("Resolved", "已恢复"),
        _ => ("Incident changed", "告警变更"),
    }
}

fn severity_zh(s: Severity) -> &'static str {
    match s {
        Severity::Info => "提示",
        Severity::Low => "低",
        Severity::Medium => "中",
        Severity::High => "高",
        Severity::Critical => "严重",
    }
}

/// The markdown text of a group-robot message (WeCom, DingTalk).
pub fn markdown(kind: &ChangeKind, i: &Incident, console: Option<&str>) -> String {
    let (en, zh) = change_word(kind);
    let mut s = format!(
        "### {zh} {en}: {}\n\n**{}** / {}\n\n> 级别 severity: **{} {}**\n> 规则 rule: `{}`\n> 对象 group: `{}`\n> ATT&CK: {}\n> 次数 count: {}\n> 首次 first: {}\n> 最近 last: {}\n> 探针 agents: {}\n",
        i.title.zh,
        i.title.zh,
        i.title.en,
        severity_zh(i.severity),
        i.severity,
        i.rule,
        i.group,
        if i.attack.is_empty() {
            "-".to_owned()
        } else {
            i.attack.join(", ")
        },
        i.count,
        event_time(i.first_ts),
        event_time(i.last_ts),
        i.agents.join(", "),
    );
    if let Some(x) = &i.exercise {
        s.push_str(&format!("> 演练 exercise: {x}\n"));
    }
    if let Some(c) = console {
        s.push_str(&format!(
            "\n[#{} 查看 open]({}/incidents/{})\n",
            i.id,
            c.trim_end_matches('/'),
            i.id
        ));
    } else {
        s.push_str(&format!("\n#{}\n", i.id));
    }
    s
}

/// What a notifier sends for one change (pure).
pub fn payload(cfg: &NotifierConfig, kind: &ChangeKind, i: &Incident) -> serde_json::Value {
    match cfg.kind {
        NotifierKind::Webhook => serde_json::json!({
            "version": 1,
            "change": kind.as_str(),
            "incident": i,
        }),
        NotifierKind::Alertmanager => {
            let mut labels = serde_json::json!({
                "alertname": i.rule,
                "severity": i.severity.as_str(),
                "group": i.group,
                "incident": i.id.to_string(),
                "attack": i.attack.join(","),
                "source": "shouwang",
            });
            if let Some(x) = &i.exercise {
                labels["exercise"] = serde_json::Value::String(x.clone());
            }
            let mut alert = serde_json::json!({
                "labels": labels,
                "annotations": {
                    "summary": format!("{} / {}", i.title.zh, i.title.en),
                    "description": i.description.en,
                    "description_zh": i.description.zh,
                    "count": i.count.to_string(),
                },
                "startsAt": ts_rfc3339(i.opened_ms),
            });
            if i.state == IncidentState::Resolved {
                alert["endsAt"] =
                    serde_json::Value::String(ts_rfc3339(i.resolved_ms.unwrap_or(i.updated_ms)));
            }
            if let Some(c) = &cfg.console_url {
                alert["generatorURL"] = serde_json::Value::String(format!(
                    "{}/incidents/{}",
                    c.trim_end_matches('/'),
                    i.id
                ));
            }
            serde_json::json!([alert])
        }
        NotifierKind::Wecom => serde_json::json!({
            "msgtype": "markdown",
            "markdown": { "content": markdown(kind, i, cfg.console_url.as_deref()) },
        }),
        NotifierKind::Dingtalk => {
            let (en, zh) = change_word(kind);
            serde_json::json!({
                "msgtype": "markdown",
                "markdown": {
                    "title": format!("{zh} {en}: {}", i.title.zh),
                    "text": markdown(kind, i, cfg.console_url.as_deref()),
                },
            })
        }
    }
}

/// DingTalk's signed URL: `&timestamp=…&sign=…` (HMAC-SHA256 of
/// "timestamp\nsecret", base64, URL-encoded).
pub fn dingtalk_signed_url(url: &str, secret: &str, now_ms: i64) -> String {
    use base64::Engine;
    use hmac::Mac;
    let to_sign = format!("{now_ms}\n{secret}");
    let sign = match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(to_sign.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    let enc: String = sign
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}timestamp={now_ms}&sign={enc}")
}

/// A per-minute budget (token bucket refilled continuously).
#[derive(Debug)]
pub struct RateLimit {
    per_minute: f64,
    tokens: f64,
    last_ms: i64,
}

impl RateLimit {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: f64::from(per_minute),
            tokens: f64::from(per_minute),
            last_ms: i64::MIN,
        }
    }

    pub fn allow(&mut self, now_ms: i64) -> bool {
        if self.last_ms != i64::MIN {
            #[allow(clippy::cast_precision_loss)]
            let elapsed = (now_ms - self.last_ms).max(0) as f64 / 60_000.0;
            self.tokens = (self.tokens + elapsed * self.per_minute).min(self.per_minute);
        }
        self.last_ms = now_ms;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Whether `cfg` wants this change at all.
pub fn wants(cfg: &NotifierConfig, c: &Change) -> bool {
    c.kind.notifies()
        && c.incident.severity >= cfg.min_severity
        && (cfg.include_exercises || c.incident.exercise.is_none())
}

async fn send_once(
    client: &reqwest::Client,
    cfg: &NotifierConfig,
    body: &serde_json::Value,
    now_ms: i64,
) -> anyhow::Result<()> {
    let url = match cfg.kind {
        NotifierKind::Alertmanager => format!("{}/api/v2/alerts", cfg.url.trim_end_matches('/')),
        NotifierKind::Dingtalk => match &cfg.secret {
            Some(s) => dingtalk_signed_url(&cfg.url, s, now_ms),
            None => cfg.url.clone(),
        },
        _ => cfg.url.clone(),
    };
    let r = client
        .post(&url)
        .timeout(cfg.timeout)
        .json(body)
        .send()
        .await
        .context("request failed")?;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!(
            "HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        );
    }
    // The robots answer 200 with an error code in the body.
    if matches!(cfg.kind, NotifierKind::Wecom | NotifierKind::Dingtalk) {
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if v["errcode"].as_i64().unwrap_or(-1) != 0 {
            bail!(
                "robot refused: {}",
                text.chars().take(200).collect::<String>()
            );
        }
    }
    Ok(())
}

/// Delivers changes until the channel closes or `cancel` fires.
pub async fn run(
    notifiers: Vec<NotifierConfig>,
    mut rx: tokio::sync::mpsc::Receiver<Change>,
    metrics: Metrics,
    clock: std::sync::Arc<dyn shouwang_daemon::clock::Clock>,
    cancel: CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "cannot build the HTTP client: notifications are off");
            return;
        }
    };
    let mut limits: Vec<RateLimit> = notifiers
        .iter()
        .map(|n| RateLimit::new(n.max_per_minute))
        .collect();
    for n in &notifiers {
        for outcome in crate::metrics::NOTIFY_OUTCOMES {
            metrics.notifications.with_label_values(&[&n.name, outcome]);
        }
    }
    info!(notifiers = notifiers.len(), "notifications on");
    loop {
        let c = tokio::select! {
            () = cancel.cancelled() => return,
            c = rx.recv() => match c { Some(c) => c, None => return },
        };
        for (cfg, limit) in notifiers.iter().zip(&mut limits) {
            if !wants(cfg, &c) {
                continue;
            }
            let count = |outcome: &str| {
                metrics
                    .notifications
                    .with_label_values(&[&cfg.name, outcome])
                    .inc()
            };
            if c.incident.silenced {
                count("silenced");
                continue;
            }
            let now = clock.now_ms();
            if !limit.allow(now) {
                count("rate_limited");
                continue;
            }
            let body = payload(cfg, &c.kind, &c.incident);
            let attempt = || send_once(&client, cfg, &body, clock.now_ms());
            let result = attempt
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(Duration::from_millis(200))
                        .with_max_delay(Duration::from_secs(10))
                        .with_max_times(cfg.attempts.saturating_sub(1) as usize),
                )
                .await;
            match result {
                Ok(()) => count("sent"),
                Err(e) => {
                    count("failed");
                    warn!(notifier = %cfg.name, incident = c.incident.id, error = %format!("{e:#}"), "notification failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shouwang_proto::Bilingual;

    fn incident() -> Incident {
        Incident {
            id: 7,
            fingerprint: "r/src=1.2.3.4".into(),
            rule: "network.scan.tcp-ports".into(),
            title: Bilingual {
                en: "TCP port scan".into(),
                zh: "TCP 端口扫描".into(),
            },
            description: Bilingual {
                en: "d".into(),
                zh: "描述".into(),
            },
            severity: Severity::High,
            attack: vec!["T1046".into()],
            group: "src=1.2.3.4".into(),
            state: IncidentState::Open,
            resolution: None,
            count: 40,
            detections: 1,
            first_ts: 1_700_000_000_000_000_000,
            last_ts: 1_700_000_001_000_000_000,
            opened_ms: 1_700_000_002_000,
            updated_ms: 1_700_000_002_000,
            rev: 1,
            acked_ms: None,
            resolved_ms: None,
            assignee: None,
            agents: vec!["gw-01".into()],
            exercise: None,
            evidence: vec![],
            escalated: false,
            silenced: false,
            reopened: 0,
            first_seen: None,
            detection_delay_ms: None,
        }
    }

    fn cfg(kind: NotifierKind) -> NotifierConfig {
        NotifierConfig {
            name: "n".into(),
            kind,
            url: "http://127.0.0.1:1/x".into(),
            min_severity: Severity::Medium,
            secret: None,
            max_per_minute: 2,
            attempts: 1,
            timeout: Duration::from_secs(1),
            include_exercises: false,
            console_url: Some("http://console".into()),
        }
    }

    #[test]
    fn payload_shapes() {
        let i = incident();
        let am = payload(&cfg(NotifierKind::Alertmanager), &ChangeKind::Opened, &i);
        assert_eq!(am[0]["labels"]["alertname"], "network.scan.tcp-ports");
        assert_eq!(am[0]["labels"]["severity"], "high");
        assert!(am[0].get("endsAt").is_none());
        assert_eq!(am[0]["generatorURL"], "http://console/incidents/7");
        let mut r = i.clone();
        r.state = IncidentState::Resolved;
        r.resolved_ms = Some(1_700_000_100_000);
        let am = payload(&cfg(NotifierKind::Alertmanager), &ChangeKind::Resolved, &r);
        assert_eq!(am[0]["endsAt"], "2023-11-14T22:15:00.000Z");
        let w = payload(&cfg(NotifierKind::Wecom), &ChangeKind::Opened, &i);
        let text = w["markdown"]["content"].as_str().unwrap();
        assert!(
            text.contains("新告警")
                && text.contains("TCP 端口扫描")
                && text.contains("`src=1.2.3.4`"),
            "{text}"
        );
        assert!(
            text.contains("2023-11-15 06:13:20 +08:00"),
            "event time in UTC+8: {text}"
        );
        let d = payload(&cfg(NotifierKind::Dingtalk), &ChangeKind::Escalated, &i);
        assert!(d["markdown"]["title"].as_str().unwrap().contains("升级"));
        let h = payload(&cfg(NotifierKind::Webhook), &ChangeKind::Opened, &i);
        assert_eq!(h["incident"]["id"], 7);
    }

    #[test]
    fn routing_rate_limit_and_signature() {
        let c = cfg(NotifierKind::Webhook);
        let mut ch = Change {
            kind: ChangeKind::Opened,
            incident: incident(),
            timeline: None,
        };
        assert!(wants(&c, &ch));
        ch.incident.severity = Severity::Low;
        assert!(!wants(&c, &ch), "below min-severity");
        ch.incident.severity = Severity::High;
        ch.incident.exercise = Some("drill".into());
        assert!(!wants(&c, &ch), "exercises only when asked");
        ch.incident.exercise = None;
        ch.kind = ChangeKind::Updated;
        assert!(!wants(&c, &ch), "count updates are not news");

        let mut l = RateLimit::new(2);
        assert!(l.allow(0) && l.allow(1));
        assert!(!l.allow(2), "budget spent");
        assert!(l.allow(30_002), "refilled after half a minute");

        // Checked against Python's hmac/base64/urllib.parse.quote_plus for
        // the same inputs (DingTalk's documented signing recipe).
        let u = dingtalk_signed_url(
            "https://oapi.dingtalk.com/robot/send?access_token=x",
            "SECabc",
            1_700_000_000_000,
        );
        assert_eq!(
            u,
            "https://oapi.dingtalk.com/robot/send?access_token=x&timestamp=1700000000000&sign=jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM%3D"
        );
    }
}
