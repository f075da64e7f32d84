//! A real terminal for the full-screen interface: a tmux server of the test's own (its own
//! socket, killed when dropped) with one session `t`, whose screen the test reads and whose
//! keyboard it types on. tmux is required (`./test.sh` says how to install it when it is missing).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Runs `command` (through the shell) in a 120x40 terminal in `dir`, with `env` (`NAME=value`)
    /// and TERM=xterm-256color.
    pub fn start(name: &str, dir: &Path, env: &[String], command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("iteratr-test-{}-{name}", std::process::id()),
        };
        let dir = dir.display().to_string();
        let mut args = vec![
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            &dir,
            "-e",
            "TERM=xterm-256color",
        ];
        for e in env {
            args.push("-e");
            args.push(e);
        }
        args.push(command);
        tmux.run(&args);
        tmux
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("tmux is needed for this test ({e}); install it (apt-get install tmux, dnf install tmux or brew install tmux), then run ./test.sh")
            });
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    /// The screen with its colours and attributes as escape sequences (`capture-pane -e`).
    pub fn screen_with_colours(&self) -> String {
        self.run(&["capture-pane", "-p", "-e", "-t", "t"])
    }

    /// Waits until the screen shows `what`, and returns the screen.
    #[track_caller]
    pub fn wait_for(&self, what: &str, limit: Duration) -> String {
        self.wait_until(what, limit, |s| s.contains(what))
    }

    /// Waits until `done` holds for the screen, and returns it; `what` names it in the failure.
    #[track_caller]
    pub fn wait_until(&self, what: &str, limit: Duration, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < limit,
                "the screen never showed {what:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// The pid of the shell running in the pane.
    pub fn pane_pid(&self) -> u32 {
        self.run(&["display-message", "-p", "-t", "t", "#{pane_pid}"])
            .trim()
            .parse()
            .unwrap()
    }
}

/// The environment of iteratr in a terminal with the fake agent of the project in `dir` (its
/// `script.json` and `agent.log`), run by ana@laptop.
pub fn fake_agent_env(dir: &Path) -> Vec<String> {
    vec![
        format!("ITERATR_AGENT={}", super::fake_agent::path().display()),
        format!(
            "ITERATR_FAKE_AGENT_SCRIPT={}",
            dir.join("script.json").display()
        ),
        format!("ITERATR_FAKE_AGENT_LOG={}", dir.join("agent.log").display()),
        "USER=ana".into(),
        "ITERATR_HOST=laptop".into(),
    ]
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}
