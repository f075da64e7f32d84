//! The embedded default backend: one SQLite database in WAL mode under the data dir.
//!
//! SQLite is synchronous, so every call runs on tokio's blocking pool. Appends take the write lock
//! up front (`BEGIN IMMEDIATE`) and check the expected sequence number inside the transaction; the
//! primary key (session, seq) turns any race that slipped through into an error, never an
//! overwrite. Other processes' appends are noticed by polling `PRAGMA data_version`, which changes
//! whenever another connection commits.
//!
//! The agent's output lives in its own tables beside the events ([`output`]), written through a
//! second connection.

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, TransactionBehavior, params};
use tokio::sync::{mpsc, watch};

use self::db::{connect, db_error, init_schema, retry_busy};
use super::{
    CorruptReason, EventLog, OutputEntry, OutputRetention, OutputSubscription, SessionInfo,
    SqliteError, StoreError, StoredEvent, Subscription,
};
use crate::session::{Event, validate_session_name};

mod db;
mod output;

const SCHEMA_VERSION: i64 = 1;
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a subscriber's process looks for commits by other processes.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
const SUBSCRIPTION_PAGE: usize = 500;

pub struct SqliteLog {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Bumped on every change this process makes or sees; subscribers wait on it.
    changed: watch::Sender<u64>,
    /// The same for the output stream: output appends do not wake the event subscribers.
    output_changed: watch::Sender<u64>,
    watcher_running: AtomicBool,
    /// The connection output goes through, opened on first use (see [`output`]).
    output_conn: Mutex<Option<Connection>>,
    retention: OutputRetention,
    /// When this process last deleted expired output (ms since the epoch).
    last_sweep_ms: AtomicI64,
}

impl Inner {
    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-written state: SQLite rolls back the
        // transaction when it is dropped.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        db_error(&self.path, e).into()
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn notify_output(&self) {
        self.output_changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Subscribers of events or output in this process (the watcher runs while there are any).
    fn subscribers(&self) -> usize {
        self.changed.receiver_count() + self.output_changed.receiver_count()
    }
}

impl SqliteLog {
    pub const FILE_NAME: &'static str = "iteratr.db";

    pub fn db_path(data_dir: &Path) -> PathBuf {
        data_dir.join(Self::FILE_NAME)
    }

    /// Opens the log in `data_dir`, creating the directory (owner-only) and the database if needed.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(data_dir, OutputRetention::default())
    }

    /// [`SqliteLog::open`], keeping the agent's output within `retention`.
    pub fn open_with(data_dir: &Path, retention: OutputRetention) -> Result<Self, StoreError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(|source| SqliteError::CreateDir {
                dir: data_dir.to_path_buf(),
                source,
            })?;
        let db = Self::db_path(data_dir);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&db)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(SqliteError::CreateFile {
                    dir: data_dir.to_path_buf(),
                    file: db,
                    source,
                }
                .into());
            }
        }
        Self::open_file(db, retention)
    }

    /// Opens the log in `data_dir` only if it exists: [`StoreError::NotFound`] otherwise. For
    /// commands that only read, so they never leave a data dir behind.
    pub fn open_existing(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_existing_with(data_dir, OutputRetention::default())
    }

    /// [`SqliteLog::open_existing`], keeping the agent's output within `retention`.
    pub fn open_existing_with(
        data_dir: &Path,
        retention: OutputRetention,
    ) -> Result<Self, StoreError> {
        if data_dir.exists() && !data_dir.is_dir() {
            return Err(SqliteError::NotADirectory {
                dir: data_dir.to_path_buf(),
            }
            .into());
        }
        let db = Self::db_path(data_dir);
        if !db.exists() {
            return Err(StoreError::NotFound(data_dir.to_path_buf()));
        }
        Self::open_file(db, retention)
    }

    fn open_file(path: PathBuf, retention: OutputRetention) -> Result<Self, StoreError> {
        let conn = connect(&path)?;
        retry_busy(|| init_schema(&conn)).map_err(|e| db_error(&path, e))?;
        let (changed, _) = watch::channel(0);
        let (output_changed, _) = watch::channel(0);
        Ok(SqliteLog {
            inner: Arc::new(Inner {
                path,
                conn: Mutex::new(conn),
                changed,
                output_changed,
                watcher_running: AtomicBool::new(false),
                output_conn: Mutex::new(None),
                retention,
                last_sweep_ms: AtomicI64::new(0),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner)).await?
    }

    /// Starts the thread that notices other processes' commits, unless it runs already.
    fn ensure_watcher(&self) {
        if self
            .inner
            .watcher_running
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let path = self.inner.path.clone();
        let spawned = std::thread::Builder::new()
            .name("iteratr-sqlite-watch".into())
            .spawn(move || watch_commits(weak, &path));
        if let Err(e) = spawned {
            tracing::warn!(
                "cannot start the event log watcher: {e}; other processes' events will not show up live"
            );
            self.inner.watcher_running.store(false, Ordering::SeqCst);
        }
    }
}

fn watch_commits(weak: Weak<Inner>, path: &Path) {
    let conn = match connect(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("event log watcher cannot open the database: {e}");
            if let Some(inner) = weak.upgrade() {
                inner.watcher_running.store(false, Ordering::SeqCst);
            }
            return;
        }
    };
    let version = |c: &Connection| -> Option<i64> {
        c.query_row("PRAGMA data_version", [], |r| r.get(0)).ok()
    };
    let mut last = version(&conn);
    // A commit may have landed between the subscriber's last read and this baseline: wake the
    // subscribers once so they read again, or they could wait for a change already counted.
    match weak.upgrade() {
        Some(inner) => {
            inner.notify();
            inner.notify_output();
        }
        None => return,
    }
    loop {
        std::thread::sleep(POLL_INTERVAL);
        let Some(inner) = weak.upgrade() else { return };
        if inner.subscribers() == 0 {
            inner.watcher_running.store(false, Ordering::SeqCst);
            // A subscriber may have arrived between the check and the store; if so, keep going.
            if inner.subscribers() == 0
                || inner
                    .watcher_running
                    .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
            {
                return;
            }
        }
        let now = version(&conn);
        if now != last {
            last = now;
            // Either table may have changed; each kind of subscriber reads its own.
            inner.notify();
            inner.notify_output();
        }
    }
}

fn read_page(
    inner: &Inner,
    session: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    let conn = inner.conn();
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, payload FROM events WHERE session = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )
        .map_err(|e| inner.err(e))?;
    let rows = stmt
        .query_map(params![session, to_i64(after), to_i64(limit as u64)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(|e| inner.err(e))?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, payload) = row.map_err(|e| inner.err(e))?;
        let seq = seq.max(0) as u64;
        let event = Event::from_json(&payload).map_err(|e| StoreError::Corrupt {
            session: session.to_string(),
            seq,
            reason: CorruptReason::Event(e),
        })?;
        out.push(StoredEvent { seq, event });
    }
    Ok(out)
}

fn last_seq(inner: &Inner, session: &str) -> Result<u64, StoreError> {
    let conn = inner.conn();
    let last: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE session = ?1",
            [session],
            |r| r.get(0),
        )
        .map_err(|e| inner.err(e))?;
    Ok(last.max(0) as u64)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl EventLog for SqliteLog {
    fn describe(&self) -> String {
        format!("sqlite {}", self.inner.path.display())
    }

    async fn append(
        &self,
        session: &str,
        expected_last: u64,
        events: Vec<Event>,
    ) -> Result<u64, StoreError> {
        validate_session_name(session)?;
        let session = session.to_string();
        self.blocking(move |inner| {
            let mut conn = inner.conn();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| inner.err(e))?;
            let last: i64 = tx
                .query_row(
                    "SELECT COALESCE(MAX(seq), 0) FROM events WHERE session = ?1",
                    [&session],
                    |r| r.get(0),
                )
                .map_err(|e| inner.err(e))?;
            let last = last.max(0) as u64;
            if last != expected_last {
                return Err(StoreError::Conflict {
                    session,
                    expected: expected_last,
                    actual: last,
                });
            }
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO events (session, seq, at_ms, type, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(|e| inner.err(e))?;
                for (i, event) in events.iter().enumerate() {
                    insert
                        .execute(params![
                            session,
                            to_i64(last + 1 + i as u64),
                            event.at_ms,
                            event.kind.type_name(),
                            event.to_json()
                        ])
                        .map_err(|e| inner.err(e))?;
                    crate::fault::reached("append", event.kind.type_name());
                }
            }
            tx.commit().map_err(|e| inner.err(e))?;
            for event in &events {
                crate::fault::reached("appended", event.kind.type_name());
            }
            drop(conn);
            if !events.is_empty() {
                inner.notify();
            }
            Ok(last + events.len() as u64)
        })
        .await
    }

    async fn read(
        &self,
        session: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        validate_session_name(session)?;
        let session = session.to_string();
        self.blocking(move |inner| read_page(inner, &session, after, limit))
            .await
    }

    async fn last_seq(&self, session: &str) -> Result<u64, StoreError> {
        validate_session_name(session)?;
        let session = session.to_string();
        self.blocking(move |inner| last_seq(inner, &session)).await
    }

    async fn subscribe(&self, session: &str, after: u64) -> Result<Subscription, StoreError> {
        validate_session_name(session)?;
        let mut changes = self.inner.changed.subscribe();
        self.ensure_watcher();
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_PAGE);
        let inner = Arc::clone(&self.inner);
        let session = session.to_string();
        tokio::spawn(async move {
            let mut cursor = after;
            loop {
                // Mark the current version seen before reading, so a commit that lands during
                // the read wakes us again.
                changes.borrow_and_update();
                let (inner2, session2) = (Arc::clone(&inner), session.clone());
                let page = tokio::task::spawn_blocking(move || {
                    let page = read_page(&inner2, &session2, cursor, SUBSCRIPTION_PAGE)?;
                    let last = if page.is_empty() {
                        last_seq(&inner2, &session2)?
                    } else {
                        0
                    };
                    Ok::<_, StoreError>((page, last))
                })
                .await
                .map_err(StoreError::from)
                .and_then(|r| r);
                match page {
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                    Ok((page, last)) if page.is_empty() => {
                        if last < cursor {
                            let _ = tx.send(Err(StoreError::SessionReset(session))).await;
                            return;
                        }
                        tokio::select! {
                            changed = changes.changed() => if changed.is_err() { return },
                            _ = tx.closed() => return,
                        }
                    }
                    Ok((page, _)) => {
                        for event in page {
                            cursor = event.seq;
                            if tx.send(Ok(event)).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        Ok(Subscription::from_channel(rx))
    }

    async fn sessions(&self) -> Result<Vec<SessionInfo>, StoreError> {
        self.blocking(|inner| {
            let conn = inner.conn();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT session, COUNT(*), MAX(seq), MIN(at_ms), MAX(at_ms)
                     FROM events GROUP BY session ORDER BY session",
                )
                .map_err(|e| inner.err(e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(SessionInfo {
                        name: r.get(0)?,
                        events: r.get::<_, i64>(1)?.max(0) as u64,
                        last_seq: r.get::<_, i64>(2)?.max(0) as u64,
                        first_at_ms: r.get(3)?,
                        last_at_ms: r.get(4)?,
                    })
                })
                .map_err(|e| inner.err(e))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| inner.err(e))
        })
        .await
    }

    async fn reset(&self, session: &str) -> Result<(), StoreError> {
        validate_session_name(session)?;
        let session = session.to_string();
        self.blocking(move |inner| {
            let mut conn = inner.conn();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| inner.err(e))?;
            tx.execute("DELETE FROM events WHERE session = ?1", [&session])
                .map_err(|e| inner.err(e))?;
            output::delete_session(&tx, &session).map_err(|e| inner.err(e))?;
            tx.commit().map_err(|e| inner.err(e))?;
            drop(conn);
            inner.notify();
            inner.notify_output();
            Ok(())
        })
        .await
    }

    async fn append_output(
        &self,
        session: &str,
        records: Vec<(i64, String)>,
    ) -> Result<u64, StoreError> {
        validate_session_name(session)?;
        super::output::validate_output(session, &records)?;
        let session = session.to_string();
        self.blocking(move |inner| output::append(inner, &session, &records))
            .await
    }

    async fn read_output(
        &self,
        session: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutputEntry>, StoreError> {
        validate_session_name(session)?;
        let session = session.to_string();
        self.blocking(move |inner| output::read(inner, &session, after, limit))
            .await
    }

    async fn subscribe_output(
        &self,
        session: &str,
        after: u64,
    ) -> Result<OutputSubscription, StoreError> {
        validate_session_name(session)?;
        let changes = self.inner.output_changed.subscribe();
        self.ensure_watcher();
        Ok(output::subscribe(
            Arc::clone(&self.inner),
            session.to_string(),
            after,
            changes,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::session::{Author, EventKind};

    /// A row that cannot be read reaches the reader as an error on the subscription; the feed
    /// does not just end.
    #[tokio::test]
    async fn a_bad_row_is_an_error_on_the_subscription() {
        let dir = tempfile::tempdir().unwrap();
        let log = SqliteLog::open(dir.path()).unwrap();
        let event = Event::new(
            1,
            Author::User,
            EventKind::UserMessage {
                text: "hi".into(),
                who: String::new(),
            },
        );
        log.append("s", 0, vec![event]).await.unwrap();
        let mut sub = log.subscribe("s", 0).await.unwrap();
        let first = tokio::time::timeout(Duration::from_secs(10), sub.next()).await;
        assert!(matches!(first, Ok(Some(Ok(_)))), "{first:?}");
        let other = Connection::open(SqliteLog::db_path(dir.path())).unwrap();
        other
            .execute(
                "INSERT INTO events (session, seq, at_ms, type, payload) VALUES ('s', 2, 2, 'x', 'not json')",
                [],
            )
            .unwrap();
        let next = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("the subscription neither failed nor ended");
        assert!(
            matches!(next, Some(Err(StoreError::Corrupt { seq: 2, .. }))),
            "{next:?}"
        );
    }
}
