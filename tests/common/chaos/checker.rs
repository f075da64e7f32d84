//! The history checker of a chaos run: reads the session log (every event, as the cluster stored
//! it), the remote's integration branch and what the agents were told, and proves the
//! invariants of workers that claim from one log and integrate by compare-and-set. It keeps its
//! own model of claims (it does not trust iteratr's fold), so a bug in the fold is caught too.
//! Each violation names the events that break it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use iteratr::session::{EventKind, TaskStatus};
use iteratr::store::StoredEvent;

use crate::common::project::git;

/// What the agents were told succeeded: per agent process, its (task, status) changes in order.
pub type Acked = BTreeMap<u32, Vec<(u64, String)>>;

/// A task of the run: the line it appends to its chain's file.
#[derive(Debug, Clone)]
pub struct Planned {
    pub id: u64,
    pub file: String,
    pub line: String,
    pub depends_on: Vec<u64>,
}

/// An invariant broken, with the events (by sequence number) that break it.
#[derive(Debug, Clone)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
    pub events: Vec<u64>,
}

/// What the history shows besides the invariants, for the figures.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub events: usize,
    pub claims: usize,
    pub expiries: usize,
    /// Completions that never reached the branch (their worker died first) and were redone.
    pub redone: usize,
    pub released: usize,
    pub acked: usize,
}

/// A claim as the checker's own model holds it.
#[derive(Debug, Clone)]
struct Held {
    worker: String,
    renewed_at: i64,
    ttl: i64,
    claimed_seq: u64,
}

impl Held {
    fn live_at(&self, at: i64) -> bool {
        at < self.renewed_at + self.ttl
    }
}

#[derive(Default)]
pub struct Checker {
    pub violations: Vec<Violation>,
    pub seen: Seen,
}

impl Checker {
    fn violate(&mut self, invariant: &'static str, detail: String, events: Vec<u64>) {
        self.violations.push(Violation {
            invariant,
            detail,
            events,
        });
    }

    /// The log's invariants: claims, completions, integrations, dependencies.
    pub fn log(&mut self, events: &[StoredEvent], planned: &[Planned]) {
        self.seen.events = events.len();
        let mut claims: BTreeMap<u64, Held> = BTreeMap::new();
        let mut depends: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        let mut integrated: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        let mut completed: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for (i, e) in events.iter().enumerate() {
            if e.seq != i as u64 + 1 {
                self.violate(
                    "the log runs 1, 2, 3... without a gap",
                    format!("event {} follows {i}", e.seq),
                    vec![e.seq],
                );
            }
            let (seq, at) = (e.seq, e.event.at_ms);
            match &e.event.kind {
                EventKind::TaskAdded {
                    task, depends_on, ..
                } => {
                    depends.entry(*task).or_default().extend(depends_on);
                }
                EventKind::TaskDependencyAdded { task, depends_on } => {
                    depends.entry(*task).or_default().insert(*depends_on);
                }
                EventKind::TaskClaimed {
                    task,
                    worker,
                    ttl_ms,
                } => {
                    self.seen.claims += 1;
                    if let Some(held) = claims.get(task).filter(|h| h.live_at(at)) {
                        self.violate(
                            "never two live claims on one task",
                            format!(
                                "TAS-{task} claimed by {worker} while {}'s claim ran until {}",
                                held.worker,
                                held.renewed_at + held.ttl
                            ),
                            vec![held.claimed_seq, seq],
                        );
                    }
                    for dep in depends.get(task).into_iter().flatten() {
                        if !integrated.contains_key(dep) {
                            self.violate(
                                "no task claimed before its dependencies were integrated",
                                format!("TAS-{task} claimed before TAS-{dep} was integrated"),
                                vec![seq],
                            );
                        }
                    }
                    if integrated.contains_key(task) {
                        self.violate(
                            "an integrated task is never claimed again",
                            format!("TAS-{task} claimed by {worker} after its integration"),
                            vec![integrated[task][0], seq],
                        );
                    }
                    claims.insert(
                        *task,
                        Held {
                            worker: worker.clone(),
                            renewed_at: at,
                            ttl: *ttl_ms as i64,
                            claimed_seq: seq,
                        },
                    );
                }
                EventKind::ClaimsRenewed { worker } => {
                    for (task, held) in claims.iter_mut().filter(|(_, h)| h.worker == *worker) {
                        if !held.live_at(at) {
                            self.violations.push(Violation {
                                invariant: "a claim that lapsed is never renewed (a woken zombie's writes are refused)",
                                detail: format!(
                                    "{worker} renewed its claim on TAS-{task} {} ms after it lapsed",
                                    at - held.renewed_at - held.ttl
                                ),
                                events: vec![held.claimed_seq, seq],
                            });
                        }
                        held.renewed_at = at;
                    }
                }
                EventKind::TaskUnclaimed {
                    task,
                    worker,
                    expired,
                    ..
                } => {
                    if claims.get(task).is_some_and(|h| h.worker == *worker) {
                        claims.remove(task);
                    }
                    if *expired {
                        self.seen.expiries += 1;
                    }
                }
                EventKind::TaskReleased { .. } => self.seen.released += 1,
                EventKind::TaskStatusSet { task, status } => {
                    if integrated.contains_key(task) {
                        self.violate(
                            "an integrated task's status never changes",
                            format!("TAS-{task} set {status} after its integration"),
                            vec![integrated[task][0], seq],
                        );
                    }
                    if *status == TaskStatus::Completed {
                        completed.entry(*task).or_default().push(seq);
                        match claims.get(task) {
                            Some(h) if h.live_at(at) => {}
                            Some(h) => self.violate(
                                "a task is completed only under a live claim (a woken zombie's writes are refused)",
                                format!(
                                    "TAS-{task} completed {} ms after {}'s claim lapsed",
                                    at - h.renewed_at - h.ttl,
                                    h.worker
                                ),
                                vec![h.claimed_seq, seq],
                            ),
                            None => self.violate(
                                "a task is completed only under a live claim (a woken zombie's writes are refused)",
                                format!("TAS-{task} completed while nobody held it"),
                                vec![seq],
                            ),
                        }
                    }
                }
                EventKind::TaskIntegrated { task, worker, .. } => {
                    integrated.entry(*task).or_default().push(seq);
                    let by = worker.clone().unwrap_or_default();
                    match claims.get(task) {
                        Some(h) if h.worker == by && h.live_at(at) => {}
                        Some(h) => self.violate(
                            "a task is integrated only by the worker holding a live claim on it",
                            format!(
                                "TAS-{task} integrated by {by}; the claim is {}'s, running until {}",
                                h.worker,
                                h.renewed_at + h.ttl
                            ),
                            vec![h.claimed_seq, seq],
                        ),
                        None => self.violate(
                            "a task is integrated only by the worker holding a live claim on it",
                            format!("TAS-{task} integrated by {by}, who held no claim on it"),
                            vec![seq],
                        ),
                    }
                }
                _ => {}
            }
        }
        for t in planned {
            let times = integrated.get(&t.id).map_or(0, Vec::len);
            if times != 1 {
                self.violate(
                    "every task is integrated exactly once",
                    format!("TAS-{} integrated {times} times", t.id),
                    integrated.get(&t.id).cloned().unwrap_or_default(),
                );
            }
            let done = completed.get(&t.id).map_or(0, Vec::len);
            if done == 0 {
                self.violate(
                    "every task is completed",
                    format!("TAS-{} never completed", t.id),
                    Vec::new(),
                );
            }
            self.seen.redone += done.saturating_sub(1);
            let wanted: BTreeSet<u64> = t.depends_on.iter().copied().collect();
            if depends.get(&t.id).cloned().unwrap_or_default() != wanted {
                self.violate(
                    "the plan holds the dependencies the run set",
                    format!(
                        "TAS-{} depends on {:?}, the run planned {wanted:?}",
                        t.id,
                        depends.get(&t.id)
                    ),
                    Vec::new(),
                );
            }
        }
    }

    /// Every task status change an agent was told succeeded is in the log, in the order that
    /// agent was told (`acked`: per agent process, its (task, status) calls in order).
    pub fn acknowledged(&mut self, events: &[StoredEvent], acked: &Acked) {
        let logged: Vec<(u64, String, u64)> = events
            .iter()
            .filter_map(|e| match &e.event.kind {
                EventKind::TaskStatusSet { task, status } => {
                    Some((*task, status.to_string(), e.seq))
                }
                _ => None,
            })
            .collect();
        for (pid, calls) in acked {
            let mut rest = logged.iter();
            for (task, status) in calls {
                self.seen.acked += 1;
                if !rest.any(|(t, s, _)| t == task && s == status) {
                    self.violate(
                        "every acknowledged append is in the log",
                        format!("agent {pid} was told TAS-{task} is now {status}; the log lacks it (in that agent's order)"),
                        Vec::new(),
                    );
                    break;
                }
            }
        }
    }

    /// The remote's integration branch: each task's line exactly once, in its chain's order,
    /// added by one commit and never removed, after the commits of the tasks it depends on; and
    /// the commit each `task_integrated` names is on the branch.
    pub fn branch(
        &mut self,
        bare: &Path,
        branch: &str,
        planned: &[Planned],
        events: &[StoredEvent],
    ) {
        let mut files: BTreeMap<&str, Vec<&Planned>> = BTreeMap::new();
        for t in planned {
            files.entry(t.file.as_str()).or_default().push(t);
        }
        for (file, tasks) in &files {
            let text = git(bare, &["show", &format!("{branch}:{file}")]);
            let lines: Vec<&str> = text.lines().collect();
            let wanted: Vec<&str> = tasks.iter().map(|t| t.line.as_str()).collect();
            if lines != wanted {
                self.violate(
                    "the integration branch has each task's change exactly once, in dependency order",
                    format!("{file} holds {lines:?}, the chain is {wanted:?}"),
                    Vec::new(),
                );
            }
        }
        // Every commit's added and removed lines, oldest first: each task's line is added by
        // exactly one commit and never removed, after the line of each task it depends on.
        let history = git(
            bare,
            &[
                "log",
                "--reverse",
                "--format=commit %H",
                "-p",
                "--unified=0",
                branch,
            ],
        );
        let mut commits = BTreeSet::new();
        let mut added: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
        let mut removed: BTreeSet<(String, String)> = BTreeSet::new();
        let (mut index, mut file) = (0, String::new());
        for line in history.lines() {
            if let Some(hash) = line.strip_prefix("commit ") {
                commits.insert(hash.to_string());
                index += 1;
            } else if let Some(path) = line.strip_prefix("+++ b/") {
                file = path.to_string();
            } else if line.starts_with("+++ ") || line.starts_with("--- ") {
            } else if let Some(text) = line.strip_prefix('+') {
                added
                    .entry((file.clone(), text.to_string()))
                    .or_default()
                    .push(index);
            } else if let Some(text) = line.strip_prefix('-') {
                removed.insert((file.clone(), text.to_string()));
            }
        }
        let key = |t: &Planned| (t.file.clone(), t.line.clone());
        for t in planned {
            let at = added.get(&key(t)).cloned().unwrap_or_default();
            if at.len() != 1 || removed.contains(&key(t)) {
                self.violate(
                    "the integration branch has each task's change exactly once",
                    format!(
                        "TAS-{}'s line {:?} is added by {} commit(s) of {branch}{}",
                        t.id,
                        t.line,
                        at.len(),
                        if removed.contains(&key(t)) {
                            " and removed by one"
                        } else {
                            ""
                        }
                    ),
                    Vec::new(),
                );
                continue;
            }
            for dep in planned.iter().filter(|d| t.depends_on.contains(&d.id)) {
                if added.get(&key(dep)).and_then(|p| p.first()) > Some(&at[0]) {
                    self.violate(
                        "the integration branch's order respects dependencies",
                        format!(
                            "TAS-{}'s change is on {branch} before TAS-{}'s",
                            t.id, dep.id
                        ),
                        Vec::new(),
                    );
                }
            }
        }
        for e in events {
            if let EventKind::TaskIntegrated { task, commit, .. } = &e.event.kind
                && !commits.contains(commit)
            {
                self.violate(
                    "the commit a task was integrated as is on the integration branch",
                    format!("TAS-{task} integrated as {commit}, not on {branch}"),
                    vec![e.seq],
                );
            }
        }
    }

    /// No worktree, worker branch or process left: each clone has its main checkout only and
    /// no `iteratr/` branch, nothing works in it, and none of the agents (`agents`: pids the
    /// fake agents logged) nor `servers` (nats-server pids) runs.
    pub fn leftovers(&mut self, clones: &[&Path], agents: &[u32], servers: &[u32]) {
        for dir in clones {
            let list = git(dir, &["worktree", "list", "--porcelain"]);
            let trees: Vec<&str> = list
                .lines()
                .filter(|l| l.starts_with("worktree "))
                .collect();
            if trees.len() != 1 {
                self.violate(
                    "no worktree left",
                    format!("{}: {trees:?}", dir.display()),
                    Vec::new(),
                );
            }
            let branches = git(dir, &["branch", "--list", "iteratr/*"]);
            if !branches.is_empty() {
                self.violate(
                    "no worker branch left",
                    format!("{}: {branches}", dir.display()),
                    Vec::new(),
                );
            }
            let working = crate::common::procs::working_in(dir);
            if !working.is_empty() {
                self.violate(
                    "no process left",
                    format!("working in {}: {working:?}", dir.display()),
                    Vec::new(),
                );
            }
        }
        for (what, pids) in [("agent", agents), ("nats-server", servers)] {
            let left: Vec<&u32> = pids
                .iter()
                .filter(|p| crate::common::procs::running(**p))
                .collect();
            if !left.is_empty() {
                self.violate(
                    "no agent or nats-server process left",
                    format!("{what} still running: {left:?}"),
                    Vec::new(),
                );
            }
        }
    }

    /// The events about `task`, one a line, for people.
    pub fn story(events: &[StoredEvent], task: u64) -> String {
        events
            .iter()
            .filter(|e| {
                serde_json::to_value(&e.event.kind)
                    .ok()
                    .and_then(|v| v.get("task").and_then(serde_json::Value::as_u64))
                    == Some(task)
            })
            .map(|e| {
                format!(
                    "    #{} at {}: {}\n",
                    e.seq,
                    e.event.at_ms,
                    serde_json::to_string(&e.event.kind).unwrap_or_default()
                )
            })
            .collect()
    }

    /// The violations, each with the events that break it, for people.
    pub fn report(&self, events: &[StoredEvent]) -> String {
        let mut out = String::new();
        for v in &self.violations {
            out.push_str(&format!("VIOLATION: {}\n  {}\n", v.invariant, v.detail));
            for seq in &v.events {
                if let Some(e) = events.get((*seq as usize).wrapping_sub(1)) {
                    out.push_str(&format!(
                        "    #{seq} at {} by {:?}: {}\n",
                        e.event.at_ms,
                        e.event.by,
                        serde_json::to_string(&e.event.kind).unwrap_or_default()
                    ));
                }
            }
        }
        out
    }
}
