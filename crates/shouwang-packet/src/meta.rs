//! Protocol metadata from single packets' payloads: DNS, TLS ClientHello
//! (with JA4), HTTP/1.x request and status lines, SSH banners, clear-text
//! login replies, ICMP echo entropy. Pure functions over `&[u8]`; every
//! length is checked, every loop bounded.

use std::fmt::Write as _;
use std::net::IpAddr;

use sha2::{Digest, Sha256};
use shouwang_proto::{AppProto, DnsAnswer};

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// A list of big-endian u16s (a trailing odd byte is ignored).
fn be16_list(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}

// ---------------------------------------------------------------- DNS

/// A parsed DNS message (first question, up to 16 answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    pub id: u16,
    pub response: bool,
    pub rcode: u8,
    pub qname: String,
    pub qtype: u16,
    pub answers: Vec<DnsAnswer>,
}

const MAX_NAME: usize = 255;
const MAX_ANSWERS: usize = 16;

/// Reads a (possibly compressed) name at `off`; returns it and the offset
/// after it in the original position.
fn dns_name(msg: &[u8], mut off: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut after = None;
    for _jump in 0..32 {
        loop {
            let len = *msg.get(off)?;
            match len & 0xc0 {
                0x00 => {
                    if len == 0 {
                        return Some((name, after.unwrap_or(off + 1)));
                    }
                    let label = msg.get(off + 1..off + 1 + usize::from(len))?;
                    if !name.is_empty() {
                        name.push('.');
                    }
                    let plain = |c: &u8| c.is_ascii_graphic() && *c != b'.';
                    match std::str::from_utf8(label) {
                        Ok(text) if label.iter().all(plain) => name.push_str(text),
                        _ => {
                            for &c in label {
                                if plain(&c) {
                                    name.push(char::from(c));
                                } else {
                                    let _ = write!(name, "\\{c:03}");
                                }
                            }
                        }
                    }
                    if name.len() > MAX_NAME * 4 {
                        return None;
                    }
                    off += 1 + usize::from(len);
                }
                0xc0 => {
                    let ptr = usize::from(be16(msg, off)? & 0x3fff);
                    after.get_or_insert(off + 2);
                    off = ptr;
                    break;
                }
                _ => return None,
            }
        }
    }
    None // pointer loop
}

pub fn dns_type(t: u16) -> String {
    match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        10 => "NULL",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        64 => "SVCB",
        65 => "HTTPS",
        255 => "ANY",
        other => return format!("TYPE{other}"),
    }
    .to_owned()
}

pub fn dns_rcode(r: u8) -> String {
    match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        other => return format!("RCODE{other}"),
    }
    .to_owned()
}

/// Parses a DNS message (UDP payload, or TCP payload after the length).
pub fn parse_dns(msg: &[u8]) -> Option<DnsMessage> {
    let id = be16(msg, 0)?;
    let flags = be16(msg, 2)?;
    let qd = be16(msg, 4)?;
    let an = be16(msg, 6)?;
    // Opcode must be QUERY (0), IQUERY, STATUS, NOTIFY or UPDATE; and there
    // must be a question, or this is not DNS.
    if qd == 0 || (flags >> 11) & 0xf > 5 {
        return None;
    }
    let (qname, mut off) = dns_name(msg, 12)?;
    let qtype = be16(msg, off)?;
    off += 4;
    for _ in 1..qd.min(8) {
        let (_, o) = dns_name(msg, off)?;
        off = o + 4;
    }
    let mut answers = Vec::new();
    for _ in 0..an.min(MAX_ANSWERS as u16) {
        let Some((name, o)) = dns_name(msg, off) else {
            break;
        };
        let (Some(rtype), Some(ttl), Some(rdlen)) =
            (be16(msg, o), be32(msg, o + 4), be16(msg, o + 8))
        else {
            break;
        };
        let start = o + 10;
        let Some(rdata) = msg.get(start..start + usize::from(rdlen)) else {
            break;
        };
        let data = match rtype {
            1 if rdata.len() == 4 => {
                IpAddr::from([rdata[0], rdata[1], rdata[2], rdata[3]]).to_string()
            }
            28 if rdata.len() == 16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(rdata);
                IpAddr::from(a).to_string()
            }
            2 | 5 | 12 => dns_name(msg, start).map(|n| n.0).unwrap_or_default(),
            15 => match (be16(rdata, 0), dns_name(msg, start + 2)) {
                (Some(pref), Some((n, _))) => format!("{pref} {n}"),
                _ => String::new(),
            },
            16 => {
                let mut t = String::new();
                let mut i = 0;
                while let Some(&l) = rdata.get(i) {
                    let s = rdata.get(i + 1..i + 1 + usize::from(l)).unwrap_or_default();
                    t.push_str(&String::from_utf8_lossy(s));
                    i += 1 + usize::from(l);
                }
                cut(&t, 255)
            }
            _ => format!("{} bytes", rdata.len()),
        };
        answers.push(DnsAnswer {
            name: cut(&name, MAX_NAME),
            rtype: dns_type(rtype),
            ttl,
            data,
        });
        off = start + usize::from(rdlen);
    }
    Some(DnsMessage {
        id,
        response: flags & 0x8000 != 0,
        rcode: (flags & 0x000f) as u8,
        qname: cut(&qname, MAX_NAME * 4),
        qtype,
        answers,
    })
}

// ---------------------------------------------------------------- TLS

/// What a ClientHello offers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    pub legacy_version: u16,
    pub ciphers: Vec<u16>,
    pub extensions: Vec<u16>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub supported_versions: Vec<u16>,
    pub signature_algorithms: Vec<u16>,
}

fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// Parses a TLS record carrying a ClientHello (as much as the segment has).
pub fn parse_client_hello(p: &[u8]) -> Option<ClientHello> {
    if *p.first()? != 0x16 || *p.get(1)? != 0x03 || *p.get(5)? != 0x01 {
        return None;
    }
    let mut ch = ClientHello {
        legacy_version: be16(p, 9)?,
        ..Default::default()
    };
    let mut off = 43; // 5 record + 4 handshake + 2 version + 32 random
    off += 1 + usize::from(*p.get(off)?); // session id
    let cs_len = usize::from(be16(p, off)?);
    let suites = p.get(off + 2..off + 2 + cs_len)?;
    ch.ciphers = be16_list(suites);
    off += 2 + cs_len;
    off += 1 + usize::from(*p.get(off)?); // compression methods
    let Some(ext_len) = be16(p, off) else {
        return Some(ch);
    };
    let end = (off + 2 + usize::from(ext_len)).min(p.len());
    off += 2;
    while off + 4 <= end {
        let (Some(t), Some(l)) = (be16(p, off), be16(p, off + 2)) else {
            break;
        };
        let data = p.get(off + 4..off + 4 + usize::from(l));
        ch.extensions.push(t);
        if let Some(d) = data {
            match t {
                0 => {
                    // server_name list: len(2) type(1) len(2) name
                    if d.get(2) == Some(&0)
                        && let Some(n) = be16(d, 3).and_then(|n| d.get(5..5 + usize::from(n)))
                    {
                        ch.sni = Some(cut(&String::from_utf8_lossy(n), 255));
                    }
                }
                16 => {
                    let mut i = 2;
                    while let Some(&l) = d.get(i) {
                        if let Some(v) = d.get(i + 1..i + 1 + usize::from(l)) {
                            ch.alpn.push(String::from_utf8_lossy(v).into_owned());
                        }
                        i += 1 + usize::from(l);
                    }
                }
                43 => {
                    ch.supported_versions = be16_list(d.get(1..).unwrap_or_default());
                }
                13 => {
                    ch.signature_algorithms = be16_list(d.get(2..).unwrap_or_default());
                }
                _ => {}
            }
        }
        off += 4 + usize::from(l);
    }
    Some(ch)
}

fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

impl ClientHello {
    /// Highest version offered.
    pub fn max_version(&self) -> u16 {
        self.supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or(self.legacy_version)
    }

    pub fn version_name(&self) -> String {
        match self.max_version() {
            0x0304 => "1.3",
            0x0303 => "1.2",
            0x0302 => "1.1",
            0x0301 => "1.0",
            0x0300 => "ssl3",
            _ => "unknown",
        }
        .to_owned()
    }

    /// The JA4 fingerprint (FoxIO, TCP).
    pub fn ja4(&self) -> String {
        let ciphers: Vec<u16> = self
            .ciphers
            .iter()
            .copied()
            .filter(|c| !is_grease(*c))
            .collect();
        let exts: Vec<u16> = self
            .extensions
            .iter()
            .copied()
            .filter(|e| !is_grease(*e))
            .collect();
        let alpn = match self.alpn.first().map(String::as_bytes) {
            Some([]) | None => "00".to_owned(),
            Some(v) => {
                let (f, l) = (v[0], v[v.len() - 1]);
                if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
                    format!("{}{}", char::from(f), char::from(l))
                } else {
                    let hex = format!("{f:02x}{l:02x}");
                    format!("{}{}", &hex[..1], &hex[3..])
                }
            }
        };
        let a = format!(
            "t{}{}{:02}{:02}{alpn}",
            version_code(self.max_version()),
            if self.sni.is_some() { 'd' } else { 'i' },
            ciphers.len().min(99),
            exts.len().min(99),
        );
        let hash12 = |s: &str| -> String {
            if s.is_empty() {
                return "000000000000".to_owned();
            }
            let d = Sha256::digest(s.as_bytes());
            d.iter().take(6).fold(String::new(), |mut acc, b| {
                let _ = write!(acc, "{b:02x}");
                acc
            })
        };
        let join = |v: &[u16]| {
            v.iter()
                .map(|x| format!("{x:04x}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut sorted_c = ciphers.clone();
        sorted_c.sort_unstable();
        let mut sorted_e: Vec<u16> = exts
            .into_iter()
            .filter(|e| *e != 0x0000 && *e != 0x0010)
            .collect();
        sorted_e.sort_unstable();
        let c_src = if sorted_e.is_empty() {
            String::new()
        } else if self.signature_algorithms.is_empty() {
            join(&sorted_e)
        } else {
            format!("{}_{}", join(&sorted_e), join(&self.signature_algorithms))
        };
        format!("{a}_{}_{}", hash12(&join(&sorted_c)), hash12(&c_src))
    }
}

// ---------------------------------------------------------------- HTTP

/// An HTTP/1.x request head from one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHead {
    pub method: String,
    pub uri: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
}

const METHODS: &[&str] = &[
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "PROPFIND",
    "MKCOL", "COPY", "MOVE",
];

pub fn parse_http_request(p: &[u8]) -> Option<HttpHead> {
    let sp = p.iter().take(10).position(|&b| b == b' ')?;
    let method = std::str::from_utf8(p.get(..sp)?).ok()?;
    if !METHODS.contains(&method) {
        return None;
    }
    let head_end = p
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(p.len(), |i| i + 2);
    let head = String::from_utf8_lossy(p.get(..head_end.min(16 * 1024))?);
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    let (uri_version, version) = first.get(sp + 1..)?.rsplit_once(' ')?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .take(32)
        .map(|(k, v)| (cut(k.trim(), 64), cut(v.trim(), 512)))
        .collect();
    Some(HttpHead {
        method: method.to_owned(),
        uri: cut(uri_version, 4096),
        version: version.to_owned(),
        headers,
    })
}

impl HttpHead {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// `HTTP/1.1 404 Not Found` → (`HTTP/1.1`, 404).
pub fn parse_http_status(p: &[u8]) -> Option<(String, u16)> {
    if !p.starts_with(b"HTTP/1.") || p.get(8) != Some(&b' ') {
        return None;
    }
    let code = std::str::from_utf8(p.get(9..12)?).ok()?.parse().ok()?;
    Some((String::from_utf8_lossy(p.get(..8)?).into_owned(), code))
}

// ---------------------------------------------------------------- SSH

/// `SSH-2.0-OpenSSH_9.2p1 Debian-2` (without CR LF), at most 255 bytes.
pub fn parse_ssh_banner(p: &[u8]) -> Option<String> {
    if !p.starts_with(b"SSH-") {
        return None;
    }
    let end = p
        .iter()
        .take(255)
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(p.len().min(255));
    let s = std::str::from_utf8(p.get(..end)?).ok()?;
    (s.len() > 8 && s.chars().all(|c| c.is_ascii() && !c.is_ascii_control())).then(|| s.to_owned())
}

// ---------------------------------------------------------------- logins

/// A login outcome in a server reply of a flow identified as `app` (see
/// [`crate::app`]): (protocol, success, line). Other protocols have none.
pub fn parse_login_reply(app: AppProto, p: &[u8]) -> Option<(&'static str, bool, String)> {
    let line_end = p
        .iter()
        .take(200)
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(p.len().min(200));
    let line = std::str::from_utf8(p.get(..line_end)?).ok()?;
    let lower = line.to_ascii_lowercase();
    let (proto, ok) = match app {
        AppProto::Ftp => match line.get(..4) {
            Some("230 " | "230-") => ("ftp", true),
            Some("530 " | "530-") => ("ftp", false),
            _ => return None,
        },
        AppProto::Pop3 => {
            if line.starts_with("-ERR")
                && ["auth", "password", "login", "invalid", "denied"]
                    .iter()
                    .any(|w| lower.contains(w))
            {
                ("pop3", false)
            } else if line.starts_with("+OK")
                && ["logged in", "authenticated", "maildrop", "mailbox"]
                    .iter()
                    .any(|w| lower.contains(w))
            {
                ("pop3", true)
            } else {
                return None;
            }
        }
        AppProto::Imap => {
            let mut words = line.split(' ');
            let _tag = words.next()?;
            match words.next()? {
                "NO" if ["authenticationfailed", "login", "auth"]
                    .iter()
                    .any(|w| lower.contains(w)) =>
                {
                    ("imap", false)
                }
                "OK" if ["login", "authenticate", "logged in"]
                    .iter()
                    .any(|w| lower.contains(w)) =>
                {
                    ("imap", true)
                }
                _ => return None,
            }
        }
        AppProto::Smtp => match line.get(..4) {
            Some("235 " | "235-") => ("smtp", true),
            Some("535 " | "535-") => ("smtp", false),
            _ => return None,
        },
        _ => return None,
    };
    Some((proto, ok, line.to_owned()))
}

// ---------------------------------------------------------------- ICMP

/// Shannon entropy in bits per byte.
pub fn entropy(b: &[u8]) -> f32 {
    if b.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &x in b {
        counts[usize::from(x)] += 1;
    }
    let n = b.len() as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f32 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A DNS query for `name` of `qtype`.
    pub(crate) fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        for label in name.split('.') {
            m.push(label.len() as u8);
            m.extend(label.as_bytes());
        }
        m.push(0);
        m.extend(qtype.to_be_bytes());
        m.extend([0, 1]);
        m
    }

    #[test]
    fn dns_query_and_compressed_response() {
        let q = dns_query(0x1234, "dnscat.abcdef.example.com", 16);
        let m = parse_dns(&q).unwrap();
        assert_eq!(
            (m.id, m.response, m.qname.as_str(), m.qtype),
            (0x1234, false, "dnscat.abcdef.example.com", 16)
        );
        // Response: same question, answers A (pointer to the qname) and CNAME.
        let mut r = q.clone();
        r[2] = 0x81;
        r[3] = 0x83; // NXDOMAIN... then rewrite to NOERROR below
        r[3] = 0x80;
        r[7] = 2; // ancount
        r.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
        r.extend([0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12]);
        let m = parse_dns(&r).unwrap();
        assert!(m.response);
        assert_eq!(dns_rcode(m.rcode), "NOERROR");
        assert_eq!(m.answers[0].data, "192.0.2.7");
        assert_eq!(m.answers[0].rtype, "A");
        assert_eq!(m.answers[1].data, "dnscat.abcdef.example.com");
    }

    #[test]
    fn dns_pointer_loop_and_garbage_are_rejected() {
        let mut m = vec![0, 1, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend([0xc0, 12]); // points at itself
        m.extend([0, 1, 0, 1]);
        assert!(parse_dns(&m).is_none());
        assert!(parse_dns(b"GET / HTTP/1.1").is_none());
        assert!(parse_dns(&[]).is_none());
    }

    pub(crate) fn client_hello(sni: Option<&str>, alpn: &[&str]) -> Vec<u8> {
        let mut exts = Vec::new();
        let mut push = |t: u16, d: Vec<u8>| {
            exts.extend(t.to_be_bytes());
            exts.extend((d.len() as u16).to_be_bytes());
            exts.extend(d);
        };
        push(0x0a0a, vec![]); // GREASE
        if let Some(s) = sni {
            let mut d = ((s.len() + 3) as u16).to_be_bytes().to_vec();
            d.push(0);
            d.extend((s.len() as u16).to_be_bytes());
            d.extend(s.as_bytes());
            push(0, d);
        }
        if !alpn.is_empty() {
            let mut list = Vec::new();
            for a in alpn {
                list.push(a.len() as u8);
                list.extend(a.as_bytes());
            }
            let mut d = (list.len() as u16).to_be_bytes().to_vec();
            d.extend(list);
            push(0x10, d);
        }
        push(0x2b, vec![4, 0x03, 0x04, 0x03, 0x03]);
        push(0x0d, vec![0, 4, 0x04, 0x03, 0x08, 0x04]);
        push(0x0a, vec![0, 2, 0, 0x1d]);
        let mut body = vec![0x03, 0x03];
        body.extend([7u8; 32]);
        body.push(0);
        body.extend([0, 8, 0x1a, 0x1a, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2b]); // GREASE + 3 suites
        body.extend([1, 0]);
        body.extend((exts.len() as u16).to_be_bytes());
        body.extend(exts);
        let mut hs = vec![0x01, 0, (body.len() >> 8) as u8, body.len() as u8];
        hs.extend(body);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }

    #[test]
    fn client_hello_fields_and_ja4() {
        let ch = parse_client_hello(&client_hello(
            Some("www.example.gov.cn"),
            &["h2", "http/1.1"],
        ))
        .unwrap();
        assert_eq!(ch.sni.as_deref(), Some("www.example.gov.cn"));
        assert_eq!(ch.alpn, vec!["h2", "http/1.1"]);
        assert_eq!(ch.version_name(), "1.3");
        // Hashes computed independently (Python hashlib) from the JA4 spec:
        // b = sha256("1301,1302,c02b"), c = sha256("000a,000d,002b_0403,0804").
        assert_eq!(ch.ja4(), "t13d0305h2_5559582ccdc4_fbabbea27ee8");
        let ch = parse_client_hello(&client_hello(None, &[])).unwrap();
        assert_eq!(
            ch.ja4(),
            "t13i0303".to_owned() + "00_5559582ccdc4_fbabbea27ee8"
        );
    }

    #[test]
    fn truncated_client_hello_keeps_what_it_has() {
        let full = client_hello(Some("a.example"), &["h2"]);
        for cut in [0, 5, 20, 44, 60, full.len() - 3] {
            let _ = parse_client_hello(&full[..cut]);
        }
        // Cut inside the extensions: ciphers and the extensions before the cut survive.
        let ch = parse_client_hello(&full[..full.len() - 3]).unwrap();
        assert_eq!(ch.ciphers, vec![0x1a1a, 0x1301, 0x1302, 0xc02b]);
        assert_eq!(ch.sni.as_deref(), Some("a.example"));
        // Cut inside the cipher list: not a usable ClientHello.
        assert!(parse_client_hello(&full[..50]).is_none());
        // Application data is not a ClientHello.
        assert!(parse_client_hello(b"\x17\x03\x03\x00\x10").is_none());
    }

    #[test]
    fn http_request_and_status() {
        let r = parse_http_request(b"GET /dvwa/vulnerabilities/sqli/?id=1%27+UNION+SELECT+user%2C+password+FROM+users--+ HTTP/1.1\r\nHost: 192.168.111.154\r\nUser-Agent: sqlmap/1.8\r\n\r\n").unwrap();
        assert_eq!(r.method, "GET");
        assert!(r.uri.contains("UNION+SELECT"));
        assert_eq!(r.header("host").as_deref(), Some("192.168.111.154"));
        assert_eq!(r.header("User-Agent").as_deref(), Some("sqlmap/1.8"));
        assert!(parse_http_request(b"HELO mail\r\n").is_none());
        assert!(parse_http_request(b"GET / SMTP/1.0\r\n\r\n").is_none());
        assert_eq!(
            parse_http_status(b"HTTP/1.1 404 Not Found\r\n"),
            Some(("HTTP/1.1".into(), 404))
        );
        assert_eq!(parse_http_status(b"HTTP/1.1 4x4"), None);
    }

    #[test]
    fn ssh_login_icmp() {
        assert_eq!(
            parse_ssh_banner(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").as_deref(),
            Some("SSH-2.0-OpenSSH_9.2p1 Debian-2")
        );
        assert!(parse_ssh_banner(b"SSH-\x01\x02\x03\x04\x05\x06").is_none());
        assert_eq!(
            parse_login_reply(AppProto::Ftp, b"530 Login incorrect.\r\n"),
            Some(("ftp", false, "530 Login incorrect.".into()))
        );
        assert_eq!(
            parse_login_reply(AppProto::Ftp, b"230 Login successful.\r\n").map(|r| r.1),
            Some(true)
        );
        assert_eq!(
            parse_login_reply(AppProto::Pop3, b"-ERR [AUTH] Authentication failed.\r\n")
                .map(|r| r.1),
            Some(false)
        );
        assert_eq!(
            parse_login_reply(
                AppProto::Imap,
                b"a001 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
            )
            .map(|r| r.1),
            Some(false)
        );
        assert_eq!(
            parse_login_reply(
                AppProto::Smtp,
                b"535 5.7.8 Error: authentication failed\r\n"
            )
            .map(|r| r.0),
            Some("smtp")
        );
        assert_eq!(parse_login_reply(AppProto::Http, b"530 x"), None);
        assert_eq!(entropy(&[0u8; 56]), 0.0);
        let all: Vec<u8> = (0..=255).collect();
        assert!((entropy(&all) - 8.0).abs() < 1e-4);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = parse_dns(&b);
            let _ = parse_client_hello(&b).map(|c| c.ja4());
            let _ = parse_http_request(&b);
            let _ = parse_http_status(&b);
            let _ = parse_ssh_banner(&b);
            for app in [AppProto::Ftp, AppProto::Smtp, AppProto::Pop3, AppProto::Imap] {
                let _ = parse_login_reply(app, &b);
            }
            let _ = entropy(&b);
        }

        #[test]
        fn mutated_messages_never_panic(pos in 0usize..400, val in proptest::num::u8::ANY, cut in 0usize..400) {
            for mut m in [dns_query(1, "a.b.example", 1), client_hello(Some("x.example"), &["h2"])] {
                let i = pos % m.len();
                m[i] = val;
                m.truncate(cut.max(1).min(m.len()));
                let _ = parse_dns(&m);
                let _ = parse_client_hello(&m).map(|c| c.ja4());
            }
        }
    }
}
