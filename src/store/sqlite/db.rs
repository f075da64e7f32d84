//! Opening the database: connection settings, the schema check that leaves a foreign or damaged
//! file untouched, and SQLite errors turned into messages that say what to do.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{BUSY_TIMEOUT, SCHEMA_VERSION};
use crate::store::{Cause, SqliteError};

/// Runs `f` again while SQLite answers "busy" at once, up to [`BUSY_TIMEOUT`]. Switching a new
/// database to WAL, and reading it while another process does, can fail that way without waiting
/// for the busy timeout (seen with two `build`s started together on a fresh data dir).
pub(super) fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

pub(super) fn connect(path: &Path) -> Result<Connection, SqliteError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| db_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| db_error(path, e))?;
    // Look before changing anything: a damaged or foreign file must be left exactly as it is.
    match retry_busy(|| check_schema(&conn)).map_err(|e| db_error(path, e))? {
        Schema::Ours => {}
        Schema::Newer(found) => {
            return Err(SqliteError::Newer {
                path: path.to_path_buf(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        Schema::Foreign => {
            return Err(SqliteError::Foreign {
                path: path.to_path_buf(),
            });
        }
    }
    let mode: String = retry_busy(|| conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)))
        .map_err(|e| db_error(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(SqliteError::NoWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    // FULL: a commit survives a power cut, not only a crash of iteratr. Appends are few and small.
    retry_busy(|| conn.pragma_update(None, "synchronous", "FULL"))
        .map_err(|e| db_error(path, e))?;
    // A page cache of 1 MiB (SQLite's default is 2 MB): appends touch the last pages, and the
    // fold reads the log once, in order; a long build's cache no longer grows to 2 MB a connection.
    retry_busy(|| conn.pragma_update(None, "cache_size", -1024)).map_err(|e| db_error(path, e))?;
    Ok(conn)
}

/// What a database holds, as far as iteratr is concerned.
enum Schema {
    /// iteratr's, or empty (a new file).
    Ours,
    /// iteratr's, from a newer iteratr with this schema version.
    Newer(i64),
    /// Somebody else's tables.
    Foreign,
}

/// Tells a database that is not iteratr's, or is from a newer iteratr. Reads only.
fn check_schema(conn: &Connection) -> rusqlite::Result<Schema> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if tables.iter().any(|t| t == "iteratr_meta") {
        let version: i64 = conn.query_row(
            "SELECT CAST(value AS INTEGER) FROM iteratr_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )?;
        if version > SCHEMA_VERSION {
            return Ok(Schema::Newer(version));
        }
        return Ok(Schema::Ours);
    }
    if !tables.is_empty() {
        return Ok(Schema::Foreign);
    }
    Ok(Schema::Ours)
}

/// Creates the tables if they are missing (safe when several processes race to do it).
///
/// The output tables (`output`, `output_sessions`, see `output.rs`) came after schema version 1
/// and are created here on any database, old or new, without raising the version: the version
/// says when an older iteratr could misread what is stored, and an older one never looks at
/// these tables (it still opens the database; its `reset` leaves a session's output to age out).
pub(super) fn init_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         CREATE TABLE IF NOT EXISTS iteratr_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS events (
             session TEXT NOT NULL,
             seq     INTEGER NOT NULL,
             at_ms   INTEGER NOT NULL,
             type    TEXT NOT NULL,
             payload TEXT NOT NULL,
             PRIMARY KEY (session, seq)
         ) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS output (
             seq       INTEGER PRIMARY KEY AUTOINCREMENT,
             session   TEXT NOT NULL,
             at_ms     INTEGER NOT NULL,
             stored_ms INTEGER NOT NULL,
             bytes     INTEGER NOT NULL,
             payload   TEXT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS output_by_session ON output (session, seq, bytes);
         CREATE INDEX IF NOT EXISTS output_by_age ON output (stored_ms, session, bytes);
         CREATE TABLE IF NOT EXISTS output_sessions (
             session TEXT PRIMARY KEY,
             bytes   INTEGER NOT NULL
         ) WITHOUT ROWID;
         INSERT OR IGNORE INTO iteratr_meta (key, value) VALUES ('schema_version', '1');
         COMMIT;",
    )
}

pub(super) fn db_error(path: &Path, e: rusqlite::Error) -> SqliteError {
    let path = path.to_path_buf();
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    };
    let source = Cause(e);
    match code {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            SqliteError::Damaged { path, source }
        }
        Some(ErrorCode::DiskFull) => SqliteError::Full { path, source },
        Some(ErrorCode::ReadOnly) => SqliteError::ReadOnly { path, source },
        Some(ErrorCode::SystemIoFailure) => SqliteError::Io { path, source },
        Some(ErrorCode::PermissionDenied | ErrorCode::CannotOpen) => {
            SqliteError::Access { path, source }
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => SqliteError::Busy {
            path,
            waited: BUSY_TIMEOUT,
            source,
        },
        _ => SqliteError::Database { path, source },
    }
}
