//! The sessions the dashboard shows, each folded once for every browser that looks at it: a
//! [`SessionHandle`] per session kept up to date from the log, its status view cached per
//! sequence number, and the one-line summaries of the sessions page.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Mutex;

use crate::session::{SessionState, TaskStatus};
use crate::session_handle::{ExecError, SessionHandle};
use crate::store::EventLog;

/// One session on the sessions page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Summary {
    pub(crate) name: String,
    /// `running`, `paused`, `stopping`, `completed` or `idle`.
    pub(crate) status: &'static str,
    pub(crate) completed: usize,
    /// Tasks not cancelled.
    pub(crate) total: usize,
    pub(crate) iteration: Option<u32>,
    /// The workers whose iterations run now.
    pub(crate) workers: Vec<String>,
    pub(crate) last_activity_ms: i64,
    pub(crate) tokens: u64,
    pub(crate) cost: Option<f64>,
    pub(crate) currency: Option<String>,
    /// Permission requests (`P-n`) that wait for a person.
    pub(crate) waiting: Vec<u64>,
    /// The agent's questions (`Q-n`) that wait for an answer.
    pub(crate) questions: Vec<u64>,
    pub(crate) events: u64,
}

/// What a session's build is doing, in one word.
pub(crate) fn status_word(state: &SessionState, now_ms: i64) -> &'static str {
    let live = state.lease.as_ref().is_some_and(|l| l.is_live(now_ms));
    match () {
        _ if state.completed.is_some() => "completed",
        _ if live && state.stop.is_some() => "stopping",
        _ if live && state.paused.is_some() => "paused",
        _ if live => "running",
        _ if state.paused.is_some() => "paused",
        _ => "idle",
    }
}

pub(crate) fn summary(name: &str, state: &SessionState, last_at_ms: i64) -> Summary {
    let now = crate::clock::now_ms();
    let usage = state.usage();
    let running = state.iterations.values().filter(|i| i.is_running());
    Summary {
        name: name.to_string(),
        status: status_word(state, now),
        completed: state.count(TaskStatus::Completed),
        total: state.tasks.len() - state.count(TaskStatus::Cancelled),
        iteration: state.iterations.keys().next_back().copied(),
        workers: running.filter_map(|i| i.worker.clone()).collect(),
        last_activity_ms: last_at_ms,
        tokens: usage.tokens(),
        cost: usage.cost,
        currency: usage.currency.clone(),
        waiting: state.permissions.waiting.keys().copied().collect(),
        questions: state.questions.open().map(|q| q.id).collect(),
        events: state.last_seq,
    }
}

pub(crate) struct Hub {
    log: Arc<dyn EventLog>,
    handles: Mutex<HashMap<String, Arc<SessionHandle>>>,
    /// The status view of each session, at the sequence number it was made for.
    views: Mutex<HashMap<String, (u64, Arc<serde_json::Value>)>>,
}

impl Hub {
    pub(crate) fn new(log: Arc<dyn EventLog>) -> Self {
        Hub {
            log,
            handles: Mutex::default(),
            views: Mutex::default(),
        }
    }

    pub(crate) fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// The session's handle (opened, and folded, on first use).
    pub(crate) async fn handle(&self, name: &str) -> Result<Arc<SessionHandle>, ExecError> {
        if let Some(h) = self.handles.lock().await.get(name) {
            return Ok(Arc::clone(h));
        }
        // Folded outside the lock: a long session does not hold up the others.
        let opened = Arc::new(SessionHandle::open(Arc::clone(&self.log), name).await?);
        let mut handles = self.handles.lock().await;
        Ok(Arc::clone(
            handles.entry(name.to_string()).or_insert(opened),
        ))
    }

    /// The session's state now, and its status view (made once per sequence number).
    pub(crate) async fn view(
        &self,
        name: &str,
    ) -> Result<(Arc<SessionState>, Arc<serde_json::Value>), ExecError> {
        let state = self.handle(name).await?.refresh().await?;
        let mut views = self.views.lock().await;
        if let Some((seq, view)) = views.get(name)
            && *seq == state.last_seq
        {
            return Ok((state, Arc::clone(view)));
        }
        let view = Arc::new(super::view::session_view(name, &state));
        views.insert(name.to_string(), (state.last_seq, Arc::clone(&view)));
        Ok((state, view))
    }

    /// Every session of the store, summarized.
    pub(crate) async fn summaries(&self) -> Result<Vec<Summary>, ExecError> {
        let mut out = Vec::new();
        for info in self.log.sessions().await? {
            let state = self.handle(&info.name).await?.refresh().await?;
            out.push(summary(&info.name, &state, info.last_at_ms));
        }
        Ok(out)
    }
}
