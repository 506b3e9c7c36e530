//! Collector ingest throughput, against a real collector process.
//!
//! ```text
//! cargo build --release
//! cargo run --release -p shouwang-e2e --bin ingest-bench -- --kind auth
//! cargo run --release -p shouwang-e2e --bin ingest-bench -- --kind host
//! ```
//!
//! Starts `target/release/shouwang-collector` on loopback with a fresh
//! SQLite file, registers one agent per client, encodes every batch (JSON +
//! zstd, as the agent does) before the clock starts, then has each client
//! POST its batches back to back. Reports events/s over the wall time of
//! all clients, and the collector's peak RSS. Bounded: it sends exactly
//! `--events` events and stops.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use shouwang_e2e::{Collector, wait_for};
use shouwang_proto::{
    AuthEvent, AuthOutcome, AuthService, CpuSample, DiskSample, Event, EventBody, HostSample,
    InterfaceSample, LoadAverage, MemorySample, ProcessInfo, ProcessSummary, Session, Timestamp,
};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// sshd failures, each a stored event.
    Auth,
    /// Full host samples (registry + gauges, not stored as events).
    Host,
    /// A network sensor's mix for the rules benchmark: flows (most benign,
    /// some probes from a few scanners), DNS (some tunnel-like), HTTP (some
    /// injections), TLS, and sshd failures; about 12 % match a rule.
    Mix,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, value_enum, default_value = "auth")]
    kind: Kind,
    /// Total events to send.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Concurrent clients (one agent each).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Directory holding the release binaries.
    #[arg(long, default_value = "target/release")]
    bin_dir: std::path::PathBuf,
    /// Sustained mode: resend the `--events` set (new sequence numbers each
    /// pass, compressed just before sending) for this long, sampling the
    /// collector's RSS every `--sample-every`.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    sample_every: Duration,
    /// Sustained mode: compress this many passes before the clock starts
    /// (so the clients only send); a run that uses them all up stops early.
    #[arg(long)]
    precompress_passes: Option<u64>,
    /// Extra collector configuration (TOML), e.g.
    /// '[store]\nevent-kinds = ["auth"]'.
    #[arg(long, default_value = "")]
    collector_config: String,
}

/// POSTs one zstd batch; returns the events the collector accepted.
fn post(
    http: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    body: Vec<u8>,
) -> anyhow::Result<u64> {
    let r = http
        .post(url)
        .header("authorization", format!("Bearer {token}"))
        .header("content-encoding", "zstd")
        .body(body)
        .send()?;
    let status = r.status();
    let v: serde_json::Value = r.json()?;
    if !status.is_success() {
        bail!("ingest answered {status}: {v}");
    }
    Ok(v["accepted"].as_u64().unwrap_or(0))
}

/// First sequence numbers in sustained mode have this many digits, so the
/// number can be replaced in the JSON text without re-serialising.
const SEQ_BASE: u64 = 1_000_000_000_000;

/// Sustained mode: clients loop over pre-serialised JSON batches, replacing
/// the first_seq literal per pass; the main thread samples RSS.
fn sustained(args: &Args, c: &Collector, duration: Duration) -> anyhow::Result<()> {
    let per_client = args.events / args.clients;
    let batches = per_client / args.batch;
    let mut work = Vec::new();
    eprintln!(
        "serialising {} batches of {} {:?} events per client…",
        batches, args.batch, args.kind
    );
    for k in 0..args.clients {
        let name = format!("bench-{k}");
        let token = c.add_agent(&name)?;
        let bodies = batch_bodies(&name, args.kind, args.batch, batches, SEQ_BASE)?;
        work.push((token, bodies));
    }
    let url = format!("{}{}", c.url, shouwang_proto::INGEST_PATH);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pass_events = (batches * args.batch) as u64;
    let batch = args.batch;
    let renumber = move |json: &[u8], b: usize, pass: u64| -> anyhow::Result<String> {
        let base = SEQ_BASE + (b * batch) as u64;
        let old = format!("\"first_seq\":{base}");
        let new = format!("\"first_seq\":{}", base + pass * pass_events);
        Ok(std::str::from_utf8(json)?.replacen(&old, &new, 1))
    };
    // Optionally compress every pass up front, one thread per client.
    let pre: Option<Vec<Vec<Vec<u8>>>> = match args.precompress_passes {
        None => None,
        Some(passes) => {
            eprintln!("compressing {passes} passes per client before the clock starts…");
            let jobs: Vec<_> = work
                .iter()
                .map(|(_, bodies)| {
                    let bodies = bodies.clone();
                    std::thread::spawn(move || -> anyhow::Result<Vec<Vec<u8>>> {
                        let mut z = zstd::bulk::Compressor::new(1)?;
                        let mut out = Vec::new();
                        for pass in 0..passes {
                            for (b, json) in bodies.iter().enumerate() {
                                out.push(z.compress(renumber(json, b, pass)?.as_bytes())?);
                            }
                        }
                        Ok(out)
                    })
                })
                .collect();
            let mut all = Vec::new();
            for j in jobs {
                all.push(
                    j.join()
                        .map_err(|_| anyhow::anyhow!("compressor panicked"))??,
                );
            }
            Some(all)
        }
    };
    let mut pre = pre.map(|v| v.into_iter());
    let started = Instant::now();
    let handles: Vec<_> = work
        .into_iter()
        .map(|(token, bodies)| {
            let (url, stop) = (url.clone(), stop.clone());
            let ready = pre.as_mut().and_then(Iterator::next);
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()?;
                let mut accepted = 0;
                let mut compressor = zstd::bulk::Compressor::new(1)?;
                let send = |body: Vec<u8>, accepted: &mut u64| -> anyhow::Result<()> {
                    *accepted += post(&http, &url, &token, body)?;
                    Ok(())
                };
                if let Some(ready) = ready {
                    for body in ready {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        send(body, &mut accepted)?;
                    }
                    return Ok(accepted);
                }
                for pass in 0u64.. {
                    for (b, json) in bodies.iter().enumerate() {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            return Ok(accepted);
                        }
                        let body = compressor.compress(renumber(json, b, pass)?.as_bytes())?;
                        send(body, &mut accepted)?;
                    }
                }
                Ok(accepted)
            })
        })
        .collect();
    let mut samples = Vec::new();
    while started.elapsed() < duration {
        std::thread::sleep(
            args.sample_every
                .min(duration.saturating_sub(started.elapsed()))
                .max(Duration::from_millis(10)),
        );
        let rss = c.proc.status_kib("VmRSS")?;
        let evaluated = c
            .metric("shouwang_rules_events_evaluated_total")?
            .unwrap_or(0.0);
        eprintln!(
            "{:>6.0} s  rss {:>8} KiB  evaluated {:>12.0}",
            started.elapsed().as_secs_f64(),
            rss,
            evaluated
        );
        samples.push((started.elapsed().as_secs_f64(), rss));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let accepted = join_clients(handles)?;
    let secs = started.elapsed().as_secs_f64();
    let m = c.metrics()?;
    let detections: f64 = m
        .lines()
        .filter(|l| l.starts_with("shouwang_rule_detections_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let incidents = c.incidents("")?.len();
    let first = samples.first().map_or(0, |s| s.1);
    let last = samples.last().map_or(0, |s| s.1);
    let max = samples.iter().map(|s| s.1).max().unwrap_or(0);
    println!(
        "sustained kind={:?} seconds={secs:.0} events={accepted} events_per_sec={:.0} detections={detections:.0} incidents={incidents} rss_first_kib={first} rss_last_kib={last} rss_max_kib={max}",
        args.kind,
        accepted as f64 / secs
    );
    Ok(())
}

fn host_sample(i: usize) -> HostSample {
    let proc_info = |pid: u32| ProcessInfo {
        pid,
        name: format!("proc{pid}"),
        uid: Some(0),
        cpu_pct: 1.5,
        memory: 1 << 24,
    };
    HostSample {
        cpu: CpuSample {
            usage_pct: (i % 100) as f32,
            per_core_pct: vec![12.5, 40.0],
        },
        memory: MemorySample {
            total: 8 << 30,
            used: 3 << 30,
            available: 5 << 30,
            swap_total: 1 << 30,
            swap_used: 0,
        },
        load: LoadAverage {
            one: 0.5,
            five: 0.4,
            fifteen: 0.3,
        },
        disks: (0..4)
            .map(|d| DiskSample {
                mount: format!("/data{d}"),
                device: format!("/dev/sd{d}"),
                fs: "ext4".into(),
                total: 1 << 40,
                available: 1 << 39,
            })
            .collect(),
        interfaces: (0..4)
            .map(|n| InterfaceSample {
                name: format!("eth{n}"),
                rx_bytes: (i * 1000) as u64,
                tx_bytes: (i * 500) as u64,
                rx_packets: i as u64,
                tx_packets: i as u64,
                rx_errors: 0,
                tx_errors: 0,
            })
            .collect(),
        processes: ProcessSummary {
            count: 312,
            top_cpu: (1..=5).map(proc_info).collect(),
            top_memory: (6..=10).map(proc_info).collect(),
        },
        listening_tcp: 12,
        listening_udp: 3,
        sessions: vec![Session {
            user: "ops".into(),
            line: "pts/0".into(),
            host: "192.0.2.10".into(),
            login_time: 1_700_000_000,
            pid: 4242,
        }],
        boot_time: 1_700_000_000,
        uptime_secs: 86_400,
    }
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> std::net::IpAddr {
    std::net::IpAddr::from([a, b, c, d])
}

fn ends(i: usize, dst_port: u16) -> shouwang_proto::Endpoints {
    shouwang_proto::Endpoints {
        src: ip(10, 1, (i / 250 % 250) as u8, (i % 250) as u8),
        src_port: 30_000 + (i % 30_000) as u16,
        dst: ip(192, 0, 2, (i % 200) as u8),
        dst_port,
        app: shouwang_proto::AppProto::Unknown,
    }
}

/// One event of the mix; `i` spreads addresses and ports.
fn mix_event(i: usize) -> EventBody {
    use shouwang_proto::{DnsEvent, FlowEnd, FlowRecord, HttpRequest, TcpState, TlsClientHello};
    let flow = |src, dst, dport: u16, scan: bool| {
        EventBody::Flow(FlowRecord {
            iface: "eth0".into(),
            proto: 6,
            src,
            src_port: 30_000 + (i % 30_000) as u16,
            dst,
            dst_port: dport,
            vlan: None,
            first_ts: 0,
            last_ts: 0,
            packets_to_server: if scan { 1 } else { 12 },
            bytes_to_server: if scan { 60 } else { 4_000 },
            packets_to_client: if scan { 1 } else { 10 },
            bytes_to_client: if scan { 40 } else { 60_000 },
            tcp_flags_to_server: if scan { 2 } else { 27 },
            tcp_flags_to_client: if scan { 0x14 } else { 27 },
            syn: 1,
            syn_ack: u32::from(!scan),
            rst: u32::from(scan),
            fin: if scan { 0 } else { 2 },
            tcp_state: if scan {
                TcpState::Reset
            } else {
                TcpState::Closed
            },
            end: FlowEnd::Idle,
            app: shouwang_proto::AppProto::Unknown,
        })
    };
    match i % 100 {
        // 8 %: probes from 16 scanners across ports (port-scan rule).
        0..=7 => flow(
            ip(203, 0, 113, (i % 16) as u8),
            ip(192, 0, 2, 20),
            (i % 5000) as u16 + 1,
            true,
        ),
        // 62 %: ordinary web and service traffic.
        8..=69 => flow(
            ip(10, 1, (i / 250 % 250) as u8, (i % 250) as u8),
            ip(192, 0, 2, (i % 200) as u8),
            [443, 80, 8080, 3306][i % 4],
            false,
        ),
        // 12 % DNS: 2 % with tunnel-length names.
        70..=81 => EventBody::Dns(Box::new(DnsEvent {
            endpoints: ends(i, 53),
            transport: "udp".into(),
            id: (i % 65_536) as u16,
            response: false,
            qname: if i % 100 < 72 {
                format!(
                    "{:x}a9f3b7c1d5e2f8a0b4c6d7e9f1a3b5c7d9e0f2a4b6c8d0e1f3a5b7c9d1e3f5a7b9c.{:x}.t.example.net",
                    i,
                    i * 7
                )
            } else {
                format!("www{}.example{}.com", i % 50, i % 7)
            },
            qtype: "A".into(),
            rcode: None,
            answers: vec![],
            size: 60,
        })),
        // 10 % HTTP: 1 % injection attempts.
        82..=91 => EventBody::HttpRequest(Box::new(HttpRequest {
            // Injection attempts come from 50 attackers.
            endpoints: if i % 100 == 82 {
                shouwang_proto::Endpoints {
                    src: ip(198, 51, 100, (i % 50) as u8),
                    ..ends(i, 80)
                }
            } else {
                ends(i, 80)
            },
            method: "GET".into(),
            uri: if i % 100 == 82 {
                format!(
                    "/item.php?id={}%27+UNION+SELECT+user,password+FROM+users--+",
                    i % 1000
                )
            } else {
                format!(
                    "/news/{}/article-{}.html?ref=home&page={}",
                    i % 365,
                    i % 10_000,
                    i % 9
                )
            },
            version: "HTTP/1.1".into(),
            host: Some("portal.example.gov.cn".into()),
            user_agent: Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64)".into()),
            headers: vec![
                ("Accept".into(), "text/html".into()),
                ("Accept-Language".into(), "zh-CN".into()),
            ],
        })),
        // 5 % TLS.
        92..=96 => EventBody::Tls(TlsClientHello {
            endpoints: ends(i, 443),
            sni: Some(format!("api{}.example.com", i % 20)),
            version: "1.3".into(),
            alpn: vec!["h2".into(), "http/1.1".into()],
            ja4: "t13d1516h2_8daaf6152771_02713d6af862".into(),
        }),
        // 3 %: sshd failures from 30 guessers (brute-force rule).
        _ => event(Kind::Auth, i).body,
    }
}

/// Waits for the client threads; the events they had accepted, summed.
fn join_clients(handles: Vec<std::thread::JoinHandle<anyhow::Result<u64>>>) -> anyhow::Result<u64> {
    let mut accepted = 0;
    for h in handles {
        accepted += h
            .join()
            .map_err(|_| anyhow::anyhow!("client thread panicked"))??;
    }
    Ok(accepted)
}

/// `batches` JSON batches of `per_batch` events of `kind` from agent
/// `name`, numbered from `first_seq`.
fn batch_bodies(
    name: &str,
    kind: Kind,
    per_batch: usize,
    batches: usize,
    first_seq: u64,
) -> anyhow::Result<Vec<Vec<u8>>> {
    (0..batches)
        .map(|b| {
            let events = (0..per_batch)
                .map(|j| event(kind, b * per_batch + j))
                .collect();
            Ok(serde_json::to_vec(&shouwang_proto::Batch::new(
                name,
                first_seq + (b * per_batch) as u64,
                events,
            ))?)
        })
        .collect()
}

fn event(kind: Kind, i: usize) -> Event {
    let ts = Timestamp::from_nanos(1_700_000_000_000_000_000 + i as i64 * 1_000_000);
    let body = match kind {
        Kind::Mix => mix_event(i),
        Kind::Host => EventBody::HostSample(Box::new(host_sample(i))),
        Kind::Auth => EventBody::Auth(Box::new(AuthEvent {
            service: AuthService::Sshd,
            outcome: AuthOutcome::Failure,
            user: format!("user{}", i % 500),
            source_addr: Some(std::net::IpAddr::from([198, 51, 100, (i % 250) as u8])),
            source_port: Some(40_000 + (i % 20_000) as u16),
            source_host: None,
            method: Some("password".into()),
            target_user: None,
            invalid_user: i.is_multiple_of(3),
            hostname: Some("web-01".into()),
            message: format!(
                "Failed password for user{} from 198.51.100.{} port {} ssh2",
                i % 500,
                i % 250,
                40_000 + i % 20_000
            ),
        })),
    };
    Event::new(ts, body)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.clients == 0 || args.batch == 0 || args.events < args.clients * args.batch {
        bail!("need --events >= --clients * --batch, all non-zero");
    }
    let exe =
        std::fs::canonicalize(args.bin_dir.join("shouwang-collector")).with_context(|| {
            format!(
                "{}/shouwang-collector (run cargo build --release)",
                args.bin_dir.display()
            )
        })?;
    let dir = tempfile::tempdir()?;
    let c = Collector::start_exe(
        &exe,
        dir.path(),
        "127.0.0.1:0",
        &args.collector_config.replace("\\n", "\n"),
    )?;
    if let Some(d) = args.duration {
        return sustained(&args, &c, d);
    }
    let per_client = args.events / args.clients;
    let batches_per_client = per_client / args.batch;
    eprintln!(
        "encoding {} batches of {} {:?} events for {} clients…",
        batches_per_client * args.clients,
        args.batch,
        args.kind,
        args.clients
    );
    let mut work = Vec::new();
    let mut json_bytes = 0usize;
    for k in 0..args.clients {
        let name = format!("bench-{k}");
        let token = c.add_agent(&name)?;
        let bodies = batch_bodies(&name, args.kind, args.batch, batches_per_client, 0)?
            .into_iter()
            .map(|json| {
                json_bytes += json.len();
                zstd::bulk::compress(&json, 3)
            })
            .collect::<Result<Vec<_>, _>>()?;
        work.push((token, bodies));
    }
    let wire: usize = work.iter().flat_map(|(_, b)| b).map(Vec::len).sum();
    let url = format!("{}{}", c.url, shouwang_proto::INGEST_PATH);
    let started = Instant::now();
    let handles: Vec<_> = work
        .into_iter()
        .map(|(token, bodies)| {
            let url = url.clone();
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()?;
                let mut accepted = 0;
                for body in bodies {
                    accepted += post(&http, &url, &token, body)?;
                }
                Ok(accepted)
            })
        })
        .collect();
    let accepted = join_clients(handles)?;
    let secs = started.elapsed().as_secs_f64();
    let sent = (batches_per_client * args.batch * args.clients) as u64;
    if accepted != sent {
        bail!("collector accepted {accepted} of {sent} events");
    }
    // For auth, every event must be stored: check the count via the API.
    if let Kind::Auth = args.kind {
        let want = u64::try_from(args.batch.min(1000))?;
        wait_for(Duration::from_secs(5), "stored events", || {
            let v = c
                .get_json(&format!("/v1/events?agent=bench-0&kind=auth&limit={want}"))
                .ok()?;
            (v["events"].as_array()?.len() as u64 == want).then_some(())
        })?;
    }
    let peak = c.proc.status_kib("VmHWM")?;
    println!(
        "kind={:?} events={sent} batch={} clients={} json_bytes={json_bytes} wire_bytes={wire} seconds={secs:.2} events_per_sec={:.0} batches_per_sec={:.0} collector_peak_rss_kib={peak}",
        args.kind,
        args.batch,
        args.clients,
        sent as f64 / secs,
        (sent as usize / args.batch) as f64 / secs
    );
    Ok(())
}
