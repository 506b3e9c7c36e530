//! shouwang-logs: log dialects on text only.
//!
//! Lines in, events out: syslog framing ([`syslog`]: RFC 3164 with the
//! year inferred from an injected `now`, RFC 5424 with structured data,
//! RFC 3339 stamps, bare `sshd -E` lines), journald records ([`journal`])
//! and the auth-log dialects ([`auth`]: sshd in every OpenSSH generation,
//! PAM, su, sudo, login, vsftpd, proftpd), counted one event per failed
//! attempt.
//!
//! Deliberately without tokio, files, sockets or clocks: the agent's
//! file follower, `shouwang-agent log` and (next) a syslog receiver are
//! the edges that feed lines and a `now`. New formats are a new
//! [`Format`] variant and a module.

pub mod auth;
mod error;
pub mod journal;
pub mod syslog;

use chrono::{DateTime, FixedOffset};
use shouwang_proto::{AuthEvent, Timestamp};

pub use auth::AuthCounter;
pub use error::Error;
pub use syslog::Record;

/// What a log file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An auth log in any syslog framing (`/var/log/auth.log`,
    /// `/var/log/secure`, RFC 5424 files, `sshd -E` output).
    Auth,
    /// `journalctl --output=json` lines.
    JournalJson,
}

impl Format {
    /// Names accepted by [`Format::parse`] (first of each is canonical).
    pub const NAMES: &'static [&'static str] = error::FORMAT_NAMES;

    pub fn parse(name: &str) -> Result<Self, Error> {
        match name {
            "auth" | "syslog" | "secure" => Ok(Self::Auth),
            "journal" | "journal-json" | "journald" => Ok(Self::JournalJson),
            other => Err(Error::UnknownFormat(other.to_owned())),
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::JournalJson => "journal",
        }
    }
}

/// One event a log yields.
pub type Emitted = (Timestamp, AuthEvent);

/// A stateful reader of one log stream in one [`Format`].
#[derive(Debug)]
pub struct LogParser {
    format: Format,
    counter: AuthCounter,
    /// Lines that were not valid for the format (journal JSON errors).
    pub bad_lines: u64,
}

impl LogParser {
    pub fn new(format: Format) -> Self {
        Self {
            format,
            counter: AuthCounter::new(),
            bad_lines: 0,
        }
    }

    pub const fn format(&self) -> Format {
        self.format
    }

    /// One line (without its newline). `now` places year-less stamps and
    /// stamps lines that carry no time.
    pub fn push_line(&mut self, line: &str, now: DateTime<FixedOffset>, out: &mut Vec<Emitted>) {
        let fallback = Timestamp::from_nanos(now.timestamp_nanos_opt().unwrap_or_default());
        let rec = match self.format {
            Format::Auth => syslog::parse_line(line, now),
            Format::JournalJson => {
                if line.trim().is_empty() {
                    return;
                }
                match journal::parse_record(line) {
                    Ok(Some(r)) => r,
                    Ok(None) => return,
                    Err(_) => {
                        self.bad_lines += 1;
                        return;
                    }
                }
            }
        };
        self.counter.push(&rec, fallback, out);
    }

    /// Closes sessions idle before `now` (log time): call it from a
    /// follower when no line has come for a while.
    pub fn tick(&mut self, now: Timestamp, out: &mut Vec<Emitted>) {
        self.counter.expire(now, out);
    }

    /// End of input.
    pub fn finish(&mut self, out: &mut Vec<Emitted>) {
        self.counter.finish(out);
    }
}
