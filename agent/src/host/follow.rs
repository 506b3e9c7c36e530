//! Following a log file across rotation, like `tail -F`, without losing
//! lines.
//!
//! Each poll reads the open file to its end and then looks at the path:
//! - a different inode at the path (logrotate's `create` mode): the old file
//!   stays open and is drained for a grace period, because the writer may
//!   append to it until it reopens; the new file is read from its start;
//! - the same inode but shorter than our position (`copytruncate`): read from
//!   the start again;
//! - no file at the path: keep the old one open and wait.
//!
//! The position (device, inode, offset) can be saved and restored so a
//! restarted agent neither re-sends nor skips lines.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Polls an old (rotated-away) file keeps being drained after rotation.
pub const DRAIN_POLLS: u32 = 20;
/// Longest line kept; longer lines are cut and the rest discarded.
pub const MAX_LINE: usize = 64 * 1024;
const READ_CHUNK: usize = 64 * 1024;

/// Where the follower is; stored between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
}

/// What happened in one poll, besides lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PollReport {
    pub rotated: bool,
    pub truncated: bool,
    pub lines: usize,
}

struct Open {
    file: File,
    dev: u64,
    ino: u64,
    offset: u64,
    partial: Vec<u8>,
}

impl Open {
    /// Reads to EOF, calling `emit` per complete line.
    fn drain(&mut self, emit: &mut dyn FnMut(&str)) -> io::Result<usize> {
        let mut buf = vec![0u8; READ_CHUNK];
        let mut lines = 0;
        loop {
            let n = self.file.read(&mut buf)?;
            if n == 0 {
                return Ok(lines);
            }
            self.offset += n as u64;
            let mut chunk = buf.get(..n).unwrap_or_default();
            while let Some(nl) = chunk.iter().position(|&b| b == b'\n') {
                let (head, tail) = chunk.split_at(nl);
                self.push_partial(head);
                emit(&String::from_utf8_lossy(&self.partial));
                self.partial.clear();
                lines += 1;
                chunk = tail.get(1..).unwrap_or_default();
            }
            self.push_partial(chunk);
        }
    }

    fn push_partial(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(bytes.get(..bytes.len().min(room)).unwrap_or_default());
    }

    /// Emits an unterminated last line (used when a rotated file is done).
    fn flush_partial(&mut self, emit: &mut dyn FnMut(&str)) -> usize {
        if self.partial.is_empty() {
            return 0;
        }
        emit(&String::from_utf8_lossy(&self.partial));
        self.partial.clear();
        1
    }
}

/// Follows one path.
pub struct Follower {
    path: PathBuf,
    current: Option<Open>,
    /// A rotated-away file still being drained, and polls left.
    draining: Option<(Open, u32)>,
    /// Where to start when the path is first opened and no position matches.
    start_at_end: bool,
    resume: Option<Position>,
}

impl Follower {
    /// Follows `path`. With no matching saved position, a file present at
    /// start is read from its end (history is not replayed); files that
    /// appear later are read from their start.
    pub fn new(path: impl Into<PathBuf>, resume: Option<Position>) -> Self {
        Self {
            path: path.into(),
            current: None,
            draining: None,
            start_at_end: true,
            resume,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The position to save.
    pub fn position(&self) -> Option<Position> {
        self.current.as_ref().map(|o| Position {
            dev: o.dev,
            ino: o.ino,
            offset: o.offset - o.partial.len() as u64,
        })
    }

    fn open_path(&mut self) -> io::Result<Option<Open>> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let mut open = Open {
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            offset: 0,
            partial: Vec::new(),
        };
        let start = match self.resume.take() {
            Some(p) if p.dev == open.dev && p.ino == open.ino && p.offset <= meta.len() => p.offset,
            _ if self.start_at_end => meta.len(),
            _ => 0,
        };
        open.file.seek(SeekFrom::Start(start))?;
        open.offset = start;
        Ok(Some(open))
    }

    /// Reads what is new; `emit` gets each complete line without its newline.
    pub fn poll(&mut self, emit: &mut dyn FnMut(&str)) -> io::Result<PollReport> {
        let mut report = PollReport::default();
        if let Some((old, polls_left)) = &mut self.draining {
            let n = old.drain(emit)?;
            report.lines += n;
            if n > 0 {
                *polls_left = DRAIN_POLLS;
            } else {
                *polls_left = polls_left.saturating_sub(1);
                if *polls_left == 0 {
                    report.lines += old.flush_partial(emit);
                    self.draining = None;
                }
            }
        }
        if self.current.is_none() {
            self.current = self.open_path()?;
            // Only a file present at the first poll starts at its end.
            self.start_at_end = false;
        }
        let Some(cur) = &mut self.current else {
            return Ok(report);
        };
        report.lines += cur.drain(emit)?;
        let at_path = match std::fs::metadata(&self.path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        match at_path {
            Some(m) if m.dev() != cur.dev || m.ino() != cur.ino => {
                report.rotated = true;
                if let Some(new) = self.open_path()? {
                    let old = self.current.replace(new);
                    if let Some((mut older, _)) = self.draining.take() {
                        report.lines += older.drain(emit)?;
                        report.lines += older.flush_partial(emit);
                    }
                    self.draining = old.map(|o| (o, DRAIN_POLLS));
                    if let Some(cur) = &mut self.current {
                        report.lines += cur.drain(emit)?;
                    }
                }
            }
            Some(m) if m.len() < cur.offset => {
                report.truncated = true;
                cur.file.seek(SeekFrom::Start(0))?;
                cur.offset = 0;
                cur.partial.clear();
                report.lines += cur.drain(emit)?;
            }
            _ => {}
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &Path, s: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
    }

    fn poll(f: &mut Follower) -> (Vec<String>, PollReport) {
        let mut out = Vec::new();
        let r = f.poll(&mut |l| out.push(l.to_owned())).unwrap();
        (out, r)
    }

    #[test]
    fn existing_content_is_skipped_then_new_lines_follow() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.log");
        append(&p, "old 1\nold 2\n");
        let mut f = Follower::new(&p, None);
        assert!(poll(&mut f).0.is_empty());
        append(&p, "new 1\nnew ");
        assert_eq!(poll(&mut f).0, vec!["new 1"]);
        append(&p, "2\n");
        assert_eq!(poll(&mut f).0, vec!["new 2"]);
    }

    #[test]
    fn rename_rotation_drains_old_then_reads_new() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.log");
        append(&p, "");
        let mut f = Follower::new(&p, None);
        poll(&mut f);
        append(&p, "a\n");
        std::fs::rename(&p, dir.path().join("auth.log.1")).unwrap();
        // The writer has not reopened yet: one more line lands in the old file.
        append(&dir.path().join("auth.log.1"), "b\n");
        append(&p, "c\n");
        let (lines, r) = poll(&mut f);
        assert!(r.rotated);
        assert_eq!(lines, vec!["a", "b", "c"]);
        // Late write to the rotated file is still picked up.
        append(&dir.path().join("auth.log.1"), "d\n");
        append(&p, "e\n");
        assert_eq!(poll(&mut f).0, vec!["d", "e"]);
    }

    #[test]
    fn file_missing_for_a_while_then_created() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.log");
        let mut f = Follower::new(&p, None);
        assert!(poll(&mut f).0.is_empty());
        append(&p, "first\n");
        assert_eq!(
            poll(&mut f).0,
            vec!["first"],
            "a file created later is read from its start"
        );
    }

    #[test]
    fn copytruncate_restarts_from_zero() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.log");
        append(&p, "");
        let mut f = Follower::new(&p, None);
        poll(&mut f);
        append(&p, "one\ntwo\n");
        assert_eq!(poll(&mut f).0.len(), 2);
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        append(&p, "x\n");
        let (lines, r) = poll(&mut f);
        assert!(r.truncated);
        assert_eq!(lines, vec!["x"]);
    }

    #[test]
    fn saved_position_resumes_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.log");
        append(&p, "");
        let mut f = Follower::new(&p, None);
        poll(&mut f);
        append(&p, "1\n2\npart");
        poll(&mut f);
        let pos = f.position().unwrap();
        drop(f);
        append(&p, "ial\n3\n");
        let mut g = Follower::new(&p, Some(pos));
        assert_eq!(poll(&mut g).0, vec!["partial", "3"]);
    }

    #[test]
    fn overlong_lines_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.log");
        append(&p, "");
        let mut f = Follower::new(&p, None);
        poll(&mut f);
        append(&p, &format!("{}\nshort\n", "x".repeat(MAX_LINE * 3)));
        let (lines, _) = poll(&mut f);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(lines[1], "short");
    }
}
