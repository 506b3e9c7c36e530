//! Drawing: `render` only reads the [`App`]; one module per view.
//!
//! Layout, top to bottom: the status bar (brand, link, who is on duty,
//! overdue count, clock), the tab row, an alert row when disconnected or
//! when new high/critical incidents wait for an acknowledgement, the view,
//! and the bottom line (prompt, status message or key hints).

pub mod agents;
pub mod duty;
pub mod help;
pub mod incidents;
pub mod live;
pub mod overview;
pub mod rows;
pub mod rules;
pub mod sites;
pub mod text;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::layout::tab_labels;
use crate::app::{App, PromptKind, View};
use text::{clock_time, duration, fit, width};

/// Draws the whole screen.
pub fn render(app: &App, f: &mut Frame) {
    let area = f.area();
    let alert = app.disconnected() || !app.pinned.is_empty();
    let [top, tabs, alert_row, body, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(u16::from(alert)),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    top_bar(app, f, top);
    tab_row(app, f, tabs);
    if alert {
        alert_line(app, f, alert_row);
    }
    match app.view {
        View::Overview => overview::render(app, f, body),
        View::Incidents => incidents::render(app, f, body),
        View::Agents => agents::render(app, f, body),
        View::Sites => sites::render(app, f, body),
        View::Rules => rules::render(app, f, body),
        View::Live => live::render(app, f, body),
        View::Duty => duty::render(app, f, body),
    }
    bottom_line(app, f, bottom);
    if app.show_help {
        help::render(app, f, area);
    }
}

fn top_bar(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    let bar = th.bar();
    let link = if app.disconnected() {
        Span::styled(format!(" ○ {} ", t.disconnected), th.alert())
    } else {
        Span::styled(" ● ", bar.fg(th.ok).add_modifier(Modifier::BOLD))
    };
    let duty = match &app.duty.on_duty {
        Some(e) => format!(
            " {}: {} ({} {}) ",
            t.on_duty,
            e.text,
            t.since,
            clock_time(e.ts_ms, app.settings.utc_offset_secs)
                .get(..5)
                .unwrap_or("")
        ),
        None if app.duty_loaded => format!(" {} ", t.nobody_on_duty),
        None => String::new(),
    };
    let overdue = app.overdue_count();
    let clock = format!(" {} ", clock_time(app.now_ms, app.settings.utc_offset_secs));
    let brand = format!(" {} ", t.app);
    let mut spans = vec![
        Span::styled(brand.clone(), bar.add_modifier(Modifier::BOLD)),
        link,
    ];
    let mut used = width(&brand) + width(&spans[1].content) + width(&clock);
    if overdue > 0 {
        let s = format!(" ⏰ {} {overdue} ", t.overdue);
        used += width(&s);
        spans.push(Span::styled(s, th.alert()));
    }
    let room = usize::from(area.width).saturating_sub(used);
    let duty = fit(&duty, room);
    used += width(&duty);
    spans.push(Span::styled(duty, bar));
    spans.push(Span::styled(
        " ".repeat(usize::from(area.width).saturating_sub(used)),
        bar,
    ));
    spans.push(Span::styled(clock, bar.add_modifier(Modifier::BOLD)));
    f.render_widget(Paragraph::new(Line::from(spans)).style(bar), area);
}

fn tab_row(app: &App, f: &mut Frame, area: Rect) {
    let th = app.theme();
    let mut spans = Vec::new();
    for (v, label) in tab_labels(app, area.width) {
        let style = if v == app.view {
            th.selected().add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(th.accent)
        };
        spans.push(Span::styled(format!(" {label} "), style));
        spans.push(Span::styled("│", th.dim()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn alert_line(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    let w = usize::from(area.width);
    if app.disconnected() {
        let since = match app.link.last_data_ms {
            Some(ms) => format!("{} {} {}", t.last_data, duration(app.now_ms - ms), t.ago),
            None => format!(
                "{} ({})",
                t.never,
                duration(app.now_ms - app.link.started_ms)
            ),
        };
        let err = app.link.error.as_deref().unwrap_or(t.connecting);
        let s = format!(" ⚠ {} — {since} — {}: {err}", t.disconnected, t.retrying);
        f.render_widget(Paragraph::new(fit(&s, w)).style(th.alert()), area);
        return;
    }
    // Newest pinned first.
    let mut ids = app.pinned.iter().rev();
    let Some(i) = ids.next().and_then(|id| app.incidents.get(id)) else {
        return;
    };
    let rest = app.pinned.len() - 1;
    let more = if rest > 0 {
        format!("  (+{rest} {})", t.more)
    } else {
        String::new()
    };
    let lead = format!(" ⚑ {} {} #{} ", t.new_alert, t.severity(i.severity), i.id);
    let title = app.settings.lang.pick(&i.title);
    let room = w.saturating_sub(width(&lead) + width(&more) + 1);
    let s = format!("{lead}{}{more}", fit(title, room));
    let style = if app.flashing() {
        th.alert()
    } else {
        th.sev(i.severity).add_modifier(Modifier::REVERSED)
    };
    f.render_widget(Paragraph::new(s).style(style), area);
}

fn bottom_line(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    let w = usize::from(area.width);
    if let Some(p) = &app.prompt {
        let label = match p.kind {
            PromptKind::Filter(_) => t.prompt_filter,
            PromptKind::Note(_) => t.prompt_note,
            PromptKind::Assign(_) => t.prompt_assign,
            PromptKind::Resolve(_) => t.prompt_resolve,
            PromptKind::FalsePositive(_) => t.prompt_false_positive,
            PromptKind::Silence(_) => t.prompt_silence,
            PromptKind::DutyStart => t.prompt_duty_start,
            PromptKind::Handover => t.prompt_handover,
            PromptKind::DutyNote => t.prompt_duty_note,
        };
        let target = match p.kind {
            PromptKind::Note(id)
            | PromptKind::Assign(id)
            | PromptKind::Resolve(id)
            | PromptKind::FalsePositive(id)
            | PromptKind::Silence(id) => format!(" #{id}"),
            _ => String::new(),
        };
        let hint = format!("  ({})", t.prompt_hint);
        let head = format!("{label}{target}: ");
        // Keep the end of a long input in view.
        let room = w.saturating_sub(width(&head) + width(&hint) + 1);
        let mut input: String = p.input.clone();
        while width(&input) > room {
            input.remove(0);
        }
        let line = Line::from(vec![
            Span::styled(head, th.header()),
            Span::raw(input),
            Span::styled("█", Style::new().fg(th.accent)),
            Span::styled(hint, th.dim()),
        ]);
        f.render_widget(Paragraph::new(line), area);
        return;
    }
    if let Some((_, msg, err)) = &app.status {
        let style = if *err {
            Style::new().fg(th.bad).add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(th.ok)
        };
        f.render_widget(Paragraph::new(fit(msg, w)).style(style), area);
        return;
    }
    let keys = view_hint(app);
    let s = format!("{keys}  {}", t.status_hint);
    f.render_widget(Paragraph::new(fit(&s, w)).style(th.dim()), area);
}

fn view_hint(app: &App) -> String {
    let t = app.txt();
    let filter = |f: &str| {
        if f.is_empty() {
            String::new()
        } else {
            format!("[{}: {f}]  ", t.filter)
        }
    };
    match app.view {
        View::Overview => "1-7 Tab".into(),
        View::Incidents => {
            let sort = format!(
                "{}: {}{}",
                t.sort,
                t.sort_keys[app.inc.sort as usize],
                if app.inc.reverse { " ↑" } else { "" }
            );
            let min = app
                .inc
                .min_severity
                .map(|s| format!("  {} ≥ {}", t.min_severity, t.severity(s)))
                .unwrap_or_default();
            let drills = match app.inc.drills {
                crate::app::DrillFilter::All => "",
                crate::app::DrillFilter::Hidden => t.drills_hidden,
                crate::app::DrillFilter::Only => t.drills_only,
            };
            format!(
                "{}{sort}{min}{drills}  a ack  r resolve  F fp  o owner  n note  m mute  ⏎",
                filter(&app.inc.list.filter)
            )
        }
        View::Agents => format!("{}/ filter", filter(&app.agents_ui.filter)),
        View::Sites => format!("{}/ filter", filter(&app.sites_ui.filter)),
        View::Rules => format!("{}/ filter", filter(&app.rules_ui.filter)),
        View::Live => format!(
            "{}{}p pause  / filter",
            filter(&app.live_ui.filter),
            if app.live_paused {
                format!("[{}]  ", t.paused)
            } else {
                String::new()
            }
        ),
        View::Duty => t.duty_keys.into(),
    }
}
