//! What the loop does next: a pure decision from the session's state, the last turn's result,
//! the counters and the limits, for the single build, the planner and workers alike. They
//! differ only where they must: the planner stops once planning is done; a worker waits for
//! planning, claims a task before each iteration and completes the session when everything is
//! integrated. Every outcome is unit-tested below, case by case.

use super::{Outcome, Turn};
use crate::session::SessionState;
use crate::session::display::{iteration_counts, task_counts};

/// Which loop decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Single,
    /// Imports the spec and runs the planning iteration, then stops.
    Planner,
    Worker,
}

/// What the loop has done so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counters {
    /// Work iterations that ended normally (planning not counted).
    pub ran: u32,
    /// Of those, the last ones in a row that changed no task and no file.
    pub idle: u32,
}

/// The limits a run was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// `-i`: work iterations to run now.
    pub iterations: Option<u32>,
    /// `--max-idle-iterations` (0: off).
    pub max_idle: u32,
}

/// The step before a turn.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    /// The run ends: how, and the words for people.
    Stop(Outcome, String),
    /// Someone asked the loop to pause (who, for people): wait until they resume.
    Paused(String),
    /// Every task is integrated (workers): complete the session with this summary, then stop.
    CompleteSession(String),
    /// Wait a moment for this, then look again (a worker waiting for planning).
    Wait(&'static str),
    /// Claim a task, then run iteration `number` on it (workers).
    Claim { number: u32 },
    /// Run iteration `number`.
    Iterate { number: u32, planning: bool },
}

/// What to say when the loop is interrupted while paused.
pub(super) const INTERRUPTED_WHILE_PAUSED: &str =
    "interrupted while paused; run the same command again to resume";
pub(super) const INTERRUPTED: &str = "interrupted; run the same command again to resume";

pub(super) fn before_turn(state: &SessionState, kind: Kind, c: Counters, limits: Limits) -> Step {
    if state.completed.is_some() {
        return Step::Stop(
            Outcome::Completed,
            format!(
                "session complete after {} · {}",
                iteration_counts(state),
                task_counts(state)
            ),
        );
    }
    if let Some(stop) = &state.stop {
        let who = crate::session::text::who_or(&stop.who, "someone");
        return Step::Stop(
            Outcome::Interrupted,
            format!("stopped: {who} asked for it; run the same command again to go on"),
        );
    }
    if let Some(pause) = &state.paused {
        return Step::Paused(pause.asked_by());
    }
    if kind == Kind::Worker && state.all_integrated() {
        return Step::CompleteSession(format!("every task is integrated · {}", task_counts(state)));
    }
    let planning = !state.planning_done();
    match (kind, planning) {
        (Kind::Planner, false) => {
            return Step::Stop(Outcome::IterationLimit, "planning done".into());
        }
        (Kind::Worker, true) => {
            return Step::Wait("waiting for the session's planning iteration to end");
        }
        _ => {}
    }
    if !planning && let Some(max) = limits.iterations.filter(|max| c.ran >= *max) {
        return Step::Stop(
            Outcome::IterationLimit,
            format!(
                "iteration limit reached (-i {max}) · session: {} · {}; run again to continue",
                iteration_counts(state),
                task_counts(state)
            ),
        );
    }
    // Numbers are never reused: a failed planning iteration is planned again under the next one.
    let number = state.latest_iteration().map_or(0, |l| l + 1);
    match kind {
        Kind::Worker => Step::Claim { number },
        Kind::Single | Kind::Planner => Step::Iterate { number, planning },
    }
}

/// The step after a turn.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum After {
    /// On to the next turn.
    Next,
    Stop(Outcome, String),
    /// The agent failed: wait out a rate limit, or count it and restart the agent.
    Failed(String),
}

/// How a turn ended, and what the loop saw of it.
pub(super) struct Ended<'a> {
    pub turn: &'a Turn,
    pub planning: bool,
    /// Which budget the run reached, if any.
    pub over_budget: Option<&'a str>,
    /// The iteration changed no task and no file (`None`: cannot tell).
    pub last_idle: Option<bool>,
}

/// After a turn; `state` as it is now.
pub(super) fn after_turn(
    ended: Ended<'_>,
    kind: Kind,
    c: &mut Counters,
    limits: Limits,
    state: &SessionState,
) -> After {
    let Ended {
        turn,
        planning,
        over_budget,
        last_idle,
    } = ended;
    let done = matches!(turn, Turn::Done(_));
    if done && !planning {
        c.ran += 1;
    }
    if let Some(why) = over_budget {
        return After::Stop(
            Outcome::Budget,
            format!(
                "stopping: {why} · {}; raise the budget to go on",
                task_counts(state)
            ),
        );
    }
    match turn {
        // Planning changes no file by design; a worker's idle turns end in giving its task up.
        Turn::Done(_) if planning || kind == Kind::Worker => After::Next,
        Turn::Done(_) => {
            c.idle = if last_idle == Some(true) {
                c.idle + 1
            } else {
                0
            };
            let max = limits.max_idle;
            if max > 0 && c.idle >= max {
                return After::Stop(
                    Outcome::Idle,
                    format!(
                        "stopping: the last {} iterations changed no task and no file (--max-idle-iterations {max}) · {}; look at the notes and the agent's output, adjust the spec or the prompt, then run again",
                        c.idle,
                        task_counts(state)
                    ),
                );
            }
            After::Next
        }
        Turn::Interrupted => After::Stop(Outcome::Interrupted, INTERRUPTED.into()),
        Turn::Fatal(reason) => After::Stop(Outcome::Failed(reason.clone()), reason.clone()),
        Turn::Failed(_, reason) => After::Failed(reason.clone()),
    }
}

#[cfg(test)]
#[path = "next_tests.rs"]
mod tests;
