//! Fan-out and fan-in counters, per packet, on capture time.
//!
//! The flow table reports a flow when it ends, up to 15 s (idle) or 60 s
//! (active) after its packets. Scans, sweeps and floods are many small
//! flows that end by idle timeout, so rules that count flow records see them
//! late. This table counts them as their packets arrive instead, per actor:
//!
//! - **out** (per source address and protocol): probes opened, distinct
//!   hosts and ports probed that never answered: a scan or sweep;
//! - **in** (per destination address and protocol): SYNs, one-way UDP
//!   packets and ICMP echo requests received, distinct sources and ports:
//!   a flood, spoofed or not.
//!
//! A *probe* is a flow opened like one: a TCP SYN (without ACK) first, any
//! new UDP flow, an ICMP echo request to a host not pinged before on this
//! flow. It is *answered* when the TCP handshake completes (the client ACKs
//! the SYN-ACK), a UDP packet comes back, or an echo reply comes back. A
//! browser's 30 connections to 15 CDN hosts are all answered within a round
//! trip, so they leave no unanswered host behind; a SYN scan's refused and
//! half-open probes, a UDP scan's silent or ICMP-refused probes do. ICMP
//! echo hosts count whether they answer or not: a sweep is host discovery,
//! and the hosts that reply are exactly what it finds.
//!
//! Every second of capture time ([`FanoutTable::tick`]) each actor that
//! changed is snapshotted, and those above a floor are reported as a
//! [`Fanout`] event carrying `first_ts`, the totals since the activity
//! began and the growth over the last two seconds, so rules catch bursts
//! (growth) and slow scans (totals over up to an hour) from the same
//! report. Memory is bounded: actors per direction, distinct values per
//! actor and distinct values in all are capped; what could not be tracked
//! is counted in [`FanoutTable::dropped`].

use std::collections::HashMap;
use std::net::IpAddr;

use shouwang_proto::{
    Event, EventBody, FanDirection, Fanout, TcpState, Timestamp, WINDOW_PORTS_MANY,
};

use crate::decode::{IpPacket, L4, tcp_flags};
use crate::flow::Flow;

/// `Flow::meta.fan` bits.
/// The flow was classified (probe or not).
const FAN_SEEN: u8 = 1;
/// The flow was opened like a probe.
const FAN_PROBE: u8 = 2;
/// The prober's packets go client → server.
const FAN_UP: u8 = 4;
/// The probe was answered.
const FAN_ANSWERED: u8 = 8;
/// ICMP flows hold both directions: echo requests seen client → server,
/// server → client.
const FAN_ECHO_UP: u8 = 16;
const FAN_ECHO_DOWN: u8 = 32;
/// Echo replies seen client → server, server → client.
const FAN_REPLY_UP: u8 = 64;
const FAN_REPLY_DOWN: u8 = 128;

/// Fan-out table limits and timings (capture time).
#[derive(Debug, Clone, Copy)]
pub struct FanoutConfig {
    /// Reports at most this often per actor (and at this granularity);
    /// at least half of `recent_ns` (two snapshots span the window).
    pub report_ns: i64,
    /// The `recent_*` window.
    pub recent_ns: i64,
    /// An activity's counts start again after this long.
    pub activity_ns: i64,
    /// An actor with nothing new for this long is forgotten.
    pub idle_ns: i64,
    /// Actors tracked per direction.
    pub max_actors: usize,
    /// Distinct hosts (and, separately, ports) remembered per actor.
    pub max_distinct: usize,
    /// Distinct values remembered over all actors.
    pub max_distinct_total: usize,
    /// `out` reports need this many unanswered distinct hosts or ports.
    pub min_distinct: u32,
    /// `in` reports need this much `recent_unanswered`.
    pub min_recent_unanswered: u64,
}

/// Report every second: detection within a second or two of the packet.
pub const REPORT_NS: i64 = 1_000_000_000;
/// Growth window of `recent_*`: two report intervals, so a burst split by
/// a report boundary is still counted whole.
pub const RECENT_NS: i64 = 2_000_000_000;
/// Counts run for at most an hour ("hundreds of hosts in an hour").
pub const ACTIVITY_NS: i64 = 3_600_000_000_000;
/// Forgotten after 10 minutes with nothing new: a scan slower than one new
/// target per 10 minutes cannot reach the hourly bars anyway.
pub const IDLE_NS: i64 = 600_000_000_000;
/// Actors per direction (~150 bytes each without distinct values).
pub const MAX_ACTORS: usize = 32_768;
/// Distinct hosts and ports per actor: far above every rule's bar.
pub const MAX_DISTINCT: usize = 4_096;
/// Distinct values in all (~16 bytes each): about 16 MiB at worst.
pub const MAX_DISTINCT_TOTAL: usize = 1_000_000;
/// Report floor of `out`: below every scan rule's bar (10).
pub const MIN_DISTINCT: u32 = 5;
/// Report floor of `in`: below every flood rule's bar (300 in 2 s).
pub const MIN_RECENT_UNANSWERED: u64 = 100;

impl Default for FanoutConfig {
    fn default() -> Self {
        Self {
            report_ns: REPORT_NS,
            recent_ns: RECENT_NS,
            activity_ns: ACTIVITY_NS,
            idle_ns: IDLE_NS,
            max_actors: MAX_ACTORS,
            max_distinct: MAX_DISTINCT,
            max_distinct_total: MAX_DISTINCT_TOTAL,
            min_distinct: MIN_DISTINCT,
            min_recent_unanswered: MIN_RECENT_UNANSWERED,
        }
    }
}

/// An address and protocol, as two words for the hasher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ActorKey {
    addr: u128,
    /// Protocol number, and bit 8 set for IPv6.
    proto: u16,
}

impl std::hash::Hash for ActorKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u128(self.addr);
        h.write_u16(self.proto);
    }
}

fn bits(a: IpAddr) -> (u128, bool) {
    match a {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), false),
        IpAddr::V6(v6) => (u128::from(v6), true),
    }
}

impl ActorKey {
    fn of(a: IpAddr, proto: u8) -> Self {
        let (addr, v6) = bits(a);
        Self {
            addr,
            proto: u16::from(proto) | if v6 { 0x100 } else { 0 },
        }
    }
}

/// Distinct values with an "answered" mark; counts the unanswered ones.
#[derive(Debug, Default)]
struct Distinct<K> {
    seen: HashMap<K, bool, ahash::RandomState>,
    unanswered: u32,
    /// The value inserted last: a flood's one port, a vertical scan's one
    /// host, found without a lookup.
    last: Option<K>,
}

impl<K: std::hash::Hash + Eq + Copy> Distinct<K> {
    /// Adds `k` (unanswered if new); false when it could not be stored.
    #[inline]
    fn insert(&mut self, k: K, cap: usize, budget: &mut usize) -> bool {
        if self.last == Some(k) {
            return true;
        }
        if self.seen.len() >= cap || *budget == 0 {
            // Full: no lookup per packet (a flood's sources would pay it);
            // the report says `saturated` and the counts are lower bounds.
            return false;
        }
        self.add(k, budget);
        true
    }

    #[inline(never)]
    fn add(&mut self, k: K, budget: &mut usize) {
        if let std::collections::hash_map::Entry::Vacant(e) = self.seen.entry(k) {
            e.insert(false);
            self.unanswered += 1;
            *budget -= 1;
        }
        self.last = Some(k);
    }

    fn answer(&mut self, k: &K) {
        if let Some(answered) = self.seen.get_mut(k)
            && !*answered
        {
            *answered = true;
            self.unanswered = self.unanswered.saturating_sub(1);
        }
    }

    fn len(&self) -> usize {
        self.seen.len()
    }
}

/// Counts at one report tick.
#[derive(Debug, Clone, Copy, Default)]
struct Snap {
    tick: i64,
    packets: u64,
    unanswered: u64,
    hosts: u32,
    ports: u32,
    /// Ports probed in the interval that ended at `tick` (a sketch).
    port_sketch: u128,
    /// Capture times of the actor's first and last packets counted in
    /// the interval (a report can be stamped later than its packets: at
    /// the first packet past a boundary).
    first: i64,
    last: i64,
}

/// The sketch bit of a port: MurmurHash3's 32-bit finaliser, so that
/// sequential ports (most scans) land on bits as if at random, which
/// linear counting assumes (a plain multiplicative hash spreads them too
/// evenly, and the count comes out high).
fn sketch_bit(port: u16) -> u128 {
    let mut h = u32::from(port);
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    1u128 << (h >> 25)
}

/// Distinct ports in a sketch, by linear counting.
fn sketch_count(sketch: u128) -> u32 {
    let zeros = sketch.count_zeros();
    if zeros == 0 {
        return WINDOW_PORTS_MANY;
    }
    let n = -128.0 * (f64::from(zeros) / 128.0).ln();
    // Bounded by 128·ln 128 ≈ 621 < WINDOW_PORTS_MANY.
    n.round() as u32
}

#[derive(Debug)]
struct Actor {
    key: ActorKey,
    first_ts: i64,
    /// Last time something was counted.
    last_ts: i64,
    /// The actor's own address.
    addr: IpAddr,
    /// Most recent peer and port.
    peer: IpAddr,
    port: u16,
    probes: u64,
    answered: u64,
    packets: u64,
    hosts: Distinct<u128>,
    ports: Distinct<u16>,
    /// Ports probed since the last tick (a sketch; not for ICMP).
    port_sketch: u128,
    /// Capture time of the first packet since the last tick.
    interval_ts: i64,
    /// `in`: start of the current burst (the earliest packet in the
    /// window of the first report of an unbroken run above the floor);
    /// 0 outside a run.
    burst_ts: i64,
    saturated: bool,
    /// Changed since the last tick (and queued in the dirty list).
    dirty: bool,
    /// Ever reported above the floor.
    reported: bool,
    /// The last two ticks' counts, older first.
    snaps: [Snap; 2],
}

impl Actor {
    fn new(ts: i64, addr: IpAddr, key: ActorKey) -> Self {
        Self {
            key,
            first_ts: ts,
            last_ts: ts,
            addr,
            peer: addr,
            port: 0,
            probes: 0,
            answered: 0,
            packets: 0,
            hosts: Distinct::default(),
            ports: Distinct::default(),
            port_sketch: 0,
            interval_ts: ts,
            burst_ts: 0,
            saturated: false,
            dirty: false,
            reported: false,
            snaps: [Snap {
                tick: i64::MIN,
                ..Snap::default()
            }; 2],
        }
    }

    fn distinct(&self, dir: FanDirection) -> (u32, u32) {
        match dir {
            // Out: what never answered. In: every source and port.
            FanDirection::Out => (self.hosts.unanswered, self.ports.unanswered),
            FanDirection::In => (
                u32::try_from(self.hosts.len()).unwrap_or(u32::MAX),
                u32::try_from(self.ports.len()).unwrap_or(u32::MAX),
            ),
        }
    }

    fn unanswered(&self) -> u64 {
        self.packets.saturating_sub(self.answered)
    }
}

/// The actors of one direction: a slab, an index by address, the actor
/// counted last, and the staging array.
///
/// The packets of an actor come in runs (a flood's victim, a scanner's
/// probes, packet after packet), so the actor counted last is found by a
/// key comparison, without hashing. The staging array's slot of an address
/// is its first stop otherwise: a flood's spoofed sources are all new and
/// each costs one slot read there, no map lookup, because each slot also
/// counts the tracked actors whose addresses fall on it (a zero means the
/// address is not tracked).
#[derive(Debug)]
struct Side {
    slab: Vec<Option<Actor>>,
    /// Free slab entries.
    free: Vec<u32>,
    index: HashMap<ActorKey, u32, ahash::RandomState>,
    /// The actor counted last and its slab entry.
    last: Option<(ActorKey, u32)>,
    /// Slab entries changed since the last tick (an entry forgotten and
    /// reused since it was queued is seen once, as the new actor).
    dirty: Vec<u32>,
    /// First probes of addresses not tracked yet (allocated on first use):
    /// the part a repeated first target needs, and the rest.
    tags: Vec<StageTag>,
    stage: Vec<Staged>,
    /// Keys the staging array's slot choice.
    seed: u64,
}

impl Side {
    fn new() -> Self {
        Self {
            slab: Vec::new(),
            free: Vec::new(),
            index: HashMap::default(),
            last: None,
            dirty: Vec::new(),
            tags: Vec::new(),
            stage: Vec::new(),
            seed: ahash::RandomState::new().hash_one(0x5eed_u64),
        }
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    /// Forgets every actor `keep` refuses, giving back its distinct
    /// values; returns how many.
    fn retain(&mut self, budget: &mut usize, mut keep: impl FnMut(&Actor) -> bool) -> usize {
        let Self {
            slab,
            free,
            index,
            last,
            stage,
            seed,
            ..
        } = self;
        let before = index.len();
        index.retain(|k, i| {
            let entry = &mut slab[*i as usize];
            match entry {
                Some(a) if keep(a) => return true,
                Some(a) => *budget += a.hosts.len() + a.ports.len(),
                None => {}
            }
            *entry = None;
            free.push(*i);
            track(stage, *seed, *k, false);
            false
        });
        *last = None;
        before - index.len()
    }

    /// Forgets the actor of `key`.
    fn remove(&mut self, key: ActorKey, budget: &mut usize) {
        let Some(i) = self.index.remove(&key) else {
            return;
        };
        if let Some(a) = self.slab[i as usize].take() {
            *budget += a.hosts.len() + a.ports.len();
        }
        self.free.push(i);
        track(&mut self.stage, self.seed, key, false);
        if self.last.is_some_and(|(_, l)| l == i) {
            self.last = None;
        }
    }

    /// Tracks `a` under `key` (not tracked yet); its slab entry.
    fn insert(&mut self, key: ActorKey, a: Actor) -> u32 {
        let i = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(a);
                i
            }
            None => {
                self.slab.push(Some(a));
                u32::try_from(self.slab.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.index.insert(key, i);
        track(&mut self.stage, self.seed, key, true);
        i
    }
}

/// The staging slot of `key`: a keyed multiplicative hash (one multiply;
/// the slot choice needs no more, and the key stops anyone outside from
/// aiming spoofed sources at one slot).
fn stage_slot(seed: u64, key: ActorKey) -> usize {
    (stage_hash(seed, key) >> (64 - STAGE_BITS)) as usize
}

fn stage_hash(seed: u64, key: ActorKey) -> u64 {
    mix(seed, key.addr, key.proto)
}

/// An address and 16 more bits in one keyed multiply (the high half of
/// the product is the well-mixed part).
fn mix(seed: u64, addr: u128, extra: u16) -> u64 {
    let lo = addr as u64;
    let hi = (addr >> 64) as u64;
    (lo ^ hi.rotate_left(32) ^ (u64::from(extra) << 48) ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The staging slot of `key` and its tag (never 0, the free tag): a second
/// mix of the slot's hash, so that keys differing only where one multiply
/// mixes poorly (the protocol, in the high bits) still get other tags.
fn stage_slot_tag(seed: u64, key: ActorKey) -> (usize, u32) {
    let h = stage_hash(seed, key);
    let t = (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    ((h >> (64 - STAGE_BITS)) as usize, (t >> 32) as u32 | 1)
}

/// A first target (address and port) in 32 bits, keyed like the slots.
fn target_print(seed: u64, peer: IpAddr, port: u16) -> u32 {
    (mix(seed, bits(peer).0, port) >> 32) as u32
}

/// Counts an actor of `key` in (or out of) its staging slot.
fn track(stage: &mut [Staged], seed: u64, key: ActorKey, tracked: bool) {
    if let Some(slot) = stage.get_mut(stage_slot(seed, key)) {
        slot.tracked = if tracked {
            slot.tracked.saturating_add(1)
        } else {
            slot.tracked.saturating_sub(1)
        };
    }
}

/// Per-packet fan-out / fan-in counters, reported every second of capture
/// time.
#[derive(Debug)]
pub struct FanoutTable {
    cfg: FanoutConfig,
    out: Side,
    inn: Side,
    /// Distinct values that may still be stored.
    budget: usize,
    next_tick: i64,
    next_sweep: i64,
    /// Actors forgotten to make room, and distinct values not stored
    /// because a cap was reached.
    pub dropped: u64,
}

/// What a packet means to the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A new probe: counts a packet, a probe, a host and a port.
    Probe,
    /// Another packet of an unanswered probe (SYN retransmission, one-way
    /// UDP, repeated echo request).
    Again,
    /// The probe was answered.
    Answer,
}

impl FanoutTable {
    pub fn new(cfg: FanoutConfig) -> Self {
        Self {
            budget: cfg.max_distinct_total,
            cfg,
            out: Side::new(),
            inn: Side::new(),
            next_tick: i64::MIN,
            next_sweep: i64::MIN,
            dropped: 0,
        }
    }

    /// Actors tracked now (out, in).
    pub fn actors(&self) -> (usize, usize) {
        (self.out.len(), self.inn.len())
    }

    /// Distinct values stored now, over all actors.
    pub fn distinct_stored(&self) -> usize {
        self.cfg.max_distinct_total - self.budget
    }

    /// One IP packet, after the flow table took it: `flow` is its flow and
    /// `to_server` its direction.
    pub fn packet(&mut self, p: &IpPacket<'_>, flow: &mut Flow, to_server: bool) {
        let m = flow.meta.fan;
        let (prober, target, port, step) = match p.l4 {
            L4::Tcp {
                flags,
                dport,
                sport,
                ..
            } => {
                let syn_only = flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN;
                if m == 0 {
                    if !(syn_only && to_server) {
                        flow.meta.fan = FAN_SEEN;
                        return;
                    }
                    flow.meta.fan = FAN_SEEN | FAN_PROBE | FAN_UP;
                    (p.src, p.dst, dport, Step::Probe)
                } else if m & (FAN_PROBE | FAN_ANSWERED) != FAN_PROBE {
                    return;
                } else if syn_only && to_server {
                    (p.src, p.dst, dport, Step::Again)
                } else if flow.state() == TcpState::Established {
                    flow.meta.fan |= FAN_ANSWERED;
                    // The client's ACK completes the handshake: the
                    // prober is the client, the target the server.
                    if to_server {
                        (p.src, p.dst, dport, Step::Answer)
                    } else {
                        (p.dst, p.src, sport, Step::Answer)
                    }
                } else {
                    return;
                }
            }
            L4::Udp { dport, sport, .. } => {
                if m == 0 {
                    flow.meta.fan = FAN_SEEN | FAN_PROBE | if to_server { FAN_UP } else { 0 };
                    (p.src, p.dst, dport, Step::Probe)
                } else if m & FAN_ANSWERED != 0 {
                    return;
                } else if (m & FAN_UP != 0) == to_server {
                    (p.src, p.dst, dport, Step::Again)
                } else {
                    flow.meta.fan |= FAN_ANSWERED;
                    // The reply goes back to the prober.
                    (p.dst, p.src, sport, Step::Answer)
                }
            }
            L4::Icmp { v6, icmp_type, .. } => {
                let (req, rep) = if v6 { (128, 129) } else { (8, 0) };
                if icmp_type == req {
                    let bit = if to_server {
                        FAN_ECHO_UP
                    } else {
                        FAN_ECHO_DOWN
                    };
                    let step = if m & bit == 0 {
                        Step::Probe
                    } else {
                        Step::Again
                    };
                    flow.meta.fan |= bit | FAN_SEEN;
                    (p.src, p.dst, 0, step)
                } else if icmp_type == rep {
                    let bit = if to_server {
                        FAN_REPLY_UP
                    } else {
                        FAN_REPLY_DOWN
                    };
                    if m & bit != 0 {
                        return;
                    }
                    flow.meta.fan |= bit | FAN_SEEN;
                    (p.dst, p.src, 0, Step::Answer)
                } else {
                    return;
                }
            }
            L4::Other => return,
        };
        self.count(p.ts, p.proto, prober, target, port, step);
    }

    #[inline]
    fn count(&mut self, ts: i64, proto: u8, prober: IpAddr, target: IpAddr, port: u16, step: Step) {
        let Self {
            cfg,
            out,
            inn,
            budget,
            dropped,
            ..
        } = self;
        let icmp = matches!(proto, 1 | 58);
        // Out: the prober's view, counting the targets.
        let seen = Seen {
            ts,
            peer: target,
            port,
            step,
            icmp,
            out: true,
        };
        if let Some(a) = actor(out, cfg, dropped, budget, prober, proto, &seen) {
            apply(a, cfg, budget, dropped, &seen);
        }
        // In: the target's view, counting the sources.
        let seen = Seen {
            peer: prober,
            out: false,
            ..seen
        };
        if let Some(a) = actor(inn, cfg, dropped, budget, target, proto, &seen) {
            apply(a, cfg, budget, dropped, &seen);
        }
    }

    /// Moves capture time on: at each report boundary passed, reports the
    /// actors that changed (stamped with the boundary) into `out`.
    pub fn tick(&mut self, ts: i64, out: &mut Vec<Event>) {
        if ts < self.next_tick {
            return;
        }
        let tick = ts.div_euclid(self.cfg.report_ns) * self.cfg.report_ns;
        if self.next_tick != i64::MIN {
            report(&mut self.out, FanDirection::Out, &self.cfg, tick, out);
            report(&mut self.inn, FanDirection::In, &self.cfg, tick, out);
        }
        self.next_tick = tick + self.cfg.report_ns;
        if ts >= self.next_sweep {
            // For memory only (a touched actor past its hour or idle time
            // starts again on its own, in `actor`), so rarely: once per
            // idle timeout.
            self.next_sweep = ts.saturating_add(self.cfg.idle_ns);
            let cfg = self.cfg;
            for side in [&mut self.out, &mut self.inn] {
                side.retain(&mut self.budget, |a| {
                    ts.saturating_sub(a.last_ts) < cfg.idle_ns
                        && ts.saturating_sub(a.first_ts) < cfg.activity_ns
                });
            }
        }
    }
}

impl FanoutTable {
    /// End of capture at `ts`: reports what changed since the last tick.
    pub fn finish(&mut self, ts: i64, out: &mut Vec<Event>) {
        report(&mut self.out, FanDirection::Out, &self.cfg, ts, out);
        report(&mut self.inn, FanDirection::In, &self.cfg, ts, out);
    }
}

/// One packet's meaning for one actor.
#[derive(Debug, Clone, Copy)]
struct Seen {
    ts: i64,
    /// The other end: the target (out) or the source (in).
    peer: IpAddr,
    port: u16,
    step: Step,
    icmp: bool,
    /// The prober's view (out) or the target's (in).
    out: bool,
}

/// Counts `seen` into a tracked actor. Out: answers clear the target
/// from the unanswered sets (not for ICMP).
#[inline]
fn apply(a: &mut Actor, cfg: &FanoutConfig, budget: &mut usize, dropped: &mut u64, seen: &Seen) {
    let out = seen.out;
    let (peer_bits, _) = bits(seen.peer);
    match seen.step {
        Step::Probe => {
            a.probes += 1;
            a.packets += 1;
            a.peer = seen.peer;
            a.port = seen.port;
            let h = a.hosts.insert(peer_bits, cfg.max_distinct, budget);
            let p = seen.icmp || a.ports.insert(seen.port, cfg.max_distinct, budget);
            if !(h && p) {
                a.saturated = true;
                *dropped += 1;
            }
            if !seen.icmp {
                a.port_sketch |= sketch_bit(seen.port);
            }
        }
        Step::Again => {
            a.packets += 1;
            if !seen.icmp {
                a.port_sketch |= sketch_bit(seen.port);
            }
        }
        Step::Answer => {
            a.answered += 1;
            if out && !seen.icmp {
                a.hosts.answer(&peer_bits);
                a.ports.answer(&seen.port);
            }
        }
    }
    a.last_ts = seen.ts;
}

/// The tracked actor of `addr`, or `None` while it is only staged (one
/// probe so far) or there is no room (counted).
///
/// Most addresses never fan out: a client's single connection, each
/// spoofed source of a flood, each host a sweep touches once. Their first
/// probe waits in a slot of a fixed array (indexed by the key's hash; a
/// colliding address takes the slot over, and the first probe it held is
/// forgotten). Only a second probe or packet makes an actor, so the map,
/// its sets and the report tick see only addresses with something to count.
#[inline(always)]
fn actor<'a>(
    side: &'a mut Side,
    cfg: &FanoutConfig,
    dropped: &mut u64,
    budget: &mut usize,
    addr: IpAddr,
    proto: u8,
    seen: &Seen,
) -> Option<&'a mut Actor> {
    let key = ActorKey::of(addr, proto);
    let i = match side.last {
        Some((k, i)) if k == key => i,
        _ => find(side, cfg, dropped, budget, key, addr, seen)?,
    };
    side.last = Some((key, i));
    let a = side.slab.get_mut(i as usize)?.as_mut()?;
    if seen.ts.saturating_sub(a.last_ts) >= cfg.idle_ns
        || seen.ts.saturating_sub(a.first_ts) >= cfg.activity_ns
    {
        // A new activity: counts start again (the entry stays).
        *budget += a.hosts.len() + a.ports.len();
        let queued = a.dirty;
        *a = Actor::new(seen.ts, addr, key);
        a.dirty = queued;
    }
    if !a.dirty {
        a.dirty = true;
        // The first packet of this report interval (`report` leaves
        // i64::MAX; a new actor holds its first packet's, staged or not).
        a.interval_ts = a.interval_ts.min(seen.ts);
        side.dirty.push(i);
    }
    Some(a)
}

/// [`actor`] past the last-actor check: the slab entry of `key`, staging
/// or promoting it as `seen` says.
#[inline(never)]
fn find(
    side: &mut Side,
    cfg: &FanoutConfig,
    dropped: &mut u64,
    budget: &mut usize,
    key: ActorKey,
    addr: IpAddr,
    seen: &Seen,
) -> Option<u32> {
    let out = seen.out;
    // An address is staged or tracked, never both: a staged one needs no
    // map lookup, nor one whose slot counts no tracked actor (a flood's
    // sources are nearly all new or staged).
    // Actors are made only below, once the array exists: no slot has
    // tracked actors to count when it is allocated.
    if side.stage.is_empty() {
        side.stage = vec![Staged::default(); STAGE_SLOTS];
        side.tags = vec![StageTag::default(); STAGE_SLOTS];
    }
    let seed = side.seed;
    let (idx, tag) = stage_slot_tag(seed, key);
    let hot = side.tags.get_mut(idx)?;
    if hot.tag == tag
        && out
        && matches!(seen.step, Step::Probe | Step::Again)
        && hot.target == target_print(seed, seen.peer, seen.port)
    {
        // Out: a prober that only repeats its first target (a flood
        // source, spoofed or not; a client retrying one dead service) fans
        // out to nothing: it stays staged, its packets counted in the slot,
        // and makes no actor (no map entry, sets or reports) until a second
        // target. Tag and target print both match: another key doing this
        // by chance is one in 2^46 or so, and would only add to a count.
        hot.packets = hot.packets.saturating_add(1);
        hot.probes = hot
            .probes
            .saturating_add(u32::from(seen.step == Step::Probe));
        return None;
    }
    let slot = side.stage.get_mut(idx)?;
    // The tag says "maybe"; the slot's key says yes or no.
    let staged = hot.tag == tag && slot.holds(key);
    if staged {
        if seen.step == Step::Answer {
            slot.answered = slot.answered.saturating_add(1);
            slot.peer_answered |= !seen.icmp;
            return None;
        }
    } else if slot.tracked > 0
        && let Some(i) = side.index.get(&key)
    {
        return Some(*i);
    } else {
        match seen.step {
            Step::Answer => return None,
            Step::Probe => {
                let tracked = slot.tracked;
                *slot = Staged {
                    addr: key.addr,
                    proto: key.proto,
                    ts: seen.ts,
                    peer: seen.peer,
                    port: seen.port,
                    answered: 0,
                    peer_answered: false,
                    tracked,
                };
                *hot = StageTag {
                    tag,
                    target: target_print(seed, seen.peer, seen.port),
                    packets: 1,
                    probes: 1,
                };
                return None;
            }
            Step::Again => {}
        }
    }
    if side.len() >= cfg.max_actors {
        make_room(side, cfg, dropped, budget);
        if side.len() >= cfg.max_actors {
            *dropped += 1;
            return None;
        }
    }
    let mut a = Actor::new(seen.ts, addr, key);
    if staged
        && let Some(slot) = side.stage.get_mut(idx)
        && let Some(hot) = side.tags.get_mut(idx)
    {
        let first = *slot;
        let counts = std::mem::take(hot);
        *slot = Staged {
            tracked: first.tracked,
            ..Staged::default()
        };
        a.first_ts = first.ts;
        a.interval_ts = first.ts;
        a.probes = u64::from(counts.probes);
        a.packets = u64::from(counts.packets);
        a.answered = u64::from(first.answered);
        a.peer = first.peer;
        a.port = first.port;
        let (pb, _) = bits(first.peer);
        a.hosts.insert(pb, cfg.max_distinct, budget);
        if !seen.icmp {
            a.ports.insert(first.port, cfg.max_distinct, budget);
            a.port_sketch |= sketch_bit(first.port);
            if first.peer_answered {
                a.hosts.answer(&pb);
                a.ports.answer(&first.port);
            }
        }
    }
    Some(side.insert(key, a))
}

/// Slots of the staging array per direction (16 + 64 bytes each: 1.25 MiB).
const STAGE_BITS: u32 = 14;
const STAGE_SLOTS: usize = 1 << STAGE_BITS;

/// The part of a staging slot that every packet of a staged address reads
/// (16 bytes: four to a cache line, 256 KiB per direction, where the whole
/// slots take 1 MiB): a flood's spoofed sources that come back to their
/// one target are counted here without touching the rest.
#[derive(Debug, Clone, Copy, Default)]
struct StageTag {
    /// [`stage_slot_tag`] of the staged key; 0 in a free slot.
    tag: u32,
    /// [`target_print`] of its first target.
    target: u32,
    /// Packets and probes to the first target.
    packets: u32,
    probes: u32,
}

/// The rest of the first probe of an address not tracked yet (one cache
/// line; read when the address is staged, answered or promoted).
#[derive(Debug, Clone, Copy)]
struct Staged {
    /// The staged address ([`ActorKey`] in two fields, so the slot packs
    /// into 64 bytes); `proto` is [`EMPTY_SLOT`] in a free slot.
    addr: u128,
    proto: u16,
    ts: i64,
    peer: IpAddr,
    port: u16,
    answered: u32,
    /// The probe was answered (not for ICMP).
    peer_answered: bool,
    /// Tracked actors whose addresses fall on this slot: none, and an
    /// address that is not staged here is not tracked either.
    tracked: u32,
}

/// `Staged::proto` of a free slot (protocols are at most 0x1ff).
const EMPTY_SLOT: u16 = u16::MAX;

impl Staged {
    fn holds(&self, key: ActorKey) -> bool {
        self.proto == key.proto && self.addr == key.addr
    }
}

impl Default for Staged {
    fn default() -> Self {
        Self {
            addr: 0,
            proto: EMPTY_SLOT,
            ts: 0,
            peer: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            port: 0,
            answered: 0,
            peer_answered: false,
            tracked: 0,
        }
    }
}

/// A full side forgets every actor never reported (below the floor): the
/// many one-connection clients of a busy server, the sources of a spoofed
/// flood. Scanners above the floor stay. Amortised: the table fills again
/// only after `max_actors` new actors.
fn make_room(side: &mut Side, cfg: &FanoutConfig, dropped: &mut u64, budget: &mut usize) {
    let mut forgotten = side.retain(budget, |a| a.reported);
    if side.len() >= cfg.max_actors {
        // Everyone reported: forget the idlest tenth.
        let mut by_age: Vec<(i64, ActorKey)> = side
            .index
            .iter()
            .filter_map(|(k, i)| Some((side.slab.get(*i as usize)?.as_ref()?.last_ts, *k)))
            .collect();
        by_age.sort_unstable_by_key(|(t, _)| *t);
        for (_, k) in by_age.into_iter().take((cfg.max_actors / 10).max(1)) {
            side.remove(k, budget);
            forgotten += 1;
        }
    }
    *dropped += forgotten as u64;
}

fn report(side: &mut Side, dir: FanDirection, cfg: &FanoutConfig, tick: i64, out: &mut Vec<Event>) {
    for i in std::mem::take(&mut side.dirty) {
        // Entries forgotten (or reused) since they were queued are
        // skipped or seen once.
        let Some(a) = side
            .slab
            .get_mut(i as usize)
            .and_then(Option::as_mut)
            .filter(|a| a.dirty)
        else {
            continue;
        };
        let key = a.key;
        a.dirty = false;
        let (hosts, ports) = a.distinct(dir);
        let mut now = Snap {
            tick,
            packets: a.packets,
            unanswered: a.unanswered(),
            hosts,
            ports,
            port_sketch: std::mem::take(&mut a.port_sketch),
            first: std::mem::replace(&mut a.interval_ts, i64::MAX),
            last: a.last_ts,
        };
        // Counts at tick - recent: the latest snapshot at or before it
        // (nothing changed between a snapshot and the next one), else zero.
        let since = tick - cfg.recent_ns;
        let base = if a.snaps[1].tick <= since {
            a.snaps[1]
        } else {
            // The newer one is the tick just before, so the older one is
            // at or before `since` (or the zero snapshot of a new actor).
            a.snaps[0]
        };
        let last = a.snaps[1];
        // Ports of the window: this interval's, and the previous one's if
        // it lies inside the window.
        // The interval before this one, for bursts.
        let mut window = now.port_sketch;
        let prev;
        if last.tick == tick {
            // A second report at the same tick (end of capture).
            now.port_sketch |= last.port_sketch;
            now.first = now.first.min(last.first);
            window = now.port_sketch;
            prev = a.snaps[0];
            if prev.tick > since {
                window |= prev.port_sketch;
            }
            a.snaps[1] = now;
        } else {
            if last.tick > since {
                window |= last.port_sketch;
            }
            prev = last;
            a.snaps = [last, now];
        }
        let above = match dir {
            FanDirection::Out => {
                hosts.max(ports) >= cfg.min_distinct && (hosts, ports) != (last.hosts, last.ports)
            }
            FanDirection::In => {
                now.unanswered.saturating_sub(base.unanswered) >= cfg.min_recent_unanswered
            }
        };
        if dir == FanDirection::In {
            // A burst is a run of intervals above the floor with no gap of
            // a report interval between their packets: a quiet second or
            // an interval below the floor ends it. A flood's first seen is
            // its burst's start, not the hour-long activity's (a victim
            // port-scanned earlier, then flooded).
            let contiguous =
                prev.tick != i64::MIN && now.first.saturating_sub(prev.last) < cfg.report_ns;
            if !above {
                a.burst_ts = 0;
            } else if a.burst_ts == 0 || !contiguous {
                // The burst's first packet: the window's, when the interval
                // before runs straight into this one (its packets ramp up
                // to the floor), else this interval's.
                a.burst_ts = if contiguous && prev.tick > since {
                    prev.first
                } else {
                    now.first
                };
            }
        }
        if !above {
            continue;
        }
        a.reported = true;
        let (src, dst) = match dir {
            FanDirection::Out => (a.addr, a.peer),
            FanDirection::In => (a.peer, a.addr),
        };
        let proto = u8::try_from(key.proto & 0xff).unwrap_or(0);
        out.push(Event::new(
            Timestamp::from_nanos(tick),
            EventBody::Fanout(Fanout {
                direction: dir,
                proto,
                src,
                dst,
                dst_port: a.port,
                first_ts: a.first_ts,
                burst_ts: a.burst_ts,
                probes: a.probes,
                answered: a.answered,
                packets: a.packets,
                hosts,
                ports,
                recent_packets: now.packets.saturating_sub(base.packets),
                recent_unanswered: now.unanswered.saturating_sub(base.unanswered),
                recent_hosts: hosts.saturating_sub(base.hosts),
                recent_ports: ports.saturating_sub(base.ports),
                window_ports: sketch_count(window),
                saturated: a.saturated,
            }),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::linktype::ETHERNET;
    use crate::decode::tests::{MAC_A, MAC_B, tcp_frame, udp_frame};
    use crate::{Analyzer, AnalyzerConfig};
    use tcp_flags::{ACK, PSH, RST, SYN};

    const S: i64 = 1_000_000_000;
    const MS: i64 = 1_000_000;
    const T0: i64 = 1_700_000_000 * S;

    fn icmp_frame(src: [u8; 4], dst: [u8; 4], reply: bool, seq: u16) -> Vec<u8> {
        let b = etherparse::PacketBuilder::ethernet2(MAC_A, MAC_B).ipv4(src, dst, 64);
        let b = if reply {
            b.icmpv4_echo_reply(7, seq)
        } else {
            b.icmpv4_echo_request(7, seq)
        };
        let mut v = Vec::new();
        b.write(&mut v, &[0u8; 56]).unwrap();
        v
    }

    fn reports(a: &Analyzer) -> Vec<(i64, Fanout)> {
        a.out
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Fanout(f) => Some((e.ts.0, f.clone())),
                _ => None,
            })
            .collect()
    }

    fn outs(a: &Analyzer, src: [u8; 4]) -> Vec<(i64, Fanout)> {
        let src = IpAddr::from(src);
        reports(a)
            .into_iter()
            .filter(|(_, f)| f.direction == FanDirection::Out && f.src == src)
            .collect()
    }

    fn ins(a: &Analyzer, dst: [u8; 4]) -> Vec<(i64, Fanout)> {
        let dst = IpAddr::from(dst);
        reports(a)
            .into_iter()
            .filter(|(_, f)| f.direction == FanDirection::In && f.dst == dst)
            .collect()
    }

    #[test]
    fn a_fast_udp_scan_is_reported_within_two_seconds_of_capture_time() {
        let mut a = Analyzer::new("t", AnalyzerConfig::default());
        let (att, vic) = ([198, 51, 100, 9], [192, 0, 2, 20]);
        // 1000 probes in one second, no answers (closed ports answer with
        // ICMP, which is not in the probe's flow).
        for i in 0..1000u16 {
            a.frame(
                T0 + i64::from(i) * MS,
                ETHERNET,
                &udp_frame(att, 40000, vic, 1 + i, b"x"),
            );
        }
        // Capture time moves on (a quiet link: the read timeout).
        a.advance(T0 + 2 * S);
        let r = outs(&a, att);
        let (ts, f) = r.first().expect("a fan-out report");
        assert!(
            *ts - T0 <= 2 * S,
            "reported {} ms after the first probe",
            (*ts - T0) / MS
        );
        assert_eq!(f.proto, 17);
        assert_eq!(f.first_ts, T0, "first_ts is the first probe");
        assert!(f.ports >= 900 && f.recent_ports >= 900, "{f:?}");
        assert_eq!(f.hosts, 1);
        assert!(
            a.out.iter().all(|e| e.kind().as_str() != "flow"),
            "no flow has ended yet: detection does not wait for them"
        );
    }

    #[test]
    fn answered_connections_are_not_probes() {
        let mut a = Analyzer::new("t", AnalyzerConfig::default());
        let c = [10, 0, 0, 5];
        // A browser: 30 connections to 15 CDN hosts in 2 s, each answered
        // within 20 ms and carrying data.
        for i in 0..30u8 {
            let t = T0 + i64::from(i) * 66 * MS;
            let s = [203, 0, 113, 1 + i % 15];
            let port = 50000 + u16::from(i);
            a.frame(t, ETHERNET, &tcp_frame(c, port, s, 443, SYN, b""));
            a.frame(
                t + 10 * MS,
                ETHERNET,
                &tcp_frame(s, 443, c, port, SYN | ACK, b""),
            );
            a.frame(t + 20 * MS, ETHERNET, &tcp_frame(c, port, s, 443, ACK, b""));
            a.frame(
                t + 21 * MS,
                ETHERNET,
                &tcp_frame(c, port, s, 443, PSH | ACK, b"\x16\x03\x01"),
            );
        }
        // A load balancer checking a pool of 12 servers every 2 s for a
        // minute: connect, then reset.
        let lb = [10, 0, 0, 6];
        for round in 0..30i64 {
            for h in 0..12u8 {
                let t = T0 + round * 2 * S + i64::from(h) * 5 * MS;
                let s = [10, 0, 1, 1 + h];
                let port = 30000 + u16::try_from(round).unwrap() * 20 + u16::from(h);
                a.frame(t, ETHERNET, &tcp_frame(lb, port, s, 8080, SYN, b""));
                a.frame(
                    t + MS,
                    ETHERNET,
                    &tcp_frame(s, 8080, lb, port, SYN | ACK, b""),
                );
                a.frame(
                    t + 2 * MS,
                    ETHERNET,
                    &tcp_frame(lb, port, s, 8080, ACK, b""),
                );
                a.frame(
                    t + 3 * MS,
                    ETHERNET,
                    &tcp_frame(lb, port, s, 8080, RST | ACK, b""),
                );
            }
        }
        // A DNS resolver asking 50 authoritative servers, all answering.
        let r = [10, 0, 0, 53];
        for i in 0..50u8 {
            let t = T0 + i64::from(i) * 20 * MS;
            let s = [192, 0, 2, 100 + i];
            a.frame(
                t,
                ETHERNET,
                &udp_frame(r, 20000 + u16::from(i), s, 53, b"q"),
            );
            a.frame(
                t + 5 * MS,
                ETHERNET,
                &udp_frame(s, 53, r, 20000 + u16::from(i), b"a"),
            );
        }
        a.finish();
        for who in [c, lb, r] {
            assert!(outs(&a, who).is_empty(), "{who:?}: {:?}", outs(&a, who));
        }
        assert!(reports(&a).is_empty(), "{:?}", reports(&a));
    }

    #[test]
    fn syn_scans_count_refused_and_half_open_probes() {
        let mut a = Analyzer::new("t", AnalyzerConfig::default());
        let (att, vic) = ([198, 51, 100, 7], [192, 0, 2, 20]);
        for i in 0..200u16 {
            let t = T0 + i64::from(i) * 5 * MS;
            let port = 1 + i;
            a.frame(t, ETHERNET, &tcp_frame(att, 45000, vic, port, SYN, b""));
            if port % 50 == 0 {
                // Open: SYN-ACK, and the scanner resets (-sS).
                a.frame(
                    t + MS,
                    ETHERNET,
                    &tcp_frame(vic, port, att, 45000, SYN | ACK, b""),
                );
                a.frame(
                    t + 2 * MS,
                    ETHERNET,
                    &tcp_frame(att, 45000, vic, port, RST, b""),
                );
            } else {
                a.frame(
                    t + MS,
                    ETHERNET,
                    &tcp_frame(vic, port, att, 45000, RST | ACK, b""),
                );
            }
        }
        a.advance(T0 + 3 * S);
        let r = outs(&a, att);
        let (_, last) = r.last().expect("reports");
        assert_eq!(last.proto, 6);
        assert_eq!(last.ports, 200, "open ports scanned half-open count too");
        assert!(r.iter().any(|(_, f)| f.recent_ports >= 100), "{r:?}");
        // The victim saw one scanner on 200 ports: fan-in, but many ports.
        for (_, f) in ins(&a, vic) {
            assert!(f.ports >= 100 && f.hosts == 1, "{f:?}");
        }
    }

    #[test]
    fn a_prober_staged_on_one_target_keeps_its_counts_when_it_fans_out() {
        let mut a = Analyzer::new("t", AnalyzerConfig::default());
        let (att, vic) = ([198, 51, 100, 9], [192, 0, 2, 30]);
        // 300 unanswered SYNs to one port (new source ports: 300 probes),
        // 50 retransmissions: staged, no actor yet.
        for i in 0..300u16 {
            let t = T0 + i64::from(i) * MS;
            a.frame(t, ETHERNET, &tcp_frame(att, 20000 + i, vic, 80, SYN, b""));
        }
        for i in 0..50u16 {
            let t = T0 + 300 * MS + i64::from(i) * MS;
            a.frame(t, ETHERNET, &tcp_frame(att, 20000 + i, vic, 80, SYN, b""));
        }
        a.advance(T0 + 2 * S);
        assert!(outs(&a, att).is_empty(), "one target is no fan-out");
        // Then 20 other ports: the first of them makes the actor, which
        // starts from the staged counts.
        for p in 0..20u16 {
            let t = T0 + 2 * S + i64::from(p) * MS;
            a.frame(t, ETHERNET, &tcp_frame(att, 30000, vic, 1000 + p, SYN, b""));
        }
        a.advance(T0 + 4 * S);
        let r = outs(&a, att);
        let (_, last) = r.last().expect("fan-out report");
        assert_eq!(last.first_ts, T0, "{last:?}");
        assert_eq!((last.probes, last.packets), (320, 370), "{last:?}");
        assert_eq!(last.ports, 21, "{last:?}");
    }

    #[test]
    fn a_spoofed_syn_flood_gives_fan_in_reports_and_no_fan_out() {
        let mut a = Analyzer::new("t", AnalyzerConfig::default());
        let vic = [10, 10, 10, 10];
        // hping3 -S --flood --rand-source -p 80: 20 000 SYNs in 2 s.
        let mut x: u32 = 12345;
        for i in 0..20_000i64 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let src = x.to_be_bytes();
            a.frame(
                T0 + i * 100_000,
                ETHERNET,
                &tcp_frame(src, 1024 + (x >> 20) as u16, vic, 80, SYN, b""),
            );
        }
        a.advance(T0 + 3 * S);
        let r = ins(&a, vic);
        let (ts, f) = r.first().expect("fan-in report");
        assert!(*ts - T0 <= S, "{}", *ts - T0);
        assert_eq!(f.first_ts, T0);
        assert_eq!(f.proto, 6);
        assert!(f.recent_unanswered >= 5000 && f.ports == 1, "{f:?}");
        assert!(
            f.hosts as usize == MAX_DISTINCT && f.saturated,
            "sources capped: {f:?}"
        );
        assert!(
            reports(&a)
                .iter()
                .all(|(_, f)| f.direction == FanDirection::In),
            "one SYN per spoofed source is no fan-out"
        );
    }

    #[test]
    fn a_rescan_of_ports_seen_before_is_many_ports_in_the_window_and_a_flood_is_one() {
        let mut a = Analyzer::new("t", AnalyzerConfig::default());
        let vic = [10, 9, 9, 9];
        // nmap: 1,000 ports from one source in 0.1 s.
        for p in 1..=1000u16 {
            a.frame(
                T0 + i64::from(p) * 100_000,
                ETHERNET,
                &tcp_frame([198, 51, 100, 16], 40000, vic, p, SYN, b""),
            );
        }
        // masscan, 5 s later, from another source: the same ports three
        // times over at 2,000 a second: nothing new in the victim's totals.
        for i in 0..3000i64 {
            let p = (i % 1000) as u16 + 1;
            a.frame(
                T0 + 5 * S + i * 500_000,
                ETHERNET,
                &tcp_frame([198, 51, 100, 19], 60000, vic, p, SYN, b""),
            );
        }
        // hping3 --flood, 5 s after that: one port, a new source port each.
        for i in 0..20_000i64 {
            a.frame(
                T0 + 12 * S + i * 50_000,
                ETHERNET,
                &tcp_frame(
                    [198, 51, 100, 23],
                    1024 + (i % 60_000) as u16,
                    vic,
                    80,
                    SYN,
                    b"",
                ),
            );
        }
        a.advance(T0 + 15 * S);
        let r = ins(&a, vic);
        let in_phase = |from: i64, to: i64| {
            r.iter()
                .filter(move |(ts, _)| *ts > T0 + from * S && *ts <= T0 + to * S)
                .map(|(_, f)| f)
        };
        // Reports come at the first packet past a boundary: the tail of the
        // re-scan is stamped 12 s, when the flood's first packet arrives.
        let rescan: Vec<_> = in_phase(5, 12).collect();
        assert!(rescan.iter().any(|f| f.recent_ports == 0), "{r:?}");
        assert!(!rescan.is_empty(), "{r:?}");
        for f in &rescan {
            assert!(f.window_ports >= 300, "many ports in the window: {f:?}");
        }
        let flood: Vec<_> = in_phase(14, 15).collect();
        assert!(!flood.is_empty(), "{r:?}");
        for f in &flood {
            assert!(f.recent_unanswered >= 10_000, "{f:?}");
            assert_eq!(f.window_ports, 1, "one port: {f:?}");
        }
        // The victim's activity began with the scan; the flood's burst
        // with its own first packet, and every report of the flood says so
        // (the re-scan's tail, stamped 12 s, is not part of it: 5.5 s of
        // nothing lie between them).
        for (_, f) in r.iter().filter(|(ts, _)| *ts > T0 + 12 * S) {
            assert_eq!(f.first_ts, T0 + 100_000, "{f:?}");
            assert_eq!(f.burst_ts, T0 + 12 * S, "{f:?}");
        }
        // The scans were bursts of their own.
        let nmap: Vec<_> = in_phase(0, 5).collect();
        assert!(!nmap.is_empty(), "{r:?}");
        for f in nmap {
            assert_eq!(f.burst_ts, T0 + 100_000, "{f:?}");
        }
        for f in &rescan {
            assert_eq!(f.burst_ts, T0 + 5 * S, "{f:?}");
        }
    }

    #[test]
    fn a_burst_ends_with_a_quiet_second_or_an_interval_below_the_floor() {
        let mut a = Analyzer::new("t", AnalyzerConfig::default());
        let vic = [10, 9, 9, 8];
        let syn = |a: &mut Analyzer, ts: i64, i: i64| {
            a.frame(
                ts,
                ETHERNET,
                &tcp_frame(
                    [198, 51, 100, 30],
                    1024 + (i % 60_000) as u16,
                    vic,
                    80,
                    SYN,
                    b"",
                ),
            );
        };
        // 0-3 s: 500 a second; 3-5 s: 20 a second (below the floor of
        // 100 in 2 s); 5-7 s: 500 a second again.
        let mut i = 0i64;
        for (from, to, per_s) in [(0, 3, 500), (3, 5, 20), (5, 7, 500)] {
            let n = (to - from) * per_s;
            for k in 0..n {
                syn(&mut a, T0 + from * S + k * S / per_s, i);
                i += 1;
            }
        }
        // Another host's packet ticks the table at 8 s.
        a.frame(
            T0 + 8 * S,
            ETHERNET,
            &tcp_frame([198, 51, 100, 31], 999, [10, 9, 9, 7], 80, SYN, b""),
        );
        a.advance(T0 + 9 * S);
        let r = ins(&a, vic);
        assert!(!r.is_empty());
        for (ts, f) in &r {
            assert_eq!(f.first_ts, T0, "{f:?}");
            let want = if *ts <= T0 + 4 * S { T0 } else { T0 + 4 * S };
            // The second burst starts with the last slow interval's first
            // packet (4 s: it runs straight into the flood), not at 0 s.
            assert_eq!(f.burst_ts, want, "at {}: {f:?}", (ts - T0) / S);
        }
        assert!(r.iter().any(|(ts, _)| *ts > T0 + 5 * S), "{r:?}");
    }

    #[test]
    fn staging_tags_tell_keys_apart_that_share_a_slot_and_are_never_free() {
        // Keys that differ only in the protocol (where the slot's one
        // multiply mixes least) or in one address bit get other tags; a
        // tag is never the free slot's 0.
        let seed = ahash::RandomState::new().hash_one(1u64);
        let mut same = 0;
        for i in 0..20_000u32 {
            let addr = u128::from(i.wrapping_mul(2_654_435_761));
            let tcp = ActorKey { addr, proto: 6 };
            let udp = ActorKey { addr, proto: 17 };
            let next = ActorKey {
                addr: addr ^ 1,
                proto: 6,
            };
            let (_, t) = stage_slot_tag(seed, tcp);
            assert_ne!(t, 0);
            same += usize::from(t == stage_slot_tag(seed, udp).1);
            same += usize::from(t == stage_slot_tag(seed, next).1);
        }
        assert!(same <= 1, "{same} equal tags in 40 000 pairs");
    }

    #[test]
    fn a_staging_slot_is_one_cache_line_and_its_hot_part_a_quarter() {
        assert_eq!(std::mem::size_of::<Staged>(), 64);
        assert_eq!(std::mem::size_of::<StageTag>(), 16);
    }

    #[test]
    fn the_port_sketch_counts_exactly_when_few_and_saturates_when_many() {
        assert_eq!(sketch_count(0), 0);
        assert_eq!(sketch_count(sketch_bit(80)), 1);
        let few = [22u16, 80, 443, 8080]
            .iter()
            .fold(0, |s, p| s | sketch_bit(*p));
        assert_eq!(sketch_count(few), 4);
        let some = (1..=100u16).fold(0, |s, p| s | sketch_bit(p));
        let n = sketch_count(some);
        assert!((85..=115).contains(&n), "{n}");
        let all = (0..=u16::MAX).fold(0, |s, p| s | sketch_bit(p));
        assert_eq!(sketch_count(all), WINDOW_PORTS_MANY);
    }

    #[test]
    fn memory_caps_hold_under_a_random_source_flood() {
        let cfg = AnalyzerConfig {
            fanout: FanoutConfig {
                max_actors: 1000,
                max_distinct: 200,
                max_distinct_total: 3000,
                ..FanoutConfig::default()
            },
            ..AnalyzerConfig::default()
        };
        let mut a = Analyzer::new("t", cfg);
        let vic = [10, 10, 10, 10];
        let mut x: u32 = 99;
        for i in 0..50_000i64 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let src = x.to_be_bytes();
            // Two probes per source, so each one is tracked, not staged.
            for port in [9999, 9998] {
                a.frame(
                    T0 + i * 20_000,
                    ETHERNET,
                    &udp_frame(src, (x >> 16) as u16, vic, port, b"flood"),
                );
            }
            let (o, n) = a.fanout.actors();
            assert!(o <= 1000 && n <= 1000, "{o} {n}");
            assert!(a.fanout.distinct_stored() <= 3000);
        }
        a.advance(T0 + 2 * S);
        assert!(a.fanout_dropped() > 40_000, "{}", a.fanout_dropped());
        let r = ins(&a, vic);
        let (_, f) = r.last().expect("the victim is still reported");
        assert_eq!(f.hosts, 200, "capped");
        assert!(f.saturated);
        assert!(f.recent_unanswered >= 10_000, "{f:?}");
        assert!(f.ports == 2, "{f:?}");
    }

    #[test]
    fn a_slow_sweep_adds_up_over_an_hour_but_is_no_burst() {
        let mut a = Analyzer::new("t", AnalyzerConfig::default());
        let att = [198, 51, 100, 3];
        // One new host every 15 s for 50 minutes: 200 hosts.
        for i in 0..200i64 {
            let dst = [10, 2, (i / 250) as u8, (i % 250) as u8 + 1];
            a.frame(
                T0 + i * 15 * S,
                ETHERNET,
                &tcp_frame(att, 40000, dst, 22, SYN, b""),
            );
        }
        a.advance(T0 + 200 * 15 * S);
        let r = outs(&a, att);
        let (_, last) = r.last().expect("reports");
        assert_eq!(last.hosts, 200);
        assert_eq!(last.first_ts, T0);
        assert!(r.iter().all(|(_, f)| f.recent_hosts <= 1), "{r:?}");
        // A report each time it grew, once it passed the floor.
        assert_eq!(r.len(), 200 - MIN_DISTINCT as usize + 1);
    }

    #[test]
    fn an_icmp_sweep_counts_hosts_that_answer_too() {
        let mut a = Analyzer::new("t", AnalyzerConfig::default());
        let att = [192, 0, 2, 10];
        for i in 0..254u8 {
            let t = T0 + i64::from(i) * 10 * MS;
            let dst = [10, 1, 1, 1 + i];
            a.frame(t, ETHERNET, &icmp_frame(att, dst, false, 1));
            if i % 2 == 0 {
                a.frame(t + MS, ETHERNET, &icmp_frame(dst, att, true, 1));
            }
        }
        a.advance(T0 + 4 * S);
        let r = outs(&a, att);
        let (_, last) = r.last().expect("reports");
        assert_eq!((last.proto, last.hosts, last.answered), (1, 254, 127));
        assert!(r.iter().any(|(_, f)| f.recent_hosts >= 150), "{r:?}");
    }

    #[test]
    fn a_ping_flood_from_one_source_is_fan_in() {
        let mut a = Analyzer::new("t", AnalyzerConfig::default());
        let (att, vic) = ([192, 0, 2, 10], [10, 1, 1, 1]);
        for i in 0..10_000u16 {
            let t = T0 + i64::from(i) * 100_000;
            a.frame(t, ETHERNET, &icmp_frame(att, vic, false, i));
            a.frame(t + 10_000, ETHERNET, &icmp_frame(vic, att, true, i));
        }
        a.advance(T0 + 2 * S);
        let r = ins(&a, vic);
        let (_, f) = r.last().expect("fan-in");
        assert!(f.recent_packets >= 9000 && f.hosts == 1, "{f:?}");
        assert!(outs(&a, att).is_empty(), "one host is no sweep");
    }
}
