//! The command line refuses bad input with clear errors (exit 2) before
//! touching any collector.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn drill(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shouwang-drill"))
        .args(args)
        .env_remove("SHOUWANG_COLLECTOR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    let (code, err) = drill(&["run", "/nonexistent/playbooks"]);
    assert_eq!(code, 2);
    assert!(err.contains("no such playbook file or directory"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(&p, "id = \"x\"\n").unwrap();
    let ps = p.to_str().unwrap();
    let (code, err) = drill(&["run", ps, "--var", "novalue"]);
    assert_eq!(code, 2);
    assert!(err.contains("use NAME=VALUE"), "{err}");
    let (code, err) = drill(&["run", ps, "--var", "x=a\"b"]);
    assert_eq!(code, 2);
    assert!(err.contains("quotes"), "{err}");
    let (code, err) = drill(&["run", ps, "--only", "teleport"]);
    assert_eq!(code, 2);
    assert!(err.contains("kinds are inject"), "{err}");
    let (code, err) = drill(&[
        "run",
        ps,
        "--collector",
        "http://127.0.0.1:9",
        "--exercise",
        "bad name",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("exercise"), "{err}");
    let (code, err) = drill(&["packets", "--json", "{\"pattern\":\"teleport\"}"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a packets step"), "{err}");
    let (code, err) = drill(&[
        "corpus",
        dir.path().to_str().unwrap(),
        "--collector",
        "http://127.0.0.1:9",
        "--api-token",
        "t",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("expect.toml"), "{err}");
}
