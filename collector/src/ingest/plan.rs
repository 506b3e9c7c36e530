//! The pure half of accepting a batch: given what the collector remembers
//! of the agent and the batch, which events are new, which rows to store,
//! how the agent's registry row changes and what memory becomes once the
//! commit lands. No I/O, no locks, no metrics: `Ingestor::accept` acts on
//! the plan (rules, commit, publish, metrics).

use std::collections::HashMap;

use shouwang_proto::{
    AuthOutcome, Batch, Event, EventBody, EventKind, Heartbeat, HostSample, ListenSocket,
    SocketChange,
};

use super::error::IngestError;
use super::seqset::SeqSet;
use crate::store::{AgentRow, AgentUpdate, NewEvent};

/// Boot times closer than this are the same boot (btime rounding).
const BOOT_TIME_SLACK_SECS: i64 = 5;

/// What the collector remembers about an agent between batches.
#[derive(Debug, Default)]
pub(super) struct AgentState {
    /// Registration this state belongs to (see `AgentId`).
    pub(super) created_at: i64,
    pub(super) seen: SeqSet,
    pub(super) host_ts: Option<i64>,
    pub(super) heartbeat_ts: Option<i64>,
    pub(super) listen_ts: Option<i64>,
    pub(super) boot_time: Option<i64>,
    pub(super) agent_version: Option<String>,
    pub(super) net: Option<(u64, u64)>,
    pub(super) listening: Vec<ListenSocket>,
}

impl AgentState {
    pub(super) fn from_row(row: &AgentRow) -> Self {
        let heartbeat: Option<Heartbeat> = row
            .heartbeat
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        Self {
            created_at: row.created_at,
            seen: serde_json::from_str(&row.seen_seqs).unwrap_or_default(),
            host_ts: row.host_ts,
            heartbeat_ts: None,
            listen_ts: None,
            boot_time: row.boot_time,
            agent_version: heartbeat.map(|h| h.agent_version),
            net: None,
            listening: row
                .listening
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default(),
        }
    }
}

/// What one batch does, worked out before anything is written.
#[derive(Debug)]
pub(super) struct Plan<'b> {
    /// Events in the batch.
    pub(super) total: u64,
    /// New events (not delivered before), in order: the rules see these.
    pub(super) fresh: Vec<&'b Event>,
    /// New events by kind.
    pub(super) kinds: HashMap<EventKind, u64>,
    /// Rows to insert (new events of the stored kinds).
    pub(super) rows: Vec<NewEvent>,
    /// The agent row's change, committed with the rows.
    pub(super) update: AgentUpdate,
    /// The newest host sample that is newer than what is known.
    pub(super) latest_host: Option<(i64, &'b HostSample)>,
    /// The newest heartbeat that is newer than what is known.
    pub(super) latest_hb: Option<(i64, &'b Heartbeat)>,
    /// The listening sockets after this batch, if they changed.
    pub(super) listening: Option<(Vec<ListenSocket>, Option<i64>)>,
    /// The host's boot time moved: it rebooted.
    pub(super) reboot: bool,
    /// Successful and failed logins among the new events.
    pub(super) auth: (u64, u64),
}

impl Plan<'_> {
    /// New events.
    pub(super) fn accepted(&self) -> u64 {
        self.kinds.values().sum()
    }
}

/// Works out what `batch` does to an agent in state `st`; `keep` lists the
/// event kinds stored as rows.
pub(super) fn plan<'b>(
    st: &AgentState,
    batch: &'b Batch,
    keep: &[EventKind],
    now_ms: i64,
) -> Result<Plan<'b>, IngestError> {
    let total = batch.events.len() as u64;
    let end = batch.first_seq + total;
    let missing = st.seen.missing(batch.first_seq, end);
    let is_new = |seq: u64| missing.iter().any(|&(s, e)| s <= seq && seq < e);
    let mut seen = st.seen.clone();
    seen.insert(batch.first_seq, end);

    let mut update = AgentUpdate {
        last_seen_ms: now_ms,
        seen,
        ..Default::default()
    };
    let mut fresh = Vec::new();
    let mut rows = Vec::new();
    let mut kinds: HashMap<EventKind, u64> = HashMap::new();
    let mut latest_host: Option<(i64, &HostSample)> = None;
    let mut latest_hb: Option<(i64, &Heartbeat)> = None;
    let mut listening = st.listening.clone();
    let mut listen_ts = st.listen_ts;
    let mut listen_changed = false;
    let (mut auth_ok, mut auth_fail) = (0u64, 0u64);
    for (seq, ev) in batch.numbered().filter(|(s, _)| is_new(*s)) {
        fresh.push(ev);
        let ts = ev.ts.as_nanos();
        *kinds.entry(ev.kind()).or_default() += 1;
        match &ev.body {
            EventBody::HostSample(h) => {
                if st.host_ts.is_none_or(|t| ts >= t) && latest_host.is_none_or(|(t, _)| ts >= t) {
                    latest_host = Some((ts, h));
                }
                continue; // samples live in the registry and Prometheus
            }
            EventBody::Heartbeat(hb) => {
                if st.heartbeat_ts.is_none_or(|t| ts >= t) && latest_hb.is_none_or(|(t, _)| ts >= t)
                {
                    latest_hb = Some((ts, hb));
                }
            }
            EventBody::ListenSnapshot(s) => {
                if listen_ts.is_none_or(|t| ts >= t) {
                    listening.clone_from(&s.sockets);
                    listen_ts = Some(ts);
                    listen_changed = true;
                }
            }
            EventBody::ListenChange(c) => {
                let key = |s: &ListenSocket| (s.proto, s.addr, s.port);
                listening.retain(|s| key(s) != key(&c.socket));
                if c.change == SocketChange::Opened {
                    listening.push(c.socket.clone());
                }
                listen_changed = true;
            }
            EventBody::Auth(a) => match a.outcome {
                AuthOutcome::Success => auth_ok += 1,
                AuthOutcome::Failure => auth_fail += 1,
            },
            // Notices and packet telemetry are stored as they are.
            EventBody::Notice(_)
            | EventBody::Flow(_)
            | EventBody::IfaceStats(_)
            | EventBody::Dns(_)
            | EventBody::Tls(_)
            | EventBody::HttpRequest(_)
            | EventBody::HttpResponse(_)
            | EventBody::SshBanner(_)
            | EventBody::IcmpEcho(_)
            | EventBody::Fanout(_)
            | EventBody::LoginReply(_)
            | EventBody::Arp(_)
            | EventBody::FileChange(_)
            | EventBody::SiteCheck(_)
            | EventBody::DataGap(_) => {}
        }
        if !keep.iter().any(|k| *k == ev.kind()) {
            continue;
        }
        let body = serde_json::to_string(ev).map_err(|e| IngestError::Invalid(e.to_string()))?;
        rows.push(NewEvent {
            seq,
            ts,
            kind: ev.kind().as_str(),
            body,
        });
    }
    let mut reboot = false;
    if let Some((ts, h)) = latest_host {
        update.host = Some((serde_json::to_string(h).unwrap_or_default(), ts));
        if h.boot_time > 0 {
            reboot = st
                .boot_time
                .is_some_and(|b| (h.boot_time - b).abs() > BOOT_TIME_SLACK_SECS);
            update.boot_time = Some(h.boot_time);
            update.reboots_added = i64::from(reboot);
        }
    }
    if let Some((_, hb)) = latest_hb {
        update.heartbeat = serde_json::to_string(hb).ok();
        update.labels = serde_json::to_string(&hb.labels).ok();
    }
    if listen_changed {
        update.listening = serde_json::to_string(&listening).ok();
    }
    Ok(Plan {
        total,
        fresh,
        kinds,
        rows,
        update,
        latest_host,
        latest_hb,
        listening: listen_changed.then_some((listening, listen_ts)),
        reboot,
        auth: (auth_ok, auth_fail),
    })
}

/// What memory becomes once the plan's commit has landed and the metrics
/// have read the old values (the network counters move with their metrics,
/// in `Ingestor::observe_net`).
pub(super) fn remember(st: &mut AgentState, plan: Plan<'_>) {
    st.seen = plan.update.seen;
    if let Some((listening, ts)) = plan.listening {
        st.listening = listening;
        st.listen_ts = ts;
    }
    if let Some((ts, h)) = plan.latest_host {
        st.host_ts = Some(ts);
        if h.boot_time > 0 {
            st.boot_time = Some(h.boot_time);
        }
    }
    if let Some((ts, hb)) = plan.latest_hb {
        st.heartbeat_ts = Some(ts);
        st.agent_version = Some(hb.agent_version.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shouwang_proto::{Level, Notice, Timestamp};

    fn notice(i: i64) -> Event {
        Event::new(
            Timestamp::from_secs(1_700_000_000 + i),
            EventBody::Notice(Notice {
                level: Level::Info,
                component: "t".into(),
                message: format!("n{i}"),
            }),
        )
    }

    fn host(i: i64, boot_time: i64) -> Event {
        Event::new(
            Timestamp::from_secs(1_700_000_000 + i),
            EventBody::HostSample(Box::new(HostSample {
                boot_time,
                ..Default::default()
            })),
        )
    }

    #[test]
    fn a_replayed_batch_plans_nothing_new_but_still_touches_the_row() {
        let mut st = AgentState::default();
        let batch = Batch::new("a1", 0, vec![notice(0), notice(1), notice(2)]);
        let p = plan(&st, &batch, &[EventKind::Notice], 10).expect("plan");
        assert_eq!(
            (p.total, p.accepted(), p.rows.len(), p.fresh.len()),
            (3, 3, 3, 3)
        );
        assert_eq!(p.rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(p.update.last_seen_ms, 10);
        remember(&mut st, p);
        // The same batch again, then one overlapping it by one event.
        let p = plan(&st, &batch, &[EventKind::Notice], 20).expect("plan");
        assert_eq!((p.accepted(), p.rows.len()), (0, 0));
        assert_eq!(
            p.update.last_seen_ms, 20,
            "a replay still counts as contact"
        );
        let overlap = Batch::new("a1", 2, vec![notice(2), notice(3)]);
        let p = plan(&st, &overlap, &[EventKind::Notice], 30).expect("plan");
        assert_eq!(p.rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn kinds_not_kept_are_seen_by_rules_but_not_stored() {
        let st = AgentState::default();
        let batch = Batch::new("a1", 5, vec![notice(0), host(1, 1000)]);
        let p = plan(&st, &batch, &[], 1).expect("plan");
        assert_eq!(p.fresh.len(), 2, "rules see every new event");
        assert!(p.rows.is_empty());
        assert_eq!(p.kinds.get(&EventKind::Notice), Some(&1));
        assert_eq!(p.kinds.get(&EventKind::HostSample), Some(&1));
        // Host samples are never rows, even when their kind is kept.
        let p = plan(&st, &batch, &[EventKind::HostSample], 1).expect("plan");
        assert!(p.rows.is_empty());
    }

    #[test]
    fn a_moved_boot_time_is_a_reboot_and_rounding_is_not() {
        let mut st = AgentState::default();
        let first = Batch::new("a1", 0, vec![host(0, 1000)]);
        let p = plan(&st, &first, &[], 1).expect("plan");
        assert!(!p.reboot, "the first boot time seen is no reboot");
        assert_eq!(p.update.boot_time, Some(1000));
        remember(&mut st, p);
        let jitter = Batch::new("a1", 1, vec![host(1, 1000 + BOOT_TIME_SLACK_SECS)]);
        assert!(!plan(&st, &jitter, &[], 2).expect("plan").reboot);
        let rebooted = Batch::new("a1", 1, vec![host(1, 5000)]);
        let p = plan(&st, &rebooted, &[], 2).expect("plan");
        assert!(p.reboot);
        assert_eq!(p.update.reboots_added, 1);
        // An older sample arriving late does not replace the newer one.
        remember(&mut st, p);
        let late = Batch::new("a1", 2, vec![host(-10, 9000)]);
        let p = plan(&st, &late, &[], 3).expect("plan");
        assert!(p.latest_host.is_none() && !p.reboot);
    }
}
