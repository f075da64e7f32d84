//! Child processes (the agent, later a nats-server) that never outlive iteratr: each runs in its own
//! process group so the whole tree can be signalled, is killed when its handle is dropped, and on
//! Linux is killed by the kernel if iteratr itself dies, even by SIGKILL.

use std::path::Path;
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::process::{Child, Command};

/// A command for `argv` in `cwd`, in a new process group, killed with its handle and its parent.
pub fn command(argv: &[String], cwd: &Path) -> Option<Command> {
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
        cmd.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
                .map_err(std::io::Error::from)
        });
    }
    Some(cmd)
}

/// Sends `signal` to the process group led by `pid` (the child and whatever it started).
pub fn signal_group(pid: u32, signal: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// Asks the child's group to stop (SIGTERM), waits up to `grace`, then kills the group.
pub async fn terminate(child: &mut Child, grace: Duration) {
    let Some(pid) = child.id() else {
        return; // already reaped
    };
    signal_group(pid, Signal::TERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        signal_group(pid, Signal::KILL);
        let _ = child.kill().await;
    }
    // Stragglers in the group that ignored SIGTERM.
    signal_group(pid, Signal::KILL);
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
