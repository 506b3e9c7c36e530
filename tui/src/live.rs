//! One line of the live tail, from an `event` item of `/v1/stream`
//! (read as loose JSON: event kinds a newer collector adds still show).

/// One line of the live tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    pub agent: String,
    pub kind: String,
    /// Event time, ns.
    pub ts: i64,
    /// The event's fields, compact.
    pub summary: String,
}

/// Longest summary kept per live event, characters.
pub const MAX_SUMMARY: usize = 400;

impl LiveEvent {
    /// From an `event` item of `/v1/stream`; `None` when it is not one.
    pub fn from_stream(v: &serde_json::Value) -> Option<Self> {
        let obj = v.as_object()?;
        let agent = obj.get("agent")?.as_str()?.to_owned();
        let kind = obj.get("kind")?.as_str()?.to_owned();
        let ts = obj
            .get("ts")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        let mut summary = String::new();
        for (k, v) in obj {
            if matches!(k.as_str(), "type" | "agent" | "kind" | "ts" | "seq") {
                continue;
            }
            if !summary.is_empty() {
                summary.push(' ');
            }
            summary.push_str(k);
            summary.push('=');
            match v {
                serde_json::Value::String(s) => summary.push_str(s),
                other => summary.push_str(&other.to_string()),
            }
            if summary.chars().count() > MAX_SUMMARY {
                summary = summary.chars().take(MAX_SUMMARY).collect();
                summary.push('…');
                break;
            }
        }
        Some(Self {
            agent,
            kind,
            ts,
            summary,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_stream_event_becomes_a_tail_line_and_junk_is_refused() {
        let v = serde_json::json!({"type": "event", "agent": "web-1", "seq": 4, "ts": 17, "kind": "auth", "user": "root", "outcome": "failure"});
        let e = LiveEvent::from_stream(&v).unwrap();
        assert_eq!(
            (e.agent.as_str(), e.kind.as_str(), e.ts),
            ("web-1", "auth", 17)
        );
        assert_eq!(e.summary, "outcome=failure user=root");
        assert_eq!(LiveEvent::from_stream(&serde_json::json!([1, 2])), None);
        assert_eq!(
            LiveEvent::from_stream(&serde_json::json!({"agent": 3})),
            None
        );
        let long = serde_json::json!({"agent": "a", "kind": "k", "x": "y".repeat(5000)});
        let e = LiveEvent::from_stream(&long).unwrap();
        assert_eq!(e.summary.chars().count(), MAX_SUMMARY + 1);
    }
}
