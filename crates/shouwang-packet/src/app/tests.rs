use super::*;
use real::{REAL, REAL_FLOWS};

#[path = "real.rs"]
mod real;

fn tcp(p: &[u8]) -> Clue {
    sniff(Transport::Tcp, p)
}

fn udp(p: &[u8]) -> Clue {
    sniff(Transport::Udp, p)
}

/// A flow fed `(from_client, payload)` in order.
fn flow(t: Transport, packets: &[(bool, &[u8])]) -> AppId {
    let mut id = AppId::default();
    for (c, p) in packets {
        id.observe(t, p, *c);
    }
    id
}

/// A deterministic byte stream (xorshift), for "random traffic" negatives.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn real_first_bytes_decide_alone() {
    for (label, app, t, p) in REAL {
        assert_eq!(sniff(*t, p), Clue::Sure(*app), "{label}");
        let id = flow(*t, &[(true, p)]);
        assert_eq!((id.app(), id.decided()), (*app, true), "{label}");
    }
}

#[test]
fn real_flows_decide_on_both_directions() {
    for (label, app, packets) in REAL_FLOWS {
        let id = flow(Transport::Tcp, packets);
        assert_eq!((id.app(), id.decided()), (*app, true), "{label}");
    }
    // The POP3 greeting alone is only a hint (it names no protocol).
    let (_, _, pop3) = REAL_FLOWS[0];
    assert_eq!(tcp(pop3[0].1), Clue::Hint(bit(AppProto::Pop3)));
}

#[test]
fn real_bytes_of_one_transport_are_nothing_on_the_other() {
    // TCP protocols are not looked for in UDP and the reverse, except DNS.
    for (label, app, t, p) in REAL {
        let other = match t {
            Transport::Tcp => Transport::Udp,
            Transport::Udp => Transport::Tcp,
        };
        if *app != AppProto::Dns {
            assert_eq!(sniff(other, p), Clue::None, "{label}");
        }
    }
}

#[test]
fn near_misses_of_real_bytes_are_refused() {
    let get = |label: &str| {
        REAL.iter()
            .find(|r| r.0.starts_with(label))
            .map(|r| r.3.to_vec())
            .unwrap_or_default()
    };
    // DNS: two questions; the Z bit; a control byte in a label.
    let mut q = get("dig query");
    q[5] = 2;
    assert_eq!(udp(&q), Clue::None);
    let mut q = get("dig query");
    q[3] |= 0x40;
    assert_eq!(udp(&q), Clue::None);
    let mut q = get("dig query");
    q[14] = 0x07;
    assert_eq!(udp(&q), Clue::None);
    // TLS: a Certificate handshake first; an SSL 4.x version.
    let mut h = get("curl TLS 1.3");
    h[5] = 11;
    assert_eq!(tcp(&h), Clue::None);
    let mut h = get("curl TLS 1.3");
    h[1] = 4;
    assert_eq!(tcp(&h), Clue::None);
    // SNMP: version 2 does not exist on the wire (v2c is 1).
    let mut s = get("snmpget v1");
    s[4] = 2;
    assert_eq!(udp(&s), Clue::None);
    // NTP: version 0, and a 47-byte packet.
    let mut n = get("sntp client");
    n[0] = 0x03;
    assert_eq!(udp(&n), Clue::None);
    let n = get("sntp client");
    assert_eq!(udp(&n[..47]), Clue::None);
    // MySQL: a length that does not match the packet.
    let mut m = get("MariaDB");
    m[0] ^= 1;
    assert_eq!(tcp(&m), Clue::None);
    // PostgreSQL: protocol 2.0.
    let mut pg = get("psql StartupMessage");
    pg[5] = 2;
    assert_eq!(tcp(&pg), Clue::None);
    // RDP: the TPKT length off by one.
    let mut r = get("nmap RDP");
    r[3] += 1;
    assert_eq!(tcp(&r), Clue::None);
    // SMB: another magic.
    let mut b = get("smbclient");
    b[5] = b'X';
    assert_eq!(tcp(&b), Clue::None);
    // Telnet: an option code nobody assigned.
    let mut t = get("inetutils telnetd");
    t[2] = 0x90;
    assert_eq!(tcp(&t), Clue::None);
    // Redis: a command name that is not a word.
    assert_eq!(tcp(b"*1\r\n$4\r\n\x00\x01\x02\x03\r\n"), Clue::None);
}

#[test]
fn random_payloads_are_unknown() {
    // 200 000 random datagrams and segments of every size up to 600 bytes:
    // not one may pass for a protocol. (NTP modes 6 and 7 checked on their
    // first four bytes only let two of these through.)
    let mut hits = Vec::new();
    for i in 0..200_000u64 {
        let p = noise(
            i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            (i % 600) as usize + 1,
        );
        for t in [Transport::Udp, Transport::Tcp] {
            if let Clue::Sure(a) = sniff(t, &p) {
                hits.push((i, a));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "{} random payloads classified: {:?}",
        hits.len(),
        &hits[..hits.len().min(10)]
    );
}

#[test]
fn truncated_and_empty_payloads_are_not_guessed() {
    assert_eq!(tcp(b""), Clue::None);
    assert_eq!(udp(b""), Clue::None);
    assert_eq!(tcp(b"SSH-"), Clue::None);
    assert_eq!(tcp(b"SSH-3.0-x\r\n"), Clue::None);
    assert_eq!(tcp(b"GET"), Clue::None);
    assert_eq!(
        tcp(b"GET /index.html HTTP/1.1"),
        Clue::None,
        "no line end, short"
    );
    assert_eq!(tcp(b"GETS / HTTP/1.1\r\n"), Clue::None);
    assert_eq!(tcp(b"HTTP/1.1 2"), Clue::None);
    assert_eq!(tcp(&[0x16, 3, 1]), Clue::None);
    assert_eq!(
        tcp(&[0x16, 3, 1, 0, 5, 1, 0, 0, 1, 3, 3]),
        Clue::None,
        "hello too short"
    );
    assert_eq!(udp(&[0; 12]), Clue::None);
    assert_eq!(udp(&[0x1b]), Clue::None);
    assert_eq!(udp(&[0x1b; 47]), Clue::None);
    assert_eq!(tcp(&[0xff, 0xfb]), Clue::None);
    assert_eq!(tcp(b"*1\r\n$4\r"), Clue::None);
    assert_eq!(
        tcp(&[0x03, 0, 0, 11, 6, 0xe0, 0, 0, 0, 0, 0]),
        Clue::None,
        "X.224 CR with nothing of RDP"
    );
}

#[test]
fn decision_needs_both_sides_for_hints_and_gives_up() {
    use AppProto::*;
    // A bare 220 greeting is FTP or SMTP; the client's USER settles FTP.
    let id = flow(
        Transport::Tcp,
        &[(false, b"220 Welcome\r\n"), (true, b"USER anna\r\n")],
    );
    assert_eq!((id.app(), id.decided()), (Ftp, true));
    // The same greeting, then EHLO: SMTP.
    let id = flow(
        Transport::Tcp,
        &[
            (false, b"220 Welcome\r\n"),
            (true, b"EHLO client.example\r\n"),
        ],
    );
    assert_eq!(id.app(), Smtp);
    // +OK then USER: POP3 (USER alone is FTP or POP3).
    let id = flow(
        Transport::Tcp,
        &[(false, b"+OK ready\r\n"), (true, b"USER anna\r\n")],
    );
    assert_eq!(id.app(), Pop3);
    // One side's hint alone decides nothing.
    let id = flow(
        Transport::Tcp,
        &[(true, b"USER anna\r\n"), (true, b"PASS x\r\n")],
    );
    assert_eq!((id.app(), id.decided()), (Unknown, false));
    // Payload both ways and no clue: unknown, for good.
    let mut id = flow(
        Transport::Tcp,
        &[(true, b"hello there\r\n"), (false, b"hi\r\n")],
    );
    assert_eq!((id.app(), id.decided()), (Unknown, true));
    id.observe(Transport::Tcp, b"SSH-2.0-OpenSSH_9.2\r\n", true);
    assert_eq!(id.app(), Unknown, "decided once");
    // Contradicting hints: unknown.
    let id = flow(
        Transport::Tcp,
        &[(false, b"+OK ready\r\n"), (true, b"FEAT\r\n")],
    );
    assert_eq!((id.app(), id.decided()), (Unknown, true));
    // Only one direction, nothing in four payloads: gives up.
    let junk = noise(7, 100);
    let id = flow(
        Transport::Udp,
        &[(true, &junk), (true, &junk), (true, &junk), (true, &junk)],
    );
    assert_eq!((id.app(), id.decided()), (Unknown, true));
    // A sure clue from the server's first bytes decides at once.
    let id = flow(
        Transport::Tcp,
        &[(false, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")],
    );
    assert_eq!((id.app(), id.decided()), (Ssh, true));
}

#[test]
fn ports_play_no_part() {
    // sniff has no port to look at; the analyzer test covers the flows.
    assert_eq!(udp(&[0x30, 0x02, 0x02, 0x01]), Clue::None);
}

proptest::proptest! {
    #[test]
    fn arbitrary_payloads_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..700)) {
        let _ = sniff(Transport::Tcp, &b);
        let _ = sniff(Transport::Udp, &b);
        let mut id = AppId::default();
        for chunk in b.chunks(97) {
            id.observe(Transport::Tcp, chunk, chunk.len() % 2 == 0);
        }
        proptest::prop_assert!(id.payloads <= MAX_PAYLOADS);
    }

    #[test]
    fn every_prefix_of_real_first_bytes_is_safe(cut in 0usize..600, which in 0usize..REAL.len()) {
        let (_, _, t, p) = REAL[which];
        let p = &p[..cut.min(p.len())];
        let _ = sniff(t, p);
    }
}
