//! Opening the file: WAL mode, one writer, read-only readers, migrations.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::db::Store;
use super::schema::migrate;

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
        migrate(&store_w.writer, &store_w.audit_key).await?;
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

    /// Readiness probe: a trivial query on both pools.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.writer).await?;
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }
}
