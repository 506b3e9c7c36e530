//! `shouwang-collector`: see the library docs and README.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use shouwang_collector::config::CollectorConfig;
use shouwang_collector::demo::DemoArgs;
use shouwang_collector::ingest::token;
use shouwang_collector::store::Store;
use shouwang_collector::{App, Clock, SystemClock};
use tokio_util::sync::CancellationToken;

/// shouwang (守望) collector: ingest, agent registry, API and metrics.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Config file (TOML). Without it, the embedded default is used.
    #[arg(long, short, global = true, env = "SHOUWANG_COLLECTOR_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve ingest, API and metrics (the default).
    Serve,
    /// Check the config file and print the effective settings.
    CheckConfig,
    /// Manage agents and their tokens.
    Agents {
        #[command(subcommand)]
        command: AgentsCommand,
    },
    /// Start a collector and a local agent watching this machine.
    Demo(DemoArgs),
    /// Manage API tokens (console, scripts, drill) and their roles.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Check and test detection rules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// A small CA with server and agent certificates (TLS, mutual TLS).
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// The operator audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// Create ca.crt/ca.key, server.crt/server.key (and agent-NAME.crt/key
    /// per --agent) in DIR (default <data-dir>/tls, where the collector
    /// finds them and switches TLS on). Never overwrites.
    Init {
        /// Host names and addresses agents use to reach the collector
        /// (one or more; the first is the certificate's common name).
        #[arg(long = "name", required = true)]
        names: Vec<String>,
        /// Also issue a client certificate for this agent (repeatable).
        #[arg(long = "agent")]
        agents: Vec<String>,
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Issue a client certificate for agent NAME from the CA in DIR.
    Agent {
        name: String,
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the audit log's hash chain: exit 0 if intact, 1 with the first
    /// changed, deleted or reordered record.
    Verify,
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// Make a token (printed once; replaces an existing one of that name).
    Add {
        name: String,
        /// viewer (read), operator (ack, resolve, note, assign, silences) or
        /// admin (also the audit log).
        #[arg(long, default_value = "viewer")]
        role: String,
    },
    /// List token names and roles.
    List,
    /// Remove a token.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Load and compile every rule, list and protection period in DIR;
    /// report every error with file:line:col and what to write instead.
    Check { dir: PathBuf },
    /// Run each rule file's own test cases.
    Test {
        dir: PathBuf,
        /// Print passing tests too.
        #[arg(long, short)]
        verbose: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AgentsCommand {
    /// Register an agent and print its token (shown once, stored hashed).
    Add { name: String },
    /// List registered agents.
    List,
    /// Issue a new token for an agent; the old one stops working.
    Rotate { name: String },
    /// Revoke an agent's token at once, keeping the agent and its events
    /// (a stolen or leaked token); `rotate` issues a new one later.
    Revoke { name: String },
    /// Remove an agent and its stored events.
    Remove { name: String },
}

fn main() {
    if let Err(e) = run() {
        eprintln!("shouwang-collector: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One TLS crypto provider in the whole tree (notifiers use HTTPS).
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Some(Command::Rules { command }) = &cli.command {
        return rules_command(command);
    }
    let demo = matches!(cli.command, Some(Command::Demo(_)));
    shouwang_daemon::init_logging(if demo { "warn" } else { "info" });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(CollectorConfig::load(cli.config.as_deref())?).await,
            Command::CheckConfig => {
                let c = CollectorConfig::load(cli.config.as_deref())?;
                println!("listen: {}", c.listen);
                println!("database: {}", c.db_path().display());
                println!("ingest.max-body-bytes: {}", c.ingest.max_body_bytes);
                println!(
                    "ingest.max-decompressed-bytes: {}",
                    c.ingest.max_decompressed_bytes
                );
                println!("agents.offline-after: {:?}", c.agents.offline_after);
                println!("store.event-retention: {:?}", c.store.event_retention);
                Ok(())
            }
            Command::Agents { command } => {
                agents(CollectorConfig::load(cli.config.as_deref())?, command).await
            }
            Command::Demo(args) => shouwang_collector::demo::run(args).await,
            Command::Rules { .. } => Ok(()),
            Command::Tokens { command } => {
                tokens(CollectorConfig::load(cli.config.as_deref())?, command).await
            }
            Command::Certs { command } => {
                let config = CollectorConfig::load(cli.config.as_deref())?;
                let default_dir = config.data_dir.join("tls");
                let files = match command {
                    CertsCommand::Init { names, agents, dir } => {
                        let dir = dir.unwrap_or(default_dir);
                        shouwang_collector::certs::init(&dir, &names, &agents)?.files
                    }
                    CertsCommand::Agent { name, dir } => {
                        shouwang_collector::certs::agent(&dir.unwrap_or(default_dir), &name)?
                    }
                };
                for f in files {
                    println!("{}", f.display());
                }
                Ok(())
            }
            Command::Audit {
                command: AuditCommand::Verify,
            } => {
                let config = CollectorConfig::load(cli.config.as_deref())?;
                let store = Store::open(&config.db_path()).await?;
                match store.verify_audit().await? {
                    shouwang_collector::audit::Verdict::Intact { records, head } => {
                        println!("audit log intact: {records} records, chain head {head}");
                        Ok(())
                    }
                    shouwang_collector::audit::Verdict::Broken {
                        id,
                        checked,
                        reason,
                    } => {
                        println!(
                            "audit log BROKEN at record #{id}: {reason} ({checked} records before it verified)"
                        );
                        std::process::exit(1);
                    }
                }
            }
        }
    })
}

fn load_rules(dir: &std::path::Path) -> anyhow::Result<shouwang_rules::Ruleset> {
    shouwang_rules::load_dir(dir).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        anyhow::anyhow!(
            "{}: {} error{} in the rules",
            dir.display(),
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        )
    })
}

fn rules_command(command: &RulesCommand) -> anyhow::Result<()> {
    use shouwang_rules::testing;
    match command {
        RulesCommand::Check { dir } => {
            let set = load_rules(dir)?;
            let enabled = set.rules.iter().filter(|r| r.enabled).count();
            let tests: usize = set.rules.iter().map(|r| r.tests.len()).sum();
            println!(
                "{}: {} rules ({enabled} enabled, {tests} test cases), {} lists, {} protection periods: OK",
                dir.display(),
                set.rules.len(),
                set.lists.len(),
                set.profiles.len()
            );
            Ok(())
        }
        RulesCommand::Test { dir, verbose } => {
            let set = Arc::new(load_rules(dir)?);
            let results = testing::run_all(&set);
            let mut failed = 0usize;
            for r in &results {
                match &r.failure {
                    None if *verbose => println!("ok    {} — {}", r.rule, r.name),
                    None => {}
                    Some(why) => {
                        failed += 1;
                        println!(
                            "FAIL  {} — {} ({}:{}): {why}",
                            r.rule, r.name, r.file, r.line
                        );
                    }
                }
            }
            let untested = testing::untested(&set);
            for id in &untested {
                println!("FAIL  {id}: needs at least one test that fires and one that stays quiet");
            }
            println!(
                "{} rules, {} tests: {} passed, {} failed{}",
                set.rules.len(),
                results.len(),
                results.len() - failed,
                failed,
                if untested.is_empty() {
                    String::new()
                } else {
                    format!(", {} rules without both kinds of test", untested.len())
                }
            );
            if failed > 0 || !untested.is_empty() {
                bail!("rule tests failed");
            }
            Ok(())
        }
    }
}

async fn serve(config: CollectorConfig) -> anyhow::Result<()> {
    // Refuse plaintext off loopback before binding anything.
    shouwang_collector::tls::mode(&config)?;
    let listener = shouwang_collector::bind(config.listen).await?;
    let app = App::open(config, Arc::new(SystemClock)).await?;
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        shouwang_daemon::shutdown_signal().await;
        tracing::info!("shutting down");
        c.cancel();
    });
    shouwang_collector::serve(app, listener, cancel).await
}

async fn tokens(config: CollectorConfig, command: TokensCommand) -> anyhow::Result<()> {
    let store = Store::open(&config.db_path()).await?;
    match command {
        TokensCommand::Add { name, role } => {
            if !shouwang_proto::valid_agent_name(&name) {
                bail!("invalid token name {name:?}: use 1-64 of A-Z a-z 0-9 . _ -");
            }
            if !["viewer", "operator", "admin"].contains(&role.as_str()) {
                bail!("role {role:?}: use viewer, operator or admin");
            }
            let t = token::generate_api(&name)?;
            store
                .put_api_token(&name, &role, &t.digest, SystemClock.now_ms())
                .await?;
            eprintln!("API token {name:?} ({role}); shown only now:");
            println!("{}", t.token);
        }
        TokensCommand::List => {
            for (name, role, created) in store.api_tokens().await? {
                println!("{name}\t{role}\tcreated_ms={created}");
            }
        }
        TokensCommand::Remove { name } => {
            if !store.remove_api_token(&name).await? {
                bail!("no API token named {name:?}");
            }
            eprintln!("API token {name:?} removed");
        }
    }
    Ok(())
}

async fn agents(config: CollectorConfig, command: AgentsCommand) -> anyhow::Result<()> {
    let store = Store::open(&config.db_path()).await?;
    let check = |name: &str| {
        if shouwang_proto::valid_agent_name(name) {
            Ok(())
        } else {
            Err(anyhow::anyhow!(
                "invalid agent name {name:?}: use 1-64 of A-Z a-z 0-9 . _ - (not starting with . or -)"
            ))
        }
    };
    match command {
        AgentsCommand::Add { name } => {
            check(&name)?;
            let t = token::generate(&name)?;
            if !store
                .add_agent(&name, &t.digest, SystemClock.now_ms())
                .await?
            {
                bail!("agent {name:?} already exists; use `agents rotate {name}` for a new token");
            }
            eprintln!(
                "agent {name:?} added. Its token (shown only now; put it in the agent's token-file):"
            );
            println!("{}", t.token);
        }
        AgentsCommand::Rotate { name } => {
            check(&name)?;
            let t = token::generate(&name)?;
            if !store.rotate_token(&name, &t.digest).await? {
                bail!("no agent named {name:?}; add it with `agents add {name}`");
            }
            eprintln!("agent {name:?} has a new token; the old one no longer works:");
            println!("{}", t.token);
        }
        AgentsCommand::Revoke { name } => {
            check(&name)?;
            // An empty digest matches no token (digests are 32 bytes).
            if !store.rotate_token(&name, &[]).await? {
                bail!("no agent named {name:?}");
            }
            eprintln!(
                "agent {name:?}: token revoked; its uploads are refused until `agents rotate {name}` issues a new one"
            );
        }
        AgentsCommand::Remove { name } => {
            if !store.remove_agent(&name).await? {
                bail!("no agent named {name:?}");
            }
            eprintln!("agent {name:?} removed, with its stored events");
        }
        AgentsCommand::List => {
            let rows = store.agents().await?;
            if rows.is_empty() {
                eprintln!("no agents; add one with `shouwang-collector agents add NAME`");
            }
            for r in rows {
                println!(
                    "{}\tlast_seen_ms={}\tlabels={}",
                    r.name,
                    r.last_seen_ms
                        .map_or_else(|| "never".to_owned(), |t| t.to_string()),
                    r.labels
                );
            }
        }
    }
    Ok(())
}
