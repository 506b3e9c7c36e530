//! `shouwang-drill coverage`: which ATT&CK techniques the rules claim,
//! which the playbooks exercise, which the last run detected.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::score::{Report, Verdict};

/// Whether exercising `specific` exercises `claimed`: the same technique,
/// or a sub-technique of it (T1110.001 exercises T1110; T1071 does not
/// exercise T1071.004).
pub fn related(specific: &str, claimed: &str) -> bool {
    specific == claimed
        || specific
            .strip_prefix(claimed)
            .is_some_and(|r| r.starts_with('.'))
}

#[derive(Deserialize)]
struct Claim {
    id: String,
    #[serde(default)]
    attack: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Coverage {
    /// technique → rule ids claiming it (enabled rules).
    pub rules: BTreeMap<String, Vec<String>>,
    /// technique → playbook ids exercising it.
    pub playbooks: BTreeMap<String, Vec<String>>,
    /// technique → (detected, missed) in the last run.
    pub last: BTreeMap<String, (usize, usize)>,
    pub last_run: Option<String>,
}

pub fn compute(
    rules: &Path,
    playbooks: &[PathBuf],
    report: Option<&Path>,
) -> anyhow::Result<Coverage> {
    let mut c = Coverage::default();
    let set = shouwang_rules::load_dir(rules).map_err(|errs| {
        anyhow::anyhow!(
            "rules in {} do not load:\n{}",
            rules.display(),
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    for r in set.rules.iter().filter(|r| r.enabled) {
        for t in &r.meta.attack {
            c.rules
                .entry(t.clone())
                .or_default()
                .push(r.meta.id.clone());
        }
    }
    for p in crate::playbook::expand_paths(playbooks)? {
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let claim: Claim = toml::from_str(&text).with_context(|| format!("{}", p.display()))?;
        for t in claim.attack {
            c.playbooks.entry(t).or_default().push(claim.id.clone());
        }
    }
    if let Some(path) = report.filter(|p| p.is_file()) {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let r: Report = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a drill report", path.display()))?;
        c.last_run = Some(format!("{} ({})", r.exercise, r.finished));
        for p in &r.playbooks {
            for o in &p.outcomes {
                if let Some(t) = &o.attack {
                    let e = c.last.entry(t.clone()).or_default();
                    match o.verdict {
                        Verdict::Detected => e.0 += 1,
                        _ => e.1 += 1,
                    }
                }
            }
        }
    }
    Ok(c)
}

impl Coverage {
    pub fn table(&self) -> String {
        let all: BTreeSet<&String> = self.rules.keys().chain(self.playbooks.keys()).collect();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<11} {:<46} {:<40} last run",
            "technique", "rules", "playbooks"
        );
        let mut unexercised = Vec::new();
        let mut detected = 0;
        for t in &all {
            let rules = self
                .rules
                .get(*t)
                .map(|v| v.join(" "))
                .unwrap_or_else(|| "-".into());
            let pbs: Vec<&String> = self
                .playbooks
                .iter()
                .filter(|(k, _)| related(k, t))
                .flat_map(|(_, v)| v)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if pbs.is_empty() {
                unexercised.push(t.as_str());
            }
            let (d, m) = self
                .last
                .iter()
                .filter(|(k, _)| related(k, t))
                .fold((0, 0), |(a, b), (_, (d, m))| (a + d, b + m));
            let last = match (d, m) {
                (0, 0) => "-".to_owned(),
                (d, 0) => {
                    detected += 1;
                    format!("detected {d}")
                }
                (d, m) => format!("MISSED {m} (detected {d})"),
            };
            let pbs = if pbs.is_empty() {
                "-".to_owned()
            } else {
                pbs.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
            };
            let _ = writeln!(
                s,
                "{t:<11} {:<46} {:<40} {last}",
                cut(&rules, 46),
                cut(&pbs, 40)
            );
        }
        let _ = writeln!(
            s,
            "\n{} techniques claimed by rules, {} exercised by playbooks, {} detected in the last run{}",
            self.rules.len(),
            self.rules
                .keys()
                .filter(|t| !unexercised.contains(&t.as_str()))
                .count(),
            detected,
            self.last_run
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_else(|| " (no report)".into())
        );
        let gaps: Vec<&str> = unexercised
            .iter()
            .copied()
            .filter(|t| self.rules.contains_key(*t))
            .collect();
        if !gaps.is_empty() {
            let _ = writeln!(s, "claimed by rules but not exercised: {}", gaps.join(" "));
        }
        s
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_relate_by_dot_only() {
        assert!(
            !related("T1110", "T1110.001"),
            "a parent is not its sub-technique"
        );
        assert!(related("T1110.001", "T1110"));
        assert!(related("T1046", "T1046"));
        assert!(!related("T1110", "T11100"));
        assert!(!related("T1110.001", "T1110.002"));
    }
}
