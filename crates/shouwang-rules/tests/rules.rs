//! The shipped ruleset passes its own tests, and each broken rule file in
//! `tests/invalid_rules/` fails with the exact location and message its
//! first line names (`# expect: LINE:COL: MESSAGE`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use shouwang_rules::{self as rules, testing};

fn shipped() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

#[test]
fn shipped_ruleset_loads_and_every_rule_test_passes() {
    let set = Arc::new(rules::load_dir(&shipped()).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    }));
    assert!(set.rules.len() >= 25, "{} rules", set.rules.len());
    let results = testing::run_all(&set);
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.failure
                .as_ref()
                .map(|f| format!("{} — {}: {f}", r.rule, r.name))
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(results.len() >= 2 * set.rules.len());
    assert_eq!(testing::untested(&set), Vec::<String>::new());
}

#[test]
fn each_invalid_rule_file_names_its_error() {
    let set = rules::load_dir(&shipped()).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid_rules");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be `# expect: ...`", path.display()));
        let origin = path.display().to_string();
        let errors = rules::compile::compile_rule(&origin, &text, &set.lists, &set.profiles)
            .err()
            .unwrap_or_else(|| panic!("{origin} compiled"));
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            shown
                .iter()
                .any(|e| e.starts_with(&format!("{origin}:{expect}"))),
            "{origin}: expected `{expect}`, got:\n{}",
            shown.join("\n")
        );
        n += 1;
    }
    assert!(n >= 10, "{n} fixtures");
}

#[test]
fn a_directory_with_errors_reports_all_of_them_sorted() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid_rules");
    let errors = rules::load_dir(&dir).unwrap_err();
    assert!(errors.len() >= 10, "{errors:?}");
    let keys: Vec<(String, usize, usize)> = errors
        .iter()
        .map(|e| (e.file.clone(), e.line, e.column))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn docs_list_every_field_and_every_shipped_rule() {
    use shouwang_rules::fields;
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules.md"))
            .unwrap();
    for kind in shouwang_proto::EventKind::ALL {
        let section = docs
            .split(&format!("### `{kind}`\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("docs/rules.md has no section for `{kind}`"));
        let section = section.split("\n### ").next().unwrap();
        for f in fields::fields_of(kind) {
            assert!(
                section.contains(&format!("| `{}` |", f.name)),
                "docs/rules.md: `{kind}` lacks field `{}`",
                f.name
            );
        }
    }
    let set = rules::load_dir(&shipped()).unwrap();
    for r in &set.rules {
        assert!(
            docs.contains(&format!("| `{}` |", r.meta.id)),
            "docs/rules.md lacks rule {}",
            r.meta.id
        );
    }
}

#[test]
fn every_shipped_rule_titles_its_incidents_with_the_entities() {
    use shouwang_rules::title::Slot;
    let set = Arc::new(rules::load_dir(&shipped()).unwrap());
    for r in &set.rules {
        let t =
            r.meta.template.as_ref().unwrap_or_else(|| {
                panic!("{}: no `incident.en`/`incident.zh` in [title]", r.meta.id)
            });
        assert!(
            t.slots
                .iter()
                .any(|s| !matches!(s, Slot::Count | Slot::Span)),
            "{}: the title names no entity",
            r.meta.id
        );
        // Every test that fires renders a title with every placeholder
        // filled: a template naming a field its events never carry shows.
        for spec in r.tests.iter().map(|t| t.get_ref()).filter(|t| t.fires) {
            let got = testing::run_test(&set, r, spec).unwrap();
            let fired: Vec<&rules::Detection> = got.iter().filter(|d| !d.clear).collect();
            let title = testing::incident_title(&fired).unwrap();
            eprintln!("{}: {} | {}", r.meta.id, title.en, title.zh);
            let last = fired
                .iter()
                .rev()
                .find(|d| d.group == fired[0].group)
                .unwrap();
            assert_eq!(
                t.missing(&last.facts),
                Vec::<&Slot>::new(),
                "{} — {}: `{}`",
                r.meta.id,
                spec.name,
                title.en
            );
        }
    }
}
