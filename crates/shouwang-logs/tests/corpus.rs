//! Replays every log of corpus/logs (real daemons in namespaces, see
//! corpus/make-logs.sh, and the hand-written dialects) and checks what
//! corpus/logs/expect.txt says each must yield: failures, successes and
//! failures per source; and, per line, that every failure event names the
//! source its own line names.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::DateTime;
use shouwang_logs::{Format, LogParser};
use shouwang_proto::AuthOutcome;

fn logs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/logs")
}

#[test]
fn every_dialect_file_yields_its_failures_per_source() {
    let expect = std::fs::read_to_string(logs().join("expect.txt")).unwrap();
    let now = DateTime::parse_from_rfc3339("2026-12-03T18:00:00+08:00").unwrap();
    let mut files = 0;
    let mut wrong = Vec::new();
    for l in expect
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut f = l.split_whitespace();
        let (file, format) = (f.next().unwrap(), f.next().unwrap());
        let failures: usize = f.next().unwrap().parse().unwrap();
        let successes: usize = f.next().unwrap().parse().unwrap();
        let per_source: BTreeMap<String, usize> = f
            .map(|kv| {
                let (k, v) = kv.rsplit_once('=').unwrap();
                (k.to_owned(), v.parse().unwrap())
            })
            .collect();
        let text = std::fs::read_to_string(logs().join(file)).unwrap();
        let mut p = LogParser::new(Format::parse(format).unwrap());
        let mut out = Vec::new();
        // Lines so far per pid: an event may name the address an earlier
        // line of its connection gave (`Invalid user X from ADDR`).
        let mut by_pid = std::collections::HashMap::<u32, String>::new();
        for line in text.lines() {
            let before = out.len();
            p.push_line(line, now, &mut out);
            let pid = match format {
                "journal" => shouwang_logs::journal::parse_record(line)
                    .ok()
                    .flatten()
                    .and_then(|r| r.pid),
                _ => shouwang_logs::syslog::parse_line(line, now).pid,
            };
            let earlier = pid
                .and_then(|p| by_pid.get(&p))
                .cloned()
                .unwrap_or_default();
            if let Some(pid) = pid {
                by_pid.entry(pid).or_default().push_str(line);
            }
            // Per line: an event that came out of this line names a source
            // the line (or an earlier line of its pid) names, or none.
            for (_, e) in &out[before..] {
                let src = e
                    .source_addr
                    .map(|a| a.to_string())
                    .or_else(|| e.source_host.clone());
                if let Some(src) = src
                    && !line.contains(&src)
                    && !earlier.contains(&src)
                {
                    wrong.push(format!(
                        "{file}: event from {src} out of a line without it: {line}"
                    ));
                }
            }
        }
        p.finish(&mut out);
        assert_eq!(p.bad_lines, 0, "{file}");
        let got_fail = out
            .iter()
            .filter(|(_, e)| e.outcome == AuthOutcome::Failure)
            .count();
        let got_ok = out.len() - got_fail;
        let mut got_src = BTreeMap::<String, usize>::new();
        for (_, e) in out
            .iter()
            .filter(|(_, e)| e.outcome == AuthOutcome::Failure)
        {
            let k = e
                .source_addr
                .map(|a| a.to_string())
                .or_else(|| e.source_host.clone())
                .unwrap_or_else(|| "-".into());
            *got_src.entry(k).or_default() += 1;
        }
        if (got_fail, got_ok) != (failures, successes) || got_src != per_source {
            wrong.push(format!(
                "{file}: want {failures} failures {successes} successes {per_source:?}, got {got_fail} {got_ok} {got_src:?}"
            ));
        }
        files += 1;
    }
    assert!(files >= 40, "{files} files in expect.txt");
    assert!(wrong.is_empty(), "{wrong:#?}");
}
