//! One iteration: record its start, open a fresh ACP session, send the prompt (with the model
//! chosen and the timeout and Ctrl+C handled), deliver people's messages that arrived meanwhile,
//! record its end. And the agent's start, recorded in the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::{Orchestrator, Turn, permissions};
use crate::acp::{Agent, AgentError, AgentSpec, ModelChoice};
use crate::frontend::BuildEvent;
use crate::session::display::TaskCounts;
use crate::session::{Command, IterationOutcome};

impl Orchestrator {
    /// What the running iteration used so far.
    fn usage_lock(&self) -> std::sync::MutexGuard<'_, super::IterationTally> {
        self.iteration_usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(super) async fn start_agent(&mut self) -> anyhow::Result<()> {
        let env = match &self.agent_env {
            Some(env) => env.clone(),
            None => {
                let (env, events) = tokio::select! {
                    r = permissions::agent_env(&self.opts.agent, &self.opts.project_dir, self.approvals.policy(), self.opts.question_wait) => r?,
                    _ = self.interrupt.cancelled() => bail!("interrupted while starting the agent"),
                };
                events.into_iter().for_each(|e| self.emit(e));
                self.agent_env = Some(env.clone());
                env
            }
        };
        let configured_as_opencode = !env.is_empty();
        let spec = AgentSpec {
            argv: self.opts.agent.clone(),
            cwd: self.opts.project_dir.clone(),
            env,
            approvals: Arc::clone(&self.approvals),
            init_timeout: self.opts.init_timeout,
            private: vec![self.opts.data_dir.clone()],
            sandbox: self.opts.sandbox.clone(),
        };
        let agent = tokio::select! {
            agent = Agent::start(spec, Arc::clone(&self.updates)) => agent?,
            _ = self.interrupt.cancelled() => bail!("interrupted while starting the agent"),
        };
        let sandboxed = self.opts.sandbox.is_some();
        self.emit(BuildEvent::AgentReady {
            name: agent.info.name.clone(),
            version: agent.info.version.clone(),
            http_mcp: agent.info.http_mcp,
            sandboxed,
        });
        self.exec(Command::AgentStarted {
            name: agent.info.name.clone(),
            version: agent.info.version.clone(),
            http_mcp: agent.info.http_mcp,
            sandboxed,
        })
        .await?;
        if !self.asking_reported {
            self.asking_reported = true;
            let report = permissions::asking_report(
                &agent.info,
                configured_as_opencode,
                !self.opts.policy.deny.is_empty(),
                self.opts.approve,
            );
            report.into_iter().for_each(|e| self.emit(e));
        }
        self.agent = Some(agent);
        Ok(())
    }

    /// One iteration: record its start, open a fresh ACP session, prompt, deliver messages that
    /// arrived meanwhile, record its end.
    pub(super) async fn iteration(&mut self, number: u32, planning: bool) -> anyhow::Result<Turn> {
        let number = self.start_iteration(number, planning).await?;
        self.emit(BuildEvent::IterationStarted {
            iteration: number,
            planning,
        });
        let started = Instant::now();
        *self.usage_lock() = super::IterationTally::default();
        let state = self.session.refresh().await?;
        let completed_before = self.completed_ids(&state);
        let mut prompt = self.render(number, planning, &state)?;
        if let Some(brief) = self.worker_brief(&state) {
            prompt.push_str(&brief);
        }
        // A snapshot of the state held through the turn would make every append during it copy
        // the whole state (copy on write), and several copies of a long session stay alive.
        drop(state);
        let tree_before = self.snapshot().await;
        if let Some(output) = self.pre_iteration(number).await {
            prompt.push_str(&output);
        }
        let turn = self.turn(prompt, number, planning).await;
        let (outcome, detail) = match &turn {
            Turn::Done(stop) => (stop.clone(), None),
            Turn::Failed(outcome, reason) => (outcome.clone(), Some(reason.clone())),
            Turn::Fatal(reason) => (IterationOutcome::Error, Some(reason.clone())),
            Turn::Interrupted => (
                IterationOutcome::Interrupted,
                Some("stopped by the user".to_string()),
            ),
        };
        let (files_changed, mut commit) = self.commit_iteration(number, tree_before, &turn).await;
        if matches!(turn, Turn::Done(_)) && self.opts.role.worker().is_some() {
            commit = self.settle(number).await?.or(commit);
        }
        // The iteration's ACP session is over: so are its MCP sessions and connections.
        if let Some(scope) = self.mcp_scope.take() {
            scope.close().await;
        }
        // A question its agent asked in this turn and still waits for has nobody waiting on it
        // now (the call ended with the turn, however it ended): it stays open for a later answer.
        self.leave_abandoned_questions_open().await?;
        if self.http.as_ref().is_some_and(|h| h.out_of_fds()) {
            bail!(
                "the agent could not reach iteratr's MCP server in iteration {number}: {}",
                crate::fd_limit::advice()
            );
        }
        let super::IterationTally {
            usage,
            auto_allowed,
        } = std::mem::take(&mut *self.usage_lock());
        self.run_usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(&usage);
        let usage = (!usage.is_empty()).then_some(usage);
        let finish = Command::FinishIteration {
            number,
            outcome: outcome.clone(),
            detail,
            commit,
            usage: usage.clone(),
            auto_allowed,
        };
        match self
            .session
            .execute(&finish, crate::session::Author::System)
            .await
        {
            Ok(_) => {}
            // A worker frozen or cut off past its claim's time to live: whoever noticed recorded
            // its iteration as interrupted, and the claim ended. It goes on with a new claim.
            Err(crate::session_handle::ExecError::Rejected(
                crate::session::DomainError::IterationNotRunning(_),
            )) if self.opts.role.worker().is_some() => {
                self.current_task = None;
                self.emit(BuildEvent::Warning {
                    message: format!(
                        "iteration {number} was recorded as interrupted while this worker could not renew its claim (frozen or cut off); its end is not recorded"
                    ),
                });
            }
            Err(e) => {
                return Err(anyhow::Error::from(e)
                    .context(format!("cannot record {finish} in the session log")));
            }
        }
        let mut state = self.session.refresh().await?;
        if self.block_tasks_over_cap(number, &state).await? {
            state = self.session.refresh().await?;
        }
        let tasks_changed = state
            .iterations
            .get(&number)
            .is_some_and(|it| !it.tasks_changed.is_empty());
        self.last_idle = files_changed.map(|files| !files && !tasks_changed);
        // A long run's footprint can be followed in the log (the benchmark reads it).
        tracing::info!(
            "iteration {number} finished ({} tokio tasks alive)",
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
        );
        self.emit(BuildEvent::IterationFinished {
            iteration: number,
            outcome,
            took: started.elapsed(),
            tasks: TaskCounts::of(&state),
            usage,
            auto_allowed,
        });
        match &turn {
            Turn::Done(IterationOutcome::MaxTokens) => self.emit(BuildEvent::Warning {
                message: format!("iteration {number} ended because the model reached its output limit (max_tokens), not because it was done; the next iteration goes on from the tasks and notes")
            }),
            Turn::Done(IterationOutcome::Refusal) => self.emit(BuildEvent::Warning {
                message: format!("the model refused to go on in iteration {number} (refusal); check the spec and the agent's output")
            }),
            _ => {}
        }
        self.after_iteration(number, &completed_before, &state, &turn)
            .await;
        Ok(turn)
    }

    /// Records the start of an iteration under `number`, or (workers start iterations at the
    /// same time) under the next free number; returns the number it got.
    async fn start_iteration(&self, mut number: u32, planning: bool) -> anyhow::Result<u32> {
        let worker = self.worker_name();
        for _ in 0..20 {
            let start = Command::StartIteration {
                number,
                planning,
                worker: worker.clone(),
            };
            match self
                .session
                .execute(&start, crate::session::Author::System)
                .await
            {
                Ok(_) => return Ok(number),
                Err(crate::session_handle::ExecError::Rejected(
                    crate::session::DomainError::IterationOutOfOrder { latest, .. },
                )) if worker.is_some() => number = latest + 1,
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("cannot record {start} in the session log")));
                }
            }
        }
        bail!("could not start an iteration: other workers kept taking the numbers")
    }

    pub(super) async fn turn(&mut self, prompt: String, number: u32, planning: bool) -> Turn {
        let Some(agent) = self.agent.as_ref() else {
            return Turn::Failed(IterationOutcome::Error, "no agent is running".into());
        };
        // What the previous iteration opened on the MCP server ends before this one starts.
        if let Some(old) = self.mcp_scope.take() {
            old.close().await;
        }
        let scope = match (&self.http, agent.info.http_mcp) {
            (Some(http), true) => match http.open_scope() {
                Ok(scope) => Some(scope),
                Err(e) => return Turn::Failed(IterationOutcome::Error, format!("{e:#}")),
            },
            _ => None,
        };
        let servers = self.mcp_entries(scope.as_ref());
        self.mcp_scope = scope;
        let acp_session = match agent.new_session(&self.opts.project_dir, servers).await {
            Ok(id) => id,
            Err(e) => {
                return Turn::Failed(IterationOutcome::Error, format!("session/new failed: {e}"));
            }
        };
        self.acp_session = Some(acp_session.to_string());
        if let Some(model) = self.opts.model.clone() {
            match agent.set_model(&acp_session, &model).await {
                Ok(ModelChoice::Set(m)) if !self.model_reported => {
                    self.model_reported = true;
                    self.emit(BuildEvent::ModelSelected { model: m });
                }
                Ok(ModelChoice::Unsupported(why)) if !self.model_reported => {
                    self.model_reported = true;
                    self.emit(BuildEvent::Warning { message: why });
                }
                Ok(_) => {}
                Err(e @ AgentError::ModelRefused { .. }) => return Turn::Fatal(e.to_string()),
                Err(e) => {
                    return Turn::Failed(
                        IterationOutcome::Error,
                        format!("choosing the model failed: {e}"),
                    );
                }
            }
        }
        let mut stop = match self.prompt(&acp_session, prompt).await {
            Turn::Done(stop) => stop,
            other => return other,
        };
        // Messages people sent while the agent worked go to it now, in the same session.
        for _ in 0..3 {
            let Ok(state) = self.session.refresh().await else {
                break;
            };
            if state.messages.len() <= self.messages_prompted {
                break;
            }
            let texts: Vec<String> = state.messages[self.messages_prompted..]
                .iter()
                .map(|m| format!("- {}", m.text))
                .collect();
            // They are also repeated in the next iteration's prompt.
            let follow_up = format!(
                "Messages from the user arrived while you worked:\n{}\nTake them into account now; record what matters with note-add or task-add.",
                texts.join("\n")
            );
            self.info(format!(
                "delivering {} message(s) from the user",
                texts.len()
            ));
            stop = match self.prompt(&acp_session, follow_up).await {
                Turn::Done(stop) => stop,
                other => return other,
            };
            // Only new ones next time round; the next prompt still shows them all.
            let shown = state.messages.len();
            if let Ok(now) = self.session.refresh().await
                && now.messages.len() == shown
            {
                break;
            }
        }
        // The checks after a work iteration (planning writes no code to check).
        if !planning && let Some(turn) = self.post_iteration(&acp_session, number).await {
            return turn;
        }
        Turn::Done(stop)
    }

    /// Sends one prompt, with the iteration timeout and Ctrl+C handled by cancelling the turn.
    pub(super) async fn prompt(&self, acp_session: &str, text: String) -> Turn {
        let Some(agent) = self.agent.as_ref() else {
            return Turn::Failed(IterationOutcome::Error, "no agent is running".into());
        };
        let grace = Duration::from_secs(5);
        let reply = agent.prompt(acp_session, text);
        tokio::pin!(reply);
        tokio::select! {
            result = &mut reply => match result {
                Ok(done) => {
                    if let Some(used) = &done.usage {
                        self.usage_lock().usage.add(used);
                    }
                    Turn::Done(IterationOutcome::from(done.stop.as_str()))
                }
                Err(e) => Turn::Failed(IterationOutcome::Error, e.to_string()),
            },
            _ = tokio::time::sleep(self.opts.iteration_timeout) => {
                agent.cancel(acp_session);
                let _ = tokio::time::timeout(grace, &mut reply).await;
                Turn::Failed(IterationOutcome::Timeout, format!(
                    "timeout: the turn took longer than {}s (--iteration-timeout)",
                    self.opts.iteration_timeout.as_secs()
                ))
            }
            _ = self.interrupt.cancelled() => {
                agent.cancel(acp_session);
                let _ = tokio::time::timeout(grace, &mut reply).await;
                Turn::Interrupted
            }
        }
    }
}
