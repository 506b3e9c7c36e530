//! Web-root file integrity against real directories: the watcher thread
//! runs as in the agent, with inotify, and the tests change files the way
//! an attacker or a release would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shouwang_agent::integrity::publish::{PublishRequest, publish, write_agent_pid};
use shouwang_agent::integrity::{IntegrityStats, RootConfig, WatchMode, watch};
use shouwang_daemon::clock::Clock;
use shouwang_proto::{Event, EventBody, FileChange, FileChangeKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Longest wait for an event before the test fails (the latency is
/// printed, and measured in BENCHMARKS.md, not asserted).
const PATIENCE: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct FixedClock(u16);

impl Clock for FixedClock {
    /// That minute of 1 January 1970 (only the minute of day is read).
    fn now_ms(&self) -> i64 {
        i64::from(self.0) * 60_000
    }

    fn minute_of_day(&self) -> u16 {
        self.0
    }
}

struct Guard {
    root: PathBuf,
    state: PathBuf,
    rx: mpsc::Receiver<Event>,
    cancel: CancellationToken,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    registry: IntegrityStats,
    rt: tokio::runtime::Runtime,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn tree(root: &Path) {
    std::fs::create_dir_all(root.join("news")).unwrap();
    std::fs::write(
        root.join("index.html"),
        "<html><title>Portal</title>\n<p>Welcome</p>\n</html>\n",
    )
    .unwrap();
    std::fs::write(root.join("news/1.html"), "<p>news one</p>\n").unwrap();
    std::fs::write(root.join("style.css"), "body { color: #333 }\n").unwrap();
}

impl Guard {
    fn start(tweak: impl FnOnce(&mut RootConfig), clock: Arc<dyn Clock>) -> Self {
        let rootdir = tempfile::tempdir().unwrap();
        let statedir = tempfile::tempdir().unwrap();
        let root = rootdir.path().canonicalize().unwrap();
        tree(&root);
        Self::start_at(
            root,
            statedir.path().to_path_buf(),
            tweak,
            clock,
            (rootdir, statedir),
        )
    }

    fn start_at(
        root: PathBuf,
        state: PathBuf,
        tweak: impl FnOnce(&mut RootConfig),
        clock: Arc<dyn Clock>,
        dirs: (tempfile::TempDir, tempfile::TempDir),
    ) -> Self {
        let mut cfg = RootConfig::new(&root);
        tweak(&mut cfg);
        let (tx, rx) = mpsc::channel(100_000);
        let cancel = CancellationToken::new();
        let registry = IntegrityStats::default();
        let (c, r, s) = (cancel.clone(), registry.clone(), state.clone());
        let thread = std::thread::spawn(move || watch::run_root(cfg, s, clock, tx, c, &r, None));
        let g = Self {
            root,
            state,
            rx,
            cancel,
            thread: Some(thread),
            registry,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            _dirs: dirs,
        };
        let until = Instant::now() + PATIENCE;
        while !g.registry.ready() {
            assert!(Instant::now() < until, "watcher did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        g
    }

    /// The next file change, and how long it took to arrive.
    fn next(&mut self) -> (FileChange, Duration) {
        let started = Instant::now();
        let ev = self
            .rt
            .block_on(async { tokio::time::timeout(PATIENCE, self.rx.recv()).await })
            .expect("no file change within the patience limit")
            .expect("channel closed");
        match ev.body {
            EventBody::FileChange(c) => (c, started.elapsed()),
            other => panic!("unexpected event {other:?}"),
        }
    }

    /// Events until none arrives for `quiet`.
    fn drain(&mut self, quiet: Duration) -> Vec<FileChange> {
        let mut out = Vec::new();
        while let Ok(Some(ev)) = self
            .rt
            .block_on(async { tokio::time::timeout(quiet, self.rx.recv()).await })
        {
            if let EventBody::FileChange(c) = ev.body {
                out.push(c);
            }
        }
        out
    }

    fn stop(mut self) -> anyhow::Result<()> {
        self.cancel.cancel();
        self.thread.take().unwrap().join().unwrap()
    }
}

fn system() -> Arc<dyn Clock> {
    Arc::new(FixedClock(12 * 60))
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn create_modify_delete_rename_and_chmod_each_give_the_right_event() {
    let mut g = Guard::start(|_| {}, system());
    let root = g.root.clone();
    let mut latencies = Vec::new();

    let t = Instant::now();
    std::fs::write(root.join("new.html"), "<p>new</p>\n").unwrap();
    let (c, _) = g.next();
    latencies.push(("create", t.elapsed()));
    assert_eq!(
        (c.change, c.path.as_str()),
        (FileChangeKind::Added, "new.html")
    );
    assert_eq!(c.sha256.as_deref(), Some(sha(b"<p>new</p>\n").as_str()));
    assert!(!c.authorised && !c.restored);

    let t = Instant::now();
    std::fs::write(
        root.join("index.html"),
        "<html><title>Portal</title>\n<p>HACKED</p>\n</html>\n",
    )
    .unwrap();
    let (c, _) = g.next();
    latencies.push(("modify", t.elapsed()));
    assert_eq!(
        (c.change, c.path.as_str()),
        (FileChangeKind::Modified, "index.html")
    );
    assert_eq!(
        c.baseline_sha256.as_deref(),
        Some(sha(b"<html><title>Portal</title>\n<p>Welcome</p>\n</html>\n").as_str())
    );
    let diff = c.diff.expect("a text file change carries a diff");
    assert!(
        diff.contains("-<p>Welcome</p>") && diff.contains("+<p>HACKED</p>"),
        "{diff}"
    );

    let t = Instant::now();
    std::fs::remove_file(root.join("style.css")).unwrap();
    let (c, _) = g.next();
    latencies.push(("delete", t.elapsed()));
    assert_eq!(
        (c.change, c.path.as_str()),
        (FileChangeKind::Removed, "style.css")
    );

    let t = Instant::now();
    std::fs::rename(root.join("news/1.html"), root.join("news/old.html")).unwrap();
    let (c, _) = g.next();
    latencies.push(("rename", t.elapsed()));
    assert_eq!(
        (c.change, c.path.as_str()),
        (FileChangeKind::Renamed, "news/old.html")
    );
    assert_eq!(c.old_path.as_deref(), Some("news/1.html"));

    let t = Instant::now();
    std::fs::set_permissions(
        root.join("new.html"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let (c, _) = g.next();
    latencies.push(("chmod", t.elapsed()));
    assert_eq!(
        (c.change, c.path.as_str()),
        (FileChangeKind::Permissions, "new.html")
    );
    assert_eq!((c.mode, c.baseline_mode), (Some(777), None));

    // Each change was reported once.
    assert!(g.drain(Duration::from_millis(400)).is_empty());
    for (what, d) in &latencies {
        println!("{what}: event after {} ms", d.as_millis());
    }
    g.stop().unwrap();
}

#[test]
fn a_burst_of_10000_writes_loses_nothing_once_the_rescan_has_run() {
    let mut g = Guard::start(|c| c.rescan_interval = Duration::from_secs(3), system());
    let root = g.root.clone();
    std::fs::create_dir_all(root.join("burst")).unwrap();
    let started = Instant::now();
    for i in 0..10_000 {
        std::fs::write(root.join(format!("burst/{i}.html")), format!("page {i}\n")).unwrap();
    }
    let wrote = started.elapsed();
    let mut last: BTreeMap<String, FileChange> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while last.len() < 10_000 && Instant::now() < deadline {
        for c in g.drain(Duration::from_millis(500)) {
            last.insert(c.path.clone(), c);
        }
    }
    // Let the periodic rescan run once: it must find nothing new (every
    // write was already reported) and report nothing twice.
    let until = Instant::now() + Duration::from_secs(30);
    while g.registry.snapshot().rescans == 0 && Instant::now() < until {
        for c in g.drain(Duration::from_millis(200)) {
            assert!(
                !last.contains_key(&c.path) || last[&c.path].sha256 != c.sha256,
                "{c:?} twice"
            );
            last.insert(c.path.clone(), c);
        }
    }
    for c in g.drain(Duration::from_millis(300)) {
        assert!(
            !last.contains_key(&c.path) || last[&c.path].sha256 != c.sha256,
            "{c:?} twice"
        );
        last.insert(c.path.clone(), c);
    }
    let stats = g.registry.snapshot();
    assert!(stats.rescans >= 1);
    println!(
        "10000 writes in {} ms; {} paths reported; overflows {}, rescans {}, found by rescan {}",
        wrote.as_millis(),
        last.len(),
        stats.overflows,
        stats.rescans,
        stats.rescan_found
    );
    assert_eq!(last.len(), 10_000);
    for i in [0, 1, 4999, 9999] {
        let c = &last[&format!("burst/{i}.html")];
        assert_eq!(
            c.sha256.as_deref(),
            Some(sha(format!("page {i}\n").as_bytes()).as_str())
        );
    }
    g.stop().unwrap();
}

#[test]
fn auto_restore_brings_back_the_original_and_quarantines_the_tampered_file() {
    let mut g = Guard::start(|c| c.restore = true, system());
    let root = g.root.clone();
    let original = std::fs::read(root.join("index.html")).unwrap();

    let t = Instant::now();
    std::fs::write(root.join("index.html"), "<h1>hacked by nobody</h1>\n").unwrap();
    let (c, _) = g.next();
    println!("restore: event after {} ms", t.elapsed().as_millis());
    assert_eq!(c.change, FileChangeKind::Modified);
    assert!(c.restored, "{c:?}");
    assert_eq!(std::fs::read(root.join("index.html")).unwrap(), original);
    let q = PathBuf::from(c.quarantined.expect("tampered copy kept"));
    assert!(q.starts_with(&g.state), "{}", q.display());
    assert_eq!(std::fs::read(&q).unwrap(), b"<h1>hacked by nobody</h1>\n");

    std::fs::remove_file(root.join("news/1.html")).unwrap();
    let (c, _) = g.next();
    assert_eq!((c.change, c.restored), (FileChangeKind::Removed, true));
    assert_eq!(
        std::fs::read(root.join("news/1.html")).unwrap(),
        b"<p>news one</p>\n"
    );

    std::fs::write(root.join("shell.php"), "<?php @eval($_POST['x']); ?>").unwrap();
    let (c, _) = g.next();
    assert_eq!((c.change, c.restored), (FileChangeKind::Added, true));
    assert_eq!(c.signatures, ["php-eval-request"]);
    assert!(
        !root.join("shell.php").exists(),
        "the web shell is moved out"
    );
    let q = PathBuf::from(c.quarantined.unwrap());
    assert_eq!(std::fs::read(&q).unwrap(), b"<?php @eval($_POST['x']); ?>");

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let before = mode(&root.join("style.css"));
    std::fs::set_permissions(
        root.join("style.css"),
        std::fs::Permissions::from_mode(0o4777),
    )
    .unwrap();
    let (c, _) = g.next();
    assert_eq!((c.change, c.restored), (FileChangeKind::Permissions, true));
    assert_eq!(mode(&root.join("style.css")), before);

    // Putting things back does not itself look like tampering.
    assert!(g.drain(Duration::from_millis(500)).is_empty());
    let s = g.registry.snapshot();
    assert_eq!((s.restores, s.quarantined, s.restore_failures), (4, 2, 0));
    g.stop().unwrap();
}

#[test]
fn publish_marks_its_changes_authorised_and_restore_then_keeps_them() {
    let mut g = Guard::start(|c| c.restore = true, system());
    let root = g.root.clone();
    write_agent_pid(&g.state).unwrap();
    let release = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(release.path().join("news")).unwrap();
    std::fs::write(
        release.path().join("index.html"),
        "<html><title>Portal</title>\n<p>Welcome v2</p>\n</html>\n",
    )
    .unwrap();
    std::fs::write(release.path().join("news/1.html"), "<p>news one</p>\n").unwrap();
    std::fs::write(release.path().join("news/2.html"), "<p>news two</p>\n").unwrap();
    let roots = vec![RootConfig::new(&root)];
    let req = PublishRequest {
        root: root.clone(),
        from: Some(release.path().to_path_buf()),
        delete: true,
        command: Vec::new(),
        timeout: Duration::from_secs(20),
    };
    let report = publish(&roots, &g.state, &req, &mut |l| println!("publish: {l}")).unwrap();
    assert!(report.by_agent);
    assert_eq!(
        (report.added, report.modified, report.removed),
        (1, 1, 1),
        "{report:?}"
    );
    let mut changes = g.drain(Duration::from_millis(500));
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    let got: Vec<(&str, FileChangeKind, bool, Option<&str>)> = changes
        .iter()
        .map(|c| {
            (
                c.path.as_str(),
                c.change,
                c.authorised,
                c.authorised_by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "index.html",
                FileChangeKind::Modified,
                true,
                Some("publish")
            ),
            ("news/2.html", FileChangeKind::Added, true, Some("publish")),
            ("style.css", FileChangeKind::Removed, true, Some("publish")),
        ]
    );
    assert!(changes.iter().all(|c| !c.restored));
    // The golden store holds the published versions, not the replaced ones.
    let golden: Vec<PathBuf> = walk(&g.state.join("integrity"))
        .into_iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "golden"))
        .collect();
    assert_eq!(golden.len(), 3, "index v2, news/1, news/2: {golden:?}");
    for old in [
        "<html><title>Portal</title>\n<p>Welcome</p>\n</html>\n",
        "body { color: #333 }\n",
    ] {
        let name = blake3::hash(old.as_bytes()).to_hex().to_string();
        assert!(!golden.iter().any(|p| p.ends_with(&name)), "{old} kept");
    }
    assert!(
        std::fs::read_to_string(root.join("index.html"))
            .unwrap()
            .contains("v2")
    );

    // A later tamper is put back to the published version.
    std::fs::write(root.join("index.html"), "defaced").unwrap();
    let (c, _) = g.next();
    assert!(c.restored && !c.authorised);
    assert!(
        std::fs::read_to_string(root.join("index.html"))
            .unwrap()
            .contains("v2")
    );

    // Publishing a root the config does not list is a clear error.
    let other = tempfile::tempdir().unwrap();
    let err = publish(
        &roots,
        &g.state,
        &PublishRequest {
            root: other.path().to_path_buf(),
            ..req.clone()
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("is not a watched web root"),
        "{err:#}"
    );
    g.stop().unwrap();
}

#[test]
fn changes_inside_a_publish_window_are_authorised() {
    // 22:00-23:00, and the clock says 22:30.
    let mut g = Guard::start(
        |c| c.publish_windows = vec!["22:00-23:00".into()],
        Arc::new(FixedClock(22 * 60 + 30)),
    );
    std::fs::write(g.root.join("index.html"), "release").unwrap();
    let (c, _) = g.next();
    assert!(c.authorised);
    assert_eq!(c.authorised_by.as_deref(), Some("window"));
    g.stop().unwrap();
}

#[test]
fn polling_finds_changes_and_a_restart_reports_what_changed_while_down() {
    let mut g = Guard::start(
        |c| {
            c.watch = WatchMode::Poll;
            c.poll_interval = Duration::from_millis(200);
        },
        system(),
    );
    std::fs::write(g.root.join("news/1.html"), "changed while polled").unwrap();
    let (c, _) = g.next();
    assert_eq!(
        (c.change, c.path.as_str()),
        (FileChangeKind::Modified, "news/1.html")
    );
    assert_eq!(g.registry.snapshot().polling_roots, 1);

    // Stop, change a file, start again: the change is reported at start.
    let root = g.root.clone();
    let state = g.state.clone();
    g.cancel.cancel();
    g.thread.take().unwrap().join().unwrap().unwrap();
    let dirs = std::mem::replace(
        &mut g._dirs,
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()),
    );
    std::fs::write(root.join("style.css"), "body{display:none}").unwrap();
    let mut g2 = Guard::start_at(root, state, |_| {}, system(), dirs);
    // Both differ from the baseline: the change made while down, and the
    // earlier one (what was reported is not persisted, so it is reported
    // again after a restart rather than lost).
    let mut got: Vec<(FileChangeKind, String)> = g2
        .drain(Duration::from_millis(500))
        .into_iter()
        .map(|c| (c.change, c.path))
        .collect();
    got.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        got,
        [
            (FileChangeKind::Modified, "news/1.html".to_owned()),
            (FileChangeKind::Modified, "style.css".to_owned()),
        ]
    );
    g2.stop().unwrap();
}

#[test]
fn changes_while_a_publisher_process_runs_are_authorised_and_after_it_they_are_not() {
    // A publisher with a name no other process has (`sleep` under another
    // name; comm is the file name, at most 15 characters).
    let bin = tempfile::tempdir().unwrap();
    let name = format!("swpub{}", std::process::id() % 1_000_000);
    std::fs::copy("/bin/sleep", bin.path().join(&name)).unwrap();
    let mut g = Guard::start(|c| c.publishers = vec![name.clone()], system());
    let mut publisher = std::process::Command::new(bin.path().join(&name))
        .arg("30")
        .spawn()
        .unwrap();
    // The process list is cached for a second: let it see the publisher.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(g.root.join("index.html"), "release by the publisher").unwrap();
    let (c, _) = g.next();
    assert!(c.authorised, "{c:?}");
    assert_eq!(c.authorised_by, Some(format!("process:{name}")));
    publisher.kill().unwrap();
    publisher.wait().unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(g.root.join("index.html"), "tamper after the release").unwrap();
    let (c, _) = g.next();
    assert!(!c.authorised, "{c:?}");
    // The release became the baseline: the tamper is compared with it.
    assert_eq!(
        c.baseline_sha256.as_deref(),
        Some(sha(b"release by the publisher").as_str())
    );
    g.stop().unwrap();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
