//! The audit log in SQLite: appending chained records, listing them, and
//! walking the chain for `audit verify` (the hashing is in `crate::audit`).

use sqlx::Row;

use super::db::Store;
use crate::audit::{AuditRecord, ChainRow, GENESIS, Verdict};

impl Store {
    /// Audit records below `before`, newest first (at most 1000).
    pub async fn audit(&self, before: Option<i64>, limit: u32) -> anyhow::Result<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT id, ts_ms, actor, role, action, target, detail FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().map(audit_record).collect())
    }

    /// Walks the audit log's hash chain (`audit verify`).
    pub async fn verify_audit(&self) -> anyhow::Result<Verdict> {
        let mut conn = self.reader.acquire().await?;
        let anchor: Option<(i64, String)> =
            sqlx::query_as("SELECT last_id, hash FROM audit_anchor WHERE id = 1")
                .fetch_optional(&mut *conn)
                .await?;
        let (last_id, hash) = anchor.unwrap_or((0, GENESIS.to_owned()));
        let rows = chain_rows(&mut conn).await?;
        Ok(crate::audit::verify(
            &self.audit_key,
            (last_id, &hash),
            &rows,
        ))
    }
}

/// An audit row's first seven columns (id, ts_ms, actor, role, action,
/// target, detail) as a record.
fn audit_record(r: &sqlx::sqlite::SqliteRow) -> AuditRecord {
    AuditRecord {
        id: r.get(0),
        ts_ms: r.get(1),
        actor: r.get(2),
        role: r.get(3),
        action: r.get(4),
        target: r.get(5),
        detail: r.get(6),
    }
}

/// The hash the next audit record links to: the newest record's, or the
/// anchor left by retention, or the genesis hash.
async fn chain_head(tx: &mut sqlx::SqliteConnection) -> anyhow::Result<String> {
    let newest: Option<String> =
        sqlx::query_scalar("SELECT hash FROM audit ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(h) = newest {
        return Ok(h);
    }
    let anchor: Option<String> = sqlx::query_scalar("SELECT hash FROM audit_anchor WHERE id = 1")
        .fetch_optional(&mut *tx)
        .await?;
    Ok(anchor.unwrap_or_else(|| GENESIS.to_owned()))
}

/// Appends an audit record, chained to the one before it (same
/// transaction as the action it records; one writer, so no race).
pub(crate) async fn insert_audit(
    tx: &mut sqlx::SqliteConnection,
    key: &crate::audit::AuditKey,
    a: &AuditRecord,
) -> anyhow::Result<()> {
    let prev = chain_head(&mut *tx).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit (ts_ms, actor, role, action, target, detail) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(a.ts_ms)
    .bind(&a.actor)
    .bind(&a.role)
    .bind(&a.action)
    .bind(&a.target)
    .bind(&a.detail)
    .fetch_one(&mut *tx)
    .await?;
    let record = AuditRecord { id, ..a.clone() };
    let hash = key.link(&prev, &record);
    sqlx::query("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?")
        .bind(&prev)
        .bind(&hash)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Every audit record with its chain columns, oldest first.
async fn chain_rows(conn: &mut sqlx::SqliteConnection) -> anyhow::Result<Vec<ChainRow>> {
    let rows = sqlx::query(
        "SELECT id, ts_ms, actor, role, action, target, detail, prev_hash, hash FROM audit ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| ChainRow {
            record: audit_record(r),
            prev_hash: r.get(7),
            hash: r.get(8),
        })
        .collect())
}

/// Chains records written before the chain existed (schema v4 migration).
pub(crate) async fn rechain_audit(
    tx: &mut sqlx::SqliteConnection,
    key: &crate::audit::AuditKey,
) -> anyhow::Result<()> {
    let mut prev = GENESIS.to_owned();
    for r in chain_rows(&mut *tx).await? {
        let hash = key.link(&prev, &r.record);
        sqlx::query("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?")
            .bind(&prev)
            .bind(&hash)
            .bind(r.record.id)
            .execute(&mut *tx)
            .await?;
        prev = hash;
    }
    Ok(())
}
