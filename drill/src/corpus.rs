//! `shouwang-drill corpus DIR`: every capture (`pcap = …`) or log file
//! (`log = …`, `format = "auth"|"journal"`) of DIR/expect.toml through the
//! agent pipeline (`shouwang-agent pcap|log --collector`) into a
//! collector, scored per case the same way.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;
use shouwang_proto::{Incident, Severity};

use crate::api::{Api, Target};
use crate::playbook::Expect;
use crate::private::Private;
use crate::score::{self, PlaybookResult, Seen, Status, Verdict};

/// DIR/expect.toml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectFile {
    #[serde(rename = "case")]
    pub cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// A capture file (pcap or pcapng), relative to the corpus directory.
    #[serde(default)]
    pub pcap: Option<String>,
    /// A log file instead of a capture, read by `shouwang-agent log`.
    #[serde(default)]
    pub log: Option<String>,
    /// The log's format (`auth`, `journal`; see `shouwang-agent log`).
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub what: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub benign: bool,
    #[serde(default)]
    pub expect: Vec<CaseExpect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseExpect {
    pub attack: String,
    pub src: Option<String>,
    pub dst: Option<String>,
    pub max_incidents: Option<usize>,
}

/// What a case replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    Pcap(&'a str),
    Log { path: &'a str, format: &'a str },
}

impl Case {
    /// The file the case replays (its name in reports).
    pub fn file(&self) -> &str {
        self.pcap.as_deref().or(self.log.as_deref()).unwrap_or("")
    }

    /// The capture or log; `None` unless exactly one is given.
    pub fn input(&self) -> Option<Input<'_>> {
        match (&self.pcap, &self.log) {
            (Some(p), None) if self.format.is_none() => Some(Input::Pcap(p)),
            (None, Some(l)) => Some(Input::Log {
                path: l,
                format: self.format.as_deref().unwrap_or("auth"),
            }),
            _ => None,
        }
    }
}

pub fn read(dir: &Path) -> anyhow::Result<ExpectFile> {
    let path = dir.join("expect.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let f: ExpectFile = shouwang_proto::config::parse_toml(&path.display().to_string(), &text)
        .map_err(anyhow::Error::new)?;
    for (n, c) in f.cases.iter().enumerate() {
        let Some(input) = c.input() else {
            bail!(
                "{}: case {} ({:?}): give exactly one of pcap = \"FILE\" or log = \"FILE\" (with format = \"auth\" or \"journal\"); format goes with log only",
                path.display(),
                n + 1,
                c.file()
            );
        };
        if let Input::Log { format, .. } = input
            && !["auth", "syslog", "journal", "journal-json"].contains(&format)
        {
            bail!(
                "{}: case {}: unknown log format {format:?}: use auth or journal",
                path.display(),
                c.file()
            );
        }
        if !c.benign && c.expect.is_empty() {
            bail!(
                "{}: case {}: neither benign nor any [[case.expect]]",
                path.display(),
                c.file()
            );
        }
        let file = c.file();
        if file.starts_with('/') || file.split('/').any(|p| p == "..") {
            bail!(
                "{}: case {}: the file must be inside {}",
                path.display(),
                file,
                dir.display()
            );
        }
    }
    Ok(f)
}

/// How the corpus reaches a collector.
pub enum Sink {
    /// A fresh private collector per case (nothing carries over).
    Private {
        collector_bin: PathBuf,
        rules: PathBuf,
    },
    /// An existing collector; each case is its own exercise.
    External(Target),
}

pub struct CorpusOptions {
    pub agent_bin: PathBuf,
    pub agent: String,
    pub exercise: String,
    /// Longest wait for a replay's incidents to settle.
    pub settle: Duration,
    pub replay_timeout: Duration,
}

fn expects(c: &Case) -> Vec<Expect> {
    let mut v: Vec<Expect> = c
        .expect
        .iter()
        .map(|e| Expect {
            attack: Some(e.attack.clone()),
            rule: None,
            src: e.src.clone(),
            dst: e.dst.clone(),
            group: Vec::new(),
            min_severity: None,
            max_incidents: e.max_incidents,
            // Old captures: the deadline is the replay (scored after it).
            within: Duration::from_secs(3600),
            none: false,
        })
        .collect();
    if c.benign {
        v.push(Expect {
            attack: None,
            rule: None,
            src: None,
            dst: None,
            group: Vec::new(),
            min_severity: None,
            max_incidents: None,
            within: Duration::from_secs(3600),
            none: true,
        });
    }
    v
}

async fn replay(
    api: &Api,
    opts: &CorpusOptions,
    file: &Path,
    format: Option<&str>,
    exercise: &str,
    state: &Path,
) -> anyhow::Result<()> {
    let token = api
        .target
        .agent_token
        .clone()
        .context("the corpus is sent as the drill's agent: give --agent-token")?;
    let mut cmd = tokio::process::Command::new(&opts.agent_bin);
    match format {
        None => cmd.arg("pcap"),
        Some(f) => cmd.args(["log", "--format", f]),
    };
    cmd.args(["--collector", &api.target.url, "--token", &token])
        .args(["--exercise", exercise])
        .arg("--state-dir")
        .arg(state)
        .arg(file)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(opts.replay_timeout, cmd.output())
        .await
        .with_context(|| {
            format!(
                "replay of {} took over {:?}",
                file.display(),
                opts.replay_timeout
            )
        })?
        .with_context(|| format!("cannot run {}", opts.agent_bin.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} {}: {}",
            opts.agent_bin.display(),
            if format.is_some() { "log" } else { "pcap" },
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Incidents of `exercise` once their number stops changing (1 s apart).
async fn settled(api: &Api, exercise: &str, settle: Duration) -> anyhow::Result<Vec<Incident>> {
    let until = Instant::now() + settle;
    let mut last = api.exercise_incidents(exercise).await?;
    loop {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let now = api.exercise_incidents(exercise).await?;
        let same = now.len() == last.len()
            && now
                .iter()
                .zip(&last)
                .all(|(a, b)| a.id == b.id && a.count == b.count);
        last = now;
        if same || Instant::now() >= until {
            return Ok(last);
        }
    }
}

/// Runs every case; one result per case.
pub async fn run(
    dir: &Path,
    sink: &Sink,
    opts: &CorpusOptions,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<PlaybookResult>> {
    let file = read(dir)?;
    let state = tempfile::Builder::new()
        .prefix("shouwang-drill-corpus-")
        .tempdir()
        .context("temporary state directory")?;
    let mut results = Vec::new();
    for (n, case) in file.cases.iter().enumerate() {
        let exercise = crate::run::playbook_exercise(&opts.exercise, &format!("c{}", n + 1));
        let (file, format) = match case.input() {
            Some(Input::Log { path, format }) => (dir.join(path), Some(format)),
            _ => (dir.join(case.file()), None),
        };
        let started = Instant::now();
        let mut private = None;
        let api = match sink {
            Sink::Private {
                collector_bin,
                rules,
            } => {
                let p = Private::start(collector_bin, rules, &opts.agent)?;
                let target = Target {
                    url: p.url.clone(),
                    agent_token: Some(p.agent_token.clone()),
                    api_token: p.api_token.clone(),
                    ca: None,
                };
                private = Some(p);
                Api::new(target, opts.agent.clone())?
            }
            Sink::External(t) => Api::new(t.clone(), opts.agent.clone())?,
        };
        let start_ms = api.now_ms().await?;
        let expect = expects(case);
        let claimed: Vec<String> = case.expect.iter().map(|e| e.attack.clone()).collect();
        let mut result = PlaybookResult {
            id: case.file().to_owned(),
            title: case.what.clone(),
            file: file.display().to_string(),
            attack: claimed,
            exercise: exercise.clone(),
            status: Status::Error,
            reason: None,
            steps_ms: 0,
            outcomes: Vec::new(),
            false_positives: Vec::new(),
            incidents: Vec::new(),
        };
        let case_state = state.path().join(format!("c{}", n + 1));
        match replay(&api, opts, &file, format, &exercise, &case_state).await {
            Err(e) => result.reason = Some(format!("{e:#}")),
            Ok(()) => {
                result.steps_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(0);
                let incidents = settled(&api, &exercise, opts.settle).await?;
                result.outcomes = score::judge(&expect, &incidents, start_ms);
                // Old captures have no deadline: a late detection is a detection.
                for o in &mut result.outcomes {
                    if o.verdict == Verdict::Late {
                        o.verdict = Verdict::Detected;
                    }
                }
                // expect.toml says what an attack capture must raise, not
                // all it may: extra detections there are listed (`extra`),
                // false positives are what a benign capture raises.
                if case.benign {
                    result.false_positives = incidents
                        .iter()
                        .filter(|i| i.severity >= Severity::Medium)
                        .map(Seen::from)
                        .collect();
                }
                result.incidents = incidents.iter().map(Seen::from).collect();
                result.status = if result.outcomes.iter().all(|o| o.verdict.passed()) {
                    Status::Passed
                } else {
                    Status::Failed
                };
            }
        }
        drop(private);
        progress(&case_line(&result));
        results.push(result);
    }
    Ok(results)
}

/// What a case raised, by ATT&CK technique (`T1046×2 T1110×1`), or
/// `none` when it raised no incident; `incidents` holds each incident's
/// techniques.
pub fn by_technique<'a, I, T>(incidents: I) -> String
where
    I: IntoIterator<Item = T>,
    T: IntoIterator<Item = &'a str>,
{
    let mut count = 0usize;
    let mut by_tech = std::collections::BTreeMap::<&str, usize>::new();
    for techniques in incidents {
        count += 1;
        for t in techniques {
            *by_tech.entry(t).or_default() += 1;
        }
    }
    if count == 0 {
        return "none".to_owned();
    }
    by_tech
        .iter()
        .map(|(t, n)| format!("{t}×{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One case as a table row.
pub fn case_line(r: &PlaybookResult) -> String {
    let raised = by_technique(
        r.incidents
            .iter()
            .map(|i| i.attack.iter().map(String::as_str)),
    );
    let expected = r
        .outcomes
        .iter()
        .map(|o| o.expect.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let verdict = match r.status {
        Status::Passed => "ok".to_owned(),
        Status::Error => format!("ERROR {}", r.reason.as_deref().unwrap_or("")),
        _ => r
            .outcomes
            .iter()
            .filter(|o| !o.verdict.passed())
            .map(|o| format!("{} {} ({})", o.verdict.as_str(), o.expect, o.detail))
            .collect::<Vec<_>>()
            .join("; "),
    };
    format!(
        "{:<52} {:<44} {:<30} {:>6.1}s  {verdict}",
        r.id,
        expected,
        raised,
        r.steps_ms as f64 / 1000.0
    )
}

/// Incidents on attack captures that no expectation names (other
/// techniques the capture also shows).
pub fn extra(results: &[PlaybookResult]) -> usize {
    results
        .iter()
        // Attack cases name the techniques they must raise; benign ones none.
        .filter(|r| !r.attack.is_empty())
        .map(|r| {
            r.incidents
                .iter()
                .filter(|i| {
                    !i.attack
                        .iter()
                        .any(|t| r.attack.iter().any(|a| t.starts_with(a.as_str())))
                })
                .count()
        })
        .sum()
}

/// Recall over the expectations of attack cases, and false positives
/// (medium or above on benign captures).
pub fn summary(results: &[PlaybookResult]) -> (usize, usize, usize) {
    let attack: Vec<_> = results
        .iter()
        .flat_map(|r| r.outcomes.iter())
        .filter(|o| o.attack.is_some())
        .collect();
    let hit = attack
        .iter()
        .filter(|o| o.verdict == Verdict::Detected)
        .count();
    let fps = results.iter().map(|r| r.false_positives.len()).sum();
    (hit, attack.len(), fps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases(text: &str) -> anyhow::Result<ExpectFile> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("expect.toml"), text)?;
        read(dir.path())
    }

    #[test]
    fn a_case_gives_exactly_one_of_pcap_and_log() {
        let f = cases(
            "[[case]]\npcap = \"a.pcap\"\nbenign = true\n\n[[case]]\nlog = \"logs/auth.log\"\nformat = \"auth\"\n[[case.expect]]\nattack = \"T1110\"\n\n[[case]]\nlog = \"j.jsonl\"\nformat = \"journal\"\nbenign = true\n",
        )
        .unwrap();
        assert_eq!(f.cases[0].input(), Some(Input::Pcap("a.pcap")));
        assert_eq!(
            f.cases[1].input(),
            Some(Input::Log {
                path: "logs/auth.log",
                format: "auth"
            })
        );
        assert_eq!(f.cases[2].file(), "j.jsonl");
        for bad in [
            "[[case]]\npcap = \"a.pcap\"\nlog = \"b.log\"\nbenign = true\n",
            "[[case]]\nbenign = true\n",
            "[[case]]\npcap = \"a.pcap\"\nformat = \"auth\"\nbenign = true\n",
        ] {
            let e = cases(bad).unwrap_err().to_string();
            assert!(e.contains("exactly one of pcap"), "{e}");
        }
        let e = cases("[[case]]\nlog = \"b.log\"\nformat = \"nginx\"\nbenign = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown log format \"nginx\""), "{e}");
        let e = cases("[[case]]\nlog = \"../b.log\"\nbenign = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be inside"), "{e}");
    }

    #[test]
    fn techniques_are_counted_per_incident_and_none_means_no_incident() {
        assert_eq!(by_technique(Vec::<Vec<&str>>::new()), "none");
        assert_eq!(
            by_technique(vec![vec!["T1110"], vec!["T1046", "T1110"], vec![]]),
            "T1046×1 T1110×2"
        );
        // Incidents without techniques: raised, but nothing to count.
        assert_eq!(by_technique(vec![Vec::<&str>::new()]), "");
    }
}
