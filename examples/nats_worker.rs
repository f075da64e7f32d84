//! A helper process of the JetStream tests (`tests/store_nats.rs`), not a test: it adds `COUNT`
//! tasks ("process ID task I") to session `shared` on the server at `URL`, one command at a time,
//! through the same session handle a build uses, so that two of them race on one stream.
//!
//!     nats_worker URL ID COUNT

use std::sync::Arc;

use iteratr::service::SessionHandle;
use iteratr::session::{Author, Command, NewTask};
use iteratr::store::{EventLog, NatsLog, NatsOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, id, count] = &args[..] else {
        anyhow::bail!("usage: nats_worker URL ID COUNT");
    };
    let count: usize = count.parse()?;
    let log: Arc<dyn EventLog> = Arc::new(NatsLog::connect(&NatsOptions::new(url.as_str())).await?);
    let handle = SessionHandle::open(log, "shared").await?;
    for i in 0..count {
        let cmd = Command::AddTasks(vec![NewTask::new(format!("process {id} task {i}"))]);
        handle.execute(&cmd, Author::Agent).await?;
    }
    Ok(())
}
