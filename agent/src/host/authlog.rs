//! Parsing sshd, su and sudo lines from the system auth log.
//!
//! Pure functions over text: a syslog line (`/var/log/auth.log`, RFC 3339 or
//! BSD timestamps) or a journald record's fields in, [`AuthEvent`]s out.
//! Lines that are not authentication attempts yield nothing. PAM's own lines
//! are skipped because sshd, su and sudo log the same attempt themselves;
//! counting both would double every failure.

use chrono::{DateTime, Datelike, Local, NaiveDateTime, TimeZone};
use shouwang_proto::{AuthEvent, AuthOutcome, AuthService, Timestamp};

/// Longest message kept in [`AuthEvent::message`].
pub const MAX_MESSAGE: usize = 1024;

/// A syslog line split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogLine<'a> {
    pub ts: Option<Timestamp>,
    pub hostname: Option<&'a str>,
    /// Program name without `[pid]`.
    pub program: &'a str,
    pub message: &'a str,
}

/// Splits `Mar  5 10:11:12 host prog[12]: msg` or
/// `2024-03-05T10:11:12.123+08:00 host prog[12]: msg`.
///
/// BSD timestamps carry no year or zone: they are read as local time in the
/// year of `now`, or the year before when that would lie more than a day
/// ahead of `now` (a December line read in January).
pub fn split_syslog(line: &str, now: DateTime<Local>) -> Option<SyslogLine<'_>> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (ts, rest) = if line.len() > 16 && line.as_bytes().get(3) == Some(&b' ') {
        let stamp = line.get(..15)?;
        (bsd_timestamp(stamp, now), line.get(16..)?)
    } else {
        let (first, rest) = line.split_once(' ')?;
        let ts = DateTime::parse_from_rfc3339(first)
            .ok()
            .and_then(|d| d.timestamp_nanos_opt())
            .map(Timestamp::from_nanos);
        ts?;
        (ts, rest)
    };
    let (hostname, rest) = rest.split_once(' ')?;
    let (tag, message) = rest.split_once(": ")?;
    let program = tag.split('[').next().unwrap_or(tag);
    if program.is_empty() || program.contains(' ') {
        return None;
    }
    Some(SyslogLine {
        ts,
        hostname: Some(hostname),
        program,
        message,
    })
}

fn bsd_timestamp(stamp: &str, now: DateTime<Local>) -> Option<Timestamp> {
    let parse = |year: i32| {
        NaiveDateTime::parse_from_str(&format!("{year} {stamp}"), "%Y %b %e %H:%M:%S")
            .ok()
            .and_then(|n| Local.from_local_datetime(&n).earliest())
    };
    let mut t = parse(now.year())?;
    if t > now + chrono::Duration::days(1) {
        t = parse(now.year() - 1)?;
    }
    t.timestamp_nanos_opt().map(Timestamp::from_nanos)
}

/// Auth events in one syslog line (usually zero or one; a `message repeated
/// N times` line yields N).
pub fn parse_syslog_line(line: &str, now: DateTime<Local>) -> Vec<(Timestamp, AuthEvent)> {
    let Some(l) = split_syslog(line, now) else {
        // `sshd -E FILE` writes bare messages (no time, host or program):
        // read them as sshd's, at the time they are read.
        let ts = Timestamp::from_nanos(now.timestamp_nanos_opt().unwrap_or_default());
        return parse_message("sshd", line.trim_end(), None)
            .into_iter()
            .map(|e| (ts, e))
            .collect();
    };
    let ts = l
        .ts
        .unwrap_or_else(|| Timestamp::from_nanos(now.timestamp_nanos_opt().unwrap_or_default()));
    parse_message(l.program, l.message, l.hostname)
        .into_iter()
        .map(|e| (ts, e))
        .collect()
}

/// Auth events in one message from `program`.
pub fn parse_message(program: &str, message: &str, hostname: Option<&str>) -> Vec<AuthEvent> {
    // rsyslog folds identical consecutive lines.
    if let Some(rest) = message.strip_prefix("message repeated ")
        && let Some((count, inner)) = rest.split_once(" times: [ ")
        && let Ok(count) = count.parse::<usize>()
    {
        let inner = inner.strip_suffix(']').unwrap_or(inner).trim_end();
        return parse_message(program, inner, hostname)
            .into_iter()
            .cycle()
            .take(count.min(1000))
            .collect();
    }
    let parsed = match program {
        "sshd" | "sshd-session" => parse_sshd(message).map(|e| vec![e]),
        "su" => parse_su(message).map(|e| vec![e]),
        "sudo" => parse_sudo(message),
        _ => None,
    };
    let mut events = parsed.unwrap_or_default();
    for e in &mut events {
        e.hostname = hostname.map(str::to_owned);
        e.message = truncate(message, MAX_MESSAGE).to_owned();
    }
    events
}

fn event(service: AuthService, outcome: AuthOutcome, user: &str) -> AuthEvent {
    AuthEvent {
        service,
        outcome,
        user: user.to_owned(),
        source_addr: None,
        source_port: None,
        method: None,
        target_user: None,
        invalid_user: false,
        hostname: None,
        message: String::new(),
    }
}

/// `Failed password for [invalid user ]USER from ADDR port N ssh2`,
/// `Accepted publickey for USER from ADDR port N ssh2: ...`.
fn parse_sshd(msg: &str) -> Option<AuthEvent> {
    let (outcome, rest) = if let Some(r) = msg.strip_prefix("Failed ") {
        (AuthOutcome::Failure, r)
    } else if let Some(r) = msg.strip_prefix("Accepted ") {
        (AuthOutcome::Success, r)
    } else {
        return None;
    };
    let (method, rest) = rest.split_once(" for ")?;
    let (user_part, from) = rest.rsplit_once(" from ")?;
    let (invalid_user, user) = match user_part.strip_prefix("invalid user ") {
        Some(u) => (true, u),
        None => (false, user_part),
    };
    let mut words = from.split(' ');
    let addr = words.next()?.parse().ok()?;
    let port = match (words.next(), words.next()) {
        (Some("port"), Some(p)) => p.trim_end_matches(':').parse().ok(),
        _ => None,
    };
    let mut e = event(AuthService::Sshd, outcome, user);
    e.method = Some(method.to_owned());
    e.source_addr = Some(addr);
    e.source_port = port;
    e.invalid_user = invalid_user;
    Some(e)
}

/// util-linux and shadow su: `FAILED SU (to root) bob on pts/0`,
/// `(to root) bob on pts/0`, `Successful su for root by bob`,
/// `FAILED su for root by bob`.
fn parse_su(msg: &str) -> Option<AuthEvent> {
    let (outcome, rest) = match msg.strip_prefix("FAILED SU ") {
        Some(r) => (AuthOutcome::Failure, r),
        None => (AuthOutcome::Success, msg),
    };
    if let Some(r) = rest.strip_prefix("(to ") {
        let (target, r) = r.split_once(") ")?;
        let user = r.split(" on ").next()?;
        let mut e = event(AuthService::Su, outcome, user);
        e.target_user = Some(target.to_owned());
        return Some(e);
    }
    let (outcome, rest) = if let Some(r) = msg.strip_prefix("Successful su for ") {
        (AuthOutcome::Success, r)
    } else if let Some(r) = msg.strip_prefix("FAILED su for ") {
        (AuthOutcome::Failure, r)
    } else {
        return None;
    };
    let (target, user) = rest.split_once(" by ")?;
    let mut e = event(AuthService::Su, outcome, user.trim());
    e.target_user = Some(target.to_owned());
    Some(e)
}

/// `bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id` (success),
/// `bob : 3 incorrect password attempts ; TTY=... ; USER=root ; COMMAND=...`,
/// `bob : user NOT in sudoers ; ...` (failures).
fn parse_sudo(msg: &str) -> Option<Vec<AuthEvent>> {
    let (user, rest) = msg.trim_start().split_once(" : ")?;
    if user.is_empty() || user.contains(' ') {
        return None;
    }
    let mut fields = rest.split(" ; ");
    let first = fields.next()?;
    let (outcome, attempts, fields): (_, usize, Vec<&str>) = if first.contains('=') {
        (AuthOutcome::Success, 1, rest.split(" ; ").collect())
    } else {
        let attempts = first
            .strip_suffix(" incorrect password attempts")
            .or_else(|| first.strip_suffix(" incorrect password attempt"))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        (AuthOutcome::Failure, attempts, fields.collect())
    };
    let field = |k: &str| {
        fields
            .iter()
            .find_map(|f| f.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
    };
    // Lines like `bob : unable to resolve host` have neither USER nor COMMAND.
    field("COMMAND")?;
    let mut e = event(AuthService::Sudo, outcome, user);
    e.target_user = Some(field("USER").unwrap_or("root").to_owned());
    e.method = Some("password".to_owned());
    Some(vec![e; attempts.clamp(1, 100)])
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

/// One journald record as printed by `journalctl --output=json`.
pub fn parse_journal_json(line: &str) -> Vec<(Timestamp, AuthEvent)> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return Vec::new();
    };
    let text = |k: &str| match v.get(k) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        // Non-UTF-8 fields come as arrays of bytes.
        Some(serde_json::Value::Array(a)) => Some(
            String::from_utf8_lossy(
                &a.iter()
                    .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect::<Vec<u8>>(),
            )
            .into_owned(),
        ),
        _ => None,
    };
    let (Some(program), Some(message)) = (
        text("SYSLOG_IDENTIFIER").or_else(|| text("_COMM")),
        text("MESSAGE"),
    ) else {
        return Vec::new();
    };
    let ts = text("__REALTIME_TIMESTAMP")
        .and_then(|us| us.parse::<i64>().ok())
        .map(|us| Timestamp::from_nanos(us.saturating_mul(1000)))
        .unwrap_or_else(|| Timestamp::from_system_time(std::time::SystemTime::now()));
    let host = text("_HOSTNAME");
    parse_message(&program, &message, host.as_deref())
        .into_iter()
        .map(|e| (ts, e))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_sshd_log_lines_from_sshd_e() {
        let now = Local::now();
        let got = parse_syslog_line(
            "Failed password for invalid user admin from 10.9.0.1 port 46180 ssh2",
            now,
        );
        assert_eq!(got.len(), 1);
        let e = &got[0].1;
        assert_eq!(
            (e.service, e.outcome, e.invalid_user),
            (AuthService::Sshd, AuthOutcome::Failure, true)
        );
        assert_eq!(e.source_addr, Some("10.9.0.1".parse().unwrap()));
        assert!(parse_syslog_line("Server listening on 127.0.0.1 port 2222.", now).is_empty());
        assert!(parse_syslog_line("random text", now).is_empty());
    }

    fn now() -> DateTime<Local> {
        Local.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap()
    }

    fn one(line: &str) -> AuthEvent {
        let mut v = parse_syslog_line(line, now());
        assert_eq!(v.len(), 1, "{line}: {v:?}");
        v.remove(0).1
    }

    #[test]
    fn sshd_failed_password() {
        let e = one(
            "Jan 10 11:59:01 web-01 sshd[811]: Failed password for root from 203.0.113.9 port 40022 ssh2",
        );
        assert_eq!(e.service, AuthService::Sshd);
        assert_eq!(e.outcome, AuthOutcome::Failure);
        assert_eq!(e.user, "root");
        assert_eq!(e.source_addr, Some("203.0.113.9".parse().unwrap()));
        assert_eq!(e.source_port, Some(40022));
        assert_eq!(e.method.as_deref(), Some("password"));
        assert_eq!(e.hostname.as_deref(), Some("web-01"));
        assert!(!e.invalid_user);
    }

    #[test]
    fn sshd_invalid_user_and_ipv6_and_rfc3339() {
        let line = "2026-01-10T11:59:01.123456+08:00 web-01 sshd-session[9]: Failed password for invalid user admin from 2001:db8::7 port 5 ssh2";
        let v = parse_syslog_line(line, now());
        let (ts, e) = &v[0];
        assert_eq!(*ts, Timestamp::from_nanos(1_768_017_541_123_456_000));
        assert!(e.invalid_user);
        assert_eq!(e.user, "admin");
        assert_eq!(e.source_addr, Some("2001:db8::7".parse().unwrap()));
    }

    #[test]
    fn sshd_accepted_publickey() {
        let e = one(
            "Jan 10 08:00:00 h sshd[1]: Accepted publickey for alice from 198.51.100.2 port 51234 ssh2: ED25519 SHA256:abc",
        );
        assert_eq!(e.outcome, AuthOutcome::Success);
        assert_eq!(e.method.as_deref(), Some("publickey"));
        assert_eq!(e.source_port, Some(51234));
    }

    #[test]
    fn repeated_message_counts_each_attempt() {
        let v = parse_syslog_line(
            "Jan 10 08:00:00 h sshd[1]: message repeated 3 times: [ Failed password for root from 192.0.2.1 port 22 ssh2]",
            now(),
        );
        assert_eq!(v.len(), 3);
        assert!(v.iter().all(|(_, e)| e.user == "root"));
    }

    #[test]
    fn su_variants() {
        let f = one("Jan 10 08:00:00 h su[5]: FAILED SU (to root) bob on pts/0");
        assert_eq!((f.outcome, f.user.as_str()), (AuthOutcome::Failure, "bob"));
        assert_eq!(f.target_user.as_deref(), Some("root"));
        let s = one("Jan 10 08:00:00 h su[5]: (to root) bob on pts/0");
        assert_eq!(s.outcome, AuthOutcome::Success);
        let s2 = one("Jan 10 08:00:00 h su[5]: Successful su for postgres by root");
        assert_eq!(
            (s2.user.as_str(), s2.target_user.as_deref()),
            ("root", Some("postgres"))
        );
    }

    #[test]
    fn sudo_success_and_failures() {
        let s = one(
            "Jan 10 08:00:00 h sudo:      bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id",
        );
        assert_eq!((s.outcome, s.user.as_str()), (AuthOutcome::Success, "bob"));
        assert_eq!(s.target_user.as_deref(), Some("root"));
        let f = parse_syslog_line(
            "Jan 10 08:00:00 h sudo:      bob : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id",
            now(),
        );
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].1.outcome, AuthOutcome::Failure);
        let n = one(
            "Jan 10 08:00:00 h sudo:      eve : user NOT in sudoers ; TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/sh",
        );
        assert_eq!((n.outcome, n.user.as_str()), (AuthOutcome::Failure, "eve"));
    }

    #[test]
    fn pam_and_noise_are_skipped() {
        for line in [
            "Jan 10 08:00:00 h sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.1  user=root",
            "Jan 10 08:00:00 h sshd[1]: Connection closed by 192.0.2.1 port 22 [preauth]",
            "Jan 10 08:00:00 h sshd[1]: Invalid user admin from 192.0.2.1 port 22",
            "Jan 10 08:00:00 h sudo: pam_unix(sudo:session): session opened for user root(uid=0) by bob(uid=1000)",
            "Jan 10 08:00:00 h CRON[2]: pam_unix(cron:session): session closed for user root",
            "Jan 10 08:00:00 h sudo:      bob : unable to resolve host h: Name or service not known",
            "garbage",
            "",
            "Jan 10 08:00:00 h",
        ] {
            assert!(parse_syslog_line(line, now()).is_empty(), "{line}");
        }
    }

    #[test]
    fn december_line_read_in_january_is_last_year() {
        let l = split_syslog("Dec 31 23:59:59 h sshd[1]: x", now()).unwrap();
        let expected = Local.with_ymd_and_hms(2025, 12, 31, 23, 59, 59).unwrap();
        assert_eq!(l.ts.unwrap().as_secs(), expected.timestamp());
    }

    #[test]
    fn long_messages_are_truncated_on_a_char_boundary() {
        let user = "用".repeat(600);
        let line = format!(
            "Jan 10 08:00:00 h sshd[1]: Failed password for {user} from 192.0.2.1 port 22 ssh2"
        );
        let e = one(&line);
        assert!(e.message.len() <= MAX_MESSAGE);
        assert_eq!(e.user, user);
    }

    #[test]
    fn journal_records() {
        let rec = r#"{"__REALTIME_TIMESTAMP":"1768017541000000","_HOSTNAME":"web-01","SYSLOG_IDENTIFIER":"sshd","MESSAGE":"Failed password for root from 192.0.2.1 port 2222 ssh2"}"#;
        let v = parse_journal_json(rec);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, Timestamp::from_secs(1_768_017_541));
        assert_eq!(v[0].1.source_port, Some(2222));
        // MESSAGE as a byte array (non-UTF-8 journal field)
        let bytes: Vec<String> = "Accepted password for bob from 192.0.2.2 port 1 ssh2"
            .bytes()
            .map(|b| b.to_string())
            .collect();
        let rec = format!(
            r#"{{"SYSLOG_IDENTIFIER":"sshd","MESSAGE":[{}]}}"#,
            bytes.join(",")
        );
        assert_eq!(parse_journal_json(&rec)[0].1.user, "bob");
        assert!(parse_journal_json("{not json").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_lines_never_panic(s in "\\PC{0,300}") {
            let _ = parse_syslog_line(&s, now());
            let _ = parse_message("sshd", &s, None);
            let _ = parse_message("sudo", &s, None);
            let _ = parse_message("su", &s, None);
        }

        #[test]
        fn mutated_real_lines_never_panic(cut in 0usize..120, junk in "\\PC{0,20}") {
            let base = "Jan 10 11:59:01 web-01 sshd[811]: message repeated 2 times: [ Failed password for root from 203.0.113.9 port 40022 ssh2]";
            let cut = cut.min(base.len());
            let line = format!("{}{}", &base[..cut], junk);
            let _ = parse_syslog_line(&line, now());
        }
    }
}
