//! Every capture in ../shared/corpus/expect.toml replays through
//! `shouwang-agent pcap`: flow counts are compared with tshark (and
//! softflowd, printed), and what each case's `what` names is found in the
//! events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use shouwang_drill::corpus::by_technique;
use shouwang_e2e::bin;

fn corpus() -> PathBuf {
    std::env::var_os("SHOUWANG_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
        PathBuf::from,
    )
}

fn cases() -> Vec<String> {
    let text = std::fs::read_to_string(corpus().join("expect.toml"))
        .expect("../shared/corpus/expect.toml (set SHOUWANG_CORPUS to its directory)");
    let v: toml::Value = toml::from_str(&text).unwrap();
    v["case"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["pcap"].as_str().unwrap().to_owned())
        .collect()
}

fn replay(pcap: &str) -> Vec<Value> {
    let out = Command::new(bin("shouwang-agent").unwrap())
        .args(["pcap", "--emit", "jsonl"])
        .arg(corpus().join(pcap))
        .output()
        .unwrap();
    shouwang_e2e::jsonl_output(pcap, &out)
}

fn kind<'a>(evs: &'a [Value], k: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    evs.iter().filter(move |e| e["kind"] == k)
}

/// TCP and UDP conversations: records of one 5-tuple are one conversation
/// unless a later record starts a new TCP connection (it carries a SYN).
/// Idle- and active-timeout splits of one connection are merged, as
/// tshark's conversation table does.
fn conversations(evs: &[Value]) -> (usize, usize) {
    let mut records = 0;
    let mut convs: BTreeMap<String, usize> = BTreeMap::new();
    let mut flows: Vec<&Value> = kind(evs, "flow")
        .filter(|f| f["proto"] == 6 || f["proto"] == 17)
        .collect();
    flows.sort_by_key(|f| f["first_ts"].as_i64());
    for f in flows {
        records += 1;
        let mut ends = [
            format!("{}:{}", f["src"], f["src_port"]),
            format!("{}:{}", f["dst"], f["dst_port"]),
        ];
        ends.sort();
        let key = format!("{}|{}|{}", f["proto"], ends[0], ends[1]);
        let new_connection = f["proto"] == 6 && f["syn"].as_u64().unwrap_or(0) > 0;
        let n = convs.entry(key).or_insert(0);
        if *n == 0 || new_connection {
            *n += 1;
        }
    }
    (records, convs.values().sum())
}

fn tshark_conversations(pcap: &Path) -> Option<usize> {
    let out = Command::new("tshark")
        .args(["-n", "-q", "-z", "conv,tcp", "-z", "conv,udp", "-r"])
        .arg(pcap)
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("<->"))
            .count()
    })
}

fn softflowd_flows(pcap: &Path) -> Option<usize> {
    let out = Command::new("softflowd")
        .args(["-D", "-m", "100000", "-r"])
        .arg(pcap)
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(text.lines().filter(|l| l.starts_with("ADD FLOW")).count())
}

/// What each case's `what` names, checked in the events.
fn check_content(pcap: &str, evs: &[Value]) {
    let uris: Vec<&str> = kind(evs, "http_request")
        .filter_map(|e| e["uri"].as_str())
        .collect();
    let flows: Vec<&Value> = kind(evs, "flow").collect();
    match pcap {
        "zeek/ssh-sshguess.pcap" => {
            let banners: BTreeSet<&str> = kind(evs, "ssh_banner")
                .filter_map(|e| e["banner"].as_str())
                .collect();
            assert!(
                banners.contains("SSH-2.0-OpenSSH_6.7p1 Debian-3"),
                "{banners:?}"
            );
            let conns = flows
                .iter()
                .filter(|f| {
                    f["src"] == "192.168.56.1"
                        && f["dst"] == "192.168.56.103"
                        && f["dst_port"] == 22
                })
                .count();
            assert_eq!(conns, 11, "11 connections to :22");
        }
        "zeek/ssh-benign-single-conn.pcap" => {
            assert_eq!(
                kind(evs, "ssh_banner").count(),
                2,
                "client and server banners"
            );
        }
        "zeek/http-cooper-grill-dvwa.pcapng" => {
            let sqli = uris
                .iter()
                .filter(|u| {
                    u.contains("/sqli/?id=") && (u.contains("UNION") || u.contains("%27+OR+"))
                })
                .count();
            assert_eq!(sqli, 3, "3 GETs with SQL in the URI: {uris:?}");
        }
        "ndpi/synscan.pcap" => {
            let ports: BTreeSet<u64> = flows
                .iter()
                .filter(|f| f["src"] == "172.16.0.8" && f["dst"] == "64.13.134.52")
                .filter_map(|f| f["dst_port"].as_u64())
                .collect();
            assert!(ports.len() >= 1000, "{} ports", ports.len());
        }
        "ndpi/tcp_scan.pcapng" => {
            let flags: BTreeSet<u64> = flows
                .iter()
                .filter(|f| f["src"] == "192.168.1.178")
                .filter_map(|f| f["tcp_flags_to_server"].as_u64())
                .collect();
            for (name, f) in [("NULL", 0x00), ("FIN", 0x01), ("XMAS", 0x29)] {
                assert!(flags.contains(&f), "{name} probe missing: {flags:?}");
            }
        }
        "ndpi/dns_exfiltration.pcap" => {
            let q: Vec<&str> = kind(evs, "dns")
                .filter(|e| e["response"] == false)
                .filter_map(|e| e["qname"].as_str())
                .collect();
            assert_eq!(
                q.iter().filter(|n| n.starts_with("dnscat.")).count(),
                150,
                "150 dnscat queries"
            );
            assert!(
                q.iter().map(|n| n.len()).max().unwrap() >= 230,
                "~240-char names"
            );
            let types: BTreeSet<&str> = kind(evs, "dns")
                .filter_map(|e| e["qtype"].as_str())
                .collect();
            assert!(
                ["MX", "TXT", "CNAME"].iter().all(|t| types.contains(t)),
                "{types:?}"
            );
        }
        "ndpi/sql_injection.pcap" => {
            assert!(uris.iter().any(|u| u.contains("UNION+SELECT")), "{uris:?}")
        }
        "ndpi/xss.pcap" => assert!(uris.iter().any(|u| u.contains("%3Cscript%3E")), "{uris:?}"),
        "suricata-verify/log4shell-output-multi-eve.pcap" => {
            let jndi = kind(evs, "http_request").any(|e| {
                e["headers"].as_array().is_some_and(|h| {
                    h.iter()
                        .any(|kv| kv[1].as_str().is_some_and(|v| v.contains("jndi:ldap://")))
                })
            });
            assert!(jndi, "jndi:ldap header");
            assert!(uris.contains(&"/Exploit.class"), "{uris:?}");
        }
        "suricata-verify/mirai-jaws-erspan-bug-5437-02.pcap" => {
            assert!(
                uris.iter()
                    .any(|u| u.starts_with("/shell?cd+/tmp;rm+-rf+*;wget")),
                "HTTP request inside ERSPAN: {uris:?}"
            );
        }
        "stopddos/syn-ecn-cwr-flood.pcap" => {
            let to_victim: Vec<&&Value> =
                flows.iter().filter(|f| f["dst"] == "10.10.10.10").collect();
            let sources: BTreeSet<&str> =
                to_victim.iter().filter_map(|f| f["src"].as_str()).collect();
            assert!(sources.len() > 9000, "{} sources", sources.len());
            let ece_cwr_syn = to_victim
                .iter()
                .filter(|f| f["tcp_flags_to_server"].as_u64().unwrap_or(0) & 0xc2 == 0xc2)
                .count();
            assert!(ece_cwr_syn > 9000, "{ece_cwr_syn} SYN+ECE+CWR flows");
        }
        other => panic!("{other}: no content check written for this case"),
    }
}

#[test]
fn every_corpus_capture_replays_with_matching_flow_counts() {
    let mut table = vec![format!(
        "{:<52} {:>8} {:>7} {:>7} {:>10} {:>6}",
        "capture", "records", "convs", "tshark", "softflowd", "events"
    )];
    let mut failures = Vec::new();
    let have_tshark = Command::new("tshark").arg("-v").output().is_ok();
    assert!(
        have_tshark || std::env::var_os("CI").is_none(),
        "tshark missing in CI (see .ci/run)"
    );
    for pcap in cases() {
        let evs = replay(&pcap);
        let (records, convs) = conversations(&evs);
        let path = corpus().join(&pcap);
        let ts = tshark_conversations(&path);
        let sf = softflowd_flows(&path);
        table.push(format!(
            "{pcap:<52} {records:>8} {convs:>7} {:>7} {:>10} {:>6}",
            ts.map_or("-".into(), |t| t.to_string()),
            sf.map_or("-".into(), |t| t.to_string()),
            evs.len()
        ));
        if let Some(t) = ts {
            let diff = convs.abs_diff(t) as f64;
            if diff > (t as f64 * 0.01).max(0.0) {
                failures.push(format!("{pcap}: {convs} conversations vs tshark {t}"));
            }
        }
        check_content(&pcap, &evs);
        assert!(
            kind(&evs, "iface_stats").count() >= 1,
            "{pcap}: no interval statistics"
        );
    }
    println!("{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "flow counts off by more than 1%:\n{}",
        failures.join("\n")
    );
}

/// `shouwang-agent pcap FILE --collector … --token …`, asserting success.
fn send(c: &shouwang_e2e::Collector, token: &str, state: &Path, pcap: &Path, extra: &[&str]) {
    let out = Command::new(bin("shouwang-agent").unwrap())
        .args(["pcap", "--collector", &c.url, "--token", token])
        .args(extra)
        .arg("--state-dir")
        .arg(state)
        .arg(pcap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pcap_replay_ships_through_the_collector_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let c = shouwang_e2e::Collector::start(dir.path(), "").unwrap();
    let token = c.add_agent("replay").unwrap();
    let pcap = corpus().join("zeek/ssh-sshguess.pcap");
    let replay = || send(&c, &token, &dir.path().join("replay-state"), &pcap, &[]);
    replay();
    let flows = c.events("replay", "flow").unwrap();
    assert_eq!(flows.len(), 11, "11 SSH connections stored");
    assert!(
        flows
            .iter()
            .all(|f| f["event"]["dst_port"] == 22 && f["event"]["src"] == "192.168.56.1")
    );
    // Capture time is kept: the flows are from March 2015.
    let ts = flows[0]["event"]["ts"].as_i64().unwrap();
    assert!(
        (1_427_700_000_000_000_000..1_427_800_000_000_000_000).contains(&ts),
        "{ts}"
    );
    let banners = c.events("replay", "ssh_banner").unwrap().len();
    assert_eq!(banners, 22);
    // A second replay is new telemetry (new sequence numbers), not a duplicate.
    replay();
    assert_eq!(c.events("replay", "flow").unwrap().len(), 22);
    assert_eq!(
        c.metric("shouwang_ingest_events_total{kind=\"flow\"}")
            .unwrap(),
        Some(22.0)
    );
    assert_eq!(
        c.metric("shouwang_ingest_duplicate_events_total").unwrap(),
        Some(0.0)
    );
}

/// Whether `addr` appears in `inc` as `role` (`src` or `dst`): in the group
/// key, or in an evidence event.
fn involves(inc: &Value, role: &str, addr: &str) -> bool {
    let group = inc["group"].as_str().unwrap_or_default();
    let keys: &[&str] = if role == "src" {
        &["src", "client", "ip"]
    } else {
        &["dst", "server"]
    };
    keys.iter()
        .any(|k| group.split(' ').any(|kv| kv == format!("{k}={addr}")))
        || inc["evidence"].as_array().into_iter().flatten().any(|e| {
            keys.iter().any(|k| e[*k].as_str() == Some(addr))
                || (role == "src" && e["source_addr"].as_str() == Some(addr))
        })
}

/// Acceptance: every capture of expect.toml through agent and collector
/// (the shipped rules, a fresh collector per case), checked against its
/// expectations: ATT&CK prefix, attacker/victim, max_incidents, and nothing
/// of medium or above for benign cases.
#[test]
fn corpus_expectations_are_met_through_agent_and_collector() {
    let text = std::fs::read_to_string(corpus().join("expect.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    let mut table = vec![format!(
        "{:<52} {:<40} {:<44} {}",
        "capture", "expected", "incidents (technique×n)", "result"
    )];
    let mut failures = Vec::new();
    for case in v["case"].as_array().unwrap() {
        let pcap = case["pcap"].as_str().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let c = shouwang_e2e::Collector::start(dir.path(), "").unwrap();
        let token = c.add_agent("replay").unwrap();
        send(
            &c,
            &token,
            &dir.path().join("state"),
            &corpus().join(pcap),
            &["--exercise", "corpus"],
        );
        let incidents = c.incidents("").unwrap();
        for i in &incidents {
            assert_eq!(i["exercise"], "corpus", "{pcap}: exercise tag carried: {i}");
        }
        let summary = by_technique(incidents.iter().map(|i| {
            i["attack"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
        }));
        let mut problems = Vec::new();
        let mut expected = Vec::new();
        if case.get("benign").and_then(toml::Value::as_bool) == Some(true) {
            expected.push("benign".to_owned());
            for i in &incidents {
                let sev = i["severity"].as_str().unwrap();
                if !matches!(sev, "info" | "low") {
                    problems.push(format!("{} ({sev}) on a benign capture", i["rule"]));
                }
            }
        }
        for e in case
            .get("expect")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
        {
            let attack = e["attack"].as_str().unwrap();
            let src = e.get("src").and_then(toml::Value::as_str);
            let dst = e.get("dst").and_then(toml::Value::as_str);
            expected.push(format!(
                "{attack}{}{}",
                src.map(|s| format!(" src={s}")).unwrap_or_default(),
                dst.map(|s| format!(" dst={s}")).unwrap_or_default()
            ));
            let with_tech: Vec<&Value> = incidents
                .iter()
                .filter(|i| {
                    i["attack"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|t| t.as_str().unwrap().starts_with(attack))
                })
                .collect();
            let hit = with_tech.iter().any(|i| {
                src.is_none_or(|a| involves(i, "src", a))
                    && dst.is_none_or(|a| involves(i, "dst", a))
            });
            if !hit {
                problems.push(format!(
                    "no {attack} incident involving src={src:?} dst={dst:?}"
                ));
            }
            if let Some(max) = e.get("max_incidents").and_then(toml::Value::as_integer)
                && with_tech.len() as i64 > max
            {
                problems.push(format!(
                    "{} {attack} incidents (at most {max})",
                    with_tech.len()
                ));
            }
        }
        let result = if problems.is_empty() {
            "ok".to_owned()
        } else {
            format!("FAIL: {}", problems.join("; "))
        };
        table.push(format!(
            "{pcap:<52} {:<40} {summary:<44} {result}",
            expected.join(", ")
        ));
        if !problems.is_empty() {
            failures.push(format!("{pcap}: {}", problems.join("; ")));
        }
    }
    println!("{}", table.join("\n"));
    assert!(
        failures.is_empty(),
        "{}\n\n{}",
        table.join("\n"),
        failures.join("\n")
    );
}
