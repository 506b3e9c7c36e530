//! Agents: token digests, registry fields and delivered sequence numbers.

use sqlx::Row;

use super::db::Store;
use crate::ingest::seqset::SeqSet;

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

impl Store {
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
}
