//! Ingest over real HTTP against a real collector process: authentication,
//! malformed and oversized bodies, deduplication. Each test has its own
//! collector and SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use shouwang_e2e::{Collector, batch_json, notice};

fn collector(extra: &str) -> (tempfile::TempDir, Collector) {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), extra).unwrap();
    (dir, c)
}

fn error_code(v: &serde_json::Value) -> &str {
    v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not a JSON error: {v}"))
}

#[test]
fn wrong_token_is_401_and_stores_nothing() {
    let (_d, c) = collector("");
    let token = c.add_agent("web-01").unwrap();
    let body = || batch_json("web-01", 0, vec![notice(0), notice(1)]);

    let mut wrong = token.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    let other = "sw1:web-01:".to_owned() + &"0".repeat(64);
    for t in [
        Some(wrong.as_str()),
        Some(other.as_str()),
        Some("garbage"),
        None,
    ] {
        let (status, v) = c.post_ingest(t, body(), false).unwrap();
        assert_eq!(status, 401, "token {t:?}: {v}");
        assert_eq!(error_code(&v), "unauthorized");
        assert!(v["error"]["message"].as_str().unwrap().contains("token"));
    }
    // Nothing stored: no events, agent never seen, no accepted-event counts.
    assert!(c.events("web-01", "notice").unwrap().is_empty());
    let a = c.agent("web-01").unwrap().unwrap();
    assert_eq!(a["status"], "never_seen");
    assert!(a["last_seen_ms"].is_null());
    assert_eq!(
        c.metric("shouwang_ingest_events_total{kind=\"notice\"}")
            .unwrap(),
        Some(0.0)
    );
    assert_eq!(
        c.metric("shouwang_ingest_rejected_requests_total{reason=\"unauthorized\"}")
            .unwrap(),
        Some(4.0)
    );

    // The right token works, so the refusals above were about the token.
    let (status, v) = c.post_ingest(Some(&token), body(), false).unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], 2);
}

#[test]
fn token_for_another_agent_is_403() {
    let (_d, c) = collector("");
    let token = c.add_agent("web-01").unwrap();
    c.add_agent("web-02").unwrap();
    let (status, v) = c
        .post_ingest(
            Some(&token),
            batch_json("web-02", 0, vec![notice(0)]),
            false,
        )
        .unwrap();
    assert_eq!(status, 403, "{v}");
    assert_eq!(error_code(&v), "forbidden");
    assert!(c.events("web-02", "notice").unwrap().is_empty());
}

#[test]
fn malformed_bodies_are_400_with_json_errors_and_store_nothing() {
    let (_d, c) = collector("");
    let token = c.add_agent("web-01").unwrap();
    let good = batch_json("web-01", 0, vec![notice(0)]);
    let truncated = good[..good.len() / 2].to_vec();
    let mut zstd_garbage = vec![0x28, 0xb5, 0x2f, 0xfd];
    zstd_garbage.extend_from_slice(b"definitely not a zstd frame");
    let cases: Vec<(&str, Vec<u8>, bool, &str)> = vec![
        ("not json", b"hello".to_vec(), false, "malformed"),
        ("truncated", truncated, false, "malformed"),
        ("wrong shape", br#"{"version":1,"agent":"web-01"}"#.to_vec(), false, "malformed"),
        ("unknown kind", br#"{"version":1,"agent":"web-01","first_seq":0,"events":[{"ts":1,"kind":"martian"}]}"#.to_vec(), false, "malformed"),
        ("future version", br#"{"version":99,"agent":"web-01","first_seq":0,"events":[{"ts":1,"kind":"notice","level":"info","component":"x","message":"y"}]}"#.to_vec(), false, "invalid"),
        ("no events", br#"{"version":1,"agent":"web-01","first_seq":0,"events":[]}"#.to_vec(), false, "invalid"),
        ("bad zstd", zstd_garbage, true, "malformed"),
        ("empty", Vec::new(), false, "malformed"),
    ];
    for (name, body, zstd, code) in cases {
        let (status, v) = c.post_ingest(Some(&token), body, zstd).unwrap();
        assert_eq!(status, 400, "{name}: {v}");
        assert_eq!(error_code(&v), code, "{name}: {v}");
    }
    assert!(c.events("web-01", "notice").unwrap().is_empty());
    assert!(c.agent("web-01").unwrap().unwrap()["last_seen_ms"].is_null());
}

#[test]
fn resent_batches_are_stored_once() {
    let (_d, c) = collector("");
    let token = c.add_agent("web-01").unwrap();
    let events: Vec<_> = (0..5).map(notice).collect();
    let body = batch_json("web-01", 100, events.clone());
    let compressed = zstd::bulk::compress(&body, 3).unwrap();
    let (s1, v1) = c
        .post_ingest(Some(&token), compressed.clone(), true)
        .unwrap();
    assert_eq!(
        (s1, v1["accepted"].as_u64(), v1["duplicates"].as_u64()),
        (200, Some(5), Some(0))
    );
    let (s2, v2) = c.post_ingest(Some(&token), compressed, true).unwrap();
    assert_eq!(
        (s2, v2["accepted"].as_u64(), v2["duplicates"].as_u64()),
        (200, Some(0), Some(5))
    );
    // Overlapping batch: seqs 103..108, of which 105..108 are new.
    let overlap: Vec<_> = (3..8).map(notice).collect();
    let (_, v3) = c
        .post_ingest(Some(&token), batch_json("web-01", 103, overlap), false)
        .unwrap();
    assert_eq!(
        (v3["accepted"].as_u64(), v3["duplicates"].as_u64()),
        (Some(3), Some(2))
    );
    let stored = c.events("web-01", "notice").unwrap();
    let seqs: Vec<i64> = stored.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (100..108).collect::<Vec<_>>());
    assert_eq!(
        c.metric("shouwang_ingest_duplicate_events_total").unwrap(),
        Some(7.0)
    );
    assert_eq!(
        c.metric("shouwang_ingest_events_total{kind=\"notice\"}")
            .unwrap(),
        Some(8.0)
    );
}

#[test]
fn dedup_survives_a_collector_restart() {
    let dir = tempfile::tempdir().unwrap();
    let body = batch_json("web-01", 0, (0..3).map(notice).collect());
    let token = {
        let c = Collector::start(dir.path(), "").unwrap();
        let token = c.add_agent("web-01").unwrap();
        assert_eq!(
            c.post_ingest(Some(&token), body.clone(), false).unwrap().1["accepted"],
            3
        );
        token
    };
    let c = Collector::start(dir.path(), "").unwrap();
    let (status, v) = c.post_ingest(Some(&token), body, false).unwrap();
    assert_eq!((status, v["duplicates"].as_u64()), (200, Some(3)), "{v}");
    assert_eq!(c.events("web-01", "notice").unwrap().len(), 3);
}

/// Sends a request by hand and returns the status line's code.
fn raw_post(
    addr: &str,
    token: &str,
    headers: &str,
    body_chunks: impl Iterator<Item = Vec<u8>>,
) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /v1/ingest HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n{headers}\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    for chunk in body_chunks {
        // The server may answer and close before taking it all: that is the point.
        if s.write_all(&chunk).is_err() {
            break;
        }
    }
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        resp.extend_from_slice(&buf[..n]);
        if resp.windows(4).any(|w| w == b"\r\n\r\n") && resp.len() > 12 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&resp);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

#[test]
fn ten_mib_bodies_are_413_without_memory_growth() {
    const MIB: usize = 1024 * 1024;
    let (_d, c) =
        collector("[ingest]\nmax-body-bytes = 1048576\nmax-decompressed-bytes = 4194304\n");
    let token = c.add_agent("web-01").unwrap();
    let addr = c.url.trim_start_matches("http://").to_owned();
    // Warm up: one normal request so steady-state allocations exist.
    assert_eq!(
        c.post_ingest(
            Some(&token),
            batch_json("web-01", 0, vec![notice(0)]),
            false
        )
        .unwrap()
        .0,
        200
    );
    let peak_before = c.proc.status_kib("VmHWM").unwrap();

    for round in 0..3 {
        // Declared 10 MiB: refused from the header, body never read.
        let code = raw_post(
            &addr,
            &token,
            &format!("Content-Length: {}\r\n", 10 * MIB),
            std::iter::once(vec![b'{'; 64 * 1024]),
        );
        assert_eq!(code, 413, "content-length round {round}");
        // Chunked 10 MiB with no declared length: cut off at the limit.
        let chunks = (0..160).map(|_| {
            let data = vec![b' '; 64 * 1024];
            let mut c = format!("{:x}\r\n", data.len()).into_bytes();
            c.extend_from_slice(&data);
            c.extend_from_slice(b"\r\n");
            c
        });
        let code = raw_post(&addr, &token, "Transfer-Encoding: chunked\r\n", chunks);
        assert_eq!(code, 413, "chunked round {round}");
        // 100 KiB of zstd that would inflate to 10 MiB+.
        let bomb = zstd::bulk::compress(&vec![b' '; 10 * MIB], 19).unwrap();
        let (status, v) = c.post_ingest(Some(&token), bomb, true).unwrap();
        assert_eq!(status, 413, "zstd bomb round {round}: {v}");
        assert_eq!(v["error"]["code"], "too_large");
    }
    let peak_after = c.proc.status_kib("VmHWM").unwrap();
    let growth_kib = peak_after.saturating_sub(peak_before);
    // Buffering even one 10 MiB body would raise the peak by 10240 KiB.
    assert!(
        growth_kib < 6 * 1024,
        "peak RSS grew by {growth_kib} KiB ({peak_before} → {peak_after})"
    );
    // A body under the limit is still accepted afterwards.
    let events: Vec<_> = (0..2000).map(notice).collect();
    let (status, v) = c
        .post_ingest(Some(&token), batch_json("web-01", 10, events), false)
        .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        c.metric("shouwang_ingest_rejected_requests_total{reason=\"too_large\"}")
            .unwrap(),
        Some(9.0)
    );
}

#[test]
fn errors_elsewhere_are_json_too() {
    let (_d, c) = collector("");
    let r = c.api.bare(reqwest::Method::GET, "/v1/nope").send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    let r = c
        .api
        .request(reqwest::Method::GET, "/v1/events?limit=0")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = c
        .api
        .request(reqwest::Method::GET, "/v1/agents/ghost")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(c.get_json("/healthz").unwrap()["status"], "ok");
    assert_eq!(c.get_json("/readyz").unwrap()["status"], "ready");
}

#[test]
fn boot_time_change_counts_a_reboot() {
    use shouwang_proto::{Event, EventBody, HostSample, Timestamp};
    let (_d, c) = collector("");
    let token = c.add_agent("web-01").unwrap();
    let sample = |secs: i64, boot: i64| {
        let mut h = HostSample {
            boot_time: boot,
            ..HostSample::default()
        };
        h.memory.total = 1 << 30;
        Event::new(
            Timestamp::from_secs(secs),
            EventBody::HostSample(Box::new(h)),
        )
    };
    // Same boot (btime jitter of 2 s is not a reboot), then a new boot.
    let batches = [
        (0, sample(100, 1_000)),
        (1, sample(110, 1_002)),
        (2, sample(120, 9_000)),
    ];
    for (seq, ev) in batches {
        let (status, v) = c
            .post_ingest(Some(&token), batch_json("web-01", seq, vec![ev]), false)
            .unwrap();
        assert_eq!(status, 200, "{v}");
    }
    assert_eq!(
        c.metric("shouwang_host_reboots_total{agent=\"web-01\"}")
            .unwrap(),
        Some(1.0)
    );
    let a = c.agent("web-01").unwrap().unwrap();
    assert_eq!(
        (a["reboots"].as_i64(), a["boot_time"].as_i64()),
        (Some(1), Some(9_000))
    );
    // An older sample arriving late does not roll the registry back.
    c.post_ingest(
        Some(&token),
        batch_json("web-01", 3, vec![sample(50, 1_000)]),
        false,
    )
    .unwrap();
    let a = c.agent("web-01").unwrap().unwrap();
    assert_eq!(
        (
            a["reboots"].as_i64(),
            a["boot_time"].as_i64(),
            a["host"]["ts"].as_i64()
        ),
        (Some(1), Some(9_000), Some(120_000_000_000))
    );
}

#[test]
fn re_added_agent_starts_a_fresh_sequence() {
    let (_d, c) = collector("");
    let token = c.add_agent("web-01").unwrap();
    let (_, v) = c
        .post_ingest(
            Some(&token),
            batch_json("web-01", 0, (0..3).map(notice).collect()),
            false,
        )
        .unwrap();
    assert_eq!(v["accepted"], 3);
    let out = std::process::Command::new(&c.exe)
        .arg("--config")
        .arg(&c.config)
        .args(["agents", "remove", "web-01"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // The old token is dead; a new registration under the same name starts over.
    assert_eq!(
        c.post_ingest(
            Some(&token),
            batch_json("web-01", 3, vec![notice(3)]),
            false
        )
        .unwrap()
        .0,
        401
    );
    let token = c.add_agent("web-01").unwrap();
    let (status, v) = c
        .post_ingest(
            Some(&token),
            batch_json("web-01", 0, (10..13).map(notice).collect()),
            false,
        )
        .unwrap();
    assert_eq!(
        (status, v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (200, Some(3), Some(0)),
        "{v}"
    );
    assert_eq!(c.events("web-01", "notice").unwrap().len(), 3);
}
