//! Adding tasks (one, or a batch that is all or nothing): the checks of their content, priority
//! and dependencies, including those on tasks of the same batch; and what counts as a duplicate.

use std::collections::BTreeSet;

use super::command::NewTask;
use super::error::DomainError;
use super::event::TaskStatus;
use super::event_kind::EventKind;
use super::limits::{self, check_priority, check_text};
use super::state::{SessionState, normalize_content};

pub(super) fn add_tasks(
    state: &SessionState,
    tasks: &[NewTask],
) -> Result<Vec<EventKind>, DomainError> {
    if tasks.is_empty() {
        return Err(DomainError::EmptyBatch);
    }
    if tasks.len() > limits::BATCH_MAX {
        return Err(DomainError::BatchTooLarge(tasks.len()));
    }
    let batch = tasks.len() > 1;
    let wrap = |index: usize, e: DomainError| {
        if batch {
            DomainError::BatchItem {
                index: index + 1,
                source: Box::new(e),
            }
        } else {
            e
        }
    };
    let mut out = Vec::with_capacity(tasks.len());
    let mut seen: Vec<String> = Vec::with_capacity(tasks.len());
    for (next, (index, task)) in (state.next_task_number()..).zip(tasks.iter().enumerate()) {
        let one = || -> Result<EventKind, DomainError> {
            let content = check_text("task content", &task.content, limits::TASK_CONTENT_MAX)?;
            if let Some(e) = duplicate_of(state, &content, None) {
                return Err(e);
            }
            let priority = check_priority(task.priority.unwrap_or(2))?;
            if task.depends_on.len() > limits::DEPENDENCIES_MAX {
                return Err(DomainError::TooManyDependencies);
            }
            let mut deps = BTreeSet::new();
            for d in &task.depends_on {
                // A dependency may also name a task added earlier in this batch: its id is known
                // (the batch takes the next numbers in order).
                let resolved = state.resolve_task(d).or_else(|e| {
                    batch_number(d)
                        .filter(|n| *n >= state.next_task_number() && *n < next)
                        .ok_or(e)
                })?;
                deps.insert(resolved);
            }
            Ok(EventKind::TaskAdded {
                task: next,
                content,
                status: task.status.unwrap_or(TaskStatus::Remaining),
                priority,
                depends_on: deps.into_iter().collect(),
            })
        };
        let kind = one().map_err(|e| wrap(index, e))?;
        if let EventKind::TaskAdded { content, .. } = &kind {
            let key = normalize_content(content);
            if let Some(first) = seen.iter().position(|s| *s == key) {
                return Err(DomainError::DuplicateInBatch {
                    first: first + 1,
                    second: index + 1,
                });
            }
            seen.push(key);
        }
        out.push(kind);
    }
    Ok(out)
}

/// The number in `TAS-12`, `tas12` or `12`.
fn batch_number(given: &str) -> Option<u64> {
    let up = given.trim().to_ascii_uppercase();
    let digits = up
        .strip_prefix("TAS")
        .map(|r| r.trim_start_matches(['-', '_', ' ']))
        .unwrap_or(&up);
    digits.parse().ok()
}

/// The open task (other than `except`) whose content says the same as `content`, as an error.
pub(super) fn duplicate_of(
    state: &SessionState,
    content: &str,
    except: Option<u64>,
) -> Option<DomainError> {
    state
        .tasks_with_content(content)
        .find(|t| t.status.is_open() && Some(t.id) != except)
        .map(|t| DomainError::DuplicateTask {
            existing: t.label(),
            status: t.status.to_string(),
        })
}
