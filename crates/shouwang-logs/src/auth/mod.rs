//! Auth-log events: one failure event per failed authentication attempt.
//!
//! Daemons write several lines per attempt (sshd: `pam_unix(sshd:auth):
//! authentication failure` then `Failed password`; `Invalid user` then
//! `Failed password for invalid user`; then `Connection closed by … user …
//! [preauth]`), and some attempts get no `Failed` line at all (pubkey-only
//! servers, `PasswordAuthentication no`, invalid users refused before a
//! password, keyboard-interactive through PAM, pam-only dialects). So lines
//! are counted per session, one session per connection or invocation:
//!
//! - sshd (and sshd-session, sshd-auth, legacy `sshd(pam_unix)`): keyed on
//!   host and pid (each sshd child is one connection), or on the peer's
//!   address and port for `sshd -E` lines, which carry no pid;
//! - su and sudo: on host and invoking user (their PAM lines carry no pid,
//!   their own lines may);
//! - proftpd: on pid (its PAM lines name it in `tty=/dev/ftpdPID`);
//! - vsftpd and other PAM services: on peer and user.
//!
//! A session's failures are the largest of its own failure lines
//! (`Failed …`, `FAILED SU`, `N incorrect password attempts`, `Login
//! failed`), its PAM failures (`authentication failure` plus `PAM N more
//! authentication failures`), sshd's `error: PAM: Authentication failure`
//! lines, and 1 when the connection ended after sshd named a user it was
//! authenticating (`Invalid user`, `authenticating user`, `maximum
//! authentication attempts exceeded`, `ROOT LOGIN REFUSED`) without any
//! line above. Each is a different view of the same attempts; the largest
//! is the number of attempts. Events go out as soon as that number grows:
//! own lines at once (they name the method and port); PAM lines of programs
//! that also write their own at the session's end, at its expiry or at
//! [`AuthCounter::finish`]; PAM lines of programs that write nothing else
//! (vsftpd, login services) at once.
//!
//! `pam_unix(sshd:auth)` lines of modern sshd are not counted on their own:
//! for keyboard-interactive they come from a PAM helper process with a pid
//! of its own, and every such attempt is also in a `Failed`, `error: PAM`
//! or close line of the connection's pid.
//!
//! Sessions are bounded: a session unseen for [`SESSION_IDLE`] (log time)
//! is closed (its pending failures go out) and forgotten, and at most
//! [`MAX_SESSIONS`] are kept (the oldest is closed first).

pub mod lines;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use shouwang_proto::{AuthEvent, AuthOutcome, AuthService, Timestamp};

use crate::syslog::Record;
pub use lines::{Line, Source, Who, classify, family};

/// Longest message kept in [`AuthEvent::message`].
pub const MAX_MESSAGE: usize = 1024;
/// A session idle this long (log time) is closed and forgotten.
pub const SESSION_IDLE: i64 = 600 * 1_000_000_000;
/// Sessions kept at most.
pub const MAX_SESSIONS: usize = 8192;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pid(Option<String>, &'static str, u32),
    Peer(
        Option<String>,
        &'static str,
        Source,
        Option<u16>,
        Option<String>,
    ),
    User(Option<String>, AuthService, String),
}

#[derive(Debug, Clone)]
struct Session {
    service: AuthService,
    who: Who,
    hostname: Option<String>,
    own: u32,
    pam: u32,
    pam_error: u32,
    signal: bool,
    emitted: u32,
    succeeded: bool,
    closed: bool,
    /// The last line that could back an inferred event.
    last_msg: String,
    last_ts: Timestamp,
    method: Option<String>,
    target_user: Option<String>,
}

impl Session {
    fn new(service: AuthService, hostname: Option<String>) -> Self {
        Self {
            service,
            who: Who::default(),
            hostname,
            own: 0,
            pam: 0,
            pam_error: 0,
            signal: false,
            emitted: 0,
            succeeded: false,
            closed: false,
            last_msg: String::new(),
            last_ts: Timestamp::from_nanos(0),
            method: None,
            target_user: None,
        }
    }

    fn learn(&mut self, who: &Who) {
        if who.user.is_some() {
            self.who.user.clone_from(&who.user);
        }
        self.who.invalid |= who.invalid;
        // An address beats the name sshd or PAM resolved it to.
        let have_addr = matches!(self.who.source, Some(Source::Addr(_)));
        if who.source.is_some() && !(have_addr && matches!(who.source, Some(Source::Host(_)))) {
            self.who.source.clone_from(&who.source);
        }
        if who.port.is_some() {
            self.who.port = who.port;
        }
    }

    /// Attempts known so far, `closing` adding the inferred one.
    fn known(&self, closing: bool) -> u32 {
        let inferred = u32::from(closing && self.signal && !self.succeeded);
        self.own.max(self.pam).max(self.pam_error).max(inferred)
    }
}

/// Counts auth-log records into [`AuthEvent`]s (see the module docs).
#[derive(Debug, Default)]
pub struct AuthCounter {
    sessions: HashMap<Key, Session>,
    last_expire: i64,
}

/// How often (log time) idle sessions are looked for.
const EXPIRE_EVERY: i64 = 10 * 1_000_000_000;

/// Programs whose PAM lines are their only account of an attempt.
fn pam_only(service: AuthService) -> bool {
    matches!(service, AuthService::Vsftpd | AuthService::Pam)
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

fn make_event(s: &Session, outcome: AuthOutcome, msg: &str) -> AuthEvent {
    let (source_addr, source_host) = match &s.who.source {
        Some(Source::Addr(a)) => (Some(*a), None),
        Some(Source::Host(h)) => (None, Some(h.clone())),
        None => (None, None),
    };
    AuthEvent {
        service: s.service,
        outcome,
        user: s.who.user.clone().unwrap_or_default(),
        source_addr,
        source_port: s.who.port,
        source_host,
        method: s.method.clone(),
        target_user: s.target_user.clone(),
        invalid_user: s.who.invalid,
        hostname: s.hostname.clone(),
        message: truncate(msg.trim(), MAX_MESSAGE).to_owned(),
    }
}

/// Emits the failures `s` knows of beyond those already out.
fn emit_up_to(
    s: &mut Session,
    known: u32,
    ts: Timestamp,
    msg: &str,
    out: &mut Vec<(Timestamp, AuthEvent)>,
) {
    while s.emitted < known {
        s.emitted += 1;
        out.push((ts, make_event(s, AuthOutcome::Failure, msg)));
    }
}

impl AuthCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sessions held (for tests and metrics).
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Feeds one record; events it completes go to `out`. `fallback_ts`
    /// stamps records without a time (bare `sshd -E` lines).
    pub fn push(
        &mut self,
        rec: &Record,
        fallback_ts: Timestamp,
        out: &mut Vec<(Timestamp, AuthEvent)>,
    ) {
        let ts = rec.ts.unwrap_or(fallback_ts);
        let message = rec.message.trim();
        // rsyslog folds identical consecutive lines.
        if let Some(rest) = message.strip_prefix("message repeated ")
            && let Some((count, inner)) = rest.split_once(" times: [ ")
            && let Ok(count) = count.parse::<usize>()
        {
            let inner = inner.strip_suffix(']').unwrap_or(inner).trim_end();
            let mut r = rec.clone();
            r.message = inner.to_owned();
            for _ in 0..count.min(1000) {
                self.push(&r, fallback_ts, out);
            }
            return;
        }
        // Bare lines (`sshd -E`) are sshd's.
        let program = rec.app.as_deref().unwrap_or("sshd");
        let Some(line) = classify(program, message) else {
            return;
        };
        // Modern sshd's own PAM lines are not counted (module docs).
        let (service, _) = family(program);
        if service == AuthService::Sshd
            && let Line::Pam(p) = &line
            && p.service.is_some()
        {
            return;
        }
        if ts.as_nanos() >= self.last_expire.saturating_add(EXPIRE_EVERY) {
            self.last_expire = ts.as_nanos();
            self.expire(ts, out);
        }
        let host = rec.hostname.clone();
        let key = session_key(&line, service, rec, &host);
        let Some(key) = key else {
            // Nothing to join the line with: count it on its own.
            let mut s = Session::new(service, host);
            self.apply(&mut s, &line, ts, message, out, false);
            if !s.closed {
                let k = s.known(false);
                emit_up_to(&mut s, k, ts, message, out);
            }
            return;
        };
        if self.sessions.len() >= MAX_SESSIONS && !self.sessions.contains_key(&key) {
            self.evict_oldest(out);
        }
        let mut s = self
            .sessions
            .remove(&key)
            .unwrap_or_else(|| Session::new(service, host.clone()));
        // A new connection on a pid seen before: the pid was reused; a
        // new su or sudo invocation after the last one ended.
        let reused = matches!(line, Line::Connect(_)) && (s.closed || s.known(false) > 0);
        if reused || (s.closed && matches!(service, AuthService::Su | AuthService::Sudo)) {
            s = Session::new(service, host);
        }
        self.apply(&mut s, &line, ts, message, out, true);
        s.last_ts = ts;
        self.sessions.insert(key, s);
    }

    fn apply(
        &mut self,
        s: &mut Session,
        line: &Line,
        ts: Timestamp,
        msg: &str,
        out: &mut Vec<(Timestamp, AuthEvent)>,
        keyed: bool,
    ) {
        match line {
            Line::Attempt(a) => {
                s.learn(&a.who);
                s.method.clone_from(&a.method);
                if a.target_user.is_some() {
                    s.target_user.clone_from(&a.target_user);
                }
                match a.outcome {
                    AuthOutcome::Success => {
                        s.succeeded = true;
                        out.push((ts, make_event(s, AuthOutcome::Success, msg)));
                    }
                    AuthOutcome::Failure => {
                        s.own = s.own.saturating_add(a.count);
                        let k = s.known(false);
                        emit_up_to(s, k, ts, msg, out);
                    }
                }
                // su and sudo write their line when the invocation ends.
                if matches!(s.service, AuthService::Su | AuthService::Sudo) {
                    s.closed = true;
                }
            }
            Line::Pam(p) => {
                let mut who = p.who.clone();
                if who.user.is_none() {
                    who.user.clone_from(&p.ruser);
                }
                // For su/sudo the account PAM checks is the target; the
                // attempt belongs to the invoking user.
                if matches!(s.service, AuthService::Su | AuthService::Sudo) {
                    s.target_user.clone_from(&who.user);
                    who.user.clone_from(&p.ruser);
                }
                s.learn(&who);
                s.pam = s.pam.saturating_add(p.count);
                if pam_only(s.service) || s.closed || !keyed {
                    let k = s.known(false);
                    emit_up_to(s, k, ts, msg, out);
                } else {
                    s.last_msg = msg.to_owned();
                }
            }
            Line::PamError(who) => {
                s.learn(who);
                s.pam_error = s.pam_error.saturating_add(1);
                s.method
                    .get_or_insert_with(|| "keyboard-interactive/pam".into());
                let k = s.known(false);
                emit_up_to(s, k, ts, msg, out);
            }
            Line::Signal(who) => {
                s.learn(who);
                s.signal = true;
                s.last_msg = msg.to_owned();
            }
            Line::MaxTries(who) => {
                s.learn(who);
                s.signal = true;
                let k = s.known(true);
                emit_up_to(s, k, ts, msg, out);
            }
            Line::Connect(who) => s.learn(who),
            Line::Close { who, preauth } => {
                s.learn(who);
                if *preauth && who.user.is_some() {
                    s.signal = true;
                }
                if !s.closed {
                    s.closed = true;
                    let k = s.known(*preauth);
                    emit_up_to(s, k, ts, msg, out);
                }
            }
        }
    }

    /// Closes sessions idle for [`SESSION_IDLE`] before `now` (log time)
    /// and forgets them.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<(Timestamp, AuthEvent)>) {
        let cutoff = now.as_nanos().saturating_sub(SESSION_IDLE);
        let old: Vec<Key> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.last_ts.as_nanos() < cutoff)
            .map(|(k, _)| k.clone())
            .collect();
        for k in old {
            if let Some(s) = self.sessions.remove(&k) {
                close(s, out);
            }
        }
    }

    fn evict_oldest(&mut self, out: &mut Vec<(Timestamp, AuthEvent)>) {
        // Evict an eighth at once so a full table is not scanned per line.
        let mut by_age: Vec<(Timestamp, Key)> = self
            .sessions
            .iter()
            .map(|(k, s)| (s.last_ts, k.clone()))
            .collect();
        by_age.sort_by_key(|(t, _)| *t);
        for (_, k) in by_age.into_iter().take((MAX_SESSIONS / 8).max(1)) {
            if let Some(s) = self.sessions.remove(&k) {
                close(s, out);
            }
        }
    }

    /// End of input: every open session is closed.
    pub fn finish(&mut self, out: &mut Vec<(Timestamp, AuthEvent)>) {
        let mut all: Vec<Session> = self.sessions.drain().map(|(_, s)| s).collect();
        all.sort_by_key(|s| s.last_ts);
        for s in all {
            close(s, out);
        }
    }
}

fn close(mut s: Session, out: &mut Vec<(Timestamp, AuthEvent)>) {
    if s.closed {
        return;
    }
    // Ended without a close line (idle, evicted, end of input): a user it
    // named counts as an attempt, as a close would.
    let k = s.known(true);
    let (ts, msg) = (s.last_ts, s.last_msg.clone());
    emit_up_to(&mut s, k, ts, &msg, out);
}

fn session_key(
    line: &Line,
    service: AuthService,
    rec: &Record,
    host: &Option<String>,
) -> Option<Key> {
    let fam: &'static str = match service {
        AuthService::Sshd => "sshd",
        AuthService::Proftpd => "proftpd",
        _ => "",
    };
    let who = match line {
        Line::Attempt(a) => Some(&a.who),
        Line::Pam(p) => Some(&p.who),
        Line::PamError(w)
        | Line::Signal(w)
        | Line::MaxTries(w)
        | Line::Connect(w)
        | Line::Close { who: w, .. } => Some(w),
    };
    match service {
        AuthService::Su | AuthService::Sudo => {
            let user = match line {
                Line::Pam(p) => p.ruser.clone(),
                _ => who.and_then(|w| w.user.clone()),
            }?;
            Some(Key::User(host.clone(), service, user))
        }
        AuthService::Sshd | AuthService::Proftpd => {
            let pid = rec.pid.or_else(|| match line {
                // proftpd's PAM lines: `tty=/dev/ftpd32092`.
                Line::Pam(_) if service == AuthService::Proftpd => rec
                    .message
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix("tty=/dev/ftpd"))
                    .and_then(|p| p.parse().ok()),
                _ => None,
            });
            if let Some(pid) = pid {
                return Some(Key::Pid(host.clone(), fam, pid));
            }
            let w = who?;
            Some(Key::Peer(
                host.clone(),
                fam,
                w.source.clone()?,
                w.port,
                None,
            ))
        }
        _ => {
            let w = who?;
            Some(Key::Peer(
                host.clone(),
                "",
                w.source.clone()?,
                None,
                w.user.clone(),
            ))
        }
    }
}
