//! The ingest request body: JSON, optionally one zstd frame, decoded within
//! a byte limit so a decompression bomb costs at most the limit (plus a
//! bounded window). Behind the `body` feature (it links zstd): the collector
//! uses it to read requests, the fuzz target `ingest` to attack it.

use std::io::Read;

use crate::Batch;

/// Why a body was refused before it became a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Larger than the limit, compressed or not.
    #[error("{0}")]
    TooLarge(String),
    /// Not zstd, or not a batch.
    #[error("{0}")]
    Malformed(String),
}

impl BodyError {
    /// The API's error code for this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "too_large",
            Self::Malformed(_) => "malformed",
        }
    }
}

/// Largest zstd window a streamed body may use (2 MiB). Agents compress each
/// batch in one shot, so the frame carries its size and needs no window; a
/// frame asking for more is refused instead of allocating it.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 21;

/// Decompresses `body` into at most `max` bytes, with memory bounded by
/// `max` plus the window above.
pub fn decompress_bounded(body: &[u8], max: usize) -> Result<Vec<u8>, BodyError> {
    let too_large = || BodyError::TooLarge(format!("body exceeds {max} bytes after decompression"));
    let malformed =
        |e: std::io::Error| BodyError::Malformed(format!("body is not valid zstd: {e}"));
    // The frame header says how large the content is: refuse a bomb before
    // inflating any of it, and otherwise decompress into one exact buffer.
    if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(body) {
        if size > max as u64 {
            return Err(too_large());
        }
        let mut out = Vec::with_capacity(usize::try_from(size).map_err(|_| too_large())?);
        let mut d = zstd::bulk::Decompressor::new().map_err(malformed)?;
        if d.decompress_to_buffer(body, &mut out).is_ok() {
            return Ok(out);
        }
        // Several frames, or a header that lies: fall through to streaming.
    }
    let mut decoder = zstd::stream::read::Decoder::new(body).map_err(malformed)?;
    decoder
        .window_log_max(ZSTD_WINDOW_LOG_MAX)
        .map_err(malformed)?;
    let mut out = Vec::new();
    decoder
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(malformed)?;
    if out.len() > max {
        return Err(too_large());
    }
    Ok(out)
}

/// Decompresses within `max` bytes and parses a batch.
pub fn decode_body(body: &[u8], zstd: bool, max: usize) -> Result<Batch, BodyError> {
    let owned;
    let json: &[u8] = if zstd {
        owned = decompress_bounded(body, max)?;
        &owned
    } else {
        if body.len() > max {
            return Err(BodyError::TooLarge(format!("body exceeds {max} bytes")));
        }
        body
    };
    serde_json::from_slice(json)
        .map_err(|e| BodyError::Malformed(format!("batch is not valid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_bomb_is_refused_without_inflating_it_all() {
        let big = vec![b' '; 10 * 1024 * 1024];
        let compressed = zstd::bulk::compress(&big, 3).unwrap();
        assert!(compressed.len() < 4096);
        let err = decode_body(&compressed, true, 1024 * 1024).unwrap_err();
        assert_eq!(err.code(), "too_large");
    }

    #[test]
    fn streamed_bombs_and_huge_windows_are_refused() {
        use std::io::Write;
        // Streaming encoder: no content size in the header.
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.include_contentsize(false).unwrap();
        enc.write_all(&vec![b' '; 5 * 1024 * 1024]).unwrap();
        let streamed = enc.finish().unwrap();
        assert_eq!(
            decompress_bounded(&streamed, 1024 * 1024)
                .unwrap_err()
                .code(),
            "too_large"
        );
        // A frame wanting a 128 MiB window is refused, not allocated.
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.include_contentsize(false).unwrap();
        enc.window_log(27).unwrap();
        enc.long_distance_matching(true).unwrap();
        enc.write_all(&vec![b'x'; 3 * 1024 * 1024]).unwrap();
        let wide = enc.finish().unwrap();
        assert_eq!(
            decompress_bounded(&wide, 64 * 1024 * 1024)
                .unwrap_err()
                .code(),
            "malformed"
        );
        // Ordinary agent bodies still decode.
        let ok = zstd::bulk::compress(b"{}", 3).unwrap();
        assert_eq!(decompress_bounded(&ok, 10).unwrap(), b"{}");
    }

    #[test]
    fn garbage_is_malformed_with_location() {
        let err = decode_body(b"{\"version\":1,", false, 1000).unwrap_err();
        assert_eq!(err.code(), "malformed");
        assert!(err.to_string().contains("line 1"), "{err}");
        let err = decode_body(b"\x28\xb5\x2f\xfd garbage", true, 1000).unwrap_err();
        assert_eq!(err.code(), "malformed");
    }

    proptest::proptest! {
        #[test]
        fn random_bodies_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..600), z in proptest::bool::ANY) {
            let _ = decode_body(&b, z, 1 << 16);
        }
    }
}
