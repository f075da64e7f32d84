//! The agent's questions (`ask-questions`) that wait for a person: a window over the dashboard
//! with each question's header and question, its choices (numbered; one, or several when the
//! question takes several) and always an answer in the person's own words. One question at a
//! time, the oldest first; the window shows while the session's log has it open, whoever else
//! may answer it meanwhile (`iteratr answer`, `watch`, the dashboard). Esc puts it aside (the
//! status bar then says a question waits, `Q` opens it again; a new question brings it back by
//! itself). The answer goes out as [`Op::AnswerQuestion`]; the window moves on when the log has
//! it, or takes it back when it was refused.
//!
//! State and keys here, drawing and where things are in `draw.rs`, clicks below.

mod draw;
#[cfg(test)]
pub(crate) mod tests;

pub(crate) use draw::Hits;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Position;

use crate::frontend::Op;
use crate::session::{ANSWER_MAX, ItemAnswer, Question, SessionState};
use crate::tui::keys::Action;

/// The answer being written to one question.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Draft {
    question: u64,
    /// The question item shown.
    item: usize,
    /// The cursor: a choice of the item shown, or (at its number of choices) the answer in words.
    row: usize,
    /// Per item, the choices picked (their indexes, in order).
    picked: Vec<Vec<usize>>,
    /// Per item, the answer in words.
    text: Vec<String>,
    /// What is missing, after Enter could not send.
    problem: Option<String>,
}

impl Draft {
    fn new(q: &Question) -> Draft {
        Draft {
            question: q.id,
            item: 0,
            row: 0,
            picked: vec![Vec::new(); q.items.len()],
            text: vec![String::new(); q.items.len()],
            problem: None,
        }
    }

    /// The number of choices of the item shown (the row of the answer in words).
    fn text_row(&self, q: &Question) -> usize {
        q.items.get(self.item).map_or(0, |i| i.choices.len())
    }

    /// Whether item `i` has an answer (a choice or some words).
    fn answered(&self, i: usize) -> bool {
        !self.picked[i].is_empty() || !self.text[i].trim().is_empty()
    }

    /// Picks choice `choice` of the item shown: the only one, or one more when the item takes
    /// several; picking it again takes it back.
    fn pick(&mut self, q: &Question, choice: usize) {
        let Some(item) = q.items.get(self.item) else {
            return;
        };
        if choice >= item.choices.len() {
            return;
        }
        self.row = choice;
        let picked = &mut self.picked[self.item];
        if let Some(at) = picked.iter().position(|c| *c == choice) {
            picked.remove(at);
        } else if item.multiple {
            picked.push(choice);
            picked.sort_unstable();
        } else {
            *picked = vec![choice];
        }
    }

    fn go_to_item(&mut self, item: usize) {
        self.item = item;
        self.row = 0;
    }

    /// The answers to every item, or (with the cursor moved there) the first item without one.
    fn answers(&mut self, q: &Question) -> Option<Vec<ItemAnswer>> {
        // Nothing picked or written for the item shown: the choice under the cursor is it.
        if !self.answered(self.item) && self.row < self.text_row(q) {
            self.picked[self.item] = vec![self.row];
        }
        if let Some(i) = (0..q.items.len()).find(|i| !self.answered(*i)) {
            self.go_to_item(i);
            self.problem = Some(format!(
                "\"{}\" needs an answer: pick a choice or write some words",
                q.items[i].header
            ));
            return None;
        }
        Some(
            q.items
                .iter()
                .enumerate()
                .map(|(i, item)| ItemAnswer {
                    chosen: self.picked[i]
                        .iter()
                        .filter_map(|c| item.choices.get(*c))
                        .map(|c| c.label.clone())
                        .collect(),
                    text: self.text[i].trim().to_string(),
                })
                .collect(),
        )
    }
}

/// The question window: the answer being written, whether it is put aside, and the answers sent
/// that the log does not have yet.
#[derive(Debug, Default)]
pub(crate) struct QuestionWindow {
    /// For the question shown (the oldest open one not sent); None when none waits.
    draft: Option<Draft>,
    aside: bool,
    sent: Vec<Draft>,
}

impl QuestionWindow {
    /// Follows the session: the answer sent is done once the log has the question answered; the
    /// window shows the oldest open question not sent (a fresh answer when it is another one).
    pub(crate) fn sync(&mut self, state: &SessionState) {
        let open = |id: u64| state.questions.all.get(&id).is_some_and(|q| q.is_open());
        self.sent.retain(|s| open(s.question));
        let sent = &self.sent;
        match state
            .questions
            .open()
            .find(|q| !sent.iter().any(|s| s.question == q.id))
        {
            None => self.draft = None,
            Some(q) if self.draft.as_ref().map(|d| d.question) != Some(q.id) => {
                self.draft = Some(Draft::new(q));
            }
            Some(_) => {}
        }
    }

    /// A new question was asked: the window comes back if it was put aside.
    pub(crate) fn asked(&mut self) {
        self.aside = false;
    }

    /// The question waiting for an answer here (shown, or put aside).
    pub(crate) fn waiting(&self) -> Option<u64> {
        self.draft.as_ref().map(|d| d.question)
    }

    /// The question the window shows (None when none waits or it is put aside).
    pub(crate) fn shown(&self) -> Option<u64> {
        self.waiting().filter(|_| !self.aside)
    }

    /// Whether the cursor is on the answer in words (keys that are not bindings type there).
    pub(crate) fn typing(&self, state: &SessionState) -> bool {
        self.current(state)
            .is_some_and(|(d, q)| d.row == d.text_row(q))
    }

    /// Opens the window again after Esc; false when no question waits.
    pub(crate) fn reopen(&mut self) -> bool {
        self.aside = false;
        self.draft.is_some()
    }

    /// Gives back the answers sent when one was refused (which one, the words do not say; those
    /// the log has meanwhile go again at once): the oldest question shows again, as answered.
    pub(crate) fn refused(&mut self, state: &SessionState) {
        self.sent.sort_by_key(|s| s.question);
        if !self.sent.is_empty() {
            self.draft = Some(self.sent.remove(0));
            self.sent.clear();
            self.sync(state);
        }
    }

    fn current<'a>(&self, state: &'a SessionState) -> Option<(&Draft, &'a Question)> {
        let d = self.draft.as_ref()?;
        Some((d, state.questions.all.get(&d.question)?))
    }

    /// A key of the window (the key table's): move, pick, the next item, send, put aside.
    pub(crate) fn on_action(&mut self, action: Action, state: &SessionState) -> Option<Op> {
        let d = self.draft.as_mut()?;
        let q = state.questions.all.get(&d.question)?;
        let items = q.items.len().max(1);
        d.problem = None;
        match action {
            Action::Up if d.row > 0 => d.row -= 1,
            Action::Up if d.item > 0 => {
                d.item -= 1;
                d.row = d.text_row(q);
            }
            Action::Down if d.row < d.text_row(q) => d.row += 1,
            Action::Down if d.item + 1 < items => d.go_to_item(d.item + 1),
            Action::NextItem => d.go_to_item((d.item + 1) % items),
            Action::PreviousItem => d.go_to_item((d.item + items - 1) % items),
            Action::Pick => d.pick(q, d.row),
            Action::PickNumber(n) => d.pick(q, usize::from(n).saturating_sub(1)),
            Action::SendAnswer => return self.send(state),
            Action::PutAside => self.aside = true,
            _ => {}
        }
        None
    }

    /// Any other key: typed into the answer in words (from a choice too: the cursor moves
    /// there); Backspace takes a character back.
    pub(crate) fn type_key(&mut self, key: KeyEvent, state: &SessionState) {
        let Some(d) = self.draft.as_mut() else {
            return;
        };
        let Some(q) = state.questions.all.get(&d.question) else {
            return;
        };
        if key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return;
        }
        let (item, words) = (d.item, d.text_row(q));
        match key.code {
            KeyCode::Backspace if d.row == words => {
                d.text[item].pop();
            }
            KeyCode::Char(c) => {
                d.row = words;
                d.problem = None;
                if d.text[item].chars().count() < ANSWER_MAX {
                    d.text[item].push(c);
                }
            }
            _ => {}
        }
    }

    /// Sends the answer when every item has one; otherwise shows the first without.
    fn send(&mut self, state: &SessionState) -> Option<Op> {
        let d = self.draft.as_mut()?;
        let q = state.questions.all.get(&d.question)?;
        let answers = d.answers(q)?;
        self.sent.extend(self.draft.take());
        self.sync(state);
        Some(Op::AnswerQuestion(q.id, answers))
    }

    /// A click while the window shows (laid out as `hits`): a question's tab shows it, a choice
    /// is picked, the words line takes the cursor, the buttons send or put aside. Clicks
    /// elsewhere do nothing while a question waits.
    pub(crate) fn on_click(
        &mut self,
        hits: &Hits,
        at: Position,
        state: &SessionState,
    ) -> Option<Op> {
        if hits.send.contains(at) {
            return self.send(state);
        }
        if hits.aside.contains(at) {
            self.aside = true;
            return None;
        }
        let d = self.draft.as_mut()?;
        let q = state.questions.all.get(&d.question)?;
        if let Some(i) = hits.tabs.iter().position(|t| t.contains(at)) {
            d.go_to_item(i);
        } else if let Some(row) = hits.rows.iter().position(|r| r.contains(at)) {
            d.problem = None;
            if row < d.text_row(q) {
                d.pick(q, row);
            } else {
                d.row = d.text_row(q);
            }
        }
        None
    }
}
