//! The console's state: what it holds and how network messages and
//! derived rows change it. Keys are in `keys.rs`, the input dispatch in
//! `mod.rs`; nothing here draws (that is `ui/`).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;

use shouwang_proto::{DutyKind, DutyView, Incident, IncidentState, Severity, TimelineEntry};

use crate::i18n::{Lang, Txt};
use crate::live::LiveEvent;
use crate::theme::{Theme, ThemeName};
use shouwang_proto::api::{AgentView, RulesView, SiteStatus, Stats};

/// The views, in tab order (keys 1–7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    Overview,
    Incidents,
    Agents,
    Sites,
    Rules,
    Live,
    Duty,
}

impl View {
    pub const ALL: [Self; 7] = [
        Self::Overview,
        Self::Incidents,
        Self::Agents,
        Self::Sites,
        Self::Rules,
        Self::Live,
        Self::Duty,
    ];

    pub fn index(self) -> usize {
        self as usize
    }
}

/// What a prompt asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// Live filter of the current view.
    Filter(View),
    Note(i64),
    Assign(i64),
    Resolve(i64),
    FalsePositive(i64),
    /// Silence this rule (the incident's).
    Silence(i64),
    DutyStart,
    Handover,
    DutyNote,
}

/// A one-line text prompt at the bottom of the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: String,
}

/// Longest prompt input, characters.
pub const MAX_INPUT: usize = 2000;

/// What the network task reports.
#[derive(Debug, Clone, PartialEq)]
pub enum NetMsg {
    /// A request succeeded after a failure (or for the first time).
    Connected,
    /// The collector could not be reached or answered with an error.
    Disconnected {
        error: String,
    },
    /// All active (open or acknowledged) incidents.
    Incidents(Vec<Incident>),
    /// One incident changed (`opened`, `acknowledged`, `resolved`, …).
    IncidentChange {
        change: String,
        incident: Box<Incident>,
    },
    Detail {
        incident: Box<Incident>,
        timeline: Vec<TimelineEntry>,
    },
    Agents(Vec<AgentView>),
    Sites(Vec<SiteStatus>),
    Rules(RulesView),
    Duty(DutyView),
    Stats(Stats),
    Event(LiveEvent),
    /// Live events the collector or the console had to skip.
    Lagged(u64),
    /// Incidents opened since the shift started, for the shift summary.
    ShiftIncidents(Vec<Incident>),
    /// An operator action finished.
    Done {
        what: String,
    },
    Failed {
        what: String,
        error: String,
    },
}

/// Everything the state reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Key(ratatui::crossterm::event::KeyEvent),
    Mouse(ratatui::crossterm::event::MouseEvent),
    /// The wall clock, ms since the epoch.
    Tick(i64),
    Net(NetMsg),
}

/// A call to the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Ack {
        id: i64,
    },
    Resolve {
        id: i64,
        note: String,
        false_positive: bool,
    },
    Note {
        id: i64,
        text: String,
    },
    Assign {
        id: i64,
        who: String,
    },
    /// Silence every incident of a rule for a while.
    Silence {
        rule: String,
        duration: String,
        comment: String,
    },
    Detail {
        id: i64,
    },
    Duty {
        kind: DutyKind,
        text: String,
    },
    /// Incidents opened since `since_ms` (for the shift summary).
    ShiftIncidents {
        since_ms: i64,
    },
}

impl Request {
    /// Short description for the status line.
    pub fn describe(&self) -> String {
        match self {
            Self::Ack { id } => format!("ack #{id}"),
            Self::Resolve {
                id,
                false_positive: false,
                ..
            } => format!("resolve #{id}"),
            Self::Resolve { id, .. } => format!("false positive #{id}"),
            Self::Note { id, .. } => format!("note #{id}"),
            Self::Assign { id, who } => format!("assign #{id} → {who}"),
            Self::Silence { rule, duration, .. } => format!("silence {rule} {duration}"),
            Self::Detail { id } => format!("detail #{id}"),
            Self::Duty { kind, .. } => format!("duty {}", kind.as_str()),
            Self::ShiftIncidents { .. } => "shift summary".into(),
        }
    }
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Api(Request),
    /// Ring the terminal bell.
    Bell,
    /// Write the shift summary.
    WriteReport {
        path: PathBuf,
        markdown: String,
    },
    Quit,
}

/// How the console starts.
#[derive(Debug, Clone)]
pub struct Settings {
    pub lang: Lang,
    pub theme: ThemeName,
    pub bell: bool,
    /// Open incidents unacknowledged this long are highlighted.
    pub overdue_after_ms: i64,
    /// Where shift summaries are written.
    pub report_dir: PathBuf,
    /// Offset of the local time zone, seconds east of UTC.
    pub utc_offset_secs: i32,
    /// No data for this long counts as disconnected.
    pub stale_after_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lang: Lang::En,
            theme: ThemeName::Dark,
            bell: false,
            overdue_after_ms: DEFAULT_OVERDUE_MS,
            report_dir: PathBuf::from("."),
            utc_offset_secs: 0,
            stale_after_ms: DEFAULT_STALE_MS,
        }
    }
}

/// Default time before an open incident counts as overdue: 15 minutes.
pub const DEFAULT_OVERDUE_MS: i64 = 15 * 60 * 1000;
/// Default time without data before the DISCONNECTED banner: 10 s.
pub const DEFAULT_STALE_MS: i64 = 10_000;
/// How long a new high or critical incident flashes the header.
pub const FLASH_MS: i64 = 10_000;
/// How long a status message stays.
pub const STATUS_MS: i64 = 8_000;
/// Live events kept.
pub const LIVE_CAP: usize = 2_000;
/// Points in each sparkline.
pub const SPARK_CAP: usize = 120;

/// Incident table sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Severity, then newest first.
    #[default]
    Severity,
    /// Oldest first (longest waiting).
    Age,
    /// Most recently updated first.
    Updated,
    Rule,
    /// Open before acknowledged.
    State,
}

impl SortKey {
    pub const ALL: [Self; 5] = [
        Self::Severity,
        Self::Age,
        Self::Updated,
        Self::Rule,
        Self::State,
    ];

    pub(super) fn next(self) -> Self {
        Self::ALL[(self as usize + 1) % Self::ALL.len()]
    }
}

/// Selection and filter of a list view.
#[derive(Debug, Clone, Default)]
pub struct ListUi {
    pub selected: usize,
    pub filter: String,
}

/// Which incidents of exercises (`exercise` set) the list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DrillFilter {
    #[default]
    All,
    Hidden,
    Only,
}

impl DrillFilter {
    pub fn next(self) -> Self {
        match self {
            Self::All => Self::Hidden,
            Self::Hidden => Self::Only,
            Self::Only => Self::All,
        }
    }

    pub fn keeps(self, i: &Incident) -> bool {
        match self {
            Self::All => true,
            Self::Hidden => i.exercise.is_none(),
            Self::Only => i.exercise.is_some(),
        }
    }
}

/// The incidents view's own state.
#[derive(Debug, Clone, Default)]
pub struct IncidentsUi {
    pub list: ListUi,
    /// Id of the selected incident (kept across re-sorting).
    pub selected_id: Option<i64>,
    pub sort: SortKey,
    pub reverse: bool,
    pub min_severity: Option<Severity>,
    /// Incidents raised by exercises (drills, replays): shown, hidden or
    /// the only ones shown.
    pub drills: DrillFilter,
    pub show_detail: bool,
    /// Incident ids in display order.
    pub order: Vec<i64>,
}

/// A row of the agents view: a region heading or an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentRow {
    Region {
        path: String,
        online: usize,
        total: usize,
    },
    Agent(usize),
}

/// Whether the console hears from the collector.
#[derive(Debug, Clone, Default)]
pub struct Link {
    pub connected: bool,
    pub error: Option<String>,
    /// Wall time of the last message from the collector.
    pub last_data_ms: Option<i64>,
    pub started_ms: i64,
}

/// The whole state.
#[derive(Debug)]
pub struct App {
    pub settings: Settings,
    pub now_ms: i64,
    pub view: View,
    pub show_help: bool,
    pub prompt: Option<Prompt>,
    /// (since, text, is_error).
    pub status: Option<(i64, String, bool)>,
    pub link: Link,
    /// Terminal width (for mouse hits on the tab row).
    pub screen_width: u16,

    pub incidents: HashMap<i64, Incident>,
    /// The selected incident's detail, when fetched.
    pub detail: Option<(Incident, Vec<TimelineEntry>)>,
    pub agents: Vec<AgentView>,
    pub sites: Vec<SiteStatus>,
    pub rules: RulesView,
    pub duty: DutyView,
    pub duty_loaded: bool,
    last_stats: Option<Stats>,
    /// Events per second at each stats poll.
    pub ingest_rate: VecDeque<u64>,
    /// Incidents opened between stats polls.
    pub incident_rate: VecDeque<u64>,
    pub live: VecDeque<LiveEvent>,
    pub live_paused: bool,
    pub live_missed: u64,
    /// Open high/critical incidents waiting for an acknowledgement.
    pub pinned: BTreeSet<i64>,
    pub flash_until_ms: i64,
    loaded_incidents: bool,

    pub inc: IncidentsUi,
    pub agents_ui: ListUi,
    pub sites_ui: ListUi,
    pub rules_ui: ListUi,
    pub live_ui: ListUi,
    pub duty_ui: ListUi,
    /// Derived rows (refreshed by `prepare`).
    pub agent_rows: Vec<AgentRow>,
    pub site_order: Vec<usize>,
    pub rule_order: Vec<usize>,
    pub live_order: Vec<usize>,
    /// Duty log entries shown (indexes into `duty.entries`, newest first).
    pub duty_order: Vec<usize>,
    dirty: bool,
}

impl App {
    pub fn new(settings: Settings, now_ms: i64) -> Self {
        Self {
            settings,
            now_ms,
            view: View::Overview,
            show_help: false,
            prompt: None,
            status: None,
            link: Link {
                started_ms: now_ms,
                ..Link::default()
            },
            screen_width: 80,
            incidents: HashMap::new(),
            detail: None,
            agents: Vec::new(),
            sites: Vec::new(),
            rules: RulesView::default(),
            duty: DutyView::default(),
            duty_loaded: false,
            last_stats: None,
            ingest_rate: VecDeque::new(),
            incident_rate: VecDeque::new(),
            live: VecDeque::new(),
            live_paused: false,
            live_missed: 0,
            pinned: BTreeSet::new(),
            flash_until_ms: 0,
            loaded_incidents: false,
            inc: IncidentsUi::default(),
            agents_ui: ListUi::default(),
            sites_ui: ListUi::default(),
            rules_ui: ListUi::default(),
            live_ui: ListUi::default(),
            duty_ui: ListUi::default(),
            agent_rows: Vec::new(),
            site_order: Vec::new(),
            rule_order: Vec::new(),
            live_order: Vec::new(),
            duty_order: Vec::new(),
            dirty: true,
        }
    }

    pub fn txt(&self) -> &'static Txt {
        self.settings.lang.txt()
    }

    pub fn theme(&self) -> &'static Theme {
        self.settings.theme.theme()
    }

    /// True while the collector is unreachable or silent too long.
    pub fn disconnected(&self) -> bool {
        !self.link.connected
            || self
                .link
                .last_data_ms
                .is_none_or(|t| self.now_ms - t > self.settings.stale_after_ms)
    }

    /// Open, unacknowledged past the overdue time (or escalated by the
    /// collector).
    pub fn overdue(&self, i: &Incident) -> bool {
        i.state == IncidentState::Open
            && (i.escalated || self.now_ms - i.opened_ms > self.settings.overdue_after_ms)
    }

    pub fn flashing(&self) -> bool {
        self.now_ms < self.flash_until_ms
    }

    pub fn selected_incident(&self) -> Option<&Incident> {
        self.inc.selected_id.and_then(|id| self.incidents.get(&id))
    }

    pub(crate) fn set_status(&mut self, text: String, error: bool) {
        self.status = Some((self.now_ms, text, error));
    }

    pub(super) fn on_net(&mut self, m: NetMsg) -> Vec<Effect> {
        let mut fx = Vec::new();
        if let NetMsg::Disconnected { error } = m {
            self.link.connected = false;
            self.link.error = Some(error);
            return fx;
        }
        // Anything else is data from the collector.
        self.link.last_data_ms = Some(self.now_ms);
        self.dirty = true;
        match m {
            NetMsg::Disconnected { .. } => {}
            NetMsg::Connected => {
                self.link.connected = true;
                self.link.error = None;
            }
            NetMsg::Incidents(list) => {
                let initial = !self.loaded_incidents;
                self.loaded_incidents = true;
                self.incidents.clear();
                self.pinned.clear();
                for i in list {
                    self.track(i, initial, &mut fx);
                }
            }
            NetMsg::IncidentChange { incident, .. } => {
                let initial = !self.loaded_incidents;
                self.track(*incident, initial, &mut fx);
            }
            NetMsg::Detail { incident, timeline } => {
                if self.inc.selected_id == Some(incident.id) {
                    self.detail = Some((*incident, timeline));
                }
            }
            NetMsg::Agents(a) => self.agents = a,
            NetMsg::Sites(s) => self.sites = s,
            NetMsg::Rules(r) => self.rules = r,
            NetMsg::Duty(d) => {
                self.duty = d;
                self.duty_loaded = true;
            }
            NetMsg::Stats(s) => self.on_stats(s),
            NetMsg::Event(e) => {
                self.live.push_back(e);
                while self.live.len() > LIVE_CAP {
                    self.live.pop_front();
                }
            }
            NetMsg::Lagged(n) => self.live_missed = self.live_missed.saturating_add(n),
            NetMsg::ShiftIncidents(list) => {
                let since = self.duty.on_duty.as_ref().map_or(0, |e| e.ts_ms);
                let markdown = crate::report::shift_markdown(
                    self.settings.lang,
                    &self.duty,
                    &list,
                    since,
                    self.now_ms,
                    self.settings.utc_offset_secs,
                );
                let path = self.settings.report_dir.join(crate::report::file_name(
                    self.now_ms,
                    self.settings.utc_offset_secs,
                ));
                fx.push(Effect::WriteReport { path, markdown });
            }
            NetMsg::Done { what } => {
                let t = format!("✓ {what}: {}", self.txt().done);
                self.set_status(t, false);
            }
            NetMsg::Failed { what, error } => {
                let t = format!("✗ {what}: {} — {error}", self.txt().failed);
                self.set_status(t, true);
            }
        }
        fx
    }

    /// Adds or updates an incident; pins new open high/critical ones and
    /// unpins the rest. `initial`: the first load (pinned, but no flash
    /// or bell for what was already there).
    fn track(&mut self, mut i: Incident, initial: bool, fx: &mut Vec<Effect>) {
        // The list keeps no evidence: the detail pane shows the evidence of
        // the incident it fetched (memory stays flat with many incidents).
        i.evidence = Vec::new();
        let id = i.id;
        if self.detail.as_ref().is_some_and(|(d, _)| d.id == id) && self.inc.show_detail {
            fx.push(Effect::Api(Request::Detail { id }));
        }
        if i.state == IncidentState::Resolved {
            self.incidents.remove(&id);
            self.pinned.remove(&id);
            return;
        }
        let urgent = i.severity >= Severity::High && i.state == IncidentState::Open;
        if urgent {
            if self.pinned.insert(id) && !initial {
                self.flash_until_ms = self.now_ms + FLASH_MS;
                if self.settings.bell {
                    fx.push(Effect::Bell);
                }
            }
        } else {
            self.pinned.remove(&id);
        }
        self.incidents.insert(id, i);
    }

    fn on_stats(&mut self, s: Stats) {
        if let Some(prev) = self.last_stats {
            let dt_ms = (s.now_ms - prev.now_ms).max(1);
            let ev = s.events_total.saturating_sub(prev.events_total);
            let per_sec = ev.saturating_mul(1000) / dt_ms.unsigned_abs();
            push_capped(&mut self.ingest_rate, per_sec);
            push_capped(
                &mut self.incident_rate,
                s.incidents_opened_total
                    .saturating_sub(prev.incidents_opened_total),
            );
        }
        self.last_stats = Some(s);
    }

    /// Refreshes the derived rows if anything changed since the last call.
    pub fn prepare(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        self.derive_incidents();
        self.derive_agents();
        self.derive_sites();
        self.derive_rules();
        self.derive_live();
        self.derive_duty();
    }

    pub(crate) fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    fn derive_incidents(&mut self) {
        let f = self.inc.list.filter.to_lowercase();
        let lang = self.settings.lang;
        let mut order: Vec<&Incident> = self
            .incidents
            .values()
            .filter(|i| self.inc.min_severity.is_none_or(|m| i.severity >= m))
            .filter(|i| self.inc.drills.keeps(i))
            .filter(|i| f.is_empty() || incident_matches(i, &f, lang))
            .collect();
        let by = self.inc.sort;
        order.sort_by(|a, b| {
            let o = match by {
                SortKey::Severity => b
                    .severity
                    .cmp(&a.severity)
                    .then(b.opened_ms.cmp(&a.opened_ms)),
                SortKey::Age => a.opened_ms.cmp(&b.opened_ms),
                SortKey::Updated => b.updated_ms.cmp(&a.updated_ms),
                SortKey::Rule => a.rule.cmp(&b.rule),
                SortKey::State => state_rank(a.state)
                    .cmp(&state_rank(b.state))
                    .then(b.severity.cmp(&a.severity)),
            };
            o.then(b.id.cmp(&a.id))
        });
        if self.inc.reverse {
            order.reverse();
        }
        self.inc.order = order.iter().map(|i| i.id).collect();
        let ui = &mut self.inc;
        match ui
            .selected_id
            .and_then(|id| ui.order.iter().position(|&x| x == id))
        {
            Some(p) => ui.list.selected = p,
            None => {
                ui.list.selected = ui.list.selected.min(ui.order.len().saturating_sub(1));
                ui.selected_id = ui.order.get(ui.list.selected).copied();
            }
        }
        if self
            .detail
            .as_ref()
            .is_some_and(|(d, _)| Some(d.id) != self.inc.selected_id)
        {
            self.detail = None;
        }
    }

    fn derive_agents(&mut self) {
        let f = self.agents_ui.filter.to_lowercase();
        let mut idx: Vec<usize> = (0..self.agents.len())
            .filter(|&i| {
                let a = &self.agents[i];
                f.is_empty()
                    || a.name.to_lowercase().contains(&f)
                    || a.labels
                        .as_object()
                        .into_iter()
                        .flat_map(|o| o.values())
                        .filter_map(serde_json::Value::as_str)
                        .any(|v| v.to_lowercase().contains(&f))
                    || a.status.as_str().contains(&f)
            })
            .collect();
        let key = |a: &AgentView| {
            (
                a.label("district").to_owned(),
                a.label("town").to_owned(),
                a.label("site").to_owned(),
                a.name.clone(),
            )
        };
        idx.sort_by_cached_key(|&i| key(&self.agents[i]));
        let unlabelled = self.txt().unlabelled;
        let mut rows = Vec::with_capacity(idx.len() + 16);
        let mut current: Option<String> = None;
        let mut heading_at = 0;
        for i in idx {
            let path = region_path(&self.agents[i], unlabelled);
            if current.as_deref() != Some(path.as_str()) {
                heading_at = rows.len();
                rows.push(AgentRow::Region {
                    path: path.clone(),
                    online: 0,
                    total: 0,
                });
                current = Some(path);
            }
            if let Some(AgentRow::Region { online, total, .. }) = rows.get_mut(heading_at) {
                *total += 1;
                if self.agents[i].online() {
                    *online += 1;
                }
            }
            rows.push(AgentRow::Agent(i));
        }
        self.agent_rows = rows;
        clamp(&mut self.agents_ui, self.agent_rows.len());
    }

    fn derive_sites(&mut self) {
        let f = self.sites_ui.filter.to_lowercase();
        let mut idx: Vec<usize> = (0..self.sites.len())
            .filter(|&i| {
                let s = &self.sites[i];
                f.is_empty()
                    || s.url.to_lowercase().contains(&f)
                    || s.agent.to_lowercase().contains(&f)
                    || s.state.contains(&f)
                    || s.findings.iter().any(|x| x.contains(&f))
            })
            .collect();
        // Down first, then degraded, then up; then by page.
        idx.sort_by(|&a, &b| {
            let (x, y) = (&self.sites[a], &self.sites[b]);
            site_rank(&x.state)
                .cmp(&site_rank(&y.state))
                .then_with(|| x.url.cmp(&y.url))
                .then_with(|| x.agent.cmp(&y.agent))
        });
        self.site_order = idx;
        clamp(&mut self.sites_ui, self.site_order.len());
    }

    fn derive_rules(&mut self) {
        let f = self.rules_ui.filter.to_lowercase();
        let lang = self.settings.lang;
        let mut idx: Vec<usize> = (0..self.rules.rules.len())
            .filter(|&i| {
                let r = &self.rules.rules[i];
                f.is_empty()
                    || r.id.to_lowercase().contains(&f)
                    || lang.pick(&r.title).to_lowercase().contains(&f)
                    || r.attack.iter().any(|t| t.to_lowercase().contains(&f))
            })
            .collect();
        // Most fired first, then by id.
        idx.sort_by(|&a, &b| {
            let (x, y) = (&self.rules.rules[a], &self.rules.rules[b]);
            y.fired.cmp(&x.fired).then_with(|| x.id.cmp(&y.id))
        });
        self.rule_order = idx;
        clamp(&mut self.rules_ui, self.rule_order.len());
    }

    fn derive_live(&mut self) {
        let f = self.live_ui.filter.to_lowercase();
        self.live_order = (0..self.live.len())
            .rev()
            .filter(|&i| {
                let e = &self.live[i];
                f.is_empty()
                    || e.agent.to_lowercase().contains(&f)
                    || e.kind.contains(&f)
                    || e.summary.to_lowercase().contains(&f)
            })
            .collect();
        if !self.live_paused {
            self.live_ui.selected = 0;
        }
        clamp(&mut self.live_ui, self.live_order.len());
    }

    fn derive_duty(&mut self) {
        let f = self.duty_ui.filter.to_lowercase();
        self.duty_order = (0..self.duty.entries.len())
            .filter(|&i| {
                let e = &self.duty.entries[i];
                f.is_empty()
                    || e.text.to_lowercase().contains(&f)
                    || e.actor.to_lowercase().contains(&f)
            })
            .collect();
        clamp(&mut self.duty_ui, self.duty_order.len());
    }

    /// Counts of active incidents by severity (info … critical).
    pub fn severity_counts(&self) -> [usize; 5] {
        let mut c = [0; 5];
        for i in self.incidents.values() {
            c[i.severity as usize] += 1;
        }
        c
    }

    /// (online, offline, never seen).
    /// (online, offline, never seen, stopped).
    pub fn agent_counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for a in &self.agents {
            match a.status.as_str() {
                "online" => c.0 += 1,
                "offline" => c.1 += 1,
                "stopped" => c.3 += 1,
                _ => c.2 += 1,
            }
        }
        c
    }

    /// (up, degraded, down) over pages × agents.
    pub fn site_counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for s in &self.sites {
            match s.state.as_str() {
                "up" => c.0 += 1,
                "degraded" => c.1 += 1,
                _ => c.2 += 1,
            }
        }
        c
    }

    pub fn overdue_count(&self) -> usize {
        self.incidents.values().filter(|i| self.overdue(i)).count()
    }
}

fn push_capped(q: &mut VecDeque<u64>, v: u64) {
    q.push_back(v);
    while q.len() > SPARK_CAP {
        q.pop_front();
    }
}

fn clamp(ui: &mut ListUi, len: usize) {
    ui.selected = ui.selected.min(len.saturating_sub(1));
}

fn state_rank(s: IncidentState) -> u8 {
    match s {
        IncidentState::Open => 0,
        IncidentState::Acknowledged => 1,
        IncidentState::Resolved => 2,
    }
}

fn site_rank(s: &str) -> u8 {
    match s {
        "down" => 0,
        "degraded" => 1,
        _ => 2,
    }
}

/// `district / town / site` of an agent, or the no-region label.
pub fn region_path(a: &AgentView, unlabelled: &str) -> String {
    let parts: Vec<&str> = ["district", "town", "site"]
        .iter()
        .map(|k| a.label(k))
        .filter(|v| !v.is_empty())
        .collect();
    if parts.is_empty() {
        unlabelled.to_owned()
    } else {
        parts.join(" / ")
    }
}

fn incident_matches(i: &Incident, f: &str, lang: Lang) -> bool {
    i.rule.to_lowercase().contains(f)
        || lang.pick(&i.title).to_lowercase().contains(f)
        || i.group.to_lowercase().contains(f)
        || i.attack.iter().any(|t| t.to_lowercase().contains(f))
        || i.agents.iter().any(|a| a.to_lowercase().contains(f))
        || i.assignee
            .as_deref()
            .is_some_and(|a| a.to_lowercase().contains(f))
        || i.id.to_string() == f.trim_start_matches('#')
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
