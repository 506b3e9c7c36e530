//! Rule files as written: the TOML shape, with spans kept on everything a
//! later check may need to point at. `docs/rules.md` is the user's version
//! of this file.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A text in both languages the console shows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub en: String,
    pub zh: String,
}

/// A rule's `[title]`: its name (`en`, `zh`: what rule lists show and
/// incidents are grouped by) and the incident title template
/// (`incident.en`, `incident.zh`) that names the entities (see
/// [`crate::title`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TitleSpec {
    pub en: String,
    pub zh: String,
    pub incident: Option<TemplateSpec>,
}

/// The incident title template in both languages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    pub en: Spanned<String>,
    pub zh: Spanned<String>,
}

pub use shouwang_proto::Severity;

/// What makes a rule fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// Every matching event.
    Match,
    /// `count` matching events per group within `window`.
    Threshold,
    /// `count` distinct values of `distinct` per group within `window`.
    Distinct,
    /// `steps` in order per group within `window`.
    Sequence,
    /// No matching event from a known group for `window`.
    Absence,
    /// `where` true on every event of a group for `duration`.
    Sustained,
    /// `count` events per group at near-constant intervals.
    Periodic,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Match => "match",
            Self::Threshold => "threshold",
            Self::Distinct => "distinct",
            Self::Sequence => "sequence",
            Self::Absence => "absence",
            Self::Sustained => "sustained",
            Self::Periodic => "periodic",
        }
    }
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// A numeric comparison used by `length` and `entropy`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CmpSpec {
    pub gt: Option<f64>,
    pub ge: Option<f64>,
    pub lt: Option<f64>,
    pub le: Option<f64>,
}

/// One condition: a combinator (`all`, `any`, `not`) or a field test.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CondSpec {
    pub all: Option<Vec<Spanned<CondSpec>>>,
    pub any: Option<Vec<Spanned<CondSpec>>>,
    pub not: Option<Box<Spanned<CondSpec>>>,
    pub field: Option<Spanned<String>>,
    pub eq: Option<Spanned<toml::Value>>,
    pub ne: Option<Spanned<toml::Value>>,
    #[serde(rename = "in")]
    pub in_: Option<Spanned<Vec<toml::Value>>>,
    pub cidr: Option<Spanned<OneOrMany>>,
    pub contains: Option<Spanned<OneOrMany>>,
    pub starts_with: Option<Spanned<OneOrMany>>,
    pub ends_with: Option<Spanned<OneOrMany>>,
    pub regex: Option<Spanned<String>>,
    pub gt: Option<Spanned<f64>>,
    pub ge: Option<Spanned<f64>>,
    pub lt: Option<Spanned<f64>>,
    pub le: Option<Spanned<f64>>,
    pub length: Option<Spanned<CmpSpec>>,
    pub entropy: Option<Spanned<CmpSpec>>,
    /// Membership in a named list from `rules/lists/`.
    pub in_list: Option<Spanned<String>>,
    /// String tests ignore ASCII case.
    #[serde(default)]
    pub nocase: bool,
}

/// One event kind a rule listens to, with its condition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OnSpec {
    pub event: Spanned<String>,
    #[serde(rename = "where")]
    pub where_: Option<Spanned<CondSpec>>,
    /// Sequence steps only: how many matching events this step needs.
    pub count: Option<Spanned<u64>>,
    /// Group fields for this clause, when they differ from the rule's.
    pub group_by: Option<Vec<Spanned<String>>>,
}

/// One rule (one file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuleSpec {
    pub id: Spanned<String>,
    pub title: TitleSpec,
    pub description: Text,
    pub severity: Spanned<Severity>,
    /// MITRE ATT&CK technique ids (`T1046`, `T1110.001`); operational
    /// rules (disk full, agent offline) may have none.
    #[serde(default)]
    pub attack: Vec<Spanned<String>>,
    pub kind: Spanned<RuleKind>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Shorthand for one `[[on]]` clause.
    pub event: Option<Spanned<String>>,
    #[serde(rename = "where")]
    pub where_: Option<Spanned<CondSpec>>,
    #[serde(default)]
    pub on: Vec<OnSpec>,
    /// Sequence rules: the steps, in order.
    #[serde(default)]
    pub steps: Vec<OnSpec>,
    /// Events matching any of these never count (known scanners, backups).
    #[serde(default)]
    pub except: Vec<Spanned<CondSpec>>,
    /// Absence rules: an event matching this ends the watch on its group
    /// without an alarm (an agent's goodbye on a graceful shutdown). The
    /// group is watched again from its next matching event.
    pub end_when: Option<Spanned<CondSpec>>,
    #[serde(default)]
    pub group_by: Vec<Spanned<String>>,
    pub count: Option<Spanned<u64>>,
    /// Distinct rules: the field whose distinct values are counted.
    pub distinct: Option<Spanned<String>>,
    pub window: Option<Spanned<String>>,
    /// Sustained rules: how long the condition must hold.
    pub duration: Option<Spanned<String>>,
    /// Periodic rules: how far a check-in may be off its beat, as a share of
    /// the period (0.2: up to 20 % early or late).
    pub jitter: Option<Spanned<f64>>,
    /// Periodic rules: periods shorter than this are not beaconing
    /// (default 500ms).
    pub min_interval: Option<Spanned<String>>,
    /// Most groups kept in memory (oldest evicted, counted).
    pub max_groups: Option<Spanned<u64>>,
    /// Count to use while a protection period (重保) is active, by period name.
    #[serde(default)]
    pub profile_count: BTreeMap<String, Spanned<u64>>,
    /// Absence and sustained rules resolve their incident when the condition
    /// clears (default true).
    #[serde(default = "yes")]
    pub auto_resolve: bool,
    #[serde(default)]
    pub test: Vec<Spanned<TestSpec>>,
}

fn yes() -> bool {
    true
}

/// A rule's own test case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TestSpec {
    pub name: String,
    /// Events (and clock ticks) fed in order.
    #[serde(default)]
    pub events: Vec<Spanned<toml::Table>>,
    /// Whether the rule must fire (at least once) or stay quiet.
    pub fires: bool,
    /// Exact number of detections, when it matters.
    pub detections: Option<u64>,
    /// The group key the first detection must have (`src=10.0.0.1`).
    pub group: Option<String>,
    /// Whether a clear (auto-resolve) must follow.
    pub clears: Option<bool>,
    /// The English incident title after the test's events (the first
    /// detection's group, with every detection of that group counted, as
    /// the incident book counts them).
    pub title: Option<String>,
    /// The same in Chinese.
    pub title_zh: Option<String>,
}

/// A protection period (重保) from `rules/profiles.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProfileSpec {
    pub name: Spanned<String>,
    pub title: Option<String>,
    /// RFC 3339 start and end (event time).
    pub start: Spanned<String>,
    pub end: Spanned<String>,
    /// Counts of threshold, distinct and periodic rules are multiplied by
    /// this while the period is active (unless a rule sets `profile-count`).
    #[serde(default = "half")]
    pub threshold_factor: f64,
}

fn half() -> f64 {
    0.5
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProfilesFile {
    #[serde(default)]
    pub profile: Vec<ProfileSpec>,
}
