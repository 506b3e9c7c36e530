//! The collector's command line (this file also makes `cargo test` build the
//! binary that the end-to-end tests in `tests/` run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;

fn collector() -> Command {
    Command::cargo_bin("shouwang-collector").unwrap()
}

#[test]
fn unknown_config_key_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:0\"\n\n[ingest]\nmax-body-bytez = 5\n",
    )
    .unwrap();
    let out = collector()
        .arg("--config")
        .arg(&cfg)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:4:1: unknown field `max-body-bytez`",
            cfg.display()
        )),
        "{err}"
    );
}

#[test]
fn agents_add_list_rotate_remove() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, format!("data-dir = \"{}\"\n", dir.path().display())).unwrap();
    let run = |args: &[&str]| {
        collector()
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap()
    };
    let add = run(&["agents", "add", "gw-01"]);
    assert!(add.status.success());
    let token = String::from_utf8(add.stdout).unwrap();
    assert!(
        token.starts_with("sw1:gw-01:") && token.trim().len() == "sw1:gw-01:".len() + 64,
        "{token}"
    );
    let again = run(&["agents", "add", "gw-01"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = run(&["agents", "add", "bad name"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid agent name"));
    let rotated = run(&["agents", "rotate", "gw-01"]);
    assert_ne!(String::from_utf8(rotated.stdout).unwrap(), token);
    let list = run(&["agents", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).starts_with("gw-01\tlast_seen_ms=never"));
    assert!(run(&["agents", "remove", "gw-01"]).status.success());
    assert!(!run(&["agents", "remove", "gw-01"]).status.success());
    // The token is stored hashed: it does not appear in the database file.
    let db = std::fs::read(dir.path().join("shouwang.db")).unwrap();
    let secret = token.trim().rsplit(':').next().unwrap();
    assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()));
}
