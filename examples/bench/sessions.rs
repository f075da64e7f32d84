//! Sessions of a given size, and what the store and the fold cost as they grow: append
//! throughput (batches and single tool calls), resuming a session, rendering a prompt.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iteratr::session::{Author, Command, NewTask, NoteType, TaskStatus};
use iteratr::session_handle::SessionHandle;
use iteratr::store::{EventLog, NatsLog, NatsOptions, NatsUrl, SqliteLog};
use iteratr::template::{Iteration, PromptTemplate};

use crate::util::{Stats, per_second};

/// Tasks left `remaining` in every filled session (the rest are completed), so `task-next` and
/// `task-list --status remaining` answer the same amount whatever the session's size.
pub const REMAINING: usize = 100;
const BATCH: usize = 100;
/// Single appends measured at each size.
const SINGLES: usize = 200;

/// Where the events go: the embedded SQLite store or a JetStream server.
#[derive(Clone)]
pub enum Store {
    Embedded,
    JetStream(String),
}

impl Store {
    pub fn name(&self) -> &'static str {
        match self {
            Store::Embedded => "embedded",
            Store::JetStream(_) => "JetStream",
        }
    }

    pub async fn open(&self, data_dir: &Path) -> anyhow::Result<Arc<dyn EventLog>> {
        Ok(match self {
            Store::Embedded => Arc::new(SqliteLog::open(data_dir)?),
            Store::JetStream(url) => {
                Arc::new(NatsLog::connect(&NatsOptions::for_url(NatsUrl::parse(url)?)).await?)
            }
        })
    }

    /// The global flags that make `iteratr` use this store.
    pub fn args(&self, data_dir: &Path) -> Vec<String> {
        let mut args = vec!["--data-dir".to_string(), data_dir.display().to_string()];
        if let Store::JetStream(url) = self {
            args.extend(["--nats-url".to_string(), url.clone()]);
        }
        args
    }
}

/// How fast a session grew near its final size.
pub struct Growth {
    pub events: usize,
    /// Events a second appended by `task-batch-add` commands of 100, over the last 1,000.
    pub batch_rate: f64,
    /// Single `task-add` commands a second, at the final size.
    pub single_rate: f64,
}

/// Fills `session` with `events` task events in batches of 100 (all completed but the last
/// [`REMAINING`]), then appends single tasks; returns how fast both went at the end.
pub async fn fill(log: Arc<dyn EventLog>, session: &str, events: usize) -> anyhow::Result<Growth> {
    let handle = SessionHandle::open(log, session).await?;
    let window = events.min(1_000);
    let mut window_started = Instant::now();
    for start in (0..events).step_by(BATCH) {
        if start == events - window {
            window_started = Instant::now();
        }
        let tasks = (start..(start + BATCH).min(events))
            .map(|i| {
                let mut t = NewTask::new(format!("task {i}: make part {i} of the spec work"));
                if i + REMAINING < events {
                    t.status = Some(TaskStatus::Completed);
                }
                t
            })
            .collect();
        handle
            .execute(&Command::AddTasks(tasks), Author::Agent)
            .await?;
    }
    let batch_rate = per_second(window, window_started.elapsed());
    let started = Instant::now();
    for i in 0..SINGLES {
        let mut t = NewTask::new(format!("single {i} after {events}"));
        t.status = Some(TaskStatus::Completed);
        handle
            .execute(&Command::AddTasks(vec![t]), Author::Agent)
            .await?;
    }
    Ok(Growth {
        events,
        batch_rate,
        single_rate: per_second(SINGLES, started.elapsed()),
    })
}

/// Opening a session and folding all its events (what `build`, `status` and `mcp serve` do at
/// start), in this process: the median of three.
pub async fn resume(log: Arc<dyn EventLog>, session: &str) -> anyhow::Result<Duration> {
    let mut samples = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let handle = SessionHandle::open(Arc::clone(&log), session).await?;
        let state = handle.refresh().await?;
        anyhow::ensure!(!state.tasks.is_empty(), "the session {session} is empty");
        samples.push(started.elapsed());
    }
    Ok(Stats::new(samples).p50())
}

/// Rendering the built-in prompt for a session of 1,000 tasks and 1,000 notes: the median of 20.
pub async fn prompt(log: Arc<dyn EventLog>) -> anyhow::Result<(Duration, usize)> {
    let handle = SessionHandle::open(log, "prompt").await?;
    for start in (0..1_000).step_by(BATCH) {
        let tasks = (start..start + BATCH)
            .map(|i| {
                let mut t = NewTask::new(format!("prompt task {i} with some words to read"));
                t.status = Some(TaskStatus::ALL[i % TaskStatus::ALL.len()]);
                t.priority = Some((i % 5) as i64);
                t
            })
            .collect();
        handle
            .execute(&Command::AddTasks(tasks), Author::Agent)
            .await?;
    }
    for i in 0..1_000 {
        let cmd = Command::AddNote {
            note_type: NoteType::ALL[i % NoteType::ALL.len()],
            content: format!("note {i}: something learned that the next iteration should know"),
        };
        handle.execute(&cmd, Author::Agent).await?;
    }
    let state = handle.refresh().await?;
    let template = PromptTemplate::builtin();
    let spec = "# Spec\n\nBuild the thing.\n".repeat(20);
    let mut samples = Vec::new();
    let mut len = 0;
    for _ in 0..20 {
        let started = Instant::now();
        let it = Iteration {
            session: "prompt",
            number: 7,
            spec: spec.clone(),
            ..Iteration::default()
        };
        len = template.render_iteration(it, &state)?.len();
        samples.push(started.elapsed());
    }
    Ok((Stats::new(samples).p50(), len))
}
