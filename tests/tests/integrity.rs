//! Website integrity end to end: a real agent guards a web root that a
//! local HTTPS server serves, and checks the page from outside; a real
//! collector joins the local tamper and the remote change into one
//! "defacement confirmed" incident.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::Value;
use shouwang_e2e::lab::is_root;
use shouwang_e2e::web::{Validity, WebServer};
use shouwang_e2e::{Agent, Collector, cli, wait_for};

const PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>某某县人民政府</title></head>\
<body><h1>某某县人民政府门户网站</h1><p>今天是 {{now}}</p>\
<ul><li><a href=\"/zwgk/\">政务公开</a></li><li><a href=\"/bsfw/\">办事服务</a></li></ul>\
<p>县委召开常委会议，研究部署当前重点工作。全县安全生产工作会议召开。</p>\
<p>政务服务中心推行一窗受理，群众办事更加便捷高效。</p></body></html>";

const DEFACED: &str = "<html><head><title>Hacked by Team X</title></head><body>\
<h1>HACKED BY TEAM X</h1><p>your security is nothing</p></body></html>";

fn incidents(c: &Collector, rule: &str) -> Vec<Value> {
    c.incidents(&format!("rule={rule}")).unwrap()
}

#[test]
fn a_tampered_file_that_the_site_serves_gives_one_correlated_defacement_incident() {
    let dir = tempfile::tempdir().unwrap();
    let webroot = dir.path().join("www");
    std::fs::create_dir_all(&webroot).unwrap();
    std::fs::write(webroot.join("index.html"), PAGE).unwrap();
    std::fs::write(webroot.join("about.html"), "<p>about</p>").unwrap();
    let server = WebServer::start(&webroot, "portal.gov.test", Validity::Good).unwrap();
    let ca = server.write_ca(dir.path()).unwrap();

    let c = Collector::start(dir.path(), "").unwrap();
    let token = c.add_agent("web-01").unwrap();
    let integrity = format!(
        "\n[[integrity.roots]]\npath = \"{}\"\nsite = \"portal\"\n\
         [[integrity.sites]]\nurl = \"https://portal.gov.test:{port}/\"\nsite = \"portal\"\n\
         interval = \"1s\"\ntimeout = \"5s\"\nconnect-to = \"{addr}\"\nca-file = \"{}\"\n",
        webroot.display(),
        ca.display(),
        port = server.addr.port(),
        addr = server.addr,
    );
    let mut agent = Agent::start(dir.path(), "web-01", &c.url, &token, &integrity).unwrap();

    // The page baseline is learned from the first checks (clean).
    wait_for(Duration::from_secs(30), "clean site checks", || {
        let n = c.events("web-01", "site_check").ok()?.len();
        (n >= 2).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.proc.log()));
    let clean = c.events("web-01", "site_check").unwrap();
    assert!(
        clean
            .iter()
            .all(|e| e["event"]["up"] == true && e["event"]["defacement_score"] == 0.0),
        "{clean:?}"
    );
    assert!(incidents(&c, "integrity.site.defacement-confirmed").is_empty());

    // The attacker rewrites the front page on disk.
    std::fs::write(webroot.join("index.html"), DEFACED).unwrap();
    let inc = wait_for(
        Duration::from_secs(30),
        "a defacement-confirmed incident",
        || {
            incidents(&c, "integrity.site.defacement-confirmed")
                .into_iter()
                .next()
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.proc.log()));
    assert_eq!(inc["group"], "site=portal");
    assert_eq!(inc["attack"], serde_json::json!(["T1491.002"]));
    assert_eq!(inc["severity"], "critical");
    let full = c.get_json(&format!("/v1/incidents/{}", inc["id"])).unwrap();
    let evidence = full["evidence"]
        .as_array()
        .or(inc["evidence"].as_array())
        .cloned()
        .unwrap();
    let local = evidence
        .iter()
        .find(|e| e["kind"] == "file_change")
        .expect("local evidence");
    assert_eq!(local["path"], "index.html");
    assert_eq!(local["change"], "modified");
    assert!(
        local["diff"]
            .as_str()
            .unwrap()
            .contains("+<html><head><title>Hacked by Team X")
    );
    let remote = evidence
        .iter()
        .find(|e| e["kind"] == "site_check")
        .expect("remote evidence");
    assert_eq!(remote["title_changed"], true);
    assert!(remote["defacement_score"].as_f64().unwrap() > 0.9);

    // More checks of the defaced page keep to the one incident.
    let seen = c.events("web-01", "site_check").unwrap().len();
    wait_for(Duration::from_secs(20), "three more checks", || {
        (c.events("web-01", "site_check").ok()?.len() >= seen + 3).then_some(())
    })
    .unwrap();
    let all = incidents(&c, "integrity.site.defacement-confirmed");
    assert_eq!(all.len(), 1, "{all:?}");
    // The sites view shows the page as defaced, from this agent.
    let board = c.get_json("/v1/sites").unwrap();
    let sites = board["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 1, "{board}");
    assert_eq!(sites[0]["agent"], "web-01");
    assert_eq!(sites[0]["site"], "portal");
    assert_eq!(sites[0]["state"], "degraded", "{board}");
    assert!(
        sites[0]["findings"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("defaced")),
        "{board}"
    );
    assert_eq!(sites[0]["tls_days_left"], 364);
    // The other integrity rules saw their side too.
    assert_eq!(incidents(&c, "integrity.web-root.tamper").len(), 1);
    assert_eq!(incidents(&c, "integrity.site.defacement").len(), 1);

    // Heartbeats carry the root's counters to /metrics.
    wait_for(Duration::from_secs(10), "integrity metrics", || {
        let m = c
            .metric("shouwang_agent_integrity_changes{agent=\"web-01\"}")
            .ok()??;
        (m >= 1.0).then_some(())
    })
    .unwrap();
    assert_eq!(
        c.metric("shouwang_agent_integrity_roots{agent=\"web-01\"}")
            .unwrap(),
        Some(1.0)
    );
    agent.proc.terminate(Duration::from_secs(10)).unwrap();
}

#[test]
fn publish_through_the_agent_binary_is_authorised_and_raises_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let webroot = dir.path().join("www");
    std::fs::create_dir_all(&webroot).unwrap();
    std::fs::write(webroot.join("index.html"), PAGE).unwrap();
    let release = dir.path().join("release");
    std::fs::create_dir_all(&release).unwrap();
    std::fs::write(
        release.join("index.html"),
        PAGE.replace("一窗受理", "一网通办"),
    )
    .unwrap();
    std::fs::write(release.join("notice.html"), "<p>通知</p>").unwrap();

    let c = Collector::start(dir.path(), "").unwrap();
    let token = c.add_agent("web-02").unwrap();
    let integrity = format!(
        "\n[[integrity.roots]]\npath = \"{}\"\nsite = \"portal\"\nrestore = true\n",
        webroot.display()
    );
    let mut agent = Agent::start(dir.path(), "web-02", &c.url, &token, &integrity).unwrap();
    wait_for(Duration::from_secs(20), "the root is guarded", || {
        let m = c
            .metric("shouwang_agent_integrity_files{agent=\"web-02\"}")
            .ok()??;
        (m >= 1.0).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.proc.log()));

    let exe = shouwang_e2e::bin("shouwang-agent").unwrap();
    let out = cli(
        &exe,
        &agent.config,
        &[
            "publish",
            webroot.to_str().unwrap(),
            "--from",
            release.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert!(out.contains("+1 added, 1 modified, -0 removed"), "{out}");
    assert!(out.contains("taken in by the running agent"), "{out}");
    let changes = wait_for(Duration::from_secs(10), "two authorised changes", || {
        let e = c.events("web-02", "file_change").ok()?;
        (e.len() >= 2).then_some(e)
    })
    .unwrap();
    assert!(
        changes
            .iter()
            .all(|e| e["event"]["authorised"] == true && e["event"]["restored"] == false),
        "{changes:?}"
    );
    assert!(
        std::fs::read_to_string(webroot.join("index.html"))
            .unwrap()
            .contains("一网通办")
    );
    assert!(incidents(&c, "integrity.web-root.tamper").is_empty());
    agent.proc.terminate(Duration::from_secs(10)).unwrap();
}

#[test]
fn at_the_inotify_watch_limit_the_root_is_polled_and_changes_still_arrive() {
    // A user namespace has its own inotify watch limit
    // (/proc/sys/user/max_inotify_watches): the agent runs in one with a
    // limit of 4 watches, below the 13 directories of its web root.
    let probe = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "true"])
        .status();
    if !is_root() || !probe.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: needs root and user namespaces (CI runs this as root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let webroot = dir.path().join("www");
    for i in 0..12 {
        std::fs::create_dir_all(webroot.join(format!("sec{i}/news"))).unwrap();
        std::fs::write(webroot.join(format!("sec{i}/news/index.html")), "<p>ok</p>").unwrap();
    }
    let c = Collector::start(dir.path(), "").unwrap();
    let token = c.add_agent("web-03").unwrap();
    let config = Agent::write_config(
        dir.path(),
        "web-03",
        &c.url,
        &token,
        &format!(
            "\n[[integrity.roots]]\npath = \"{}\"\npoll-interval = \"300ms\"\n",
            webroot.display()
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--user", "--map-root-user", "sh", "-c"])
        .arg(format!(
            "echo 4 > /proc/sys/user/max_inotify_watches && exec {} --config {}",
            shouwang_e2e::bin("shouwang-agent").unwrap().display(),
            config.display()
        ));
    let mut agent = Agent::start_cmd(cmd, config).unwrap();
    wait_for(Duration::from_secs(20), "the fallback to polling", || {
        let m = c
            .metric("shouwang_agent_integrity_polling_roots{agent=\"web-03\"}")
            .ok()??;
        (m >= 1.0).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.proc.log()));
    assert!(
        agent.proc.log().contains("inotify watch limit reached"),
        "{}",
        agent.proc.log()
    );
    std::fs::write(webroot.join("sec11/news/index.html"), "<p>changed</p>").unwrap();
    let ev = wait_for(
        Duration::from_secs(10),
        "the change, found by polling",
        || c.events("web-03", "file_change").ok()?.into_iter().next(),
    )
    .unwrap();
    assert_eq!(ev["event"]["path"], "sec11/news/index.html");
    assert_eq!(ev["event"]["change"], "modified");
    agent.proc.terminate(Duration::from_secs(10)).unwrap();
}

#[test]
fn check_site_prints_one_check_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let webroot = dir.path().join("www");
    std::fs::create_dir_all(&webroot).unwrap();
    std::fs::write(webroot.join("index.html"), PAGE).unwrap();
    let server = WebServer::start(&webroot, "portal.gov.test", Validity::ExpiresIn(9)).unwrap();
    let ca = server.write_ca(dir.path()).unwrap();
    let config = Agent::write_config(
        dir.path(),
        "probe",
        "http://127.0.0.1:1",
        "unused",
        &format!(
            "\n[[integrity.sites]]\nurl = \"https://portal.gov.test:{}/\"\nconnect-to = \"{}\"\nca-file = \"{}\"\n",
            server.addr.port(),
            server.addr,
            ca.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(shouwang_e2e::bin("shouwang-agent").unwrap())
        .arg("--config")
        .arg(&config)
        .arg("check-site")
        .output()
        .unwrap();
    let lines = shouwang_e2e::jsonl_output("check-site", &out);
    assert_eq!(lines.len(), 1);
    let c = &lines[0];
    assert_eq!(c["kind"], "site_check");
    assert_eq!(c["up"], true);
    assert_eq!(c["status"], 200);
    assert_eq!(c["tls_days_left"], 9);
    assert_eq!(c["title"], "某某县人民政府");
}
