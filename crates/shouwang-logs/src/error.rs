//! The crate's one error type.

/// Names `Format::parse` accepts (the first of each is canonical).
pub const FORMAT_NAMES: &[&str] = &["auth", "journal", "journal-json"];

/// Errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("unknown log format {0:?}: use one of {list}", list = FORMAT_NAMES.join(", "))]
    UnknownFormat(String),
    #[error("not a journald JSON record: {0}")]
    Json(String),
}
