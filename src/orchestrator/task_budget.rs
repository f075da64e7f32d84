//! The per-task circuit breaker (`--max-tokens-per-task`, `--max-cost-per-task`): a task whose
//! attributed tokens or cost reach the cap is set blocked with a stuck note that says so, a
//! worker lets it go, and the loop goes on with other work.

use super::Orchestrator;
use crate::frontend::BuildEvent;
use crate::session::{Command, NoteType, SessionState, Task, TaskStatus, Usage};

/// Why `task`'s usage passes a cap, if it does.
pub(super) fn over_cap(
    usage: &Usage,
    max_tokens: Option<u64>,
    max_cost: Option<f64>,
) -> Option<String> {
    if let Some(max) = max_tokens.filter(|m| usage.tokens() >= *m) {
        return Some(format!(
            "its iterations used {} tokens, the cap is {max} (max_tokens_per_task)",
            usage.tokens()
        ));
    }
    let (cost, max) = (usage.cost?, max_cost?);
    (cost >= max).then(|| {
        format!(
            "its iterations cost {cost:.2} {}, the cap is {max:.2} (max_cost_per_task)",
            usage.currency.as_deref().unwrap_or("")
        )
    })
}

impl Orchestrator {
    /// After iteration `number` finished: blocks each task it worked on that is still open and
    /// passed a per-task cap. True when one was blocked.
    pub(super) async fn block_tasks_over_cap(
        &mut self,
        number: u32,
        state: &SessionState,
    ) -> anyhow::Result<bool> {
        let (tokens, cost) = (self.opts.max_tokens_per_task, self.opts.max_cost_per_task);
        if tokens.is_none() && cost.is_none() {
            return Ok(false);
        }
        let over: Vec<(&Task, String)> = state
            .iterations
            .get(&number)
            .into_iter()
            .flat_map(|it| it.worked_on.iter())
            .filter_map(|id| state.tasks.get(id))
            .filter(|t| t.status.is_unfinished())
            .filter_map(|t| Some((t, over_cap(&t.usage, tokens, cost)?)))
            .collect();
        for (task, why) in &over {
            let label = task.label();
            self.exec(Command::SetStatus {
                task: label.clone(),
                status: TaskStatus::Blocked,
            })
            .await?;
            self.exec(Command::AddNote {
                note_type: NoteType::Stuck,
                content: format!(
                    "iteratr blocked {label}: {why}. Look at what went wrong, then set it back to remaining (task-status) or raise the cap to try again."
                ),
            })
            .await?;
            if let Some(w) = self.opts.role.worker() {
                self.exec(Command::ReleaseClaim {
                    task: task.id,
                    worker: w.name.clone(),
                    reason: format!("blocked: {why}"),
                })
                .await?;
                if self.current_task == Some(task.id) {
                    self.current_task = None;
                }
            }
            self.emit(BuildEvent::Warning {
                message: format!("{label} is blocked: {why}; the loop goes on with other work"),
            });
        }
        Ok(!over.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_is_reached_at_its_value_not_before() {
        let used = Usage {
            input_tokens: 900,
            output_tokens: 100,
            cost: Some(0.5),
            currency: Some("USD".into()),
            ..Usage::default()
        };
        assert!(over_cap(&used, Some(1001), None).is_none());
        assert!(
            over_cap(&used, Some(1000), None)
                .unwrap()
                .contains("1000 tokens")
        );
        assert!(over_cap(&used, None, Some(0.51)).is_none());
        assert!(
            over_cap(&used, None, Some(0.5))
                .unwrap()
                .contains("0.50 USD")
        );
        assert!(over_cap(&Usage::default(), None, Some(0.1)).is_none());
    }
}
