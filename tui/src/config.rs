//! The console's configuration file (TOML, kebab-case, unknown keys
//! refused). Every key can also be given on the command line, which wins.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::i18n::Lang;
use crate::theme::ThemeName;

/// Default for `overdue-after`.
pub const DEFAULT_OVERDUE_AFTER: Duration = Duration::from_secs(15 * 60);

/// `console.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Base URL of the collector, e.g. `http://127.0.0.1:9740`.
    pub collector: Option<String>,
    /// API token (`swa1:…`). Prefer `token-file` so it stays out of the
    /// process list and shell history.
    pub token: Option<String>,
    /// File holding the API token (first line).
    pub token_file: Option<PathBuf>,
    /// `en` or `zh`; `L` switches while running.
    pub lang: Lang,
    /// `dark` or `light` terminal background; `T` switches while running.
    pub theme: ThemeName,
    /// Ring the terminal bell when a new high or critical incident opens.
    pub bell: bool,
    /// Open incidents unacknowledged this long are highlighted (`15m`).
    #[serde(with = "humantime_serde")]
    pub overdue_after: Duration,
    /// Directory for shift summaries (default: the current directory).
    pub report_dir: Option<PathBuf>,
    /// Log file (default: `$XDG_STATE_HOME/shouwang/console.log`, else
    /// `~/.local/state/shouwang/console.log`). The console never writes
    /// to the terminal it draws on.
    pub log_file: Option<PathBuf>,
    /// Capture the mouse (wheel scrolls, a click on a tab switches view).
    /// Off leaves the terminal's own text selection working.
    pub mouse: bool,
    /// CA (PEM) the collector's certificate must chain to, for an
    /// `https://` collector with its own CA (`certs init`'s `ca.crt`).
    pub ca: Option<PathBuf>,
    /// Client certificate and key (PEM) for a collector requiring mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            collector: None,
            token: None,
            token_file: None,
            lang: Lang::En,
            theme: ThemeName::Dark,
            bell: false,
            overdue_after: DEFAULT_OVERDUE_AFTER,
            report_dir: None,
            log_file: None,
            mouse: true,
            ca: None,
            cert: None,
            key: None,
        }
    }
}

impl ConsoleConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The token: `token`, else the first line of `token-file`.
    pub fn resolve_token(&self) -> anyhow::Result<Option<String>> {
        if let Some(t) = &self.token {
            return Ok(Some(t.trim().to_owned()));
        }
        let Some(p) = &self.token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("cannot read token-file {}", p.display()))?;
        Ok(text.lines().next().map(|l| l.trim().to_owned()))
    }

    /// Where logs go.
    pub fn log_path(&self) -> PathBuf {
        if let Some(p) = &self.log_file {
            return p.clone();
        }
        let base = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("shouwang").join("console.log")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_shipped_example_parses_and_unknown_keys_are_refused_with_their_line() {
        let text = include_str!("../console.example.toml");
        let c = ConsoleConfig::parse(text).unwrap();
        assert_eq!(c.lang, Lang::Zh);
        assert_eq!(c.overdue_after, Duration::from_secs(600));
        let e = ConsoleConfig::parse("lang = \"zh\"\ncolour = \"red\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("colour"), "{e}");
        let e = ConsoleConfig::parse("lang = \"fr\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fr"), "{e}");
        let e = ConsoleConfig::parse("overdue-after = \"soon\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("overdue-after") || e.contains("line 1"), "{e}");
    }
}
