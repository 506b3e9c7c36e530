//! Playbooks: TOML files describing an attack (steps), what the system must
//! raise for it (expectations) and how to undo it (cleanup). See
//! docs/playbooks.md for the format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// One playbook file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Playbook {
    /// Stable id (`scan-tcp-syn`), used in reports and coverage.
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub title_zh: Option<String>,
    #[serde(default)]
    pub description: String,
    /// ATT&CK techniques the playbook exercises.
    pub attack: Vec<String>,
    #[serde(default)]
    pub prerequisites: Prerequisites,
    /// Default values of `${name}` variables; `--var name=value` overrides.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
    #[serde(default, rename = "expect")]
    pub expect: Vec<Expect>,
    #[serde(default)]
    pub cleanup: Vec<Step>,
    /// Where it was read from.
    #[serde(skip)]
    pub path: PathBuf,
}

/// What must hold before the steps can run; unmet ones skip the playbook.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Prerequisites {
    /// Raw sockets, network namespaces or files only root may touch.
    #[serde(default)]
    pub root: bool,
    /// Programs that must be on PATH (`nmap`, `hping3`, `hydra`, `tcpreplay`).
    #[serde(default)]
    pub tools: Vec<String>,
}

/// One action.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Step {
    /// Synthetic events sent as the drill's own agent.
    Inject(Inject),
    /// Packets crafted and sent from an interface.
    Packets(Packets),
    /// A capture replayed through the agent pipeline or onto a wire.
    Pcap(Pcap),
    /// Tamper with, create or delete files under a web root.
    Files(Files),
    /// Serve a page (defaced, cloaked) for the site checker to find.
    Http(Http),
    /// Run an external tool with a timeout.
    Exec(Exec),
    /// Pause.
    Wait(Wait),
}

impl Step {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Inject(_) => "inject",
            Self::Packets(_) => "packets",
            Self::Pcap(_) => "pcap",
            Self::Files(_) => "files",
            Self::Http(_) => "http",
            Self::Exec(_) => "exec",
            Self::Wait(_) => "wait",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Inject {
    /// Events in the rule-test syntax (`kind`, `at`, `repeat`, `step`, and
    /// the event's own fields; `{i}` is the repetition number).
    pub events: Vec<toml::Table>,
    /// Capture time of the last event, before now (default: now).
    #[serde(default, with = "humantime_serde")]
    pub ago: Option<Duration>,
}

/// Packet patterns the drill can craft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    SynScan,
    UdpScan,
    NullScan,
    FinScan,
    XmasScan,
    SynFlood,
    IcmpSweep,
    IcmpTunnel,
    DnsTunnel,
    HttpAttack,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Packets {
    pub pattern: Pattern,
    /// Interface to send from.
    pub iface: String,
    /// Run the sender inside this network namespace (`ip netns exec`).
    #[serde(default)]
    pub netns: Option<String>,
    /// Target address (for `icmp-sweep`, a CIDR such as `10.9.0.0/28`).
    pub target: String,
    /// Source address (default: the interface's first IPv4 address).
    #[serde(default)]
    pub src: Option<String>,
    /// Target ports, `1-200` or `22,80,443` (scans; default 1-100).
    #[serde(default)]
    pub ports: Option<String>,
    /// Target port of floods, DNS (53) and HTTP (80).
    #[serde(default)]
    pub port: Option<u16>,
    /// Packets (floods, tunnels) or requests; bounded to 100 000.
    #[serde(default)]
    pub count: Option<u32>,
    /// Packets per second (default 1000; bounded to 50 000).
    #[serde(default)]
    pub rate: Option<u32>,
    /// Spoof sources from this network (`syn-flood`), e.g. `198.18.0.0/15`.
    #[serde(default)]
    pub spoof: Option<String>,
    /// Tunnel domain (`dns-tunnel`).
    #[serde(default)]
    pub domain: Option<String>,
    /// Request targets carrying attack payloads (`http-attack`).
    #[serde(default)]
    pub requests: Vec<String>,
    /// Destination MAC (default: the neighbour table, else broadcast).
    #[serde(default)]
    pub dst_mac: Option<String>,
    /// Hard stop for the whole step (default 60 s).
    #[serde(default, with = "humantime_serde")]
    pub max_duration: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PcapMode {
    /// Through `shouwang-agent pcap` into the collector (no privileges).
    #[default]
    Pipeline,
    /// Onto an interface with tcpreplay, for a live agent to capture.
    Wire,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Pcap {
    /// The capture; relative paths are from the playbook's directory.
    pub file: String,
    #[serde(default)]
    pub mode: PcapMode,
    /// `wire`: the interface tcpreplay writes to.
    #[serde(default)]
    pub iface: Option<String>,
    #[serde(default)]
    pub netns: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileAction {
    /// Append `content` to an existing file (or write it if `replace`).
    Tamper,
    /// Create a new file with `content`.
    Create,
    /// Delete the file.
    Delete,
    /// Put back what the first tamper/delete of this path in the run saved.
    Restore,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Files {
    /// The web root; must exist.
    pub root: String,
    /// Path under the root (no `..`).
    pub path: String,
    pub action: FileAction,
    #[serde(default)]
    pub content: String,
    /// `tamper`: replace the file instead of appending.
    #[serde(default)]
    pub replace: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Http {
    /// Address to serve on (`127.0.0.1:18080`); loopback or a namespace's.
    pub listen: String,
    /// Page served to every client.
    pub body: String,
    /// Page served to clients whose User-Agent contains `cloak-agent`
    /// (search-engine cloaking: `Baiduspider`).
    #[serde(default)]
    pub cloak_body: Option<String>,
    #[serde(default)]
    pub cloak_agent: Option<String>,
    /// How long to serve; the step returns at once and the server runs in
    /// the background until then (or the run ends).
    #[serde(with = "humantime_serde")]
    pub serve_for: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Exec {
    /// Program and arguments (no shell).
    pub command: Vec<String>,
    #[serde(default)]
    pub netns: Option<String>,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Exit codes that count as success (default `[0]`); a timeout is
    /// success when `timeout-ok` is set (floods run until stopped).
    #[serde(default)]
    pub ok_exit: Option<Vec<i32>>,
    #[serde(default)]
    pub timeout_ok: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Wait {
    #[serde(rename = "for", with = "humantime_serde")]
    pub duration: Duration,
}

/// What the system must (or must not) raise.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expect {
    /// ATT&CK technique prefix (`T1110` matches `T1110.001`).
    #[serde(default)]
    pub attack: Option<String>,
    /// Rule id, for detections without a technique (agent silent).
    #[serde(default)]
    pub rule: Option<String>,
    /// Attacking address (group key or evidence).
    #[serde(default)]
    pub src: Option<String>,
    /// Attacked address.
    #[serde(default)]
    pub dst: Option<String>,
    /// `key=value` pairs that must appear in the incident's group key.
    #[serde(default)]
    pub group: Vec<String>,
    /// Lowest acceptable severity.
    #[serde(default)]
    pub min_severity: Option<String>,
    /// At most this many incidents with the technique (one flood, one
    /// incident).
    #[serde(default)]
    pub max_incidents: Option<usize>,
    /// Deadline from the start of the steps.
    #[serde(with = "humantime_serde")]
    pub within: Duration,
    /// A benign expectation: nothing of medium or above by `within`.
    #[serde(default)]
    pub none: bool,
}

impl Expect {
    pub fn label(&self) -> String {
        if self.none {
            return "no incident (benign)".to_owned();
        }
        let mut s = self
            .attack
            .clone()
            .or_else(|| self.rule.clone())
            .unwrap_or_default();
        if let (Some(_), Some(r)) = (&self.attack, &self.rule) {
            s.push_str(&format!(" rule={r}"));
        }
        if let Some(a) = &self.src {
            s.push_str(&format!(" src={a}"));
        }
        if let Some(a) = &self.dst {
            s.push_str(&format!(" dst={a}"));
        }
        for g in &self.group {
            s.push_str(&format!(" {g}"));
        }
        s
    }
}

/// Replaces `${name}` with its value; names may hold `A-Z a-z 0-9 _ -`.
/// Returns the text and the names that had no value.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').filter(|&e| {
            after[..e]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
        match end {
            Some(e) => {
                let name = &after[..e];
                match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        if !missing.iter().any(|m| m == name) {
                            missing.push(name.to_owned());
                        }
                        out.push_str(&rest[start..start + 3 + e]);
                    }
                }
                rest = &after[e + 1..];
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, missing)
}

/// A variable value must not break the TOML it is pasted into.
pub fn check_var(name: &str, value: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!("variable name {name:?}: use A-Z a-z 0-9 _ -");
    }
    if value.contains(['"', '\\', '\n', '\r']) {
        bail!("variable {name}: the value may not contain quotes, backslashes or newlines");
    }
    Ok(())
}

/// The playbook's `[vars]` table only, read before substitution.
#[derive(Deserialize)]
struct VarsOnly {
    #[serde(default)]
    vars: BTreeMap<String, String>,
}

/// A playbook read from `path` with `${name}` filled in from (lowest
/// first) its `[vars]`, `builtin`, and `overrides`. `Ok(Err(names))` when
/// variables have no value: the caller reports the prerequisite.
pub fn load(
    path: &Path,
    builtin: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
) -> anyhow::Result<Result<Playbook, Vec<String>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read playbook {}", path.display()))?;
    let origin = path.display().to_string();
    // [vars] may not use variables themselves; read them from the raw text.
    let defaults = toml::from_str::<VarsOnly>(&text)
        .map(|v| v.vars)
        .unwrap_or_default();
    let mut vars = defaults;
    vars.extend(builtin.iter().map(|(k, v)| (k.clone(), v.clone())));
    vars.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (k, v) in &vars {
        check_var(k, v).with_context(|| origin.clone())?;
    }
    let (filled, missing) = substitute(&text, &vars);
    let mut pb: Playbook =
        shouwang_proto::config::parse_toml(&origin, &filled).map_err(anyhow::Error::new)?;
    pb.path = path.to_owned();
    validate(&pb).with_context(|| origin.clone())?;
    if !missing.is_empty() {
        return Ok(Err(missing));
    }
    Ok(Ok(pb))
}

fn validate(pb: &Playbook) -> anyhow::Result<()> {
    if !shouwang_proto::valid_agent_name(&pb.id) {
        bail!("id {:?}: use 1-64 of A-Z a-z 0-9 . _ -", pb.id);
    }
    if pb.steps.is_empty() {
        bail!("a playbook needs at least one [[step]]");
    }
    if pb.expect.is_empty() {
        bail!("a playbook needs at least one [[expect]] (use `none = true` for benign steps)");
    }
    for t in &pb.attack {
        check_technique(t)?;
    }
    for (i, e) in pb.expect.iter().enumerate() {
        let n = i + 1;
        match (e.none, &e.attack, &e.rule) {
            (true, None, None) => {}
            (true, _, _) => bail!("expect {n}: `none = true` takes no attack or rule"),
            (false, None, None) => bail!("expect {n}: needs `attack` (a technique) or `rule`"),
            _ => {}
        }
        if let Some(t) = &e.attack {
            check_technique(t).with_context(|| format!("expect {n}"))?;
        }
        if let Some(s) = &e.min_severity
            && shouwang_proto::Severity::parse(s).is_none()
        {
            bail!("expect {n}: min-severity is info, low, medium, high or critical");
        }
        for g in &e.group {
            if !g.contains('=') {
                bail!("expect {n}: group entries are key=value, not {g:?}");
            }
        }
        if e.within.is_zero() || e.within > Duration::from_secs(3600) {
            bail!("expect {n}: within must be between 1s and 1h");
        }
    }
    for s in pb.steps.iter().chain(&pb.cleanup) {
        if let Step::Exec(x) = s {
            if x.command.is_empty() {
                bail!("exec step: command is empty");
            }
            if x.timeout.is_zero() || x.timeout > Duration::from_secs(1800) {
                bail!(
                    "exec step {:?}: timeout must be between 1s and 30m",
                    x.command
                );
            }
        }
        if let Step::Files(f) = s
            && (f.path.starts_with('/') || f.path.split('/').any(|c| c == ".."))
        {
            bail!("files step: path {:?} must stay under the root", f.path);
        }
    }
    Ok(())
}

fn check_technique(t: &str) -> anyhow::Result<()> {
    let ok = t.len() >= 5
        && t.starts_with('T')
        && t[1..]
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !ok {
        bail!("{t:?} is not an ATT&CK technique id (T1046, T1110.001)");
    }
    Ok(())
}

/// Playbook files named on the command line: files, or directories (every
/// `*.toml` in them, sorted).
pub fn expand_paths(args: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(a)
                .with_context(|| format!("cannot list {}", a.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            v.sort();
            out.extend(v);
        } else if a.is_file() {
            out.push(a.clone());
        } else {
            bail!("{}: no such playbook file or directory", a.display());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn variables_fill_in_and_missing_ones_are_named() {
        let vars = BTreeMap::from([("target".to_owned(), "10.9.0.2".to_owned())]);
        let (s, missing) = substitute("a=${target} b=${iface} c=${target} d=$5 e=${ x}", &vars);
        assert_eq!(s, "a=10.9.0.2 b=${iface} c=10.9.0.2 d=$5 e=${ x}");
        assert_eq!(missing, vec!["iface"]);
        assert!(check_var("target", "10.0.0.1").is_ok());
        assert!(check_var("target", "x\" evil = \"y").is_err());
        assert!(check_var("bad name", "x").is_err());
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("p.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    const GOOD: &str = r#"
id = "t"
title = "t"
attack = ["T1046"]
[vars]
src = "198.51.100.7"
[[step]]
kind = "inject"
events = [{ kind = "flow", src = "${src}", dst_port = "{i+1}", repeat = 30 }]
[[expect]]
attack = "T1046"
src = "${src}"
within = "20s"
"#;

    #[test]
    fn a_playbook_loads_with_its_defaults_and_overrides() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), GOOD);
        let pb = load(&p, &BTreeMap::new(), &BTreeMap::new())
            .unwrap()
            .unwrap();
        assert_eq!(pb.expect[0].src.as_deref(), Some("198.51.100.7"));
        let o = BTreeMap::from([("src".to_owned(), "203.0.113.5".to_owned())]);
        let pb = load(&p, &BTreeMap::new(), &o).unwrap().unwrap();
        assert_eq!(pb.expect[0].src.as_deref(), Some("203.0.113.5"));
        assert_eq!(pb.steps[0].kind(), "inject");
    }

    #[test]
    fn broken_playbooks_get_clear_errors() {
        let d = tempfile::tempdir().unwrap();
        for (text, wanted) in [
            (
                GOOD.replace("within = \"20s\"", "witin = \"20s\""),
                "p.toml:13",
            ),
            (
                GOOD.replace("\"T1046\"]", "\"1046\"]"),
                "not an ATT&CK technique",
            ),
            (
                GOOD.replace("kind = \"inject\"", "kind = \"teleport\""),
                "teleport",
            ),
            (GOOD.replace("attack = \"T1046\"\n", ""), "needs `attack`"),
            (
                GOOD.replace("within = \"20s\"", "within = \"0s\""),
                "between 1s and 1h",
            ),
            ("id = \"t\"\ntitle = [".to_owned(), "p.toml:2"),
        ] {
            let p = write(d.path(), &text);
            let e = format!(
                "{:#}",
                load(&p, &BTreeMap::new(), &BTreeMap::new()).unwrap_err()
            );
            assert!(e.contains(wanted), "{wanted:?} not in {e}");
        }
        let p = write(
            d.path(),
            &GOOD.replace("${src}\"\nwithin", "${victim}\"\nwithin"),
        );
        let missing = load(&p, &BTreeMap::new(), &BTreeMap::new())
            .unwrap()
            .unwrap_err();
        assert_eq!(missing, vec!["victim"]);
    }
}
