//! `iteratr watch`: a session another process runs (on this data dir, or anywhere on the
//! JetStream), in the full-screen interface or as progress lines: the session log and the agent's
//! live output, from the current iteration on.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;

use super::{
    Picked, follow_log, open_for_reading, pick_session, run_tui, several, stdout_is_terminal,
};
use crate::frontend::BuildEvent;
use crate::output::follow_output;
use crate::session::EventKind;
use crate::session_handle::SessionHandle;
use crate::store::StoreConfig;

/// After the build ended, how long the output must stay quiet before `--headless` ends.
const QUIET: std::time::Duration = std::time::Duration::from_millis(500);

pub async fn run(
    store: &StoreConfig,
    session: Option<&str>,
    headless: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if !headless && !stdout_is_terminal() {
        bail!(
            "iteratr watch needs a terminal for the full-screen interface; use `iteratr watch --headless` (or `--json`) for progress lines"
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
    let state = handle.refresh().await?;
    // The agent's output from the iterations that run (every worker's: the oldest of them), or
    // the last one, on.
    let from = state
        .oldest_running_iteration()
        .or_else(|| state.latest_iteration());
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
    // Progress lines start at the log's end (the output says what happens now); the
    // full-screen interface folds the whole history.
    let after = if headless { state.last_seq } else { 0 };
    let follower = follow_log(log.clone(), name.clone(), after, events_tx.clone(), None);
    let output = follow_output(log, name.to_string(), from, events_tx);
    let result = if headless {
        // Ends when the build that runs (or the next one to start) ends, or on Ctrl+C.
        let (lines_tx, lines_rx) = tokio::sync::mpsc::unbounded_channel();
        let printer = tokio::spawn(crate::headless::print(lines_rx, json));
        let until_built = async {
            while let Some(event) = events_rx.recv().await {
                let ended = matches!(
                    &event,
                    BuildEvent::Log { event, .. }
                        if matches!(event.kind, EventKind::LeaseReleased { .. })
                );
                if lines_tx.send(event).is_err() {
                    return;
                }
                if ended {
                    // The agent's last output may still be on its way: take what comes
                    // until the stream is quiet.
                    while let Ok(Some(event)) = tokio::time::timeout(QUIET, events_rx.recv()).await
                    {
                        if lines_tx.send(event).is_err() {
                            return;
                        }
                    }
                    return;
                }
            }
        };
        tokio::select! {
            _ = until_built => {}
            _ = super::shutdown_signal() => {}
        }
        drop(lines_tx);
        let _ = printer.await;
        Ok(())
    } else {
        let app = crate::tui::App::new(&name, true);
        run_tui(app, events_rx, handle, None, None).await
    };
    follower.abort();
    output.abort();
    result?;
    Ok(ExitCode::SUCCESS)
}
