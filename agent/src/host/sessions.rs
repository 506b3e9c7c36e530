//! Logged-in sessions from utmp (`/var/run/utmp`), parsed from bytes.
//!
//! The glibc x86_64/aarch64 record is 384 bytes: `ut_type` (i16 + 2 pad),
//! `ut_pid` (i32), `ut_line[32]`, `ut_id[4]`, `ut_user[32]`, `ut_host[256]`,
//! `ut_exit` (2 × i16), `ut_session` (i32), `ut_tv` (2 × i32), `ut_addr_v6`
//! (4 × i32), 20 bytes unused.

use std::path::Path;

use shouwang_proto::Session;

pub const RECORD_SIZE: usize = 384;
const USER_PROCESS: i16 = 7;

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

fn le_i32(b: &[u8], at: usize) -> i32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, i32::from_le_bytes)
}

/// Sessions in a utmp image; trailing partial records are ignored.
pub fn parse_utmp(bytes: &[u8]) -> Vec<Session> {
    bytes
        .chunks_exact(RECORD_SIZE)
        .filter_map(|r| {
            let kind = r
                .get(0..2)
                .and_then(|s| s.try_into().ok())
                .map_or(0, i16::from_le_bytes);
            if kind != USER_PROCESS {
                return None;
            }
            let user = c_string(r.get(44..76)?);
            if user.is_empty() {
                return None;
            }
            Some(Session {
                user,
                line: c_string(r.get(8..40)?),
                host: c_string(r.get(76..332)?),
                login_time: i64::from(le_i32(r, 340)),
                pid: u32::try_from(le_i32(r, 4)).unwrap_or_default(),
            })
        })
        .collect()
}

/// Reads sessions from `path`; a missing file means no sessions.
pub fn read_sessions(path: &Path) -> std::io::Result<Vec<Session>> {
    match std::fs::read(path) {
        Ok(b) => Ok(parse_utmp(&b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
pub(crate) fn record(
    kind: i16,
    pid: i32,
    line: &str,
    user: &str,
    host: &str,
    secs: i32,
) -> Vec<u8> {
    let mut r = vec![0u8; RECORD_SIZE];
    r[0..2].copy_from_slice(&kind.to_le_bytes());
    r[4..8].copy_from_slice(&pid.to_le_bytes());
    r[8..8 + line.len()].copy_from_slice(line.as_bytes());
    r[44..44 + user.len()].copy_from_slice(user.as_bytes());
    r[76..76 + host.len()].copy_from_slice(host.as_bytes());
    r[340..344].copy_from_slice(&secs.to_le_bytes());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_processes_only() {
        let mut img = record(2, 0, "~", "reboot", "6.1.0", 1_700_000_000); // BOOT_TIME
        img.extend(record(
            7,
            4242,
            "pts/0",
            "alice",
            "198.51.100.4",
            1_700_000_100,
        ));
        img.extend(record(8, 99, "pts/1", "", "", 0)); // DEAD_PROCESS
        img.extend(record(7, 17, "tty1", "root", "", 1_700_000_200));
        img.extend([1, 2, 3]); // torn tail
        let s = parse_utmp(&img);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].user, "alice");
        assert_eq!(s[0].line, "pts/0");
        assert_eq!(s[0].host, "198.51.100.4");
        assert_eq!(s[0].login_time, 1_700_000_100);
        assert_eq!(s[0].pid, 4242);
        assert_eq!(s[1].host, "");
    }

    #[test]
    fn missing_file_is_empty() {
        assert!(
            read_sessions(Path::new("/nonexistent/utmp"))
                .unwrap()
                .is_empty()
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..2000)) {
            let _ = parse_utmp(&b);
        }
    }
}
