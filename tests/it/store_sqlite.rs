//! The event log conformance suite and SQLite-specific checks on the embedded backend.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use crate::common::conformance::{self, Harness, next_event};
use crate::common::message;
use crate::common::output_conformance::{self, OutputHarness};
use async_trait::async_trait;
use iteratr::store::{EventLog, OutputRetention, SqliteLog, StoreError};

struct Sqlite {
    dir: tempfile::TempDir,
}

#[async_trait]
impl Harness for Sqlite {
    async fn open(&self) -> Arc<dyn EventLog> {
        Arc::new(SqliteLog::open(self.dir.path()).unwrap())
    }
}

fn harness() -> Sqlite {
    Sqlite {
        dir: tempfile::tempdir().unwrap(),
    }
}

#[async_trait]
impl OutputHarness for Sqlite {
    async fn open_with(&self, retention: OutputRetention) -> Arc<dyn EventLog> {
        Arc::new(SqliteLog::open_with(self.dir.path(), retention).unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    conformance::run_all(&harness()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_conformance_suite() {
    output_conformance::run_all(&harness()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_and_database_are_owner_only() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("nested").join(".iteratr");
    let log = SqliteLog::open(&dir).unwrap();
    log.append("s", 0, vec![message("x")]).await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("iteratr.db")), 0o600);
    assert_eq!(mode(&dir.join("iteratr.db-wal")), 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_for_reading_never_creates_anything() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("missing");
    assert!(matches!(
        SqliteLog::open_existing(&dir),
        Err(StoreError::NotFound(_))
    ));
    assert!(!dir.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_or_damaged_file_is_refused_untouched() {
    let root = tempfile::tempdir().unwrap();
    let db = root.path().join("iteratr.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&db, &garbage).unwrap();
    let err = SqliteLog::open(root.path()).err().unwrap().to_string();
    assert!(err.contains("damaged or not an iteratr database"), "{err}");
    assert!(
        std::fs::read(&db).unwrap() == garbage,
        "the damaged file was changed"
    );

    let other = tempfile::tempdir().unwrap();
    let conn = foreign_db(other.path());
    let err = SqliteLog::open(other.path()).err().unwrap().to_string();
    assert!(err.contains("not iteratr's"), "{err}");
    assert!(
        std::fs::read(other.path().join("iteratr.db")).unwrap() == conn,
        "the foreign database was changed"
    );
    assert!(!other.path().join("iteratr.db-wal").exists());
}

/// Writes an SQLite database holding somebody else's table (with Python's sqlite3, so the test does
/// not depend on the code under test) and returns its bytes.
fn foreign_db(dir: &std::path::Path) -> Vec<u8> {
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3; c = sqlite3.connect('{}'); c.execute('create table photos (x)'); c.commit(); c.close()",
            dir.join("iteratr.db").display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(dir.join("iteratr.db")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_learns_of_a_reset() {
    let h = harness();
    let log = h.open().await;
    log.append("r", 0, vec![message("a"), message("b")])
        .await
        .unwrap();
    let mut sub = log.subscribe("r", 0).await.unwrap();
    next_event(&mut sub).await;
    next_event(&mut sub).await;
    log.reset("r").await.unwrap();
    let got = tokio::time::timeout(std::time::Duration::from_secs(20), sub.next())
        .await
        .unwrap();
    assert!(
        matches!(got, Some(Err(StoreError::SessionReset(_)))),
        "{got:?}"
    );
}

/// The schema of iteratr before the output stream (schema version 1 without the output tables),
/// written with plain SQL, not by the code under test.
const SCHEMA_BEFORE_OUTPUT: &str = "
    CREATE TABLE iteratr_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE events (
        session TEXT NOT NULL,
        seq     INTEGER NOT NULL,
        at_ms   INTEGER NOT NULL,
        type    TEXT NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY (session, seq)
    ) WITHOUT ROWID;
    INSERT INTO iteratr_meta (key, value) VALUES ('schema_version', '1');";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_the_output_stream_opens_and_gains_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = rusqlite::Connection::open(dir.path().join("iteratr.db")).unwrap();
        c.execute_batch(SCHEMA_BEFORE_OUTPUT).unwrap();
        let e = message("kept");
        c.execute(
            "INSERT INTO events (session, seq, at_ms, type, payload) VALUES ('old', 1, ?1, ?2, ?3)",
            rusqlite::params![e.at_ms, e.kind.type_name(), e.to_json()],
        )
        .unwrap();
    }
    let log = SqliteLog::open_existing(dir.path()).unwrap();
    let events = log.read("old", 0, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, message("kept"));
    let seq = log
        .append_output("old", vec![(1, "output".into())])
        .await
        .unwrap();
    assert_eq!(log.read_output("old", 0, 10).await.unwrap()[0].seq, seq);
    assert_eq!(
        log.append("old", 1, vec![message("next")]).await.unwrap(),
        2
    );
    drop(log);
    let c = rusqlite::Connection::open(dir.path().join("iteratr.db")).unwrap();
    let version: String = c
        .query_row(
            "SELECT value FROM iteratr_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        version, "1",
        "an additive table does not lock older builds out"
    );
}

/// What the conformance suite cannot see from outside: the rows themselves. Over its byte bound a
/// session is pruned to 7/8 of it (not to nothing, not one row at a time), and expired rows are
/// deleted, not only hidden from readers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_rows_are_pruned_to_seven_eighths_and_expired_ones_deleted() {
    let h = harness();
    let bound = 1024 * 1024;
    let retention = OutputRetention::new(std::time::Duration::from_secs(3600), bound).unwrap();
    let log = h.open_with(retention).await;
    let record = "r".repeat(4096);
    for _ in 0..1000 {
        log.append_output("flood", vec![(1, record.clone())])
            .await
            .unwrap();
    }
    let c = rusqlite::Connection::open(h.dir.path().join("iteratr.db")).unwrap();
    let stored = |c: &rusqlite::Connection| -> (u64, u64, u64) {
        c.query_row(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0), COALESCE(SUM(length(CAST(payload AS BLOB))), 0)
             FROM output WHERE session = 'flood'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    let (rows, bytes, payload) = stored(&c);
    assert_eq!(bytes, payload, "the bytes column is the payload's size");
    assert!(bytes <= bound, "{bytes} > {bound}");
    assert!(
        bytes >= bound / 8 * 7 - 4096,
        "{bytes} bytes kept of {bound}: pruned too far"
    );
    let counter: u64 = c
        .query_row(
            "SELECT bytes FROM output_sessions WHERE session = 'flood'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(counter, bytes, "the running count matches the rows");
    assert!(rows < 1000);
    // With a retention of two seconds, an append (to any session) two seconds on deletes the
    // expired rows.
    let retention = OutputRetention::new(std::time::Duration::from_secs(2), bound).unwrap();
    let log = h.open_with(retention).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while stored(&c).0 > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?} rows of 'flood' left",
            stored(&c)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        log.append_output("other", vec![(1, "x".into())])
            .await
            .unwrap();
    }
    let counter: u64 = c
        .query_row(
            "SELECT bytes FROM output_sessions WHERE session = 'flood'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(counter, 0);
}
