//! The packet core of shouwang (守望): parse → aggregate, on bytes only.
//!
//! Frames go in as `(capture time, LINKTYPE_*, &[u8])`; events
//! ([`shouwang_proto::Event`]) come out. [`decode`] takes link layers, VLAN,
//! IPv6 extension headers, fragment reassembly and GRE/ERSPAN apart;
//! [`flow`] is the flow table (`ingest(packet)`, `expire(now)`); [`app`]
//! names each flow's application protocol from its first payload bytes in
//! either direction (never from its ports); [`fanout`] counts scans, sweeps
//! and floods per packet and reports them every second of capture time,
//! without waiting for flows to end; [`meta`]
//! reads protocol metadata (DNS, TLS ClientHello and JA4, HTTP/1, SSH
//! banners, login replies, entropy); [`echo`] pairs ICMP echo replies with
//! their requests per flow (payload echoed or not, totals); [`Analyzer`] ties them together and
//! asks its caller whether to keep each decoded flow (sampling), so a frame
//! is parsed once. [`pcap`] reads the pcap and pcapng *formats* from any
//! [`std::io::Read`]. Everything runs on capture time: a capture of an
//! attack replays exactly like the attack did live.
//!
//! Deliberately not here, and not depended on: capture sockets and rings,
//! opening files, clocks, threads and async runtimes (no tokio, no pnet, no
//! libc, no sqlx, no anyhow). The agent is the edge that feeds this crate
//! bytes from a live interface or a file; the fuzz targets feed it directly.

pub mod analyzer;
pub mod app;
pub mod decode;
pub mod echo;
mod error;
pub mod fanout;
pub mod flow;
pub mod meta;
pub mod pcap;

pub use analyzer::{Analyzer, AnalyzerConfig};
pub use error::Error;
