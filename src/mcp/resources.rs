//! The session as MCP resources: `iteratr://sessions/{name}/{tasks,notes,iterations,spec}` as
//! JSON, and the same with `.md` as Markdown for people and models. Every session in the store
//! is readable, not only the one served.

use std::fmt::Write as _;
use std::path::Path;

use rmcp::ErrorData;
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use serde_json::{Value, json};

use crate::session::display::iteration_counts;
use crate::session::text::format_time;
use crate::session::{self, EventKind, SessionState, validate_session_name};
use crate::template::{history_block, notes_block, tasks_block};

const SCHEME: &str = "iteratr://sessions/";
const JSON: &str = "application/json";
const MARKDOWN: &str = "text/markdown";

/// What part of a session a resource shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Part {
    Tasks,
    Notes,
    Iterations,
    Spec,
}

impl Part {
    pub(super) const ALL: [Part; 4] = [Part::Tasks, Part::Notes, Part::Iterations, Part::Spec];

    fn name(self) -> &'static str {
        match self {
            Part::Tasks => "tasks",
            Part::Notes => "notes",
            Part::Iterations => "iterations",
            Part::Spec => "spec",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Part::Tasks => "The session's tasks: ids, status, priority, dependencies",
            Part::Notes => {
                "The session's notes: learnings, where the agent is stuck, tips, decisions"
            }
            Part::Iterations => "The session's iterations: number, outcome, summary, times",
            Part::Spec => "The spec the session builds (from the spec file the server was given)",
        }
    }

    /// The resources an event changes (from the session's one answer, [`EventKind::changes`]);
    /// subscribers of those get `notifications/resources/updated`.
    pub(super) fn changed_by(kind: &EventKind) -> impl Iterator<Item = Part> + use<> {
        kind.changes().iter().filter_map(|part| match part {
            session::Part::Tasks => Some(Part::Tasks),
            session::Part::Notes => Some(Part::Notes),
            session::Part::Iterations => Some(Part::Iterations),
            session::Part::Messages
            | session::Part::Completion
            | session::Part::Pause
            | session::Part::Agent
            | session::Part::Lease
            | session::Part::Permissions
            | session::Part::Hooks
            | session::Part::Questions => None,
        })
    }
}

/// A parsed resource URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Uri {
    pub session: String,
    pub part: Part,
    pub markdown: bool,
}

impl Uri {
    pub(super) fn new(session: &str, part: Part, markdown: bool) -> Self {
        Uri {
            session: session.to_string(),
            part,
            markdown,
        }
    }

    pub(super) fn parse(uri: &str) -> Result<Uri, ErrorData> {
        let wrong = |why: String| {
            ErrorData::resource_not_found(
                format!(
                    "{why}; iteratr's resources are {SCHEME}NAME/tasks, /notes, /iterations and /spec (add .md for Markdown); resources/list shows them"
                ),
                Some(json!({ "uri": uri })),
            )
        };
        let rest = uri
            .strip_prefix(SCHEME)
            .ok_or_else(|| wrong(format!("{uri} is not an iteratr resource")))?;
        let (session, last) = rest
            .split_once('/')
            .ok_or_else(|| wrong(format!("{uri} names no part of the session")))?;
        validate_session_name(session).map_err(|e| wrong(e.to_string()))?;
        let (name, markdown) = match last.strip_suffix(".md") {
            Some(name) => (name, true),
            None => (last, false),
        };
        let part = Part::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| wrong(format!("{uri}: no part named '{name}'")))?;
        Ok(Uri::new(session, part, markdown))
    }

    pub(super) fn mime_type(&self) -> &'static str {
        if self.markdown { MARKDOWN } else { JSON }
    }
}

impl std::fmt::Display for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ext = if self.markdown { ".md" } else { "" };
        write!(f, "{SCHEME}{}/{}{ext}", self.session, self.part.name())
    }
}

/// The eight resources of `session`.
pub(super) fn list(session: &str) -> Vec<Resource> {
    Part::ALL
        .into_iter()
        .flat_map(|part| [false, true].map(|md| Uri::new(session, part, md)))
        .map(|uri| {
            let format = if uri.markdown { "Markdown" } else { "JSON" };
            Resource::new(
                uri.to_string(),
                format!("{} {}", uri.session, uri.part.name()),
            )
            .with_description(format!(
                "{} ({format}), session '{}'",
                uri.part.description(),
                uri.session
            ))
            .with_mime_type(uri.mime_type())
        })
        .collect()
}

/// The URI templates: any session's parts.
pub(super) fn templates() -> Vec<ResourceTemplate> {
    Part::ALL
        .into_iter()
        .flat_map(|part| [false, true].map(move |md| (part, md)))
        .map(|(part, md)| {
            let uri = Uri::new("{name}", part, md);
            let format = if md { "Markdown" } else { "JSON" };
            ResourceTemplate::new(uri.to_string(), format!("session {}", part.name()))
                .with_description(format!("{} ({format})", part.description()))
                .with_mime_type(uri.mime_type())
        })
        .collect()
}

/// The contents of `uri`, for the session in `state`; `spec` is the spec file the server was
/// given (the spec lives in the project, not in the log).
pub(super) fn read(
    uri: &Uri,
    state: &SessionState,
    spec: Option<&Path>,
) -> Result<ResourceContents, ErrorData> {
    let text = match uri.part {
        Part::Spec => spec_text(uri, spec)?,
        part if uri.markdown => markdown(&uri.session, part, state),
        part => {
            let all = crate::status::session_json(&uri.session, state);
            let key = part.name();
            let value = json!({ "session": uri.session, key: all.get(key).cloned().unwrap_or(Value::Null) });
            serde_json::to_string_pretty(&value)
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?
        }
    };
    Ok(ResourceContents::text(text, uri.to_string()).with_mime_type(uri.mime_type()))
}

fn spec_text(uri: &Uri, spec: Option<&Path>) -> Result<String, ErrorData> {
    let path = spec.ok_or_else(|| {
        ErrorData::resource_not_found(
            format!(
                "{uri}: this server was given no spec; start it with `iteratr mcp serve --spec FILE` (or keep one .md file in specs/)"
            ),
            None,
        )
    })?;
    let text = std::fs::read_to_string(path).map_err(|e| {
        ErrorData::resource_not_found(
            format!("{uri}: cannot read the spec {}: {e}", path.display()),
            None,
        )
    })?;
    if uri.markdown {
        return Ok(text);
    }
    serde_json::to_string_pretty(&json!({
        "session": uri.session,
        "path": path.display().to_string(),
        "text": text,
    }))
    .map_err(|e| ErrorData::internal_error(e.to_string(), None))
}

fn markdown(session: &str, part: Part, state: &SessionState) -> String {
    let mut out = format!("# Session {session}: {}\n\n", part.name());
    match part {
        Part::Tasks => out.push_str(&tasks_block(state)),
        Part::Notes => out.push_str(&notes_block(state)),
        Part::Iterations => {
            let _ = writeln!(out, "{}\n", iteration_counts(state));
            for it in state.iterations.values() {
                let outcome = it.outcome.as_ref().map_or("running", |o| o.as_str());
                let planning = if it.planning { ", planning" } else { "" };
                let started = it.started_at_ms.map(format_time).unwrap_or_default();
                let _ = writeln!(out, "- #{} ({outcome}{planning}) {started}", it.number);
                if let Some(summary) = &it.summary {
                    let _ = writeln!(out, "  {}", summary.replace('\n', "\n  "));
                }
            }
            if state.iterations.is_empty() {
                out.push_str(&history_block(state));
            }
        }
        Part::Spec => {}
    }
    out.trim_end().to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip_and_bad_ones_say_what_exists() {
        for uri in list("demo") {
            assert_eq!(Uri::parse(&uri.uri).unwrap().to_string(), uri.uri);
        }
        let u = Uri::parse("iteratr://sessions/demo/tasks.md").unwrap();
        assert_eq!(
            (u.part, u.markdown, u.mime_type()),
            (Part::Tasks, true, MARKDOWN)
        );
        for bad in [
            "file:///etc/passwd",
            "iteratr://sessions/demo",
            "iteratr://sessions/demo/secrets",
            "iteratr://sessions/../tasks",
        ] {
            let e = Uri::parse(bad).unwrap_err();
            assert!(e.message.contains("resources/list"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn without_a_spec_file_the_spec_says_how_to_give_one() {
        let uri = Uri::parse("iteratr://sessions/demo/spec.md").unwrap();
        let e = read(&uri, &SessionState::default(), None).unwrap_err();
        assert!(e.message.contains("--spec FILE"), "{}", e.message);
    }
}

#[cfg(test)]
#[path = "resource_updates_tests.rs"]
mod updates_tests;
