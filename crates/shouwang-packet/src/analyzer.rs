//! Frames → events: decoding, the flow table and the metadata parsers in
//! one pass per frame. The [`Analyzer`] is the same for a live interface and
//! a capture file, so a capture of an attack replays exactly like the
//! attack: everything runs on capture time.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use shouwang_proto::{
    AppProto, ArpObservation, DnsEvent, Endpoints, Event, EventBody, HttpRequest, HttpResponse,
    IcmpEcho, IfaceStats, LoginReply, SshBanner, Timestamp, TlsClientHello,
};

use crate::app::Transport;
use crate::decode::{self, Decoded, Decoder, IpPacket, L4, tcp_flags};
use crate::fanout::{FanoutConfig, FanoutTable};
use crate::flow::{FlowConfig, FlowTable};
use crate::meta;

/// ARP mappings remembered (to report only new or changed ones).
pub const MAX_ARP_ENTRIES: usize = 65_536;
/// How often (capture time) flows and fragments are expired.
const EXPIRE_EVERY_NS: i64 = 1_000_000_000;

/// Analyzer settings.
#[derive(Debug, Clone, Copy)]
pub struct AnalyzerConfig {
    pub flows: FlowConfig,
    /// Fan-out / fan-in counters (scans and floods while they run).
    pub fanout: FanoutConfig,
    /// Interval of [`IfaceStats`] events (capture time).
    pub stats_interval_ns: i64,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        Self {
            flows: FlowConfig::default(),
            fanout: FanoutConfig::default(),
            stats_interval_ns: 10_000_000_000,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Interval {
    start: i64,
    packets: u64,
    bytes: u64,
    syn: u64,
    malformed_at_start: u64,
    evictions_at_start: u64,
    kernel_drops_at_start: u64,
    agent_drops_at_start: u64,
}

/// Turns frames into events.
#[derive(Debug)]
pub struct Analyzer {
    iface: String,
    cfg: AnalyzerConfig,
    /// Always `Some` outside [`Analyzer::frame`], which takes it out for the
    /// duration of a decode (moving a pointer, not the decoder).
    decoder: Option<Box<Decoder>>,
    flows: FlowTable,
    pub(crate) fanout: FanoutTable,
    arp: HashMap<Ipv4Addr, [u8; 6]>,
    interval: Option<Interval>,
    last_expire: i64,
    last_ts: i64,
    /// Cumulative counters set by a live capture.
    kernel_drops: u64,
    agent_drops: u64,
    /// Events produced so far; the caller drains it.
    pub out: Vec<Event>,
}

fn mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

impl Analyzer {
    pub fn new(iface: impl Into<String>, cfg: AnalyzerConfig) -> Self {
        let iface = iface.into();
        Self {
            flows: FlowTable::new(&iface, cfg.flows),
            fanout: FanoutTable::new(cfg.fanout),
            iface,
            cfg,
            decoder: Some(Box::new(Decoder::new())),
            arp: HashMap::new(),
            interval: None,
            last_expire: i64::MIN,
            last_ts: 0,
            kernel_drops: 0,
            agent_drops: 0,
            out: Vec::new(),
        }
    }

    /// Decoder counters (frames, malformed, fragments, …).
    pub fn stats(&self) -> decode::DecodeStats {
        self.decoder.as_ref().map(|d| d.stats).unwrap_or_default()
    }

    /// Fan-out counters: actors forgotten or distinct values not stored
    /// because a cap was reached.
    pub fn fanout_dropped(&self) -> u64 {
        self.fanout.dropped
    }

    /// Live capture reports cumulative drop counters here.
    pub fn set_drops(&mut self, kernel: u64, agent: u64) {
        self.kernel_drops = kernel;
        self.agent_drops = agent;
    }

    fn push(&mut self, ts: i64, body: EventBody) {
        self.out.push(Event::new(Timestamp::from_nanos(ts), body));
    }

    /// One captured frame, every flow kept.
    pub fn frame(&mut self, ts: i64, linktype: i32, data: &[u8]) {
        self.frame_sampled(ts, linktype, data, &mut |_| true);
    }

    /// One captured frame, under sampling: once the frame is decoded,
    /// `keep` is asked about its IP packet (one question per frame at most,
    /// after tunnels and reassembly) and a packet it refuses is skipped
    /// whole — no flow, no metadata, no interval counts. Frames that hold
    /// no IP packet (ARP, malformed, incomplete fragments) are never asked
    /// about. To keep a flow whole, decide on [`IpPacket::flow_hash`], the
    /// same in both directions.
    pub fn frame_sampled(
        &mut self,
        ts: i64,
        linktype: i32,
        data: &[u8],
        keep: &mut dyn FnMut(&IpPacket<'_>) -> bool,
    ) {
        self.advance(ts);
        let Some(mut decoder) = self.decoder.take() else {
            return;
        };
        decoder.decode(ts, linktype, data, &mut |d| match d {
            Decoded::Ip(p) => {
                if keep(&p) {
                    self.ip(&p);
                }
            }
            Decoded::Arp(a) => self.arp(a),
        });
        self.decoder = Some(decoder);
    }

    /// Moves capture time on: interval statistics and expiry. Live capture
    /// calls this on read timeouts too, so quiet links still report.
    pub fn advance(&mut self, ts: i64) {
        self.last_ts = self.last_ts.max(ts);
        self.fanout.tick(ts, &mut self.out);
        let iv = self.interval.get_or_insert(Interval {
            start: ts,
            malformed_at_start: 0,
            ..Interval::default()
        });
        if ts >= iv.start + self.cfg.stats_interval_ns {
            let mut iv = *iv;
            self.emit_stats(&iv, iv.start + self.cfg.stats_interval_ns);
            // Skip empty intervals: the next one is the one holding `ts`.
            let n = (ts - iv.start) / self.cfg.stats_interval_ns;
            iv = Interval {
                start: iv.start + n * self.cfg.stats_interval_ns,
                malformed_at_start: self.stats().malformed,
                evictions_at_start: self.flows.evictions,
                kernel_drops_at_start: self.kernel_drops,
                agent_drops_at_start: self.agent_drops,
                ..Interval::default()
            };
            self.interval = Some(iv);
        }
        if ts.saturating_sub(self.last_expire) >= EXPIRE_EVERY_NS {
            self.last_expire = ts;
            self.flows.expire(ts, &mut self.out);
            if let Some(d) = self.decoder.as_mut() {
                d.expire_fragments(ts);
            }
        }
    }

    fn emit_stats(&mut self, iv: &Interval, end: i64) {
        let secs = (end - iv.start) as f64 / 1e9;
        let stats = IfaceStats {
            iface: self.iface.clone(),
            interval_ms: u64::try_from((end - iv.start) / 1_000_000).unwrap_or(0),
            packets: iv.packets,
            bytes: iv.bytes,
            packets_per_sec: iv.packets as f64 / secs,
            bits_per_sec: iv.bytes as f64 * 8.0 / secs,
            syn: iv.syn,
            syn_per_sec: iv.syn as f64 / secs,
            kernel_drops: self.kernel_drops.saturating_sub(iv.kernel_drops_at_start),
            agent_drops: self.agent_drops.saturating_sub(iv.agent_drops_at_start),
            malformed: self.stats().malformed.saturating_sub(iv.malformed_at_start),
            flow_evictions: self.flows.evictions.saturating_sub(iv.evictions_at_start),
        };
        self.push(end, EventBody::IfaceStats(stats));
    }

    /// End of capture: every open flow and the last partial interval.
    pub fn finish(&mut self) {
        if let Some(iv) = self.interval.take()
            && iv.packets > 0
        {
            let end = self.last_ts.max(iv.start + 1);
            self.emit_stats(&iv, end);
        }
        self.fanout.finish(self.last_ts, &mut self.out);
        self.flows.drain(&mut self.out);
    }

    fn ip(&mut self, p: &IpPacket<'_>) {
        if let Some(iv) = self.interval.as_mut() {
            iv.packets += 1;
            iv.bytes += u64::from(p.ip_len);
            if matches!(p.l4, L4::Tcp { flags, .. } if flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN)
            {
                iv.syn += 1;
            }
        }
        let (flow, to_server) = self.flows.ingest(p, &mut self.out);
        self.fanout.packet(p, flow, to_server);
        if !flow.meta.app.decided() {
            match p.l4 {
                L4::Tcp { payload, .. } => {
                    flow.meta.app.observe(Transport::Tcp, payload, to_server)
                }
                L4::Udp { payload, .. } => {
                    flow.meta.app.observe(Transport::Udp, payload, to_server)
                }
                _ => {}
            }
        }
        let app = flow.meta.app.app();
        // Parsers whose protocol was identified, or that may still find it
        // (an undecided or unknown flow: one caught mid-stream).
        let maybe = |a: AppProto| app == a || app == AppProto::Unknown;
        let (sport, dport) = p.ports();
        let ends = || Endpoints {
            src: p.src,
            src_port: sport,
            dst: p.dst,
            dst_port: dport,
            app,
        };
        let mut events: Vec<EventBody> = Vec::new();
        match p.l4 {
            L4::Tcp { payload, .. } if !payload.is_empty() => {
                if let Some(b) = maybe(AppProto::Ssh)
                    .then(|| meta::parse_ssh_banner(payload))
                    .flatten()
                {
                    let seen = if to_server {
                        &mut flow.meta.ssh_banner_client
                    } else {
                        &mut flow.meta.ssh_banner_server
                    };
                    if !*seen {
                        *seen = true;
                        events.push(EventBody::SshBanner(SshBanner {
                            endpoints: ends(),
                            banner: b,
                            from_server: !to_server,
                        }));
                    }
                } else if to_server
                    && maybe(AppProto::Http)
                    && let Some(h) = meta::parse_http_request(payload)
                {
                    events.push(EventBody::HttpRequest(Box::new(HttpRequest {
                        endpoints: ends(),
                        host: h.header("host"),
                        user_agent: h.header("user-agent"),
                        method: h.method,
                        uri: h.uri,
                        version: h.version,
                        headers: h.headers,
                    })));
                } else if !to_server
                    && maybe(AppProto::Http)
                    && let Some((version, status)) = meta::parse_http_status(payload)
                {
                    events.push(EventBody::HttpResponse(HttpResponse {
                        endpoints: ends(),
                        version,
                        status,
                    }));
                } else if to_server
                    && !flow.meta.tls_seen
                    && maybe(AppProto::Tls)
                    && let Some(ch) = meta::parse_client_hello(payload)
                {
                    flow.meta.tls_seen = true;
                    events.push(EventBody::Tls(TlsClientHello {
                        endpoints: ends(),
                        version: ch.version_name(),
                        ja4: ch.ja4(),
                        alpn: ch.alpn.clone(),
                        sni: ch.sni.clone(),
                    }));
                } else if !to_server
                    && let Some((protocol, success, reply)) = meta::parse_login_reply(app, payload)
                {
                    events.push(EventBody::LoginReply(LoginReply {
                        endpoints: ends(),
                        protocol: protocol.to_owned(),
                        success,
                        reply,
                    }));
                } else if app == AppProto::Dns
                    && let Some(m) = payload.get(2..).and_then(meta::parse_dns)
                {
                    events.push(dns_event(ends(), "tcp", m, payload.len().saturating_sub(2)));
                }
            }
            L4::Udp { payload, .. } if app == AppProto::Dns => {
                if let Some(m) = meta::parse_dns(payload) {
                    events.push(dns_event(ends(), "udp", m, payload.len()));
                }
            }
            L4::Icmp {
                v6,
                icmp_type,
                rest,
                payload,
                ..
            } => {
                let (req, rep) = if v6 { (128, 129) } else { (8, 0) };
                if icmp_type == req || icmp_type == rep {
                    let reply = icmp_type == rep;
                    let id = u16::from_be_bytes([rest[0], rest[1]]);
                    let seq = u16::from_be_bytes([rest[2], rest[3]]);
                    let state = flow.meta.echo.get_or_insert_with(Box::default);
                    let (echo, emit) = state.observe(p.ts, reply, id, seq, payload);
                    if emit {
                        events.push(EventBody::IcmpEcho(IcmpEcho {
                            src: p.src,
                            dst: p.dst,
                            reply,
                            payload_len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
                            entropy: meta::entropy(payload),
                            echo,
                        }));
                    }
                }
            }
            _ => {}
        }
        for e in events {
            self.push(p.ts, e);
        }
    }

    fn arp(&mut self, a: decode::Arp) {
        if a.sender_ip.is_unspecified() {
            return; // ARP probe: no claim yet
        }
        let previous = self.arp.get(&a.sender_ip).copied();
        if previous == Some(a.sender_mac) {
            return;
        }
        if previous.is_none() && self.arp.len() >= MAX_ARP_ENTRIES {
            self.arp.clear();
        }
        self.arp.insert(a.sender_ip, a.sender_mac);
        self.push(
            a.ts,
            EventBody::Arp(ArpObservation {
                ip: a.sender_ip.into(),
                mac: mac(&a.sender_mac),
                previous_mac: previous.as_ref().map(mac),
            }),
        );
    }
}

fn dns_event(endpoints: Endpoints, transport: &str, m: meta::DnsMessage, size: usize) -> EventBody {
    EventBody::Dns(Box::new(DnsEvent {
        endpoints,
        transport: transport.to_owned(),
        id: m.id,
        response: m.response,
        qname: m.qname,
        qtype: meta::dns_type(m.qtype),
        rcode: m.response.then(|| meta::dns_rcode(m.rcode)),
        answers: m.answers,
        size: u32::try_from(size).unwrap_or(u32::MAX),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::linktype::ETHERNET;
    use crate::decode::tests::{tcp_frame, udp_frame};

    fn kinds(a: &Analyzer) -> Vec<&'static str> {
        a.out.iter().map(|e| e.kind().as_str()).collect()
    }

    #[test]
    fn metadata_from_frames() {
        let mut a = Analyzer::new("t", AnalyzerConfig::default());
        let c = [10, 0, 0, 1];
        let s = [10, 0, 0, 2];
        let s1 = 1_000_000_000;
        a.frame(
            s1,
            ETHERNET,
            &tcp_frame(c, 40000, s, 2222, tcp_flags::SYN, b""),
        );
        a.frame(
            s1,
            ETHERNET,
            &tcp_frame(s, 2222, c, 40000, tcp_flags::SYN | tcp_flags::ACK, b""),
        );
        // The server's banner twice: reported once.
        for _ in 0..2 {
            a.frame(
                s1,
                ETHERNET,
                &tcp_frame(
                    s,
                    2222,
                    c,
                    40000,
                    tcp_flags::PSH | tcp_flags::ACK,
                    b"SSH-2.0-OpenSSH_8.9\r\n",
                ),
            );
        }
        a.frame(
            s1,
            ETHERNET,
            &tcp_frame(
                c,
                40001,
                s,
                80,
                tcp_flags::PSH | tcp_flags::ACK,
                b"GET /?q=1 HTTP/1.1\r\nHost: h\r\n\r\n",
            ),
        );
        a.frame(
            s1,
            ETHERNET,
            &tcp_frame(
                s,
                80,
                c,
                40001,
                tcp_flags::PSH | tcp_flags::ACK,
                b"HTTP/1.1 200 OK\r\n\r\n",
            ),
        );
        a.frame(
            s1,
            ETHERNET,
            &udp_frame(c, 5000, s, 53, &meta::tests::dns_query(7, "x.example", 1)),
        );
        a.frame(
            s1,
            ETHERNET,
            &tcp_frame(
                c,
                40002,
                s,
                443,
                tcp_flags::PSH | tcp_flags::ACK,
                &meta::tests::client_hello(Some("sni.example"), &["h2"]),
            ),
        );
        for reply in [&b"220 (vsFTPd 3.0.3)\r\n"[..], b"530 Login incorrect.\r\n"] {
            a.frame(
                s1,
                ETHERNET,
                &tcp_frame(s, 21, c, 40003, tcp_flags::PSH | tcp_flags::ACK, reply),
            );
        }
        let k = kinds(&a);
        assert_eq!(
            k,
            vec![
                "ssh_banner",
                "http_request",
                "http_response",
                "dns",
                "tls",
                "login_reply"
            ],
            "one banner per direction"
        );
        a.finish();
        let flows = a.out.iter().filter(|e| e.kind().as_str() == "flow").count();
        assert_eq!(flows, 5, "ssh, http, dns, tls, ftp");
        assert!(a.out.iter().any(|e| e.kind().as_str() == "iface_stats"));
    }

    /// The events of a flow of `payloads` (from_client, bytes) between
    /// 10.0.0.1:`cport` and 10.0.0.2:`sport`, after a TCP handshake.
    fn tcp_flow(sport: u16, cport: u16, payloads: &[(bool, &[u8])]) -> Vec<Event> {
        let mut a = Analyzer::new("t", AnalyzerConfig::default());
        let c = [10, 0, 0, 1];
        let s = [10, 0, 0, 2];
        let mut ts = 1_000_000_000;
        a.frame(
            ts,
            ETHERNET,
            &tcp_frame(c, cport, s, sport, tcp_flags::SYN, b""),
        );
        a.frame(
            ts,
            ETHERNET,
            &tcp_frame(s, sport, c, cport, tcp_flags::SYN | tcp_flags::ACK, b""),
        );
        for (from_client, p) in payloads {
            ts += 1_000;
            let f = if *from_client {
                tcp_frame(c, cport, s, sport, tcp_flags::PSH | tcp_flags::ACK, p)
            } else {
                tcp_frame(s, sport, c, cport, tcp_flags::PSH | tcp_flags::ACK, p)
            };
            a.frame(ts, ETHERNET, &f);
        }
        a.finish();
        a.out.retain(|e| e.kind().as_str() != "iface_stats");
        a.out
    }

    fn app_of(events: &[Event]) -> Vec<(&'static str, AppProto)> {
        events
            .iter()
            .map(|e| {
                let app = match &e.body {
                    EventBody::Flow(f) => f.app,
                    EventBody::SshBanner(b) => b.endpoints.app,
                    EventBody::LoginReply(l) => l.endpoints.app,
                    EventBody::HttpRequest(h) => h.endpoints.app,
                    EventBody::HttpResponse(h) => h.endpoints.app,
                    EventBody::Tls(t) => t.endpoints.app,
                    EventBody::Dns(d) => d.endpoints.app,
                    _ => AppProto::Unknown,
                };
                (e.kind().as_str(), app)
            })
            .collect()
    }

    #[test]
    fn app_is_by_content_on_any_port() {
        use AppProto::*;
        let banner: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
        // sshd on 8022 is SSH; an SSH banner on port 80 is SSH too.
        for port in [8022, 80] {
            let ev = tcp_flow(
                port,
                40000,
                &[(false, banner), (true, b"SSH-2.0-libssh2_1.10.0\r\n")],
            );
            assert_eq!(
                app_of(&ev),
                vec![("ssh_banner", Ssh), ("ssh_banner", Ssh), ("flow", Ssh)],
                "port {port}"
            );
        }
        // vsftpd on 2100: its 530 replies are FTP login failures.
        let ev = tcp_flow(
            2100,
            40001,
            &[
                (false, b"220 (vsFTPd 3.0.3)\r\n"),
                (true, b"USER anna\r\n"),
                (false, b"331 Please specify the password.\r\n"),
                (true, b"PASS x\r\n"),
                (false, b"530 Login incorrect.\r\n"),
            ],
        );
        assert_eq!(app_of(&ev), vec![("login_reply", Ftp), ("flow", Ftp)]);
        // A 530 reply on port 21 in a flow that never showed FTP is no FTP
        // login: port 21 alone decides nothing.
        let ev = tcp_flow(
            21,
            40002,
            &[(true, b"hello\r\n"), (false, b"530 Login incorrect.\r\n")],
        );
        assert_eq!(app_of(&ev), vec![("flow", Unknown)]);
        // Dovecot IMAP on 10143: the tagged NO is an IMAP failure.
        let ev = tcp_flow(
            10143,
            40003,
            &[
                (
                    false,
                    b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Dovecot (Debian) ready.\r\n",
                ),
                (true, b"a1 LOGIN anna x\r\n"),
                (
                    false,
                    b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
                ),
            ],
        );
        assert_eq!(app_of(&ev), vec![("login_reply", Imap), ("flow", Imap)]);
        // HTTP on 8081, its request and response carry the app.
        let ev = tcp_flow(
            8081,
            40004,
            &[
                (true, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
                (false, b"HTTP/1.0 401 Unauthorized\r\n\r\n"),
            ],
        );
        assert_eq!(
            app_of(&ev),
            vec![
                ("http_request", Http),
                ("http_response", Http),
                ("flow", Http)
            ]
        );
        // Text that is no protocol, on port 22: unknown, no banner event.
        let ev = tcp_flow(22, 40005, &[(true, b"hello\r\n"), (false, b"bye\r\n")]);
        assert_eq!(app_of(&ev), vec![("flow", Unknown)]);
    }

    #[test]
    fn dns_on_any_port_once_identified() {
        let mut a = Analyzer::new("t", AnalyzerConfig::default());
        let q = meta::tests::dns_query(7, "x.example", 1);
        // DNS on 5300 is DNS; random bytes on 53 are not.
        a.frame(
            1,
            ETHERNET,
            &udp_frame([10, 0, 0, 1], 5000, [10, 0, 0, 2], 5300, &q),
        );
        a.frame(
            2,
            ETHERNET,
            &udp_frame([10, 0, 0, 1], 5001, [10, 0, 0, 2], 53, &[0x55; 40]),
        );
        a.finish();
        let mut got: Vec<(&str, u16, AppProto)> = a
            .out
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Dns(d) => Some(("dns", d.endpoints.dst_port, d.endpoints.app)),
                EventBody::Flow(f) => Some(("flow", f.dst_port, f.app)),
                _ => None,
            })
            .collect();
        got.sort_by_key(|g| (g.0, std::cmp::Reverse(g.1)));
        assert_eq!(
            got,
            vec![
                ("dns", 5300, AppProto::Dns),
                ("flow", 5300, AppProto::Dns),
                ("flow", 53, AppProto::Unknown)
            ]
        );
    }

    #[test]
    fn interval_stats_follow_capture_time() {
        let mut a = Analyzer::new(
            "t",
            AnalyzerConfig {
                stats_interval_ns: 1_000_000_000,
                ..AnalyzerConfig::default()
            },
        );
        for i in 0..30 {
            // 10 SYNs per second for 3 s, from 1970 on: capture time only.
            a.frame(
                i * 100_000_000,
                ETHERNET,
                &tcp_frame(
                    [10, 0, 0, 1],
                    1000 + i as u16,
                    [10, 0, 0, 2],
                    80,
                    tcp_flags::SYN,
                    b"",
                ),
            );
        }
        a.finish();
        let stats: Vec<&IfaceStats> = a
            .out
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::IfaceStats(s) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(stats.len(), 3, "{stats:?}");
        assert_eq!(stats[0].packets, 10);
        assert!((stats[0].packets_per_sec - 10.0).abs() < 1e-9);
        assert_eq!(stats[0].syn, 10);
        assert_eq!(a.out[0].ts, Timestamp::from_nanos(1_000_000_000));
    }

    #[test]
    fn arp_reports_new_and_changed_mappings_only() {
        let mut a = Analyzer::new("t", AnalyzerConfig::default());
        let arp = |mac: [u8; 6]| decode::Arp {
            ts: 1,
            op: 2,
            sender_mac: mac,
            sender_ip: [10, 0, 0, 1].into(),
            target_ip: [10, 0, 0, 2].into(),
        };
        a.arp(arp([2, 0, 0, 0, 0, 1]));
        a.arp(arp([2, 0, 0, 0, 0, 1]));
        a.arp(arp([2, 0, 0, 0, 0, 9]));
        assert_eq!(a.out.len(), 2);
        match &a.out[1].body {
            EventBody::Arp(o) => assert_eq!(o.previous_mac.as_deref(), Some("02:00:00:00:00:01")),
            other => panic!("{other:?}"),
        }
    }
}
