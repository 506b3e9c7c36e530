//! Reading capture files: pcap (µs and ns) and pcapng (any `if_tsresol`),
//! told apart by magic bytes, never by file name.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError, create_reader};

/// One captured frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Capture time, ns since the epoch.
    pub ts: i64,
    /// LINKTYPE_* of the interface it was captured on.
    pub linktype: i32,
    /// Length on the wire (may exceed `data.len()` when the capture was cut).
    pub wire_len: u32,
    pub data: &'a [u8],
}

/// What a file held besides frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileSummary {
    pub frames: u64,
    /// pcapng packets naming an interface that was never described.
    pub orphan_frames: u64,
    /// The file ended inside a block (cut short while being written).
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy)]
struct Iface {
    linktype: i32,
    /// Timestamp units per second and offset in seconds.
    units_per_sec: u64,
    offset_secs: i64,
}

fn pcapng_units(tsresol: u8) -> u64 {
    let n = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(n).unwrap_or(1_000_000)
    } else {
        2u64.checked_pow(n).unwrap_or(1_000_000)
    }
}

/// Converts `ticks` at `units_per_sec` to ns, without overflow for any
/// plausible capture date.
fn ticks_to_ns(ticks: u64, units_per_sec: u64, offset_secs: i64) -> i64 {
    let units = units_per_sec.max(1);
    let secs = ticks / units;
    let frac = ticks % units;
    let frac_ns = u128::from(frac) * 1_000_000_000 / u128::from(units);
    let ns = i128::from(secs) * 1_000_000_000
        + i128::try_from(frac_ns).unwrap_or(0)
        + i128::from(offset_secs) * 1_000_000_000;
    i64::try_from(ns).unwrap_or(i64::MAX)
}

/// Reads every frame of `path`, calling `f` for each.
pub fn read_file(path: &Path, f: impl FnMut(Frame<'_>)) -> anyhow::Result<FileSummary> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    read_capture(std::io::BufReader::with_capacity(1 << 20, file), f)
        .with_context(|| format!("{} is not a readable pcap or pcapng file", path.display()))
}

/// Reads a capture from any reader.
pub fn read_capture<R: Read + Send>(
    reader: R,
    mut f: impl FnMut(Frame<'_>),
) -> anyhow::Result<FileSummary> {
    let mut rd = match create_reader(1 << 20, reader) {
        Ok(r) => r,
        Err(PcapError::Eof) => bail!("the file is empty"),
        Err(PcapError::HeaderNotRecognized) => {
            bail!("unknown magic bytes (neither pcap nor pcapng)")
        }
        Err(e) => bail!("cannot read the capture header: {e:?}"),
    };
    let mut summary = FileSummary::default();
    // Legacy pcap: one interface. pcapng: interfaces per section.
    let mut legacy: Option<Iface> = None;
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut last_ts: i64 = 0;
    loop {
        match rd.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy = Some(Iface {
                            linktype: h.network.0,
                            units_per_sec: if h.is_nanosecond_precision() {
                                1_000_000_000
                            } else {
                                1_000_000
                            },
                            offset_secs: i64::from(h.thiszone),
                        });
                    }
                    PcapBlockOwned::Legacy(b) => {
                        if let Some(i) = legacy {
                            let sub = if i.units_per_sec == 1_000_000_000 {
                                1
                            } else {
                                1000
                            };
                            let ts = (i64::from(b.ts_sec) + i.offset_secs) * 1_000_000_000
                                + i64::from(b.ts_usec) * sub;
                            last_ts = ts;
                            summary.frames += 1;
                            f(Frame {
                                ts,
                                linktype: i.linktype,
                                wire_len: b.origlen,
                                data: b.data,
                            });
                        }
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => ifaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => ifaces.push(Iface {
                        linktype: idb.linktype.0,
                        units_per_sec: pcapng_units(idb.if_tsresol),
                        offset_secs: idb.if_tsoffset,
                    }),
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        match ifaces.get(epb.if_id as usize) {
                            Some(i) => {
                                let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                                let ts = ticks_to_ns(ticks, i.units_per_sec, i.offset_secs);
                                last_ts = ts;
                                summary.frames += 1;
                                let len = (epb.caplen as usize).min(epb.data.len());
                                f(Frame {
                                    ts,
                                    linktype: i.linktype,
                                    wire_len: epb.origlen,
                                    data: epb.data.get(..len).unwrap_or_default(),
                                });
                            }
                            None => summary.orphan_frames += 1,
                        }
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => match ifaces.first() {
                        // No timestamp in a simple packet block: keep the last one.
                        Some(i) => {
                            summary.frames += 1;
                            f(Frame {
                                ts: last_ts,
                                linktype: i.linktype,
                                wire_len: spb.origlen,
                                data: spb.data,
                            });
                        }
                        None => summary.orphan_frames += 1,
                    },
                    PcapBlockOwned::NG(_) => {}
                }
                rd.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if rd.refill().is_err() {
                    summary.truncated = true;
                    break;
                }
            }
            Err(PcapError::UnexpectedEof) => {
                summary.truncated = true;
                break;
            }
            Err(e) => bail!("corrupt capture after {} frames: {e:?}", summary.frames),
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_header(magic: u32, linktype: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend(magic.to_le_bytes());
        h.extend(2u16.to_le_bytes());
        h.extend(4u16.to_le_bytes());
        h.extend(0i32.to_le_bytes());
        h.extend(0u32.to_le_bytes());
        h.extend(65535u32.to_le_bytes());
        h.extend(linktype.to_le_bytes());
        h
    }

    fn pcap_record(sec: u32, frac: u32, data: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend(sec.to_le_bytes());
        r.extend(frac.to_le_bytes());
        r.extend((data.len() as u32).to_le_bytes());
        r.extend((data.len() as u32 + 10).to_le_bytes());
        r.extend(data);
        r
    }

    type Frames = Vec<(i64, i32, u32, Vec<u8>)>;

    fn frames(bytes: &[u8]) -> (Frames, FileSummary) {
        let mut out = Vec::new();
        let s = read_capture(bytes, |f| {
            out.push((f.ts, f.linktype, f.wire_len, f.data.to_vec()))
        })
        .unwrap();
        (out, s)
    }

    #[test]
    fn pcap_micro_and_nano() {
        let mut us = pcap_header(0xa1b2_c3d4, 1);
        us.extend(pcap_record(1_000_000_000, 250_000, b"abc"));
        let (f, s) = frames(&us);
        assert_eq!(s.frames, 1);
        assert_eq!(f[0], (1_000_000_000_250_000_000, 1, 13, b"abc".to_vec()));

        let mut ns = pcap_header(0xa1b2_3c4d, 101);
        ns.extend(pcap_record(1_000_000_000, 250, b"x"));
        let (f, _) = frames(&ns);
        assert_eq!((f[0].0, f[0].1), (1_000_000_000_000_000_250, 101));
    }

    #[test]
    fn cut_short_file_keeps_whole_frames() {
        let mut b = pcap_header(0xa1b2_c3d4, 1);
        b.extend(pcap_record(1, 0, b"first"));
        let rec = pcap_record(2, 0, b"second frame");
        b.extend(&rec[..rec.len() - 4]);
        let (f, s) = frames(&b);
        assert_eq!(f.len(), 1);
        assert!(s.truncated);
    }

    #[test]
    fn pcapng_resolutions() {
        assert_eq!(pcapng_units(6), 1_000_000);
        assert_eq!(pcapng_units(9), 1_000_000_000);
        assert_eq!(pcapng_units(0x80 | 10), 1024);
        assert_eq!(ticks_to_ns(1_500, 1000, 0), 1_500_000_000);
        assert_eq!(ticks_to_ns(3, 2, 10), 11_500_000_000);
    }

    #[test]
    fn not_a_capture_is_a_clear_error() {
        let err = read_capture(
            &b"GET / HTTP/1.1\r\n\r\nmore bytes here to fill"[..],
            |_| {},
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("neither pcap nor pcapng"),
            "{err:#}"
        );
        let err = read_capture(&b""[..], |_| {}).unwrap_err();
        assert!(format!("{err:#}").contains("empty"), "{err:#}");
    }

    proptest::proptest! {
        #[test]
        fn random_and_mutated_files_never_panic(
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
            flip in 0usize..60,
        ) {
            let mut b = pcap_header(0xa1b2_c3d4, 1);
            b.extend(pcap_record(1, 0, b"0123456789"));
            b.extend(&tail);
            let i = flip % b.len();
            b[i] ^= 0x5a;
            let _ = read_capture(&b[..], |_| {});
            let _ = read_capture(&tail[..], |_| {});
        }
    }
}
