//! The terminal edge: configuration, the log file, raw mode and the
//! alternate screen, the panic hook, and the loop that feeds the state.
//!
//! While the console owns the terminal nothing is printed to it: logs go to
//! a file. A panic restores the terminal (ratatui's hook, plus turning the
//! mouse capture off) before the message is printed.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use ratatui::crossterm::execute;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;

use crate::app::{App, Effect, Input, NetMsg, Settings};
use crate::config::ConsoleConfig;
use crate::i18n::Lang;
use crate::net::{self, Client, Handles};
use crate::theme::ThemeName;

/// Command-line options (they win over the config file).
#[derive(Debug, Default)]
pub struct Options {
    pub config: Option<PathBuf>,
    pub collector: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub lang: Option<String>,
    pub theme: Option<String>,
    pub bell: bool,
    pub no_mouse: bool,
    pub log_file: Option<PathBuf>,
    pub report_dir: Option<PathBuf>,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Longest wait for a key before the loop looks at the network again.
const FRAME: Duration = Duration::from_millis(100);
/// Network messages taken per frame at most (the rest wait for the next).
const MAX_MSGS_PER_FRAME: usize = 20_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Merges flags into the config and checks what is needed to start.
pub fn resolve(o: Options) -> anyhow::Result<(ConsoleConfig, String, String)> {
    let mut cfg = match &o.config {
        Some(p) => ConsoleConfig::load(p)?,
        None => ConsoleConfig::default(),
    };
    if let Some(c) = o.collector {
        cfg.collector = Some(c);
    }
    if o.token_file.is_some() {
        cfg.token_file = o.token_file;
        cfg.token = None;
    }
    if let Some(t) = o.token {
        cfg.token = Some(t);
    }
    if let Some(l) = o.lang {
        cfg.lang = Lang::parse(&l).with_context(|| format!("--lang is en or zh, not {l:?}"))?;
    }
    if let Some(t) = o.theme {
        cfg.theme =
            ThemeName::parse(&t).with_context(|| format!("--theme is dark or light, not {t:?}"))?;
    }
    cfg.bell |= o.bell;
    if o.no_mouse {
        cfg.mouse = false;
    }
    if o.log_file.is_some() {
        cfg.log_file = o.log_file;
    }
    if o.report_dir.is_some() {
        cfg.report_dir = o.report_dir;
    }
    if o.ca.is_some() {
        cfg.ca = o.ca;
    }
    if o.cert.is_some() {
        cfg.cert = o.cert;
    }
    if o.key.is_some() {
        cfg.key = o.key;
    }
    if cfg.cert.is_some() != cfg.key.is_some() {
        anyhow::bail!("--cert and --key go together (mutual TLS)");
    }
    let collector = cfg
        .collector
        .clone()
        .context("no collector: pass --collector URL (or set `collector` in the config)")?;
    if !(collector.starts_with("http://") || collector.starts_with("https://")) {
        anyhow::bail!("--collector must be an http:// or https:// URL, not {collector:?}");
    }
    let token = cfg.resolve_token()?.filter(|t| !t.is_empty()).context(
        "no API token: pass --token, set SHOUWANG_TOKEN, or set `token-file` in the config \
         (`shouwang-collector tokens add NAME --role operator` makes one)",
    )?;
    Ok((cfg, collector, token))
}

fn init_log(path: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the log directory {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open the log file {}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

/// Runs the console until `q`.
pub fn run(o: Options) -> anyhow::Result<()> {
    let (cfg, collector, token) = resolve(o)?;
    init_log(&cfg.log_path())?;
    tracing::info!(%collector, "console starting");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let client = Client::new(&collector, &token, &cfg)?;
    let cancel = CancellationToken::new();
    let handles = net::start(rt.handle(), client, cancel.clone());
    let settings = Settings {
        lang: cfg.lang,
        theme: cfg.theme,
        bell: cfg.bell,
        overdue_after_ms: i64::try_from(cfg.overdue_after.as_millis()).unwrap_or(i64::MAX),
        report_dir: cfg.report_dir.clone().unwrap_or_else(|| PathBuf::from(".")),
        utc_offset_secs: chrono::Local::now().offset().local_minus_utc(),
        ..Settings::default()
    };
    let app = App::new(settings, now_ms());
    let result = with_terminal(cfg.mouse, |t| event_loop(t, app, handles));
    cancel.cancel();
    rt.shutdown_timeout(Duration::from_secs(1));
    tracing::info!("console stopped");
    result
}

fn with_terminal(
    mouse: bool,
    f: impl FnOnce(&mut DefaultTerminal) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    // ratatui::init enters raw mode and the alternate screen and installs
    // a panic hook that restores both; ours runs first to release the
    // mouse and log the panic.
    let mut terminal = ratatui::init();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        tracing::error!("panic: {info}");
        previous(info);
    }));
    if mouse {
        let _ = execute!(std::io::stdout(), EnableMouseCapture);
    }
    let r = f(&mut terminal);
    if mouse {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
    }
    ratatui::restore();
    r
}

fn event_loop(terminal: &mut DefaultTerminal, mut app: App, mut h: Handles) -> anyhow::Result<()> {
    loop {
        let mut fx = Vec::new();
        if event::poll(FRAME).context("cannot read the terminal")? {
            let input = match event::read().context("cannot read the terminal")? {
                Event::Key(k) => Some(Input::Key(k)),
                Event::Mouse(m) => Some(Input::Mouse(m)),
                _ => None,
            };
            if let Some(i) = input {
                fx.extend(app.handle(i));
            }
        }
        for _ in 0..MAX_MSGS_PER_FRAME {
            match h.rx.try_recv() {
                Ok(m) => fx.extend(app.handle(Input::Net(m))),
                Err(_) => break,
            }
        }
        fx.extend(app.handle(Input::Tick(now_ms())));
        if apply(&mut app, fx, &h) {
            return Ok(());
        }
        app.prepare();
        if let Ok(size) = terminal.size() {
            app.screen_width = size.width;
        }
        terminal
            .draw(|f| crate::ui::render(&app, f))
            .context("cannot draw")?;
    }
}

/// Carries out effects; true to quit.
fn apply(app: &mut App, fx: Vec<Effect>, h: &Handles) -> bool {
    for e in fx {
        match e {
            Effect::Quit => return true,
            Effect::Bell => {
                let mut out = std::io::stdout();
                let _ = out.write_all(b"\x07");
                let _ = out.flush();
            }
            Effect::Api(req) => {
                let what = req.describe();
                match h.requests.try_send(req) {
                    Ok(()) => tracing::info!(%what, "request queued"),
                    Err(TrySendError::Full(_)) => {
                        let t = format!("{what}: {}", app.txt().busy);
                        app.set_status(t, true);
                    }
                    Err(TrySendError::Closed(_)) => return true,
                }
            }
            Effect::WriteReport { path, markdown } => {
                let r = path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::write(&path, markdown));
                let what = format!("{} {}", app.txt().exported, path.display());
                let msg = match r {
                    Ok(()) => NetMsg::Done { what },
                    Err(e) => NetMsg::Failed {
                        what,
                        error: e.to_string(),
                    },
                };
                let more = app.handle(Input::Net(msg));
                if apply(app, more, h) {
                    return true;
                }
            }
        }
    }
    false
}
