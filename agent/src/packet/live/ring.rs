//! PACKET_MMAP TPACKET_V3 receive ring: the kernel writes packets into
//! blocks of a shared mapping and hands whole blocks over, so one wake-up
//! reads many packets (pnet's path is one `poll` + `recvfrom` per packet).
//!
//! `unsafe` is allowed here only for the system calls and for reading the
//! mapping. Every offset the kernel writes is checked against the block
//! before it is used, so a malformed block ends that block, never the
//! process. The block status word is shared with the kernel: it is read and
//! written with volatile accesses and fences.
#![allow(unsafe_code)]

use std::io;
use std::sync::atomic::{Ordering, fence};

use super::sock::BpfInsn;

const TPACKET_V3: i32 = 2;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
/// Offsets inside `struct tpacket_block_desc` (version, offset_to_priv,
/// then `tpacket_hdr_v1`).
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST: usize = 16;
/// Offsets inside `struct tpacket3_hdr`.
const PKT_NEXT: usize = 0;
const PKT_SEC: usize = 4;
const PKT_NSEC: usize = 8;
const PKT_SNAPLEN: usize = 12;
const PKT_MAC: usize = 24;
/// `sll_pkttype` of the `sockaddr_ll` that follows the 48-byte
/// `tpacket3_hdr` (TPACKET_ALIGN(48) = 48, then 10 bytes into sockaddr_ll).
const PKT_SLL_PKTTYPE: usize = 48 + 10;
const PKT_HDR_MIN: usize = PKT_SLL_PKTTYPE + 1;
/// `PACKET_OUTGOING`: a packet this host sent.
pub const PACKET_OUTGOING: u8 = 4;

#[repr(C)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

#[repr(C)]
struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

#[repr(C)]
struct PacketMreq {
    ifindex: i32,
    kind: u16,
    alen: u16,
    address: [u8; 8],
}

fn check(r: i32) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn setsockopt<T>(fd: i32, level: i32, name: i32, v: &T) -> io::Result<()> {
    // SAFETY: `v` is valid for reads of its size for the whole call.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
}

/// An open, bound, mapped receive ring.
pub struct Ring {
    fd: i32,
    map: *mut u8,
    len: usize,
    block_size: usize,
    blocks: usize,
    cur: usize,
}

// SAFETY: the mapping and descriptor belong to this value alone; it moves to
// the capture thread once and is used only there.
unsafe impl Send for Ring {}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("fd", &self.fd)
            .field("blocks", &self.blocks)
            .field("block_size", &self.block_size)
            .finish()
    }
}

impl Ring {
    /// Opens a TPACKET_V3 ring of `blocks` × `block_size` bytes on the
    /// interface with index `ifindex` (needs CAP_NET_RAW).
    pub fn open(
        ifindex: u32,
        promiscuous: bool,
        block_size: usize,
        blocks: usize,
        bpf: Option<&[BpfInsn]>,
    ) -> io::Result<Self> {
        let page = 4096;
        if block_size < page || !block_size.is_multiple_of(page) || blocks == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ring block size must be a multiple of 4096 and blocks >= 1",
            ));
        }
        let fd = super::sock::open_packet_socket()?;
        let mut ring = Self {
            fd,
            map: std::ptr::null_mut(),
            len: 0,
            block_size,
            blocks,
            cur: 0,
        };
        if let Some(prog) = bpf {
            super::sock::attach_filter(fd, prog)?;
        }
        setsockopt(fd, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V3)?;
        let frame = 2048u32;
        let req = TpacketReq3 {
            block_size: u32::try_from(block_size)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "block too large"))?,
            block_nr: u32::try_from(blocks)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many blocks"))?,
            frame_size: frame,
            frame_nr: u32::try_from(block_size * blocks / frame as usize).unwrap_or(u32::MAX),
            retire_blk_tov: 50,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        setsockopt(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
        let len = block_size * blocks;
        // SAFETY: mapping the ring the kernel just allocated for `fd`; the
        // result is checked against MAP_FAILED.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        ring.map = map.cast();
        ring.len = len;
        // SAFETY: zeroed sockaddr_ll is a valid value; fields set below.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = i32::try_from(ifindex).unwrap_or(0);
        // SAFETY: `addr` is a valid sockaddr_ll and its size is passed.
        check(unsafe {
            libc::bind(
                fd,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        if promiscuous {
            let mreq = PacketMreq {
                ifindex: addr.sll_ifindex,
                kind: libc::PACKET_MR_PROMISC as u16,
                alen: 0,
                address: [0; 8],
            };
            setsockopt(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)?;
        }
        Ok(ring)
    }

    fn block(&self, i: usize) -> *mut u8 {
        // SAFETY: i < blocks, so the result stays inside the mapping.
        unsafe { self.map.add(i * self.block_size) }
    }

    fn read_u32(&self, base: *mut u8, off: usize) -> u32 {
        debug_assert!(off + 4 <= self.block_size);
        // SAFETY: callers check `off + 4 <= block_size`; the block is mapped.
        unsafe { std::ptr::read_volatile(base.add(off).cast::<u32>()) }
    }

    /// Waits up to `timeout_ms` for the next block, calls
    /// `f(ts_ns, packet_type, frame)` for each packet in it and returns the
    /// block to the kernel. Returns how many packets were read (0 on
    /// timeout).
    pub fn next_block(
        &mut self,
        timeout_ms: i32,
        mut f: impl FnMut(i64, u8, &[u8]),
    ) -> io::Result<usize> {
        let base = self.block(self.cur);
        if self.read_u32(base, BLOCK_STATUS) & TP_STATUS_USER == 0 {
            let mut pfd = libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN | libc::POLLERR,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                return if e.kind() == io::ErrorKind::Interrupted {
                    Ok(0)
                } else {
                    Err(e)
                };
            }
            if self.read_u32(base, BLOCK_STATUS) & TP_STATUS_USER == 0 {
                return Ok(0);
            }
        }
        fence(Ordering::Acquire);
        let num = self.read_u32(base, BLOCK_NUM_PKTS) as usize;
        let mut off = self.read_u32(base, BLOCK_FIRST) as usize;
        let mut read = 0;
        for _ in 0..num {
            if off + PKT_HDR_MIN > self.block_size {
                break;
            }
            let next = self.read_u32(base, off + PKT_NEXT) as usize;
            let sec = self.read_u32(base, off + PKT_SEC);
            let nsec = self.read_u32(base, off + PKT_NSEC);
            let snap = self.read_u32(base, off + PKT_SNAPLEN) as usize;
            // SAFETY: off + PKT_HDR_MIN <= block_size was checked.
            let mac = usize::from(unsafe {
                std::ptr::read_volatile(base.add(off + PKT_MAC).cast::<u16>())
            });
            // SAFETY: off + PKT_HDR_MIN <= block_size was checked.
            let pkttype = unsafe { std::ptr::read_volatile(base.add(off + PKT_SLL_PKTTYPE)) };
            let start = off + mac;
            if start + snap > self.block_size {
                break;
            }
            // SAFETY: [start, start + snap) lies inside this block, which the
            // kernel has handed to us until we set TP_STATUS_KERNEL below.
            let frame = unsafe { std::slice::from_raw_parts(base.add(start), snap) };
            f(
                i64::from(sec) * 1_000_000_000 + i64::from(nsec),
                pkttype,
                frame,
            );
            read += 1;
            if next == 0 {
                break;
            }
            off += next;
        }
        fence(Ordering::Release);
        // SAFETY: BLOCK_STATUS + 4 <= block_size; handing the block back.
        unsafe { std::ptr::write_volatile(base.add(BLOCK_STATUS).cast::<u32>(), TP_STATUS_KERNEL) };
        self.cur = (self.cur + 1) % self.blocks;
        Ok(read)
    }

    /// Packets dropped by the kernel since the last call.
    pub fn drops(&self) -> io::Result<u64> {
        let mut st = TpacketStatsV3 {
            packets: 0,
            drops: 0,
            freeze_q_cnt: 0,
        };
        let mut len = std::mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
        // SAFETY: `st` and `len` are valid for writes of the declared size.
        check(unsafe {
            libc::getsockopt(
                self.fd,
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut TpacketStatsV3).cast(),
                &mut len,
            )
        })?;
        Ok(u64::from(st.drops))
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping and closing our own descriptor.
        unsafe {
            if !self.map.is_null() {
                libc::munmap(self.map.cast(), self.len);
            }
            libc::close(self.fd);
        }
    }
}
