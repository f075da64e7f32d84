//! The output stream (issue 29): appends of the agent's output as the build would make them, and
//! what a session keeps under the default retention (24 h, 64 MiB).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iteratr::store::{EventLog, NatsLog, NatsOptions, SqliteLog};

/// Updates in a flood (what `tui_stress` streams).
const UPDATES: usize = 100_000;
/// A text chunk of a flood, about what an agent streams a token at a time.
const CHUNK: &str = "streamed text ";
/// The caller flushes what it coalesced every 50 ms or 4 KiB.
const COALESCE: usize = 4096;

pub struct Figures {
    pub appends: usize,
    /// Payload bytes appended.
    pub bytes: u64,
    pub records: usize,
    pub elapsed: Duration,
    pub retained_bytes: u64,
    pub retained_records: usize,
}

impl Figures {
    fn row(&self, store: &str, what: &str) -> String {
        let secs = self.elapsed.as_secs_f64();
        format!(
            "| {store} | {what} | {} | {:.0} | {:.0} | {:.1} | {} | {:.1} MiB |",
            self.appends,
            self.appends as f64 / secs,
            self.records as f64 / secs,
            self.bytes as f64 / secs / (1 << 20) as f64,
            self.retained_records,
            self.retained_bytes as f64 / (1 << 20) as f64
        )
    }
}

/// What a session's output stream keeps: records, payload bytes.
pub async fn retained(log: &dyn EventLog, session: &str) -> anyhow::Result<(usize, u64)> {
    let (mut after, mut records, mut bytes) = (0, 0, 0u64);
    loop {
        let page = log.read_output(session, after, 5_000).await?;
        let Some(last) = page.last() else {
            return Ok((records, bytes));
        };
        after = last.seq;
        records += page.len();
        bytes += page.iter().map(|e| e.payload.len() as u64).sum::<u64>();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// 100k small updates coalesced into 4 KiB records, one append a record.
async fn flood(log: &dyn EventLog, session: &str) -> anyhow::Result<Figures> {
    let started = Instant::now();
    let (mut pending, mut appends) = (String::new(), 0);
    let bytes = (UPDATES * CHUNK.len()) as u64;
    for _ in 0..UPDATES {
        pending.push_str(CHUNK);
        if pending.len() + CHUNK.len() > COALESCE {
            log.append_output(session, vec![(now_ms(), std::mem::take(&mut pending))])
                .await?;
            appends += 1;
        }
    }
    if !pending.is_empty() {
        log.append_output(session, vec![(now_ms(), pending)])
            .await?;
        appends += 1;
    }
    let elapsed = started.elapsed();
    let (retained_records, retained_bytes) = retained(log, session).await?;
    Ok(Figures {
        appends,
        bytes,
        records: UPDATES,
        elapsed,
        retained_bytes,
        retained_records,
    })
}

/// 100k records of 4 KiB, one append each: 400 MB through a 64 MiB bound.
async fn full_records(log: &dyn EventLog, session: &str) -> anyhow::Result<Figures> {
    let record = "x".repeat(COALESCE);
    let started = Instant::now();
    for _ in 0..UPDATES {
        log.append_output(session, vec![(now_ms(), record.clone())])
            .await?;
    }
    let elapsed = started.elapsed();
    let (retained_records, retained_bytes) = retained(log, session).await?;
    Ok(Figures {
        appends: UPDATES,
        bytes: (UPDATES * COALESCE) as u64,
        records: UPDATES,
        elapsed,
        retained_bytes,
        retained_records,
    })
}

pub async fn report(work: &Path, nats: bool) -> anyhow::Result<()> {
    println!(
        "| store | what | appends | appends/s | updates/s | MiB/s | records kept | bytes kept |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut stores: Vec<(&str, Arc<dyn EventLog>)> =
        vec![("SQLite", Arc::new(SqliteLog::open(&work.join("sqlite"))?))];
    let _server = if nats {
        let (server, url) = crate::util::start_nats(&work.join("nats"))?;
        stores.push((
            "JetStream",
            Arc::new(NatsLog::connect(&NatsOptions::new(&url)).await?),
        ));
        Some(server)
    } else {
        None
    };
    for (name, log) in &stores {
        let f = flood(log.as_ref(), "flood").await?;
        println!(
            "{}",
            f.row(name, "100k updates of 14 B coalesced to 4 KiB records")
        );
        let f = full_records(log.as_ref(), "records").await?;
        println!("{}", f.row(name, "100k records of 4 KiB, one an append"));
    }
    Ok(())
}
