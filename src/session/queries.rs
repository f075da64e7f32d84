//! Questions the rest of iteratr asks of a session's state: what to do next, what a typed id
//! means, how the tasks and notes group. Answered from the fold, never by scanning the log.

use std::collections::BTreeSet;

use super::error::DomainError;
use super::event::{NoteType, TaskStatus};
use super::state::{Note, SessionState, Task, note_id, task_id};
use super::usage::Usage;

impl SessionState {
    /// The iteration that is running now, if any (the latest, when workers run several).
    pub fn running_iteration(&self) -> Option<u32> {
        self.running.last().copied()
    }

    /// The oldest iteration running now, if any (workers may run several).
    pub fn oldest_running_iteration(&self) -> Option<u32> {
        self.running.first().copied()
    }

    /// Tokens and cost of every iteration, added up.
    pub fn usage(&self) -> Usage {
        let mut total = Usage::default();
        for u in self.iterations.values().filter_map(|it| it.usage.as_ref()) {
            total.add(u);
        }
        total
    }

    /// The highest iteration number recorded (running or not).
    pub fn latest_iteration(&self) -> Option<u32> {
        self.iterations.keys().next_back().copied()
    }

    /// The iteration an agent's summary is of: a worker's own, running or (recorded as
    /// interrupted meanwhile) its last, never another worker's; else the running one, or the
    /// latest.
    pub fn iteration_to_summarize(&self, worker: Option<&str>) -> u32 {
        let own = match worker {
            Some(w) => self.running_iteration_of(Some(w)).or_else(|| {
                let mut newest_first = self.iterations.iter().rev();
                newest_first
                    .find(|(_, it)| it.worker.as_deref() == Some(w))
                    .map(|(n, _)| *n)
            }),
            None => self.running_iteration_of(None).or(self.running_iteration()),
        };
        own.or(self.latest_iteration()).unwrap_or(1)
    }

    /// The task with this content (same case, spacing and trailing punctuation rules as the
    /// duplicate check), an open one first.
    pub fn task_with_content(&self, content: &str) -> Option<&Task> {
        let mut same = self.tasks_with_content(content);
        let first = same.next()?;
        Some(
            std::iter::once(first)
                .chain(same)
                .find(|t| t.status.is_open())
                .unwrap_or(first),
        )
    }

    /// Whether the loop is past planning: a planning iteration ended by the agent's own stop, or
    /// work iterations already ran. A planning iteration that failed or was interrupted is redone.
    pub fn planning_done(&self) -> bool {
        self.iterations
            .values()
            .any(|it| !it.planning || it.succeeded())
    }

    /// Does `from` depend on `to`, directly or through other tasks?
    pub fn depends_transitively(&self, from: u64, to: u64) -> bool {
        self.dependency_path(from, to).is_some()
    }

    /// A chain of dependencies leading from `from` to `to`, both included.
    pub fn dependency_path(&self, from: u64, to: u64) -> Option<Vec<u64>> {
        let mut stack = vec![vec![from]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            let last = *path.last()?;
            if last == to {
                return Some(path);
            }
            if !seen.insert(last) {
                continue;
            }
            if let Some(t) = self.tasks.get(&last) {
                for d in &t.depends_on {
                    let mut next = path.clone();
                    next.push(*d);
                    stack.push(next);
                }
            }
        }
        None
    }

    /// Finds a task from what a model or a person typed: `TAS-12`, `tas-12`, `TAS12`, `12`, or a
    /// prefix of exactly one id.
    pub fn resolve_task(&self, given: &str) -> Result<u64, DomainError> {
        let (norm, number) = normalize_ref(given, "TAS")?;
        if let Some(n) = number
            && self.tasks.contains_key(&n)
        {
            return Ok(n);
        }
        let candidates: Vec<u64> = self
            .tasks
            .keys()
            .copied()
            .filter(|id| task_id(*id).starts_with(&norm))
            .collect();
        match candidates.as_slice() {
            [one] => Ok(*one),
            [] => Err(DomainError::UnknownTask(given.trim().to_string())),
            many => Err(DomainError::AmbiguousTask {
                given: given.trim().to_string(),
                candidates: many.iter().map(|n| task_id(*n)).collect(),
            }),
        }
    }

    pub fn resolve_note(&self, given: &str) -> Result<u64, DomainError> {
        let unknown = || DomainError::UnknownNote(given.trim().to_string());
        let (norm, number) = normalize_ref(given, "NOT").map_err(|_| unknown())?;
        if let Some(n) = number
            && self.notes.contains_key(&n)
        {
            return Ok(n);
        }
        let candidates: Vec<u64> = self
            .notes
            .keys()
            .copied()
            .filter(|id| note_id(*id).starts_with(&norm))
            .collect();
        match candidates.as_slice() {
            [one] => Ok(*one),
            _ => Err(unknown()),
        }
    }

    /// The iteration `worker` runs now (`None`: the single build's).
    pub fn running_iteration_of(&self, worker: Option<&str>) -> Option<u32> {
        self.running
            .iter()
            .rev()
            .find(|n| {
                self.iterations
                    .get(n)
                    .is_some_and(|it| it.worker.as_deref() == worker)
            })
            .copied()
    }

    /// The task to work on next: the highest priority, then the oldest, among remaining tasks
    /// whose dependencies are all completed or cancelled.
    pub fn next_task(&self) -> Option<&Task> {
        self.ready_tasks().next()
    }

    /// Tasks that still have to be done before the session may complete.
    pub fn unfinished_tasks(&self) -> Vec<&Task> {
        let mut open = self.tasks_with_status(TaskStatus::Remaining);
        open.extend(self.tasks_with_status(TaskStatus::InProgress));
        open.sort_by_key(|t| t.id);
        open
    }

    /// Notes grouped by type (in `NoteType::ALL` order), leaving out empty groups.
    pub fn notes_by_type(&self) -> Vec<(NoteType, Vec<&Note>)> {
        NoteType::ALL
            .into_iter()
            .map(|t| {
                (
                    t,
                    self.notes
                        .values()
                        .filter(|n| n.note_type == t)
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, notes)| !notes.is_empty())
            .collect()
    }
}

/// Upper-cases a reference and, where it names a number, extracts it: `tas12` → (`TAS-12`, 12).
fn normalize_ref(given: &str, prefix: &str) -> Result<(String, Option<u64>), DomainError> {
    let up = given.trim().to_ascii_uppercase();
    if up.is_empty() {
        return Err(DomainError::MalformedTaskId(given.to_string()));
    }
    let rest = up
        .strip_prefix(prefix)
        .map(|r| r.trim_start_matches(['-', '_', ' ']))
        .unwrap_or(&up);
    if rest.chars().all(|c| c.is_ascii_digit()) {
        let number = rest.parse::<u64>().ok();
        let norm = if rest.is_empty() {
            format!("{prefix}-")
        } else {
            format!("{prefix}-{rest}")
        };
        return Ok((norm, number));
    }
    // Some prefix of an id that is not plain digits ("TA", "T"): match on the raw text.
    if format!("{prefix}-").starts_with(&up) {
        return Ok((up, None));
    }
    Err(DomainError::MalformedTaskId(given.trim().to_string()))
}
