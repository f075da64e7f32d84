//! Sessions built in memory through the domain's own commands, for the prompt's tests and the
//! benchmark of its size.

use iteratr::session::{Author, Command, Ctx, NewTask, NoteType, SessionState, TaskStatus, decide};

/// Runs `cmd` on the state, as the log would fold its events.
pub fn run(s: &mut SessionState, cmd: Command) {
    let events = decide(
        s,
        &cmd,
        Ctx {
            now_ms: 1_764_000_000_000,
            by: Author::Agent,
        },
    )
    .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    for e in events {
        let seq = s.last_seq + 1;
        s.apply(seq, &e);
    }
}

/// A session with `tasks` tasks (one in ten with a dependency on the one before), `notes` notes
/// of every type, and `iterations` finished iterations with summaries.
pub fn session(tasks: usize, notes: usize, iterations: u32) -> SessionState {
    let mut s = SessionState::default();
    let all: Vec<NewTask> = (1..=tasks)
        .map(|i| {
            let mut t = NewTask::new(format!(
                "Task {i}: implement part {i} of the parser and its tests"
            ));
            if i % 10 == 0 {
                t.depends_on = vec![format!("TAS-{}", i - 1)];
            }
            t
        })
        .collect();
    for chunk in all.chunks(100) {
        run(&mut s, Command::AddTasks(chunk.to_vec()));
    }
    for i in 1..=notes {
        run(
            &mut s,
            Command::AddNote {
                note_type: NoteType::ALL[i % 4],
                content: format!(
                    "Note {i}: something the next iteration should know about part {i}"
                ),
            },
        );
    }
    for n in 0..iterations {
        iteration(&mut s, n, &format!("Iteration {n} did its part"), |_| {});
    }
    s
}

/// Iteration `n` (planning when 0): started, `work` done, summarized and finished.
pub fn iteration(
    s: &mut SessionState,
    n: u32,
    summary: &str,
    work: impl FnOnce(&mut SessionState),
) {
    run(
        s,
        Command::StartIteration {
            number: n,
            planning: n == 0,
            worker: None,
        },
    );
    work(s);
    run(
        s,
        Command::SummarizeIteration {
            summary: summary.to_string(),
            worker: None,
        },
    );
    run(
        s,
        Command::FinishIteration {
            number: n,
            outcome: "end_turn".into(),
            detail: None,
            commit: None,
            usage: None,
            auto_allowed: 0,
        },
    );
}

pub fn set(s: &mut SessionState, task: usize, status: TaskStatus) {
    run(
        s,
        Command::SetStatus {
            task: format!("TAS-{task}"),
            status,
        },
    );
}
