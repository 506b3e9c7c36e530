//! The handle: one writer connection and a pool of readers on one file
//! (opened in `open.rs`).

use sqlx::sqlite::SqlitePool;

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    /// Keys the audit log's hash chain.
    pub(crate) audit_key: crate::audit::AuditKey,
}
