//! Duty: who is on duty, the shift log with handover notes.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use shouwang_proto::DutyKind;

use super::rows::visible;
use super::text::{clock_time, date_time, duration, fit};
use crate::app::App;

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    let off = app.settings.utc_offset_secs;
    let [head, list] = Layout::vertical([Constraint::Length(3), Constraint::Min(0)]).areas(area);
    let w = usize::from(area.width);
    let who = match &app.duty.on_duty {
        Some(e) => Line::from(vec![
            Span::styled(format!(" {}: ", t.on_duty), th.dim()),
            Span::styled(
                format!("{} ({})", e.text, e.actor),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                format!(
                    "  {} {} · {}",
                    t.since,
                    date_time(e.ts_ms, off),
                    duration(app.now_ms - e.ts_ms)
                ),
                th.dim(),
            ),
        ]),
        None => Line::styled(
            format!(" {}", t.nobody_on_duty),
            Style::new().fg(th.warn).add_modifier(Modifier::BOLD),
        ),
    };
    // The newest handover note is what the shift must read first.
    let handover = app
        .duty
        .entries
        .iter()
        .find(|e| e.kind == DutyKind::Handover)
        .map(|e| {
            Line::from(vec![
                Span::styled(format!(" {}: ", t.handover), th.header()),
                Span::raw(fit(
                    &format!(
                        "{} ({}, {})",
                        e.text.replace('\n', " "),
                        e.actor,
                        clock_time(e.ts_ms, off)
                    ),
                    w.saturating_sub(12),
                )),
            ])
        })
        .unwrap_or_default();
    let keys = Line::styled(
        format!(" {}", fit(t.duty_keys, w.saturating_sub(1))),
        th.dim(),
    );
    f.render_widget(Paragraph::new(vec![who, handover, keys]), head);

    if app.duty_order.is_empty() {
        f.render_widget(Paragraph::new(format!(" {}", t.none)).style(th.dim()), list);
        return;
    }
    let text_w = usize::from(list.width.saturating_sub(17 + 14 + 10 + 3));
    let rows: Vec<Row> = visible(&app.duty_order, app.duty_ui.selected, list)
        .map(|(n, &i)| {
            let e = &app.duty.entries[i];
            let style = match e.kind {
                DutyKind::Start => Style::new().fg(th.ok),
                DutyKind::End => th.dim(),
                DutyKind::Handover => th.header(),
                DutyKind::Note => Style::new(),
            };
            let what = t.duty_kind(e.kind);
            let row = Row::new(vec![
                Cell::from(date_time(e.ts_ms, off)),
                Cell::from(e.actor.clone()),
                Cell::from(what).style(style),
                Cell::from(fit(&e.text.replace('\n', " "), text_w)),
            ]);
            if n == app.duty_ui.selected {
                row.style(th.selected())
            } else {
                row
            }
        })
        .collect();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(16),
                Constraint::Length(14),
                Constraint::Length(10),
                Constraint::Min(10),
            ],
        )
        .header(Row::new(vec![t.col_time, t.col_who, t.col_kind, t.col_text]).style(th.header())),
        list,
    );
}
