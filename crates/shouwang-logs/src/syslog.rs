//! Syslog framing: one line of text in, a [`Record`] out.
//!
//! Understood (tried in this order):
//! - RFC 5424: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD…] MSG`, with
//!   structured data and `-` for absent fields;
//! - RFC 3339 stamps as rsyslog's `RSYSLOG_FileFormat` writes them:
//!   `2026-01-10T11:59:01.123456+08:00 host prog[pid]: msg`;
//! - RFC 3164 (BSD) as `/var/log/auth.log` holds it, with or without a
//!   `<PRI>` and with or without a host name: `Jan 10 11:59:01 host
//!   prog[pid]: msg`. These stamps carry neither year nor zone: they are
//!   read in the zone of the injected `now`, in its year, or the year before
//!   when that would put the line more than a day after `now` (a December
//!   line read in January);
//! - anything else is a bare message (`sshd -E FILE` writes those).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use shouwang_proto::Timestamp;

/// How a line was framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Rfc5424,
    Rfc3339,
    Rfc3164,
    /// No framing: the whole line is the message.
    Bare,
    /// A journald record (see [`crate::journal`]).
    Journal,
}

/// One RFC 5424 structured-data element: `[id k="v" …]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement {
    pub id: String,
    pub params: Vec<(String, String)>,
}

/// A log record, whatever its framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub framing: Framing,
    /// When the line was written; `None` for bare lines.
    pub ts: Option<Timestamp>,
    pub hostname: Option<String>,
    /// The program (`sshd`, `sshd-session`, `sshd(pam_unix)`, `su`, …).
    pub app: Option<String>,
    pub pid: Option<u32>,
    /// RFC 5424 MSGID.
    pub msgid: Option<String>,
    /// RFC 5424 structured data.
    pub structured: Vec<SdElement>,
    /// syslog facility and severity when the line carried a `<PRI>`.
    pub facility: Option<u8>,
    pub severity: Option<u8>,
    pub message: String,
}

impl Record {
    /// A record that is only a message.
    pub fn bare(message: &str) -> Self {
        Self {
            framing: Framing::Bare,
            ts: None,
            hostname: None,
            app: None,
            pid: None,
            msgid: None,
            structured: Vec::new(),
            facility: None,
            severity: None,
            message: message.to_owned(),
        }
    }
}

/// Splits one syslog line (without its newline). Never fails: a line that
/// fits no framing is a bare message.
pub fn parse_line(line: &str, now: DateTime<FixedOffset>) -> Record {
    let line = line.trim_end_matches(['\r', '\n']);
    let (pri, rest) = split_pri(line);
    if let Some(rest) = rest.strip_prefix("1 ")
        && pri.is_some()
        && let Some(r) = rfc5424(rest, pri)
    {
        return r;
    }
    if let Some(r) = rfc3339(rest, pri) {
        return r;
    }
    if let Some(r) = rfc3164(rest, pri, now) {
        return r;
    }
    Record::bare(line)
}

/// `<PRI>` (0..=191) at the start of a line.
fn split_pri(line: &str) -> (Option<u8>, &str) {
    let Some(rest) = line.strip_prefix('<') else {
        return (None, line);
    };
    let Some((num, rest)) = rest.split_once('>') else {
        return (None, line);
    };
    match num.parse::<u8>() {
        Ok(p) if num.len() <= 3 && p <= 191 => (Some(p), rest),
        _ => (None, line),
    }
}

fn nil(s: &str) -> Option<String> {
    (s != "-" && !s.is_empty()).then(|| s.to_owned())
}

fn with_pri(mut r: Record, pri: Option<u8>) -> Record {
    r.facility = pri.map(|p| p >> 3);
    r.severity = pri.map(|p| p & 7);
    r
}

fn rfc3339_ts(s: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|d| d.timestamp_nanos_opt())
        .map(Timestamp::from_nanos)
}

fn rfc5424(rest: &str, pri: Option<u8>) -> Option<Record> {
    let mut it = rest.splitn(6, ' ');
    let ts = it.next()?;
    let host = it.next()?;
    let app = it.next()?;
    let procid = it.next()?;
    let msgid = it.next()?;
    let tail = it.next().unwrap_or("");
    let ts = if ts == "-" {
        None
    } else {
        Some(rfc3339_ts(ts)?)
    };
    let (structured, msg) = structured_data(tail)?;
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    let pid = procid.parse().ok();
    Some(with_pri(
        Record {
            framing: Framing::Rfc5424,
            ts,
            hostname: nil(host),
            app: nil(app),
            pid,
            msgid: nil(msgid),
            structured,
            facility: None,
            severity: None,
            message: msg.to_owned(),
        },
        pri,
    ))
}

/// `-` or `[id k="v"…]…` then an optional space and the message.
fn structured_data(s: &str) -> Option<(Vec<SdElement>, &str)> {
    if let Some(rest) = s.strip_prefix('-') {
        return Some((Vec::new(), rest.strip_prefix(' ').unwrap_or(rest)));
    }
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(r) = rest.strip_prefix('[') {
        let (el, after) = sd_element(r)?;
        out.push(el);
        rest = after;
    }
    if out.is_empty() {
        return None;
    }
    Some((out, rest.strip_prefix(' ').unwrap_or(rest)))
}

/// One element after its `[`: returns it and the text after its `]`.
fn sd_element(s: &str) -> Option<(SdElement, &str)> {
    let end_id = s.find([' ', ']'])?;
    let id = s.get(..end_id)?.to_owned();
    let mut rest = s.get(end_id..)?;
    let mut params = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix(']') {
            return Some((SdElement { id, params }, after));
        }
        rest = rest.strip_prefix(' ')?;
        let (name, r) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = r.char_indices();
        let mut close = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(n);
                    }
                }
                '"' => {
                    close = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let close = close?;
        params.push((name.to_owned(), value));
        rest = r.get(close + 1..)?;
    }
}

fn rfc3339(rest: &str, pri: Option<u8>) -> Option<Record> {
    let (stamp, after) = rest.split_once(' ')?;
    // Cheap test before parsing: `YYYY-MM-DDT`.
    if stamp.as_bytes().get(4) != Some(&b'-') || stamp.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let ts = rfc3339_ts(stamp)?;
    let mut r = host_tag_message(after, Framing::Rfc3339)?;
    r.ts = Some(ts);
    Some(with_pri(r, pri))
}

fn rfc3164(rest: &str, pri: Option<u8>, now: DateTime<FixedOffset>) -> Option<Record> {
    let stamp = rest.get(..15)?;
    let after = rest.get(15..)?.strip_prefix(' ')?;
    let ts = bsd_timestamp(stamp, now)?;
    let mut r = host_tag_message(after, Framing::Rfc3164)?;
    r.ts = Some(ts);
    Some(with_pri(r, pri))
}

/// `host prog[pid]: msg`, or `prog[pid]: msg` without a host (what
/// programs send to /dev/log before the daemon adds the host).
fn host_tag_message(s: &str, framing: Framing) -> Option<Record> {
    let (first, rest) = s.split_once(' ')?;
    let (hostname, tag, message) = match tag(first) {
        Some(t) if first.ends_with(':') => (None, t, rest),
        _ => {
            let (tag_text, message) = match rest.split_once(' ') {
                Some((t, m)) => (t, m),
                None => (rest, ""),
            };
            (Some(first), tag(tag_text)?, message)
        }
    };
    let (app, pid) = tag;
    Some(Record {
        framing,
        ts: None,
        hostname: hostname.map(str::to_owned),
        app: Some(app.to_owned()),
        pid,
        msgid: None,
        structured: Vec::new(),
        facility: None,
        severity: None,
        message: message.to_owned(),
    })
}

/// `prog[pid]:`, `prog:`, `sshd(pam_unix)[12]:` → (program, pid).
fn tag(t: &str) -> Option<(&str, Option<u32>)> {
    let t = t.strip_suffix(':')?;
    let (app, pid) = match t.strip_suffix(']').and_then(|x| x.rsplit_once('[')) {
        Some((app, pid)) => (app, Some(pid.parse().ok()?)),
        None => (t, None),
    };
    let ok = !app.is_empty()
        && app.len() <= 64
        && app
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'[' && b != b']');
    ok.then_some((app, pid))
}

/// `Jan 10 11:59:01` (day space-padded or not) in the zone of `now`.
pub fn bsd_timestamp(stamp: &str, now: DateTime<FixedOffset>) -> Option<Timestamp> {
    let zone = *now.offset();
    let at = |year: i32| {
        NaiveDateTime::parse_from_str(&format!("{year} {stamp}"), "%Y %b %e %H:%M:%S")
            .ok()
            .and_then(|n| zone.from_local_datetime(&n).single())
    };
    // 29 February exists only in leap years: try the years around.
    let mut t = at(now.year()).or_else(|| {
        (1..=4)
            .map(|back| now.year() - back)
            .find(|y| NaiveDate::from_ymd_opt(*y, 2, 29).is_some())
            .and_then(at)
    })?;
    if t > now + chrono::Duration::days(1) {
        t = at(t.year() - 1).or_else(|| {
            (2..=5)
                .map(|back| t.year() - back)
                .find(|y| NaiveDate::from_ymd_opt(*y, 2, 29).is_some())
                .and_then(at)
        })?;
    }
    t.timestamp_nanos_opt().map(Timestamp::from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<FixedOffset> {
        FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, 1, 10, 12, 0, 0)
            .unwrap()
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
        let t = FixedOffset::east_opt(8 * 3600)
            .unwrap()
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .unwrap();
        Timestamp::from_secs(t.timestamp())
    }

    #[test]
    fn rfc3164_as_debian_writes_auth_log() {
        let r = parse_line(
            "Dec  3 17:16:28 vm sshd[22094]: Failed password for root from 10.77.0.1 port 60732 ssh2",
            now(),
        );
        assert_eq!(r.framing, Framing::Rfc3164);
        // A December line read on 10 January is from last year.
        assert_eq!(r.ts, Some(at(2025, 12, 3, 17, 16, 28)));
        assert_eq!(r.hostname.as_deref(), Some("vm"));
        assert_eq!(r.app.as_deref(), Some("sshd"));
        assert_eq!(r.pid, Some(22094));
        assert_eq!(
            r.message,
            "Failed password for root from 10.77.0.1 port 60732 ssh2"
        );
    }

    #[test]
    fn year_inference_across_new_year() {
        let n = now();
        // Same year when not in the future, and up to a day ahead (clock skew).
        assert_eq!(
            bsd_timestamp("Jan 10 11:00:00", n),
            Some(at(2026, 1, 10, 11, 0, 0))
        );
        assert_eq!(
            bsd_timestamp("Jan 11 11:00:00", n),
            Some(at(2026, 1, 11, 11, 0, 0))
        );
        assert_eq!(
            bsd_timestamp("Dec 31 23:59:59", n),
            Some(at(2025, 12, 31, 23, 59, 59))
        );
        assert_eq!(
            bsd_timestamp("Jan  1 00:00:01", n),
            Some(at(2026, 1, 1, 0, 0, 1))
        );
        // 29 February read in 2026 is from 2024, the last leap year.
        assert_eq!(
            bsd_timestamp("Feb 29 10:00:00", n),
            Some(at(2024, 2, 29, 10, 0, 0))
        );
        assert_eq!(bsd_timestamp("Foo 29 10:00:00", n), None);
    }

    #[test]
    fn rfc3164_with_pri_and_without_host() {
        let r = parse_line("<38>Jan 10 11:59:01 sshd[811]: Connection closed", now());
        assert_eq!(r.framing, Framing::Rfc3164);
        assert_eq!((r.facility, r.severity), (Some(4), Some(6)));
        assert_eq!(r.hostname, None);
        assert_eq!(r.app.as_deref(), Some("sshd"));
        assert_eq!(r.message, "Connection closed");
    }

    #[test]
    fn legacy_pam_tag_and_tag_without_pid() {
        let r = parse_line(
            "Jan  9 03:12:41 old-rhel sshd(pam_unix)[2210]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=203.0.113.9  user=root",
            now(),
        );
        assert_eq!(r.app.as_deref(), Some("sshd(pam_unix)"));
        assert_eq!(r.pid, Some(2210));
        let r = parse_line(
            "Jan  9 03:12:41 h sudo:  swalice : 3 incorrect password attempts",
            now(),
        );
        assert_eq!((r.app.as_deref(), r.pid), (Some("sudo"), None));
        assert_eq!(r.message, " swalice : 3 incorrect password attempts");
    }

    #[test]
    fn rfc3339_file_format() {
        let r = parse_line(
            "2026-12-03T17:16:28.123456+00:00 vm sshd[22094]: Failed password for root",
            now(),
        );
        assert_eq!(r.framing, Framing::Rfc3339);
        assert_eq!(r.ts, Some(Timestamp::from_nanos(1_796_318_188_123_456_000)));
        assert_eq!(r.pid, Some(22094));
    }

    #[test]
    fn rfc5424_with_and_without_structured_data() {
        let r = parse_line(
            "<86>1 2026-12-03T17:16:28.123456+00:00 vm sshd 22094 - - Failed password for root",
            now(),
        );
        assert_eq!(r.framing, Framing::Rfc5424);
        assert_eq!((r.facility, r.severity), (Some(10), Some(6)));
        assert_eq!(r.pid, Some(22094));
        assert_eq!(r.msgid, None);
        assert_eq!(r.message, "Failed password for root");
        let r = parse_line(
            r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App\"l" eventID="1011"][examplePriority@32473 class="high"] BOMAn application event"#,
            now(),
        );
        assert_eq!(r.framing, Framing::Rfc5424);
        assert_eq!(r.msgid.as_deref(), Some("ID47"));
        assert_eq!(r.structured.len(), 2);
        assert_eq!(
            r.structured[0].params[1],
            ("eventSource".into(), "App\"l".into())
        );
        assert_eq!(r.message, "BOMAn application event");
        assert_eq!(r.pid, None);
    }

    #[test]
    fn everything_else_is_bare() {
        for l in [
            "Failed password for root from 10.0.0.1 port 1 ssh2",
            "",
            "<999>x",
            "<86>1 notatime host",
            "Jan 10 11:59:01",
        ] {
            assert_eq!(parse_line(l, now()).framing, Framing::Bare, "{l}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_lines_never_panic(s in "\\PC{0,200}") {
            let _ = parse_line(&s, now());
        }

        #[test]
        fn cut_real_lines_never_panic(cut in 0usize..140, junk in "\\PC{0,12}") {
            for base in [
                r#"<165>1 2003-10-11T22:14:15.003Z host app 1 ID47 [a b="c\"d"][e f="g"] msg"#,
                "Dec  3 17:16:28 vm sshd(pam_unix)[22094]: authentication failure; rhost=10.77.0.1",
            ] {
                let cut = cut.min(base.len());
                let _ = parse_line(&format!("{}{junk}", &base[..cut]), now());
            }
        }
    }
}
