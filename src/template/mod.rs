//! The prompt each iteration sends: a handlebars template over a fixed set of variables, each a
//! ready-rendered block of text. Templates written for the original iteratr (Go-template style
//! `{{session}}` or `{{.session}}` placeholders) render unchanged.

use std::path::Path;

use handlebars::Handlebars;
use serde::Serialize;
use thiserror::Error;

use crate::session::SessionState;

mod blocks;

pub use blocks::{
    DEFAULT_PROMPT_BUDGET, StateBlocks, estimate_tokens, history_block, notes_block, prompt_notes,
    state_blocks, tasks_block,
};

/// The template built into the binary; `iteratr gen-template` writes it out.
pub const DEFAULT_TEMPLATE: &str = include_str!("../templates/default.hbs");
/// The variables a template may use.
pub const VARIABLES: [&str; 10] = [
    "session",
    "iteration",
    "spec",
    "notes",
    "tasks",
    "history",
    "extra",
    "port",
    "binary",
    "messages",
];

#[derive(Debug, Error)]
pub enum TemplateError {
    #[error("the template {source_name} does not parse{at}: {reason}")]
    Parse {
        source_name: String,
        at: String,
        reason: String,
    },
    #[error(
        "the template {source_name} cannot render{at}: {reason} (the variables are {})",
        VARIABLES.join(", ")
    )]
    Render {
        source_name: String,
        at: String,
        reason: String,
    },
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

/// Everything a prompt is made of, already rendered to text.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PromptVars {
    pub session: String,
    pub iteration: String,
    pub spec: String,
    pub notes: String,
    pub tasks: String,
    pub history: String,
    pub extra: String,
    pub port: String,
    pub binary: String,
    pub messages: String,
}

#[derive(Clone)]
pub struct PromptTemplate {
    registry: Handlebars<'static>,
    source_name: String,
    /// The budget of the session state in a prompt, in estimated tokens (0: none).
    budget: u32,
}

impl PromptTemplate {
    /// Compiles `text` and renders it once with sample values, so a bad template is an error
    /// before anything runs. `source_name` names it in messages (a path, or "built-in").
    pub fn new(text: &str, source_name: &str) -> Result<Self, TemplateError> {
        let mut registry = Handlebars::new();
        registry.register_escape_fn(handlebars::no_escape);
        registry.set_strict_mode(true);
        let text = text.replace("{{.", "{{").replace("{{ .", "{{ ");
        registry
            .register_template_string("prompt", text)
            .map_err(|e| {
                let (line, column) = e.pos().map_or((None, None), |(l, c)| (Some(l), Some(c)));
                TemplateError::Parse {
                    source_name: source_name.to_string(),
                    at: position(line, column),
                    reason: e.reason().to_string(),
                }
            })?;
        let template = PromptTemplate {
            registry,
            source_name: source_name.to_string(),
            budget: DEFAULT_PROMPT_BUDGET,
        };
        let sample = PromptVars {
            session: "s".into(),
            iteration: "1".into(),
            ..PromptVars::default()
        };
        template.render(&sample)?;
        Ok(template)
    }

    pub fn builtin() -> Self {
        // The built-in template is checked by tests; fall back to a minimal one rather than panic.
        Self::new(DEFAULT_TEMPLATE, "built-in").unwrap_or_else(|_| PromptTemplate {
            registry: Handlebars::new(),
            source_name: "built-in".into(),
            budget: DEFAULT_PROMPT_BUDGET,
        })
    }

    /// The same template with a budget of `tokens` for the session state (0: no budget).
    pub fn with_budget(mut self, tokens: u32) -> Self {
        self.budget = tokens;
        self
    }

    pub fn budget(&self) -> u32 {
        self.budget
    }

    pub fn load(path: &Path) -> Result<Self, anyhow::Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the template {}: {e}", path.display()))?;
        Ok(Self::new(&text, &path.display().to_string())?)
    }

    pub fn render(&self, vars: &PromptVars) -> Result<String, TemplateError> {
        self.registry
            .render("prompt", vars)
            .map_err(|e| TemplateError::Render {
                source_name: self.source_name.clone(),
                at: position(e.line_no, e.column_no),
                reason: e.reason().to_string(),
            })
    }
}

const PLANNING: &str = "This is the planning iteration. Do not write code yet. Read the spec, \
review the task list (tasks from the spec's checklists were imported), add the missing tasks with \
task-batch-add, set priorities and dependencies (task-priority, task-depends), record decisions and \
open questions with note-add, then call iteration-summary and stop.";

/// One iteration's prompt, besides the session state: what `iteratr build` sends, and what the MCP
/// prompt `iteration` gives a person who runs an iteration by hand.
#[derive(Debug, Clone, Default)]
pub struct Iteration<'a> {
    pub session: &'a str,
    pub number: u32,
    pub planning: bool,
    pub spec: String,
    /// `-e/--extra-instructions`.
    pub extra: Option<&'a str>,
    /// Messages people sent since the last prompt, one `- text` line each.
    pub messages: Vec<String>,
    /// The session tools' HTTP port, when they are served over HTTP.
    pub port: String,
    pub binary: String,
    /// The task the worker holds (shown whatever the budget).
    pub claimed: Option<u64>,
}

impl PromptTemplate {
    /// The prompt of iteration `it` of the session whose state is `state`.
    pub fn render_iteration(
        &self,
        it: Iteration,
        state: &SessionState,
    ) -> Result<String, TemplateError> {
        let messages = if it.messages.is_empty() {
            String::new()
        } else {
            format!("## Messages from the user\n{}", it.messages.join("\n"))
        };
        let mut extra = Vec::new();
        if it.planning {
            extra.push(format!("## This iteration\n{PLANNING}"));
        }
        if let Some(e) = it.extra.filter(|e| !e.trim().is_empty()) {
            extra.push(format!("## Extra instructions\n{e}"));
        }
        if !messages.is_empty() {
            extra.push(messages.clone());
        }
        let state = state_blocks(state, self.budget, messages.len(), it.claimed);
        self.render(&PromptVars {
            session: it.session.to_string(),
            iteration: it.number.to_string(),
            spec: it.spec,
            notes: state.notes,
            tasks: state.tasks,
            history: state.history,
            extra: extra.join("\n\n"),
            port: it.port,
            binary: it.binary,
            messages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_line_and_column() {
        let err = PromptTemplate::new("line one\nline {{#if x}} two", "t.hbs")
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(
            msg.starts_with("the template t.hbs does not parse at line"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_variables_are_refused_up_front() {
        let err = PromptTemplate::new("hello {{sesion}}", "t.hbs")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("sesion") && err.contains("the variables are session"),
            "{err}"
        );
    }

    #[test]
    fn nothing_is_html_escaped() {
        let t = PromptTemplate::new("{{spec}}", "t").unwrap();
        let vars = PromptVars {
            spec: "a < b && \"c\"".into(),
            ..PromptVars::default()
        };
        assert_eq!(t.render(&vars).unwrap(), "a < b && \"c\"");
    }

    #[test]
    fn go_style_placeholders_render() {
        let t = PromptTemplate::new("{{.session}}/{{ .iteration }}", "t").unwrap();
        let vars = PromptVars {
            session: "s".into(),
            iteration: "3".into(),
            ..PromptVars::default()
        };
        assert_eq!(t.render(&vars).unwrap(), "s/3");
    }
}
