//! Sites: the website-integrity board.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::rows::visible;
use super::text::fit;
use crate::app::App;

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    if app.site_order.is_empty() {
        f.render_widget(Paragraph::new(format!(" {}", t.none)).style(th.dim()), area);
        return;
    }
    let wide = area.width >= 100;
    let url_w = if wide { 40 } else { 22 };
    let rows: Vec<Row> = visible(&app.site_order, app.sites_ui.selected, area)
        .map(|(n, &i)| {
            let s = &app.sites[i];
            let state_style = match s.state.as_str() {
                "up" => Style::new().fg(th.ok),
                "degraded" => Style::new().fg(th.warn).add_modifier(Modifier::BOLD),
                _ => Style::new().fg(th.bad).add_modifier(Modifier::BOLD),
            };
            let url = s
                .url
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            let tls = s
                .tls_days_left
                .map_or_else(|| "-".into(), |d| d.to_string());
            let tls_style = match s.tls_days_left {
                Some(d) if d < 0 => Style::new().fg(th.bad).add_modifier(Modifier::BOLD),
                Some(d) if d < 14 => Style::new().fg(th.warn),
                _ => Style::new(),
            };
            let http = match (&s.status, &s.error) {
                (Some(c), _) => c.to_string(),
                (None, Some(_)) => "ERR".into(),
                _ => "-".into(),
            };
            let findings = if s.findings.is_empty() {
                s.error.clone().unwrap_or_default()
            } else {
                s.findings.join(",")
            };
            let mut cells = vec![
                Cell::from(t.site_state(&s.state)).style(state_style),
                Cell::from(fit(url, url_w)),
            ];
            if wide {
                cells.push(Cell::from(s.agent.clone()));
            }
            cells.extend([
                Cell::from(http),
                Cell::from(s.response_ms.to_string()),
                Cell::from(tls).style(tls_style),
                Cell::from(format!("{:.2}", s.defacement_score)).style(
                    if s.defacement_score >= 0.5 {
                        Style::new().fg(th.bad)
                    } else {
                        Style::new()
                    },
                ),
            ]);
            if wide {
                cells.push(Cell::from(format!("{:.0}%", 100.0 * s.slo_success_ratio)));
            }
            cells.push(Cell::from(findings).style(Style::new().fg(th.warn)));
            let row = Row::new(cells);
            if n == app.sites_ui.selected {
                row.style(th.selected())
            } else {
                row
            }
        })
        .collect();
    let mut header = vec![t.col_state, t.col_url];
    let mut widths = vec![Constraint::Length(8), Constraint::Length(url_w as u16)];
    if wide {
        header.push(t.col_agent);
        widths.push(Constraint::Length(12));
    }
    header.extend([t.col_http, t.col_latency, t.col_tls_days, t.col_change]);
    widths.extend([
        Constraint::Length(4),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(6),
    ]);
    if wide {
        header.push(t.col_slo);
        widths.push(Constraint::Length(6));
    }
    header.push(t.col_findings);
    widths.push(Constraint::Min(10));
    f.render_widget(
        Table::new(rows, widths).header(Row::new(header).style(th.header())),
        area,
    );
}
