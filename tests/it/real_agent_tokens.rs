//! A 20-task build with the real opencode and its fake LLM, with the built-in prompt (stable parts
//! first, the state within the budget) and with the prompt of before (the original's order, no
//! budget), side by side: each completes every task, and each task gets its share of the usage
//! opencode reported. The input the model received is printed (BENCHMARKS.md, issue 33): the
//! bytes of every request's messages, summed, and the part of each iteration's first request that
//! repeats the previous iteration's first request from its start (what a prefix cache reuses).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::common::fake_llm::{Api, FakeLlm, Step, prompt, result};
use crate::common::real_agent::{Project, Run, opencode, opencode_env, quote};

const TASKS: usize = 20;

fn spec() -> String {
    let mut spec =
        String::from("# Parser\n\nA parser for a toy language, built one construct at a time.\n\n");
    for i in 1..=40 {
        spec.push_str(&format!(
            "Requirement {i}: construct {i} parses into its node and a malformed one is an error with its position.\n"
        ));
    }
    spec.push_str("\n## Tasks\n\n");
    for i in 1..=TASKS {
        spec.push_str(&format!("- [ ] Parse construct {i}\n"));
    }
    spec
}

/// Planning, then one task an iteration: task-next, in progress, a note, completed, a summary;
/// the last iteration completes the session.
fn script(session: &str) -> Vec<Step> {
    let status = |i: usize, s: &str| json!({"id": format!("TAS-{i}"), "status": s});
    let mut steps = vec![prompt("planning iteration").say("Planned.")];
    for i in 1..=TASKS {
        steps.extend([
            prompt(&format!("session {session}, iteration {i}\n")).call("iteratr_task-next", json!({})),
            result(&format!("Next: TAS-{i}")).call("iteratr_task-status", status(i, "in_progress")),
            result("is now in_progress").call(
                "iteratr_note-add",
                json!({"type": "learning", "content": format!("Construct {i} shares the expression parser")}),
            ),
            result("Added NOT-").call("iteratr_task-status", status(i, "completed")),
            result("is now completed").call(
                "iteratr_iteration-summary",
                json!({"summary": format!("Parsed construct {i} and tested it")}),
            ),
        ]);
        steps.push(if i == TASKS {
            result("Recorded the summary")
                .call("iteratr_session-complete", json!({"summary": "all parsed"}))
        } else {
            result("Recorded the summary").say("Done.")
        });
    }
    steps.push(result("Session complete").say("All done."));
    steps
}

struct Figures {
    requests: usize,
    bytes: usize,
    first_bytes: usize,
    shared: usize,
}

/// What the model received: every main request's messages, and how much of each iteration's
/// first request repeats the previous one's from the start.
fn figures(llm: &FakeLlm) -> Figures {
    let main: Vec<serde_json::Value> = llm
        .requests()
        .into_iter()
        .filter(|r| r.main)
        .map(|r| r.body["messages"].clone())
        .collect();
    // An iteration's first request is the one whose last message is the prompt: the system
    // prompt and the user's message, nothing after.
    let firsts: Vec<String> = main
        .iter()
        .filter(|m| m.as_array().is_some_and(|m| m.len() <= 2))
        .map(|m| m.to_string())
        .collect();
    let main: Vec<String> = main.iter().map(|m| m.to_string()).collect();
    let shared = firsts
        .windows(2)
        .map(|w| {
            w[0].bytes()
                .zip(w[1].bytes())
                .take_while(|(a, b)| a == b)
                .count()
        })
        .sum();
    Figures {
        requests: main.len(),
        bytes: main.iter().map(String::len).sum(),
        first_bytes: firsts.iter().skip(1).map(|m| m.len()).sum(),
        shared,
    }
}

fn build(template: Option<&Path>) -> Figures {
    let session = "tokens";
    let p = Project::new(session, &spec());
    let llm = FakeLlm::start(Api::OpenAi, script(session));
    let agent = format!("{} acp", quote(&opencode()));
    let template = template.map(|t| t.display().to_string());
    let mut args = vec!["-m", "fakellm/scripted", "--iteration-timeout", "60s"];
    if let Some(t) = &template {
        args.extend(["-t", t, "--prompt-budget", "0"]);
    }
    let mut cmd = p.build(&agent, &args);
    opencode_env(&mut cmd, &llm, "other");
    let (_, context) = Run::start(cmd).script_to_the_end(&llm, &p, Duration::from_secs(400));
    let s = p.status();
    assert_eq!(s["counts"]["completed"], TASKS, "{context}");
    // opencode reports usage for each request (the fake LLM says 100 + 10 tokens): each task
    // gets what its iteration used, planning none.
    for t in s["tasks"].as_array().unwrap() {
        let used = t["usage"]["input_tokens"].as_u64().unwrap_or(0);
        assert!(used >= 100 && used.is_multiple_of(100), "{t}\n{context}");
    }
    figures(&llm)
}

#[test]
fn a_20_task_build_with_opencode_and_what_its_model_received() {
    let before: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bench/prompt_before.hbs");
    let earlier = std::thread::spawn(move || build(Some(&before)));
    let now = build(None);
    let earlier = earlier.join().unwrap();
    for (name, f) in [("before", &earlier), ("after", &now)] {
        eprintln!(
            "{name}: {} requests, {} bytes of messages (~{} tokens); iterations' first requests: {} bytes, {} ({}%) repeating the previous one's start",
            f.requests,
            f.bytes,
            f.bytes / 4,
            f.first_bytes,
            f.shared,
            f.shared * 100 / f.first_bytes.max(1)
        );
    }
}
