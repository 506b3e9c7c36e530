//! Remote checks of public pages, as a visitor and as a search-engine
//! crawler sees them: availability and latency, certificate, DNS answers,
//! defacement against a learned baseline, hidden links, cloaking,
//! sensitive words, new script domains, and a daily availability SLO.
//!
//! Each check of a site yields one `site_check` event. The first successful
//! fetch of a page becomes its content baseline, kept with the last
//! certificate fingerprint and the SLO history in
//! `STATE/sites/<first 16 hex of BLAKE3(url)>.json`; remove that file to
//! learn the page anew (after a redesign).

pub mod lexicon;
pub mod net;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use shouwang_proto::{Event, EventBody, SiteCheck, Timestamp};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::lexicon::{DEFACEMENT, Lexicon};
use shouwang_page::{Fingerprint, Page, PageRules};

/// User agent of the visitor fetch.
pub const BROWSER_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// Crawler names and the user agents they send.
pub const CRAWLERS: &[(&str, &str)] = &[
    (
        "Baiduspider",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    ),
    (
        "Sogou",
        "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
    ),
    (
        "360Spider",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/50.0.2661.102 Safari/537.36; 360Spider",
    ),
    (
        "Googlebot",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ),
];

/// Checks running at once across all sites.
const MAX_CONCURRENT: usize = 64;
/// The SLO history is written at least this often (in checks).
const SAVE_EVERY_CHECKS: u64 = 10;
/// SLO history kept.
const SLO_WINDOW_SECS: i64 = 86_400;

/// One checked page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SiteConfig {
    /// The page (`https://www.example.gov.cn/`).
    pub url: String,
    /// Site name, matching `site` of the web root that serves it.
    #[serde(default)]
    pub site: Option<String>,
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Whole-fetch timeout (connect, TLS, headers, body).
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Status codes that count as up (after redirects); empty: any 2xx.
    #[serde(default)]
    pub expect_status: Vec<u16>,
    /// The site's own domains (and their subdomains); links elsewhere that
    /// are hidden are reported. Default: the URL's host.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// CSS selectors of dynamic parts left out of the comparison.
    #[serde(default)]
    pub ignore_selectors: Vec<String>,
    /// Regular expressions of dynamic text left out of the comparison
    /// (digits are already folded).
    #[serde(default)]
    pub ignore_patterns: Vec<String>,
    /// Crawlers whose view is compared with a browser's, one per check in
    /// turn: `Baiduspider`, `Sogou`, `360Spider`, `Googlebot`. Empty list:
    /// no cloaking check.
    #[serde(default = "default_crawlers")]
    pub crawlers: Vec<String>,
    /// DNS servers asked for the host (`ip:port` or `ip`); empty: no DNS
    /// check.
    #[serde(default)]
    pub resolvers: Vec<String>,
    /// Addresses the host may resolve to.
    #[serde(default)]
    pub expect_addrs: Vec<IpAddr>,
    /// CNAME targets the host may have.
    #[serde(default)]
    pub expect_cnames: Vec<String>,
    /// Connect here instead of resolving the host (like curl --resolve):
    /// check one server behind a balancer, or a test server.
    #[serde(default)]
    pub connect_to: Option<SocketAddr>,
    /// PEM file of extra trusted CA certificates (an internal CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Share of the page that must be new to count as replaced (0 to 1).
    #[serde(default = "default_replaced")]
    pub replaced_at: f64,
    /// A probe slower than this counts as failed for the SLO.
    #[serde(default = "default_slo_latency", with = "humantime_serde")]
    pub slo_latency: Duration,
    /// Failure share over a day above which the site fails its SLO.
    #[serde(default = "default_slo_failures")]
    pub slo_max_failures: f64,
    /// Probes a day needed before the SLO is judged.
    #[serde(default = "default_slo_probes")]
    pub slo_min_probes: u32,
    /// Largest body read.
    #[serde(default = "default_max_body")]
    pub max_body: usize,
}

fn default_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_timeout() -> Duration {
    Duration::from_secs(15)
}
fn default_crawlers() -> Vec<String> {
    CRAWLERS.iter().map(|(n, _)| (*n).to_owned()).collect()
}
fn default_replaced() -> f64 {
    0.5
}
fn default_slo_latency() -> Duration {
    Duration::from_secs(15)
}
fn default_slo_failures() -> f64 {
    0.05
}
fn default_slo_probes() -> u32 {
    20
}
fn default_max_body() -> usize {
    4 * 1024 * 1024
}

impl SiteConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            site: None,
            interval: default_interval(),
            timeout: default_timeout(),
            expect_status: Vec::new(),
            allowed_domains: Vec::new(),
            ignore_selectors: Vec::new(),
            ignore_patterns: Vec::new(),
            crawlers: default_crawlers(),
            resolvers: Vec::new(),
            expect_addrs: Vec::new(),
            expect_cnames: Vec::new(),
            connect_to: None,
            ca_file: None,
            replaced_at: default_replaced(),
            slo_latency: default_slo_latency(),
            slo_max_failures: default_slo_failures(),
            slo_min_probes: default_slo_probes(),
            max_body: default_max_body(),
        }
    }

    fn parsed_url(&self) -> anyhow::Result<url::Url> {
        let u = url::Url::parse(&self.url)
            .with_context(|| format!("integrity.sites: url {:?} is not a URL", self.url))?;
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
            anyhow::bail!(
                "integrity.sites: url {:?} must be http(s)://host/…",
                self.url
            );
        }
        Ok(u)
    }

    fn resolver_addrs(&self) -> anyhow::Result<Vec<SocketAddr>> {
        self.resolvers
            .iter()
            .map(|r| {
                r.parse::<SocketAddr>()
                    .or_else(|_| r.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                    .with_context(|| {
                        format!(
                            "integrity.sites {}: resolver {r:?} is not ip or ip:port",
                            self.url
                        )
                    })
            })
            .collect()
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.parsed_url()?;
        self.resolver_addrs()?;
        self.rules()?;
        for c in &self.crawlers {
            if !CRAWLERS.iter().any(|(n, _)| n == c) {
                anyhow::bail!(
                    "integrity.sites {}: unknown crawler {c:?} (known: Baiduspider, Sogou, 360Spider, Googlebot)",
                    self.url
                );
            }
        }
        if self.interval < Duration::from_secs(1) || self.timeout.is_zero() {
            anyhow::bail!(
                "integrity.sites {}: interval must be at least 1s and timeout above 0",
                self.url
            );
        }
        if !(0.0..=1.0).contains(&self.replaced_at) || !(0.0..=1.0).contains(&self.slo_max_failures)
        {
            anyhow::bail!(
                "integrity.sites {}: replaced-at and slo-max-failures are between 0 and 1",
                self.url
            );
        }
        Ok(())
    }

    /// The analysis rules of this site.
    pub fn rules(&self) -> anyhow::Result<PageRules> {
        let u = self.parsed_url()?;
        let mut allowed: Vec<String> = self
            .allowed_domains
            .iter()
            .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        if allowed.is_empty() {
            allowed.push(u.host_str().unwrap_or_default().to_ascii_lowercase());
        }
        let ignore = self
            .ignore_selectors
            .iter()
            .map(|s| {
                shouwang_page::Selector::parse(s).map_err(|e| {
                    anyhow::anyhow!("integrity.sites {}: ignore selector {s:?}: {e}", self.url)
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let ignore_patterns = self
            .ignore_patterns
            .iter()
            .map(|p| {
                shouwang_page::Regex::new(p)
                    .with_context(|| format!("integrity.sites {}: ignore pattern {p:?}", self.url))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(PageRules {
            allowed_domains: allowed,
            ignore,
            ignore_patterns,
        })
    }
}

/// What is remembered about a site between checks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SiteState {
    #[serde(default)]
    pub baseline: Option<Fingerprint>,
    #[serde(default)]
    pub tls_fingerprint: Option<String>,
    /// (unix seconds, success) of the probes in the last day.
    #[serde(default)]
    pub probes: VecDeque<(i64, bool)>,
    #[serde(default)]
    pub checks: u64,
}

impl SiteState {
    pub fn path(state_dir: &Path, url: &str) -> PathBuf {
        let id = blake3::hash(url.as_bytes()).to_hex();
        state_dir
            .join("sites")
            .join(format!("{}.json", &id.as_str()[..16]))
    }

    pub fn load(path: &Path) -> Self {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                warn!(path = %path.display(), "site state unreadable ({e}); learning the page anew");
                Self::default()
            }),
            Err(_) => Self::default(),
        }
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        let bytes = serde_json::to_vec(self)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// A site with everything its checks need.
#[derive(Debug)]
pub struct Site {
    pub cfg: SiteConfig,
    url: url::Url,
    rules: PageRules,
    resolvers: Vec<SocketAddr>,
    client: reqwest::Client,
    lexicon: Arc<Lexicon>,
    state_path: PathBuf,
    pub state: SiteState,
    /// The baseline or certificate changed since the last save.
    dirty: bool,
    /// Lexicon terms on the visitor's page at this check.
    visitor_terms: BTreeSet<String>,
    /// Lexicon terms in the baseline's text sample (computed once).
    baseline_terms: Option<BTreeSet<String>>,
    /// Skeleton hash of the last analysed visitor page and its findings.
    last: Option<(u64, SiteCheck)>,
}

/// Copies the page findings (not availability, TLS, DNS or SLO) of `from`.
fn copy_findings(from: &SiteCheck, to: &mut SiteCheck) {
    to.title.clone_from(&from.title);
    to.text_change = from.text_change;
    to.structure_change = from.structure_change;
    to.defacement_score = from.defacement_score;
    to.title_changed = from.title_changed;
    to.defacement_signs.clone_from(&from.defacement_signs);
    to.hidden_links.clone_from(&from.hidden_links);
    to.hidden_link_methods.clone_from(&from.hidden_link_methods);
    to.sensitive_words.clone_from(&from.sensitive_words);
    to.sensitive_categories
        .clone_from(&from.sensitive_categories);
    to.new_script_domains.clone_from(&from.new_script_domains);
}

/// Builds the HTTP client for sites sharing a CA file.
fn client_for(
    cfg: &SiteConfig,
    resolve: &[(String, SocketAddr)],
) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
        .timeout(cfg.timeout)
        .tls_info(true)
        .redirect(reqwest::redirect::Policy::limited(5))
        .pool_idle_timeout(Duration::from_secs(90));
    for (host, addr) in resolve {
        b = b.resolve(host, *addr);
    }
    if let Some(ca) = &cfg.ca_file {
        let pem =
            std::fs::read(ca).with_context(|| format!("cannot read ca-file {}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("ca-file {} holds no PEM certificates", ca.display()))?;
        b = b.tls_certs_merge(certs);
    }
    b.build().context("building the HTTP client")
}

impl Site {
    /// Prepares every configured site; sites sharing a CA file share an
    /// HTTP client (and its connection pool).
    pub fn prepare(
        sites: &[SiteConfig],
        lexicon: Arc<Lexicon>,
        state_dir: &Path,
    ) -> anyhow::Result<Vec<Site>> {
        let mut by_ca: HashMap<Option<PathBuf>, Vec<(String, SocketAddr)>> = HashMap::new();
        for s in sites {
            let u = s.parsed_url()?;
            let entry = by_ca.entry(s.ca_file.clone()).or_default();
            if let Some(addr) = s.connect_to {
                entry.push((u.host_str().unwrap_or_default().to_owned(), addr));
            }
        }
        let mut clients: HashMap<Option<PathBuf>, reqwest::Client> = HashMap::new();
        let mut out = Vec::with_capacity(sites.len());
        for s in sites {
            let client = match clients.get(&s.ca_file) {
                Some(c) => c.clone(),
                None => {
                    let c = client_for(s, by_ca.get(&s.ca_file).map_or(&[][..], Vec::as_slice))?;
                    clients.insert(s.ca_file.clone(), c.clone());
                    c
                }
            };
            let state_path = SiteState::path(state_dir, &s.url);
            out.push(Site {
                url: s.parsed_url()?,
                rules: s.rules()?,
                resolvers: s.resolver_addrs()?,
                client,
                lexicon: lexicon.clone(),
                state: SiteState::load(&state_path),
                state_path,
                dirty: false,
                visitor_terms: BTreeSet::new(),
                baseline_terms: None,
                last: None,
                cfg: s.clone(),
            });
        }
        Ok(out)
    }

    fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// Runs one check. `now_unix` is the check's wall time (injected so
    /// certificate days and the SLO window are testable).
    pub async fn check(&mut self, now_unix: i64) -> SiteCheck {
        let mut out = SiteCheck::new(&self.cfg.url);
        out.site.clone_from(&self.cfg.site);
        self.state.checks += 1;

        // DNS, from every configured resolver.
        if !self.resolvers.is_empty() {
            let mut addrs = BTreeSet::new();
            let mut unexpected = BTreeSet::new();
            for r in &self.resolvers {
                match net::resolve(
                    *r,
                    self.host(),
                    self.cfg.timeout.min(Duration::from_secs(5)),
                )
                .await
                {
                    Ok(ans) => {
                        for a in &ans.addrs {
                            addrs.insert(a.to_string());
                            if !self.cfg.expect_addrs.is_empty()
                                && !self.cfg.expect_addrs.contains(a)
                            {
                                unexpected.insert(a.to_string());
                            }
                        }
                        for c in &ans.cnames {
                            let known = self
                                .cfg
                                .expect_cnames
                                .iter()
                                .any(|e| e.trim_end_matches('.').eq_ignore_ascii_case(c));
                            if !self.cfg.expect_cnames.is_empty() && !known {
                                unexpected.insert(format!("cname:{c}"));
                            }
                        }
                    }
                    Err(e) => warn!(url = %self.cfg.url, "dns: {e}"),
                }
            }
            out.dns_addrs = addrs.into_iter().collect();
            out.dns_unexpected = unexpected.into_iter().collect();
        }

        let f = net::fetch(
            &self.client,
            &self.cfg.url,
            BROWSER_UA,
            self.cfg.timeout,
            self.cfg.max_body,
        )
        .await;
        out.status = f.status;
        out.response_ms = f.elapsed_ms;
        out.error.clone_from(&f.error);
        let status_ok = f.status.is_some_and(|s| {
            if self.cfg.expect_status.is_empty() {
                (200..300).contains(&s)
            } else {
                self.cfg.expect_status.contains(&s)
            }
        });
        out.up = f.error.is_none() && status_ok;
        if f.error.is_none() && !status_ok {
            out.error = f.status.map(|s| format!("status {s}"));
        }

        // Certificate: from the fetch, or read bare when it failed to verify.
        let mut der = f.cert_der.clone();
        if f.tls_failed {
            out.tls_error.clone_from(&f.error);
            let addr = match self.cfg.connect_to {
                Some(a) => Some(a),
                None => tokio::net::lookup_host((
                    self.host(),
                    self.url.port_or_known_default().unwrap_or(443),
                ))
                .await
                .ok()
                .and_then(|mut i| i.next()),
            };
            if let Some(addr) = addr {
                der = net::leaf_certificate(addr, self.host(), self.cfg.timeout).await;
            }
        }
        if let Some(c) = der.as_deref().and_then(|d| net::cert_facts(d, now_unix)) {
            out.tls_days_left = Some(c.days_left);
            out.tls_issuer = Some(c.issuer);
            if let Some(prev) = &self.state.tls_fingerprint
                && *prev != c.fingerprint
            {
                out.tls_changed = true;
            }
            if self.state.tls_fingerprint.as_deref() != Some(c.fingerprint.as_str()) {
                self.dirty = true;
            }
            self.state.tls_fingerprint = Some(c.fingerprint.clone());
            out.tls_fingerprint = Some(c.fingerprint);
        }

        if out.up {
            // A page that differs from the last one only in digits and long
            // hex tokens (times, counters, CSRF tokens, nonces) reads the
            // same: its findings are reused instead of parsing it again.
            let skel = shouwang_page::skeleton_hash(&f.body);
            let mut visitor: Option<Page> = None;
            match &self.last {
                Some((s, prev)) if *s == skel && self.state.baseline.is_some() => {
                    copy_findings(prev, &mut out);
                }
                _ => {
                    let p = shouwang_page::analyse(&f.body, &self.url, &self.rules);
                    self.judge_page(&p, &mut out);
                    self.last = Some((skel, out.clone()));
                    visitor = Some(p);
                }
            }
            // The crawler's view, one crawler per check in turn.
            if !self.cfg.crawlers.is_empty() {
                let i = usize::try_from(self.state.checks.saturating_sub(1)).unwrap_or(0)
                    % self.cfg.crawlers.len();
                let name = self.cfg.crawlers[i].clone();
                let ua = CRAWLERS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(BROWSER_UA, |(_, ua)| ua);
                let cf = net::fetch(
                    &self.client,
                    &self.cfg.url,
                    ua,
                    self.cfg.timeout,
                    self.cfg.max_body,
                )
                .await;
                // The crawler got the visitor's page (up to digits and
                // tokens): nothing can be shown only to it.
                if cf.error.is_none() && shouwang_page::skeleton_hash(&cf.body) != skel {
                    let vpage = visitor
                        .unwrap_or_else(|| shouwang_page::analyse(&f.body, &self.url, &self.rules));
                    let cpage = shouwang_page::analyse(&cf.body, &self.url, &self.rules);
                    let terms = self.cloaked(&vpage, &cpage);
                    if !terms.is_empty() {
                        out.cloaking = true;
                        out.cloaking_agent = Some(name);
                        out.cloaking_terms = terms;
                    }
                }
            }
        }

        // Availability SLO over the last day.
        let ok = out.up
            && out.response_ms
                <= u64::try_from(self.cfg.slo_latency.as_millis()).unwrap_or(u64::MAX);
        self.state.probes.push_back((now_unix, ok));
        while self
            .state
            .probes
            .front()
            .is_some_and(|(t, _)| *t <= now_unix - SLO_WINDOW_SECS)
        {
            self.state.probes.pop_front();
        }
        let n = self.state.probes.len();
        let good = self.state.probes.iter().filter(|(_, ok)| *ok).count();
        out.slo_probes = u32::try_from(n).unwrap_or(u32::MAX);
        #[allow(clippy::cast_precision_loss)]
        {
            out.slo_success_ratio = if n == 0 { 1.0 } else { good as f64 / n as f64 };
        }
        #[allow(clippy::cast_precision_loss)]
        let too_many = (n - good) as f64 > self.cfg.slo_max_failures * n as f64 + 1e-9;
        out.slo_failing = out.slo_probes >= self.cfg.slo_min_probes && too_many;
        out
    }

    /// Compares a visitor's page with the baseline (learning it the first
    /// time) and fills in the content findings.
    fn judge_page(&mut self, page: &Page, out: &mut SiteCheck) {
        out.title = Some(page.title.clone());
        let mut hidden = BTreeSet::new();
        let mut methods = BTreeSet::new();
        for l in &page.links {
            if let Some(how) = l.hidden
                && !self.rules.allowed(&l.host)
            {
                hidden.insert(l.href.clone());
                methods.insert(how);
            }
        }
        out.hidden_links = hidden.into_iter().collect();
        out.hidden_link_methods = methods.into_iter().map(str::to_owned).collect();

        let hits = self.lexicon.find(&page.searchable);
        self.visitor_terms = hits.iter().map(|h| h.term.clone()).collect();
        let mut words = BTreeSet::new();
        let mut cats = BTreeSet::new();
        let mut signatures = BTreeSet::new();
        for h in hits {
            if h.category == DEFACEMENT {
                signatures.insert(h.term);
            } else {
                words.insert(h.term);
                cats.insert(h.category);
            }
        }
        out.sensitive_words = words.into_iter().collect();
        out.sensitive_categories = cats.into_iter().collect();

        let fp = page.fingerprint();
        let Some(base) = &self.state.baseline else {
            info!(url = %self.cfg.url, title = %page.title, "page baseline learned");
            self.state.baseline = Some(fp);
            self.dirty = true;
            return;
        };
        out.text_change = shouwang_page::set_change(&base.shingles, &fp.shingles);
        out.structure_change = shouwang_page::multiset_change(&base.structure, &fp.structure);
        out.defacement_score = out.text_change.max(out.structure_change);
        out.title_changed = base.title != fp.title;
        let mut signs = Vec::new();
        if out.title_changed {
            signs.push("title-changed".to_owned());
        }
        if out.defacement_score >= self.cfg.replaced_at {
            signs.push("replaced".to_owned());
        }
        // Signatures the baseline page did not already carry.
        let lexicon = &self.lexicon;
        let base_sigs = self.baseline_terms.get_or_insert_with(|| {
            lexicon
                .find(&base.text_sample)
                .into_iter()
                .map(|h| h.term)
                .collect()
        });
        for s in signatures {
            if !base_sigs.contains(&s) {
                signs.push(format!("signature:{s}"));
            }
        }
        out.defacement_signs = signs;
        out.new_script_domains = fp
            .script_hosts
            .difference(&base.script_hosts)
            .cloned()
            .collect();
    }

    /// What a crawler is shown that a visitor is not: spam terms, off-site
    /// link hosts, or a different page altogether.
    fn cloaked(&self, visitor: &Page, crawler: &Page) -> Vec<String> {
        let seen = &self.visitor_terms;
        let mut terms: BTreeSet<String> = self
            .lexicon
            .find(&crawler.searchable)
            .into_iter()
            .filter(|h| h.category != DEFACEMENT && !seen.contains(&h.term))
            .map(|h| h.term)
            .collect();
        let visitor_hosts: BTreeSet<&str> = visitor.links.iter().map(|l| l.host.as_str()).collect();
        for l in &crawler.links {
            if !self.rules.allowed(&l.host) && !visitor_hosts.contains(l.host.as_str()) {
                terms.insert(l.host.clone());
            }
        }
        if terms.is_empty() {
            let d = shouwang_page::set_change(
                &shouwang_page::shingles(&visitor.text),
                &shouwang_page::shingles(&crawler.text),
            );
            if d >= self.cfg.replaced_at {
                terms.insert(format!("content differs ({:.0}%)", d * 100.0));
            }
        }
        terms.into_iter().collect()
    }

    /// Persists the state when the baseline or certificate changed, and
    /// every `SAVE_EVERY_CHECKS` checks for the SLO history (at most that
    /// many probes are lost in a crash).
    pub fn save(&mut self) {
        if !self.dirty && !self.state.checks.is_multiple_of(SAVE_EVERY_CHECKS) {
            return;
        }
        match self.state.save(&self.state_path) {
            Ok(()) => self.dirty = false,
            Err(e) => warn!(url = %self.cfg.url, "{e:#}"),
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Checks every site at its interval until `cancel`. Start times are
/// spread over each interval so a thousand sites do not fire at once.
pub async fn run_sites(
    sites: Vec<SiteConfig>,
    lexicons: Option<PathBuf>,
    state_dir: PathBuf,
    tx: mpsc::Sender<Event>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let lexicon = Arc::new(Lexicon::load(lexicons.as_deref())?);
    let n = sites.len().max(1);
    let sites = Site::prepare(&sites, lexicon, &state_dir)?;
    info!(sites = sites.len(), "checking sites");
    let limit = Arc::new(Semaphore::new(MAX_CONCURRENT));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut site) in sites.into_iter().enumerate() {
        let tx = tx.clone();
        let cancel = cancel.clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            let every = site.cfg.interval;
            let offset = every.mul_f64(i as f64 / n as f64);
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                let Ok(_permit) = limit.acquire().await else {
                    break;
                };
                let result = site.check(unix_now()).await;
                site.save();
                let ev = Event::new(
                    Timestamp::from_system_time(std::time::SystemTime::now()),
                    EventBody::SiteCheck(Box::new(result)),
                );
                if tx.send(ev).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    while tasks.join_next().await.is_some() {}
    Ok(())
}
