//! `shouwang-agent log --format F FILE`: reads a log file through the same
//! parser as the followed auth log and prints the events (JSON lines, the
//! shape `pcap --emit jsonl` prints) or sends them to a collector.

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, FixedOffset};
use shouwang_logs::{Format, LogParser};
use shouwang_proto::{AuthOutcome, Event, EventBody};

use crate::pcap_cmd::Output;

/// What a read did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub lines: u64,
    pub bad_lines: u64,
    pub events: u64,
    pub failures: u64,
    pub successes: u64,
    pub seconds: f64,
}

fn open(path: &Path) -> anyhow::Result<Box<dyn BufRead + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::BufReader::with_capacity(
            1 << 16,
            std::io::stdin(),
        )));
    }
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        anyhow::bail!("{} is a directory: give a log file", path.display());
    }
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 16, f)))
}

/// Reads `reader` and hands every event to `sink`.
pub fn read(
    mut reader: impl BufRead,
    format: Format,
    now: DateTime<FixedOffset>,
    sink: &mut dyn FnMut(Event) -> anyhow::Result<()>,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut parser = LogParser::new(format);
    let mut s = Summary::default();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut flush = |out: &mut Vec<shouwang_logs::Emitted>, s: &mut Summary| {
        for (ts, e) in out.drain(..) {
            s.events += 1;
            match e.outcome {
                AuthOutcome::Failure => s.failures += 1,
                AuthOutcome::Success => s.successes += 1,
            }
            sink(Event::new(ts, EventBody::Auth(Box::new(e))))?;
        }
        anyhow::Ok(())
    };
    loop {
        buf.clear();
        if reader
            .read_until(b'\n', &mut buf)
            .context("reading the log")?
            == 0
        {
            break;
        }
        s.lines += 1;
        let line = String::from_utf8_lossy(&buf);
        parser.push_line(line.trim_end_matches(['\r', '\n']), now, &mut out);
        flush(&mut out, &mut s)?;
    }
    parser.finish(&mut out);
    flush(&mut out, &mut s)?;
    s.bad_lines = parser.bad_lines;
    s.seconds = started.elapsed().as_secs_f64();
    Ok(s)
}

/// Runs the subcommand.
pub fn run(
    path: &Path,
    format: Format,
    now: DateTime<FixedOffset>,
    output: Output,
) -> anyhow::Result<Summary> {
    let reader = open(path)?;
    match output {
        Output::Jsonl => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            let s = read(reader, format, now, &mut |ev| {
                serde_json::to_writer(&mut w, &ev)?;
                w.write_all(b"\n").context("writing to stdout")?;
                Ok(())
            })?;
            w.flush()?;
            Ok(s)
        }
        Output::None => read(reader, format, now, &mut |_| Ok(())),
        Output::Collector {
            url,
            token,
            name,
            state_dir,
            exercise,
        } => crate::pcap_cmd::ship_all(
            &url,
            &token,
            crate::ship::Origin {
                agent: name,
                exercise,
            },
            &state_dir,
            move |sink| read(reader, format, now, sink),
        ),
    }
}

/// What `log --explain` found.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExplainSummary {
    pub lines: u64,
    /// Lines that say something about authentication.
    pub saying: u64,
    /// Of those, lines that are evidence of a failed attempt.
    pub evidence: u64,
}

/// Writes what each line of `reader` says on its own (see
/// [`shouwang_logs::LogParser::explain_line`]) to `w` as JSON lines.
pub fn explain_to(
    mut reader: impl BufRead,
    format: Format,
    now: DateTime<FixedOffset>,
    w: &mut dyn Write,
) -> anyhow::Result<ExplainSummary> {
    let parser = LogParser::new(format);
    let mut s = ExplainSummary::default();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader
            .read_until(b'\n', &mut buf)
            .context("reading the log")?
            == 0
        {
            break;
        }
        s.lines += 1;
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\r', '\n']);
        let Some(says) = parser.explain_line(line, now) else {
            continue;
        };
        s.saying += 1;
        let evidence = says.is_failure_evidence();
        s.evidence += u64::from(evidence);
        serde_json::to_writer(
            &mut *w,
            &serde_json::json!({
                "line": s.lines,
                "says": says.as_str(),
                "evidence": evidence,
                "text": line,
            }),
        )?;
        w.write_all(b"\n").context("writing to stdout")?;
    }
    Ok(s)
}

/// Runs `log --explain`, printing to standard output.
pub fn explain(
    path: &Path,
    format: Format,
    now: DateTime<FixedOffset>,
) -> anyhow::Result<ExplainSummary> {
    let reader = open(path)?;
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let s = explain_to(reader, format, now, &mut w)?;
    w.flush()?;
    Ok(s)
}
