//! What a running process holds, read from outside through `/proc`: open file descriptors,
//! resident memory, threads; and the footprint of an `iteratr build --headless --json` sampled
//! as its iterations finish. Shared by the integration tests and the benchmark (`examples/bench`),
//! so it uses only the standard library and serde_json.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::ChildStdout;

/// A process's footprint after an iteration finished.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Footprint {
    pub iteration: u32,
    /// Entries in `/proc/PID/fd`.
    pub fds: usize,
    /// `VmRSS` in KiB.
    pub rss_kib: u64,
    /// `Threads` of `/proc/PID/status`.
    pub threads: u64,
    /// Tokio tasks alive, from iteratr's log line at the end of that iteration (when a log file
    /// is given and has it).
    pub tasks: Option<u64>,
}

fn status_field(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The open file descriptors of `pid`.
pub fn fds(pid: u32) -> std::io::Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// Reads `pid`'s footprint now; `iteration` and `tasks` are the caller's to fill.
pub fn read(pid: u32) -> std::io::Result<Footprint> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(Footprint {
        iteration: 0,
        fds: fds(pid)?,
        rss_kib: status_field(&status, "VmRSS:"),
        threads: status_field(&status, "Threads:"),
        tasks: None,
    })
}

/// The tasks count of iteratr's last "iteration N finished (T tokio tasks alive)" line in `log`
/// for `iteration`.
pub fn tasks_in_log(log: &Path, iteration: u32) -> Option<u64> {
    let text = std::fs::read_to_string(log).ok()?;
    let needle = format!("iteration {iteration} finished (");
    let line = text.lines().rev().find(|l| l.contains(&needle))?;
    let rest = &line[line.find(&needle)? + needle.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Follows the `--json` lines of `iteratr build --headless --json` (process `pid`, its `stdout`)
/// and samples its footprint as each iteration listed in `at` finishes. Returns when the last of
/// them is sampled (or stdout ends first: fewer samples); stdout goes on being drained in the
/// background. Sample before the build's last iteration: its shutdown closes everything.
pub fn sample_build(
    pid: u32,
    stdout: ChildStdout,
    at: &[u32],
    log: Option<&Path>,
) -> Vec<Footprint> {
    let mut lines = BufReader::new(stdout).lines();
    let mut samples = Vec::new();
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if event["type"] != "iteration_finished" {
            continue;
        }
        let Some(n) = event["iteration"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
        else {
            continue;
        };
        if !at.contains(&n) {
            continue;
        }
        if let Ok(mut f) = read(pid) {
            f.iteration = n;
            f.tasks = log.and_then(|log| tasks_in_log(log, n));
            samples.push(f);
        }
        if samples.len() == at.len() {
            break;
        }
    }
    // Keep draining so the build never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    samples
}
