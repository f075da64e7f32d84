//! After a failed turn: count the failure, stop at `--max-failures`, else restart the agent after
//! a delay that doubles each time.

use std::time::Duration;

use super::{Orchestrator, Outcome};
use crate::protocol::BuildEvent;

impl Orchestrator {
    /// After a failed turn: stop when failures reached `--max-failures`, else wait (doubling
    /// each time) and restart the agent. `Some` is how the run ends.
    pub(super) async fn retry_after_failure(
        &mut self,
        failures: &mut u32,
        ran: u32,
        reason: String,
    ) -> Option<(Outcome, String)> {
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
    ) -> Option<(Outcome, String)> {
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
