//! Crafted packets: frames built with etherparse (checksums included) and
//! sent through a pnet datalink channel on one interface. Every pattern is
//! bounded in count (≤ 100 000), rate (≤ 50 000/s) and time (`max-duration`,
//! default 60 s), and stops by itself.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use etherparse::PacketBuilder;

use crate::playbook::{Packets, Pattern};

const MAX_COUNT: u32 = 100_000;
const MAX_RATE: u32 = 50_000;

/// What a send did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub packets: u64,
    pub requests: u64,
}

/// Ports from `1-200`, `22,80,443` or `20-25,80`.
pub fn parse_ports(s: &str) -> anyhow::Result<Vec<u16>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: u16 = a.trim().parse().with_context(|| format!("port {a:?}"))?;
        let b: u16 = b.trim().parse().with_context(|| format!("port {b:?}"))?;
        if a == 0 || b < a {
            bail!("port range {part:?}: use 1-65535, low to high");
        }
        out.extend(a..=b);
    }
    if out.is_empty() || out.len() > 65_535 {
        bail!("ports {s:?}: give 1 to 65535 ports");
    }
    Ok(out)
}

/// Addresses of `a.b.c.d/nn` (at most 4096), or the one address.
pub fn parse_targets(s: &str) -> anyhow::Result<Vec<Ipv4Addr>> {
    let Some((base, bits)) = s.split_once('/') else {
        return Ok(vec![s.parse().with_context(|| format!("target {s:?}"))?]);
    };
    let base: Ipv4Addr = base.parse().with_context(|| format!("target {s:?}"))?;
    let bits: u32 = bits.parse().with_context(|| format!("prefix in {s:?}"))?;
    if !(20..=32).contains(&bits) {
        bail!("target {s:?}: prefix /20 to /32 (at most 4096 addresses)");
    }
    let mask = if bits == 32 {
        u32::MAX
    } else {
        !(u32::MAX >> bits)
    };
    let net = u32::from(base) & mask;
    let size = 1u32 << (32 - bits);
    Ok((0..size)
        .map(|i| Ipv4Addr::from(net + i))
        .filter(|a| size <= 2 || (u32::from(*a) != net && u32::from(*a) != net + size - 1))
        .collect())
}

fn parse_mac(s: &str) -> anyhow::Result<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .with_context(|| format!("MAC {s:?}"))?;
    parts
        .try_into()
        .map_err(|_| anyhow::anyhow!("MAC {s:?}: six hex bytes"))
}

/// The target's MAC from the neighbour table, after poking it with a UDP
/// datagram (discard port) so the kernel resolves it.
fn neighbour_mac(target: Ipv4Addr) -> Option<[u8; 6]> {
    if let Ok(sock) = std::net::UdpSocket::bind("0.0.0.0:0") {
        let _ = sock.send_to(b"shouwang-drill arp", (target, 9));
    }
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(50));
        let table = std::fs::read_to_string("/proc/net/arp").ok()?;
        for line in table.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 4
                && f[0] == target.to_string()
                && f[3] != "00:00:00:00:00:00"
                && let Ok(m) = parse_mac(f[3])
            {
                return Some(m);
            }
        }
    }
    None
}

/// A bounded pacer: `rate` per second, stopping at `deadline`.
struct Pacer {
    start: Instant,
    rate: f64,
    deadline: Instant,
}

impl Pacer {
    /// Waits for packet `n`'s turn; false when time is up.
    fn wait(&self, n: u64) -> bool {
        let due = self.start + Duration::from_secs_f64(n as f64 / self.rate);
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        if due > now {
            std::thread::sleep((due - now).min(self.deadline - now));
        }
        Instant::now() < self.deadline
    }
}

fn random_in(net: &str) -> anyhow::Result<impl FnMut() -> Ipv4Addr> {
    let (base, bits) = net
        .split_once('/')
        .with_context(|| format!("spoof {net:?}: a network such as 198.18.0.0/15"))?;
    let base: Ipv4Addr = base.parse().with_context(|| format!("spoof {net:?}"))?;
    let bits: u32 = bits.parse().with_context(|| format!("spoof {net:?}"))?;
    if !(8..=30).contains(&bits) {
        bail!("spoof {net:?}: prefix /8 to /30");
    }
    let host_bits = 32 - bits;
    let net = u32::from(base) & !((1u32 << host_bits) - 1);
    Ok(move || Ipv4Addr::from(net | fastrand::u32(1..(1u32 << host_bits) - 1)))
}

fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(name.len() + 18);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        m.push(u8::try_from(label.len().min(63)).unwrap_or(63));
        m.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

fn hex_label(n: usize) -> String {
    (0..n)
        .map(|_| char::from(b"0123456789abcdef"[fastrand::usize(..16)]))
        .collect()
}

/// Sends the pattern. Needs CAP_NET_RAW (root) except `http-attack`.
pub fn send(p: &Packets) -> anyhow::Result<Sent> {
    let max = p.max_duration.unwrap_or(Duration::from_secs(60));
    if max > Duration::from_secs(600) {
        bail!("max-duration is at most 10m");
    }
    let deadline = Instant::now() + max;
    let count = p.count.unwrap_or(match p.pattern {
        Pattern::SynFlood => 3_000,
        Pattern::IcmpTunnel => 10,
        Pattern::DnsTunnel => 40,
        _ => 0,
    });
    if count > MAX_COUNT {
        bail!("count {count} is above the bound of {MAX_COUNT}");
    }
    let rate = p.rate.unwrap_or(1_000);
    if rate == 0 || rate > MAX_RATE {
        bail!("rate {rate}/s: use 1 to {MAX_RATE}");
    }
    if p.pattern == Pattern::HttpAttack && p.requests.is_empty() {
        bail!("http-attack needs requests = [\"/path?payload\", …]");
    }
    if p.requests.len() > 1000 {
        bail!("http-attack: at most 1000 requests");
    }
    let iface = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == p.iface)
        .with_context(|| format!("no interface {:?} here", p.iface))?;
    let src_mac = iface.mac.map(|m| m.octets()).unwrap_or([2, 0, 0, 0, 0, 1]);
    let src: Ipv4Addr = match &p.src {
        Some(s) => s.parse().with_context(|| format!("src {s:?}"))?,
        None => iface
            .ips
            .iter()
            .find_map(|n| match n.ip() {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            })
            .with_context(|| format!("{} has no IPv4 address; give src", p.iface))?,
    };
    let targets = parse_targets(&p.target)?;
    let first = *targets.first().context("no target address")?;
    let dst_mac = match &p.dst_mac {
        Some(m) => parse_mac(m)?,
        None if p.pattern == Pattern::IcmpSweep => [0xff; 6],
        None => neighbour_mac(first).unwrap_or([0xff; 6]),
    };
    let cfg = pnet_datalink::Config {
        write_buffer_size: 1 << 16,
        read_buffer_size: 4096,
        ..Default::default()
    };
    let mut tx = match pnet_datalink::channel(&iface, cfg)
        .with_context(|| format!("cannot open {} for sending (root or CAP_NET_RAW?)", p.iface))?
    {
        pnet_datalink::Channel::Ethernet(tx, _rx) => tx,
        _ => bail!("{}: not an Ethernet interface", p.iface),
    };
    let pacer = Pacer {
        start: Instant::now(),
        rate: f64::from(rate),
        deadline,
    };
    let mut sent = Sent::default();
    let mut frame = Vec::with_capacity(1600);
    let mut emit = |frame: &[u8], sent: &mut Sent| -> anyhow::Result<()> {
        match tx.send_to(frame, None) {
            Some(Ok(())) => {
                sent.packets += 1;
                Ok(())
            }
            Some(Err(e)) => Err(anyhow::Error::new(e).context(format!("send on {}", p.iface))),
            None => bail!("send on {}: no buffer", p.iface),
        }
    };
    let eth = || PacketBuilder::ethernet2(src_mac, dst_mac);
    let sport = 40_000 + fastrand::u16(..20_000);
    match p.pattern {
        Pattern::SynScan | Pattern::NullScan | Pattern::FinScan | Pattern::XmasScan => {
            let ports = parse_ports(p.ports.as_deref().unwrap_or("1-100"))?;
            for (n, port) in ports.iter().enumerate() {
                if !pacer.wait(n as u64) {
                    break;
                }
                let tcp = eth().ipv4(src.octets(), first.octets(), 64).tcp(
                    sport,
                    *port,
                    fastrand::u32(..),
                    1024,
                );
                let tcp = match p.pattern {
                    Pattern::SynScan => tcp.syn(),
                    Pattern::FinScan => tcp.fin(),
                    Pattern::XmasScan => tcp.fin().psh().urg(0),
                    _ => tcp,
                };
                frame.clear();
                tcp.write(&mut frame, &[]).context("building a TCP probe")?;
                emit(&frame, &mut sent)?;
            }
        }
        Pattern::UdpScan => {
            let ports = parse_ports(p.ports.as_deref().unwrap_or("1-100"))?;
            for (n, port) in ports.iter().enumerate() {
                if !pacer.wait(n as u64) {
                    break;
                }
                frame.clear();
                eth()
                    .ipv4(src.octets(), first.octets(), 64)
                    .udp(sport, *port)
                    .write(&mut frame, &[])
                    .context("building a UDP probe")?;
                emit(&frame, &mut sent)?;
            }
        }
        Pattern::SynFlood => {
            let port = p.port.unwrap_or(80);
            let mut spoofed = match &p.spoof {
                Some(net) => Some(random_in(net)?),
                None => None,
            };
            for n in 0..u64::from(count) {
                if !pacer.wait(n) {
                    break;
                }
                let s = spoofed.as_mut().map_or(src, |f| f());
                frame.clear();
                eth()
                    .ipv4(s.octets(), first.octets(), 64)
                    .tcp(
                        1024 + fastrand::u16(..60_000),
                        port,
                        fastrand::u32(..),
                        1024,
                    )
                    .syn()
                    .write(&mut frame, &[])
                    .context("building a SYN")?;
                emit(&frame, &mut sent)?;
            }
        }
        Pattern::IcmpSweep => {
            for (n, t) in targets.iter().enumerate() {
                if !pacer.wait(n as u64) {
                    break;
                }
                frame.clear();
                eth()
                    .ipv4(src.octets(), t.octets(), 64)
                    .icmpv4_echo_request(0x5357, u16::try_from(n % 65_536).unwrap_or(0))
                    .write(&mut frame, b"shouwang-drill sweep")
                    .context("building an echo request")?;
                emit(&frame, &mut sent)?;
            }
        }
        Pattern::IcmpTunnel => {
            let mut payload = vec![0u8; 600];
            for n in 0..u64::from(count) {
                if !pacer.wait(n) {
                    break;
                }
                payload.iter_mut().for_each(|b| *b = fastrand::u8(..));
                frame.clear();
                eth()
                    .ipv4(src.octets(), first.octets(), 64)
                    .icmpv4_echo_request(0x7475, u16::try_from(n % 65_536).unwrap_or(0))
                    .write(&mut frame, &payload)
                    .context("building an echo request")?;
                emit(&frame, &mut sent)?;
            }
        }
        Pattern::DnsTunnel => {
            let domain = p.domain.as_deref().unwrap_or("t.drill.invalid");
            let port = p.port.unwrap_or(53);
            for n in 0..u64::from(count) {
                if !pacer.wait(n) {
                    break;
                }
                let name = format!("{}.{}.{n}.{domain}", hex_label(60), hex_label(60));
                let q = dns_query(u16::try_from(n % 65_536).unwrap_or(0), &name, 16);
                frame.clear();
                eth()
                    .ipv4(src.octets(), first.octets(), 64)
                    .udp(sport, port)
                    .write(&mut frame, &q)
                    .context("building a DNS query")?;
                emit(&frame, &mut sent)?;
            }
        }
        Pattern::HttpAttack => {
            // Each request in its own connection: a SYN, then the request
            // in one PSH+ACK segment (the capture parses it; no server is
            // needed, and none answers a spoof-free drill differently).
            let port = p.port.unwrap_or(80);
            for (n, r) in p.requests.iter().enumerate() {
                if r.contains(['\r', '\n', ' ']) {
                    bail!("request target {r:?}: no spaces or line breaks (percent-encode them)");
                }
                if !pacer.wait(n as u64 * 2) {
                    break;
                }
                let sp = 20_000 + u16::try_from(n % 40_000).unwrap_or(0);
                let seq = fastrand::u32(..);
                frame.clear();
                eth()
                    .ipv4(src.octets(), first.octets(), 64)
                    .tcp(sp, port, seq, 64_240)
                    .syn()
                    .write(&mut frame, &[])
                    .context("building a SYN")?;
                emit(&frame, &mut sent)?;
                let req = format!(
                    "GET {r} HTTP/1.1\r\nHost: {first}\r\nUser-Agent: shouwang-drill\r\nAccept: */*\r\n\r\n"
                );
                frame.clear();
                eth()
                    .ipv4(src.octets(), first.octets(), 64)
                    .tcp(sp, port, seq.wrapping_add(1), 64_240)
                    .psh()
                    .ack(1)
                    .write(&mut frame, req.as_bytes())
                    .context("building a request segment")?;
                emit(&frame, &mut sent)?;
                sent.requests += 1;
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn ports_and_targets_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_ports("20-22,80").unwrap(), vec![20, 21, 22, 80]);
        assert!(parse_ports("0-10").is_err());
        assert!(parse_ports("9-3").is_err());
        assert!(parse_ports("http").is_err());
        let t = parse_targets("10.9.0.0/28").unwrap();
        assert_eq!(t.len(), 14, "network and broadcast left out");
        assert_eq!(t[0], Ipv4Addr::new(10, 9, 0, 1));
        assert_eq!(parse_targets("10.9.0.5").unwrap().len(), 1);
        assert!(parse_targets("10.0.0.0/8").is_err(), "too wide");
        let mut r = random_in("198.18.0.0/15").unwrap();
        for _ in 0..100 {
            let a = r();
            assert!(a.octets()[0] == 198 && (a.octets()[1] & 0xfe) == 18, "{a}");
        }
    }

    #[test]
    fn dns_queries_parse_back() {
        let q = dns_query(7, "abc.def.t.drill.invalid", 16);
        assert_eq!(&q[..2], &[0, 7]);
        assert_eq!(q[12], 3);
        assert_eq!(&q[13..16], b"abc");
        assert_eq!(&q[q.len() - 4..], &[0, 16, 0, 1]);
    }
}
