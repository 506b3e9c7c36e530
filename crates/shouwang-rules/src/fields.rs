//! The fields rules may name, per event kind, each with a typed accessor.
//!
//! A rule is compiled against this table once: a field name becomes a plain
//! function pointer, so evaluating an event is a call and a match, never a
//! string lookup or a walk through JSON. Derived fields (a decoded URI, the
//! longest DNS label, memory used in percent) are computed by their accessor
//! only when a rule asks for them.

use std::borrow::Cow;
use std::net::IpAddr;

use shouwang_proto::{EchoPairing, Event, EventBody, EventKind, FlowEnd, TcpState};

/// What a field holds; conditions are type-checked against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Str,
    Num,
    Bool,
    Ip,
    /// Several strings (HTTP headers, DNS answers, ALPN): a condition holds
    /// when it holds for any of them.
    StrList,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Str => "string",
            Self::Num => "number",
            Self::Bool => "boolean",
            Self::Ip => "IP address",
            Self::StrList => "list of strings",
        }
    }
}

/// A field's value in one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    Bool(bool),
    Ip(IpAddr),
    List(Vec<Cow<'a, str>>),
    /// Not present in this event (an optional field, or another kind).
    Missing,
}

impl Value<'_> {
    /// The value as group-key text (`Missing` is `-`).
    pub fn write_key(&self, out: &mut String) {
        use std::fmt::Write;
        match self {
            Self::Str(s) => out.push_str(s),
            Self::Num(n) => {
                let _ = write!(out, "{n}");
            }
            Self::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Self::Ip(ip) => {
                let _ = write!(out, "{ip}");
            }
            Self::List(l) => {
                for (i, s) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(s);
                }
            }
            Self::Missing => out.push('-'),
        }
    }
}

/// What an accessor sees: the event and who sent it.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub agent: &'a str,
    pub event: &'a Event,
}

pub type Getter = for<'a> fn(&Ctx<'a>) -> Value<'a>;

/// One field a rule may name.
#[derive(Clone, Copy)]
pub struct FieldDef {
    pub name: &'static str,
    pub ty: FieldType,
    pub doc: &'static str,
    pub get: Getter,
}

impl std::fmt::Debug for FieldDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldDef")
            .field("name", &self.name)
            .field("ty", &self.ty)
            .finish_non_exhaustive()
    }
}

fn s(v: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(v))
}

fn n(v: impl Into<f64>) -> Value<'static> {
    Value::Num(v.into())
}

fn opt_s(v: Option<&String>) -> Value<'_> {
    v.map_or(Value::Missing, |v| s(v))
}

/// A list of strings, borrowed.
fn strs(v: &[String]) -> Value<'_> {
    Value::List(v.iter().map(|x| Cow::Borrowed(x.as_str())).collect())
}

/// Bytes → f64 without a lossy-cast lint at every use (exact below 2^53).
#[allow(clippy::cast_precision_loss)]
fn big(v: u64) -> Value<'static> {
    Value::Num(v as f64)
}

macro_rules! field {
    ($variant:ident, $name:literal, $ty:ident, $doc:expr, |$x:ident| $body:expr) => {{
        fn get<'a>(c: &Ctx<'a>) -> Value<'a> {
            match &c.event.body {
                EventBody::$variant($x) => $body,
                _ => Value::Missing,
            }
        }
        FieldDef {
            name: $name,
            ty: FieldType::$ty,
            doc: $doc,
            get,
        }
    }};
}

/// What `app` says, on flows and on every kind with endpoints.
const APP_DOC: &str = "application protocol of the flow by content (ssh, http, tls, dns, ftp, smtp, pop3, imap, rdp, smb, mysql, postgresql, redis, telnet, snmp, ntp), unknown when no payload decided it";

/// A table for a kind whose body has `endpoints`: its `src`, `src_port`,
/// `dst`, `dst_port` and `app` fields (with these docs), then its own.
macro_rules! with_endpoints {
    ($variant:ident, [$src:literal, $src_port:literal, $dst:literal, $dst_port:literal], $($rest:expr),* $(,)?) => {
        &[
            field!($variant, "src", Ip, $src, |e| Value::Ip(e.endpoints.src)),
            field!($variant, "src_port", Num, $src_port, |e| n(e.endpoints.src_port)),
            field!($variant, "dst", Ip, $dst, |e| Value::Ip(e.endpoints.dst)),
            field!($variant, "dst_port", Num, $dst_port, |e| n(e.endpoints.dst_port)),
            field!($variant, "app", Str, APP_DOC, |e| s(e.endpoints.app.as_str())),
            $($rest),*
        ]
    };
}

/// Fields every event has.
pub static COMMON: &[FieldDef] = &[
    FieldDef {
        name: "agent",
        ty: FieldType::Str,
        doc: "name of the agent that sent the event",
        get: |c| Value::Str(Cow::Borrowed(c.agent)),
    },
    FieldDef {
        name: "kind",
        ty: FieldType::Str,
        doc: "event kind",
        get: |c| Value::Str(Cow::Borrowed(c.event.kind().as_str())),
    },
];

fn tcp_state(t: TcpState) -> &'static str {
    match t {
        TcpState::None => "none",
        TcpState::SynSent => "syn_sent",
        TcpState::SynReceived => "syn_received",
        TcpState::Established => "established",
        TcpState::Reset => "reset",
        TcpState::Closed => "closed",
    }
}

fn flow_end(e: FlowEnd) -> &'static str {
    match e {
        FlowEnd::Idle => "idle",
        FlowEnd::Active => "active",
        FlowEnd::Evicted => "evicted",
        FlowEnd::End => "end",
    }
}

static FLOW: &[FieldDef] = &[
    field!(Flow, "iface", Str, "capture interface or file", |f| s(
        &f.iface
    )),
    field!(
        Flow,
        "proto",
        Num,
        "IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6)",
        |f| n(f.proto)
    ),
    field!(
        Flow,
        "src",
        Ip,
        "client address (sent the first packet or the SYN)",
        |f| Value::Ip(f.src)
    ),
    field!(Flow, "src_port", Num, "client port", |f| n(f.src_port)),
    field!(Flow, "dst", Ip, "server address", |f| Value::Ip(f.dst)),
    field!(Flow, "dst_port", Num, "server port", |f| n(f.dst_port)),
    field!(Flow, "app", Str, APP_DOC, |f| s(f.app.as_str())),
    field!(Flow, "vlan", Num, "outer VLAN id", |f| f
        .vlan
        .map_or(Value::Missing, n)),
    field!(
        Flow,
        "duration_ms",
        Num,
        "last packet minus first, in ms",
        |f| { big(u64::try_from((f.last_ts - f.first_ts) / 1_000_000).unwrap_or(0)) }
    ),
    field!(
        Flow,
        "packets_to_server",
        Num,
        "packets client → server",
        |f| big(f.packets_to_server)
    ),
    field!(
        Flow,
        "bytes_to_server",
        Num,
        "IP bytes client → server",
        |f| big(f.bytes_to_server)
    ),
    field!(
        Flow,
        "packets_to_client",
        Num,
        "packets server → client",
        |f| big(f.packets_to_client)
    ),
    field!(
        Flow,
        "bytes_to_client",
        Num,
        "IP bytes server → client",
        |f| big(f.bytes_to_client)
    ),
    field!(
        Flow,
        "pps_to_server",
        Num,
        "packets per second client → server over the record (duration at least 1 s)",
        |f| {
            #[allow(clippy::cast_precision_loss)]
            let secs = ((f.last_ts - f.first_ts) as f64 / 1e9).max(1.0);
            #[allow(clippy::cast_precision_loss)]
            Value::Num(f.packets_to_server as f64 / secs)
        }
    ),
    field!(Flow, "packets", Num, "packets both ways", |f| {
        big(f.packets_to_server + f.packets_to_client)
    }),
    field!(Flow, "bytes", Num, "IP bytes both ways", |f| big(f
        .bytes_to_server
        + f.bytes_to_client)),
    field!(
        Flow,
        "tcp_flags_to_server",
        Num,
        "OR of TCP flags client → server (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32)",
        |f| n(f.tcp_flags_to_server)
    ),
    field!(
        Flow,
        "tcp_flags_to_client",
        Num,
        "OR of TCP flags server → client",
        |f| n(f.tcp_flags_to_client)
    ),
    field!(Flow, "syn", Num, "SYN (without ACK) packets", |f| n(f.syn)),
    field!(Flow, "syn_ack", Num, "SYN-ACK packets", |f| n(f.syn_ack)),
    field!(Flow, "rst", Num, "RST packets", |f| n(f.rst)),
    field!(Flow, "fin", Num, "FIN packets", |f| n(f.fin)),
    field!(
        Flow,
        "tcp_state",
        Str,
        "none, syn_sent, syn_received, established, reset, closed",
        |f| s(tcp_state(f.tcp_state))
    ),
    field!(
        Flow,
        "end",
        Str,
        "why the record was emitted: idle, active, evicted, end",
        |f| s(flow_end(f.end))
    ),
];

static IFACE_STATS: &[FieldDef] = &[
    field!(IfaceStats, "iface", Str, "capture interface", |x| s(
        &x.iface
    )),
    field!(IfaceStats, "packets", Num, "packets in the interval", |x| {
        big(x.packets)
    }),
    field!(IfaceStats, "bytes", Num, "bytes in the interval", |x| big(
        x.bytes
    )),
    field!(IfaceStats, "packets_per_sec", Num, "packet rate", |x| n(
        x.packets_per_sec
    )),
    field!(IfaceStats, "bits_per_sec", Num, "bit rate", |x| n(
        x.bits_per_sec
    )),
    field!(IfaceStats, "syn", Num, "SYN packets in the interval", |x| {
        big(x.syn)
    }),
    field!(IfaceStats, "syn_per_sec", Num, "SYN rate", |x| n(
        x.syn_per_sec
    )),
    field!(
        IfaceStats,
        "kernel_drops",
        Num,
        "packets the kernel dropped",
        |x| big(x.kernel_drops)
    ),
    field!(
        IfaceStats,
        "agent_drops",
        Num,
        "packets the agent dropped",
        |x| big(x.agent_drops)
    ),
    field!(
        IfaceStats,
        "malformed",
        Num,
        "frames that did not parse",
        |x| big(x.malformed)
    ),
    field!(
        IfaceStats,
        "flow_evictions",
        Num,
        "flows pushed out of a full table",
        |x| big(x.flow_evictions)
    ),
];

/// Labels of a DNS name, without the empty root label.
fn labels(name: &str) -> impl Iterator<Item = &str> {
    name.split('.').filter(|l| !l.is_empty())
}

/// Second-level labels under a two-letter country code that are public
/// suffixes themselves (`gov.cn`, `co.uk`, `com.au`), and China's province
/// labels (`bj.cn`): a name under them registers one label deeper.
const CC_SECOND_LEVEL: &[&str] = &[
    "ac", "co", "com", "edu", "firm", "gen", "go", "gob", "gov", "govt", "ind", "info", "lg",
    "ltd", "mil", "ne", "net", "nic", "nom", "or", "org", "plc", "sch", "web",
    // 中国 provinces and regions (bj.cn, sh.cn, …)
    "ah", "bj", "cq", "fj", "gd", "gs", "gx", "gz", "ha", "hb", "he", "hi", "hk", "hl", "hn", "jl",
    "js", "jx", "ln", "mo", "nm", "nx", "qh", "sc", "sd", "sh", "sn", "sx", "tj", "tw", "xj", "xz",
    "yn", "zj",
];

/// How many labels at the end of `name` make its registered domain: two,
/// or three under a country code's public second level (`x.gov.cn`).
fn registered_labels(name: &str) -> usize {
    let mut rev = name.rsplit('.');
    let tld = rev.next().unwrap_or_default();
    let second = rev.next().unwrap_or_default();
    let cc = tld.len() == 2 && tld.bytes().all(|b| b.is_ascii_alphabetic());
    if cc
        && CC_SECOND_LEVEL
            .iter()
            .any(|s| s.eq_ignore_ascii_case(second))
    {
        3
    } else {
        2
    }
}

/// Splits a name into (subdomain, registered domain): `a.b.example.com` is
/// (`a.b`, `example.com`), `www.beijing.gov.cn` is (`www`, `beijing.gov.cn`).
fn split_registered(name: &str) -> (&str, &str) {
    let name = name.trim_end_matches('.');
    let keep = registered_labels(name);
    let mut dots = name.rmatch_indices('.');
    for _ in 1..keep {
        if dots.next().is_none() {
            return ("", name);
        }
    }
    match dots.next() {
        Some((i, _)) => (
            name.get(..i).unwrap_or_default(),
            name.get(i + 1..).unwrap_or_default(),
        ),
        None => ("", name),
    }
}

/// The name without its registered domain (what a tunnel encodes data in).
fn subdomain(name: &str) -> &str {
    split_registered(name).0
}

/// The registered domain (the domain a client keeps asking under).
fn base_domain(name: &str) -> &str {
    split_registered(name).1
}

/// Characters a host name never has: outside letters, digits, `-`, `_` and
/// the dots between labels. The parser writes bytes that are not printable
/// as `\NNN`, so each of those counts (its backslash).
fn odd_chars(name: &str) -> u64 {
    name.bytes()
        .filter(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
        .count() as u64
}

static DNS: &[FieldDef] = with_endpoints!(
    Dns,
    [
        "sender address",
        "sender port",
        "receiver address",
        "receiver port"
    ],
    field!(Dns, "transport", Str, "udp or tcp", |d| s(&d.transport)),
    field!(Dns, "response", Bool, "a response (false: a query)", |d| {
        Value::Bool(d.response)
    }),
    field!(Dns, "qname", Str, "question name", |d| s(&d.qname)),
    field!(
        Dns,
        "qtype",
        Str,
        "question type (A, AAAA, TXT, NULL, MX, …)",
        |d| s(&d.qtype)
    ),
    field!(Dns, "rcode", Str, "response code (responses only)", |d| {
        opt_s(d.rcode.as_ref())
    }),
    field!(Dns, "answers", StrList, "answer data", |d| {
        Value::List(
            d.answers
                .iter()
                .map(|a| Cow::Borrowed(a.data.as_str()))
                .collect(),
        )
    }),
    field!(Dns, "size", Num, "DNS message size in bytes", |d| n(d.size)),
    field!(
        Dns,
        "qname_longest_label",
        Str,
        "the longest label of the question name",
        |d| { s(labels(&d.qname).max_by_key(|l| l.len()).unwrap_or_default()) }
    ),
    field!(
        Dns,
        "qname_labels",
        Num,
        "number of labels in the question name",
        |d| { big(labels(&d.qname).count() as u64) }
    ),
    field!(
        Dns,
        "qname_subdomain",
        Str,
        "question name without its registered domain",
        |d| s(subdomain(&d.qname))
    ),
    field!(
        Dns,
        "qname_base",
        Str,
        "registered domain of the question name (example.com, x.gov.cn, x.co.uk)",
        |d| s(base_domain(&d.qname))
    ),
    field!(
        Dns,
        "qname_odd_chars",
        Num,
        "characters of the question name a host name never has (not a letter, digit, -, _ or .)",
        |d| big(odd_chars(&d.qname))
    ),
);

static TLS: &[FieldDef] = with_endpoints!(
    Tls,
    [
        "client address",
        "client port",
        "server address",
        "server port"
    ],
    field!(Tls, "sni", Str, "server name indication", |t| opt_s(
        t.sni.as_ref()
    )),
    field!(Tls, "version", Str, "highest offered TLS version", |t| s(
        &t.version
    )),
    field!(Tls, "alpn", StrList, "offered ALPN protocols", |t| {
        strs(&t.alpn)
    }),
    field!(Tls, "ja4", Str, "JA4 fingerprint", |t| s(&t.ja4)),
);

/// Percent-decodes (and `+` → space), so encodings do not hide keywords.
/// Decodes twice: double encoding is a common evasion.
pub fn url_decode(raw: &str) -> Cow<'_, str> {
    fn once(raw: &str) -> Option<String> {
        if !raw.contains(['%', '+']) {
            return None;
        }
        let b = raw.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while let Some(&c) = b.get(i) {
            match c {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = b
                        .get(i + 1..i + 3)
                        .and_then(|h| std::str::from_utf8(h).ok());
                    match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(v) => {
                            out.push(v);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                _ => out.push(c),
            }
            i += 1;
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }
    match once(raw) {
        None => Cow::Borrowed(raw),
        Some(first) => Cow::Owned(once(&first).unwrap_or(first)),
    }
}

static HTTP_REQUEST: &[FieldDef] = with_endpoints!(
    HttpRequest,
    [
        "client address",
        "client port",
        "server address",
        "server port"
    ],
    field!(HttpRequest, "method", Str, "request method", |h| s(
        &h.method
    )),
    field!(HttpRequest, "uri", Str, "request target as sent", |h| s(
        &h.uri
    )),
    field!(
        HttpRequest,
        "uri_decoded",
        Str,
        "request target, percent-decoded twice, + as space",
        |h| { Value::Str(url_decode(&h.uri)) }
    ),
    field!(HttpRequest, "version", Str, "HTTP version", |h| s(
        &h.version
    )),
    field!(HttpRequest, "host", Str, "Host header", |h| opt_s(
        h.host.as_ref()
    )),
    field!(HttpRequest, "user_agent", Str, "User-Agent header", |h| {
        opt_s(h.user_agent.as_ref())
    }),
    field!(
        HttpRequest,
        "headers",
        StrList,
        "every header as `name: value`",
        |h| {
            Value::List(
                h.headers
                    .iter()
                    .map(|(k, v)| Cow::Owned(format!("{k}: {v}")))
                    .collect(),
            )
        }
    ),
    field!(
        HttpRequest,
        "headers_decoded",
        StrList,
        "every header as `name: value`, percent-decoded",
        |h| {
            Value::List(
                h.headers
                    .iter()
                    .map(|(k, v)| Cow::Owned(format!("{k}: {}", url_decode(v))))
                    .collect(),
            )
        }
    ),
);

static HTTP_RESPONSE: &[FieldDef] = with_endpoints!(
    HttpResponse,
    [
        "server address (sender of the response)",
        "server port",
        "client address",
        "client port"
    ],
    field!(HttpResponse, "version", Str, "HTTP version", |h| s(
        &h.version
    )),
    field!(HttpResponse, "status", Num, "status code", |h| n(h.status)),
);

static SSH_BANNER: &[FieldDef] = with_endpoints!(
    SshBanner,
    [
        "sender address",
        "sender port",
        "receiver address",
        "receiver port"
    ],
    field!(
        SshBanner,
        "banner",
        Str,
        "SSH identification string",
        |b| s(&b.banner)
    ),
    field!(SshBanner, "from_server", Bool, "sent by the server", |b| {
        Value::Bool(b.from_server)
    }),
);

static ICMP_ECHO: &[FieldDef] = &[
    field!(IcmpEcho, "src", Ip, "sender address", |i| Value::Ip(i.src)),
    field!(IcmpEcho, "dst", Ip, "receiver address", |i| Value::Ip(
        i.dst
    )),
    field!(
        IcmpEcho,
        "reply",
        Bool,
        "an echo reply (false: a request)",
        |i| Value::Bool(i.reply)
    ),
    field!(IcmpEcho, "payload_len", Num, "echo data length", |i| n(
        i.payload_len
    )),
    field!(
        IcmpEcho,
        "entropy",
        Num,
        "Shannon entropy of the echo data, bits per byte",
        |i| n(i.entropy)
    ),
    field!(
        IcmpEcho,
        "client",
        Ip,
        "the host sending the requests (dst of a reply)",
        |i| Value::Ip(if i.reply { i.dst } else { i.src })
    ),
    field!(
        IcmpEcho,
        "server",
        Ip,
        "the host answering them (src of a reply)",
        |i| Value::Ip(if i.reply { i.src } else { i.dst })
    ),
    field!(IcmpEcho, "id", Num, "echo identifier", |i| n(i.echo.id)),
    field!(IcmpEcho, "seq", Num, "echo sequence number", |i| n(i
        .echo
        .seq)),
    field!(
        IcmpEcho,
        "pairing",
        Str,
        "replies: echoed, mismatch (other data than the request) or unsolicited (no request seen)",
        |i| match i.echo.pairing {
            Some(EchoPairing::Echoed) => s("echoed"),
            Some(EchoPairing::Mismatch) => s("mismatch"),
            Some(EchoPairing::Unsolicited) => s("unsolicited"),
            None => Value::Missing,
        }
    ),
    field!(
        IcmpEcho,
        "fill",
        Bool,
        "the payload is a ping fill (repeated pattern or counting bytes after the timestamp)",
        |i| Value::Bool(i.echo.fill)
    ),
    field!(
        IcmpEcho,
        "requests",
        Num,
        "echo requests in the flow so far",
        |i| big(i.echo.requests)
    ),
    field!(
        IcmpEcho,
        "replies",
        Num,
        "echo replies in the flow so far",
        |i| big(i.echo.replies)
    ),
    field!(
        IcmpEcho,
        "reply_excess",
        Num,
        "replies minus requests in the flow so far (ping: 0 or less)",
        |i| {
            #[allow(clippy::cast_precision_loss)]
            let d = i.echo.replies as f64 - i.echo.requests as f64;
            Value::Num(d)
        }
    ),
    field!(
        IcmpEcho,
        "request_bytes",
        Num,
        "payload bytes of the flow's requests so far",
        |i| big(i.echo.request_bytes)
    ),
    field!(
        IcmpEcho,
        "reply_bytes",
        Num,
        "payload bytes of the flow's replies so far",
        |i| big(i.echo.reply_bytes)
    ),
    field!(
        IcmpEcho,
        "mismatched",
        Num,
        "replies in the flow whose payload differed from their request's",
        |i| big(i.echo.mismatched)
    ),
    field!(
        IcmpEcho,
        "unsolicited",
        Num,
        "replies in the flow with no request seen for them",
        |i| big(i.echo.unsolicited)
    ),
    field!(
        IcmpEcho,
        "opaque_bytes",
        Num,
        "payload bytes in the flow that are neither a ping fill nor an echo",
        |i| big(i.echo.opaque_bytes)
    ),
    FieldDef {
        name: "flow_secs",
        ty: FieldType::Num,
        doc: "seconds since the flow's first echo message",
        get: echo_flow_secs,
    },
];

static FANOUT: &[FieldDef] = &[
    field!(
        Fanout,
        "direction",
        Str,
        "out: one source probing many (src is the prober); in: one destination reached by many (dst is the target)",
        |f| s(f.direction.as_str())
    ),
    field!(
        Fanout,
        "proto",
        Num,
        "IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6)",
        |f| n(f.proto)
    ),
    field!(
        Fanout,
        "src",
        Ip,
        "out: the prober; in: the most recent source",
        |f| Value::Ip(f.src)
    ),
    field!(
        Fanout,
        "dst",
        Ip,
        "out: the most recent host probed; in: the target",
        |f| Value::Ip(f.dst)
    ),
    field!(
        Fanout,
        "dst_port",
        Num,
        "most recent destination port (0 for ICMP)",
        |f| n(f.dst_port)
    ),
    FieldDef {
        name: "duration_ms",
        ty: FieldType::Num,
        doc: "time from the activity's first packet to this report, in ms",
        get: |c| match &c.event.body {
            EventBody::Fanout(f) => {
                big(u64::try_from(c.event.ts.0.saturating_sub(f.first_ts) / 1_000_000).unwrap_or(0))
            }
            _ => Value::Missing,
        },
    },
    field!(
        Fanout,
        "probes",
        Num,
        "flows opened like a probe (TCP SYN, new UDP flow, ICMP echo to a new host)",
        |f| big(f.probes)
    ),
    field!(
        Fanout,
        "answered",
        Num,
        "probes answered (TCP handshake completed, UDP reply, ICMP echo reply)",
        |f| big(f.answered)
    ),
    field!(
        Fanout,
        "packets",
        Num,
        "TCP SYNs, UDP packets of flows not answered yet, ICMP echo requests",
        |f| big(f.packets)
    ),
    field!(
        Fanout,
        "hosts",
        Num,
        "out: distinct hosts probed that never answered (ICMP: every host pinged); in: distinct sources",
        |f| n(f.hosts)
    ),
    field!(
        Fanout,
        "ports",
        Num,
        "out: distinct destination ports probed that never answered; in: distinct destination ports hit",
        |f| n(f.ports)
    ),
    field!(
        Fanout,
        "recent_packets",
        Num,
        "growth of packets over the last 2 s",
        |f| big(f.recent_packets)
    ),
    field!(
        Fanout,
        "recent_unanswered",
        Num,
        "growth of packets minus answered over the last 2 s",
        |f| big(f.recent_unanswered)
    ),
    field!(
        Fanout,
        "recent_hosts",
        Num,
        "growth of hosts over the last 2 s",
        |f| n(f.recent_hosts)
    ),
    field!(
        Fanout,
        "recent_ports",
        Num,
        "growth of ports over the last 2 s",
        |f| n(f.recent_ports)
    ),
    field!(
        Fanout,
        "window_ports",
        Num,
        "distinct destination ports probed in the last 2 s, new or not (estimated; 1000 = many)",
        |f| n(f.window_ports)
    ),
    field!(
        Fanout,
        "saturated",
        Bool,
        "a cap on distinct values was reached: hosts and ports are lower bounds",
        |f| Value::Bool(f.saturated)
    ),
];
fn echo_flow_secs<'a>(c: &Ctx<'a>) -> Value<'a> {
    match &c.event.body {
        EventBody::IcmpEcho(i) => {
            #[allow(clippy::cast_precision_loss)]
            let secs = (c.event.ts.as_nanos() - i.echo.first_ts).max(0) as f64 / 1e9;
            Value::Num(secs)
        }
        _ => Value::Missing,
    }
}

static LOGIN_REPLY: &[FieldDef] = with_endpoints!(
    LoginReply,
    [
        "server address (sender of the reply)",
        "server port",
        "client address",
        "client port"
    ],
    field!(
        LoginReply,
        "client",
        Ip,
        "client address (same as dst)",
        |l| Value::Ip(l.endpoints.dst)
    ),
    field!(
        LoginReply,
        "server",
        Ip,
        "server address (same as src)",
        |l| Value::Ip(l.endpoints.src)
    ),
    field!(LoginReply, "protocol", Str, "ftp, pop3, imap, smtp", |l| s(
        &l.protocol
    )),
    field!(LoginReply, "success", Bool, "the login was accepted", |l| {
        Value::Bool(l.success)
    }),
    field!(LoginReply, "reply", Str, "the server's reply line", |l| s(
        &l.reply
    )),
);

static ARP: &[FieldDef] = &[
    field!(Arp, "ip", Ip, "IP address claimed", |a| Value::Ip(a.ip)),
    field!(Arp, "mac", Str, "MAC address claiming it", |a| s(&a.mac)),
    field!(
        Arp,
        "previous_mac",
        Str,
        "MAC address seen before for this IP",
        |a| opt_s(a.previous_mac.as_ref())
    ),
    field!(Arp, "changed", Bool, "the IP moved to another MAC", |a| {
        Value::Bool(a.previous_mac.is_some())
    }),
];

static AUTH: &[FieldDef] = &[
    field!(
        Auth,
        "service",
        Str,
        "sshd, su, sudo, login, vsftpd, proftpd, pam",
        |a| s(a.service.as_str())
    ),
    field!(Auth, "outcome", Str, "success or failure", |a| s(a
        .outcome
        .as_str())),
    field!(Auth, "user", Str, "account that tried", |a| s(&a.user)),
    // A log that names the peer only by host name (sshd with UseDNS, PAM's
    // rhost=) still groups per attacker: `src` is then that name.
    field!(
        Auth,
        "src",
        Ip,
        "remote address; the remote host name when the log gives no address",
        |a| a
            .source_addr
            .map_or_else(|| opt_s(a.source_host.as_ref()), Value::Ip)
    ),
    field!(
        Auth,
        "src_host",
        Str,
        "remote host name when the log names no address",
        |a| opt_s(a.source_host.as_ref())
    ),
    field!(Auth, "src_port", Num, "remote port (sshd)", |a| a
        .source_port
        .map_or(Value::Missing, n)),
    field!(Auth, "method", Str, "password, publickey, …", |a| opt_s(
        a.method.as_ref()
    )),
    field!(
        Auth,
        "target_user",
        Str,
        "account switched to (su, sudo)",
        |a| opt_s(a.target_user.as_ref())
    ),
    field!(
        Auth,
        "invalid_user",
        Bool,
        "the login name does not exist",
        |a| Value::Bool(a.invalid_user)
    ),
    field!(Auth, "hostname", Str, "host name in the log line", |a| {
        opt_s(a.hostname.as_ref())
    }),
    field!(Auth, "message", Str, "the log message", |a| s(&a.message)),
];

fn pct(used: u64, total: u64) -> Value<'static> {
    if total == 0 {
        Value::Missing
    } else {
        #[allow(clippy::cast_precision_loss)]
        Value::Num(used as f64 * 100.0 / total as f64)
    }
}

/// The fullest disk: (mount, percent used).
fn fullest_disk(h: &shouwang_proto::HostSample) -> Option<(&str, f64)> {
    h.disks
        .iter()
        .filter(|d| d.total > 0)
        .map(|d| {
            #[allow(clippy::cast_precision_loss)]
            let p = (d.total - d.available.min(d.total)) as f64 * 100.0 / d.total as f64;
            (d.mount.as_str(), p)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

static HOST_SAMPLE: &[FieldDef] = &[
    field!(
        HostSample,
        "cpu_pct",
        Num,
        "CPU busy, percent of all cores",
        |h| n(h.cpu.usage_pct)
    ),
    field!(
        HostSample,
        "memory_used_pct",
        Num,
        "memory used, percent",
        |h| pct(h.memory.used, h.memory.total)
    ),
    field!(HostSample, "memory_used", Num, "memory used, bytes", |h| {
        big(h.memory.used)
    }),
    field!(HostSample, "memory_total", Num, "memory, bytes", |h| big(h
        .memory
        .total)),
    field!(
        HostSample,
        "swap_used_pct",
        Num,
        "swap used, percent",
        |h| pct(h.memory.swap_used, h.memory.swap_total)
    ),
    field!(HostSample, "load_one", Num, "1-minute load average", |h| n(
        h.load.one
    )),
    field!(
        HostSample,
        "load_five",
        Num,
        "5-minute load average",
        |h| n(h.load.five)
    ),
    field!(
        HostSample,
        "disk_max_used_pct",
        Num,
        "percent used of the fullest disk",
        |h| { fullest_disk(h).map_or(Value::Missing, |(_, p)| n(p)) }
    ),
    field!(
        HostSample,
        "disk_max_used_mount",
        Str,
        "mount point of the fullest disk",
        |h| { fullest_disk(h).map_or(Value::Missing, |(m, _)| s(m)) }
    ),
    field!(HostSample, "processes", Num, "number of processes", |h| n(
        h.processes.count
    )),
    field!(
        HostSample,
        "listening_tcp",
        Num,
        "listening TCP sockets",
        |h| n(h.listening_tcp)
    ),
    field!(HostSample, "sessions", Num, "logged-in sessions", |h| big(
        h.sessions.len() as u64
    )),
    field!(HostSample, "uptime_secs", Num, "seconds since boot", |h| {
        big(h.uptime_secs)
    }),
];

static LISTEN_CHANGE: &[FieldDef] = &[
    field!(ListenChange, "change", Str, "opened or closed", |l| {
        s(match l.change {
            shouwang_proto::SocketChange::Opened => "opened",
            shouwang_proto::SocketChange::Closed => "closed",
        })
    }),
    field!(ListenChange, "proto", Str, "tcp or udp", |l| {
        s(match l.socket.proto {
            shouwang_proto::TransportProto::Tcp => "tcp",
            shouwang_proto::TransportProto::Udp => "udp",
        })
    }),
    field!(ListenChange, "addr", Ip, "local address", |l| Value::Ip(
        l.socket.addr
    )),
    field!(ListenChange, "port", Num, "local port", |l| n(l
        .socket
        .port)),
    field!(ListenChange, "process", Str, "owning process name", |l| {
        opt_s(l.socket.process.as_ref())
    }),
    field!(ListenChange, "pid", Num, "owning process id", |l| l
        .socket
        .pid
        .map_or(Value::Missing, n)),
    field!(ListenChange, "uid", Num, "socket owner uid", |l| l
        .socket
        .uid
        .map_or(Value::Missing, n)),
];

static LISTEN_SNAPSHOT: &[FieldDef] = &[field!(
    ListenSnapshot,
    "sockets",
    Num,
    "number of listening sockets",
    |l| { big(l.sockets.len() as u64) }
)];

static HEARTBEAT: &[FieldDef] = &[
    field!(Heartbeat, "hostname", Str, "host name", |h| s(&h.hostname)),
    field!(Heartbeat, "agent_version", Str, "agent version", |h| s(
        &h.agent_version
    )),
    field!(Heartbeat, "os", Str, "operating system", |h| s(&h.os)),
    field!(Heartbeat, "kernel", Str, "kernel version", |h| s(&h.kernel)),
    field!(
        Heartbeat,
        "queued_batches",
        Num,
        "batches waiting to be sent",
        |h| big(h.queue.queued_batches)
    ),
    field!(
        Heartbeat,
        "dropped_events",
        Num,
        "events the agent had to drop",
        |h| big(h.queue.dropped_events)
    ),
    field!(
        Heartbeat,
        "queued_bytes",
        Num,
        "compressed bytes waiting to be sent",
        |h| big(h.queue.queued_bytes)
    ),
    field!(
        Heartbeat,
        "stopping",
        Bool,
        "the agent's goodbye: true on the last heartbeat of a graceful shutdown",
        |h| Value::Bool(h.stopping.is_some())
    ),
];

static DATA_GAP: &[FieldDef] = &[
    field!(DataGap, "events", Num, "events dropped", |g| big(g.events)),
    field!(DataGap, "batches", Num, "batches dropped", |g| big(
        g.batches
    )),
    field!(
        DataGap,
        "security_events",
        Num,
        "security events dropped (logins, file changes, site checks)",
        |g| big(g.security_events)
    ),
    field!(DataGap, "reason", Str, "why the agent dropped them", |g| s(
        &g.reason
    )),
];

static NOTICE: &[FieldDef] = &[
    field!(Notice, "level", Str, "info, warning or error", |x| {
        s(match x.level {
            shouwang_proto::Level::Info => "info",
            shouwang_proto::Level::Warning => "warning",
            shouwang_proto::Level::Error => "error",
        })
    }),
    field!(Notice, "component", Str, "agent component", |x| s(
        &x.component
    )),
    field!(Notice, "message", Str, "message", |x| s(&x.message)),
];

static FILE_CHANGE: &[FieldDef] = &[
    field!(FileChange, "root", Str, "the watched web root", |f| s(
        &f.root
    )),
    field!(FileChange, "path", Str, "path under the root", |f| s(
        &f.path
    )),
    field!(
        FileChange,
        "extension",
        Str,
        "file name extension, lower case",
        |f| {
            let name = f.path.rsplit('/').next().unwrap_or_default();
            match name.rsplit_once('.') {
                Some((_, ext)) if !ext.is_empty() => {
                    Value::Str(Cow::Owned(ext.to_ascii_lowercase()))
                }
                _ => Value::Missing,
            }
        }
    ),
    field!(
        FileChange,
        "change",
        Str,
        "added, modified, removed, renamed or permissions",
        |f| s(f.change.as_str())
    ),
    field!(FileChange, "site", Str, "site the web root serves", |f| {
        opt_s(f.site.as_ref())
    }),
    field!(
        FileChange,
        "old_path",
        Str,
        "where a renamed file was",
        |f| opt_s(f.old_path.as_ref())
    ),
    field!(
        FileChange,
        "authorised",
        Bool,
        "made through publish, a publish window or a publisher process",
        |f| Value::Bool(f.authorised)
    ),
    field!(
        FileChange,
        "authorised_by",
        Str,
        "publish, window or process:NAME",
        |f| opt_s(f.authorised_by.as_ref())
    ),
    field!(FileChange, "mode", Num, "permission bits now (644)", |f| f
        .mode
        .map_or(Value::Missing, |m| n(f64::from(m)))),
    field!(
        FileChange,
        "baseline_mode",
        Num,
        "permission bits in the baseline",
        |f| f.baseline_mode.map_or(Value::Missing, |m| n(f64::from(m)))
    ),
    field!(
        FileChange,
        "quarantined",
        Bool,
        "the tampered content was kept for forensics",
        |f| Value::Bool(f.quarantined.is_some())
    ),
    field!(FileChange, "size", Num, "new size in bytes", |f| f
        .size
        .map_or(Value::Missing, big)),
    field!(
        FileChange,
        "restored",
        Bool,
        "the agent put the baseline back",
        |f| Value::Bool(f.restored)
    ),
    field!(
        FileChange,
        "signatures",
        StrList,
        "web-shell signatures the content matched",
        |f| strs(&f.signatures)
    ),
];

static SITE_CHECK: &[FieldDef] = &[
    field!(SiteCheck, "url", Str, "the page checked", |c| s(&c.url)),
    field!(
        SiteCheck,
        "up",
        Bool,
        "answered with success in time",
        |c| Value::Bool(c.up)
    ),
    field!(SiteCheck, "status", Num, "HTTP status", |c| c
        .status
        .map_or(Value::Missing, n)),
    field!(SiteCheck, "error", Str, "why it is down", |c| opt_s(
        c.error.as_ref()
    )),
    field!(SiteCheck, "response_ms", Num, "response time in ms", |c| {
        big(c.response_ms)
    }),
    field!(
        SiteCheck,
        "site",
        Str,
        "site name from the agent config",
        |c| { opt_s(c.site.as_ref()) }
    ),
    field!(
        SiteCheck,
        "text_change",
        Num,
        "visible-text change against the baseline, 0 to 1",
        |c| n(c.text_change)
    ),
    field!(
        SiteCheck,
        "structure_change",
        Num,
        "DOM-structure change against the baseline, 0 to 1",
        |c| n(c.structure_change)
    ),
    field!(
        SiteCheck,
        "title_changed",
        Bool,
        "the title differs from the baseline",
        |c| Value::Bool(c.title_changed)
    ),
    field!(
        SiteCheck,
        "defacement_signs",
        StrList,
        "title-changed, replaced, signature:TEXT",
        |c| strs(&c.defacement_signs)
    ),
    field!(
        SiteCheck,
        "defacement_sign_count",
        Num,
        "number of defacement signs",
        |c| big(c.defacement_signs.len() as u64)
    ),
    field!(
        SiteCheck,
        "hidden_link_methods",
        StrList,
        "how hidden links were hidden",
        |c| strs(&c.hidden_link_methods)
    ),
    field!(
        SiteCheck,
        "cloaking_terms",
        StrList,
        "what only crawlers were shown",
        |c| strs(&c.cloaking_terms)
    ),
    field!(
        SiteCheck,
        "cloaking_agent",
        Str,
        "the crawler shown other content",
        |c| opt_s(c.cloaking_agent.as_ref())
    ),
    field!(
        SiteCheck,
        "sensitive_categories",
        StrList,
        "lexicons the sensitive words came from",
        |c| strs(&c.sensitive_categories)
    ),
    field!(
        SiteCheck,
        "new_script_domains",
        StrList,
        "script and iframe domains new since the baseline",
        |c| strs(&c.new_script_domains)
    ),
    field!(
        SiteCheck,
        "new_script_domain_count",
        Num,
        "number of new script and iframe domains",
        |c| big(c.new_script_domains.len() as u64)
    ),
    field!(SiteCheck, "tls_issuer", Str, "certificate issuer", |c| {
        opt_s(c.tls_issuer.as_ref())
    }),
    field!(
        SiteCheck,
        "tls_changed",
        Bool,
        "the certificate differs from the last check's",
        |c| Value::Bool(c.tls_changed)
    ),
    field!(
        SiteCheck,
        "tls_error",
        Str,
        "why the certificate does not verify",
        |c| opt_s(c.tls_error.as_ref())
    ),
    field!(
        SiteCheck,
        "slo_probes",
        Num,
        "probes in the last day",
        |c| big(u64::from(c.slo_probes))
    ),
    field!(
        SiteCheck,
        "slo_success_ratio",
        Num,
        "share of the last day's probes that succeeded in time",
        |c| n(c.slo_success_ratio)
    ),
    field!(
        SiteCheck,
        "slo_failing",
        Bool,
        "enough probes and too many failed",
        |c| Value::Bool(c.slo_failing)
    ),
    field!(
        SiteCheck,
        "defacement_score",
        Num,
        "how much the visible text differs from the baseline, 0 to 1",
        |c| n(c.defacement_score)
    ),
    field!(
        SiteCheck,
        "hidden_links",
        StrList,
        "off-site links hidden from visitors",
        |c| strs(&c.hidden_links)
    ),
    field!(
        SiteCheck,
        "hidden_link_count",
        Num,
        "number of hidden off-site links",
        |c| big(c.hidden_links.len() as u64)
    ),
    field!(
        SiteCheck,
        "cloaking",
        Bool,
        "crawlers get other content than browsers",
        |c| Value::Bool(c.cloaking)
    ),
    field!(
        SiteCheck,
        "sensitive_words",
        StrList,
        "sensitive words found",
        |c| strs(&c.sensitive_words)
    ),
    field!(
        SiteCheck,
        "sensitive_word_count",
        Num,
        "number of sensitive words found",
        |c| big(c.sensitive_words.len() as u64)
    ),
    field!(
        SiteCheck,
        "tls_days_left",
        Num,
        "days until the certificate expires",
        |c| {
            c.tls_days_left.map_or(Value::Missing, |d| {
                #[allow(clippy::cast_precision_loss)]
                Value::Num(d as f64)
            })
        }
    ),
    field!(
        SiteCheck,
        "dns_unexpected",
        StrList,
        "resolved addresses outside the expected set",
        |c| strs(&c.dns_unexpected)
    ),
    field!(
        SiteCheck,
        "dns_unexpected_count",
        Num,
        "number of unexpected addresses",
        |c| big(c.dns_unexpected.len() as u64)
    ),
];

/// The kind-specific fields of `kind`.
pub fn fields_of(kind: EventKind) -> &'static [FieldDef] {
    match kind {
        EventKind::Flow => FLOW,
        EventKind::IfaceStats => IFACE_STATS,
        EventKind::Dns => DNS,
        EventKind::Tls => TLS,
        EventKind::HttpRequest => HTTP_REQUEST,
        EventKind::HttpResponse => HTTP_RESPONSE,
        EventKind::SshBanner => SSH_BANNER,
        EventKind::IcmpEcho => ICMP_ECHO,
        EventKind::Fanout => FANOUT,
        EventKind::LoginReply => LOGIN_REPLY,
        EventKind::Arp => ARP,
        EventKind::Auth => AUTH,
        EventKind::HostSample => HOST_SAMPLE,
        EventKind::ListenChange => LISTEN_CHANGE,
        EventKind::ListenSnapshot => LISTEN_SNAPSHOT,
        EventKind::Heartbeat => HEARTBEAT,
        EventKind::Notice => NOTICE,
        EventKind::FileChange => FILE_CHANGE,
        EventKind::SiteCheck => SITE_CHECK,
        EventKind::DataGap => DATA_GAP,
    }
}

/// Looks a field up for `kind` (kind fields first, then common ones).
pub fn lookup(kind: EventKind, name: &str) -> Option<&'static FieldDef> {
    fields_of(kind)
        .iter()
        .chain(COMMON)
        .find(|f| f.name == name)
}

/// The closest field name of `kind` to `name`, for "did you mean".
pub fn suggest(kind: EventKind, name: &str) -> Option<&'static str> {
    fields_of(kind)
        .iter()
        .chain(COMMON)
        .map(|f| (edit_distance(f.name, name), f.name))
        .filter(|(d, _)| *d <= 1.max(name.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, f)| f)
}

/// Levenshtein distance (short names only).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_fields_and_names_are_unique() {
        for kind in EventKind::ALL {
            let f = fields_of(kind);
            assert!(!f.is_empty(), "{kind:?}");
            let mut names: Vec<&str> = f.iter().chain(COMMON).map(|f| f.name).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "duplicate field in {kind:?}");
        }
    }

    #[test]
    fn an_auth_event_named_by_host_groups_on_the_name() {
        let mut a = shouwang_proto::AuthEvent {
            service: shouwang_proto::AuthService::Sshd,
            outcome: shouwang_proto::AuthOutcome::Failure,
            user: "root".into(),
            source_addr: None,
            source_port: None,
            method: None,
            target_user: None,
            invalid_user: false,
            hostname: None,
            source_host: Some("scanner.example.net".into()),
            message: String::new(),
        };
        let key = |a: &shouwang_proto::AuthEvent| {
            let ev = Event::new(
                shouwang_proto::Timestamp::from_secs(1),
                EventBody::Auth(Box::new(a.clone())),
            );
            let f = lookup(EventKind::Auth, "src").unwrap();
            let mut out = String::new();
            (f.get)(&Ctx {
                agent: "a",
                event: &ev,
            })
            .write_key(&mut out);
            out
        };
        assert_eq!(key(&a), "scanner.example.net");
        a.source_addr = Some("192.0.2.7".parse().unwrap());
        assert_eq!(key(&a), "192.0.2.7", "the address wins when both are known");
        a.source_addr = None;
        a.source_host = None;
        assert_eq!(key(&a), "-");
    }

    #[test]
    fn decoding_and_domains() {
        assert_eq!(url_decode("a%20b+c"), "a b c");
        assert_eq!(url_decode("%2527"), "'", "double encoding");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(subdomain("aa.bb.example.com."), "aa.bb");
        assert_eq!(subdomain("example.com"), "");
        assert_eq!(base_domain("x.y.example.com"), "example.com");
        assert_eq!(base_domain("www.beijing.gov.cn"), "beijing.gov.cn");
        assert_eq!(subdomain("www.beijing.gov.cn"), "www");
        assert_eq!(base_domain("a.b.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(base_domain("gov.cn"), "gov.cn");
        assert_eq!(subdomain("gov.cn"), "");
        assert_eq!(base_domain("d1a2b3c4.cloudfront.net"), "cloudfront.net");
        assert_eq!(base_domain("localhost"), "localhost");
        assert_eq!(subdomain(""), "");
        assert_eq!(odd_chars("www.example-1_a.com"), 0);
        assert_eq!(odd_chars("AAAAABrSAA.=auth.t2.example"), 1);
        assert_eq!(odd_chars("0e\\202x.tun.example"), 1, "one escaped byte");
        assert_eq!(suggest(EventKind::Flow, "dst_prot"), Some("dst_port"));
        assert_eq!(suggest(EventKind::Flow, "zzzzzz"), None);
    }
}
