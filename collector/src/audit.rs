//! The audit log's hash chain: every record carries the HMAC-SHA256 (keyed
//! with `<data-dir>/audit.key`, created on first use, mode 0600) of the
//! previous record's hash and its own fields. Editing, deleting or
//! reordering a record breaks the chain from there on, and without the key
//! the chain cannot be recomputed. Retention keeps the hash of the last
//! pruned record as the chain's anchor. `shouwang-collector audit verify`
//! walks it.

use std::path::Path;

use anyhow::Context as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

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

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain key.
#[derive(Clone)]
pub struct AuditKey([u8; 32]);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(…)")
    }
}

impl AuditKey {
    /// Reads the key file, creating it (random, mode 0600) if missing.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read(path) {
            Ok(b) => {
                let k: [u8; 32] = b.as_slice().try_into().map_err(|_| {
                    anyhow::anyhow!(
                        "{} is not an audit key (32 bytes expected, found {})",
                        path.display(),
                        b.len()
                    )
                })?;
                Ok(Self(k))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = [0u8; 32];
                getrandom::fill(&mut k).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
                use std::io::Write as _;
                use std::os::unix::fs::OpenOptionsExt as _;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .with_context(|| format!("cannot create the audit key {}", path.display()))?;
                f.write_all(&k)?;
                f.sync_all()?;
                Ok(Self(k))
            }
            Err(e) => {
                Err(e).with_context(|| format!("cannot read the audit key {}", path.display()))
            }
        }
    }

    #[cfg(test)]
    pub fn fixed(b: u8) -> Self {
        Self([b; 32])
    }

    /// The hash of a record (its id and fields) given the previous hash.
    pub fn link(&self, prev: &str, r: &AuditRecord) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable_mac());
        mac.update(prev.as_bytes());
        mac.update(b"\n");
        let canon =
            serde_json::json!([r.id, r.ts_ms, r.actor, r.role, r.action, r.target, r.detail]);
        mac.update(canon.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// HMAC accepts keys of any length; this is never reached.
fn unreachable_mac() -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).unwrap_or_else(|_| unreachable_mac())
}

/// A stored record with its chain columns.
#[derive(Debug, Clone)]
pub struct ChainRow {
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        records: u64,
        head: String,
    },
    Broken {
        id: i64,
        checked: u64,
        reason: String,
    },
}

/// Walks `rows` (ascending id) from `anchor` (the last pruned record's
/// hash, or [`GENESIS`]).
pub fn verify(key: &AuditKey, anchor: (i64, &str), rows: &[ChainRow]) -> Verdict {
    let mut expected = anchor.1.to_owned();
    let mut last_id = anchor.0;
    for (n, row) in rows.iter().enumerate() {
        let r = &row.record;
        let checked = n as u64;
        if r.id <= last_id {
            return Verdict::Broken {
                id: r.id,
                checked,
                reason: format!("record #{} is out of order (after #{last_id})", r.id),
            };
        }
        if row.prev_hash != expected {
            return Verdict::Broken {
                id: r.id,
                checked,
                reason: format!(
                    "record #{} does not follow the record before it (a record was deleted, inserted or its hash rewritten)",
                    r.id
                ),
            };
        }
        let h = key.link(&expected, r);
        if row.hash != h {
            return Verdict::Broken {
                id: r.id,
                checked,
                reason: format!("record #{} was changed after it was written", r.id),
            };
        }
        expected = h;
        last_id = r.id;
    }
    Verdict::Intact {
        records: rows.len() as u64,
        head: expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(key: &AuditKey, n: i64) -> Vec<ChainRow> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|id| {
                let mut r = ChainRow {
                    record: AuditRecord {
                        id,
                        ts_ms: 1000 * id,
                        actor: "duty".into(),
                        role: "operator".into(),
                        action: "ack".into(),
                        target: format!("incident {id}"),
                        detail: String::new(),
                    },
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                r.hash = key.link(&prev, &r.record);
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_any_edit_breaks_it() {
        let key = AuditKey::fixed(7);
        let rows = chain(&key, 5);
        match verify(&key, (0, GENESIS), &rows) {
            Verdict::Intact { records, head } => {
                assert_eq!(records, 5);
                assert_eq!(head, rows[4].hash);
            }
            v @ Verdict::Broken { .. } => panic!("{v:?}"),
        }
        // An edited field.
        let mut edited = rows.clone();
        edited[2].record.action = "resolve".into();
        assert!(matches!(
            verify(&key, (0, GENESIS), &edited),
            Verdict::Broken {
                id: 3,
                checked: 2,
                ..
            }
        ));
        // A deleted record.
        let mut deleted = rows.clone();
        deleted.remove(1);
        assert!(matches!(
            verify(&key, (0, GENESIS), &deleted),
            Verdict::Broken { id: 3, .. }
        ));
        // Recomputed without the key: still caught.
        let other = AuditKey::fixed(8);
        let mut forged = rows.clone();
        forged[4].record.detail = "nothing happened".into();
        forged[4].hash = other.link(&forged[4].prev_hash, &forged[4].record);
        assert!(matches!(
            verify(&key, (0, GENESIS), &forged),
            Verdict::Broken { id: 5, .. }
        ));
        // Pruned up to #2: the anchor carries on.
        assert!(matches!(
            verify(&key, (2, &rows[1].hash), &rows[2..]),
            Verdict::Intact { records: 3, .. }
        ));
    }

    #[test]
    fn the_key_file_is_made_once_private_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.key");
        let a = AuditKey::load_or_create(&p).unwrap();
        let b = AuditKey::load_or_create(&p).unwrap();
        assert_eq!(a.0, b.0);
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(&p, b"short").unwrap();
        let e = AuditKey::load_or_create(&p).unwrap_err().to_string();
        assert!(e.contains("not an audit key"), "{e}");
    }
}
