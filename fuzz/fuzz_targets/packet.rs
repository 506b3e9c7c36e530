//! Frames of any link type through the whole packet analyser: decoding
//! (VLAN, IPv6 extensions, fragments, GRE/ERSPAN), the flow table and the
//! protocol parsers (DNS, TLS, HTTP, SSH, ICMP, ARP, login replies), and
//! the application classifier on the raw input as a TCP and a UDP payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shouwang_packet::app::{AppId, Transport, sniff};
use shouwang_packet::{Analyzer, AnalyzerConfig};

fuzz_target!(|data: &[u8]| {
    std::hint::black_box((sniff(Transport::Tcp, data), sniff(Transport::Udp, data)));
    let mut id = AppId::default();
    for (i, chunk) in data.chunks(61).enumerate() {
        id.observe(Transport::Tcp, chunk, i % 2 == 0);
    }
    std::hint::black_box(id.app());
    // First byte picks the link type, the rest is split into frames.
    let Some((&lt, rest)) = data.split_first() else {
        return;
    };
    let linktype = match lt % 6 {
        0 => 1,   // Ethernet
        1 => 113, // Linux SLL
        2 => 276, // Linux SLL2
        3 => 101, // raw IP
        4 => 0,   // BSD loopback
        _ => 12,  // raw IP (OpenBSD)
    };
    let mut a = Analyzer::new("fuzz", AnalyzerConfig::default());
    let mut ts = 1_700_000_000_000_000_000i64;
    for frame in rest.split(|&b| b == 0xA5) {
        a.frame(ts, linktype, frame);
        ts += 1_000_000;
    }
    a.advance(ts + 600_000_000_000);
    a.finish();
    std::hint::black_box(a.out.len());
});
