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
    /// Mode or owner changed, content the same.
    Permissions,
}

impl FileChangeKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Modified => "modified",
            Self::Removed => "removed",
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// SHA-256 of the new and the baseline content, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_sha256: Option<String>,
    /// The agent put the baseline content back.
    #[serde(default)]
    pub restored: bool,
    /// Names of web-shell signatures the new content matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<String>,
}

/// One remote check of a public page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteCheck {
    /// The page checked.
    pub url: String,
    /// The page answered with a success status in time.
    pub up: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it is down (timeout, refused, TLS error, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub response_ms: u64,
    /// How much the visible text differs from the baseline, 0 to 1.
    #[serde(default)]
    pub defacement_score: f64,
    /// Links hidden from visitors (display:none, off-screen, tiny fonts)
    /// that point off-site: the hrefs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden_links: Vec<String>,
    /// A search-engine crawler gets other content than a browser.
    #[serde(default)]
    pub cloaking: bool,
    /// Words from the sensitive-word list found on the page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive_words: Vec<String>,
    /// Days until the certificate expires (negative: expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_days_left: Option<i64>,
    /// Addresses the name resolved to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_addrs: Vec<String>,
    /// Resolved addresses outside the site's expected set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_unexpected: Vec<String>,
}
