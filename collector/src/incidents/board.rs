//! What the console's Rules and Sites views show: each rule with its
//! counters, and the latest remote check of each page from each agent.

use std::collections::BTreeMap;

use serde::Serialize;
use shouwang_proto::{Event, EventBody, SiteCheck};

/// Pages × agents kept at most (older ones are dropped first).
pub const MAX_SITES: usize = 10_000;

/// The latest check of a page from one agent.
#[derive(Debug, Clone, Serialize)]
pub struct SiteStatus {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    pub agent: String,
    /// Event time of the check, ns since the epoch.
    pub ts: i64,
    /// `up`, `degraded` (up with findings, or a certificate within 14 days
    /// of expiry) or `down`.
    pub state: &'static str,
    pub up: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub response_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_days_left: Option<i64>,
    pub defacement_score: f64,
    pub slo_success_ratio: f64,
    /// Open findings, short: `defaced`, `hidden-links`, `cloaking`,
    /// `sensitive-words`, `new-scripts`, `dns-hijack`, `tls-error`,
    /// `tls-expiring`, `slo-failing`.
    pub findings: Vec<&'static str>,
}

/// Days of certificate life below which a site is degraded.
const TLS_WARN_DAYS: i64 = 14;

impl SiteStatus {
    pub fn of(agent: &str, ts: i64, c: &SiteCheck) -> Self {
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
        Self {
            url: c.url.clone(),
            site: c.site.clone(),
            agent: agent.to_owned(),
            ts,
            state,
            up: c.up,
            status: c.status,
            error: c.error.clone(),
            response_ms: c.response_ms,
            tls_days_left: c.tls_days_left,
            defacement_score: c.defacement_score,
            slo_success_ratio: c.slo_success_ratio,
            findings: f,
        }
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
            self.sites.insert(key, SiteStatus::of(agent, e.ts.0, c));
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
        assert_eq!((l[1].agent.as_str(), l[1].state), ("probe-2", "up"));
        assert_eq!(l[2].state, "down");
    }
}
