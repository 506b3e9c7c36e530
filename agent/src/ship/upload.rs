//! Upload of queued batches, oldest first, with jittered exponential backoff.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use shouwang_proto::{INGEST_PATH, PROTOCOL_VERSION, VERSION_HEADER};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::spool::Spool;

/// Why an upload did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Network trouble, timeouts, 5xx: try again later.
    #[error("{0}")]
    Retry(String),
    /// 429 or 503: the collector is overloaded and asks for a pause
    /// (`Retry-After`, when it names one).
    #[error("{msg}")]
    Busy {
        msg: String,
        retry_after: Option<Duration>,
    },
    /// 401/403: the token is wrong or revoked. Retried (an operator may fix
    /// the collector side) but logged as an error.
    #[error("{0}")]
    Auth(String),
    /// 400/413/422: the collector will never accept this batch. Dropped.
    #[error("{0}")]
    Reject(String),
}

/// Something that takes a compressed batch body.
pub trait Sink: Send + Sync {
    fn send(&self, body: Bytes) -> impl Future<Output = Result<(), SendError>> + Send;
}

/// The collector's ingest endpoint over HTTP(S).
#[derive(Debug, Clone)]
pub struct HttpSink {
    client: reqwest::Client,
    url: String,
    auth: String,
}

impl HttpSink {
    pub fn new(
        collector: &str,
        token: &str,
        connect_timeout: Duration,
        request_timeout: Duration,
        tls: &crate::config::ClientTls,
    ) -> anyhow::Result<Self> {
        let builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(request_timeout)
            .user_agent(concat!("shouwang-agent/", env!("CARGO_PKG_VERSION")));
        let client = with_tls(builder, tls)?.build()?;
        Ok(Self {
            client,
            url: format!("{}{INGEST_PATH}", collector.trim_end_matches('/')),
            auth: format!("Bearer {token}"),
        })
    }
}

impl Sink for HttpSink {
    async fn send(&self, body: Bytes) -> Result<(), SendError> {
        let resp = self
            .client
            .post(&self.url)
            .header("authorization", &self.auth)
            .header("content-type", "application/json")
            .header("content-encoding", "zstd")
            .header(VERSION_HEADER, PROTOCOL_VERSION.to_string())
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Retry(format!("POST {}: {}", self.url, error_chain(&e))))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = resp.text().await.unwrap_or_default();
        let detail = shouwang_client::error_text(&text, 200);
        let msg = format!("collector answered {status}: {detail}");
        Err(match status.as_u16() {
            401 | 403 => SendError::Auth(msg),
            400 | 413 | 415 | 422 => SendError::Reject(msg),
            429 | 503 => SendError::Busy { msg, retry_after },
            _ => SendError::Retry(msg),
        })
    }
}

/// Adds the collector's CA (only those roots are trusted) and this
/// agent's client identity: the loader every API client shares.
pub fn with_tls(
    builder: reqwest::ClientBuilder,
    tls: &crate::config::ClientTls,
) -> anyhow::Result<reqwest::ClientBuilder> {
    let files = shouwang_client::Tls {
        ca: tls.ca.clone(),
        cert: tls.cert.clone(),
        key: tls.key.clone(),
    };
    let material = shouwang_client::load_tls(&files, &shouwang_client::TlsNames::CONFIG)?;
    Ok(material.apply(builder))
}

/// `Retry-After` in seconds (the collector never sends the date form),
/// capped at ten minutes so a bad value cannot stall an agent for good.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let secs: u64 = v.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(600)))
}

/// `base` stretched by a random 0–50 %, so agents told to wait the same time
/// do not all come back at the same instant.
fn jittered(base: Duration) -> Duration {
    base.mul_f64(1.0 + fastrand::f64() * 0.5)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Sends queued batches until `stop` fires, then keeps sending what is
/// queued for at most `drain_for` (no retries past that).
pub async fn run_uploader<S: Sink>(
    sink: S,
    spool: Spool,
    backoff_min: Duration,
    backoff_max: Duration,
    stop: CancellationToken,
    drain_for: Duration,
) {
    let new_backoff = || {
        ExponentialBuilder::default()
            .with_min_delay(backoff_min)
            .with_max_delay(backoff_max)
            .with_jitter()
            .without_max_times()
            .build()
    };
    let mut backoff = new_backoff();
    let mut failures: u64 = 0;
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    loop {
        if drain_deadline.is_none() && stop.is_cancelled() {
            drain_deadline = Some(tokio::time::Instant::now() + drain_for);
        }
        let Some(batch) = spool.front() else {
            if drain_deadline.is_some() {
                return;
            }
            tokio::select! {
                () = spool.ready() => continue,
                () = stop.cancelled() => continue,
            }
        };
        let attempt = sink.send(batch.body.clone());
        let result = match drain_deadline {
            Some(d) => match tokio::time::timeout_at(d, attempt).await {
                Ok(r) => r,
                Err(_) => return,
            },
            None => attempt.await,
        };
        match result {
            Ok(()) => {
                spool.complete(batch.first_seq, false);
                if failures > 0 {
                    info!(after_failures = failures, "upload recovered");
                }
                failures = 0;
                backoff = new_backoff();
            }
            Err(SendError::Reject(msg)) => {
                spool.complete(batch.first_seq, true);
                error!(
                    first_seq = batch.first_seq,
                    events = batch.events,
                    %msg,
                    "collector refused a batch; dropped it (not retryable)"
                );
            }
            Err(e) => {
                spool.record_failure();
                failures += 1;
                let mut delay = backoff.next().unwrap_or(backoff_max);
                if let SendError::Busy { retry_after, .. } = &e {
                    spool.record_deferred();
                    // The collector's pause, jittered, unless the backoff
                    // is already longer.
                    delay = delay.max(jittered(retry_after.unwrap_or(backoff_min)));
                }
                // One line at the start of an outage, then one per 20 tries.
                if failures == 1 || failures.is_multiple_of(20) {
                    match &e {
                        SendError::Auth(m) => {
                            error!(failures, msg = %m, "upload refused: check the agent token")
                        }
                        SendError::Busy { .. } => {
                            warn!(failures, msg = %e, ?delay, "collector overloaded; backing off")
                        }
                        _ => warn!(failures, msg = %e, "upload failed; retrying"),
                    }
                }
                match drain_deadline {
                    Some(_) => return,
                    None => tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = stop.cancelled() => {}
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ship::spool::{EncodedBatch, MemorySpool};
    use std::sync::Mutex;

    /// Fails with the scripted results first, then succeeds; records bodies.
    struct Scripted {
        script: Mutex<Vec<Result<(), SendError>>>,
        sent: Mutex<Vec<(tokio::time::Instant, Bytes)>>,
    }

    impl Sink for &Scripted {
        async fn send(&self, body: Bytes) -> Result<(), SendError> {
            self.sent
                .lock()
                .unwrap()
                .push((tokio::time::Instant::now(), body));
            let mut s = self.script.lock().unwrap();
            if s.is_empty() { Ok(()) } else { s.remove(0) }
        }
    }

    fn batch(seq: u64) -> EncodedBatch {
        EncodedBatch {
            first_seq: seq,
            events: 1,
            class: shouwang_proto::DataClass::Network,
            first_ts: 0,
            last_ts: 0,
            body: Bytes::from(seq.to_string()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_with_growing_delay_in_order_then_drops_rejected() {
        let sink = Scripted {
            script: Mutex::new(vec![
                Err(SendError::Retry("down".into())),
                Err(SendError::Retry("down".into())),
                Err(SendError::Retry("down".into())),
                Ok(()),
                Err(SendError::Reject("bad".into())),
            ]),
            sent: Mutex::new(Vec::new()),
        };
        let q = Spool::new(Box::new(MemorySpool::new(10, u64::MAX)), "full");
        q.push(batch(1));
        q.push(batch(2));
        q.push(batch(3));
        let stop = CancellationToken::new();
        let s2 = stop.clone();
        let q2 = q.clone();
        let sink_ref = &sink;
        let run = run_uploader(
            sink_ref,
            q2,
            Duration::from_millis(100),
            Duration::from_secs(5),
            s2,
            Duration::from_secs(1),
        );
        let watch = async {
            while q.stats().queued_batches > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            stop.cancel();
        };
        tokio::join!(run, watch);
        let sent = sink.sent.lock().unwrap();
        let bodies: Vec<&[u8]> = sent.iter().map(|(_, b)| &b[..]).collect();
        assert_eq!(
            bodies,
            vec![&b"1"[..], b"1", b"1", b"1", b"2", b"3"],
            "oldest first, retried until sent"
        );
        let gaps: Vec<Duration> = sent.windows(2).take(3).map(|w| w[1].0 - w[0].0).collect();
        assert!(gaps[0] >= Duration::from_millis(100), "{gaps:?}");
        assert!(gaps[2] > gaps[0], "backoff grows: {gaps:?}");
        let st = q.stats();
        assert_eq!(
            (st.sent_batches, st.rejected_batches, st.failed_uploads),
            (2, 1, 3)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stop_drains_within_deadline_and_gives_up_on_failure() {
        let sink = Scripted {
            script: Mutex::new(vec![Ok(()), Err(SendError::Retry("x".into()))]),
            sent: Mutex::new(Vec::new()),
        };
        let q = Spool::new(Box::new(MemorySpool::new(10, u64::MAX)), "full");
        for i in 0..3 {
            q.push(batch(i));
        }
        let stop = CancellationToken::new();
        stop.cancel();
        run_uploader(
            &sink,
            q.clone(),
            Duration::from_millis(100),
            Duration::from_secs(5),
            stop,
            Duration::from_secs(1),
        )
        .await;
        // Sent one, failed the next, and stopped rather than retrying forever.
        assert_eq!(sink.sent.lock().unwrap().len(), 2);
        assert_eq!(q.stats().queued_batches, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn busy_collector_is_given_its_retry_after_with_jitter() {
        let busy = || SendError::Busy {
            msg: "429".into(),
            retry_after: Some(Duration::from_secs(4)),
        };
        let sink = Scripted {
            script: Mutex::new(vec![Err(busy()), Err(busy())]),
            sent: Mutex::new(Vec::new()),
        };
        let q = Spool::new(Box::new(MemorySpool::new(10, u64::MAX)), "full");
        q.push(batch(7));
        let stop = CancellationToken::new();
        let watch = async {
            while q.stats().queued_batches > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            stop.cancel();
        };
        tokio::join!(
            run_uploader(
                &sink,
                q.clone(),
                Duration::from_millis(100),
                Duration::from_secs(60),
                stop.clone(),
                Duration::from_secs(1),
            ),
            watch
        );
        let sent = sink.sent.lock().unwrap();
        assert_eq!(sent.len(), 3);
        for w in sent.windows(2) {
            let gap = w[1].0 - w[0].0;
            // Never sooner than asked (the 100 ms backoff is shorter), and
            // at most 50 % later.
            assert!(
                gap >= Duration::from_secs(4)
                    && gap <= Duration::from_secs(6) + Duration::from_millis(20),
                "{gap:?}"
            );
        }
        let st = q.stats();
        assert_eq!(
            (st.deferred_uploads, st.failed_uploads, st.sent_batches),
            (2, 2, 1)
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("86400"), Some(Duration::from_secs(600)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
