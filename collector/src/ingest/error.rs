//! Why an ingest request was refused, as an HTTP status's error code.

use shouwang_proto::body::BodyError;

use super::admit;

/// Why a request was refused; maps to an HTTP status and error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    UnsupportedEncoding(String),
    #[error("{0}")]
    Unavailable(String),
    /// Every ingest slot is taken (429).
    #[error("{0}")]
    Overloaded(String),
    /// Resident memory is near `ingest.memory-limit-bytes` (503).
    #[error("{0}")]
    MemoryHigh(String),
}

impl IngestError {
    /// Metric label and JSON error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::TooLarge(_) => "too_large",
            Self::Malformed(_) => "malformed",
            Self::Invalid(_) => "invalid",
            Self::UnsupportedEncoding(_) => "unsupported_encoding",
            Self::Unavailable(_) => "unavailable",
            Self::Overloaded(_) => "overloaded",
            Self::MemoryHigh(_) => "memory_high",
        }
    }

    /// Seconds the agent should wait before sending again, for refusals
    /// that are about load rather than the batch.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Overloaded(_) => Some(admit::BUSY_RETRY_AFTER_SECS),
            Self::MemoryHigh(_) | Self::Unavailable(_) => Some(admit::MEMORY_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl From<BodyError> for IngestError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge(m) => Self::TooLarge(m),
            BodyError::Malformed(m) => Self::Malformed(m),
        }
    }
}
