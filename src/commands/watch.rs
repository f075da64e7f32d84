//! `iteratr watch`: a session another process runs (on this data dir, or anywhere on the
//! JetStream), in the full-screen interface or as progress lines: the session log and the agent's
//! live output, from the current iteration on.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;

use super::{
    Picked, follow_log, open_for_reading, pick_session, run_tui, several, stdout_is_terminal,
};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::frontend::BuildEvent;
use crate::output::follow_output;
use crate::session::{EventKind, LeaseHolder, SessionState};
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
    let (events_tx, events_rx) = unbounded_channel();
    // Progress lines start at the log's end (the output says what happens now); the
    // full-screen interface folds the whole history.
    let after = if headless { state.last_seq } else { 0 };
    let follower = follow_log(log.clone(), name.clone(), after, events_tx.clone(), None);
    let output = follow_output(log, name.to_string(), from, events_tx);
    let mut events_rx = say_when_no_output(events_rx, &state);
    let result = if headless {
        // Ends when the build that runs (or the next one to start) ends, or on Ctrl+C.
        let (lines_tx, lines_rx) = unbounded_channel();
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

/// What a watcher is told about a build that keeps no live output (`--output-retention off`).
const NO_OUTPUT: &str =
    "this build keeps no live output (--output-retention off): only the session log is shown";

/// The events as they come, and once per build that writes no output stream (the one that holds
/// the session in `state`, or one that takes it later) a warning that says so.
fn say_when_no_output(
    mut events: UnboundedReceiver<BuildEvent>,
    state: &SessionState,
) -> UnboundedReceiver<BuildEvent> {
    let (tx, rx) = unbounded_channel();
    let since = state.last_seq;
    let holding = state
        .lease
        .as_ref()
        .filter(|l| l.is_live(crate::clock::now_ms()))
        .map(|l| l.holder.clone());
    tokio::spawn(async move {
        let mut told: Option<String> = None;
        let mut tell = |holder: &LeaseHolder| {
            let new = holder.no_output && told.as_deref() != Some(holder.id.as_str());
            if new {
                told = Some(holder.id.clone());
            }
            new.then(|| BuildEvent::Warning {
                message: NO_OUTPUT.to_string(),
            })
        };
        if let Some(warning) = holding.as_ref().and_then(&mut tell)
            && tx.send(warning).is_err()
        {
            return;
        }
        while let Some(event) = events.recv().await {
            let warning = match &event {
                BuildEvent::Log { seq, event } if *seq > since => match &event.kind {
                    EventKind::LeaseAcquired { holder, .. } => tell(holder),
                    _ => None,
                },
                _ => None,
            };
            if tx.send(event).is_err() || warning.is_some_and(|w| tx.send(w).is_err()) {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Author, Event};

    fn lease(at_ms: i64, id: &str, no_output: bool) -> Event {
        let holder = LeaseHolder {
            id: id.into(),
            no_output,
            ..LeaseHolder::default()
        };
        let kind = EventKind::LeaseAcquired {
            holder,
            ttl_ms: 60_000,
            took_over_from: None,
        };
        Event::new(at_ms, Author::System, kind)
    }

    fn acquired(seq: u64, id: &str, no_output: bool) -> BuildEvent {
        BuildEvent::Log {
            seq,
            event: lease(0, id, no_output),
        }
    }

    fn warned(e: &BuildEvent) -> bool {
        matches!(e, BuildEvent::Warning { message } if message == NO_OUTPUT)
    }

    #[tokio::test]
    async fn a_build_without_output_is_said_once_the_one_that_holds_it_or_the_next() {
        // The session as the watcher found it: held by a build that writes no output.
        let mut state = SessionState::default();
        state.apply(1, &lease(crate::clock::now_ms(), "b1", true));
        let (tx, rx) = unbounded_channel();
        let mut rx = say_when_no_output(rx, &state);
        assert!(warned(&rx.recv().await.unwrap()), "said at once");
        // The history the full-screen interface folds says nothing again, nor the same build.
        tx.send(acquired(1, "b1", true)).unwrap();
        tx.send(acquired(2, "b1", true)).unwrap();
        // A later build with output is no news; the next one without is.
        tx.send(acquired(3, "b2", false)).unwrap();
        tx.send(acquired(4, "b3", true)).unwrap();
        drop(tx);
        let mut rest = Vec::new();
        while let Some(e) = rx.recv().await {
            rest.push(e);
        }
        let told: Vec<usize> = (0..rest.len()).filter(|i| warned(&rest[*i])).collect();
        assert_eq!(rest.len(), 5);
        assert_eq!(told, [4], "after b3's lease only");
    }
}
