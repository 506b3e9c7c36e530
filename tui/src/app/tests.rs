#![allow(clippy::unwrap_used, clippy::expect_used)]

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use shouwang_proto::{DutyKind, IncidentState, Severity};

use super::*;
use crate::fixture::{self, NOW_MS};

fn key(c: char) -> Input {
    Input::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Input {
    Input::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn typed(app: &mut App, s: &str) -> Vec<Effect> {
    let mut fx = Vec::new();
    for c in s.chars() {
        fx.extend(app.handle(key(c)));
    }
    fx
}

fn small() -> App {
    let mut a = fixture::app(Lang::En, 14, 26, 7 * 60_000);
    a.view = View::Incidents;
    a.prepare();
    a
}

fn new_incident(id: i64, sev: Severity) -> Incident {
    let mut i = fixture::incidents(1, 0).remove(0);
    i.id = id;
    i.severity = sev;
    i.state = IncidentState::Open;
    i.opened_ms = NOW_MS;
    i
}

#[test]
fn a_acknowledges_the_selected_open_incident_and_not_an_acked_one() {
    let mut a = small();
    // Sorted by severity: #14 (critical, open) is first.
    assert_eq!(a.inc.selected_id, Some(14));
    assert_eq!(a.handle(key('a')), [Effect::Api(Request::Ack { id: 14 })]);
    // #6 is critical and acknowledged: second row.
    a.handle(code(KeyCode::Down));
    assert_eq!(a.inc.selected_id, Some(6));
    assert_eq!(a.incidents[&6].state, IncidentState::Acknowledged);
    assert_eq!(a.handle(key('a')), []);
    assert!(a.status.as_ref().unwrap().1.contains("#6"));
}

#[test]
fn new_high_incidents_flash_ring_and_stay_pinned_until_acknowledged() {
    let mut a = small();
    a.settings.bell = true;
    // The first load pins what is open and urgent, without flash or bell.
    assert_eq!(
        a.pinned.iter().copied().collect::<Vec<_>>(),
        [5, 11, 13, 14]
    );
    assert!(!a.flashing());
    let fx = a.handle(Input::Net(NetMsg::IncidentChange {
        change: "opened".into(),
        incident: Box::new(new_incident(100, Severity::Critical)),
    }));
    assert_eq!(fx, [Effect::Bell]);
    assert!(a.pinned.contains(&100));
    assert!(a.flashing());
    // A medium one neither pins nor rings.
    let fx = a.handle(Input::Net(NetMsg::IncidentChange {
        change: "opened".into(),
        incident: Box::new(new_incident(101, Severity::Medium)),
    }));
    assert_eq!(fx, []);
    assert!(!a.pinned.contains(&101));
    // The flash ends; the pin does not.
    a.handle(Input::Tick(NOW_MS + FLASH_MS + 1));
    assert!(!a.flashing());
    assert!(a.pinned.contains(&100));
    // An update of the same incident does not ring again.
    let fx = a.handle(Input::Net(NetMsg::IncidentChange {
        change: "updated".into(),
        incident: Box::new(new_incident(100, Severity::Critical)),
    }));
    assert_eq!(fx, []);
    let mut acked = new_incident(100, Severity::Critical);
    acked.state = IncidentState::Acknowledged;
    a.handle(Input::Net(NetMsg::IncidentChange {
        change: "acknowledged".into(),
        incident: Box::new(acked),
    }));
    assert!(!a.pinned.contains(&100));
    assert_eq!(a.incidents[&100].state, IncidentState::Acknowledged);
    // Resolved incidents leave the list.
    let mut done = new_incident(100, Severity::Critical);
    done.state = IncidentState::Resolved;
    a.handle(Input::Net(NetMsg::IncidentChange {
        change: "resolved".into(),
        incident: Box::new(done),
    }));
    a.prepare();
    assert!(!a.incidents.contains_key(&100));
    assert!(!a.inc.order.contains(&100));
}

#[test]
fn the_bell_is_optional() {
    let mut a = small();
    assert!(!a.settings.bell);
    let fx = a.handle(Input::Net(NetMsg::IncidentChange {
        change: "opened".into(),
        incident: Box::new(new_incident(100, Severity::High)),
    }));
    assert_eq!(fx, []);
    assert!(a.flashing());
    a.handle(key('B'));
    assert!(a.settings.bell);
}

#[test]
fn open_incidents_become_overdue_after_the_configured_time() {
    let mut a = small();
    let mut i = new_incident(200, Severity::Low);
    i.opened_ms = NOW_MS - DEFAULT_OVERDUE_MS - 1;
    assert!(a.overdue(&i));
    i.opened_ms = NOW_MS - DEFAULT_OVERDUE_MS + 1000;
    assert!(!a.overdue(&i));
    i.escalated = true;
    assert!(a.overdue(&i));
    i.state = IncidentState::Acknowledged;
    assert!(!a.overdue(&i));
    a.settings.overdue_after_ms = 60 * 60_000;
    // Fixture incident k (0-based) is 1 + 7k minutes old, acknowledged when
    // k % 3 == 2: open and older than an hour are k = 9, 10, 12, 13.
    assert_eq!(a.overdue_count(), 4);
}

#[test]
fn the_link_goes_down_on_errors_and_on_silence_and_comes_back_with_data() {
    let mut a = small();
    assert!(!a.disconnected());
    a.handle(Input::Net(NetMsg::Disconnected {
        error: "Connection refused".into(),
    }));
    assert!(a.disconnected());
    assert_eq!(a.link.error.as_deref(), Some("Connection refused"));
    a.handle(Input::Net(NetMsg::Connected));
    assert!(!a.disconnected());
    // No data for longer than stale-after counts as disconnected.
    a.handle(Input::Tick(NOW_MS + DEFAULT_STALE_MS + 1));
    assert!(a.disconnected());
    a.handle(Input::Net(NetMsg::Stats(Stats::default())));
    assert!(!a.disconnected());
}

#[test]
fn slash_filters_live_and_esc_clears() {
    let mut a = small();
    a.handle(key('/'));
    assert!(matches!(
        a.prompt,
        Some(Prompt {
            kind: PromptKind::Filter(View::Incidents),
            ..
        })
    ));
    typed(&mut a, "ssh");
    a.prepare();
    assert_eq!(a.inc.order, [13, 5]);
    a.handle(code(KeyCode::Enter));
    assert!(a.prompt.is_none());
    assert_eq!(a.inc.list.filter, "ssh");
    a.handle(code(KeyCode::Esc));
    a.prepare();
    assert_eq!(a.inc.order.len(), 14);
    // Filters by ATT&CK id and host too.
    a.handle(key('/'));
    typed(&mut a, "t1046");
    a.prepare();
    assert_eq!(a.inc.order, [12, 4]);
}

#[test]
fn sorting_and_min_severity_and_the_selection_follows_its_incident() {
    let mut a = small();
    a.handle(code(KeyCode::Down));
    a.handle(code(KeyCode::Down));
    let picked = a.inc.selected_id.unwrap();
    a.handle(key('s')); // age: oldest first
    a.prepare();
    assert_eq!(a.inc.sort, SortKey::Age);
    assert_eq!(a.inc.order[0], 1);
    assert_eq!(a.inc.selected_id, Some(picked));
    assert_eq!(a.inc.order[a.inc.list.selected], picked);
    a.handle(key('S'));
    a.prepare();
    assert_eq!(a.inc.order[0], 14);
    a.handle(key('v')); // >= low
    a.handle(key('v')); // >= medium
    a.handle(key('v')); // >= high
    a.prepare();
    assert_eq!(a.inc.min_severity, Some(Severity::High));
    assert!(
        a.inc
            .order
            .iter()
            .all(|id| a.incidents[id].severity >= Severity::High)
    );
    assert_eq!(a.inc.order.len(), 6);
}

#[test]
fn prompts_make_requests_and_esc_cancels() {
    let mut a = small();
    a.handle(key('n'));
    let mut fx = typed(&mut a, "called the admin");
    fx.extend(a.handle(code(KeyCode::Enter)));
    assert_eq!(
        fx,
        [Effect::Api(Request::Note {
            id: 14,
            text: "called the admin".into()
        })]
    );
    a.handle(key('r'));
    let fx = a.handle(code(KeyCode::Enter));
    assert_eq!(
        fx,
        [Effect::Api(Request::Resolve {
            id: 14,
            note: String::new(),
            false_positive: false
        })]
    );
    a.handle(key('F'));
    typed(&mut a, "backup job");
    let fx = a.handle(code(KeyCode::Enter));
    assert_eq!(
        fx,
        [Effect::Api(Request::Resolve {
            id: 14,
            note: "backup job".into(),
            false_positive: true
        })]
    );
    a.handle(key('o'));
    typed(&mut a, "王芳");
    let fx = a.handle(code(KeyCode::Enter));
    assert_eq!(
        fx,
        [Effect::Api(Request::Assign {
            id: 14,
            who: "王芳".into()
        })]
    );
    // Silence: prefilled with 2h; a bad duration is refused here.
    a.handle(key('m'));
    assert_eq!(a.prompt.as_ref().unwrap().input, "2h");
    let fx = a.handle(code(KeyCode::Enter));
    assert_eq!(
        fx,
        [Effect::Api(Request::Silence {
            rule: "integrity.site.defacement-confirmed".into(),
            duration: "2h".into(),
            comment: "from the console, incident #14".into()
        })]
    );
    a.handle(key('m'));
    a.handle(code(KeyCode::Backspace));
    a.handle(code(KeyCode::Backspace));
    typed(&mut a, "soon");
    assert_eq!(a.handle(code(KeyCode::Enter)), []);
    assert!(a.status.as_ref().unwrap().2);
    // Esc cancels; an empty note is not sent; q inside a prompt is text.
    a.handle(key('n'));
    assert_eq!(typed(&mut a, "q"), []);
    a.handle(code(KeyCode::Esc));
    assert!(a.prompt.is_none());
    a.handle(key('n'));
    assert_eq!(a.handle(code(KeyCode::Enter)), []);
}

#[test]
fn global_keys_views_language_theme_help_quit() {
    let mut a = small();
    a.handle(key('3'));
    assert_eq!(a.view, View::Agents);
    a.handle(code(KeyCode::Tab));
    assert_eq!(a.view, View::Sites);
    a.handle(code(KeyCode::BackTab));
    a.handle(code(KeyCode::BackTab));
    assert_eq!(a.view, View::Incidents);
    a.handle(key('L'));
    assert_eq!(a.settings.lang, Lang::Zh);
    assert_eq!(a.txt().views[0], "总览");
    a.handle(key('T'));
    assert_eq!(a.settings.theme, ThemeName::Light);
    a.handle(key('?'));
    assert!(a.show_help);
    // Keys do not act under the help overlay; any key closes it.
    assert_eq!(a.handle(key('a')), []);
    assert!(!a.show_help);
    assert_eq!(a.handle(key('q')), [Effect::Quit]);
    let ctrl_c = Input::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(a.handle(ctrl_c), [Effect::Quit]);
}

#[test]
fn detail_is_fetched_for_the_selected_incident_and_dropped_when_it_changes() {
    let mut a = small();
    assert_eq!(
        a.handle(code(KeyCode::Enter)),
        [Effect::Api(Request::Detail { id: 14 })]
    );
    let i = a.incidents[&14].clone();
    a.handle(Input::Net(NetMsg::Detail {
        incident: Box::new(i),
        timeline: vec![TimelineEntry {
            ts_ms: NOW_MS,
            actor: "system".into(),
            action: "opened".into(),
            text: String::new(),
        }],
    }));
    assert_eq!(a.detail.as_ref().unwrap().0.id, 14);
    assert_eq!(
        a.handle(code(KeyCode::Down)),
        [Effect::Api(Request::Detail { id: 6 })]
    );
    assert!(a.detail.is_none());
    // A late answer for an incident no longer selected is ignored.
    let old = a.incidents[&14].clone();
    a.handle(Input::Net(NetMsg::Detail {
        incident: Box::new(old),
        timeline: Vec::new(),
    }));
    assert!(a.detail.is_none());
}

#[test]
fn rates_come_from_counter_deltas() {
    let mut a = App::new(Settings::default(), NOW_MS);
    let s = |now_ms, ev, inc| Stats {
        now_ms,
        events_total: ev,
        incidents_opened_total: inc,
        ..Stats::default()
    };
    a.handle(Input::Net(NetMsg::Stats(s(0, 1000, 3))));
    assert!(a.ingest_rate.is_empty());
    a.handle(Input::Net(NetMsg::Stats(s(2000, 3000, 5))));
    a.handle(Input::Net(NetMsg::Stats(s(4000, 3000, 5))));
    assert_eq!(a.ingest_rate, [1000, 0]);
    assert_eq!(a.incident_rate, [2, 0]);
    // A collector restart (counters back to zero) is not a negative rate.
    a.handle(Input::Net(NetMsg::Stats(s(6000, 10, 0))));
    assert_eq!(a.ingest_rate.back(), Some(&0));
    for k in 0..500 {
        a.handle(Input::Net(NetMsg::Stats(s(8000 + k * 2000, 10, 0))));
    }
    assert_eq!(a.ingest_rate.len(), SPARK_CAP);
}

#[test]
fn the_live_tail_is_bounded_filterable_and_pausable() {
    let mut a = App::new(Settings::default(), NOW_MS);
    for i in 0..2500 {
        a.handle(Input::Net(NetMsg::Event(LiveEvent {
            agent: format!("h{}", i % 3),
            kind: if i % 2 == 0 { "flow" } else { "auth" }.into(),
            ts: i,
            summary: format!("n={i}"),
        })));
    }
    assert_eq!(a.live.len(), LIVE_CAP);
    a.view = View::Live;
    a.handle(key('/'));
    typed(&mut a, "auth");
    a.handle(code(KeyCode::Enter));
    a.prepare();
    assert_eq!(a.live_order.len(), 1000);
    // Newest first.
    assert_eq!(a.live[a.live_order[0]].summary, "n=2499");
    a.handle(key('p'));
    assert!(a.live_paused);
    a.handle(code(KeyCode::Down));
    a.handle(Input::Net(NetMsg::Event(LiveEvent {
        agent: "h0".into(),
        kind: "auth".into(),
        ts: 0,
        summary: "late".into(),
    })));
    a.prepare();
    assert_eq!(a.live_ui.selected, 1, "a paused tail keeps its place");
    a.handle(Input::Net(NetMsg::Lagged(7)));
    assert_eq!(a.live_missed, 7);
}

#[test]
fn duty_keys_write_the_log_and_export_a_markdown_summary() {
    let mut a = small();
    a.handle(key('7'));
    a.handle(key('s'));
    typed(&mut a, "王芳");
    assert_eq!(
        a.handle(code(KeyCode::Enter)),
        [Effect::Api(Request::Duty {
            kind: DutyKind::Start,
            text: "王芳".into()
        })]
    );
    a.handle(key('h'));
    typed(&mut a, "UPS test at 14:00");
    assert_eq!(
        a.handle(code(KeyCode::Enter)),
        [Effect::Api(Request::Duty {
            kind: DutyKind::Handover,
            text: "UPS test at 14:00".into()
        })]
    );
    assert_eq!(
        a.handle(key('x')),
        [Effect::Api(Request::Duty {
            kind: DutyKind::End,
            text: String::new()
        })]
    );
    let since = NOW_MS - 7_200_000;
    assert_eq!(
        a.handle(key('e')),
        [Effect::Api(Request::ShiftIncidents { since_ms: since })]
    );
    let mut list = fixture::incidents(14, 7 * 60_000);
    list[0].state = IncidentState::Resolved;
    list[0].resolution = Some(shouwang_proto::Resolution::FalsePositive);
    let fx = a.handle(Input::Net(NetMsg::ShiftIncidents(list)));
    let [Effect::WriteReport { path, markdown }] = fx.as_slice() else {
        panic!("{fx:?}");
    };
    assert_eq!(path.file_name().unwrap(), "shift-20261121-1000.md");
    assert!(
        markdown.contains("- On duty: 张伟 (duty-zhang)"),
        "{markdown}"
    );
    assert!(
        markdown.contains("2026-11-21 08:00 – 2026-11-21 10:00 (2h00m)"),
        "{markdown}"
    );
    // All 14 were opened in the shift: k % 3 == 2 acknowledged (4), #14
    // resolved as a false positive, the other 9 open.
    assert!(
        markdown
            .contains("- Incidents opened: 14; open: 9; acked: 4; resolved: 1 (false positives 1)"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| 14 | critical | resolved | Portal defaced"),
        "{markdown}"
    );
    assert!(
        markdown.contains("已电话通知门户网站运维处理篡改"),
        "{markdown}"
    );
    // The previous shift's handover note is before this shift: not in it.
    assert!(!markdown.contains("3号机房"), "{markdown}");
}

#[test]
fn mouse_wheel_moves_and_a_click_on_a_tab_switches() {
    let mut a = small();
    let m = |kind, column, row| {
        Input::Mouse(MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    a.handle(m(MouseEventKind::ScrollDown, 10, 10));
    assert_eq!(a.inc.selected_id, Some(6));
    // " 1 Overview │ 2 Incidents │ 3 Agents …": column 30 is in "3 Agents".
    a.handle(m(
        MouseEventKind::Down(MouseButton::Left),
        30,
        crate::app::layout::TAB_ROW,
    ));
    assert_eq!(a.view, View::Agents);
    a.handle(m(
        MouseEventKind::Down(MouseButton::Left),
        2,
        crate::app::layout::TAB_ROW,
    ));
    assert_eq!(a.view, View::Overview);
}

#[test]
fn agents_are_grouped_by_region_with_online_counts() {
    let mut a = small();
    a.view = View::Agents;
    let regions: Vec<_> = a
        .agent_rows
        .iter()
        .filter_map(|r| match r {
            AgentRow::Region {
                path,
                online,
                total,
            } => Some((path.clone(), *online, *total)),
            AgentRow::Agent(_) => None,
        })
        .collect();
    assert_eq!(regions.len(), 12);
    assert_eq!(regions.iter().map(|r| r.2).sum::<usize>(), 26);
    // 26 agents: 2 never seen, 3 offline, 2 stopped (said goodbye), 19 online.
    assert_eq!(regions.iter().map(|r| r.1).sum::<usize>(), 19);
    assert!(regions.iter().any(|r| r.0 == "城关区 / 东岗镇 / 政务中心"));
    // Filtering by a label keeps only that district.
    a.handle(key('/'));
    typed(&mut a, "安宁区");
    a.prepare();
    assert!(a.agent_rows.iter().all(|r| match r {
        AgentRow::Region { path, .. } => path.starts_with("安宁区"),
        AgentRow::Agent(i) => a.agents[*i].label("district") == "安宁区",
    }));
}

#[test]
fn drill_incidents_can_be_shown_hidden_or_shown_alone() {
    let mut a = small();
    a.prepare();
    let all = a.inc.order.len();
    let drill_ids: Vec<i64> = a.inc.order.iter().copied().take(3).collect();
    for id in &drill_ids {
        a.incidents.get_mut(id).unwrap().exercise = Some(format!("drill-x.p{id}"));
    }
    a.mark_dirty();
    a.prepare();
    assert_eq!(a.inc.order.len(), all, "shown by default");
    a.handle(key('x'));
    a.prepare();
    assert_eq!(a.inc.drills, DrillFilter::Hidden);
    assert_eq!(a.inc.order.len(), all - 3);
    assert!(a.inc.order.iter().all(|id| !drill_ids.contains(id)));
    a.handle(key('x'));
    a.prepare();
    assert_eq!(a.inc.drills, DrillFilter::Only);
    let mut only = a.inc.order.clone();
    only.sort_unstable();
    let mut want = drill_ids.clone();
    want.sort_unstable();
    assert_eq!(only, want);
    a.handle(key('x'));
    a.prepare();
    assert_eq!(a.inc.drills, DrillFilter::All);
    assert_eq!(a.inc.order.len(), all);
}
