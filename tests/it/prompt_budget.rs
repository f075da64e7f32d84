//! The session state in the prompt fits `prompt_budget`: a large session's prompt keeps what the
//! iteration needs and names the tools for the rest; a small one's holds everything. The prompt
//! puts what does not change (rules, workflow, spec) first, so consecutive prompts share it.

use iteratr::session::{Command, NoteType, SessionState, TaskStatus, note_id};

use crate::common::sessions::{run, session, set};
use iteratr::template::{
    DEFAULT_PROMPT_BUDGET, Iteration, PromptTemplate, estimate_tokens, history_block, tasks_block,
};

fn prompt(state: &SessionState, number: u32, messages: Vec<String>, spec: &str) -> String {
    let it = Iteration {
        number,
        spec: spec.to_string(),
        messages,
        ..Iteration::default()
    };
    render(PromptTemplate::builtin(), state, it)
}

/// The prompt `template` renders for `it` of session `parser`.
fn render(template: PromptTemplate, state: &SessionState, it: Iteration) -> String {
    let it = Iteration {
        session: "parser",
        ..it
    };
    template.render_iteration(it, state).unwrap()
}

/// The part of the prompt after the spec: the session's state and this iteration.
fn state_part<'a>(prompt: &'a str, spec: &str) -> &'a str {
    let at = prompt.find(spec).unwrap() + spec.len();
    &prompt[at..]
}

#[test]
fn a_large_sessions_prompt_fits_the_budget_and_keeps_what_the_iteration_needs() {
    let mut s = session(1_000, 500, 30);
    for t in (1..=600).step_by(3) {
        set(&mut s, t, TaskStatus::Completed);
    }
    for t in [700, 701, 702] {
        set(&mut s, t, TaskStatus::InProgress);
    }
    for t in [800, 900] {
        set(&mut s, t, TaskStatus::Blocked);
    }
    let messages = vec![
        "- Use British spelling".to_string(),
        "- Q-3 answered: PostgreSQL".to_string(),
    ];
    let spec = "# Parser\nParse the toy language.\n";
    let p = prompt(&s, 30, messages.clone(), spec);
    let state = state_part(&p, spec);
    assert!(
        estimate_tokens(state) <= DEFAULT_PROMPT_BUDGET as usize,
        "{} bytes of state:\n{state}",
        state.len()
    );
    assert!(state.len() <= 16 * 1024, "{}", state.len());
    let next = s.next_task().unwrap().label();
    assert!(
        state.contains(&format!("Next (task-next): {next}")),
        "{state}"
    );
    assert!(
        state.contains(&format!("- {next} [p")),
        "the next task is listed"
    );
    for id in ["TAS-700", "TAS-701", "TAS-702", "TAS-800", "TAS-900"] {
        assert!(
            state.contains(&format!("- {id} [p")),
            "{id} missing:\n{state}"
        );
    }
    for m in &messages {
        assert!(state.contains(m.as_str()), "{m} missing");
    }
    // What was left out is counted, and the tools that list it are named.
    assert!(
        state.contains(
            "completed (200): not listed here; task-list with status completed lists them"
        ),
        "{state}"
    );
    assert!(
        state.contains("task-list with status remaining lists all"),
        "{state}"
    );
    assert!(
        state.contains("(Older notes not shown: ")
            && state.contains(" learning, ")
            && state.contains("note-list lists them, by type.)"),
        "{state}"
    );
    // Stuck notes and decisions before learnings and tips: the newest stuck note is there.
    let newest_stuck = (1..=500).rev().find(|i| i % 4 == 1).unwrap();
    assert!(state.contains(&format!("Note {newest_stuck}:")), "{state}");
    // The last summary is there.
    assert!(
        state.contains("- #29 (end_turn): Iteration 29 did its part"),
        "{state}"
    );
}

#[test]
fn the_claimed_task_is_shown_whatever_the_budget() {
    let s = session(1_000, 0, 1);
    let it = Iteration {
        number: 1,
        spec: "spec".into(),
        claimed: Some(977),
        ..Iteration::default()
    };
    let p = render(PromptTemplate::builtin().with_budget(500), &s, it);
    assert!(p.contains("- TAS-977 [p"), "{p}");
}

/// Every note is in the prompt, with its id and type, oldest first.
#[track_caller]
fn assert_every_note(s: &SessionState, p: &str) {
    let mut at = 0;
    for n in s.notes.values() {
        let line = format!("- {} ({}) {}\n", note_id(n.id), n.note_type, n.content);
        let found = p[at..]
            .find(&line)
            .unwrap_or_else(|| panic!("missing {line:?} (in order) in:\n{p}"));
        at += found + line.len();
    }
}

#[test]
fn a_small_sessions_prompt_holds_everything_as_before() {
    let mut s = session(10, 10, 3);
    set(&mut s, 1, TaskStatus::Completed);
    set(&mut s, 2, TaskStatus::InProgress);
    let spec = "# Parser\n";
    let p = prompt(&s, 3, Vec::new(), spec);
    for block in [tasks_block(&s), history_block(&s)] {
        assert!(p.contains(&block), "missing:\n{block}\nin:\n{p}");
    }
    assert_every_note(&s, &p);
    assert!(
        !p.contains("not listed here") && !p.contains("lists all"),
        "{p}"
    );
    // 50 tasks and 30 notes still fit whole.
    let s = session(50, 30, 5);
    let p = prompt(&s, 5, Vec::new(), spec);
    assert!(p.contains(&tasks_block(&s)), "{p}");
    assert_every_note(&s, &p);
    // A budget of 0 is no budget: a large session whole.
    let s = session(300, 100, 2);
    let it = Iteration {
        number: 2,
        spec: spec.into(),
        ..Iteration::default()
    };
    let p = render(PromptTemplate::builtin().with_budget(0), &s, it);
    assert!(p.contains(&tasks_block(&s)));
    assert_every_note(&s, &p);
}

#[test]
fn consecutive_prompts_share_the_rules_and_the_spec_byte_for_byte() {
    let spec: String = (1..=60)
        .map(|i| {
            format!("- Requirement {i}: the parser handles construct {i} and reports errors\n")
        })
        .collect();
    let mut s = session(10, 5, 2);
    let first = prompt(&s, 2, Vec::new(), &spec);
    // An iteration later: a task done, a note and a summary added.
    set(&mut s, 1, TaskStatus::Completed);
    run(
        &mut s,
        Command::AddNote {
            note_type: NoteType::Learning,
            content: "The lexer is done".into(),
        },
    );
    let second = prompt(&s, 3, vec!["- a message".into()], &spec);
    let shared = first
        .bytes()
        .zip(second.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let stable = first.find(&spec).unwrap() + spec.len();
    assert!(shared >= stable, "shared {shared} < {stable}");
    assert_eq!(first[..stable], second[..stable]);
    assert!(
        shared * 100 / first.len() >= 80,
        "{shared} of {} bytes shared",
        first.len()
    );
}
