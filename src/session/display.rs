//! How the session reads to people and to the model, said the same way everywhere (tool results,
//! `status`, the prompt, the full-screen interface, progress lines): task lines, counts, who holds
//! the session, iterations.

use std::fmt::Write as _;

use super::event::TaskStatus;
use super::lease::Lease;
use super::state::{SessionState, Task, task_id};
use super::text::{format_duration, one_line};

/// `TAS-4 [p2] Write the parser (after TAS-1, TAS-2)`
pub fn task_line(t: &Task) -> String {
    let deps = if t.depends_on.is_empty() {
        String::new()
    } else {
        let ids: Vec<String> = t.depends_on.iter().map(|d| task_id(*d)).collect();
        format!(" (after {})", ids.join(", "))
    };
    format!(
        "{} [p{}] {}{deps}",
        t.label(),
        t.priority,
        one_line(&t.content)
    )
}

/// Every status with its count, as tool results end: "3 remaining, 1 in progress, 0 completed,
/// 0 blocked, 0 cancelled".
pub fn all_counts(state: &SessionState) -> String {
    [
        TaskStatus::Remaining,
        TaskStatus::InProgress,
        TaskStatus::Completed,
        TaskStatus::Blocked,
        TaskStatus::Cancelled,
    ]
    .into_iter()
    .map(|s| format!("{} {}", state.count(s), s.as_str().replace('_', " ")))
    .collect::<Vec<_>>()
    .join(", ")
}

/// How many tasks are in each status; shown as one line: "5 tasks: 1 in progress, 2 remaining,
/// 2 completed" (and serialised as that line, as `--json` output always had it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskCounts {
    /// Counts in the order of [`TaskStatus::ALL`].
    pub by_status: [usize; 5],
}

impl TaskCounts {
    pub fn of(state: &SessionState) -> Self {
        TaskCounts {
            by_status: TaskStatus::ALL.map(|s| state.count(s)),
        }
    }

    pub fn total(&self) -> usize {
        self.by_status.iter().sum()
    }
}

impl std::fmt::Display for TaskCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = TaskStatus::ALL
            .into_iter()
            .zip(self.by_status)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| format!("{n} {}", s.as_str().replace('_', " ")))
            .collect();
        let total = self.total();
        if parts.is_empty() {
            f.write_str("no tasks")
        } else {
            write!(
                f,
                "{total} task{}: {}",
                if total == 1 { "" } else { "s" },
                parts.join(", ")
            )
        }
    }
}

impl serde::Serialize for TaskCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One line of counts: "5 tasks: 1 in progress, 2 remaining, 2 completed".
pub fn task_counts(state: &SessionState) -> String {
    TaskCounts::of(state).to_string()
}

/// Who holds a lease and since when: "iteratr 0.1.0 (pid 42 on box), for 3m 2s".
pub fn held_by(lease: &Lease, now_ms: i64) -> String {
    format!(
        "{}, for {}",
        lease.holder,
        format_duration(now_ms - lease.acquired_at_ms)
    )
}

/// The session's iterations, said the same way everywhere: "4 iterations + planning, 1 failed".
/// Work iterations and planning attempts add up to the rows `status` lists; failed ones are among them.
pub fn iteration_counts(state: &SessionState) -> String {
    let its = state.iterations.values();
    let planning = its.clone().filter(|it| it.planning).count();
    let work = state.iterations.len() - planning;
    let failed = its.filter(|it| it.failed()).count();
    let mut out = format!("{work} iteration{}", if work == 1 { "" } else { "s" });
    match planning {
        0 => {}
        1 => out.push_str(" + planning"),
        n => {
            let _ = write!(out, " + {n} planning");
        }
    }
    if failed > 0 {
        let _ = write!(out, ", {failed} failed");
    }
    out
}
