//! The dead-man's last word: when an agent falls silent, the incident says
//! what it last looked like (memory, CPU, disks, its upload spool and
//! whether that was growing), built from the agent registry and its last
//! stored heartbeats.

use serde_json::{Value, json};
use shouwang_proto::{Heartbeat, HostSample};

use crate::store::Store;

/// Heartbeats compared to tell whether the spool was growing.
const TREND_HEARTBEATS: u32 = 3;

/// The evidence entry (`kind = last_known_state`) for a silent `agent`, or
/// `None` if the collector never heard from it.
pub async fn last_known_state(
    store: &Store,
    agent: &str,
    now_ms: i64,
) -> anyhow::Result<Option<Value>> {
    let Some(row) = store.agent(agent).await? else {
        return Ok(None);
    };
    let Some(last_seen_ms) = row.last_seen_ms else {
        return Ok(None);
    };
    let host: Option<HostSample> = row
        .host
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let mut beats: Vec<Heartbeat> = store
        .events(Some(agent), Some("heartbeat"), None, TREND_HEARTBEATS)
        .await?
        .into_iter()
        .filter_map(|e| serde_json::from_value(e.event).ok())
        .collect();
    if beats.is_empty()
        && let Some(hb) = row
            .heartbeat
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    {
        beats.push(hb);
    }
    Ok(Some(describe(
        agent,
        last_seen_ms,
        now_ms,
        host.as_ref(),
        &beats,
    )))
}

/// Builds the entry; `beats` newest first.
pub fn describe(
    agent: &str,
    last_seen_ms: i64,
    now_ms: i64,
    host: Option<&HostSample>,
    beats: &[Heartbeat],
) -> Value {
    let mut parts = vec![format!(
        "last seen {} ({} ago)",
        local_time(last_seen_ms),
        ago(now_ms.saturating_sub(last_seen_ms))
    )];
    let mut detail = serde_json::Map::new();
    detail.insert("last_seen_ms".into(), json!(last_seen_ms));
    if let Some(h) = host {
        #[allow(clippy::cast_precision_loss)]
        let mem =
            (h.memory.total > 0).then(|| h.memory.used as f64 * 100.0 / h.memory.total as f64);
        if let Some(m) = mem {
            parts.push(format!("memory {m:.0}%"));
            detail.insert("memory_used_pct".into(), json!((m * 10.0).round() / 10.0));
        }
        parts.push(format!("CPU {:.0}%", h.cpu.usage_pct));
        detail.insert("cpu_pct".into(), json!(h.cpu.usage_pct));
        detail.insert("load1".into(), json!(h.load.one));
        #[allow(clippy::cast_precision_loss)]
        let fullest = h
            .disks
            .iter()
            .filter(|d| d.total > 0)
            .map(|d| {
                (
                    (d.total - d.available.min(d.total)) as f64 * 100.0 / d.total as f64,
                    d.mount.as_str(),
                )
            })
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((pct, mount)) = fullest {
            parts.push(format!("disk {mount} {pct:.0}%"));
            detail.insert(
                "disk_fullest".into(),
                json!({"mount": mount, "used_pct": (pct * 10.0).round() / 10.0}),
            );
        }
    }
    if let Some(newest) = beats.first() {
        let q = &newest.queue;
        let growing = beats
            .last()
            .is_some_and(|oldest| beats.len() > 1 && q.queued_bytes > oldest.queue.queued_bytes);
        let mut spool = format!(
            "spool {} batches ({} of {})",
            q.queued_batches,
            mib(q.queued_bytes),
            mib(q.max_bytes)
        );
        if growing {
            spool.push_str(" and growing");
        }
        if q.dropped_events > 0 {
            spool.push_str(&format!(", {} events dropped", q.dropped_events));
        }
        parts.push(spool);
        detail.insert(
            "spool".into(),
            json!({
                "queued_batches": q.queued_batches,
                "queued_bytes": q.queued_bytes,
                "max_bytes": q.max_bytes,
                "growing": growing,
                "dropped_events": q.dropped_events,
                "failed_uploads": q.failed_uploads,
            }),
        );
        detail.insert("agent_version".into(), json!(newest.agent_version));
        if let Some(why) = &newest.stopping {
            parts.push(format!("said it was stopping ({why})"));
            detail.insert("stopping".into(), json!(why));
        }
    }
    json!({
        "kind": "last_known_state",
        "agent": agent,
        "brief": parts.join(", "),
        "detail": Value::Object(detail),
    })
}

fn mib(b: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let m = b as f64 / (1024.0 * 1024.0);
    format!("{m:.1} MiB")
}

fn ago(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        ..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

/// Wall time in China Standard Time (UTC+8), as duty rooms read clocks.
fn local_time(ms: i64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    match chrono::FixedOffset::east_opt(8 * 3600) {
        Some(tz) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string(),
        None => t.to_rfc3339(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shouwang_proto::{MemorySample, QueueStats};

    fn beat(queued_bytes: u64) -> Heartbeat {
        Heartbeat {
            queue: QueueStats {
                queued_batches: queued_bytes / 1000,
                queued_bytes,
                max_bytes: 256 << 20,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn states_memory_and_a_growing_spool() {
        let host = HostSample {
            memory: MemorySample {
                total: 1000,
                used: 981,
                ..Default::default()
            },
            ..Default::default()
        };
        // 2026-11-21 10:00:00 +08:00, silent for 2 min 5 s.
        let seen = 1_795_226_400_000;
        let v = describe(
            "web-01",
            seen,
            seen + 125_000,
            Some(&host),
            &[beat(3 << 20), beat(2 << 20), beat(1 << 20)],
        );
        let brief = v["brief"].as_str().unwrap();
        assert!(
            brief.starts_with("last seen 2026-11-21 10:00:00 (2m5s ago)"),
            "{brief}"
        );
        assert!(brief.contains("memory 98%"), "{brief}");
        assert!(
            brief.contains("spool 3145 batches (3.0 MiB of 256.0 MiB) and growing"),
            "{brief}"
        );
        assert_eq!(v["detail"]["memory_used_pct"], 98.1);
        assert_eq!(v["detail"]["spool"]["growing"], true);
        assert_eq!(v["kind"], "last_known_state");

        // A draining spool is not "growing"; no host sample, no memory.
        let v = describe("web-01", seen, seen, None, &[beat(1 << 20), beat(3 << 20)]);
        let brief = v["brief"].as_str().unwrap();
        assert!(
            !brief.contains("growing") && !brief.contains("memory"),
            "{brief}"
        );
    }
}
