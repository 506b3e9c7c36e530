//! Overview: incidents by severity, agents, sites, ingest and incident
//! rates, who is on duty, and what needs a human now.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};
use shouwang_proto::{IncidentState, Severity};

use super::text::{clock_time, duration, fit};
use crate::app::App;

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let [duty, boxes, sparks, attention] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Min(0),
    ])
    .areas(area);
    duty_line(app, f, duty);
    let [a, b, c] = Layout::horizontal([
        Constraint::Ratio(1, 3),
        Constraint::Ratio(1, 3),
        Constraint::Ratio(1, 3),
    ])
    .areas(boxes);
    incidents_box(app, f, a);
    agents_box(app, f, b);
    sites_box(app, f, c);
    let [s1, s2] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(sparks);
    let t = app.txt();
    let last = |q: &std::collections::VecDeque<u64>| q.back().copied().unwrap_or(0);
    spark(
        app,
        f,
        s1,
        &format!(
            "{} {} {}",
            t.ingest_rate,
            last(&app.ingest_rate),
            t.events_per_sec
        ),
        &app.ingest_rate,
    );
    spark(
        app,
        f,
        s2,
        &format!("{} {}", t.incident_rate, last(&app.incident_rate)),
        &app.incident_rate,
    );
    attention_list(app, f, attention);
}

fn boxed<'a>(app: &App, title: &'a str) -> Block<'a> {
    let th = app.theme();
    Block::new()
        .borders(Borders::ALL)
        .border_style(th.dim())
        .title(Span::styled(format!(" {title} "), th.header()))
}

fn duty_line(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    let s = match &app.duty.on_duty {
        Some(e) => format!(
            " {}: {} ({}) · {} {} · {}",
            t.on_duty,
            e.text,
            e.actor,
            t.since,
            clock_time(e.ts_ms, app.settings.utc_offset_secs),
            duration(app.now_ms - e.ts_ms)
        ),
        None => format!(" {}: {}", t.on_duty, t.nobody_on_duty),
    };
    let style = if app.duty.on_duty.is_some() {
        Style::new().add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(th.warn).add_modifier(Modifier::BOLD)
    };
    f.render_widget(
        Paragraph::new(fit(&s, usize::from(area.width))).style(style),
        area,
    );
}

/// `color` when there is something to see, dim at zero.
fn alarm(th: &crate::theme::Theme, n: u64, color: ratatui::style::Color) -> Style {
    if n > 0 {
        Style::new().fg(color)
    } else {
        th.dim()
    }
}

fn count_line<'a>(label: &'a str, n: usize, style: Style) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{n:>6} "), style.add_modifier(Modifier::BOLD)),
        Span::styled(label, style),
    ])
}

fn incidents_box(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    let c = app.severity_counts();
    let mut lines: Vec<Line> = Severity::ALL
        .iter()
        .rev()
        .map(|s| count_line(t.severity(*s), c[*s as usize], th.sev(*s)))
        .collect();
    // info is the least useful line; show overdue instead when short of room.
    let overdue = app.overdue_count();
    if overdue > 0 {
        lines.pop();
        lines.push(count_line(t.overdue, overdue, Style::new().fg(th.bad)));
    }
    let total: usize = c.iter().sum();
    let title = format!("{} {total}", t.incidents);
    f.render_widget(Paragraph::new(lines).block(boxed(app, &title)), area);
}

fn agents_box(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    let (on, off, never, stopped) = app.agent_counts();
    let lost: u64 = app
        .agents
        .iter()
        .filter_map(|a| a.queue.map(|q| q.dropped_events))
        .sum();
    let drops: u64 = app.agents.iter().filter_map(|a| a.drops()).sum();
    let spool: u64 = app
        .agents
        .iter()
        .filter_map(|a| a.queue.map(|q| q.queued_batches))
        .sum();
    let c = super::text::count;
    let overloaded = app
        .agents
        .iter()
        .filter(|a| a.limits.is_some_and(|l| l.overloaded))
        .count();
    let mut lines = vec![
        count_line(t.online, on, Style::new().fg(th.ok)),
        // Agents over their own budget (shedding load) share the offline
        // line: `3 offline · 1⚠`.
        if overloaded > 0 {
            Line::styled(
                format!("{:>6} {} · {overloaded}⚠", c(off as u64), t.offline),
                alarm(th, (off + overloaded) as u64, th.bad),
            )
        } else {
            count_line(t.offline, off, alarm(th, off as u64, th.bad))
        },
        count_line(t.never_seen, never, th.dim()),
        Line::styled(
            format!(
                "{:>6} {} · {} {}",
                c(drops),
                t.col_drops,
                c(spool),
                t.col_spool
            ),
            alarm(th, drops.max(spool), th.warn),
        ),
    ];
    // Telemetry lost to data gaps: shown only when there is any.
    if lost > 0 {
        lines.insert(
            2,
            Line::styled(
                format!("{:>6} {}", c(lost), t.lost_data_gaps),
                alarm(th, lost, th.bad),
            ),
        );
    }
    // Agents that said goodbye (graceful shutdown) are counted in the title.
    let mut title = format!("{} {}", t.agents, app.agents.len());
    if stopped > 0 {
        title.push_str(&format!(" · {stopped} {}", t.stopped));
    }

    f.render_widget(Paragraph::new(lines).block(boxed(app, &title)), area);
}

fn sites_box(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    let (up, degraded, down) = app.site_counts();
    let lines = vec![
        count_line(t.up, up, Style::new().fg(th.ok)),
        count_line(t.degraded, degraded, alarm(th, degraded as u64, th.warn)),
        count_line(t.down, down, alarm(th, down as u64, th.bad)),
    ];
    let title = format!("{} {}", t.sites, app.sites.len());
    f.render_widget(Paragraph::new(lines).block(boxed(app, &title)), area);
}

fn spark(
    app: &App,
    f: &mut Frame,
    area: Rect,
    title: &str,
    data: &std::collections::VecDeque<u64>,
) {
    let th = app.theme();
    let inner_w = usize::from(area.width.saturating_sub(2));
    let skip = data.len().saturating_sub(inner_w);
    let points: Vec<u64> = data.iter().skip(skip).copied().collect();
    f.render_widget(
        Sparkline::default()
            .block(boxed(app, title))
            .data(&points)
            .style(Style::new().fg(th.accent)),
        area,
    );
}

fn attention_list(app: &App, f: &mut Frame, area: Rect) {
    let t = app.txt();
    let th = app.theme();
    let block = boxed(app, t.needs_attention);
    let inner = block.inner(area);
    f.render_widget(block, area);
    // Pinned and overdue first, then the rest of the open ones by severity
    // and age. Only the rows that fit are sorted (a top-k selection), so
    // this stays linear in the number of incidents.
    let rank = |i: &shouwang_proto::Incident| {
        let urgent = app.pinned.contains(&i.id) || app.overdue(i);
        (
            std::cmp::Reverse(urgent),
            std::cmp::Reverse(i.severity),
            i.opened_ms,
            i.id,
        )
    };
    let mut open: Vec<_> = app
        .incidents
        .values()
        .filter(|i| i.state == IncidentState::Open)
        .map(|i| (rank(i), i))
        .collect();
    let k = usize::from(inner.height).min(open.len());
    if k > 0 && k < open.len() {
        open.select_nth_unstable_by(k - 1, |a, b| a.0.cmp(&b.0));
        open.truncate(k);
    }
    open.sort_unstable_by_key(|a| a.0);
    let open: Vec<_> = open.into_iter().map(|(_, i)| i).collect();
    if open.is_empty() {
        f.render_widget(
            Paragraph::new(format!(" {}", t.all_quiet)).style(Style::new().fg(th.ok)),
            inner,
        );
        return;
    }
    let w = usize::from(inner.width);
    let lines: Vec<Line> = open
        .iter()
        .take(usize::from(inner.height))
        .map(|i| {
            let flag = if app.pinned.contains(&i.id) {
                "⚑"
            } else if app.overdue(i) {
                "!"
            } else {
                " "
            };
            let head = format!("{flag}#{:<6}", i.id);
            let sev = format!("{:<8}", t.severity(i.severity));
            let age = format!("{:>7} ", duration(app.now_ms - i.opened_ms));
            let used =
                super::text::width(&head) + super::text::width(&sev) + super::text::width(&age) + 2;
            Line::from(vec![
                Span::raw(head),
                Span::styled(sev, th.sev(i.severity)),
                Span::styled(age, th.dim()),
                Span::raw(fit(
                    app.settings.lang.pick(&i.title),
                    w.saturating_sub(used),
                )),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}
