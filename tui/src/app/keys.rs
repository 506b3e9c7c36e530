//! Keys and mouse: global keys first, then the prompt, then the view's own.

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind,
};
use shouwang_proto::{DutyKind, IncidentState, Severity};

use super::state::{App, Effect, ListUi, MAX_INPUT, Prompt, PromptKind, Request, View};

/// Rows a page key moves.
const PAGE: usize = 10;

pub(super) fn on_key(app: &mut App, k: KeyEvent) -> Vec<Effect> {
    if k.kind == KeyEventKind::Release {
        return Vec::new();
    }
    if k.modifiers.contains(KeyModifiers::CONTROL) && matches!(k.code, KeyCode::Char('c')) {
        return vec![Effect::Quit];
    }
    if app.prompt.is_some() {
        return on_prompt_key(app, k);
    }
    if app.show_help {
        if matches!(k.code, KeyCode::Char('q')) {
            return vec![Effect::Quit];
        }
        app.show_help = false;
        return Vec::new();
    }
    if let Some(fx) = on_global_key(app, k) {
        return fx;
    }
    app.prepare();
    let fx = match app.view {
        View::Overview => Vec::new(),
        View::Incidents => on_incidents_key(app, k),
        View::Agents => {
            let len = app.agent_rows.len();
            move_list(&mut app.agents_ui, k.code, len);
            Vec::new()
        }
        View::Sites => {
            let len = app.site_order.len();
            move_list(&mut app.sites_ui, k.code, len);
            Vec::new()
        }
        View::Rules => {
            let len = app.rule_order.len();
            move_list(&mut app.rules_ui, k.code, len);
            Vec::new()
        }
        View::Live => on_live_key(app, k),
        View::Duty => on_duty_key(app, k),
    };
    app.mark_dirty();
    fx
}

fn on_global_key(app: &mut App, k: KeyEvent) -> Option<Vec<Effect>> {
    match k.code {
        KeyCode::Char('q') => return Some(vec![Effect::Quit]),
        KeyCode::Char('?') => app.show_help = true,
        KeyCode::Char(c @ '1'..='7') => {
            app.view = View::ALL[(c as usize) - ('1' as usize)];
        }
        KeyCode::Tab => app.view = View::ALL[(app.view.index() + 1) % View::ALL.len()],
        KeyCode::BackTab => {
            app.view = View::ALL[(app.view.index() + View::ALL.len() - 1) % View::ALL.len()];
        }
        KeyCode::Char('L') => {
            app.settings.lang = app.settings.lang.toggle();
            app.mark_dirty();
        }
        KeyCode::Char('T') => app.settings.theme = app.settings.theme.toggle(),
        KeyCode::Char('B') => {
            app.settings.bell = !app.settings.bell;
            let t = format!("bell {}", if app.settings.bell { "on" } else { "off" });
            app.set_status(t, false);
        }
        KeyCode::Char('/') if app.view != View::Overview => {
            let input = filter_of(app, app.view).clone();
            app.prompt = Some(Prompt {
                kind: PromptKind::Filter(app.view),
                input,
            });
        }
        KeyCode::Esc => {
            if app.view != View::Overview {
                filter_of(app, app.view).clear();
                app.mark_dirty();
            }
        }
        _ => return None,
    }
    Some(Vec::new())
}

fn filter_of(app: &mut App, v: View) -> &mut String {
    match v {
        View::Overview | View::Incidents => &mut app.inc.list.filter,
        View::Agents => &mut app.agents_ui.filter,
        View::Sites => &mut app.sites_ui.filter,
        View::Rules => &mut app.rules_ui.filter,
        View::Live => &mut app.live_ui.filter,
        View::Duty => &mut app.duty_ui.filter,
    }
}

/// Moves a selection; true if the key was a movement key.
fn move_list(ui: &mut ListUi, code: KeyCode, len: usize) -> bool {
    let last = len.saturating_sub(1);
    ui.selected = match code {
        KeyCode::Up | KeyCode::Char('k') => ui.selected.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => (ui.selected + 1).min(last),
        KeyCode::PageUp => ui.selected.saturating_sub(PAGE),
        KeyCode::PageDown => (ui.selected + PAGE).min(last),
        KeyCode::Home | KeyCode::Char('g') => 0,
        KeyCode::End | KeyCode::Char('G') => last,
        _ => return false,
    };
    true
}

fn ask(app: &mut App, kind: PromptKind, input: &str) {
    app.prompt = Some(Prompt {
        kind,
        input: input.to_owned(),
    });
}

fn on_incidents_key(app: &mut App, k: KeyEvent) -> Vec<Effect> {
    let len = app.inc.order.len();
    if move_list(&mut app.inc.list, k.code, len) {
        let before = app.inc.selected_id;
        app.inc.selected_id = app.inc.order.get(app.inc.list.selected).copied();
        if app.inc.show_detail
            && app.inc.selected_id != before
            && let Some(id) = app.inc.selected_id
        {
            app.detail = None;
            return vec![Effect::Api(Request::Detail { id })];
        }
        return Vec::new();
    }
    match k.code {
        KeyCode::Char('s') => app.inc.sort = app.inc.sort.next(),
        KeyCode::Char('S') => app.inc.reverse = !app.inc.reverse,
        KeyCode::Char('x') => app.inc.drills = app.inc.drills.next(),
        KeyCode::Char('v') => {
            app.inc.min_severity = match app.inc.min_severity {
                None => Some(Severity::Low),
                Some(Severity::Info) | Some(Severity::Low) => Some(Severity::Medium),
                Some(Severity::Medium) => Some(Severity::High),
                Some(Severity::High) => Some(Severity::Critical),
                Some(Severity::Critical) => None,
            };
        }
        KeyCode::Enter => {
            app.inc.show_detail = !app.inc.show_detail;
            if app.inc.show_detail
                && let Some(id) = app.inc.selected_id
            {
                return vec![Effect::Api(Request::Detail { id })];
            }
        }
        _ => return incident_action(app, k.code),
    }
    Vec::new()
}

fn incident_action(app: &mut App, code: KeyCode) -> Vec<Effect> {
    let Some(i) = app.selected_incident() else {
        return Vec::new();
    };
    let (id, state) = (i.id, i.state);
    match code {
        KeyCode::Char('a') if state == IncidentState::Open => {
            return vec![Effect::Api(Request::Ack { id })];
        }
        KeyCode::Char('a') => {
            let t = format!("#{id}: {}", app.txt().acknowledged);
            app.set_status(t, false);
        }
        KeyCode::Char('r') => ask(app, PromptKind::Resolve(id), ""),
        KeyCode::Char('F') => ask(app, PromptKind::FalsePositive(id), ""),
        KeyCode::Char('o') => {
            let who = i.assignee.clone().unwrap_or_default();
            ask(app, PromptKind::Assign(id), &who);
        }
        KeyCode::Char('n') => ask(app, PromptKind::Note(id), ""),
        KeyCode::Char('m') => ask(app, PromptKind::Silence(id), "2h"),
        _ => {}
    }
    Vec::new()
}

fn on_live_key(app: &mut App, k: KeyEvent) -> Vec<Effect> {
    if k.code == KeyCode::Char('p') {
        app.live_paused = !app.live_paused;
        return Vec::new();
    }
    let len = app.live_order.len();
    if move_list(&mut app.live_ui, k.code, len) {
        // Moving through the tail holds it still.
        app.live_paused = true;
    }
    Vec::new()
}

fn on_duty_key(app: &mut App, k: KeyEvent) -> Vec<Effect> {
    let len = app.duty_order.len();
    if move_list(&mut app.duty_ui, k.code, len) {
        return Vec::new();
    }
    match k.code {
        KeyCode::Char('s') => ask(app, PromptKind::DutyStart, ""),
        KeyCode::Char('h') => ask(app, PromptKind::Handover, ""),
        KeyCode::Char('n') => ask(app, PromptKind::DutyNote, ""),
        KeyCode::Char('x') => {
            return vec![Effect::Api(Request::Duty {
                kind: DutyKind::End,
                text: String::new(),
            })];
        }
        KeyCode::Char('e') => {
            let since_ms = app.duty.on_duty.as_ref().map_or(0, |e| e.ts_ms);
            return vec![Effect::Api(Request::ShiftIncidents { since_ms })];
        }
        _ => {}
    }
    Vec::new()
}

fn on_prompt_key(app: &mut App, k: KeyEvent) -> Vec<Effect> {
    let Some(p) = app.prompt.as_mut() else {
        return Vec::new();
    };
    match k.code {
        KeyCode::Esc => {
            if let PromptKind::Filter(v) = p.kind {
                filter_of(app, v).clear();
                app.mark_dirty();
            }
            app.prompt = None;
            return Vec::new();
        }
        KeyCode::Enter => {
            let Some(p) = app.prompt.take() else {
                return Vec::new();
            };
            return submit(app, p);
        }
        KeyCode::Backspace => {
            p.input.pop();
        }
        KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => {
            if p.input.chars().count() < MAX_INPUT {
                p.input.push(c);
            }
        }
        _ => return Vec::new(),
    }
    if let PromptKind::Filter(v) = p.kind {
        let text = p.input.clone();
        *filter_of(app, v) = text;
        app.mark_dirty();
    }
    Vec::new()
}

fn submit(app: &mut App, p: Prompt) -> Vec<Effect> {
    let text = p.input.trim().to_owned();
    let req = match p.kind {
        PromptKind::Filter(_) => return Vec::new(),
        PromptKind::Note(_) | PromptKind::Handover | PromptKind::DutyNote if text.is_empty() => {
            return Vec::new();
        }
        PromptKind::Assign(_) | PromptKind::Silence(_) if text.is_empty() => return Vec::new(),
        PromptKind::Note(id) => Request::Note { id, text },
        PromptKind::Assign(id) => Request::Assign { id, who: text },
        PromptKind::Resolve(id) => Request::Resolve {
            id,
            note: text,
            false_positive: false,
        },
        PromptKind::FalsePositive(id) => Request::Resolve {
            id,
            note: text,
            false_positive: true,
        },
        PromptKind::Silence(id) => {
            let Some(rule) = app.incidents.get(&id).map(|i| i.rule.clone()) else {
                return Vec::new();
            };
            if humantime::parse_duration(&text).is_err() {
                let t = format!("✗ {text:?}: 30m, 2h, 1d");
                app.set_status(t, true);
                return Vec::new();
            }
            Request::Silence {
                comment: format!("from the console, incident #{id}"),
                rule,
                duration: text,
            }
        }
        PromptKind::DutyStart => Request::Duty {
            kind: DutyKind::Start,
            text,
        },
        PromptKind::Handover => Request::Duty {
            kind: DutyKind::Handover,
            text,
        },
        PromptKind::DutyNote => Request::Duty {
            kind: DutyKind::Note,
            text,
        },
    };
    vec![Effect::Api(req)]
}

/// Scrolling moves the selection; a click on the tab row switches views.
pub(super) fn on_mouse(app: &mut App, m: MouseEvent) -> Vec<Effect> {
    if app.prompt.is_some() || app.show_help {
        return Vec::new();
    }
    let code = match m.kind {
        MouseEventKind::ScrollUp => KeyCode::Up,
        MouseEventKind::ScrollDown => KeyCode::Down,
        MouseEventKind::Down(_) if m.row == super::layout::TAB_ROW => {
            if let Some(v) = super::layout::tab_at(app, m.column, app.screen_width) {
                app.view = v;
                app.mark_dirty();
            }
            return Vec::new();
        }
        _ => return Vec::new(),
    };
    on_key(app, KeyEvent::new(code, KeyModifiers::NONE))
}
