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
        self.sshd_on(dir, 22)
    }

    /// [`Lab::sshd`] listening on `port`.
    pub fn sshd_on(&self, dir: &std::path::Path, port: u16) -> (Child, std::path::PathBuf) {
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
                "ListenAddress {}\nPort {port}\nHostKey {}\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\nPidFile {}\nLogLevel INFO\nMaxStartups 100\n",
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

/// A tool running in the background in a namespace, as `timeout SECS
/// argv…` (so it ends by itself), its stdout and stderr in a log file.
/// Stopped with SIGTERM (which `timeout` passes on) when dropped.
pub struct Bg {
    child: Child,
    pub name: String,
    pub log: std::path::PathBuf,
}

impl Bg {
    /// What the tool wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to `limit` for `pattern` in the tool's output.
    pub fn wait_output(&self, limit: std::time::Duration, pattern: &str) -> anyhow::Result<()> {
        crate::wait_for(limit, &format!("{pattern:?} from {}", self.name), || {
            self.output().contains(pattern).then_some(())
        })
        .map_err(|e| anyhow::anyhow!("{e}\n{} said:\n{}", self.name, self.output()))
    }

    /// Whether it has exited.
    pub fn done(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits up to `limit` for the tool to end by itself, then stops it;
    /// returns its exit code (None when it had to be stopped or died of a
    /// signal).
    pub fn finish(mut self, limit: std::time::Duration) -> Option<i32> {
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
            while std::time::Instant::now() < until {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Port of the TCP sink that the tunnels carry data to.
const SINK_PORT: u16 = 5001;
/// The ICMP tunnel client's local TCP port (in the attacker namespace).
const PTUNNEL_LOCAL_PORT: u16 = 5000;
/// Data pushed through a tunnel: `TUNNEL_PUSHES` connections, one a second.
const TUNNEL_PUSHES: u64 = 5;

/// A tunnel between the namespaces: its server in the victim, its client
/// in the attacker, a TCP sink behind the server, and the client pushing
/// random bytes through it.
pub struct Tunnel {
    pub tool: &'static str,
    /// Pushing the data; ends after `TUNNEL_PUSHES` connections.
    pub pusher: Bg,
    /// Server, sink and client (stopped on drop, client first).
    parts: Vec<Bg>,
    received: std::path::PathBuf,
    /// Bytes the pusher sends in all.
    pub pushed: u64,
}

impl Tunnel {
    /// Bytes that came out of the tunnel at the sink.
    pub fn received(&self) -> u64 {
        std::fs::metadata(&self.received).map_or(0, |m| m.len())
    }

    /// What the server and client wrote (for a failure message).
    pub fn output(&self) -> String {
        self.parts
            .iter()
            .chain(std::iter::once(&self.pusher))
            .map(|b| format!("--- {}:\n{}", b.name, b.output()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        while let Some(b) = self.parts.pop() {
            drop(b);
        }
    }
}

/// How long any tool of the lab may run.
const TOOL_SECS: u32 = 30;

impl Lab {
    /// Runs `argv` in namespace `ns` in the background, bounded by `secs`;
    /// output goes to `dir/NAME.log`.
    pub fn spawn_in(
        &self,
        ns: &str,
        dir: &std::path::Path,
        name: &str,
        secs: u32,
        argv: &[&str],
    ) -> Bg {
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "timeout", &secs.to_string()])
            .args(argv)
            // Tools that leave files (hydra.restore) leave them here.
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        Bg {
            child,
            name: name.to_owned(),
            log,
        }
    }

    /// `n` (at most 16) more addresses of the attacker, one per attack so
    /// that each incident names its attack: 10.N.M.16 and up, routed to the
    /// attacker from the victim. The victim stops forwarding (addresses it
    /// does not hold are dropped, as on a host).
    pub fn attacker_addresses(&self, n: u8) -> Vec<String> {
        assert!(n <= 16, "at most 16 attacker addresses");
        let prefix = self.attacker_ip.rsplit_once('.').unwrap().0.to_owned();
        sh(&[
            "ip",
            "netns",
            "exec",
            &self.victim,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=0",
        ]);
        sh(&[
            "ip",
            "-n",
            &self.victim,
            "route",
            "replace",
            &format!("{prefix}.16/28"),
            "via",
            &self.attacker_ip,
        ]);
        (0..n)
            .map(|i| {
                let a = format!("{prefix}.{}", 16 + u32::from(i));
                sh(&[
                    "ip",
                    "-n",
                    &self.attacker,
                    "addr",
                    "add",
                    &format!("{a}/32"),
                    "dev",
                    &self.attacker_if,
                ]);
                a
            })
            .collect()
    }

    /// Traffic from the attacker to the victim leaves from `src` (one of
    /// [`Lab::attacker_addresses`]) from now on.
    pub fn attack_from(&self, src: &str) {
        sh(&[
            "ip",
            "-n",
            &self.attacker,
            "route",
            "replace",
            &format!("{}/32", self.victim_ip),
            "dev",
            &self.attacker_if,
            "src",
            src,
        ]);
    }

    /// A /24 behind the victim of which the victim holds the first `up`
    /// addresses (the rest do not answer), routed from the attacker via the
    /// victim with `src` as source; returns the /24.
    pub fn sweep_range(&self, up: u8, src: &str) -> String {
        let third = self.attacker_ip.split('.').nth(2).unwrap();
        let second = 16
            + self
                .attacker_ip
                .split('.')
                .nth(1)
                .unwrap()
                .parse::<u8>()
                .unwrap()
                % 16;
        let net = format!("172.{second}.{third}");
        for h in 1..=up {
            sh(&[
                "ip",
                "-n",
                &self.victim,
                "addr",
                "add",
                &format!("{net}.{h}/32"),
                "dev",
                "lo",
            ]);
        }
        sh(&[
            "ip",
            "-n",
            &self.attacker,
            "route",
            "replace",
            &format!("{net}.0/24"),
            "via",
            &self.victim_ip,
            "src",
            src,
        ]);
        format!("{net}.0/24")
    }

    fn mac(ns: &str, ifc: &str) -> String {
        let out = Command::new("ip")
            .args(["-n", ns, "-br", "link", "show", ifc])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(2)
            .unwrap()
            .to_owned()
    }

    /// `nmap -sS` of ports 1-1000 from `src`.
    pub fn nmap_syn(&self, src: &str, dir: &std::path::Path) -> Bg {
        self.attack_from(src);
        self.spawn_in(
            &self.attacker,
            dir,
            "nmap-sS",
            TOOL_SECS,
            &[
                "nmap",
                "-n",
                "-Pn",
                "-sS",
                "-p",
                "1-1000",
                "--max-retries",
                "1",
                "-T4",
                "-e",
                &self.attacker_if,
                "-S",
                src,
                &self.victim_ip,
            ],
        )
    }

    /// `nmap -sU` of `ports` from `src`, one probe per port.
    pub fn nmap_udp(&self, src: &str, ports: &str, dir: &std::path::Path) -> Bg {
        self.attack_from(src);
        self.spawn_in(
            &self.attacker,
            dir,
            "nmap-sU",
            TOOL_SECS,
            &[
                "nmap",
                "-n",
                "-Pn",
                "-sU",
                "-p",
                ports,
                "--max-retries",
                "0",
                "-T4",
                "-e",
                &self.attacker_if,
                "-S",
                src,
                &self.victim_ip,
            ],
        )
    }

    /// `nmap -sn` (host discovery: echo, SYN to 443, ACK to 80, timestamp)
    /// of `cidr`, from the source its route names.
    pub fn nmap_sweep(&self, cidr: &str, dir: &std::path::Path) -> Bg {
        self.spawn_in(
            &self.attacker,
            dir,
            "nmap-sn",
            TOOL_SECS,
            &["nmap", "-n", "-sn", "-T4", cidr],
        )
    }

    /// masscan of ports 1-1000 at 2000 packets/s from `src`. masscan
    /// writes its own frames: the "router" is the victim's MAC. It may not
    /// exit by itself (it waits on its receive thread): `secs` bounds it.
    pub fn masscan(&self, src: &str, secs: u32, dir: &std::path::Path) -> Bg {
        self.attack_from(src);
        let (amac, vmac) = (
            Self::mac(&self.attacker, &self.attacker_if),
            Self::mac(&self.victim, &self.victim_if),
        );
        self.spawn_in(
            &self.attacker,
            dir,
            "masscan",
            secs,
            &[
                "masscan",
                &self.victim_ip,
                "-p1-1000",
                "--rate",
                "2000",
                "--wait",
                "1",
                "--adapter",
                &self.attacker_if,
                "--adapter-ip",
                src,
                "--adapter-mac",
                &amac,
                "--router-mac",
                &vmac,
            ],
        )
    }

    /// `hping3 --flood` of SYNs to the victim's port 80 from `src`, for
    /// `secs` seconds.
    pub fn hping_flood(&self, src: &str, secs: u32, dir: &std::path::Path) -> Bg {
        self.attack_from(src);
        self.spawn_in(
            &self.attacker,
            dir,
            "hping3",
            secs,
            &[
                "hping3",
                "-q",
                "-S",
                "-p",
                "80",
                "--flood",
                "-a",
                src,
                &self.victim_ip,
            ],
        )
    }

    /// hydra guessing `guesses` passwords of `admin` over SSH at the
    /// victim's `port`, four tasks, from `src`.
    pub fn hydra_ssh(&self, src: &str, port: u16, guesses: usize, dir: &std::path::Path) -> Bg {
        self.attack_from(src);
        let words = dir.join("hydra-words");
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            &words,
            (0..guesses)
                .map(|i| format!("guess{i}\n"))
                .collect::<String>(),
        )
        .unwrap();
        self.spawn_in(
            &self.attacker,
            dir,
            "hydra",
            TOOL_SECS * 2,
            &[
                "hydra",
                "-I",
                "-l",
                "admin",
                "-P",
                words.to_str().unwrap(),
                "-t",
                "4",
                "-s",
                &port.to_string(),
                &format!("ssh://{}", self.victim_ip),
            ],
        )
    }

    /// A TCP sink on `addr:SINK_PORT` in the victim, appending to `file`.
    fn sink(&self, dir: &std::path::Path, addr: &str, file: &std::path::Path) -> Bg {
        std::fs::write(file, "").unwrap();
        let listen = format!("TCP-LISTEN:{SINK_PORT},bind={addr},reuseaddr,fork");
        let out = format!("OPEN:{},creat,append", file.display());
        self.spawn_in(
            &self.victim,
            dir,
            "sink",
            TOOL_SECS * 2,
            &["socat", "-u", &listen, &out],
        )
    }

    /// Pushes `TUNNEL_PUSHES` × `bytes` of random data to `target`
    /// (socat address) from the attacker, one connection a second.
    fn push(&self, dir: &std::path::Path, target: &str, bytes: u64) -> Bg {
        let script = format!(
            "for i in $(seq {TUNNEL_PUSHES}); do head -c {bytes} /dev/urandom | socat -u - {target}; sleep 1; done"
        );
        self.spawn_in(
            &self.attacker,
            dir,
            "push",
            TOOL_SECS,
            &["sh", "-c", &script],
        )
    }

    /// ptunnel-ng: the proxy in the victim, the client in the attacker
    /// (from `src`) forwarding a local TCP port over ICMP echo to the sink
    /// behind the proxy; random data is pushed through it.
    pub fn icmp_tunnel(&self, src: &str, dir: &std::path::Path) -> Tunnel {
        self.attack_from(src);
        let limit = std::time::Duration::from_secs(10);
        let received = dir.join("ptunnel-received");
        let sink = self.sink(dir, &self.victim_ip, &received);
        let remote = [format!("-r{}", self.victim_ip), format!("-R{SINK_PORT}")];
        let server_log = format!("-o{}", dir.join("ptunnel-server.out").display());
        let server = self.spawn_in(
            &self.victim,
            dir,
            "ptunnel-server",
            TOOL_SECS * 2,
            &["ptunnel-ng", &remote[0], &remote[1], "-v1", &server_log],
        );
        let client_log = format!("-o{}", dir.join("ptunnel-client.out").display());
        let wait_file = |file: &str, pattern: &str| {
            let path = dir.join(file);
            crate::wait_for(limit, &format!("{pattern:?} in {file}"), || {
                std::fs::read_to_string(&path)
                    .unwrap_or_default()
                    .contains(pattern)
                    .then_some(())
            })
            .unwrap_or_else(|e| panic!("ptunnel-ng: {e}"));
        };
        wait_file("ptunnel-server.out", "Ping proxy is listening");
        let proxy = format!("-p{}", self.victim_ip);
        let local = format!("-l{PTUNNEL_LOCAL_PORT}");
        let client = self.spawn_in(
            &self.attacker,
            dir,
            "ptunnel-client",
            TOOL_SECS * 2,
            &[
                "ptunnel-ng",
                &proxy,
                &local,
                &remote[0],
                &remote[1],
                "-v1",
                &client_log,
            ],
        );
        wait_file(
            "ptunnel-client.out",
            "Relaying packets from incoming TCP streams",
        );
        let bytes = 64 * 1024;
        let pusher = self.push(dir, &format!("TCP:127.0.0.1:{PTUNNEL_LOCAL_PORT}"), bytes);
        Tunnel {
            tool: "ptunnel-ng",
            pusher,
            parts: vec![sink, server, client],
            received,
            pushed: TUNNEL_PUSHES * bytes,
        }
    }

    /// iodine from `src` to iodined in the victim answering for `tun.lab`
    /// (DNS mode forced, no raw UDP shortcut), over tun devices in both
    /// namespaces; random data is pushed through it to a sink behind the
    /// server. An error when this host has no /dev/net/tun.
    pub fn dns_tunnel(&self, src: &str, dir: &std::path::Path) -> anyhow::Result<Tunnel> {
        if !std::path::Path::new("/dev/net/tun").exists() {
            anyhow::bail!("iodine needs /dev/net/tun, which this host lacks");
        }
        self.attack_from(src);
        Ok(self.iodine(dir))
    }

    fn iodine(&self, dir: &std::path::Path) -> Tunnel {
        let limit = std::time::Duration::from_secs(15);
        let third = self.attacker_ip.split('.').nth(2).unwrap();
        let (server_ip, net) = (format!("10.251.{third}.1"), format!("10.251.{third}.1/27"));
        let server = self.spawn_in(
            &self.victim,
            dir,
            "iodined",
            TOOL_SECS * 2,
            &[
                "iodined",
                "-f",
                "-c",
                "-P",
                "shouwang-lab",
                "-l",
                &self.victim_ip,
                "-p",
                "53",
                &net,
                "tun.lab",
            ],
        );
        server
            .wait_output(limit, "Listening to dns for domain")
            .unwrap_or_else(|e| panic!("iodined: {e}"));
        let received = dir.join("iodine-received");
        let sink = self.sink(dir, &server_ip, &received);
        // -r: DNS only (no raw UDP shortcut); -m: skip probing the
        // fragment size (probes time out one by one).
        let client = self.spawn_in(
            &self.attacker,
            dir,
            "iodine",
            TOOL_SECS * 2,
            &[
                "iodine",
                "-f",
                "-r",
                "-m",
                "1100",
                "-P",
                "shouwang-lab",
                &self.victim_ip,
                "tun.lab",
            ],
        );
        client
            .wait_output(limit, "Connection setup complete")
            .unwrap_or_else(|e| panic!("iodine: {e}"));
        let bytes = 16 * 1024;
        let pusher = self.push(dir, &format!("TCP:{server_ip}:{SINK_PORT}"), bytes);
        Tunnel {
            tool: "iodine",
            pusher,
            parts: vec![server, sink, client],
            received,
            pushed: TUNNEL_PUSHES * bytes,
        }
    }
}
