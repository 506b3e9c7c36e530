//! A lab of network namespaces for tests with real traffic: an attacker
//! and a victim namespace joined by a veth pair, and a management link from
//! the victim to the host (where the collector listens). Root only; traffic
//! stays between the namespaces' own addresses.

// Lab helpers panic on setup failure, as the tests that use them do: a
// lab that cannot be built is a failed test, not an error to handle.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::process::{Child, Command, Stdio};

use crate::proc::bin;

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

pub fn sh(args: &[&str]) {
    let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(st.success(), "{args:?} failed");
}

/// Two namespaces, attacker (.1) and victim (.2), on a /30 of their own.
pub struct Lab {
    pub attacker: String,
    pub victim: String,
    pub attacker_if: String,
    pub victim_if: String,
    pub attacker_ip: String,
    pub victim_ip: String,
}

impl Lab {
    pub fn new(tag: &str) -> Self {
        let id = std::process::id() % 10_000;
        let (attacker, victim) = (format!("swa{tag}{id}"), format!("swv{tag}{id}"));
        let (a_if, v_if) = (format!("sa{tag}{id}"), format!("sv{tag}{id}"));
        let net = 200 + u32::from(tag.as_bytes()[0] % 50);
        let lab = Self {
            attacker_ip: format!("10.{net}.{}.1", id % 250),
            victim_ip: format!("10.{net}.{}.2", id % 250),
            attacker,
            victim,
            attacker_if: a_if.clone(),
            victim_if: v_if.clone(),
        };
        sh(&["ip", "netns", "add", &lab.attacker]);
        sh(&["ip", "netns", "add", &lab.victim]);
        sh(&[
            "ip", "link", "add", &a_if, "type", "veth", "peer", "name", &v_if,
        ]);
        sh(&["ip", "link", "set", &a_if, "netns", &lab.attacker]);
        sh(&["ip", "link", "set", &v_if, "netns", &lab.victim]);
        for (ns, ifc, ip) in [
            (&lab.attacker, &a_if, &lab.attacker_ip),
            (&lab.victim, &v_if, &lab.victim_ip),
        ] {
            sh(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{ip}/30"),
                "dev",
                ifc,
            ]);
            sh(&["ip", "-n", ns, "link", "set", ifc, "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        lab
    }

    /// Starts the agent capturing on the victim's interface.
    pub fn capture(&self, secs: u32, stats: &str) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.victim])
            .arg(bin("shouwang-agent").unwrap())
            .args([
                "capture",
                &self.victim_if,
                "--for",
                &format!("{secs}s"),
                "--stats-interval",
                stats,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `nmap -sS -p 1-1000` from the attacker at the victim (bounded: 60 s).
    pub fn nmap_syn_scan(&self) {
        let scan = self.in_attacker(&[
            "timeout",
            "60",
            "nmap",
            "-n",
            "-Pn",
            "-sS",
            "-p",
            "1-1000",
            "--max-retries",
            "1",
            "-T4",
            &self.victim_ip,
        ]);
        assert!(
            scan.status.success(),
            "nmap: {}",
            String::from_utf8_lossy(&scan.stderr)
        );
    }

    pub fn in_attacker(&self, cmd: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.attacker])
            .args(cmd)
            .output()
            .unwrap()
    }

    /// A 2-second hping3 SYN flood at the victim's port 80 (bounded by
    /// `timeout`), with `extra` hping3 options.
    pub fn syn_flood(&self, extra: &[&str]) {
        let mut cmd = vec!["timeout", "2", "hping3", "-q", "-S", "-p", "80", "--flood"];
        cmd.extend_from_slice(extra);
        cmd.push(&self.victim_ip);
        let _ = self.in_attacker(&cmd);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting the namespaces removes the veth pair with them.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.attacker])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.victim])
            .status();
    }
}

/// Collector config for a listener on the management link: plaintext on
/// a non-loopback address must be allowed explicitly (the link only joins
/// namespaces the test made).
pub const MGMT_PLAINTEXT: &str = "[tls]\nallow-plaintext = true\n";

/// The lab plus a management link from the test's own namespace to the
/// victim's, so the victim's agent ships to a collector on the host side.
pub struct Mgmt {
    pub host_if: String,
    pub host_ip: String,
    pub victim_ip: String,
}

impl Mgmt {
    pub fn new(lab: &Lab, tag: &str) -> Self {
        let id = std::process::id() % 10_000;
        let (h_if, v_if) = (format!("sh{tag}{id}"), format!("sm{tag}{id}"));
        let net = 150 + u32::from(tag.as_bytes()[0] % 40);
        let m = Self {
            host_if: h_if.clone(),
            host_ip: format!("10.{net}.{}.5", id % 250),
            victim_ip: format!("10.{net}.{}.6", id % 250),
        };
        sh(&[
            "ip", "link", "add", &h_if, "type", "veth", "peer", "name", &v_if,
        ]);
        sh(&["ip", "link", "set", &v_if, "netns", &lab.victim]);
        sh(&[
            "ip",
            "addr",
            "add",
            &format!("{}/30", m.host_ip),
            "dev",
            &h_if,
        ]);
        sh(&["ip", "link", "set", &h_if, "up"]);
        sh(&[
            "ip",
            "-n",
            &lab.victim,
            "addr",
            "add",
            &format!("{}/30", m.victim_ip),
            "dev",
            &v_if,
        ]);
        sh(&["ip", "-n", &lab.victim, "link", "set", &v_if, "up"]);
        // Replies to spoofed sources leave through the attacker link (and
        // die there), as on a real network.
        sh(&[
            "ip",
            "-n",
            &lab.victim,
            "route",
            "add",
            "default",
            "via",
            &lab.attacker_ip,
        ]);
        m
    }
}

impl Drop for Mgmt {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
    }
}

impl Lab {
    /// A real sshd on the victim's address (port 22) in the victim
    /// namespace, logging to `dir/auth.log`; returns it and the log path.
    pub fn sshd(&self, dir: &std::path::Path) -> (Child, std::path::PathBuf) {
        let sshd_bin = std::path::Path::new("/usr/sbin/sshd");
        assert!(
            sshd_bin.exists(),
            "sshd (Debian openssh-server; .ci/run installs it)"
        );
        std::fs::create_dir_all(dir).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let key = dir.join("host_ed25519");
        sh(&[
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            key.to_str().unwrap(),
        ]);
        let log = dir.join("auth.log");
        std::fs::write(&log, "").unwrap();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "ListenAddress {}\nPort 22\nHostKey {}\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\nPidFile {}\nLogLevel INFO\nMaxStartups 100\n",
                self.victim_ip,
                key.display(),
                dir.join("pid").display()
            ),
        )
        .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.victim])
            .arg(sshd_bin)
            .args(["-D", "-f"])
            .arg(dir.join("sshd_config"))
            .arg("-E")
            .arg(&log)
            .spawn()
            .unwrap();
        (child, log)
    }

    /// The agent `victim` in the victim namespace, capturing the lab
    /// interface (and following `auth_log`), shipping to `collector` over
    /// the management link; returns once its capture is open.
    pub fn victim_agent(
        &self,
        dir: &std::path::Path,
        collector: &str,
        token: &str,
        auth_log: Option<&std::path::Path>,
    ) -> crate::proc::Proc {
        let token_file = dir.join("victim.token");
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        let auth = auth_log
            .map(|l| {
                format!(
                    "auth-log = \"{}\"\nauth-log-poll = \"100ms\"\n",
                    l.display()
                )
            })
            .unwrap_or_default();
        let agent_cfg = dir.join("victim.toml");
        std::fs::write(
            &agent_cfg,
            format!(
                "name = \"victim\"\ncollector = \"{collector}\"\ntoken-file = \"{}\"\nstate-dir = \"{}\"\n\
                 [host]\ninterval = \"5s\"\n{auth}\
                 [ship]\nflush-interval = \"200ms\"\nbackoff-min = \"100ms\"\nbackoff-max = \"1s\"\n\
                 [packet]\ninterfaces = [\"{}\"]\nstats-interval = \"1s\"\n\
                 # A dedicated sensor that the lab floods on purpose: no\n\
                 # shedding (tests/tests/limits.rs covers shedding).\n\
                 [limits]\ncpu-percent = 10000\nmax-events-per-second = 0\n",
                token_file.display(),
                dir.join("agent-state").display(),
                self.victim_if,
            ),
        )
        .unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.victim])
            .arg(bin("shouwang-agent").unwrap())
            .arg("--config")
            .arg(&agent_cfg)
            .env("RUST_LOG", "info");
        let (tx, rx) = std::sync::mpsc::channel();
        let agent = crate::proc::Proc::spawn(cmd, Some(("capture opened", tx))).unwrap();
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("agent did not open its capture:\n{}", agent.log()));
        agent
    }
}
