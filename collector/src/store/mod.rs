//! The SQLite store: agents (token digests, registry fields, delivered
//! sequence numbers) and events.
//!
//! One writer connection (SQLite allows one writer; queueing in the pool is
//! cheaper than `SQLITE_BUSY` retries) and a small pool of readers; WAL mode
//! so readers never block the writer. A batch is committed in one
//! transaction together with the agent's delivered-sequence set, so a batch
//! is either stored and marked seen, or neither.

//!
//! All SQL of the collector is under this module: `db` (the handle),
//! `schema` (migrations), `agents`, `events`, `incidents`, `duty`, `audit`
//! and `tokens`. Children import siblings, never this file.

mod agents;
pub mod audit;
mod db;
mod duty;
mod events;
pub mod incidents;
mod open;
mod schema;
pub mod tokens;

pub use agents::{AgentRow, AgentUpdate};
pub use db::Store;
pub use events::{NewEvent, StoredEvent};
pub use schema::SCHEMA_VERSION;

#[cfg(test)]
mod tests {
    use super::events::INSERT_CHUNK;
    use super::*;
    use crate::ingest::seqset::SeqSet;

    #[tokio::test]
    async fn agents_and_batches_round_trip_in_a_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db").join("shouwang.db");
        let s = Store::open(&path).await.unwrap();
        assert!(s.add_agent("a1", &[1; 32], 5).await.unwrap());
        assert!(
            !s.add_agent("a1", &[2; 32], 6).await.unwrap(),
            "names are unique"
        );
        assert_eq!(s.token_digest("a1").await.unwrap(), Some((vec![1; 32], 5)));
        let mut seen = SeqSet::new();
        seen.insert(0, 2);
        let ev = |seq| NewEvent {
            seq,
            ts: 7,
            kind: "notice",
            body: r#"{"ts":7,"kind":"notice","level":"info","component":"x","message":"y"}"#.into(),
        };
        let up = AgentUpdate {
            last_seen_ms: 100,
            seen: seen.clone(),
            ..Default::default()
        };
        s.commit_batch("a1", &[ev(0), ev(1)], &up, &[])
            .await
            .unwrap();
        // A replay inserts nothing new.
        s.commit_batch("a1", &[ev(1)], &up, &[]).await.unwrap();
        assert_eq!(s.event_count().await.unwrap(), 2);
        drop(s);
        // Reopen: data and schema survive.
        let s = Store::open(&path).await.unwrap();
        let row = s.agent("a1").await.unwrap().unwrap();
        assert_eq!(row.last_seen_ms, Some(100));
        let back: SeqSet = serde_json::from_str(&row.seen_seqs).unwrap();
        assert_eq!(back, seen);
        let evs = s
            .events(Some("a1"), Some("notice"), None, 10)
            .await
            .unwrap();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].seq, 1, "newest first");
        assert_eq!(s.prune(101).await.unwrap(), 2);
        assert!(s.remove_agent("a1").await.unwrap());
        assert!(s.agent("a1").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn large_batches_cross_insert_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("shouwang.db")).await.unwrap();
        s.add_agent("a1", &[1; 32], 0).await.unwrap();
        let n = INSERT_CHUNK as u64 * 2 + 201;
        let events: Vec<NewEvent> = (0..n)
            .map(|seq| NewEvent {
                seq,
                ts: 1,
                kind: "notice",
                body: format!("{{\"seq\":{seq}}}"),
            })
            .collect();
        let mut seen = SeqSet::new();
        seen.insert(0, n);
        s.commit_batch(
            "a1",
            &events,
            &AgentUpdate {
                last_seen_ms: 1,
                seen,
                ..Default::default()
            },
            &[],
        )
        .await
        .unwrap();
        assert_eq!(s.event_count().await.unwrap(), i64::try_from(n).unwrap());
        let newest = s.events(Some("a1"), None, None, 1).await.unwrap();
        assert_eq!(newest[0].seq, i64::try_from(n).unwrap() - 1);
        assert_eq!(newest[0].event["seq"], n - 1);
    }

    #[tokio::test]
    async fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shouwang.db");
        let s = Store::open(&path).await.unwrap();
        sqlx::query("PRAGMA user_version = 99")
            .execute(&s.writer)
            .await
            .unwrap();
        drop(s);
        let err = Store::open(&path).await.unwrap_err().to_string();
        assert!(err.contains("newer than this build"), "{err}");
    }
}
