//! Command-line interface: argument parsing and the commands themselves, at the edge where errors
//! become messages for people.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::mcp::{HttpOptions, SessionTools, serve_http, serve_stdio};
use crate::service::SessionHandle;
use crate::session::{session_name_from, validate_session_name};
pub use crate::signal::shutdown_signal;
use crate::status;
use crate::store::{EventLog, NatsChoice, StoreConfig, open_store};

pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ITERATR_GIT_COMMIT"),
    ", built ",
    env!("ITERATR_BUILD_DATE"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "iteratr",
    version = VERSION_LINE,
    about = "Run an AI coding agent in a loop until a spec is built",
    long_about = None,
)]
pub struct Cli {
    /// Directory holding the session store (created owner-only on first write)
    #[arg(
        long,
        global = true,
        env = "ITERATR_DATA_DIR",
        default_value = ".iteratr",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,

    /// Keep sessions in NATS JetStream at this server or cluster (comma-separated URLs;
    /// `nats://user:password@host:4222` for user and password) instead of the embedded store
    #[arg(
        long,
        global = true,
        env = "ITERATR_NATS_URL",
        value_name = "URL",
        conflicts_with = "nats_server"
    )]
    pub nats_url: Option<String>,

    /// NATS credentials file (.creds: JWT and NKey seed) for --nats-url
    #[arg(long, global = true, env = "ITERATR_NATS_CREDS", value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,

    /// NATS token for --nats-url (when it is not in the URL)
    #[arg(
        long,
        global = true,
        env = "ITERATR_NATS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub nats_token: Option<String>,

    /// Copies of the JetStream stream when iteratr creates it (3 or 5 in a cluster)
    #[arg(long, global = true, env = "ITERATR_NATS_REPLICAS", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=5), value_name = "N")]
    pub nats_replicas: u8,

    /// Run a local nats-server (loopback, random port, store in <data-dir>/jetstream), shared by
    /// the iteratr processes on this data dir and stopped with the last of them
    #[arg(long, global = true)]
    pub nats_server: bool,

    #[command(subcommand)]
    pub command: Commands,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Show a session's tasks, notes and iterations (or list the sessions)
    Status {
        /// Session to show; without it, the only session, or a list when there are several
        #[arg(long, short = 'n', visible_alias = "name", value_name = "NAME")]
        session: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Run the coding agent in a loop until the spec is built
    Build(BuildArgs),
    /// Write the built-in prompt template to a file, to customise it
    GenTemplate {
        /// Where to write it ("-" for stdout)
        #[arg(
            short = 'o',
            long,
            default_value = ".iteratr.template",
            value_name = "FILE"
        )]
        output: PathBuf,
        /// Overwrite the file if it exists
        #[arg(long)]
        force: bool,
    },
    /// Check that the agent, the store, NATS (when configured) and the terminal are ready
    Doctor {
        /// The ACP agent command to check
        #[arg(
            long,
            env = "ITERATR_AGENT",
            default_value = "opencode acp",
            value_name = "CMD ARGS"
        )]
        agent: String,
        /// How long the agent may take to answer `initialize`
        #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
        timeout: Duration,
    },
    /// Follow a session that another process runs, in the full-screen interface (read-only, plus messages)
    Watch {
        /// Session to follow (default: the only one)
        #[arg(long, short = 'n', visible_alias = "name", value_name = "NAME")]
        session: Option<String>,
    },
    /// Session tools for MCP clients
    Mcp {
        #[command(subcommand)]
        command: McpCommand,
    },
    /// Print the version, git commit and build date
    Version,
    /// Runs the nats-server of --nats-server for the iteratr processes of a data dir (internal)
    #[command(hide = true)]
    NatsKeeper {
        #[arg(long, value_name = "PATH")]
        server_bin: PathBuf,
    },
}

impl Cli {
    /// The store the global options name.
    pub fn store_config(&self) -> anyhow::Result<StoreConfig> {
        Ok(StoreConfig::new(
            self.data_dir.clone(),
            self.nats_url.as_deref(),
            self.nats_creds.clone(),
            self.nats_token.clone(),
            self.nats_replicas,
            self.nats_server,
        )?)
    }
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The spec to build (default: the only .md file in specs/)
    #[arg(short = 's', long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Session name (default: the spec's file name without extension)
    #[arg(
        short = 'n',
        long = "name",
        visible_alias = "session",
        value_name = "NAME"
    )]
    pub name: Option<String>,
    /// Prompt template (default: .iteratr.template if present, else the built-in one)
    #[arg(short = 't', long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Extra instructions added to every prompt
    #[arg(short = 'e', long = "extra-instructions", value_name = "TEXT")]
    pub extra: Option<String>,
    /// Iterations to run now, not counting planning; 0 or no flag: no limit, run until the session completes
    #[arg(short = 'i', long, value_name = "N")]
    pub iterations: Option<u32>,
    /// Model for the agent to use, as the agent names it (e.g. anthropic/claude-sonnet-4)
    #[arg(short = 'm', long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Print progress lines instead of the full-screen interface
    #[arg(long)]
    pub headless: bool,
    /// With --headless: print one JSON object per line
    #[arg(long)]
    pub json: bool,
    /// Start the session over (its history stays in the log)
    #[arg(long)]
    pub reset: bool,
    /// The ACP agent command
    #[arg(
        long,
        env = "ITERATR_AGENT",
        default_value = "opencode acp",
        value_name = "CMD ARGS"
    )]
    pub agent: String,
    /// Refuse permission for tool calls whose title, name or kind matches (glob, repeatable)
    #[arg(long = "deny-tools", value_name = "PATTERN")]
    pub deny_tools: Vec<String>,
    /// Cancel a turn that runs longer than this (e.g. 30m, 90s)
    #[arg(long, default_value = "30m", value_parser = parse_duration, value_name = "DURATION")]
    pub iteration_timeout: Duration,
    /// Stop after this many failed iterations in a row
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub max_failures: u32,
    /// First delay before restarting a failed agent (doubles each time, up to 30s)
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    pub retry_delay: Duration,
    /// How long the agent may take to answer `initialize`
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub init_timeout: Duration,
    /// Take the session over from a build on this machine whose process is gone
    #[arg(long)]
    pub takeover: bool,
    /// How long this build's hold on the session lasts without renewal (renewed every third)
    #[arg(long, env = "ITERATR_LEASE_TTL", default_value = "90s", value_parser = parse_lease_ttl, value_name = "DURATION")]
    pub lease_ttl: Duration,
}

fn parse_lease_ttl(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(1) || d > Duration::from_secs(3600) {
        return Err(format!("{s} is outside 1s to 1h"));
    }
    Ok(d)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.trim().parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration ({e}); write e.g. 90s, 30m or 1h"))
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Serve the session tools to an MCP client: over stdio (default) or streamable HTTP
    Serve {
        /// Session the tools work on; without it, the only session in the data dir, or one named
        /// after the current directory when there is none yet
        #[arg(
            long,
            short = 'n',
            visible_alias = "name",
            env = "ITERATR_SESSION",
            value_name = "NAME"
        )]
        session: Option<String>,
        /// Serve streamable HTTP at http://ADDR/mcp instead of stdio (loopback only; port 0 picks one)
        #[arg(long, value_name = "ADDR")]
        http: Option<SocketAddr>,
        /// Bearer token HTTP clients must send (random when left out; at least 16 characters)
        #[arg(
            long,
            env = "ITERATR_MCP_TOKEN",
            hide_env_values = true,
            value_name = "TOKEN"
        )]
        token: Option<String>,
    },
    /// Print the tools' names, descriptions and JSON input schemas
    Tools,
}

impl Cli {
    /// The command takes over the terminal (the full-screen interface).
    pub fn uses_terminal(&self) -> bool {
        (matches!(&self.command, Commands::Build(args) if !args.headless) && stdout_is_terminal())
            || matches!(self.command, Commands::Watch { .. })
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Commands::NatsKeeper { server_bin } = &cli.command {
        crate::store::managed::run_keeper(&cli.data_dir, server_bin)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        return Ok(ExitCode::SUCCESS);
    }
    let store = cli.store_config()?;
    let store = &store;
    match cli.command {
        Commands::NatsKeeper { .. } => Ok(ExitCode::SUCCESS),
        Commands::Status { session, json } => status_command(store, session.as_deref(), json).await,
        Commands::Build(args) => build_command(store, args).await,
        Commands::GenTemplate { output, force } => gen_template(&output, force),
        Commands::Doctor { agent, timeout } => doctor(store, &agent, timeout).await,
        Commands::Watch { session } => watch_command(store, session.as_deref()).await,
        Commands::Mcp {
            command:
                McpCommand::Serve {
                    session,
                    http,
                    token,
                },
        } => mcp_serve(store, session.as_deref(), http, token).await,
        Commands::Mcp {
            command: McpCommand::Tools,
        } => {
            println!("{}", mcp_tools_json()?);
            Ok(ExitCode::SUCCESS)
        }
        Commands::Version => {
            println!("iteratr {VERSION_LINE}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Opens the store for a command that only reads: `None` when there is none yet.
async fn open_for_reading(store: &StoreConfig) -> anyhow::Result<Option<Arc<dyn EventLog>>> {
    Ok(open_store(store, false).await?)
}

/// Opens (creating if needed) the store for a command that writes.
async fn open_for_writing(store: &StoreConfig) -> anyhow::Result<Arc<dyn EventLog>> {
    open_store(store, true)
        .await?
        .with_context(|| format!("cannot open the session store at {}", store.describe()))
}

async fn status_command(
    store: &StoreConfig,
    session: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let dir = store.describe();
    tracing::info!(data_dir = %dir, session = ?session, "status");
    if let Some(name) = session {
        validate_session_name(name)?;
    }
    let Some(log) = open_for_reading(store).await? else {
        if let Some(name) = session {
            bail!(
                "there is no session '{name}': {dir} holds no iteratr data yet (set --data-dir or ITERATR_DATA_DIR if your sessions live elsewhere)"
            );
        }
        if json {
            println!("{}", serde_json::json!({ "data_dir": dir, "sessions": [] }));
        } else {
            println!(
                "No sessions in {dir} yet. A session appears here once iteratr or an agent records something in it."
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    let sessions = log.sessions().await.context("cannot list the sessions")?;
    let name = match session {
        Some(name) => {
            if !sessions.iter().any(|s| s.name == name) {
                let known: Vec<&str> = sessions.iter().map(|s| s.name.as_str()).collect();
                if known.is_empty() {
                    bail!("there is no session '{name}' in {dir}: it holds no sessions yet");
                }
                bail!(
                    "there is no session '{name}' in {dir}; sessions there: {}",
                    known.join(", ")
                );
            }
            name.to_string()
        }
        None => match sessions.as_slice() {
            [] => {
                if json {
                    println!("{}", serde_json::json!({ "data_dir": dir, "sessions": [] }));
                } else {
                    println!("No sessions in {dir} yet.");
                }
                return Ok(ExitCode::SUCCESS);
            }
            [one] => one.name.clone(),
            many => {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({ "data_dir": dir, "sessions": many })
                    );
                } else {
                    print!("{}", status::render_sessions(&dir, many));
                }
                return Ok(ExitCode::SUCCESS);
            }
        },
    };
    let handle = SessionHandle::open(log, &name)
        .await
        .with_context(|| format!("cannot read session '{name}'"))?;
    let state = handle.refresh().await?;
    if json {
        println!("{}", status::session_json(&name, &state));
    } else {
        print!("{}", status::render_session(&name, &state));
    }
    Ok(ExitCode::SUCCESS)
}

/// The tools as `tools/list` shows them, pretty-printed (also the content of `mcp/tools.json`).
pub fn mcp_tools_json() -> anyhow::Result<String> {
    let tools = SessionTools::tool_definitions();
    Ok(serde_json::to_string_pretty(
        &serde_json::json!({ "tools": tools }),
    )?)
}

/// Picks the session for a command that writes: the one named, else the only one there, else one
/// named after the current directory.
async fn choose_session(log: &dyn EventLog, given: Option<&str>) -> anyhow::Result<String> {
    if let Some(name) = given {
        validate_session_name(name)?;
        return Ok(name.to_string());
    }
    let sessions = log.sessions().await?;
    match sessions.as_slice() {
        [one] => Ok(one.name.clone()),
        [] => {
            let cwd = std::env::current_dir().context("cannot read the current directory")?;
            let stem = cwd
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(session_name_from(&stem))
        }
        many => {
            let names: Vec<&str> = many.iter().map(|s| s.name.as_str()).collect();
            bail!(
                "the data dir holds several sessions ({}); choose one with --session NAME",
                names.join(", ")
            )
        }
    }
}

async fn mcp_serve(
    store: &StoreConfig,
    session: Option<&str>,
    http: Option<SocketAddr>,
    token: Option<String>,
) -> anyhow::Result<ExitCode> {
    if http.is_none() && token.is_some() && std::env::var_os("ITERATR_MCP_TOKEN").is_none() {
        bail!("--token only applies to the HTTP transport; add --http 127.0.0.1:0 or drop --token");
    }
    let data_dir = &store.data_dir;
    let log = open_for_writing(store).await?;
    let name = choose_session(log.as_ref(), session).await?;
    let handle = Arc::new(
        SessionHandle::open(log, &name)
            .await
            .with_context(|| format!("cannot open session '{name}'"))?,
    );
    tracing::info!(session = %name, data_dir = %data_dir.display(), http = ?http, "mcp serve");
    match http {
        None => {
            tokio::select! {
                result = serve_stdio(handle) => result?,
                _ = shutdown_signal() => {}
            }
        }
        Some(addr) => {
            let generated = token.is_none();
            let mut server = serve_http(handle, HttpOptions { addr, token }).await?;
            println!("iteratr mcp: session '{name}' at {}", server.url());
            if generated {
                println!(
                    "token: {} (send it as `Authorization: Bearer <token>`; set --token or ITERATR_MCP_TOKEN to choose it)",
                    server.token
                );
            }
            tokio::select! {
                result = server.wait() => result?,
                _ = shutdown_signal() => server.shutdown().await,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn gen_template(output: &Path, force: bool) -> anyhow::Result<ExitCode> {
    if output == Path::new("-") {
        print!("{}", crate::template::DEFAULT_TEMPLATE);
        return Ok(ExitCode::SUCCESS);
    }
    if output.exists() && !force {
        bail!(
            "{} exists already; pass --force to overwrite it, or -o to write elsewhere",
            output.display()
        );
    }
    std::fs::write(output, crate::template::DEFAULT_TEMPLATE)
        .with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "wrote the built-in template to {}; iteratr build uses it from there (or pass -t FILE)",
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The spec given, or the only Markdown file in `specs/`.
fn find_spec(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(spec) = given {
        if !spec.is_file() {
            bail!(
                "the spec {} does not exist or is not a file",
                spec.display()
            );
        }
        return Ok(spec);
    }
    let found: Vec<PathBuf> = std::fs::read_dir("specs")
        .map(|dir| {
            dir.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "md"))
                .collect()
        })
        .unwrap_or_default();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no spec given and no specs/*.md found; pass one with -s/--spec FILE"),
        many => {
            let names: Vec<String> = many.iter().map(|p| p.display().to_string()).collect();
            bail!(
                "several specs in specs/ ({}); choose one with -s/--spec",
                names.join(", ")
            )
        }
    }
}

/// Whether stdout is a terminal the full-screen interface can take over.
pub fn stdout_is_terminal() -> bool {
    rustix::termios::isatty(std::io::stdout())
}

async fn build_command(store: &StoreConfig, mut args: BuildArgs) -> anyhow::Result<ExitCode> {
    use crate::orchestrator::{BuildOptions, Orchestrator, exit};
    let usage = |e: anyhow::Error| -> anyhow::Result<ExitCode> {
        eprintln!("error: {e:#}");
        Ok(ExitCode::from(exit::USAGE))
    };
    if args.json && !args.headless {
        return usage(anyhow::anyhow!("--json goes with --headless"));
    }
    if !args.headless && !stdout_is_terminal() {
        eprintln!("iteratr: stdout is not a terminal; printing progress lines (--headless)");
        args.headless = true;
    }
    let spec_path = match find_spec(args.spec) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    let session = match args.name {
        Some(n) => n,
        None => session_name_from(
            &spec_path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    };
    if let Err(e) = validate_session_name(&session) {
        return usage(e.into());
    }
    let local_template = PathBuf::from(".iteratr.template");
    let template = match &args.template {
        Some(path) => crate::template::PromptTemplate::load(path),
        None if local_template.is_file() => crate::template::PromptTemplate::load(&local_template),
        None => Ok(crate::template::PromptTemplate::builtin()),
    };
    let template = match template {
        Ok(t) => t,
        Err(e) => return usage(e),
    };
    let agent = match crate::process::split_command_line(&args.agent) {
        Ok(a) => a,
        Err(e) => return usage(anyhow::anyhow!("--agent / ITERATR_AGENT: {e}")),
    };
    let project_dir = std::env::current_dir().context("cannot read the current directory")?;
    let data_dir = &store.data_dir;
    let log = open_for_writing(store).await?;
    let interrupt = tokio_util::sync::CancellationToken::new();
    // One builder per session: refused at once, before any agent or screen, when another holds it.
    let lease_session = Arc::new(SessionHandle::open(log.clone(), &session).await?);
    let lease = match crate::orchestrator::LeaseGuard::acquire(
        lease_session,
        args.lease_ttl,
        args.takeover,
        interrupt.clone(),
    )
    .await?
    {
        Ok(lease) => lease,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(exit::HELD));
        }
    };
    let opts = BuildOptions {
        session,
        spec_path,
        project_dir,
        data_dir: data_dir.to_path_buf(),
        agent,
        model: args.model,
        // 0 means no limit, as in the original iteratr.
        iterations: args.iterations.filter(|n| *n > 0),
        extra: args.extra,
        deny_tools: args.deny_tools,
        iteration_timeout: args.iteration_timeout,
        max_failures: args.max_failures,
        retry_delay: args.retry_delay,
        reset: args.reset,
        init_timeout: args.init_timeout,
        store_args: store.child_args(),
        store_env: store.child_env(),
    };
    let signal_token = interrupt.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("interrupt received; stopping the turn");
        signal_token.cancel();
    });
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let orchestrator = Orchestrator::new(
        opts,
        log.clone(),
        template,
        events_tx.clone(),
        interrupt.clone(),
    )
    .await?
    .with_lease(lease);
    let session_name = orchestrator.session_name().to_string();
    // The front end follows the session log itself, as a TUI on another machine would. The
    // full-screen interface folds the whole history; the progress lines start from now.
    let after = if args.headless {
        log.last_seq(&session_name).await.unwrap_or(0)
    } else {
        0
    };
    let (delivered_tx, mut delivered) = tokio::sync::watch::channel(after);
    let follower = {
        let (log, events) = (log.clone(), events_tx.clone());
        let session_name = session_name.clone();
        tokio::spawn(async move {
            let Ok(mut sub) = log.subscribe(&session_name, after).await else {
                return;
            };
            while let Some(Ok(e)) = sub.next().await {
                let seq = e.seq;
                if events
                    .send(crate::events::BuildEvent::Log {
                        seq,
                        event: e.event,
                    })
                    .is_err()
                {
                    return;
                }
                delivered_tx.send_replace(seq);
            }
        })
    };
    let driver = {
        let log = log.clone();
        let session_name = session_name.clone();
        tokio::spawn(async move {
            let (outcome, finished) = orchestrator.run().await;
            // Said once on stderr below; the log keeps it only when it is a file.
            if let crate::orchestrator::Outcome::Failed(message) = &outcome
                && crate::logging::to_file()
            {
                tracing::error!("{message}");
            }
            // The front end gets every event of the run before the one that says it ended.
            let last = log.last_seq(&session_name).await.unwrap_or(0);
            let caught_up = delivered.wait_for(|seq| *seq >= last);
            if tokio::time::timeout(Duration::from_secs(10), caught_up)
                .await
                .is_err()
            {
                tracing::warn!("the front end did not receive the log's last events in time");
            }
            follower.abort();
            let _ = events_tx.send(finished);
            outcome
        })
    };
    let outcome = if args.headless {
        crate::headless::print(events_rx, args.json).await;
        driver.await.context("the build loop failed")?
    } else {
        let handle = Arc::new(SessionHandle::open(log.clone(), &session_name).await?);
        let app = crate::tui::App::new(&session_name, false);
        run_tui(app, events_rx, handle, Some(interrupt.clone())).await?;
        // The user left: stop the build if it still runs, and wait for it to wind down.
        interrupt.cancel();
        driver.await.context("the build loop failed")?
    };
    if let crate::orchestrator::Outcome::Failed(message) = &outcome {
        eprintln!("error: {message}");
    }
    Ok(ExitCode::from(outcome.exit_code()))
}

async fn doctor(store: &StoreConfig, agent: &str, timeout: Duration) -> anyhow::Result<ExitCode> {
    let data_dir = &store.data_dir;
    use crate::doctor::{Check, Level};
    let mut checks: Vec<Check> = Vec::new();
    match crate::process::split_command_line(agent) {
        Ok(argv) => {
            let project = std::env::current_dir().context("cannot read the current directory")?;
            println!(
                "checking the agent `{agent}` (up to {}s)...",
                timeout.as_secs()
            );
            checks.push(crate::doctor::check_agent(&argv, &project, timeout).await);
        }
        Err(e) => checks.push(Check {
            level: Level::Fail,
            what: "agent",
            message: format!("--agent / ITERATR_AGENT: {e}"),
        }),
    }
    checks.push(crate::doctor::check_data_dir(data_dir).await);
    match &store.nats {
        NatsChoice::Url(opts) => {
            let url = opts.url().ok().map(|u| u.as_str());
            checks.push(crate::doctor::check_nats(url).await)
        }
        NatsChoice::Managed { .. } => checks.push(crate::doctor::check_managed_nats()),
        NatsChoice::Embedded => checks.push(crate::doctor::check_nats(None).await),
    }
    checks.push(crate::doctor::check_terminal());
    for c in &checks {
        println!("{}", c.line());
    }
    let failed = checks.iter().filter(|c| c.level == Level::Fail).count();
    if failed > 0 {
        println!("{failed} check(s) failed; see the messages above for the fix");
        Ok(ExitCode::FAILURE)
    } else {
        println!("all set");
        Ok(ExitCode::SUCCESS)
    }
}

/// Runs the full-screen interface; user actions become session commands (as the user) or stop the
/// build (`interrupt`).
async fn run_tui(
    app: crate::tui::App,
    events: tokio::sync::mpsc::UnboundedReceiver<crate::events::BuildEvent>,
    session: Arc<SessionHandle>,
    interrupt: Option<tokio_util::sync::CancellationToken>,
) -> anyhow::Result<()> {
    use crate::tui::{Action, AppNotice};
    let (actions_tx, mut actions_rx) = tokio::sync::mpsc::unbounded_channel::<Action>();
    let (notice_tx, notice_rx) = tokio::sync::mpsc::unbounded_channel::<AppNotice>();
    let notices = notice_tx.clone();
    let actions = tokio::spawn(async move {
        while let Some(action) = actions_rx.recv().await {
            match action {
                Action::Quit | Action::ForceQuit => {
                    if let Some(token) = &interrupt {
                        token.cancel();
                    }
                }
                Action::Run(cmd) => {
                    if let Err(e) = session.execute(&cmd, crate::session::Author::User).await {
                        let _ = notices.send(AppNotice::Message(e.to_string(), true));
                    }
                }
            }
        }
    });
    let git = tokio::spawn(async move {
        let dir = std::env::current_dir().unwrap_or_default();
        loop {
            let status = crate::tui::git_status(&dir).await;
            if notice_tx.send(AppNotice::Git(status)).is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let result = crate::tui::run(app, events, actions_tx, notice_rx).await;
    git.abort();
    actions.abort();
    result.context("the terminal interface failed")
}

async fn watch_command(store: &StoreConfig, session: Option<&str>) -> anyhow::Result<ExitCode> {
    if !stdout_is_terminal() {
        bail!(
            "iteratr watch needs a terminal; to follow a session from a script use `iteratr status --json`"
        );
    }
    let data_dir = &store.data_dir;
    let Some(log) = open_for_reading(store).await? else {
        bail!(
            "{} holds no iteratr data yet; start a build first",
            store.describe()
        );
    };
    let sessions = log.sessions().await?;
    let name = match session {
        Some(n) => {
            validate_session_name(n)?;
            n.to_string()
        }
        None => match sessions.as_slice() {
            [one] => one.name.clone(),
            [] => bail!("{} holds no sessions yet", data_dir.display()),
            many => bail!(
                "several sessions ({}); choose one with --session NAME",
                many.iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    let handle = Arc::new(SessionHandle::open(log.clone(), &name).await?);
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let follower = {
        let name = name.clone();
        tokio::spawn(async move {
            let Ok(mut sub) = log.subscribe(&name, 0).await else {
                return;
            };
            while let Some(Ok(e)) = sub.next().await {
                if events_tx
                    .send(crate::events::BuildEvent::Log {
                        seq: e.seq,
                        event: e.event,
                    })
                    .is_err()
                {
                    return;
                }
            }
        })
    };
    let app = crate::tui::App::new(&name, true);
    let result = run_tui(app, events_rx, handle, None).await;
    follower.abort();
    result?;
    Ok(ExitCode::SUCCESS)
}
