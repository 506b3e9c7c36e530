//! Incidents, timelines, silences, exceptions, audit records and API tokens
//! in the collector's SQLite file (tables from schema version 2).

use anyhow::Context;
use shouwang_proto::{Incident, IncidentState, Matcher, Severity, Silence, TimelineEntry};
use sqlx::Row;

use super::book::{Change, Exception};
use crate::store::Store;

fn sev_rank(s: Severity) -> i64 {
    Severity::ALL
        .iter()
        .position(|x| *x == s)
        .map_or(0, |p| p as i64)
}

/// Writes incident changes (upsert plus timeline entries) in a transaction.
/// Writers may commit out of order; an older revision never overwrites a
/// newer one.
pub async fn write_changes(
    tx: &mut sqlx::SqliteConnection,
    changes: &[Change],
) -> anyhow::Result<()> {
    for c in changes {
        let i = &c.incident;
        sqlx::query(
            "INSERT INTO incidents (id, fingerprint, rule, severity, state, exercise, opened_ms, updated_ms, resolved_ms, rev, body)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, state = excluded.state,
               exercise = excluded.exercise, opened_ms = excluded.opened_ms, updated_ms = excluded.updated_ms,
               resolved_ms = excluded.resolved_ms, rev = excluded.rev, body = excluded.body
             WHERE excluded.rev > incidents.rev",
        )
        .bind(i.id)
        .bind(&i.fingerprint)
        .bind(&i.rule)
        .bind(sev_rank(i.severity))
        .bind(i.state.as_str())
        .bind(i.exercise.as_deref())
        .bind(i.opened_ms)
        .bind(i.updated_ms)
        .bind(i.resolved_ms)
        .bind(i64::try_from(i.rev).unwrap_or(i64::MAX))
        .bind(serde_json::to_string(i)?)
        .execute(&mut *tx)
        .await?;
        if let Some(t) = &c.timeline {
            sqlx::query("INSERT INTO incident_timeline (incident_id, ts_ms, actor, action, text) VALUES (?, ?, ?, ?, ?)")
                .bind(i.id)
                .bind(t.ts_ms)
                .bind(&t.actor)
                .bind(&t.action)
                .bind(&t.text)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    pub ts_ms: i64,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// Filter for listing incidents.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub state: Option<IncidentState>,
    /// Not resolved (open or acknowledged).
    pub active: bool,
    pub min_severity: Option<Severity>,
    pub rule: Option<String>,
    pub exercise: Option<String>,
    /// Only incidents with id below this (pagination, newest first).
    pub before: Option<i64>,
    pub limit: u32,
}

fn parse_incident(body: &str) -> anyhow::Result<Incident> {
    serde_json::from_str(body).context("stored incident does not parse")
}

impl Store {
    /// Incidents that are not resolved, or were resolved after `since_ms`
    /// (they may still reopen).
    pub async fn live_incidents(&self, since_ms: i64) -> anyhow::Result<Vec<Incident>> {
        let rows = sqlx::query(
            "SELECT body FROM incidents WHERE state != 'resolved' OR resolved_ms >= ? ORDER BY id",
        )
        .bind(since_ms)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| parse_incident(r.get::<&str, _>(0)))
            .collect()
    }

    pub async fn max_incident_id(&self) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM incidents")
                .fetch_one(&self.reader)
                .await?
                .unwrap_or(0),
        )
    }

    pub async fn incidents(&self, f: &IncidentFilter) -> anyhow::Result<Vec<Incident>> {
        let mut q =
            sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT body FROM incidents WHERE 1 = 1");
        if let Some(s) = f.state {
            q.push(" AND state = ").push_bind(s.as_str());
        }
        if f.active {
            q.push(" AND state != 'resolved'");
        }
        if let Some(s) = f.min_severity {
            q.push(" AND severity >= ").push_bind(sev_rank(s));
        }
        if let Some(r) = &f.rule {
            q.push(" AND rule = ").push_bind(r.clone());
        }
        if let Some(x) = &f.exercise {
            q.push(" AND exercise = ").push_bind(x.clone());
        }
        if let Some(b) = f.before {
            q.push(" AND id < ").push_bind(b);
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(f.limit.clamp(1, 1000)));
        let rows = q.build().fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| parse_incident(r.get::<&str, _>(0)))
            .collect()
    }

    pub async fn incident(
        &self,
        id: i64,
    ) -> anyhow::Result<Option<(Incident, Vec<TimelineEntry>)>> {
        let Some(body) = sqlx::query_scalar::<_, String>("SELECT body FROM incidents WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?
        else {
            return Ok(None);
        };
        let rows = sqlx::query("SELECT ts_ms, actor, action, text FROM incident_timeline WHERE incident_id = ? ORDER BY id")
            .bind(id)
            .fetch_all(&self.reader)
            .await?;
        let timeline = rows
            .iter()
            .map(|r| TimelineEntry {
                ts_ms: r.get(0),
                actor: r.get(1),
                action: r.get(2),
                text: r.get(3),
            })
            .collect();
        Ok(Some((parse_incident(&body)?, timeline)))
    }

    /// An operator action: its incident changes, the exception it made (if
    /// any, returned with its id) and the audit record, in one transaction.
    pub async fn commit_action(
        &self,
        changes: &[Change],
        exception: Option<&Exception>,
        audit: &AuditRecord,
    ) -> anyhow::Result<Option<i64>> {
        let mut tx = self.writer.begin().await?;
        write_changes(&mut tx, changes).await?;
        let mut exc_id = None;
        if let Some(e) = exception {
            let r = sqlx::query(
                "INSERT INTO exceptions (rule, group_key, created_ms, expires_ms, created_by, incident_id, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&e.rule)
            .bind(&e.group)
            .bind(e.created_ms)
            .bind(e.expires_ms)
            .bind(&e.created_by)
            .bind(e.incident_id)
            .bind(&e.reason)
            .execute(&mut *tx)
            .await?;
            exc_id = Some(r.last_insert_rowid());
        }
        insert_audit(&mut tx, &self.audit_key, audit).await?;
        tx.commit().await?;
        Ok(exc_id)
    }

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

    /// Adds a silence and its audit record; returns the silence with its id.
    pub async fn add_silence(
        &self,
        mut s: Silence,
        audit: &AuditRecord,
    ) -> anyhow::Result<Silence> {
        let mut tx = self.writer.begin().await?;
        let r = sqlx::query("INSERT INTO silences (created_ms, expires_ms, created_by, comment, matchers) VALUES (?, ?, ?, ?, ?)")
            .bind(s.created_ms)
            .bind(s.expires_ms)
            .bind(&s.created_by)
            .bind(&s.comment)
            .bind(serde_json::to_string(&s.matchers)?)
            .execute(&mut *tx)
            .await?;
        s.id = r.last_insert_rowid();
        let mut audit = audit.clone();
        audit.target = format!("silence {}", s.id);
        insert_audit(&mut tx, &self.audit_key, &audit).await?;
        tx.commit().await?;
        Ok(s)
    }

    /// Ends a silence now; false when there is none with that id.
    pub async fn expire_silence(
        &self,
        id: i64,
        now_ms: i64,
        audit: &AuditRecord,
    ) -> anyhow::Result<bool> {
        let mut tx = self.writer.begin().await?;
        let r = sqlx::query("UPDATE silences SET expires_ms = MIN(expires_ms, ?) WHERE id = ?")
            .bind(now_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, &self.audit_key, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Silences not yet expired at `now_ms`.
    pub async fn silences(&self, now_ms: i64) -> anyhow::Result<Vec<Silence>> {
        let rows = sqlx::query("SELECT id, created_ms, expires_ms, created_by, comment, matchers FROM silences WHERE expires_ms > ? ORDER BY id")
            .bind(now_ms)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| {
                let matchers: Vec<Matcher> = serde_json::from_str(r.get::<&str, _>(5))?;
                Ok(Silence {
                    id: r.get(0),
                    created_ms: r.get(1),
                    expires_ms: r.get(2),
                    created_by: r.get(3),
                    comment: r.get(4),
                    matchers,
                })
            })
            .collect()
    }

    /// Exceptions not yet expired at `now_ms`.
    pub async fn exceptions(&self, now_ms: i64) -> anyhow::Result<Vec<Exception>> {
        let rows = sqlx::query(
            "SELECT id, rule, group_key, created_ms, expires_ms, created_by, incident_id, reason FROM exceptions WHERE expires_ms > ? ORDER BY id",
        )
        .bind(now_ms)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Exception {
                id: r.get(0),
                rule: r.get(1),
                group: r.get(2),
                created_ms: r.get(3),
                expires_ms: r.get(4),
                created_by: r.get(5),
                incident_id: r.get(6),
                reason: r.get(7),
            })
            .collect())
    }

    /// Writes changes that no batch carries (escalations).
    pub async fn write_incident_changes(&self, changes: &[Change]) -> anyhow::Result<()> {
        let mut tx = self.writer.begin().await?;
        write_changes(&mut tx, changes).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes resolved incidents (with their timelines) resolved before
    /// `cutoff_ms`, and audit records older than it.
    pub async fn prune_incidents(&self, cutoff_ms: i64) -> anyhow::Result<u64> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM incident_timeline WHERE incident_id IN (SELECT id FROM incidents WHERE state = 'resolved' AND resolved_ms < ?)")
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM incidents WHERE state = 'resolved' AND resolved_ms < ?")
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // The chain goes on from the last pruned record's hash.
        let last: Option<(i64, String)> = sqlx::query_as(
            "SELECT id, hash FROM audit WHERE id = (SELECT MAX(id) FROM audit WHERE ts_ms < ?)",
        )
        .bind(cutoff_ms)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((last_id, hash)) = last {
            sqlx::query("DELETE FROM audit WHERE id <= ?")
                .bind(last_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO audit_anchor (id, last_id, hash) VALUES (1, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET last_id = excluded.last_id, hash = excluded.hash",
            )
            .bind(last_id)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM silences WHERE expires_ms < ?")
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM exceptions WHERE expires_ms < ?")
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

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
    Ok(anchor.unwrap_or_else(|| crate::audit::GENESIS.to_owned()))
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
async fn chain_rows(
    conn: &mut sqlx::SqliteConnection,
) -> anyhow::Result<Vec<crate::audit::ChainRow>> {
    let rows = sqlx::query(
        "SELECT id, ts_ms, actor, role, action, target, detail, prev_hash, hash FROM audit ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| crate::audit::ChainRow {
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
    let mut prev = crate::audit::GENESIS.to_owned();
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

impl Store {
    /// Walks the audit log's hash chain (`audit verify`).
    pub async fn verify_audit(&self) -> anyhow::Result<crate::audit::Verdict> {
        let mut conn = self.reader.acquire().await?;
        let anchor: Option<(i64, String)> =
            sqlx::query_as("SELECT last_id, hash FROM audit_anchor WHERE id = 1")
                .fetch_optional(&mut *conn)
                .await?;
        let (last_id, hash) = anchor.unwrap_or((0, crate::audit::GENESIS.to_owned()));
        let rows = chain_rows(&mut conn).await?;
        Ok(crate::audit::verify(
            &self.audit_key,
            (last_id, &hash),
            &rows,
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::incidents::ChangeKind;
    use shouwang_proto::{Bilingual, Resolution};

    fn inc(rev: u64, state: IncidentState) -> Incident {
        Incident {
            id: 1,
            fingerprint: "r/g".into(),
            rule: "r".into(),
            title: Bilingual::default(),
            description: Bilingual::default(),
            severity: Severity::High,
            attack: vec![],
            group: "g".into(),
            state,
            resolution: (state == IncidentState::Resolved).then_some(Resolution::Operator),
            count: rev,
            detections: rev,
            first_ts: 0,
            last_ts: 0,
            opened_ms: 0,
            updated_ms: 0,
            rev,
            acked_ms: None,
            resolved_ms: None,
            assignee: None,
            agents: vec![],
            exercise: None,
            evidence: vec![],
            escalated: false,
            silenced: false,
            reopened: 0,
        }
    }

    #[tokio::test]
    async fn an_older_revision_never_overwrites_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).await.unwrap();
        let ch = |rev, state| Change {
            kind: ChangeKind::Updated,
            incident: inc(rev, state),
            timeline: None,
        };
        s.write_incident_changes(&[ch(1, IncidentState::Open)])
            .await
            .unwrap();
        s.write_incident_changes(&[ch(3, IncidentState::Resolved)])
            .await
            .unwrap();
        s.write_incident_changes(&[ch(2, IncidentState::Acknowledged)])
            .await
            .unwrap();
        let (got, _) = s.incident(1).await.unwrap().unwrap();
        assert_eq!((got.rev, got.state), (3, IncidentState::Resolved));
    }
}
