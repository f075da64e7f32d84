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
        };
        Ok(self.template.render_iteration(iteration, state)?)
    }
}
