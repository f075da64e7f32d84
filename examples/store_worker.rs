//! A helper process of the event-log tests (`tests/store_processes.rs`, `tests/store_nats.rs`),
//! not a test: a second OS process writing to session `shared` of a store, the way a build or
//! `iteratr mcp serve` beside the test would.
//!
//!     store_worker (sqlite DATA_DIR | nats URL) tasks ID COUNT
//!         adds COUNT tasks "process ID task I", one command at a time, through a session handle
//!     store_worker (sqlite DATA_DIR | nats URL) batches-forever
//!         appends batches of 1 to 5 messages until it is killed
//!     store_worker (sqlite DATA_DIR | nats URL) output ID COUNT
//!         appends COUNT output records "process ID output I", one an append (issue 29)

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use iteratr::session::{Author, Command, Event, EventKind, NewTask};
use iteratr::session_handle::SessionHandle;
use iteratr::store::{EventLog, NatsLog, NatsOptions, SqliteLog};

const SESSION: &str = "shared";
const USAGE: &str = "usage: store_worker (sqlite DATA_DIR | nats URL) (tasks ID COUNT | batches-forever | output ID COUNT)";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (store, at, work) = match &args[..] {
        [store, at, work @ ..] => (store.as_str(), at.as_str(), work),
        _ => bail!(USAGE),
    };
    let log: Arc<dyn EventLog> = match store {
        "sqlite" => Arc::new(SqliteLog::open(Path::new(at))?),
        "nats" => Arc::new(NatsLog::connect(&NatsOptions::new(at)).await?),
        _ => bail!(USAGE),
    };
    match work {
        [mode, id, count] if mode == "tasks" => {
            let count: usize = count.parse().context("COUNT")?;
            let handle = SessionHandle::open(log, SESSION).await?;
            for i in 0..count {
                let cmd = Command::AddTasks(vec![NewTask::new(format!("process {id} task {i}"))]);
                handle.execute(&cmd, Author::Agent).await?;
            }
        }
        [mode] if mode == "batches-forever" => {
            let mut last = log.last_seq(SESSION).await?;
            for batch in 0u64.. {
                let n = batch % 5 + 1;
                let events = (0..n)
                    .map(|j| {
                        let text = format!("batch {batch} item {j} of {n}");
                        Event::new(
                            1_700_000_000_000,
                            Author::User,
                            EventKind::UserMessage {
                                text,
                                who: String::new(),
                            },
                        )
                    })
                    .collect();
                last = log.append(SESSION, last, events).await?;
            }
        }
        [mode, id, count] if mode == "output" => {
            let count: usize = count.parse().context("COUNT")?;
            for i in 0..count {
                let record = (1_700_000_000_000, format!("process {id} output {i}"));
                log.append_output(SESSION, vec![record]).await?;
            }
        }
        _ => bail!(USAGE),
    }
    Ok(())
}
