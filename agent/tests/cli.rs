//! The agent's command line (this file also makes `cargo test` build the
//! binary that the end-to-end tests in `tests/` run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;

fn agent() -> Command {
    Command::cargo_bin("shouwang-agent").unwrap()
}

/// The agent with `--config cfg` and `args`, run to its end.
fn with_config(cfg: &std::path::Path, args: &[&str]) -> std::process::Output {
    agent()
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap()
}

/// Asserts the run succeeded, showing its stderr if not.
fn assert_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_duration_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let (err, cfg) = check_config_fails(dir.path(), "name = \"a\"\n[host]\ninterval = \"soon\"\n");
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
    let out = with_config(&cfg, &[]);
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
    assert_ok(&out);
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["kind"], "host_sample");
    assert!(lines[0]["memory"]["total"].as_u64().unwrap() > 0);
    assert_eq!(lines[1]["kind"], "listen_snapshot");
}

/// `check-config` on a file holding `text`: its stderr and the file's
/// path, asserting it failed.
fn check_config_fails(dir: &std::path::Path, text: &str) -> (String, std::path::PathBuf) {
    let cfg = dir.join("a.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = with_config(&cfg, &["check-config"]);
    assert!(!out.status.success(), "{text}");
    (String::from_utf8_lossy(&out.stderr).into_owned(), cfg)
}

/// The error for integrity settings `text` in an otherwise good config.
fn config_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    check_config_fails(dir.path(), &format!("name = \"a\"\ntoken = \"t\"\n{text}")).0
}

#[test]
fn broken_integrity_settings_get_clear_errors() {
    for (text, want) in [
        (
            "[[integrity.roots]]\npath = \"www\"\n",
            "integrity.roots: path www must be absolute",
        ),
        (
            "[[integrity.roots]]\npath = \"/srv/www\"\nexclude = [\"a[\"]\n",
            "exclude glob \"a[\" is not a valid glob",
        ),
        (
            "[[integrity.roots]]\npath = \"/srv/www\"\npublish-windows = [\"22:00\"]\n",
            "publish window \"22:00\": expected HH:MM-HH:MM",
        ),
        (
            "[[integrity.roots]]\npath = \"/srv/www\"\nrestor = true\n",
            "unknown field `restor`",
        ),
        (
            "[[integrity.sites]]\nurl = \"ftp://example.gov.cn/\"\n",
            "must be http(s)://host/",
        ),
        (
            "[[integrity.sites]]\nurl = \"https://example.gov.cn/\"\ncrawlers = [\"Bingbot\"]\n",
            "unknown crawler \"Bingbot\"",
        ),
        (
            "[[integrity.sites]]\nurl = \"https://example.gov.cn/\"\nignore-selectors = [\"div[\"]\n",
            "ignore selector \"div[\"",
        ),
        (
            "[[integrity.sites]]\nurl = \"https://example.gov.cn/\"\nresolvers = [\"dns.example\"]\n",
            "resolver \"dns.example\" is not ip or ip:port",
        ),
    ] {
        let err = config_error(text);
        assert!(err.contains(want), "{text}\n=> {err}");
    }
}

#[test]
fn publish_of_an_unwatched_root_says_which_roots_are_watched() {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let cfg = dir.path().join("a.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"a\"\ntoken = \"t\"\nstate-dir = \"{}\"\n[[integrity.roots]]\npath = \"{}\"\n",
            dir.path().join("state").display(),
            www.display()
        ),
    )
    .unwrap();
    let out = with_config(&cfg, &["publish", "/tmp"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/tmp is not a watched web root"), "{err}");
    assert!(err.contains(&www.display().to_string()), "{err}");
    // With no agent running, publish updates the baseline itself.
    std::fs::write(www.join("index.html"), "v1").unwrap();
    let out = with_config(&cfg, &["publish", www.to_str().unwrap()]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("published"), "{text}");
}

/// `log --format F FILE`: JSON lines in the shape `pcap --emit jsonl`
/// prints, a summary on stderr, `auth-log` as the old name, and errors
/// that say what to give instead.
#[test]
fn log_command_prints_events_and_refuses_what_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(
        &log,
        "Dec  3 17:17:09 vm sshd[27997]: Invalid user nosuchuser from 10.77.0.1 port 60602\n\
         Dec  3 17:17:09 vm sshd[27997]: Connection closed by invalid user nosuchuser 10.77.0.1 port 60602 [preauth]\n\
         Dec  3 17:17:10 vm sshd[28000]: Failed password for root from 2001:db8::9 port 4 ssh2\n",
    )
    .unwrap();
    for cmd in ["log", "auth-log"] {
        let out = agent()
            .args([cmd, "--format", "auth"])
            .arg(&log)
            .output()
            .unwrap();
        assert_ok(&out);
        let evs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(evs.len(), 2, "{cmd}");
        assert!(evs.iter().all(|e| e["kind"] == "auth" && e["ts"].is_i64()));
        assert_eq!(evs[0]["user"], "nosuchuser");
        assert_eq!(evs[1]["source_addr"], "2001:db8::9");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("3 lines") && err.contains("2 failures"),
            "{err}"
        );
    }
    let out = agent()
        .args(["log", "--format", "nginx"])
        .arg(&log)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("unknown log format \"nginx\": use one of auth, journal"),
        "{err}"
    );
    let out = agent()
        .args(["log"])
        .arg(dir.path().join("nope.log"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("cannot read") && err.contains("nope.log"),
        "{err}"
    );
    let out = agent().args(["log"]).arg(dir.path()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("is a directory"),
        "{err}"
    );
    // Journal lines that are not JSON are counted, not fatal.
    let j = dir.path().join("j.jsonl");
    std::fs::write(&j, "{not json\n{\"SYSLOG_IDENTIFIER\":\"sshd\",\"_PID\":\"5\",\"MESSAGE\":\"Failed password for root from 192.0.2.1 port 1 ssh2\"}\n").unwrap();
    let out = agent()
        .args(["log", "--format", "journal"])
        .arg(&j)
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("(1 not journal)"));
}
