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

/// What one line says on its own ([`LogParser::explain_line`]). Failure
/// evidence is counted per session into attempts (see [`auth`]): several
/// such lines are often one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Says {
    /// The program's own `Failed …` (`FAILED SU`, `Login failed`, …).
    Failure,
    /// The program's own `Accepted …`.
    Success,
    /// A PAM `authentication failure` (or `PAM N more …`).
    PamFailure,
    /// Modern sshd's own `pam_unix(sshd:auth)` line: always also in a
    /// line of the connection's pid, so not counted on its own.
    PamFolded,
    /// sshd's `error: PAM: Authentication failure for …`.
    PamError,
    /// `Invalid user`, `not allowed because`, `ROOT LOGIN REFUSED`, …
    UserNamed,
    /// `maximum authentication attempts exceeded`.
    MaxTries,
    /// A new connection.
    Connect,
    /// The connection ended while sshd was authenticating a user it named.
    ClosedAuthenticating,
    /// The connection ended.
    Closed,
}

impl Says {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Failure => "failure",
            Self::Success => "success",
            Self::PamFailure => "pam-failure",
            Self::PamFolded => "pam-folded",
            Self::PamError => "pam-error",
            Self::UserNamed => "user-named",
            Self::MaxTries => "max-tries",
            Self::Connect => "connect",
            Self::ClosedAuthenticating => "closed-authenticating",
            Self::Closed => "closed",
        }
    }

    /// Evidence of a failed attempt (one or more lines per attempt).
    pub const fn is_failure_evidence(self) -> bool {
        !matches!(self, Self::Success | Self::Connect | Self::Closed)
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

    /// What one line says on its own, before counting (`log --explain`):
    /// `None` when it says nothing about authentication, or is not valid
    /// for the format. A line rsyslog folded (`message repeated N times`)
    /// says what its inner line says.
    pub fn explain_line(&self, line: &str, now: DateTime<FixedOffset>) -> Option<Says> {
        let rec = match self.format {
            Format::Auth => syslog::parse_line(line, now),
            Format::JournalJson => journal::parse_record(line).ok()??,
        };
        let mut message = rec.message.trim();
        if let Some(rest) = message.strip_prefix("message repeated ")
            && let Some((_, inner)) = rest.split_once(" times: [ ")
        {
            message = inner.strip_suffix(']').unwrap_or(inner).trim_end();
        }
        let program = rec.app.as_deref().unwrap_or("sshd");
        let (service, _) = auth::family(program);
        Some(match auth::classify(program, message)? {
            auth::Line::Attempt(a) if a.outcome == shouwang_proto::AuthOutcome::Success => {
                Says::Success
            }
            auth::Line::Attempt(_) => Says::Failure,
            auth::Line::Pam(p)
                if service == shouwang_proto::AuthService::Sshd && p.service.is_some() =>
            {
                Says::PamFolded
            }
            auth::Line::Pam(_) => Says::PamFailure,
            auth::Line::PamError(_) => Says::PamError,
            auth::Line::Signal(_) => Says::UserNamed,
            auth::Line::MaxTries(_) => Says::MaxTries,
            auth::Line::Connect(_) => Says::Connect,
            auth::Line::Close { who, preauth } if preauth && who.user.is_some() => {
                Says::ClosedAuthenticating
            }
            auth::Line::Close { .. } => Says::Closed,
        })
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

#[cfg(test)]
mod explain_tests {
    use super::*;

    fn says(line: &str) -> Option<Says> {
        let now = DateTime::parse_from_rfc3339("2026-12-03T18:00:00+08:00").unwrap();
        LogParser::new(Format::Auth).explain_line(line, now)
    }

    #[test]
    fn each_line_says_what_it_is_on_its_own() {
        let cases = [
            (
                "Dec  3 17:17:19 vm sshd[28516]: Failed password for swalice from 10.77.0.1 port 36048 ssh2",
                Some(Says::Failure),
            ),
            (
                "Dec  3 17:17:17 vm sshd[28516]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.77.0.1  user=swalice",
                Some(Says::PamFolded),
            ),
            (
                "Dec  3 17:17:25 vm sshd[28516]: error: maximum authentication attempts exceeded for swalice from 10.77.0.1 port 36048 ssh2 [preauth]",
                Some(Says::MaxTries),
            ),
            (
                "Dec  3 17:17:25 vm sshd[28516]: Disconnected from authenticating user root 10.77.0.1 port 36050 [preauth]",
                Some(Says::ClosedAuthenticating),
            ),
            (
                "Dec  3 17:17:25 vm sshd[28516]: Connection closed by 10.77.0.1 port 36050 [preauth]",
                Some(Says::Closed),
            ),
            (
                "Dec  3 17:17:25 vm sshd[28516]: Accepted password for swalice from 10.77.0.1 port 36050 ssh2",
                Some(Says::Success),
            ),
            (
                "Dec  3 17:19:14 vm proftpd[32092]: victim.lab.example (attacker.lab.example[10.77.0.1]) - Maximum login attempts (3) exceeded, connection refused",
                Some(Says::MaxTries),
            ),
            (
                "Dec  3 17:19:11 vm proftpd: pam_unix(proftpd:auth): authentication failure; logname= uid=0 euid=0 tty=/dev/ftpd32092 ruser=swalice rhost=attacker.lab.example  user=swalice",
                Some(Says::PamFailure),
            ),
            (
                "Mar  2 08:00:11 gw-01 sshd[703]: message repeated 2 times: [ Failed password for root from scanner.example.org port 6000 ssh2]",
                Some(Says::Failure),
            ),
            (
                "Dec  3 17:17:16 vm sshd[28422]: Server listening on 10.77.0.2 port 22.",
                None,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(says(line), want, "{line}");
        }
        assert!(Says::MaxTries.is_failure_evidence());
        assert!(Says::PamFolded.is_failure_evidence());
        assert!(!Says::Closed.is_failure_evidence());
        assert!(!Says::Success.is_failure_evidence());
    }
}
