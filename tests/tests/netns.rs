//! Live capture against real attack tools, in two network namespaces joined
//! by a veth pair that this test creates (root only; CI runs as root).
//! Traffic stays between the namespaces' own addresses; every tool run is
//! bounded in time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::{Child, Command};

use serde_json::Value;
use shouwang_e2e::lab::{Lab, Mgmt, is_root};

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
    lab.nmap_syn_scan();
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
    lab.syn_flood(&[]);
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

fn incidents_with(c: &shouwang_e2e::Collector, technique: &str) -> Vec<Value> {
    c.incidents("")
        .unwrap()
        .into_iter()
        .filter(|i| {
            i["attack"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t.as_str().unwrap().starts_with(technique))
        })
        .collect()
}

/// Acceptance for detection with real tools: nmap -sS gives one T1046
/// incident keyed on the attacker within 5 s of the scan ending; an hping3
/// SYN flood from random sources gives one T1499 incident keyed on the
/// victim; hydra against a real sshd (logging to a file the agent follows)
/// gives a T1110 incident with network and auth-log evidence.
#[test]
fn real_attacks_raise_the_right_incidents() {
    if !is_root() {
        eprintln!("SKIPPED: network namespaces need root (CI runs this as root)");
        return;
    }
    let lab = Lab::new("d");
    let mgmt = Mgmt::new(&lab, "d");
    let dir = tempfile::tempdir().unwrap();
    let c = shouwang_e2e::Collector::start_at(
        dir.path(),
        &format!("{}:0", mgmt.host_ip),
        shouwang_e2e::lab::MGMT_PLAINTEXT,
    )
    .unwrap();
    let token = c.add_agent("victim").unwrap();

    // sshd in the victim namespace, logging to a file; the agent captures
    // and follows that log, shipping over the management link.
    let (mut sshd, log) = lab.sshd(&dir.path().join("sshd"));
    let agent = lab.victim_agent(dir.path(), &c.url, &token, Some(&log));

    // 1. nmap -sS: one T1046 incident keyed on the attacker, within 5 s.
    lab.nmap_syn_scan();
    let ended = std::time::Instant::now();
    let found = shouwang_e2e::wait_for(std::time::Duration::from_secs(5), "T1046 incident", || {
        let v = incidents_with(&c, "T1046");
        (!v.is_empty()).then_some(v)
    });
    let found = found.unwrap_or_else(|e| panic!("{e}\nagent log:\n{}", agent.log()));
    println!(
        "nmap: T1046 incident {:.1} s after the scan ended",
        ended.elapsed().as_secs_f64()
    );
    // Flows still in flight must not open a second one.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let t1046 = incidents_with(&c, "T1046");
    assert_eq!(t1046.len(), 1, "{t1046:#?}");
    assert_eq!(t1046[0]["group"], format!("src={}", lab.attacker_ip));
    assert_eq!(found[0]["id"], t1046[0]["id"]);

    // 2. hping3 SYN flood from random sources: one T1499 keyed on the victim.
    lab.syn_flood(&["--rand-source"]);
    let t1499 =
        shouwang_e2e::wait_for(std::time::Duration::from_secs(30), "T1499 incident", || {
            let v = incidents_with(&c, "T1499");
            (!v.is_empty()).then_some(v)
        })
        .unwrap_or_else(|e| panic!("{e}\nagent log:\n{}", agent.log()));
    std::thread::sleep(std::time::Duration::from_secs(3));
    let t1499_after = incidents_with(&c, "T1499");
    assert_eq!(t1499_after.len(), 1, "{t1499_after:#?}");
    assert_eq!(
        t1499[0]["group"],
        // Floods are keyed on the victim host (fan-in per destination).
        format!("dst={}", lab.victim_ip)
    );
    println!(
        "hping3: one T1499 incident, count {}",
        t1499_after[0]["count"]
    );

    // 3. hydra against sshd: T1110 with flow and auth evidence.
    let words = dir.path().join("words");
    std::fs::write(
        &words,
        (0..16).map(|i| format!("guess{i}\n")).collect::<String>(),
    )
    .unwrap();
    let hydra = lab.in_attacker(&[
        "timeout",
        "120",
        "hydra",
        "-I",
        "-l",
        "admin",
        "-P",
        words.to_str().unwrap(),
        "-t",
        "4",
        &format!("ssh://{}", lab.victim_ip),
    ]);
    assert!(
        hydra.status.success(),
        "hydra: {}",
        String::from_utf8_lossy(&hydra.stderr)
    );
    let t1110 = shouwang_e2e::wait_for(
        std::time::Duration::from_secs(20),
        "T1110 incident with both kinds of evidence",
        || {
            incidents_with(&c, "T1110").into_iter().find(|i| {
                let kinds: BTreeSet<&str> = i["evidence"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|e| e["kind"].as_str())
                    .collect();
                kinds.contains("flow") && kinds.contains("auth")
            })
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}\nincidents: {:#?}\nsshd log:\n{}",
            incidents_with(&c, "T1110"),
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    assert_eq!(t1110["group"], format!("src={}", lab.attacker_ip));
    println!(
        "hydra: T1110 incident {} with {} evidence events",
        t1110["rule"],
        t1110["evidence"].as_array().unwrap().len()
    );
    let _ = sshd.kill();
    let _ = sshd.wait();
    drop(agent);
    drop(mgmt);
}
