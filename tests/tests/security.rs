//! Security acceptance: refused tokens (none, wrong, revoked, too weak a
//! role) are refused and logged; repeated failures block the peer; a
//! plaintext listener off loopback is refused unless allowed; TLS from
//! `certs init`; mutual TLS refuses a client without a certificate.
//! Real collector and agent processes on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use shouwang_e2e::{Agent, Collector, api_client, batch_json, bin, cli, notice, wait_for};

fn status(c: &Collector, method: &str, path: &str, token: Option<&str>) -> (u16, Option<String>) {
    let mut req = match method {
        "POST" => c.api.bare(reqwest::Method::POST, path).json(&json!({})),
        _ => c.api.bare(reqwest::Method::GET, path),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().unwrap();
    let ra = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (r.status().as_u16(), ra)
}

/// Acceptance: no token, a wrong one, a revoked one, or a viewer token on
/// operator endpoints are refused, and every refusal is logged.
#[test]
fn missing_wrong_revoked_and_viewer_tokens_are_refused_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "").unwrap();
    let agent_token = c.add_agent("gw-01").unwrap();
    let viewer = c.api_token("watcher", "viewer").unwrap();
    let operator = c.api_token("duty", "operator").unwrap();
    let body = || batch_json("gw-01", 0, vec![notice(0)]);

    // Ingest: the agent's own token works; none, a wrong one and a revoked
    // one do not.
    assert_eq!(
        c.post_ingest(Some(&agent_token), body(), false).unwrap().0,
        200
    );
    assert_eq!(c.post_ingest(None, body(), false).unwrap().0, 401);
    let wrong = format!("{}0", &agent_token[..agent_token.len() - 1]);
    let wrong = if wrong == agent_token {
        format!("{}1", &agent_token[..agent_token.len() - 1])
    } else {
        wrong
    };
    assert_eq!(c.post_ingest(Some(&wrong), body(), false).unwrap().0, 401);
    let out = Command::new(&c.exe)
        .arg("--config")
        .arg(&c.config)
        .args(["agents", "revoke", "gw-01"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("token revoked"));
    let (s, b) = c.post_ingest(Some(&agent_token), body(), false).unwrap();
    assert_eq!(s, 401, "revoked: {b}");
    // A new token after rotation works again; the stored events survived.
    let fresh = cli(&c.exe, &c.config, &["agents", "rotate", "gw-01"]).unwrap();
    assert_eq!(
        c.post_ingest(Some(&fresh), batch_json("gw-01", 1, vec![notice(1)]), false)
            .unwrap()
            .0,
        200
    );
    assert_eq!(c.events("gw-01", "notice").unwrap().len(), 2);

    // Operator endpoints: none, wrong, a removed API token, a viewer.
    let ack = "/v1/silences";
    assert_eq!(status(&c, "POST", ack, None).0, 401);
    assert_eq!(status(&c, "POST", ack, Some("swa1:duty:00")).0, 401);
    assert_eq!(status(&c, "POST", ack, Some(&viewer)).0, 403);
    assert_eq!(status(&c, "GET", "/v1/incidents", Some(&viewer)).0, 200);
    assert_eq!(status(&c, "GET", "/v1/audit", Some(&operator)).0, 403);
    cli(&c.exe, &c.config, &["tokens", "remove", "duty"]).unwrap();
    assert_eq!(
        status(&c, "POST", ack, Some(&operator)).0,
        401,
        "removed token"
    );

    // Every refusal is in the log, with the peer and the path, and counted.
    let refused = wait_for(Duration::from_secs(5), "refusals logged", || {
        let log = c.proc.log();
        let lines: Vec<String> = log
            .lines()
            .filter(|l| l.contains("authentication refused"))
            .map(str::to_owned)
            .collect();
        (lines.len() >= 8).then_some(lines)
    })
    .unwrap_or_else(|e| panic!("{e}:\n{}", c.proc.log()));
    assert_eq!(refused.len(), 8, "{refused:#?}");
    assert!(
        refused
            .iter()
            .filter(|l| l.contains("path=/v1/ingest"))
            .count()
            == 3
    );
    assert!(
        refused.iter().all(|l| l.contains("peer=127.0.0.1")),
        "{refused:#?}"
    );
    assert!(
        refused
            .iter()
            .any(|l| l.contains("status=403") && l.contains("path=/v1/silences"))
    );
    let m = c.metrics().unwrap();
    assert_eq!(
        shouwang_e2e::metric_value(&m, "shouwang_auth_refused_total{reason=\"unauthorized\"}"),
        Some(6.0)
    );
    assert_eq!(
        shouwang_e2e::metric_value(&m, "shouwang_auth_refused_total{reason=\"forbidden\"}"),
        Some(2.0)
    );
}

/// Failed authentications from one address block it for a while: guessing
/// tokens at line speed is not possible.
#[test]
fn repeated_failures_block_the_peer_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(
        dir.path(),
        "[api]\nmax-auth-failures = 5\nauth-failure-window = \"1m\"\nauth-block-for = \"2m\"\n",
    )
    .unwrap();
    let viewer = c.api_token("watcher", "viewer").unwrap();
    for i in 0..4 {
        assert_eq!(
            status(&c, "GET", "/v1/incidents", Some(&format!("swa1:x:{i}"))).0,
            401
        );
    }
    // A valid token between failures still works.
    assert_eq!(status(&c, "GET", "/v1/incidents", Some(&viewer)).0, 200);
    assert_eq!(status(&c, "GET", "/v1/incidents", Some("swa1:x:5")).0, 401);
    // Blocked: even the valid token gets 429 with Retry-After, unchecked.
    let (s, ra) = status(&c, "GET", "/v1/incidents", Some(&viewer));
    assert_eq!(s, 429);
    let secs: u64 = ra.expect("Retry-After").parse().unwrap();
    assert!((100..=120).contains(&secs), "{secs}");
    assert_eq!(
        c.post_ingest(None, batch_json("x", 0, vec![notice(0)]), false)
            .unwrap()
            .0,
        429
    );
    assert!(c.proc.log().contains("peer blocked"), "{}", c.proc.log());
}

/// A plaintext listener on a non-loopback address is refused unless
/// explicitly allowed.
#[test]
fn plaintext_off_loopback_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let write = |extra: &str| {
        std::fs::write(
            &config,
            format!(
                "listen = \"0.0.0.0:0\"\ndata-dir = \"{}\"\n{extra}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
    };
    write("");
    let out = Command::new(bin("shouwang-collector").unwrap())
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refusing to serve plaintext HTTP on 0.0.0.0:0") && err.contains("certs init"),
        "{err}"
    );
    // Allowed explicitly: it serves (and says where).
    write("[tls]\nallow-plaintext = true\n");
    let c =
        Collector::start_at(dir.path(), "0.0.0.0:0", "[tls]\nallow-plaintext = true\n").unwrap();
    assert!(c.url.starts_with("http://0.0.0.0:"), "{}", c.url);
}

/// The admin's API client of `c` trusting `ca`, with a client certificate.
fn https_client(
    c: &Collector,
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> shouwang_client::blocking::Client {
    let tls = shouwang_client::Tls {
        ca: Some(ca.to_owned()),
        cert: identity.map(|(c, _)| c.to_owned()),
        key: identity.map(|(_, k)| k.to_owned()),
    };
    api_client(&c.url, Some(&c.token), &tls).unwrap()
}

/// `certs init` switches TLS on; an agent trusting the CA ships over
/// HTTPS; with `tls.client-ca` a client without a certificate is refused
/// at the handshake and an agent with its certificate gets through.
#[test]
fn tls_from_certs_init_and_mutual_tls_refuses_a_client_without_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("data").join("tls");
    // The collector config must exist for `certs init` to find data-dir.
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let cfg = dir.path().join("pre.toml");
    std::fs::write(
        &cfg,
        format!("data-dir = \"{}\"\n", dir.path().join("data").display()),
    )
    .unwrap();
    let files = cli(
        &bin("shouwang-collector").unwrap(),
        &cfg,
        &[
            "certs",
            "init",
            "--name",
            "127.0.0.1",
            "--name",
            "localhost",
            "--agent",
            "gw-tls",
        ],
    )
    .unwrap();
    assert_eq!(files.lines().count(), 6, "{files}");
    let ca = tls.join("ca.crt");

    // TLS by default once the certificates exist; plaintext clients fail.
    let mut c = Collector::start(dir.path(), "").unwrap();
    assert!(c.url.starts_with("https://127.0.0.1:"), "{}", c.url);
    let plain = c.url.replacen("https://", "http://", 1);
    assert!(
        reqwest::blocking::get(format!("{plain}/healthz"))
            .map_or(true, |r| !r.status().is_success()),
        "plaintext must not be served"
    );
    c.api = https_client(&c, &ca, None);
    assert_eq!(c.get_json("/v1/agents").unwrap()["agents"], json!([]));
    let token = c.add_agent("gw-tls").unwrap();
    let _agent = Agent::start(
        dir.path(),
        "gw-tls",
        &c.url,
        &token,
        &format!("auth-log = \"off\"\n[tls]\nca = \"{}\"", ca.display()),
    )
    .unwrap();
    wait_for(
        Duration::from_secs(20),
        "agent heartbeat over HTTPS",
        || {
            let a = c.agent("gw-tls").ok()??;
            (a["status"] == "online").then_some(())
        },
    )
    .unwrap();
    // The drill (an API client) with --ca: a playbook passes over HTTPS.
    let drill_agent = c.add_agent("drill").unwrap();
    let viewer = c.api_token("drill-viewer", "viewer").unwrap();
    let pb = shouwang_e2e::repo_root().join("playbooks/scan-tcp-ports.toml");
    let out = Command::new(bin("shouwang-drill").unwrap())
        .args([
            "run",
            "--collector",
            &c.url,
            "--agent-token",
            &drill_agent,
            "--api-token",
            &viewer,
        ])
        .arg("--ca")
        .arg(&ca)
        .arg("--out")
        .arg(dir.path().join("reports"))
        .arg(&pb)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("PASS  scan-tcp-ports"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(c);

    // Mutual TLS.
    let mut c = Collector::start(
        dir.path(),
        &format!("[tls]\nclient-ca = \"{}\"\n", ca.display()),
    )
    .unwrap();
    assert!(c.proc.log().contains("mutual_tls=true"), "{}", c.proc.log());
    let no_cert = https_client(&c, &ca, None);
    let e = no_cert
        .bare(reqwest::Method::GET, "/healthz")
        .send()
        .expect_err("a client without a certificate is refused");
    println!("mTLS without a client certificate: {e:?}");
    let with_cert = https_client(
        &c,
        &ca,
        Some((&tls.join("agent-gw-tls.crt"), &tls.join("agent-gw-tls.key"))),
    );
    assert!(
        with_cert
            .bare(reqwest::Method::GET, "/healthz")
            .send()
            .unwrap()
            .status()
            .is_success()
    );
    c.api = with_cert;
    let token = c.add_agent("gw-mtls").unwrap();
    let _agent = Agent::start(
        dir.path(),
        "gw-mtls",
        &c.url,
        &token,
        &format!(
            "auth-log = \"off\"\n[tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"",
            ca.display(),
            tls.join("agent-gw-tls.crt").display(),
            tls.join("agent-gw-tls.key").display()
        ),
    )
    .unwrap();
    wait_for(
        Duration::from_secs(20),
        "agent heartbeat over mutual TLS",
        || {
            let a = c.agent("gw-mtls").ok()??;
            (a["status"] == "online").then_some(())
        },
    )
    .unwrap();
}
