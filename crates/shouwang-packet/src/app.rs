//! Application identification by content: which protocol a flow speaks,
//! from the first payload bytes of either direction, never from its ports.
//!
//! [`sniff`] reads one payload and says what it is sure of ([`Clue::Sure`]:
//! an SSH banner, a TLS ClientHello, a DNS message whose header and
//! question both check out, …), what it could be ([`Clue::Hint`]: a bare
//! `220 ` greeting is FTP or SMTP; `USER bob` is FTP or POP3), or nothing.
//! [`AppId`] keeps the decision of one flow: a sure clue decides; hints
//! from *both* directions that leave one protocol decide; a flow that has
//! shown payload both ways with no clue, whose clues contradict each other,
//! or that gave nothing in [`MAX_PAYLOADS`] payload packets stays
//! `unknown`. Once decided, a flow costs one branch per packet.

use shouwang_proto::AppProto;

/// Payload packets looked at per flow before giving up.
pub const MAX_PAYLOADS: u8 = 4;

/// The transport a payload came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// A set of protocols, one bit per [`AppProto`].
pub type Mask = u32;

/// The bit of one protocol.
pub const fn bit(a: AppProto) -> Mask {
    1 << (a as u32)
}

/// What one payload says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clue {
    /// Nothing this module knows.
    None,
    /// One protocol for sure.
    Sure(AppProto),
    /// One of these; needs the other direction to agree.
    Hint(Mask),
}

/// The application decision of one flow.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppId {
    app: AppProto,
    done: bool,
    payloads: u8,
    /// Directions that carried payload (1 client → server, 2 back).
    dirs: u8,
    /// Directions that gave a hint, and what the hints leave.
    hint_dirs: u8,
    hint: Mask,
}

impl AppId {
    /// The protocol (`unknown` until decided, and when undecidable).
    pub fn app(&self) -> AppProto {
        self.app
    }

    /// Whether the decision is final (further payloads are not read).
    pub fn decided(&self) -> bool {
        self.done
    }

    /// Reads one payload packet (`from_client`: client → server).
    pub fn observe(&mut self, t: Transport, payload: &[u8], from_client: bool) {
        if self.done || payload.is_empty() {
            return;
        }
        self.payloads = self.payloads.saturating_add(1);
        let d = if from_client { 1 } else { 2 };
        self.dirs |= d;
        match sniff(t, payload) {
            Clue::Sure(a) => {
                self.decide(a);
                return;
            }
            Clue::Hint(m) => {
                let left = if self.hint == 0 { m } else { self.hint & m };
                if left == 0 {
                    self.decide(AppProto::Unknown);
                    return;
                }
                self.hint = left;
                self.hint_dirs |= d;
                if self.hint_dirs == 3 && left.count_ones() == 1 {
                    self.decide(from_bit(left));
                    return;
                }
            }
            Clue::None => {}
        }
        if (self.dirs == 3 && self.hint == 0) || self.payloads >= MAX_PAYLOADS {
            self.decide(AppProto::Unknown);
        }
    }

    fn decide(&mut self, a: AppProto) {
        self.app = a;
        self.done = true;
    }
}

fn from_bit(m: Mask) -> AppProto {
    AppProto::ALL
        .iter()
        .copied()
        .find(|&a| bit(a) == m)
        .unwrap_or(AppProto::Unknown)
}

/// What one payload is, by content alone.
pub fn sniff(t: Transport, p: &[u8]) -> Clue {
    match t {
        Transport::Udp => {
            if is_dns(p) {
                Clue::Sure(AppProto::Dns)
            } else if is_snmp(p) {
                Clue::Sure(AppProto::Snmp)
            } else if is_ntp(p) {
                Clue::Sure(AppProto::Ntp)
            } else {
                Clue::None
            }
        }
        Transport::Tcp => sniff_tcp(p),
    }
}

fn sniff_tcp(p: &[u8]) -> Clue {
    let Some(&first) = p.first() else {
        return Clue::None;
    };
    let sure = |yes: bool, a: AppProto| if yes { Clue::Sure(a) } else { Clue::None };
    let c = match first {
        b'S' => sure(is_ssh(p), AppProto::Ssh),
        0x14..=0x17 => tls(p),
        0x03 => sure(is_rdp(p), AppProto::Rdp),
        0xff => sure(is_telnet(p), AppProto::Telnet),
        b'*' => redis_or_imap(p),
        b'H' if p.starts_with(b"HTTP/1.") => sure(is_http_status(p), AppProto::Http),
        _ => Clue::None,
    };
    if c != Clue::None {
        return c;
    }
    if first == 0 || first == 0x81 || first == 0x82 {
        let c = smb(p);
        if c != Clue::None {
            return c;
        }
    }
    if is_mysql_greeting(p) {
        return Clue::Sure(AppProto::Mysql);
    }
    if first == 0 {
        if is_postgres(p) {
            return Clue::Sure(AppProto::Postgresql);
        }
        if is_dns_tcp(p) {
            return Clue::Sure(AppProto::Dns);
        }
    }
    if first.is_ascii_alphanumeric() || first == b'+' || first == b'-' {
        if is_http_request(p) {
            return Clue::Sure(AppProto::Http);
        }
        return text_line(p);
    }
    Clue::None
}

fn be16(p: &[u8], at: usize) -> Option<usize> {
    let b = p.get(at..at + 2)?;
    Some(usize::from(u16::from_be_bytes([b[0], b[1]])))
}

fn be32(p: &[u8], at: usize) -> Option<u32> {
    let b = p.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn printable(b: &[u8]) -> bool {
    b.iter().all(|&c| (0x20..0x7f).contains(&c) || c == b'\t')
}

/// The first line (without CR LF) when it ends within `max` bytes.
fn first_line(p: &[u8], max: usize) -> Option<&[u8]> {
    let end = p.iter().take(max).position(|&b| b == b'\n')?;
    let line = p.get(..end)?;
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

// ---------------------------------------------------------------- SSH

fn is_ssh(p: &[u8]) -> bool {
    let Some(rest) = p.strip_prefix(b"SSH-") else {
        return false;
    };
    let Some(rest) = [&b"2.0-"[..], b"1.99-", b"1.5-"]
        .iter()
        .find_map(|v| rest.strip_prefix(*v))
    else {
        return false;
    };
    // The software version, up to CR LF (or the end of a short segment).
    let line = first_line(rest, 250).unwrap_or(rest);
    !line.is_empty() && line.len() <= 250 && printable(line)
}

// ---------------------------------------------------------------- HTTP

const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
    b"SEARCH",
];

fn is_http_request(p: &[u8]) -> bool {
    if p.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") {
        return true;
    }
    let Some(sp) = p.iter().take(10).position(|&b| b == b' ') else {
        return false;
    };
    let (method, rest) = p.split_at(sp);
    if !METHODS.contains(&method) {
        return false;
    }
    let target = rest.get(1..).unwrap_or_default();
    let target_ok = match target.first() {
        Some(b'/') => true,
        Some(b'*') => method == b"OPTIONS",
        Some(c) if c.is_ascii_alphanumeric() => {
            method == b"CONNECT"
                || target.starts_with(b"http://")
                || target.starts_with(b"https://")
        }
        _ => false,
    };
    if !target_ok {
        return false;
    }
    match first_line(p, 8192) {
        Some(line) => {
            printable(line) && (line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0"))
        }
        // A request line longer than the segment: the whole segment must
        // read as one.
        None => p.len() >= 1000 && printable(p),
    }
}

fn is_http_status(p: &[u8]) -> bool {
    // `HTTP/1.x NNN` then a reason or the line end.
    let ok_version = matches!(p.get(7), Some(b'0' | b'1')) && p.get(8) == Some(&b' ');
    let code = p.get(9..12).unwrap_or_default();
    ok_version
        && code.len() == 3
        && code.iter().all(u8::is_ascii_digit)
        && matches!(code.first(), Some(b'1'..=b'5'))
        && matches!(p.get(12), Some(b' ' | b'\r' | b'\n'))
}

// ---------------------------------------------------------------- TLS

fn tls(p: &[u8]) -> Clue {
    let (Some(&kind), Some(&major), Some(&minor)) = (p.first(), p.get(1), p.get(2)) else {
        return Clue::None;
    };
    if major != 3 || minor > 4 {
        return Clue::None;
    }
    let Some(len) = be16(p, 3) else {
        return Clue::None;
    };
    if len == 0 || len > 16384 + 2048 {
        return Clue::None;
    }
    if kind != 0x16 {
        // Change cipher spec, alert or application data: what a flow
        // caught after its handshake shows. Both directions must agree.
        return Clue::Hint(bit(AppProto::Tls));
    }
    // Handshake: ClientHello (1) or ServerHello (2), whose own length fits
    // the record and whose legacy version is 3.x.
    let (Some(&hs), Some(hs_len)) = (p.get(5), p.get(6..9)) else {
        return Clue::None;
    };
    let hs_len =
        usize::from(hs_len[0]) << 16 | usize::from(hs_len[1]) << 8 | usize::from(hs_len[2]);
    let sure = matches!(hs, 1 | 2)
        && hs_len >= 38
        && hs_len + 4 <= len
        && p.get(9) == Some(&3)
        && p.get(10).is_some_and(|&v| v <= 4);
    if sure {
        Clue::Sure(AppProto::Tls)
    } else {
        Clue::None
    }
}

// ---------------------------------------------------------------- DNS

/// A domain name at `at`, uncompressed up to an optional pointer to an
/// earlier offset; returns the offset after it.
fn dns_name(m: &[u8], mut at: usize, pointers: bool) -> Option<usize> {
    let start = at;
    let mut total = 0usize;
    loop {
        let len = usize::from(*m.get(at)?);
        if len == 0 {
            return Some(at + 1);
        }
        if len & 0xc0 == 0xc0 {
            let target = (len & 0x3f) << 8 | usize::from(*m.get(at + 1)?);
            return (pointers && target >= 12 && target < start).then_some(at + 2);
        }
        if len > 63 {
            return None;
        }
        let label = m.get(at + 1..at + 1 + len)?;
        // Any byte a name may carry, spaces and UTF-8 (mDNS) included;
        // control bytes and DEL are not names.
        if label.iter().any(|&c| c < 0x20 || c == 0x7f) {
            return None;
        }
        total += len + 1;
        if total > 255 {
            return None;
        }
        at += len + 1;
    }
}

fn dns_class_ok(class: usize) -> bool {
    // mDNS uses the top bit for unicast-response / cache-flush.
    matches!(class & 0x7fff, 1 | 3 | 4 | 254 | 255)
}

fn is_dns(m: &[u8]) -> bool {
    if m.len() < 17 {
        return false;
    }
    let (Some(flags), Some(qd), Some(an), Some(ns), Some(ar)) =
        (be16(m, 2), be16(m, 4), be16(m, 6), be16(m, 8), be16(m, 10))
    else {
        return false;
    };
    let response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    let z = flags & 0x0040 != 0;
    let rcode = flags & 0xf;
    if z || !matches!(opcode, 0 | 4 | 5) || an > 64 || ns > 64 || ar > 64 {
        return false;
    }
    if response {
        if rcode > 10 || qd > 1 || (qd == 0 && an == 0) {
            return false;
        }
    } else if rcode != 0 || qd != 1 {
        return false;
    }
    let Some(after) = dns_name(m, 12, false) else {
        return false;
    };
    let (Some(rtype), Some(class)) = (be16(m, after), be16(m, after + 2)) else {
        return false;
    };
    if rtype == 0 || !dns_class_ok(class) {
        return false;
    }
    if qd == 0 {
        // An mDNS announcement: the first record must hold its data.
        let Some(rdlen) = be16(m, after + 8) else {
            return false;
        };
        return after + 10 + rdlen <= m.len();
    }
    true
}

fn is_dns_tcp(p: &[u8]) -> bool {
    let Some(len) = be16(p, 0) else {
        return false;
    };
    len >= 17 && p.get(2..).is_some_and(is_dns)
}

// ---------------------------------------------------------------- RDP

fn is_rdp(p: &[u8]) -> bool {
    // TPKT (version 3) holding one X.224 TPDU whose length indicator fills it.
    let Some(tpkt_len) = be16(p, 2) else {
        return false;
    };
    if p.get(1) != Some(&0) || tpkt_len != p.len() || tpkt_len < 11 {
        return false;
    }
    if p.get(4).map(|&li| usize::from(li) + 5) != Some(tpkt_len) {
        return false;
    }
    let rest = p.get(11..).unwrap_or_default();
    let neg = |r: &[u8], types: &[u8]| {
        r.len() == 8 && types.contains(&r[0]) && r[2] == 8 && r[3] == 0 && r[5..8] == [0, 0, 0]
    };
    match p.get(5).map(|c| c & 0xf0) {
        // Connection request: a cookie or routing token line and/or an
        // RDP negotiation request (ISO-TSAP users such as S7 carry neither).
        Some(0xe0) => {
            if p.get(6..8) != Some(&[0, 0]) {
                return false;
            }
            if let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
                let line = rest.get(..line_end).unwrap_or_default();
                let tail = rest.get(line_end + 2..).unwrap_or_default();
                line.starts_with(b"Cookie: ")
                    && printable(line)
                    && (tail.is_empty() || neg(tail, &[1]))
            } else {
                neg(rest, &[1])
            }
        }
        // Connection confirm with an RDP negotiation response or failure.
        Some(0xd0) => neg(rest, &[2, 3]),
        _ => false,
    }
}

// ---------------------------------------------------------------- SMB

fn smb(p: &[u8]) -> Clue {
    let (Some(&kind), Some(len)) = (p.first(), p.get(1..4)) else {
        return Clue::None;
    };
    let len = usize::from(len[0]) << 16 | usize::from(len[1]) << 8 | usize::from(len[2]);
    match kind {
        // Session message: an SMB1, SMB2 or SMB3-transform header.
        0x00 => {
            let magic = p.get(4..8).unwrap_or_default();
            let ok = len >= 32 && matches!(magic, [0xfd..=0xff, b'S', b'M', b'B']);
            if ok {
                Clue::Sure(AppProto::Smb)
            } else {
                Clue::None
            }
        }
        // NetBIOS session request (port 139) with two encoded names, and
        // its positive response: what comes before SMB there.
        0x81 => {
            let name = p.get(4..38).unwrap_or_default();
            let ok = len == 68
                && p.len() == 72
                && name.first() == Some(&0x20)
                && name.get(33) == Some(&0)
                && name
                    .get(1..33)
                    .is_some_and(|n| n.iter().all(|c| (b'A'..=b'P').contains(c)));
            if ok {
                Clue::Hint(bit(AppProto::Smb))
            } else {
                Clue::None
            }
        }
        0x82 if len == 0 && p.len() == 4 => Clue::Hint(bit(AppProto::Smb)),
        _ => Clue::None,
    }
}

// ---------------------------------------------------------------- MySQL

fn is_mysql_greeting(p: &[u8]) -> bool {
    let (Some(l), Some(&seq), Some(&proto)) = (p.get(0..3), p.get(3), p.get(4)) else {
        return false;
    };
    let len = usize::from(l[0]) | usize::from(l[1]) << 8 | usize::from(l[2]) << 16;
    if seq != 0 || len + 4 != p.len() || !(10..=1024).contains(&len) {
        return false;
    }
    let body = p.get(5..).unwrap_or_default();
    match proto {
        // Handshake v10: a NUL-terminated server version that starts with a
        // digit, a thread id, 8 bytes of scramble, a NUL filler.
        0x0a => {
            let Some(nul) = body.iter().take(64).position(|&b| b == 0) else {
                return false;
            };
            let version = body.get(..nul).unwrap_or_default();
            version.first().is_some_and(u8::is_ascii_digit)
                && printable(version)
                && body.get(nul + 13) == Some(&0)
        }
        // An error instead of a greeting (`Host '…' is not allowed`):
        // a 1xxx/2xxx error code and a text message.
        0xff => {
            let code = body.get(0..2).map(|c| u16::from_le_bytes([c[0], c[1]]));
            let msg = body.get(2..).unwrap_or_default();
            code.is_some_and(|c| (1000..=2999).contains(&c)) && msg.len() >= 10 && printable(msg)
        }
        _ => false,
    }
}

// ---------------------------------------------------------------- PostgreSQL

fn is_postgres(p: &[u8]) -> bool {
    let (Some(len), Some(code)) = (be32(p, 0), be32(p, 4)) else {
        return false;
    };
    let len = len as usize;
    if len != p.len() {
        return false;
    }
    match code {
        // SSLRequest, GSSENCRequest.
        80_877_103 | 80_877_104 => len == 8,
        // CancelRequest.
        80_877_102 => len == 16,
        // StartupMessage, protocol 3.0: NUL-terminated key/value pairs with
        // `user` among the keys, then a final NUL.
        0x0003_0000 => {
            let Some(params) = p.get(8..).and_then(|b| b.strip_suffix(&[0, 0])) else {
                return false;
            };
            if len > 10_000 {
                return false;
            }
            let mut parts = params.split(|&b| b == 0);
            let mut user = false;
            while let Some(key) = parts.next() {
                let Some(value) = parts.next() else {
                    return false;
                };
                if key.is_empty()
                    || !key.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    || !printable(value)
                {
                    return false;
                }
                user |= key == b"user";
            }
            user
        }
        _ => false,
    }
}

// ---------------------------------------------------------------- Redis, IMAP untagged

/// Digits up to CR LF at `at`: (value, offset after CR LF).
fn resp_number(p: &[u8], at: usize) -> Option<(usize, usize)> {
    let digits = p
        .get(at..)?
        .iter()
        .take(8)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if digits == 0 || p.get(at + digits..at + digits + 2)? != b"\r\n" {
        return None;
    }
    let mut v = 0usize;
    for &c in p.get(at..at + digits)? {
        v = v * 10 + usize::from(c - b'0');
    }
    Some((v, at + digits + 2))
}

fn redis_or_imap(p: &[u8]) -> Clue {
    if p.starts_with(b"* ") {
        let Some(line) = first_line(p, 1024) else {
            return Clue::None;
        };
        if !printable(line) {
            return Clue::None;
        }
        let untagged = [&b"* OK"[..], b"* PREAUTH", b"* BYE"]
            .iter()
            .any(|w| line.starts_with(w));
        if !untagged {
            return Clue::None;
        }
        let upper = line.to_ascii_uppercase();
        return if upper.windows(4).any(|w| w == b"IMAP") {
            Clue::Sure(AppProto::Imap)
        } else {
            Clue::Hint(bit(AppProto::Imap))
        };
    }
    // A RESP array of bulk strings whose first is a command name.
    let Some((n, at)) = resp_number(p, 1) else {
        return Clue::None;
    };
    if n == 0 || n > 1_000_000 || p.get(at) != Some(&b'$') {
        return Clue::None;
    }
    let Some((m, at)) = resp_number(p, at + 1) else {
        return Clue::None;
    };
    let name = p.get(at..at + m);
    let ok = (1..=32).contains(&m)
        && name.is_some_and(|c| {
            c.iter()
                .all(|b| b.is_ascii_alphabetic() || *b == b'.' || *b == b'_')
        })
        && p.get(at + m..at + m + 2).is_none_or(|e| e == b"\r\n");
    if ok {
        Clue::Sure(AppProto::Redis)
    } else {
        Clue::None
    }
}

// ---------------------------------------------------------------- Telnet

fn is_telnet(p: &[u8]) -> bool {
    const IAC: u8 = 0xff;
    let mut i = 0;
    let mut n = 0;
    while let Some(&b) = p.get(i) {
        if b != IAC {
            // Text after the negotiation (a banner, `login:`).
            return n >= 2;
        }
        let Some(&cmd) = p.get(i + 1) else {
            return false;
        };
        match cmd {
            // WILL, WONT, DO, DONT and an option.
            0xfb..=0xfe => {
                let Some(&opt) = p.get(i + 2) else {
                    return false;
                };
                if opt > 49 && opt != 0xff {
                    return false;
                }
                i += 3;
            }
            // Subnegotiation up to IAC SE.
            0xfa => {
                if p.get(i + 2).is_none_or(|&opt| opt > 49) {
                    return false;
                }
                let Some(se) = p
                    .get(i + 3..)
                    .and_then(|r| r.windows(2).position(|w| w == [IAC, 0xf0]))
                else {
                    return false;
                };
                i += 3 + se + 2;
            }
            // NOP, DM, BRK, IP, AO, AYT, EC, EL, GA: only after a negotiation.
            0xf1..=0xf9 if n > 0 => i += 2,
            _ => return false,
        }
        n += 1;
    }
    n >= 1
}

// ---------------------------------------------------------------- SNMP

/// A BER length at `at`: (length, offset after it).
fn ber_len(p: &[u8], at: usize) -> Option<(usize, usize)> {
    let first = *p.get(at)?;
    match first {
        0..=0x7f => Some((usize::from(first), at + 1)),
        0x81 => Some((usize::from(*p.get(at + 1)?), at + 2)),
        0x82 => Some((be16(p, at + 1)?, at + 3)),
        _ => None,
    }
}

fn is_snmp(p: &[u8]) -> bool {
    if p.first() != Some(&0x30) {
        return false;
    }
    let Some((len, at)) = ber_len(p, 1) else {
        return false;
    };
    if at + len != p.len() || p.get(at..at + 2) != Some(&[0x02, 0x01]) {
        return false;
    }
    let Some(&version) = p.get(at + 2) else {
        return false;
    };
    let at = at + 3;
    match version {
        // v1 / v2c: community string, then a PDU that fills the rest.
        0 | 1 => {
            if p.get(at) != Some(&0x04) {
                return false;
            }
            let Some(&clen) = p.get(at + 1) else {
                return false;
            };
            let clen = usize::from(clen);
            let Some(community) = p.get(at + 2..at + 2 + clen) else {
                return false;
            };
            if clen > 64 || !printable(community) {
                return false;
            }
            let at = at + 2 + clen;
            if !p.get(at).is_some_and(|t| (0xa0..=0xa8).contains(t)) {
                return false;
            }
            ber_len(p, at + 1).is_some_and(|(l, a)| a + l == p.len())
        }
        // v3: msgGlobalData is a SEQUENCE starting with the message id.
        3 => {
            p.get(at) == Some(&0x30)
                && ber_len(p, at + 1)
                    .is_some_and(|(l, a)| a + l <= p.len() && p.get(a) == Some(&0x02))
        }
        _ => false,
    }
}

// ---------------------------------------------------------------- NTP

fn is_ntp(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else {
        return false;
    };
    let version = (b0 >> 3) & 7;
    let mode = b0 & 7;
    match mode {
        // Symmetric, client, server, broadcast: a 48-byte header, optionally
        // extension fields and a MAC (multiples of 4).
        1..=5 => {
            if !(1..=4).contains(&version)
                || p.len() < 48
                || p.len() > 48 + 1024
                || !p.len().is_multiple_of(4)
            {
                return false;
            }
            let stratum = p[1];
            let poll = p[2] as i8;
            let precision = p[3] as i8;
            // Root delay below 1 s and root dispersion below 256 s (16.16
            // fixed point): every real clock, synchronised or not.
            if stratum > 16 || !(-6..=17).contains(&poll) || p[4] != 0 || p[5] != 0 || p[8] != 0 {
                return false;
            }
            if mode == 4 || mode == 5 {
                // A server states its precision and its transmit time.
                (-32..=0).contains(&precision) && p[40..44] != [0, 0, 0, 0]
            } else {
                true
            }
        }
        // Control (ntpq): no leap bits, opcode 1–7, a data count that the
        // packet holds (padded to 4, optionally a MAC); a request has no
        // error/more bits and offset 0.
        6 => {
            let (Some(&b1), Some(offset), Some(count)) = (p.get(1), be16(p, 8), be16(p, 10)) else {
                return false;
            };
            let request = b1 & 0x80 == 0;
            let data = 12 + count.div_ceil(4) * 4;
            (2..=4).contains(&version)
                && b0 & 0xc0 == 0
                && (1..=7).contains(&(b1 & 0x1f))
                && (!request || (b1 & 0x60 == 0 && offset == 0))
                && count <= 468
                && p.len().is_multiple_of(4)
                && (data..=data + 24).contains(&p.len())
        }
        // Private (ntpdc, `monlist`): implementation 0/2/3, a known
        // request code, zero nibbles where the format has them, and items
        // that fit the packet.
        7 => {
            if p.len() < 8
                || !p.len().is_multiple_of(4)
                || !matches!(version, 2 | 3)
                || b0 & 0x40 != 0
            {
                return false;
            }
            let nitems = usize::from(p[4] & 0x0f) << 8 | usize::from(p[5]);
            let item_size = usize::from(p[6] & 0x0f) << 8 | usize::from(p[7]);
            let response = b0 & 0x80 != 0;
            let err = p[4] >> 4;
            matches!(p[2], 0 | 2 | 3)
                && p[3] <= 45
                && (if response { err <= 5 } else { err == 0 })
                && p[6] >> 4 == 0
                && item_size <= 500
                && 8 + nitems * item_size <= p.len()
        }
        _ => false,
    }
}

// ---------------------------------------------------------------- line protocols

/// Client commands that name their protocol (first word, upper case).
const COMMANDS: &[(&[u8], Mask)] = &[
    (b"EHLO", bit(AppProto::Smtp)),
    (b"HELO", bit(AppProto::Smtp)),
    (b"USER", bit(AppProto::Ftp) | bit(AppProto::Pop3)),
    (b"PASS", bit(AppProto::Ftp) | bit(AppProto::Pop3)),
    (b"FEAT", bit(AppProto::Ftp)),
    (b"SYST", bit(AppProto::Ftp)),
    (b"OPTS", bit(AppProto::Ftp)),
    (b"PASV", bit(AppProto::Ftp)),
    (b"EPSV", bit(AppProto::Ftp)),
    (b"CAPA", bit(AppProto::Pop3)),
    (b"STLS", bit(AppProto::Pop3)),
    (b"APOP", bit(AppProto::Pop3)),
    (
        b"AUTH",
        bit(AppProto::Ftp) | bit(AppProto::Smtp) | bit(AppProto::Pop3),
    ),
    (
        b"QUIT",
        bit(AppProto::Ftp) | bit(AppProto::Smtp) | bit(AppProto::Pop3),
    ),
    (
        b"NOOP",
        bit(AppProto::Ftp) | bit(AppProto::Smtp) | bit(AppProto::Pop3),
    ),
    (b"STARTTLS", bit(AppProto::Smtp)),
    (b"PING", bit(AppProto::Redis)),
];

/// IMAP commands after a tag.
const IMAP_COMMANDS: &[&[u8]] = &[
    b"CAPABILITY",
    b"LOGIN",
    b"AUTHENTICATE",
    b"STARTTLS",
    b"ID",
    b"NOOP",
    b"LOGOUT",
    b"SELECT",
    b"EXAMINE",
    b"LIST",
];

fn contains_word(line: &[u8], w: &[u8]) -> bool {
    line.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w))
}

/// FTP, SMTP, POP3, IMAP and inline Redis by their first line.
fn text_line(p: &[u8]) -> Clue {
    let Some(line) = first_line(p, 512) else {
        return Clue::None;
    };
    if line.len() < 4 || !printable(line) {
        return Clue::None;
    }
    let ftp = bit(AppProto::Ftp);
    let smtp = bit(AppProto::Smtp);
    let pop3 = bit(AppProto::Pop3);
    let redis = bit(AppProto::Redis);
    // Server greetings and replies.
    if line.starts_with(b"220 ") || line.starts_with(b"220-") {
        return if contains_word(line, b"FTP") {
            Clue::Sure(AppProto::Ftp)
        } else if contains_word(line, b"SMTP") {
            Clue::Sure(AppProto::Smtp)
        } else {
            Clue::Hint(ftp | smtp)
        };
    }
    if let Some(rest) = line.strip_prefix(b"+OK") {
        return if rest.is_empty() {
            Clue::Hint(pop3 | redis)
        } else if !rest.starts_with(b" ") {
            Clue::None
        } else if contains_word(rest, b"POP") {
            Clue::Sure(AppProto::Pop3)
        } else {
            Clue::Hint(pop3)
        };
    }
    if line == b"+PONG" || line.starts_with(b"-NOAUTH ") {
        return Clue::Hint(redis);
    }
    if line.starts_with(b"-ERR") {
        return Clue::Hint(pop3 | redis);
    }
    // Client commands: a word, then a space or the line end.
    let word_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let (word, rest) = line.split_at(word_end);
    if let Some(&(_, m)) = COMMANDS.iter().find(|(c, _)| word.eq_ignore_ascii_case(c)) {
        if word.eq_ignore_ascii_case(b"AUTH") {
            // FTP's AUTH is TLS or SSL; SMTP and POP3 name a SASL mechanism.
            let arg = rest.trim_ascii();
            return if arg.eq_ignore_ascii_case(b"TLS") || arg.eq_ignore_ascii_case(b"SSL") {
                Clue::Hint(ftp)
            } else {
                Clue::Hint(smtp | pop3)
            };
        }
        if (word.eq_ignore_ascii_case(b"EHLO") || word.eq_ignore_ascii_case(b"HELO"))
            && rest.trim_ascii().is_empty()
        {
            return Clue::None;
        }
        return if m.count_ones() == 1 && m == smtp {
            Clue::Sure(AppProto::Smtp)
        } else {
            Clue::Hint(m)
        };
    }
    // IMAP: `tag COMMAND …`, the tag alphanumeric (dots allowed).
    if (1..=20).contains(&word.len())
        && word.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'.')
        && let Some(cmd) = rest.get(1..)
    {
        let cmd_word = cmd.split(|&b| b == b' ').next().unwrap_or_default();
        if IMAP_COMMANDS
            .iter()
            .any(|c| cmd_word.eq_ignore_ascii_case(c))
        {
            return Clue::Hint(bit(AppProto::Imap));
        }
    }
    Clue::None
}

#[cfg(test)]
mod tests;
