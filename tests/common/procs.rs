//! Processes and their sockets as Linux shows them in `/proc`: whether a process still runs,
//! waiting (with a deadline) for one to end, and the addresses a process listens on.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Whether `pid` is a live process (a zombie awaiting its parent is not running).
pub fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits until `pid` has ended; fails naming `what` after `limit`.
#[track_caller]
pub fn wait_gone(pid: u32, what: &str, limit: Duration) {
    super::wait_until(
        limit,
        || format!("{what} ({pid}) is still running"),
        || !running(pid),
    );
}

/// Live processes whose command line contains `needle`, with that command line.
pub fn with_cmdline(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) && running(pid) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// The addresses of the TCP sockets `pid` listens on (IPv4 and IPv6).
pub fn listening(pid: u32) -> Vec<SocketAddr> {
    let inodes: BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("cannot list the descriptors of {pid}: {e}"))
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy();
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut found = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            if *state == "0A" && inodes.contains(*inode) {
                found.push(parse_proc_addr(local));
            }
        }
    }
    found
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6): the address words are in the
/// kernel's byte order (little-endian here), the port is big-endian hex.
fn parse_proc_addr(s: &str) -> SocketAddr {
    let (ip, port) = s.split_once(':').unwrap();
    let port = u16::from_str_radix(port, 16).unwrap();
    let words: Vec<u32> = (0..ip.len() / 8)
        .map(|i| {
            u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16)
                .unwrap()
                .swap_bytes()
        })
        .collect();
    let ip = match words[..] {
        [a] => IpAddr::V4(Ipv4Addr::from(a)),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => panic!("unexpected address {s}"),
    };
    SocketAddr::new(ip, port)
}

/// The processes holding a `flock` on `path`, with the kind of lock (`READ`: shared, `WRITE`:
/// exclusive), from `/proc/locks`.
pub fn flock_holders(path: &std::path::Path) -> Vec<(u32, String)> {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .ino()
        .to_string();
    let locks = std::fs::read_to_string("/proc/locks").unwrap();
    locks
        .lines()
        .filter(|l| !l.contains("->")) // waiters, not holders
        .filter_map(|l| {
            // 1: FLOCK  ADVISORY  READ  1234 08:01:5678 0 EOF
            let f: Vec<&str> = l.split_whitespace().collect();
            let (kind, mode, pid, file) = (f.get(1)?, f.get(3)?, f.get(4)?, f.get(5)?);
            (*kind == "FLOCK" && file.rsplit(':').next() == Some(inode.as_str()))
                .then(|| Some((pid.parse().ok()?, mode.to_string())))?
        })
        .collect()
}

/// The peak resident memory of a live process (`VmHWM` in `/proc/PID/status`), in KiB; `None`
/// once it has exited.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs `cmd` to its end (killed after `limit`), reading its stdout and stderr as it writes them
/// (so a chatty process never blocks on a full pipe) and sampling its peak resident memory every
/// 20 ms. Returns its output and the highest peak seen, in KiB.
pub fn run_measured(
    mut cmd: std::process::Command,
    limit: Duration,
) -> (std::process::Output, u64) {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let start = std::time::Instant::now();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let (o, e) = (out.join().unwrap(), err.join().unwrap());
            panic!(
                "the process did not finish within {limit:?}:\n{}\n{}",
                String::from_utf8_lossy(&o),
                String::from_utf8_lossy(&e)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    (output, peak)
}

/// A child process killed when dropped, so a test that fails while the child waits for it (on a
/// file, say) leaves nothing running. `into_inner` hands it back to be waited for.
pub struct KillOnDrop(Option<std::process::Child>);

impl KillOnDrop {
    pub fn new(child: std::process::Child) -> Self {
        KillOnDrop(Some(child))
    }

    pub fn id(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    pub fn child_mut(&mut self) -> &mut std::process::Child {
        self.0.as_mut().unwrap()
    }

    pub fn into_inner(mut self) -> std::process::Child {
        self.0.take().unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The live processes in process group `pgid` (a child iteratr started in its own group, and
/// whatever that child started).
pub fn in_group(pgid: u32) -> Vec<u32> {
    live_pids()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                // pid (comm) state ppid pgrp ...: fields after the command name.
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<u32>().ok())
                    == Some(pgid)
            })
        })
        .collect()
}

/// Whether `pid` works in `dir` or below it: its current directory, even one that has been
/// removed since (Linux shows it as `PATH (deleted)`).
pub fn works_under(pid: u32, dir: &std::path::Path) -> bool {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| {
        let cwd = cwd.to_string_lossy();
        let cwd = cwd.strip_suffix(" (deleted)").unwrap_or(&cwd);
        std::path::Path::new(cwd).starts_with(&dir)
    })
}

/// The live processes working in `dir` or below it (their current directory, even a removed
/// one), with their command lines: an agent, a hook or git iteratr started in a project.
pub fn working_in(dir: &std::path::Path) -> Vec<(u32, String)> {
    live_pids()
        .filter(|pid| works_under(*pid, dir))
        .map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            (pid, String::from_utf8_lossy(&cmdline).replace('\0', " "))
        })
        .collect()
}

fn live_pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| running(*pid))
}
