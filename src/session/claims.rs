//! Workers' claims on tasks (`--workers`). A claim is a lease kept in the session's own log: taking
//! one is a compare-and-set append (decided against the latest state, appended with the expected
//! sequence number), so two workers can never hold the same task, on SQLite or across machines
//! on JetStream. The worker renews its claims while it works; a claim nobody renews lapses, and the
//! next worker that asks for a task records the expiry and may take it.

use std::collections::BTreeSet;

use serde::Serialize;

use super::command::Command;
use super::error::DomainError;
use super::event::TaskStatus;
use super::event_kind::EventKind;
use super::limits;
use super::state::SessionState;
use super::state::task_id;
use super::text::clip;

/// Default time a claim lasts without renewal.
pub const CLAIM_TTL_MS: u64 = 120_000;

/// Who holds a task, since when, and until when unless renewed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claim {
    pub worker: String,
    pub claimed_at_ms: i64,
    pub renewed_at_ms: i64,
    pub ttl_ms: u64,
}

impl Claim {
    pub fn expires_at_ms(&self) -> i64 {
        self.renewed_at_ms
            .saturating_add(i64::try_from(self.ttl_ms).unwrap_or(i64::MAX))
    }

    pub fn is_live(&self, now_ms: i64) -> bool {
        now_ms < self.expires_at_ms()
    }
}

/// A worker's name: 1-64 letters, digits, `-` or `_` (it names a git branch and a directory).
pub fn validate_worker_name(name: &str) -> Result<(), DomainError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(DomainError::BadWorkerName(name.to_string()))
    }
}

impl SessionState {
    /// The open task `worker` holds, if any (its claim may have lapsed without anyone taking it).
    pub fn claim_of(&self, worker: &str) -> Option<&super::Task> {
        self.claimed
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .find(|t| t.claim.as_ref().is_some_and(|c| c.worker == worker))
    }

    /// Claims nobody renewed in time: (task, worker).
    pub fn expired_claims(&self, now_ms: i64) -> Vec<(u64, String)> {
        self.claimed
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .filter_map(|t| {
                let c = t.claim.as_ref()?;
                (!c.is_live(now_ms)).then(|| (t.id, c.worker.clone()))
            })
            .collect()
    }

    /// Tasks that are claimed now (live or lapsed), by task id.
    pub fn claimed_tasks(&self) -> impl Iterator<Item = &super::Task> {
        self.claimed.iter().filter_map(|id| self.tasks.get(id))
    }

    /// The task a worker would claim next: the first ready task nobody holds.
    pub fn claimable_task(&self, now_ms: i64) -> Option<&super::Task> {
        self.ready_tasks()
            .find(|t| t.claim.as_ref().is_none_or(|c| !c.is_live(now_ms)))
    }

    /// Every task is finished (completed, blocked or cancelled), nobody holds one, and each
    /// completed by a worker is on the integration branch: the workers are done.
    pub fn all_integrated(&self) -> bool {
        !self.tasks.is_empty()
            && self.unfinished_tasks().is_empty()
            && self.claimed.is_empty()
            && self.tasks.values().all(|t| {
                t.status != TaskStatus::Completed || t.worker.is_none() || t.integrated.is_some()
            })
    }

    /// The events that give `worker` a task: expiries of lapsed claims first, then the claim.
    /// None when the worker already holds one (it keeps it) or nothing is claimable.
    pub(super) fn claim_events(&self, worker: &str, ttl_ms: u64, now_ms: i64) -> Vec<EventKind> {
        if self.claim_of(worker).is_some() {
            return Vec::new();
        }
        let mut out: Vec<EventKind> = Vec::new();
        for (task, was) in self.expired_claims(now_ms) {
            out.extend(self.expiry_events(task, &was));
        }
        if let Some(t) = self.claimable_task(now_ms) {
            out.push(EventKind::TaskClaimed {
                task: t.id,
                worker: worker.to_string(),
                ttl_ms,
            });
        }
        out
    }

    /// The events that record `was`'s lapsed claim on `task`: the iteration it was running is
    /// interrupted (it will not end by itself either), and the claim ends.
    fn expiry_events(&self, task: u64, was: &str) -> Vec<EventKind> {
        let mut out = Vec::new();
        if let Some(iteration) = self.running_iteration_of(Some(was)) {
            let why = format!(
                "worker {was} stopped renewing its claim on {} (killed, crashed or cut off)",
                super::task_id(task)
            );
            out.push(EventKind::interrupted(iteration, why));
        }
        out.push(EventKind::TaskUnclaimed {
            task,
            worker: was.to_string(),
            expired: true,
            reason: "its worker stopped renewing the claim".into(),
        });
        out
    }

    /// `worker`'s live claim on `task`, or why it has none (for what only the holder may do).
    pub(super) fn live_claim(
        &self,
        task: u64,
        worker: &str,
        now_ms: i64,
    ) -> Result<(), DomainError> {
        let live = self
            .tasks
            .get(&task)
            .and_then(|t| t.claim.as_ref())
            .is_some_and(|c| c.worker == worker && c.is_live(now_ms));
        if live {
            Ok(())
        } else {
            Err(DomainError::ClaimLost {
                task: task_id(task),
                worker: worker.to_string(),
            })
        }
    }

    /// The events of a claim command (`ClaimTask`, `RenewClaims`, `ReleaseClaim`,
    /// `RecordIntegration`); empty when it asks for what is already so.
    pub(super) fn decide_claim(
        &self,
        cmd: &Command,
        now_ms: i64,
    ) -> Result<Vec<EventKind>, DomainError> {
        Ok(match cmd {
            Command::SetHeldStatus {
                task,
                status,
                worker,
            } => {
                // Decided with the log's time, so a claim that lapsed while the call was on its
                // way is refused even though the tool's own look found it live.
                self.live_claim(self.resolve_task(task)?, worker, now_ms)?;
                let (task, status) = (task.clone(), *status);
                let ctx = super::Ctx {
                    now_ms,
                    by: super::Author::Agent,
                };
                super::decide(self, &Command::SetStatus { task, status }, ctx)?
                    .into_iter()
                    .map(|e| e.kind)
                    .collect()
            }
            Command::ClaimTask { worker, ttl_ms } => {
                validate_worker_name(worker)?;
                if !(1_000..=3_600_000).contains(ttl_ms) {
                    return Err(DomainError::LeaseTtl(*ttl_ms));
                }
                self.claim_events(worker, *ttl_ms, now_ms)
            }
            Command::RenewClaims { worker } => {
                let Some(t) = self.claim_of(worker) else {
                    return Ok(Vec::new());
                };
                if t.claim.as_ref().is_some_and(|c| c.is_live(now_ms)) {
                    vec![EventKind::ClaimsRenewed {
                        worker: worker.clone(),
                    }]
                } else {
                    // Too late (the worker was frozen or cut off past the claim's time to live):
                    // another worker may have been given the task already, so the claim ends
                    // here and the worker learns it has no task.
                    self.expiry_events(t.id, worker)
                }
            }
            Command::ReleaseClaim {
                task,
                worker,
                reason,
            } => {
                let holds = self
                    .tasks
                    .get(task)
                    .and_then(|t| t.claim.as_ref())
                    .is_some_and(|c| c.worker == *worker);
                if !holds {
                    return Ok(Vec::new());
                }
                vec![EventKind::TaskUnclaimed {
                    task: *task,
                    worker: worker.clone(),
                    expired: false,
                    reason: clip(reason.trim(), limits::DETAIL_MAX),
                }]
            }
            Command::RecordIntegration {
                task,
                commit,
                worker,
            } => {
                if !self.tasks.contains_key(task) {
                    return Err(DomainError::UnknownTask(task_id(*task)));
                }
                if commit.len() < 7
                    || commit.len() > 64
                    || !commit.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(DomainError::BadCommit(clip(commit, 80)));
                }
                // Only the worker holding the task records its integration: one whose claim
                // lapsed while it pushed is refused (the task's next holder finds the commit).
                if let Some(w) = worker {
                    self.live_claim(*task, w, now_ms)?;
                }
                vec![EventKind::TaskIntegrated {
                    task: *task,
                    commit: commit.clone(),
                    worker: worker.clone(),
                }]
            }
            _ => Vec::new(),
        })
    }

    pub(super) fn apply_claim(&mut self, at: i64, kind: &EventKind) {
        match kind {
            EventKind::TaskClaimed {
                task,
                worker,
                ttl_ms,
            } => {
                let Some(t) = self.tasks.get_mut(task) else {
                    return;
                };
                t.claim = Some(Claim {
                    worker: worker.clone(),
                    claimed_at_ms: at,
                    renewed_at_ms: at,
                    ttl_ms: *ttl_ms,
                });
                t.worker = Some(worker.clone());
                t.integrated = None;
                self.claimed.insert(*task);
                // Claimed while the worker's iteration runs (a worker's `task-next`).
                if let Some(n) = self.running_iteration_of(Some(worker))
                    && let Some(it) = self.iterations.get_mut(&n)
                {
                    it.worked_on.insert(*task);
                }
            }
            EventKind::ClaimsRenewed { worker } => {
                let held: BTreeSet<u64> = self.claimed.clone();
                for id in held {
                    if let Some(c) = self
                        .tasks
                        .get_mut(&id)
                        .and_then(|t| t.claim.as_mut())
                        .filter(|c| c.worker == *worker)
                    {
                        c.renewed_at_ms = at;
                    }
                }
            }
            EventKind::TaskUnclaimed { task, worker, .. } => {
                let holds = self
                    .tasks
                    .get(task)
                    .and_then(|t| t.claim.as_ref())
                    .is_some_and(|c| c.worker == *worker);
                if !holds {
                    return;
                }
                self.unindex(*task);
                if let Some(t) = self.tasks.get_mut(task) {
                    t.claim = None;
                    if t.status == TaskStatus::InProgress {
                        t.status = TaskStatus::Remaining;
                        t.updated_at_ms = at;
                    }
                }
                self.claimed.remove(task);
                self.reindex(*task);
            }
            EventKind::TaskIntegrated { task, commit, .. } => {
                self.unindex(*task);
                if let Some(t) = self.tasks.get_mut(task) {
                    t.integrated = Some(commit.clone());
                }
                self.reindex(*task);
                self.reindex_dependents(*task);
            }
            _ => {}
        }
    }
}
