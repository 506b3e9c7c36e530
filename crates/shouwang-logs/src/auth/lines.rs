//! What one auth-log message says, before counting: each daemon's own
//! format strings, read by hand (no regular expressions), so a change in
//! one dialect is a change in one function.
//!
//! Formats by program (the `program` of the record, `[pid]` removed):
//! - sshd, sshd-session (OpenSSH 9.8+), sshd-auth (10.0+): auth2.c
//!   `auth_log` (`Failed|Accepted|Postponed METHOD for [invalid user ]USER
//!   from ADDR port N ssh2[: KEY]`), `Invalid user USER from ADDR port N`,
//!   `User USER from ADDR not allowed because …`, `ROOT LOGIN REFUSED FROM
//!   ADDR [port N]`, `error: maximum authentication attempts exceeded for
//!   …`, `error: PAM: Authentication failure for [illegal user ]USER from
//!   HOST` (auth-pam.c), and the ends of a connection (`Connection closed
//!   by|reset by|Disconnected from|Disconnecting [invalid user
//!   USER|authenticating user USER|user USER ]ADDR port N …`,
//!   `Timeout before authentication for ADDR port N`);
//! - PAM: `pam_unix(SERVICE:auth): authentication failure; logname= uid=
//!   euid= tty= ruser= rhost=HOST [ user=USER]` and `PAM N more
//!   authentication failures; …` from any program, and the legacy form of
//!   RHEL/CentOS 4-5 where the program is `sshd(pam_unix)` (or
//!   `su(pam_unix)`, …) and the message starts `authentication failure;`;
//! - su (util-linux, shadow), sudo, login (`FAILED LOGIN (N) on 'TTY' [FROM
//!   'HOST'] FOR 'USER', REASON`), vsftpd's own log lines when it logs to
//!   syslog (`[USER] FAIL LOGIN: Client "ADDR"`), proftpd (`HOST (ADDR[ADDR])
//!   - USER USER (Login failed): REASON` and `… no such user found from …`).

use std::net::IpAddr;

use shouwang_proto::{AuthOutcome, AuthService};

/// Where an attempt came from: an address, or the name sshd resolved it to
/// (`UseDNS yes`, PAM's `rhost`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    Addr(IpAddr),
    Host(String),
}

impl Source {
    /// `10.0.0.1`, `[2001:db8::1]`, `::ffff:10.0.0.1` (as IPv4) or a host
    /// name; `None` for empty, `UNKNOWN` or text that is neither.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim_matches(|c| c == '[' || c == ']' || c == '"');
        if s.is_empty() || s.eq_ignore_ascii_case("unknown") || s.len() > 253 {
            return None;
        }
        if let Ok(a) = s.parse::<IpAddr>() {
            return Some(Self::Addr(a.to_canonical()));
        }
        let name_like = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
            && s.bytes().any(|b| b.is_ascii_alphabetic());
        name_like.then(|| Self::Host(s.to_ascii_lowercase()))
    }
}

/// Which program family a record belongs to, and so which lines are the
/// program's own account of an attempt.
pub fn family(program: &str) -> (AuthService, &str) {
    // `sshd(pam_unix)` (RHEL 4/5) is sshd's PAM speaking.
    let base = program.split('(').next().unwrap_or(program);
    let base = base.rsplit('/').next().unwrap_or(base);
    let service = match base {
        "sshd" | "sshd-session" | "sshd-auth" => AuthService::Sshd,
        "su" => AuthService::Su,
        "sudo" => AuthService::Sudo,
        "vsftpd" => AuthService::Vsftpd,
        "proftpd" => AuthService::Proftpd,
        "login" => AuthService::Login,
        _ => AuthService::Pam,
    };
    let key = match service {
        AuthService::Sshd => "sshd",
        _ => base,
    };
    (service, key)
}

/// One message, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// The program's own account of `count` attempts.
    Attempt(Attempt),
    /// PAM (pam_unix) says `count` attempts failed.
    Pam(PamFailure),
    /// sshd's PAM glue: `error: PAM: Authentication failure for …`.
    PamError(Who),
    /// Something about the connection's user that is not yet an attempt
    /// (`Invalid user`, `not allowed`, `ROOT LOGIN REFUSED`, `Failed none`,
    /// `Postponed …`).
    Signal(Who),
    /// `maximum authentication attempts exceeded`.
    MaxTries(Who),
    /// A new connection (`Connection from ADDR port N on …`).
    Connect(Who),
    /// The connection ended; `who.user` is set when sshd named the user it
    /// was authenticating (`authenticating user X`, `invalid user X`).
    Close { who: Who, preauth: bool },
}

/// Whom a line is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Who {
    pub user: Option<String>,
    pub invalid: bool,
    pub source: Option<Source>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub outcome: AuthOutcome,
    pub count: u32,
    pub who: Who,
    pub method: Option<String>,
    pub target_user: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PamFailure {
    pub count: u32,
    pub who: Who,
    /// The PAM service (`sshd`, `su`, `vsftpd`, …).
    pub service: Option<String>,
    /// The invoking account (`ruser`, else `logname`).
    pub ruser: Option<String>,
}

/// Classifies `message` from `program`; `None` for lines that say nothing
/// about authentication.
pub fn classify(program: &str, message: &str) -> Option<Line> {
    let msg = message.trim();
    let (service, _) = family(program);
    // Legacy `sshd(pam_unix)[pid]: authentication failure; …`.
    if program.contains("(pam_unix)") {
        return pam_unix(msg, None);
    }
    if let Some(rest) = msg.strip_prefix("pam_unix(") {
        let (svc, rest) = rest.split_once(')')?;
        let (svc, kind) = svc.split_once(':').unwrap_or((svc, ""));
        if kind != "auth" {
            return None;
        }
        return pam_unix(rest.trim_start_matches(':').trim(), Some(svc));
    }
    if msg.starts_with("PAM ") && msg.contains(" more authentication failure") {
        return pam_unix(msg, None);
    }
    match service {
        AuthService::Sshd => sshd(msg),
        AuthService::Su => su(msg),
        AuthService::Sudo => sudo(msg),
        AuthService::Login => login(msg),
        AuthService::Vsftpd => vsftpd(msg),
        AuthService::Proftpd => proftpd(msg),
        AuthService::Pam => None,
    }
}

/// `authentication failure; logname= uid=0 … rhost=H  user=U` or
/// `PAM 2 more authentication failures; …`.
fn pam_unix(msg: &str, service: Option<&str>) -> Option<Line> {
    let (count, fields) = if let Some(f) = msg.strip_prefix("authentication failure;") {
        (1, f)
    } else if let Some(rest) = msg.strip_prefix("PAM ").or_else(|| {
        // Linux-PAM 0.x (RHEL 4/5) wrote it without the `PAM ` prefix.
        msg.starts_with(|c: char| c.is_ascii_digit()).then_some(msg)
    }) {
        let (n, rest) = rest.split_once(' ')?;
        let f = rest
            .strip_prefix("more authentication failures;")
            .or_else(|| rest.strip_prefix("more authentication failure;"))?;
        (n.parse().ok()?, f)
    } else {
        return None;
    };
    let field = |k: &str| {
        fields
            .split_whitespace()
            .find_map(|f| f.strip_prefix(k)?.strip_prefix('='))
            .filter(|v| !v.is_empty())
    };
    let who = Who {
        user: field("user").map(str::to_owned),
        invalid: false,
        source: field("rhost").and_then(Source::parse),
        port: None,
    };
    Some(Line::Pam(PamFailure {
        count: u32::min(count, 1000),
        who,
        service: service.map(str::to_owned),
        ruser: field("ruser")
            .or_else(|| field("logname"))
            .map(str::to_owned),
    }))
}

/// `[invalid user |illegal user |authenticating user |user ]NAME ADDR port N`
/// (sshd's `%s%s%s` prefixes around ADDR) → who. `NAME` may hold spaces.
fn user_addr_port(s: &str) -> Option<Who> {
    let s = s.trim();
    let (head, port) = match s.rsplit_once(" port ") {
        Some((h, p)) => {
            let p = p.split([' ', ':']).next().unwrap_or(p);
            (h, p.parse().ok())
        }
        None => (s, None),
    };
    let (rest, addr) = head.rsplit_once(' ').unwrap_or(("", head));
    let source = Some(Source::parse(addr)?);
    let (user, invalid) = if let Some(u) = rest
        .strip_prefix("invalid user ")
        .or_else(|| rest.strip_prefix("illegal user "))
    {
        (Some(u), true)
    } else if let Some(u) = rest
        .strip_prefix("authenticating user ")
        .or_else(|| rest.strip_prefix("user "))
    {
        (Some(u), false)
    } else {
        (None, false)
    };
    Some(Who {
        user: user.map(str::to_owned),
        invalid,
        source,
        port,
    })
}

/// `[invalid user ]USER from ADDR[ port N[ ssh2…]]`.
fn user_from(s: &str) -> Option<Who> {
    let (user, from) = s.rsplit_once(" from ")?;
    let (invalid, user) = match user
        .strip_prefix("invalid user ")
        .or_else(|| user.strip_prefix("illegal user "))
    {
        Some(u) => (true, u),
        None => (false, user),
    };
    let mut words = from.split(' ');
    let source = Source::parse(words.next()?)?;
    let port = match (words.next(), words.next()) {
        (Some("port"), Some(p)) => p.trim_end_matches(':').parse().ok(),
        _ => None,
    };
    Some(Who {
        user: Some(user.to_owned()),
        invalid,
        source: Some(source),
        port,
    })
}

fn sshd(msg: &str) -> Option<Line> {
    let preauth = msg.ends_with("[preauth]") || msg.contains("Timeout before authentication");
    let msg = msg.strip_suffix(" [preauth]").unwrap_or(msg);
    for (prefix, outcome) in [
        ("Failed ", Some(AuthOutcome::Failure)),
        ("Accepted ", Some(AuthOutcome::Success)),
        ("Postponed ", None),
    ] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let (method, rest) = rest.split_once(" for ")?;
            let who = user_from(rest)?;
            return Some(match outcome {
                // `Failed none` is the client asking which methods exist.
                Some(AuthOutcome::Failure) if method == "none" => Line::Signal(who),
                Some(outcome) => Line::Attempt(Attempt {
                    outcome,
                    count: 1,
                    who,
                    method: Some(method.to_owned()),
                    target_user: None,
                }),
                None => Line::Signal(who),
            });
        }
    }
    if let Some(rest) = msg
        .strip_prefix("Invalid user ")
        .or_else(|| msg.strip_prefix("Illegal user "))
    {
        // `Invalid user  from ADDR port N` (empty name) happens too.
        let (user, from) = rest.rsplit_once("from ")?;
        let mut who = user_from(&format!("x from {from}"))?;
        who.user = Some(user.trim().to_owned());
        who.invalid = true;
        return Some(Line::Signal(who));
    }
    if let Some(rest) = msg.strip_prefix("User ")
        && let Some((head, _why)) = rest.split_once(" not allowed because ")
    {
        let mut who = user_from(head)?;
        who.invalid = true;
        return Some(Line::Signal(who));
    }
    if let Some(rest) = msg.strip_prefix("ROOT LOGIN REFUSED FROM ") {
        let mut who = user_from(&format!("root from {rest}"))?;
        who.user = Some("root".into());
        return Some(Line::Signal(who));
    }
    if let Some(rest) = msg
        .strip_prefix("error: maximum authentication attempts exceeded for ")
        .or_else(|| msg.strip_prefix("maximum authentication attempts exceeded for "))
    {
        return Some(Line::MaxTries(user_from(rest)?));
    }
    if let Some(rest) = msg.strip_prefix("error: PAM: ") {
        // `Authentication failure for [illegal user ]USER from HOST`, also
        // `User not known to the underlying authentication module for …`.
        let (_, tail) = rest.split_once(" for ")?;
        if !(rest.starts_with("Authentication failure")
            || rest.starts_with("User not known")
            || rest.starts_with("Authentication token is no longer valid"))
        {
            return None;
        }
        return Some(Line::PamError(user_from(tail)?));
    }
    if let Some(rest) = msg.strip_prefix("Connection from ") {
        let (head, _) = rest.split_once(" on ").unwrap_or((rest, ""));
        return Some(Line::Connect(user_addr_port(head)?));
    }
    for prefix in [
        "Connection closed by ",
        "Connection reset by ",
        "Disconnected from ",
        "Disconnecting ",
        "Timeout before authentication for ",
        "fatal: Timeout before authentication for ",
    ] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            // `Disconnecting invalid user X ADDR port N: Too many …`.
            let rest = match rest.find(": ") {
                Some(i) if prefix == "Disconnecting " => rest.get(..i).unwrap_or(rest),
                _ => rest,
            };
            let who = user_addr_port(rest)?;
            return Some(Line::Close { preauth, who });
        }
    }
    None
}

/// util-linux: `FAILED SU (to root) bob on pts/0`, `(to root) bob on
/// pts/0`; shadow: `FAILED su for root by bob`, `Successful su for root by
/// bob`, `- pts/0 bob:root` (failure) and `+ pts/0 bob:root` (success).
fn su(msg: &str) -> Option<Line> {
    let attempt = |outcome, user: &str, target: &str| {
        Some(Line::Attempt(Attempt {
            outcome,
            count: 1,
            who: Who {
                user: Some(user.trim().to_owned()),
                ..Who::default()
            },
            method: Some("password".into()),
            target_user: Some(target.trim().to_owned()),
        }))
    };
    let (outcome, rest) = match msg.strip_prefix("FAILED SU ") {
        Some(r) => (AuthOutcome::Failure, r),
        None => (AuthOutcome::Success, msg),
    };
    if let Some(r) = rest.strip_prefix("(to ") {
        let (target, r) = r.split_once(") ")?;
        let user = r.split(" on ").next()?;
        return attempt(outcome, user, target);
    }
    if let Some(r) = msg.strip_prefix("Successful su for ") {
        let (target, user) = r.split_once(" by ")?;
        return attempt(AuthOutcome::Success, user, target);
    }
    if let Some(r) = msg.strip_prefix("FAILED su for ") {
        let (target, user) = r.split_once(" by ")?;
        return attempt(AuthOutcome::Failure, user, target);
    }
    let (outcome, r) = if let Some(r) = msg.strip_prefix("- ") {
        (AuthOutcome::Failure, r)
    } else if let Some(r) = msg.strip_prefix("+ ") {
        (AuthOutcome::Success, r)
    } else {
        return None;
    };
    let (_tty, pair) = r.split_once(' ')?;
    let (user, target) = pair.split_once(':')?;
    attempt(outcome, user, target)
}

/// `bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id`
/// (success), `bob : 3 incorrect password attempts ; TTY=… ; COMMAND=…`,
/// `bob : user NOT in sudoers ; …` (failures).
fn sudo(msg: &str) -> Option<Line> {
    let (user, rest) = msg.trim_start().split_once(" : ")?;
    if user.is_empty() || user.contains(' ') {
        return None;
    }
    let fields: Vec<&str> = rest.split(" ; ").collect();
    let first = fields.first()?;
    let (outcome, count) = if first.contains('=') {
        (AuthOutcome::Success, 1)
    } else if let Some(n) = first
        .strip_suffix(" incorrect password attempts")
        .or_else(|| first.strip_suffix(" incorrect password attempt"))
    {
        (AuthOutcome::Failure, n.trim().parse().ok()?)
    } else if first.contains("NOT in sudoers")
        || first.contains("NOT allowed")
        || first.starts_with("a password is required")
    {
        (AuthOutcome::Failure, 1)
    } else {
        return None;
    };
    let field = |k: &str| {
        fields
            .iter()
            .find_map(|f| f.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
    };
    // Lines like `bob : unable to resolve host` have no COMMAND.
    field("COMMAND")?;
    Some(Line::Attempt(Attempt {
        outcome,
        count: u32::clamp(count, 1, 100),
        who: Who {
            user: Some(user.to_owned()),
            ..Who::default()
        },
        method: Some("password".into()),
        target_user: Some(field("USER").unwrap_or("root").to_owned()),
    }))
}

/// shadow login: `FAILED LOGIN (1) on '/dev/tty1' FOR 'root', Authentication
/// failure`, `FAILED LOGIN (2) on '/dev/pts/0' FROM 'host' FOR 'root', …`.
fn login(msg: &str) -> Option<Line> {
    let rest = msg.strip_prefix("FAILED LOGIN ")?;
    let quoted = |after: &str| {
        let (_, r) = rest.split_once(after)?;
        let r = r.strip_prefix('\'')?;
        r.split_once('\'').map(|(v, _)| v)
    };
    Some(Line::Attempt(Attempt {
        outcome: AuthOutcome::Failure,
        count: 1,
        who: Who {
            user: quoted(" FOR ").map(str::to_owned),
            invalid: false,
            source: quoted(" FROM ").and_then(Source::parse),
            port: None,
        },
        method: Some("password".into()),
        target_user: None,
    }))
}

/// vsftpd's own log in syslog (`syslog_enable=YES`):
/// `[bob] FAIL LOGIN: Client "::ffff:10.0.0.1"`, `[bob] OK LOGIN: Client …`.
fn vsftpd(msg: &str) -> Option<Line> {
    let rest = msg.strip_prefix('[')?;
    let (user, rest) = rest.split_once("] ")?;
    let outcome = if rest.starts_with("FAIL LOGIN") {
        AuthOutcome::Failure
    } else if rest.starts_with("OK LOGIN") {
        AuthOutcome::Success
    } else {
        return None;
    };
    let client = rest.split_once("Client ").map(|(_, c)| c.trim());
    Some(Line::Attempt(Attempt {
        outcome,
        count: 1,
        who: Who {
            user: Some(user.to_owned()),
            invalid: false,
            source: client.and_then(|c| Source::parse(c.split(',').next().unwrap_or(c))),
            port: None,
        },
        method: Some("password".into()),
        target_user: None,
    }))
}

/// proftpd (mod_auth.c): `HOST (ADDR[ADDR]) - USER bob (Login failed):
/// Incorrect password`, `… - SECURITY VIOLATION: Root login attempted`
/// (refused before PAM), `… - USER ghost: no such user found from HOST
/// [ADDR] to ADDR:21`, `… - USER bob: Login successful.`
fn proftpd(msg: &str) -> Option<Line> {
    let (head, rest) = msg.split_once(" - ")?;
    // `vm (10.0.0.1[10.0.0.1])`: the bracketed address is the peer's.
    let source = head
        .rsplit_once('[')
        .and_then(|(_, a)| a.split(']').next())
        .and_then(Source::parse);
    if rest.starts_with("SECURITY VIOLATION: Root login attempted") {
        return Some(Line::Attempt(Attempt {
            outcome: AuthOutcome::Failure,
            count: 1,
            who: Who {
                user: Some("root".into()),
                invalid: false,
                source,
                port: None,
            },
            method: Some("password".into()),
            target_user: None,
        }));
    }
    // `Maximum login attempts (3) exceeded, connection refused`: the end of
    // a session whose attempts its own lines already counted.
    if rest.starts_with("Maximum login attempts") {
        return Some(Line::MaxTries(Who {
            user: None,
            invalid: false,
            source,
            port: None,
        }));
    }
    let rest = rest.strip_prefix("USER ")?;
    let (user, outcome) = if let Some((u, _)) = rest.split_once(" (Login failed)") {
        (u, AuthOutcome::Failure)
    } else if let Some((u, _)) = rest.split_once(": no such user found") {
        (u, AuthOutcome::Failure)
    } else if let Some((u, _)) = rest.split_once(": Login successful") {
        (u, AuthOutcome::Success)
    } else {
        return None;
    };
    Some(Line::Attempt(Attempt {
        outcome,
        count: 1,
        who: Who {
            user: Some(user.to_owned()),
            invalid: rest.contains("no such user"),
            source,
            port: None,
        },
        method: Some("password".into()),
        target_user: None,
    }))
}
