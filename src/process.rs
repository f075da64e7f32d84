//! Child processes (the agent, hooks, a nats-server) that never outlive iteratr: each runs in its
//! own process group so the whole tree can be signalled, is killed when its handle is dropped, and
//! on Linux is killed by the kernel if iteratr itself dies, even by SIGKILL.
//!
//! The kernel's parent-death signal reaches only the direct child, not what it started (a hook's
//! `sleep 600 &`, the shell commands opencode runs). So [`guarded_command`] adds a watcher process
//! per child group: iteratr holds the write end of a pipe to it, and when iteratr dies (even by
//! SIGKILL) the kernel closes that pipe and the watcher kills the whole group.

use std::path::Path;
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::process::{Child, Command};

/// A command for `argv` in `cwd`, in a new process group, killed with its handle and its parent.
pub fn command(argv: &[String], cwd: &Path) -> Option<Command> {
    with_parent_death_signal(argv, cwd, Signal::KILL)
}

/// Like [`command`], for a child whose descendants must go with it (an agent, a hook, a git
/// commit running hooks): spawn it with [`GuardedCommand::spawn`], which hands back the
/// [`GroupGuard`] to keep while it runs. When iteratr dies the kernel stops (SIGSTOP) the child
/// instead of killing it, so that what it started stays its descendants until the watcher has
/// found and killed them all, the child with them. The watcher starts first and the child tells
/// it its own pid between fork and exec, so iteratr dying at any moment, even right after the
/// fork, leaves no stopped child behind. (Should the watcher fail to start, which is logged, the
/// child is killed outright with iteratr instead.)
pub fn guarded_command(argv: &[String], cwd: &Path) -> Option<GuardedCommand> {
    let guard = start_watcher();
    let signal = if guard.is_some() {
        Signal::STOP
    } else {
        Signal::KILL
    };
    let mut cmd = with_parent_death_signal(argv, cwd, signal)?;
    // Not 0-2: the child's own stdio is set up on those before this runs.
    if let Some(fd) = guard
        .as_ref()
        .and_then(GroupGuard::pipe_fd)
        .filter(|fd| *fd > 2)
    {
        // SAFETY: the closure runs between fork and exec and makes two async-signal-safe system
        // calls (getpid, write), allocating nothing. The fd is the watcher's pipe, open in this
        // process as long as the guard lives, and the guard is only let go of after the spawn.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                tell_pid(fd);
                Ok(())
            });
        }
    }
    Some(GuardedCommand { cmd, guard })
}

/// A command made by [`guarded_command`] and the watcher that waits for its pid.
pub struct GuardedCommand {
    /// Set its stdio, environment and so on here, then [`GuardedCommand::spawn`].
    pub cmd: Command,
    guard: Option<GroupGuard>,
}

impl GuardedCommand {
    /// Starts the child; keep the guard while it runs (dropping it tells the watcher the child
    /// is done with). A spawn that fails lets the watcher go at once.
    pub fn spawn(mut self) -> std::io::Result<(Child, Option<GroupGuard>)> {
        let child = self.cmd.spawn()?;
        if self.guard.is_some() {
            let program = std::path::Path::new(self.cmd.as_std().get_program());
            let name = program.file_name().unwrap_or_default().to_string_lossy();
            crate::fault::reached("spawned", &name);
        }
        Ok((child, self.guard))
    }
}

impl From<Command> for GuardedCommand {
    /// A command with no watcher (one made by [`command`], whose children need none).
    fn from(cmd: Command) -> GuardedCommand {
        GuardedCommand { cmd, guard: None }
    }
}

/// Writes this process's pid, a line, to `fd` (in a child between fork and exec).
fn tell_pid(fd: i32) {
    let mut buf = [0u8; 12];
    let mut n = rustix::process::getpid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs();
    let mut i = buf.len() - 1;
    buf[i] = b'\n';
    loop {
        i -= 1;
        buf[i] = b'0' + u8::try_from(n % 10).unwrap_or(0);
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    // SAFETY: `fd` is open in this process (see `guarded_command`); it is only borrowed here.
    #[allow(unsafe_code)]
    let fd = unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) };
    // A watcher gone already must not kill the child with SIGPIPE.
    let _ = rustix::net::send(fd, &buf[i..], rustix::net::SendFlags::NOSIGNAL);
}

fn with_parent_death_signal(argv: &[String], cwd: &Path, signal: Signal) -> Option<Command> {
    let (program, args) = argv.split_first()?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .kill_on_drop(true)
        .process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: the closure runs between fork and exec and only makes one async-signal-safe
    // system call (prctl), allocating nothing.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(signal))
                .map_err(std::io::Error::from)
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = signal;
    Some(cmd)
}

/// Where `program` is on `PATH` (the first file of that name), if anywhere.
pub fn on_path(program: &str) -> Option<std::path::PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The first argument that runs iteratr as a group watcher (internal; see [`guarded_command`]).
pub const WATCH_GROUP_ARG: &str = "__watch-process-group";

/// While this lives, the process group of a child iteratr started is killed if iteratr dies.
/// Dropping it (the child is done with) lets the watcher go without killing anything.
pub struct GroupGuard {
    /// One end of a socket pair, the other the watcher's stdin (a socket, not a pipe, so that
    /// the child's write before exec can ask for no SIGPIPE should the watcher be gone).
    pipe: Option<std::os::unix::net::UnixStream>,
    watcher: Option<std::process::Child>,
}

/// Starts the watcher of a process group: a second iteratr process (`iteratr
/// __watch-process-group -`; the child writes its pid on the pipe) in its own group, reading a
/// pipe only this process (and, until it execs, the child) writes. `None` when it cannot start
/// (said in the log).
fn start_watcher() -> Option<GroupGuard> {
    use std::os::unix::process::CommandExt;
    let started = std::os::unix::net::UnixStream::pair()
        .and_then(|(ours, theirs)| Ok((ours, std::env::current_exe()?, theirs)))
        .and_then(|(ours, exe, theirs)| {
            if !exe.exists() {
                return Err(std::io::Error::other("iteratr's own binary is gone"));
            }
            let watcher = std::process::Command::new(exe)
                .arg(WATCH_GROUP_ARG)
                .arg("-")
                .stdin(std::os::fd::OwnedFd::from(theirs))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .process_group(0)
                .spawn()?;
            Ok((ours, watcher))
        });
    match started {
        Ok((ours, watcher)) => Some(GroupGuard {
            pipe: Some(ours),
            watcher: Some(watcher),
        }),
        Err(e) => {
            tracing::warn!(
                "cannot start the watcher of a process group: {e}; if iteratr is killed, processes that group started may be left running"
            );
            None
        }
    }
}

impl GroupGuard {
    fn pipe_fd(&self) -> Option<i32> {
        use std::os::fd::AsRawFd;
        self.pipe.as_ref().map(AsRawFd::as_raw_fd)
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        use std::io::Write as _;
        if let Some(mut pipe) = self.pipe.take() {
            // One byte: "done, kill nothing" (end of file without it means iteratr died).
            let _ = pipe.write_all(b".");
        }
        if let Some(mut watcher) = self.watcher.take() {
            // It exits at once; reap it off the caller's (possibly async) thread.
            let _ = std::thread::Builder::new()
                .name("iteratr-group-watcher-reaper".into())
                .spawn(move || {
                    let _ = watcher.wait();
                });
        }
    }
}

/// `iteratr __watch-process-group PGID` (or `-`: the first line on stdin is the PGID, written by
/// the child itself): waits on stdin; end of file without the "done" byte means the iteratr that
/// started it died, so the group goes (SIGKILL), and with it every process the group's leader
/// started that left the group (opencode runs its shell commands in sessions of their own): the
/// watcher notes the leader's descendants every 100 ms while it waits, since once the leader is
/// dead they are nobody's descendants any more. `None` when iteratr was not started as a
/// watcher. Runs before anything else in `main`.
pub fn watch_group_main() -> Option<std::process::ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != WATCH_GROUP_ARG {
        return None;
    }
    let arg = args.next();
    let mut leader = arg.as_ref().and_then(|a| a.to_str()?.parse::<i32>().ok());
    let pid_on_stdin = arg.is_some_and(|a| a == "-");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || read_watch_pipe(pid_on_stdin, &tx));
    let mut known = std::collections::HashMap::new();
    let told_done = loop {
        if let Some(leader) = leader {
            descendants::note(leader, &mut known);
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(WatchPipe::Leader(pid)) => leader = Some(pid),
            Ok(WatchPipe::End { done }) => break done,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break false,
        }
    };
    if !told_done && let Some(leader) = leader {
        // The leader is stopped, not dead (see `guarded_command`): what it started is still
        // its descendants, found now, then killed with the group.
        descendants::note(leader, &mut known);
        if let Some(group) = Pid::from_raw(leader) {
            let _ = rustix::process::kill_process_group(group, Signal::KILL);
        }
        descendants::kill(&known);
    }
    Some(std::process::ExitCode::SUCCESS)
}

/// What the watcher's pipe said.
enum WatchPipe {
    /// The child's pid, as it wrote it before exec.
    Leader(i32),
    /// The "done" byte (true), or end of file: iteratr died (false).
    End { done: bool },
}

/// Reads the watcher's stdin: first the leader's pid line when `pid_on_stdin`, then one byte.
fn read_watch_pipe(pid_on_stdin: bool, tx: &std::sync::mpsc::Sender<WatchPipe>) {
    use std::io::Read as _;
    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    let mut want_pid = pid_on_stdin;
    let mut byte = [0u8; 1];
    let done = loop {
        match stdin.read(&mut byte) {
            Ok(0) => break false,
            Ok(_) if want_pid && byte[0].is_ascii_digit() && line.len() < 12 => line.push(byte[0]),
            Ok(_) if want_pid && byte[0] == b'\n' => {
                want_pid = false;
                let pid = std::str::from_utf8(&line).ok().and_then(|l| l.parse().ok());
                if let Some(pid) = pid.filter(|p: &i32| *p > 1) {
                    let _ = tx.send(WatchPipe::Leader(pid));
                }
            }
            // The "done" byte (the child never started, or is done with).
            Ok(_) => break true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break false,
        }
    };
    let _ = tx.send(WatchPipe::End { done });
}

/// (parent, start time in clock ticks since boot) of the process `pid`, from `/proc` (Linux).
fn stat(pid: i32) -> Option<(i32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ... starttime is the 22nd field, the 20th after the name.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// When the process `pid` started, in clock ticks since boot: with the boot id, what tells a
/// process from a later one that got the same pid. `None` where the system does not say (no
/// `/proc`) or no such process runs.
pub fn start_ticks(pid: u32) -> Option<u64> {
    stat(i32::try_from(pid).ok()?).map(|(_, start)| start)
}

/// The process runs on this machine (a zombie, dead but not yet reaped, does not).
pub fn runs(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero())) {
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        return !matches!(state, Some('Z' | 'X' | 'x'));
    }
    matches!(
        rustix::process::test_kill_process(pid),
        Ok(()) | Err(rustix::io::Errno::PERM)
    )
}

/// This machine's name, as leases and workers' names record it: `ITERATR_HOST` where set (containers whose host name
/// changes at every start; a name no other machine uses), else the host name.
/// Who runs this command, for the session's record of who asked what: `user@host`.
pub fn who() -> String {
    let user = ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|u| u.trim().to_string())
        .find(|u| !u.is_empty())
        .unwrap_or_else(|| "someone".into());
    format!("{user}@{}", host_name())
}

/// This machine's part of a joined worker's name (`HOST-PID-wN`): its host name, in the
/// characters a worker name allows.
pub(crate) fn host_part() -> String {
    let host: String = host_name()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let host = host.trim_matches('-');
    if host.is_empty() {
        "host".into()
    } else {
        host.to_string()
    }
}

/// Whether `worker` names a worker `iteratr worker` started on this machine in a process that
/// no longer runs (`HOST-PID-wN`, HOST this machine's, PID gone).
pub(crate) fn worker_gone(worker: &str) -> bool {
    let Some(rest) = worker.strip_prefix(&format!("{}-", host_part())) else {
        return false;
    };
    let mut parts = rest.splitn(2, '-');
    match (
        parts.next().and_then(|p| p.parse::<u32>().ok()),
        parts.next(),
    ) {
        (Some(pid), Some(w)) if w.starts_with('w') && w[1..].parse::<u32>().is_ok() => !runs(pid),
        _ => false,
    }
}

pub fn host_name() -> String {
    std::env::var("ITERATR_HOST")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// This boot of this machine (Linux: `/proc/sys/kernel/random/boot_id`).
pub fn boot_id() -> Option<String> {
    first_line("/proc/sys/kernel/random/boot_id")
}

/// This installation and its process namespace, not the machine's name (which two machines,
/// or two containers, may share): a hash of `/etc/machine-id` and of the pid namespace, so a
/// pid is only ever looked up where it means the same process, and the machine id itself
/// (which its manual asks not to expose) is never stored.
pub fn machine_id() -> Option<String> {
    let id = first_line("/etc/machine-id").or_else(|| first_line("/var/lib/dbus/machine-id"))?;
    let pid_ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|l| l.to_string_lossy().into_owned())
        .unwrap_or_default();
    // FNV-1a, salted with what it is for: stable across versions and builds.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("iteratr lease {id} {pid_ns}").bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    Some(format!("{h:016x}"))
}

fn first_line(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().next()?.trim();
    (!line.is_empty() && line.len() <= 64).then(|| line.to_string())
}

/// The processes a group leader started, from `/proc` (Linux), each with its start time so a
/// reused pid is never mistaken for one of them.
mod descendants {
    use std::collections::HashMap;

    /// (parent, start time) of every process.
    fn table() -> HashMap<i32, (i32, u64)> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return HashMap::new();
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(|pid| Some((pid, stat(pid)?)))
            .collect()
    }

    use super::stat;

    /// Adds the living descendants of `leader` to `known`, and forgets those that ended.
    pub(super) fn note(leader: i32, known: &mut HashMap<i32, u64>) {
        let table = table();
        known.retain(|pid, start| table.get(pid).is_some_and(|(_, s)| s == start));
        let mut frontier = vec![leader];
        let mut seen = std::collections::HashSet::new();
        while let Some(parent) = frontier.pop() {
            for (pid, (ppid, start)) in &table {
                if *ppid == parent && seen.insert(*pid) {
                    known.insert(*pid, *start);
                    frontier.push(*pid);
                }
            }
        }
    }

    /// Kills those of `known` that still run (the same pid with the same start time).
    pub(super) fn kill(known: &HashMap<i32, u64>) {
        for (pid, start) in known {
            if stat(*pid).is_some_and(|(_, s)| s == *start)
                && let Some(pid) = rustix::process::Pid::from_raw(*pid)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

/// Sends `signal` to the process group led by `pid` (the child and whatever it started).
pub fn signal_group(pid: u32, signal: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// Asks the child's group to stop (SIGTERM), waits up to `grace`, then kills the group, and
/// with it what the child started that left the group (opencode runs its shell commands in
/// sessions of their own): those are found while they are still the child's descendants.
pub async fn terminate(child: &mut Child, grace: Duration) {
    let Some(pid) = child.id() else {
        return; // already reaped
    };
    let leader = i32::try_from(pid).ok();
    let mut known = std::collections::HashMap::new();
    if let Some(leader) = leader {
        descendants::note(leader, &mut known);
    }
    signal_group(pid, Signal::TERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        if let Some(leader) = leader {
            descendants::note(leader, &mut known);
        }
        signal_group(pid, Signal::KILL);
        let _ = child.kill().await;
    }
    // Stragglers in the group that ignored SIGTERM, and the descendants outside it.
    signal_group(pid, Signal::KILL);
    descendants::kill(&known);
}

/// Splits a command line the way a shell would for simple cases: whitespace separates words,
/// single and double quotes group them, backslash escapes the next character.
pub fn split_command_line(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => match chars.next() {
                Some(n) => {
                    word.push(n);
                    in_word = true;
                }
                None => return Err("the command line ends with a lone backslash".into()),
            },
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("the command line has an unclosed quote".into());
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("the command line is empty".into());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_command_lines() {
        assert_eq!(
            split_command_line("opencode acp").unwrap(),
            ["opencode", "acp"]
        );
        assert_eq!(
            split_command_line(r#"gemini --experimental-acp --x "a b" 'c d' e\ f"#).unwrap(),
            ["gemini", "--experimental-acp", "--x", "a b", "c d", "e f"]
        );
        assert_eq!(split_command_line("a ''").unwrap(), ["a", ""]);
        assert!(split_command_line("  ").is_err());
        assert!(split_command_line("a 'b").is_err());
    }
}
