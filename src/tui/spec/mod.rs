//! `iteratr spec`'s full-screen wizard: the title, a short description, the interview (the
//! agent's questions in the question window of the build's interface), the review (the spec as
//! Markdown, or a refined spec's changes as a diff; `e` edits it in `$EDITOR`, `r` starts the
//! interview over, `s` saves, asking before overwriting), and done (where it went; `b` builds it).
//! Esc goes back a step. The wizard only shows and asks: what it needs done goes out as a
//! [`WizardOut`] and what happened comes back as a [`WizardIn`] (the command layer runs the
//! interview and saves). State and keys here, drawing in `draw.rs`, the event loop in `run.rs`.

mod draw;
mod run;
#[cfg(test)]
mod tests;

pub use run::{Editor, WizardEnd, run};

use std::sync::Arc;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::keys::{self, Action, Scope};
use super::overlays::question::QuestionWindow;
use crate::session::{EventKind, ItemAnswer, SessionState};

/// Agent text kept for the interview screen.
const TRANSCRIPT_MAX: usize = 16 * 1024;
/// Longest title and description typed.
const TITLE_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 2000;

/// What the wizard knows before it starts.
#[derive(Debug, Clone, Default)]
pub struct WizardSetup {
    pub title: String,
    pub description: String,
    /// The spec being refined, as it is now (the review shows the changes).
    pub existing: Option<String>,
    /// Where the refined spec is (for its diff).
    pub path: String,
}

/// What the wizard learns.
#[derive(Debug, Clone)]
pub enum WizardIn {
    /// The interview's session: its questions and answers.
    State(Arc<SessionState>, Option<EventKind>),
    /// The agent's words.
    Text(String),
    /// What the agent does (a tool's title).
    Activity(String),
    /// The spec the agent handed over.
    Spec(String),
    /// The interview failed.
    Failed(String),
    /// An answer was refused (why).
    Refused(String),
    /// The spec's file exists: overwrite it?
    Exists(String),
    /// Saved: what to say, and the path.
    Saved(String, String),
    SaveFailed(String),
}

/// What the wizard asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum WizardOut {
    /// Start the interview (any running one is stopped first).
    Interview {
        title: String,
        description: String,
    },
    StopInterview,
    Answer(u64, Vec<ItemAnswer>),
    Save {
        spec: String,
        title: String,
        description: String,
        overwrite: bool,
    },
    /// Leave (nothing more is saved).
    Quit,
    /// Leave and build the spec saved.
    Build,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Title,
    Description,
    Interview,
    Review,
    /// Asking whether to overwrite the file.
    Overwrite,
    Done,
}

/// The wizard's state.
pub struct Wizard {
    pub(super) step: Step,
    pub(super) title: String,
    pub(super) description: String,
    pub(super) existing: Option<String>,
    pub(super) path: String,
    pub(super) state: Arc<SessionState>,
    pub(super) question: QuestionWindow,
    pub(super) transcript: String,
    pub(super) activity: String,
    pub(super) spec: Option<String>,
    /// First line of the review shown.
    pub(super) scroll: usize,
    /// A line for the person: an error, what was saved, a warning after an edit.
    pub(super) message: Option<String>,
    /// The saved spec's path (the done screen).
    pub(super) saved: Option<String>,
}

impl Wizard {
    pub fn new(setup: WizardSetup) -> (Wizard, Option<WizardOut>) {
        let refining = setup.existing.is_some();
        let mut w = Wizard {
            step: Step::Title,
            title: setup.title,
            description: setup.description,
            existing: setup.existing,
            path: setup.path,
            state: Arc::default(),
            question: QuestionWindow::default(),
            transcript: String::new(),
            activity: String::new(),
            spec: None,
            scroll: 0,
            message: None,
            saved: None,
        };
        let first = if w.title.is_empty() {
            None
        } else if refining || !w.description.is_empty() {
            Some(w.start_interview())
        } else {
            w.step = Step::Description;
            None
        };
        (w, first)
    }

    pub fn step(&self) -> Step {
        self.step
    }

    fn start_interview(&mut self) -> WizardOut {
        self.step = Step::Interview;
        self.transcript.clear();
        self.activity = "starting the agent…".into();
        self.spec = None;
        self.message = None;
        self.state = Arc::default();
        self.question = QuestionWindow::default();
        WizardOut::Interview {
            title: self.title.trim().to_string(),
            description: self.description.trim().to_string(),
        }
    }

    /// The step before the interview (the description; the title when refining).
    fn back_from_interview(&mut self) -> WizardOut {
        self.step = if self.existing.is_some() {
            Step::Title
        } else {
            Step::Description
        };
        WizardOut::StopInterview
    }

    pub fn on_in(&mut self, ev: WizardIn) {
        match ev {
            WizardIn::State(state, kind) => {
                self.state = state;
                self.question.sync(&self.state);
                if matches!(kind, Some(EventKind::QuestionAsked { .. })) {
                    self.question.asked();
                    self.activity = "the agent asks you".into();
                }
            }
            WizardIn::Text(text) => {
                self.transcript.push_str(&text);
                if self.transcript.len() > TRANSCRIPT_MAX {
                    let cut = self.transcript.len() - TRANSCRIPT_MAX;
                    let at = (cut..self.transcript.len())
                        .find(|i| self.transcript.is_char_boundary(*i))
                        .unwrap_or(0);
                    self.transcript.drain(..at);
                }
            }
            WizardIn::Activity(what) => self.activity = what,
            WizardIn::Spec(spec) if self.step == Step::Interview => {
                self.spec = Some(spec);
                self.scroll = 0;
                self.step = Step::Review;
            }
            WizardIn::Spec(_) => {}
            WizardIn::Failed(why) if self.step == Step::Interview => {
                self.message = Some(format!("the interview failed: {why}; r tries again"));
                self.activity.clear();
            }
            WizardIn::Failed(_) => {}
            WizardIn::Refused(why) => {
                self.question.refused(&self.state);
                self.message = Some(why);
            }
            WizardIn::Exists(path) => {
                self.path = path;
                self.step = Step::Overwrite;
            }
            WizardIn::Saved(said, path) => {
                self.message = Some(said);
                self.saved = Some(path);
                self.step = Step::Done;
            }
            WizardIn::SaveFailed(why) => {
                self.message = Some(why);
                self.step = Step::Review;
            }
        }
    }

    /// The spec after `$EDITOR` (and what is wrong with it, if anything).
    pub fn edited(&mut self, spec: String, warning: Option<String>) {
        self.spec = Some(spec);
        self.message = warning;
    }

    /// A key; what the outside world must do, if anything.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<WizardOut> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(WizardOut::Quit);
        }
        match self.step {
            Step::Title => self.text_key(key),
            Step::Description => self.text_key(key),
            Step::Interview => self.interview_key(key),
            Step::Review => self.review_key(key),
            Step::Overwrite => match key.code {
                KeyCode::Char('y' | 'Y') => Some(self.save(true)),
                KeyCode::Char('n' | 'N') | KeyCode::Esc => {
                    self.message = Some(format!("{} was left as it is", self.path));
                    self.step = Step::Review;
                    None
                }
                _ => None,
            },
            Step::Done => match key.code {
                KeyCode::Char('b') => Some(WizardOut::Build),
                KeyCode::Char('q') | KeyCode::Esc | KeyCode::Enter => Some(WizardOut::Quit),
                _ => None,
            },
        }
    }

    fn text_key(&mut self, key: KeyEvent) -> Option<WizardOut> {
        let title = self.step == Step::Title;
        let (text, max) = if title {
            (&mut self.title, TITLE_MAX)
        } else {
            (&mut self.description, DESCRIPTION_MAX)
        };
        match key.code {
            KeyCode::Char(c)
                if !key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                    && text.chars().count() < max =>
            {
                text.push(c);
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Enter if title => {
                if self.title.trim().is_empty() {
                    self.message = Some("the spec needs a title".into());
                } else {
                    self.message = None;
                    if self.existing.is_some() {
                        return Some(self.start_interview());
                    }
                    self.step = Step::Description;
                }
            }
            KeyCode::Enter => return Some(self.start_interview()),
            KeyCode::Esc if title => return Some(WizardOut::Quit),
            KeyCode::Esc => self.step = Step::Title,
            _ => {}
        }
        None
    }

    fn interview_key(&mut self, key: KeyEvent) -> Option<WizardOut> {
        if key.code == KeyCode::Esc {
            return Some(self.back_from_interview());
        }
        if self.question.shown().is_none() {
            if key.code == KeyCode::Char('r') && self.message.is_some() {
                return Some(self.start_interview());
            }
            return None;
        }
        let scope = if self.question.typing(&self.state) {
            Scope::QuestionText
        } else {
            Scope::Question
        };
        match keys::action(scope, &key) {
            Some(Action::PutAside) | Some(Action::Quit) => None,
            Some(action) => self
                .question
                .on_action(action, &self.state)
                .and_then(|op| match op {
                    crate::frontend::Op::AnswerQuestion(id, answers) => {
                        self.activity = "the agent goes on…".into();
                        Some(WizardOut::Answer(id, answers))
                    }
                    _ => None,
                }),
            None => {
                self.question.type_key(key, &self.state);
                None
            }
        }
    }

    fn review_key(&mut self, key: KeyEvent) -> Option<WizardOut> {
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.scroll += 1,
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(20),
            KeyCode::PageDown | KeyCode::Char(' ') => self.scroll += 20,
            KeyCode::Char('s') | KeyCode::Enter => return Some(self.save(false)),
            KeyCode::Char('r') => return Some(self.start_interview()),
            KeyCode::Esc => {
                self.step = if self.existing.is_some() {
                    Step::Title
                } else {
                    Step::Description
                };
            }
            _ => {}
        }
        None
    }

    fn save(&mut self, overwrite: bool) -> WizardOut {
        WizardOut::Save {
            spec: self.spec.clone().unwrap_or_default(),
            title: self.title.trim().to_string(),
            description: self.description.trim().to_string(),
            overwrite: overwrite || self.existing.is_some(),
        }
    }
}
