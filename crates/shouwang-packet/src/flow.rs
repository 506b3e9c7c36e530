//! The flow table: a plain data structure with `ingest(packet)` and
//! `expire(now)`, driven by capture time only.

use std::net::IpAddr;

use shouwang_proto::{FlowEnd, FlowRecord, TcpState};

use crate::app::AppId;
use crate::decode::{IpPacket, L4, tcp_flags};

/// Flow table limits and timeouts (capture time).
#[derive(Debug, Clone, Copy)]
pub struct FlowConfig {
    pub idle_ns: i64,
    /// Idle timeout of a TCP flow that was reset or closed by both sides:
    /// nothing more is expected, so it is reported sooner.
    pub closed_ns: i64,
    pub active_ns: i64,
    pub max_flows: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            idle_ns: 15_000_000_000,
            closed_ns: 2_000_000_000,
            active_ns: 60_000_000_000,
            max_flows: 200_000,
        }
    }
}

/// Direction-free identity of a flow: both endpoints in a fixed order,
/// addresses as 128-bit integers (IPv4 in the low 32 bits, told apart by
/// `v6`) held in two words each, so that hashing and comparing a key is a
/// few word operations and the key aligns to 8 bytes (40, not 48: the map
/// and the timer wheel hold one per flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    lo_addr: [u64; 2],
    hi_addr: [u64; 2],
    lo_port: u16,
    hi_port: u16,
    /// Outer VLAN id, `NO_VLAN` when untagged.
    vlan: u16,
    proto: u8,
    v6: bool,
}

/// VLAN ids are 12 bits, so this value never occurs on the wire.
const NO_VLAN: u16 = u16::MAX;

fn addr_bits(a: IpAddr) -> (u128, bool) {
    match a {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), false),
        IpAddr::V6(v6) => (u128::from(v6), true),
    }
}

fn words(a: u128) -> [u64; 2] {
    [(a >> 64) as u64, a as u64]
}

fn addr_of(w: [u64; 2], v6: bool) -> IpAddr {
    let a = u128::from(w[0]) << 64 | u128::from(w[1]);
    if v6 {
        IpAddr::V6(std::net::Ipv6Addr::from(a))
    } else {
        IpAddr::V4(std::net::Ipv4Addr::from(a as u32))
    }
}

/// Five words into the hasher instead of seven fields.
impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.lo_addr[0]);
        h.write_u64(self.lo_addr[1]);
        h.write_u64(self.hi_addr[0]);
        h.write_u64(self.hi_addr[1]);
        h.write_u64(
            u64::from(self.lo_port) << 48
                | u64::from(self.hi_port) << 32
                | u64::from(self.vlan) << 16
                | u64::from(self.proto) << 8
                | u64::from(self.v6),
        );
    }
}

impl FlowKey {
    pub fn of(p: &IpPacket<'_>) -> Self {
        Self::with_side(p).0
    }

    /// The key of `p`'s flow, and whether `p`'s source is the key's low
    /// endpoint.
    fn with_side(p: &IpPacket<'_>) -> (Self, bool) {
        let (sp, dp) = p.ports();
        let (sa, v6) = addr_bits(p.src);
        let (da, _) = addr_bits(p.dst);
        let src_lo = (sa, sp) <= (da, dp);
        let ((lo_addr, lo_port), (hi_addr, hi_port)) = if src_lo {
            ((sa, sp), (da, dp))
        } else {
            ((da, dp), (sa, sp))
        };
        let key = Self {
            lo_addr: words(lo_addr),
            hi_addr: words(hi_addr),
            lo_port,
            hi_port,
            vlan: p.vlan.unwrap_or(NO_VLAN),
            proto: p.proto,
            v6,
        };
        (key, src_lo)
    }

    /// Both endpoints are one address and port (a packet to itself).
    fn is_loop(&self) -> bool {
        self.lo_addr == self.hi_addr && self.lo_port == self.hi_port
    }

    fn lo(&self) -> (IpAddr, u16) {
        (addr_of(self.lo_addr, self.v6), self.lo_port)
    }

    fn hi(&self) -> (IpAddr, u16) {
        (addr_of(self.hi_addr, self.v6), self.hi_port)
    }

    fn vlan(&self) -> Option<u16> {
        (self.vlan != NO_VLAN).then_some(self.vlan)
    }
}

/// Per-flow state the metadata extractors keep.
#[derive(Debug, Clone, Default)]
pub struct FlowMeta {
    pub ssh_banner_client: bool,
    pub ssh_banner_server: bool,
    pub tls_seen: bool,
    /// Application protocol by content, decided once per flow.
    pub app: AppId,
    /// What the fan-out counters know of this flow (`fanout::FAN_*` bits).
    pub fan: u8,
    /// ICMP echo pairing and totals, for flows that carry echoes (boxed:
    /// one pointer in every other flow).
    pub echo: Option<Box<crate::echo::EchoState>>,
}

#[derive(Debug, Clone)]
pub struct Flow {
    /// The client is the key's low endpoint (the addresses themselves are
    /// in the key: 40 bytes less per flow).
    client_lo: bool,
    first_ts: i64,
    last_ts: i64,
    /// Start of the current record (moves on at each active timeout).
    record_start: i64,
    /// Tells this flow from an earlier one with the same key in the
    /// deadline heap.
    generation: u64,
    pkts: [u64; 2],
    bytes: [u64; 2],
    flags: [u8; 2],
    syn: u32,
    syn_ack: u32,
    rst: u32,
    fin: u32,
    fin_dirs: [bool; 2],
    state: TcpState,
    pub meta: FlowMeta,
}

impl Flow {
    /// A flow from its first packet `p`; `src_lo`: `p`'s source is the
    /// key's low endpoint.
    fn new(p: &IpPacket<'_>, key: &FlowKey, src_lo: bool) -> Self {
        let (sp, dp) = p.ports();
        // The SYN's sender is the client; a SYN-ACK first means we missed
        // the SYN, so its sender is the server. With no handshake in sight
        // (mid-stream, UDP), a well-known port (< 1024) marks the server.
        let handshake = match p.l4 {
            L4::Tcp { flags, .. } if flags & tcp_flags::SYN != 0 => {
                Some(flags & tcp_flags::ACK != 0)
            }
            _ => None,
        };
        let sender_is_server = match handshake {
            Some(synack) => synack,
            None => sp < 1024 && dp >= 1024,
        };
        // A packet to itself has one endpoint: every packet goes to the
        // server.
        let client_lo = key.is_loop() || src_lo != sender_is_server;
        Self {
            client_lo,
            first_ts: p.ts,
            last_ts: p.ts,
            record_start: p.ts,
            pkts: [0; 2],
            bytes: [0; 2],
            flags: [0; 2],
            syn: 0,
            syn_ack: 0,
            rst: 0,
            fin: 0,
            fin_dirs: [false; 2],
            state: TcpState::None,
            meta: FlowMeta::default(),
            generation: 0,
        }
    }

    /// Handshake progress so far.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// The client and server endpoints of this flow under `key`.
    pub fn endpoints(&self, key: &FlowKey) -> ((IpAddr, u16), (IpAddr, u16)) {
        if self.client_lo {
            (key.lo(), key.hi())
        } else {
            (key.hi(), key.lo())
        }
    }

    /// Adds `p`, whose source is the key's low endpoint if `src_lo`;
    /// whether it went client → server.
    fn add(&mut self, p: &IpPacket<'_>, src_lo: bool) -> bool {
        // A packet to itself has its source low (`FlowKey::with_side`) and
        // the client low (`Flow::new`): to the server.
        let up = src_lo == self.client_lo;
        let d = usize::from(!up);
        self.pkts[d] += 1;
        self.bytes[d] += u64::from(p.ip_len);
        self.last_ts = self.last_ts.max(p.ts);
        if let L4::Tcp { flags, .. } = p.l4 {
            use tcp_flags::*;
            self.flags[d] |= flags;
            let syn = flags & SYN != 0;
            let ack = flags & ACK != 0;
            if syn && !ack {
                self.syn += 1;
                if self.state == TcpState::None {
                    self.state = TcpState::SynSent;
                }
            }
            if syn && ack {
                self.syn_ack += 1;
                if matches!(self.state, TcpState::None | TcpState::SynSent) {
                    self.state = TcpState::SynReceived;
                }
            }
            if ack && !syn && up && self.state == TcpState::SynReceived {
                self.state = TcpState::Established;
            }
            if flags & RST != 0 {
                self.rst += 1;
                self.state = TcpState::Reset;
            }
            if flags & FIN != 0 {
                self.fin += 1;
                self.fin_dirs[d] = true;
                if self.fin_dirs == [true, true] && self.state != TcpState::Reset {
                    self.state = TcpState::Closed;
                }
            }
        }
        up
    }

    fn record(&self, iface: &std::sync::Arc<str>, key: &FlowKey, end: FlowEnd) -> FlowRecord {
        let (client, server) = self.endpoints(key);
        FlowRecord {
            iface: iface.clone(),
            proto: key.proto,
            src: client.0,
            src_port: client.1,
            dst: server.0,
            dst_port: server.1,
            vlan: key.vlan(),
            first_ts: self.record_start.max(self.first_ts),
            last_ts: self.last_ts,
            packets_to_server: self.pkts[0],
            bytes_to_server: self.bytes[0],
            packets_to_client: self.pkts[1],
            bytes_to_client: self.bytes[1],
            tcp_flags_to_server: self.flags[0],
            tcp_flags_to_client: self.flags[1],
            syn: self.syn,
            syn_ack: self.syn_ack,
            rst: self.rst,
            fin: self.fin,
            tcp_state: self.state,
            end,
            app: self.meta.app.app(),
        }
    }

    /// Starts a new record after an active timeout; state and meta carry on.
    fn restart_record(&mut self, now: i64) {
        self.record_start = now;
        self.pkts = [0; 2];
        self.bytes = [0; 2];
        self.flags = [0; 2];
        self.syn = 0;
        self.syn_ack = 0;
        self.rst = 0;
        self.fin = 0;
    }
}

/// Where finished flow records go.
pub trait FlowSink {
    fn emit(&mut self, r: FlowRecord);
}

impl FlowSink for Vec<FlowRecord> {
    fn emit(&mut self, r: FlowRecord) {
        self.push(r);
    }
}

/// Straight into the event stream, stamped with the flow's last packet:
/// one move per record instead of a detour through a buffer.
impl FlowSink for Vec<shouwang_proto::Event> {
    fn emit(&mut self, r: FlowRecord) {
        let ts = shouwang_proto::Timestamp::from_nanos(r.last_ts);
        self.push(shouwang_proto::Event::new(
            ts,
            shouwang_proto::EventBody::Flow(r),
        ));
    }
}

/// Timer wheel granularity.
const BUCKET_NS: i64 = 1_000_000_000;
/// Longest wheel (seconds ahead).
const MAX_WHEEL_BUCKETS: usize = 4096;

/// Puts a flow in the bucket of second `due` (or the first bucket, if that
/// second has passed).
fn schedule(
    wheel: &mut std::collections::VecDeque<Vec<(u64, FlowKey)>>,
    start: &mut i64,
    due: i64,
    generation: u64,
    key: FlowKey,
) {
    let bucket = due.div_euclid(BUCKET_NS);
    if *start == i64::MIN || wheel.is_empty() && bucket < *start {
        *start = bucket;
    } else if bucket < *start {
        // Earlier than the wheel's first second (a flow that just closed):
        // grow the wheel backwards.
        let extra = usize::try_from(*start - bucket)
            .unwrap_or(MAX_WHEEL_BUCKETS)
            .min(MAX_WHEEL_BUCKETS);
        for _ in 0..extra {
            wheel.push_front(Vec::new());
        }
        *start -= extra as i64;
    }
    // Deadlines are at most the active timeout ahead of the packet that set
    // them; the cap only guards against absurd timestamps.
    let idx = usize::try_from(bucket.saturating_sub(*start))
        .unwrap_or(0)
        .min(MAX_WHEEL_BUCKETS);
    if wheel.len() <= idx {
        wheel.resize_with(idx + 1, Vec::new);
    }
    if let Some(b) = wheel.get_mut(idx) {
        b.push((generation, key));
    }
}

/// A new flow from its first packet, with a fresh generation, scheduled in
/// the wheel.
fn start_flow(
    cfg: &FlowConfig,
    p: &IpPacket<'_>,
    key: FlowKey,
    src_lo: bool,
    next_generation: &mut u64,
    wheel: &mut std::collections::VecDeque<Vec<(u64, FlowKey)>>,
    wheel_start: &mut i64,
) -> Flow {
    *next_generation += 1;
    let mut f = Flow::new(p, &key, src_lo);
    f.generation = *next_generation;
    schedule(wheel, wheel_start, deadline(cfg, &f), f.generation, key);
    f
}

/// The idle timeout that applies to `f` now.
fn idle_for(cfg: &FlowConfig, f: &Flow) -> i64 {
    if matches!(f.state, TcpState::Reset | TcpState::Closed) {
        cfg.closed_ns.min(cfg.idle_ns)
    } else {
        cfg.idle_ns
    }
}

/// When a flow is due for its idle timeout.
fn idle_deadline(cfg: &FlowConfig, f: &Flow) -> i64 {
    f.last_ts.saturating_add(idle_for(cfg, f))
}

/// When a flow is next due: idle timeout, or active timeout if earlier.
fn deadline(cfg: &FlowConfig, f: &Flow) -> i64 {
    idle_deadline(cfg, f).min(f.record_start.max(f.first_ts).saturating_add(cfg.active_ns))
}

/// The flow a wheel entry stands for, if it is still that flow (not gone,
/// nor replaced by a newer flow on the same key, which has its own entry).
fn live_entry(
    flows: &mut FlowMap,
    generation: u64,
    key: FlowKey,
) -> Option<std::collections::hash_map::OccupiedEntry<'_, FlowKey, Flow>> {
    match flows.entry(key) {
        std::collections::hash_map::Entry::Occupied(e) if e.get().generation == generation => {
            Some(e)
        }
        _ => None,
    }
}

/// Keys come off the wire, so the hash is keyed at random per process
/// (ahash): fast, and an attacker cannot aim packets at one bucket.
type FlowMap = std::collections::HashMap<FlowKey, Flow, ahash::RandomState>;

/// Bidirectional flows keyed by 5-tuple (and outer VLAN).
///
/// Expiry does not scan the table: each flow sits in a timer wheel of
/// one-second buckets at its deadline (the earlier of idle and active
/// timeout). A bucket that comes due is checked against each flow's current
/// times; flows busy since are put back at their new deadline, entries of
/// flows that are gone are skipped by generation. Cost: O(1) per flow per
/// idle period, not per packet; records are emitted within a second of
/// their deadline.
#[derive(Debug)]
pub struct FlowTable {
    /// Shared by every record (one reference count, not one allocation, per flow).
    iface: std::sync::Arc<str>,
    cfg: FlowConfig,
    flows: FlowMap,
    /// Bucket `i` holds flows due in second `wheel_start + i`.
    wheel: std::collections::VecDeque<Vec<(u64, FlowKey)>>,
    wheel_start: i64,
    next_generation: u64,
    /// Flows pushed out because the table was full.
    pub evictions: u64,
}

impl FlowTable {
    pub fn new(iface: &str, cfg: FlowConfig) -> Self {
        Self {
            iface: iface.into(),
            cfg,
            flows: FlowMap::default(),
            wheel: std::collections::VecDeque::new(),
            wheel_start: i64::MIN,
            next_generation: 0,
            evictions: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Adds a packet. Returns the flow and whether the packet went client →
    /// server. A new TCP SYN on a flow that was reset or closed starts a new
    /// flow (the old record is emitted into `out`).
    pub fn ingest(&mut self, p: &IpPacket<'_>, out: &mut impl FlowSink) -> (&mut Flow, bool) {
        use std::collections::hash_map::Entry;
        let (key, src_lo) = FlowKey::with_side(p);
        let syn_only = matches!(p.l4, L4::Tcp { flags, .. } if flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN);
        // One hash per packet; a second one only when the table is full.
        if self.flows.len() >= self.cfg.max_flows && !self.flows.contains_key(&key) {
            self.evict(p.ts, out);
        }
        let cfg = self.cfg;
        let flow = match self.flows.entry(key) {
            Entry::Occupied(mut e) => {
                if syn_only && matches!(e.get().state, TcpState::Reset | TcpState::Closed) {
                    // A new connection on a finished 5-tuple: report the old one.
                    let f = start_flow(
                        &cfg,
                        p,
                        key,
                        src_lo,
                        &mut self.next_generation,
                        &mut self.wheel,
                        &mut self.wheel_start,
                    );
                    let old = e.insert(f);
                    out.emit(old.record(&self.iface, &key, FlowEnd::Idle));
                }
                e.into_mut()
            }
            Entry::Vacant(e) => e.insert(start_flow(
                &cfg,
                p,
                key,
                src_lo,
                &mut self.next_generation,
                &mut self.wheel,
                &mut self.wheel_start,
            )),
        };
        let was_open = !matches!(flow.state, TcpState::Reset | TcpState::Closed);
        let up = flow.add(p, src_lo);
        if was_open && matches!(flow.state, TcpState::Reset | TcpState::Closed) {
            // Closing moves the deadline closer: add an earlier wheel entry
            // (the old one finds the flow gone, or reschedules it).
            schedule(
                &mut self.wheel,
                &mut self.wheel_start,
                deadline(&cfg, flow),
                flow.generation,
                key,
            );
        }
        (flow, up)
    }

    /// Frees room: everything idle for a quarter of the idle timeout, and at
    /// least a tenth of the table, the flows idle the longest first.
    ///
    /// The order comes from the timer wheel, not from a sort: its front
    /// buckets hold the earliest deadlines. A flow busy since its entry was
    /// made moves to its real deadline's bucket (where the walk may meet it
    /// again); a flow due only for its active timeout is busy and passed
    /// over. So a full table costs O(flows evicted) per eviction, not a sort
    /// of every flow (which made a spoofed flood, a new flow per packet,
    /// spend most of its time sorting).
    fn evict(&mut self, now: i64, out: &mut impl FlowSink) {
        let cfg = self.cfg;
        let quick = now.saturating_sub(cfg.idle_ns / 4);
        let want = (cfg.max_flows / 10).max(1);
        let before = self.flows.len();
        let mut removed = 0usize;
        // Busy flows met on the way (due for their active timeout, or
        // beyond the wheel), with their last packet and deadline: back into
        // the wheel after the walk.
        let mut busy: Vec<(i64, i64, u64, FlowKey)> = Vec::new();
        'walk: while let Some(mut bucket) = self.wheel.pop_front() {
            let this = self.wheel_start;
            self.wheel_start += 1;
            for i in 0..bucket.len() {
                let (generation, key) = bucket[i];
                let Some(e) = live_entry(&mut self.flows, generation, key) else {
                    continue;
                };
                let f = e.get();
                if removed >= want && f.last_ts >= quick {
                    // Room enough, and nothing left here is long idle.
                    bucket.drain(..i);
                    self.wheel.push_front(bucket);
                    self.wheel_start -= 1;
                    break 'walk;
                }
                let due = deadline(&cfg, f);
                let ahead = due.div_euclid(BUCKET_NS).saturating_sub(this);
                if ahead > 0 && ahead <= MAX_WHEEL_BUCKETS as i64 {
                    schedule(&mut self.wheel, &mut self.wheel_start, due, generation, key);
                } else if ahead > 0 || idle_deadline(&cfg, f).div_euclid(BUCKET_NS) > this {
                    // Beyond the wheel (a time jump: the walk would meet it
                    // again and again at the wheel's end), or busy.
                    busy.push((f.last_ts, due, generation, key));
                } else {
                    let f = e.remove();
                    out.emit(f.record(&self.iface, &key, FlowEnd::Evicted));
                    removed += 1;
                }
            }
        }
        if removed == 0 {
            // Every flow is busy: the longest idle of them go after all.
            busy.sort_unstable_by_key(|&(last, ..)| last);
            let take = want.min(busy.len());
            for (_, _, generation, key) in busy.drain(..take) {
                if let Some(e) = live_entry(&mut self.flows, generation, key) {
                    let f = e.remove();
                    out.emit(f.record(&self.iface, &key, FlowEnd::Evicted));
                }
            }
        }
        for (_, due, generation, key) in busy {
            schedule(&mut self.wheel, &mut self.wheel_start, due, generation, key);
        }
        self.evictions += (before - self.flows.len()) as u64;
    }

    /// Emits idle flows (removed) and active-timeout slices (kept).
    pub fn expire(&mut self, now: i64, out: &mut impl FlowSink) {
        let cfg = self.cfg;
        let now_bucket = now.div_euclid(BUCKET_NS);
        // Every bucket up to and including the current second.
        while self.wheel_start <= now_bucket {
            let Some(bucket) = self.wheel.pop_front() else {
                self.wheel_start = now_bucket;
                break;
            };
            let current = self.wheel_start == now_bucket;
            self.wheel_start += 1;
            let mut not_yet = Vec::new();
            for (generation, key) in bucket {
                // One lookup: the entry both reads and, when idle, removes.
                let Some(e) = live_entry(&mut self.flows, generation, key) else {
                    continue;
                };
                if now.saturating_sub(e.get().last_ts) >= idle_for(&cfg, e.get()) {
                    let f = e.remove();
                    out.emit(f.record(&self.iface, &key, FlowEnd::Idle));
                    continue;
                }
                let f = e.into_mut();
                if now.saturating_sub(f.record_start.max(f.first_ts)) >= cfg.active_ns {
                    out.emit(f.record(&self.iface, &key, FlowEnd::Active));
                    f.restart_record(now);
                }
                let due = deadline(&cfg, f);
                if due.div_euclid(BUCKET_NS) <= now_bucket {
                    not_yet.push((generation, key)); // later this same second
                } else {
                    schedule(&mut self.wheel, &mut self.wheel_start, due, generation, key);
                }
            }
            if current {
                // Put the current second's bucket back, with what is not due yet.
                self.wheel.push_front(not_yet);
                self.wheel_start -= 1;
                break;
            }
            for (generation, key) in not_yet {
                schedule(&mut self.wheel, &mut self.wheel_start, now, generation, key);
            }
        }
    }

    /// Emits every flow (end of capture).
    pub fn drain(&mut self, out: &mut impl FlowSink) {
        self.wheel.clear();
        for (k, f) in self.flows.drain() {
            out.emit(f.record(&self.iface, &k, FlowEnd::End));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcp_flags::*;

    fn pkt(
        ts_s: i64,
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        flags: u8,
    ) -> IpPacket<'static> {
        IpPacket {
            ts: ts_s * 1_000_000_000,
            src: src.into(),
            dst: dst.into(),
            proto: 6,
            ip_len: 60,
            vlan: None,
            l4: L4::Tcp {
                sport,
                dport,
                flags,
                payload: &[],
            },
        }
    }

    const C: [u8; 4] = [10, 0, 0, 1];
    const S: [u8; 4] = [10, 0, 0, 2];

    #[test]
    fn handshake_both_directions_and_counts() {
        let mut t = FlowTable::new("eth0", FlowConfig::default());
        let mut out: Vec<FlowRecord> = Vec::new();
        t.ingest(&pkt(0, C, 40000, S, 22, SYN), &mut out);
        t.ingest(&pkt(0, S, 22, C, 40000, SYN | ACK), &mut out);
        t.ingest(&pkt(0, C, 40000, S, 22, ACK), &mut out);
        t.ingest(&pkt(1, C, 40000, S, 22, FIN | ACK), &mut out);
        t.ingest(&pkt(1, S, 22, C, 40000, FIN | ACK), &mut out);
        assert_eq!(t.len(), 1);
        t.drain(&mut out);
        let r = &out[0];
        assert_eq!((r.src, r.src_port, r.dst_port), (C.into(), 40000, 22));
        assert_eq!((r.packets_to_server, r.packets_to_client), (3, 2));
        assert_eq!((r.bytes_to_server, r.bytes_to_client), (180, 120));
        assert_eq!((r.syn, r.syn_ack, r.fin, r.rst), (1, 1, 2, 0));
        assert_eq!(r.tcp_flags_to_server, SYN | ACK | FIN);
        assert_eq!(r.tcp_state, TcpState::Closed);
        assert_eq!(r.end, FlowEnd::End);
    }

    #[test]
    fn syn_ack_first_makes_its_sender_the_server() {
        let mut t = FlowTable::new("x", FlowConfig::default());
        let mut out: Vec<FlowRecord> = Vec::new();
        t.ingest(&pkt(0, S, 22, C, 40000, SYN | ACK), &mut out);
        t.drain(&mut out);
        assert_eq!((out[0].src, out[0].dst_port), (C.into(), 22));
    }

    #[test]
    fn idle_and_active_timeouts_on_capture_time() {
        let mut t = FlowTable::new("x", FlowConfig::default());
        let mut out: Vec<FlowRecord> = Vec::new();
        t.ingest(&pkt(0, C, 1, S, 2, ACK), &mut out);
        t.expire(14, &mut out);
        assert!(out.is_empty());
        t.expire(15 * 1_000_000_000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].end, FlowEnd::Idle);
        assert!(t.is_empty());
        // A flow busy for 70 s gives an active-timeout slice at 60 s.
        out.clear();
        // Driven as the analyzer does: expire up to a packet's time, then add it.
        for s in 0..70 {
            t.expire((100 + s) * 1_000_000_000, &mut out);
            t.ingest(&pkt(100 + s, C, 1, S, 2, ACK), &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].end, FlowEnd::Active);
        assert_eq!(out[0].packets_to_server, 60);
        t.drain(&mut out);
        assert_eq!(out[1].packets_to_server, 10);
    }

    #[test]
    fn full_table_evicts_and_counts() {
        let mut t = FlowTable::new(
            "x",
            FlowConfig {
                max_flows: 100,
                ..FlowConfig::default()
            },
        );
        let mut out: Vec<FlowRecord> = Vec::new();
        for port in 0..150u16 {
            t.ingest(&pkt(i64::from(port) / 100, C, port, S, 80, SYN), &mut out);
        }
        assert!(t.len() <= 100);
        assert_eq!(t.evictions as usize, out.len());
        assert!(out.iter().all(|r| r.end == FlowEnd::Evicted));
        t.drain(&mut out);
        assert_eq!(out.len(), 150, "every flow reported once");
    }

    fn small(max_flows: usize) -> FlowTable {
        FlowTable::new(
            "x",
            FlowConfig {
                max_flows,
                ..FlowConfig::default()
            },
        )
    }

    #[test]
    fn a_full_table_evicts_the_flows_idle_longest_and_keeps_the_busy() {
        let mut t = small(10);
        let mut out: Vec<FlowRecord> = Vec::new();
        // Flows on ports 0..10 opened one a second; port 0 busy again at 9 s.
        for port in 0..10u16 {
            t.ingest(&pkt(i64::from(port), C, port, S, 80, ACK), &mut out);
        }
        t.ingest(&pkt(9, C, 0, S, 80, ACK), &mut out);
        assert!(out.is_empty());
        // Full: a new flow at 10 s evicts everything idle for a quarter of
        // the idle timeout (3.75 s: last seen before 6.25 s), and port 0,
        // whose wheel entry is early but which was busy since, stays.
        t.ingest(&pkt(10, C, 100, S, 80, ACK), &mut out);
        let mut gone: Vec<u16> = out.iter().map(|r| r.src_port).collect();
        gone.sort_unstable();
        assert_eq!(gone, vec![1, 2, 3, 4, 5, 6]);
        assert!(out.iter().all(|r| r.end == FlowEnd::Evicted));
        assert_eq!(t.evictions, 6);
        assert_eq!(t.len(), 5);
        // Nothing is lost: the rest still expire and drain.
        t.expire(100 * 1_000_000_000, &mut out);
        assert_eq!(out.len(), 11);
        assert!(t.is_empty());
    }

    #[test]
    fn a_full_table_passes_over_a_long_busy_flow_due_only_for_its_active_timeout() {
        let mut t = small(10);
        let mut out: Vec<FlowRecord> = Vec::new();
        // Port 0 busy every second from 0 to 50 s: its deadline is the
        // active timeout (60 s), earlier than the others' idle one (65 s).
        for s in 0..=50 {
            t.ingest(&pkt(s, C, 0, S, 80, ACK), &mut out);
        }
        for port in 1..10u16 {
            t.ingest(&pkt(50, C, port, S, 80, ACK), &mut out);
        }
        t.ingest(&pkt(51, C, 100, S, 80, ACK), &mut out);
        // A tenth of the table goes (one flow), and it is not port 0.
        assert_eq!(out.len(), 1);
        assert_ne!(out[0].src_port, 0);
        assert!(t.flows.keys().any(|k| k.lo_port == 0 || k.hi_port == 0));
        // Its active slice still comes at 60 s.
        t.expire(60 * 1_000_000_000, &mut out);
        assert!(
            out.iter()
                .any(|r| r.src_port == 0 && r.end == FlowEnd::Active)
        );
    }

    #[test]
    fn a_flood_of_new_flows_keeps_the_table_at_its_cap_and_reports_every_flow() {
        let mut t = small(1000);
        let mut out: Vec<FlowRecord> = Vec::new();
        let mut src: u32 = 1;
        for i in 0..20_000i64 {
            src = src.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let p = IpPacket {
                ts: i * 50_000, // 20 000 new flows a second
                ..pkt(0, src.to_be_bytes(), 1234, S, 80, SYN)
            };
            t.ingest(&p, &mut out);
            assert!(t.len() <= 1000);
        }
        assert_eq!(t.evictions as usize, out.len());
        t.drain(&mut out);
        assert_eq!(out.len(), 20_000);
    }

    #[test]
    fn mid_stream_reply_from_a_well_known_port_is_the_server() {
        let mut t = FlowTable::new("x", FlowConfig::default());
        let mut out: Vec<FlowRecord> = Vec::new();
        let (_, to_server) = t.ingest(&pkt(0, S, 21, C, 40003, PSH | ACK), &mut out);
        assert!(!to_server);
        let (_, to_server) = t.ingest(&pkt(0, C, 40003, S, 21, ACK), &mut out);
        assert!(to_server);
        t.drain(&mut out);
        assert_eq!(out.len(), 1);
        let r = &out[0];
        assert_eq!((r.dst, r.dst_port), (S.into(), 21));
        assert_eq!((r.src, r.src_port), (C.into(), 40003));
        assert_eq!((r.packets_to_server, r.packets_to_client), (1, 1));
    }

    #[test]
    fn endpoints_come_back_from_the_key_whichever_side_is_low() {
        // The client is the high endpoint (S > C) and then the low one, over
        // IPv4 and IPv6; and a packet to itself goes to the server.
        let v6c: IpAddr = "2001:db8::9".parse().expect("addr");
        let v6s: IpAddr = "2001:db8::1".parse().expect("addr");
        let cases: [(IpAddr, u16, IpAddr, u16); 5] = [
            (S.into(), 5000, C.into(), 80),
            (C.into(), 5000, S.into(), 80),
            (v6c, 40000, v6s, 443),
            (v6s, 40000, v6c, 443),
            (C.into(), 7, C.into(), 7),
        ];
        for (ca, cp, sa, sp) in cases {
            let mut t = FlowTable::new("x", FlowConfig::default());
            let mut out: Vec<FlowRecord> = Vec::new();
            let syn = IpPacket {
                src: ca,
                dst: sa,
                ..pkt(0, C, cp, S, sp, SYN)
            };
            let reply = IpPacket {
                src: sa,
                dst: ca,
                ..pkt(0, C, sp, S, cp, SYN | ACK)
            };
            assert!(t.ingest(&syn, &mut out).1);
            let back = t.ingest(&reply, &mut out).1;
            assert_eq!(back, ca == sa && cp == sp, "{ca} -> {sa}");
            t.drain(&mut out);
            let r = &out[0];
            assert_eq!((r.src, r.src_port, r.dst, r.dst_port), (ca, cp, sa, sp));
            let want = if back { (2, 0) } else { (1, 1) };
            assert_eq!((r.packets_to_server, r.packets_to_client), want);
        }
    }

    #[test]
    fn stale_deadline_of_a_reopened_flow_does_not_expire_the_new_one() {
        let mut t = FlowTable::new("x", FlowConfig::default());
        let mut out: Vec<FlowRecord> = Vec::new();
        t.ingest(&pkt(0, C, 5, S, 80, SYN), &mut out);
        t.ingest(&pkt(0, S, 80, C, 5, RST | ACK), &mut out);
        t.ingest(&pkt(10, C, 5, S, 80, SYN), &mut out);
        assert_eq!(out.len(), 1, "first connection reported on reopen");
        t.expire(15 * 1_000_000_000, &mut out);
        assert_eq!(
            out.len(),
            1,
            "the old deadline (15 s) must not expire the new flow"
        );
        t.expire(25 * 1_000_000_000, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].first_ts, 10 * 1_000_000_000);
    }

    #[test]
    fn time_jumps_neither_lose_flows_nor_grow_the_wheel() {
        let mut t = FlowTable::new("x", FlowConfig::default());
        let mut out: Vec<FlowRecord> = Vec::new();
        t.ingest(&pkt(0, C, 1, S, 2, ACK), &mut out);
        // Ten years later (a capture with a gap, or a bad clock).
        let later = 10 * 365 * 86_400;
        t.expire(later * 1_000_000_000, &mut out);
        assert_eq!(out.len(), 1);
        t.ingest(&pkt(later, C, 3, S, 4, ACK), &mut out);
        assert!(t.wheel.len() <= MAX_WHEEL_BUCKETS + 1);
        // Back in time: still reported, never lost.
        t.ingest(&pkt(5, C, 5, S, 6, ACK), &mut out);
        t.expire((later + 20) * 1_000_000_000, &mut out);
        assert_eq!(out.len(), 3);
        assert!(t.is_empty());
    }

    #[test]
    fn reset_and_closed_flows_are_reported_after_the_closed_timeout() {
        let mut t = FlowTable::new("x", FlowConfig::default());
        let mut out: Vec<FlowRecord> = Vec::new();
        t.ingest(&pkt(0, C, 7, S, 80, SYN), &mut out);
        t.ingest(&pkt(0, S, 80, C, 7, RST | ACK), &mut out);
        t.ingest(&pkt(0, C, 8, S, 81, SYN), &mut out); // still half-open
        t.expire(1_500_000_000, &mut out);
        assert!(out.is_empty());
        t.expire(3_000_000_000, &mut out);
        assert_eq!(out.len(), 1, "the reset flow after 2 s, not 15 s");
        assert_eq!((out[0].tcp_state, out[0].dst_port), (TcpState::Reset, 80));
        t.expire(16_000_000_000, &mut out);
        assert_eq!(out.len(), 2, "the half-open one at the idle timeout");
    }

    #[test]
    fn new_syn_after_reset_starts_a_new_flow() {
        let mut t = FlowTable::new("x", FlowConfig::default());
        let mut out: Vec<FlowRecord> = Vec::new();
        t.ingest(&pkt(0, C, 5, S, 80, SYN), &mut out);
        t.ingest(&pkt(0, S, 80, C, 5, RST | ACK), &mut out);
        t.ingest(&pkt(1, C, 5, S, 80, SYN), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].tcp_state, TcpState::Reset);
        t.drain(&mut out);
        assert_eq!(out.len(), 2);
    }
}
