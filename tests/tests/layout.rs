//! The workspace's layout rules, checked so they stay true: which crates
//! may pull which heavy dependencies (from `cargo metadata`), and that the
//! README's rule count matches `rules/`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use shouwang_e2e::repo_root;

/// Package name → names of its normal (non-dev, non-build) dependencies.
fn dependency_graph() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(repo_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id"),
                p["name"].as_str().expect("name"),
            )
        })
        .collect();
    let mut graph = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().expect("resolve nodes") {
        let name = names[node["id"].as_str().expect("node id")].to_owned();
        let deps: BTreeSet<String> = node["deps"]
            .as_array()
            .expect("deps")
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k["kind"].is_null()))
            })
            .map(|d| names[d["pkg"].as_str().expect("pkg")].to_owned())
            .collect();
        graph.entry(name).or_insert_with(BTreeSet::new).extend(deps);
    }
    graph
}

/// Every crate `root` pulls in, transitively, through normal dependencies.
fn closure(graph: &BTreeMap<String, BTreeSet<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_owned()];
    while let Some(n) = todo.pop() {
        for d in graph.get(&n).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn crates_pull_only_the_dependencies_their_layer_allows() {
    let graph = dependency_graph();
    // (crate, crates it must not reach)
    let rules: &[(&str, &[&str])] = &[
        // Pure cores: values in, values out.
        ("shouwang-proto", &["tokio", "sqlx", "axum", "reqwest"]),
        (
            "shouwang-packet",
            &[
                "tokio",
                "sqlx",
                "axum",
                "reqwest",
                "pnet_datalink",
                "procfs",
            ],
        ),
        (
            "shouwang-rules",
            &["tokio", "sqlx", "axum", "reqwest", "prometheus"],
        ),
        (
            "shouwang-page",
            &["tokio", "sqlx", "axum", "reqwest", "anyhow"],
        ),
        // The drill talks to collectors over HTTP; it links the rules core,
        // not the collector.
        ("shouwang-drill", &["sqlx", "axum", "shouwang-collector"]),
        // Clients of the API: no server or SQL code linked in.
        ("shouwang-console", &["sqlx", "axum", "shouwang-collector"]),
        // Deployed on every host: lean.
        ("shouwang-agent", &["sqlx", "axum", "ratatui"]),
        // Daemon support stays small.
        ("shouwang-daemon", &["sqlx", "axum", "reqwest"]),
    ];
    let mut broken = Vec::new();
    for (krate, banned) in rules {
        assert!(
            graph.contains_key(*krate),
            "{krate} is not in the workspace"
        );
        let reach = closure(&graph, krate);
        for b in *banned {
            if reach.contains(*b) {
                broken.push(format!("{krate} depends on {b}"));
            }
        }
    }
    assert!(broken.is_empty(), "layer rules broken: {broken:#?}");
}

#[test]
fn the_readme_states_the_rule_count_of_rules_dir() {
    let root = repo_root();
    let mut rules = 0usize;
    let mut tests = 0usize;
    let mut stack = vec![root.join("rules")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("rules dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                // Named lists are data the rules refer to, not rules.
                if p.file_name().is_some_and(|n| n != "lists") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&p).expect("rule file");
                if text.lines().any(|l| l.trim_start().starts_with("id =")) {
                    rules += 1;
                    tests += text.lines().filter(|l| l.trim() == "[[test]]").count();
                }
            }
        }
    }
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let stated = format!("# {rules} rules, {tests} tests");
    assert!(
        readme.contains(&stated),
        "README.md should say `rules test rules/     {stated}` (rules/ has {rules} rules with {tests} tests)"
    );
    let shipped = format!("{rules} shipped rules");
    assert!(
        readme.contains(&shipped),
        "README.md's status table should say \"{shipped}\""
    );
}
