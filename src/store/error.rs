//! What can go wrong with the event log, by backend. Each message says what failed and what to
//! do; the cause (an I/O, SQLite or NATS error) is kept as the error's source, so it is printed
//! after the message by whoever shows the whole chain (`{:#}` at the command line).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use super::nats::managed::ManagedError;
use super::nats::{NatsUrl, NatsUrlError};

/// What is wrong with a stored event or batch.
#[derive(Debug, Error)]
pub enum CorruptReason {
    #[error("{0}")]
    Event(#[source] crate::session::DecodeError),
    #[error(
        "message {0} of the stream has no Iteratr-Seq/Iteratr-Count headers; something other than iteratr wrote to iteratr's subjects"
    )]
    NoHeaders(u64),
    #[error("the batch is not a JSON array ({0})")]
    NotAnArray(#[source] serde_json::Error),
    #[error("the batch holds {held} events, its headers say {count} ending at #{last}")]
    CountMismatch { held: usize, count: u64, last: u64 },
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error(
        "another writer appended to session '{session}' first (expected event #{expected} to be the last, found #{actual}); read the new events and retry"
    )]
    Conflict {
        session: String,
        expected: u64,
        actual: u64,
    },
    #[error(transparent)]
    InvalidSession(#[from] crate::session::DomainError),
    #[error(
        "session '{0}' was reset while it was being followed; open it again to see the new history"
    )]
    SessionReset(String),
    #[error(
        "event #{seq} of session '{session}' cannot be read: the log was changed outside iteratr or damaged there; iteratr changes nothing in it (restore the data dir from a backup, or go on under another session name with -n)"
    )]
    Corrupt {
        session: String,
        seq: u64,
        #[source]
        reason: CorruptReason,
    },
    #[error(
        "output record #{} of the batch for session '{session}' is {bytes} bytes, over the limit of {max} bytes a record; nothing was written; split it into smaller records",
        .index + 1
    )]
    OutputTooLarge {
        session: String,
        /// Its place in the batch, from 0.
        index: usize,
        bytes: usize,
        max: usize,
    },
    #[error("no iteratr data at {} yet", .0.display())]
    NotFound(PathBuf),
    // Boxed: they carry paths and causes, and every store call returns this type.
    #[error(transparent)]
    Sqlite(Box<SqliteError>),
    #[error(transparent)]
    Nats(Box<NatsError>),
    #[error(transparent)]
    Managed(Box<ManagedError>),
    /// The blocking task that ran a call ended without an answer (it panicked).
    #[error("event log task failed")]
    Task(#[from] tokio::task::JoinError),
}

impl From<SqliteError> for StoreError {
    fn from(e: SqliteError) -> Self {
        StoreError::Sqlite(Box::new(e))
    }
}

impl From<NatsError> for StoreError {
    fn from(e: NatsError) -> Self {
        StoreError::Nats(Box::new(e))
    }
}

impl From<ManagedError> for StoreError {
    fn from(e: ManagedError) -> Self {
        StoreError::Managed(Box::new(e))
    }
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

/// The embedded SQLite database cannot be opened or used.
#[derive(Debug, Error)]
pub enum SqliteError {
    #[error(
        "cannot open the event log at {}: cannot create the data directory (choose a writable one with --data-dir or ITERATR_DATA_DIR)",
        .dir.display()
    )]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot open the event log at {}: cannot create {} (choose a writable data directory with --data-dir or ITERATR_DATA_DIR)",
        .dir.display(),
        .file.display()
    )]
    CreateFile {
        dir: PathBuf,
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot open the event log at {}: it is not a directory; point --data-dir or ITERATR_DATA_DIR at a directory",
        .dir.display()
    )]
    NotADirectory { dir: PathBuf },
    #[error(
        "cannot open the event log at {}: the database cannot use write-ahead logging (journal mode stays '{mode}'); put the data dir on a local file system",
        .path.display()
    )]
    NoWal { path: PathBuf, mode: String },
    #[error(
        "cannot open the event log at {}: it was written by a newer iteratr (schema {found}, this build knows {known}); upgrade iteratr",
        .path.display()
    )]
    Newer {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "cannot open the event log at {}: it is an SQLite database, but not iteratr's; point --data-dir at another directory",
        .path.display()
    )]
    Foreign { path: PathBuf },
    #[error(
        "cannot open the event log at {}: it is damaged or not an iteratr database; nothing was changed (move it aside to start afresh, or point --data-dir elsewhere)",
        .path.display()
    )]
    Damaged {
        path: PathBuf,
        #[source]
        source: Cause<rusqlite::Error>,
    },
    #[error(
        "cannot open the event log at {} (check that the data directory and its files are readable and writable by you)",
        .path.display()
    )]
    Access {
        path: PathBuf,
        #[source]
        source: Cause<rusqlite::Error>,
    },
    #[error(
        "the event log at {} is locked: another process held it for over {}s (another iteratr, or a tool with the database open); nothing was written; stop that process or wait for it, then run the same command again",
        .path.display(),
        .waited.as_secs()
    )]
    Busy {
        path: PathBuf,
        waited: Duration,
        #[source]
        source: Cause<rusqlite::Error>,
    },
    #[error(
        "cannot write to the event log at {}: the disk is full (or a file size limit was reached); nothing was half written; free some space, then run the same command again",
        .path.display()
    )]
    Full {
        path: PathBuf,
        #[source]
        source: Cause<rusqlite::Error>,
    },
    #[error(
        "cannot write to the event log at {}: the file system or the database is read-only now; nothing was half written; make the data directory writable again, then run the same command again",
        .path.display()
    )]
    ReadOnly {
        path: PathBuf,
        #[source]
        source: Cause<rusqlite::Error>,
    },
    #[error(
        "the event log at {} failed to read or write the disk (is the file system full, read-only or failing?); nothing was half written; fix that, then run the same command again",
        .path.display()
    )]
    Io {
        path: PathBuf,
        #[source]
        source: Cause<rusqlite::Error>,
    },
    #[error("the event log at {} failed", .path.display())]
    Database {
        path: PathBuf,
        #[source]
        source: Cause<rusqlite::Error>,
    },
}

/// The NATS JetStream backend cannot connect, or the server stays out of reach.
#[derive(Debug, Error)]
pub enum NatsError {
    #[error(transparent)]
    Url(#[from] NatsUrlError),
    #[error(
        "cannot open the event log at {url}: {replicas} replicas asked; JetStream keeps 1 to 5 copies of a stream"
    )]
    Replicas { url: NatsUrl, replicas: usize },
    #[error(
        "cannot open the event log at {url}: '{stream}' is not a usable stream name (letters, digits, - and _ only)"
    )]
    StreamName { url: NatsUrl, stream: String },
    #[error(
        "cannot open the event log at {url}: cannot read the credentials file {} (check --nats-creds / ITERATR_NATS_CREDS)",
        .path.display()
    )]
    Credentials {
        url: NatsUrl,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot open the event log at {url}: cannot connect to the NATS server (start it, e.g. `nats-server -js`; check --nats-url / ITERATR_NATS_URL and the credentials; or pass --nats-server to let iteratr run a local one)"
    )]
    Connect {
        url: NatsUrl,
        #[source]
        source: Cause<async_nats::ConnectError>,
    },
    #[error(
        "cannot open the event log at {url}: cannot open or create the JetStream stream {stream} (check that JetStream is enabled on the server, with `nats-server -js` or `jetstream {{}}` in its config, and that the account allows streams{})",
        replicas_hint(*.replicas)
    )]
    Stream {
        url: NatsUrl,
        stream: String,
        replicas: usize,
        #[source]
        source: Cause<async_nats::jetstream::context::CreateStreamError>,
    },
    #[error(
        "cannot open the event log at {url}: the stream {stream} exists but does not hold the subjects {ours} (it has {}); choose another stream name",
        .subjects.join(", ")
    )]
    ForeignStream {
        url: NatsUrl,
        stream: String,
        ours: &'static str,
        subjects: Vec<String>,
    },
    #[error(
        "NATS: {what} kept failing for {}s (check that the server, or a majority of the cluster, is up and reachable)",
        .patience.as_secs()
    )]
    Unreachable {
        what: &'static str,
        patience: Duration,
        #[source]
        source: Cause<AnyError>,
    },
    #[error(
        "NATS: the batch is larger than the server's max_payload; raise max_payload in the server config or write fewer events at once"
    )]
    TooLarge {
        #[source]
        source: Cause<async_nats::jetstream::context::PublishError>,
    },
    #[error("NATS: a replayed message has no stream sequence")]
    NoStreamSequence {
        #[source]
        source: Cause<AnyError>,
    },
}

fn replicas_hint(replicas: usize) -> String {
    if replicas > 1 {
        format!(" with {replicas} replicas (the cluster needs that many JetStream servers)")
    } else {
        String::new()
    }
}

/// The error of an attempt that mixes several calls, whatever their error types.
pub type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// A library error as the cause of ours. SQLite and NATS errors already write their own causes
/// into their message ("IO error: Connection refused") and return them as sources too; this
/// keeps the error (in `.0`) and shows its message once, without the repeated chain below it.
#[derive(Debug)]
pub struct Cause<E>(pub E);

impl<E: fmt::Display> fmt::Display for Cause<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for Cause<E> {}

impl<E> From<E> for Cause<E> {
    fn from(e: E) -> Self {
        Cause(e)
    }
}
