//! A private collector: a config and data directory of its own, tokens
//! made with the collector's own subcommands before it starts, then
//! `serve` on loopback until the handle drops.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::proc::{Proc, cli};

/// How long a collector may take to print its listening line.
const START_LIMIT: Duration = Duration::from_secs(20);

/// A collector config written to disk, not yet serving.
#[derive(Debug, Clone)]
pub struct Configured {
    /// The collector binary.
    pub exe: PathBuf,
    /// `DIR/collector.toml`.
    pub config: PathBuf,
}

impl Configured {
    /// Writes `DIR/collector.toml`: `listen`, data in `DIR/data`, then
    /// `extra` (which may open tables), then `[rules] dir = rules` if given.
    pub fn write(
        exe: &Path,
        dir: &Path,
        listen: &str,
        rules: Option<&Path>,
        extra: &str,
    ) -> anyhow::Result<Self> {
        let config = dir.join("collector.toml");
        let rules = rules.map_or(String::new(), |r| {
            format!("\n[rules]\ndir = \"{}\"\n", r.display())
        });
        std::fs::write(
            &config,
            format!(
                "listen = \"{listen}\"\ndata-dir = \"{}\"\n{extra}\n{rules}",
                dir.join("data").display()
            ),
        )
        .with_context(|| format!("cannot write the collector's config {}", config.display()))?;
        Ok(Self {
            exe: exe.to_owned(),
            config,
        })
    }

    /// Runs a subcommand of this collector (`agents add NAME`, …).
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        cli(&self.exe, &self.config, args)
    }

    /// Registers an agent; returns its token.
    pub fn add_agent(&self, name: &str) -> anyhow::Result<String> {
        self.cli(&["agents", "add", name])
    }

    /// Makes an API token of `role` (`viewer`, `operator`, `admin`).
    pub fn add_token(&self, name: &str, role: &str) -> anyhow::Result<String> {
        self.cli(&["tokens", "add", name, "--role", role])
    }

    /// Starts `serve` and waits for its listening line.
    pub fn serve(&self) -> anyhow::Result<Running> {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("serve")
            .env("RUST_LOG", "info");
        let (tx, rx) = mpsc::channel();
        let proc = Proc::spawn(cmd, Some(("listening on ", tx)))?;
        let Ok(line) = rx.recv_timeout(START_LIMIT) else {
            bail!(
                "the collector {} did not start within {START_LIMIT:?}:\n{}",
                self.exe.display(),
                proc.log()
            );
        };
        let url = listening_url(&line)
            .context("no address in the collector's listening line")?
            .to_owned();
        Ok(Running { proc, url })
    }
}

/// A serving collector; killed when dropped.
pub struct Running {
    pub proc: Proc,
    /// `http://127.0.0.1:PORT` (or https).
    pub url: String,
}

/// The URL in a `… listening on URL …` line.
fn listening_url(line: &str) -> Option<&str> {
    line.split("listening on ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_read_from_the_listening_line() {
        assert_eq!(
            listening_url(
                "2026-12-03T12:00:00Z  INFO shouwang_collector: listening on http://127.0.0.1:4711 (tls off)"
            ),
            Some("http://127.0.0.1:4711")
        );
        assert_eq!(listening_url("starting"), None);
    }

    #[test]
    fn the_config_has_listen_data_extra_then_rules() {
        let dir = std::env::temp_dir().join(format!("shouwang-harness-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let c = Configured::write(
            Path::new("shouwang-collector"),
            &dir,
            "127.0.0.1:0",
            Some(Path::new("/srv/rules")),
            "[ingest]\nmax-body-bytes = 10",
        )
        .expect("write");
        let text = std::fs::read_to_string(&c.config).expect("read");
        assert_eq!(
            text,
            format!(
                "listen = \"127.0.0.1:0\"\ndata-dir = \"{}\"\n[ingest]\nmax-body-bytes = 10\n\n[rules]\ndir = \"/srv/rules\"\n",
                dir.join("data").display()
            )
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
