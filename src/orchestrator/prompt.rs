//! What the loop gives the agent: the rendered prompt of an iteration, and the session tools'
//! MCP server entry for `session/new`.

use std::path::PathBuf;

use super::Orchestrator;
use crate::acp::McpEntry;
use crate::session::SessionState;
use crate::template::{PromptVars, history_block, notes_block, tasks_block};

const PLANNING: &str = "This is the planning iteration. Do not write code yet. Read the spec, \
review the task list (tasks from the spec's checklists were imported), add the missing tasks with \
task-batch-add, set priorities and dependencies (task-priority, task-depends), record decisions and \
open questions with note-add, then call iteration-summary and stop.";

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
        let new_messages: Vec<String> = state.messages
            [self.messages_prompted.min(state.messages.len())..]
            .iter()
            .map(|m| format!("- {}", m.text.replace('\n', "\n  ")))
            .collect();
        self.messages_prompted = state.messages.len();
        let messages = if new_messages.is_empty() {
            String::new()
        } else {
            format!("## Messages from the user\n{}", new_messages.join("\n"))
        };
        let mut extra = Vec::new();
        if planning {
            extra.push(format!("## This iteration\n{PLANNING}"));
        }
        if let Some(e) = self.opts.extra.as_deref().filter(|e| !e.trim().is_empty()) {
            extra.push(format!("## Extra instructions\n{e}"));
        }
        if !messages.is_empty() {
            extra.push(messages.clone());
        }
        let vars = PromptVars {
            session: self.opts.session.to_string(),
            iteration: number.to_string(),
            spec,
            notes: notes_block(state),
            tasks: tasks_block(state),
            history: history_block(state),
            extra: extra.join("\n\n"),
            port: self
                .http
                .as_ref()
                .map(|h| h.addr.port().to_string())
                .unwrap_or_default(),
            binary: self.binary.clone(),
            messages,
        };
        Ok(self.template.render(&vars)?)
    }
}
