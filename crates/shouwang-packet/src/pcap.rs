//! The capture-file formats: pcap (µs and ns, either byte order) and
//! pcapng (any `if_tsresol`), told apart by magic bytes, never by file name,
//! read from any [`std::io::Read`]. Opening files is the caller's business.

use std::io::Read;

use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError, create_reader};

use crate::error::Error;

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

/// Reads a capture from any reader, calling `f` for each frame.
pub fn read_capture<R: Read + Send>(
    mut reader: R,
    f: impl FnMut(Frame<'_>),
) -> Result<FileSummary, Error> {
    let mut magic = [0u8; 4];
    let got = read_full(&mut reader, &mut magic)?;
    if got == 0 {
        return Err(Error::Empty);
    }
    if got == 4
        && let Some(order) = LegacyOrder::of(magic)
    {
        return read_legacy(reader, order, f);
    }
    let prefix = std::io::Cursor::new(magic.get(..got).unwrap_or_default().to_vec());
    read_with_parser(Filling(prefix.chain(reader)), f)
}

/// Makes every `read` fill the buffer unless the input ends: pcap-parser
/// takes a short read of its first buffer (as a chain gives at the seam)
/// for the whole file.
struct Filling<R>(R);

impl<R: Read> Read for Filling<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        fill(&mut self.0, buf)
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn fill<R: Read>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, Error> {
    fill(reader, buf).map_err(Error::Read)
}

/// Byte order and timestamp unit of a legacy pcap file, from its magic.
#[derive(Debug, Clone, Copy)]
struct LegacyOrder {
    big_endian: bool,
    nanos: bool,
}

impl LegacyOrder {
    fn of(magic: [u8; 4]) -> Option<Self> {
        let (le, be) = (u32::from_le_bytes(magic), u32::from_be_bytes(magic));
        match (le, be) {
            (0xa1b2_c3d4, _) => Some(Self {
                big_endian: false,
                nanos: false,
            }),
            (0xa1b2_3c4d, _) => Some(Self {
                big_endian: false,
                nanos: true,
            }),
            (_, 0xa1b2_c3d4) => Some(Self {
                big_endian: true,
                nanos: false,
            }),
            (_, 0xa1b2_3c4d) => Some(Self {
                big_endian: true,
                nanos: true,
            }),
            _ => None,
        }
    }

    fn u32_at(self, b: &[u8], at: usize) -> u32 {
        let mut w = [0u8; 4];
        if let Some(s) = b.get(at..at + 4) {
            w.copy_from_slice(s);
        }
        if self.big_endian {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        }
    }
}

/// Largest record a legacy pcap may hold; a bigger length field means the
/// file is corrupt (libpcap refuses records over 256 KiB for the same reason).
const MAX_LEGACY_RECORD: usize = 256 * 1024;
/// Read buffer of the legacy reader.
const LEGACY_BUF: usize = 1 << 20;

/// Legacy pcap, read straight from one buffer: the 16-byte record header is
/// two loads and two compares, and each frame is handed out in place.
fn read_legacy<R: Read>(
    mut reader: R,
    order: LegacyOrder,
    mut f: impl FnMut(Frame<'_>),
) -> Result<FileSummary, Error> {
    let mut summary = FileSummary::default();
    // The rest of the 24-byte global header (the magic is read already).
    let mut hdr = [0u8; 20];
    if read_full(&mut reader, &mut hdr)? < hdr.len() {
        return Err(Error::TruncatedHeader);
    }
    let thiszone = i64::from(order.u32_at(&hdr, 4) as i32);
    let linktype = i32::try_from(order.u32_at(&hdr, 16) & 0x0fff_ffff).unwrap_or(0);
    let sub: i64 = if order.nanos { 1 } else { 1000 };
    let mut buf = vec![0u8; LEGACY_BUF];
    let (mut start, mut end) = (0usize, 0usize);
    let mut eof = false;
    loop {
        // Hand out every whole record in the buffer.
        loop {
            let avail = buf.get(start..end).unwrap_or_default();
            if avail.len() < 16 {
                break;
            }
            let caplen = order.u32_at(avail, 8) as usize;
            if caplen > MAX_LEGACY_RECORD {
                return Err(Error::RecordTooLong {
                    frames: summary.frames,
                    len: caplen,
                    max: MAX_LEGACY_RECORD,
                });
            }
            let Some(data) = avail.get(16..16 + caplen) else {
                break;
            };
            let ts = (i64::from(order.u32_at(avail, 0)) + thiszone) * 1_000_000_000
                + i64::from(order.u32_at(avail, 4)) * sub;
            summary.frames += 1;
            f(Frame {
                ts,
                linktype,
                wire_len: order.u32_at(avail, 12),
                data,
            });
            start += 16 + caplen;
        }
        if eof {
            if start < end {
                summary.truncated = true;
            }
            return Ok(summary);
        }
        // Move the partial record to the front and read more behind it.
        buf.copy_within(start..end, 0);
        end -= start;
        start = 0;
        let n = read_full(&mut reader, buf.get_mut(end..).unwrap_or_default())?;
        eof = n == 0 || end + n < buf.len();
        end += n;
    }
}

/// pcapng (and anything not legacy pcap), through pcap-parser.
fn read_with_parser<R: Read + Send>(
    reader: R,
    mut f: impl FnMut(Frame<'_>),
) -> Result<FileSummary, Error> {
    let mut rd = match create_reader(1 << 20, reader) {
        Ok(r) => r,
        Err(PcapError::Eof) => return Err(Error::Empty),
        Err(PcapError::HeaderNotRecognized) => return Err(Error::UnknownFormat),
        Err(e) => return Err(Error::Header(format!("{e:?}"))),
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
            Err(e) => {
                return Err(Error::Corrupt {
                    frames: summary.frames,
                    reason: format!("{e:?}"),
                });
            }
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

    /// A reader that hands out at most 7 bytes a call, so records straddle
    /// every read.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn records_split_across_reads_and_buffers() {
        let mut b = pcap_header(0xa1b2_c3d4, 1);
        // Enough records to pass the 1 MiB buffer boundary several times.
        let payload = vec![0xabu8; 1500];
        for i in 0..2000u32 {
            b.extend(pcap_record(i, 0, &payload));
        }
        let mut n = 0u32;
        let s = read_capture(Trickle(&b), |f| {
            assert_eq!(f.ts, i64::from(n) * 1_000_000_000);
            assert_eq!(f.data, &payload[..]);
            n += 1;
        })
        .unwrap();
        assert_eq!((n, s.frames, s.truncated), (2000, 2000, false));
    }

    #[test]
    fn big_endian_pcap() {
        let mut b = Vec::new();
        b.extend(0xa1b2_c3d4u32.to_be_bytes());
        b.extend(2u16.to_be_bytes());
        b.extend(4u16.to_be_bytes());
        b.extend(3600i32.to_be_bytes());
        b.extend(0u32.to_be_bytes());
        b.extend(65535u32.to_be_bytes());
        b.extend(1u32.to_be_bytes());
        for v in [5u32, 7, 2, 60] {
            b.extend(v.to_be_bytes());
        }
        b.extend(b"hi");
        let (f, s) = frames(&b);
        assert_eq!(s.frames, 1);
        assert_eq!(
            f[0],
            ((5 + 3600) * 1_000_000_000 + 7000, 1, 60, b"hi".to_vec())
        );
    }

    #[test]
    fn absurd_record_length_is_a_corrupt_file() {
        let mut b = pcap_header(0xa1b2_c3d4, 1);
        b.extend(pcap_record(1, 0, b"ok"));
        for v in [2u32, 0, 0x4000_0000, 0x4000_0000] {
            b.extend(v.to_le_bytes());
        }
        let err = read_capture(&b[..], |_| {}).unwrap_err();
        assert!(
            format!("{err:#}").contains("corrupt capture after 1 frames"),
            "{err:#}"
        );
        let err = read_capture(&pcap_header(0xa1b2_c3d4, 1)[..10], |_| {}).unwrap_err();
        assert!(format!("{err:#}").contains("pcap file header"), "{err:#}");
    }

    fn ng_block(kind: u32, body: &[u8]) -> Vec<u8> {
        let len = 12 + body.len().next_multiple_of(4);
        let mut b = Vec::new();
        b.extend(kind.to_le_bytes());
        b.extend((len as u32).to_le_bytes());
        b.extend(body);
        b.resize(len - 4, 0);
        b.extend((len as u32).to_le_bytes());
        b
    }

    #[test]
    fn pcapng_through_a_trickling_reader() {
        let mut shb = Vec::new();
        shb.extend(0x1a2b_3c4du32.to_le_bytes());
        shb.extend(1u16.to_le_bytes());
        shb.extend(0u16.to_le_bytes());
        shb.extend((-1i64).to_le_bytes());
        let mut idb = Vec::new();
        idb.extend(1u16.to_le_bytes());
        idb.extend(0u16.to_le_bytes());
        idb.extend(65535u32.to_le_bytes());
        let mut b = ng_block(0x0a0d_0d0a, &shb);
        b.extend(ng_block(1, &idb));
        for i in 0..3u32 {
            let mut epb = Vec::new();
            epb.extend(0u32.to_le_bytes()); // interface 0
            epb.extend(0u32.to_le_bytes()); // ts high
            epb.extend((i * 1_000_000).to_le_bytes()); // ts low, µs
            epb.extend(3u32.to_le_bytes());
            epb.extend(3u32.to_le_bytes());
            epb.extend(b"abc");
            b.extend(ng_block(6, &epb));
        }
        let mut ts = Vec::new();
        let s = read_capture(Trickle(&b), |f| ts.push((f.ts, f.data.to_vec()))).unwrap();
        assert_eq!(s.frames, 3);
        assert_eq!(ts[2], (2_000_000_000, b"abc".to_vec()));
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
