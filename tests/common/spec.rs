//! Specs for the `iteratr spec` tests: a whole one with prioritised tasks, one without a
//! checklist (refused), and the fake agent's interview that hands them over.

use serde_json::json;

use super::fake_agent::log;
use super::fake_agent::script::{Action, Turn};
use super::project::{Project, ask};

pub const TODO_SPEC: &str = "# Todo CLI

## Overview
A command-line todo list.

## User Story
As a developer, I want to keep my todos in the terminal, so that I never leave it.

## Requirements
- Add, list and complete todos
- Todos are kept in a file

## Technical Implementation
Rust, one binary, todos in todo.txt.

## Tasks
- [ ] [high] Parse the command line
- [ ] [critical] Store todos in todo.txt
- [ ] [low] Write the README

## Out of Scope
Sync between machines.

## Open Questions
None.
";

/// [`TODO_SPEC`] with its tasks as prose: `finish-spec` refuses it.
pub fn without_checklist() -> String {
    TODO_SPEC.replace(
        "- [ ] [high] Parse the command line\n- [ ] [critical] Store todos in todo.txt\n- [ ] [low] Write the README\n",
        "Parse the command line, store todos, write the README.\n",
    )
}

/// The interview in two rounds (where todos live, then anything else in words), a spec without
/// a checklist (refused), then the whole one.
pub fn interview(spec: &str) -> Turn {
    Turn::of([
        Action::say("A few questions first.\n"),
        ask(
            "Storage",
            "Where should the todos live?",
            &["A file", "SQLite"],
        ),
        ask("Extras", "Anything else it must do?", &[]),
        Action::tool("finish-spec", json!({ "spec": without_checklist() })),
        Action::tool("finish-spec", json!({ "spec": spec })),
    ])
}

/// The results of [`interview`]'s questions when ana@laptop picks SQLite and asks for colours.
pub const ANSWERS: [&str; 2] = [
    "Q-1 answered by ana@laptop:\n- Storage: SQLite",
    "Q-2 answered by ana@laptop:\n- Extras: colours would be nice",
];

/// The results of the agent's `ask-questions` calls: the answers it got.
pub fn answers_given(p: &Project) -> Vec<String> {
    p.agent_events::<log::Tool>()
        .into_iter()
        .filter(|t| t.name == "ask-questions")
        .map(|t| t.text)
        .collect()
}

/// The names of the files in `dir`, sorted.
pub fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
