//! What the reliability suite (`tests/it/reliability_*.rs`) shares: a seeded generator that a
//! failure can be replayed with, the check that a SQLite event log is whole, and the
//! `RELIABILITY:` lines `./reliability.sh` gathers into its summary.

use std::collections::BTreeMap;
use std::path::Path;

use iteratr::session::Event;

/// Prints one figure for `./reliability.sh` (run the tests with `--nocapture` to see it).
pub fn report(line: impl std::fmt::Display) {
    println!("RELIABILITY: {line}");
}

/// splitmix64: small, seedable, the same sequence on every machine.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `var` when set (to replay a failure), else from the clock; the seed is
    /// printed with how to replay it.
    pub fn from_env(var: &str, test: &str) -> Rng {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        report(format!(
            "{test} seed {seed} (replay: {var}={seed} ./test.sh --test it {test})"
        ));
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.range(0, i as u64) as usize);
        }
    }
}

/// Reads the SQLite event log in `data_dir` directly (not through iteratr) and checks it is
/// whole: the database passes `PRAGMA integrity_check`, every session's numbers run 1, 2, 3...
/// without a gap, and every row decodes to an event of the type stored beside it. Returns the
/// events of each session, in order.
pub fn sqlite_log(data_dir: &Path) -> BTreeMap<String, Vec<Event>> {
    let db = data_dir.join("iteratr.db");
    let conn = rusqlite::Connection::open(&db).unwrap_or_else(|e| panic!("{}: {e}", db.display()));
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "{}: integrity check", db.display());
    let mut stmt = conn
        .prepare("SELECT session, seq, type, payload FROM events ORDER BY session, seq")
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .unwrap();
    let mut sessions: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for row in rows {
        let (session, seq, kind, payload) = row.unwrap();
        let events = sessions.entry(session.clone()).or_default();
        assert_eq!(
            seq,
            events.len() as i64 + 1,
            "{session}: event {seq} follows {} (a gap or a duplicate)",
            events.len()
        );
        let event = Event::from_json(&payload)
            .unwrap_or_else(|e| panic!("{session} #{seq} does not decode ({e}): {payload}"));
        assert_eq!(event.kind.type_name(), kind, "{session} #{seq}");
        events.push(event);
    }
    sessions
}
