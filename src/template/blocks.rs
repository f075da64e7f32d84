//! The session state in the prompt: tasks, notes and the recent iterations. Whole while they fit
//! the prompt budget (`prompt_budget`, in estimated tokens); past it, what the iteration needs —
//! the next task and the head of the ready queue, everything in progress or blocked, the task the
//! worker holds, stuck notes and decisions before learnings and tips (newest first), the last
//! summaries — with counts for the rest and the tools that list it. Pending messages and answers
//! are never cut (the caller reserves their room).

use std::collections::BTreeSet;

use crate::session::display::task_line;
use crate::session::text::clip;
use crate::session::{Note, NoteType, SessionState, Task, TaskStatus, note_id};

/// The default budget of the session state in a prompt, in tokens: about 16,000 bytes, room for
/// ~50 tasks, ~30 notes and the summaries whole.
pub const DEFAULT_PROMPT_BUDGET: u32 = 4_000;
/// Bytes per token for the estimate (English text and code average about four).
const BYTES_PER_TOKEN: usize = 4;
/// Iteration summaries shown in `history`.
const HISTORY_LEN: usize = 5;
/// Ready tasks shown past the next one when the state is cut.
const READY_HEAD: usize = 10;
/// A summary's length (characters) in a cut state.
const SUMMARY_CLIP: usize = 600;
/// The shortest a task or note line can be: a state with more items than fit at this length
/// cannot be whole.
const MIN_LINE: usize = 10;

/// Estimated tokens of `text`.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(BYTES_PER_TOKEN)
}

/// The three state blocks of a prompt.
#[derive(Debug, Clone, Default)]
pub struct StateBlocks {
    pub tasks: String,
    pub notes: String,
    pub history: String,
}

/// The state blocks for a prompt whose budget is `budget` tokens (0: no budget), of which
/// `reserved` bytes are taken already (pending messages and answers); `claimed` is the task the
/// worker holds.
pub fn state_blocks(
    state: &SessionState,
    budget: u32,
    reserved: usize,
    claimed: Option<u64>,
) -> StateBlocks {
    let limit = (budget as usize)
        .saturating_mul(BYTES_PER_TOKEN)
        .saturating_sub(reserved);
    let items = state.tasks.len() + state.notes.len();
    if budget == 0 || items.saturating_mul(MIN_LINE) <= limit {
        let whole = StateBlocks {
            tasks: tasks_block(state),
            notes: prompt_notes(state.notes.values(), ""),
            history: history_block(state),
        };
        if budget == 0 || whole.tasks.len() + whole.notes.len() + whole.history.len() <= limit {
            return whole;
        }
    }
    Cut::choose(state, limit, claimed).render(state)
}

/// Tasks by status with ids, priorities and dependencies, for the prompt.
pub fn tasks_block(state: &SessionState) -> String {
    if state.tasks.is_empty() {
        return "(no tasks yet)".to_string();
    }
    let mut out = String::new();
    for status in TaskStatus::ALL {
        let tasks = state.tasks_with_status(status);
        if tasks.is_empty() {
            continue;
        }
        out.push_str(&format!("{status} ({}):\n", tasks.len()));
        for t in tasks {
            out.push_str(&format!("- {}\n", task_line(t)));
        }
    }
    if let Some(next) = state.next_task() {
        out.push_str(&format!("Next (task-next): {}\n", next.label()));
    }
    out.trim_end().to_string()
}

pub fn notes_block(state: &SessionState) -> String {
    if state.notes.is_empty() {
        return "(no notes yet)".to_string();
    }
    let mut out = String::new();
    for (note_type, notes) in state.notes_by_type() {
        out.push_str(&format!("{note_type}:\n"));
        for n in notes {
            out.push_str(&note_line(n));
        }
    }
    out.trim_end().to_string()
}

fn note_line(n: &Note) -> String {
    format!("- {} {}\n", note_id(n.id), n.content.replace('\n', "\n  "))
}

/// A note in the prompt: with its type, as the prompt lists notes oldest first.
fn typed_note_line(n: &Note) -> String {
    format!(
        "- {} ({}) {}\n",
        note_id(n.id),
        n.note_type,
        n.content.replace('\n', "\n  ")
    )
}

/// The notes of a prompt, oldest first, after `head`: a new note goes at the end, so
/// consecutive prompts share everything before it (a provider's prefix cache reuses it).
pub fn prompt_notes<'a>(notes: impl Iterator<Item = &'a Note>, head: &str) -> String {
    let mut out = head.to_string();
    for n in notes {
        out.push_str(&typed_note_line(n));
    }
    match out.trim_end() {
        "" => "(no notes yet)".to_string(),
        text => text.to_string(),
    }
}

pub fn history_block(state: &SessionState) -> String {
    let lines = history_lines(state, usize::MAX);
    if lines.is_empty() {
        return "(this is the first iteration)".to_string();
    }
    lines.join("\n")
}

/// The last summaries, oldest first, each at most `clip_at` characters.
fn history_lines(state: &SessionState, clip_at: usize) -> Vec<String> {
    let mut lines: Vec<String> = state
        .iterations
        .values()
        .rev()
        .filter(|it| it.summary.is_some() || it.outcome.is_some())
        .take(HISTORY_LEN)
        .map(|it| {
            let outcome = it.outcome.as_ref().map_or("running", |o| o.as_str());
            let summary = it.summary.as_deref().unwrap_or("(no summary recorded)");
            format!("- #{} ({outcome}): {}", it.number, clip(summary, clip_at))
        })
        .collect();
    lines.reverse();
    lines
}

/// What a cut state shows.
struct Cut {
    tasks: BTreeSet<u64>,
    notes: BTreeSet<u64>,
    history: Vec<String>,
}

/// Bytes left, and what took them.
struct Room(usize);

impl Room {
    /// Takes `n` bytes when they fit.
    fn fits(&mut self, n: usize) -> bool {
        let ok = n <= self.0;
        if ok {
            self.0 -= n;
        }
        ok
    }

    /// Takes `n` bytes whether they fit or not (what the iteration must see).
    fn force(&mut self, n: usize) {
        self.0 = self.0.saturating_sub(n);
    }
}

/// The share (percent) of the room left after the tasks the iteration needs that notes may take.
const NOTES_SHARE: usize = 50;
/// Room for the headers, the counts and the lines that say what was left out.
const FRAME: usize = 900;

impl Cut {
    fn choose(state: &SessionState, limit: usize, claimed: Option<u64>) -> Cut {
        let mut room = Room(limit.saturating_sub(FRAME));
        let mut cut = Cut {
            tasks: BTreeSet::new(),
            notes: BTreeSet::new(),
            history: Vec::new(),
        };
        let task_len = |t: &Task| task_line(t).len() + 3;
        // What the iteration must see, whatever it costs.
        let must = state
            .next_task()
            .into_iter()
            .chain(claimed.and_then(|id| state.tasks.get(&id)))
            .chain(state.tasks_with_status(TaskStatus::InProgress))
            .chain(state.tasks_with_status(TaskStatus::Blocked));
        for t in must {
            if cut.tasks.insert(t.id) {
                room.force(task_len(t));
            }
        }
        // The last summaries, newest first; the newest always.
        let mut history = history_lines(state, SUMMARY_CLIP);
        while let Some(line) = history.pop() {
            if cut.history.is_empty() {
                room.force(line.len() + 1);
            } else if !room.fits(line.len() + 1) {
                break;
            }
            cut.history.insert(0, line);
        }
        let must = cut.tasks.clone();
        let mut ready = state.ready_tasks().filter(|t| !must.contains(&t.id));
        for t in ready.by_ref().take(READY_HEAD) {
            if !room.fits(task_len(t)) {
                break;
            }
            cut.tasks.insert(t.id);
        }
        // Notes take at most a share of what is left, stuck notes and decisions first.
        let mut notes = Room(room.0 * NOTES_SHARE / 100);
        let before = notes.0;
        let newest_of = |types: [NoteType; 2]| {
            state
                .notes
                .values()
                .rev()
                .filter(move |n| types.contains(&n.note_type))
        };
        // Learnings and tips keep a third of it.
        let mut first = Room(notes.0 * 2 / 3);
        let share = first.0;
        cut.take_notes(newest_of([NoteType::Stuck, NoteType::Decision]), &mut first);
        notes.force(share - first.0);
        cut.take_notes(newest_of([NoteType::Learning, NoteType::Tip]), &mut notes);
        room.force(before - notes.0);
        // Then as much of the rest of the queue as fits.
        for t in ready {
            if !room.fits(task_len(t)) {
                break;
            }
            cut.tasks.insert(t.id);
        }
        cut
    }

    /// Takes notes in order while they fit.
    fn take_notes<'a>(&mut self, notes: impl Iterator<Item = &'a Note>, room: &mut Room) {
        for n in notes {
            if !room.fits(typed_note_line(n).len()) {
                break;
            }
            self.notes.insert(n.id);
        }
    }

    fn render(self, state: &SessionState) -> StateBlocks {
        let mut tasks = String::from(
            "(The session is larger than this prompt's budget: it shows what this iteration needs. \
             task-list lists every task (by status), note-list every note (by type).)\n",
        );
        for status in TaskStatus::ALL {
            let all = state.tasks_with_status(status);
            if all.is_empty() {
                continue;
            }
            let shown: Vec<&&Task> = all.iter().filter(|t| self.tasks.contains(&t.id)).collect();
            let left = all.len() - shown.len();
            if left == 0 {
                tasks.push_str(&format!("{status} ({}):\n", all.len()));
            } else if shown.is_empty() {
                tasks.push_str(&format!(
                    "{status} ({}): not listed here; task-list with status {} lists them\n",
                    all.len(),
                    status.as_str()
                ));
                continue;
            } else {
                tasks.push_str(&format!(
                    "{status} ({}, {} shown; task-list with status {} lists all):\n",
                    all.len(),
                    shown.len(),
                    status.as_str()
                ));
            }
            for t in shown {
                tasks.push_str(&format!("- {}\n", task_line(t)));
            }
        }
        if let Some(next) = state.next_task() {
            tasks.push_str(&format!("Next (task-next): {}\n", next.label()));
        }
        let left: Vec<String> = state
            .notes_by_type()
            .into_iter()
            .filter_map(|(note_type, all)| {
                let shown = all.iter().filter(|n| self.notes.contains(&n.id)).count();
                (shown < all.len())
                    .then(|| format!("{} of {} {note_type}", all.len() - shown, all.len()))
            })
            .collect();
        let head = if left.is_empty() {
            String::new()
        } else {
            format!(
                "(Older notes not shown: {}; note-list lists them, by type.)\n",
                left.join(", ")
            )
        };
        let notes = prompt_notes(
            state.notes.values().filter(|n| self.notes.contains(&n.id)),
            &head,
        );
        let history = if self.history.is_empty() {
            "(this is the first iteration)".to_string()
        } else {
            self.history.join("\n")
        };
        StateBlocks {
            tasks: tasks.trim_end().to_string(),
            notes,
            history,
        }
    }
}
