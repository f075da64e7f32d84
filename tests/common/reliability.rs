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

    pub fn new(seed: u64) -> Rng {
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

/// A small file system for a data dir, to fill up or make read-only under a running build: a
/// tmpfs mounted for the test (root, or the right capabilities, needed; `./test.sh` in CI runs as
/// root). Unmounted when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`96k`, `10m`); fails the test when mounting is not allowed,
    /// saying so.
    pub fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cannot mount a tmpfs at {} (the failing-store tests need root, or CAP_SYS_ADMIN, to make a small or read-only file system): {}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Remounts with these options (`ro`, `rw`, `size=10m`).
    pub fn remount(&self, options: &str) {
        let out = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount {options}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// The (seq, stored JSON) of every event of `session`, read from SQLite directly: what a later
/// look compares with to show stored events were never rewritten.
pub fn stored_rows(data_dir: &Path, session: &str) -> Vec<(i64, String)> {
    let conn = rusqlite::Connection::open_with_flags(
        data_dir.join("iteratr.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = conn
        .prepare("SELECT seq, payload FROM events WHERE session = ?1 ORDER BY seq")
        .unwrap();
    stmt.query_map([session], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// `before` is still the start of `after`, byte for byte: nothing stored was rewritten.
#[track_caller]
pub fn assert_prefix(before: &[(i64, String)], after: &[(i64, String)]) {
    assert!(
        after.len() >= before.len() && after[..before.len()] == *before,
        "stored events changed: {} before, {} after",
        before.len(),
        after.len()
    );
}

/// Reads `session` from the JetStream store of the managed nats-server (`--nats-server`) of the
/// project in `project_dir` and checks it is whole: numbers run 1, 2, 3... without a gap and
/// every event decodes (reading fails otherwise). An `iteratr mcp serve` on the same data dir
/// holds the server up while the events are read (started for it when none runs), and is killed
/// after, which lets the server stop.
pub fn jetstream_log(project_dir: &Path, session: &str) -> Vec<Event> {
    use std::io::BufRead;
    let mut holder = super::procs::KillOnDrop::new(
        std::process::Command::new(super::bin())
            .current_dir(project_dir)
            .env_remove("ITERATR_DATA_DIR")
            .args(["--nats-server", "mcp", "serve", "--http", "127.0.0.1:0"])
            .args(["--session", session])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = holder.child_mut().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let line = rx.recv_timeout(super::PATIENCE).unwrap_or_default();
    assert!(
        line.contains("http://127.0.0.1:"),
        "iteratr mcp serve on the managed server is not serving: {line:?}"
    );
    let state = std::fs::read_to_string(project_dir.join(".iteratr/jetstream/server.json"))
        .expect("the managed server runs, yet it has no server.json");
    let url = serde_json::from_str::<serde_json::Value>(&state).unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let events = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let log = iteratr::store::NatsLog::connect(&iteratr::store::NatsOptions::new(url))
            .await
            .unwrap();
        iteratr::store::read_all(&log, session, 0)
            .await
            .unwrap_or_else(|e| panic!("{session} on JetStream does not read back whole: {e}"))
    });
    drop(holder);
    events
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            assert_eq!(
                e.seq,
                i as u64 + 1,
                "{session} on JetStream: event {} follows {i} (a gap or a duplicate)",
                e.seq
            );
            e.event
        })
        .collect()
}
