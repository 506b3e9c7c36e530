//! Each rule file's own `[[test]]` cases: events in, fires or stays quiet.
//!
//! A test event is written in the wire format (`shouwang-agent pcap --emit
//! jsonl` prints the same shape) but only the fields that matter: the rest
//! come from a template per kind. Keys the runner reads itself:
//! `kind`, `at` (offset from the test's start, default: the previous
//! event's), `repeat` and `step` (the event `repeat` times, `step` apart),
//! `agent`, `exercise`, and `tick` (move the clock to this offset without an
//! event, for absence rules). In string values `{i}`, `{i+N}`, `{i*N}`,
//! `{i/N}` and `{i%N}` are replaced with the repetition number.

use std::sync::Arc;

use serde_json::{Map, Value as Json};
use shouwang_proto::{Event, EventKind};
use toml::Spanned;

use crate::compile::{CompiledRule, Ruleset};
use crate::engine::{Detection, Engine};
use crate::spec::TestSpec;

/// Capture time the tests start at: 2024-01-01T00:00:00Z.
pub const TEST_EPOCH_NS: i64 = 1_704_067_200_000_000_000;

/// One test's outcome.
#[derive(Debug, Clone)]
pub struct TestResult {
    pub rule: String,
    pub name: String,
    pub file: String,
    pub line: usize,
    /// `None` when it passed.
    pub failure: Option<String>,
}

const ENDPOINTS: &str = r#""src":"192.0.2.10","src_port":40000,"dst":"192.0.2.20","dst_port":80"#;

fn template(kind: EventKind) -> Json {
    let text = match kind {
        EventKind::Flow => format!(
            r#"{{"iface":"eth0","proto":6,{ENDPOINTS},"first_ts":0,"last_ts":0,"packets_to_server":1,"bytes_to_server":60,"packets_to_client":0,"bytes_to_client":0,"tcp_flags_to_server":2,"tcp_flags_to_client":0,"syn":1,"syn_ack":0,"rst":0,"fin":0,"tcp_state":"syn_sent","end":"idle"}}"#
        ),
        EventKind::IfaceStats => r#"{"iface":"eth0","interval_ms":10000,"packets":0,"bytes":0,"packets_per_sec":0.0,"bits_per_sec":0.0,"syn":0,"syn_per_sec":0.0,"kernel_drops":0,"agent_drops":0,"malformed":0,"flow_evictions":0}"#.to_owned(),
        EventKind::Dns => format!(
            r#"{{{ENDPOINTS},"transport":"udp","id":1,"response":false,"qname":"example.com","qtype":"A","answers":[],"size":40}}"#
        ),
        EventKind::Tls => format!(r#"{{{ENDPOINTS},"sni":"example.com","version":"1.3","alpn":[],"ja4":"t13d1516h2_8daaf6152771_02713d6af862"}}"#),
        EventKind::HttpRequest => format!(
            r#"{{{ENDPOINTS},"method":"GET","uri":"/","version":"HTTP/1.1","host":"example.com","headers":[]}}"#
        ),
        EventKind::HttpResponse => format!(r#"{{{ENDPOINTS},"version":"HTTP/1.1","status":200}}"#),
        EventKind::SshBanner => format!(r#"{{{ENDPOINTS},"banner":"SSH-2.0-OpenSSH_9.2","from_server":true}}"#),
        EventKind::IcmpEcho => r#"{"src":"192.0.2.10","dst":"192.0.2.20","reply":false,"payload_len":56,"entropy":1.0,"id":1,"seq":0,"fill":false,"first_ts":0,"requests":0,"replies":0,"request_bytes":0,"reply_bytes":0,"mismatched":0,"unsolicited":0,"opaque_bytes":0}"#.to_owned(),
        EventKind::Fanout => r#"{"direction":"out","proto":6,"src":"192.0.2.10","dst":"192.0.2.20","dst_port":80,"first_ts":0,"probes":0,"answered":0,"packets":0,"hosts":0,"ports":0,"recent_packets":0,"recent_unanswered":0,"recent_hosts":0,"recent_ports":0,"window_ports":0}"#.to_owned(),
        EventKind::LoginReply => format!(r#"{{{ENDPOINTS},"protocol":"ftp","success":false,"reply":"530 Login incorrect."}}"#),
        EventKind::Arp => r#"{"ip":"192.0.2.1","mac":"02:00:00:00:00:01"}"#.to_owned(),
        EventKind::Auth => r#"{"service":"sshd","outcome":"failure","user":"root","source_addr":"192.0.2.10","message":"Failed password for root"}"#.to_owned(),
        EventKind::ListenChange => r#"{"change":"opened","proto":"tcp","addr":"0.0.0.0","port":4444}"#.to_owned(),
        EventKind::ListenSnapshot => r#"{"sockets":[]}"#.to_owned(),
        EventKind::Notice => r#"{"level":"info","component":"agent","message":""}"#.to_owned(),
        EventKind::FileChange => r#"{"root":"/var/www/portal","path":"index.html","change":"modified","size":1024,"sha256":"aa","baseline_sha256":"bb"}"#.to_owned(),
        EventKind::SiteCheck => r#"{"url":"https://www.example.gov.cn/","up":true,"status":200,"response_ms":120,"defacement_score":0.0,"cloaking":false,"tls_days_left":200}"#.to_owned(),
        EventKind::HostSample => {
            return serde_json::to_value(shouwang_proto::HostSample::default()).unwrap_or_default();
        }
        EventKind::Heartbeat => {
            return serde_json::to_value(shouwang_proto::Heartbeat::default()).unwrap_or_default();
        }
        EventKind::DataGap => {
            return serde_json::to_value(shouwang_proto::DataGap::default()).unwrap_or_default();
        }
    };
    serde_json::from_str(&text).unwrap_or_default()
}

fn toml_to_json(v: &toml::Value) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

/// Replaces `{i}`-style expressions.
fn substitute(s: &str, i: u64) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("{i") {
        out.push_str(rest.get(..start).unwrap_or_default());
        let after = rest.get(start + 2..).unwrap_or_default();
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{i` in `{s}`"))?;
        let expr = after.get(..end).unwrap_or_default();
        let v = if expr.is_empty() {
            i
        } else {
            let (op, num) = expr.split_at(1);
            let n: u64 = num.parse().map_err(|_| {
                format!("`{{i{expr}}}`: expected `{{i+N}}`, `{{i*N}}`, `{{i/N}}` or `{{i%N}}`")
            })?;
            match op {
                "+" => i + n,
                "*" => i * n,
                "/" if n > 0 => i / n,
                "%" if n > 0 => i % n,
                _ => {
                    return Err(format!(
                        "`{{i{expr}}}`: expected `{{i+N}}`, `{{i*N}}`, `{{i/N}}` or `{{i%N}}`"
                    ));
                }
            }
        };
        out.push_str(&v.to_string());
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

/// Deep-merges `over` into `base`; keys `base` lacks are errors.
fn merge(base: &mut Json, over: &Map<String, Json>, path: &str, i: u64) -> Result<(), String> {
    let Some(obj) = base.as_object_mut() else {
        return Err(format!("`{path}` is not a table"));
    };
    for (k, v) in over {
        let here = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        let Some(slot) = obj.get_mut(k) else {
            // Optional fields are absent from templates; allow the known
            // optional ones by letting deserialisation judge them.
            obj.insert(k.clone(), subst_json(v, None, i)?);
            continue;
        };
        match (slot.is_object(), v.as_object()) {
            (true, Some(sub)) => merge(slot, sub, &here, i)?,
            _ => {
                let nv = subst_json(v, Some(slot), i)?;
                *slot = nv;
            }
        }
    }
    Ok(())
}

fn subst_json(v: &Json, old: Option<&Json>, i: u64) -> Result<Json, String> {
    Ok(match v {
        Json::String(s) if s.contains("{i") => {
            let t = substitute(s, i)?;
            match old {
                Some(Json::Number(_)) => {
                    t.parse::<u64>().map(Json::from).unwrap_or(Json::String(t))
                }
                _ => Json::String(t),
            }
        }
        Json::Array(a) => Json::Array(
            a.iter()
                .map(|x| subst_json(x, None, i))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

fn dur(v: &toml::Value, key: &str) -> Result<i64, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("`{key}` is a duration string such as \"10s\""))?;
    humantime::parse_duration(s)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .map_err(|e| format!("`{key} = \"{s}\"`: {e}"))
}

/// What a test feeds the engine, in order.
pub enum Step {
    Event {
        agent: String,
        exercise: Option<String>,
        event: Box<Event>,
    },
    /// Move the clock to this capture time (ns) without an event.
    Tick(i64),
}

/// Expands a test's events.
fn expand(spec: &TestSpec) -> Result<Vec<Step>, String> {
    let tables: Vec<&toml::Table> = spec.events.iter().map(Spanned::get_ref).collect();
    expand_events(&tables, TEST_EPOCH_NS)
}

/// Expands events written in the test syntax (see the module docs) into
/// engine input, the first at capture time `start_ns`. `shouwang-drill`
/// uses it for its `inject` steps.
pub fn expand_events(events: &[&toml::Table], start_ns: i64) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut at = 0i64;
    for (n, t) in events.iter().enumerate() {
        let which = format!("event {}", n + 1);
        if let Some(v) = t.get("at") {
            at = dur(v, "at")?;
        }
        if let Some(v) = t.get("tick") {
            steps.push(Step::Tick(start_ns + dur(v, "tick")?));
            continue;
        }
        let kind_name = t
            .get("kind")
            .and_then(toml::Value::as_str)
            .ok_or_else(|| format!("{which}: needs `kind = \"flow\"` (or `tick`)"))?;
        let kind = EventKind::ALL
            .iter()
            .find(|k| k.as_str() == kind_name)
            .copied()
            .ok_or_else(|| format!("{which}: unknown kind `{kind_name}`"))?;
        let repeat = t.get("repeat").map_or(Ok(1), |v| {
            v.as_integer()
                .and_then(|r| u64::try_from(r).ok())
                .filter(|r| (1..=1_000_000).contains(r))
                .ok_or_else(|| format!("{which}: `repeat` is a count from 1 to 1000000"))
        })?;
        let step = t
            .get("step")
            .map_or(Ok(1_000_000_000), |v| dur(v, "step"))?;
        let agent = t
            .get("agent")
            .and_then(toml::Value::as_str)
            .unwrap_or("test-agent")
            .to_owned();
        let exercise = t
            .get("exercise")
            .and_then(toml::Value::as_str)
            .map(str::to_owned);
        let mut fields = Map::new();
        for (k, v) in *t {
            if !matches!(
                k.as_str(),
                "kind" | "at" | "repeat" | "step" | "agent" | "exercise"
            ) {
                fields.insert(k.clone(), toml_to_json(v));
            }
        }
        for i in 0..repeat {
            let ts = start_ns + at + step * i64::try_from(i).unwrap_or(0);
            let mut body = template(kind);
            if kind == EventKind::Flow
                && let Some(o) = body.as_object_mut()
            {
                o.insert("first_ts".into(), Json::from(ts));
                o.insert("last_ts".into(), Json::from(ts));
            }
            if kind == EventKind::Fanout
                && let Some(o) = body.as_object_mut()
            {
                o.insert("first_ts".into(), Json::from(ts));
            }
            merge(&mut body, &fields, "", i).map_err(|e| format!("{which}: {e}"))?;
            if let Some(o) = body.as_object_mut() {
                o.insert("kind".into(), Json::String(kind_name.to_owned()));
                o.insert("ts".into(), Json::from(ts));
            }
            let event: Event = serde_json::from_value(body)
                .map_err(|e| format!("{which}: not a valid `{kind_name}` event: {e}"))?;
            steps.push(Step::Event {
                agent: agent.clone(),
                exercise: exercise.clone(),
                event: Box::new(event),
            });
        }
        if repeat > 1 {
            at += step * i64::try_from(repeat).unwrap_or(0);
        }
    }
    Ok(steps)
}

/// Runs one rule's test against the whole set (other rules' detections are
/// ignored); returns its detections.
pub fn run_test(
    set: &Arc<Ruleset>,
    rule: &CompiledRule,
    spec: &TestSpec,
) -> Result<Vec<Detection>, String> {
    let steps = expand(spec)?;
    let mut engine = Engine::new(Arc::clone(set));
    let mut out = Vec::new();
    for s in steps {
        match s {
            Step::Event {
                agent,
                exercise,
                event,
            } => {
                engine.process(&agent, exercise.as_deref(), &event, &mut out);
            }
            Step::Tick(now) => engine.tick(now, &mut out),
        }
    }
    out.retain(|d| d.rule.id == rule.meta.id);
    Ok(out)
}

fn judge(spec: &TestSpec, got: &[Detection]) -> Option<String> {
    let fired: Vec<&Detection> = got.iter().filter(|d| !d.clear).collect();
    let cleared = got.iter().any(|d| d.clear);
    if spec.fires && fired.is_empty() {
        return Some("expected it to fire; it did not".to_owned());
    }
    if !spec.fires && !fired.is_empty() {
        return Some(format!(
            "expected no detection; it fired {} time(s), first for `{}`",
            fired.len(),
            fired.first().map_or("", |d| d.group.as_str())
        ));
    }
    if let Some(n) = spec.detections
        && fired.len() as u64 != n
    {
        return Some(format!("expected {n} detection(s), got {}", fired.len()));
    }
    if let Some(g) = &spec.group
        && let Some(first) = fired.first()
        && &first.group != g
    {
        return Some(format!("expected group `{g}`, got `{}`", first.group));
    }
    if let Some(c) = spec.clears
        && c != cleared
    {
        return Some(if c {
            "expected the condition to clear; it did not".to_owned()
        } else {
            "expected no clear; got one".to_owned()
        });
    }
    if spec.title.is_some() || spec.title_zh.is_some() {
        let Some(t) = incident_title(&fired) else {
            return Some("expected a title; nothing fired".to_owned());
        };
        for (want, got) in [(&spec.title, &t.en), (&spec.title_zh, &t.zh)] {
            if let Some(w) = want
                && w != got
            {
                return Some(format!("expected title `{w}`, got `{got}`"));
            }
        }
    }
    None
}

/// The title the incident of the first detection's group has after every
/// detection: the latest facts, every detection's count added up (as the
/// incident book does).
pub fn incident_title(fired: &[&Detection]) -> Option<crate::spec::Text> {
    let group = &fired.first()?.group;
    let mine: Vec<&&Detection> = fired.iter().filter(|d| &d.group == group).collect();
    let total = mine.iter().map(|d| d.count).sum();
    Some(mine.last()?.title(total))
}

/// Runs every test of every rule in the set (disabled rules included).
pub fn run_all(set: &Arc<Ruleset>) -> Vec<TestResult> {
    let mut results = Vec::new();
    for rule in &set.rules {
        for t in &rule.tests {
            let (line, _) = shouwang_proto::config::line_column(&rule.source, t.span().start);
            let failure = match run_test(set, rule, t.get_ref()) {
                Ok(got) => judge(t.get_ref(), &got),
                Err(e) => Some(e),
            };
            results.push(TestResult {
                rule: rule.meta.id.clone(),
                name: t.get_ref().name.clone(),
                file: rule.meta.file.clone(),
                line,
                failure,
            });
        }
    }
    results
}

/// Rules without a test that fires and one that stays quiet.
pub fn untested(set: &Ruleset) -> Vec<String> {
    set.rules
        .iter()
        .filter(|r| {
            !(r.tests.iter().any(|t| t.get_ref().fires)
                && r.tests
                    .iter()
                    .any(|t: &Spanned<TestSpec>| !t.get_ref().fires))
        })
        .map(|r| r.meta.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution() {
        assert_eq!(
            substitute("10.0.{i/256}.{i%256}", 300).unwrap(),
            "10.0.1.44"
        );
        assert_eq!(substitute("port {i+1000}", 5).unwrap(), "port 1005");
        assert!(substitute("{i^2}", 1).is_err());
        assert!(substitute("{i", 1).is_err());
    }

    #[test]
    fn every_template_deserialises() {
        for k in EventKind::ALL {
            let mut body = template(k);
            let o = body.as_object_mut().unwrap();
            o.insert("kind".into(), Json::String(k.as_str().into()));
            o.insert("ts".into(), Json::from(TEST_EPOCH_NS));
            let e: Event = serde_json::from_value(body).unwrap_or_else(|e| panic!("{k}: {e}"));
            assert_eq!(e.kind(), k);
        }
    }
}
