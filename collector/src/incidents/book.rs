//! The incident book: detections in, incident changes out. Pure state —
//! the caller persists what [`Change`] says and supplies the time.

use std::collections::HashMap;

use shouwang_proto::{
    Bilingual, Incident, IncidentState, Matcher, Resolution, Severity, Silence, TimelineEntry,
};

use shouwang_rules::Detection;

/// Evidence kept per incident.
pub const MAX_EVIDENCE: usize = 12;
/// Group key of a rule's overflow incident (see `Policy::max_open_per_rule`).
pub const OVERFLOW_GROUP: &str = "*";
/// Agents listed per incident.
pub const MAX_AGENTS: usize = 16;
/// A detection whose event is older than this on the wall clock comes from
/// a replay (an old capture, a drill) or a backlog: its delay is measured
/// on event time. Newer ones are live: the delay is the wall clock at
/// opening minus `first_seen`. Agents ship every ≤ 2 s and retry for
/// minutes; ten minutes separates "late" from "another day".
pub const REPLAY_AFTER_MS: i64 = 10 * 60 * 1000;

/// Detection delay, ms, of an incident opened at wall-clock `now_ms` by
/// `d` (see [`REPLAY_AFTER_MS`]); None when the rule fires on silence.
pub fn detection_delay_ms(d: &Detection, now_ms: i64) -> Option<i64> {
    if d.rule.kind == shouwang_rules::RuleKind::Absence {
        return None;
    }
    let fired_ms = d.ts.div_euclid(1_000_000);
    let first_ms = d.first_seen.div_euclid(1_000_000);
    let end = if now_ms - fired_ms > REPLAY_AFTER_MS {
        fired_ms
    } else {
        now_ms
    };
    Some((end - first_ms).max(0))
}

/// The title an incident shows: the rule's template filled with the
/// latest facts and the incident's count; an overflow incident (many
/// groups folded) is named by the rule alone.
fn title_of(d: &Detection, count: u64) -> Bilingual {
    let t = if d.group == OVERFLOW_GROUP {
        d.rule.title.clone()
    } else {
        d.title(count)
    };
    Bilingual { en: t.en, zh: t.zh }
}

/// Lifecycle settings.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// A resolved incident that recurs within this time is reopened; later
    /// recurrences open a new incident.
    pub reopen_within_ms: i64,
    /// Unacknowledged high and critical incidents escalate after this.
    pub escalate_after_ms: i64,
    /// Open incidents per rule; past this, new groups of the rule fold into
    /// one overflow incident (group `*`) so a spray from thousands of
    /// sources cannot grow the book without bound.
    pub max_open_per_rule: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            reopen_within_ms: 24 * 3600 * 1000,
            escalate_after_ms: 15 * 60 * 1000,
            max_open_per_rule: 1000,
        }
    }
}

/// A scoped, expiring exception made by "resolve as false positive".
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Exception {
    pub id: i64,
    pub rule: String,
    pub group: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub created_by: String,
    pub incident_id: i64,
    #[serde(default)]
    pub reason: String,
}

/// What happened to an incident; the caller stores it and tells listeners.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeKind {
    Opened,
    Updated,
    Reopened,
    Acknowledged,
    Resolved,
    AutoResolved,
    Noted,
    Assigned,
    Escalated,
}

impl ChangeKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Updated => "updated",
            Self::Reopened => "reopened",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
            Self::AutoResolved => "auto_resolved",
            Self::Noted => "note",
            Self::Assigned => "assigned",
            Self::Escalated => "escalated",
        }
    }

    /// Changes worth a notification (not every count update).
    pub fn notifies(&self) -> bool {
        matches!(
            self,
            Self::Opened | Self::Reopened | Self::Escalated | Self::Resolved | Self::AutoResolved
        )
    }
}

#[derive(Debug, Clone)]
pub struct Change {
    pub kind: ChangeKind,
    pub incident: Incident,
    /// The timeline entry to append, if any (count updates have none).
    pub timeline: Option<TimelineEntry>,
}

/// Why an operator action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("no incident {0}")]
    NotFound(i64),
    #[error("incident {0} is resolved")]
    Resolved(i64),
    #[error("{0}")]
    Invalid(String),
}

/// Live incidents (open, acknowledged, and recently resolved for reopening),
/// silences and exceptions.
#[derive(Debug, Default)]
pub struct Book {
    pub policy: Policy,
    by_id: HashMap<i64, Incident>,
    by_fingerprint: HashMap<String, i64>,
    next_id: i64,
    pub silences: Vec<Silence>,
    pub exceptions: Vec<Exception>,
    /// Incidents not resolved, per rule.
    open_per_rule: HashMap<String, usize>,
    /// Detections folded into overflow incidents.
    pub folded: u64,
    /// Detections dropped by an exception.
    pub suppressed: u64,
}

fn matcher_holds(m: &Matcher, i: &Incident) -> bool {
    match m.field.as_str() {
        "rule" => match m.value.strip_suffix('*') {
            Some(prefix) => i.rule.starts_with(prefix),
            None => i.rule == m.value,
        },
        "severity" => i.severity.as_str() == m.value,
        "agent" => i.agents.iter().any(|a| a == &m.value),
        "group" => i.group.contains(&m.value),
        "attack" => i.attack.iter().any(|a| a.starts_with(&m.value)),
        _ => false,
    }
}

/// Fields a silence matcher may name.
pub const MATCHER_FIELDS: [&str; 5] = ["rule", "severity", "agent", "group", "attack"];

pub fn silence_matches(s: &Silence, i: &Incident, now_ms: i64) -> bool {
    now_ms < s.expires_ms
        && !s.matchers.is_empty()
        && s.matchers.iter().all(|m| matcher_holds(m, i))
}

fn entry(now_ms: i64, actor: &str, action: &str, text: impl Into<String>) -> TimelineEntry {
    TimelineEntry {
        ts_ms: now_ms,
        actor: actor.to_owned(),
        action: action.to_owned(),
        text: text.into(),
    }
}

impl Book {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            next_id: 1,
            ..Self::default()
        }
    }

    /// Loads live incidents (from the store, at start).
    pub fn restore(&mut self, incidents: Vec<Incident>, max_id: i64) {
        self.next_id = self.next_id.max(max_id + 1);
        for i in incidents {
            if i.state != IncidentState::Resolved {
                self.opened(&i.rule, &i.group);
            }
            self.by_fingerprint.insert(i.fingerprint.clone(), i.id);
            self.by_id.insert(i.id, i);
        }
    }

    pub fn get(&self, id: i64) -> Option<&Incident> {
        self.by_id.get(&id)
    }

    pub fn live(&self) -> impl Iterator<Item = &Incident> {
        self.by_id.values()
    }

    /// Counts an incident of `rule` as open (overflow incidents do not count).
    fn opened(&mut self, rule: &str, group: &str) {
        if group != OVERFLOW_GROUP {
            *self.open_per_rule.entry(rule.to_owned()).or_default() += 1;
        }
    }

    fn closed(&mut self, rule: &str, group: &str) {
        if group != OVERFLOW_GROUP
            && let Some(n) = self.open_per_rule.get_mut(rule)
        {
            *n = n.saturating_sub(1);
        }
    }

    fn silenced(&self, i: &Incident, now_ms: i64) -> bool {
        self.silences.iter().any(|s| silence_matches(s, i, now_ms))
    }

    /// Applies one detection.
    pub fn detect(&mut self, d: &Detection, now_ms: i64) -> Option<Change> {
        let fingerprint = d.rule.fingerprint(&d.group);
        if self
            .exceptions
            .iter()
            .any(|e| e.rule == d.rule.id && e.group == d.group && now_ms < e.expires_ms)
        {
            self.suppressed += 1;
            return None;
        }
        let existing = self.by_fingerprint.get(&fingerprint).copied();
        if d.clear {
            let id = existing?;
            let inc = self.by_id.get_mut(&id)?;
            if inc.state == IncidentState::Resolved {
                return None;
            }
            inc.state = IncidentState::Resolved;
            let rule = inc.rule.clone();
            inc.resolution = Some(Resolution::Auto);
            inc.resolved_ms = Some(now_ms);
            inc.updated_ms = now_ms;
            inc.rev += 1;
            inc.last_ts = inc.last_ts.max(d.ts);
            let incident = inc.clone();
            self.closed(&rule, &d.group);
            return Some(Change {
                kind: ChangeKind::AutoResolved,
                incident,
                timeline: Some(entry(
                    now_ms,
                    "system",
                    "auto_resolved",
                    "the condition cleared",
                )),
            });
        }
        if let Some(id) = existing
            && let Some(inc) = self.by_id.get(&id)
        {
            let stale = inc.state == IncidentState::Resolved
                && inc
                    .resolved_ms
                    .is_some_and(|r| now_ms - r > self.policy.reopen_within_ms);
            if !stale {
                let silenced = self.silenced(inc, now_ms);
                let inc = self.by_id.get_mut(&id)?;
                let reopen = inc.state == IncidentState::Resolved;
                inc.count += d.count;
                inc.detections += 1;
                // A family's rules may name more techniques than the first.
                for t in &d.rule.attack {
                    if !inc.attack.contains(t) {
                        inc.attack.push(t.clone());
                    }
                }
                inc.title = title_of(d, inc.count);
                if d.rule.kind != shouwang_rules::RuleKind::Absence {
                    inc.first_seen =
                        Some(inc.first_seen.map_or(d.first_seen, |f| f.min(d.first_seen)));
                }
                inc.first_ts = inc.first_ts.min(d.ts);
                inc.last_ts = inc.last_ts.max(d.ts);
                inc.updated_ms = now_ms;
                inc.rev += 1;
                inc.severity = inc.severity.max(d.rule.severity);
                inc.silenced = silenced;
                if inc.exercise.is_none() {
                    inc.exercise.clone_from(&d.exercise);
                }
                if !inc.agents.contains(&d.agent) && inc.agents.len() < MAX_AGENTS {
                    inc.agents.push(d.agent.clone());
                }
                for e in &d.evidence {
                    if inc.evidence.len() >= MAX_EVIDENCE {
                        break;
                    }
                    inc.evidence.push(e.clone());
                }
                if reopen {
                    inc.state = IncidentState::Open;
                    inc.resolution = None;
                    inc.resolved_ms = None;
                    inc.acked_ms = None;
                    inc.escalated = false;
                    inc.opened_ms = now_ms;
                    inc.reopened += 1;
                    let incident = inc.clone();
                    self.opened(&d.rule.id, &d.group);
                    return Some(Change {
                        kind: ChangeKind::Reopened,
                        incident,
                        timeline: Some(entry(now_ms, "system", "reopened", "the rule fired again")),
                    });
                }
                return Some(Change {
                    kind: ChangeKind::Updated,
                    incident: inc.clone(),
                    timeline: None,
                });
            }
            // Too long ago: forget it; a new incident starts below.
            self.by_id.remove(&id);
            self.by_fingerprint.remove(&fingerprint);
        }
        if d.group != OVERFLOW_GROUP
            && self.open_per_rule.get(&d.rule.id).copied().unwrap_or(0)
                >= self.policy.max_open_per_rule
        {
            self.folded += 1;
            let mut folded = d.clone();
            folded.group = OVERFLOW_GROUP.to_owned();
            return self.detect(&folded, now_ms);
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut inc = Incident {
            id,
            fingerprint: fingerprint.clone(),
            rule: d.rule.id.clone(),
            title: title_of(d, d.count),
            description: Bilingual {
                en: d.rule.description.en.clone(),
                zh: d.rule.description.zh.clone(),
            },
            severity: d.rule.severity,
            attack: d.rule.attack.clone(),
            group: d.group.clone(),
            state: IncidentState::Open,
            resolution: None,
            count: d.count,
            detections: 1,
            first_ts: d.ts,
            last_ts: d.ts,
            opened_ms: now_ms,
            updated_ms: now_ms,
            rev: 1,
            acked_ms: None,
            resolved_ms: None,
            assignee: None,
            agents: vec![d.agent.clone()],
            exercise: d.exercise.clone(),
            evidence: d.evidence.iter().take(MAX_EVIDENCE).cloned().collect(),
            escalated: false,
            silenced: false,
            reopened: 0,
            first_seen: (d.rule.kind != shouwang_rules::RuleKind::Absence).then_some(d.first_seen),
            detection_delay_ms: detection_delay_ms(d, now_ms),
        };
        inc.silenced = self.silenced(&inc, now_ms);
        self.opened(&inc.rule, &inc.group);
        self.by_fingerprint.insert(fingerprint, id);
        self.by_id.insert(id, inc.clone());
        Some(Change {
            kind: ChangeKind::Opened,
            incident: inc,
            timeline: Some(entry(
                now_ms,
                "system",
                "opened",
                format!("{} fired", d.rule.id),
            )),
        })
    }

    fn live_mut(&mut self, id: i64) -> Result<&mut Incident, ActionError> {
        let inc = self.by_id.get_mut(&id).ok_or(ActionError::NotFound(id))?;
        if inc.state == IncidentState::Resolved {
            return Err(ActionError::Resolved(id));
        }
        Ok(inc)
    }

    pub fn ack(
        &mut self,
        id: i64,
        actor: &str,
        note: &str,
        now_ms: i64,
    ) -> Result<Change, ActionError> {
        let inc = self.live_mut(id)?;
        if inc.state == IncidentState::Acknowledged {
            return Err(ActionError::Invalid(format!(
                "incident {id} is already acknowledged"
            )));
        }
        inc.state = IncidentState::Acknowledged;
        inc.acked_ms = Some(now_ms);
        inc.updated_ms = now_ms;
        inc.rev += 1;
        if inc.assignee.is_none() {
            inc.assignee = Some(actor.to_owned());
        }
        Ok(Change {
            kind: ChangeKind::Acknowledged,
            incident: inc.clone(),
            timeline: Some(entry(now_ms, actor, "acknowledged", note)),
        })
    }

    /// Resolves; as a false positive, also returns the exception to store
    /// (its id is filled in by the caller).
    pub fn resolve(
        &mut self,
        id: i64,
        actor: &str,
        note: &str,
        false_positive: Option<i64>,
        now_ms: i64,
    ) -> Result<(Change, Option<Exception>), ActionError> {
        let inc = self.live_mut(id)?;
        inc.state = IncidentState::Resolved;
        let rule = inc.rule.clone();
        inc.resolved_ms = Some(now_ms);
        inc.updated_ms = now_ms;
        inc.rev += 1;
        inc.resolution = Some(if false_positive.is_some() {
            Resolution::FalsePositive
        } else {
            Resolution::Operator
        });
        let inc = inc.clone();
        self.closed(&rule, &inc.group);
        let exception = false_positive.map(|expires_ms| Exception {
            id: 0,
            rule: inc.rule.clone(),
            group: inc.group.clone(),
            created_ms: now_ms,
            expires_ms,
            created_by: actor.to_owned(),
            incident_id: id,
            reason: note.to_owned(),
        });
        if let Some(e) = &exception {
            self.exceptions.push(e.clone());
        }
        let text = match &exception {
            Some(e) => format!(
                "false positive; {} for {} suppressed until {} ms{}{}",
                e.rule,
                e.group,
                e.expires_ms,
                if note.is_empty() { "" } else { ": " },
                note
            ),
            None => note.to_owned(),
        };
        Ok((
            Change {
                kind: ChangeKind::Resolved,
                incident: inc,
                timeline: Some(entry(now_ms, actor, "resolved", text)),
            },
            exception,
        ))
    }

    pub fn note(
        &mut self,
        id: i64,
        actor: &str,
        text: &str,
        now_ms: i64,
    ) -> Result<Change, ActionError> {
        if text.trim().is_empty() {
            return Err(ActionError::Invalid("a note needs text".into()));
        }
        // Notes may be added to resolved incidents too (post-mortems).
        let inc = self.by_id.get_mut(&id).ok_or(ActionError::NotFound(id))?;
        inc.updated_ms = now_ms;
        inc.rev += 1;
        Ok(Change {
            kind: ChangeKind::Noted,
            incident: inc.clone(),
            timeline: Some(entry(now_ms, actor, "note", text)),
        })
    }

    pub fn assign(
        &mut self,
        id: i64,
        actor: &str,
        assignee: &str,
        now_ms: i64,
    ) -> Result<Change, ActionError> {
        if assignee.trim().is_empty() || assignee.len() > 64 {
            return Err(ActionError::Invalid(
                "an assignee is a name of 1 to 64 characters".into(),
            ));
        }
        let inc = self.live_mut(id)?;
        inc.assignee = Some(assignee.to_owned());
        inc.updated_ms = now_ms;
        inc.rev += 1;
        Ok(Change {
            kind: ChangeKind::Assigned,
            incident: inc.clone(),
            timeline: Some(entry(now_ms, actor, "assigned", assignee)),
        })
    }

    /// Escalates overdue incidents, expires silences and exceptions, and
    /// forgets resolved incidents past the reopen window.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Change> {
        let mut out = Vec::new();
        let after = self.policy.escalate_after_ms;
        for inc in self.by_id.values_mut() {
            if inc.state == IncidentState::Open
                && !inc.escalated
                && inc.severity >= Severity::High
                && now_ms - inc.opened_ms >= after
            {
                inc.escalated = true;
                inc.updated_ms = now_ms;
                inc.rev += 1;
                out.push(Change {
                    kind: ChangeKind::Escalated,
                    incident: inc.clone(),
                    timeline: Some(entry(
                        now_ms,
                        "system",
                        "escalated",
                        format!("not acknowledged within {} min", after / 60_000),
                    )),
                });
            }
        }
        self.silences.retain(|s| s.expires_ms > now_ms);
        self.exceptions.retain(|e| e.expires_ms > now_ms);
        let window = self.policy.reopen_within_ms;
        let gone: Vec<(i64, String)> = self
            .by_id
            .values()
            .filter(|i| {
                i.state == IncidentState::Resolved
                    && i.resolved_ms.is_some_and(|r| now_ms - r > window)
            })
            .map(|i| (i.id, i.fingerprint.clone()))
            .collect();
        for (id, fp) in gone {
            self.by_id.remove(&id);
            if self.by_fingerprint.get(&fp) == Some(&id) {
                self.by_fingerprint.remove(&fp);
            }
        }
        out
    }

    /// Open (not resolved) incidents by severity.
    pub fn open_by_severity(&self) -> [(Severity, u64); 5] {
        let mut out = Severity::ALL.map(|s| (s, 0u64));
        for i in self
            .by_id
            .values()
            .filter(|i| i.state != IncidentState::Resolved)
        {
            if let Some(slot) = out.iter_mut().find(|(s, _)| *s == i.severity) {
                slot.1 += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use shouwang_rules::spec::Text;
    use shouwang_rules::{RuleKind, RuleMeta};

    fn det(rule: &str, group: &str, ts: i64, clear: bool) -> Detection {
        Detection {
            rule: Arc::new(RuleMeta {
                id: rule.into(),
                title: Text {
                    en: "t".into(),
                    zh: "t".into(),
                },
                description: Text {
                    en: "d".into(),
                    zh: "d".into(),
                },
                severity: Severity::High,
                attack: vec!["T1046".into()],
                kind: RuleKind::Threshold,
                file: "x.toml".into(),
                template: None,
                family: None,
            }),
            group: group.into(),
            ts,
            agent: "a1".into(),
            exercise: None,
            count: 10,
            evidence: vec![serde_json::json!({"kind": "flow"})],
            clear,
            first_seen: ts,
            facts: Vec::new(),
        }
    }

    #[test]
    fn rules_of_one_family_share_one_incident_per_attacker() {
        let fam = |rule: &str, group: &str, ts: i64| {
            let mut d = det(rule, group, ts, false);
            let mut meta = (*d.rule).clone();
            meta.family = Some(shouwang_rules::compile::Family {
                id: "network.dns.tunnel".into(),
                by: vec!["src".into()],
            });
            d.rule = Arc::new(meta);
            d
        };
        let mut b = Book::new(Policy::default());
        let first = b
            .detect(
                &fam("dns.random", "src=10.0.0.9 qname_base=t.example", 1),
                10,
            )
            .unwrap();
        assert_eq!(first.kind, ChangeKind::Opened);
        let second = b.detect(&fam("dns.long", "src=10.0.0.9", 2), 20).unwrap();
        assert_eq!(
            (second.kind, second.incident.id),
            (ChangeKind::Updated, first.incident.id),
            "another rule of the family, same attacker: the same incident"
        );
        assert_eq!(second.incident.detections, 2);
        let other = b.detect(&fam("dns.long", "src=10.0.0.10", 3), 30).unwrap();
        assert_eq!(other.kind, ChangeKind::Opened, "another attacker");
        // Outside a family each rule keeps its own incident.
        let plain = b
            .detect(&det("dns.txt", "src=10.0.0.9", 4, false), 40)
            .unwrap();
        assert_eq!(plain.kind, ChangeKind::Opened);
    }

    #[test]
    fn recurrences_update_one_incident_then_reopen_after_resolve() {
        let mut b = Book::new(Policy::default());
        let c = b.detect(&det("r", "src=1.2.3.4", 1, false), 1000).unwrap();
        assert_eq!(c.kind, ChangeKind::Opened);
        let id = c.incident.id;
        for t in 2..30 {
            let c = b
                .detect(&det("r", "src=1.2.3.4", t, false), 1000 + t)
                .unwrap();
            assert_eq!((c.kind, c.incident.id), (ChangeKind::Updated, id));
        }
        let inc = b.get(id).unwrap();
        assert_eq!((inc.count, inc.detections, inc.last_ts), (290, 29, 29));
        assert_eq!(inc.evidence.len(), MAX_EVIDENCE);
        // Another group is another incident.
        let other = b.detect(&det("r", "src=5.6.7.8", 1, false), 2000).unwrap();
        assert_ne!(other.incident.id, id);

        b.ack(id, "alice", "looking", 3000).unwrap();
        assert!(b.ack(id, "bob", "", 3001).is_err(), "double ack");
        assert_eq!(b.get(id).unwrap().assignee.as_deref(), Some("alice"));
        b.resolve(id, "alice", "blocked at the firewall", None, 4000)
            .unwrap();
        assert_eq!(
            b.ack(id, "alice", "", 4001).unwrap_err(),
            ActionError::Resolved(id)
        );
        let c = b.detect(&det("r", "src=1.2.3.4", 50, false), 5000).unwrap();
        assert_eq!(
            (c.kind, c.incident.id, c.incident.reopened),
            (ChangeKind::Reopened, id, 1)
        );
        assert_eq!(c.incident.state, IncidentState::Open);
        // Resolved long ago: a new incident.
        b.resolve(id, "alice", "", None, 6000).unwrap();
        let later = 6000 + Policy::default().reopen_within_ms + 1;
        let c = b
            .detect(&det("r", "src=1.2.3.4", 60, false), later)
            .unwrap();
        assert_eq!(c.kind, ChangeKind::Opened);
        assert_ne!(c.incident.id, id);
    }

    #[test]
    fn clear_auto_resolves_and_false_positive_suppresses() {
        let mut b = Book::new(Policy::default());
        let id = b
            .detect(&det("off", "agent=a1", 1, false), 10)
            .unwrap()
            .incident
            .id;
        let c = b.detect(&det("off", "agent=a1", 2, true), 20).unwrap();
        assert_eq!(c.kind, ChangeKind::AutoResolved);
        assert_eq!(c.incident.resolution, Some(Resolution::Auto));
        assert!(
            b.detect(&det("off", "agent=a1", 3, true), 30).is_none(),
            "already resolved"
        );

        let id2 = b
            .detect(&det("r", "src=9.9.9.9", 1, false), 100)
            .unwrap()
            .incident
            .id;
        let (c, exc) = b
            .resolve(id2, "bob", "backup job", Some(10_000), 200)
            .unwrap();
        assert_eq!(c.incident.resolution, Some(Resolution::FalsePositive));
        let exc = exc.unwrap();
        assert_eq!(
            (
                exc.rule.as_str(),
                exc.group.as_str(),
                exc.created_by.as_str()
            ),
            ("r", "src=9.9.9.9", "bob")
        );
        assert!(b.detect(&det("r", "src=9.9.9.9", 2, false), 300).is_none());
        assert_eq!(b.suppressed, 1);
        // Other groups are not covered; after expiry the rule fires again.
        assert!(b.detect(&det("r", "src=9.9.9.8", 2, false), 300).is_some());
        b.tick(10_001);
        assert!(
            b.detect(&det("r", "src=9.9.9.9", 3, false), 10_002)
                .is_some()
        );
        assert_ne!(id, id2);
    }

    #[test]
    fn a_spray_of_groups_folds_into_one_overflow_incident() {
        let mut b = Book::new(Policy {
            max_open_per_rule: 3,
            ..Policy::default()
        });
        for i in 0..10 {
            b.detect(&det("r", &format!("src=10.0.0.{i}"), i, false), 100 + i)
                .unwrap();
        }
        assert_eq!(b.live().count(), 4, "3 incidents and the overflow one");
        let over = b.live().find(|i| i.group == OVERFLOW_GROUP).unwrap();
        assert_eq!((over.detections, over.fingerprint.as_str()), (7, "r/*"));
        assert_eq!(b.folded, 7);
        // Resolving one makes room again.
        let first = b.live().find(|i| i.group == "src=10.0.0.0").unwrap().id;
        b.resolve(first, "ops", "", None, 200).unwrap();
        let c = b
            .detect(&det("r", "src=10.0.0.99", 20, false), 300)
            .unwrap();
        assert_eq!(
            (c.kind, c.incident.group.as_str()),
            (ChangeKind::Opened, "src=10.0.0.99")
        );
    }

    #[test]
    fn silences_mark_and_escalation_waits_for_ack() {
        let mut b = Book::new(Policy {
            reopen_within_ms: 1000,
            escalate_after_ms: 500,
            ..Policy::default()
        });
        b.silences.push(Silence {
            id: 1,
            matchers: vec![
                Matcher {
                    field: "attack".into(),
                    value: "T1046".into(),
                },
                Matcher {
                    field: "group".into(),
                    value: "src=1.2.3.4".into(),
                },
            ],
            created_ms: 0,
            expires_ms: 100,
            created_by: "ops".into(),
            comment: "scanner test".into(),
        });
        let a = b
            .detect(&det("r", "src=1.2.3.4", 1, false), 10)
            .unwrap()
            .incident;
        assert!(a.silenced);
        let c = b
            .detect(&det("r", "src=1.2.3.5", 1, false), 10)
            .unwrap()
            .incident;
        assert!(!c.silenced, "matchers all hold or none");
        b.ack(c.id, "alice", "", 20).unwrap();
        let esc = b.tick(510);
        assert_eq!(esc.len(), 1, "only the unacknowledged one escalates");
        assert_eq!(esc[0].incident.id, a.id);
        assert!(b.tick(600).is_empty(), "once");
        assert!(b.silences.is_empty(), "expired silences are dropped");
    }
}
