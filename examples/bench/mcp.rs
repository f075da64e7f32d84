//! Tool calls measured from outside, as agents make them: a raw keep-alive HTTP client, the
//! official TypeScript MCP SDK (what opencode uses), 16 clients at once, and the baseline of a
//! new `iteratr mcp serve` process over stdio for every call.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::keep_alive::KeepAlive;
use crate::util::{Running, Stats, rss_mib, wait_for_line};

pub const TOKEN: &str = "bench-token-0123456789abcdef";
/// The tools measured, with the arguments of call `i` (`task-add` and `note-add` add new items).
pub const TOOLS: [&str; 4] = ["task-add", "task-next", "task-list", "note-add"];

pub fn arguments(tool: &str, i: usize) -> String {
    // Every added task says something new (a duplicate would be refused), across runs too.
    static ADDED: AtomicUsize = AtomicUsize::new(0);
    match tool {
        "task-add" => format!(
            r#"{{"content":"bench task {i}-{}"}}"#,
            ADDED.fetch_add(1, Ordering::Relaxed)
        ),
        "task-list" => r#"{"status":"remaining"}"#.into(),
        "note-add" => format!(r#"{{"type":"learning","content":"bench note {i}"}}"#),
        _ => "{}".into(),
    }
}

/// An `iteratr mcp serve --http` process.
pub struct Server {
    pub process: Running,
    pub port: u16,
    pub url: String,
}

impl Server {
    pub fn start(iteratr: &Path, store_args: &[String], session: &str) -> anyhow::Result<Self> {
        let mut child = Command::new(iteratr)
            .args(store_args)
            .args([
                "mcp",
                "serve",
                "--session",
                session,
                "--http",
                "127.0.0.1:0",
            ])
            .env("ITERATR_MCP_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let line = wait_for_line(&mut child, "http://")?;
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_default()
            .to_string();
        let port = url
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches("/mcp")
            .parse()?;
        Ok(Server {
            process: Running(child),
            port,
            url,
        })
    }

    pub fn rss_mib(&self) -> f64 {
        rss_mib(self.process.0.id())
    }
}

/// Per tool: the latency of each call.
pub type Latencies = Vec<(String, Stats)>;

/// `clients` raw keep-alive clients at once (one thread each), `calls` calls of every tool each.
pub fn raw(port: u16, clients: usize, calls: usize) -> anyhow::Result<Latencies> {
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            std::thread::spawn(move || {
                let mut conn = KeepAlive::connect(port, TOKEN);
                conn.initialize();
                TOOLS.map(|tool| {
                    (0..calls)
                        .map(|i| {
                            let args = arguments(tool, c * calls + i);
                            let started = Instant::now();
                            let answer = conn.call(i as u64 + 1, tool, &args);
                            let took = started.elapsed();
                            assert!(!answer.contains("\"isError\":true"), "{tool}: {answer}");
                            took
                        })
                        .collect::<Vec<_>>()
                })
            })
        })
        .collect();
    let mut per_tool: Vec<Vec<Duration>> = vec![Vec::new(); TOOLS.len()];
    for t in threads {
        let samples = t
            .join()
            .map_err(|_| anyhow::anyhow!("a raw client failed"))?;
        for (all, mine) in per_tool.iter_mut().zip(samples) {
            all.extend(mine);
        }
    }
    Ok(TOOLS
        .iter()
        .zip(per_tool)
        .map(|(t, s)| (t.to_string(), Stats::new(s)))
        .collect())
}

/// `calls` calls of `task-batch-add` with 100 (completed) tasks each, from one raw client.
pub fn batch_add(port: u16, calls: usize) -> anyhow::Result<Stats> {
    let mut conn = KeepAlive::connect(port, TOKEN);
    conn.initialize();
    let run = std::process::id();
    let mut samples = Vec::new();
    for c in 0..calls {
        let tasks: Vec<String> = (0..100)
            .map(|i| {
                let n = arguments("task-add", c * 100 + i);
                let content = n
                    .trim_start_matches(r#"{"content":""#)
                    .trim_end_matches(r#""}"#);
                format!(r#"{{"content":"{content} {run}","status":"completed"}}"#)
            })
            .collect();
        let args = format!(r#"{{"tasks":[{}]}}"#, tasks.join(","));
        let started = Instant::now();
        let answer = conn.call(c as u64 + 1, "task-batch-add", &args);
        samples.push(started.elapsed());
        anyhow::ensure!(
            !answer.contains("\"isError\":true"),
            "task-batch-add: {answer}"
        );
    }
    Ok(Stats::new(samples))
}

/// The TypeScript SDK client (`ts_client.mjs`, installed with its SDK under `target/bench-node`).
pub struct TsClient {
    dir: PathBuf,
}

pub const TS_SDK_VERSION: &str = "1.32.2";

impl TsClient {
    /// Installs the SDK (once) next to a copy of the client script.
    pub fn install(target: &Path) -> anyhow::Result<Self> {
        let dir = target.join("bench-node");
        std::fs::create_dir_all(&dir)?;
        let sdk = dir.join("node_modules/@modelcontextprotocol/sdk/package.json");
        let installed = std::fs::read_to_string(&sdk)
            .ok()
            .and_then(|p| serde_json::from_str::<Value>(&p).ok())
            .is_some_and(|p| p["version"] == TS_SDK_VERSION);
        if !installed {
            eprintln!(
                "installing @modelcontextprotocol/sdk@{TS_SDK_VERSION} into {}",
                dir.display()
            );
            let status = Command::new("npm")
                .args([
                    "install",
                    "--no-save",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                ])
                .arg("--prefix")
                .arg(&dir)
                .arg(format!("@modelcontextprotocol/sdk@{TS_SDK_VERSION}"))
                .status()?;
            anyhow::ensure!(
                status.success(),
                "npm could not install the TypeScript MCP SDK"
            );
        }
        std::fs::write(dir.join("ts_client.mjs"), include_str!("ts_client.mjs"))?;
        Ok(TsClient { dir })
    }

    /// `clients` SDK clients in one Node process, `calls` calls of every tool each.
    pub fn run(&self, url: &str, clients: usize, calls: usize) -> anyhow::Result<Latencies> {
        let out = Command::new("node")
            .arg(self.dir.join("ts_client.mjs"))
            .args([url, TOKEN, &clients.to_string(), &calls.to_string()])
            .stderr(Stdio::inherit())
            .output()?;
        anyhow::ensure!(out.status.success(), "the TypeScript client failed");
        let v: Value = serde_json::from_slice(&out.stdout)?;
        Ok(TOOLS
            .iter()
            .map(|tool| {
                let samples = v[*tool]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_f64)
                    .map(|ms| Duration::from_secs_f64(ms / 1000.0))
                    .collect();
                (tool.to_string(), Stats::new(samples))
            })
            .collect())
    }
}

/// The design iteratr replaced: a new `iteratr mcp serve` over stdio for every call (spawn,
/// initialize, one `task-next`, exit).
pub fn process_per_call(
    iteratr: &Path,
    store_args: &[String],
    session: &str,
    calls: usize,
) -> anyhow::Result<Stats> {
    let mut samples = Vec::new();
    for _ in 0..calls {
        let started = Instant::now();
        let mut child = Command::new(iteratr)
            .args(store_args)
            .args(["mcp", "serve", "--session", session])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut stdin = child.stdin.take().expect("piped");
        writeln!(
            stdin,
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"2025-03-26","capabilities":{{}},"clientInfo":{{"name":"bench","version":"1"}}}}}}"#
        )?;
        writeln!(
            stdin,
            r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
        )?;
        writeln!(
            stdin,
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"task-next","arguments":{{}}}}}}"#
        )?;
        let stdout = child.stdout.take().expect("piped");
        let answered = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains(r#""id":1"#));
        drop(stdin);
        child.wait()?;
        anyhow::ensure!(answered, "mcp serve over stdio gave no answer");
        samples.push(started.elapsed());
    }
    Ok(Stats::new(samples))
}
