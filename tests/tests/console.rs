//! The duty console end to end: a real collector process with incidents,
//! `shouwang-console` in a tmux pane, keys sent with `send-keys`, the
//! screen read with `capture-pane`, and the result checked through the API
//! and the audit log. Also: the DISCONNECTED banner when the collector
//! dies, and recovery when it comes back on the same port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use shouwang_e2e::{Collector, batch_json, bin, wait_for};

/// A tmux server of this test's own (`-L`), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, width: u16, height: u16, command: &str) -> Self {
        let socket = format!("shouwang-e2e-{name}-{}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "duty",
            ])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(command)
            .status()
            .expect("tmux is needed for this test (apt-get install tmux; .ci/run installs it)");
        assert!(ok.success(), "tmux new-session failed");
        Self { socket }
    }

    fn keys(&self, keys: &[&str]) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "duty"])
            .args(keys)
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Types text literally (no key-name lookup).
    fn text(&self, s: &str) {
        let ok = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "duty", "-l", s])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "duty"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["-L", &self.socket, "has-session", "-t", "duty"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Waits until the screen satisfies `f`; the screen is in the error.
    fn wait(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let r = wait_for(Duration::from_secs(20), what, || {
            last = self.screen();
            f(&last).then(|| last.clone())
        });
        r.unwrap_or_else(|e| panic!("{e}; the screen:\n{last}"))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn console_command(url: &str, token: &str, dir: &Path) -> String {
    format!(
        "exec {} --collector {url} --token {token} --lang en --no-mouse --log-file {} --report-dir {}",
        bin("shouwang-console").unwrap().display(),
        dir.join("console.log").display(),
        dir.display()
    )
}

/// 40 SYN probes from `scanner`: one port-scan incident keyed on it.
fn scan(c: &Collector, token: &str, scanner: &str, first_seq: u64, t0: i64) {
    let events = shouwang_e2e::scan_reports(scanner, "192.0.2.20", t0);
    let (status, body) = c
        .post_ingest(Some(token), batch_json("sensor", first_seq, events), false)
        .unwrap();
    assert_eq!(status, 200, "{body}");
}

const SCANNERS: [&str; 3] = ["198.51.100.7", "198.51.100.8", "198.51.100.9"];

fn incident_of(c: &Collector, scanner: &str) -> Value {
    c.incidents("rule=network.scan.tcp-ports")
        .unwrap()
        .into_iter()
        .find(|i| i["group"].as_str().unwrap_or("").contains(scanner))
        .unwrap_or_else(|| panic!("no incident for {scanner}"))
}

#[test]
fn keys_in_the_console_acknowledge_an_incident_and_the_audit_names_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "").unwrap();
    let sensor = c.add_agent("sensor").unwrap();
    let t0 = 1_780_000_000;
    for (k, s) in SCANNERS.iter().enumerate() {
        scan(&c, &sensor, s, 1 + 100 * k as u64, t0 + 10 * k as i64);
    }
    wait_for(Duration::from_secs(10), "three incidents", || {
        (c.incidents("rule=network.scan.tcp-ports").unwrap().len() == 3).then_some(())
    })
    .unwrap();
    let target = incident_of(&c, "198.51.100.8");
    let id = target["id"].as_i64().unwrap();
    assert_eq!(target["state"], "open");

    let op = c.api_token("duty-wang", "operator").unwrap();
    let tmux = Tmux::start("ack", 160, 48, &console_command(&c.url, &op, dir.path()));
    // Overview first: the tab shows three incidents once loaded.
    tmux.wait("the overview with 3 incidents", |s| {
        s.contains("2 Incidents 3") && s.matches("TCP port scan").count() == 3
    });
    // Take the watch from the Duty view, so the header names who is on duty.
    tmux.keys(&["7", "s"]);
    tmux.text("王工");
    tmux.keys(&["Enter"]);
    tmux.wait("the duty header", |s| s.contains("On duty: 王工"));
    // Incidents view; filter down to one scanner; acknowledge it.
    tmux.keys(&["2", "/"]);
    tmux.text("198.51.100.8");
    tmux.keys(&["Enter"]);
    tmux.wait("the filtered table", |s| {
        s.contains("[filter: 198.51.100.8]") && s.matches("TCP port scan").count() == 1
    });
    // The detail pane confirms which incident is selected.
    tmux.keys(&["Enter"]);
    tmux.wait("the detail pane", |s| {
        s.contains(&format!("#{id} [medium]")) && s.contains("src=198.51.100.8")
    });
    tmux.keys(&["a"]);
    let screen = tmux.wait("the incident shown acknowledged", |s| {
        s.lines().any(|l| {
            l.contains(&format!("{id} ")) && l.contains("acked") && l.contains("TCP port scan")
        })
    });
    assert!(screen.contains(&format!("ack #{id}: done")), "{screen}");

    // The collector agrees, and the audit log names the operator.
    let detail = c.get_json(&format!("/v1/incidents/{id}")).unwrap();
    assert_eq!(detail["incident"]["state"], "acknowledged");
    let timeline = detail["timeline"].as_array().unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| e["action"] == "acknowledged" && e["actor"] == "duty-wang"),
        "{timeline:?}"
    );
    let audit = c.get_json("/v1/audit").unwrap();
    let rows = audit["audit"].as_array().unwrap();
    assert!(
        rows.iter().any(|r| r["actor"] == "duty-wang"
            && r["role"] == "operator"
            && r["action"] == "incident.ack"
            && r["target"] == format!("incident {id}")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r["actor"] == "duty-wang" && r["action"] == "duty.start"),
        "{rows:?}"
    );
    // Only that one: the other two are still open.
    for s in ["198.51.100.7", "198.51.100.9"] {
        assert_eq!(incident_of(&c, s)["state"], "open");
    }
    let duty = c.get_json("/v1/duty").unwrap();
    assert_eq!(duty["on_duty"]["actor"], "duty-wang");
    assert_eq!(duty["on_duty"]["text"], "王工");

    // The shift summary goes to a Markdown file.
    tmux.keys(&["7", "e"]);
    tmux.wait("the export message", |s| {
        s.contains("shift summary written to")
    });
    let report = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("shift-"))
        .expect("a shift-*.md file");
    let md = std::fs::read_to_string(report.path()).unwrap();
    assert!(md.contains("王工 (duty-wang)"), "{md}");
    assert!(
        md.contains(&format!("| {id} | medium | acked | TCP port scan")),
        "{md}"
    );

    // q quits and gives the terminal back; the log went to the file.
    tmux.keys(&["q"]);
    wait_for(Duration::from_secs(10), "the console to exit", || {
        (!tmux.alive()).then_some(())
    })
    .unwrap();
    let log = std::fs::read_to_string(dir.path().join("console.log")).unwrap();
    assert!(log.contains("connected"), "{log}");
    assert!(log.contains(&format!("ack #{id}")), "{log}");
}

#[test]
fn the_console_shows_disconnected_while_the_collector_is_down_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Collector::start(dir.path(), "").unwrap();
    let viewer = c.api_token("wall-screen", "viewer").unwrap();
    let tmux = Tmux::start(
        "link",
        80,
        24,
        &console_command(&c.url, &viewer, dir.path()),
    );
    tmux.wait("the first data", |s| s.contains("On duty: nobody on duty"));
    assert!(!tmux.screen().contains("DISCONNECTED"));
    c.proc.kill9().unwrap();
    let screen = tmux.wait("the banner", |s| {
        s.contains("DISCONNECTED — last data") && s.contains("retrying")
    });
    // The UI keeps running: keys still switch views while disconnected.
    tmux.keys(&["4"]);
    tmux.wait("the sites view while disconnected", |s| {
        s.contains("DISCONNECTED") && s.contains("none")
    });
    assert!(screen.contains("ago"), "{screen}");
    let c = Collector::start_at(dir.path(), &c.url.replace("http://", ""), "").unwrap();
    tmux.wait("the banner to go away", |s| !s.contains("DISCONNECTED"));
    // A viewer token may watch but not act: the error is shown, not hidden.
    tmux.keys(&["7", "n"]);
    tmux.text("hello");
    tmux.keys(&["Enter"]);
    tmux.wait("the refusal", |s| s.contains("HTTP 403"));
    drop(c);
}

#[test]
fn the_demo_opens_the_console_in_a_terminal_and_q_ends_both() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!(
        "{} demo --interval 1s --listen 127.0.0.1:0 --dir {}; echo DEMO-EXIT=$?; read x",
        bin("shouwang-collector").unwrap().display(),
        dir.path().display()
    );
    let tmux = Tmux::start("demo", 100, 30, &format!("sh -c '{cmd}'"));
    // The console is up and sees the demo's own agent.
    tmux.wait("the console with the demo agent", |s| {
        s.contains("1 Overview") && s.contains("Agents 1") && s.contains("1 online")
    });
    tmux.keys(&["3"]);
    tmux.wait("the agents view", |s| {
        s.contains("demo-local") && s.contains("online")
    });
    tmux.keys(&["q"]);
    let screen = tmux.wait("the demo to stop", |s| s.contains("DEMO-EXIT="));
    assert!(screen.contains("demo stopped"), "{screen}");
    assert!(screen.contains("DEMO-EXIT=0"), "{screen}");
    assert!(dir.path().join("console.log").is_file());
}

#[test]
fn the_duty_log_api_refuses_bad_input_and_viewers_and_stats_count_events() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "").unwrap();
    let post = |token: &str, body: &str| {
        let r = c
            .api
            .bare(reqwest::Method::POST, "/v1/duty")
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().unwrap_or(Value::Null))
    };
    let viewer = c.api_token("wall", "viewer").unwrap();
    let op = c.api_token("duty-li", "operator").unwrap();
    for (token, body, status, needle) in [
        (
            viewer.as_str(),
            r#"{"kind":"note","text":"x"}"#,
            403,
            "needs operator",
        ),
        (
            "swa1:duty-li:wrong",
            r#"{"kind":"note","text":"x"}"#,
            401,
            "unknown or wrong",
        ),
        (
            op.as_str(),
            r#"{"kind":"lunch","text":"x"}"#,
            400,
            "start, handover, note or end",
        ),
        (
            op.as_str(),
            r#"{"kind":"note","text":"   "}"#,
            400,
            "needs a text",
        ),
        (
            op.as_str(),
            r#"{"kind":"note","text":"x","who":"y"}"#,
            400,
            "unknown field",
        ),
        (op.as_str(), "{not json", 400, "body"),
    ] {
        let (s, v) = post(token, body);
        assert_eq!(s, status, "{body}: {v}");
        let msg = v["error"]["message"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    let huge = format!(r#"{{"kind":"note","text":"{}"}}"#, "x".repeat(9000));
    assert_eq!(post(&op, &huge).0, 400);
    let oversized = format!(r#"{{"kind":"note","text":"{}"}}"#, "x".repeat(70_000));
    assert_eq!(post(&op, &oversized).0, 413);
    // Nothing bad was written.
    let duty = c.get_json("/v1/duty").unwrap();
    assert_eq!(duty["entries"].as_array().unwrap().len(), 0, "{duty}");
    assert!(duty["on_duty"].is_null());
    // A start with no text shows the token name.
    let (s, v) = post(&op, r#"{"kind":"start"}"#);
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["text"], "duty-li");
    let (s, _) = post(&op, r#"{"kind":"handover","text":"UPS 测试 14:00"}"#);
    assert_eq!(s, 201);
    let duty = c.get_json("/v1/duty").unwrap();
    assert_eq!(duty["on_duty"]["actor"], "duty-li");
    assert_eq!(duty["entries"][0]["kind"], "handover");
    assert_eq!(duty["entries"][0]["text"], "UPS 测试 14:00");
    let (s, _) = post(&op, r#"{"kind":"end"}"#);
    assert_eq!(s, 201);
    assert!(c.get_json("/v1/duty").unwrap()["on_duty"].is_null());

    // Stats: the event total follows ingest.
    let before = c.get_json("/v1/stats").unwrap()["events_total"]
        .as_u64()
        .unwrap();
    let sensor = c.add_agent("sensor").unwrap();
    scan(&c, &sensor, "198.51.100.7", 1, 1_780_000_000);
    let stats = c.get_json("/v1/stats").unwrap();
    assert_eq!(
        stats["events_total"].as_u64().unwrap(),
        before + 3,
        "{stats}: the scan is three fan-out reports"
    );
    assert_eq!(stats["incidents_opened_total"], 1, "{stats}");

    // Capture drops reach the agents view (summed over intervals).
    let interval = |ts: i64, kernel_drops: u64| {
        shouwang_proto::Event::new(
            shouwang_proto::Timestamp(ts * 1_000_000_000),
            shouwang_proto::EventBody::IfaceStats(shouwang_proto::IfaceStats {
                iface: "eth0".into(),
                interval_ms: 10_000,
                packets: 5000,
                bytes: 3_000_000,
                packets_per_sec: 500.0,
                bits_per_sec: 2.4e6,
                syn: 0,
                syn_per_sec: 0.0,
                kernel_drops,
                agent_drops: 1,
                malformed: 0,
                flow_evictions: 0,
            }),
        )
    };
    let (status, body) = c
        .post_ingest(
            Some(&sensor),
            batch_json(
                "sensor",
                100,
                vec![interval(1_780_000_010, 7), interval(1_780_000_020, 5)],
            ),
            false,
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let agents = c.get_json("/v1/agents").unwrap();
    let a = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "sensor")
        .unwrap()
        .clone();
    assert_eq!(a["capture"]["kernel_drops"], 12, "{a}");
    assert_eq!(a["capture"]["agent_drops"], 2, "{a}");
    assert_eq!(a["capture"]["packets"], 10_000, "{a}");
}
