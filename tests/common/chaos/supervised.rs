//! The chaos run's processes: an iteratr `build` or `worker` started in a process group of its
//! own (so a zombie is the whole group: iteratr and its agents, stopped and woken together),
//! restarted with the same command after a kill, its output appended to a file across restarts,
//! and killed with its group when dropped, so a failing run leaves nothing behind.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};

use rustix::process::Signal;

pub struct Supervised {
    pub name: String,
    make: Box<dyn Fn() -> Command>,
    child: Option<Child>,
    pub output: PathBuf,
    /// Times started (the first start included).
    pub starts: u32,
    /// Exits nobody asked for, with a non-zero status (restarted as a supervisor would).
    pub failed_exits: Vec<String>,
    /// It ended by itself with success (its session complete): not started again.
    pub done: bool,
    stopped: bool,
    /// When it was last seen to end.
    pub ended_at: Option<std::time::Instant>,
}

impl Supervised {
    pub fn new(name: &str, output: PathBuf, make: impl Fn() -> Command + 'static) -> Self {
        Supervised {
            name: name.to_string(),
            make: Box::new(make),
            child: None,
            output,
            starts: 0,
            failed_exits: Vec::new(),
            done: false,
            stopped: false,
            ended_at: None,
        }
    }

    /// Starts it (again), with the same command.
    pub fn start(&mut self) {
        use std::os::unix::process::CommandExt;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.output)
            .unwrap();
        let mut cmd = (self.make)();
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out));
        self.child = Some(cmd.spawn().unwrap());
        self.starts += 1;
        self.done = false;
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether it runs now (started and not yet seen to end).
    pub fn alive(&mut self) -> bool {
        self.poll();
        self.child.is_some()
    }

    /// Notices an end: success marks it done, anything else is a failed exit.
    pub fn poll(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().unwrap()?;
        self.child = None;
        self.ended_at = Some(std::time::Instant::now());
        if status.success() {
            self.done = true;
        } else {
            self.failed_exits
                .push(format!("{status}: {}", self.tail(6)));
        }
        Some(status)
    }

    /// SIGKILL of the iteratr process only, as a crash: no cleanup of its own (its agents go
    /// through the kernel's parent-death signal).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP of the whole group: iteratr and its agents freeze, as a machine that hangs.
    pub fn freeze(&mut self) {
        if let Some(pid) = self.pid() {
            iteratr::process::signal_group(pid, Signal::STOP);
            self.stopped = true;
        }
    }

    pub fn thaw(&mut self) {
        if let Some(pid) = self.pid() {
            iteratr::process::signal_group(pid, Signal::CONT);
        }
        self.stopped = false;
    }

    /// The last `lines` lines of its output.
    pub fn tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.output).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Waits up to `limit` for it to end by itself.
    pub fn wait_end(&mut self, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        while self.alive() {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        true
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            if self.stopped {
                iteratr::process::signal_group(pid, Signal::CONT);
            }
            iteratr::process::signal_group(pid, Signal::KILL);
        }
        self.kill();
    }
}
