//! Logs go to `ITERATR_LOG_FILE` when set, else to stderr; never to stdout, which belongs to the
//! command's output (and, for `mcp serve`, to the protocol).

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, anyhow};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

static TO_FILE: AtomicBool = AtomicBool::new(false);

/// Whether logs go to a file (so an error worth keeping should be logged as well as shown).
pub fn to_file() -> bool {
    TO_FILE.load(Ordering::Relaxed)
}

/// Sets up logging. `default_file` is used when `ITERATR_LOG_FILE` is unset (the full-screen
/// interface passes one so nothing is printed over it); its directory is created owner-only.
pub fn init(default_file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let file = std::env::var_os("ITERATR_LOG_FILE")
        .filter(|f| !f.is_empty())
        .or_else(|| {
            let path = default_file?;
            if let Some(dir) = path.parent() {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .ok()?;
            }
            Some(path.as_os_str().to_owned())
        });
    // An explicit level applies to everything (the ACP and MCP libraries included); by default
    // only iteratr's own warnings show (and its progress, in a file), and libraries speak up only
    // for errors.
    let filter = match std::env::var("ITERATR_LOG_LEVEL") {
        Ok(l) if !l.trim().is_empty() => {
            let level = l.trim().parse::<LevelFilter>().map_err(|_| {
                anyhow!(
                    "ITERATR_LOG_LEVEL='{l}' is not a log level; use off, error, warn, info, debug or trace"
                )
            })?;
            Targets::new().with_default(level)
        }
        _ => {
            let (own, acp) = if file.is_some() {
                (LevelFilter::INFO, LevelFilter::WARN)
            } else {
                (LevelFilter::WARN, LevelFilter::ERROR)
            };
            // In a log file, the ACP library's warnings too: what an agent sent that made no
            // sense (an answer to a request nobody made, say) is only noticed there.
            Targets::new()
                .with_default(LevelFilter::ERROR)
                .with_target("iteratr", own)
                .with_target("agent_client_protocol", acp)
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_target(false)
        .with_ansi(false);
    TO_FILE.store(file.is_some(), Ordering::Relaxed);
    let result = match file {
        Some(path) => {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| {
                    format!(
                        "cannot open the log file ITERATR_LOG_FILE={}",
                        path.to_string_lossy()
                    )
                })?;
            builder
                .with_writer(Mutex::new(f))
                .finish()
                .with(filter)
                .try_init()
        }
        None => builder
            .with_writer(std::io::stderr)
            .finish()
            .with(filter)
            .try_init(),
    };
    result.map_err(|e| anyhow!("cannot set up logging: {e}"))
}
