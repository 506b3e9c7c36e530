//! Incidents: the sortable, filterable table and the detail pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use shouwang_proto::{Incident, IncidentState};

use super::rows::visible;
use super::text::{clock_time, count, delay, duration, fit};
use crate::app::App;

/// Width from which the detail pane goes to the right of the table.
const SIDE_BY_SIDE: u16 = 140;

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    if !app.inc.show_detail {
        table(app, f, area);
        return;
    }
    let (list, detail) = if area.width >= SIDE_BY_SIDE {
        let [a, b] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
            .areas(area);
        (a, b)
    } else {
        let [a, b] =
            Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(area);
        (a, b)
    };
    table(app, f, list);
    detail_pane(app, f, detail);
}

fn state_style(app: &App, i: &Incident) -> Style {
    let th = app.theme();
    match i.state {
        IncidentState::Open => Style::new().fg(th.bad),
        IncidentState::Acknowledged => Style::new().fg(th.warn),
        IncidentState::Resolved => Style::new().fg(th.ok),
    }
}

fn table(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    let wide = area.width >= 100;
    let title_w = if wide {
        area.width
            .saturating_sub(6 + 9 + 9 + 7 + 6 + 7 + 16 + 12 + 9)
    } else {
        area.width.saturating_sub(6 + 8 + 6 + 6 + 10 + 5)
    };
    let mut header = vec![t.col_id, t.col_sev, t.col_state, t.col_age];
    if wide {
        header.push(t.col_count);
        header.push(t.col_delay);
    }
    header.push(t.col_title);
    header.push(t.col_agents);
    if wide {
        header.push(t.col_assignee);
    }
    let rows: Vec<Row> = visible(&app.inc.order, app.inc.list.selected, area)
        .filter_map(|(n, id)| app.incidents.get(id).map(|i| (n, i)))
        .map(|(n, i)| {
            let overdue = app.overdue(i);
            let mark = if app.pinned.contains(&i.id) {
                "⚑"
            } else if overdue {
                "!"
            } else {
                " "
            };
            let title = app.settings.lang.pick(&i.title);
            let title = match &i.exercise {
                Some(_) => format!("{}{title}", t.drill_mark),
                None => title.to_owned(),
            };
            let mut cells = vec![
                Cell::from(format!("{mark}{}", i.id)),
                Cell::from(t.severity(i.severity)).style(th.sev(i.severity)),
                Cell::from(t.state(i.state)).style(state_style(app, i)),
                Cell::from(duration(app.now_ms - i.opened_ms)),
            ];
            if wide {
                cells.push(Cell::from(count(i.count)));
                cells.push(Cell::from(delay(i.detection_delay_ms)));
            }
            cells.push(Cell::from(fit(&title, usize::from(title_w))));
            cells.push(Cell::from(i.agents.join(",")));
            if wide {
                cells.push(Cell::from(
                    i.assignee.clone().unwrap_or_else(|| t.unassigned.into()),
                ));
            }
            let mut row = Row::new(cells);
            if n == app.inc.list.selected {
                row = row.style(th.selected());
            } else if overdue {
                row = row.style(Style::new().add_modifier(Modifier::BOLD).fg(th.bad));
            }
            row
        })
        .collect();
    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Length(6),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Min(16),
            Constraint::Length(16),
            Constraint::Length(12),
        ]
    } else {
        vec![
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Min(12),
            Constraint::Length(10),
        ]
    };
    if app.inc.order.is_empty() {
        let msg = if app.incidents.is_empty() {
            t.all_quiet
        } else {
            t.none
        };
        let [h, b] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        f.render_widget(
            Table::new(Vec::<Row>::new(), widths).header(Row::new(header).style(th.header())),
            h,
        );
        f.render_widget(Paragraph::new(format!(" {msg}")).style(th.dim()), b);
        return;
    }
    f.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(th.header()))
            .column_spacing(1),
        area,
    );
}

fn detail_pane(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(th.dim())
        .title(Span::styled(format!(" {} ", t.detail), th.header()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(i) = app.selected_incident() else {
        f.render_widget(Paragraph::new(t.select_incident).style(th.dim()), inner);
        return;
    };
    let w = usize::from(inner.width);
    let off = app.settings.utc_offset_secs;
    let lang = app.settings.lang;
    let kv = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k}: "), th.dim()),
            Span::raw(fit(&v, w.saturating_sub(super::text::width(k) + 2))),
        ])
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("#{} ", i.id), th.header()),
        Span::styled(format!("[{}] ", t.severity(i.severity)), th.sev(i.severity)),
        Span::styled(
            fit(lang.pick(&i.title), w.saturating_sub(14)),
            Style::new().add_modifier(Modifier::BOLD),
        ),
    ])];
    let mut state = format!(
        "{}  {} {}  ×{}",
        t.state(i.state),
        t.since,
        clock_time(i.opened_ms, off),
        i.detections
    );
    if let Some(a) = &i.assignee {
        state.push_str(&format!("  → {a}"));
    }
    if app.overdue(i) {
        state.push_str(&format!("  ⏰ {}", t.overdue));
    }
    if i.silenced {
        state.push_str(&format!("  🔕 {}", t.silenced));
    }
    lines.push(kv(t.col_state, state));
    if let Some(first) = i.first_seen {
        lines.push(kv(
            t.col_delay,
            format!(
                "{}  ({} {})",
                delay(i.detection_delay_ms),
                t.first_seen,
                clock_time(first.div_euclid(1_000_000), off)
            ),
        ));
    }
    lines.push(kv(t.rule, i.rule.clone()));
    lines.push(kv(t.group, i.group.clone()));
    lines.push(kv(t.attack, i.attack.join(" ")));
    lines.push(kv(t.hosts, i.agents.join(", ")));
    if let Some(x) = &i.exercise {
        lines.push(kv(t.exercise, x.clone()));
    }
    let about = lang.pick(&i.description);
    if !about.is_empty() {
        lines.push(kv(t.description, about.replace('\n', " ")));
    }
    lines.push(Line::styled(format!("{}:", t.timeline), th.header()));
    match &app.detail {
        Some((d, tl)) if d.id == i.id => {
            for e in tl.iter().rev().take(8) {
                let text = if e.text.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", e.text.replace('\n', " "))
                };
                lines.push(Line::raw(fit(
                    &format!(
                        "  {} {} {}{text}",
                        clock_time(e.ts_ms, off),
                        e.actor,
                        e.action
                    ),
                    w,
                )));
            }
            lines.push(Line::styled(
                format!("{} ({}):", t.evidence, d.evidence.len()),
                th.header(),
            ));
            for ev in d.evidence.iter().take(6) {
                lines.push(Line::raw(fit(&format!("  {}", evidence_line(ev)), w)));
            }
        }
        _ => lines.push(Line::styled(format!("  {}", t.loading), th.dim())),
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// One evidence event on one line: `kind agent key=value …`.
fn evidence_line(v: &serde_json::Value) -> String {
    let Some(o) = v.as_object() else {
        return v.to_string();
    };
    let mut s = String::new();
    for key in ["kind", "agent"] {
        if let Some(x) = o.get(key).and_then(|x| x.as_str()) {
            s.push_str(x);
            s.push(' ');
        }
    }
    for (k, x) in o {
        if matches!(k.as_str(), "kind" | "agent" | "ts" | "seq") {
            continue;
        }
        let val = match x {
            serde_json::Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        s.push_str(&format!("{k}={val} "));
        if s.len() > 300 {
            break;
        }
    }
    s.trim_end().to_owned()
}
