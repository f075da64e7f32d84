//! `iteratr doctor`: checks what a build needs (the agent, the data dir, NATS when configured, the
//! terminal) and says for each what is wrong and how to fix it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::acp::agents::Asking;
use crate::acp::opencode;
use crate::acp::permissions::policy::Policy;
use crate::acp::permissions::{Approvals, ApproveMode};
use crate::acp::{Agent, AgentSpec, AgentUpdate};
use crate::store::{EventLog, SqliteLog, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub level: Level,
    pub what: &'static str,
    pub message: String,
}

impl Check {
    fn new(level: Level, what: &'static str, message: impl Into<String>) -> Self {
        Check {
            level,
            what,
            message: message.into(),
        }
    }

    pub(crate) fn line(&self) -> String {
        let tag = match self.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        format!("{tag}  {:<9} {}", self.what, self.message)
    }
}

/// Starts the agent (as a build would: opencode with iteratr's permission config), completes
/// `initialize`, and stops it again. Two checks: the agent, and whether its tool calls reach
/// iteratr's permission rules.
pub(crate) async fn check_agent(argv: &[String], project: &Path, timeout: Duration) -> Vec<Check> {
    let command = argv.join(" ");
    let mut perms = Vec::new();
    let mut env = Vec::new();
    if opencode::is_opencode_command(argv) {
        let resolved = match opencode::resolved_config(argv, project, timeout).await {
            Ok(c) => Some(c),
            Err(e) => {
                perms.push(Check::new(
                    Level::Warn,
                    "perms",
                    format!("cannot read opencode's configuration with `debug config`: {e}"),
                ));
                None
            }
        };
        let content = std::env::var("OPENCODE_CONFIG_CONTENT").ok();
        let permission = std::env::var("OPENCODE_PERMISSION").ok();
        match opencode::setup(
            content.as_deref(),
            permission.as_deref(),
            resolved.as_ref(),
            true,
            Duration::ZERO,
        ) {
            Ok(setup) => {
                perms.extend(
                    setup
                        .warnings
                        .into_iter()
                        .map(|w| Check::new(Level::Warn, "perms", w)),
                );
                perms.push(Check::new(Level::Ok, "perms", setup.summary));
                env = setup.env;
            }
            Err(e) => {
                return vec![Check::new(Level::Fail, "perms", e.to_string())];
            }
        }
    }
    let configured = !env.is_empty();
    let spec = AgentSpec {
        argv: argv.to_vec(),
        cwd: project.to_path_buf(),
        env,
        approvals: Arc::new(Approvals::new(Policy::default(), ApproveMode::Auto, false)),
        init_timeout: timeout,
        private: Vec::new(),
        sandbox: None,
    };
    let sink: crate::acp::UpdateSink = Arc::new(|_: AgentUpdate| {});
    let agent = match Agent::start(spec, sink).await {
        Ok(agent) => agent,
        Err(e) => return vec![Check::new(Level::Fail, "agent", e.to_string())],
    };
    let info = agent.info.clone();
    agent.shutdown(Duration::from_secs(2)).await;
    let mcp = if info.http_mcp {
        "takes MCP over HTTP (iteratr's tools are offered on 127.0.0.1 with a token)"
    } else {
        "takes MCP over stdio only (iteratr offers `iteratr mcp serve`)"
    };
    let mut checks = vec![Check::new(
        Level::Ok,
        "agent",
        format!(
            "`{command}` is {} {} speaking ACP; it {mcp}",
            info.name, info.version
        ),
    )];
    let asking = Asking::of(&info, configured);
    if asking.asks() {
        perms.push(Check::new(Level::Ok, "perms", asking.describe()));
    } else {
        let mut message = asking.describe();
        if let Some(w) = asking.rules_warning(true, true) {
            message = format!("{message}; {w}");
        }
        perms.push(Check::new(Level::Warn, "perms", message));
    }
    checks.extend(perms);
    checks
}

/// The data dir: the store opens (and is ours), or the directory can be created.
pub(crate) async fn check_data_dir(data_dir: &Path) -> Check {
    match SqliteLog::open_existing(data_dir) {
        Ok(log) => match log.sessions().await {
            Ok(sessions) => Check::new(
                Level::Ok,
                "store",
                format!(
                    "{} opens; {} session(s)",
                    log.path().display(),
                    sessions.len()
                ),
            ),
            Err(e) => Check::new(Level::Fail, "store", crate::session::text::error_chain(&e)),
        },
        Err(StoreError::NotFound(_)) => {
            // Nothing yet: make sure it could be created, without leaving anything behind.
            let mut existing = data_dir;
            while !existing.exists() {
                match existing.parent() {
                    Some(p) if !p.as_os_str().is_empty() => existing = p,
                    _ => {
                        existing = Path::new(".");
                        break;
                    }
                }
            }
            let probe = existing.join(format!(".iteratr-doctor-{}", std::process::id()));
            match std::fs::create_dir(&probe) {
                Ok(()) => {
                    let _ = std::fs::remove_dir(&probe);
                    Check::new(
                        Level::Ok,
                        "store",
                        format!(
                            "{} will be created on first use (its parent is writable)",
                            data_dir.display()
                        ),
                    )
                }
                Err(e) => Check::new(
                    Level::Fail,
                    "store",
                    format!(
                        "cannot create {} ({e}); choose a writable directory with --data-dir or ITERATR_DATA_DIR",
                        data_dir.display()
                    ),
                ),
            }
        }
        Err(e) => Check::new(Level::Fail, "store", crate::session::text::error_chain(&e)),
    }
}

/// A NATS server named by `ITERATR_NATS_URL` answers on its port.
pub(crate) async fn check_nats(url: Option<&str>) -> Check {
    let Some(url) = url.filter(|u| !u.trim().is_empty()) else {
        return Check::new(
            Level::Ok,
            "nats",
            "not configured (the embedded store is used)",
        );
    };
    let first = url.split(',').next().unwrap_or(url).trim();
    let hostport = first
        .split("://")
        .last()
        .unwrap_or(first)
        .rsplit('@')
        .next()
        .unwrap_or(first)
        .trim_end_matches('/');
    let hostport = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:4222")
    };
    match tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(&hostport),
    )
    .await
    {
        Ok(Ok(_)) => Check::new(Level::Ok, "nats", format!("{hostport} accepts connections")),
        Ok(Err(e)) => Check::new(
            Level::Fail,
            "nats",
            format!("cannot reach {hostport} ({e}); start the server or fix ITERATR_NATS_URL"),
        ),
        Err(_) => Check::new(
            Level::Fail,
            "nats",
            format!("{hostport} did not answer within 3s; check the address and firewalls"),
        ),
    }
}

/// `--nats-server`: the server binary is there.
pub(crate) fn check_managed_nats() -> Check {
    match crate::store::managed::server_binary() {
        Ok(path) => Check::new(
            Level::Ok,
            "nats",
            format!(
                "--nats-server runs {} (loopback, random port)",
                path.display()
            ),
        ),
        Err(e) => Check::new(Level::Fail, "nats", crate::session::text::error_chain(&e)),
    }
}

/// Whether `--sandbox` works here: bubblewrap is there and may make its namespaces. A warning
/// otherwise (a build without `--sandbox` does not need it), with what to install or enable.
pub(crate) fn check_sandbox() -> Check {
    match crate::sandbox::Sandbox::check(crate::sandbox::Policy::default()) {
        Ok(_) => Check::new(
            Level::Ok,
            "sandbox",
            "bubblewrap works here: --sandbox can run the agent in it",
        ),
        Err(e) => Check::new(Level::Warn, "sandbox", e.to_string()),
    }
}

/// Terminal size and colour support, for the full-screen interface.
pub(crate) fn check_terminal() -> Check {
    let stdout = std::io::stdout();
    if !rustix::termios::isatty(&stdout) {
        return Check::new(
            Level::Warn,
            "terminal",
            "stdout is not a terminal; use `iteratr build --headless` (add --json for machines)",
        );
    }
    let colour = if std::env::var_os("NO_COLOR").is_some() {
        "colour disabled by NO_COLOR".to_string()
    } else {
        let colorterm = std::env::var("COLORTERM").unwrap_or_default();
        let term = std::env::var("TERM").unwrap_or_default();
        if colorterm.contains("truecolor") || colorterm.contains("24bit") {
            "true colour".to_string()
        } else if term.contains("256") {
            "256 colours".to_string()
        } else if term.is_empty() || term == "dumb" {
            "no colour (TERM is dumb or unset)".to_string()
        } else {
            format!("basic colours (TERM={term})")
        }
    };
    match rustix::termios::tcgetwinsize(&stdout) {
        Ok(size) if size.ws_col >= 100 && size.ws_row >= 25 => Check::new(
            Level::Ok,
            "terminal",
            format!("{}x{}, {colour}", size.ws_col, size.ws_row),
        ),
        Ok(size) => Check::new(
            Level::Warn,
            "terminal",
            format!(
                "{}x{}, {colour}; below 100x25 the interface hides the sidebar (Ctrl+S shows it)",
                size.ws_col, size.ws_row
            ),
        ),
        Err(e) => Check::new(
            Level::Warn,
            "terminal",
            format!("cannot read the size ({e}); {colour}"),
        ),
    }
}
