//! Events, and the batch commit that stores them with the agent's row
//! changes and the incident changes they caused.

use serde::Serialize;
use sqlx::Row;

use super::agents::AgentUpdate;
use super::db::Store;
use super::incidents::write_changes;

/// Events per INSERT statement (6 parameters each, far below SQLite's
/// 32766-parameter limit).
pub(super) const INSERT_CHUNK: usize = 500;

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
        write_changes(&mut tx, incidents).await?;
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
