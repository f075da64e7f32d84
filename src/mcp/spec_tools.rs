//! The interview's endpoint (`iteratr spec`): `ask-questions` as in a build, and `finish-spec`,
//! which takes the finished spec, checks it (`spec::check`) and hands it to the wizard, or
//! refuses it with what is missing so the agent fixes it.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{schemars, tool, tool_router};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::tools::{SessionTools, failure, success};

/// What the interview's agent is told the endpoint is for.
pub(super) const SPEC_INSTRUCTIONS: &str = "Write a spec with the person: ask them what you need \
to know with ask-questions (a few rounds), then hand the whole spec over with finish-spec. If \
finish-spec refuses it, fix what it says and call it again.";

/// Where accepted specs go: the wizard that runs the interview.
pub type SpecSink = mpsc::UnboundedSender<String>;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct FinishSpecArgs {
    /// The whole spec in Markdown: the sections Overview, User Story, Requirements, Technical
    /// Implementation, Tasks (a `- [ ] [high] ...` checklist, each line with a priority), Out of
    /// Scope, Open Questions.
    spec: String,
}

#[tool_router(router = spec_router, vis = "pub(super)")]
impl SessionTools {
    #[tool(
        name = "finish-spec",
        description = "Hand over the finished spec (the whole Markdown). It must have the sections Overview, User Story, Requirements, Technical Implementation, Tasks, Out of Scope and Open Questions, and the Tasks section a checklist whose lines start with a priority: `- [ ] [critical|high|medium|low|backlog] what to do`. A spec that lacks something is refused with what is missing: fix it and call again. Once accepted, end your turn."
    )]
    async fn finish_spec(
        &self,
        Parameters(args): Parameters<FinishSpecArgs>,
    ) -> Result<CallToolResult, CallToolResult> {
        let Some(sink) = &self.spec_sink else {
            return Err(failure(
                "finish-spec belongs to `iteratr spec`'s interview; this endpoint has none".into(),
            ));
        };
        let checked = crate::spec::check(&args.spec).map_err(failure)?;
        let tasks = checked.tasks.len();
        sink.send(args.spec).map_err(|_| {
            failure("the interview is over (the person left); nothing more to do".into())
        })?;
        Ok(success(
            format!(
                "The spec was accepted ({tasks} open task(s)) and is with the person for review. You are done: end your turn now."
            ),
            json!({ "accepted": true, "tasks": tasks }),
        ))
    }
}
