//! Live: a tail of incoming events, newest first, with a filter.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::rows::visible;
use super::text::{clock_time, fit};
use crate::app::App;

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    if app.live_order.is_empty() {
        let msg = if app.live.is_empty() {
            t.loading
        } else {
            t.none
        };
        f.render_widget(Paragraph::new(format!(" {msg}")).style(th.dim()), area);
        return;
    }
    let sum_w = usize::from(area.width.saturating_sub(9 + 15 + 14 + 3));
    let rows: Vec<Row> = visible(&app.live_order, app.live_ui.selected, area)
        .map(|(n, &i)| {
            let e = &app.live[i];
            let row = Row::new(vec![
                Cell::from(clock_time(e.ts / 1_000_000, app.settings.utc_offset_secs)),
                Cell::from(e.agent.clone()),
                // Telemetry an agent had to drop stands out.
                Cell::from(e.kind.clone()).style(if e.kind == "data_gap" {
                    Style::new()
                        .fg(th.bad)
                        .add_modifier(ratatui::style::Modifier::BOLD)
                } else {
                    Style::new().fg(th.accent)
                }),
                Cell::from(fit(&e.summary, sum_w)),
            ]);
            if app.live_paused && n == app.live_ui.selected {
                row.style(th.selected())
            } else {
                row
            }
        })
        .collect();
    let mut header = vec![t.col_time, t.col_agent, t.col_kind];
    let missed = if app.live_missed > 0 {
        format!("{} (−{})", t.col_event, app.live_missed)
    } else {
        t.col_event.to_owned()
    };
    header.push(&missed);
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(8),
                Constraint::Length(14),
                Constraint::Length(13),
                Constraint::Min(10),
            ],
        )
        .header(Row::new(header).style(th.header())),
        area,
    );
}
