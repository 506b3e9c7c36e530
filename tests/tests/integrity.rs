//! Website integrity end to end: a real agent guards a web root that a
//! local HTTPS server serves, and checks the page from outside; a real
//! collector joins the local tamper and the remote change into one
//! "defacement confirmed" incident.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::Value;
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
