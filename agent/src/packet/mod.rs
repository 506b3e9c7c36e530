//! Packet capture, the agent's edge of the packet core: capture → parse →
//! aggregate.
//!
//! Only [`live`] touches the network (sockets, the TPACKET_V3 ring);
//! [`file`] opens capture files by path. Decoding, the flow table, protocol
//! metadata, sampling decisions and the pcap/pcapng formats are
//! `shouwang_packet`, on bytes only; both edges feed the same
//! [`shouwang_packet::Analyzer`], so a capture of an attack replays exactly
//! like the attack.

pub mod file;
pub mod live;
