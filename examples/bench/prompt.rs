//! The prompt's size and what consecutive prompts share (issue 33): the bytes of the prompt and
//! of its session state at 10 to 10,000 tasks (with as many notes), before (the original's
//! prompt: everything, every time; the template of before, `prompt_before.hbs`) and with the
//! prompt budget; the prefix two consecutive iterations' prompts share; the bytes of `tools/list`
//! from `iteratr mcp serve` as an MCP client gets them.

use std::path::Path;

use iteratr::session::{Command, NoteType, SessionState, TaskStatus};
use iteratr::template::{Iteration, PromptTemplate, history_block, notes_block, tasks_block};

use crate::sessions_common::{iteration, run, session, set};

const BEFORE: &str = include_str!("prompt_before.hbs");

fn render(template: &PromptTemplate, state: &SessionState, number: u32, spec: &str) -> String {
    template
        .render_iteration(
            Iteration {
                session: "bench",
                number,
                spec: spec.to_string(),
                ..Iteration::default()
            },
            state,
        )
        .unwrap_or_default()
}

fn kib(n: usize) -> String {
    format!("{:.1} KiB", n as f64 / 1024.0)
}

/// The state part of a prompt: everything but the template's text and the spec.
fn state_bytes(prompt: &str, template: &PromptTemplate, spec: &str, number: u32) -> usize {
    let empty = render(template, &SessionState::default(), number, spec);
    let empty_state = tasks_block(&SessionState::default()).len()
        + notes_block(&SessionState::default()).len()
        + history_block(&SessionState::default()).len();
    prompt.len() + empty_state - empty.len()
}

fn shared_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// One iteration of work on a session: a task started and completed, a note, a summary.
fn iterate(s: &mut SessionState, n: u32) {
    let summary = format!("Iteration {n} completed its task and tested it; the next one goes on");
    iteration(s, n, &summary, |s| {
        if let Some(next) = s.next_task().map(|t| t.id as usize) {
            set(s, next, TaskStatus::InProgress);
            set(s, next, TaskStatus::Completed);
        }
        run(
            s,
            Command::AddNote {
                note_type: NoteType::ALL[n as usize % 4],
                content: format!(
                    "Learned in iteration {n}: the part it did needs the parser's error type"
                ),
            },
        );
    });
}

pub fn report(iteratr: &Path) -> anyhow::Result<()> {
    let before = PromptTemplate::new(BEFORE, "before")?.with_budget(0);
    let after = PromptTemplate::builtin();
    let spec = "# Spec\n\nBuild the thing.\n".repeat(20);
    println!("### Prompt bytes (state: tasks, notes, recent iterations)\n");
    println!("| tasks and notes | prompt before | state before | prompt after | state after |");
    println!("|---:|---:|---:|---:|---:|");
    for n in [10, 100, 1_000, 10_000] {
        let mut s = session(n, n, 6);
        for t in (1..=n).step_by(3) {
            set(&mut s, t, TaskStatus::Completed);
        }
        let b = render(&before, &s, 6, &spec);
        let a = render(&after, &s, 6, &spec);
        println!(
            "| {n} | {} | {} | {} | {} |",
            kib(b.len()),
            kib(state_bytes(&b, &before, &spec, 6)),
            kib(a.len()),
            kib(state_bytes(&a, &after, &spec, 6)),
        );
    }
    // A 10-task session with a spec of about 4 KiB, iterations 2 to 7.
    let spec: String = (1..=55)
        .map(|i| {
            format!("- Requirement {i}: the parser handles construct {i} and reports errors\n")
        })
        .collect();
    println!(
        "\n### Shared prefix of consecutive prompts (10 tasks, {} spec)\n",
        kib(spec.len())
    );
    println!("| template | prompt | shared with the next, min | median |");
    println!("|---|---:|---:|---:|");
    for (name, template) in [("before", &before), ("after", &after)] {
        let mut s = session(10, 4, 2);
        let mut shares: Vec<(usize, usize)> = Vec::new();
        let mut prev = render(template, &s, 2, &spec);
        for n in 2..8 {
            iterate(&mut s, n);
            let next = render(template, &s, n + 1, &spec);
            shares.push((shared_prefix(&prev, &next), prev.len()));
            prev = next;
        }
        shares.sort_by_key(|(shared, len)| shared * 1000 / len);
        let pct = |(shared, len): (usize, usize)| format!("{shared} B ({}%)", shared * 100 / len);
        println!(
            "| {name} | {} | {} | {} |",
            kib(prev.len()),
            pct(shares[0]),
            pct(shares[shares.len() / 2])
        );
    }
    let bytes = tools_list_bytes(iteratr)?;
    println!("\n`tools/list` from `iteratr mcp serve`: {bytes} bytes.");
    Ok(())
}

/// The bytes of the `tools/list` result an MCP client gets.
fn tools_list_bytes(iteratr: &Path) -> anyhow::Result<usize> {
    let dir = tempfile::tempdir()?;
    let args = crate::sessions::Store::Embedded.args(&dir.path().join("data"));
    let server = crate::mcp::Server::start(iteratr, &args, "tools")?;
    let mut client = crate::keep_alive::KeepAlive::connect(server.port, crate::mcp::TOKEN);
    client.initialize();
    let reply = client.post(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    // The answer may come as one Server-Sent Event.
    let body = reply
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .find(|d| d.trim_start().starts_with('{'))
        .unwrap_or(&reply);
    let value: serde_json::Value = serde_json::from_str(body.trim())?;
    anyhow::ensure!(value["result"]["tools"].is_array(), "no tools in {reply}");
    Ok(serde_json::to_string(&value["result"])?.len())
}
