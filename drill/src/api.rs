//! The collector, as the drill sees it: ingest as the drill's agent, read
//! incidents with an API token.

use std::time::Duration;

use anyhow::{Context, bail};
use shouwang_proto::api::{IncidentPage, RulesView, Stats};
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
    client: shouwang_client::Client,
    pub target: Target,
    /// The drill agent's name (from `GET /v1/agents/me`-less setups: given).
    pub agent: String,
    next_seq: u64,
}

/// `what` failed: the collector's answer (status and its error message)
/// or the network's.
fn failed(what: &str, e: shouwang_client::Error) -> anyhow::Error {
    match e {
        shouwang_client::Error::Status { status, message } => {
            anyhow::anyhow!("{what}: {status}: {message}")
        }
        e => anyhow::Error::new(e).context(what.to_owned()),
    }
}

impl Api {
    pub fn new(target: Target, agent: String) -> anyhow::Result<Self> {
        let tls = shouwang_client::load_tls(
            &shouwang_client::Tls {
                ca: target.ca.clone(),
                ..shouwang_client::Tls::default()
            },
            &shouwang_client::TlsNames::FLAGS,
        )?;
        let client = shouwang_client::Client::new(
            &target.url,
            Some(&target.api_token),
            &tls,
            &shouwang_client::Options {
                connect_timeout: Duration::from_secs(5),
                timeout: Some(Duration::from_secs(30)),
                ..shouwang_client::Options::default()
            },
        )?;
        Ok(Self {
            client,
            target,
            agent,
            next_seq: 0,
        })
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.client
            .get(path)
            .await
            .map_err(|e| failed(&format!("GET {path}"), e))
    }

    /// The collector's clock (ms since the epoch): time-to-detect is
    /// measured on it, so clock skew between hosts does not count.
    pub async fn now_ms(&self) -> anyhow::Result<i64> {
        let v: Stats = self.get("/v1/stats").await?;
        // A collector too old to send its clock answers without one.
        if v.now_ms == 0 {
            bail!("GET /v1/stats: no now_ms (collector too old?)");
        }
        Ok(v.now_ms)
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
            let page: IncidentPage = self.get(&path).await?;
            out.extend(page.incidents);
            before = page.next_before;
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
        let v: RulesView = self.get("/v1/rules").await?;
        Ok(v.rules.iter().find(|r| r.id == id).map(|r| r.enabled))
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
            let req = self
                .client
                .bare(reqwest::Method::POST, shouwang_proto::INGEST_PATH)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body);
            self.client
                .send(req)
                .await
                .map_err(|e| failed("POST /v1/ingest", e))?;
        }
        Ok(())
    }
}
