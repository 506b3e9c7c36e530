//! What the console's Sites and Agents views show besides the store: the
//! latest remote check of each page from each agent, and each agent's
//! capture health. Kept in memory from accepted events, beside (not inside)
//! the detector.

use std::collections::BTreeMap;
use std::sync::Mutex;

use shouwang_proto::{Event, EventBody, SiteCheck};

/// Pages × agents kept at most (older ones are dropped first).
pub const MAX_SITES: usize = 10_000;

pub use shouwang_proto::api::{CaptureStatus, SiteStatus};

/// Days of certificate life below which a site is degraded.
const TLS_WARN_DAYS: i64 = 14;

/// A site status from a check seen by `agent` at `ts`.
pub fn site_status(agent: &str, ts: i64, c: &SiteCheck) -> SiteStatus {
    let mut f = Vec::new();
    if c.defacement_score >= 0.5 || c.title_changed || !c.defacement_signs.is_empty() {
        f.push("defaced");
    }
    if !c.hidden_links.is_empty() {
        f.push("hidden-links");
    }
    if c.cloaking {
        f.push("cloaking");
    }
    if !c.sensitive_words.is_empty() {
        f.push("sensitive-words");
    }
    if !c.new_script_domains.is_empty() {
        f.push("new-scripts");
    }
    if !c.dns_unexpected.is_empty() {
        f.push("dns-hijack");
    }
    if c.tls_error.is_some() {
        f.push("tls-error");
    } else if c.tls_days_left.is_some_and(|d| d < TLS_WARN_DAYS) {
        f.push("tls-expiring");
    }
    if c.slo_failing {
        f.push("slo-failing");
    }
    let state = if !c.up {
        "down"
    } else if f.is_empty() {
        "up"
    } else {
        "degraded"
    };
    SiteStatus {
        url: c.url.clone(),
        site: c.site.clone(),
        agent: agent.to_owned(),
        ts,
        state: state.to_owned(),
        up: c.up,
        status: c.status,
        error: c.error.clone(),
        response_ms: c.response_ms,
        tls_days_left: c.tls_days_left,
        defacement_score: c.defacement_score,
        slo_success_ratio: c.slo_success_ratio,
        findings: f.into_iter().map(str::to_owned).collect(),
    }
}

/// Latest check per (url, agent).
#[derive(Debug, Default)]
pub struct SiteBoard {
    sites: BTreeMap<(String, String), SiteStatus>,
}

impl SiteBoard {
    /// Takes the site checks among `events` (a later check replaces an
    /// earlier one; an older one arriving late is ignored).
    pub fn observe(&mut self, agent: &str, events: &[&Event]) {
        for e in events {
            let EventBody::SiteCheck(c) = &e.body else {
                continue;
            };
            let key = (c.url.clone(), agent.to_owned());
            if self.sites.get(&key).is_some_and(|s| s.ts > e.ts.0) {
                continue;
            }
            self.sites.insert(key, site_status(agent, e.ts.0, c));
            if self.sites.len() > MAX_SITES
                && let Some(oldest) = self
                    .sites
                    .iter()
                    .min_by_key(|(_, s)| s.ts)
                    .map(|(k, _)| k.clone())
            {
                self.sites.remove(&oldest);
            }
        }
    }

    pub fn list(&self) -> Vec<SiteStatus> {
        self.sites.values().cloned().collect()
    }
}

/// Agents whose capture is tracked at most (more are ignored).
pub const MAX_CAPTURE_AGENTS: usize = 100_000;

/// Capture health per agent.
#[derive(Debug, Default)]
pub struct CaptureBoard {
    agents: BTreeMap<String, (CaptureStatus, BTreeMap<String, f64>)>,
}

impl CaptureBoard {
    /// Adds the `iface_stats` among `events`.
    pub fn observe(&mut self, agent: &str, events: &[&Event]) {
        for e in events {
            let EventBody::IfaceStats(s) = &e.body else {
                continue;
            };
            if !self.agents.contains_key(agent) && self.agents.len() >= MAX_CAPTURE_AGENTS {
                return;
            }
            let (c, rates) = self.agents.entry(agent.to_owned()).or_default();
            c.packets = c.packets.saturating_add(s.packets);
            c.kernel_drops = c.kernel_drops.saturating_add(s.kernel_drops);
            c.agent_drops = c.agent_drops.saturating_add(s.agent_drops);
            if e.ts.0 >= c.last_ts {
                c.last_ts = e.ts.0;
                if rates.len() < 64 || rates.contains_key(&s.iface) {
                    rates.insert(s.iface.clone(), s.packets_per_sec);
                }
                c.packets_per_sec = rates.values().sum();
            }
        }
    }

    pub fn get(&self, agent: &str) -> Option<CaptureStatus> {
        self.agents.get(agent).map(|(c, _)| *c)
    }
}

/// Both boards, shared by ingest (which feeds them) and the API (which
/// reads them).
#[derive(Debug, Default)]
pub struct Boards {
    /// Latest remote check of each page from each agent.
    pub sites: Mutex<SiteBoard>,
    /// Capture drops and rates per agent.
    pub captures: Mutex<CaptureBoard>,
}

impl Boards {
    /// Keeps the latest site checks for the sites view and capture health
    /// for the agents view.
    pub fn observe(&self, agent: &str, events: &[&Event]) {
        if events
            .iter()
            .any(|e| e.kind() == shouwang_proto::EventKind::IfaceStats)
            && let Ok(mut b) = self.captures.lock()
        {
            b.observe(agent, events);
        }
        if !events
            .iter()
            .any(|e| e.kind() == shouwang_proto::EventKind::SiteCheck)
        {
            return;
        }
        if let Ok(mut b) = self.sites.lock() {
            b.observe(agent, events);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shouwang_proto::Timestamp;

    fn check(url: &str, f: impl FnOnce(&mut SiteCheck)) -> SiteCheck {
        let mut c = SiteCheck::new(url);
        c.up = true;
        c.status = Some(200);
        c.tls_days_left = Some(200);
        f(&mut c);
        c
    }

    #[test]
    fn the_board_keeps_the_latest_check_per_page_and_agent_with_its_state() {
        let mut b = SiteBoard::default();
        let e1 = Event::new(
            Timestamp(10),
            EventBody::SiteCheck(Box::new(check("https://a/", |_| {}))),
        );
        let e2 = Event::new(
            Timestamp(20),
            EventBody::SiteCheck(Box::new(check("https://a/", |c| {
                c.hidden_links = vec!["http://x/".into()];
                c.tls_days_left = Some(3);
            }))),
        );
        let e3 = Event::new(
            Timestamp(15),
            EventBody::SiteCheck(Box::new(check("https://b/", |c| {
                c.up = false;
                c.error = Some("timeout".into());
            }))),
        );
        b.observe("probe-1", &[&e1, &e2, &e3]);
        // A late, older check does not replace a newer one.
        b.observe("probe-1", &[&e1]);
        b.observe("probe-2", &[&e1]);
        let l = b.list();
        assert_eq!(l.len(), 3);
        assert_eq!(
            (l[0].url.as_str(), l[0].agent.as_str()),
            ("https://a/", "probe-1")
        );
        assert_eq!(l[0].state, "degraded");
        assert_eq!(l[0].findings, ["hidden-links", "tls-expiring"]);
        assert_eq!(
            (l[1].agent.as_str(), l[1].state.as_str()),
            ("probe-2", "up")
        );
        assert_eq!(l[2].state, "down");
    }

    #[test]
    fn capture_drops_add_up_per_agent_and_the_rate_is_the_latest_per_interface() {
        use shouwang_proto::IfaceStats;
        let stats = |iface: &str, ts: i64, pps: f64, kd: u64, ad: u64| {
            Event::new(
                Timestamp(ts),
                EventBody::IfaceStats(IfaceStats {
                    iface: iface.into(),
                    interval_ms: 10_000,
                    packets: 100,
                    bytes: 6400,
                    packets_per_sec: pps,
                    bits_per_sec: 0.0,
                    syn: 0,
                    syn_per_sec: 0.0,
                    kernel_drops: kd,
                    agent_drops: ad,
                    malformed: 0,
                    flow_evictions: 0,
                }),
            )
        };
        let mut b = CaptureBoard::default();
        let (a, c, d) = (
            stats("eth0", 10, 10.0, 3, 0),
            stats("eth1", 11, 5.0, 0, 2),
            stats("eth0", 20, 7.0, 4, 1),
        );
        b.observe("h1", &[&a, &c]);
        b.observe("h1", &[&d]);
        let s = b.get("h1").unwrap();
        assert_eq!((s.packets, s.kernel_drops, s.agent_drops), (300, 7, 3));
        assert_eq!(s.last_ts, 20);
        assert!((s.packets_per_sec - 12.0).abs() < 1e-9);
        assert_eq!(b.get("h2"), None);
    }
}
