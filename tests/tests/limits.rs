//! Agent self-protection under real load: live capture on loopback (root)
//! flooded with bounded UDP traffic, against a 5 % CPU budget and a cap of 5
//! events per second. The agent samples capture, rate-limits network
//! telemetry and says so in its heartbeats, the collector's metrics and
//! `/v1/agents`; security events (logins) are never capped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use shouwang_e2e::lab::is_root;
use shouwang_e2e::{Agent, Collector, wait_for};

#[test]
fn an_overloaded_agent_samples_capture_caps_telemetry_and_keeps_every_login() {
    if !is_root() {
        eprintln!("SKIPPED: live capture needs root (CI runs this as root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), "").unwrap();
    let token = c.add_agent("busy").unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(&log, "").unwrap();
    let agent = Agent::start(
        dir.path(),
        "busy",
        &c.url,
        &token,
        &format!(
            "auth-log = \"{}\"\nauth-log-poll = \"100ms\"\n\
             [packet]\ninterfaces = [\"lo\"]\nstats-interval = \"1s\"\nidle-timeout = \"1s\"\nclosed-timeout = \"500ms\"\n\
             [limits]\ncpu-percent = 5.0\nmax-events-per-second = 5\n",
            log.display()
        ),
    )
    .unwrap();
    wait_for(Duration::from_secs(15), "capture and auth log open", || {
        let l = agent.proc.log();
        (l.contains("capture opened") && l.contains("following auth log")).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.proc.log()));

    // Bounded load: at most 300 000 datagrams or 8 s, each to its own
    // closed port (a flow each), on loopback only.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let mut sent = 0u32;
    let mut logins = 0u32;
    while sent < 300_000 && started.elapsed() < Duration::from_secs(8) {
        let port = 20_000 + (sent % 40_000) as u16;
        let _ = sock.send_to(b"shouwang-limits-test", ("127.0.0.1", port));
        sent += 1;
        if sent.is_multiple_of(5_000) && logins < 50 {
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            for _ in 0..5 {
                writeln!(
                    f,
                    "Nov 21 10:00:00 web-01 sshd[9]: Failed password for invalid user busy{logins:03} from 198.51.100.9 port 2222 ssh2"
                )
                .unwrap();
                logins += 1;
            }
        }
    }
    println!(
        "limits: sent {sent} datagrams and {logins} logins in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // Heartbeats (every second) carry the limits.
    let a = wait_for(
        Duration::from_secs(30),
        "limits in the agent's heartbeat",
        || {
            let a = c.agent("busy").ok()??;
            let l = &a["limits"];
            (l["sampled_out_frames"].as_u64()? > 0
                && l["rate_limited_network_events"].as_u64()? > 0)
                .then_some(a)
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            c.agent("busy").unwrap().unwrap()["limits"],
            agent.proc.log()
        )
    });
    let l = &a["limits"];
    println!("limits: {l}");
    assert!(l["overloaded_secs"].as_u64().unwrap() > 0, "{l}");
    assert_eq!(l["cpu_budget_pct"], 5.0);
    assert_eq!(l["max_events_per_sec"], 5);
    assert!(agent.proc.log().contains("agent over its resource budget"));

    // The collector exports it.
    let m = c.metrics().unwrap();
    let v = |s: &str| shouwang_e2e::metric_value(&m, s).unwrap_or(0.0);
    assert!(
        v("shouwang_agent_sampled_out_frames{agent=\"busy\"}") > 0.0,
        "metrics"
    );
    assert!(
        v("shouwang_agent_rate_limited_events{agent=\"busy\"}") > 0.0,
        "metrics"
    );

    // Every login arrived: security events are never capped.
    let got = wait_for(Duration::from_secs(20), "every login", || {
        let n = c
            .all_events("busy", "auth")
            .ok()?
            .iter()
            .filter(|e| {
                e["event"]["user"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("busy"))
            })
            .count();
        (n >= logins as usize).then_some(n)
    })
    .unwrap();
    assert_eq!(got, logins as usize);
}
