//! Rule files → a checked, compiled [`Ruleset`]. Every problem in every file
//! is reported (not just the first), each with file:line:col and a hint.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use shouwang_proto::EventKind;
use toml::Spanned;

use crate::cond::{Cond, CondCompiler};
use crate::diagnostic::Diagnostic;
use crate::fields::FieldDef;
use crate::lists::{Lists, NamedList};
use crate::spec::{OnSpec, ProfilesFile, RuleKind, RuleSpec, Severity, TestSpec, Text};
use crate::title::{self, Slot, Template};

/// Groups kept per rule unless the rule says otherwise.
pub const DEFAULT_MAX_GROUPS: u64 = 50_000;
/// Periodic rules: how far (a share of the period) a check-in may be off
/// its beat unless the rule says otherwise.
pub const DEFAULT_JITTER: f64 = 0.2;
/// Periodic rules: default shortest period that counts as beaconing. Below
/// half a second, regular connections are streaming, polling loops or
/// retries, not check-ins.
pub const DEFAULT_MIN_INTERVAL_NS: i64 = 500_000_000;
/// Periodic rules: check-in times kept per group, as a multiple of `count`
/// (room for outliers and missed beats), and its bounds. A 1 s beacon in a
/// 12 h window would otherwise mean 43 200 timestamps per group.
pub const PERIODIC_HISTORY_PER_COUNT: u64 = 4;
pub const PERIODIC_HISTORY_MIN: u64 = 16;
pub const PERIODIC_HISTORY_MAX: u64 = 256;

/// What an incident needs to know about the rule that raised it.
#[derive(Debug, Clone)]
pub struct RuleMeta {
    pub id: String,
    /// The rule's name (rule lists, grouping).
    pub title: Text,
    /// The incident title template, when the rule has one.
    pub template: Option<Template>,
    pub description: Text,
    pub severity: Severity,
    pub attack: Vec<String>,
    pub kind: RuleKind,
    pub file: String,
    /// The incident family this rule reports into, if any.
    pub family: Option<Family>,
}

/// Several rules, one incident: see [`crate::spec::FamilySpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub id: String,
    /// Group-by names whose values key the family's incident.
    pub by: Vec<String>,
}

impl RuleMeta {
    /// What incidents are matched on: the rule and its group, or, for a
    /// rule in a family, the family and the `by` part of the group
    /// (`name=value` pairs, space-separated, as the engine writes them).
    pub fn fingerprint(&self, group: &str) -> String {
        match &self.family {
            None => format!("{}/{}", self.id, group),
            Some(f) => {
                let mut key = String::new();
                for pair in group.split(' ') {
                    let name = pair.split('=').next().unwrap_or_default();
                    if f.by.iter().any(|b| b == name) || name == "exercise" {
                        if !key.is_empty() {
                            key.push(' ');
                        }
                        key.push_str(pair);
                    }
                }
                format!("family:{}/{}", f.id, key)
            }
        }
    }
}

/// One `[[on]]` clause (or sequence step), compiled for its event kind.
#[derive(Debug)]
pub struct Clause {
    pub kind: EventKind,
    pub cond: Cond,
    pub except: Vec<Cond>,
    pub group: Vec<&'static FieldDef>,
    pub distinct: Option<&'static FieldDef>,
    /// Sequence steps: events needed before the next step.
    pub count: u64,
    /// Absence rules: an event matching this ends its group's watch.
    pub end: Option<Cond>,
}

/// What the engine keeps per group for one title placeholder: the field
/// accessor per clause (`None` where the clause's kind lacks the field).
#[derive(Debug)]
pub enum SlotPlan {
    Count,
    Span,
    Group(usize),
    Target,
    Last(Vec<Option<&'static FieldDef>>),
    Distinct(Vec<Option<&'static FieldDef>>),
    Top(Vec<Option<&'static FieldDef>>),
    Sum(Vec<Option<&'static FieldDef>>),
    Max(Vec<Option<&'static FieldDef>>),
}

/// A protection period (重保).
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub title: Option<String>,
    pub start_ns: i64,
    pub end_ns: i64,
    pub factor: f64,
}

#[derive(Debug)]
pub struct CompiledRule {
    pub meta: Arc<RuleMeta>,
    pub clauses: Vec<Clause>,
    pub group_names: Vec<String>,
    pub count: u64,
    pub window_ns: i64,
    pub duration_ns: i64,
    pub jitter: f64,
    pub min_interval_ns: i64,
    /// Periodic rules: most check-in times kept per group.
    pub periodic_history: usize,
    pub max_groups: usize,
    pub auto_resolve: bool,
    /// Disabled rules are checked and tested but not run.
    pub enabled: bool,
    pub profile_count: BTreeMap<String, u64>,
    pub profiles: Arc<Vec<Profile>>,
    /// Hash of the file text: unchanged rules keep their state on reload.
    pub source_hash: u64,
    pub tests: Vec<Spanned<TestSpec>>,
    pub source: Arc<str>,
    /// Per-group facts the title template needs, aligned with its slots.
    pub facts: Vec<SlotPlan>,
}

impl CompiledRule {
    /// The count in force at event time `ts` (tightened in protection periods).
    pub fn effective_count(&self, ts: i64) -> u64 {
        let mut n = self.count;
        for p in self.profiles.iter() {
            if ts >= p.start_ns && ts < p.end_ns {
                let c = self.profile_count.get(&p.name).copied().unwrap_or_else(|| {
                    #[allow(
                        clippy::cast_precision_loss,
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss
                    )]
                    let c = (self.count as f64 * p.factor).ceil() as u64;
                    c
                });
                n = n.min(c.max(1));
            }
        }
        n
    }
}

/// All rules, indexed by the event kinds they listen to.
#[derive(Debug, Default)]
pub struct Ruleset {
    pub rules: Vec<CompiledRule>,
    by_kind: Vec<Vec<(usize, usize)>>,
    pub lists: Lists,
    pub profiles: Arc<Vec<Profile>>,
    pub dir: PathBuf,
}

fn kind_index(k: EventKind) -> usize {
    EventKind::ALL.iter().position(|x| *x == k).unwrap_or(0)
}

impl Ruleset {
    /// A set of already compiled rules (tests, tools).
    pub fn from_rules(rules: Vec<CompiledRule>) -> Self {
        let mut s = Self {
            rules,
            ..Self::default()
        };
        s.index();
        s
    }

    /// (rule, clause) pairs listening to `kind`.
    pub fn by_kind(&self, kind: EventKind) -> &[(usize, usize)] {
        self.by_kind
            .get(kind_index(kind))
            .map_or(&[], Vec::as_slice)
    }

    pub fn get(&self, id: &str) -> Option<&CompiledRule> {
        self.rules.iter().find(|r| r.meta.id == id)
    }

    /// Rebuilds the kind index (after building a set by hand).
    pub fn index(&mut self) {
        self.by_kind = vec![Vec::new(); EventKind::ALL.len()];
        for (ri, r) in self.rules.iter().enumerate().filter(|(_, r)| r.enabled) {
            for (ci, c) in r.clauses.iter().enumerate() {
                if let Some(v) = self.by_kind.get_mut(kind_index(c.kind)) {
                    v.push((ri, ci));
                }
            }
        }
    }
}

fn event_kind(name: &Spanned<String>, errors: &mut Vec<Diagnostic>) -> Option<EventKind> {
    let k = EventKind::ALL
        .iter()
        .find(|k| k.as_str() == name.get_ref())
        .copied();
    if k.is_none() {
        errors.push(Diagnostic::span(
            name.span(),
            format!("unknown event kind `{}`", name.get_ref()),
            Some(format!(
                "kinds: {}",
                EventKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ));
    }
    k
}

fn duration(v: &Spanned<String>, what: &str, errors: &mut Vec<Diagnostic>) -> i64 {
    match humantime::parse_duration(v.get_ref()) {
        Ok(d) if !d.is_zero() => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        _ => {
            errors.push(Diagnostic::span(
                v.span(),
                format!("`{}` is not a {what}", v.get_ref()),
                Some("write a duration such as \"30s\", \"5m\", \"2h\"".to_owned()),
            ));
            0
        }
    }
}

fn valid_attack(id: &str) -> bool {
    let b = id.as_bytes();
    let base = b.len() >= 5
        && b.first() == Some(&b'T')
        && b.get(1..5)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    match b.len() {
        5 => base,
        9 => {
            base && b.get(5) == Some(&b'.')
                && b.get(6..9)
                    .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
        }
        _ => false,
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
}

/// Compiles one rule file's text.
pub fn compile_rule(
    origin: &str,
    src: &str,
    lists: &Lists,
    profiles: &Arc<Vec<Profile>>,
) -> Result<CompiledRule, Vec<Diagnostic>> {
    let spec: RuleSpec = match toml::from_str(src) {
        Ok(s) => s,
        Err(e) => {
            let mut d = Diagnostic::span(
                e.span().unwrap_or(0..0),
                e.message().trim().to_owned(),
                Some("docs/rules.md describes every key of a rule file".to_owned()),
            );
            d.locate(origin, src);
            return Err(vec![d]);
        }
    };
    let mut errors = Vec::new();
    let rule = compile_spec(origin, src, spec, lists, profiles, &mut errors);
    if errors.is_empty() {
        Ok(rule)
    } else {
        for e in &mut errors {
            e.locate(origin, src);
        }
        Err(errors)
    }
}

fn compile_spec(
    origin: &str,
    src: &str,
    spec: RuleSpec,
    lists: &Lists,
    profiles: &Arc<Vec<Profile>>,
    errors: &mut Vec<Diagnostic>,
) -> CompiledRule {
    let kind = *spec.kind.get_ref();
    let id = spec.id.get_ref().clone();
    if !valid_id(&id) {
        errors.push(Diagnostic::span(
            spec.id.span(),
            format!("rule id `{id}` may hold only a-z, 0-9, `.` and `-` (at most 64)"),
            Some("for example `network.port-scan.tcp`".to_owned()),
        ));
    }
    for a in &spec.attack {
        if !valid_attack(a.get_ref()) {
            errors.push(Diagnostic::span(
                a.span(),
                format!("`{}` is not an ATT&CK technique id", a.get_ref()),
                Some("write `T1046` or a sub-technique `T1110.001`".to_owned()),
            ));
        }
    }
    // Clauses: `steps` for sequences, `[[on]]` or `event` + `where` otherwise.
    let mut on: Vec<OnSpec> = Vec::new();
    if kind == RuleKind::Sequence {
        if spec.steps.len() < 2 {
            errors.push(Diagnostic::span(
                spec.kind.span(),
                "a sequence rule needs at least two `[[steps]]`".to_owned(),
                Some("each step has `event`, `where` and optionally `count`".to_owned()),
            ));
        }
        on.extend(spec.steps.iter().cloned());
        if spec.event.is_some() || !spec.on.is_empty() {
            errors.push(Diagnostic::span(
                spec.kind.span(),
                "a sequence rule lists its events in `[[steps]]`, not `event` or `[[on]]`"
                    .to_owned(),
                None,
            ));
        }
    } else {
        if !spec.steps.is_empty() {
            errors.push(Diagnostic::span(
                spec.kind.span(),
                format!(
                    "`[[steps]]` belong to sequence rules, not `{}`",
                    kind.as_str()
                ),
                Some("use `[[on]]` for several event kinds".to_owned()),
            ));
        }
        match (&spec.event, spec.on.is_empty()) {
            (Some(e), true) => on.push(OnSpec {
                event: e.clone(),
                where_: spec.where_.clone(),
                count: None,
                group_by: None,
            }),
            (None, false) => {
                if spec.where_.is_some() {
                    errors.push(Diagnostic::span(
                        spec.kind.span(),
                        "with `[[on]]` clauses, each clause has its own `where`".to_owned(),
                        None,
                    ));
                }
                on.extend(spec.on.iter().cloned());
            }
            (Some(e), false) => errors.push(Diagnostic::span(
                e.span(),
                "write either `event` (one kind) or `[[on]]` clauses, not both".to_owned(),
                None,
            )),
            (None, true) => errors.push(Diagnostic::span(
                spec.id.span(),
                "the rule names no event kind".to_owned(),
                Some("add `event = \"flow\"` (or `[[on]]` clauses)".to_owned()),
            )),
        }
    }
    let needs = |what: &str, has: bool, errors: &mut Vec<Diagnostic>| {
        if !has {
            errors.push(Diagnostic::span(
                spec.kind.span(),
                format!("a {} rule needs `{what}`", kind.as_str()),
                None,
            ));
        }
    };
    let takes =
        |what: &str, has: bool, span: std::ops::Range<usize>, errors: &mut Vec<Diagnostic>| {
            if has {
                errors.push(Diagnostic::span(
                    span,
                    format!("`{what}` has no meaning for a {} rule", kind.as_str()),
                    None,
                ));
            }
        };
    let counted = matches!(
        kind,
        RuleKind::Threshold | RuleKind::Distinct | RuleKind::Periodic
    );
    let windowed = !matches!(kind, RuleKind::Match | RuleKind::Sustained);
    needs("count", !counted || spec.count.is_some(), errors);
    needs("window", !windowed || spec.window.is_some(), errors);
    needs(
        "duration",
        kind != RuleKind::Sustained || spec.duration.is_some(),
        errors,
    );
    needs(
        "distinct",
        kind != RuleKind::Distinct || spec.distinct.is_some(),
        errors,
    );
    if let Some(c) = &spec.count {
        takes("count", !counted, c.span(), errors);
        let min = if kind == RuleKind::Periodic { 3 } else { 1 };
        if *c.get_ref() < min {
            errors.push(Diagnostic::span(
                c.span(),
                format!("`count` must be at least {min}"),
                None,
            ));
        }
        if kind == RuleKind::Periodic
            && *c.get_ref() > PERIODIC_HISTORY_MAX / PERIODIC_HISTORY_PER_COUNT
        {
            errors.push(Diagnostic::span(
                c.span(),
                format!(
                    "a periodic rule counts at most {} check-ins",
                    PERIODIC_HISTORY_MAX / PERIODIC_HISTORY_PER_COUNT
                ),
                Some("beaconing shows in a few dozen repetitions; lower `count`".to_owned()),
            ));
        }
    }
    if let Some(d) = &spec.distinct {
        takes("distinct", kind != RuleKind::Distinct, d.span(), errors);
    }
    if let Some(d) = &spec.duration {
        takes("duration", kind != RuleKind::Sustained, d.span(), errors);
    }
    if let Some(e) = &spec.end_when {
        takes("end-when", kind != RuleKind::Absence, e.span(), errors);
    }
    if let Some(w) = &spec.window {
        takes("window", !windowed, w.span(), errors);
    }
    for (name, v) in [
        ("jitter", spec.jitter.as_ref().map(Spanned::span)),
        (
            "min-interval",
            spec.min_interval.as_ref().map(Spanned::span),
        ),
    ] {
        if let Some(span) = v {
            takes(name, kind != RuleKind::Periodic, span, errors);
        }
    }
    let window_ns = spec
        .window
        .as_ref()
        .map_or(0, |w| duration(w, "window", errors));
    let duration_ns = spec
        .duration
        .as_ref()
        .map_or(0, |d| duration(d, "duration", errors));
    let min_interval_ns = spec
        .min_interval
        .as_ref()
        .map_or(DEFAULT_MIN_INTERVAL_NS, |d| {
            duration(d, "minimum interval", errors)
        });
    let jitter = spec.jitter.as_ref().map_or(DEFAULT_JITTER, |j| {
        if !(0.0..=1.0).contains(j.get_ref()) {
            errors.push(Diagnostic::span(
                j.span(),
                "`jitter` is a ratio between 0 and 1".to_owned(),
                Some(
                    "0.2 means a check-in may be up to 20 % of the period early or late".to_owned(),
                ),
            ));
        }
        *j.get_ref()
    });
    let mut profile_count = BTreeMap::new();
    for (name, c) in &spec.profile_count {
        if !profiles.iter().any(|p| &p.name == name) {
            errors.push(Diagnostic::span(
                c.span(),
                format!("no protection period named `{name}`"),
                Some("periods are defined in rules/profiles.toml".to_owned()),
            ));
        }
        profile_count.insert(name.clone(), *c.get_ref());
    }
    let group_names: Vec<String> = spec.group_by.iter().map(|g| g.get_ref().clone()).collect();
    let family = spec.family.as_ref().map(|f| {
        if f.id.get_ref().trim().is_empty() || f.id.get_ref().contains(['/', ' ']) {
            errors.push(Diagnostic::span(
                f.id.span(),
                "a family id is one word without `/` or spaces".to_owned(),
                Some("e.g. family = { id = \"network.dns.tunnel\", by = [\"src\"] }".to_owned()),
            ));
        }
        if f.by.is_empty() {
            errors.push(Diagnostic::span(
                f.id.span(),
                "a family needs `by`: the group-by fields that name the attacker".to_owned(),
                None,
            ));
        }
        for b in &f.by {
            if !group_names.iter().any(|g| g == b.get_ref()) {
                errors.push(Diagnostic::span(
                    b.span(),
                    format!(
                        "family field `{}` is not in this rule's group-by",
                        b.get_ref()
                    ),
                    Some(format!("group-by is [{}]", group_names.join(", "))),
                ));
            }
        }
        Family {
            id: f.id.get_ref().clone(),
            by: f.by.iter().map(|b| b.get_ref().clone()).collect(),
        }
    });
    let mut clauses = Vec::new();
    for o in &on {
        let Some(ek) = event_kind(&o.event, errors) else {
            continue;
        };
        let mut cc = CondCompiler {
            kind: ek,
            lists,
            errors,
        };
        let cond = o.where_.as_ref().map_or(Cond::True, |w| cc.compile(w));
        let except = spec.except.iter().map(|x| cc.compile(x)).collect();
        let end = spec.end_when.as_ref().map(|w| cc.compile(w));
        let group_specs = o.group_by.as_ref().unwrap_or(&spec.group_by);
        if group_specs.len() != spec.group_by.len() {
            cc.errors.push(Diagnostic::span(
                o.event.span(),
                format!(
                    "this clause groups by {} fields, the rule by {}",
                    group_specs.len(),
                    spec.group_by.len()
                ),
                Some(
                    "a clause's `group-by` lists, in order, its fields for each of the rule's"
                        .to_owned(),
                ),
            ));
        }
        let group = group_specs.iter().filter_map(|g| cc.field(g)).collect();
        let distinct = spec.distinct.as_ref().and_then(|d| cc.field(d));
        if let Some(c) = &o.count
            && kind != RuleKind::Sequence
        {
            errors.push(Diagnostic::span(
                c.span(),
                "`count` in a clause belongs to sequence steps".to_owned(),
                Some("put the rule's `count` at the top level".to_owned()),
            ));
        }
        clauses.push(Clause {
            kind: ek,
            cond,
            except,
            group,
            distinct,
            count: o.count.as_ref().map_or(1, |c| *c.get_ref()).max(1),
            end,
        });
    }
    let periodic_history = usize::try_from(
        spec.count
            .as_ref()
            .map_or(0, |c| *c.get_ref())
            .saturating_mul(PERIODIC_HISTORY_PER_COUNT)
            .clamp(PERIODIC_HISTORY_MIN, PERIODIC_HISTORY_MAX),
    )
    .unwrap_or(usize::MAX);
    let kinds: Vec<EventKind> = clauses.iter().map(|c| c.kind).collect();
    let template = spec.title.incident.as_ref().map(|t| {
        title::compile(
            t,
            &title::Scope {
                src,
                group_names: &group_names,
                kinds: &kinds,
            },
            errors,
        )
    });
    let facts = template
        .as_ref()
        .map(|t| plan_facts(&t.slots, &kinds))
        .unwrap_or_default();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    src.hash(&mut h);
    CompiledRule {
        meta: Arc::new(RuleMeta {
            id,
            title: Text {
                en: spec.title.en,
                zh: spec.title.zh,
            },
            template,
            description: spec.description,
            severity: *spec.severity.get_ref(),
            attack: spec.attack.into_iter().map(Spanned::into_inner).collect(),
            kind,
            file: origin.to_owned(),
            family,
        }),
        clauses,
        group_names,
        count: spec.count.map_or(1, Spanned::into_inner),
        window_ns,
        duration_ns,
        jitter,
        min_interval_ns,
        periodic_history,
        max_groups: usize::try_from(
            spec.max_groups
                .map_or(DEFAULT_MAX_GROUPS, Spanned::into_inner),
        )
        .unwrap_or(usize::MAX)
        .max(1),
        auto_resolve: spec.auto_resolve,
        enabled: spec.enabled,
        profile_count,
        profiles: Arc::clone(profiles),
        source_hash: h.finish(),
        tests: spec.test,
        source: Arc::from(src),
        facts,
    }
}

fn plan_facts(slots: &[Slot], kinds: &[EventKind]) -> Vec<SlotPlan> {
    let per_clause = |f: &str| -> Vec<Option<&'static FieldDef>> {
        kinds.iter().map(|k| crate::fields::lookup(*k, f)).collect()
    };
    slots
        .iter()
        .map(|s| match s {
            Slot::Count => SlotPlan::Count,
            Slot::Span => SlotPlan::Span,
            Slot::Group(i) => SlotPlan::Group(*i),
            Slot::Target => SlotPlan::Target,
            Slot::Last(f) => SlotPlan::Last(per_clause(f)),
            Slot::Distinct(f) => SlotPlan::Distinct(per_clause(f)),
            Slot::Top(f) => SlotPlan::Top(per_clause(f)),
            Slot::Sum(f) => SlotPlan::Sum(per_clause(f)),
            Slot::Max(f) => SlotPlan::Max(per_clause(f)),
        })
        .collect()
}

fn parse_time(v: &Spanned<String>, errors: &mut Vec<Diagnostic>) -> i64 {
    match chrono::DateTime::parse_from_rfc3339(v.get_ref()) {
        Ok(t) => t.timestamp_nanos_opt().unwrap_or(0),
        Err(e) => {
            errors.push(Diagnostic::span(
                v.span(),
                format!("`{}` is not an RFC 3339 time: {e}", v.get_ref()),
                Some("write \"2027-03-01T00:00:00+08:00\"".to_owned()),
            ));
            0
        }
    }
}

/// Parses `profiles.toml`.
pub fn compile_profiles(origin: &str, src: &str) -> Result<Vec<Profile>, Vec<Diagnostic>> {
    let file: ProfilesFile = toml::from_str(src).map_err(|e| {
        let mut d = Diagnostic::span(
            e.span().unwrap_or(0..0),
            e.message().trim().to_owned(),
            None,
        );
        d.locate(origin, src);
        vec![d]
    })?;
    let mut errors = Vec::new();
    let mut out: Vec<Profile> = Vec::new();
    for p in file.profile {
        let start_ns = parse_time(&p.start, &mut errors);
        let end_ns = parse_time(&p.end, &mut errors);
        if end_ns <= start_ns {
            errors.push(Diagnostic::span(
                p.end.span(),
                "the period ends before it starts".to_owned(),
                None,
            ));
        }
        if !(p.threshold_factor > 0.0 && p.threshold_factor <= 1.0) {
            errors.push(Diagnostic::span(
                p.name.span(),
                "`threshold-factor` must be in (0, 1]".to_owned(),
                Some("0.5 halves every count while the period lasts".to_owned()),
            ));
        }
        if out.iter().any(|o| &o.name == p.name.get_ref()) {
            errors.push(Diagnostic::span(
                p.name.span(),
                format!("period `{}` is defined twice", p.name.get_ref()),
                None,
            ));
        }
        out.push(Profile {
            name: p.name.into_inner(),
            title: p.title,
            start_ns,
            end_ns,
            factor: p.threshold_factor,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        for e in &mut errors {
            e.locate(origin, src);
        }
        Err(errors)
    }
}

/// The texts of a rules directory, as (file name, text) pairs: what
/// [`compile_sources`] compiles. [`crate::dir::load_dir`] reads them from
/// disk; tools and tests may build them by hand.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The directory they came from (kept in the [`Ruleset`], named in the
    /// "no rule files" error).
    pub dir: PathBuf,
    /// `lists/*.txt`: (list name, file name, text), in file name order.
    pub lists: Vec<(String, String, String)>,
    /// `profiles.toml`: (file name, text), when there is one.
    pub profiles: Option<(String, String)>,
    /// The rule files: (file name, text), in path order.
    pub rules: Vec<(String, String)>,
}

/// Compiles the texts of a rules directory. `errors` holds what went wrong
/// before (files that could not be read); every error of every file is
/// returned, sorted by file, line and column.
pub fn compile_sources(
    sources: &Sources,
    mut errors: Vec<Diagnostic>,
) -> Result<Ruleset, Vec<Diagnostic>> {
    let mut lists = Lists::new();
    for (name, origin, text) in &sources.lists {
        match NamedList::parse(name, origin, text) {
            Ok(l) => {
                lists.insert(name.clone(), Arc::new(l));
            }
            Err(e) => errors.extend(e),
        }
    }
    let profiles = match &sources.profiles {
        Some((origin, text)) => match compile_profiles(origin, text) {
            Ok(p) => p,
            Err(e) => {
                errors.extend(e);
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let profiles = Arc::new(profiles);
    if sources.rules.is_empty() && errors.is_empty() {
        errors.push(Diagnostic::at_line(
            &sources.dir.display().to_string(),
            1,
            "no rule files (*.toml) here".to_owned(),
            Some(
                "point at the rules/ directory of the source tree or /etc/shouwang/rules"
                    .to_owned(),
            ),
        ));
    }
    let mut rules: Vec<CompiledRule> = Vec::new();
    for (origin, text) in &sources.rules {
        match compile_rule(origin, text, &lists, &profiles) {
            Ok(r) => {
                if let Some(first) = rules.iter().find(|x| x.meta.id == r.meta.id) {
                    errors.push(Diagnostic::at_line(
                        origin,
                        1,
                        format!(
                            "rule id `{}` is already used by {}",
                            r.meta.id, first.meta.file
                        ),
                        Some("ids must be unique: incidents are keyed on them".to_owned()),
                    ));
                } else {
                    rules.push(r);
                }
            }
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        return Err(errors);
    }
    let mut set = Ruleset {
        rules,
        by_kind: Vec::new(),
        lists,
        profiles,
        dir: sources.dir.clone(),
    };
    set.index();
    Ok(set)
}
