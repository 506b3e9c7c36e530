//! Agents: the fleet grouped by district / town / site.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::rows::visible;
use super::text::{count, duration};
use crate::app::{AgentRow, App};

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    if app.agent_rows.is_empty() {
        f.render_widget(Paragraph::new(format!(" {}", t.none)).style(th.dim()), area);
        return;
    }
    let wide = area.width >= 100;
    let rows: Vec<Row> = visible(&app.agent_rows, app.agents_ui.selected, area)
        .map(|(n, r)| {
            let row = match r {
                AgentRow::Region {
                    path,
                    online,
                    total,
                } => Row::new(vec![
                    Cell::from(format!("▾ {path}")),
                    Cell::from(format!("{online}/{total}")),
                ])
                .style(th.header()),
                AgentRow::Agent(i) => {
                    let a = &app.agents[*i];
                    let status_style = match a.status.as_str() {
                        "online" => Style::new().fg(th.ok),
                        "offline" => Style::new().fg(th.bad).add_modifier(Modifier::BOLD),
                        _ => th.dim(),
                    };
                    let seen = a
                        .last_seen_ms
                        .map_or_else(|| t.never.to_owned(), |ms| duration(app.now_ms - ms));
                    let cpu = a
                        .host
                        .map_or_else(|| "-".into(), |h| format!("{:.0}", h.cpu_pct));
                    let mem = a
                        .mem_pct()
                        .map_or_else(|| "-".into(), |m| format!("{m:.0}"));
                    let drops = a.drops().map_or_else(|| "-".into(), count);
                    let spool = a
                        .queue
                        .map_or_else(|| "-".into(), |q| count(q.queued_batches));
                    let lost = a.queue.map(|q| q.dropped_events);
                    let lost_style = if lost.unwrap_or(0) > 0 {
                        Style::new().fg(th.bad).add_modifier(Modifier::BOLD)
                    } else {
                        Style::new()
                    };
                    let mut cells = vec![
                        Cell::from(format!("  {}", a.name)),
                        Cell::from(t.agent_status(a.status.as_str())).style(status_style),
                        Cell::from(seen),
                    ];
                    if wide {
                        cells.push(Cell::from(a.agent_version.clone().unwrap_or_default()));
                    }
                    cells.extend([
                        Cell::from(cpu),
                        Cell::from(mem),
                        Cell::from(drops).style(if a.drops().unwrap_or(0) > 0 {
                            Style::new().fg(th.warn)
                        } else {
                            Style::new()
                        }),
                        // Narrow: no Lost column; a spool that lost data is red.
                        Cell::from(spool).style(if wide { Style::new() } else { lost_style }),
                    ]);
                    if wide {
                        cells.push(
                            Cell::from(lost.map_or_else(|| "-".into(), count)).style(lost_style),
                        );
                        // The agent's own CPU; over budget it sheds load (⚠).
                        let (text, style) = match a.limits {
                            Some(l) if l.overloaded => (
                                format!("{:.0}⚠", l.cpu_pct),
                                Style::new().fg(th.warn).add_modifier(Modifier::BOLD),
                            ),
                            Some(l) => (format!("{:.0}", l.cpu_pct), Style::new()),
                            None => ("-".into(), Style::new()),
                        };
                        cells.push(Cell::from(text).style(style));
                    }
                    if wide {
                        cells.push(Cell::from(a.hostname.clone().unwrap_or_default()));
                    }
                    Row::new(cells)
                }
            };
            if n == app.agents_ui.selected {
                row.style(th.selected())
            } else {
                row
            }
        })
        .collect();
    let mut header = vec![t.col_name, t.col_status, t.col_last_seen];
    let mut widths = vec![
        Constraint::Min(18),
        Constraint::Length(8),
        Constraint::Length(9),
    ];
    if wide {
        header.push(t.col_version);
        widths.push(Constraint::Length(9));
    }
    header.extend([t.col_cpu, t.col_mem, t.col_drops, t.col_spool]);
    widths.extend([
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(6),
    ]);
    if wide {
        header.push(t.col_lost);
        widths.push(Constraint::Length(6));
        header.push(t.col_self);
        widths.push(Constraint::Length(6));
    }
    if wide {
        header.push("Host");
        widths.push(Constraint::Length(20));
    }
    f.render_widget(
        Table::new(rows, widths).header(Row::new(header).style(th.header())),
        area,
    );
}
