//! `shouwang-drill` against real collectors: every inject playbook, the
//! shared corpus, a disabled rule that must show as a miss, and (root) the
//! packets and exec playbooks through a real agent in network namespaces.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use shouwang_e2e::lab::{Lab, Mgmt, is_root, sh};
use shouwang_e2e::{Collector, bin, repo_root};

fn drill(args: &[&str], extra: &[&std::ffi::OsStr]) -> Output {
    let out = Command::new(bin("shouwang-drill").unwrap())
        .args(args)
        .args(extra)
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn report(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("last.json")).unwrap()).unwrap()
}

fn corpus() -> PathBuf {
    std::env::var_os("SHOUWANG_CORPUS")
        .map_or_else(|| repo_root().join("../shared/corpus"), PathBuf::from)
}

/// Runs `playbooks` with the drill agent and a viewer token of `c`.
fn run(c: &Collector, playbooks: &[&Path], out: &Path, extra: &[&str]) -> Output {
    let agent = c
        .add_agent("drill")
        .or_else(|_| shouwang_e2e::cli(&c.exe, &c.config, &["agents", "rotate", "drill"]))
        .unwrap();
    // `tokens add` replaces a token of the same name.
    let viewer = c.api_token("drill-viewer", "viewer").unwrap();
    let mut args = vec!["run", "--collector", &c.url, "--agent-token", &agent];
    args.extend(["--api-token", &viewer, "--out", out.to_str().unwrap()]);
    args.extend(extra);
    let files: Vec<&std::ffi::OsStr> = playbooks.iter().map(|p| p.as_os_str()).collect();
    drill(&args, &files)
}

/// Acceptance: every `inject` playbook against a real collector passes;
/// the incidents carry the run's exercise tags and nothing else is raised.
#[test]
fn every_inject_playbook_passes_against_a_real_collector() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "").unwrap();
    let out = dir.path().join("reports");
    let pb = repo_root().join("playbooks");
    let o = run(
        &c,
        &[&pb],
        &out,
        &["--only", "inject", "--strict", "--exercise", "ci-inject"],
    );
    assert_eq!(o.status.code(), Some(0), "scorecard above");
    let r = report(&out);
    let books = r["playbooks"].as_array().unwrap();
    let inject_files = std::fs::read_dir(&pb)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert_eq!(books.len(), inject_files);
    assert!(books.len() >= 12, "{} playbooks", books.len());
    let mut expectations = 0;
    for b in books {
        assert_eq!(b["status"], "passed", "{b:#}");
        for o in b["outcomes"].as_array().unwrap() {
            expectations += 1;
            assert!(
                ["detected", "quiet"].contains(&o["verdict"].as_str().unwrap()),
                "{o}"
            );
        }
        assert_eq!(b["false_positives"].as_array().unwrap().len(), 0, "{b:#}");
    }
    println!("{} playbooks, {expectations} expectations met", books.len());
    // Every incident the run raised is tagged with its playbook's exercise.
    let all = c.incidents("").unwrap();
    assert!(!all.is_empty());
    for i in &all {
        let x = i["exercise"].as_str().unwrap_or_default();
        assert!(x.starts_with("ci-inject."), "untagged drill incident: {i}");
        assert!(
            i["group"]
                .as_str()
                .unwrap()
                .contains(&format!("exercise={x}"))
        );
    }
    // The Markdown report has the scorecard.
    let md = std::fs::read_to_string(out.join("ci-inject.md")).unwrap();
    assert!(
        md.contains("| scan-tcp-ports | T1046 | T1046 src=198.51.100.7 | detected |"),
        "{md}"
    );
    // Coverage reads the rules, the playbooks and this run.
    let cov = drill(
        &[
            "coverage",
            "--rules",
            repo_root().join("rules").to_str().unwrap(),
            "--playbooks",
            pb.to_str().unwrap(),
            "--playbooks",
            pb.join("live").to_str().unwrap(),
            "--report",
            out.join("last.json").to_str().unwrap(),
        ],
        &[],
    );
    assert!(cov.status.success());
    let text = String::from_utf8_lossy(&cov.stdout);
    assert!(text.contains("techniques claimed by rules"), "{text}");
    let row = |t: &str| text.lines().find(|l| l.starts_with(t)).unwrap().to_owned();
    let t1018 = row("T1018 ");
    assert!(
        t1018.contains("network.scan.icmp-sweep")
            && t1018.contains("sweep-icmp")
            && t1018.contains("detected 1"),
        "{t1018}"
    );
    assert!(row("T1046 ").contains("detected 3"), "{text}");
}

/// Acceptance: `shouwang-drill corpus ../shared/corpus` (a private
/// collector per case, the shipped rules) passes every case.
#[test]
fn the_corpus_command_scores_every_shared_capture() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let o = drill(
        &[
            "corpus",
            corpus().to_str().unwrap(),
            "--rules",
            repo_root().join("rules").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let cases = std::fs::read_to_string(corpus().join("expect.toml"))
        .unwrap()
        .lines()
        .filter(|l| l.trim() == "[[case]]")
        .count();
    assert!(
        text.contains(&format!("{cases} cases: {cases} passed, 0 failed")),
        "{text}"
    );
    assert!(
        text.contains("recall 10/10 = 100.0%; false positives 0"),
        "{text}"
    );
    let r = report(&out);
    assert_eq!(r["playbooks"].as_array().unwrap().len(), cases);
}

/// Acceptance: the project's own corpus (corpus/expect.toml: captures and
/// logs of real daemons, one log case per dialect family, benign browsing
/// that must raise nothing of medium or above) scores logs as it scores
/// captures; log cases replay through `shouwang-agent log
/// --collector`.
#[test]
fn the_corpus_command_scores_the_projects_own_logs_and_captures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let own = repo_root().join("corpus");
    let o = drill(
        &[
            "corpus",
            own.to_str().unwrap(),
            "--rules",
            repo_root().join("rules").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let expect = std::fs::read_to_string(own.join("expect.toml")).unwrap();
    let cases = expect.lines().filter(|l| l.trim() == "[[case]]").count();
    let logs = expect.lines().filter(|l| l.starts_with("log = ")).count();
    assert!(logs >= 8, "{logs} log cases in the own corpus");
    let expectations = expect
        .lines()
        .filter(|l| l.trim() == "[[case.expect]]")
        .count();
    assert!(
        text.contains(&format!("{cases} cases: {cases} passed, 0 failed")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "recall {expectations}/{expectations} = 100.0%; false positives 0"
        )),
        "{text}"
    );
    let r = report(&out);
    let books = r["playbooks"].as_array().unwrap();
    assert_eq!(books.len(), cases);
    // The journal and the bare `sshd -E` dialects are among them.
    for f in ["journal.jsonl", ".E.log", "vsftpd", "proftpd"] {
        assert!(
            books.iter().any(|b| b["id"].as_str().unwrap().contains(f)),
            "{f}"
        );
    }
    // Benign browsing (corpus/make-benign.sh: 15 CDN hosts, ssh, NTP, DNS)
    // is scored and raised nothing of medium or above.
    assert!(
        text.lines()
            .any(|l| l.starts_with("pcap/benign-browsing.pcap") && l.trim_end().ends_with("ok")),
        "the benign browsing capture is scored: {text}"
    );
}

/// Acceptance: a disabled rule makes its playbook fail with a clear miss.
#[test]
fn a_disabled_rule_shows_as_a_miss_and_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    sh(&[
        "cp",
        "-r",
        repo_root().join("rules").to_str().unwrap(),
        rules.to_str().unwrap(),
    ]);
    let file = rules.join("network/port-scan-tcp.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen("kind = ", "enabled = false\nkind = ", 1),
    )
    .unwrap();
    let c = Collector::start(
        dir.path(),
        &format!("[rules]\ndir = \"{}\"\n", rules.display()),
    )
    .unwrap();
    let out = dir.path().join("reports");
    let pb = repo_root().join("playbooks/scan-tcp-ports.toml");
    let o = run(&c, &[&pb], &out, &["--grace", "2s"]);
    assert_eq!(o.status.code(), Some(1), "a miss exits 1");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("FAIL  scan-tcp-ports"), "{text}");
    assert!(
        text.contains("MISSED    T1046 src=198.51.100.7"),
        "the miss names the expectation: {text}"
    );
    assert!(
        text.contains("no incident with this technique or rule"),
        "{text}"
    );
    assert!(text.contains("1 missed"), "{text}");
    let r = report(&out);
    assert_eq!(r["playbooks"][0]["outcomes"][0]["verdict"], "missed");

    // Broken input: a playbook with a misspelt key is an error with file:line.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&pb)
            .unwrap()
            .replace("within =", "witin ="),
    )
    .unwrap();
    let o = run(&c, &[&bad], &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("ERROR scan-tcp-ports") || text.contains("ERROR bad"),
        "{text}"
    );
    assert!(
        text.contains("bad.toml:") && text.contains("witin"),
        "{text}"
    );
}

/// Acceptance (root): the `packets` and `exec` playbooks (nmap, hping3,
/// hydra, crafted scans, flood, sweep, tunnels, web attacks) through a real
/// agent capturing the victim's interface and a real collector; every
/// expectation is met.
#[test]
fn packets_and_exec_playbooks_pass_through_a_real_agent() {
    if !is_root() {
        eprintln!("SKIPPED: network namespaces need root (CI runs this as root)");
        return;
    }
    let lab = Lab::new("k");
    let mgmt = Mgmt::new(&lab, "k");
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start_at(
        dir.path(),
        &format!("{}:0", mgmt.host_ip),
        shouwang_e2e::lab::MGMT_PLAINTEXT,
    )
    .unwrap();
    let token = c.add_agent("victim").unwrap();

    // sshd in the victim namespace for hydra; the agent captures the lab
    // interface.
    let (mut sshd, _) = lab.sshd(&dir.path().join("sshd"));
    let agent = lab.victim_agent(dir.path(), &c.url, &token, None);

    let sweep = format!("{}.0/26", lab.victim_ip.rsplit_once('.').unwrap().0);
    let out = dir.path().join("reports");
    let live = repo_root().join("playbooks/live");
    let vars = [
        format!("attacker-ns={}", lab.attacker),
        format!("attacker-if={}", lab.attacker_if),
        format!("attacker={}", lab.attacker_ip),
        format!("target={}", lab.victim_ip),
        format!("sweep={sweep}"),
    ];
    let mut extra = vec!["--strict", "--exercise", "ci-live"];
    for v in &vars {
        extra.extend(["--var", v.as_str()]);
    }
    let o = run(&c, &[&live], &out, &extra);
    let r = report(&out);
    let _ = sshd.kill();
    let _ = sshd.wait();
    assert_eq!(
        o.status.code(),
        Some(0),
        "scorecard above; agent log:\n{}",
        agent.log()
    );
    let books = r["playbooks"].as_array().unwrap();
    assert_eq!(books.len(), 7);
    let kinds: Vec<String> = books
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_owned())
        .collect();
    for want in [
        "live-nmap-syn-scan",
        "live-hping3-syn-flood",
        "live-hydra-ssh",
        "live-packets-scans",
    ] {
        assert!(kinds.iter().any(|k| k == want), "{kinds:?}");
    }
    let mut met = 0;
    for b in books {
        assert_eq!(b["status"], "passed", "{b:#}");
        for o in b["outcomes"].as_array().unwrap() {
            assert_eq!(o["verdict"], "detected", "{o}");
            met += 1;
            println!(
                "{:<28} {:<50} time to detect {:.1} s",
                b["id"].as_str().unwrap(),
                o["expect"].as_str().unwrap(),
                o["ttd_ms"].as_f64().unwrap() / 1000.0
            );
        }
    }
    println!("{} live playbooks, {met} expectations met", books.len());
    drop(agent);
    drop(mgmt);
}
