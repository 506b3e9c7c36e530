//! The collector, as the drill sees it: ingest as the drill's agent, read
//! incidents with an API token.

use std::time::Duration;

use anyhow::{Context, bail};
use shouwang_proto::{Batch, Event, Incident};

/// Where the collector is and who the drill is to it.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    /// Agent token of the drill's exercise agent (inject and pcap steps).
    pub agent_token: Option<String>,
    /// Viewer (or higher) API token, to read incidents.
    pub api_token: String,
    /// CA (PEM) of an `https://` collector with its own CA.
    pub ca: Option<std::path::PathBuf>,
}

pub struct Api {
    http: reqwest::Client,
    pub target: Target,
    /// The drill agent's name (from `GET /v1/agents/me`-less setups: given).
    pub agent: String,
    next_seq: u64,
}

fn error_text(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(300).collect())
}

impl Api {
    pub fn new(target: Target, agent: String) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        if let Some(ca) = &target.ca {
            let pem =
                std::fs::read(ca).with_context(|| format!("cannot read --ca {}", ca.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("--ca {} is not a PEM certificate", ca.display()))?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder.build().context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            target,
            agent,
            next_seq: 0,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.target.url.trim_end_matches('/'))
    }

    async fn get(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.target.api_token)
            .send()
            .await
            .with_context(|| format!("GET {}", self.url(path)))?;
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("GET {path}: {status}: {}", error_text(&body));
        }
        serde_json::from_str(&body).with_context(|| format!("GET {path}: not JSON"))
    }

    /// The collector's clock (ms since the epoch): time-to-detect is
    /// measured on it, so clock skew between hosts does not count.
    pub async fn now_ms(&self) -> anyhow::Result<i64> {
        let v = self.get("/v1/stats").await?;
        v["now_ms"]
            .as_i64()
            .context("GET /v1/stats: no now_ms (collector too old?)")
    }

    /// Every incident tagged with `exercise`, oldest first.
    pub async fn exercise_incidents(&self, exercise: &str) -> anyhow::Result<Vec<Incident>> {
        self.incidents(&format!("exercise={exercise}"), usize::MAX)
            .await
    }

    /// Incidents matching `query` (newest first), at most `max`.
    pub async fn incidents(&self, query: &str, max: usize) -> anyhow::Result<Vec<Incident>> {
        let mut out: Vec<Incident> = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let mut path = format!("/v1/incidents?limit=1000&{query}");
            if let Some(b) = before {
                path.push_str(&format!("&before={b}"));
            }
            let v = self.get(&path).await?;
            let page: Vec<Incident> = serde_json::from_value(v["incidents"].clone())
                .context("GET /v1/incidents: unexpected shape")?;
            out.extend(page);
            before = v["next_before"].as_i64();
            if before.is_none() || out.len() >= max {
                break;
            }
        }
        out.truncate(max);
        out.sort_by_key(|i| i.id);
        Ok(out)
    }

    /// Whether the rule is loaded and enabled (`None` if unknown).
    pub async fn rule_enabled(&self, id: &str) -> anyhow::Result<Option<bool>> {
        let v = self.get("/v1/rules").await?;
        let rules = v["rules"].as_array().cloned().unwrap_or_default();
        Ok(rules
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["enabled"].as_bool().unwrap_or(true)))
    }

    /// Sends `events` as the drill agent, tagged with `exercise`, in
    /// batches of at most 5 000. Sequence numbers come from the clock (ns),
    /// so separate runs never reuse one.
    pub async fn ingest(&mut self, exercise: &str, events: Vec<Event>) -> anyhow::Result<()> {
        let token = self
            .target
            .agent_token
            .clone()
            .context("inject steps send as the drill's agent: give --agent-token (from `shouwang-collector agents add drill`)")?;
        let mut events = events;
        while !events.is_empty() {
            let rest = events.split_off(events.len().min(5_000));
            let chunk = std::mem::replace(&mut events, rest);
            let clock = u64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            )
            .unwrap_or(u64::MAX / 2);
            let first = self.next_seq.max(clock);
            self.next_seq = first + chunk.len() as u64;
            let mut batch = Batch::new(self.agent.clone(), first, chunk);
            batch.exercise = Some(exercise.to_owned());
            let body = serde_json::to_vec(&batch).context("encoding a batch")?;
            let r = self
                .http
                .post(self.url(shouwang_proto::INGEST_PATH))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .context("POST /v1/ingest")?;
            let status = r.status();
            if !status.is_success() {
                let body = r.text().await.unwrap_or_default();
                bail!("POST /v1/ingest: {status}: {}", error_text(&body));
            }
        }
        Ok(())
    }
}
