//! The schema: one list of statements per version, applied in order in
//! one transaction each (`PRAGMA user_version` records how far a file got).

use sqlx::SqlitePool;

use super::audit::rechain_audit;
use crate::audit::AuditKey;

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

/// Brings the database to `SCHEMA_VERSION`; refuses a newer one.
pub(super) async fn migrate(writer: &SqlitePool, audit_key: &AuditKey) -> anyhow::Result<()> {
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(writer)
        .await?;
    if version > SCHEMA_VERSION {
        anyhow::bail!(
            "database schema version {version} is newer than this build understands \
             ({SCHEMA_VERSION}); run a newer shouwang-collector"
        );
    }
    let steps: [(i64, &[&'static str], &'static str); 4] = [
        (1, SCHEMA_V1, "PRAGMA user_version = 1"),
        (2, SCHEMA_V2, "PRAGMA user_version = 2"),
        (3, SCHEMA_V3, "PRAGMA user_version = 3"),
        (4, SCHEMA_V4, "PRAGMA user_version = 4"),
    ];
    for (to, statements, set_version) in steps {
        if version >= to {
            continue;
        }
        let mut tx = writer.begin().await?;
        for stmt in statements {
            sqlx::query(*stmt).execute(&mut *tx).await?;
        }
        if to == 4 {
            // Chain the records written before the chain existed.
            rechain_audit(&mut tx, audit_key).await?;
        }
        sqlx::query(set_version).execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(())
}
