//! A session as the rest of iteratr uses it: the folded state kept up to date from the log, and
//! commands executed with optimistic concurrency (decide against the latest state, append with the
//! expected sequence number, and on a conflict catch up and decide again).

use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_ms;

use thiserror::Error;
use tokio::sync::Mutex;

use crate::session::{
    Author, Command, Ctx, DomainError, SessionState, decide, validate_session_name,
};
use crate::store::{EventLog, READ_PAGE, StoreError, StoredEvent};

/// Conflicting appends by other writers before a command gives up. Each retry re-reads only the
/// new events, so this bounds a pathological storm, not normal contention.
const MAX_ATTEMPTS: u32 = 200;

#[derive(Debug, Error)]
pub enum ExecError {
    /// The command breaks a rule; nothing was written.
    #[error(transparent)]
    Rejected(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an executed command wrote, and the state right after it.
#[derive(Debug, Clone)]
pub struct Executed {
    pub events: Vec<StoredEvent>,
    pub state: Arc<SessionState>,
}

/// A session kept folded in memory. Readers get the state as a shared snapshot (an `Arc`, no
/// copy); the next change copies it only while a reader still holds the old one.
pub struct SessionHandle {
    log: Arc<dyn EventLog>,
    name: String,
    state: Mutex<Arc<SessionState>>,
}

impl SessionHandle {
    /// Opens a session (it need not exist yet: the first append creates it).
    pub async fn open(log: Arc<dyn EventLog>, name: &str) -> Result<Self, ExecError> {
        validate_session_name(name)?;
        let handle = SessionHandle {
            log,
            name: name.to_string(),
            state: Mutex::new(Arc::default()),
        };
        handle.refresh().await?;
        Ok(handle)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// Folds in whatever other writers appended, and returns the up-to-date state.
    pub async fn refresh(&self) -> Result<Arc<SessionState>, ExecError> {
        let mut state = self.state.lock().await;
        self.catch_up(&mut state).await?;
        Ok(Arc::clone(&state))
    }

    /// Folds in the events appended since the state was last folded, a page at a time (so a
    /// long log is never held in memory whole).
    async fn catch_up(&self, state: &mut Arc<SessionState>) -> Result<(), StoreError> {
        let mut folded_any = false;
        loop {
            let page = self.log.read(&self.name, state.last_seq, READ_PAGE).await?;
            if page.is_empty() {
                break;
            }
            folded_any = true;
            let full = page.len() == READ_PAGE;
            let folded = Arc::make_mut(state);
            for e in &page {
                folded.apply(e.seq, &e.event);
            }
            if !full {
                break;
            }
        }
        if !folded_any && self.log.last_seq(&self.name).await? < state.last_seq {
            // The session was reset under us (its numbering started over): fold it afresh.
            *state = Arc::default();
            return Box::pin(self.catch_up(state)).await;
        }
        Ok(())
    }

    /// Checks `cmd` against the latest state and appends its events.
    pub async fn execute(&self, cmd: &Command, by: Author) -> Result<Executed, ExecError> {
        let mut state = self.state.lock().await;
        let mut attempt = 0;
        loop {
            self.catch_up(&mut state).await?;
            let ctx = Ctx {
                now_ms: now_ms(),
                by,
            };
            let events = decide(&state, cmd, ctx)?;
            if events.is_empty() {
                return Ok(Executed {
                    events: Vec::new(),
                    state: Arc::clone(&state),
                });
            }
            let first = state.last_seq + 1;
            match self
                .log
                .append(&self.name, state.last_seq, events.clone())
                .await
            {
                Ok(_) => {
                    let stored: Vec<StoredEvent> = events
                        .into_iter()
                        .zip(first..)
                        .map(|(event, seq)| StoredEvent { seq, event })
                        .collect();
                    let folded = Arc::make_mut(&mut state);
                    for e in &stored {
                        folded.apply(e.seq, &e.event);
                    }
                    return Ok(Executed {
                        events: stored,
                        state: Arc::clone(&state),
                    });
                }
                Err(e) if e.is_conflict() && attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                    // Spread competing writers out a little; the next catch-up is cheap.
                    let jitter = u64::from(attempt.min(10)) * (now_ms() as u64 % 3 + 1);
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
