//! Incidents, timelines, silences and exceptions in the collector's SQLite
//! file (tables from schema version 2).

use anyhow::Context;
use shouwang_proto::{Incident, IncidentState, Matcher, Severity, Silence, TimelineEntry};
use sqlx::Row;

use super::audit::insert_audit;
use super::db::Store;
use crate::audit::AuditRecord;
use crate::incidents::book::{Change, Exception};

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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::incidents::book::ChangeKind;
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
            first_seen: None,
            detection_delay_ms: None,
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
