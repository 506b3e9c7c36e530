//! Evaluation: events in, detections out. Pure logic: no I/O, no clock of
//! its own. Windows run on event time; `tick(now)` moves time on for rules
//! that fire on silence (absence) and ages state out.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use shouwang_proto::Event;

use crate::compile::{CompiledRule, RuleMeta, Ruleset, SlotPlan};
use crate::fields::{Ctx, Value};
use crate::periodic;
use crate::spec::{RuleKind, Text};
use crate::title::{self, Distinct, Fact, Top};

/// Evidence kept per group until it fires: at most this many events of one
/// kind, and this many in all.
const EVIDENCE_PER_KIND: usize = 3;
const EVIDENCE_MAX: usize = 4;

/// A rule fired (or, with `clear`, its condition went away).
#[derive(Debug, Clone)]
pub struct Detection {
    pub rule: Arc<RuleMeta>,
    /// `name=value` pairs of the rule's group-by fields, space-separated.
    pub group: String,
    /// Event time of the detection, ns.
    pub ts: i64,
    pub agent: String,
    pub exercise: Option<String>,
    /// Events (or distinct values) that made it fire.
    pub count: u64,
    pub evidence: Vec<serde_json::Value>,
    /// The condition cleared: resolve the incident (absence, sustained).
    pub clear: bool,
    /// Capture time (ns) the group's activity began: the earliest
    /// `first_ts` (or event time) of the events it counted since the group
    /// was created.
    pub first_seen: i64,
    /// The title template's placeholders, aligned with its slots.
    pub facts: Vec<Fact>,
}

impl Detection {
    /// The incident title with `count` events counted in all (the book's
    /// total over the incident's detections); the rule's name when it has
    /// no template.
    pub fn title(&self, count: u64) -> Text {
        match &self.rule.template {
            Some(t) => t.render(&self.facts, count),
            None => self.rule.title.clone(),
        }
    }
}

/// What a group keeps for its title placeholder.
#[derive(Debug)]
enum SlotState {
    Fixed,
    /// A group value or the latest value of a field.
    Value(Option<Fact>),
    Distinct(Distinct),
    Top(Top),
    Num(Option<f64>),
}

/// Facts a group keeps for its incident title (only what the template
/// names, each bounded).
#[derive(Debug, Default)]
struct Facts {
    slots: Vec<SlotState>,
}

#[derive(Debug)]
enum GroupState {
    /// Threshold and periodic: recent event times.
    Times(VecDeque<i64>),
    /// Distinct: value hash → last time seen.
    Distinct(HashMap<u64, i64>),
    Sequence {
        stage: usize,
        times: VecDeque<i64>,
        started: i64,
    },
    /// Absence: last matching event, and whether the silence was reported.
    Seen {
        last: i64,
        alarmed: bool,
    },
    /// Sustained: since when the condition has held.
    Since {
        since: Option<i64>,
        alarmed: bool,
    },
    Matched,
}

#[derive(Debug)]
struct Group {
    state: GroupState,
    last: i64,
    agent: String,
    exercise: Option<String>,
    /// (agent, event) kept as they are; turned into JSON only if the group
    /// fires.
    evidence: Vec<(String, Event)>,
    /// Earliest activity start of the counted events, ns.
    first_seen: i64,
    facts: Facts,
}

fn num(v: &Value<'_>) -> Option<f64> {
    match v {
        Value::Num(n) => Some(*n),
        _ => None,
    }
}

impl Facts {
    fn new(rule: &CompiledRule, clause: usize, ctx: &Ctx<'_>) -> Self {
        let slots = rule
            .facts
            .iter()
            .map(|p| match p {
                SlotPlan::Group(i) => SlotState::Value(
                    rule.clauses
                        .get(clause)
                        .and_then(|c| c.group.get(*i))
                        .and_then(|f| title::value_fact(&(f.get)(ctx))),
                ),
                SlotPlan::Count | SlotPlan::Span => SlotState::Fixed,
                SlotPlan::Last(_) => SlotState::Value(None),
                SlotPlan::Distinct(_) => SlotState::Distinct(Distinct::default()),
                SlotPlan::Top(_) | SlotPlan::Target => SlotState::Top(Top::default()),
                SlotPlan::Sum(_) | SlotPlan::Max(_) => SlotState::Num(None),
            })
            .collect();
        Self { slots }
    }

    /// Counts one event of clause `clause`.
    fn add(
        &mut self,
        rule: &CompiledRule,
        clause: usize,
        ctx: &Ctx<'_>,
        hasher: &ahash::RandomState,
        buf: &mut String,
    ) {
        for (plan, st) in rule.facts.iter().zip(&mut self.slots) {
            let field = match plan {
                SlotPlan::Last(f)
                | SlotPlan::Distinct(f)
                | SlotPlan::Top(f)
                | SlotPlan::Sum(f)
                | SlotPlan::Max(f) => match f.get(clause).copied().flatten() {
                    Some(f) => Some((f.get)(ctx)),
                    None => continue,
                },
                _ => None,
            };
            match (plan, st, field) {
                (SlotPlan::Target, SlotState::Top(t), _) => {
                    title::target(ctx.agent, ctx.event, buf);
                    t.insert(hasher.hash_one(buf.as_str()), buf);
                }
                (_, _, Some(Value::Missing)) => {}
                (SlotPlan::Last(_), SlotState::Value(t), Some(v)) => *t = title::value_fact(&v),
                (SlotPlan::Distinct(_), SlotState::Distinct(d), Some(v)) => {
                    buf.clear();
                    v.write_key(buf);
                    d.insert(hasher.hash_one(buf.as_str()));
                }
                (SlotPlan::Top(_), SlotState::Top(t), Some(v)) => {
                    buf.clear();
                    v.write_key(buf);
                    t.insert(hasher.hash_one(buf.as_str()), buf);
                }
                (SlotPlan::Sum(_), SlotState::Num(n), Some(v)) => {
                    if let Some(x) = num(&v) {
                        *n = Some(n.unwrap_or(0.0) + x);
                    }
                }
                (SlotPlan::Max(_), SlotState::Num(n), Some(v)) => {
                    if let Some(x) = num(&v) {
                        *n = Some(n.map_or(x, |m| m.max(x)));
                    }
                }
                _ => {}
            }
        }
    }

    fn facts(&self, rule: &CompiledRule, first_seen: i64, last: i64) -> Vec<Fact> {
        rule.facts
            .iter()
            .zip(&self.slots)
            .map(|(plan, st)| match (plan, st) {
                (SlotPlan::Span, _) => Fact::Duration(last.saturating_sub(first_seen)),
                (_, SlotState::Value(Some(f))) => f.clone(),
                (_, SlotState::Distinct(d)) => d.fact(),
                (_, SlotState::Top(t)) => t.fact(),
                (_, SlotState::Num(Some(n))) => Fact::Num(*n),
                _ => Fact::Missing,
            })
            .collect()
    }
}

#[derive(Debug, Default)]
struct RuleState {
    groups: HashMap<String, Group, ahash::RandomState>,
}

/// Counters the collector exports.
#[derive(Debug, Default, Clone)]
pub struct RuleCounters {
    pub evaluated: u64,
    pub matched: u64,
    pub fired: u64,
    pub evictions: u64,
    /// Event time (ns) of the last detection; 0 before the first.
    pub last_fired: i64,
}

/// The running engine: a ruleset and its state.
#[derive(Debug)]
pub struct Engine {
    set: Arc<Ruleset>,
    state: Vec<RuleState>,
    pub counters: Vec<RuleCounters>,
    hasher: ahash::RandomState,
    key: String,
    /// Scratch for title facts (targets, distinct keys).
    scratch: String,
    /// Latest event time seen, overall and per agent: groups age out on
    /// their own agent's clock, so a capture from 2011 replayed next to live
    /// agents keeps its windows.
    pub latest: i64,
    agent_latest: HashMap<String, i64>,
}

fn evidence_of(agent: &str, ev: &Event) -> serde_json::Value {
    let mut v = serde_json::to_value(ev).unwrap_or(serde_json::Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "agent".to_owned(),
            serde_json::Value::String(agent.to_owned()),
        );
    }
    v
}

fn add_evidence(g: &mut Group, agent: &str, ev: &Event) {
    if g.evidence.len() >= EVIDENCE_MAX {
        return;
    }
    let kind = ev.kind();
    let same = g.evidence.iter().filter(|(_, e)| e.kind() == kind).count();
    if same < EVIDENCE_PER_KIND {
        g.evidence.push((agent.to_owned(), ev.clone()));
    }
}

fn evidence_json(events: Vec<(String, Event)>) -> Vec<serde_json::Value> {
    events.iter().map(|(a, e)| evidence_of(a, e)).collect()
}

impl Detection {
    fn of(
        rule: &CompiledRule,
        key: &str,
        g: &Group,
        ts: i64,
        count: u64,
        evidence: Vec<serde_json::Value>,
        clear: bool,
    ) -> Self {
        Self {
            rule: Arc::clone(&rule.meta),
            group: key.to_owned(),
            ts,
            agent: g.agent.clone(),
            exercise: g.exercise.clone(),
            count,
            evidence,
            clear,
            first_seen: g.first_seen,
            facts: g.facts.facts(rule, g.first_seen, g.last),
        }
    }
}

impl Engine {
    pub fn new(set: Arc<Ruleset>) -> Self {
        let n = set.rules.len();
        Self {
            set,
            state: (0..n).map(|_| RuleState::default()).collect(),
            counters: vec![RuleCounters::default(); n],
            hasher: ahash::RandomState::new(),
            key: String::new(),
            scratch: String::new(),
            latest: i64::MIN,
            agent_latest: HashMap::new(),
        }
    }

    pub fn ruleset(&self) -> &Arc<Ruleset> {
        &self.set
    }

    /// Groups each rule tracks now, index-aligned with the ruleset.
    pub fn group_counts(&self) -> Vec<usize> {
        self.state.iter().map(|s| s.groups.len()).collect()
    }

    /// Swaps in a new ruleset. Rules whose source did not change keep their
    /// windows and groups; changed and new rules start empty.
    pub fn replace(&mut self, set: Arc<Ruleset>) {
        let mut old: HashMap<String, (u64, RuleState, RuleCounters)> = HashMap::new();
        for ((r, s), c) in self
            .set
            .rules
            .iter()
            .zip(self.state.drain(..))
            .zip(self.counters.drain(..))
        {
            old.insert(r.meta.id.clone(), (r.source_hash, s, c));
        }
        for r in &set.rules {
            match old.remove(&r.meta.id) {
                Some((h, s, c)) if h == r.source_hash => {
                    self.state.push(s);
                    self.counters.push(c);
                }
                Some((_, _, c)) => {
                    self.state.push(RuleState::default());
                    self.counters.push(c);
                }
                None => {
                    self.state.push(RuleState::default());
                    self.counters.push(RuleCounters::default());
                }
            }
        }
        self.set = set;
    }

    /// Groups held in memory, all rules.
    pub fn groups(&self) -> usize {
        self.state.iter().map(|s| s.groups.len()).sum()
    }

    /// One event from `agent`.
    pub fn process(
        &mut self,
        agent: &str,
        exercise: Option<&str>,
        ev: &Event,
        out: &mut Vec<Detection>,
    ) {
        let ts = ev.ts.as_nanos();
        self.latest = self.latest.max(ts);
        match self.agent_latest.get_mut(agent) {
            Some(t) => *t = (*t).max(ts),
            None => {
                self.agent_latest.insert(agent.to_owned(), ts);
            }
        }
        let ctx = Ctx { agent, event: ev };
        // Borrow the fields apart: the ruleset is read while state changes.
        let Self {
            set,
            state: states,
            counters: all_counters,
            hasher,
            key: key_buf,
            scratch,
            ..
        } = self;
        for &(ri, ci) in set.by_kind(ev.kind()) {
            let (Some(rule), Some(state), Some(counters)) = (
                set.rules.get(ri),
                states.get_mut(ri),
                all_counters.get_mut(ri),
            ) else {
                continue;
            };
            let Some(clause) = rule.clauses.get(ci) else {
                continue;
            };
            counters.evaluated += 1;
            if clause.except.iter().any(|x| x.eval(&ctx)) {
                continue;
            }
            let ends = clause.end.as_ref().is_some_and(|c| c.eval(&ctx));
            let holds = !ends && clause.cond.eval(&ctx);
            // Sustained rules look at every event of their groups (to see
            // the condition clear); all others only at matching events.
            if !holds && !ends && rule.meta.kind != RuleKind::Sustained {
                continue;
            }
            if holds {
                counters.matched += 1;
            }
            key_buf.clear();
            for (i, (name, f)) in rule.group_names.iter().zip(&clause.group).enumerate() {
                if i > 0 {
                    key_buf.push(' ');
                }
                key_buf.push_str(name);
                key_buf.push('=');
                (f.get)(&ctx).write_key(key_buf);
            }
            // A drill's state never mixes with real traffic's: its groups
            // (and so its incidents) are its own.
            if let Some(x) = exercise {
                if !key_buf.is_empty() {
                    key_buf.push(' ');
                }
                key_buf.push_str("exercise=");
                key_buf.push_str(x);
            }
            if ends {
                // The group said goodbye: no alarm for its silence; an alarm
                // already raised clears (it spoke again).
                if let Some(g) = state.groups.remove(key_buf.as_str())
                    && matches!(g.state, GroupState::Seen { alarmed: true, .. })
                    && rule.auto_resolve
                {
                    let evidence = vec![evidence_of(ctx.agent, ctx.event)];
                    out.push(Detection::of(rule, key_buf, &g, ts, 0, evidence, true));
                }
                continue;
            }
            let before = out.len();
            Self::step(
                rule, ci, state, counters, key_buf, hasher, scratch, &ctx, exercise, holds, ts, out,
            );
            if out.len() > before {
                counters.fired += (out.len() - before) as u64;
                counters.last_fired = ts;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        rule: &CompiledRule,
        clause_idx: usize,
        state: &mut RuleState,
        counters: &mut RuleCounters,
        key: &str,
        hasher: &ahash::RandomState,
        scratch: &mut String,
        ctx: &Ctx<'_>,
        exercise: Option<&str>,
        holds: bool,
        ts: i64,
        out: &mut Vec<Detection>,
    ) {
        let kind = rule.meta.kind;
        if !state.groups.contains_key(key) {
            if !holds {
                return; // a sustained group starts when its condition first holds
            }
            if state.groups.len() >= rule.max_groups {
                Self::make_room(rule, state, counters, ts);
            }
            let st = match kind {
                RuleKind::Threshold | RuleKind::Periodic => GroupState::Times(VecDeque::new()),
                RuleKind::Distinct => GroupState::Distinct(HashMap::new()),
                RuleKind::Sequence => GroupState::Sequence {
                    stage: 0,
                    times: VecDeque::new(),
                    started: ts,
                },
                RuleKind::Absence => GroupState::Seen {
                    last: ts,
                    alarmed: false,
                },
                RuleKind::Sustained => GroupState::Since {
                    since: None,
                    alarmed: false,
                },
                RuleKind::Match => GroupState::Matched,
            };
            state.groups.insert(
                key.to_owned(),
                Group {
                    state: st,
                    last: ts,
                    agent: ctx.agent.to_owned(),
                    exercise: exercise.map(str::to_owned),
                    evidence: Vec::new(),
                    first_seen: ctx.event.activity_start(),
                    facts: Facts::new(rule, clause_idx, ctx),
                },
            );
        }
        let Some(g) = state.groups.get_mut(key) else {
            return;
        };
        g.last = g.last.max(ts);
        g.agent.clear();
        g.agent.push_str(ctx.agent);
        if exercise.is_some() {
            g.exercise = exercise.map(str::to_owned);
        }
        let window = rule.window_ns;
        let count = rule.effective_count(ts);
        let mut fire: Option<u64> = None;
        let mut clear = false;
        if holds {
            add_evidence(g, ctx.agent, ctx.event);
            g.first_seen = g.first_seen.min(ctx.event.activity_start());
            g.facts.add(rule, clause_idx, ctx, hasher, scratch);
        }
        match &mut g.state {
            GroupState::Matched => fire = Some(1),
            GroupState::Times(times) if kind == RuleKind::Threshold => {
                times.push_back(ts);
                while times.front().is_some_and(|&t| ts - t > window) {
                    times.pop_front();
                }
                if times.len() as u64 >= count {
                    fire = Some(times.len() as u64);
                    times.clear();
                }
            }
            GroupState::Times(times) => {
                // Periodic: the last check-ins within the window, at most
                // `periodic_history` of them, walked against their beat.
                times.push_back(ts);
                while times.front().is_some_and(|&t| ts - t > window)
                    || times.len() > rule.periodic_history
                {
                    times.pop_front();
                }
                if times.len() as u64 >= count {
                    let (a, b) = times.as_slices();
                    let all = [a, b].concat();
                    if let Some(beat) = periodic::assess(&all, rule.jitter)
                        && beat.periodic(count, rule.min_interval_ns)
                    {
                        fire = Some(beat.on_beat);
                        times.clear();
                    }
                }
            }
            GroupState::Distinct(seen) => {
                if let Some(f) = rule.clauses.get(clause_idx).and_then(|c| c.distinct) {
                    let v = (f.get)(ctx);
                    if !matches!(v, Value::Missing) {
                        let mut k = String::new();
                        v.write_key(&mut k);
                        seen.insert(hasher.hash_one(&k), ts);
                    }
                }
                if seen.len() as u64 >= count {
                    seen.retain(|_, t| ts - *t <= window);
                    if seen.len() as u64 >= count {
                        fire = Some(seen.len() as u64);
                        seen.clear();
                    }
                }
            }
            GroupState::Sequence {
                stage,
                times,
                started,
            } => {
                if ts - *started > window {
                    *stage = 0;
                    times.clear();
                }
                if clause_idx == *stage {
                    if *stage == 0 && times.is_empty() {
                        *started = ts;
                    }
                    times.push_back(ts);
                    while *stage == 0 && times.front().is_some_and(|&t| ts - t > window) {
                        times.pop_front();
                    }
                    if let Some(&t0) = times.front()
                        && *stage == 0
                    {
                        *started = t0;
                    }
                    let need = rule.clauses.get(*stage).map_or(1, |c| c.count);
                    if times.len() as u64 >= need {
                        *stage += 1;
                        times.clear();
                        if *stage >= rule.clauses.len() {
                            fire = Some(rule.clauses.len() as u64);
                            *stage = 0;
                        }
                    }
                }
            }
            GroupState::Seen { last, alarmed } => {
                *last = ts.max(*last);
                if *alarmed {
                    *alarmed = false;
                    clear = rule.auto_resolve;
                }
            }
            GroupState::Since { since, alarmed } => {
                if holds {
                    let start = *since.get_or_insert(ts);
                    if !*alarmed && ts - start >= rule.duration_ns {
                        *alarmed = true;
                        fire = Some(1);
                    }
                } else {
                    *since = None;
                    if *alarmed {
                        *alarmed = false;
                        clear = rule.auto_resolve;
                    }
                }
            }
        }
        if let Some(n) = fire {
            let evidence = evidence_json(std::mem::take(&mut g.evidence));
            out.push(Detection::of(rule, key, g, ts, n, evidence, false));
            if kind == RuleKind::Match {
                state.groups.remove(key);
            }
        } else if clear {
            let evidence = vec![evidence_of(ctx.agent, ctx.event)];
            out.push(Detection::of(rule, key, g, ts, 0, evidence, true));
        }
    }

    /// Drops idle groups, then (if still full) the least recently updated.
    fn make_room(
        rule: &CompiledRule,
        state: &mut RuleState,
        counters: &mut RuleCounters,
        now: i64,
    ) {
        let horizon = now.saturating_sub(rule.window_ns.max(rule.duration_ns));
        let before = state.groups.len();
        if rule.meta.kind != RuleKind::Absence {
            state.groups.retain(|_, g| g.last >= horizon);
        }
        if state.groups.len() >= rule.max_groups {
            let mut by_age: Vec<(i64, String)> = state
                .groups
                .iter()
                .map(|(k, g)| (g.last, k.clone()))
                .collect();
            by_age.sort_unstable();
            let drop = (rule.max_groups / 10).max(1);
            for (_, k) in by_age.into_iter().take(drop) {
                state.groups.remove(&k);
            }
        }
        counters.evictions += (before - state.groups.len()) as u64;
    }

    /// Moves time on to `now` (ns): reports silent groups of absence rules
    /// and forgets groups idle for longer than their rule could use them
    /// (judged on the group's agent's event time).
    pub fn tick(&mut self, now: i64, out: &mut Vec<Detection>) {
        let set = Arc::clone(&self.set);
        let clocks = &self.agent_latest;
        let clock = |g: &Group| clocks.get(&g.agent).copied().unwrap_or(now);
        for ((rule, state), counters) in set
            .rules
            .iter()
            .zip(&mut self.state)
            .zip(&mut self.counters)
        {
            match rule.meta.kind {
                RuleKind::Absence => {
                    for (key, g) in &mut state.groups {
                        if let GroupState::Seen { last, alarmed } = &mut g.state
                            && !*alarmed
                            && now - *last >= rule.window_ns
                        {
                            *alarmed = true;
                            counters.fired += 1;
                            counters.last_fired = now;
                            let evidence = evidence_json(std::mem::take(&mut g.evidence));
                            out.push(Detection::of(rule, key, g, now, 0, evidence, false));
                        }
                    }
                }
                RuleKind::Sustained => {
                    // A group whose events stopped: forget it after a while,
                    // unless it is alarmed (its clear is still to come).
                    let keep = rule.duration_ns.saturating_mul(4).max(rule.window_ns);
                    state.groups.retain(|_, g| {
                        g.last >= clock(g).saturating_sub(keep)
                            || matches!(g.state, GroupState::Since { alarmed: true, .. })
                    });
                }
                _ => {
                    state
                        .groups
                        .retain(|_, g| g.last >= clock(g).saturating_sub(rule.window_ns));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{Ruleset, compile_rule};
    use shouwang_proto::{EventBody, FlowRecord, Timestamp};

    const RULE: &str = r#"
id = "t.syn"
severity = "high"
kind = "threshold"
event = "flow"
group-by = ["dst"]
count = 3
window = "10s"
[title]
en = "t"
zh = "t"
[description]
en = "t"
zh = "t"
"#;

    fn set() -> Arc<Ruleset> {
        let r = compile_rule("t.toml", RULE, &Default::default(), &Arc::new(Vec::new())).unwrap();
        Arc::new(Ruleset::from_rules(vec![r]))
    }

    fn flow(ts_s: i64) -> Event {
        Event::new(
            Timestamp::from_secs(ts_s),
            EventBody::Flow(FlowRecord::syn_probe(
                "x",
                ("10.0.0.1".parse().unwrap(), 1),
                ("10.0.0.2".parse().unwrap(), 80),
                ts_s * 1_000_000_000,
            )),
        )
    }

    #[test]
    fn old_capture_windows_survive_wall_clock_ticks() {
        let mut e = Engine::new(set());
        let mut out = Vec::new();
        // A 2011 capture: two events, then the wall clock (2026) ticks.
        e.process("replay", None, &flow(1_300_000_000), &mut out);
        e.process("replay", None, &flow(1_300_000_001), &mut out);
        e.tick(1_790_000_000_000_000_000, &mut out);
        e.process("replay", None, &flow(1_300_000_002), &mut out);
        assert_eq!(out.len(), 1, "the window was kept across the tick");
        // On its own clock, a group idle past its window is forgotten.
        e.process("replay", None, &flow(1_300_000_003), &mut out);
        assert_eq!(e.groups(), 1);
        e.process("other", None, &flow(1_790_000_000), &mut out);
        e.process("replay", None, &flow(1_300_000_100), &mut out);
        e.tick(1_790_000_000_000_000_000, &mut out);
        assert_eq!(
            e.groups(),
            1,
            "replay's old group aged out on replay's clock; other's stays"
        );
    }

    #[test]
    fn a_drill_never_counts_towards_real_traffic_or_another_drill() {
        let mut e = Engine::new(set());
        let mut out = Vec::new();
        e.process("a", None, &flow(100), &mut out);
        e.process("a", Some("drill-1"), &flow(101), &mut out);
        e.process("a", None, &flow(102), &mut out);
        e.process("a", Some("drill-2"), &flow(103), &mut out);
        e.process("a", Some("drill-1"), &flow(104), &mut out);
        assert!(out.is_empty(), "no group reached 3: {out:?}");
        e.process("a", Some("drill-1"), &flow(105), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].group, "dst=10.0.0.2 exercise=drill-1");
        assert_eq!(out[0].exercise.as_deref(), Some("drill-1"));
        e.process("a", None, &flow(106), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].group, "dst=10.0.0.2");
        assert_eq!(out[1].exercise, None);
    }

    #[test]
    fn a_periodic_group_keeps_a_bounded_history() {
        let src = r#"
id = "t.beacon"
severity = "medium"
kind = "periodic"
event = "flow"
group-by = ["dst"]
count = 8
window = "12h"
[title]
en = "t"
zh = "t"
[description]
en = "t"
zh = "t"
"#;
        let r = compile_rule("b.toml", src, &Default::default(), &Arc::new(Vec::new())).unwrap();
        let history = r.periodic_history;
        assert_eq!(history, 32);
        let mut e = Engine::new(Arc::new(Ruleset::from_rules(vec![r])));
        let mut out = Vec::new();
        // 10 000 irregular connections within the 12 h window: never a beat,
        // and never more than 32 times kept.
        let mut t = 1_000_000i64;
        for i in 0..10_000i64 {
            t += 1 + (i * 7919) % 13;
            e.process("a", None, &flow(t), &mut out);
        }
        assert!(out.is_empty(), "{out:?}");
        let kept = e.state[0]
            .groups
            .values()
            .map(|g| match &g.state {
                GroupState::Times(t) => t.len(),
                _ => 0,
            })
            .max();
        assert_eq!(kept, Some(history));
        // A beat every 2 s fires after eight check-ins, despite the noise
        // still held.
        for i in 0..40 {
            e.process("a", None, &flow(t + 2 * (i + 1)), &mut out);
        }
        assert!(!out.is_empty(), "a 2 s beat among old noise fires");
    }

    #[test]
    fn reload_keeps_state_of_unchanged_rules() {
        let mut e = Engine::new(set());
        let mut out = Vec::new();
        e.process("a", None, &flow(100), &mut out);
        e.process("a", None, &flow(101), &mut out);
        e.replace(set());
        e.process("a", None, &flow(102), &mut out);
        assert_eq!(out.len(), 1, "same source: window kept");
        let changed = RULE.replace("count = 3", "count = 2");
        let r = compile_rule(
            "t.toml",
            &changed,
            &Default::default(),
            &Arc::new(Vec::new()),
        )
        .unwrap();
        e.replace(Arc::new(Ruleset::from_rules(vec![r])));
        assert_eq!(e.groups(), 0, "changed rule starts empty");
    }

    const SSH: &str = r#"
id = "t.ssh"
severity = "high"
kind = "threshold"
group-by = ["src"]
count = 4
window = "2m"
[[on]]
event = "flow"
where = { field = "dst_port", eq = 2200 }
[[on]]
event = "auth"
where = { field = "outcome", eq = "failure" }
[title]
en = "SSH brute force"
zh = "SSH 暴力破解"
incident.en = "SSH brute force from {src} against {target} ({count} failures[, {distinct.user} users]) in {span}"
incident.zh = "来自 {src} 针对 {target} 的 SSH 暴力破解（{count} 次失败[，{distinct.user} 个用户]）"
[description]
en = "t"
zh = "t"
"#;

    fn ssh_set() -> Arc<Ruleset> {
        let r = compile_rule("t.toml", SSH, &Default::default(), &Arc::new(Vec::new())).unwrap();
        Arc::new(Ruleset::from_rules(vec![r]))
    }

    fn auth(ts_s: i64, user: &str, host: &str) -> Event {
        let body: shouwang_proto::AuthEvent = serde_json::from_value(serde_json::json!({
            "service": "sshd", "outcome": "failure", "user": user,
            "source_addr": "203.0.113.9", "hostname": host, "message": "Failed password",
        }))
        .unwrap();
        Event::new(Timestamp::from_secs(ts_s), EventBody::Auth(Box::new(body)))
    }

    fn ssh_flow(first_s: i64, last_s: i64) -> Event {
        let mut f = FlowRecord::syn_probe(
            "x",
            ("203.0.113.9".parse().unwrap(), 40000),
            ("192.0.2.20".parse().unwrap(), 2200),
            first_s * 1_000_000_000,
        );
        f.last_ts = last_s * 1_000_000_000;
        Event::new(Timestamp::from_secs(last_s), EventBody::Flow(f))
    }

    #[test]
    fn facts_name_the_source_most_frequent_target_and_distinct_users() {
        let mut e = Engine::new(ssh_set());
        let mut out = Vec::new();
        e.process("a", None, &auth(100, "root", "web-03"), &mut out);
        e.process("a", None, &auth(101, "admin", "web-03"), &mut out);
        e.process("a", None, &auth(102, "root", "db-01"), &mut out);
        e.process("a", None, &auth(112, "oracle", "web-03"), &mut out);
        assert_eq!(out.len(), 1);
        let d = &out[0];
        assert_eq!(d.first_seen, 100 * 1_000_000_000);
        assert_eq!(
            d.title(d.count).en,
            "SSH brute force from 203.0.113.9 against web-03 (4 failures, 3 users) in 12 s"
        );
        assert_eq!(
            d.title(d.count).zh,
            "来自 203.0.113.9 针对 web-03 的 SSH 暴力破解（4 次失败，3 个用户）"
        );
        // The incident's total, with separators; the facts keep growing
        // over the group's life (a recurrence re-renders).
        for i in 0..4 {
            e.process(
                "a",
                None,
                &auth(113 + i, &format!("u{i}"), "web-03"),
                &mut out,
            );
        }
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[1].title(1234).en,
            "SSH brute force from 203.0.113.9 against web-03 (1,234 failures, 7 users) in 16 s"
        );
    }

    #[test]
    fn first_seen_is_the_earliest_activity_start_and_optional_parts_drop() {
        let mut e = Engine::new(ssh_set());
        let mut out = Vec::new();
        // Flow records summarise sessions: the second began before the
        // first one's record was emitted.
        e.process("a", None, &ssh_flow(50, 60), &mut out);
        e.process("a", None, &ssh_flow(40, 61), &mut out);
        e.process("a", None, &ssh_flow(58, 62), &mut out);
        e.process("a", None, &ssh_flow(59, 63), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ts, 63 * 1_000_000_000);
        assert_eq!(out[0].first_seen, 40 * 1_000_000_000);
        // No event named a user: the users part is left out, not "0 users".
        assert_eq!(
            out[0].title(4).en,
            "SSH brute force from 203.0.113.9 against 192.0.2.20:2200 (4 failures) in 23 s"
        );
    }

    #[test]
    fn a_rule_without_template_keeps_its_name() {
        let mut e = Engine::new(set());
        let mut out = Vec::new();
        for t in 0..3 {
            e.process("a", None, &flow(100 + t), &mut out);
        }
        assert_eq!(out[0].title(3).en, "t");
        assert_eq!(out[0].first_seen, 100 * 1_000_000_000);
    }

    #[test]
    fn unknown_placeholders_are_located_errors() {
        let bad = SSH.replace("{distinct.user}", "{distinct.usr}").replace(
            "incident.zh = \"来自 {src}",
            "incident.zh = \"来自 {source}",
        );
        let errs =
            compile_rule("t.toml", &bad, &Default::default(), &Arc::new(Vec::new())).unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 3, "{text:#?}");
        assert!(
            text[0].contains("`{distinct.usr}`") && text[0].contains("did you mean `user`"),
            "{}",
            text[0]
        );
        let line = bad
            .lines()
            .position(|l| l.starts_with("incident.en"))
            .unwrap()
            + 1;
        assert_eq!(errs[0].line, line);
        let col = bad
            .lines()
            .nth(line - 1)
            .unwrap()
            .find("{distinct.usr}")
            .unwrap()
            + 1;
        assert_eq!(errs[0].column, col);
        assert!(text.iter().any(|t| t.contains("`{source}`")));
        for broken in ["{count", "count}", "[{src}", "{sum.user}", "{foo.src}"] {
            let b = SSH.replace("({count} failures", &format!("({broken} failures"));
            assert!(
                compile_rule("t.toml", &b, &Default::default(), &Arc::new(Vec::new())).is_err(),
                "{broken} compiled"
            );
        }
    }
}
