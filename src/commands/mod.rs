//! The commands: each a function from parsed arguments to an exit code, wiring the parts together.
//! This is the only layer that does (besides `main`, which parses and dispatches here).

pub mod build;
pub mod config;
pub mod doctor;
pub mod gen_template;
pub mod mcp;
pub mod notify;
pub mod pause;
pub mod spec;
pub mod status;
pub mod stop;
pub mod watch;
pub mod web;
pub mod worker;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::cli::{Cli, Commands, McpCommand, VERSION_LINE};
use crate::session::text::error_chain;
use crate::session::{SessionName, session_name_from};
use crate::session_handle::SessionHandle;
pub use crate::signal::shutdown_signal;
use crate::store::EventLog;
use crate::store::{StoreConfig, open_store};

pub async fn run(cli: Cli, settings: &crate::config::Settings) -> anyhow::Result<ExitCode> {
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
        Commands::Status { session, json } => status::run(store, session.as_deref(), json).await,
        Commands::Build(args) => build::run(store, args, settings).await,
        Commands::Worker(args) => worker::run(store, args, settings).await,
        Commands::Config => config::run(settings),
        Commands::Notify { test, session } => notify::run(settings, test, session.as_deref()).await,
        Commands::Pause { session } => pause::run(store, session.as_deref(), true).await,
        Commands::Resume { session } => pause::run(store, session.as_deref(), false).await,
        Commands::Stop { session, now } => stop::stop(store, session.as_deref(), now).await,
        Commands::Message { session, text } => {
            stop::message(store, session.as_deref(), &text).await
        }
        Commands::Approve {
            session,
            id,
            always,
        } => {
            let decision = if always {
                crate::session::PermissionDecision::AllowedAlways
            } else {
                crate::session::PermissionDecision::AllowedByUser
            };
            stop::answer(store, session.as_deref(), &id, decision).await
        }
        Commands::Answer {
            session,
            id,
            text,
            choices,
        } => stop::answer_question(store, session.as_deref(), &id, text.as_deref(), &choices).await,
        Commands::Deny { session, id } => {
            let decision = crate::session::PermissionDecision::DeniedByUser;
            stop::answer(store, session.as_deref(), &id, decision).await
        }
        Commands::GenTemplate {
            output,
            force,
            spec,
        } => gen_template::run(output.as_deref(), force, spec),
        Commands::Spec(args) => spec::run(args).await,
        Commands::Doctor { agent, timeout } => doctor::run(store, &agent, timeout).await,
        Commands::Watch {
            session,
            headless,
            json,
        } => watch::run(store, session.as_deref(), headless || json, json).await,
        Commands::Web { addr, access } => web::run(store, addr, &access).await,
        Commands::Mcp {
            command:
                McpCommand::Serve {
                    session,
                    http,
                    token,
                    spec,
                    template,
                    extra,
                    worker,
                    claim_ttl,
                    question_wait,
                },
        } => {
            let prompt = mcp::PromptArgs {
                spec,
                template,
                extra,
            };
            let seat = worker.map(|w| (w, claim_ttl));
            mcp::serve(
                store,
                session.as_deref(),
                http,
                token,
                prompt,
                seat,
                question_wait,
            )
            .await
        }
        Commands::Mcp {
            command: McpCommand::Tools,
        } => {
            println!("{}", mcp::tools_json()?);
            Ok(ExitCode::SUCCESS)
        }
        Commands::Version => {
            println!("iteratr {VERSION_LINE}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Opens the store for a command that only reads: `None` when there is none yet.
pub(crate) async fn open_for_reading(
    store: &StoreConfig,
) -> anyhow::Result<Option<Arc<dyn EventLog>>> {
    Ok(open_store(store, false).await?)
}

/// Opens (creating if needed) the store for a command that writes.
pub(crate) async fn open_for_writing(store: &StoreConfig) -> anyhow::Result<Arc<dyn EventLog>> {
    open_store(store, true)
        .await?
        .with_context(|| format!("cannot open the session store at {}", store.describe()))
}

/// Which session a command means, when the user named none or one.
pub(crate) enum Picked {
    One(SessionName),
    /// The store holds no session yet.
    None,
    Several(Vec<crate::store::SessionInfo>),
}

/// The one way every command picks its session. A name given is checked; with `must_exist` it
/// must be in the store (commands that read). Without a name: the only session, or none, or
/// several for the command to handle (a list, an error, a default).
pub(crate) async fn pick_session(
    log: &dyn EventLog,
    given: Option<&str>,
    store: &StoreConfig,
    must_exist: bool,
) -> anyhow::Result<Picked> {
    let given = given.map(SessionName::parse).transpose()?;
    if let Some(name) = &given
        && !must_exist
    {
        return Ok(Picked::One(name.clone()));
    }
    let sessions = log.sessions().await.context("cannot list the sessions")?;
    let dir = store.describe();
    match given {
        Some(name) if sessions.iter().any(|s| s.name == name.as_str()) => Ok(Picked::One(name)),
        Some(name) if sessions.is_empty() => {
            bail!("there is no session '{name}' in {dir}: it holds no sessions yet")
        }
        Some(name) => bail!(
            "there is no session '{name}' in {dir}; sessions there: {}",
            names(&sessions)
        ),
        None => Ok(match sessions.len() {
            0 => Picked::None,
            // Names in the store were checked when they were written.
            1 => Picked::One(SessionName::parse(&sessions[0].name)?),
            _ => Picked::Several(sessions),
        }),
    }
}

fn names(sessions: &[crate::store::SessionInfo]) -> String {
    sessions
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a command that needs one session says when there are several.
pub(crate) fn several(
    store: &StoreConfig,
    sessions: &[crate::store::SessionInfo],
) -> anyhow::Error {
    anyhow::anyhow!(
        "{} holds several sessions ({}); choose one with --session NAME",
        store.describe(),
        names(sessions)
    )
}

/// The session a writing command works on when none is named and the store has none: one named
/// after the current directory.
pub(crate) fn session_for_this_directory() -> anyhow::Result<SessionName> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let stem = cwd
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(session_name_from(&stem))
}

/// Follows the session's log from after `after`, sending each event to the front end as
/// `BuildEvent::Log` and reporting how far it got on `delivered`; a store error is said on the
/// stream (the interface shows it) rather than ending silently.
pub(crate) fn follow_log(
    log: Arc<dyn EventLog>,
    session: SessionName,
    after: u64,
    events: tokio::sync::mpsc::UnboundedSender<crate::frontend::BuildEvent>,
    delivered: Option<tokio::sync::watch::Sender<u64>>,
) -> tokio::task::JoinHandle<()> {
    use crate::frontend::BuildEvent;
    tokio::spawn(async move {
        let mut sub = match log.subscribe(&session, after).await {
            Ok(sub) => sub,
            Err(e) => {
                let _ = events.send(BuildEvent::Warning {
                    message: format!("cannot follow the session log: {}", error_chain(&e)),
                });
                return;
            }
        };
        while let Some(next) = sub.next().await {
            let e = match next {
                Ok(e) => e,
                Err(e) => {
                    let _ = events.send(BuildEvent::Warning {
                        message: format!("stopped following the session log: {}", error_chain(&e)),
                    });
                    return;
                }
            };
            let seq = e.seq;
            if events
                .send(BuildEvent::Log {
                    seq,
                    event: e.event,
                })
                .is_err()
            {
                return;
            }
            if let Some(d) = &delivered {
                d.send_replace(seq);
            }
        }
    })
}

/// Whether stdout is a terminal the full-screen interface can take over.
pub fn stdout_is_terminal() -> bool {
    rustix::termios::isatty(std::io::stdout())
}

/// Runs the full-screen interface; what the person asks (`Op`s) is carried out by a `Control`:
/// session commands as the user, permission answers, the build's stop (`interrupt`).
pub(crate) async fn run_tui(
    app: crate::tui::App,
    events: tokio::sync::mpsc::UnboundedReceiver<crate::frontend::BuildEvent>,
    session: Arc<SessionHandle>,
    interrupt: Option<tokio_util::sync::CancellationToken>,
    approvals: Option<Arc<crate::acp::permissions::Approvals>>,
) -> anyhow::Result<()> {
    use crate::tui::AppNotice;
    let (ops_tx, mut ops_rx) = tokio::sync::mpsc::unbounded_channel::<crate::frontend::Op>();
    let (notice_tx, notice_rx) = tokio::sync::mpsc::unbounded_channel::<AppNotice>();
    let notices = notice_tx.clone();
    let control = crate::control::Control::new(session, interrupt, approvals);
    let actions = tokio::spawn(async move {
        while let Some(op) = ops_rx.recv().await {
            if let Err(e) = control.apply(op).await {
                let _ = notices.send(AppNotice::Refused(e));
            }
        }
    });
    // The status bar's branch: the interface runs no git itself.
    let git = tokio::spawn(async move {
        let dir = std::env::current_dir().unwrap_or_default();
        loop {
            let status = crate::git::branch_status(&dir).await;
            if notice_tx.send(AppNotice::Git(status)).is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let result = crate::tui::run(app, events, ops_tx, notice_rx).await;
    git.abort();
    actions.abort();
    result.context("the terminal interface failed")
}
