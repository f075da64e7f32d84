#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    // iteratr started as the watcher of a child's process group (see `process::guard_group`).
    if let Some(code) = iteratr::process::watch_group_main() {
        return code;
    }
    // Settings files give the flags their defaults: flags and environment variables still win.
    let settings = match std::env::current_dir()
        .map_err(|e| e.to_string())
        .and_then(|dir| iteratr::config::Settings::load(&dir).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let matches = settings.apply(iteratr::cli::Cli::command()).get_matches();
    let cli = match iteratr::cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // The full-screen interface owns the terminal: its logs go to a file in the data dir.
    let default_log = cli
        .uses_terminal(iteratr::commands::stdout_is_terminal())
        .then(|| cli.data_dir.join("iteratr.log"));
    if let Err(e) = iteratr::logging::init(default_log.as_deref()) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    iteratr::malloc::limit_arenas();
    if let Some((before, after)) = iteratr::fd_limit::raise() {
        tracing::debug!("raised the open-files limit from {before} to {after}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(iteratr::commands::run(cli, &settings)) {
        Ok(code) => code,
        Err(e) => {
            if iteratr::logging::to_file() {
                tracing::error!("{e:#}");
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
