//! Stress benchmark of the full-screen interface (not a test): the scripted fake agent streams
//! 100,000 chunks as fast as it can over real ACP; iteratr's ACP client feeds them to the TUI's
//! app, which draws to an in-memory 120x40 terminal at most every 16 ms, as the real event loop
//! does, while a key press arrives every 20 ms. Prints the time to render everything, the peak
//! memory, and how long key presses waited.
//!
//!     cargo build --release --examples && target/release/examples/tui_stress [CHUNKS]

#[path = "bench/chunks.rs"]
mod chunks;

use std::sync::Arc;
use std::time::{Duration, Instant};

use iteratr::acp::permissions::policy::Policy;
use iteratr::acp::permissions::{Approvals, ApproveMode};
use iteratr::acp::{Agent, AgentSpec, AgentUpdate, UpdateSink};
use iteratr::frontend::BuildEvent;
use iteratr::tui::{App, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = iteratr::logging::init(None);
    let chunks: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let actions = chunks::flood(chunks);
    let script = dir.path().join("script.json");
    std::fs::write(
        &script,
        serde_json::json!({ "turns": [{ "actions": actions }] }).to_string(),
    )?;
    let agent_path = std::env::current_exe()?.with_file_name("fake_agent");
    anyhow::ensure!(
        agent_path.exists(),
        "{} is missing: cargo build --release --examples",
        agent_path.display()
    );

    let (tx, mut rx) = mpsc::unbounded_channel::<BuildEvent>();
    let sink: UpdateSink = Arc::new(move |update: AgentUpdate| {
        let _ = tx.send(BuildEvent::Agent { update });
    });
    let agent = Agent::start(
        AgentSpec {
            argv: vec![
                agent_path.display().to_string(),
                "--script".into(),
                script.display().to_string(),
            ],
            cwd: dir.path().to_path_buf(),
            env: Vec::new(),
            approvals: Arc::new(Approvals::new(Policy::default(), ApproveMode::Auto, false)),
            init_timeout: Duration::from_secs(30),
            private: Vec::new(),
            sandbox: None,
        },
        sink,
    )
    .await?;
    let session = agent.new_session(dir.path(), Vec::new()).await?;

    let mut app = App::new("stress", false);
    let mut terminal = Terminal::new(TestBackend::new(120, 40))?;
    let (key_tx, mut key_rx) = mpsc::unbounded_channel::<Instant>();
    let keys = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if key_tx.send(Instant::now()).is_err() {
                return;
            }
        }
    });

    let started = Instant::now();
    let (mut updates, mut frames) = (0usize, 0usize);
    let mut key_waits: Vec<Duration> = Vec::new();
    let mut last_update = Instant::now();
    {
        let prompt = agent.prompt(&session, "go".into());
        tokio::pin!(prompt);
        let mut done = false;
        let mut last_draw = Instant::now() - Duration::from_millis(16);
        let mut dirty = false;
        loop {
            // The turn is over and nothing arrived for a while: everything was rendered.
            if done && !dirty && last_update.elapsed() > Duration::from_millis(300) {
                break;
            }
            if dirty && last_draw.elapsed() >= Duration::from_millis(16) {
                terminal.draw(|f| draw(f, &mut app))?;
                frames += 1;
                last_draw = Instant::now();
                dirty = false;
            }
            tokio::select! {
                ev = rx.recv() => {
                    let Some(ev) = ev else { break };
                    app.on_build_event(ev);
                    updates += 1;
                    last_update = Instant::now();
                    for _ in 0..4096 {
                        match rx.try_recv() {
                            Ok(ev) => { app.on_build_event(ev); updates += 1; }
                            Err(_) => break,
                        }
                    }
                    dirty = true;
                }
                Some(sent) = key_rx.recv() => {
                    app.on_key(KeyEvent::new(KeyCode::Char(if frames % 2 == 0 { 'k' } else { 'j' }), KeyModifiers::NONE));
                    terminal.draw(|f| draw(f, &mut app))?;
                    frames += 1;
                    last_draw = Instant::now();
                    key_waits.push(sent.elapsed());
                }
                stop = &mut prompt, if !done => {
                    stop?;
                    done = true;
                }
                _ = tokio::time::sleep(Duration::from_millis(16)), if dirty => {}
                _ = tokio::time::sleep(Duration::from_millis(50)), if done => {}
            }
        }
    }
    terminal.draw(|f| draw(f, &mut app))?;
    let elapsed = last_update.duration_since(started);
    keys.abort();
    agent.shutdown(Duration::from_secs(2)).await;

    key_waits.sort();
    let p99 = key_waits
        .get(key_waits.len() * 99 / 100)
        .copied()
        .unwrap_or_default();
    let max = key_waits.last().copied().unwrap_or_default();
    println!("chunks scripted:      {chunks}");
    println!("updates received:     {updates}");
    println!(
        "time to render all:   {:.2} s ({:.0} updates/s)",
        elapsed.as_secs_f64(),
        updates as f64 / elapsed.as_secs_f64()
    );
    println!("frames drawn:         {frames}");
    println!("peak memory (RSS):    {:.1} MiB", peak_rss_mib());
    println!(
        "key presses handled:  {} (wait p99 {:.1} ms, max {:.1} ms)",
        key_waits.len(),
        p99.as_secs_f64() * 1000.0,
        max.as_secs_f64() * 1000.0
    );
    println!(
        "lines kept in memory: at most {} (older output dropped; the log keeps it)",
        iteratr::tui::TRANSCRIPT_MAX_LINES
    );
    Ok(())
}
