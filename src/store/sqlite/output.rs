//! The agent's output in SQLite: the `output` table (one row a record, numbered by an
//! AUTOINCREMENT rowid, so numbers never go back, even after a reset or a prune of the newest
//! rows), and `output_sessions` (the payload bytes each session holds now).
//!
//! Bounds, and why they hold:
//! - Bytes: every append adds its payload sizes to the session's counter in the same transaction
//!   as the rows; when the counter goes over `max_bytes`, that same transaction deletes the oldest
//!   rows until the session is at 7/8 of the bound. So after every commit a session holds at most
//!   `max_bytes` of payload (exactly, not within a margin), and once it has filled up at least
//!   7/8 of it minus one record. A prune walks only the rows it deletes (oldest first, on the
//!   covering index `output_by_session`) and runs once per `max_bytes / 8` appended, not per
//!   append. Every delete (prune, age, reset) updates the counter in its transaction; a counter
//!   found too high (rows deleted outside iteratr) is corrected when a prune runs out of rows.
//! - Age: records are aged by when they were stored (`stored_ms`, the writer's clock, as
//!   JetStream ages by the server's). Reads never return a record older than `max_age`; the rows
//!   themselves are deleted by a sweep over all sessions that each process runs at most once a
//!   second from an append, on the index `output_by_age`, walking only the expired rows. A session
//!   nobody appends to any more is swept by the next append to any session.
//!
//! Output is written through a second connection with `synchronous=NORMAL`: in WAL mode a commit
//! is then not flushed to disk at once (the next checkpoint, or the next event append, which runs
//! with `FULL`, flushes it). A power cut can lose the last moments of output, never the events
//! and never the database; in exchange a flood of output costs no fsync per append and does not
//! queue behind the event log's connection.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use tokio::sync::{mpsc, watch};

use super::db::{connect, db_error, retry_busy};
use super::{Inner, to_i64};
use crate::store::{OutputEntry, OutputSubscription, StoreError};

/// A session over its bound is pruned down to this many eighths of it.
const PRUNE_TO_EIGHTHS: u64 = 7;
/// How often (at most) one process deletes expired output.
const SWEEP_EVERY_MS: i64 = 1_000;
const SUBSCRIPTION_PAGE: usize = 500;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs `f` on the output connection, opening it first if needed.
fn with_conn<T>(
    inner: &Inner,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
) -> Result<T, StoreError> {
    let mut slot = inner.output_conn.lock().unwrap_or_else(|p| p.into_inner());
    let conn = match &mut *slot {
        Some(conn) => conn,
        None => {
            let conn = connect(&inner.path)?;
            retry_busy(|| conn.pragma_update(None, "synchronous", "NORMAL"))
                .map_err(|e| db_error(&inner.path, e))?;
            slot.insert(conn)
        }
    };
    f(conn).map_err(|e| inner.err(e))
}

/// The oldest `stored_ms` a reader may still see.
fn cutoff(inner: &Inner, now: i64) -> i64 {
    let age = i64::try_from(inner.retention.max_age.as_millis()).unwrap_or(i64::MAX);
    now.saturating_sub(age)
}

pub(super) fn append(
    inner: &Inner,
    session: &str,
    records: &[(i64, String)],
) -> Result<u64, StoreError> {
    let now = now_ms();
    let sweep = now - inner.last_sweep_ms.load(Ordering::Relaxed) >= SWEEP_EVERY_MS;
    let last = with_conn(inner, |conn| {
        if records.is_empty() {
            return conn.query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM output WHERE session = ?1",
                [session],
                |r| r.get::<_, i64>(0),
            );
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut last = 0;
        let mut added: i64 = 0;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO output (session, at_ms, stored_ms, bytes, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (at_ms, payload) in records {
                let bytes = to_i64(payload.len() as u64);
                insert.execute(params![session, at_ms, now, bytes, payload])?;
                last = tx.last_insert_rowid();
                added = added.saturating_add(bytes);
            }
        }
        let total: i64 = tx.query_row(
            "INSERT INTO output_sessions (session, bytes) VALUES (?1, ?2)
             ON CONFLICT (session) DO UPDATE SET bytes = bytes + excluded.bytes
             RETURNING bytes",
            params![session, added],
            |r| r.get(0),
        )?;
        let max = inner.retention.max_bytes;
        if total.max(0) as u64 > max {
            prune_bytes(
                &tx,
                session,
                total.max(0) as u64,
                max / 8 * PRUNE_TO_EIGHTHS,
            )?;
        }
        if sweep {
            sweep_expired(&tx, cutoff(inner, now))?;
        }
        tx.commit()?;
        Ok(last)
    })?;
    if sweep && !records.is_empty() {
        inner.last_sweep_ms.store(now, Ordering::Relaxed);
    }
    if !records.is_empty() {
        inner.notify_output();
    }
    Ok(last.max(0) as u64)
}

/// Deletes the session's oldest rows until it holds at most `target` bytes.
fn prune_bytes(tx: &Transaction, session: &str, total: u64, target: u64) -> rusqlite::Result<()> {
    let excess = total.saturating_sub(target);
    let (mut freed, mut cut) = (0u64, None);
    {
        let mut oldest =
            tx.prepare_cached("SELECT seq, bytes FROM output WHERE session = ?1 ORDER BY seq")?;
        let mut rows = oldest.query([session])?;
        while let Some(row) = rows.next()? {
            freed += row.get::<_, i64>(1)?.max(0) as u64;
            cut = Some(row.get::<_, i64>(0)?);
            if freed >= excess {
                break;
            }
        }
    }
    if let Some(cut) = cut {
        tx.prepare_cached("DELETE FROM output WHERE session = ?1 AND seq <= ?2")?
            .execute(params![session, cut])?;
    }
    // Ran out of rows before freeing enough: the counter was too high; the session is empty now.
    let left = if freed >= excess { total - freed } else { 0 };
    tx.prepare_cached("UPDATE output_sessions SET bytes = ?2 WHERE session = ?1")?
        .execute(params![session, to_i64(left)])?;
    Ok(())
}

/// Deletes every session's records stored before `cutoff`.
fn sweep_expired(tx: &Transaction, cutoff: i64) -> rusqlite::Result<()> {
    let expired: Vec<(String, i64)> = tx
        .prepare_cached(
            "SELECT session, SUM(bytes) FROM output WHERE stored_ms < ?1 GROUP BY session",
        )?
        .query_map([cutoff], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if expired.is_empty() {
        return Ok(());
    }
    tx.prepare_cached("DELETE FROM output WHERE stored_ms < ?1")?
        .execute([cutoff])?;
    let mut update = tx.prepare_cached(
        "UPDATE output_sessions SET bytes = MAX(bytes - ?2, 0) WHERE session = ?1",
    )?;
    for (session, bytes) in expired {
        update.execute(params![session, bytes])?;
    }
    Ok(())
}

/// Drops a session's output (inside the caller's transaction: a reset).
pub(super) fn delete_session(tx: &Transaction, session: &str) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM output WHERE session = ?1", [session])?;
    tx.execute("DELETE FROM output_sessions WHERE session = ?1", [session])?;
    Ok(())
}

pub(super) fn read(
    inner: &Inner,
    session: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<OutputEntry>, StoreError> {
    let since = cutoff(inner, now_ms());
    with_conn(inner, |conn| {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, at_ms, payload FROM output
             WHERE session = ?1 AND seq > ?2 AND stored_ms >= ?3 ORDER BY seq LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![session, to_i64(after), since, to_i64(limit as u64)],
            |r| {
                Ok(OutputEntry {
                    seq: r.get::<_, i64>(0)?.max(0) as u64,
                    at_ms: r.get(1)?,
                    payload: r.get(2)?,
                })
            },
        )?;
        rows.collect()
    })
}

/// Feeds an output subscription: pages of retained records, then a wait for the next change
/// (an append here, or a commit by another process that the `data_version` watcher noticed).
pub(super) fn subscribe(
    inner: Arc<Inner>,
    session: String,
    after: u64,
    mut changes: watch::Receiver<u64>,
) -> OutputSubscription {
    let (tx, rx) = mpsc::channel(SUBSCRIPTION_PAGE);
    tokio::spawn(async move {
        let mut cursor = after;
        loop {
            // Seen before reading, so a commit that lands during the read wakes us again.
            changes.borrow_and_update();
            let (inner2, session2) = (Arc::clone(&inner), session.clone());
            let page = tokio::task::spawn_blocking(move || {
                read(&inner2, &session2, cursor, SUBSCRIPTION_PAGE)
            })
            .await
            .map_err(StoreError::from)
            .and_then(|r| r);
            match page {
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
                Ok(page) if page.is_empty() => {
                    tokio::select! {
                        changed = changes.changed() => if changed.is_err() { return },
                        _ = tx.closed() => return,
                    }
                }
                Ok(page) => {
                    for entry in page {
                        cursor = entry.seq;
                        if tx.send(Ok(entry)).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    OutputSubscription::from_channel(rx)
}
