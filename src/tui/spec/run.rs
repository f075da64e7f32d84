//! The wizard's event loop: terminal input, what the command layer tells, redraws; `e` on the
//! review hands the terminal to the person's editor and takes it back.

use std::io;
use std::time::Duration;

use ratatui::crossterm::event::{Event, KeyCode, KeyEventKind};
use tokio::sync::mpsc;

use super::{Step, Wizard, WizardIn, WizardOut};

/// Opens the spec in the person's editor: the edited text and what is wrong with it, if anything.
pub type Editor = Box<dyn Fn(&str) -> Result<(String, Option<String>), String> + Send>;

/// How the wizard ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WizardEnd {
    Quit,
    /// The person asked to build the spec saved.
    Build,
}

/// Runs the wizard until the person leaves or `ins` closes. What it needs done goes to `outs`
/// (`first` at once: the interview, when the title and description were given).
pub async fn run(
    mut wizard: Wizard,
    first: Option<WizardOut>,
    mut ins: mpsc::UnboundedReceiver<WizardIn>,
    outs: mpsc::UnboundedSender<WizardOut>,
    editor: Editor,
) -> io::Result<WizardEnd> {
    if let Some(first) = first {
        let _ = outs.send(first);
    }
    let mut terminal = ratatui::try_init()?;
    let _guard = super::super::TerminalGuard;
    let (mut input, mut stop_input) = super::super::spawn_input_reader();
    let mut dirty = true;
    let end = loop {
        if dirty {
            terminal.draw(|f| wizard.draw(f))?;
            dirty = false;
        }
        tokio::select! {
            ev = ins.recv() => match ev {
                Some(ev) => {
                    wizard.on_in(ev);
                    while let Ok(ev) = ins.try_recv() {
                        wizard.on_in(ev);
                    }
                    dirty = true;
                }
                None => break WizardEnd::Quit,
            },
            ev = input.recv() => match ev {
                Some(Event::Key(key)) if key.kind != KeyEventKind::Release => {
                    dirty = true;
                    if wizard.step() == Step::Review && key.code == KeyCode::Char('e') {
                        // The editor gets the terminal: our reader stops, the screen is restored.
                        stop_input.store(true, std::sync::atomic::Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(150)).await;
                        ratatui::restore();
                        let spec = wizard.spec.clone().unwrap_or_default();
                        let edited = tokio::task::block_in_place(|| editor(&spec));
                        terminal = ratatui::try_init()?;
                        terminal.clear()?;
                        (input, stop_input) = super::super::spawn_input_reader();
                        match edited {
                            Ok((spec, warning)) => wizard.edited(spec, warning),
                            Err(e) => wizard.message = Some(e),
                        }
                        continue;
                    }
                    match wizard.on_key(key) {
                        Some(WizardOut::Quit) => break WizardEnd::Quit,
                        Some(WizardOut::Build) => break WizardEnd::Build,
                        Some(out) => {
                            let _ = outs.send(out);
                        }
                        None => {}
                    }
                }
                Some(Event::Resize(..)) => dirty = true,
                Some(_) => {}
                None => break WizardEnd::Quit,
            },
        }
    };
    stop_input.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(end)
}
