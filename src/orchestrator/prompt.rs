//! What the loop gives the agent: the rendered prompt of an iteration, and the session tools'
//! MCP server entry for `session/new`.

use std::path::PathBuf;

use super::Orchestrator;
use crate::acp::McpEntry;
use crate::session::SessionState;
use crate::template::Iteration;

impl Orchestrator {
    pub(super) fn mcp_entries(&self, http_mcp: bool) -> Vec<McpEntry> {
        match (&self.http, http_mcp) {
            (Some(http), true) => vec![McpEntry::Http {
                name: "iteratr".into(),
                url: http.url(),
                token: http.token.clone(),
            }],
            _ => vec![McpEntry::Stdio {
                name: "iteratr".into(),
                command: PathBuf::from(&self.binary),
                args: self
                    .opts
                    .store_args
                    .iter()
                    .cloned()
                    .chain([
                        "mcp".into(),
                        "serve".into(),
                        "--session".into(),
                        self.opts.session.to_string(),
                    ])
                    .chain(self.opts.role.worker().into_iter().flat_map(|w| {
                        [
                            "--worker".to_string(),
                            w.name.clone(),
                            "--claim-ttl".to_string(),
                            format!("{}ms", w.claim_ttl.as_millis()),
                        ]
                    }))
                    .collect(),
                env: self.opts.store_env.clone(),
            }],
        }
    }

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
