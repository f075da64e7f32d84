//! After a failed turn, for the single build and workers alike: a provider's rate limit is
//! waited out (the agent kept, nothing counted); anything else counts toward `--max-failures`,
//! which stops the run, or restarts the agent after a delay that doubles each time.

use std::time::Duration;

use super::{Orchestrator, Outcome, RunSummary, rate_limit};
use crate::frontend::BuildEvent;
use crate::session::text::first_line;

/// Failed turns in a row, and rate limits waited out in a row; a turn that ends well resets both.
#[derive(Debug, Default)]
pub(super) struct Failures {
    failed: u32,
    limited: u32,
}

impl Orchestrator {
    /// After a failed turn: waits out a rate limit, else counts the failure and restarts the
    /// agent. `Some` is how the run ends.
    pub(super) async fn after_failed_turn(
        &mut self,
        f: &mut Failures,
        ran: u32,
        reason: String,
    ) -> anyhow::Result<Option<RunSummary>> {
        if rate_limit::is_rate_limit(&reason) && f.limited < rate_limit::MAX_WAITS {
            f.limited += 1;
            let wait = rate_limit::wait(self.opts.retry_delay, f.limited);
            self.emit(BuildEvent::Warning {
                message: format!(
                    "the agent's model provider is rate-limiting or overloaded ({}); waiting {} before the next iteration ({} of {} waits; not counted as a failure)",
                    first_line(&reason),
                    humantime::format_duration(Duration::from_secs(wait.as_secs().max(1))),
                    f.limited,
                    rate_limit::MAX_WAITS
                ),
            });
            return Ok(tokio::select! {
                _ = tokio::time::sleep(wait) => None,
                _ = self.interrupt.cancelled() => Some(self.interrupted(ran)),
            });
        }
        // The agent may have died right after completing the session: nothing left to retry.
        if self.session.refresh().await?.completed.is_some() {
            return Ok(None);
        }
        Ok(self.retry_after_failure(&mut f.failed, ran, reason).await)
    }

    /// After a failed turn: stop when failures reached `--max-failures`, else wait (doubling
    /// each time) and restart the agent. `Some` is how the run ends.
    async fn retry_after_failure(
        &mut self,
        failures: &mut u32,
        ran: u32,
        reason: String,
    ) -> Option<RunSummary> {
        *failures += 1;
        if *failures >= self.opts.max_failures {
            return Some(self.too_many_failures(*failures, ran, &reason));
        }
        self.restart_agent(failures, reason, ran).await
    }

    /// Restarts the agent after a failure, waiting `--retry-delay` (doubling) before each try. A
    /// start that fails (the agent hangs in `initialize`, say) is one more failure, and its reason
    /// is the one said; no iteration runs without an agent. `Some` when the run ends instead.
    async fn restart_agent(
        &mut self,
        failures: &mut u32,
        mut reason: String,
        ran: u32,
    ) -> Option<RunSummary> {
        loop {
            let delay = self
                .opts
                .retry_delay
                .saturating_mul(1 << (*failures - 1).min(5))
                .min(Duration::from_secs(30));
            self.emit(BuildEvent::Retrying {
                failures: *failures,
                max_failures: self.opts.max_failures,
                delay_ms: delay.as_millis() as u64,
                reason,
            });
            if let Some(agent) = self.agent.take() {
                agent.shutdown(Duration::from_secs(1)).await;
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.interrupt.cancelled() => {
                    return Some(self.interrupted(ran));
                }
            }
            match self.start_agent().await {
                Ok(()) => return None,
                // Retrying cannot help: say what to do instead.
                Err(e) if crate::fd_limit::is_exhaustion(e.as_ref()) => {
                    let message = format!(
                        "cannot start the agent ({e:#}): {}",
                        crate::fd_limit::advice()
                    );
                    return Some(self.finish(Outcome::Failed(message.clone()), ran, &message));
                }
                Err(e) => {
                    *failures += 1;
                    reason = format!("{e:#}");
                    if *failures >= self.opts.max_failures {
                        return Some(self.too_many_failures(*failures, ran, &reason));
                    }
                }
            }
        }
    }
}
