//! The workspace's layout rules, checked so they stay true: which crates
//! may pull which heavy dependencies (from `cargo metadata`, for the
//! workspace and for the separate fuzz workspace), that no two source files
//! of a crate import each other in a circle, and that the README's rule
//! count matches `rules/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use shouwang_e2e::repo_root;

/// Package name → names of its normal (non-dev, non-build) dependencies,
/// for the workspace whose manifest is `manifest`.
fn dependency_graph(manifest: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(manifest)
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
    let graph = dependency_graph(&repo_root().join("Cargo.toml"));
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
        // Log dialects on text only: the agent's follower and the log
        // command are its edges.
        (
            "shouwang-logs",
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
            "shouwang-page",
            &["tokio", "sqlx", "axum", "reqwest", "anyhow"],
        ),
        // The drill talks to collectors over HTTP; it links the rules core,
        // not the collector.
        ("shouwang-drill", &["sqlx", "axum", "shouwang-collector"]),
        // Clients of the API: no server or SQL code linked in.
        ("shouwang-console", &["sqlx", "axum", "shouwang-collector"]),
        ("shouwang-client", &["sqlx", "axum", "shouwang-collector"]),
        // Deployed on every host: lean.
        ("shouwang-agent", &["sqlx", "axum", "ratatui"]),
        // Starts processes; talks to none of them.
        (
            "shouwang-harness",
            &["tokio", "sqlx", "axum", "reqwest", "shouwang-collector"],
        ),
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
fn fuzz_targets_link_the_pure_cores_only() {
    let graph = dependency_graph(&repo_root().join("fuzz").join("Cargo.toml"));
    let direct = graph.get("shouwang-fuzz").expect("fuzz package");
    let ours: Vec<&String> = direct
        .iter()
        .filter(|d| d.starts_with("shouwang-"))
        .collect();
    let cores = [
        "shouwang-proto",
        "shouwang-packet",
        "shouwang-rules",
        "shouwang-page",
    ];
    for d in &ours {
        assert!(
            cores.contains(&d.as_str()),
            "fuzz depends on {d}; fuzz targets may use only the cores {cores:?}"
        );
    }
    let reach = closure(&graph, "shouwang-fuzz");
    for banned in ["tokio", "sqlx", "axum", "reqwest"] {
        assert!(!reach.contains(banned), "fuzz targets pull {banned}");
    }
}

/// A crate's source files as module paths (`a::b` is `src/a/b.rs` or
/// `src/a/b/mod.rs`; binaries get their own roots).
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("src dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let has_lib = src.join("lib.rs").exists();
    files
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(src).expect("under src").with_extension("");
            let mut path: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if path.first().is_some_and(|p| p == "bin") {
                path[0] = "<bin>".to_owned();
            } else if path == ["main"] && has_lib {
                path = vec!["<main>".to_owned()];
            } else if path
                .last()
                .is_some_and(|l| l == "mod" || l == "lib" || l == "main")
            {
                path.pop();
            }
            (path, f)
        })
        .collect()
}

/// Which files each file of a crate imports: `crate::`, `super::` and
/// `self::` paths, and `child::` paths to a child it declares (test modules
/// at the end of a file and comments are not counted).
fn import_edges(
    mods: &BTreeMap<Vec<String>, PathBuf>,
) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let path_re =
        regex::Regex::new(r"\b((?:crate|super|self)(?:::(?:super|\{?[A-Za-z_][A-Za-z0-9_]*))+)")
            .expect("regex");
    let child_re = regex::Regex::new(r"(?m)^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)\s*;")
        .expect("regex");
    let tests_re = regex::Regex::new(r"(?s)#\[cfg\(test\)\]\s*mod tests\s*\{.*").expect("regex");
    let comment_re = regex::Regex::new(r"//[^\n]*").expect("regex");
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (mp, file) in mods {
        let text = std::fs::read_to_string(file).expect("source file");
        let text = tests_re.replace(&text, "");
        let text = comment_re.replace_all(&text, "");
        let out = edges.entry(mp.clone()).or_default();
        for m in path_re.captures_iter(&text) {
            let parts: Vec<&str> = m[1]
                .split("::")
                .map(|p| p.trim_start_matches('{'))
                .collect();
            let (mut cur, rest): (Vec<String>, &[&str]) = match parts[0] {
                "crate" => (Vec::new(), &parts[1..]),
                "self" => (mp.clone(), &parts[1..]),
                _ => (mp.clone(), &parts[..]),
            };
            for p in rest {
                if *p == "super" {
                    cur.pop();
                    continue;
                }
                let mut next = cur.clone();
                next.push((*p).to_owned());
                if mods.contains_key(&next) {
                    cur = next;
                } else {
                    break;
                }
            }
            if &cur != mp && mods.contains_key(&cur) {
                out.insert(cur);
            }
        }
        let is_dir = file
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs" || n == "main.rs");
        if is_dir {
            for c in child_re.captures_iter(&text) {
                let mut child = mp.clone();
                child.push(c[1].to_owned());
                let used = text.match_indices(&format!("{}::", &c[1])).any(|(i, _)| {
                    text[..i]
                        .chars()
                        .next_back()
                        .is_none_or(|ch| ch != ':' && !ch.is_alphanumeric() && ch != '_')
                });
                if mods.contains_key(&child) && used {
                    out.insert(child);
                }
            }
        }
    }
    edges
}

/// The strongly connected components of more than one file (Tarjan).
fn circles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct State<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on: BTreeSet<&'a Vec<String>>,
        out: Vec<Vec<Vec<String>>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Vec<String>) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_source_files_import_each_other_in_a_circle() {
    let root = repo_root();
    let mut crates = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("dir").flatten() {
            let p = e.path();
            let name = e.file_name();
            if p.is_dir() && name != "target" && name != ".git" && name != "node_modules" {
                if p.join("Cargo.toml").exists() && p.join("src").is_dir() {
                    crates.push(p.join("src"));
                }
                stack.push(p);
            }
        }
    }
    assert!(crates.len() >= 9, "found only {} crates", crates.len());
    let mut found = Vec::new();
    for src in &crates {
        let mods = modules(src);
        for comp in circles(&import_edges(&mods)) {
            let mut files: Vec<String> = comp
                .iter()
                .map(|m| {
                    mods[m]
                        .strip_prefix(src)
                        .expect("under src")
                        .display()
                        .to_string()
                })
                .collect();
            files.sort();
            let krate = src.strip_prefix(&root).unwrap_or(src).display().to_string();
            found.push(format!("{krate}: {}", files.join(" ↔ ")));
        }
    }
    assert!(
        found.is_empty(),
        "import circles between files:\n{}",
        found.join("\n")
    );
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
