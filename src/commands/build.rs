//! `iteratr build`: the agent loop with its front end (full screen or progress lines). Its steps
//! (check the flags, the loop's options, start the run, the front end) are functions that
//! `iteratr worker` (`worker.rs`) reuses; what only a build does (its team of `--workers`, the
//! session's lease) is here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use super::{follow_log, open_for_writing, run_tui, shutdown_signal, stdout_is_terminal};
use crate::cli::BuildArgs;
use crate::output::OutputWriter;
use crate::session::{SessionName, session_name_from};
use crate::session_handle::SessionHandle;
use crate::store::StoreConfig;
use crate::template::PromptTemplate;

/// The spec given, or the only Markdown file in `specs/`.
pub(super) fn find_spec(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
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

/// The template given, else `.iteratr.template` when there is one, else the built-in one.
pub(super) fn load_template(given: Option<&Path>) -> anyhow::Result<PromptTemplate> {
    let local = Path::new(".iteratr.template");
    match given {
        Some(path) => PromptTemplate::load(path),
        None if local.is_file() => PromptTemplate::load(local),
        None => Ok(PromptTemplate::builtin()),
    }
}

/// What the flags say, checked: a mistake is a usage error (exit 2) before anything starts.
pub(super) struct Checked {
    spec_path: PathBuf,
    pub(super) session: SessionName,
    template: PromptTemplate,
    policy: crate::acp::permissions::policy::Policy,
    agent: Vec<String>,
    /// `--sandbox`, checked to work here.
    sandbox: Option<Arc<crate::sandbox::Sandbox>>,
}

pub(super) fn check(args: &mut BuildArgs) -> anyhow::Result<Checked> {
    if args.web.is_none() && (args.web_access.listen || args.web_access.view_token) {
        bail!("--listen and --view-token go with --web");
    }
    if args.json && !args.headless {
        bail!("--json goes with --headless");
    }
    if !args.headless && !stdout_is_terminal() {
        eprintln!("iteratr: stdout is not a terminal; printing progress lines (--headless)");
        args.headless = true;
    }
    let spec_path = find_spec(args.spec.clone())?;
    let session = match args.name.as_deref().map(SessionName::parse) {
        Some(name) => name?,
        None => session_name_from(
            &spec_path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    };
    let template = load_template(args.template.as_deref())?;
    let policy = crate::acp::permissions::policy::Policy::from_patterns(&args.deny_tools)
        .map_err(|e| anyhow::anyhow!("--deny-tools: {e}"))?;
    let agent = crate::process::split_command_line(&args.agent)
        .map_err(|e| anyhow::anyhow!("--agent / ITERATR_AGENT: {e}"))?;
    let sandbox = match args.sandbox.sandbox {
        true => Some(Arc::new(crate::sandbox::Sandbox::check(sandbox_policy(
            &args.sandbox,
        ))?)),
        false => None,
    };
    Ok(Checked {
        spec_path,
        session,
        template,
        policy,
        agent,
        sandbox,
    })
}

/// What `--sandbox` allows besides its defaults.
fn sandbox_policy(args: &crate::cli::SandboxArgs) -> crate::sandbox::Policy {
    crate::sandbox::Policy {
        writable: args.sandbox_writable.clone(),
        readable: args.sandbox_readable.clone(),
        env_allow: args.sandbox_env_allow.clone(),
        env_deny: args.sandbox_env_deny.clone(),
    }
}

/// A mistake in the flags or the setup: said on stderr, exit code 2 (7 for a `--sandbox` that
/// cannot work here).
pub(super) fn usage(e: anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    if e.downcast_ref::<crate::sandbox::Unavailable>().is_some() {
        return ExitCode::from(crate::sandbox::EXIT_CODE);
    }
    ExitCode::from(crate::orchestrator::exit::USAGE)
}

/// One builder per session: the lease, or the exit code of a refusal (said on stderr). A build
/// that took the session over from a gone holder says so in one line.
async fn take_lease(
    log: &Arc<dyn crate::store::EventLog>,
    session: &SessionName,
    args: &BuildArgs,
    store: &StoreConfig,
    interrupt: &tokio_util::sync::CancellationToken,
) -> anyhow::Result<Result<crate::orchestrator::LeaseGuard, ExitCode>> {
    let lease_session = Arc::new(SessionHandle::open(log.clone(), session).await?);
    let acquired = crate::orchestrator::LeaseGuard::acquire(
        lease_session,
        args.lease_ttl,
        args.takeover,
        store.output_retention.is_off(),
        interrupt.clone(),
    )
    .await?;
    Ok(match acquired {
        Ok(lease) => {
            if let Some(line) = lease.took_over() {
                eprintln!("iteratr: {line}");
                if crate::logging::to_file() {
                    tracing::warn!("{line}");
                }
            }
            Ok(lease)
        }
        Err(message) => {
            eprintln!("error: {message}");
            Err(ExitCode::from(crate::orchestrator::exit::HELD))
        }
    })
}

/// The options of the build's loop, from the checked flags and the settings.
fn options(
    checked: Checked,
    args: BuildArgs,
    store: &StoreConfig,
    settings: &crate::config::Settings,
    project_dir: PathBuf,
) -> (crate::orchestrator::BuildOptions, PromptTemplate) {
    let opts = crate::orchestrator::BuildOptions {
        session: checked.session,
        spec_path: checked.spec_path,
        project_dir,
        data_dir: store.data_dir.to_path_buf(),
        agent: checked.agent,
        model: args.model,
        // 0 means no limit, as in the original iteratr.
        iterations: args.iterations.filter(|n| *n > 0),
        extra: args.extra,
        policy: checked.policy,
        approve: args.approve,
        interactive: !args.headless,
        approve_wait: args.approve_wait,
        question_wait: args.question_wait.unwrap_or(if args.headless {
            Duration::ZERO
        } else {
            Duration::from_secs(300)
        }),
        iteration_timeout: args.iteration_timeout,
        max_failures: args.max_failures,
        retry_delay: args.retry_delay,
        reset: args.reset,
        init_timeout: args.init_timeout,
        store_args: store.child_args(),
        store_env: store.child_env(),
        hooks: settings.hooks().into_iter().map(|(hook, _)| hook).collect(),
        auto_commit: args.auto_commit,
        max_idle_iterations: args.max_idle_iterations,
        max_tokens: args.max_tokens,
        max_cost: args.max_cost,
        max_tokens_per_task: args.max_tokens_per_task,
        max_cost_per_task: args.max_cost_per_task,
        role: crate::orchestrator::Role::Single,
        approvals: None,
        sandbox: checked.sandbox,
    };
    (opts, checked.template.with_budget(args.prompt_budget))
}

type Run =
    std::pin::Pin<Box<dyn std::future::Future<Output = crate::orchestrator::RunSummary> + Send>>;

/// The run of a single build or of a team of workers, and where its permission requests are
/// answered.
async fn start(
    opts: crate::orchestrator::BuildOptions,
    team: Option<crate::orchestrator::Team>,
    log: &Arc<dyn crate::store::EventLog>,
    template: PromptTemplate,
    events: tokio::sync::mpsc::UnboundedSender<crate::frontend::BuildEvent>,
    interrupt: &tokio_util::sync::CancellationToken,
    lease: Option<crate::orchestrator::LeaseGuard>,
) -> anyhow::Result<(Run, Arc<crate::acp::permissions::Approvals>)> {
    Ok(match team {
        Some(team) => {
            // One set of answers for every worker's agent, given by the one front end.
            let approvals = Arc::new(opts.new_approvals());
            let opts = crate::orchestrator::BuildOptions {
                approvals: Some(Arc::clone(&approvals)),
                ..opts
            };
            let run = crate::orchestrator::run_team(
                opts,
                team,
                log.clone(),
                template,
                events,
                interrupt.clone(),
                lease,
            );
            (Box::pin(run) as Run, approvals)
        }
        None => {
            let mut orchestrator = crate::orchestrator::Orchestrator::new(
                opts,
                log.clone(),
                template,
                events,
                interrupt.clone(),
            )
            .await?;
            if let Some(lease) = lease {
                orchestrator = orchestrator.with_lease(lease);
            }
            let approvals = orchestrator.approvals();
            (Box::pin(orchestrator.run()) as Run, approvals)
        }
    })
}

/// `iteratr build`: a single build, or a team with `--workers`, holding the session's lease.
pub async fn run(
    store: &StoreConfig,
    mut args: BuildArgs,
    settings: &crate::config::Settings,
) -> anyhow::Result<ExitCode> {
    let checked = match check(&mut args) {
        Ok(c) => c,
        Err(e) => return Ok(usage(e)),
    };
    let project_dir = std::env::current_dir().context("cannot read the current directory")?;
    let settings_watch = match watch_settings(&args, &checked, store, &project_dir) {
        Ok(w) => w,
        Err(refused) => return Ok(refused),
    };
    let team = match super::worker::build_team(&args, &project_dir).await {
        Ok(team) => team,
        Err(e) => return Ok(usage(e)),
    };
    let log = open_for_writing(store).await?;
    let interrupt = tokio_util::sync::CancellationToken::new();
    // One builder per session: refused at once, before any agent or screen, when another holds
    // it.
    let lease = match take_lease(&log, &checked.session, &args, store, &interrupt).await? {
        Ok(lease) => lease,
        Err(refused) => return Ok(refused),
    };
    drive(
        Launch {
            args,
            checked,
            project_dir,
            team,
            log,
            interrupt,
            lease: Some(lease),
            settings_watch,
        },
        store,
        settings,
    )
    .await
}

/// Settings files a sandboxed agent may have written are refused before anything reads them
/// (`sandbox::settings_guard`); a sandboxed run records them as it finds them.
pub(super) fn watch_settings(
    args: &BuildArgs,
    checked: &Checked,
    store: &StoreConfig,
    project_dir: &Path,
) -> Result<crate::sandbox::settings_guard::Watch, ExitCode> {
    let sandboxed = checked.sandbox.is_some();
    let trust = args.sandbox.trust_settings;
    crate::sandbox::settings_guard::begin(project_dir, &store.data_dir, sandboxed, trust)
        .map_err(|e| usage(e.into()))
}

/// A run ready to start: the flags checked, the store open, the team (if it runs workers) and
/// the session's lease (if it holds one).
pub(super) struct Launch {
    pub(super) args: BuildArgs,
    pub(super) checked: Checked,
    pub(super) project_dir: PathBuf,
    pub(super) team: Option<crate::orchestrator::Team>,
    pub(super) log: Arc<dyn crate::store::EventLog>,
    pub(super) interrupt: tokio_util::sync::CancellationToken,
    pub(super) lease: Option<crate::orchestrator::LeaseGuard>,
    pub(super) settings_watch: crate::sandbox::settings_guard::Watch,
}

/// Starts the run and its front end, and waits for both; the exit code says how the run ended.
pub(super) async fn drive(
    launch: Launch,
    store: &StoreConfig,
    settings: &crate::config::Settings,
) -> anyhow::Result<ExitCode> {
    let Launch {
        args,
        checked,
        project_dir,
        team,
        log,
        interrupt,
        lease,
        settings_watch,
    } = launch;
    let (headless, json) = (args.headless, args.json);
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    // The dashboard (`--web`) starts before the agent: an address in use stops the build early.
    let web = match args.web {
        Some(addr) => {
            let opts = super::web::options(addr, &args.web_access).await?;
            Some(crate::web::serve(log.clone(), opts).await?)
        }
        None => None,
    };
    let link = web
        .as_ref()
        .map(|server| server.session_page(checked.session.as_str()));
    let scope = crate::notify::Scope {
        workers: team.as_ref().map(|t| t.names.clone()).unwrap_or_default(),
        // The session's build, not workers that joined it.
        builder: lease.is_some(),
    };
    let notifier = notifier(
        settings,
        &log,
        &checked.session,
        scope,
        link,
        &project_dir,
        &events_tx,
    )
    .await;
    let (opts, template) = options(checked, args, store, settings, project_dir);
    let signal_token = interrupt.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("interrupt received; stopping the turn");
        signal_token.cancel();
    });
    if let Some(server) = &web {
        for line in server.banner().lines() {
            let message = line.to_string();
            let _ = events_tx.send(crate::frontend::BuildEvent::Info { message });
        }
    }
    let session_name = opts.session.clone();
    // What the loop says goes to the front end; the agent's updates also go to the session's
    // output stream, for watchers elsewhere.
    let (run_tx, mut run_rx) = tokio::sync::mpsc::unbounded_channel();
    // With `--output-retention off` nothing is written (the lease tells watchers so).
    let tee = {
        let mut output = (!store.output_retention.is_off())
            .then(|| OutputWriter::start(log.clone(), session_name.to_string()));
        let events_tx = events_tx.clone();
        let notified = notifier.as_ref().map(crate::notify::Notifier::observer);
        tokio::spawn(async move {
            while let Some(event) = run_rx.recv().await {
                if let Some(output) = &mut output {
                    output.observe(&event);
                }
                if let Some(n) = &notified {
                    n.observe(&event);
                }
                if events_tx.send(event).is_err() {
                    break;
                }
            }
            if let Some(output) = output {
                output.finish().await;
            }
        })
    };
    let (run, approvals) = start(opts, team, &log, template, run_tx, &interrupt, lease).await?;
    let stop_now = stop_when_asked(log.clone(), session_name.to_string(), interrupt.clone());
    // The front end follows the session log itself, as a TUI on another machine would. The
    // full-screen interface folds the whole history; the progress lines start from now.
    let after = if headless {
        log.last_seq(&session_name).await.unwrap_or(0)
    } else {
        0
    };
    let (delivered_tx, mut delivered) = tokio::sync::watch::channel(after);
    let follower = follow_log(
        log.clone(),
        session_name.clone(),
        after,
        events_tx.clone(),
        Some(delivered_tx),
    );
    let driver = {
        let log = log.clone();
        let session_name = session_name.clone();
        tokio::spawn(async move {
            let summary = run.await;
            // Said once on stderr below; the log keeps it only when it is a file.
            if let crate::orchestrator::Outcome::Failed(message) = &summary.outcome
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
            stop_now.abort();
            // The loop's last updates are written before the build says it ended (the loop's
            // senders are gone with it; the wait is bounded all the same).
            if tokio::time::timeout(Duration::from_secs(10), tee)
                .await
                .is_err()
            {
                tracing::warn!("the agent's last output was not written in time");
            }
            // What needs saying of the end is said (bounded) before the front end hears of it,
            // so that a channel that failed is reported.
            if let Some(notifier) = notifier {
                let end = crate::notify::BuildEnd {
                    completed: summary.outcome == crate::orchestrator::Outcome::Completed,
                    message: summary.message.clone(),
                };
                notifier.finish(end).await;
            }
            let _ = events_tx.send(summary.finished());
            summary.outcome
        })
    };
    let outcome = if headless {
        crate::headless::print(events_rx, json).await;
        driver.await.context("the build loop failed")?
    } else {
        let handle = Arc::new(SessionHandle::open(log.clone(), &session_name).await?);
        let app = crate::tui::App::new(&session_name, false);
        run_tui(
            app,
            events_rx,
            handle,
            Some(interrupt.clone()),
            Some(approvals),
        )
        .await?;
        // The user left: stop the build if it still runs, and wait for it to wind down.
        interrupt.cancel();
        driver.await.context("the build loop failed")?
    };
    if let Some(server) = web {
        server.shutdown().await;
    }
    if let crate::orchestrator::Outcome::Failed(message) = &outcome {
        eprintln!("error: {message}");
    }
    for name in settings_watch.end() {
        eprintln!(
            "iteratr: warning: {name} changed during this sandboxed build (its agent may have written it, and hooks declared there run outside the sandbox): the next build shows the change and refuses it until you run again with --trust-settings"
        );
    }
    Ok(ExitCode::from(outcome.exit_code()))
}

/// `iteratr stop --now` from anywhere stops the turn that runs, as Ctrl+C does (a plain stop
/// is the loop's own next step).
fn stop_when_asked(
    log: Arc<dyn crate::store::EventLog>,
    session: String,
    interrupt: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let after = log.last_seq(&session).await.unwrap_or(0);
        let Ok(mut sub) = log.subscribe(&session, after).await else {
            tracing::warn!("cannot follow the session log for `iteratr stop --now`");
            return;
        };
        while let Some(Ok(stored)) = sub.next().await {
            if matches!(
                stored.event.kind,
                crate::session::EventKind::StopRequested { now: true, .. }
            ) {
                tracing::info!("stop --now asked; stopping the turn");
                interrupt.cancel();
                return;
            }
        }
    })
}

/// The run's notifier, when the settings declare channels (`[notify]`): it follows the log from
/// now, and tells what its workers' agents ask and, for the session's build, what concerns the
/// whole session.
async fn notifier(
    settings: &crate::config::Settings,
    log: &Arc<dyn crate::store::EventLog>,
    session: &SessionName,
    scope: crate::notify::Scope,
    link: Option<String>,
    project_dir: &Path,
    events: &tokio::sync::mpsc::UnboundedSender<crate::frontend::BuildEvent>,
) -> Option<crate::notify::Notifier> {
    let (notify, _) = settings.notify();
    crate::notify::Notifier::start(crate::notify::Start {
        settings: notify,
        log: Arc::clone(log),
        session: session.to_string(),
        scope,
        link,
        cwd: project_dir.to_path_buf(),
        events: events.clone(),
    })
    .await
}
