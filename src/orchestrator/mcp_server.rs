//! The session tools' MCP server the loop starts for its agent, and its entry for `session/new`.

use std::path::PathBuf;
use std::sync::Arc;

use super::Orchestrator;
use crate::acp::McpEntry;
use crate::acp::permissions::ApproveMode;
use crate::frontend::BuildEvent;
use crate::mcp::{HttpOptions, McpScope, PromptSource, SessionTools, serve_http};

impl Orchestrator {
    /// The MCP server for `session/new`: over HTTP with the iteration's own token (`scope`), else
    /// an `iteratr mcp serve` the agent starts.
    pub(super) fn mcp_entries(&self, scope: Option<&McpScope>) -> Vec<McpEntry> {
        match (&self.http, scope) {
            (Some(http), Some(scope)) => vec![McpEntry::Http {
                name: crate::session::tools::SERVER.into(),
                url: http.url(),
                token: scope.token().to_string(),
            }],
            _ => vec![McpEntry::Stdio {
                name: crate::session::tools::SERVER.into(),
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
                        "--question-wait".into(),
                        format!("{}ms", self.opts.question_wait.as_millis()),
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

    /// The session tools' MCP server for this loop's agent (a worker's claims for it).
    pub(super) async fn start_server(&mut self) -> anyhow::Result<()> {
        let mut tools = SessionTools::new(Arc::clone(&self.session))
            .with_prompt_source(PromptSource {
                spec: Some(self.opts.spec_path.clone()),
                template: Arc::new(self.template.clone()),
                extra: self.opts.extra.clone(),
            })
            .with_question_wait(self.opts.question_wait);
        if let Some(w) = self.opts.role.worker() {
            let ttl = u64::try_from(w.claim_ttl.as_millis()).unwrap_or(u64::MAX);
            tools = tools.for_worker(&w.name, ttl);
        }
        let http = serve_http(tools, HttpOptions::loopback()).await?;
        self.emit(BuildEvent::Started {
            session: self.opts.session.to_string(),
            spec: self.opts.spec_path.display().to_string(),
            data_dir: self.opts.data_dir.display().to_string(),
            agent: self.opts.agent.join(" "),
            mcp_url: http.url(),
        });
        self.http = Some(http);
        if self.opts.approve == ApproveMode::Ask && !self.opts.interactive {
            let message = if self.opts.approve_wait.is_zero() {
                "--approve ask without the full-screen interface: nobody can answer, so every permission request that no rule decides is denied (--approve-wait lets one wait for `iteratr approve`)".to_string()
            } else {
                format!(
                    "--approve ask without the full-screen interface: a permission request that no rule decides waits {} for `iteratr approve P-n` or `iteratr deny P-n` from anywhere, then is denied",
                    humantime::format_duration(self.opts.approve_wait)
                )
            };
            self.emit(BuildEvent::Warning { message });
        }
        Ok(())
    }
}
