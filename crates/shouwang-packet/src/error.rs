//! The one error type of this crate: why a capture file could not be read.

/// A capture that could not be read (or read to its end). The text says
/// what is wrong with the bytes; the caller adds which file it was.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The reader itself failed.
    #[error("read failed")]
    Read(#[source] std::io::Error),
    #[error("the file is empty")]
    Empty,
    #[error("unknown magic bytes (neither pcap nor pcapng)")]
    UnknownFormat,
    #[error("the file ends inside the pcap file header")]
    TruncatedHeader,
    /// pcap-parser refused the file header.
    #[error("cannot read the capture header: {0}")]
    Header(String),
    /// A legacy pcap record longer than any real capture holds.
    #[error("corrupt capture after {frames} frames: a record claims {len} bytes (at most {max})")]
    RecordTooLong { frames: u64, len: usize, max: usize },
    /// A block pcap-parser could not read, after `frames` good frames.
    #[error("corrupt capture after {frames} frames: {reason}")]
    Corrupt { frames: u64, reason: String },
}
