//! API tokens (operators, viewers, the drill): digests only.

use sqlx::Row;

use super::db::Store;

impl Store {
    /// Adds or replaces an API token (digest only).
    pub async fn put_api_token(
        &self,
        name: &str,
        role: &str,
        digest: &[u8],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO api_tokens (name, role, token_digest, created_ms) VALUES (?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET role = excluded.role, token_digest = excluded.token_digest, created_ms = excluded.created_ms",
        )
        .bind(name)
        .bind(role)
        .bind(digest)
        .bind(now_ms)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn remove_api_token(&self, name: &str) -> anyhow::Result<bool> {
        Ok(sqlx::query("DELETE FROM api_tokens WHERE name = ?")
            .bind(name)
            .execute(&self.writer)
            .await?
            .rows_affected()
            > 0)
    }

    /// (role, digest) of an API token.
    pub async fn api_token(&self, name: &str) -> anyhow::Result<Option<(String, Vec<u8>)>> {
        let row = sqlx::query("SELECT role, token_digest FROM api_tokens WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// (name, role, created_ms) of every API token.
    pub async fn api_tokens(&self) -> anyhow::Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query("SELECT name, role, created_ms FROM api_tokens ORDER BY name")
            .fetch_all(&self.reader)
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }
}
