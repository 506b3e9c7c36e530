//! `console-seed`: fills a running collector for the console benchmark
//! (BENCHMARKS.md): N port-scan incidents (one per scanner address) and M
//! agents with region labels and heartbeats. Loopback only; bounded by its
//! arguments.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use shouwang_e2e::{batch_json, cli, syn_probe};
use shouwang_proto::{Event, EventBody, Heartbeat, Timestamp};

#[derive(Parser)]
struct Args {
    /// Collector URL (loopback).
    #[arg(long)]
    collector: String,
    /// The collector's config file (agents are added with its CLI).
    #[arg(long)]
    config: PathBuf,
    /// The collector binary.
    #[arg(long)]
    exe: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    incidents: u32,
    #[arg(long, default_value_t = 1_000)]
    agents: u32,
}

fn add_agent(a: &Args, name: &str) -> String {
    cli(&a.exe, &a.config, &["agents", "add", name]).unwrap()
}

fn post(http: &reqwest::blocking::Client, url: &str, token: &str, body: Vec<u8>) {
    let r = http
        .post(format!("{url}/v1/ingest"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap_or_default());
}

fn main() {
    let a = Args::parse();
    assert!(
        a.collector.starts_with("http://127.") || a.collector.starts_with("http://localhost"),
        "loopback only"
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::blocking::Client::new();
    let t = Instant::now();
    let sensor = add_agent(&a, "sensor");
    let t0 = 1_780_000_000;
    // 40 probes per scanner, 100 scanners per batch.
    let mut seq = 1;
    for chunk in 0..a.incidents.div_ceil(100) {
        let mut events = Vec::new();
        for k in 0..100 {
            let n = chunk * 100 + k;
            if n >= a.incidents {
                break;
            }
            let src = format!("10.{}.{}.{}", n / 65536 % 256, n / 256 % 256, n % 256);
            for p in 0..40u16 {
                events.push(syn_probe(&src, "192.0.2.20", 1000 + p, t0 + i64::from(n)));
            }
        }
        let len = events.len() as u64;
        post(
            &http,
            &a.collector,
            &sensor,
            batch_json("sensor", seq, events),
        );
        seq += len;
    }
    println!(
        "{} scanners sent in {:.1} s",
        a.incidents,
        t.elapsed().as_secs_f64()
    );
    let districts = ["城关区", "七里河区", "安宁区", "西固区", "红古区"];
    for i in 0..a.agents {
        let name = format!("gw-{i:04}");
        let token = add_agent(&a, &name);
        let labels: BTreeMap<String, String> = [
            (
                "district",
                districts[i as usize % districts.len()].to_owned(),
            ),
            ("town", format!("镇{:02}", i / 5 % 20)),
            ("site", format!("站点{}", i / 100)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let hb = Heartbeat {
            agent_version: "0.1.0".into(),
            config_hash: "0123456789abcdef".into(),
            hostname: name.clone(),
            os: "Debian GNU/Linux 12".into(),
            kernel: "6.1.0".into(),
            labels,
            sample_interval_ms: 10_000,
            boot_time: t0,
            ..Heartbeat::default()
        };
        let ev = Event::new(Timestamp::from_secs(t0), EventBody::Heartbeat(Box::new(hb)));
        post(&http, &a.collector, &token, batch_json(&name, 1, vec![ev]));
    }
    println!(
        "{} agents added with heartbeats; done in {:.1} s",
        a.agents,
        t.elapsed().as_secs_f64()
    );
}
