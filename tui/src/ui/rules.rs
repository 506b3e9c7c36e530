//! Rules: enabled, fired counts, last fired, load errors.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use super::rows::visible;
use super::text::{count, duration, fit};
use crate::app::App;

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    let errors = &app.rules.load_errors;
    let err_h = if errors.is_empty() {
        0
    } else {
        (errors.len() as u16 + 2).min(area.height / 3)
    };
    let [err_area, list] =
        Layout::vertical([Constraint::Length(err_h), Constraint::Min(0)]).areas(area);
    if !errors.is_empty() {
        let w = usize::from(err_area.width.saturating_sub(2));
        let lines: Vec<Line> = errors.iter().map(|e| Line::raw(fit(e, w))).collect();
        f.render_widget(
            Paragraph::new(lines).style(Style::new().fg(th.bad)).block(
                Block::new()
                    .borders(Borders::ALL)
                    .border_style(Style::new().fg(th.bad))
                    .title(format!(" {} ", t.load_errors)),
            ),
            err_area,
        );
    }
    if app.rule_order.is_empty() {
        f.render_widget(Paragraph::new(format!(" {}", t.none)).style(th.dim()), list);
        return;
    }
    let wide = area.width >= 100;
    let lang = app.settings.lang;
    let rows: Vec<Row> = visible(&app.rule_order, app.rules_ui.selected, list)
        .map(|(n, &i)| {
            let r = &app.rules.rules[i];
            // last_fired is event time (ns); show its age on the collector's clock.
            let last = r
                .last_fired
                .map_or_else(|| "-".into(), |ns| duration(app.now_ms - ns / 1_000_000));
            let mut cells = vec![
                Cell::from(r.id.clone()),
                Cell::from(t.severity(r.severity)).style(th.sev(r.severity)),
                Cell::from(if r.enabled { t.yes } else { t.no }).style(if r.enabled {
                    Style::new().fg(th.ok)
                } else {
                    th.dim()
                }),
                Cell::from(count(r.fired)),
                Cell::from(last),
            ];
            if wide {
                cells.push(Cell::from(count(r.groups)));
                cells.push(Cell::from(r.attack.join(" ")));
                cells.push(Cell::from(lang.pick(&r.title).to_owned()));
            }
            let row = Row::new(cells);
            if n == app.rules_ui.selected {
                row.style(th.selected())
            } else if !r.enabled {
                row.style(th.dim())
            } else {
                row
            }
        })
        .collect();
    let mut header = vec![
        t.col_rule,
        t.col_sev,
        t.col_enabled,
        t.col_fired,
        t.col_last_fired,
    ];
    let mut widths = vec![
        Constraint::Min(30),
        Constraint::Length(8),
        Constraint::Length(4),
        Constraint::Length(6),
        Constraint::Length(10),
    ];
    if wide {
        header.extend([t.col_groups, t.attack, t.col_title]);
        widths.extend([
            Constraint::Length(6),
            Constraint::Length(16),
            Constraint::Min(20),
        ]);
    }
    f.render_widget(
        Table::new(rows, widths).header(Row::new(header).style(th.header())),
        list,
    );
}
