//! A private collector on loopback, started by the drill itself (corpus
//! scoring, `run --spawn`): a temporary data directory, the given rules,
//! an agent token for the drill and a viewer token, stopped on drop.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

pub struct Private {
    child: Child,
    pub url: String,
    pub agent_token: String,
    pub api_token: String,
    _dir: tempfile::TempDir,
}

fn cli(exe: &Path, config: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(exe)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    if !out.status.success() {
        bail!(
            "{} {}: {}",
            exe.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Private {
    /// Starts `exe` with the rules in `rules`; the drill's agent is `agent`.
    pub fn start(exe: &Path, rules: &Path, agent: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("shouwang-drill-")
            .tempdir()
            .context("cannot make a temporary directory")?;
        let config = dir.path().join("collector.toml");
        let rules = std::fs::canonicalize(rules)
            .with_context(|| format!("rules directory {}", rules.display()))?;
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\ndata-dir = \"{}\"\n[rules]\ndir = \"{}\"\n",
                dir.path().join("data").display(),
                rules.display()
            ),
        )
        .context("cannot write the collector's config")?;
        let agent_token = cli(exe, &config, &["agents", "add", agent])?;
        let api_token = cli(
            exe,
            &config,
            &["tokens", "add", "drill", "--role", "viewer"],
        )?;
        let mut child = Command::new(exe)
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let (tx, rx) = mpsc::channel::<String>();
        let log = dir.path().join("collector.log");
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .ok();
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Some(f) = file.as_mut() {
                        let _ = std::io::Write::write_all(f, format!("{line}\n").as_bytes());
                    }
                    let _ = tx.send(line);
                }
            });
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let url = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(u) = line
                        .split("listening on ")
                        .nth(1)
                        .and_then(|r| r.split_whitespace().next())
                    {
                        break u.to_owned();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!(
                        "the private collector did not start:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        };
        Ok(Self {
            child,
            url,
            agent_token,
            api_token,
            _dir: dir,
        })
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sibling program (`shouwang-collector`, `shouwang-agent`): beside this
/// executable, else on PATH.
pub fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}
