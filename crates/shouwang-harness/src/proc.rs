//! Child processes with their stderr kept, and the small helpers around
//! them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A child process whose stderr is collected; killed on drop.
pub struct Proc {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Spawns `cmd`, collecting stderr; `first_line` sends the first line
    /// containing a pattern.
    pub fn spawn(
        mut cmd: Command,
        first_line: Option<(&str, mpsc::Sender<String>)>,
    ) -> anyhow::Result<Self> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {cmd:?}"))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        let wanted = first_line.map(|(pat, tx)| (pat.to_owned(), tx));
        std::thread::spawn(move || {
            let mut wanted = wanted;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some((pat, tx)) = &wanted
                    && line.contains(pat.as_str())
                {
                    let _ = tx.send(line.clone());
                    wanted = None;
                }
                if let Ok(mut l) = log2.lock() {
                    l.push(line);
                }
            }
        });
        Ok(Self { child, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// A field of /proc/PID/status in KiB (`VmRSS`, `VmHWM`).
    pub fn status_kib(&self, field: &str) -> anyhow::Result<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let line = s
            .lines()
            .find(|l| l.starts_with(&format!("{field}:")))
            .with_context(|| format!("no {field} in /proc status"))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("no value")?
            .parse()?)
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Sends SIGTERM and waits up to `limit` for exit.
    pub fn terminate(&mut self, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()?;
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait()? {
                return Ok(st);
            }
            if start.elapsed() > limit {
                bail!("process {} did not exit within {limit:?}", self.pid());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every 50 ms until it returns `Some`, failing after `limit`.
///
/// This waits for a condition with a bound; it never sleeps a fixed time and
/// hopes.
pub fn wait_for<T>(
    limit: Duration,
    what: &str,
    mut f: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `exe --config config ARGS` (a collector subcommand such as
/// `agents add NAME`); returns its trimmed stdout, or its stderr as the
/// error.
pub fn cli(exe: &Path, config: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(exe)
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    if !out.status.success() {
        bail!(
            "{} {}: {}",
            exe.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8(out.stdout)
        .context("subcommand printed non-UTF-8")?
        .trim()
        .to_owned())
}

/// A sibling program (`shouwang-collector`, `shouwang-agent`): beside this
/// executable, else the bare name (found on PATH).
pub fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Writes `contents` to `path` readable by this user only (tokens, configs
/// that name token files).
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_subcommand_reports_its_stderr() {
        let dir = std::env::temp_dir().join(format!("shouwang-harness-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let exe = dir.join("fails");
        std::fs::write(&exe, "#!/bin/sh\necho \"no such agent\" >&2\nexit 3\n").expect("script");
        std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let err = cli(&exe, Path::new("c.toml"), &["agents", "remove", "x"])
            .expect_err("non-zero exit is an error");
        let msg = format!("{err:#}");
        assert!(msg.ends_with("agents remove x: no such agent"), "{msg}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn stderr_is_kept_and_the_first_matching_line_is_sent() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo one >&2; echo 'listening on x' >&2; echo three >&2",
        ]);
        let (tx, rx) = mpsc::channel();
        let p = Proc::spawn(cmd, Some(("listening on ", tx))).expect("spawn sh");
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("line arrives");
        assert_eq!(line, "listening on x");
        let log = wait_for(Duration::from_secs(10), "three lines", || {
            let l = p.log();
            (l.lines().count() == 3).then_some(l)
        })
        .expect("log");
        assert_eq!(log, "one\nlistening on x\nthree");
    }

    #[test]
    fn private_files_are_mode_600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("shouwang-harness-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("token");
        write_private(&f, "secret\n").expect("write");
        let mode = std::fs::metadata(&f).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "secret\n");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
