//! Layout facts the state needs for mouse input: which row holds the tabs
//! and which tab a column falls in. Drawing (`ui/`) reads them from here;
//! state never imports drawing code.

use unicode_width::UnicodeWidthStr;

use super::state::{App, View};

/// Screen row of the tab bar (below the top bar).
pub const TAB_ROW: u16 = 1;

/// Tab labels as drawn in `width_cols` columns: with counts when they fit.
pub fn tab_labels(app: &App, width_cols: u16) -> Vec<(View, String)> {
    let with = labels(app, true);
    let total: usize = with.iter().map(|(_, l)| l.width() + 3).sum();
    if total <= usize::from(width_cols) {
        with
    } else {
        labels(app, false)
    }
}

fn labels(app: &App, counts: bool) -> Vec<(View, String)> {
    let t = app.txt();
    View::ALL
        .iter()
        .map(|&v| {
            let n = match v {
                _ if !counts => None,
                View::Incidents => Some(app.incidents.len()),
                View::Agents => Some(app.agents.len()),
                View::Sites => Some(app.sites.len()),
                _ => None,
            };
            let name = t.views[v.index()];
            let label = match n {
                Some(n) if n > 0 => format!("{} {name} {n}", v.index() + 1),
                _ => format!("{} {name}", v.index() + 1),
            };
            (v, label)
        })
        .collect()
}

/// The tab under column `x` of the tab row, on a screen `screen_width`
/// columns wide.
pub fn tab_at(app: &App, x: u16, screen_width: u16) -> Option<View> {
    let mut at = 0usize;
    for (v, label) in tab_labels(app, screen_width) {
        let w = label.width() + 2;
        if usize::from(x) < at + w {
            return Some(v);
        }
        at += w + 1;
    }
    None
}
