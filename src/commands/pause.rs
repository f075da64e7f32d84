//! `iteratr pause` and `iteratr resume`: from any terminal (or machine, on JetStream), ask the
//! build that runs a session to stop after its current iteration, and to go on. Both are events
//! in the session's log, so they reach a headless build, a full-screen one, and every `watch`.

use std::process::ExitCode;

use crate::session::{Author, Command};
use crate::session_handle::SessionHandle;
use crate::store::StoreConfig;

/// The session a control command names (or the only one), to ask something of its build.
pub(super) async fn open_picked(
    store: &StoreConfig,
    session: Option<&str>,
) -> anyhow::Result<SessionHandle> {
    use super::{Picked, open_for_reading, pick_session, several};
    let Some(log) = open_for_reading(store).await? else {
        anyhow::bail!("there are no sessions in {} yet", store.describe());
    };
    let name = match pick_session(log.as_ref(), session, store, true).await? {
        Picked::One(name) => name,
        Picked::None => anyhow::bail!("there are no sessions in {} yet", store.describe()),
        Picked::Several(many) => return Err(several(store, &many)),
    };
    Ok(SessionHandle::open(log, &name).await?)
}

pub async fn run(
    store: &StoreConfig,
    session: Option<&str>,
    pause: bool,
) -> anyhow::Result<ExitCode> {
    let handle = open_picked(store, session).await?;
    let name = handle.name().to_string();
    let who = crate::process::who();
    let cmd = if pause {
        Command::Pause { who }
    } else {
        Command::Resume { who }
    };
    let done = handle.execute(&cmd, Author::User).await?;
    let message = match (pause, done.events.is_empty()) {
        (true, false) => format!(
            "session {name}: pause requested; its build stops after the iteration that runs (`iteratr resume` goes on)"
        ),
        (true, true) => format!("session {name} is already paused"),
        (false, false) => format!("session {name}: resumed"),
        (false, true) => format!("session {name} is not paused"),
    };
    println!("{message}");
    Ok(ExitCode::SUCCESS)
}
