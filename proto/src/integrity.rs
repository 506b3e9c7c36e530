//! Website-integrity events: changes under a web root (tamper detection)
//! and remote checks of public pages. The detection rules for them ship
//! with the collector; the agent side produces them.

use serde::{Deserialize, Serialize};

/// What happened to a file under a watched web root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileChangeKind {
    Added,
    Modified,
    Removed,
    /// Moved within the root (`old_path` says from where).
    Renamed,
    /// Mode or owner changed, content the same.
    Permissions,
}

impl FileChangeKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Modified => "modified",
            Self::Removed => "removed",
            Self::Renamed => "renamed",
            Self::Permissions => "permissions",
        }
    }
}

/// A file under a web root differs from its baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// The watched root (`/var/www/portal`).
    pub root: String,
    /// Path relative to the root.
    pub path: String,
    pub change: FileChangeKind,
    /// The site this root serves (from the agent config), to correlate with
    /// remote checks of the same site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Where a renamed file was before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Permission bits now and in the baseline (octal digits as a number,
    /// e.g. 644).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_mode: Option<u32>,
    /// Owner now, `uid:gid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_owner: Option<String>,
    /// SHA-256 of the new and the baseline content, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_sha256: Option<String>,
    /// Made through `shouwang-agent publish`, inside a publish window or
    /// while a declared publisher process ran: the baseline now follows it.
    #[serde(default)]
    pub authorised: bool,
    /// How it was authorised (`publish`, `window`, `process:NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorised_by: Option<String>,
    /// The agent put the baseline content back.
    #[serde(default)]
    pub restored: bool,
    /// Where the agent kept the tampered content for forensics (a path in
    /// its state directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined: Option<String>,
    /// Unified diff baseline → new for text files, bounded in size
    /// (`diff_truncated` says when it was cut).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub diff_truncated: bool,
    /// Names of web-shell signatures the new content matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<String>,
}

/// One remote check of a public page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteCheck {
    /// The page checked.
    pub url: String,
    /// The site name from the agent config, to correlate with web-root
    /// changes of the same site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The page answered with a success status in time.
    pub up: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it is down (timeout, refused, TLS error, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub response_ms: u64,
    /// How much the page differs from its baseline, 0 to 1: the larger of
    /// the visible-text change and the DOM-structure change.
    #[serde(default)]
    pub defacement_score: f64,
    #[serde(default)]
    pub text_change: f64,
    #[serde(default)]
    pub structure_change: f64,
    /// The page title now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The title differs from the baseline's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub title_changed: bool,
    /// Defacement signs: `title-changed`, `replaced` (most of the page is
    /// new), `signature:TEXT` (a hacker signature such as "hacked by").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub defacement_signs: Vec<String>,
    /// Links hidden from visitors (display:none, off-screen, tiny fonts,
    /// text in the background colour, written by script) that point
    /// outside the site's allowed domains: the hrefs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden_links: Vec<String>,
    /// How they were hidden (`display:none`, `off-screen`, `script`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden_link_methods: Vec<String>,
    /// A search-engine crawler gets other content than a browser.
    #[serde(default)]
    pub cloaking: bool,
    /// The crawler that got it (`Baiduspider`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloaking_agent: Option<String>,
    /// What only the crawler was shown: spam terms and off-site link hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cloaking_terms: Vec<String>,
    /// Words from the sensitive-word lexicons found on the page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive_words: Vec<String>,
    /// The lexicons they came from (`gambling`, `porn`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive_categories: Vec<String>,
    /// Script and iframe domains the baseline did not have, outside the
    /// allowed domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_script_domains: Vec<String>,
    /// Days until the certificate expires (negative: expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_days_left: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_issuer: Option<String>,
    /// SHA-256 of the leaf certificate, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_fingerprint: Option<String>,
    /// The leaf certificate differs from the one seen at the last check.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_changed: bool,
    /// The certificate does not verify (expired, unknown issuer, wrong
    /// name): why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_error: Option<String>,
    /// Addresses the name resolved to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_addrs: Vec<String>,
    /// Resolved addresses outside the site's expected set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_unexpected: Vec<String>,
    /// Availability over the last day: probes, success ratio (a probe
    /// succeeds when it is up within the SLO latency), and whether the site
    /// fails the SLO (enough probes and too many failures).
    #[serde(default)]
    pub slo_probes: u32,
    #[serde(default = "one")]
    pub slo_success_ratio: f64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub slo_failing: bool,
}

fn one() -> f64 {
    1.0
}

impl FileChange {
    /// A change with only its place and kind filled in.
    pub fn new(root: impl Into<String>, path: impl Into<String>, change: FileChangeKind) -> Self {
        Self {
            root: root.into(),
            path: path.into(),
            change,
            site: None,
            old_path: None,
            size: None,
            mode: None,
            baseline_mode: None,
            owner: None,
            baseline_owner: None,
            sha256: None,
            baseline_sha256: None,
            authorised: false,
            authorised_by: None,
            restored: false,
            quarantined: None,
            diff: None,
            diff_truncated: false,
            signatures: Vec::new(),
        }
    }
}

impl SiteCheck {
    /// A check result with only the URL filled in (down, nothing found).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            site: None,
            up: false,
            status: None,
            error: None,
            response_ms: 0,
            defacement_score: 0.0,
            text_change: 0.0,
            structure_change: 0.0,
            title: None,
            title_changed: false,
            defacement_signs: Vec::new(),
            hidden_links: Vec::new(),
            hidden_link_methods: Vec::new(),
            cloaking: false,
            cloaking_agent: None,
            cloaking_terms: Vec::new(),
            sensitive_words: Vec::new(),
            sensitive_categories: Vec::new(),
            new_script_domains: Vec::new(),
            tls_days_left: None,
            tls_issuer: None,
            tls_fingerprint: None,
            tls_changed: false,
            tls_error: None,
            dns_addrs: Vec::new(),
            dns_unexpected: Vec::new(),
            slo_probes: 0,
            slo_success_ratio: 1.0,
            slo_failing: false,
        }
    }
}
