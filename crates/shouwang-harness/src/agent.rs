//! An agent's config file, as the tests and the demo write it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::proc::write_private;

/// What goes into an agent config; [`AgentConfig::write`] renders it.
#[derive(Debug, Clone)]
pub struct AgentConfig<'a> {
    pub name: &'a str,
    /// The collector's base URL.
    pub collector: &'a str,
    pub token_file: PathBuf,
    pub state_dir: PathBuf,
    /// `[labels]`, in order.
    pub labels: &'a [(&'a str, &'a str)],
    /// Host sampling interval and heartbeat, humantime (`1s`, `5s`).
    pub interval: &'a str,
    /// Appended to the `[host]` table; may open further tables.
    pub host_extra: &'a str,
    /// The `[ship]` table's body (empty: no `[ship]` table).
    pub ship: &'a str,
}

impl AgentConfig<'_> {
    /// The TOML text.
    pub fn render(&self) -> String {
        let mut s = format!(
            "name = \"{}\"\ncollector = \"{}\"\ntoken-file = \"{}\"\nstate-dir = \"{}\"\n\n[labels]\n",
            self.name,
            self.collector,
            self.token_file.display(),
            self.state_dir.display()
        );
        for (k, v) in self.labels {
            let _ = writeln!(s, "{k} = \"{v}\"");
        }
        let _ = write!(
            s,
            "\n[host]\ninterval = \"{0}\"\nheartbeat = \"{0}\"\n{1}\n",
            self.interval, self.host_extra
        );
        if !self.ship.is_empty() {
            let _ = write!(s, "[ship]\n{}\n", self.ship);
        }
        s
    }

    /// Writes `token` to the token file and the config to `path`, both
    /// readable by this user only.
    pub fn write(&self, path: &Path, token: &str) -> anyhow::Result<()> {
        write_private(&self.token_file, &format!("{token}\n"))?;
        write_private(path, &self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_host_extra_and_ship_render_in_order() {
        let c = AgentConfig {
            name: "a1",
            collector: "http://127.0.0.1:1",
            token_file: "/t/a1.token".into(),
            state_dir: "/t/a1-state".into(),
            labels: &[("district", "d1"), ("role", "web")],
            interval: "1s",
            host_extra: "[packets]\nenabled = false",
            ship: "flush-interval = \"200ms\"",
        };
        assert_eq!(
            c.render(),
            "name = \"a1\"\ncollector = \"http://127.0.0.1:1\"\ntoken-file = \"/t/a1.token\"\nstate-dir = \"/t/a1-state\"\n\n\
             [labels]\ndistrict = \"d1\"\nrole = \"web\"\n\n\
             [host]\ninterval = \"1s\"\nheartbeat = \"1s\"\n[packets]\nenabled = false\n\
             [ship]\nflush-interval = \"200ms\"\n"
        );
        let no_ship = AgentConfig { ship: "", ..c };
        assert!(!no_ship.render().contains("[ship]"));
    }
}
