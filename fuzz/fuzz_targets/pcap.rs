//! Capture files: legacy pcap (both byte orders, µs and ns) and pcapng,
//! detected by magic. Any input ends with frames or a clear error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shouwang_packet::pcap::read_capture;

fuzz_target!(|data: &[u8]| {
    let mut frames = 0usize;
    let _ = read_capture(std::io::Cursor::new(data), |f| {
        frames += 1;
        std::hint::black_box(f);
    });
    std::hint::black_box(frames);
});
