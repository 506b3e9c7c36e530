//! `shouwang-agent publish ROOT`: make changes to a watched web root as an
//! authorised release.
//!
//! While it runs, the running agent treats every change under ROOT as
//! authorised (the marker file `STATE/integrity/<id>/publishing` says
//! `open PID`). When its writes are done it says `done PID`; the agent then
//! rescans the root, takes the result into the baseline (and the golden
//! copies), reports the changes with `authorised = true`, and removes the
//! marker, which is what this command waits for. With no agent running, the
//! command updates the baseline itself.
//!
//! What it publishes: `--from DIR` copies DIR over ROOT (`--delete` also
//! removes what DIR lacks); a command after `--` runs with the window open
//! (`publish /var/www -- rsync -a build/ /var/www/`); with neither, the
//! current content of ROOT is accepted as it is.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::baseline::{self, Entry, Filter};
use super::config::RootConfig;
use super::fim::{Monitor, root_state_dir};
use super::watch::Marker;

/// File in the state directory holding the running agent's pid.
pub const AGENT_PID: &str = "integrity/agent.pid";

/// What to publish.
#[derive(Debug, Clone, Default)]
pub struct PublishRequest {
    pub root: PathBuf,
    pub from: Option<PathBuf>,
    pub delete: bool,
    pub command: Vec<String>,
    pub timeout: Duration,
}

/// What a publish did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PublishReport {
    pub copied: usize,
    pub deleted: usize,
    pub added: usize,
    pub modified: usize,
    pub removed: usize,
    /// The running agent took it in (else the baseline was updated here).
    pub by_agent: bool,
}

/// The pid of the running agent, if one is running on this state dir.
pub fn running_agent(state_dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(state_dir.join(AGENT_PID))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if pid == std::process::id() {
        // The agent runs in this process (tests, embedding).
        return Some(pid);
    }
    // comm is cut at 15 characters: "shouwang-agent" fits.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim_end() == "shouwang-agent").then_some(pid)
}

/// Records this process as the running agent of `state_dir`.
pub fn write_agent_pid(state_dir: &Path) -> anyhow::Result<()> {
    let p = state_dir.join(AGENT_PID);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    crate::state::write_atomic(&p, format!("{}\n", std::process::id()).as_bytes())
}

fn find_root<'a>(roots: &'a [RootConfig], root: &Path) -> anyhow::Result<&'a RootConfig> {
    let want = std::fs::canonicalize(root)
        .with_context(|| format!("{} cannot be read", root.display()))?;
    roots
        .iter()
        .find(|r| std::fs::canonicalize(&r.path).is_ok_and(|p| p == want))
        .with_context(|| {
            let known: Vec<String> = roots.iter().map(|r| r.path.display().to_string()).collect();
            format!(
                "{} is not a watched web root (integrity.roots in the config lists: {})",
                root.display(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )
        })
}

/// Runs a publish of `req.root` (which must be one of `roots`).
pub fn publish(
    roots: &[RootConfig],
    state_dir: &Path,
    req: &PublishRequest,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<PublishReport> {
    let cfg = find_root(roots, &req.root)?;
    let dir = root_state_dir(state_dir, &cfg.path);
    let marker = dir.join("publishing");
    let before = baseline::load(&dir.join("baseline"))?.unwrap_or_default();
    let agent = running_agent(state_dir);
    let me = std::process::id();
    let mut report = PublishReport::default();
    if let Some(pid) = agent {
        if let Some(m) = Marker::read(&marker) {
            anyhow::bail!(
                "another publish of {} is in progress ({m:?}); wait for it or remove {}",
                cfg.path.display(),
                marker.display()
            );
        }
        Marker::Open(me).write(&marker)?;
        progress(&format!("publish window open (agent pid {pid})"));
        // Let the agent see the marker before the first write.
        std::thread::sleep(Duration::from_millis(250));
    }
    let work = do_work(cfg, req, &mut report, progress);
    if agent.is_some() {
        Marker::Done(me).write(&marker)?;
        let deadline = Instant::now() + req.timeout;
        while marker.exists() {
            if Instant::now() > deadline {
                let _ = std::fs::remove_file(&marker);
                anyhow::bail!(
                    "the agent did not take the publish into its baseline within {:?}; \
                     changes made may be reported as tampering",
                    req.timeout
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        report.by_agent = true;
    } else {
        work.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
        progress("no agent running on this state dir: updating the baseline here");
        let (mut mon, _) = Monitor::open(cfg, state_dir, false, None)?;
        mon.rescan(&Some("publish".to_owned()));
        mon.save_if_dirty()?;
    }
    work?;
    let after = baseline::load(&dir.join("baseline"))?.unwrap_or_default();
    count_diff(&before, &after, &mut report);
    Ok(report)
}

fn count_diff(
    before: &BTreeMap<PathBuf, Entry>,
    after: &BTreeMap<PathBuf, Entry>,
    r: &mut PublishReport,
) {
    for (k, a) in after {
        match before.get(k) {
            None => r.added += 1,
            Some(b) if !(b.same_content(a) && b.same_perms(a)) => r.modified += 1,
            Some(_) => {}
        }
    }
    r.removed = before.keys().filter(|k| !after.contains_key(*k)).count();
}

fn do_work(
    cfg: &RootConfig,
    req: &PublishRequest,
    report: &mut PublishReport,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    if let Some(from) = &req.from {
        sync_dir(from, &cfg.path, cfg, req.delete, report)?;
        progress(&format!(
            "copied {} files from {}, deleted {}",
            report.copied,
            from.display(),
            report.deleted
        ));
    }
    if let Some((prog, args)) = req.command.split_first() {
        let status = std::process::Command::new(prog)
            .args(args)
            .status()
            .with_context(|| format!("cannot run {prog}"))?;
        if !status.success() {
            anyhow::bail!("{prog} failed ({status}); what it changed is still taken as published");
        }
    }
    Ok(())
}

/// Copies `from` over `root`: changed and new files (atomically, mode
/// kept), and with `delete` removes files `from` lacks.
fn sync_dir(
    from: &Path,
    root: &Path,
    cfg: &RootConfig,
    delete: bool,
    report: &mut PublishReport,
) -> anyhow::Result<()> {
    if !from.is_dir() {
        anyhow::bail!("--from {} is not a directory", from.display());
    }
    let all = Filter::all();
    let (src, _) = baseline::scan_tree(
        from,
        Path::new(""),
        &all,
        &|_| None,
        u64::MAX,
        2,
        None,
        None,
    );
    let filter = Filter::new(&cfg.include, &cfg.exclude)?;
    let (dst, _) = baseline::scan_tree(
        root,
        Path::new(""),
        &filter,
        &|_| None,
        u64::MAX,
        2,
        None,
        None,
    );
    for (rel, e) in &src {
        let same = dst
            .get(rel)
            .is_some_and(|d| d.same_content(e) && d.mode == e.mode);
        if same {
            continue;
        }
        let to = root.join(rel);
        let tmp = baseline::temp_beside(&to)?;
        std::fs::copy(from.join(rel), &tmp)
            .with_context(|| format!("cannot copy {}", from.join(rel).display()))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(e.mode))?;
        std::fs::rename(&tmp, &to).with_context(|| format!("cannot write {}", to.display()))?;
        report.copied += 1;
    }
    if delete {
        for rel in dst.keys().filter(|k| !src.contains_key(*k)) {
            std::fs::remove_file(root.join(rel))
                .with_context(|| format!("cannot remove {}", root.join(rel).display()))?;
            report.deleted += 1;
        }
    }
    Ok(())
}
