//! `iteratr watch`: the full-screen interface on a session another process runs.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;

use super::{
    Picked, follow_log, open_for_reading, pick_session, run_tui, several, stdout_is_terminal,
};
use crate::session_handle::SessionHandle;
use crate::store::StoreConfig;

pub async fn run(store: &StoreConfig, session: Option<&str>) -> anyhow::Result<ExitCode> {
    if !stdout_is_terminal() {
        bail!(
            "iteratr watch needs a terminal; to follow a session from a script use `iteratr status --json`"
        );
    }
    let Some(log) = open_for_reading(store).await? else {
        bail!(
            "{} holds no iteratr data yet; start a build first",
            store.describe()
        );
    };
    let name = match pick_session(log.as_ref(), session, store, true).await? {
        Picked::One(name) => name,
        Picked::None => bail!(
            "{} holds no sessions yet; start a build first",
            store.describe()
        ),
        Picked::Several(many) => return Err(several(store, &many)),
    };
    let handle = Arc::new(SessionHandle::open(log.clone(), &name).await?);
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let follower = follow_log(log, name.clone(), 0, events_tx, None);
    let app = crate::tui::App::new(&name, true);
    let result = run_tui(app, events_rx, handle, None, None).await;
    follower.abort();
    result?;
    Ok(ExitCode::SUCCESS)
}
