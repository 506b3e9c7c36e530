//! A deterministic, made-up fleet for snapshot tests and the render
//! benchmark: incidents, agents grouped by region, sites, rules, a shift
//! log and a live tail, fed through [`App::handle`] like network messages.

use shouwang_proto::{Bilingual, DutyEntry, DutyKind, DutyView, Incident, IncidentState, Severity};

use crate::app::{App, Input, NetMsg, Settings};
use crate::i18n::Lang;
use crate::live::LiveEvent;
use shouwang_proto::api::{
    AgentStatus, AgentView, CaptureStatus, HostSummary, RuleView, RulesView, SiteStatus, Stats,
};
use shouwang_proto::{LimitStatus, QueueStats};

/// 2026-11-21 10:00:00 in UTC+8.
pub const NOW_MS: i64 = 1_795_226_400_000;
/// UTC+8.
pub const OFFSET: i32 = 8 * 3600;

struct Template {
    rule: &'static str,
    en: &'static str,
    zh: &'static str,
    severity: Severity,
    attack: &'static [&'static str],
    group: &'static str,
}

const TEMPLATES: [Template; 8] = [
    Template {
        rule: "integrity.site.defacement-confirmed",
        en: "Portal defaced: index.html changed and the page shows a hacker signature",
        zh: "门户网站被篡改:index.html 变更且页面出现黑客标识",
        severity: Severity::Critical,
        attack: &["T1491.002"],
        group: "site=portal",
    },
    Template {
        rule: "host.auth.ssh-bruteforce",
        en: "SSH brute force against root on web-03",
        zh: "针对 web-03 root 账户的 SSH 暴力破解",
        severity: Severity::High,
        attack: &["T1110.001"],
        group: "src=203.0.113.5",
    },
    Template {
        rule: "network.scan.tcp-ports",
        en: "Port scan from 198.51.100.7",
        zh: "来自 198.51.100.7 的端口扫描",
        severity: Severity::Medium,
        attack: &["T1046"],
        group: "src=198.51.100.7",
    },
    Template {
        rule: "integrity.site.hidden-links",
        en: "Hidden links on www.example.gov.cn",
        zh: "www.example.gov.cn 出现暗链",
        severity: Severity::High,
        attack: &["T1491"],
        group: "url=https://www.example.gov.cn/",
    },
    Template {
        rule: "host.listen.new-port",
        en: "New listening port 4444 on db-01",
        zh: "db-01 新增监听端口 4444",
        severity: Severity::Medium,
        attack: &["T1571"],
        group: "port=4444",
    },
    Template {
        rule: "integrity.site.tls-expiring",
        en: "Certificate of mail.example.gov.cn expires in 5 days",
        zh: "mail.example.gov.cn 证书 5 天后到期",
        severity: Severity::Low,
        attack: &[],
        group: "url=https://mail.example.gov.cn/",
    },
    Template {
        rule: "network.dns.tunnel",
        en: "Possible DNS tunnel from 10.8.2.14",
        zh: "10.8.2.14 疑似 DNS 隧道",
        severity: Severity::Medium,
        attack: &["T1071.004"],
        group: "src=10.8.2.14",
    },
    Template {
        rule: "host.agent.offline",
        en: "Agent town-07-gw went offline",
        zh: "探针 town-07-gw 离线",
        severity: Severity::Info,
        attack: &[],
        group: "agent=town-07-gw",
    },
];

/// `n` active incidents; every third acknowledged, ages spread over
/// `spacing_ms`.
pub fn incidents(n: usize, spacing_ms: i64) -> Vec<Incident> {
    (0..n)
        .map(|i| {
            let t = &TEMPLATES[i % TEMPLATES.len()];
            let opened = NOW_MS - 60_000 - spacing_ms * i as i64;
            let acked = i % 3 == 2;
            Incident {
                id: (n - i) as i64,
                fingerprint: format!("{}/{}#{i}", t.rule, t.group),
                rule: t.rule.into(),
                title: Bilingual {
                    en: t.en.into(),
                    zh: t.zh.into(),
                },
                description: Bilingual {
                    en: "Raised by the fixture.".into(),
                    zh: "测试数据生成。".into(),
                },
                severity: t.severity,
                attack: t.attack.iter().map(|s| (*s).to_owned()).collect(),
                group: t.group.into(),
                state: if acked {
                    IncidentState::Acknowledged
                } else {
                    IncidentState::Open
                },
                resolution: None,
                count: 40 + i as u64,
                detections: 1 + (i as u64 % 4),
                first_ts: opened * 1_000_000,
                last_ts: opened * 1_000_000,
                opened_ms: opened,
                updated_ms: opened + 30_000,
                rev: 1,
                acked_ms: acked.then_some(opened + 60_000),
                resolved_ms: None,
                assignee: (i % 4 == 1).then(|| "li.na".to_owned()),
                agents: vec![format!("web-{:02}", i % 12 + 1)],
                exercise: None,
                evidence: vec![serde_json::json!({
                    "kind": "auth", "agent": format!("web-{:02}", i % 12 + 1),
                    "ts": opened * 1_000_000, "user": "root", "outcome": "failure",
                    "src": "203.0.113.5"
                })],
                escalated: false,
                silenced: false,
                reopened: 0,
                first_seen: Some((opened - 1_500 - (i as i64 % 7) * 700) * 1_000_000),
                detection_delay_ms: Some(1_500 + (i as i64 % 7) * 700),
            }
        })
        .collect()
}

const DISTRICTS: [&str; 3] = ["城关区", "七里河区", "安宁区"];
const TOWNS: [&str; 2] = ["东岗镇", "西果园镇"];
const SITES: [&str; 2] = ["政务中心", "卫健委"];

/// `n` agents across 3 districts × 2 towns × 2 sites.
pub fn agents(n: usize) -> Vec<AgentView> {
    (0..n)
        .map(|i| {
            let (d, t, s) = (i % 3, (i / 3) % 2, (i / 6) % 2);
            let status = if i % 11 == 10 {
                AgentStatus::NeverSeen
            } else if i % 13 == 12 {
                AgentStatus::Stopped
            } else if i % 7 == 6 {
                AgentStatus::Offline
            } else {
                AgentStatus::Online
            };
            let seen = status != AgentStatus::NeverSeen;
            AgentView {
                name: format!("gw-{d}{t}{s}-{i:03}"),
                status,
                labels: serde_json::json!({
                    "district": DISTRICTS[d],
                    "town": TOWNS[t],
                    "site": SITES[s],
                }),
                last_seen_ms: seen.then(|| {
                    if status == AgentStatus::Offline {
                        NOW_MS - 3_600_000
                    } else {
                        NOW_MS - 4_000
                    }
                }),
                agent_version: seen.then(|| "0.1.0".to_owned()),
                hostname: seen.then(|| format!("host-{i:03}")),
                queue: seen.then_some(QueueStats {
                    queued_batches: (i % 5) as u64,
                    // One agent came back from an outage longer than its
                    // spool: its host samples were dropped.
                    dropped_events: if i == 4 { 1_234 } else { 0 },
                    ..QueueStats::default()
                }),
                // One agent is over its own budget and sheds load.
                limits: seen.then_some(LimitStatus {
                    cpu_pct: if i == 7 { 63.0 } else { (i % 9) as f32 },
                    overloaded: i == 7,
                    sample_every: if i == 7 { 8 } else { 1 },
                    rate_limited_host_events: 0,
                    rate_limited_network_events: if i == 7 { 5_400 } else { 0 },
                    ..LimitStatus::default()
                }),
                host: seen.then_some(HostSummary {
                    cpu_pct: (i * 7 % 100) as f32,
                    memory_used: (30 + i % 60) as u64 * 1_000_000,
                    memory_total: 100_000_000,
                    ..HostSummary::default()
                }),
                capture: (seen && i % 2 == 0).then_some(CaptureStatus {
                    packets: 1_000_000,
                    kernel_drops: (i % 4 * 10) as u64,
                    agent_drops: 0,
                    ..CaptureStatus::default()
                }),
                ..AgentView::default()
            }
        })
        .collect()
}

fn sites() -> Vec<SiteStatus> {
    let s = |url: &str, state: &str, status, ms, tls, score, findings: &[&str]| SiteStatus {
        url: url.into(),
        site: None,
        agent: "probe-01".into(),
        ts: (NOW_MS - 30_000) * 1_000_000,
        state: state.into(),
        up: state != "down",
        status,
        error: status.is_none().then(|| "connect timeout".to_owned()),
        response_ms: ms,
        tls_days_left: tls,
        defacement_score: score,
        slo_success_ratio: if state == "down" { 0.8 } else { 1.0 },
        findings: findings.iter().map(|f| (*f).to_owned()).collect(),
    };
    vec![
        s(
            "https://www.example.gov.cn/",
            "degraded",
            Some(200),
            183,
            Some(200),
            0.05,
            &["hidden-links"],
        ),
        s(
            "https://portal.example.gov.cn/",
            "degraded",
            Some(200),
            240,
            Some(90),
            0.82,
            &["defaced"],
        ),
        s(
            "https://mail.example.gov.cn/",
            "degraded",
            Some(200),
            95,
            Some(5),
            0.0,
            &["tls-expiring"],
        ),
        s(
            "https://zwfw.example.gov.cn/",
            "up",
            Some(200),
            121,
            Some(310),
            0.01,
            &[],
        ),
        s(
            "https://wsj.example.gov.cn/",
            "up",
            Some(200),
            88,
            Some(61),
            0.0,
            &[],
        ),
        s(
            "http://old.example.gov.cn/",
            "down",
            None,
            10_000,
            None,
            0.0,
            &[],
        ),
    ]
}

fn rules() -> RulesView {
    let mut rules: Vec<RuleView> = TEMPLATES
        .iter()
        .enumerate()
        .map(|(i, t)| RuleView {
            id: t.rule.into(),
            title: Bilingual {
                en: t.en.into(),
                zh: t.zh.into(),
            },
            severity: t.severity,
            attack: t.attack.iter().map(|s| (*s).to_owned()).collect(),
            enabled: i != 6,
            evaluated: 1_000_000,
            matched: 500,
            fired: (8 - i) as u64 * 3,
            last_fired: (i != 6).then_some((NOW_MS - 60_000 * (i as i64 + 1)) * 1_000_000),
            groups: i as u64,
            kind: String::new(),
            file: String::new(),
            evictions: 0,
        })
        .collect();
    rules.push(RuleView {
        id: "host.disk.full".into(),
        title: Bilingual {
            en: "Disk almost full".into(),
            zh: "磁盘将满".into(),
        },
        severity: Severity::Medium,
        attack: Vec::new(),
        enabled: true,
        evaluated: 100,
        matched: 0,
        fired: 0,
        last_fired: None,
        groups: 0,
        kind: String::new(),
        file: String::new(),
        evictions: 0,
    });
    RulesView {
        dir: "/etc/shouwang/rules".into(),
        rules,
        load_errors: vec![
            "rules/local/web.toml:12: unknown field `severty`, expected one of `id`, `title`, `severity`, …".into(),
        ],
        load_errors_at_ms: Some(NOW_MS - 120_000),
    }
}

fn duty() -> DutyView {
    let e = |id, ts_ms, actor: &str, kind, text: &str| DutyEntry {
        id,
        ts_ms,
        actor: actor.into(),
        kind,
        text: text.into(),
    };
    DutyView {
        on_duty: Some(e(
            4,
            NOW_MS - 7_200_000,
            "duty-zhang",
            DutyKind::Start,
            "张伟",
        )),
        entries: vec![
            e(
                5,
                NOW_MS - 1_800_000,
                "duty-zhang",
                DutyKind::Note,
                "已电话通知门户网站运维处理篡改",
            ),
            e(4, NOW_MS - 7_200_000, "duty-zhang", DutyKind::Start, "张伟"),
            e(
                3,
                NOW_MS - 7_500_000,
                "duty-li",
                DutyKind::Handover,
                "3号机房空调告警已报修;mail 证书本周到期,已通知厂商",
            ),
            e(
                2,
                NOW_MS - 30_000_000,
                "duty-li",
                DutyKind::Note,
                "夜间 web-03 SSH 暴力破解已封禁源地址",
            ),
            e(1, NOW_MS - 43_200_000, "duty-li", DutyKind::Start, "李娜"),
        ],
    }
}

fn live(n: usize) -> Vec<LiveEvent> {
    let kinds = ["auth", "flow", "dns", "host_sample", "site_check"];
    (0..n)
        .map(|i| LiveEvent {
            agent: format!("web-{:02}", i % 12 + 1),
            kind: kinds[i % kinds.len()].into(),
            ts: (NOW_MS - 1000 * (n - i) as i64) * 1_000_000,
            summary: format!(
                "src=203.0.113.{} dst=10.8.0.{} user=root outcome=failure",
                i % 250,
                i % 200
            ),
        })
        .collect()
}

/// An app holding the fixture: `n_incidents` incidents (ages spread over
/// `spacing_ms`), `n_agents` agents, sites, rules, a shift log, 40 live
/// events and a minute of rates, connected.
pub fn app(lang: Lang, n_incidents: usize, n_agents: usize, spacing_ms: i64) -> App {
    let settings = Settings {
        lang,
        utc_offset_secs: OFFSET,
        ..Settings::default()
    };
    let mut app = App::new(settings, NOW_MS);
    let mut feed = |m| {
        let _ = app.handle(Input::Net(m));
    };
    feed(NetMsg::Connected);
    for k in 0..13u64 {
        feed(NetMsg::Stats(Stats {
            now_ms: NOW_MS - 60_000 + k as i64 * 5_000,
            events_total: k * k * 4_000 + k * 9_000,
            incidents_opened_total: k * k / 6,
            ..Stats::default()
        }));
    }
    let list = incidents(n_incidents, spacing_ms);
    feed(NetMsg::Incidents(list.clone()));
    feed(NetMsg::Agents(agents(n_agents)));
    feed(NetMsg::Sites(sites()));
    feed(NetMsg::Rules(rules()));
    feed(NetMsg::Duty(duty()));
    for e in live(40) {
        feed(NetMsg::Event(e));
    }
    app.prepare();
    // The detail of the first incident in the table, as fetched on Enter.
    if let Some(mut incident) = app
        .inc
        .selected_id
        .and_then(|id| list.into_iter().find(|i| i.id == id))
    {
        incident.evidence.push(serde_json::json!({
            "kind": "file_change", "agent": "web-01", "ts": incident.opened_ms * 1_000_000,
            "path": "/var/www/portal/index.html", "change": "modified", "site": "portal"
        }));
        let timeline = vec![
            shouwang_proto::TimelineEntry {
                ts_ms: incident.opened_ms,
                actor: "system".into(),
                action: "opened".into(),
                text: String::new(),
            },
            shouwang_proto::TimelineEntry {
                ts_ms: incident.opened_ms + 20_000,
                actor: "duty-zhang".into(),
                action: "note".into(),
                text: "已电话通知门户网站运维".into(),
            },
        ];
        let _ = app.handle(Input::Net(NetMsg::Detail {
            incident: Box::new(incident),
            timeline,
        }));
    }
    app
}
