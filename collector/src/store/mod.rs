//! The SQLite store: agents (token digests, registry fields, delivered
//! sequence numbers) and events.
//!
//! One writer connection (SQLite allows one writer; queueing in the pool is
//! cheaper than `SQLITE_BUSY` retries) and a small pool of readers; WAL mode
//! so readers never block the writer. A batch is committed in one
//! transaction together with the agent's delivered-sequence set, so a batch
//! is either stored and marked seen, or neither.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::ingest::seqset::SeqSet;

pub mod audit;
pub mod incidents;
pub mod tokens;

/// Events per INSERT statement (6 parameters each, far below SQLite's
/// 32766-parameter limit).
const INSERT_CHUNK: usize = 500;

/// Schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 4;

const SCHEMA_V1: &[&str] = &[
    "CREATE TABLE agents (
        name TEXT PRIMARY KEY NOT NULL,
        token_digest BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen_ms INTEGER,
        labels TEXT NOT NULL DEFAULT '{}',
        heartbeat TEXT,
        host TEXT,
        host_ts INTEGER,
        listening TEXT,
        boot_time INTEGER,
        reboots INTEGER NOT NULL DEFAULT 0,
        seen_seqs TEXT NOT NULL DEFAULT '[]'
    )",
    "CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        agent TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        kind TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (agent, seq)
    )",
    "CREATE INDEX events_agent_kind ON events (agent, kind, id)",
    "CREATE INDEX events_received ON events (received_ms)",
];

/// Incidents, their timelines, silences, false-positive exceptions, the
/// audit log and API tokens.
const SCHEMA_V2: &[&str] = &[
    "CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        rule TEXT NOT NULL,
        severity INTEGER NOT NULL,
        state TEXT NOT NULL,
        exercise TEXT,
        opened_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        resolved_ms INTEGER,
        rev INTEGER NOT NULL,
        body TEXT NOT NULL
    )",
    "CREATE INDEX incidents_state ON incidents (state, id)",
    "CREATE INDEX incidents_fingerprint ON incidents (fingerprint, id)",
    "CREATE INDEX incidents_resolved ON incidents (resolved_ms)",
    "CREATE TABLE incident_timeline (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        text TEXT NOT NULL
    )",
    "CREATE INDEX incident_timeline_incident ON incident_timeline (incident_id, id)",
    "CREATE TABLE silences (
        id INTEGER PRIMARY KEY,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        comment TEXT NOT NULL,
        matchers TEXT NOT NULL
    )",
    "CREATE TABLE exceptions (
        id INTEGER PRIMARY KEY,
        rule TEXT NOT NULL,
        group_key TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        incident_id INTEGER NOT NULL,
        reason TEXT NOT NULL
    )",
    "CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        ts_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    )",
    "CREATE TABLE api_tokens (
        name TEXT PRIMARY KEY NOT NULL,
        role TEXT NOT NULL,
        token_digest BLOB NOT NULL,
        created_ms INTEGER NOT NULL
    )",
];

/// The duty (shift) log.
const SCHEMA_V3: &[&str] = &["CREATE TABLE duty_log (
        id INTEGER PRIMARY KEY,
        ts_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL
    )"];

/// v4: the audit log's hash chain (see `audit.rs`).
const SCHEMA_V4: &[&str] = &[
    "ALTER TABLE audit ADD COLUMN prev_hash TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT ''",
    "CREATE TABLE audit_anchor (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_id INTEGER NOT NULL,
        hash TEXT NOT NULL
    )",
];

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    /// Keys the audit log's hash chain.
    pub(crate) audit_key: crate::audit::AuditKey,
}

/// An agent as stored.
#[derive(Debug, Clone)]
pub struct AgentRow {
    pub name: String,
    pub created_at: i64,
    pub last_seen_ms: Option<i64>,
    pub labels: String,
    pub heartbeat: Option<String>,
    pub host: Option<String>,
    pub host_ts: Option<i64>,
    pub listening: Option<String>,
    pub boot_time: Option<i64>,
    pub reboots: i64,
    pub seen_seqs: String,
}

/// Changes to an agent's row made by one batch.
#[derive(Debug, Default)]
pub struct AgentUpdate {
    pub last_seen_ms: i64,
    pub labels: Option<String>,
    pub heartbeat: Option<String>,
    pub host: Option<(String, i64)>,
    pub listening: Option<String>,
    pub boot_time: Option<i64>,
    pub reboots_added: i64,
    pub seen: SeqSet,
}

/// An event to insert.
#[derive(Debug)]
pub struct NewEvent {
    pub seq: u64,
    pub ts: i64,
    pub kind: &'static str,
    pub body: String,
}

/// A stored event, as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    pub id: i64,
    pub agent: String,
    pub seq: i64,
    pub received_ms: i64,
    /// The event exactly as the agent sent it (`ts`, `kind`, fields).
    pub event: serde_json::Value,
}

fn seq_i64(seq: u64) -> i64 {
    // SQLite integers are signed; sequence numbers stay far below 2^63.
    i64::try_from(seq).unwrap_or(i64::MAX)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| {
                format!(
                    "cannot create data-dir {} (set data-dir to a directory this user can write)",
                    dir.display()
                )
            })?;
        }
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .with_context(|| format!("cannot open database {}", path.display()))?;
        let audit_key = crate::audit::AuditKey::load_or_create(&path.with_file_name("audit.key"))?;
        let store_w = Self {
            writer: writer.clone(),
            reader: writer.clone(),
            audit_key: audit_key.clone(),
        };
        store_w.migrate().await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.read_only(true))
            .await
            .with_context(|| format!("cannot open database {} for reading", path.display()))?;
        Ok(Self {
            writer,
            reader,
            audit_key,
        })
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&self.writer)
            .await?;
        if version > SCHEMA_VERSION {
            anyhow::bail!(
                "database schema version {version} is newer than this build understands \
                 ({SCHEMA_VERSION}); run a newer shouwang-collector"
            );
        }
        if version < 1 {
            let mut tx = self.writer.begin().await?;
            for stmt in SCHEMA_V1 {
                sqlx::query(*stmt).execute(&mut *tx).await?;
            }
            sqlx::query("PRAGMA user_version = 1")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        if version < 2 {
            let mut tx = self.writer.begin().await?;
            for stmt in SCHEMA_V2 {
                sqlx::query(*stmt).execute(&mut *tx).await?;
            }
            sqlx::query("PRAGMA user_version = 2")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        if version < 3 {
            let mut tx = self.writer.begin().await?;
            for stmt in SCHEMA_V3 {
                sqlx::query(*stmt).execute(&mut *tx).await?;
            }
            sqlx::query("PRAGMA user_version = 3")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        if version < 4 {
            let mut tx = self.writer.begin().await?;
            for stmt in SCHEMA_V4 {
                sqlx::query(*stmt).execute(&mut *tx).await?;
            }
            // Chain the records written before the chain existed.
            audit::rechain_audit(&mut tx, &self.audit_key).await?;
            sqlx::query("PRAGMA user_version = 4")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Readiness probe: a trivial query on both pools.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.writer).await?;
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// Registers an agent; fails if the name is taken.
    pub async fn add_agent(&self, name: &str, digest: &[u8], now_ms: i64) -> anyhow::Result<bool> {
        let r = sqlx::query(
            "INSERT INTO agents (name, token_digest, created_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(digest)
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Replaces an agent's token; false if there is no such agent.
    pub async fn rotate_token(&self, name: &str, digest: &[u8]) -> anyhow::Result<bool> {
        let r = sqlx::query("UPDATE agents SET token_digest = ? WHERE name = ?")
            .bind(digest)
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Deletes an agent and its events; false if there is no such agent.
    pub async fn remove_agent(&self, name: &str) -> anyhow::Result<bool> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM events WHERE agent = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM agents WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// The stored token digest of `name` and when it was registered (which
    /// tells a re-added agent from the one removed before it).
    pub async fn token_digest(&self, name: &str) -> anyhow::Result<Option<(Vec<u8>, i64)>> {
        let row = sqlx::query("SELECT token_digest, created_at FROM agents WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row
            .map(|r| Ok::<_, sqlx::Error>((r.try_get("token_digest")?, r.try_get("created_at")?)))
            .transpose()?)
    }

    fn agent_row(r: &sqlx::sqlite::SqliteRow) -> Result<AgentRow, sqlx::Error> {
        Ok(AgentRow {
            name: r.try_get("name")?,
            created_at: r.try_get("created_at")?,
            last_seen_ms: r.try_get("last_seen_ms")?,
            labels: r.try_get("labels")?,
            heartbeat: r.try_get("heartbeat")?,
            host: r.try_get("host")?,
            host_ts: r.try_get("host_ts")?,
            listening: r.try_get("listening")?,
            boot_time: r.try_get("boot_time")?,
            reboots: r.try_get("reboots")?,
            seen_seqs: r.try_get("seen_seqs")?,
        })
    }

    /// Every agent, by name.
    pub async fn agents(&self) -> anyhow::Result<Vec<AgentRow>> {
        let rows = sqlx::query("SELECT * FROM agents ORDER BY name")
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(Self::agent_row).collect::<Result<_, _>>()?)
    }

    /// One agent.
    pub async fn agent(&self, name: &str) -> anyhow::Result<Option<AgentRow>> {
        let row = sqlx::query("SELECT * FROM agents WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(Self::agent_row).transpose()?)
    }

    /// Stores one batch's new events, the agent's row changes and the
    /// incident changes they caused, atomically.
    pub async fn commit_batch(
        &self,
        agent: &str,
        events: &[NewEvent],
        update: &AgentUpdate,
        incidents: &[crate::incidents::book::Change],
    ) -> anyhow::Result<()> {
        let mut tx = self.writer.begin().await?;
        incidents::write_changes(&mut tx, incidents).await?;
        // Multi-row inserts: one statement per INSERT_CHUNK events instead
        // of one round trip to SQLite's worker thread per event.
        for chunk in events.chunks(INSERT_CHUNK) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO events (agent, seq, ts, kind, received_ms, body) ",
            );
            q.push_values(chunk, |mut row, e| {
                row.push_bind(agent)
                    .push_bind(seq_i64(e.seq))
                    .push_bind(e.ts)
                    .push_bind(e.kind)
                    .push_bind(update.last_seen_ms)
                    .push_bind(e.body.as_str());
            });
            q.push(" ON CONFLICT (agent, seq) DO NOTHING");
            q.build().execute(&mut *tx).await?;
        }
        sqlx::query(
            "UPDATE agents SET
                last_seen_ms = ?,
                labels = COALESCE(?, labels),
                heartbeat = COALESCE(?, heartbeat),
                host = COALESCE(?, host),
                host_ts = COALESCE(?, host_ts),
                listening = COALESCE(?, listening),
                boot_time = COALESCE(?, boot_time),
                reboots = reboots + ?,
                seen_seqs = ?
             WHERE name = ?",
        )
        .bind(update.last_seen_ms)
        .bind(update.labels.as_deref())
        .bind(update.heartbeat.as_deref())
        .bind(update.host.as_ref().map(|h| h.0.as_str()))
        .bind(update.host.as_ref().map(|h| h.1))
        .bind(update.listening.as_deref())
        .bind(update.boot_time)
        .bind(update.reboots_added)
        .bind(serde_json::to_string(&update.seen)?)
        .bind(agent)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Recent events, newest first.
    pub async fn events(
        &self,
        agent: Option<&str>,
        kind: Option<&str>,
        before_id: Option<i64>,
        limit: u32,
    ) -> anyhow::Result<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT id, agent, seq, received_ms, body FROM events
             WHERE (?1 IS NULL OR agent = ?1) AND (?2 IS NULL OR kind = ?2)
               AND (?3 IS NULL OR id < ?3)
             ORDER BY id DESC LIMIT ?4",
        )
        .bind(agent)
        .bind(kind)
        .bind(before_id)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let body: String = r.try_get("body")?;
                Ok(StoredEvent {
                    id: r.try_get("id")?,
                    agent: r.try_get("agent")?,
                    seq: r.try_get("seq")?,
                    received_ms: r.try_get("received_ms")?,
                    event: serde_json::from_str(&body)?,
                })
            })
            .collect()
    }

    /// Number of stored events (all agents).
    pub async fn event_count(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&self.reader)
            .await?)
    }

    /// Deletes events received before `cutoff_ms`; returns how many.
    pub async fn prune(&self, cutoff_ms: i64) -> anyhow::Result<u64> {
        let r = sqlx::query("DELETE FROM events WHERE received_ms < ?")
            .bind(cutoff_ms)
            .execute(&self.writer)
            .await?;
        Ok(r.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
