//! The event log conformance suite and SQLite-specific checks on the embedded backend.


use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use async_trait::async_trait;
use crate::common::conformance::{self, Harness, next_event};
use crate::common::message;
use iteratr::store::{EventLog, SqliteLog, StoreError};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    conformance::run_all(&harness()).await;
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
