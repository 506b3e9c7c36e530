//! The auth log's edge: lines from the followed file (or journalctl) go
//! through [`shouwang_logs`], which knows the dialects and counts one
//! event per failed attempt; this module only turns its output into
//! [`Event`]s and supplies the clock.

use chrono::{DateTime, Local};
use shouwang_logs::{Format, LogParser};
use shouwang_proto::{Event, EventBody, Timestamp};

/// A stream of auth-log lines in one format, read into events.
#[derive(Debug)]
pub struct AuthLog {
    parser: LogParser,
    buf: Vec<shouwang_logs::Emitted>,
}

impl AuthLog {
    pub fn new(format: Format) -> Self {
        Self {
            parser: LogParser::new(format),
            buf: Vec::new(),
        }
    }

    /// One line; `now` is the wall clock when it was read (year-less
    /// stamps are placed relative to it).
    pub fn line(&mut self, line: &str, now: DateTime<Local>) -> Vec<Event> {
        self.parser
            .push_line(line, now.fixed_offset(), &mut self.buf);
        self.drain()
    }

    /// Called when no line came for a while: idle sessions end.
    pub fn tick(&mut self, now: DateTime<Local>) -> Vec<Event> {
        let ts = Timestamp::from_nanos(now.timestamp_nanos_opt().unwrap_or_default());
        self.parser.tick(ts, &mut self.buf);
        self.drain()
    }

    /// End of input.
    pub fn finish(&mut self) -> Vec<Event> {
        self.parser.finish(&mut self.buf);
        self.drain()
    }

    /// Journal lines that were not JSON records.
    pub fn bad_lines(&self) -> u64 {
        self.parser.bad_lines
    }

    fn drain(&mut self) -> Vec<Event> {
        self.buf
            .drain(..)
            .map(|(ts, e)| Event::new(ts, EventBody::Auth(Box::new(e))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn lines_become_auth_events_and_pending_ones_come_at_the_end() {
        let now = Local.with_ymd_and_hms(2026, 12, 3, 18, 0, 0).unwrap();
        let mut log = AuthLog::new(Format::Auth);
        let got = log.line(
            "Dec  3 17:16:30 vm sshd[22094]: Failed password for root from 10.77.0.1 port 60732 ssh2",
            now,
        );
        assert_eq!(got.len(), 1);
        assert!(matches!(&got[0].body, EventBody::Auth(a) if a.user == "root"));
        // A connection that only named its user: counted when it ends.
        assert!(
            log.line(
                "Dec  3 17:17:09 vm sshd[27997]: Invalid user nosuchuser from 10.77.0.1 port 60602",
                now
            )
            .is_empty()
        );
        assert_eq!(log.finish().len(), 1);
    }
}
