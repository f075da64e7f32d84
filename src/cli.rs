//! Command-line interface: argument parsing and the commands themselves, at the edge where errors
//! become messages for people.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::service::SessionHandle;
use crate::session::validate_session_name;
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
    /// Print the version, git commit and build date
    Version,
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Commands::Status { session, json } => {
            status_command(&cli.data_dir, session.as_deref(), json).await
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
