//! Scoring: which incidents meet which expectation, and the scorecard.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use shouwang_proto::{Incident, Severity};

use crate::playbook::Expect;

/// Whether `addr` appears in the incident as the attacker (`src`) or the
/// attacked (`dst`): in its group key or in an evidence event.
pub fn involves(inc: &Incident, attacker: bool, addr: &str) -> bool {
    let keys: &[&str] = if attacker {
        &["src", "client", "ip", "source_addr"]
    } else {
        &["dst", "server"]
    };
    keys.iter().any(|k| {
        inc.group
            .split(' ')
            .any(|kv| kv.split_once('=') == Some((k, addr)))
    }) || inc
        .evidence
        .iter()
        .any(|e| keys.iter().any(|k| e[*k].as_str() == Some(addr)))
}

/// The incident carries a technique starting with `prefix`.
pub fn has_technique(inc: &Incident, prefix: &str) -> bool {
    inc.attack.iter().any(|t| t.starts_with(prefix))
}

/// Whether `inc` is what `e` asks for (positive expectations only).
pub fn meets(e: &Expect, inc: &Incident) -> bool {
    !e.none
        && e.attack.as_deref().is_none_or(|a| has_technique(inc, a))
        && e.rule.as_deref().is_none_or(|r| inc.rule == r)
        && e.src.as_deref().is_none_or(|a| involves(inc, true, a))
        && e.dst.as_deref().is_none_or(|a| involves(inc, false, a))
        && e.group
            .iter()
            .all(|g| inc.group.split(' ').any(|kv| kv == g))
        && e.min_severity
            .as_deref()
            .and_then(Severity::parse)
            .is_none_or(|s| inc.severity >= s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Raised within the deadline.
    Detected,
    /// Raised, but after the deadline.
    Late,
    /// Not raised.
    Missed,
    /// Raised more incidents than allowed (one flood, one incident).
    TooMany,
    /// Benign: nothing of medium or above.
    Quiet,
    /// Benign, but something of medium or above was raised.
    Noisy,
}

impl Verdict {
    pub fn passed(self) -> bool {
        matches!(self, Self::Detected | Self::Quiet)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Detected => "detected",
            Self::Late => "LATE",
            Self::Missed => "MISSED",
            Self::TooMany => "TOO MANY",
            Self::Quiet => "quiet",
            Self::Noisy => "NOISY",
        }
    }
}

/// One expectation's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub expect: String,
    pub attack: Option<String>,
    pub verdict: Verdict,
    pub within_ms: u64,
    /// From the start of the steps to the incident opening (collector clock).
    pub ttd_ms: Option<i64>,
    pub incident: Option<i64>,
    pub rule: Option<String>,
    pub detail: String,
}

/// A short form of an incident for reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seen {
    pub id: i64,
    pub rule: String,
    pub severity: Severity,
    pub attack: Vec<String>,
    pub group: String,
    pub exercise: Option<String>,
    pub opened_ms: i64,
}

impl From<&Incident> for Seen {
    fn from(i: &Incident) -> Self {
        Self {
            id: i.id,
            rule: i.rule.clone(),
            severity: i.severity,
            attack: i.attack.clone(),
            group: i.group.clone(),
            exercise: i.exercise.clone(),
            opened_ms: i.opened_ms,
        }
    }
}

/// Judges every expectation against the incidents of the run.
/// `start_ms`: when the steps began; `now_ms`: when waiting ended (both on
/// the collector's clock).
pub fn judge(expect: &[Expect], incidents: &[Incident], start_ms: i64) -> Vec<Outcome> {
    expect
        .iter()
        .map(|e| {
            let within_ms = u64::try_from(e.within.as_millis()).unwrap_or(u64::MAX);
            let deadline = start_ms.saturating_add(i64::try_from(within_ms).unwrap_or(i64::MAX));
            if e.none {
                let loud: Vec<&Incident> = incidents
                    .iter()
                    .filter(|i| i.severity >= Severity::Medium && i.opened_ms <= deadline)
                    .collect();
                return Outcome {
                    expect: e.label(),
                    attack: None,
                    verdict: if loud.is_empty() {
                        Verdict::Quiet
                    } else {
                        Verdict::Noisy
                    },
                    within_ms,
                    ttd_ms: loud.first().map(|i| i.opened_ms - start_ms),
                    incident: loud.first().map(|i| i.id),
                    rule: loud.first().map(|i| i.rule.clone()),
                    detail: loud
                        .iter()
                        .map(|i| format!("#{} {} ({})", i.id, i.rule, i.severity))
                        .collect::<Vec<_>>()
                        .join(", "),
                };
            }
            let hits: Vec<&Incident> = incidents.iter().filter(|i| meets(e, i)).collect();
            let first = hits.iter().min_by_key(|i| i.opened_ms);
            let same_technique = e.attack.as_deref().map_or(hits.len(), |a| {
                incidents.iter().filter(|i| has_technique(i, a)).count()
            });
            let verdict = match (first, e.max_incidents) {
                (None, _) => Verdict::Missed,
                (Some(_), Some(max)) if same_technique > max => Verdict::TooMany,
                (Some(i), _) if i.opened_ms > deadline => Verdict::Late,
                (Some(_), _) => Verdict::Detected,
            };
            let detail = match verdict {
                Verdict::Missed => {
                    let near: Vec<String> = incidents
                        .iter()
                        .filter(|i| e.attack.as_deref().is_some_and(|a| has_technique(i, a)))
                        .map(|i| format!("#{} {} {}", i.id, i.rule, i.group))
                        .collect();
                    if near.is_empty() {
                        "no incident with this technique or rule".to_owned()
                    } else {
                        format!(
                            "technique raised but not for these addresses: {}",
                            near.join("; ")
                        )
                    }
                }
                Verdict::TooMany => format!(
                    "{same_technique} incidents (at most {})",
                    e.max_incidents.unwrap_or(0)
                ),
                _ => first.map(|i| i.group.clone()).unwrap_or_default(),
            };
            Outcome {
                expect: e.label(),
                attack: e.attack.clone(),
                verdict,
                within_ms,
                ttd_ms: first.map(|i| i.opened_ms - start_ms),
                incident: first.map(|i| i.id),
                rule: first.map(|i| i.rule.clone()),
                detail,
            }
        })
        .collect()
}

/// Incidents no expectation asked for and outside the playbook's own
/// techniques: false positives of the run.
pub fn false_positives<'a>(
    expect: &[Expect],
    claimed: &[String],
    incidents: &'a [Incident],
) -> Vec<&'a Incident> {
    incidents
        .iter()
        .filter(|i| {
            !expect.iter().any(|e| meets(e, i)) && !claimed.iter().any(|t| has_technique(i, t))
        })
        .collect()
}

/// How a playbook ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
    Error,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlaybookResult {
    pub id: String,
    pub title: String,
    pub file: String,
    pub attack: Vec<String>,
    pub exercise: String,
    pub status: Status,
    /// Why it was skipped or errored.
    pub reason: Option<String>,
    pub steps_ms: u64,
    pub outcomes: Vec<Outcome>,
    pub false_positives: Vec<Seen>,
    /// Every incident the run raised (tagged, or untagged from live steps).
    pub incidents: Vec<Seen>,
}

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub exercise: String,
    pub collector: String,
    pub started: String,
    pub finished: String,
    pub playbooks: Vec<PlaybookResult>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub detected: usize,
    pub late: usize,
    pub missed: usize,
    pub too_many: usize,
    pub noisy: usize,
    pub false_positives: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub errors: usize,
}

impl Totals {
    /// "N passed, N failed, N skipped, N errors" and "N detected, N late,
    /// N missed, N too many, N noisy", for the text and Markdown cards.
    fn parts(&self) -> (String, String) {
        (
            format!(
                "{} passed, {} failed, {} skipped, {} errors",
                self.passed, self.failed, self.skipped, self.errors
            ),
            format!(
                "{} detected, {} late, {} missed, {} too many, {} noisy",
                self.detected, self.late, self.missed, self.too_many, self.noisy
            ),
        )
    }
}

impl Report {
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for p in &self.playbooks {
            match p.status {
                Status::Passed => t.passed += 1,
                Status::Failed => t.failed += 1,
                Status::Skipped => t.skipped += 1,
                Status::Error => t.errors += 1,
            }
            t.false_positives += p.false_positives.len();
            for o in &p.outcomes {
                match o.verdict {
                    Verdict::Detected => t.detected += 1,
                    Verdict::Late => t.late += 1,
                    Verdict::Missed => t.missed += 1,
                    Verdict::TooMany => t.too_many += 1,
                    Verdict::Noisy => t.noisy += 1,
                    Verdict::Quiet => {}
                }
            }
        }
        t
    }

    /// Exit status: 0 all passed; 1 a miss, late, noisy or too many; 2 a
    /// playbook errored (or, with `strict`, was skipped).
    pub fn exit_code(&self, strict: bool) -> i32 {
        let t = self.totals();
        if t.missed + t.late + t.too_many + t.noisy + t.failed > 0 {
            1
        } else if t.errors > 0 || (strict && t.skipped > 0) {
            2
        } else {
            0
        }
    }

    /// The scorecard as text for the terminal.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "exercise {}  collector {}",
            self.exercise, self.collector
        );
        for p in &self.playbooks {
            let head = match p.status {
                Status::Passed => "PASS",
                Status::Failed => "FAIL",
                Status::Skipped => "SKIP",
                Status::Error => "ERROR",
            };
            let _ = writeln!(s, "\n{head:<5} {}  {}", p.id, p.title);
            if let Some(r) = &p.reason {
                let _ = writeln!(s, "      {r}");
            }
            for o in &p.outcomes {
                let ttd = o
                    .ttd_ms
                    .map_or("-".to_owned(), |t| format!("{:.1}s", t as f64 / 1000.0));
                let _ = writeln!(
                    s,
                    "      {:<9} {:<52} ttd {:>7} (within {}s){}{}",
                    o.verdict.as_str(),
                    o.expect,
                    ttd,
                    o.within_ms / 1000,
                    o.incident.map(|i| format!("  #{i}")).unwrap_or_default(),
                    o.rule
                        .as_deref()
                        .map(|r| format!(" {r}"))
                        .unwrap_or_default()
                );
                if !o.verdict.passed() && !o.detail.is_empty() {
                    let _ = writeln!(s, "                {}", o.detail);
                }
            }
            for f in &p.false_positives {
                let _ = writeln!(
                    s,
                    "      false positive #{} {} ({}) {}",
                    f.id, f.rule, f.severity, f.group
                );
            }
        }
        let t = self.totals();
        let (books, expectations) = t.parts();
        let _ = writeln!(
            s,
            "\n{} playbooks: {books}; expectations: {expectations}; {} false positives",
            self.playbooks.len(),
            t.false_positives
        );
        s
    }

    /// The scorecard as Markdown (for the exercise record).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let t = self.totals();
        let _ = writeln!(s, "# Drill scorecard: {}\n", self.exercise);
        let _ = writeln!(
            s,
            "Collector {} · started {} · finished {}\n",
            self.collector, self.started, self.finished
        );
        let (books, expectations) = t.parts();
        let _ = writeln!(
            s,
            "**{} playbooks**: {books}. **Expectations**: {expectations}. **False positives**: {}.\n",
            self.playbooks.len(),
            t.false_positives
        );
        let _ = writeln!(
            s,
            "| playbook | ATT&CK | expectation | result | time to detect | deadline | incident |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for p in &self.playbooks {
            if p.outcomes.is_empty() {
                let _ = writeln!(
                    s,
                    "| {} | {} | – | {:?}: {} | – | – | – |",
                    p.id,
                    p.attack.join(" "),
                    p.status,
                    p.reason.as_deref().unwrap_or("").replace('|', "\\|")
                );
            }
            for o in &p.outcomes {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} s | {} |",
                    p.id,
                    p.attack.join(" "),
                    o.expect.replace('|', "\\|"),
                    o.verdict.as_str(),
                    o.ttd_ms
                        .map_or("–".to_owned(), |t| format!("{:.1} s", t as f64 / 1000.0)),
                    o.within_ms / 1000,
                    match (&o.incident, &o.rule) {
                        (Some(i), Some(r)) => format!("#{i} {r}"),
                        _ => "–".to_owned(),
                    }
                );
            }
        }
        let fps: Vec<(&str, &Seen)> = self
            .playbooks
            .iter()
            .flat_map(|p| p.false_positives.iter().map(move |f| (p.id.as_str(), f)))
            .collect();
        if !fps.is_empty() {
            let _ = writeln!(s, "\n## False positives\n");
            let _ = writeln!(s, "| playbook | incident | rule | severity | group |");
            let _ = writeln!(s, "|---|---|---|---|---|");
            for (p, f) in fps {
                let _ = writeln!(
                    s,
                    "| {p} | #{} | {} | {} | {} |",
                    f.id, f.rule, f.severity, f.group
                );
            }
        }
        s
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::time::Duration;

    pub(crate) fn incident(
        id: i64,
        rule: &str,
        attack: &[&str],
        group: &str,
        opened_ms: i64,
    ) -> Incident {
        let v = serde_json::json!({
            "id": id, "fingerprint": format!("{rule}/{group}"), "rule": rule,
            "title": {"en": "t", "zh": "t"}, "description": {"en": "d", "zh": "d"},
            "severity": "high", "attack": attack, "group": group, "state": "open",
            "count": 1, "detections": 1, "first_ts": 0, "last_ts": 0,
            "opened_ms": opened_ms, "updated_ms": opened_ms, "rev": 1,
            "agents": ["drill"], "evidence": [{"kind": "flow", "dst": "10.0.0.2"}]
        });
        serde_json::from_value(v).unwrap()
    }

    fn expect(attack: &str, src: Option<&str>, within_s: u64) -> Expect {
        Expect {
            attack: Some(attack.into()),
            rule: None,
            src: src.map(Into::into),
            dst: None,
            group: vec![],
            min_severity: None,
            max_incidents: None,
            within: Duration::from_secs(within_s),
            none: false,
        }
    }

    #[test]
    fn detected_late_missed_and_too_many() {
        let incs = vec![
            incident(
                1,
                "network.scan.tcp-ports",
                &["T1046"],
                "src=10.0.0.1 exercise=x",
                1_500,
            ),
            incident(
                2,
                "network.brute-force.ssh",
                &["T1110"],
                "src=10.0.0.9",
                9_000,
            ),
        ];
        let mut e = vec![
            expect("T1046", Some("10.0.0.1"), 2),
            expect("T1110", Some("10.0.0.9"), 5),
            expect("T1499", None, 5),
            expect("T1046", Some("10.0.0.7"), 5),
        ];
        let mut dst = expect("T1046", None, 5);
        dst.dst = Some("10.0.0.2".into());
        e.push(dst);
        let mut many = expect("T1046", None, 5);
        many.max_incidents = Some(0);
        e.push(many);
        let o = judge(&e, &incs, 1_000);
        let v: Vec<Verdict> = o.iter().map(|o| o.verdict).collect();
        assert_eq!(
            v,
            [
                Verdict::Detected,
                Verdict::Late,
                Verdict::Missed,
                Verdict::Missed,
                Verdict::Detected,
                Verdict::TooMany
            ]
        );
        assert_eq!(o[0].ttd_ms, Some(500));
        assert_eq!(o[1].ttd_ms, Some(8_000));
        assert!(
            o[3].detail.contains("not for these addresses"),
            "{}",
            o[3].detail
        );
        assert!(o[2].detail.contains("no incident"), "{}", o[2].detail);
    }

    #[test]
    fn benign_steps_and_false_positives() {
        let incs = vec![incident(3, "web.attack.xss", &["T1190"], "src=1.2.3.4", 10)];
        let mut quiet = expect("T1", None, 5);
        quiet.attack = None;
        quiet.none = true;
        let o = judge(std::slice::from_ref(&quiet), &incs, 0);
        assert_eq!(o[0].verdict, Verdict::Noisy);
        assert_eq!(judge(&[quiet], &[], 0)[0].verdict, Verdict::Quiet);
        let e = vec![expect("T1046", None, 5)];
        assert_eq!(false_positives(&e, &["T1046".into()], &incs).len(), 1);
        assert_eq!(false_positives(&e, &["T1190".into()], &incs).len(), 0);
    }

    #[test]
    fn a_report_fails_on_a_miss_and_says_which() {
        let r = Report {
            exercise: "drill-x".into(),
            collector: "http://127.0.0.1:1".into(),
            started: "s".into(),
            finished: "f".into(),
            playbooks: vec![PlaybookResult {
                id: "scan".into(),
                title: "Scan".into(),
                file: "scan.toml".into(),
                attack: vec!["T1046".into()],
                exercise: "drill-x.scan".into(),
                status: Status::Failed,
                reason: None,
                steps_ms: 10,
                outcomes: judge(&[expect("T1046", Some("10.0.0.1"), 5)], &[], 0),
                false_positives: vec![],
                incidents: vec![],
            }],
        };
        assert_eq!(r.exit_code(false), 1);
        assert!(
            r.text().contains("MISSED    T1046 src=10.0.0.1"),
            "{}",
            r.text()
        );
        assert!(
            r.markdown()
                .contains("| scan | T1046 | T1046 src=10.0.0.1 | MISSED |")
        );
        assert_eq!(r.totals().missed, 1);
    }
}
