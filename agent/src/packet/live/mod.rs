//! Live capture with pnet: one OS thread per interface, on a socket the
//! agent opens itself (receive buffer, optional BPF filter, kernel drop
//! counters), a read buffer of at least 64 KiB and a read timeout so
//! shutdown is prompt.
//!
//! Privileges: opening the socket needs CAP_NET_RAW (and CAP_NET_ADMIN for a
//! receive buffer above `net.core.rmem_max`). Sockets are opened at start,
//! before anything reads untrusted input. Timestamps are taken when a packet
//! is read (pnet's `recvfrom` path carries no kernel timestamp).

pub mod ring;
pub mod sock;

use std::time::Duration;

use anyhow::{Context, bail};
use shouwang_proto::{Event, Timestamp};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use shouwang_packet::decode::{IpPacket, linktype};
use shouwang_packet::{Analyzer, AnalyzerConfig};

/// Read buffer per socket (one packet per read; covers GRO/jumbo frames).
pub const READ_BUFFER: usize = 256 * 1024;
/// Read timeout: how long shutdown and interval statistics can lag.
pub const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// How packets are read from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// PACKET_MMAP TPACKET_V3 ring: many packets per wake-up, kernel
    /// timestamps.
    TpacketV3,
    /// pnet: one `poll` + `recvfrom` per packet, read-time timestamps.
    Pnet,
}

/// Ring block size (the kernel hands over whole blocks).
pub const RING_BLOCK: usize = 1 << 20;

/// Settings for one capture.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub backend: Backend,
    /// Total ring size for the TPACKET_V3 backend.
    pub ring_bytes: usize,
    pub promiscuous: bool,
    pub rcvbuf: usize,
    pub bpf: Option<Vec<sock::BpfInsn>>,
    pub analyzer: AnalyzerConfig,
}

/// What a capture read and lost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureTotals {
    pub frames: u64,
    pub kernel_drops: u64,
    /// Events the pipeline could not take.
    pub agent_drops: u64,
}

enum Source {
    Pnet {
        fd: i32,
        rx: Box<dyn pnet_datalink::DataLinkReceiver>,
    },
    Ring(ring::Ring),
}

/// An opened capture, not yet reading.
pub struct Capture {
    iface: String,
    linktype: i32,
    loopback: bool,
    source: Source,
    cfg: LiveConfig,
    /// Samples flows under overload (`[limits]`); none: every frame.
    governor: Option<crate::limits::Governor>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("iface", &self.iface)
            .field("backend", &self.cfg.backend)
            .finish()
    }
}

fn now_ns() -> i64 {
    Timestamp::from_system_time(std::time::SystemTime::now()).as_nanos()
}

/// Opens the capture socket for `name` (call at start, with privileges).
pub fn open(name: &str, cfg: LiveConfig) -> anyhow::Result<Capture> {
    let all = pnet_datalink::interfaces();
    let Some(iface) = all.iter().find(|i| i.name == name) else {
        let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
        bail!(
            "no network interface {name:?}; this host has: {}",
            names.join(", ")
        );
    };
    let linktype = if iface.mac.is_none() && !iface.is_loopback() {
        linktype::RAW
    } else {
        linktype::ETHERNET
    };
    let source = match cfg.backend {
        Backend::TpacketV3 => {
            let blocks = (cfg.ring_bytes / RING_BLOCK).max(2);
            let ring = ring::Ring::open(
                iface.index,
                cfg.promiscuous,
                RING_BLOCK,
                blocks,
                cfg.bpf.as_deref(),
            )
            .with_context(|| {
                format!(
                    "cannot open a TPACKET_V3 capture ring on {name} (needs root or CAP_NET_RAW)"
                )
            })?;
            let _ = ring.drops();
            Source::Ring(ring)
        }
        Backend::Pnet => {
            let fd = sock::open_packet_socket().with_context(|| {
                format!("cannot open a capture socket on {name} (needs root or CAP_NET_RAW)")
            })?;
            sock::set_rcvbuf(fd, cfg.rcvbuf).context("setting SO_RCVBUF")?;
            if let Some(prog) = &cfg.bpf {
                sock::attach_filter(fd, prog).context("attaching the BPF filter")?;
            }
            let config = pnet_datalink::Config {
                read_buffer_size: READ_BUFFER,
                write_buffer_size: 4096,
                read_timeout: Some(READ_TIMEOUT),
                promiscuous: cfg.promiscuous,
                socket_fd: Some(fd),
                ..Default::default()
            };
            let rx = match pnet_datalink::channel(iface, config)
                .with_context(|| format!("cannot bind the capture socket to {name}"))?
            {
                pnet_datalink::Channel::Ethernet(_tx, rx) => rx,
                _ => bail!("unexpected channel type for {name}"),
            };
            // Drop whatever the socket saw before it was bound to the interface.
            let _ = sock::packet_stats(fd);
            Source::Pnet { fd, rx }
        }
    };
    info!(iface = name, backend = ?cfg.backend, filter = cfg.bpf.is_some(), promiscuous = cfg.promiscuous, "capture opened");
    Ok(Capture {
        iface: name.to_owned(),
        linktype,
        loopback: iface.is_loopback(),
        source,
        cfg,
        governor: None,
    })
}

impl Capture {
    /// Samples flows by `governor` when the agent is over its budget.
    #[must_use]
    pub fn governed(mut self, governor: crate::limits::Governor) -> Self {
        self.governor = Some(governor);
        self
    }

    fn drops_since_last(&self) -> u64 {
        match &self.source {
            Source::Pnet { fd, .. } => sock::packet_stats(*fd).map_or(0, |(_, d)| d),
            Source::Ring(r) => r.drops().unwrap_or(0),
        }
    }

    /// Reads until cancelled, on its own OS thread; events go to `tx`.
    pub fn spawn(
        self,
        tx: mpsc::Sender<Event>,
        cancel: CancellationToken,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name(format!("capture-{}", self.iface))
            .spawn(move || {
                // A full pipeline costs events (counted as agent drops), never
                // stalls the socket; at the end, wait for room.
                let _ = self.run(&cancel, |ev, last| {
                    if last {
                        tx.blocking_send(ev).is_ok()
                    } else {
                        tx.try_send(ev).is_ok()
                    }
                });
            })
    }

    /// Reads until cancelled. `deliver(event, at_end)` returns false when
    /// the event could not be taken. Returns what was read and dropped.
    pub fn run(
        mut self,
        cancel: &CancellationToken,
        mut deliver: impl FnMut(Event, bool) -> bool,
    ) -> CaptureTotals {
        let mut an = Analyzer::new(self.iface.clone(), self.cfg.analyzer);
        let (mut kernel_drops, mut agent_drops) = (0u64, 0u64);
        let mut last_stats = std::time::Instant::now();
        let mut last_error: Option<String> = None;
        let linktype = self.linktype;
        let skip_outgoing = self.loopback;
        let timeout_ms = i32::try_from(READ_TIMEOUT.as_millis()).unwrap_or(100);
        // Under overload the governor keeps one flow in N, whole (frames
        // skipped are counted). The analyzer asks once it has decoded a
        // frame, so nothing is parsed twice.
        let governor = self.governor.clone();
        let mut keep = move |p: &IpPacket<'_>| {
            governor
                .as_ref()
                .is_none_or(|g| g.sample_every() == 1 || g.keep_frame(p.flow_hash()))
        };
        while !cancel.is_cancelled() {
            let result = match &mut self.source {
                Source::Pnet { rx, .. } => match rx.next() {
                    Ok(frame) => {
                        an.frame_sampled(now_ns(), linktype, frame, &mut keep);
                        Ok(())
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                        an.advance(now_ns());
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                Source::Ring(ring) => ring
                    .next_block(timeout_ms, |ts, pkttype, frame| {
                        // On loopback every packet is seen leaving and arriving:
                        // keep the arrival only, as libpcap does.
                        if !(skip_outgoing && pkttype == ring::PACKET_OUTGOING) {
                            an.frame_sampled(ts, linktype, frame, &mut keep);
                        }
                    })
                    .map(|n| {
                        if n == 0 {
                            an.advance(now_ns());
                        }
                    }),
            };
            if let Err(e) = result {
                let msg = e.to_string();
                if last_error.as_deref() != Some(&msg) {
                    warn!(iface = %self.iface, error = %msg, "capture read failed");
                    last_error = Some(msg);
                }
                std::thread::sleep(READ_TIMEOUT);
            }
            if last_stats.elapsed() >= Duration::from_millis(200) {
                last_stats = std::time::Instant::now();
                kernel_drops += self.drops_since_last();
                an.set_drops(kernel_drops, agent_drops);
            }
            for ev in an.out.drain(..) {
                if !deliver(ev, false) {
                    agent_drops += 1;
                }
            }
        }
        kernel_drops += self.drops_since_last();
        an.set_drops(kernel_drops, agent_drops);
        an.finish();
        for ev in an.out.drain(..) {
            if !deliver(ev, true) {
                break;
            }
        }
        info!(iface = %self.iface, frames = an.stats().frames, kernel_drops, agent_drops, "capture stopped");
        CaptureTotals {
            frames: an.stats().frames,
            kernel_drops,
            agent_drops,
        }
    }
}
