//! Text helpers: display widths (CJK characters take two columns), times
//! and durations.

use chrono::{DateTime, FixedOffset, Utc};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Columns `s` takes on a terminal.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to at most `max` columns, with `…` when cut.
pub fn fit(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > max - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

fn local(ms: i64, offset_secs: i32) -> Option<DateTime<FixedOffset>> {
    let off = FixedOffset::east_opt(offset_secs)?;
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.with_timezone(&off))
}

/// `HH:MM:SS` local time.
pub fn clock_time(ms: i64, offset_secs: i32) -> String {
    local(ms, offset_secs).map_or_else(|| "--:--:--".into(), |t| t.format("%H:%M:%S").to_string())
}

/// `YYYY-MM-DD HH:MM` local time.
pub fn date_time(ms: i64, offset_secs: i32) -> String {
    local(ms, offset_secs).map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

/// A short duration: `45s`, `12m`, `3h05m`, `2d04h`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A detection delay: tenths below 10 s (`4.2s`), else as [`duration`];
/// `-` when unknown.
pub fn delay(ms: Option<i64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 10_000 => format!("{:.1}s", ms.max(0) as f64 / 1000.0),
        Some(ms) => duration(ms),
    }
}

/// A count with k/M suffixes: `999`, `12.3k`, `4.5M`.
pub fn count(n: u64) -> String {
    match n {
        0..1000 => n.to_string(),
        1000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_show_tenths_when_short() {
        assert_eq!(delay(Some(4_200)), "4.2s");
        assert_eq!(delay(Some(95_000)), "1m");
        assert_eq!(delay(None), "-");
    }

    #[test]
    fn cjk_text_is_cut_by_columns_not_characters() {
        assert_eq!(width("政务外网"), 8);
        assert_eq!(fit("政务外网门户", 7), "政务外…");
        assert_eq!(width(&fit("政务外网门户", 7)), 7);
        assert_eq!(fit("abc", 3), "abc");
        assert_eq!(fit("abcd", 3), "ab…");
        assert_eq!(fit("门户", 0), "");
        // A wide character never straddles the cut.
        assert_eq!(fit("a政务", 3), "a…");
    }

    #[test]
    fn times_and_durations() {
        // 2026-11-21 00:00:00 UTC is 08:00 in UTC+8.
        let ms = 1_795_219_200_000;
        assert_eq!(clock_time(ms, 8 * 3600), "08:00:00");
        assert_eq!(date_time(ms, 0), "2026-11-21 00:00");
        assert_eq!(duration(59_999), "59s");
        assert_eq!(duration(3_600_000 + 5 * 60_000), "1h05m");
        assert_eq!(duration(2 * 86_400_000 + 4 * 3_600_000), "2d04h");
        assert_eq!(duration(-5), "0s");
        assert_eq!(count(12_345), "12.3k");
    }
}
