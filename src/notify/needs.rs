//! What waits for a person, followed through the session log: the log is folded as every front
//! end folds it, and after each event that changes tasks or permissions the states that need a
//! person (a request that waits, a blocked task) are compared with those already known. Only the
//! new ones are told; one that ends (answered, unblocked) is forgotten, so it is told again if it
//! comes back. What already waited when the build started is known, not told.

use std::collections::BTreeSet;

use super::Trigger;
use super::message::Item;
use crate::session::text::clip;
use crate::session::{
    Event, Part, SessionState, TaskStatus, items_line, permission_id, question_id, task_id,
};

/// A state that needs a person, while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Need {
    Permission(u64),
    Blocked(u64),
    /// A question of the agent (`ask-questions`) that waits for an answer.
    Question(u64),
}

/// Which of the session's news this process tells, so that a request is told once however many
/// processes run workers: each tells its own agents' requests; the build that holds the session
/// also tells what concerns the whole session (blocked tasks, its end).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    /// The workers this process runs (none: a single build's one agent).
    pub workers: Vec<String>,
    /// It is the session's build (not an `iteratr worker` that joined it).
    pub builder: bool,
}

impl Scope {
    fn owns_request(&self, worker: Option<&str>) -> bool {
        match worker {
            None => self.workers.is_empty(),
            Some(w) => self.workers.iter().any(|n| n == w),
        }
    }
}

/// The session folded, and what of it needs a person.
pub(crate) struct Needs {
    state: SessionState,
    known: BTreeSet<Need>,
    scope: Scope,
    session: String,
}

impl Needs {
    /// From the session as it is now: what waits already is known, not news.
    pub(crate) fn new(state: SessionState, scope: Scope, session: &str) -> Needs {
        let mut needs = Needs {
            state,
            known: BTreeSet::new(),
            scope,
            session: session.to_string(),
        };
        needs.known = needs.current();
        needs
    }

    pub(crate) fn last_seq(&self) -> u64 {
        self.state.last_seq
    }

    /// Whether the session is complete (a worker that stops then is no news).
    pub(crate) fn completed(&self) -> bool {
        self.state.completed.is_some()
    }

    /// Whether this state still needs a person.
    pub(crate) fn still(&self, need: Need) -> bool {
        self.known.contains(&need)
    }

    /// Folds in one event; what newly needs a person.
    pub(crate) fn observe(&mut self, seq: u64, event: &Event) -> Vec<Item> {
        self.state.apply(seq, event);
        let relevant = event
            .kind
            .changes()
            .iter()
            .any(|p| matches!(p, Part::Tasks | Part::Permissions | Part::Questions));
        if !relevant {
            return Vec::new();
        }
        let now = self.current();
        let new: Vec<Need> = now.difference(&self.known).copied().collect();
        self.known = now;
        new.into_iter().filter_map(|n| self.item(n)).collect()
    }

    fn current(&self) -> BTreeSet<Need> {
        let mut out: BTreeSet<Need> = self
            .state
            .permissions
            .waiting
            .iter()
            .filter(|(_, w)| self.scope.owns_request(w.worker.as_deref()))
            .map(|(id, _)| Need::Permission(*id))
            .collect();
        out.extend(
            self.state
                .questions
                .open()
                .filter(|q| self.scope.owns_request(q.worker.as_deref()))
                .map(|q| Need::Question(q.id)),
        );
        if self.scope.builder {
            out.extend(
                self.state
                    .tasks_with_status(TaskStatus::Blocked)
                    .into_iter()
                    .map(|t| Need::Blocked(t.id)),
            );
        }
        out
    }

    fn item(&self, need: Need) -> Option<Item> {
        let session = &self.session;
        Some(match need {
            Need::Permission(n) => {
                let w = self.state.permissions.waiting.get(&n)?;
                let id = permission_id(n);
                let who = w
                    .worker
                    .as_ref()
                    .map_or("the agent".to_string(), |w| format!("worker {w}'s agent"));
                let tool = if w.tool.is_empty() {
                    String::new()
                } else {
                    format!(" `{}`", clip(&w.tool, 80))
                };
                Item {
                    event: Trigger::Permission,
                    text: format!("{id}: {who} asks to use{tool}: {}", clip(&w.title, 300)),
                    action: format!(
                        "iteratr approve --session {session} {id} (or iteratr deny --session {session} {id})"
                    ),
                    id: Some(id),
                    need: Some(need),
                }
            }
            Need::Question(n) => {
                let q = self.state.questions.all.get(&n)?;
                let id = question_id(n);
                let who = q
                    .worker
                    .as_ref()
                    .map_or("the agent".to_string(), |w| format!("worker {w}'s agent"));
                Item {
                    event: Trigger::Question,
                    text: format!("{id}: {who} asks: {}", clip(&items_line(&q.items), 500)),
                    action: format!("iteratr answer --session {session} {id} \"YOUR ANSWER\""),
                    id: Some(id),
                    need: Some(need),
                }
            }
            Need::Blocked(n) => {
                let task = self.state.tasks.get(&n)?;
                let id = task_id(n);
                let by = task
                    .worker
                    .as_ref()
                    .map_or(String::new(), |w| format!(" (worker {w})"));
                Item {
                    event: Trigger::Blocked,
                    text: format!("{id} is blocked{by}: {}", clip(&task.content, 300)),
                    action: format!(
                        "iteratr status --session {session} shows it; tell the agent with iteratr message --session {session} TEXT"
                    ),
                    id: Some(id),
                    need: Some(need),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Author, EventKind, PermissionDecision, folded, task_added};

    fn needs(scope: Scope, before: &[EventKind]) -> Needs {
        Needs::new(folded(before), scope, "demo")
    }

    fn feed(n: &mut Needs, kind: EventKind) -> Vec<String> {
        let seq = n.last_seq() + 1;
        n.observe(seq, &Event::new(0, Author::System, kind))
            .into_iter()
            .map(|i| i.text)
            .collect()
    }

    fn requested(request: u64, worker: Option<&str>) -> EventKind {
        EventKind::PermissionRequested {
            request,
            tool: "bash".into(),
            title: "rm -rf $(touch pwned)".into(),
            worker: worker.map(str::to_string),
        }
    }

    fn status(task: u64, status: TaskStatus) -> EventKind {
        EventKind::TaskStatusSet { task, status }
    }

    fn builder() -> Scope {
        Scope {
            workers: Vec::new(),
            builder: true,
        }
    }

    #[test]
    fn a_blocked_task_is_told_once_until_it_changes() {
        let mut n = needs(builder(), &[task_added(1, TaskStatus::Remaining)]);
        let told = feed(&mut n, status(1, TaskStatus::Blocked));
        assert_eq!(told, ["TAS-1 is blocked: task 1"]);
        assert!(n.still(Need::Blocked(1)));
        // Said again while still blocked: no news.
        assert!(feed(&mut n, status(1, TaskStatus::Blocked)).is_empty());
        assert!(
            feed(
                &mut n,
                EventKind::TaskPrioritySet {
                    task: 1,
                    priority: 0
                }
            )
            .is_empty()
        );
        // Unblocked, then blocked again: news again.
        assert!(feed(&mut n, status(1, TaskStatus::Remaining)).is_empty());
        assert!(!n.still(Need::Blocked(1)));
        assert_eq!(feed(&mut n, status(1, TaskStatus::Blocked)).len(), 1);
    }

    #[test]
    fn what_waited_before_the_build_is_not_news() {
        let mut n = needs(builder(), &[task_added(1, TaskStatus::Blocked)]);
        assert!(n.still(Need::Blocked(1)));
        assert!(feed(&mut n, task_added(2, TaskStatus::Remaining)).is_empty());
        assert_eq!(
            feed(&mut n, task_added(3, TaskStatus::Blocked)),
            ["TAS-3 is blocked: task 3"]
        );
    }

    #[test]
    fn a_request_is_told_once_and_gone_once_answered() {
        let mut n = needs(builder(), &[]);
        let told = feed(&mut n, requested(1, None));
        assert_eq!(
            told,
            ["P-1: the agent asks to use `bash`: rm -rf $(touch pwned)"]
        );
        assert!(n.still(Need::Permission(1)));
        feed(
            &mut n,
            EventKind::PermissionAnswered {
                request: 1,
                decision: PermissionDecision::AllowedByUser,
                who: "ana@laptop".into(),
            },
        );
        assert!(!n.still(Need::Permission(1)));
    }

    #[test]
    fn each_process_tells_its_own_workers_requests_and_only_the_builder_tells_blocked_tasks() {
        let joined = Scope {
            workers: vec!["h-1-w1".into()],
            builder: false,
        };
        let mut n = needs(joined, &[task_added(1, TaskStatus::Remaining)]);
        assert!(feed(&mut n, requested(1, Some("w1"))).is_empty());
        assert_eq!(feed(&mut n, requested(2, Some("h-1-w1"))).len(), 1);
        assert!(feed(&mut n, status(1, TaskStatus::Blocked)).is_empty());
        let team = Scope {
            workers: vec!["w1".into(), "w2".into()],
            builder: true,
        };
        let mut n = needs(team, &[]);
        assert!(feed(&mut n, requested(1, Some("h-1-w1"))).is_empty());
        assert!(feed(&mut n, requested(2, None)).is_empty());
        assert_eq!(
            feed(&mut n, requested(3, Some("w2"))),
            ["P-3: worker w2's agent asks to use `bash`: rm -rf $(touch pwned)"]
        );
    }

    #[test]
    fn a_reset_forgets_what_waited() {
        let mut n = needs(builder(), &[]);
        feed(&mut n, task_added(1, TaskStatus::Blocked));
        assert!(n.still(Need::Blocked(1)));
        feed(&mut n, EventKind::SessionReset { reason: None });
        assert!(!n.still(Need::Blocked(1)));
    }
}
