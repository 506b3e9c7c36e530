//! A private collector on loopback, started by the drill itself (corpus
//! scoring, `run --spawn`): a temporary data directory, the given rules,
//! an agent token for the drill and a viewer token, stopped on drop. The
//! process handling is `shouwang-harness`'s, the same the tests use.

use std::path::Path;

use anyhow::Context;
use shouwang_harness::collector::{Configured, Running};

pub use shouwang_harness::sibling;

pub struct Private {
    pub url: String,
    pub agent_token: String,
    pub api_token: String,
    // Dropped first: the collector stops before its directory goes.
    _running: Running,
    _dir: tempfile::TempDir,
}

impl Private {
    /// Starts `exe` with the rules in `rules`; the drill's agent is `agent`.
    pub fn start(exe: &Path, rules: &Path, agent: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("shouwang-drill-")
            .tempdir()
            .context("cannot make a temporary directory")?;
        let rules = std::fs::canonicalize(rules)
            .with_context(|| format!("rules directory {}", rules.display()))?;
        let collector = Configured::write(exe, dir.path(), "127.0.0.1:0", Some(&rules), "")?;
        let agent_token = collector.add_agent(agent)?;
        let api_token = collector.add_token("drill", "viewer")?;
        let running = collector
            .serve()
            .context("the private collector did not start")?;
        Ok(Self {
            url: running.url.clone(),
            agent_token,
            api_token,
            _running: running,
            _dir: dir,
        })
    }
}
