//! Listening TCP and bound UDP sockets with their owning process, and the
//! changes between two readings.
//!
//! Sockets come from `/proc/net/{tcp,tcp6,udp,udp6}`. Owners are found by
//! matching socket inodes against `/proc/PID/fd`; that walk is the costly
//! part, so it runs only when a listening inode is not in the cache. Without
//! the right to read other users' descriptors the owner stays unknown and the
//! agent says so once (see [`ListenWatcher::owner_skipped`]).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use procfs::net::{TcpState, UdpState};
use shouwang_proto::{ListenChange, ListenSocket, SocketChange, TransportProto};

/// Identity of a listening socket for change detection.
pub type SocketKey = (TransportProto, IpAddr, u16);

/// A socket as read from /proc, before owner lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSocket {
    pub proto: TransportProto,
    pub addr: IpAddr,
    pub port: u16,
    pub uid: u32,
    pub inode: u64,
}

/// Reads the kernel's socket tables.
pub fn read_listening() -> std::io::Result<Vec<RawSocket>> {
    let mut out = Vec::new();
    let tcp = procfs::net::tcp()
        .into_iter()
        .chain(procfs::net::tcp6())
        .flatten();
    for e in tcp {
        if e.state == TcpState::Listen {
            out.push(RawSocket {
                proto: TransportProto::Tcp,
                addr: e.local_address.ip(),
                port: e.local_address.port(),
                uid: e.uid,
                inode: e.inode,
            });
        }
    }
    let udp = procfs::net::udp()
        .into_iter()
        .chain(procfs::net::udp6())
        .flatten();
    for e in udp {
        // Unconnected UDP sockets (remote 0:0) are the "listening" ones.
        if e.state == UdpState::Close && e.remote_address.port() == 0 && e.local_address.port() != 0
        {
            out.push(RawSocket {
                proto: TransportProto::Udp,
                addr: e.local_address.ip(),
                port: e.local_address.port(),
                uid: e.uid,
                inode: e.inode,
            });
        }
    }
    Ok(out)
}

/// Maps socket inodes to `(pid, command name)` by walking `/proc/*/fd`.
/// Returns the map and whether any process's descriptors were unreadable.
pub fn socket_owners() -> (HashMap<u64, (u32, String)>, bool) {
    let mut owners = HashMap::new();
    let mut denied = false;
    let Ok(procs) = procfs::process::all_processes() else {
        return (owners, true);
    };
    for p in procs.flatten() {
        let Ok(fds) = p.fd() else {
            denied = true;
            continue;
        };
        let mut name = None;
        for fd in fds.flatten() {
            if let procfs::process::FDTarget::Socket(inode) = fd.target {
                let name = name.get_or_insert_with(|| p.stat().map(|s| s.comm).unwrap_or_default());
                owners.insert(
                    inode,
                    (u32::try_from(p.pid).unwrap_or_default(), name.clone()),
                );
            }
        }
    }
    (owners, denied)
}

/// Keeps the previous reading and reports what opened and closed.
#[derive(Debug, Default)]
pub struct ListenWatcher {
    previous: Option<BTreeMap<SocketKey, ListenSocket>>,
    owners: HashMap<u64, (u32, String)>,
    /// Inodes a walk did not find an owner for (another namespace, or
    /// unreadable): not worth another walk until a new inode shows up.
    ownerless: std::collections::HashSet<u64>,
    owner_denied: bool,
}

impl ListenWatcher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a reading from /proc.
    pub fn refresh(&mut self) -> std::io::Result<(Vec<ListenSocket>, Vec<ListenChange>)> {
        let raw = read_listening()?;
        if raw
            .iter()
            .any(|s| !self.owners.contains_key(&s.inode) && !self.ownerless.contains(&s.inode))
        {
            let (owners, denied) = socket_owners();
            self.owners = owners;
            self.owner_denied = denied;
            self.ownerless = raw
                .iter()
                .map(|s| s.inode)
                .filter(|i| !self.owners.contains_key(i))
                .collect();
        }
        Ok(self.update(raw))
    }

    /// Whether owners may be missing because descriptors were unreadable.
    pub fn owner_skipped(&self) -> bool {
        self.owner_denied
    }

    /// Applies a reading (pure: testable without /proc).
    pub fn update(&mut self, raw: Vec<RawSocket>) -> (Vec<ListenSocket>, Vec<ListenChange>) {
        let mut now = BTreeMap::new();
        for s in raw {
            let owner = self.owners.get(&s.inode);
            now.entry((s.proto, s.addr, s.port))
                .or_insert(ListenSocket {
                    proto: s.proto,
                    addr: s.addr,
                    port: s.port,
                    pid: owner.map(|o| o.0),
                    process: owner.map(|o| o.1.clone()),
                    uid: Some(s.uid),
                });
        }
        let mut changes = Vec::new();
        if let Some(prev) = &self.previous {
            for (k, s) in &now {
                if !prev.contains_key(k) {
                    changes.push(ListenChange {
                        change: SocketChange::Opened,
                        socket: s.clone(),
                    });
                }
            }
            for (k, s) in prev {
                if !now.contains_key(k) {
                    changes.push(ListenChange {
                        change: SocketChange::Closed,
                        socket: s.clone(),
                    });
                }
            }
        }
        let all = now.values().cloned().collect();
        self.previous = Some(now);
        (all, changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(proto: TransportProto, port: u16, inode: u64) -> RawSocket {
        RawSocket {
            proto,
            addr: "0.0.0.0".parse().unwrap(),
            port,
            uid: 0,
            inode,
        }
    }

    #[test]
    fn first_reading_has_no_changes_then_diffs() {
        let mut w = ListenWatcher::new();
        w.owners.insert(1, (10, "sshd".into()));
        let (all, ch) = w.update(vec![
            raw(TransportProto::Tcp, 22, 1),
            raw(TransportProto::Udp, 53, 2),
        ]);
        assert_eq!(all.len(), 2);
        assert!(ch.is_empty());
        assert_eq!(
            all.iter()
                .find(|s| s.port == 22)
                .unwrap()
                .process
                .as_deref(),
            Some("sshd")
        );
        let (_, ch) = w.update(vec![
            raw(TransportProto::Tcp, 22, 1),
            raw(TransportProto::Tcp, 4444, 3),
        ]);
        assert_eq!(ch.len(), 2);
        assert!(
            ch.iter()
                .any(|c| c.change == SocketChange::Opened && c.socket.port == 4444)
        );
        assert!(
            ch.iter()
                .any(|c| c.change == SocketChange::Closed && c.socket.port == 53)
        );
    }

    #[test]
    fn reads_this_hosts_tables() {
        // A listener the test owns must be seen, with this process as owner.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let mut w = ListenWatcher::new();
        let (all, _) = w.refresh().unwrap();
        let mine = all
            .iter()
            .find(|s| s.proto == TransportProto::Tcp && s.port == port)
            .expect("own listener listed");
        assert_eq!(mine.pid, Some(std::process::id()));
        drop(l);
        let (_, ch) = w.refresh().unwrap();
        assert!(
            ch.iter()
                .any(|c| c.change == SocketChange::Closed && c.socket.port == port)
        );
    }
}
