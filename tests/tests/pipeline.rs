//! The whole pipeline: real agent process → real collector process on
//! loopback → registry, events and /metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use shouwang_e2e::{Agent, Collector, auth_log_lines, bin, metric_value, wait_for};

#[test]
fn agent_is_listed_with_host_data_and_gauges_within_15s() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "").unwrap();
    let token = c.add_agent("e2e-host").unwrap();
    let _agent =
        Agent::start(dir.path(), "e2e-host", &c.url, &token, "auth-log = \"off\"").unwrap();

    let a = wait_for(
        Duration::from_secs(15),
        "agent with host data in /v1/agents",
        || {
            c.agent("e2e-host").ok().flatten().filter(|a| {
                a["host"]["memory_total"].as_u64().unwrap_or(0) > 0
                    && a["agent_version"].is_string()
            })
        },
    )
    .unwrap();
    assert_eq!(a["status"], "online");
    assert_eq!(a["labels"]["district"], "d1");
    assert_eq!(a["labels"]["role"], "web");
    assert!(a["host"]["processes"].as_u64().unwrap() > 0);
    assert!(a["host"]["cpus"].as_u64().unwrap() >= 1);
    assert_eq!(a["hostname"].as_str().map(str::is_empty), Some(false));
    assert!(
        a["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["component"] == "auth-log"),
        "{a}"
    );

    let m = c.metrics().unwrap();
    let mem = metric_value(&m, "shouwang_host_memory_total_bytes{agent=\"e2e-host\"}")
        .expect("memory gauge");
    assert!(mem > 0.0);
    assert_eq!(
        metric_value(&m, "shouwang_agent_up{agent=\"e2e-host\"}"),
        Some(1.0)
    );
    assert!(metric_value(&m, "shouwang_ingest_events_total{kind=\"host_sample\"}").unwrap() >= 1.0);
    assert!(metric_value(&m, "shouwang_ingest_events_total{kind=\"heartbeat\"}").unwrap() >= 1.0);
    assert!(m.contains("shouwang_agent_info{agent=\"e2e-host\",version=\""));

    // Detail endpoint: full sample and listening sockets (the collector's own port among them).
    let d = c.get_json("/v1/agents/e2e-host").unwrap();
    let port: u64 = c.url.rsplit(':').next().unwrap().parse().unwrap();
    wait_for(
        Duration::from_secs(10),
        "collector port in listening list",
        || {
            let d = c.get_json("/v1/agents/e2e-host").ok()?;
            d["listening"]
                .as_array()?
                .iter()
                .any(|s| s["port"] == port && s["proto"] == "tcp")
                .then_some(())
        },
    )
    .unwrap();
    assert!(
        !d["host_sample"]["interfaces"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn listening_socket_changes_arrive_as_events() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "").unwrap();
    let token = c.add_agent("e2e-ports").unwrap();
    let _agent = Agent::start(
        dir.path(),
        "e2e-ports",
        &c.url,
        &token,
        "auth-log = \"off\"",
    )
    .unwrap();
    wait_for(Duration::from_secs(15), "first snapshot", || {
        (!c.events("e2e-ports", "listen_snapshot").ok()?.is_empty()).then_some(())
    })
    .unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let opened = wait_for(Duration::from_secs(15), "listen_change opened", || {
        c.events("e2e-ports", "listen_change")
            .ok()?
            .into_iter()
            .find(|e| e["event"]["port"] == port && e["event"]["change"] == "opened")
    })
    .unwrap();
    assert_eq!(opened["event"]["proto"], "tcp");
    assert_eq!(
        opened["event"]["pid"],
        std::process::id(),
        "owner found: {opened}"
    );
    drop(l);
    wait_for(Duration::from_secs(15), "listen_change closed", || {
        c.events("e2e-ports", "listen_change")
            .ok()?
            .into_iter()
            .find(|e| e["event"]["port"] == port && e["event"]["change"] == "closed")
    })
    .unwrap();
}

#[test]
fn promtool_accepts_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "").unwrap();
    let token = c.add_agent("e2e-prom").unwrap();
    let _agent =
        Agent::start(dir.path(), "e2e-prom", &c.url, &token, "auth-log = \"off\"").unwrap();
    let text = wait_for(Duration::from_secs(15), "agent gauges in /metrics", || {
        let m = c.metrics().ok()?;
        (m.contains("shouwang_host_memory_total_bytes{agent=\"e2e-prom\"}")
            && m.contains("shouwang_agent_info{agent=\"e2e-prom\""))
        .then_some(m)
    })
    .unwrap();
    promtool_check(&text);
}

/// Pipes a metrics exposition through `promtool check metrics`; asserts it
/// passes with no lint findings.
fn promtool_check(text: &str) {
    let promtool = which("promtool")
        .expect("promtool not installed: apt-get install prometheus (see .ci/run)");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{said}"
    );
    assert!(said.trim().is_empty(), "promtool lint findings:\n{said}");
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn append(path: &std::path::Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.sync_all().unwrap();
}

#[test]
fn auth_log_events_arrive_across_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(
        &log,
        "Jan  1 00:00:00 old sshd[1]: Failed password for history from 192.0.2.250 port 1 ssh2\n",
    )
    .unwrap();
    let c = Collector::start(dir.path(), "").unwrap();
    let token = c.add_agent("e2e-auth").unwrap();
    let _agent = Agent::start(
        dir.path(),
        "e2e-auth",
        &c.url,
        &token,
        &auth_log_lines(&log, "100ms"),
    )
    .unwrap();
    // The agent says when it has opened the file; lines after that are covered.
    wait_for(Duration::from_secs(15), "auth-log follow notice", || {
        c.events("e2e-auth", "notice")
            .ok()?
            .into_iter()
            .find(|e| e["event"]["component"] == "auth-log")
    })
    .unwrap();

    // (user, address, port, outcome, service)
    let sshd_fail = |i: u32| {
        (
            format!("user{i}"),
            format!("198.51.100.{i}"),
            40000 + i,
            "failure",
            "sshd",
        )
    };
    let sshd_ok = |i: u32| {
        (
            format!("ok{i}"),
            format!("203.0.113.{i}"),
            50000 + i,
            "success",
            "sshd",
        )
    };
    let line = |(user, addr, port, outcome, _): &(String, String, u32, &str, &str)| {
        let verb = if *outcome == "failure" {
            "Failed password"
        } else {
            "Accepted publickey"
        };
        format!("Jan 10 11:59:01 web-01 sshd[811]: {verb} for {user} from {addr} port {port} ssh2")
    };
    let before: Vec<_> = (1..=5).map(sshd_fail).chain((1..=2).map(sshd_ok)).collect();
    let late: Vec<_> = (6..=7).map(sshd_fail).collect();
    let after: Vec<_> = (8..=12)
        .map(sshd_fail)
        .chain((3..=4).map(sshd_ok))
        .collect();

    append(&log, &before.iter().map(line).collect::<Vec<_>>());
    // logrotate (create mode): rename, the writer still appends to the old file, then a new one.
    std::fs::rename(&log, dir.path().join("auth.log.1")).unwrap();
    append(
        &dir.path().join("auth.log.1"),
        &late.iter().map(line).collect::<Vec<_>>(),
    );
    append(&log, &after.iter().map(line).collect::<Vec<_>>());
    // And a su and a sudo failure after rotation.
    append(&log, &[
        "Jan 10 11:59:02 web-01 su[900]: FAILED SU (to root) mallory on pts/3".to_owned(),
        "Jan 10 11:59:03 web-01 sudo:  mallory : user NOT in sudoers ; TTY=pts/3 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh".to_owned(),
    ]);

    let expected: Vec<_> = before.iter().chain(&late).chain(&after).collect();
    let total = expected.len() + 2;
    let got = wait_for(Duration::from_secs(20), "every auth event", || {
        let evs = c.events("e2e-auth", "auth").ok()?;
        (evs.len() >= total).then_some(evs)
    })
    .unwrap();
    assert_eq!(
        got.len(),
        total,
        "no duplicates, no history replay: {got:#?}"
    );
    for (user, addr, port, outcome, service) in &expected {
        let e = got
            .iter()
            .map(|e| &e["event"])
            .find(|e| e["user"] == user.as_str())
            .unwrap_or_else(|| panic!("no event for {user}"));
        assert_eq!(e["source_addr"], addr.as_str(), "{e}");
        assert_eq!(e["source_port"], *port, "{e}");
        assert_eq!(e["outcome"], *outcome, "{e}");
        assert_eq!(e["service"], *service, "{e}");
        assert_eq!(e["hostname"], "web-01");
    }
    let su = got.iter().find(|e| e["event"]["service"] == "su").unwrap();
    assert_eq!(
        (
            su["event"]["user"].as_str(),
            su["event"]["target_user"].as_str()
        ),
        (Some("mallory"), Some("root"))
    );
    assert!(
        got.iter()
            .any(|e| e["event"]["service"] == "sudo" && e["event"]["outcome"] == "failure")
    );
    // The rotation itself was reported.
    assert!(c.events("e2e-auth", "notice").unwrap().iter().any(|e| {
        e["event"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("rotated")
    }));
    // Counters by outcome: 12 sshd + 1 su + 1 sudo failures, 4 successes.
    let m = c.metrics().unwrap();
    assert_eq!(
        metric_value(&m, "shouwang_host_auth_failures_total{agent=\"e2e-auth\"}"),
        Some(14.0)
    );
    assert_eq!(
        metric_value(&m, "shouwang_host_auth_successes_total{agent=\"e2e-auth\"}"),
        Some(4.0)
    );
}

#[test]
fn agent_queues_while_collector_is_down_and_delivers_after() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(&log, "").unwrap();
    // Register the agent, then stop the collector and remember its port.
    let (token, url) = {
        let c = Collector::start(data.path(), "").unwrap();
        (c.add_agent("e2e-outage").unwrap(), c.url.clone())
    };
    let port = url.rsplit(':').next().unwrap().to_owned();
    let mut agent = Agent::start(
        dir.path(),
        "e2e-outage",
        &url,
        &token,
        &auth_log_lines(&log, "100ms"),
    )
    .unwrap();
    // Lines written while nobody listens. The notice event cannot arrive, so
    // wait for the agent's own log line saying it opened the file.
    agent
        .proc
        .wait_for_log(Duration::from_secs(15), "following auth log")
        .unwrap();
    append(&log, &(1..=3).map(|i| format!("Jan 10 11:59:01 h sshd[1]: Failed password for down{i} from 192.0.2.{i} port 22 ssh2")).collect::<Vec<_>>());
    wait_for(Duration::from_secs(15), "upload failures logged", || {
        agent.proc.log().contains("upload failed").then_some(())
    })
    .unwrap();
    // Collector back on the same port with the same database.
    let c = Collector::start_at(data.path(), &format!("127.0.0.1:{port}"), "").unwrap();
    let got = wait_for(
        Duration::from_secs(20),
        "queued auth events delivered",
        || {
            let evs = c.events("e2e-outage", "auth").ok()?;
            (evs.len() >= 3).then_some(evs)
        },
    )
    .unwrap();
    assert_eq!(got.len(), 3);
    let st = agent.proc.terminate(Duration::from_secs(10)).unwrap();
    assert!(st.success(), "agent exit: {st}\n{}", agent.proc.log());
}

#[test]
fn demo_runs_and_reports_the_local_agent() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("shouwang-collector").unwrap())
        .args([
            "demo",
            "--for",
            "6s",
            "--interval",
            "1s",
            "--listen",
            "127.0.0.1:0",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("demo-local online"), "{stdout}");
    // Not a terminal: the console is not opened, its command is printed.
    assert!(
        stdout.contains("console    shouwang-console --collector http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("demo stopped"), "{stdout}");
}

/// Every metric the Grafana dashboard queries is one the collector exports
/// (after an agent, a detection and a notification attempt), and promtool
/// accepts the full exposition.
#[test]
fn dashboard_uses_only_exported_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let c = Collector::start(
        dir.path(),
        &format!("[[notifiers]]\nname = \"dead\"\nkind = \"webhook\"\nurl = \"http://{dead}/\"\nattempts = 1\ntimeout = \"1s\"\n"),
    )
    .unwrap();
    let token = c.add_agent("e2e-dash").unwrap();
    let _agent =
        Agent::start(dir.path(), "e2e-dash", &c.url, &token, "auth-log = \"off\"").unwrap();
    let sensor = c.add_agent("sensor").unwrap();
    // One fan-out report: exactly one detection of the scan rule.
    let mut probes: Vec<shouwang_proto::Event> =
        shouwang_e2e::scan_reports("198.51.100.7", "192.0.2.20", 1_700_000_000)
            .into_iter()
            .take(1)
            .collect();
    probes.push(shouwang_proto::Event::new(
        shouwang_proto::Timestamp::from_secs(1_700_000_001),
        shouwang_proto::EventBody::Auth(Box::new(shouwang_proto::AuthEvent {
            service: shouwang_proto::AuthService::Sshd,
            outcome: shouwang_proto::AuthOutcome::Failure,
            user: "root".into(),
            source_addr: Some("198.51.100.7".parse().unwrap()),
            source_port: Some(4000),
            source_host: None,
            method: Some("password".into()),
            target_user: None,
            invalid_user: false,
            hostname: None,
            message: "Failed password for root from 198.51.100.7 port 4000 ssh2".into(),
        })),
    ));
    let (s, _) = c
        .post_ingest(
            Some(&sensor),
            shouwang_e2e::batch_json("sensor", 0, probes),
            false,
        )
        .unwrap();
    assert_eq!(s, 200);
    let text = wait_for(
        Duration::from_secs(20),
        "agent, detection and notification series",
        || {
            let m = c.metrics().ok()?;
            // Host samples and heartbeats (the agent_* gauges) arrive
            // separately: wait for both.
            (m.contains("shouwang_host_memory_total_bytes{agent=\"e2e-dash\"}")
                && m.contains("shouwang_agent_dropped_events{agent=\"e2e-dash\"}")
                && m.contains("shouwang_rule_detections_total{rule=\"network.scan.tcp-ports\"} 1")
                && m.contains(
                    "shouwang_notifications_total{notifier=\"dead\",outcome=\"failed\"} 1",
                ))
            .then_some(m)
        },
    )
    .unwrap();
    let exported: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let dash = std::fs::read_to_string(shouwang_e2e::repo_root().join("dashboards/shouwang.json"))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&dash).unwrap();
    let mut used = std::collections::BTreeSet::new();
    for p in v["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(i) = rest.find("shouwang_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[i + name.len()..];
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| {
                        name.strip_suffix(s)
                            .filter(|b| exported.contains(b))
                            .map(str::to_owned)
                    })
                    .unwrap_or(name);
                used.insert(base);
            }
        }
    }
    assert!(used.len() >= 15, "{used:?}");
    let missing: Vec<&String> = used
        .iter()
        .filter(|n| !exported.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "dashboard queries metrics the collector does not export: {missing:?}"
    );

    promtool_check(&text);
}
