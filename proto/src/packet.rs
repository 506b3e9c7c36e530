//! Packet telemetry: flow records, interval statistics and protocol
//! metadata. Agents never ship packets, only these.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if signature
fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Why a flow record was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowEnd {
    /// No packet for the idle timeout (15 s of capture time).
    Idle,
    /// Open longer than the active timeout (60 s); the flow continues in a
    /// new record.
    Active,
    /// The flow table was full.
    Evicted,
    /// End of the capture (file end or agent shutdown).
    End,
}

/// TCP handshake progress as seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpState {
    /// Not TCP, or no SYN seen.
    None,
    /// SYN from the client, nothing back yet.
    SynSent,
    /// SYN-ACK from the server.
    SynReceived,
    /// Client ACKed the SYN-ACK.
    Established,
    /// A RST was seen.
    Reset,
    /// FIN seen in both directions.
    Closed,
}

/// The application protocol of a flow, identified by the content of its
/// first payload bytes in either direction, never by port. `unknown` when
/// no payload was seen or nothing matched for sure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppProto {
    Ssh,
    Http,
    Tls,
    Dns,
    Ftp,
    Smtp,
    Pop3,
    Imap,
    Rdp,
    Smb,
    Mysql,
    Postgresql,
    Redis,
    Telnet,
    Snmp,
    Ntp,
    #[default]
    Unknown,
}

impl AppProto {
    /// Every value, `unknown` last.
    pub const ALL: [Self; 17] = [
        Self::Ssh,
        Self::Http,
        Self::Tls,
        Self::Dns,
        Self::Ftp,
        Self::Smtp,
        Self::Pop3,
        Self::Imap,
        Self::Rdp,
        Self::Smb,
        Self::Mysql,
        Self::Postgresql,
        Self::Redis,
        Self::Telnet,
        Self::Snmp,
        Self::Ntp,
        Self::Unknown,
    ];

    /// The wire name (`ssh`, `postgresql`, `unknown`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ssh => "ssh",
            Self::Http => "http",
            Self::Tls => "tls",
            Self::Dns => "dns",
            Self::Ftp => "ftp",
            Self::Smtp => "smtp",
            Self::Pop3 => "pop3",
            Self::Imap => "imap",
            Self::Rdp => "rdp",
            Self::Smb => "smb",
            Self::Mysql => "mysql",
            Self::Postgresql => "postgresql",
            Self::Redis => "redis",
            Self::Telnet => "telnet",
            Self::Snmp => "snmp",
            Self::Ntp => "ntp",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for AppProto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One bidirectional flow (or one active-timeout slice of it).
///
/// The client is the side that sent the first packet, except that a flow
/// whose first packet is a SYN-ACK has the sender of the SYN-ACK as server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowRecord {
    /// Capture interface or file name.
    pub iface: std::sync::Arc<str>,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, …).
    pub proto: u8,
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
    /// Outer VLAN id, when tagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// Capture time of the first and last packet, ns since the epoch.
    pub first_ts: i64,
    pub last_ts: i64,
    pub packets_to_server: u64,
    pub bytes_to_server: u64,
    pub packets_to_client: u64,
    pub bytes_to_client: u64,
    /// TCP flags seen from each side (OR of all packets; FIN 0x01, SYN 0x02,
    /// RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80).
    pub tcp_flags_to_server: u8,
    pub tcp_flags_to_client: u8,
    pub syn: u32,
    pub syn_ack: u32,
    pub rst: u32,
    pub fin: u32,
    pub tcp_state: TcpState,
    pub end: FlowEnd,
    /// Application protocol by content (`unknown` from agents that predate it).
    #[serde(default)]
    pub app: AppProto,
}

impl FlowRecord {
    /// An unanswered TCP SYN from `src` to `dst` seen at `ts_ns` (ns since
    /// the epoch): one 60-byte packet, state `syn_sent`, ended idle. The
    /// smallest TCP flow, for tests and tools.
    pub fn syn_probe(iface: &str, src: (IpAddr, u16), dst: (IpAddr, u16), ts_ns: i64) -> Self {
        Self {
            iface: iface.into(),
            proto: 6,
            src: src.0,
            src_port: src.1,
            dst: dst.0,
            dst_port: dst.1,
            vlan: None,
            first_ts: ts_ns,
            last_ts: ts_ns,
            packets_to_server: 1,
            bytes_to_server: 60,
            packets_to_client: 0,
            bytes_to_client: 0,
            tcp_flags_to_server: 2,
            tcp_flags_to_client: 0,
            syn: 1,
            syn_ack: 0,
            rst: 0,
            fin: 0,
            tcp_state: TcpState::SynSent,
            end: FlowEnd::Idle,
            app: AppProto::Unknown,
        }
    }
}

/// Capture statistics of one interface (or file) over one interval of
/// capture time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IfaceStats {
    pub iface: String,
    /// Interval length in ms (capture time).
    pub interval_ms: u64,
    pub packets: u64,
    pub bytes: u64,
    pub packets_per_sec: f64,
    pub bits_per_sec: f64,
    /// TCP packets with SYN and without ACK.
    pub syn: u64,
    pub syn_per_sec: f64,
    /// Packets the kernel dropped (PACKET_STATISTICS); 0 for files.
    pub kernel_drops: u64,
    /// Packets the agent could not keep (queue full).
    pub agent_drops: u64,
    /// Packets that did not parse (counted, skipped).
    pub malformed: u64,
    /// Flows evicted because the table was full.
    pub flow_evictions: u64,
}

/// Addresses and ports of the packet a metadata event came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    pub src: IpAddr,
    pub src_port: u16,
    pub dst: IpAddr,
    pub dst_port: u16,
    /// The flow's application protocol when the event was made (`unknown`
    /// from agents that predate it).
    #[serde(default)]
    pub app: AppProto,
}

/// One DNS resource record in an answer section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsAnswer {
    pub name: String,
    /// Type mnemonic (`A`, `AAAA`, `CNAME`, `MX`, `TXT`, …) or `TYPE<n>`.
    pub rtype: String,
    pub ttl: u32,
    /// Rendered data: an address, a name, or text (at most 255 chars).
    pub data: String,
}

/// A DNS query or response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsEvent {
    #[serde(flatten)]
    pub endpoints: Endpoints,
    /// `udp` or `tcp`.
    pub transport: String,
    pub id: u16,
    pub response: bool,
    /// First question's name (no trailing dot), lower case as sent.
    pub qname: String,
    pub qtype: String,
    /// Response code mnemonic (`NOERROR`, `NXDOMAIN`, …), responses only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<DnsAnswer>,
    /// DNS message size in bytes.
    pub size: u32,
}

/// A TLS ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsClientHello {
    #[serde(flatten)]
    pub endpoints: Endpoints,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// Highest offered version: `1.3`, `1.2`, `1.1`, `1.0`, `ssl3`.
    pub version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpn: Vec<String>,
    /// JA4 fingerprint (FoxIO), e.g. `t13d1516h2_8daaf6152771_e5627efa2ab1`.
    pub ja4: String,
}

/// An HTTP/1.x request (first segment of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    #[serde(flatten)]
    pub endpoints: Endpoints,
    pub method: String,
    pub uri: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Header names and values as sent, in order (at most 32, values cut at
    /// 512 bytes), for rules that look beyond Host and User-Agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
}

/// An HTTP/1.x response status line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    #[serde(flatten)]
    pub endpoints: Endpoints,
    pub version: String,
    pub status: u16,
}

/// An SSH identification string (`SSH-2.0-OpenSSH_9.2p1`), on any port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshBanner {
    #[serde(flatten)]
    pub endpoints: Endpoints,
    pub banner: String,
    /// Whether the sender is the flow's server.
    pub from_server: bool,
}

/// An ICMP or ICMPv6 echo request or reply: the first few of a flow, the
/// first replies that do not echo their request, then one sample every few
/// seconds. Each carries the flow's running totals, so a long tunnel or a
/// flood is a handful of events, not one per packet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IcmpEcho {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub reply: bool,
    pub payload_len: u32,
    /// Shannon entropy of the payload in bits per byte (0–8); tunnels and
    /// exfiltration look random, ping fills do not.
    pub entropy: f32,
    #[serde(flatten)]
    pub echo: EchoContext,
}

/// How an echo reply relates to the request it answers (same identifier
/// and sequence number in the same flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EchoPairing {
    /// The reply carries the request's payload, as every real ping reply.
    Echoed,
    /// A request with this identifier and sequence was seen, and the reply
    /// carries other data (ptunnel, icmptunnel, hans, icmpsh).
    Mismatch,
    /// No request with this identifier and sequence was seen.
    Unsolicited,
}

/// The pairing of one echo message and its flow's echo totals so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EchoContext {
    /// Echo identifier and sequence number.
    pub id: u16,
    pub seq: u16,
    /// Replies only: whether the payload echoes the request's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairing: Option<EchoPairing>,
    /// The payload is a ping fill: after the 16-byte timestamp area, one
    /// short pattern repeated (`ping -p`, Windows' alphabet) or counting
    /// bytes (iputils' default), or 16 bytes or fewer.
    pub fill: bool,
    /// Capture time of the flow's first echo message, ns.
    pub first_ts: i64,
    /// The flow's echo requests and replies so far (this one included).
    pub requests: u64,
    pub replies: u64,
    /// Payload bytes of those requests and replies.
    pub request_bytes: u64,
    pub reply_bytes: u64,
    /// Replies whose payload differed from their request's.
    pub mismatched: u64,
    /// Replies with no request seen for their identifier and sequence.
    pub unsolicited: u64,
    /// Payload bytes that are neither a ping fill nor an echo of their
    /// request: data someone chose to send.
    pub opaque_bytes: u64,
}

/// A login outcome as the server answered it in a clear-text protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginReply {
    #[serde(flatten)]
    pub endpoints: Endpoints,
    /// `ftp`, `pop3`, `imap`, `smtp`.
    pub protocol: String,
    pub success: bool,
    /// The reply line (at most 200 bytes).
    pub reply: String,
}

/// An ARP announcement or reply: this IP is at this MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArpObservation {
    pub ip: IpAddr,
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// The MAC this IP had before, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_mac: Option<String>,
}

/// Which side of the traffic a [`Fanout`] report counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FanDirection {
    /// One source reaching out: `src` is the prober (scans, sweeps).
    Out,
    /// One destination being reached: `dst` is the target (floods).
    In,
}

impl FanDirection {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Out => "out",
            Self::In => "in",
        }
    }
}

/// [`Fanout::window_ports`] of a saturated sketch: "many".
pub const WINDOW_PORTS_MANY: u32 = 1000;

/// Per-packet fan-out (one source → many hosts or ports) or fan-in (many
/// packets or sources → one destination) of one transport protocol, as the
/// packet core counted it, reported every second of capture time while the
/// activity grows. It does not wait for any flow to end, so scans, sweeps
/// and floods reach the rules while they are still going on.
///
/// Counts run from `first_ts` (the activity's first packet) and start again
/// after an hour, or after ten minutes with nothing new; `recent_*` are the
/// growth over the last two seconds. See `docs/protocol.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fanout {
    pub direction: FanDirection,
    /// IP protocol number: 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6.
    pub proto: u8,
    /// `out`: the prober. `in`: the most recent source seen.
    pub src: IpAddr,
    /// `out`: the most recent host probed. `in`: the target.
    pub dst: IpAddr,
    /// Most recent destination port (0 for ICMP).
    pub dst_port: u16,
    /// Capture time of the activity's first packet, ns since the epoch.
    pub first_ts: i64,
    /// `in`: capture time of the current burst's first packet (the
    /// earliest in the 2 s window of the first report of an unbroken run
    /// of reports, one per second, above the report floor), ns since the
    /// epoch; the event's activity start (a flood's first seen). 0 for
    /// `out` and outside a run.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub burst_ts: i64,
    /// Flows opened like a probe: a TCP SYN, a new UDP flow, an ICMP echo
    /// request to a new host.
    pub probes: u64,
    /// Probes answered: TCP handshake completed, UDP reply, ICMP echo reply.
    pub answered: u64,
    /// Packets counted: TCP SYNs, UDP packets of flows with no reply yet,
    /// ICMP echo requests.
    pub packets: u64,
    /// `out`: distinct hosts probed that never answered (ICMP: every host
    /// pinged). `in`: distinct sources.
    pub hosts: u32,
    /// `out`: distinct destination ports probed that never answered. `in`:
    /// distinct destination ports hit.
    pub ports: u32,
    /// Growth of `packets` over the last 2 s.
    pub recent_packets: u64,
    /// Growth of `packets` minus `answered` over the last 2 s.
    pub recent_unanswered: u64,
    /// Growth of `hosts` over the last 2 s.
    pub recent_hosts: u32,
    /// Growth of `ports` over the last 2 s.
    pub recent_ports: u32,
    /// Distinct destination ports probed in the last 2 s, new or not (out:
    /// answered or not), estimated from a 128-bit sketch: exact within
    /// a few up to ~30, within ~10 % up to ~300, [`WINDOW_PORTS_MANY`]
    /// when saturated. A flood hits a few ports; a scan many, even when
    /// they were all probed before (so `recent_ports` is 0).
    #[serde(default)]
    pub window_ports: u32,
    /// A cap on distinct values was reached: `hosts` and `ports` are lower
    /// bounds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub saturated: bool,
}
