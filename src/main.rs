#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = iteratr::cli::Cli::parse();
    // The full-screen interface owns the terminal: its logs go to a file in the data dir.
    let default_log = cli
        .uses_terminal(iteratr::commands::stdout_is_terminal())
        .then(|| cli.data_dir.join("iteratr.log"));
    if let Err(e) = iteratr::logging::init(default_log.as_deref()) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
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
    match runtime.block_on(iteratr::commands::run(cli)) {
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
