//! iteratr's benchmarks (not tests): tool-call latency from outside with the clients agents use,
//! append throughput and resume as sessions grow, prompt rendering, loop overhead and footprint.
//! Prints Markdown tables with medians, p99 and, for each comparison, a ratio from the same run.
//!
//!     cargo build --release --bins --examples && target/release/examples/bench
//!
//! Flags: `--quick` (sessions of 1k and 10k events, fewer calls), `--no-nats` (skip JetStream;
//! otherwise `nats-server` must be on PATH), `--no-ts` (skip the TypeScript SDK client; otherwise
//! Node and npm must be installed: the SDK goes into `target/bench-node`), `--iteratr PATH`
//! (measure another build of iteratr from outside, e.g. an older one; what runs in this process
//! — filling sessions, appends, resume, the prompt — is always this build).
//! `--long-run` runs only the long build instead (issue 26): fds, RSS, threads and tokio tasks of
//! `iteratr build` at 50, 500 and 5,000 iterations (`--quick`: 50 and 500) with an MCP client that
//! never closes its connection and one that does.
//! `--output` runs only the output stream's figures (issue 29): 100k updates coalesced into 4 KiB
//! records, and 100k records of 4 KiB, on SQLite and (unless `--no-nats`) JetStream; then
//! `iteratr build` under `tui_stress`'s flood with the stream on and off (`--quick`: 3 builds
//! each instead of 10).
//! `--watch` runs only the watchers' figures (issue 29): an agent update from the build's progress
//! lines to `watch --headless` in another process, and a message from `iteratr message` to the
//! build, on SQLite and (unless `--no-nats`) JetStream.
//! `--web` runs only the dashboard's figures (issue 30): an agent update from the build's progress
//! lines to the page in headless Chromium, the page of a 100k-event session, and a build with 20
//! dashboard watchers against none.
//! `--prompt` runs only the prompt's figures (issue 33): its bytes at 10 to 10,000 tasks and notes
//! before and with the prompt budget, the prefix consecutive prompts share, `tools/list`'s bytes.
//! The TUI has its own stress benchmark: `target/release/examples/tui_stress`.

mod chunks;
mod flood;
#[path = "../../tests/common/footprint.rs"]
mod footprint;
#[path = "../../tests/common/keep_alive.rs"]
mod keep_alive;
mod long_run;
mod loop_overhead;
mod mcp;
mod output;
mod prompt;
mod sessions;
#[path = "../../tests/common/sessions.rs"]
mod sessions_common;
mod util;
mod watch_latency;
mod web;
// Shared with the tests; the benchmark uses a part of each.
#[allow(dead_code)]
#[path = "../../tests/common/web.rs"]
mod webpage;
#[allow(dead_code)]
#[path = "../../tests/common"]
mod browser {
    pub mod webdriver;
}
mod workers;

use std::path::Path;
use std::time::{Duration, Instant};

use mcp::{Latencies, Server, TOOLS, TsClient};
use sessions::Store;
use util::{Binaries, Stats, ms, ratio};

struct Options {
    quick: bool,
    nats: bool,
    ts: bool,
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".into(), |m| m.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

fn latency_row(label: &str, figures: &Latencies) -> String {
    let cells: Vec<String> = figures
        .iter()
        .map(|(_, s)| format!("{} / {}", ms(s.p50()), ms(s.p99())))
        .collect();
    format!("| {label} | {} |", cells.join(" | "))
}

fn p50_of(figures: &Latencies, tool: &str) -> Duration {
    figures
        .iter()
        .find(|(t, _)| t == tool)
        .map_or(Duration::ZERO, |(_, s)| s.p50())
}

/// Every tool-call figure of one store at one size, keyed for the ratios.
struct Measured {
    store: &'static str,
    events: usize,
    raw1: Latencies,
    ts1: Option<Latencies>,
    rss_mib: f64,
}

async fn measure_store(
    bins: &Binaries,
    store: &Store,
    data_dir: &Path,
    sizes: &[usize],
    opts: &Options,
    ts: Option<&TsClient>,
    out: &mut Vec<Measured>,
) -> anyhow::Result<()> {
    let log = store.open(data_dir).await?;
    println!("\n### Appends, {} store\n", store.name());
    println!(
        "| session size | `task-batch-add` (100 a call), events/s over the last 1,000 | single `task-add`, calls/s |"
    );
    println!("|---:|---:|---:|");
    let mut rates = Vec::new();
    for &events in sizes {
        let g = sessions::fill(log.clone(), &format!("s{events}"), events).await?;
        println!(
            "| {} | {:.0} | {:.0} |",
            g.events, g.batch_rate, g.single_rate
        );
        rates.push(g);
    }
    if let (Some(first), Some(last)) = (rates.first(), rates.last()) {
        println!(
            "\nBatch throughput at {} events is {:.2}x the rate at {} (1.0 = flat).",
            last.events,
            last.batch_rate / first.batch_rate,
            first.events
        );
    }
    let largest = *sizes.last().unwrap_or(&0);
    let resume = sessions::resume(log.clone(), &format!("s{largest}")).await?;
    println!(
        "\nResume: opening the {largest}-event session and folding it: {} (median of 3, in process).",
        ms(resume)
    );

    let calls = if opts.quick { 50 } else { 200 };
    let together = if opts.quick { 10 } else { 25 };
    println!(
        "\n### Tool calls over HTTP, {} store (p50 / p99; {calls} calls a tool with one client, {together} a tool for each of 16 clients)\n",
        store.name()
    );
    println!("| session, client | {} |", TOOLS.join(" | "));
    println!("|---|{}", "---|".repeat(TOOLS.len()));
    let args = store.args(data_dir);
    let mut batch_rows = Vec::new();
    for &events in sizes {
        let session = format!("s{events}");
        let server = Server::start(&bins.iteratr, &args, &session)?;
        let raw1 = mcp::raw(server.port, 1, calls)?;
        println!(
            "{}",
            latency_row(&format!("{events} events, raw keep-alive"), &raw1)
        );
        let ts1 = match ts {
            Some(ts) => {
                let f = ts.run(&server.url, 1, calls)?;
                println!(
                    "{}",
                    latency_row(&format!("{events} events, TypeScript SDK"), &f)
                );
                Some(f)
            }
            None => None,
        };
        let started = Instant::now();
        let raw16 = mcp::raw(server.port, 16, together)?;
        let rate = (16 * together * TOOLS.len()) as f64 / started.elapsed().as_secs_f64();
        println!(
            "{}",
            latency_row(
                &format!("{events} events, 16 raw clients ({rate:.0} calls/s)"),
                &raw16
            )
        );
        if let Some(ts) = ts {
            let started = Instant::now();
            let f = ts.run(&server.url, 16, together)?;
            let rate = (16 * together * TOOLS.len()) as f64 / started.elapsed().as_secs_f64();
            println!(
                "{}",
                latency_row(
                    &format!("{events} events, 16 TypeScript SDK clients ({rate:.0} calls/s)"),
                    &f
                )
            );
        }
        let batches = mcp::batch_add(server.port, if opts.quick { 5 } else { 20 })?;
        batch_rows.push(format!(
            "| {events} | {} / {} | {:.0} |",
            ms(batches.p50()),
            ms(batches.p99()),
            100.0 / batches.p50().as_secs_f64()
        ));
        out.push(Measured {
            store: store.name(),
            events,
            raw1,
            ts1,
            rss_mib: server.rss_mib(),
        });
    }
    println!(
        "\n`task-batch-add` of 100 tasks over HTTP, raw client, after the calls above:\n\n\
         | session size | p50 / p99 | events/s at p50 |\n|---:|---:|---:|"
    );
    for row in batch_rows {
        println!("{row}");
    }
    Ok(())
}

fn print_ratios(measured: &[Measured], baseline: &[(usize, Stats)]) {
    println!("\n### Comparisons (same run)\n");
    println!("| comparison | tool | ratio |");
    println!("|---|---|---:|");
    for store in ["embedded", "JetStream"] {
        let of: Vec<&Measured> = measured.iter().filter(|m| m.store == store).collect();
        let (Some(small), Some(large)) = (of.first(), of.last()) else {
            continue;
        };
        for tool in ["task-next", "task-add", "note-add", "task-list"] {
            println!(
                "| {store}: p50 at {} events / p50 at {} events, raw client | {tool} | {} |",
                large.events,
                small.events,
                ratio(p50_of(&large.raw1, tool), p50_of(&small.raw1, tool))
            );
            if let (Some(l), Some(s)) = (&large.ts1, &small.ts1) {
                println!(
                    "| {store}: p50 at {} events / p50 at {} events, TypeScript SDK | {tool} | {} |",
                    large.events,
                    small.events,
                    ratio(p50_of(l, tool), p50_of(s, tool))
                );
            }
        }
    }
    for (events, per_call) in baseline {
        for m in measured
            .iter()
            .filter(|m| m.store == "embedded" && m.events == *events)
        {
            println!(
                "| process per call / raw keep-alive, {events} events | task-next | {} |",
                ratio(per_call.p50(), p50_of(&m.raw1, "task-next"))
            );
            if let Some(ts) = &m.ts1 {
                println!(
                    "| process per call / TypeScript SDK, {events} events | task-next | {} |",
                    ratio(per_call.p50(), p50_of(ts, "task-next"))
                );
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut flags: Vec<String> = Vec::new();
    let mut other_binary = None;
    let mut args = std::env::args().skip(1);
    while let Some(f) = args.next() {
        match f.as_str() {
            "--quick" | "--no-nats" | "--no-ts" | "--long-run" | "--output" | "--watch"
            | "--web" | "--prompt" => flags.push(f),
            "--iteratr" => {
                let path = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--iteratr needs the path of a binary"))?;
                other_binary = Some(std::path::PathBuf::from(path));
            }
            _ => anyhow::bail!(
                "unknown flag {f}; the flags are --quick, --no-nats, --no-ts, --long-run, --output, --watch, --web, --prompt and --iteratr PATH"
            ),
        }
    }
    let opts = Options {
        quick: flags.iter().any(|f| f == "--quick"),
        nats: !flags.iter().any(|f| f == "--no-nats"),
        ts: !flags.iter().any(|f| f == "--no-ts"),
    };
    if flags.iter().any(|f| f == "--output") {
        println!("## iteratr: the output stream (issue 29)\n");
        println!("Machine: {}.\n", machine());
        let work = tempfile::tempdir()?;
        output::report(work.path(), opts.nats).await?;
        let bins = Binaries::find()?;
        let runs = if opts.quick { 3 } else { 10 };
        return flood::report(&bins.iteratr, &bins.fake_agent, opts.nats, runs).await;
    }
    let mut bins = Binaries::find()?;
    let target = bins
        .iteratr
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow::anyhow!("no target directory"))?
        .to_path_buf();
    if let Some(path) = other_binary {
        anyhow::ensure!(path.is_file(), "no binary at {}", path.display());
        bins.iteratr = path;
    }
    if flags.iter().any(|f| f == "--watch") {
        println!("## iteratr: watching and steering from another process (issue 29)\n");
        println!("Machine: {}.\n", machine());
        return watch_latency::report(&bins.iteratr, &bins.fake_agent, opts.nats);
    }
    if flags.iter().any(|f| f == "--web") {
        println!("## iteratr: the web dashboard (issue 30)\n");
        println!("Machine: {}.\n", machine());
        return web::report(&bins.iteratr, &bins.fake_agent).await;
    }
    if flags.iter().any(|f| f == "--prompt") {
        println!("## iteratr: the prompt's size and shared prefix (issue 33)\n");
        return prompt::report(&bins.iteratr);
    }
    if flags.iter().any(|f| f == "--long-run") {
        let at: &[u32] = if opts.quick {
            &[50, 500]
        } else {
            &[50, 500, 5_000]
        };
        println!("## iteratr: a long build (issue 26)\n");
        println!("Machine: {}.\n", machine());
        return long_run::report(&bins.iteratr, &bins.fake_agent, at);
    }
    let ts = if opts.ts {
        Some(TsClient::install(&target)?)
    } else {
        None
    };
    let sizes: &[usize] = if opts.quick {
        &[1_000, 10_000]
    } else {
        &[1_000, 10_000, 100_000]
    };
    let work = tempfile::tempdir()?;

    println!("## iteratr benchmarks\n");
    println!("Machine: {}.", machine());
    let size = std::fs::metadata(&bins.iteratr)?.len();
    println!(
        "Binary: {} ({:.1} MiB).",
        bins.iteratr.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    {
        let idle_dir = work.path().join("idle");
        let server = Server::start(&bins.iteratr, &Store::Embedded.args(&idle_dir), "idle")?;
        let mut conn = keep_alive::KeepAlive::connect(server.port, mcp::TOKEN);
        conn.initialize();
        conn.call(1, "task-next", "{}");
        println!(
            "Idle `iteratr mcp serve --http` (empty session, one client): {:.1} MiB RSS.",
            server.rss_mib()
        );
    }

    let mut measured = Vec::new();
    let embedded_dir = work.path().join("embedded");
    measure_store(
        &bins,
        &Store::Embedded,
        &embedded_dir,
        sizes,
        &opts,
        ts.as_ref(),
        &mut measured,
    )
    .await?;
    let mut baseline = Vec::new();
    let per_call = if opts.quick { 10 } else { 30 };
    for &events in [sizes[0], *sizes.last().unwrap_or(&sizes[0])].iter() {
        if baseline.iter().any(|(e, _)| *e == events) {
            continue;
        }
        let s = mcp::process_per_call(
            &bins.iteratr,
            &Store::Embedded.args(&embedded_dir),
            &format!("s{events}"),
            per_call,
        )?;
        println!(
            "\nBaseline, a new `iteratr mcp serve` over stdio for each `task-next` ({events} events): p50 {}, p99 {} ({} calls).",
            ms(s.p50()),
            ms(s.p99()),
            s.count()
        );
        baseline.push((events, s));
    }
    let status = {
        let largest = *sizes.last().unwrap_or(&0);
        let mut samples = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let out = std::process::Command::new(&bins.iteratr)
                .args(Store::Embedded.args(&embedded_dir))
                .args(["status", "--session", &format!("s{largest}"), "--json"])
                .output()?;
            anyhow::ensure!(out.status.success(), "iteratr status failed");
            samples.push(started.elapsed());
        }
        (largest, Stats::new(samples))
    };
    println!(
        "`iteratr status --json` on the {}-event session: {} (median of 3, process start to exit).",
        status.0,
        ms(status.1.p50())
    );

    let _nats = if opts.nats {
        let (server, url) = util::start_nats(&work.path().join("nats"))?;
        measure_store(
            &bins,
            &Store::JetStream(url),
            &work.path().join("js"),
            sizes,
            &opts,
            ts.as_ref(),
            &mut measured,
        )
        .await?;
        Some(server)
    } else {
        None
    };

    println!("\n### Memory\n");
    for m in &measured {
        println!(
            "- `mcp serve --http` on the {}-event session ({} store), after its calls: {:.1} MiB RSS",
            m.events, m.store, m.rss_mib
        );
    }
    print_ratios(&measured, &baseline);

    println!("\n### Prompt and loop\n");
    let prompt_log = Store::Embedded.open(&work.path().join("prompt")).await?;
    let (render, len) = sessions::prompt(prompt_log).await?;
    println!(
        "- Rendering the prompt for 1,000 tasks and 1,000 notes ({} KiB): {} (median of 20)",
        len / 1024,
        ms(render)
    );
    let iterations = if opts.quick { 10 } else { 40 };
    let l = loop_overhead::run(&bins.iteratr, &bins.fake_agent, iterations)?;
    println!(
        "- Loop overhead, agent answer to next prompt: p50 {}, p99 {} over {} prompts ({} for the whole run, {:.1} iterations/s)",
        ms(l.between_prompts.p50()),
        ms(l.between_prompts.p99()),
        l.iterations,
        ms(l.total),
        l.iterations as f64 / l.total.as_secs_f64()
    );
    println!(
        "- First prompt: {} after `iteratr build --headless` started, {} after the agent's `session/new`",
        ms(l.first_prompt),
        ms(l.first_prompt_after_ready)
    );
    let w = workers::measure(&bins.iteratr, &bins.fake_agent)?;
    println!("\n### Workers\n");
    println!(
        "- {} independent tasks, the fake agent taking {} s over each: one build {:.2} s, `--workers 3` {:.2} s; ratio {:.2} (goal ≤ 0.45)",
        workers::TASKS,
        workers::TASK_TIME.as_secs(),
        w.single.as_secs_f64(),
        w.three.as_secs_f64(),
        w.three.as_secs_f64() / w.single.as_secs_f64()
    );
    println!(
        "- Time per task beyond the agent's own (planning, claims, commits, rebases, integration): one build {}, three workers {}",
        ms(workers::WorkerFigures::overhead_per_task(w.single, 1)),
        ms(workers::WorkerFigures::overhead_per_task(w.three, 3))
    );
    println!(
        "- Peak RSS of the benchmark process itself: {:.0} MiB",
        util::own_peak_rss_mib()
    );
    Ok(())
}
