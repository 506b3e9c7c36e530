//! The duty (shift) log's rows; every entry is written with its audit
//! record in one transaction.

use shouwang_proto::{DutyEntry, DutyKind};
use sqlx::Row;

use super::audit::insert_audit;
use super::db::Store;
use crate::audit::AuditRecord;

impl Store {
    /// Appends an entry and its audit record in one transaction; returns
    /// the entry's id.
    pub async fn add_duty(&self, e: &DutyEntry, audit: &AuditRecord) -> anyhow::Result<i64> {
        let mut tx = self.writer.begin().await?;
        let r = sqlx::query("INSERT INTO duty_log (ts_ms, actor, kind, text) VALUES (?, ?, ?, ?)")
            .bind(e.ts_ms)
            .bind(&e.actor)
            .bind(e.kind.as_str())
            .bind(&e.text)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut tx, &self.audit_key, audit).await?;
        tx.commit().await?;
        Ok(r.last_insert_rowid())
    }

    /// The newest `limit` entries, newest first.
    pub async fn duty_entries(&self, limit: u32) -> anyhow::Result<Vec<DutyEntry>> {
        let rows = sqlx::query(
            "SELECT id, ts_ms, actor, kind, text FROM duty_log ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| DutyEntry {
                id: r.get(0),
                ts_ms: r.get(1),
                actor: r.get(2),
                kind: DutyKind::parse(r.get::<&str, _>(3)).unwrap_or(DutyKind::Note),
                text: r.get(4),
            })
            .collect())
    }
}
