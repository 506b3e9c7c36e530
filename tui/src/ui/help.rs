//! The `?` overlay.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::text::width;
use crate::app::App;

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    let key_w = t.help.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    let text_w = t.help.iter().map(|(_, d)| width(d)).max().unwrap_or(0);
    let w = ((key_w + text_w + 5) as u16).min(area.width);
    let h = ((t.help.len() + 2) as u16).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let lines: Vec<Line> = t
        .help
        .iter()
        .map(|(k, d)| {
            let pad = key_w - width(k);
            Line::from(vec![
                Span::styled(format!(" {k}{} ", " ".repeat(pad)), th.header()),
                Span::raw(*d),
            ])
        })
        .collect();
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(th.dim())
                .title(format!(" {} ", t.help_title)),
        ),
        r,
    );
}
