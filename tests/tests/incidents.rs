//! Incidents end to end: a real collector process, events over ingest, the
//! incident API with roles, the SSE stream, hot rule reload, `kill -9`
//! durability, and notifications to a real Alertmanager and to local
//! WeCom/DingTalk/webhook receivers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shouwang_e2e::{Collector, batch_json, wait_for};

const SCANNER: &str = "198.51.100.7";

/// 40 probes to 40 ports: one port-scan detection keyed on the scanner.
fn scan(c: &Collector, token: &str, first_seq: u64, t0: i64) {
    let events = shouwang_e2e::scan_reports(SCANNER, "192.0.2.20", t0);
    let (status, body) = c
        .post_ingest(Some(token), batch_json("sensor", first_seq, events), false)
        .unwrap();
    assert_eq!(status, 200, "{body}");
}

fn scan_incident(c: &Collector) -> Value {
    let list = c.incidents("rule=network.scan.tcp-ports").unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    list[0].clone()
}

fn request(
    c: &Collector,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut r = c.api.bare(method.parse().unwrap(), path);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(b);
    }
    let resp = r.send().unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn lifecycle_roles_and_audit_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Collector::start(dir.path(), "").unwrap();
    let sensor = c.add_agent("sensor").unwrap();
    let viewer = c.api_token("watch", "viewer").unwrap();
    let operator = c.api_token("alice", "operator").unwrap();

    scan(&c, &sensor, 0, 1_700_000_000);
    let inc = scan_incident(&c);
    let id = inc["id"].as_i64().unwrap();
    assert_eq!(inc["state"], "open");
    assert_eq!(inc["group"], format!("src={SCANNER}"));
    assert_eq!(inc["attack"], json!(["T1046"]));
    assert!(inc["evidence"].as_array().unwrap().len() >= 3);
    assert_eq!(inc["detections"], 3, "each of the scan's three reports");
    // A recurrence updates the same incident.
    scan(&c, &sensor, 40, 1_700_000_100);
    let inc = scan_incident(&c);
    assert_eq!(
        (inc["id"].as_i64(), inc["detections"].as_u64()),
        (Some(id), Some(6))
    );

    // Roles: no token, a bad token, a viewer acting, bad bodies.
    assert_eq!(request(&c, "GET", "/v1/incidents", None, None).0, 401);
    // The same token with its last hex digit changed (to a different one).
    let last = if viewer.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &viewer[..viewer.len() - 1]);
    assert_ne!(forged, viewer);
    assert_eq!(
        request(&c, "GET", "/v1/incidents", Some(&forged), None).0,
        401
    );
    assert_eq!(
        request(&c, "GET", "/v1/incidents", Some(&viewer), None).0,
        200
    );
    let (s, e) = request(
        &c,
        "POST",
        &format!("/v1/incidents/{id}/ack"),
        Some(&viewer),
        Some(&json!({})),
    );
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(
        request(&c, "GET", "/v1/audit", Some(&operator), None).0,
        403,
        "audit is admin-only"
    );
    let (s, _) = request(
        &c,
        "POST",
        &format!("/v1/incidents/{id}/ack"),
        Some(&operator),
        Some(&json!({"colour": 1})),
    );
    assert_eq!(s, 400, "unknown fields are refused");
    let big = "x".repeat(100_000);
    let (s, _) = request(
        &c,
        "POST",
        &format!("/v1/incidents/{id}/note"),
        Some(&operator),
        Some(&json!({"text": big})),
    );
    assert_eq!(s, 413);
    assert_eq!(
        request(
            &c,
            "POST",
            "/v1/incidents/999/ack",
            Some(&operator),
            Some(&json!({}))
        )
        .0,
        404
    );

    // Operator actions.
    let (s, b) = request(
        &c,
        "POST",
        &format!("/v1/incidents/{id}/ack"),
        Some(&operator),
        Some(&json!({"note": "on it"})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["incident"]["state"], "acknowledged");
    assert_eq!(
        request(
            &c,
            "POST",
            &format!("/v1/incidents/{id}/ack"),
            Some(&operator),
            Some(&json!({}))
        )
        .0,
        409
    );
    assert_eq!(
        request(
            &c,
            "POST",
            &format!("/v1/incidents/{id}/assign"),
            Some(&operator),
            Some(&json!({"assignee": "bob"}))
        )
        .0,
        200
    );
    assert_eq!(
        request(
            &c,
            "POST",
            &format!("/v1/incidents/{id}/note"),
            Some(&operator),
            Some(&json!({"text": "scanner is a rented VPS"}))
        )
        .0,
        200
    );
    let (s, sil) = request(
        &c,
        "POST",
        "/v1/silences",
        Some(&operator),
        Some(
            &json!({"matchers": [{"field": "rule", "value": "network.flood.*"}], "duration": "2h", "comment": "load test"}),
        ),
    );
    assert_eq!(s, 201, "{sil}");
    assert_eq!(
        request(
            &c,
            "POST",
            "/v1/silences",
            Some(&operator),
            Some(&json!({"matchers": [], "duration": "1h"}))
        )
        .0,
        400
    );

    // kill -9, restart on the same files.
    c.proc.kill9().unwrap();
    let c = Collector::start_at(dir.path(), &c.url.replace("http://", ""), "").unwrap();
    let (inc, timeline) = {
        let v = c.get_json(&format!("/v1/incidents/{id}")).unwrap();
        (
            v["incident"].clone(),
            v["timeline"].as_array().unwrap().clone(),
        )
    };
    assert_eq!(inc["state"], "acknowledged");
    assert_eq!(inc["assignee"], "bob");
    let actions: Vec<&str> = timeline
        .iter()
        .map(|t| t["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["opened", "acknowledged", "assigned", "note"]);
    assert_eq!(timeline[3]["actor"], "alice");
    assert_eq!(timeline[3]["text"], "scanner is a rented VPS");
    let silences = c.get_json("/v1/silences").unwrap();
    assert_eq!(
        silences["silences"][0]["matchers"][0]["value"],
        "network.flood.*"
    );
    let audit = c.get_json("/v1/audit").unwrap();
    let acts: Vec<&str> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        acts,
        [
            "silence.add",
            "incident.note",
            "incident.assign",
            "incident.ack"
        ]
    );
    assert!(
        audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["actor"] == "alice" && a["role"] == "operator")
    );

    // After the restart the book knows the incident: a recurrence updates it.
    scan(&c, &sensor, 80, 1_700_000_200);
    let inc = scan_incident(&c);
    assert_eq!(
        (inc["id"].as_i64(), inc["detections"].as_u64()),
        (Some(id), Some(9))
    );

    // Resolve as a false positive: an expiring exception, audited; the next
    // scan from that address raises nothing.
    let admin = c.token.clone();
    let (s, b) = request(
        &c,
        "POST",
        &format!("/v1/incidents/{id}/resolve"),
        Some(&admin),
        Some(&json!({"false_positive": true, "exception_for": "1d", "note": "authorised pentest"})),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["incident"]["resolution"], "false_positive");
    scan(&c, &sensor, 120, 1_700_000_300);
    let inc = scan_incident(&c);
    assert_eq!(
        (inc["state"].as_str(), inc["detections"].as_u64()),
        (Some("resolved"), Some(9))
    );
    // Each of the scan's three reports is suppressed.
    assert_eq!(
        c.metric("shouwang_incidents_suppressed_total").unwrap(),
        Some(3.0)
    );
    let audit = c.get_json("/v1/audit").unwrap();
    assert_eq!(audit["audit"][0]["action"], "incident.resolve");
    assert!(
        audit["audit"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("authorised pentest")
    );

    // The audit log is a hash chain: intact as written (across the kill -9
    // above), and an edited or deleted row is found.
    let verify = || {
        std::process::Command::new(&c.exe)
            .arg("--config")
            .arg(&c.config)
            .args(["audit", "verify"])
            .output()
            .unwrap()
    };
    let out = verify();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with("audit log intact: 5 records, chain head "),
        "{text}"
    );
    let db = dir.path().join("data").join("shouwang.db");
    let sql = |q: &str| {
        let o = std::process::Command::new("sqlite3")
            .args(["-cmd", ".timeout 5000"])
            .arg(&db)
            .arg(q)
            .output()
            .expect("sqlite3 (Debian sqlite3; .ci/run installs it)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    let original = sql("SELECT detail FROM audit WHERE action = 'incident.note'");
    assert!(original.contains("rented VPS"), "{original}");
    sql("UPDATE audit SET detail = 'nothing to see' WHERE action = 'incident.note'");
    let out = verify();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("BROKEN at record #3: record #3 was changed after it was written"),
        "{text}"
    );
    // Put it back: intact again; then delete a record.
    sql(&format!(
        "UPDATE audit SET detail = '{}' WHERE action = 'incident.note'",
        original.replace('\'', "''")
    ));
    assert!(verify().status.success(), "restored");
    sql("DELETE FROM audit WHERE action = 'incident.assign'");
    let out = verify();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("does not follow the record before it"),
        "{text}"
    );
}

#[test]
fn stream_sends_incident_changes_and_the_event_tail() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "").unwrap();
    let sensor = c.add_agent("sensor").unwrap();
    let url = format!("{}/v1/stream?events=true", c.url);
    let token = c.token.clone();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let l2 = lines.clone();
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let resp = client.get(url).bearer_auth(token).send().unwrap();
        for line in BufReader::new(resp).lines().map_while(Result::ok) {
            l2.lock().unwrap().push(line);
        }
    });
    wait_for(Duration::from_secs(10), "a stream client", || {
        (c.metric("shouwang_stream_clients").ok()?? >= 1.0).then_some(())
    })
    .unwrap();
    scan(&c, &sensor, 0, 1_700_000_000);
    let got = wait_for(
        Duration::from_secs(10),
        "incident and event on the stream",
        || {
            let l = lines.lock().unwrap();
            let inc = l.iter().position(|x| x == "event: incident")?;
            let data = l.get(inc + 1)?.strip_prefix("data: ")?.to_owned();
            l.iter().any(|x| x == "event: event").then_some(data)
        },
    )
    .unwrap();
    let v: Value = serde_json::from_str(&got).unwrap();
    assert_eq!(
        (v["change"].as_str(), v["incident"]["rule"].as_str()),
        (Some("opened"), Some("network.scan.tcp-ports"))
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn broken_rule_change_keeps_the_running_rules_and_a_good_one_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    copy_dir(&shouwang_e2e::repo_root().join("rules"), &rules);
    let c = Collector::start(
        dir.path(),
        &format!(
            "[rules]\ndir = \"{}\"\nreload-interval = \"200ms\"\n",
            rules.display()
        ),
    )
    .unwrap();
    let sensor = c.add_agent("sensor").unwrap();
    let loaded = c.metric("shouwang_rules_loaded").unwrap().unwrap();
    assert!(loaded >= 25.0, "{loaded}");

    let scan_rule = rules.join("network/port-scan-tcp.toml");
    let good = std::fs::read_to_string(&scan_rule).unwrap();
    std::fs::write(
        &scan_rule,
        good.replace(
            "{ field = \"recent_ports\", ge = 10 }",
            "{ field = \"recent_prots\", ge = 10 }",
        ),
    )
    .unwrap();
    wait_for(Duration::from_secs(15), "reload error counted", || {
        (c.metric("shouwang_rules_reload_errors_total").ok()?? >= 1.0).then_some(())
    })
    .unwrap();
    assert!(
        c.proc.log().contains("unknown field `recent_prots`"),
        "{}",
        c.proc.log()
    );
    assert_eq!(
        c.metric("shouwang_rules_loaded").unwrap(),
        Some(loaded),
        "old rules still loaded"
    );
    // The rules view says so, naming the error.
    let view = c.get_json("/v1/rules").unwrap();
    let errors = view["load_errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("recent_prots")),
        "{view}"
    );
    scan(&c, &sensor, 0, 1_700_000_000);
    assert_eq!(
        scan_incident(&c)["detections"],
        3,
        "the previous rules still detect (each of the three reports)"
    );
    let view = c.get_json("/v1/rules").unwrap();
    let rule = view["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "network.scan.tcp-ports")
        .cloned()
        .unwrap();
    assert_eq!(rule["fired"], 3, "{rule}");
    // The last report's time.
    assert_eq!(rule["last_fired"], 1_700_000_002_000_000_000i64, "{rule}");
    assert_eq!(rule["severity"], "medium", "{rule}");
    assert_eq!(rule["enabled"], true);

    // A good change (a higher bar: 50 new ports in 2 s; the reports grow
    // by at most 27) is picked up.
    let higher = good.replace(
        "{ field = \"recent_ports\", ge = 10 }",
        "{ field = \"recent_ports\", ge = 50 }",
    );
    assert_ne!(higher, good);
    std::fs::write(&scan_rule, higher).unwrap();
    wait_for(Duration::from_secs(15), "reload applied", || {
        (c.metric("shouwang_rules_reloads_total").ok()?? >= 1.0).then_some(())
    })
    .unwrap();
    scan(&c, &sensor, 40, 1_700_000_100);
    assert_eq!(
        scan_incident(&c)["detections"],
        3,
        "40 ports are now below the bar"
    );
    let view = c.get_json("/v1/rules").unwrap();
    assert_eq!(view["load_errors"], serde_json::json!([]), "{view}");
}

/// A local HTTP receiver: records (target, body) and answers like the robots.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(String, Value)>>>,
}

fn receiver() -> Receiver {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { continue };
            let g = g.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                loop {
                    let mut start = String::new();
                    if r.read_line(&mut start).unwrap_or(0) == 0 {
                        return;
                    }
                    let target = start
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        if h.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    g.lock()
                        .unwrap()
                        .push((target, serde_json::from_slice(&body).unwrap_or(Value::Null)));
                    let reply = br#"{"errcode":0,"errmsg":"ok"}"#;
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        reply.len()
                    );
                    let _ = s.write_all(reply);
                }
            });
        }
    });
    Receiver { url, got }
}

struct Alertmanager {
    child: std::process::Child,
    url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn alertmanager(dir: &Path) -> Alertmanager {
    let exe = ["/usr/bin/prometheus-alertmanager", "/usr/bin/alertmanager"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("Alertmanager (Debian prometheus-alertmanager; .ci/run installs it)");
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let port = free_port();
    let child = std::process::Command::new(exe)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    wait_for(Duration::from_secs(20), "alertmanager ready", || {
        client
            .get(format!("{url}/-/ready"))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
            .map(|_| ())
    })
    .unwrap();
    Alertmanager { child, url }
}

#[test]
fn notifications_reach_alertmanager_wecom_dingtalk_and_a_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let am = alertmanager(dir.path());
    let wecom = receiver();
    let ding = receiver();
    let hook = receiver();
    let c = Collector::start(
        dir.path(),
        &format!(
            r#"
[[notifiers]]
name = "am"
kind = "alertmanager"
url = "{}"
[[notifiers]]
name = "wecom"
kind = "wecom"
url = "{}/cgi-bin/webhook/send?key=k"
[[notifiers]]
name = "ding"
kind = "dingtalk"
url = "{}/robot/send?access_token=t"
secret = "SECtest"
[[notifiers]]
name = "hook"
kind = "webhook"
url = "{}/hook"
min-severity = "critical"
"#,
            am.url, wecom.url, ding.url, hook.url
        ),
    )
    .unwrap();
    let sensor = c.add_agent("sensor").unwrap();
    let started = Instant::now();
    scan(&c, &sensor, 0, 1_700_000_000);

    // Alertmanager shows the alert through its own API.
    let client = reqwest::blocking::Client::new();
    let alert = wait_for(Duration::from_secs(20), "alert in Alertmanager", || {
        let v: Value = client
            .get(format!("{}/api/v2/alerts", am.url))
            .send()
            .ok()?
            .json()
            .ok()?;
        v.as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == "network.scan.tcp-ports")
            .cloned()
    })
    .unwrap();
    assert_eq!(alert["labels"]["severity"], "medium");
    assert_eq!(alert["labels"]["group"], format!("src={SCANNER}"));
    assert_eq!(alert["status"]["state"], "active");

    let w = wait_for(Duration::from_secs(10), "wecom message", || {
        wecom.got.lock().unwrap().first().cloned()
    })
    .unwrap();
    assert_eq!(w.0, "/cgi-bin/webhook/send?key=k");
    assert_eq!(w.1["msgtype"], "markdown");
    let text = w.1["markdown"]["content"].as_str().unwrap();
    assert!(
        text.contains("TCP 端口扫描") && text.contains(SCANNER) && text.contains("T1046"),
        "{text}"
    );

    let d = wait_for(Duration::from_secs(10), "dingtalk message", || {
        ding.got.lock().unwrap().first().cloned()
    })
    .unwrap();
    assert!(
        d.0.starts_with("/robot/send?access_token=t&timestamp="),
        "{}",
        d.0
    );
    let ts: i64 =
        d.0.split("timestamp=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .parse()
            .unwrap();
    let sign = d.0.split("sign=").nth(1).unwrap();
    // The signature is what DingTalk computes for that timestamp.
    let expected = shouwang_collector_sign(ts, "SECtest");
    assert_eq!(sign, expected);
    assert!(
        d.1["markdown"]["title"]
            .as_str()
            .unwrap()
            .contains("TCP 端口扫描")
    );

    // The webhook only takes critical incidents: nothing yet.
    std::thread::sleep(Duration::from_millis(300));
    assert!(hook.got.lock().unwrap().is_empty(), "routing by severity");
    assert_eq!(
        c.metric("shouwang_notifications_total{notifier=\"am\",outcome=\"sent\"}")
            .unwrap(),
        Some(1.0)
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// DingTalk's signature, computed here with openssl (independent of our code).
fn shouwang_collector_sign(ts: i64, secret: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '%s\\n%s' {ts} {secret} | openssl dgst -sha256 -hmac {secret} -binary | base64"
        ))
        .output()
        .unwrap();
    let b64 = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    b64.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[test]
fn unstored_kinds_are_still_evaluated() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "[store]\nevent-kinds = [\"auth\"]\n").unwrap();
    let sensor = c.add_agent("sensor").unwrap();
    scan(&c, &sensor, 0, 1_700_000_000);
    assert_eq!(
        scan_incident(&c)["detections"],
        3,
        "fan-out reports were evaluated"
    );
    assert!(
        c.events("sensor", "fanout").unwrap().is_empty(),
        "but not stored"
    );
    let bad = tempfile::tempdir().unwrap();
    let err = Collector::start(bad.path(), "[store]\nevent-kinds = [\"flows\"]\n")
        .err()
        .unwrap();
    assert!(
        format!("{err:#}").contains("store.event-kinds: unknown kind \"flows\""),
        "{err:#}"
    );
}

#[test]
fn past_the_per_rule_cap_new_groups_fold_into_one_overflow_incident() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "[incidents]\nmax-open-per-rule = 1\n").unwrap();
    let sensor = c.add_agent("sensor").unwrap();
    for (n, src) in ["198.51.100.7", "198.51.100.8", "198.51.100.9"]
        .iter()
        .enumerate()
    {
        let events = shouwang_e2e::scan_reports(src, "192.0.2.20", 1_700_000_000);
        let (s, _) = c
            .post_ingest(
                Some(&sensor),
                batch_json("sensor", n as u64 * 40, events),
                false,
            )
            .unwrap();
        assert_eq!(s, 200);
    }
    let mut groups: Vec<String> = c
        .incidents("rule=network.scan.tcp-ports")
        .unwrap()
        .iter()
        .map(|i| i["group"].as_str().unwrap().to_owned())
        .collect();
    groups.sort();
    assert_eq!(groups, ["*", "src=198.51.100.7"]);
    // Two scanners past the cap, three reports (detections) each.
    assert_eq!(
        c.metric("shouwang_incidents_folded_total").unwrap(),
        Some(6.0)
    );
}
