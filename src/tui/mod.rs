//! The full-screen interface (ratatui + crossterm). One app, one action enum, one event loop
//! selecting over terminal input, build events (agent updates and the session log) and a spinner
//! tick that only runs while the agent works. Redraws are coalesced: at most one frame per 16 ms,
//! and none while nothing changed. A panic or an error restores the terminal.
//!
//! The app (`app.rs`) dispatches to components that own their state and draw themselves: the
//! panes (`panes/`: agent output, tasks, notes, logs, input), the windows over them (`overlays/`:
//! keys, task, note, permission request), the status bar and the footer. A frame is laid out
//! first (`layout.rs`, kept for the mouse), then drawn without changing anything.

mod app;
mod footer;
mod keys;
mod layout;
mod overlays;
mod panes;
pub mod spec;
mod status_bar;
mod style;
mod workers;

use std::io;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use ratatui::crossterm::execute;
use tokio::sync::mpsc;

pub use app::{App, Focus, View};
pub use layout::Layout;
pub use overlays::Overlay;
pub use panes::agent::transcript::MAX_LINES as TRANSCRIPT_MAX_LINES;
pub use panes::input::InputPurpose;
pub use panes::logs::LOG_KEEP;

use crate::frontend::{BuildEvent, Op};

const FRAME: Duration = Duration::from_millis(16);

/// Draws one frame: lays it out (kept by the app for the mouse), then renders it.
pub fn draw(frame: &mut ratatui::Frame, app: &mut App) {
    app.lay_out(frame.area());
    app.render(frame);
}

/// Restores the terminal when dropped, whatever happens.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = execute!(io::stdout(), DisableMouseCapture);
        ratatui::restore();
    }
}

/// Reads terminal input on its own thread (crossterm's read blocks) until `stop` is dropped.
fn spawn_input_reader() -> (
    mpsc::UnboundedReceiver<Event>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let _ = std::thread::Builder::new()
        .name("iteratr-input".into())
        .spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match event::poll(Duration::from_millis(100)) {
                    Ok(true) => match event::read() {
                        Ok(ev) => {
                            if tx.send(ev).is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    },
                    Ok(false) => {}
                    Err(_) => return,
                }
            }
        });
    (rx, stop)
}

/// Runs the interface until the user leaves. `actions` carries what the user asked for.
pub async fn run(
    mut app: App,
    mut events: mpsc::UnboundedReceiver<BuildEvent>,
    actions: mpsc::UnboundedSender<Op>,
    mut extra: mpsc::UnboundedReceiver<AppNotice>,
) -> io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let _guard = TerminalGuard;
    execute!(io::stdout(), EnableMouseCapture)?;
    let (mut input, stop_input) = spawn_input_reader();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut events_open = true;
    let result = loop {
        if dirty && last_draw.elapsed() >= FRAME {
            if let Err(e) = terminal.draw(|f| draw(f, &mut app)) {
                break Err(e);
            }
            dirty = false;
            last_draw = Instant::now();
        }
        let wait = FRAME.saturating_sub(last_draw.elapsed());
        tokio::select! {
            ev = events.recv(), if events_open => match ev {
                Some(ev) => {
                    app.on_build_event(ev);
                    // Take what else is waiting: one redraw for a burst of chunks.
                    for _ in 0..4096 {
                        match events.try_recv() {
                            Ok(ev) => app.on_build_event(ev),
                            Err(_) => break,
                        }
                    }
                    dirty = true;
                }
                None => {
                    events_open = false;
                    if app.quitting() {
                        break Ok(());
                    }
                }
            },
            ev = input.recv() => match ev {
                Some(Event::Key(key)) => {
                    if let Some(action) = app.on_key(key) {
                        if action == Op::Leave || (action == Op::Stop && !events_open) {
                            break Ok(());
                        }
                        let _ = actions.send(action);
                    }
                    dirty = true;
                }
                Some(Event::Mouse(m)) => {
                    if let Some(action) = app.on_mouse(m) {
                        let _ = actions.send(action);
                    }
                    dirty = true;
                }
                Some(Event::Resize(..)) => dirty = true,
                Some(_) => {}
                None => break Ok(()),
            },
            notice = extra.recv() => match notice {
                Some(AppNotice::Git(branch)) => { app.set_git(branch); dirty = true; }
                Some(AppNotice::Refused(text)) => { app.refused(text); dirty = true; }
                None => {}
            },
            _ = tick.tick(), if app.working() => { app.tick(); dirty = true; }
            _ = tokio::time::sleep(wait), if dirty => {}
        }
    };
    stop_input.store(true, std::sync::atomic::Ordering::Relaxed);
    result
}

/// Things the app learns from helpers outside the build stream.
#[derive(Debug, Clone)]
pub enum AppNotice {
    Git(Option<(String, bool)>),
    /// What the person asked was refused, and why.
    Refused(String),
}
