//! `iteratr stop` and `iteratr message`: from any terminal (or machine, on JetStream), ask the
//! build that runs a session to stop (after its iteration, or `--now`), or tell its agent
//! something. Both are events in the session's log, recorded with who asked; the build, every
//! `watch` and `status` see them.

use std::process::ExitCode;

use super::pause::open_picked;
use crate::session::{Author, Command};
use crate::store::StoreConfig;

pub async fn stop(
    store: &StoreConfig,
    session: Option<&str>,
    now: bool,
) -> anyhow::Result<ExitCode> {
    let handle = open_picked(store, session).await?;
    let name = handle.name().to_string();
    let cmd = Command::RequestStop {
        now,
        who: crate::process::who(),
    };
    let done = handle
        .execute(&cmd, Author::User)
        .await
        .map_err(|e| anyhow::anyhow!("session {name}: {e}"))?;
    let message = match (done.events.is_empty(), now) {
        (true, _) => format!("session {name}: its build was already asked to stop"),
        (false, false) => {
            format!("session {name}: stop requested; its build stops after the iteration that runs")
        }
        (false, true) => {
            format!("session {name}: stop requested; its build stops the turn now")
        }
    };
    println!("{message}");
    Ok(ExitCode::SUCCESS)
}

pub async fn message(
    store: &StoreConfig,
    session: Option<&str>,
    text: &str,
) -> anyhow::Result<ExitCode> {
    let handle = open_picked(store, session).await?;
    let name = handle.name().to_string();
    let cmd = Command::UserMessage { text: text.into() };
    handle
        .execute(&cmd, Author::User)
        .await
        .map_err(|e| anyhow::anyhow!("session {name}: {e}"))?;
    println!(
        "session {name}: message recorded; the agent gets it when its turn ends (or in the next iteration)"
    );
    Ok(ExitCode::SUCCESS)
}
