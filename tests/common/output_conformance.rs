//! The contract of the output stream (the agent's output beside the session log, issue 29),
//! written once and run against every backend. A backend's test file provides an
//! [`OutputHarness`] and calls [`run_all`].
//!
//! Each check uses its own sessions. The checks that need small bounds open the store with their
//! own retention, which on JetStream changes the limits of the one output stream: run them in the
//! order [`run_all`] does (age last).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use iteratr::store::{
    EventLog, MAX_OUTPUT_PAYLOAD, OutputEntry, OutputRetention, OutputSubscription, StoreError,
    read_all,
};

use super::message;

/// Opens the store under test with the given output retention. Every call gives an independent
/// handle on the same stored data (a new connection), the way a second process would see it.
#[async_trait]
pub trait OutputHarness: Send + Sync {
    async fn open_with(&self, retention: OutputRetention) -> Arc<dyn EventLog>;

    async fn open_default(&self) -> Arc<dyn EventLog> {
        self.open_with(OutputRetention::default()).await
    }
}

/// Guards against a hang: a broken feed fails the test instead of blocking CI. Not a speed check.
const PATIENCE: Duration = Duration::from_secs(20);
const AT: i64 = 1_700_000_000_000;

pub async fn next_output(sub: &mut OutputSubscription) -> OutputEntry {
    match tokio::time::timeout(PATIENCE, sub.next()).await {
        Ok(Some(Ok(e))) => e,
        Ok(Some(Err(e))) => panic!("output subscription failed: {e}"),
        Ok(None) => panic!("output subscription ended"),
        Err(_) => panic!("no output within {PATIENCE:?}"),
    }
}

fn records(texts: &[&str]) -> Vec<(i64, String)> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| (AT + i as i64, t.to_string()))
        .collect()
}

fn payloads(entries: &[OutputEntry]) -> Vec<String> {
    entries.iter().map(|e| e.payload.clone()).collect()
}

/// Every retained record of a session, in pages.
pub async fn read_all_output(log: &dyn EventLog, session: &str) -> Vec<OutputEntry> {
    let mut out: Vec<OutputEntry> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.seq);
        let page = log.read_output(session, after, 1000).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

fn assert_increasing(entries: &[OutputEntry]) {
    assert!(
        entries.windows(2).all(|w| w[0].seq < w[1].seq),
        "sequence numbers increase: {:?}",
        entries.iter().map(|e| e.seq).collect::<Vec<_>>()
    );
}

pub async fn run_all(h: &dyn OutputHarness) {
    append_and_read_in_order(h).await;
    subscribe_replays_then_follows(h).await;
    late_subscriber_gets_the_retained_output_first(h).await;
    two_writers_racing_lose_nothing(h).await;
    the_session_log_is_untouched(h).await;
    reset_drops_the_output(h).await;
    oversize_or_bad_input_is_refused_and_nothing_written(h).await;
    pruning_by_bytes_keeps_the_newest_within_the_bound(h).await;
    pruning_by_age(h).await;
}

pub async fn append_and_read_in_order(h: &dyn OutputHarness) {
    let log = h.open_default().await;
    let s = "out-order";
    assert!(log.read_output(s, 0, 10).await.unwrap().is_empty());
    assert_eq!(log.append_output(s, vec![]).await.unwrap(), 0, "empty");
    let last_a = log.append_output(s, records(&["a", "b"])).await.unwrap();
    let last_b = log.append_output(s, records(&["c"])).await.unwrap();
    let last_c = log
        .append_output(s, records(&["d", "", "f"]))
        .await
        .unwrap();
    assert!(last_a < last_b && last_b < last_c);
    let all = log.read_output(s, 0, 100).await.unwrap();
    assert_eq!(payloads(&all), vec!["a", "b", "c", "d", "", "f"]);
    assert_increasing(&all);
    assert_eq!(
        all[1].seq, last_a,
        "an append returns its last record's number"
    );
    assert_eq!(all[2].seq, last_b);
    assert_eq!(all[5].seq, last_c);
    assert_eq!(
        all.iter().map(|e| e.at_ms).collect::<Vec<_>>(),
        vec![AT, AT + 1, AT, AT, AT + 1, AT + 2]
    );
    assert_eq!(log.append_output(s, vec![]).await.unwrap(), last_c);
    // After a record, with a limit.
    let page = log.read_output(s, all[1].seq, 2).await.unwrap();
    assert_eq!(payloads(&page), vec!["c", "d"]);
    let rest = log.read_output(s, page[1].seq, 100).await.unwrap();
    assert_eq!(payloads(&rest), vec!["", "f"]);
    assert!(log.read_output(s, last_c, 100).await.unwrap().is_empty());
    assert!(log.read_output(s, 0, 0).await.unwrap().is_empty());
    // Payloads are kept byte for byte.
    let text = "ünïcödé ✓ \"quotes\" \\ back\nslash\ttab 🦀 \u{0} ".repeat(100);
    let last = log
        .append_output("out-payload", vec![(-5, text.clone())])
        .await
        .unwrap();
    let back = log.read_output("out-payload", 0, 10).await.unwrap();
    assert_eq!(
        back,
        vec![OutputEntry {
            seq: last,
            at_ms: -5,
            payload: text
        }]
    );
}

pub async fn subscribe_replays_then_follows(h: &dyn OutputHarness) {
    let log = h.open_default().await;
    let s = "out-follow";
    log.append_output(s, records(&["old1", "old2", "old3"]))
        .await
        .unwrap();
    let retained = log.read_output(s, 0, 10).await.unwrap();
    let mut from_start = log.subscribe_output(s, 0).await.unwrap();
    let mut from_middle = log.subscribe_output(s, retained[0].seq).await.unwrap();
    for want in &retained {
        assert_eq!(&next_output(&mut from_start).await, want);
    }
    assert_eq!(next_output(&mut from_middle).await, retained[1]);
    assert_eq!(next_output(&mut from_middle).await, retained[2]);
    let writer = h.open_default().await;
    writer
        .append_output(s, records(&["new1", "new2"]))
        .await
        .unwrap();
    for sub in [&mut from_start, &mut from_middle] {
        assert_eq!(next_output(sub).await.payload, "new1");
        assert_eq!(next_output(sub).await.payload, "new2");
    }
    // No duplicates: what comes next is the next append.
    writer.append_output(s, records(&["after"])).await.unwrap();
    assert_eq!(next_output(&mut from_start).await.payload, "after");
    // A subscription to a session with no output yet waits for its first record.
    let mut fresh = log.subscribe_output("out-follow-later", 0).await.unwrap();
    writer
        .append_output("out-follow-later", records(&["hello"]))
        .await
        .unwrap();
    assert_eq!(next_output(&mut fresh).await.payload, "hello");
    // Output does not leak between sessions.
    assert!(
        payloads(&log.read_output(s, 0, 100).await.unwrap())
            .iter()
            .all(|p| p != "hello")
    );
}

pub async fn late_subscriber_gets_the_retained_output_first(h: &dyn OutputHarness) {
    let writer = h.open_default().await;
    let s = "out-late";
    let texts: Vec<String> = (0..120).map(|i| format!("chunk {i}")).collect();
    for batch in texts.chunks(7) {
        let batch: Vec<(i64, String)> = batch.iter().map(|t| (AT, t.clone())).collect();
        writer.append_output(s, batch).await.unwrap();
    }
    let reader = h.open_default().await;
    let mut sub = reader.subscribe_output(s, 0).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..texts.len() {
        seen.push(next_output(&mut sub).await);
    }
    assert_eq!(payloads(&seen), texts, "the retained output, in order");
    assert_increasing(&seen);
    writer.append_output(s, records(&["live"])).await.unwrap();
    let live = next_output(&mut sub).await;
    assert_eq!(live.payload, "live");
    assert!(live.seq > seen[seen.len() - 1].seq);
}

/// Several writers (workers) append to one session's output at once, with no expected-sequence
/// check: every record lands once, each writer's records in its order.
pub async fn two_writers_racing_lose_nothing(h: &dyn OutputHarness) {
    const EACH: usize = 150;
    let s = "out-race";
    let mut tasks = Vec::new();
    for w in 0..2 {
        let log = h.open_default().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                // Batches of 1 or 2 records.
                let mut batch = vec![(AT, format!("writer {w} record {i} a"))];
                if i % 3 == 0 {
                    batch.push((AT, format!("writer {w} record {i} b")));
                }
                log.append_output(s, batch).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let log = h.open_default().await;
    let all = read_all_output(log.as_ref(), s).await;
    assert_increasing(&all);
    let per_writer = EACH + EACH.div_ceil(3);
    assert_eq!(all.len(), 2 * per_writer, "nothing lost or doubled");
    for w in 0..2 {
        let mine: Vec<String> = payloads(&all)
            .into_iter()
            .filter(|p| p.starts_with(&format!("writer {w} ")))
            .collect();
        let mut want = Vec::new();
        for i in 0..EACH {
            want.push(format!("writer {w} record {i} a"));
            if i % 3 == 0 {
                want.push(format!("writer {w} record {i} b"));
            }
        }
        assert_eq!(mine, want, "writer {w}'s records in its order");
    }
}

/// Output never goes into the session log: its last sequence number, its events and the session
/// list stay as they were.
pub async fn the_session_log_is_untouched(h: &dyn OutputHarness) {
    let log = h.open_default().await;
    let s = "out-beside";
    log.append(s, 0, vec![message("e1"), message("e2")])
        .await
        .unwrap();
    let before = read_all(log.as_ref(), s, 0).await.unwrap();
    let sessions_before = log.sessions().await.unwrap();
    for i in 0..20 {
        log.append_output(s, records(&[&format!("output {i}")]))
            .await
            .unwrap();
    }
    log.append_output("out-only", records(&["x"]))
        .await
        .unwrap();
    assert_eq!(log.last_seq(s).await.unwrap(), 2);
    assert_eq!(read_all(log.as_ref(), s, 0).await.unwrap(), before);
    assert_eq!(log.sessions().await.unwrap(), sessions_before);
    assert_eq!(log.last_seq("out-only").await.unwrap(), 0);
    // And the log goes on as before.
    assert_eq!(log.append(s, 2, vec![message("e3")]).await.unwrap(), 3);
}

pub async fn reset_drops_the_output(h: &dyn OutputHarness) {
    let log = h.open_default().await;
    let (s, other) = ("out-reset", "out-reset-other");
    log.append(s, 0, vec![message("e1")]).await.unwrap();
    let old = log
        .append_output(s, records(&["before 1", "before 2"]))
        .await
        .unwrap();
    log.append_output(other, records(&["kept"])).await.unwrap();
    let mut sub = log.subscribe_output(s, 0).await.unwrap();
    next_output(&mut sub).await;
    next_output(&mut sub).await;
    log.reset(s).await.unwrap();
    assert!(log.read_output(s, 0, 10).await.unwrap().is_empty());
    assert_eq!(log.last_seq(s).await.unwrap(), 0);
    assert_eq!(
        payloads(&log.read_output(other, 0, 10).await.unwrap()),
        vec!["kept"],
        "other sessions keep their output"
    );
    // Numbers keep increasing across a reset, so a subscriber just goes on with the new output.
    let new = log.append_output(s, records(&["after"])).await.unwrap();
    assert!(new > old, "{new} > {old}");
    let e = next_output(&mut sub).await;
    assert_eq!((e.seq, e.payload.as_str()), (new, "after"));
    assert_eq!(
        payloads(&log.read_output(s, 0, 10).await.unwrap()),
        vec!["after"]
    );
}

pub async fn oversize_or_bad_input_is_refused_and_nothing_written(h: &dyn OutputHarness) {
    let log = h.open_default().await;
    let s = "out-oversize";
    let largest = "x".repeat(MAX_OUTPUT_PAYLOAD);
    let too_large = "y".repeat(MAX_OUTPUT_PAYLOAD + 1);
    let err = log
        .append_output(
            s,
            vec![(AT, "fine".into()), (AT, too_large), (AT, "fine".into())],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::OutputTooLarge {
                index: 1,
                bytes,
                max: MAX_OUTPUT_PAYLOAD,
                ..
            } if bytes == MAX_OUTPUT_PAYLOAD + 1
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("record #2") && text.contains("nothing was written"),
        "{text}"
    );
    assert!(log.read_output(s, 0, 10).await.unwrap().is_empty());
    // The largest allowed record is fine, alone or in a batch that spans more than one of them.
    log.append_output(s, vec![(AT, largest.clone()), (AT, largest.clone())])
        .await
        .unwrap();
    let back = log.read_output(s, 0, 10).await.unwrap();
    assert_eq!(back.len(), 2);
    assert!(back.iter().all(|e| e.payload == largest));
    for bad in ["", "a b", "../x", "x.y", "*", ">"] {
        let err = log.append_output(bad, records(&["x"])).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidSession(_)), "{bad}: {err}");
        assert!(log.read_output(bad, 0, 1).await.is_err());
        assert!(log.subscribe_output(bad, 0).await.is_err());
    }
}

/// Under a flood, a session keeps at most `max_bytes` of payload, and what it keeps is the
/// newest output: a contiguous tail of what was appended, ending with the last record.
pub async fn pruning_by_bytes_keeps_the_newest_within_the_bound(h: &dyn OutputHarness) {
    let bound = 256 * 1024;
    let retention = OutputRetention::new(Duration::from_secs(3600), bound).unwrap();
    let log = h.open_with(retention).await;
    let s = "out-bytes";
    let other = "out-bytes-small";
    log.append_output(other, records(&["small and kept"]))
        .await
        .unwrap();
    let mut appended = Vec::new();
    for i in 0..300 {
        // 4 KiB records (what the caller coalesces), one or three an append.
        let n = if i % 10 == 0 { 3 } else { 1 };
        let batch: Vec<(i64, String)> = (0..n)
            .map(|j| (AT, format!("{i:05}.{j} {}", "z".repeat(4096 - 8))))
            .collect();
        appended.extend(batch.iter().map(|(_, p)| p.clone()));
        log.append_output(s, batch).await.unwrap();
    }
    let kept = payloads(&read_all_output(log.as_ref(), s).await);
    let total: u64 = kept.iter().map(|p| p.len() as u64).sum();
    assert!(total <= bound, "{total} bytes kept, bound {bound}");
    assert!(!kept.is_empty() && kept.len() < appended.len(), "pruned");
    assert_eq!(
        kept[..],
        appended[appended.len() - kept.len()..],
        "the newest records, none missing in between"
    );
    assert_eq!(
        payloads(&log.read_output(other, 0, 10).await.unwrap()),
        vec!["small and kept"],
        "another session's output is not pruned for this one's"
    );
}

/// Records older than `max_age` are not read any more; newer ones are.
pub async fn pruning_by_age(h: &dyn OutputHarness) {
    let retention = OutputRetention::new(Duration::from_secs(2), 1 << 30).unwrap();
    let log = h.open_with(retention).await;
    let s = "out-age";
    log.append_output(s, records(&["old 1", "old 2"]))
        .await
        .unwrap();
    assert_eq!(log.read_output(s, 0, 10).await.unwrap().len(), 2);
    let started = Instant::now();
    loop {
        // Keep writing newer output meanwhile, as a running build does.
        log.append_output(s, records(&["newer"])).await.unwrap();
        let kept = payloads(&log.read_output(s, 0, 1000).await.unwrap());
        if !kept.iter().any(|p| p.starts_with("old")) {
            assert!(kept.iter().any(|p| p == "newer"), "{kept:?}");
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "records 2 s old still read after {PATIENCE:?}: {kept:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let fresh = log.append_output(s, records(&["fresh"])).await.unwrap();
    let kept = log.read_output(s, 0, 1000).await.unwrap();
    assert_eq!(kept.last().map(|e| e.seq), Some(fresh));
    let counts: BTreeMap<String, usize> = kept.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e.payload.clone()).or_default() += 1;
        m
    });
    assert!(!counts.contains_key("old 1"), "{counts:?}");
}
