//! Prompt rendering against golden files: the built-in template and one written in the original
//! iteratr's Go-template style. Regenerate with `ITERATR_UPDATE_GOLDEN=1 cargo test --test it templates`.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use iteratr::session::{Author, Command, Ctx, NewTask, NoteType, SessionState, TaskStatus, decide};
use iteratr::template::{
    DEFAULT_TEMPLATE, PromptTemplate, PromptVars, history_block, prompt_notes, tasks_block,
};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn check(name: &str, rendered: &str) {
    let path = golden(name);
    if std::env::var_os("ITERATR_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, rendered).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert!(expected == rendered, "{name} drifted; got:\n{rendered}");
}

/// A session two iterations in, built through the domain's own commands.
fn state() -> SessionState {
    let mut s = SessionState::default();
    let run = |s: &mut SessionState, cmd: Command| {
        let events = decide(
            s,
            &cmd,
            Ctx {
                now_ms: 1_764_000_000_000,
                by: Author::Agent,
            },
        )
        .unwrap();
        for e in events {
            let seq = s.last_seq + 1;
            s.apply(seq, &e);
        }
    };
    run(
        &mut s,
        Command::StartIteration {
            number: 0,
            planning: false,
            worker: None,
        },
    );
    let mut lexer = NewTask::new("Write the lexer");
    lexer.priority = Some(4);
    let mut parser = NewTask::new("Write the parser");
    parser.depends_on = vec!["TAS-1".into()];
    run(
        &mut s,
        Command::AddTasks(vec![lexer, parser, NewTask::new("Document the grammar")]),
    );
    run(
        &mut s,
        Command::AddNote {
            note_type: NoteType::Decision,
            content: "Hand-written lexer".into(),
        },
    );
    run(
        &mut s,
        Command::SummarizeIteration {
            summary: "Planned the work".into(),
            worker: None,
        },
    );
    run(
        &mut s,
        Command::FinishIteration {
            number: 0,
            outcome: "end_turn".into(),
            detail: None,
            commit: None,
            usage: None,
            auto_allowed: 0,
        },
    );
    run(
        &mut s,
        Command::StartIteration {
            number: 1,
            planning: false,
            worker: None,
        },
    );
    run(
        &mut s,
        Command::SetStatus {
            task: "TAS-1".into(),
            status: TaskStatus::Completed,
        },
    );
    run(
        &mut s,
        Command::AddNote {
            note_type: NoteType::Tip,
            content: "Run cargo test -q".into(),
        },
    );
    run(
        &mut s,
        Command::SummarizeIteration {
            summary: "Lexer done and tested".into(),
            worker: None,
        },
    );
    run(
        &mut s,
        Command::FinishIteration {
            number: 1,
            outcome: "end_turn".into(),
            detail: None,
            commit: None,
            usage: None,
            auto_allowed: 0,
        },
    );
    s
}

fn vars() -> PromptVars {
    let s = state();
    PromptVars {
        session: "parser".into(),
        iteration: "2".into(),
        spec: "# Parser\nParse the toy language.\n".into(),
        notes: prompt_notes(s.notes.values(), ""),
        tasks: tasks_block(&s),
        history: history_block(&s),
        extra: "## Extra instructions\nKeep commits small.".into(),
        port: "41234".into(),
        binary: "/usr/local/bin/iteratr".into(),
        messages: String::new(),
    }
}

/// How the prompt reads to the model: a blank line before every section heading, and one
/// newline at the end.
#[track_caller]
fn assert_reads_well(rendered: &str) {
    let lines: Vec<&str> = rendered.lines().collect();
    for (i, line) in lines.iter().enumerate().skip(1) {
        if line.starts_with("## ") {
            assert_eq!(
                lines[i - 1],
                "",
                "no blank line before {line:?}:\n{rendered}"
            );
        }
    }
    assert!(
        rendered.ends_with('\n') && !rendered.ends_with("\n\n"),
        "the prompt should end with one newline: {:?}",
        &rendered[rendered.len().saturating_sub(40)..]
    );
}

#[test]
fn the_default_template_renders_as_pinned() {
    let t = PromptTemplate::new(DEFAULT_TEMPLATE, "built-in").unwrap();
    let rendered = t.render(&vars()).unwrap();
    assert_reads_well(&rendered);
    // Without extra blocks, and with several (as the build joins them).
    let plain = t
        .render(&PromptVars {
            extra: String::new(),
            ..vars()
        })
        .unwrap();
    assert_reads_well(&plain);
    assert!(plain.ends_with("## Now: iteratr session parser, iteration 2\n"));
    let several = t
        .render(&PromptVars {
            extra: "## This iteration\nPlan.\n\n## Extra instructions\nKeep commits small.\n\n\
                    ## Messages from the user\n- Use British spelling"
                .into(),
            ..vars()
        })
        .unwrap();
    assert_reads_well(&several);
    for part in [
        "# iteratr session parser\n",
        "\n\n## Now: iteratr session parser, iteration 2\n",
        "- #0 (end_turn): Planned the work\n- #1 (end_turn): Lexer done and tested",
        "remaining (2):\n- TAS-2 [p2] Write the parser (after TAS-1)\n- TAS-3 [p2] Document the grammar",
        "Next (task-next): TAS-2",
        "- NOT-1 (decision) Hand-written lexer\n- NOT-2 (tip) Run cargo test -q",
        "session-complete",
        "Keep commits small.",
    ] {
        assert!(rendered.contains(part), "missing {part:?}");
    }
    check("prompt-default.txt", &rendered);
}

#[test]
fn a_template_in_the_original_style_renders_unchanged() {
    let text = std::fs::read_to_string(golden("original-style.template")).unwrap();
    let t = PromptTemplate::new(&text, "original-style.template").unwrap();
    let rendered = t.render(&vars()).unwrap();
    assert!(rendered.starts_with("You are working on session parser (iteration #2)."));
    assert!(rendered.contains("http://127.0.0.1:41234/mcp (binary: /usr/local/bin/iteratr)"));
    check("prompt-original-style.txt", &rendered);
}

#[test]
fn gen_template_writes_the_built_in_template() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Process::new(crate::common::bin())
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["gen-template"]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".iteratr.template")).unwrap(),
        DEFAULT_TEMPLATE
    );
    let again = run(&["gen-template"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already; pass --force"));
    let out = run(&["gen-template", "-o", "custom.hbs"]);
    assert!(out.status.success());
    let out = run(&["gen-template", "-o", "-"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), DEFAULT_TEMPLATE);
    // What it writes is a template build accepts.
    PromptTemplate::load(&dir.path().join("custom.hbs")).unwrap();
}
