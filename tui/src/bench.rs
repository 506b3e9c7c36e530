//! `shouwang-console bench-render`: frame render time with a synthetic
//! fleet, through a real crossterm backend writing to a sink (escape
//! codes are produced, nothing is shown).

use std::time::Instant;

use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

use crate::app::{Input, View};
use crate::i18n::Lang;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Active incidents.
    #[arg(long, default_value_t = 10_000)]
    pub incidents: usize,
    /// Agents.
    #[arg(long, default_value_t = 1_000)]
    pub agents: usize,
    /// Frames per view and size.
    #[arg(long, default_value_t = 200)]
    pub frames: usize,
    /// Language: en or zh.
    #[arg(long, default_value = "zh")]
    pub lang: String,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn run(a: &Args) -> anyhow::Result<()> {
    let lang = Lang::parse(&a.lang).ok_or_else(|| anyhow::anyhow!("--lang is en or zh"))?;
    let t0 = Instant::now();
    let mut app = crate::fixture::app(lang, a.incidents, a.agents, 13_000);
    println!(
        "fixture: {} incidents, {} agents, {} sites, {} rules; loaded and sorted in {:.1} ms",
        app.incidents.len(),
        app.agents.len(),
        app.sites.len(),
        app.rules.rules.len(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    // Re-sorting after a change (what one incident update costs per frame).
    let mut resort = Vec::new();
    for _ in 0..20 {
        app.mark_dirty();
        let t = Instant::now();
        app.prepare();
        resort.push(t.elapsed().as_secs_f64() * 1e3);
    }
    resort.sort_by(f64::total_cmp);
    println!(
        "prepare after a change ({} incidents): p50 {:.2} ms  max {:.2} ms",
        app.incidents.len(),
        pct(&resort, 0.5),
        pct(&resort, 1.0)
    );
    let mut worst: f64 = 0.0;
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        for view in View::ALL {
            app.view = view;
            if view == View::Incidents {
                app.inc.show_detail = true;
            }
            app.mark_dirty();
            app.prepare();
            let mut term = Terminal::with_options(
                CrosstermBackend::new(std::io::sink()),
                TerminalOptions {
                    viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
                },
            )?;
            let mut times = Vec::with_capacity(a.frames);
            for k in 0..a.frames {
                // The clock moves and the selection walks, so every frame
                // redraws ages and rows.
                let _ = app.handle(Input::Tick(crate::fixture::NOW_MS + 1000 * k as i64));
                if view == View::Incidents {
                    app.inc.list.selected = k % app.inc.order.len().max(1);
                    app.inc.selected_id = app.inc.order.get(app.inc.list.selected).copied();
                }
                app.prepare();
                let t = Instant::now();
                term.draw(|f| crate::ui::render(&app, f))?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            let max = pct(&times, 1.0);
            worst = worst.max(max);
            println!(
                "{w:>3}x{h:<3} {:<10} p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms  ({} frames)",
                format!("{view:?}"),
                pct(&times, 0.5),
                pct(&times, 0.99),
                max,
                a.frames
            );
        }
    }
    println!(
        "worst frame {worst:.3} ms; RSS {} KiB (peak {} KiB)",
        status_kib("VmRSS:").unwrap_or(0),
        status_kib("VmHWM:").unwrap_or(0)
    );
    Ok(())
}
