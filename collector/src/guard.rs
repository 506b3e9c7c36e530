//! Failed-authentication bookkeeping per peer address: a peer with too many
//! refusals in a window is blocked for a while. Pure (times are passed in);
//! the HTTP middleware that logs, counts and answers is `api::guard`.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

/// Peers tracked at most (the oldest are forgotten beyond this).
const MAX_PEERS: usize = 10_000;

#[derive(Debug, Default)]
struct Peer {
    failures: VecDeque<i64>,
    blocked_until: Option<i64>,
}

/// Failed-authentication bookkeeping per peer address.
#[derive(Debug)]
pub struct AuthGuard {
    max_failures: usize,
    window_ms: i64,
    block_ms: i64,
    peers: Mutex<HashMap<IpAddr, Peer>>,
}

impl AuthGuard {
    pub fn new(max_failures: usize, window_ms: i64, block_ms: i64) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window_ms,
            block_ms,
            peers: Mutex::new(HashMap::new()),
        }
    }

    fn peers(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Peer>> {
        self.peers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Milliseconds until `ip` may try again, if it is blocked at `now`.
    pub fn blocked(&self, ip: IpAddr, now: i64) -> Option<i64> {
        let peers = self.peers();
        let until = peers.get(&ip)?.blocked_until?;
        (until > now).then_some(until - now)
    }

    /// Records a failure; true if it blocked the peer.
    pub fn failed(&self, ip: IpAddr, now: i64) -> bool {
        let mut peers = self.peers();
        if peers.len() >= MAX_PEERS && !peers.contains_key(&ip) {
            // Forget peers with nothing recent before making room.
            let cutoff = now - self.window_ms;
            peers.retain(|_, p| {
                p.blocked_until.is_some_and(|u| u > now)
                    || p.failures.back().is_some_and(|&t| t > cutoff)
            });
            if peers.len() >= MAX_PEERS {
                return false;
            }
        }
        let p = peers.entry(ip).or_default();
        p.failures.push_back(now);
        while p
            .failures
            .front()
            .is_some_and(|&t| t <= now - self.window_ms)
        {
            p.failures.pop_front();
        }
        if p.failures.len() >= self.max_failures {
            p.failures.clear();
            p.blocked_until = Some(now + self.block_ms);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_too_many_failures_in_the_window_then_forgives() {
        let g = AuthGuard::new(3, 60_000, 300_000);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(!g.failed(ip, 0));
        assert!(!g.failed(ip, 30_000));
        // The first failure left the window: still two.
        assert!(!g.failed(ip, 61_000));
        assert_eq!(g.blocked(ip, 61_000), None);
        assert!(g.failed(ip, 62_000), "third within a minute blocks");
        assert_eq!(g.blocked(ip, 62_000), Some(300_000));
        assert_eq!(g.blocked(other, 62_000), None, "per peer");
        assert_eq!(g.blocked(ip, 362_000), None, "block expires");
        assert!(!g.failed(ip, 362_001), "and the count starts again");
    }
}
