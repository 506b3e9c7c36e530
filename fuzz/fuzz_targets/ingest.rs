//! The ingest decoder: an untrusted request body, plain or zstd, within the
//! collector's decompression limit, into a validated batch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shouwang_proto::body::decode_body;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    // Small limit so decompression bombs are exercised, not just refused
    // by size.
    if let Ok(batch) = decode_body(body, mode & 1 == 1, 1 << 20) {
        let _ = batch.validate();
    }
});
