//! ICMP echo pairing per flow: which request a reply answers, whether it
//! carries the request's payload back (every real ping reply does; ICMP
//! tunnels answer with their own data), the flow's running totals, and
//! which messages become events. Bounded: a few pending requests per flow
//! and a few events per flow plus one sample every [`SAMPLE_EVERY_NS`].

use shouwang_proto::{EchoContext, EchoPairing};

/// Echo events for the first messages of a flow.
pub const FIRST_EVENTS: u64 = 5;
/// Further events for replies that do not echo their request, per flow: a
/// tunnel shows in its first exchanges, and a tunnel rule needs a few.
pub const ODD_REPLY_EVENTS: u64 = 8;
/// After those, one event (a sample carrying the totals) per this much
/// capture time per flow, so volume rules see a long tunnel while it runs.
pub const SAMPLE_EVERY_NS: i64 = 5_000_000_000;
/// Requests remembered per flow for pairing (a ping flood answers within
/// microseconds; ptunnel keeps a window of 64 in flight but pairs show in
/// the first ones).
const PENDING: usize = 32;
/// Bytes at the start of a payload that may hold a timestamp (iputils puts
/// a 16-byte `struct timeval` there).
const STAMP: usize = 16;
/// Longest fill pattern looked for (`ping -p` takes 16 bytes, Windows sends
/// a 23-letter alphabet).
const MAX_PERIOD: usize = 32;
/// Positions checked when confirming a fill (strided over the payload).
const CHECKS: usize = 128;

#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    id: u16,
    seq: u16,
    len: u32,
    hash: u64,
    fill: bool,
    used: bool,
}

/// One flow's echo state.
#[derive(Debug, Clone, Default)]
pub struct EchoState {
    ctx: EchoContext,
    pending: [Pending; PENDING],
    next: usize,
    events: u64,
    odd_events: u64,
    last_event: i64,
}

fn hash(b: &[u8]) -> u64 {
    // FNV-1a: stable, no key needed (equality only, within one flow).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Whether `b` is a ping fill (see [`EchoContext::fill`]).
pub fn is_fill(b: &[u8]) -> bool {
    let Some(d) = b.get(STAMP..) else {
        return true;
    };
    if d.is_empty() {
        return true;
    }
    let stride = (d.len() / CHECKS).max(1);
    let holds = |ok: &dyn Fn(usize) -> bool, from: usize| {
        let mut seen = 0usize;
        let mut good = 0usize;
        let mut i = from;
        while i < d.len() {
            seen += 1;
            good += usize::from(ok(i));
            i += stride;
        }
        seen > 0 && good * 10 >= seen * 9
    };
    // Counting bytes: each one more than the last.
    let counting = |i: usize| d[i] == d[i - 1].wrapping_add(1);
    if d.len() > 1 && holds(&counting, 1) {
        return true;
    }
    // A repeated pattern: the smallest period that explains the start,
    // then confirmed over the whole payload.
    for p in 1..=MAX_PERIOD.min(d.len().saturating_sub(1)) {
        let head = (d.len() - p).min(2 * MAX_PERIOD);
        if (0..head).all(|i| d[i] == d[i + p]) {
            let repeats = |i: usize| d[i] == d[i - p];
            return holds(&repeats, p);
        }
    }
    false
}

impl EchoState {
    /// One echo message of the flow at `ts`. Returns its context (with the
    /// totals including it) and whether it should become an event.
    pub fn observe(
        &mut self,
        ts: i64,
        reply: bool,
        id: u16,
        seq: u16,
        payload: &[u8],
    ) -> (EchoContext, bool) {
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let bytes = u64::from(len);
        let c = &mut self.ctx;
        if c.requests == 0 && c.replies == 0 {
            c.first_ts = ts;
        }
        c.id = id;
        c.seq = seq;
        let mut pairing = None;
        let fill;
        if reply {
            c.replies += 1;
            c.reply_bytes += bytes;
            let h = hash(payload);
            match self
                .pending
                .iter_mut()
                .find(|p| p.used && p.id == id && p.seq == seq)
            {
                // Kept after the first answer: a tunnel's proxy often
                // answers after the kernel's own echo reply.
                Some(p) if p.len == len && p.hash == h => {
                    pairing = Some(EchoPairing::Echoed);
                    fill = p.fill;
                }
                Some(_) => {
                    pairing = Some(EchoPairing::Mismatch);
                    c.mismatched += 1;
                    fill = is_fill(payload);
                    if !fill {
                        c.opaque_bytes += bytes;
                    }
                }
                None => {
                    pairing = Some(EchoPairing::Unsolicited);
                    c.unsolicited += 1;
                    fill = is_fill(payload);
                    if !fill {
                        c.opaque_bytes += bytes;
                    }
                }
            }
        } else {
            c.requests += 1;
            c.request_bytes += bytes;
            fill = is_fill(payload);
            if !fill {
                c.opaque_bytes += bytes;
            }
            if let Some(slot) = self.pending.get_mut(self.next) {
                *slot = Pending {
                    id,
                    seq,
                    len,
                    hash: hash(payload),
                    fill,
                    used: true,
                };
            }
            self.next = (self.next + 1) % PENDING;
        }
        c.pairing = pairing;
        c.fill = fill;
        let odd = matches!(
            pairing,
            Some(EchoPairing::Mismatch | EchoPairing::Unsolicited)
        );
        let emit = if self.events < FIRST_EVENTS {
            true
        } else if odd && self.odd_events < ODD_REPLY_EVENTS {
            self.odd_events += 1;
            true
        } else {
            ts - self.last_event >= SAMPLE_EVERY_NS
        };
        if emit {
            self.events += 1;
            self.last_event = ts;
        }
        (self.ctx, emit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iputils(len: usize, stamp: u8) -> Vec<u8> {
        let mut b = vec![stamp; 8];
        b.extend(std::iter::repeat_n(0, 8));
        b.extend((0..len.saturating_sub(16)).map(|i| (i + 16) as u8));
        b
    }

    fn random(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_pair_without_panic(
            msgs in proptest::collection::vec(
                (proptest::bool::ANY, 0u16..4, proptest::collection::vec(proptest::num::u8::ANY, 0..300)),
                0..80,
            )
        ) {
            let mut s = EchoState::default();
            let mut events = 0u64;
            for (i, (reply, seq, payload)) in msgs.iter().enumerate() {
                let _ = is_fill(payload);
                let (c, emit) = s.observe(i as i64, *reply, 1, *seq, payload);
                events += u64::from(emit);
                proptest::prop_assert!(c.mismatched + c.unsolicited <= c.replies);
                proptest::prop_assert!(c.opaque_bytes <= c.request_bytes + c.reply_bytes);
            }
            proptest::prop_assert!(events <= FIRST_EVENTS + ODD_REPLY_EVENTS + 1);
        }
    }

    #[test]
    fn ping_fills_are_fills_and_data_is_not() {
        assert!(is_fill(&iputils(56, 7)), "iputils default");
        assert!(is_fill(&iputils(1400, 7)), "ping -s 1400 counts on");
        let mut pattern = vec![1u8; 16];
        pattern.extend(std::iter::repeat_n(0xff, 984));
        assert!(is_fill(&pattern), "ping -p ff");
        let mut abc = vec![9u8; 16];
        abc.extend(b"abcdefghijklmnopqrstuvw".iter().cycle().take(100));
        assert!(is_fill(&abc), "Windows alphabet");
        assert!(is_fill(&[0u8; 8]), "timestamp only");
        assert!(!is_fill(&random(56, 3)), "random 56 bytes");
        assert!(!is_fill(&random(1024, 5)), "random 1 KiB");
        let mut text = vec![0u8; 16];
        text.extend(b"uid=0(root) gid=0(root) groups=0(root)\nLinux victim 6.1.0 x86_64\n");
        assert!(!is_fill(&text), "command output (icmpsh)");
    }

    #[test]
    fn real_ping_echoes_and_a_tunnel_does_not() {
        let mut ping = EchoState::default();
        for seq in 0..20u16 {
            let p = iputils(56, seq as u8);
            let (q, _) = ping.observe(i64::from(seq) * 1_000_000_000, false, 7, seq, &p);
            assert_eq!(q.pairing, None);
            let (r, _) = ping.observe(i64::from(seq) * 1_000_000_000 + 1, true, 7, seq, &p);
            assert_eq!(r.pairing, Some(EchoPairing::Echoed));
        }
        let (c, _) = ping.observe(30_000_000_000, false, 7, 99, &iputils(56, 1));
        assert_eq!((c.mismatched, c.unsolicited, c.opaque_bytes), (0, 0, 0));
        assert_eq!((c.requests, c.replies), (21, 20));

        // ptunnel: the kernel echoes, then the proxy answers the same
        // id/seq with its own data, then pushes replies nobody asked for.
        let mut tun = EchoState::default();
        let q = random(28, 1);
        tun.observe(0, false, 5, 1, &q);
        assert_eq!(
            tun.observe(1, true, 5, 1, &q).0.pairing,
            Some(EchoPairing::Echoed)
        );
        let (m, emit) = tun.observe(2, true, 5, 1, &random(28, 2));
        assert_eq!(m.pairing, Some(EchoPairing::Mismatch));
        assert!(emit);
        let (u, _) = tun.observe(3, true, 5, 2, &random(1052, 3));
        assert_eq!(u.pairing, Some(EchoPairing::Unsolicited));
        assert_eq!((u.mismatched, u.unsolicited), (1, 1));
        assert_eq!(u.opaque_bytes, 28 + 28 + 1052);
    }

    #[test]
    fn a_flood_is_a_handful_of_events() {
        let mut s = EchoState::default();
        let mut events = 0;
        // 100 000 request/reply pairs in 10 s.
        for i in 0..100_000u32 {
            let ts = i64::from(i) * 100_000;
            let seq = i as u16;
            let p = iputils(56, i as u8);
            events += usize::from(s.observe(ts, false, 1, seq, &p).1);
            events += usize::from(s.observe(ts + 10, true, 1, seq, &p).1);
        }
        assert!(events <= 5 + 2 + 1, "{events} events");
        // Odd replies: at most the budget, then samples.
        let mut t = EchoState::default();
        let odd: usize = (0..1000u16)
            .map(|i| usize::from(t.observe(i64::from(i), true, 1, i, &random(64, 9)).1))
            .sum();
        assert_eq!(odd as u64, FIRST_EVENTS + ODD_REPLY_EVENTS);
    }
}
