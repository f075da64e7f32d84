//! How a run ended, typed: what a single build or a worker returns to whoever ran it (the
//! command, or the team that combines its workers'), and what front ends are told from it.

use super::{LeaseGuard, exit};
use crate::frontend::{BuildEvent, RunOutcome};

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Completed,
    IterationLimit,
    Idle,
    Budget,
    Failed(String),
    Interrupted,
}

impl Outcome {
    /// How front ends are told the run ended.
    pub(crate) fn run_outcome(&self) -> RunOutcome {
        match self {
            Outcome::Completed => RunOutcome::Completed,
            Outcome::IterationLimit => RunOutcome::IterationLimit,
            Outcome::Idle => RunOutcome::Idle,
            Outcome::Budget => RunOutcome::Budget,
            Outcome::Failed(_) => RunOutcome::Failed,
            Outcome::Interrupted => RunOutcome::Interrupted,
        }
    }

    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Outcome::Completed => exit::COMPLETED,
            Outcome::IterationLimit => exit::ITERATION_LIMIT,
            Outcome::Idle => exit::IDLE,
            Outcome::Budget => exit::BUDGET,
            Outcome::Failed(_) => exit::FAILED,
            Outcome::Interrupted => exit::INTERRUPTED,
        }
    }
}

/// A run's end: how, in words, and how many work iterations it ran (not counting planning).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunSummary {
    pub outcome: Outcome,
    /// What the run's last line says.
    pub message: String,
    pub iterations: u32,
}

impl RunSummary {
    /// A run that failed before it could count anything.
    pub(crate) fn failed(message: String) -> Self {
        RunSummary {
            outcome: Outcome::Failed(message.clone()),
            message,
            iterations: 0,
        }
    }

    /// The event that tells front ends the run ended.
    pub(crate) fn finished(&self) -> BuildEvent {
        BuildEvent::Finished {
            outcome: self.outcome.run_outcome(),
            iterations: self.iterations,
            message: self.message.clone(),
        }
    }

    /// Releases the session's lease the run held; a run that lost it failed, whatever else
    /// it says.
    pub(super) async fn release(&mut self, lease: LeaseGuard) {
        if let Some(why) = lease.lost() {
            self.message = format!(
                "this build stopped because {why}; `iteratr status` shows who holds the session now"
            );
            self.outcome = Outcome::Failed(self.message.clone());
        }
        lease.release().await;
    }
}
