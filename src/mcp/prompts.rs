//! The MCP prompt `iteration`: the prompt `iteratr build` would send for a session's next
//! iteration, so a person in any MCP client (Claude Code, Cursor, opencode) can run one iteration
//! of the loop by hand with the session tools at hand.

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::model::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};
use serde_json::{Map, Value};

use crate::session::SessionState;
use crate::template::{Iteration, PromptTemplate};

pub(super) const ITERATION: &str = "iteration";

/// What the prompt and the `spec` resource need besides the log: the spec file, the template and
/// the extra instructions, as `iteratr build` has them.
#[derive(Clone)]
pub struct PromptSource {
    pub spec: Option<PathBuf>,
    pub template: Arc<PromptTemplate>,
    pub extra: Option<String>,
}

impl Default for PromptSource {
    fn default() -> Self {
        PromptSource {
            spec: None,
            template: Arc::new(PromptTemplate::builtin()),
            extra: None,
        }
    }
}

pub(super) fn list() -> Vec<Prompt> {
    vec![Prompt::new(
        ITERATION,
        Some(
            "The prompt of the session's next iteration, as `iteratr build` sends it: spec, tasks, \
             notes, recent iterations and the rules. Run it to do one iteration by hand.",
        ),
        Some(vec![
            PromptArgument::new("session")
                .with_description("Session name; the session this server serves when left out")
                .with_required(false),
        ]),
    )]
}

/// The session `arguments` name, or `served`.
pub(super) fn session_argument(
    arguments: Option<&Map<String, Value>>,
    served: &str,
) -> Result<String, ErrorData> {
    let unknown: Vec<&String> = arguments
        .into_iter()
        .flat_map(|a| a.keys())
        .filter(|k| *k != "session")
        .collect();
    if !unknown.is_empty() {
        return Err(ErrorData::invalid_params(
            format!("the prompt '{ITERATION}' takes one argument, session; got {unknown:?}"),
            None,
        ));
    }
    match arguments.and_then(|a| a.get("session")) {
        None | Some(Value::Null) => Ok(served.to_string()),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Some(other) => Err(ErrorData::invalid_params(
            format!("the argument session must be a session name, not {other}"),
            None,
        )),
    }
}

/// Renders the next iteration's prompt of `session`.
pub(super) fn render(
    source: &PromptSource,
    session: &str,
    state: &SessionState,
    port: Option<u16>,
) -> Result<GetPromptResult, ErrorData> {
    let spec = match &source.spec {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            ErrorData::internal_error(
                format!("cannot read the spec {}: {e}", path.display()),
                None,
            )
        })?,
        None => "(no spec file: start `iteratr mcp serve` with --spec FILE)".to_string(),
    };
    let planning = !state.planning_done();
    let number = state.latest_iteration().map_or(0, |l| l + 1);
    let iteration = Iteration {
        session,
        number,
        planning,
        spec,
        extra: source.extra.as_deref(),
        messages: Vec::new(),
        port: port.map(|p| p.to_string()).unwrap_or_default(),
        binary: std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "iteratr".into()),
        claimed: None,
    };
    let text = source
        .template
        .render_iteration(iteration, state)
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    let mut result = GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]);
    result.description = Some(format!(
        "iteratr session {session}, iteration {number}{}",
        if planning { " (planning)" } else { "" }
    ));
    Ok(result)
}
