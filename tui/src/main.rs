//! `shouwang-console`: see the crate docs of `shouwang_console`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
#[cfg(feature = "bench")]
use clap::Subcommand;

#[derive(Debug, Parser)]
#[command(
    name = "shouwang-console",
    version,
    about = "shouwang duty console: incidents, agents, sites, rules, live events and the shift log"
)]
struct Cli {
    /// Configuration file (TOML); flags override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Collector base URL.
    #[arg(long, env = "SHOUWANG_COLLECTOR")]
    collector: Option<String>,
    /// API token (`swa1:…`); or set SHOUWANG_TOKEN, or `token-file` in the config.
    #[arg(long, env = "SHOUWANG_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the API token.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Language: en or zh.
    #[arg(long)]
    lang: Option<String>,
    /// Colours for a dark or light terminal.
    #[arg(long)]
    theme: Option<String>,
    /// Ring the bell for new high and critical incidents.
    #[arg(long)]
    bell: bool,
    /// Do not capture the mouse.
    #[arg(long)]
    no_mouse: bool,
    /// Log file.
    #[arg(long)]
    log_file: Option<PathBuf>,
    /// Directory for shift summaries.
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// CA certificate (PEM) of an https:// collector with its own CA.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Client certificate and key (PEM) for a collector requiring mutual TLS.
    #[arg(long)]
    cert: Option<PathBuf>,
    #[arg(long)]
    key: Option<PathBuf>,
    #[cfg(feature = "bench")]
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[cfg(feature = "bench")]
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Measures frame render time with a synthetic fleet (BENCHMARKS.md).
    BenchRender(shouwang_console::bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(feature = "bench")]
    if let Some(Cmd::BenchRender(args)) = cli.command {
        return match shouwang_console::bench::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("shouwang-console: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let opts = shouwang_console::run::Options {
        config: cli.config,
        collector: cli.collector,
        token: cli.token,
        token_file: cli.token_file,
        lang: cli.lang,
        theme: cli.theme,
        bell: cli.bell,
        no_mouse: cli.no_mouse,
        log_file: cli.log_file,
        report_dir: cli.report_dir,
        ca: cli.ca,
        cert: cli.cert,
        key: cli.key,
    };
    match shouwang_console::run::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shouwang-console: {e:#}");
            ExitCode::FAILURE
        }
    }
}
