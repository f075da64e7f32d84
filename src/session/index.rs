//! Lookups that `apply` keeps up to date, so that rules and tools cost what their answer costs,
//! not what the session holds: tasks by status, by content (the duplicate rule), the ready queue
//! (`task-next`) and who depends on whom.
//!
//! Every change to a task goes through [`SessionState::unindex`] before and
//! [`SessionState::reindex`] after, so an index entry always matches the task as it is.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use super::event::TaskStatus;
use super::state::{SessionState, Task, normalize_content};

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct TaskIndex {
    /// Task ids by status, in the order of [`slot`].
    by_status: [BTreeSet<u64>; 5],
    /// Task ids (sorted) by a hash of their normalized content: 8 bytes a task instead of a
    /// copy of its text. A lookup compares the few candidates' contents.
    by_content: HashMap<u64, Vec<u64>>,
    /// Remaining tasks whose dependencies are all done, in the order `task-next` offers them.
    ready: BTreeSet<(Reverse<u8>, u64)>,
    /// For each task, the tasks that depend on it.
    dependents: HashMap<u64, BTreeSet<u64>>,
}

fn content_hash(normalized: &str) -> u64 {
    let mut h = DefaultHasher::new();
    normalized.hash(&mut h);
    h.finish()
}

fn slot(status: TaskStatus) -> usize {
    match status {
        TaskStatus::Remaining => 0,
        TaskStatus::InProgress => 1,
        TaskStatus::Completed => 2,
        TaskStatus::Blocked => 3,
        TaskStatus::Cancelled => 4,
    }
}

impl SessionState {
    /// Takes task `id` out of the indexes, before it changes or goes.
    pub(super) fn unindex(&mut self, id: u64) {
        let Some(t) = self.tasks.get(&id) else {
            return;
        };
        let ix = &mut self.index;
        ix.by_status[slot(t.status)].remove(&id);
        let key = content_hash(&normalize_content(&t.content));
        if let Some(ids) = ix.by_content.get_mut(&key) {
            if let Ok(at) = ids.binary_search(&id) {
                ids.remove(at);
            }
            if ids.is_empty() {
                ix.by_content.remove(&key);
            }
        }
        ix.ready.remove(&(Reverse(t.priority), id));
    }

    /// Puts task `id` back into the indexes as it is now.
    pub(super) fn reindex(&mut self, id: u64) {
        let Some(t) = self.tasks.get(&id) else {
            return;
        };
        let ready = self.is_ready(t);
        let key = content_hash(&normalize_content(&t.content));
        let (status, priority) = (t.status, t.priority);
        let ix = &mut self.index;
        ix.by_status[slot(status)].insert(id);
        let ids = ix.by_content.entry(key).or_default();
        if let Err(at) = ids.binary_search(&id) {
            ids.insert(at, id);
        }
        if ready {
            ix.ready.insert((Reverse(priority), id));
        }
    }

    /// Re-checks whether the tasks that depend on `id` are ready (after `id` changed status).
    pub(super) fn reindex_dependents(&mut self, id: u64) {
        let dependents: Vec<u64> = self
            .index
            .dependents
            .get(&id)
            .map(|d| d.iter().copied().collect())
            .unwrap_or_default();
        for d in dependents {
            self.unindex(d);
            self.reindex(d);
        }
    }

    /// Records that `task` depends on `on`.
    pub(super) fn index_dependency(&mut self, task: u64, on: u64) {
        self.index.dependents.entry(on).or_default().insert(task);
    }

    /// Forgets the dependency links of a task that is gone, and returns the tasks that depended
    /// on it.
    pub(super) fn unindex_dependencies(&mut self, gone: &Task) -> BTreeSet<u64> {
        for on in &gone.depends_on {
            if let Some(d) = self.index.dependents.get_mut(on) {
                d.remove(&gone.id);
                if d.is_empty() {
                    self.index.dependents.remove(on);
                }
            }
        }
        self.index.dependents.remove(&gone.id).unwrap_or_default()
    }

    fn is_ready(&self, t: &Task) -> bool {
        // A task a worker completed but never integrated (it stopped first) is to be taken up
        // again: its next holder integrates its work, or does it again.
        let stranded =
            t.status == TaskStatus::Completed && t.worker.is_some() && t.integrated.is_none();
        (t.status == TaskStatus::Remaining || stranded)
            && t.depends_on.iter().all(|d| {
                self.tasks
                    .get(d)
                    .is_none_or(|dep| dep.releases_dependents())
            })
    }

    /// Every remaining task whose dependencies are done (and every task a worker completed but
    /// did not integrate), in the order `next_task` picks them:
    /// the highest priority first, then the oldest.
    pub fn ready_tasks(&self) -> impl Iterator<Item = &Task> {
        self.index
            .ready
            .iter()
            .filter_map(|(_, id)| self.tasks.get(id))
    }

    /// The tasks with this status, oldest first.
    pub fn tasks_with_status(&self, status: TaskStatus) -> Vec<&Task> {
        self.index.by_status[slot(status)]
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .collect()
    }

    pub fn count(&self, status: TaskStatus) -> usize {
        self.index.by_status[slot(status)].len()
    }

    /// The tasks whose content says the same as `content` (case, spacing and trailing
    /// punctuation aside), oldest first.
    pub fn tasks_with_content(&self, content: &str) -> impl Iterator<Item = &Task> {
        let normalized = normalize_content(content);
        self.index
            .by_content
            .get(&content_hash(&normalized))
            .into_iter()
            .flatten()
            .filter_map(|id| self.tasks.get(id))
            .filter(move |t| normalize_content(&t.content) == normalized)
    }
}
