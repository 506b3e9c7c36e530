//! Capture files by path: opens the file and hands it to the format reader
//! of the packet core ([`shouwang_packet::pcap`]), which tells pcap from
//! pcapng by magic bytes.

use std::path::Path;

use anyhow::Context;
use shouwang_packet::pcap::{FileSummary, Frame, read_capture};

/// Reads every frame of `path`, calling `f` for each.
pub fn read_file(path: &Path, f: impl FnMut(Frame<'_>)) -> anyhow::Result<FileSummary> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    read_capture(file, f)
        .with_context(|| format!("{} is not a readable pcap or pcapng file", path.display()))
}
