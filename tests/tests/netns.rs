//! Live capture against real attack tools, in two network namespaces joined
//! by a veth pair that this test creates (root only; CI runs as root).
//! Traffic stays between the namespaces' own addresses; every tool run is
//! bounded in time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use shouwang_e2e::bin;

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn sh(args: &[&str]) {
    let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(st.success(), "{args:?} failed");
}

/// Two namespaces, attacker (.1) and victim (.2), on a /30 of their own.
struct Lab {
    attacker: String,
    victim: String,
    victim_if: String,
    attacker_ip: String,
    victim_ip: String,
}

impl Lab {
    fn new(tag: &str) -> Self {
        let id = std::process::id() % 10_000;
        let (attacker, victim) = (format!("swa{tag}{id}"), format!("swv{tag}{id}"));
        let (a_if, v_if) = (format!("sa{tag}{id}"), format!("sv{tag}{id}"));
        let net = 200 + u32::from(tag.as_bytes()[0] % 50);
        let lab = Self {
            attacker_ip: format!("10.{net}.{}.1", id % 250),
            victim_ip: format!("10.{net}.{}.2", id % 250),
            attacker,
            victim,
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
    fn capture(&self, secs: u32, stats: &str) -> Child {
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

    fn in_attacker(&self, cmd: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.attacker])
            .args(cmd)
            .output()
            .unwrap()
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

fn events(child: Child) -> Vec<Value> {
    shouwang_e2e::jsonl_output("capture", &child.wait_with_output().unwrap())
}

/// Waits until the agent has opened its socket (its log says so).
fn wait_opened(child: &mut Child) -> std::io::BufReader<std::process::ChildStderr> {
    use std::io::BufRead;
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "agent exited before opening the capture"
        );
        if line.contains("capture opened") {
            return err;
        }
    }
}

#[test]
fn nmap_syn_scan_shows_a_thousand_ports_and_hping_flood_shows_rates() {
    if !is_root() {
        eprintln!("SKIPPED: network namespaces need root (CI runs this as root)");
        return;
    }
    let lab = Lab::new("n");

    // nmap -sS -p 1-1000 from the attacker while the agent captures.
    let mut cap = lab.capture(25, "1s");
    let _stderr = wait_opened(&mut cap);
    let scan = lab.in_attacker(&[
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
        &lab.victim_ip,
    ]);
    assert!(
        scan.status.success(),
        "nmap: {}",
        String::from_utf8_lossy(&scan.stderr)
    );
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(cap.id().to_string())
        .status();
    let evs = events(cap);
    let ports: BTreeSet<u64> = evs
        .iter()
        .filter(|e| {
            e["kind"] == "flow"
                && e["src"] == lab.attacker_ip.as_str()
                && e["dst"] == lab.victim_ip.as_str()
        })
        .filter_map(|e| e["dst_port"].as_u64())
        .collect();
    println!(
        "nmap: {} distinct destination ports from {}",
        ports.len(),
        lab.attacker_ip
    );
    assert!(ports.len() >= 1000, "{} ports", ports.len());

    // A 2-second hping3 SYN flood: interval statistics report rate and drops.
    let mut cap = lab.capture(8, "1s");
    let _stderr = wait_opened(&mut cap);
    let _ = lab.in_attacker(&[
        "timeout",
        "2",
        "hping3",
        "-q",
        "-S",
        "-p",
        "80",
        "--flood",
        &lab.victim_ip,
    ]);
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(cap.id().to_string())
        .status();
    let evs = events(cap);
    let stats: Vec<&Value> = evs.iter().filter(|e| e["kind"] == "iface_stats").collect();
    for s in &stats {
        println!(
            "iface_stats: {} pkts/s, {} SYN/s, kernel drops {}, agent drops {}",
            s["packets_per_sec"], s["syn_per_sec"], s["kernel_drops"], s["agent_drops"]
        );
    }
    let peak = stats
        .iter()
        .filter_map(|s| s["packets_per_sec"].as_f64())
        .fold(0.0, f64::max);
    assert!(peak > 1000.0, "flood rate not reported: peak {peak} pkts/s");
    assert!(
        stats
            .iter()
            .any(|s| s["syn_per_sec"].as_f64().unwrap_or(0.0) > 1000.0)
    );
    assert!(
        stats
            .iter()
            .all(|s| s["kernel_drops"].is_u64() && s["agent_drops"].is_u64()),
        "drop counters reported"
    );
}
