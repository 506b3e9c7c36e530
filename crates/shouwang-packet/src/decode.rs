//! Link layer → IP → transport, on `&[u8]` only (etherparse).
//!
//! Handles Ethernet (VLAN, QinQ), Linux SLL and SLL2, raw IPv4/IPv6, BSD
//! loopback (NULL and LOOP), IPv6 extension headers, IPv4 and IPv6 fragment
//! reassembly, and GRE / ERSPAN (types I, II, III) decapsulation: the inner
//! packet is what is reported. Anything that does not parse is counted in
//! [`DecodeStats`] and skipped; nothing panics.

use std::net::IpAddr;

use etherparse::{
    EtherType, IpNumber, LinkExtSlice, NetSlice, SlicedPacket, TransportSlice, defrag::IpDefragPool,
};

/// LINKTYPE_* values this decoder reads.
pub mod linktype {
    pub const NULL: i32 = 0;
    pub const ETHERNET: i32 = 1;
    pub const RAW_BSD: i32 = 12;
    pub const RAW_BSD_ALT: i32 = 14;
    pub const RAW: i32 = 101;
    pub const LOOP: i32 = 108;
    pub const LINUX_SLL: i32 = 113;
    pub const IPV4: i32 = 228;
    pub const IPV6: i32 = 229;
    pub const LINUX_SLL2: i32 = 276;
}

/// Deepest tunnel nesting followed (GRE in GRE in …).
pub const MAX_DECAP_DEPTH: u8 = 4;
/// Fragment sets kept waiting; older ones are dropped past this.
pub const MAX_PENDING_FRAGMENTS: usize = 4096;
/// A fragment set not completed within this much capture time is dropped.
pub const FRAGMENT_TIMEOUT_NS: i64 = 30_000_000_000;

/// TCP flag bits as in the header.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// The transport part of an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4<'a> {
    Tcp {
        sport: u16,
        dport: u16,
        flags: u8,
        payload: &'a [u8],
    },
    Udp {
        sport: u16,
        dport: u16,
        payload: &'a [u8],
    },
    Icmp {
        v6: bool,
        icmp_type: u8,
        code: u8,
        /// Header bytes 5–8: identifier and sequence number of an echo.
        rest: [u8; 4],
        /// The data after the 8-byte header (an echo's payload).
        payload: &'a [u8],
    },
    /// Another protocol (or a transport header that did not parse).
    Other,
}

/// An IP packet, ready for the flow table and metadata extractors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPacket<'a> {
    pub ts: i64,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number of the transport.
    pub proto: u8,
    /// IP length (header and payload) in bytes.
    pub ip_len: u32,
    /// Outermost VLAN id.
    pub vlan: Option<u16>,
    pub l4: L4<'a>,
}

impl IpPacket<'_> {
    pub fn ports(&self) -> (u16, u16) {
        match self.l4 {
            L4::Tcp { sport, dport, .. } | L4::Udp { sport, dport, .. } => (sport, dport),
            _ => (0, 0),
        }
    }

    /// A hash of the packet's flow for sampling: the same in both
    /// directions (address and port pairs sorted), FNV-1a over the address
    /// bytes, ports and protocol number (finalised so the low bits are as
    /// good as the high ones: samplers keep `hash % N == 0`), never 0.
    /// Stable across runs and capture threads (unlike the flow table's
    /// keyed hash), so every interface samples the same flows.
    pub fn flow_hash(&self) -> u64 {
        fn octets(a: IpAddr) -> ([u8; 16], usize) {
            let mut b = [0u8; 16];
            match a {
                IpAddr::V4(v4) => {
                    b[..4].copy_from_slice(&v4.octets());
                    (b, 4)
                }
                IpAddr::V6(v6) => (v6.octets(), 16),
            }
        }
        let (sport, dport) = self.ports();
        let (s, sn) = octets(self.src);
        let (d, dn) = octets(self.dst);
        let src = (s.get(..sn).unwrap_or_default(), sport);
        let dst = (d.get(..dn).unwrap_or_default(), dport);
        let (a, b) = if src <= dst { (src, dst) } else { (dst, src) };
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |x: u8| {
            h ^= u64::from(x);
            h = h.wrapping_mul(0x0100_0000_01b3);
        };
        a.0.iter().copied().for_each(&mut eat);
        a.1.to_be_bytes().into_iter().for_each(&mut eat);
        b.0.iter().copied().for_each(&mut eat);
        b.1.to_be_bytes().into_iter().for_each(&mut eat);
        eat(self.proto);
        // FNV-1a's low bits depend only on the low bits of the input bytes,
        // and samplers keep `hash % N == 0` flows: a 64-bit finaliser
        // (MurmurHash3's fmix64) spreads every input bit over the low bits.
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        // Never 0 (callers may use 0 for "not placed"), without fixing a
        // bit: setting the low bit made every hash odd, so a sampler keeping
        // multiples of N kept no flow at all.
        h.max(1)
    }
}

/// An ARP packet (Ethernet/IPv4 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub ts: i64,
    /// 1 request, 2 reply.
    pub op: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: std::net::Ipv4Addr,
    pub target_ip: std::net::Ipv4Addr,
}

/// What the decoder hands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    Ip(IpPacket<'a>),
    Arp(Arp),
}

/// Counters of what did not become a packet, and of extra work done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames (outer packets) seen.
    pub frames: u64,
    /// Frames that did not parse (bad or truncated headers).
    pub malformed: u64,
    /// Frames of a link type this decoder does not read.
    pub unsupported_link: u64,
    /// Non-IP, non-ARP frames (LLDP, STP, …).
    pub non_ip: u64,
    /// IP fragments received.
    pub fragments: u64,
    /// Packets rebuilt from fragments.
    pub reassembled: u64,
    /// Fragment sets given up (timeout, overlap, too many pending).
    pub fragments_dropped: u64,
    /// Packets taken out of GRE/ERSPAN.
    pub decapsulated: u64,
}

/// Stateful decoder (fragment reassembly keeps state across packets).
#[derive(Debug)]
pub struct Decoder {
    defrag: IpDefragPool<i64, ()>,
    pending: usize,
    pub stats: DecodeStats,
    /// Tests turn the fast path off to compare it with the general one.
    fast_path: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

fn tcp_flag_byte(t: &etherparse::TcpSlice<'_>) -> u8 {
    // Byte 13 of the TCP header holds CWR ECE URG ACK PSH RST SYN FIN, the
    // same bit order as `tcp_flags`; etherparse has validated the header.
    t.header_slice().get(13).copied().unwrap_or(0)
}

/// Parses a transport header from a (reassembled) IP payload.
fn transport_from_bytes(ip_number: IpNumber, v6: bool, data: &[u8]) -> L4<'_> {
    match ip_number {
        IpNumber::TCP => match etherparse::TcpSlice::from_slice(data) {
            Ok(t) => L4::Tcp {
                sport: t.source_port(),
                dport: t.destination_port(),
                flags: tcp_flag_byte(&t),
                payload: t.payload(),
            },
            Err(_) => L4::Other,
        },
        IpNumber::UDP => match etherparse::UdpSlice::from_slice_lax(data) {
            Ok(u) => L4::Udp {
                sport: u.source_port(),
                dport: u.destination_port(),
                payload: u.payload(),
            },
            Err(_) => L4::Other,
        },
        IpNumber::ICMP => match etherparse::Icmpv4Slice::from_slice(data) {
            Ok(i) => L4::Icmp {
                v6,
                icmp_type: i.type_u8(),
                code: i.code_u8(),
                rest: i.bytes5to8(),
                payload: i.payload(),
            },
            Err(_) => L4::Other,
        },
        IpNumber::IPV6_ICMP => match etherparse::Icmpv6Slice::from_slice(data) {
            Ok(i) => L4::Icmp {
                v6: true,
                icmp_type: i.type_u8(),
                code: i.code_u8(),
                rest: i.bytes5to8(),
                payload: i.payload(),
            },
            Err(_) => L4::Other,
        },
        _ => L4::Other,
    }
}

fn transport_from_slice<'a>(t: &TransportSlice<'a>) -> L4<'a> {
    match t {
        TransportSlice::Tcp(t) => L4::Tcp {
            sport: t.source_port(),
            dport: t.destination_port(),
            flags: tcp_flag_byte(t),
            payload: t.payload(),
        },
        TransportSlice::Udp(u) => L4::Udp {
            sport: u.source_port(),
            dport: u.destination_port(),
            payload: u.payload(),
        },
        TransportSlice::Icmpv4(i) => L4::Icmp {
            v6: false,
            icmp_type: i.type_u8(),
            code: i.code_u8(),
            rest: i.bytes5to8(),
            payload: i.payload(),
        },
        TransportSlice::Icmpv6(i) => L4::Icmp {
            v6: true,
            icmp_type: i.type_u8(),
            code: i.code_u8(),
            rest: i.bytes5to8(),
            payload: i.payload(),
        },
        _ => L4::Other,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The common case without the general slicer: Ethernet II (at most one
/// 802.1Q tag), an unfragmented IPv4 packet whose lengths add up, and a
/// TCP segment, UDP datagram or ICMP echo. Anything else (other link
/// extensions, IPv6, fragments, GRE, odd lengths, other ICMP types) returns
/// `None` and goes the general way, so both paths give the same packet —
/// the `fast_path_matches_general_path` property test holds them to that.
fn fast_ethernet_ipv4(ts: i64, data: &[u8]) -> Option<IpPacket<'_>> {
    let (vlan, l3) = match be16(data, 12)? {
        0x0800 => (None, 14),
        0x8100 if be16(data, 16)? == 0x0800 => (Some(be16(data, 14)? & 0x0fff), 18),
        _ => return None,
    };
    let ip = data.get(l3..)?;
    let vihl = *ip.first()?;
    let ihl = usize::from(vihl & 0x0f) * 4;
    let total = usize::from(be16(ip, 2)?);
    // Version 4, a header of at least 20 bytes, a length that covers it and
    // is all there (trailing Ethernet padding is cut off).
    if vihl >> 4 != 4 || ihl < 20 || total < ihl || total > ip.len() {
        return None;
    }
    // More-fragments flag or a fragment offset: reassembly's business.
    if be16(ip, 6)? & 0x3fff != 0 {
        return None;
    }
    let proto = *ip.get(9)?;
    let src = IpAddr::V4(std::net::Ipv4Addr::new(
        *ip.get(12)?,
        *ip.get(13)?,
        *ip.get(14)?,
        *ip.get(15)?,
    ));
    let dst = IpAddr::V4(std::net::Ipv4Addr::new(
        *ip.get(16)?,
        *ip.get(17)?,
        *ip.get(18)?,
        *ip.get(19)?,
    ));
    let t = ip.get(ihl..total)?;
    let l4 = match proto {
        6 => {
            let off = usize::from(*t.get(12)? >> 4) * 4;
            if off < 20 || off > t.len() {
                return None;
            }
            L4::Tcp {
                sport: be16(t, 0)?,
                dport: be16(t, 2)?,
                flags: *t.get(13)?,
                payload: t.get(off..)?,
            }
        }
        17 => {
            let len = usize::from(be16(t, 4)?);
            if len < 8 || len > t.len() {
                return None;
            }
            L4::Udp {
                sport: be16(t, 0)?,
                dport: be16(t, 2)?,
                payload: t.get(8..len)?,
            }
        }
        1 => {
            let icmp_type = *t.first()?;
            if (icmp_type != 0 && icmp_type != 8) || t.len() < 8 {
                return None;
            }
            L4::Icmp {
                v6: false,
                icmp_type,
                code: *t.get(1)?,
                rest: [*t.get(4)?, *t.get(5)?, *t.get(6)?, *t.get(7)?],
                payload: t.get(8..)?,
            }
        }
        _ => return None,
    };
    Some(IpPacket {
        ts,
        src,
        dst,
        proto,
        ip_len: u32::try_from(total).ok()?,
        vlan,
        l4,
    })
}

/// Where the payload of a GRE packet starts and what it is.
enum GreInner<'a> {
    Ethernet(&'a [u8]),
    Ip(&'a [u8]),
}

/// Parses a GRE header (RFC 2784/2890) and ERSPAN I/II/III.
fn gre(data: &[u8]) -> Option<GreInner<'_>> {
    let flags = *data.first()?;
    let proto = u16::from_be_bytes([*data.get(2)?, *data.get(3)?]);
    let has_csum = flags & 0x80 != 0;
    let has_key = flags & 0x20 != 0;
    let has_seq = flags & 0x10 != 0;
    let mut off = 4 + 4 * (usize::from(has_csum) + usize::from(has_key) + usize::from(has_seq));
    let payload = data.get(off..)?;
    match proto {
        0x6558 => Some(GreInner::Ethernet(payload)),
        0x0800 | 0x86dd => Some(GreInner::Ip(payload)),
        // ERSPAN type II (or type I without the sequence bit: no header).
        0x88be => {
            if has_seq {
                off = 8;
            } else {
                off = 0;
            }
            Some(GreInner::Ethernet(payload.get(off..)?))
        }
        // ERSPAN type III: 12-byte header, plus 8 bytes when the O bit is set.
        0x22eb => {
            let o_bit = payload.get(11)? & 0x01 != 0;
            Some(GreInner::Ethernet(
                payload.get(if o_bit { 20 } else { 12 }..)?,
            ))
        }
        _ => None,
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self {
            defrag: IpDefragPool::new(),
            pending: 0,
            stats: DecodeStats::default(),
            fast_path: true,
        }
    }

    /// Decodes one frame; `out` is called for each packet found (zero, one,
    /// or — with tunnels and reassembly — the inner packet).
    pub fn decode(
        &mut self,
        ts: i64,
        linktype: i32,
        data: &[u8],
        out: &mut dyn FnMut(Decoded<'_>),
    ) {
        self.stats.frames += 1;
        if linktype == linktype::ETHERNET
            && self.fast_path
            && let Some(p) = fast_ethernet_ipv4(ts, data)
        {
            out(Decoded::Ip(p));
            return;
        }
        let sliced = match linktype {
            linktype::ETHERNET => SlicedPacket::from_ethernet(data),
            linktype::LINUX_SLL => SlicedPacket::from_linux_sll(data),
            linktype::LINUX_SLL2 => match (data.get(..2), data.get(20..)) {
                (Some(et), Some(rest)) => SlicedPacket::from_ether_type(
                    EtherType(u16::from_be_bytes([et[0], et[1]])),
                    rest,
                ),
                _ => {
                    self.stats.malformed += 1;
                    return;
                }
            },
            linktype::RAW
            | linktype::RAW_BSD
            | linktype::RAW_BSD_ALT
            | linktype::IPV4
            | linktype::IPV6 => SlicedPacket::from_ip(data),
            linktype::NULL | linktype::LOOP => match data.get(4..) {
                // The 4-byte address family is host-order (NULL) or
                // network-order (LOOP); from_ip reads the IP version itself.
                Some(rest) => SlicedPacket::from_ip(rest),
                None => {
                    self.stats.malformed += 1;
                    return;
                }
            },
            _ => {
                self.stats.unsupported_link += 1;
                return;
            }
        };
        match sliced {
            Ok(p) => self.handle(ts, &p, 0, out),
            Err(_) => self.stats.malformed += 1,
        }
    }

    fn handle(
        &mut self,
        ts: i64,
        p: &SlicedPacket<'_>,
        depth: u8,
        out: &mut dyn FnMut(Decoded<'_>),
    ) {
        let vlan = p.link_exts.iter().find_map(|e| match e {
            LinkExtSlice::Vlan(v) => Some(v.vlan_identifier().value()),
            _ => None,
        });
        let (src, dst, ip_len, header_len, payload, v6) = match &p.net {
            Some(NetSlice::Ipv4(ip)) => {
                let h = ip.header();
                (
                    IpAddr::V4(h.source_addr()),
                    IpAddr::V4(h.destination_addr()),
                    u32::from(h.total_len()),
                    u32::from(h.ihl()) * 4,
                    ip.payload(),
                    false,
                )
            }
            Some(NetSlice::Ipv6(ip)) => {
                let h = ip.header();
                (
                    IpAddr::V6(h.source_addr()),
                    IpAddr::V6(h.destination_addr()),
                    u32::from(h.payload_length()) + 40,
                    40,
                    ip.payload(),
                    true,
                )
            }
            Some(NetSlice::Arp(a)) => {
                self.arp(ts, a.slice(), out);
                return;
            }
            None => {
                self.stats.non_ip += 1;
                return;
            }
        };
        if payload.fragmented {
            self.stats.fragments += 1;
            self.fragment(ts, p, src, dst, header_len, vlan, depth, out);
            return;
        }
        if payload.ip_number == IpNumber::GRE {
            self.decap(ts, payload.payload, depth, out);
            return;
        }
        let l4 = match &p.transport {
            Some(t) => transport_from_slice(t),
            None => transport_from_bytes(payload.ip_number, v6, payload.payload),
        };
        out(Decoded::Ip(IpPacket {
            ts,
            src,
            dst,
            proto: payload.ip_number.0,
            ip_len,
            vlan,
            l4,
        }));
    }

    #[allow(clippy::too_many_arguments)]
    fn fragment(
        &mut self,
        ts: i64,
        p: &SlicedPacket<'_>,
        src: IpAddr,
        dst: IpAddr,
        header_len: u32,
        vlan: Option<u16>,
        depth: u8,
        out: &mut dyn FnMut(Decoded<'_>),
    ) {
        if self.pending >= MAX_PENDING_FRAGMENTS {
            // Too many incomplete sets (a fragment flood): start over rather
            // than grow without bound. `pending` over-counts sets (it counts
            // fragments), so this is an upper bound.
            self.defrag.retain(|_| false);
            self.stats.fragments_dropped += self.pending as u64;
            self.pending = 0;
        }
        match self.defrag.process_sliced_packet(p, ts, ()) {
            Ok(Some(whole)) => {
                self.pending = self.pending.saturating_sub(1);
                self.stats.reassembled += 1;
                let v6 = src.is_ipv6();
                let ip_len = header_len + whole.payload.len() as u32;
                if whole.ip_number == IpNumber::GRE {
                    self.decap(ts, &whole.payload, depth, out);
                } else {
                    let l4 = transport_from_bytes(whole.ip_number, v6, &whole.payload);
                    out(Decoded::Ip(IpPacket {
                        ts,
                        src,
                        dst,
                        proto: whole.ip_number.0,
                        ip_len,
                        vlan,
                        l4,
                    }));
                }
                self.defrag.return_buf(whole);
            }
            Ok(None) => self.pending += 1,
            Err(_) => self.stats.fragments_dropped += 1,
        }
    }

    /// Drops fragment sets not completed within [`FRAGMENT_TIMEOUT_NS`].
    pub fn expire_fragments(&mut self, now: i64) {
        let cutoff = now.saturating_sub(FRAGMENT_TIMEOUT_NS);
        self.defrag.retain(|t| *t >= cutoff);
    }

    fn decap(&mut self, ts: i64, data: &[u8], depth: u8, out: &mut dyn FnMut(Decoded<'_>)) {
        if depth >= MAX_DECAP_DEPTH {
            self.stats.malformed += 1;
            return;
        }
        let inner = match gre(data) {
            Some(GreInner::Ethernet(b)) => SlicedPacket::from_ethernet(b),
            Some(GreInner::Ip(b)) => SlicedPacket::from_ip(b),
            None => {
                self.stats.malformed += 1;
                return;
            }
        };
        match inner {
            Ok(p) => {
                self.stats.decapsulated += 1;
                self.handle(ts, &p, depth + 1, out);
            }
            Err(_) => self.stats.malformed += 1,
        }
    }

    fn arp(&mut self, ts: i64, b: &[u8], out: &mut dyn FnMut(Decoded<'_>)) {
        // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4.
        let ok = b.len() >= 28 && b.get(..6) == Some(&[0, 1, 8, 0, 6, 4][..]);
        if !ok {
            self.stats.non_ip += 1;
            return;
        }
        let g = |r: std::ops::Range<usize>| b.get(r).unwrap_or_default();
        let mut mac = [0u8; 6];
        mac.copy_from_slice(g(8..14));
        let ip = |r| {
            let s = g(r);
            std::net::Ipv4Addr::new(s[0], s[1], s[2], s[3])
        };
        out(Decoded::Arp(Arp {
            ts,
            op: u16::from_be_bytes([b[6], b[7]]),
            sender_mac: mac,
            sender_ip: ip(14..18),
            target_ip: ip(24..28),
        }));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    pub(crate) const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    pub(crate) const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    /// An Ethernet/IPv4/TCP frame.
    pub(crate) fn tcp_frame(
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        flags: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut b = PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4(src, dst, 64)
            .tcp(sport, dport, 1000, 65535);
        if flags & tcp_flags::SYN != 0 {
            b = b.syn();
        }
        if flags & tcp_flags::ACK != 0 {
            b = b.ack(1);
        }
        if flags & tcp_flags::FIN != 0 {
            b = b.fin();
        }
        if flags & tcp_flags::RST != 0 {
            b = b.rst();
        }
        if flags & tcp_flags::PSH != 0 {
            b = b.psh();
        }
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    pub(crate) fn udp_frame(
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4(src, dst, 64)
            .udp(sport, dport)
            .write(&mut v, payload)
            .unwrap();
        v
    }

    fn collect(d: &mut Decoder, lt: i32, data: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        d.decode(7, lt, data, &mut |p| out.push(format!("{p:?}")));
        out
    }

    fn one_ip(lt: i32, data: &[u8]) -> IpPacket<'static> {
        let mut d = Decoder::new();
        let mut got = None;
        d.decode(7, lt, data, &mut |p| {
            if let Decoded::Ip(ip) = p {
                got = Some((
                    ip.src,
                    ip.dst,
                    ip.proto,
                    ip.ip_len,
                    ip.vlan,
                    ip.ports(),
                    match ip.l4 {
                        L4::Tcp { flags, .. } => flags,
                        _ => 0,
                    },
                ));
            }
        });
        let (src, dst, proto, ip_len, vlan, (sport, dport), flags) = got.expect("one IP packet");
        IpPacket {
            ts: 7,
            src,
            dst,
            proto,
            ip_len,
            vlan,
            l4: if proto == 6 {
                L4::Tcp {
                    sport,
                    dport,
                    flags,
                    payload: &[],
                }
            } else {
                L4::Udp {
                    sport,
                    dport,
                    payload: &[],
                }
            },
        }
    }

    #[test]
    fn ethernet_tcp() {
        let f = tcp_frame([10, 0, 0, 1], 40000, [10, 0, 0, 2], 22, tcp_flags::SYN, b"");
        let p = one_ip(linktype::ETHERNET, &f);
        assert_eq!(p.src, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(p.ports(), (40000, 22));
        assert_eq!(p.proto, 6);
        assert_eq!(p.ip_len, 40);
        assert!(matches!(p.l4, L4::Tcp { flags, .. } if flags == tcp_flags::SYN));
    }

    #[test]
    fn qinq_vlan_outer_id() {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .double_vlan(
                etherparse::VlanId::try_new(100).unwrap(),
                etherparse::VlanId::try_new(200).unwrap(),
            )
            .ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64)
            .udp(53, 5353)
            .write(&mut v, b"x")
            .unwrap();
        let p = one_ip(linktype::ETHERNET, &v);
        assert_eq!(p.vlan, Some(100));
        assert_eq!(p.ports(), (53, 5353));
    }

    #[test]
    fn raw_ip_sll_sll2_and_loopback() {
        let f = udp_frame([10, 0, 0, 1], 1, [10, 0, 0, 2], 2, b"hi");
        let ip = &f[14..];
        assert_eq!(one_ip(linktype::RAW, ip).ports(), (1, 2));
        assert_eq!(one_ip(linktype::IPV4, ip).ports(), (1, 2));
        // SLL: 16-byte header ending in the EtherType.
        let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        sll.extend(ip);
        assert_eq!(one_ip(linktype::LINUX_SLL, &sll).ports(), (1, 2));
        // SLL2: 20-byte header starting with the EtherType.
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
        ];
        sll2.extend(ip);
        assert_eq!(one_ip(linktype::LINUX_SLL2, &sll2).ports(), (1, 2));
        // BSD loopback: 4-byte address family then IP.
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend(ip);
        assert_eq!(one_ip(linktype::NULL, &null).ports(), (1, 2));
        let mut lp = 2u32.to_be_bytes().to_vec();
        lp.extend(ip);
        assert_eq!(one_ip(linktype::LOOP, &lp).ports(), (1, 2));
    }

    #[test]
    fn ipv6_with_extension_header() {
        // IPv6 + hop-by-hop options (8 bytes) + UDP.
        let udp = [0x30, 0x39, 0x00, 0x35, 0x00, 0x09, 0x00, 0x00, b'q'];
        let mut ip6 = vec![
            0x60,
            0,
            0,
            0,
            0,
            (8 + udp.len()) as u8,
            0, /* hop-by-hop */
            64,
        ];
        ip6.extend(
            [0x20, 0x01, 0x0d, 0xb8]
                .iter()
                .chain([0u8; 11].iter())
                .chain([1u8].iter()),
        );
        ip6.extend(
            [0x20, 0x01, 0x0d, 0xb8]
                .iter()
                .chain([0u8; 11].iter())
                .chain([2u8].iter()),
        );
        ip6.extend([17, 0, 1, 4, 0, 0, 0, 0]); // next header UDP, len 0, PadN
        ip6.extend(udp);
        let p = one_ip(linktype::IPV6, &ip6);
        assert_eq!(p.proto, 17);
        assert_eq!(p.ports(), (12345, 53));
        assert_eq!(p.src, "2001:db8::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ipv4_fragments_are_reassembled_in_any_order() {
        let payload: Vec<u8> = (0..100u8).collect();
        let whole = udp_frame([10, 0, 0, 1], 7, [10, 0, 0, 2], 9, &payload);
        let ip = &whole[14..];
        let udp = &ip[20..]; // 8 + 100 bytes
        let frag = |off: usize, data: &[u8], more: bool| {
            let mut h = etherparse::Ipv4Header::new(
                data.len() as u16,
                64,
                IpNumber::UDP,
                [10, 0, 0, 1],
                [10, 0, 0, 2],
            )
            .unwrap();
            h.identification = 77;
            h.more_fragments = more;
            h.fragment_offset = etherparse::IpFragOffset::try_new((off / 8) as u16).unwrap();
            let mut v = Vec::new();
            etherparse::Ethernet2Header {
                source: MAC_A,
                destination: MAC_B,
                ether_type: EtherType::IPV4,
            }
            .write(&mut v)
            .unwrap();
            h.write(&mut v).unwrap();
            v.extend(data);
            v
        };
        let mut d = Decoder::new();
        let second = frag(56, &udp[56..], false);
        let first = frag(0, &udp[..56], true);
        assert!(collect(&mut d, linktype::ETHERNET, &second).is_empty());
        let out = collect(&mut d, linktype::ETHERNET, &first);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].contains("sport: 7, dport: 9"), "{}", out[0]);
        // 20-byte IPv4 header + 8-byte UDP header + 100 bytes of payload.
        assert!(out[0].contains("ip_len: 128"), "{}", out[0]);
        assert_eq!((d.stats.fragments, d.stats.reassembled), (2, 1));
    }

    #[test]
    fn gre_and_erspan_are_decapsulated() {
        let inner = tcp_frame(
            [192, 168, 1, 5],
            5555,
            [192, 168, 1, 9],
            80,
            tcp_flags::PSH | tcp_flags::ACK,
            b"GET / HTTP/1.1\r\n\r\n",
        );
        for (proto, hdr) in [
            (0x6558u16, vec![]),                       // transparent Ethernet bridging
            (0x88be, vec![0x10, 0, 0, 0, 0, 0, 0, 0]), // ERSPAN II (seq bit set below)
            (0x22eb, vec![0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), // ERSPAN III, no subheader
        ] {
            let mut gre = vec![if proto == 0x88be { 0x10 } else { 0 }, 0];
            gre.extend(proto.to_be_bytes());
            if proto == 0x88be {
                gre.extend([0, 0, 0, 1]); // sequence number
                gre.extend(&hdr);
            } else {
                gre.extend(&hdr);
            }
            gre.extend(&inner);
            let mut outer = Vec::new();
            PacketBuilder::ethernet2(MAC_A, MAC_B)
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .write(&mut outer, IpNumber::GRE, &gre)
                .unwrap();
            let p = one_ip(linktype::ETHERNET, &outer);
            assert_eq!(p.src, IpAddr::from([192, 168, 1, 5]), "proto {proto:#x}");
            assert_eq!(p.ports(), (5555, 80));
        }
    }

    #[test]
    fn arp_reply() {
        let mut f = vec![0xff; 6];
        f.extend(MAC_A);
        f.extend([0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2]);
        f.extend(MAC_A);
        f.extend([10, 0, 0, 1]);
        f.extend(MAC_B);
        f.extend([10, 0, 0, 2]);
        let mut d = Decoder::new();
        let mut got = None;
        d.decode(1, linktype::ETHERNET, &f, &mut |p| {
            if let Decoded::Arp(a) = p {
                got = Some(a);
            }
        });
        let a = got.unwrap();
        assert_eq!(
            (a.op, a.sender_mac, a.sender_ip),
            (2, MAC_A, [10, 0, 0, 1].into())
        );
    }

    #[test]
    fn bad_input_is_counted() {
        let mut d = Decoder::new();
        let f = tcp_frame([10, 0, 0, 1], 1, [10, 0, 0, 2], 2, 0, b"abcdef");
        assert!(collect(&mut d, linktype::ETHERNET, &f[..30]).is_empty());
        assert!(collect(&mut d, 9999, &f).is_empty());
        assert!(collect(&mut d, linktype::LINUX_SLL2, &f[..3]).is_empty());
        assert_eq!((d.stats.malformed, d.stats.unsupported_link), (2, 1));
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300), lt in proptest::sample::select(vec![0, 1, 12, 101, 108, 113, 228, 229, 276])) {
            let mut d = Decoder::new();
            d.decode(0, lt, &data, &mut |_| {});
        }

        /// The fast path gives exactly what the general path gives: the
        /// same packets, the same counters, on well-formed frames and on
        /// frames with bytes changed, cut short or padded.
        #[test]
        fn fast_path_matches_general_path(
            template in 0usize..6,
            edits in proptest::collection::vec((0usize..80, proptest::num::u8::ANY), 0..4),
            cut in 0usize..200,
            pad in 0usize..20,
        ) {
            let mut f = match template {
                0 => tcp_frame([10, 0, 0, 1], 40000, [10, 0, 0, 2], 80, tcp_flags::SYN, b""),
                1 => tcp_frame([10, 0, 0, 1], 40000, [10, 0, 0, 2], 80, tcp_flags::ACK, b"GET / HTTP/1.1\r\n\r\n"),
                2 => udp_frame([10, 0, 0, 1], 5353, [10, 0, 0, 2], 53, b"\x12\x34\x01\x00\x00\x01"),
                3 => {
                    let mut v = Vec::new();
                    PacketBuilder::ethernet2(MAC_A, MAC_B)
                        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                        .icmpv4_echo_request(1, 2)
                        .write(&mut v, b"pingpayload")
                        .unwrap();
                    v
                }
                4 => {
                    let mut v = Vec::new();
                    PacketBuilder::ethernet2(MAC_A, MAC_B)
                        .single_vlan(etherparse::VlanId::try_new(42).unwrap())
                        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                        .udp(1, 2)
                        .write(&mut v, b"x")
                        .unwrap();
                    v
                }
                _ => {
                    let mut v = Vec::new();
                    PacketBuilder::ethernet2(MAC_A, MAC_B)
                        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                        .icmpv4_echo_reply(1, 2)
                        .write(&mut v, b"")
                        .unwrap();
                    v
                }
            };
            for (at, val) in edits {
                let i = at % f.len();
                f[i] = val;
            }
            f.truncate(cut.max(1).min(f.len()));
            f.extend(std::iter::repeat_n(0u8, pad));
            let mut fast = Decoder::new();
            let mut general = Decoder::new();
            general.fast_path = false;
            let a = collect(&mut fast, linktype::ETHERNET, &f);
            let b = collect(&mut general, linktype::ETHERNET, &f);
            proptest::prop_assert_eq!(a, b);
            proptest::prop_assert_eq!(fast.stats, general.stats);
        }

        #[test]
        fn mutated_frames_never_panic(pos in 0usize..200, val in proptest::num::u8::ANY, cut in 0usize..200) {
            let inner = tcp_frame([1, 2, 3, 4], 1, [5, 6, 7, 8], 80, tcp_flags::ACK, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
            let mut gre = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0, 0, 0, 0, 0, 0, 0];
            gre.extend(&inner);
            let mut outer = Vec::new();
            PacketBuilder::ethernet2(MAC_A, MAC_B).ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).write(&mut outer, IpNumber::GRE, &gre).unwrap();
            let i = pos % outer.len();
            outer[i] = val;
            outer.truncate(cut.max(1).min(outer.len()));
            let mut d = Decoder::new();
            d.decode(0, 1, &outer, &mut |_| {});
        }
    }
}
