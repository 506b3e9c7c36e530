//! journald records as `journalctl --output=json` prints them, one JSON
//! object per line. The structured fields are used as they are: the
//! program from `SYSLOG_IDENTIFIER` (else `_COMM`), the process from
//! `SYSLOG_PID` (else `_PID`), the host from `_HOSTNAME`, the time from
//! `__REALTIME_TIMESTAMP` (microseconds) and the text from `MESSAGE`, which
//! journald gives as an array of bytes when it is not UTF-8.

use serde_json::Value;
use shouwang_proto::Timestamp;

use crate::error::Error;
use crate::syslog::{Framing, Record};

fn text(v: &Value, k: &str) -> Option<String> {
    match v.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => Some(
            String::from_utf8_lossy(
                &a.iter()
                    .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect::<Vec<u8>>(),
            )
            .into_owned(),
        ),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One record. A line that is not a JSON object is an error (the caller
/// counts and reports it); an object without `MESSAGE` is `Ok(None)`.
pub fn parse_record(line: &str) -> Result<Option<Record>, Error> {
    let v: Value = serde_json::from_str(line).map_err(|e| Error::Json(e.to_string()))?;
    if !v.is_object() {
        return Err(Error::Json("not a JSON object".into()));
    }
    let Some(message) = text(&v, "MESSAGE") else {
        return Ok(None);
    };
    let ts = text(&v, "__REALTIME_TIMESTAMP")
        .and_then(|us| us.parse::<i64>().ok())
        .map(|us| Timestamp::from_nanos(us.saturating_mul(1000)));
    let num = |k: &str| text(&v, k).and_then(|s| s.parse::<u8>().ok());
    Ok(Some(Record {
        framing: Framing::Journal,
        ts,
        hostname: text(&v, "_HOSTNAME").filter(|h| !h.is_empty()),
        app: text(&v, "SYSLOG_IDENTIFIER")
            .or_else(|| text(&v, "_COMM"))
            .filter(|a| !a.is_empty()),
        pid: text(&v, "SYSLOG_PID")
            .or_else(|| text(&v, "_PID"))
            .and_then(|p| p.parse().ok()),
        msgid: text(&v, "MESSAGE_ID"),
        structured: Vec::new(),
        facility: num("SYSLOG_FACILITY"),
        severity: num("PRIORITY"),
        message,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journalctl_json_fields() {
        let r = parse_record(r#"{"__REALTIME_TIMESTAMP":"1768017541000000","_HOSTNAME":"web-01","SYSLOG_IDENTIFIER":"sshd-session","SYSLOG_PID":"4242","_PID":"4242","SYSLOG_FACILITY":"4","PRIORITY":"6","MESSAGE":"Failed password for root from 192.0.2.1 port 2222 ssh2"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(r.ts, Some(Timestamp::from_secs(1_768_017_541)));
        assert_eq!(r.app.as_deref(), Some("sshd-session"));
        assert_eq!(r.pid, Some(4242));
        assert_eq!(r.hostname.as_deref(), Some("web-01"));
        assert_eq!((r.facility, r.severity), (Some(4), Some(6)));
        // Non-UTF-8 MESSAGE arrives as bytes; _COMM when no identifier.
        let bytes: Vec<String> = "Accepted password for bob"
            .bytes()
            .map(|b| b.to_string())
            .collect();
        let rec = format!(
            r#"{{"_COMM":"sshd","_PID":"7","MESSAGE":[{}]}}"#,
            bytes.join(",")
        );
        let r = parse_record(&rec).unwrap().unwrap();
        assert_eq!(r.message, "Accepted password for bob");
        assert_eq!(
            (r.app.as_deref(), r.pid, r.ts),
            (Some("sshd"), Some(7), None)
        );
        assert_eq!(parse_record(r#"{"_PID":"1"}"#).unwrap(), None);
        assert!(parse_record("{not json").is_err());
        assert!(parse_record("[1,2]").is_err());
    }
}
