//! Command-line interface: argument parsing and the commands themselves, at the edge where errors
//! become messages for people.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::mcp::{HttpOptions, SessionTools, serve_http, serve_stdio};
use crate::service::SessionHandle;
use crate::session::{session_name_from, validate_session_name};
use crate::status;
use crate::store::{EventLog, SqliteLog, StoreError};

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
    /// Session tools for MCP clients
    Mcp {
        #[command(subcommand)]
        command: McpCommand,
    },
    /// Print the version, git commit and build date
    Version,
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

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Commands::Status { session, json } => {
            status_command(&cli.data_dir, session.as_deref(), json).await
        }
        Commands::Mcp {
            command:
                McpCommand::Serve {
                    session,
                    http,
                    token,
                },
        } => mcp_serve(&cli.data_dir, session.as_deref(), http, token).await,
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
fn open_for_reading(data_dir: &Path) -> anyhow::Result<Option<Arc<dyn EventLog>>> {
    match SqliteLog::open_existing(data_dir) {
        Ok(log) => Ok(Some(Arc::new(log))),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn status_command(
    data_dir: &Path,
    session: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let dir = data_dir.display().to_string();
    tracing::info!(data_dir = %dir, session = ?session, "status");
    if let Some(name) = session {
        validate_session_name(name)?;
    }
    let Some(log) = open_for_reading(data_dir)? else {
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
    data_dir: &Path,
    session: Option<&str>,
    http: Option<SocketAddr>,
    token: Option<String>,
) -> anyhow::Result<ExitCode> {
    if http.is_none() && token.is_some() && std::env::var_os("ITERATR_MCP_TOKEN").is_none() {
        bail!("--token only applies to the HTTP transport; add --http 127.0.0.1:0 or drop --token");
    }
    let log: Arc<dyn EventLog> = Arc::new(SqliteLog::open(data_dir)?);
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

/// Resolves on Ctrl+C or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
