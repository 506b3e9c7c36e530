//! The agent's command line (this file also makes `cargo test` build the
//! binary that the end-to-end tests in `tests/` run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;

fn agent() -> Command {
    Command::cargo_bin("shouwang-agent").unwrap()
}

#[test]
fn bad_duration_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("a.toml");
    std::fs::write(&cfg, "name = \"a\"\n[host]\ninterval = \"soon\"\n").unwrap();
    let out = agent()
        .arg("--config")
        .arg(&cfg)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:12:", cfg.display())), "{err}");
}

#[test]
fn missing_token_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("a.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"a\"\ncollector = \"http://127.0.0.1:1\"\nstate-dir = \"{}\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = agent().arg("--config").arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no agent token") && err.contains("agents add"),
        "{err}"
    );
}

#[test]
fn sample_prints_host_and_listening_json() {
    let out = agent().arg("sample").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["kind"], "host_sample");
    assert!(lines[0]["memory"]["total"].as_u64().unwrap() > 0);
    assert_eq!(lines[1]["kind"], "listen_snapshot");
}
