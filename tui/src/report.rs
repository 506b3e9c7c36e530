//! The shift summary as a Markdown report (Duty view, key `e`).

use std::fmt::Write as _;

use shouwang_proto::{DutyView, Incident, IncidentState, Resolution, Severity};

use crate::i18n::Lang;
use crate::ui::text::{clock_time, date_time, duration};

/// `shift-YYYYMMDD-HHMM.md`, local time.
pub fn file_name(now_ms: i64, utc_offset_secs: i32) -> String {
    let t = date_time(now_ms, utc_offset_secs);
    format!("shift-{}.md", t.replace(['-', ':'], "").replace(' ', "-"))
}

fn esc(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The summary of the shift that started at `since_ms` (0: no shift under
/// way, so the whole log held) up to `now_ms`: who was on duty, the
/// incidents opened in it and what became of them, and the shift log.
pub fn shift_markdown(
    lang: Lang,
    duty: &DutyView,
    incidents: &[Incident],
    since_ms: i64,
    now_ms: i64,
    utc_offset_secs: i32,
) -> String {
    let zh = lang == Lang::Zh;
    let t = lang.txt();
    let tr = |en: &'static str, zh_: &'static str| if zh { zh_ } else { en };
    let mut md = String::new();
    let who = duty
        .on_duty
        .as_ref()
        .map_or(t.nobody_on_duty.to_owned(), |e| {
            format!("{} ({})", e.text, e.actor)
        });
    let _ = writeln!(md, "# {}", tr("Shift summary", "值班小结"));
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "- {}: {} – {} ({})",
        tr("Shift", "班次"),
        if since_ms > 0 {
            date_time(since_ms, utc_offset_secs)
        } else {
            "-".into()
        },
        date_time(now_ms, utc_offset_secs),
        if since_ms > 0 {
            duration(now_ms - since_ms)
        } else {
            "-".into()
        }
    );
    let _ = writeln!(md, "- {}: {}", t.on_duty, who);
    let in_shift: Vec<&Incident> = incidents
        .iter()
        .filter(|i| i.opened_ms >= since_ms || i.updated_ms >= since_ms)
        .collect();
    let opened = in_shift.iter().filter(|i| i.opened_ms >= since_ms).count();
    let count = |s: IncidentState| in_shift.iter().filter(|i| i.state == s).count();
    let fp = in_shift
        .iter()
        .filter(|i| i.resolution == Some(Resolution::FalsePositive))
        .count();
    let _ = writeln!(
        md,
        "- {}: {opened}; {}: {}; {}: {}; {}: {} ({} {fp})",
        tr("Incidents opened", "新增事件"),
        t.open,
        count(IncidentState::Open),
        t.acknowledged,
        count(IncidentState::Acknowledged),
        t.resolved,
        count(IncidentState::Resolved),
        tr("false positives", "误报"),
    );
    let mut by_sev = [0usize; 5];
    for i in &in_shift {
        by_sev[i.severity as usize] += 1;
    }
    let sev: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .map(|s| format!("{} {}", t.severity(*s), by_sev[*s as usize]))
        .collect();
    let _ = writeln!(md, "- {}: {}", tr("By severity", "按级别"), sev.join(", "));
    let _ = writeln!(md);
    let _ = writeln!(md, "## {}", t.incidents);
    let _ = writeln!(md);
    if in_shift.is_empty() {
        let _ = writeln!(md, "{}", t.none);
    } else {
        let _ = writeln!(
            md,
            "| # | {} | {} | {} | ATT&CK | {} | {} | {} |",
            t.col_sev,
            t.col_state,
            t.col_title,
            t.col_agents,
            tr("Opened", "发生"),
            t.col_assignee
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
        let mut sorted = in_shift.clone();
        sorted.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.opened_ms.cmp(&b.opened_ms))
        });
        for i in sorted {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                i.id,
                t.severity(i.severity),
                t.state(i.state),
                esc(lang.pick(&i.title)),
                i.attack.join(" "),
                esc(&i.agents.join(", ")),
                clock_time(i.opened_ms, utc_offset_secs),
                esc(i.assignee.as_deref().unwrap_or("-")),
            );
        }
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "## {}", t.shift_log);
    let _ = writeln!(md);
    let mut log: Vec<_> = duty
        .entries
        .iter()
        .filter(|e| e.ts_ms >= since_ms)
        .collect();
    log.reverse();
    if log.is_empty() {
        let _ = writeln!(md, "{}", t.none);
    }
    for e in log {
        let what = t.duty_kind(e.kind);
        let _ = writeln!(
            md,
            "- {} {} {}: {}",
            clock_time(e.ts_ms, utc_offset_secs),
            e.actor,
            what,
            e.text.replace('\n', " ")
        );
    }
    md
}
