//! Reliability acceptance: no telemetry lost or duplicated across collector
//! crashes and agent restarts, a long outage within the spool's bound, drops
//! reported as data gaps when the bound is tiny, and backpressure under
//! overload. Real collector and agent processes on loopback, a real SQLite
//! file; every load loop is bounded in count and time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use shouwang_e2e::{Agent, Collector, auth_log_lines, batch_json, bin, notice, wait_for};

/// A free loopback port (so a restarted collector comes back on it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Appends numbered sshd failures `from..to` to the auth log, `per_tick`
/// lines every `tick`.
fn write_numbered(log: &Path, from: u32, to: u32, per_tick: u32, tick: Duration) {
    let mut i = from;
    while i < to {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
            .unwrap();
        for _ in 0..per_tick.min(to - i) {
            writeln!(
                f,
                "Nov 21 10:00:00 web-01 sshd[811]: Failed password for invalid user u{i:06} from 198.51.100.{} port {} ssh2",
                1 + i % 200,
                20000 + i % 40000
            )
            .unwrap();
            i += 1;
        }
        f.sync_all().unwrap();
        std::thread::sleep(tick);
    }
}

/// The numbered users the collector holds for `agent`: (rows, distinct).
fn numbered(c: &Collector, agent: &str) -> (usize, HashSet<String>) {
    let evs = c.all_events(agent, "auth").unwrap();
    let users: HashSet<String> = evs
        .iter()
        .filter_map(|e| e["event"]["user"].as_str())
        .filter(|u| u.starts_with('u'))
        .map(str::to_owned)
        .collect();
    let rows = evs
        .iter()
        .filter(|e| {
            e["event"]["user"]
                .as_str()
                .is_some_and(|u| u.starts_with('u'))
        })
        .count();
    (rows, users)
}

fn agent_cmd(config: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin("shouwang-agent").unwrap());
    cmd.arg("--config").arg(config);
    cmd
}

/// Acceptance: N numbered events stream in while the collector is killed
/// with SIGKILL five times and the agent is restarted twice; afterwards the
/// collector holds exactly N distinct events, no loss and no duplicate.
#[test]
fn chaos_five_collector_kills_and_two_agent_restarts_lose_and_duplicate_nothing() {
    const N: u32 = 3000;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut c = Collector::start_at(dir.path(), &format!("127.0.0.1:{port}"), "").unwrap();
    let token = c.add_agent("chaos").unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(&log, "").unwrap();
    let mut agent = Agent::start(
        dir.path(),
        "chaos",
        &c.url,
        &token,
        &auth_log_lines(&log, "50ms"),
    )
    .unwrap();
    agent
        .proc
        .wait_for_log(Duration::from_secs(15), "following auth log")
        .unwrap();

    // 3000 lines over about 30 s.
    let writer = {
        let log = log.clone();
        std::thread::spawn(move || write_numbered(&log, 0, N, 20, Duration::from_millis(200)))
    };
    let started = Instant::now();
    let mut kills = 0;
    let mut agent_restarts = 0;
    for round in 0..5 {
        std::thread::sleep(Duration::from_millis(2500));
        c.proc.kill9().unwrap();
        kills += 1;
        // Restart the agent twice while the collector is down: what it
        // holds must go to the spool, and the auth log resume from there.
        if round == 1 || round == 3 {
            let st = agent.proc.terminate(Duration::from_secs(20)).unwrap();
            assert!(st.success(), "agent exit: {st}\n{}", agent.proc.log());
            agent = Agent::start_cmd(agent_cmd(&agent.config), agent.config.clone()).unwrap();
            agent_restarts += 1;
        }
        std::thread::sleep(Duration::from_millis(700 + 300 * round));
        c.restart().unwrap();
    }
    writer.join().unwrap();
    eprintln!(
        "chaos: {kills} collector SIGKILLs, {agent_restarts} agent restarts in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let (rows, users) = wait_for(Duration::from_secs(60), "all numbered events", || {
        let (rows, users) = numbered(&c, "chaos");
        (users.len() >= N as usize).then_some((rows, users))
    })
    .unwrap_or_else(|e| {
        let (rows, users) = numbered(&c, "chaos");
        panic!(
            "{e}: {} distinct of {N} ({rows} rows)\nagent log:\n{}",
            users.len(),
            agent.proc.log()
        )
    });
    // A moment more for any late duplicate to show up.
    std::thread::sleep(Duration::from_secs(2));
    let (rows_after, _) = numbered(&c, "chaos");
    println!(
        "chaos: collector holds {} distinct numbered events of {N} sent, {rows_after} rows ({} duplicates)",
        users.len(),
        rows_after.saturating_sub(users.len())
    );
    assert_eq!(users.len(), N as usize, "every event arrived");
    assert_eq!(rows, N as usize, "no event arrived twice");
    assert_eq!(rows_after, N as usize, "no event arrived twice");
    for i in 0..N {
        assert!(users.contains(&format!("u{i:06}")), "u{i:06} missing");
    }
    assert_eq!((kills, agent_restarts), (5, 2));
}

/// Spool size on disk: the batch files (headers included).
fn spool_bytes(state: &Path) -> u64 {
    std::fs::read_dir(state.join("spool"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_file())
                .filter_map(|e| e.metadata().ok().map(|m| m.len()))
                .sum()
        })
        .unwrap_or(0)
}

/// Acceptance: the collector down for 5 minutes under steady load;
/// everything arrives once it is back and the spool stays within its
/// bound. With a tiny bound, drops are counted and a data-gap event
/// reaches the API the console reads.
#[test]
fn a_five_minute_outage_under_steady_load_loses_nothing_within_the_spool_bound() {
    const OUTAGE: Duration = Duration::from_secs(300);
    const BOUND: u64 = 4 * 1024 * 1024;
    const TINY: u64 = 16 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut c = Collector::start_at(dir.path(), &format!("127.0.0.1:{port}"), "").unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(&log, "").unwrap();
    let tiny_log = dir.path().join("tiny-auth.log");
    std::fs::write(&tiny_log, "").unwrap();
    let start = |name: &str, log: &Path, bound: u64| {
        let token = c.add_agent(name).unwrap();
        let config = Agent::write_config(
            dir.path(),
            name,
            &c.url,
            &token,
            &auth_log_lines(log, "100ms"),
        )
        .unwrap();
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            text.replace("[ship]\n", &format!("[ship]\nspool-max-bytes = {bound}\n")),
        )
        .unwrap();
        let a = Agent::start_cmd(agent_cmd(&config), config).unwrap();
        a.proc
            .wait_for_log(Duration::from_secs(15), "following auth log")
            .unwrap();
        a
    };
    let agent = start("steady", &log, BOUND);
    let tiny = start("tiny", &tiny_log, TINY);
    let state = dir.path().join("steady-state");
    let tiny_state = dir.path().join("tiny-state");

    // Steady load: 10 numbered logins a second, plus each agent's host
    // samples and heartbeats every second.
    let wall = || {
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        )
        .unwrap()
    };
    c.proc.kill9().unwrap();
    let down_at = Instant::now();
    let down_wall = wall();
    let total = u32::try_from(OUTAGE.as_secs() * 10).unwrap();
    let writers = [log.clone(), tiny_log.clone()].map(|l| {
        std::thread::spawn(move || write_numbered(&l, 0, total, 5, Duration::from_millis(500)))
    });
    let (mut max_spool, mut max_tiny) = (0, 0);
    while down_at.elapsed() < OUTAGE {
        max_spool = max_spool.max(spool_bytes(&state));
        max_tiny = max_tiny.max(spool_bytes(&tiny_state));
        std::thread::sleep(Duration::from_secs(1));
    }
    for w in writers {
        w.join().unwrap();
    }
    let spooled = spool_bytes(&state);
    println!(
        "outage: collector down {:.0}s, {total} logins per agent; spool peaked at {max_spool} bytes (bound {BOUND}), {spooled} at the end; tiny spool peaked at {max_tiny} bytes (bound {TINY})",
        down_at.elapsed().as_secs_f64()
    );
    // Each batch file is its compressed body plus an 88-byte header; the
    // bound is on bodies.
    let files = std::fs::read_dir(state.join("spool")).unwrap().count() as u64;
    assert!(max_spool <= BOUND + 88 * files.max(1) + 88, "{max_spool}");
    assert!(spooled > 0, "the outage was spooled");
    assert!(max_tiny <= TINY * 2, "tiny spool bound held: {max_tiny}");

    let up_wall = wall();
    c.restart().unwrap();
    let users = wait_for(
        Duration::from_secs(120),
        "every login after the outage",
        || {
            let (_, users) = numbered(&c, "steady");
            (users.len() >= total as usize).then_some(users)
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {} arrived\n{}",
            numbered(&c, "steady").1.len(),
            agent.proc.log()
        )
    });
    let (rows, _) = numbered(&c, "steady");
    println!(
        "outage: after the collector came back, {} of {total} logins arrived ({rows} rows)",
        users.len()
    );
    assert_eq!((users.len(), rows), (total as usize, total as usize));
    let steady = c.agent("steady").unwrap().unwrap();
    assert_eq!(steady["queue"]["dropped_events"], 0, "{steady}");
    assert_eq!(steady["queue"]["durable"], true);

    // The tiny spool dropped, host samples first, and said so.
    let gap = wait_for(
        Duration::from_secs(60),
        "a data_gap event from tiny",
        || c.events("tiny", "data_gap").ok()?.into_iter().next(),
    )
    .unwrap();
    let g = &gap["event"];
    println!("outage: tiny agent data gap: {g}");
    assert!(g["events"].as_u64().unwrap() > 0, "{g}");
    assert!(g["host_events"].as_u64().unwrap() > 0, "{g}");
    assert!(g["reason"].as_str().unwrap().contains("spool full"), "{g}");
    let t = wait_for(
        Duration::from_secs(30),
        "tiny agent's drop counters",
        || {
            let a = c.agent("tiny").ok()??;
            (a["queue"]["dropped_events"].as_u64()? > 0).then_some(a)
        },
    )
    .unwrap();
    let q = &t["queue"];
    println!("outage: tiny agent queue stats: {q}");
    assert!(q["dropped_host_events"].as_u64().unwrap() > 0, "{q}");
    // Host samples go first: what the tiny spool kept through the outage
    // is security events, not heartbeats. (Dropping oldest-first
    // regardless of class would have kept the heartbeats of the outage's
    // last seconds along with the logins.)
    let window = (down_wall + 5_000_000_000)..(up_wall - 5_000_000_000);
    let beats_kept = c
        .all_events("tiny", "heartbeat")
        .unwrap()
        .iter()
        .filter(|e| window.contains(&e["event"]["ts"].as_i64().unwrap()))
        .count();
    let (logins_kept, _) = numbered(&c, "tiny");
    println!(
        "outage: tiny agent kept {logins_kept} logins and {beats_kept} heartbeats from the outage"
    );
    assert!(logins_kept > 0, "security events kept");
    assert!(
        beats_kept <= 2,
        "host data dropped first: {beats_kept} heartbeats kept"
    );
    drop(tiny);
}

/// Acceptance: sending at twice the collector's measured capacity yields
/// 429s with Retry-After, resident memory stays under the configured cap,
/// and every acknowledged event is stored.
#[test]
fn overload_at_twice_capacity_gets_429s_stays_under_the_memory_cap_and_keeps_every_ack() {
    const CAP: u64 = 128 * 1024 * 1024;
    const PER_BATCH: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(
        dir.path(),
        &format!(
            "[ingest]\nmax-concurrent = 2\nqueue-wait = \"100ms\"\nmemory-limit-bytes = {CAP}\n"
        ),
    )
    .unwrap();
    let clients = 8;
    let tokens: Vec<String> = (0..clients)
        .map(|i| c.add_agent(&format!("load-{i}")).unwrap())
        .collect();

    // Each client sends numbered batches; returns (acked events, 429s, 503s,
    // retry-after seen) and its next sequence number.
    let run = |i: usize, first: u64, for_: Duration| {
        let url = c.url.clone();
        let token = tokens[i].clone();
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let name = format!("load-{i}");
            let (mut acked, mut busy, mut unavailable, mut retry_after) = (0u64, 0u64, 0u64, true);
            let mut seq = first;
            let until = Instant::now() + for_;
            let mut sent = 0;
            while Instant::now() < until && sent < 10_000 {
                let events = (seq..seq + PER_BATCH).map(notice).collect();
                let r = http
                    .post(format!("{url}/v1/ingest"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(batch_json(&name, seq, events))
                    .send()
                    .unwrap();
                sent += 1;
                match r.status().as_u16() {
                    200 => {
                        acked += PER_BATCH;
                        seq += PER_BATCH;
                    }
                    429 => {
                        busy += 1;
                        retry_after &= r.headers().contains_key("retry-after");
                    }
                    503 => unavailable += 1,
                    s => panic!("unexpected {s}: {}", r.text().unwrap_or_default()),
                }
            }
            (acked, busy, unavailable, retry_after, seq, sent)
        })
    };

    // Capacity: every client back to back for 5 s (the collector, not the
    // clients, is the limit: more requests than slots are always waiting).
    let t0 = Instant::now();
    let measured: Vec<_> = (0..clients)
        .map(|i| run(i, 0, Duration::from_secs(5)))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let cap_events: u64 = measured.iter().map(|m| m.0).sum();
    let capacity = cap_events as f64 / t0.elapsed().as_secs_f64();
    let mut next_seq: Vec<u64> = vec![0; clients];
    for (i, m) in measured.iter().enumerate() {
        next_seq[i] = m.4;
    }
    let mut acked_total = cap_events;

    // Twice that, open loop: a batch every `pace` whether or not earlier
    // ones were answered (agents do not wait for each other), for 10 s.
    let pace = Duration::from_secs_f64(PER_BATCH as f64 / (2.0 * capacity));
    let t1 = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // (client, events acknowledged, status, Retry-After present)
    let results: Vec<(usize, u64, u16, bool)> = rt.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        let mut tick = tokio::time::interval(pace);
        let until = Instant::now() + Duration::from_secs(10);
        let mut k = 0usize;
        while Instant::now() < until && k < 20_000 {
            tick.tick().await;
            let i = k % clients;
            k += 1;
            let seq = next_seq[i];
            next_seq[i] += PER_BATCH;
            let body = batch_json(
                &format!("load-{i}"),
                seq,
                (seq..seq + PER_BATCH).map(notice).collect(),
            );
            let req = http
                .post(format!("{}/v1/ingest", c.url))
                .bearer_auth(&tokens[i])
                .header("content-type", "application/json")
                .body(body);
            tasks.spawn(async move {
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let ra = r.headers().contains_key("retry-after");
                let acked = if status == 200 { PER_BATCH } else { 0 };
                (i, acked, status, ra)
            });
        }
        let mut out = Vec::new();
        while let Some(r) = tasks.join_next().await {
            out.push(r.unwrap());
        }
        out
    });
    let secs = t1.elapsed().as_secs_f64();
    let busy = results.iter().filter(|r| r.2 == 429).count() as u64;
    let unavailable = results.iter().filter(|r| r.2 == 503).count() as u64;
    assert!(
        results.iter().all(|r| matches!(r.2, 200 | 429 | 503)),
        "only 200, 429 and 503"
    );
    let acked: u64 = results.iter().map(|r| r.1).sum();
    let attempts = results.len() as u64;
    acked_total += acked;
    let mut acked_by = vec![0u64; clients];
    for r in &results {
        acked_by[r.0] += r.1;
    }
    let hwm = c.proc.status_kib("VmHWM").unwrap() * 1024;
    println!(
        "overload: capacity {capacity:.0} events/s ({} × 429 while measuring); offered {:.0}/s (target {:.0}/s) for {secs:.1}s: {acked} acknowledged ({:.0}/s), {busy} × 429, {unavailable} × 503; collector peak RSS {} MiB (cap {} MiB)",
        measured.iter().map(|m| m.1).sum::<u64>(),
        (attempts * PER_BATCH) as f64 / secs,
        2.0 * capacity,
        acked as f64 / secs,
        hwm >> 20,
        CAP >> 20
    );
    assert!(busy > 0, "twice the capacity must meet 429s");
    assert!(
        results.iter().filter(|r| r.2 != 200).all(|r| r.3),
        "every 429 and 503 carries Retry-After"
    );
    assert!(hwm < CAP, "peak RSS {hwm} under the {CAP} cap");
    let rejected = c
        .metric("shouwang_ingest_rejected_requests_total{reason=\"overloaded\"}")
        .unwrap()
        .unwrap_or(0.0);
    assert!(rejected >= busy as f64, "{rejected} vs {busy}");

    // Every acknowledged event is stored (counted per client, all pages).
    let mut stored = 0;
    for i in 0..clients {
        let n = c.all_events(&format!("load-{i}"), "notice").unwrap().len() as u64;
        let expect = measured[i].0 + acked_by[i];
        assert_eq!(n, expect, "load-{i}: stored {n}, acknowledged {expect}");
        stored += n;
    }
    println!("overload: {stored} events stored = {acked_total} acknowledged");
    assert_eq!(stored, acked_total);
}

/// Dead-man: an agent stopped gracefully says goodbye (status `stopped`, no
/// offline incident); one killed falls silent and its offline incident
/// states what it last looked like.
#[test]
fn a_goodbye_means_stopped_and_silence_raises_an_incident_with_the_last_known_state() {
    let dir = tempfile::tempdir().unwrap();
    // The shipped rules, with the silence window cut to 3 s.
    let rules = dir.path().join("rules");
    let copy = Command::new("cp")
        .arg("-r")
        .arg(shouwang_e2e::repo_root().join("rules"))
        .arg(&rules)
        .status()
        .unwrap();
    assert!(copy.success());
    let offline = rules.join("host/agent-offline.toml");
    let text = std::fs::read_to_string(&offline).unwrap();
    assert!(text.contains("window = \"90s\""));
    std::fs::write(
        &offline,
        text.replace("window = \"90s\"", "window = \"3s\""),
    )
    .unwrap();
    let c = Collector::start(
        dir.path(),
        &format!("[rules]\ndir = \"{}\"\n", rules.display()),
    )
    .unwrap();
    let start = |name: &str| {
        let token = c.add_agent(name).unwrap();
        let a = Agent::start(dir.path(), name, &c.url, &token, "auth-log = \"off\"").unwrap();
        wait_for(Duration::from_secs(20), "host sample and heartbeat", || {
            let v = c.agent(name).ok()??;
            (v["status"] == "online" && v["host"].is_object()).then_some(())
        })
        .unwrap();
        a
    };
    let mut polite = start("polite");
    let mut killed = start("killed");
    let st = polite.proc.terminate(Duration::from_secs(20)).unwrap();
    assert!(st.success());
    killed.proc.kill9().unwrap();

    let inc = wait_for(
        Duration::from_secs(40),
        "offline incident for the killed agent",
        || {
            c.incidents("rule=host.agent.offline")
                .ok()?
                .into_iter()
                .find(|i| i["group"] == "agent=killed")
        },
    )
    .unwrap();
    let full = c.get_json(&format!("/v1/incidents/{}", inc["id"])).unwrap();
    let ev = &full["incident"]["evidence"][0];
    println!("dead-man: {}", ev["brief"]);
    assert_eq!(ev["kind"], "last_known_state", "{full}");
    let brief = ev["brief"].as_str().unwrap();
    assert!(brief.starts_with("last seen "), "{brief}");
    assert!(
        brief.contains("memory ") && brief.contains("CPU ") && brief.contains("spool "),
        "{brief}"
    );
    assert!(
        ev["detail"]["memory_used_pct"].as_f64().unwrap() > 0.0,
        "{ev}"
    );

    // The polite one: stopped, with its reason, and never "silent" (the
    // window passed several times over while we waited above).
    let a = c.agent("polite").unwrap().unwrap();
    assert_eq!(a["status"], "stopped", "{a}");
    assert_eq!(a["stopping"], "SIGTERM", "{a}");
    assert!(
        c.incidents("rule=host.agent.offline")
            .unwrap()
            .iter()
            .all(|i| i["group"] != "agent=polite"),
        "no offline incident after a goodbye"
    );
}
