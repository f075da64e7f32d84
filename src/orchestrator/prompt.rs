//! The prompt of an iteration, rendered from the template, the spec and the session.

use super::Orchestrator;
use crate::session::SessionState;
use crate::template::Iteration;

impl Orchestrator {
    pub(super) fn render(
        &mut self,
        number: u32,
        planning: bool,
        state: &SessionState,
    ) -> anyhow::Result<String> {
        let spec = self.spec_text()?;
        let messages: Vec<String> = state.messages
            [self.messages_prompted.min(state.messages.len())..]
            .iter()
            .map(|m| format!("- {}", m.text.replace('\n', "\n  ")))
            .collect();
        self.messages_prompted = state.messages.len();
        // Answers to this loop's questions that came after it stopped waiting.
        let late = &state.questions.late_answers;
        let mine = self.opts.role.worker().map(|w| w.name.as_str());
        let answers = late[self.answers_prompted.min(late.len())..]
            .iter()
            .filter_map(|id| state.questions.all.get(id))
            .filter(|q| q.worker.as_deref() == mine)
            .map(|q| format!("- {}", q.answered_text().replace('\n', "\n  ")));
        let messages: Vec<String> = messages.into_iter().chain(answers).collect();
        self.answers_prompted = late.len();
        let iteration = Iteration {
            session: self.opts.session.as_ref(),
            number,
            planning,
            spec,
            extra: self.opts.extra.as_deref(),
            messages,
            port: self
                .http
                .as_ref()
                .map(|h| h.addr.port().to_string())
                .unwrap_or_default(),
            binary: self.binary.clone(),
            claimed: self.current_task,
        };
        Ok(self.template.render_iteration(iteration, state)?)
    }
}
