//! Starting chromedriver, finding the programs, and what `Drop` needs without a runtime.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

/// A program: the path in the variable `env` if set, else the first of `names` on the PATH.
pub(super) fn program(env: &str, names: &[&str]) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    bail!(
        "{} is needed for the browser tests and is not on the PATH (nor set in {env}); \
         run ./test.sh, which says how to install it",
        names[0]
    )
}

/// Starts `chromedriver --port=0` and returns it with the loopback port it chose (it accepts
/// local connections only, its default). It leads a process group of its own, Chromium's
/// processes included, and is killed by the kernel should the test binary die (Chromium would
/// outlive it: see [`Watcher`]).
pub(super) async fn start_driver(chromedriver: &Path) -> Result<(Child, u16)> {
    let argv = [chromedriver.display().to_string(), "--port=0".to_string()];
    let mut child = iteratr::process::command(&argv, Path::new("/"))
        .expect("argv is not empty")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", chromedriver.display()))?;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut said = String::new();
    let listening = async {
        while let Some(line) = lines.next_line().await? {
            // "ChromeDriver was started successfully on port 41045."
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                return Ok(Some(rest.trim_end_matches('.').trim().parse::<u16>()?));
            }
            said.push_str(&line);
            said.push('\n');
        }
        anyhow::Ok(None)
    };
    let port = match tokio::time::timeout(Duration::from_secs(60), listening).await {
        Ok(Ok(Some(port))) => port,
        outcome => {
            let _ = child.kill().await;
            let why = match outcome {
                Ok(Err(e)) => format!("{e:#}"),
                Ok(Ok(_)) => "it ended".to_string(),
                Err(_) => "it said no port within 60 s".to_string(),
            };
            bail!(
                "{} did not start: {why}; it said:\n{said}",
                chromedriver.display()
            );
        }
    };
    // Keep reading what it prints so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, port))
}

/// The iteratr binary: the one cargo built for the tests, or, from an example (the benchmark),
/// the one beside it (`target/PROFILE/iteratr` for `target/PROFILE/examples/NAME`).
fn iteratr_binary() -> PathBuf {
    if let Some(built) = option_env!("CARGO_BIN_EXE_iteratr") {
        return built.into();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("iteratr")))
        .unwrap_or_else(|| "iteratr".into())
}

/// Ends chromedriver's process group if the test binary dies without dropping the `Browser`
/// (Ctrl-C, SIGKILL, an abort): iteratr's own group watcher, `iteratr __watch-process-group
/// PID`, reading a pipe only this process writes. When the pipe closes without the "done" byte
/// it kills the group and the processes that left it (Chromium's crash handlers).
pub(super) struct Watcher {
    pipe: Option<std::process::ChildStdin>,
    watcher: Option<std::process::Child>,
}

impl Watcher {
    pub(super) fn start(pid: u32) -> Result<Watcher> {
        use std::os::unix::process::CommandExt;
        let mut watcher = std::process::Command::new(iteratr_binary())
            .arg(iteratr::process::WATCH_GROUP_ARG)
            .arg(pid.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting iteratr's process group watcher")?;
        Ok(Watcher {
            pipe: watcher.stdin.take(),
            watcher: Some(watcher),
        })
    }
}

impl Drop for Watcher {
    /// The group is gone (or going) by the `Browser`'s own hand: the watcher leaves, killing
    /// nothing.
    fn drop(&mut self) {
        if let Some(mut pipe) = self.pipe.take() {
            let _ = pipe.write_all(b".");
        }
        if let Some(mut watcher) = self.watcher.take() {
            // It exits at once; reap it off the (async) caller's thread.
            std::thread::spawn(move || watcher.wait());
        }
    }
}

/// `DELETE /session/{id}` over a plain socket, for `Drop`.
pub(super) fn delete_blocking(driver_url: &str, session: &str) -> std::io::Result<()> {
    let host = driver_url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        stream,
        "DELETE /session/{session} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    // chromedriver answers once the browser has quit (and may keep the connection open): the
    // first bytes of the answer are enough.
    let mut reply = [0u8; 512];
    stream.read(&mut reply).map(drop)
}

/// Standard base64 (the screenshot's encoding), padding and line breaks allowed.
pub(super) fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => bail!("not base64: {:?}", c as char),
        };
        acc = ((acc << 6) | u32::from(v)) & 0xFFFF;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}
