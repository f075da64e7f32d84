//! Questions the agent asks a person (`ask-questions`), numbered `Q-n`: asked, answered from
//! anywhere (the first answer wins), or left open when the agent stopped waiting, in which case a
//! later answer reaches it in its next prompt. One question waits per worker at a time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::DomainError;
use super::event_kind::EventKind;
use super::state::SessionState;
use super::text::clip;

/// Questions in one call at most.
pub const QUESTIONS_PER_CALL: usize = 5;
/// Choices of one question at most.
pub const CHOICES_PER_QUESTION: usize = 10;
const HEADER_MAX: usize = 60;
const QUESTION_MAX: usize = 2_000;
const LABEL_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 1_000;
/// Characters of an answer in words at most.
pub const ANSWER_MAX: usize = 8_000;

/// `Q-3`.
pub fn question_id(n: u64) -> String {
    format!("Q-{n}")
}

/// `Q-3`, `q3` or `3`: the question's number.
pub fn parse_question_id(id: &str) -> Result<u64, DomainError> {
    id.trim()
        .trim_start_matches(['Q', 'q'])
        .trim_start_matches('-')
        .parse()
        .map_err(|_| DomainError::NotAQuestion(id.to_string()))
}

/// A choice the person may pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub label: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// One question: a short header, the question, and optional choices (one, or several when
/// `multiple`); a free answer is always possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestionItem {
    pub header: String,
    pub question: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multiple: bool,
}

/// The person's answer to one question: the labels picked, and/or their own words.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ItemAnswer {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chosen: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
}

impl ItemAnswer {
    /// "Postgres — and keep SQLite for tests", as the agent and people read it.
    pub fn said(&self) -> String {
        match (self.chosen.is_empty(), self.text.is_empty()) {
            (false, false) => format!("{} — {}", self.chosen.join(", "), self.text),
            (false, true) => self.chosen.join(", "),
            _ => self.text.clone(),
        }
    }
}

/// The first answer to a question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GivenAnswer {
    pub answers: Vec<ItemAnswer>,
    pub who: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Question {
    pub id: u64,
    pub items: Vec<QuestionItem>,
    pub worker: Option<String>,
    pub asked_at_ms: i64,
    pub iteration: Option<u32>,
    /// The agent stopped waiting for it (a later answer goes to its next prompt).
    pub left_open: bool,
    pub answer: Option<GivenAnswer>,
}

impl Question {
    /// Asked and not answered yet.
    pub fn is_open(&self) -> bool {
        self.answer.is_none()
    }

    /// The agent still waits for it.
    pub fn is_waiting(&self) -> bool {
        self.answer.is_none() && !self.left_open
    }

    /// The question and answer as the agent reads them.
    pub fn answered_text(&self) -> String {
        let Some(given) = &self.answer else {
            return String::new();
        };
        let mut text = format!("{} answered by {}:", question_id(self.id), given.who);
        for (item, answer) in self.items.iter().zip(&given.answers) {
            text.push_str(&format!("\n- {}: {}", item.header, answer.said()));
        }
        text
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Questions {
    /// Every question of the session, by number.
    pub all: BTreeMap<u64, Question>,
    pub last: u64,
    /// Questions answered after the agent stopped waiting, in the order the answers came (what
    /// the next prompt tells the agent).
    pub late_answers: Vec<u64>,
}

impl Questions {
    /// The questions that wait for a person's answer (asked, not answered), oldest first.
    pub fn open(&self) -> impl Iterator<Item = &Question> {
        self.all.values().filter(|q| q.is_open())
    }

    /// What a view of the session lists: every open question, then the last `answered` ones
    /// answered, newest first.
    pub fn shown(&self, answered: usize) -> Vec<&Question> {
        let done = self
            .all
            .values()
            .rev()
            .filter(|q| !q.is_open())
            .take(answered);
        self.open().chain(done).collect()
    }

    pub(super) fn asked(&mut self, q: Question) {
        self.last = self.last.max(q.id);
        self.all.insert(q.id, q);
    }

    pub(super) fn answered(&mut self, question: u64, given: GivenAnswer) {
        if let Some(q) = self.all.get_mut(&question)
            && q.answer.is_none()
        {
            q.answer = Some(given);
            if q.left_open {
                self.late_answers.push(question);
            }
        }
    }

    pub(super) fn left_open(&mut self, question: u64) {
        if let Some(q) = self.all.get_mut(&question) {
            q.left_open = true;
        }
    }
}

fn check_len(what: &'static str, text: &str, max: usize) -> Result<(), DomainError> {
    if text.trim().is_empty() {
        return Err(DomainError::Empty(what));
    }
    if text.chars().count() > max {
        return Err(DomainError::TooLong {
            what,
            max,
            len: text.chars().count(),
        });
    }
    Ok(())
}

/// The agent asks `items` (from `worker`): numbered after the last, refused while a question of
/// the same worker waits.
pub(super) fn ask(
    state: &SessionState,
    items: &[QuestionItem],
    worker: Option<&str>,
) -> Result<EventKind, DomainError> {
    if let Some(waiting) = state
        .questions
        .all
        .values()
        .find(|q| q.is_waiting() && q.worker.as_deref() == worker)
    {
        return Err(DomainError::QuestionWaits(question_id(waiting.id)));
    }
    if items.is_empty() {
        return Err(DomainError::Empty("questions"));
    }
    if items.len() > QUESTIONS_PER_CALL {
        return Err(DomainError::TooMany {
            what: "questions in one call",
            max: QUESTIONS_PER_CALL,
            got: items.len(),
        });
    }
    for item in items {
        check_len("header", &item.header, HEADER_MAX)?;
        check_len("question", &item.question, QUESTION_MAX)?;
        if item.choices.len() > CHOICES_PER_QUESTION {
            return Err(DomainError::TooMany {
                what: "choices of one question",
                max: CHOICES_PER_QUESTION,
                got: item.choices.len(),
            });
        }
        for choice in &item.choices {
            check_len("choice label", &choice.label, LABEL_MAX)?;
            if choice.description.chars().count() > DESCRIPTION_MAX {
                return Err(DomainError::TooLong {
                    what: "choice description",
                    max: DESCRIPTION_MAX,
                    len: choice.description.chars().count(),
                });
            }
        }
    }
    Ok(EventKind::QuestionAsked {
        question: state.questions.last + 1,
        items: items
            .iter()
            .map(|i| QuestionItem {
                header: i.header.trim().to_string(),
                question: i.question.trim().to_string(),
                choices: i
                    .choices
                    .iter()
                    .map(|c| Choice {
                        label: c.label.trim().to_string(),
                        description: c.description.trim().to_string(),
                    })
                    .collect(),
                multiple: i.multiple,
            })
            .collect(),
        worker: worker.map(str::to_string),
    })
}

/// A person answers question `question`: one answer per question item (a single answer stands
/// for every item), each a known choice (one unless the item takes several) and/or words.
pub(super) fn answer(
    state: &SessionState,
    question: u64,
    answers: &[ItemAnswer],
    who: &str,
) -> Result<EventKind, DomainError> {
    let q = state
        .questions
        .all
        .get(&question)
        .ok_or_else(|| DomainError::NotAQuestion(question_id(question)))?;
    if let Some(given) = &q.answer {
        return Err(DomainError::AlreadyAnswered {
            question: question_id(question),
            who: given.who.clone(),
        });
    }
    let answers: Vec<ItemAnswer> = match answers.len() {
        1 if q.items.len() > 1 => vec![answers[0].clone(); q.items.len()],
        n if n == q.items.len() => answers.to_vec(),
        n => {
            return Err(DomainError::BadAnswer(format!(
                "{} has {} question(s); give one answer, or one for each (got {n})",
                question_id(question),
                q.items.len()
            )));
        }
    };
    for (item, answer) in q.items.iter().zip(&answers) {
        if answer.chosen.is_empty() && answer.text.trim().is_empty() {
            return Err(DomainError::BadAnswer(format!(
                "\"{}\" needs an answer: a choice or some words",
                item.header
            )));
        }
        if answer.text.chars().count() > ANSWER_MAX {
            return Err(DomainError::TooLong {
                what: "answer",
                max: ANSWER_MAX,
                len: answer.text.chars().count(),
            });
        }
        if answer.chosen.len() > 1 && !item.multiple {
            return Err(DomainError::BadAnswer(format!(
                "\"{}\" takes one choice, not {}",
                item.header,
                answer.chosen.len()
            )));
        }
        for chosen in &answer.chosen {
            if !item.choices.iter().any(|c| &c.label == chosen) {
                let labels: Vec<&str> = item.choices.iter().map(|c| c.label.as_str()).collect();
                return Err(DomainError::BadAnswer(format!(
                    "\"{chosen}\" is not a choice of \"{}\"; the choices are: {}",
                    item.header,
                    if labels.is_empty() {
                        "none (answer in words)".to_string()
                    } else {
                        labels.join(", ")
                    }
                )));
            }
        }
    }
    Ok(EventKind::QuestionAnswered {
        question,
        answers: answers
            .into_iter()
            .map(|a| ItemAnswer {
                chosen: a.chosen,
                text: a.text.trim().to_string(),
            })
            .collect(),
        who: super::limits::check_who(who),
    })
}

/// The agent stops waiting for `question`: nothing when it was answered meanwhile (the answer
/// wins) or already left open.
pub(super) fn leave_open(
    state: &SessionState,
    question: u64,
) -> Result<Vec<EventKind>, DomainError> {
    let q = state
        .questions
        .all
        .get(&question)
        .ok_or_else(|| DomainError::NotAQuestion(question_id(question)))?;
    if !q.is_waiting() {
        return Ok(Vec::new());
    }
    Ok(vec![EventKind::QuestionLeftOpen { question }])
}

/// What questions say in one line: "Database: Which database? (Postgres | SQLite); Port: …".
pub fn items_line(items: &[QuestionItem]) -> String {
    let said: Vec<String> = items
        .iter()
        .map(|i| {
            let choices: Vec<&str> = i.choices.iter().map(|c| c.label.as_str()).collect();
            let choices = if choices.is_empty() {
                String::new()
            } else {
                format!(" ({})", choices.join(" | "))
            };
            let question = i.question.lines().next().unwrap_or_default();
            format!("{}: {}{choices}", i.header, clip(question, 200))
        })
        .collect();
    said.join("; ")
}

/// "Q-2 [w1] Database: Which database? (Postgres | SQLite)".
pub fn question_line(q: &Question) -> String {
    let worker = q
        .worker
        .as_deref()
        .map_or(String::new(), |w| format!("[{w}] "));
    format!("{} {worker}{}", question_id(q.id), items_line(&q.items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Author, Command, Ctx, decide};

    fn run(state: &mut SessionState, cmd: Command) -> Result<Vec<EventKind>, DomainError> {
        let ctx = Ctx {
            now_ms: 1_000 + state.last_seq as i64,
            by: Author::User,
        };
        let events = decide(state, &cmd, ctx)?;
        let kinds = events.iter().map(|e| e.kind.clone()).collect();
        for e in events {
            let seq = state.last_seq + 1;
            state.apply(seq, &e);
        }
        Ok(kinds)
    }

    fn item(header: &str, choices: &[&str], multiple: bool) -> QuestionItem {
        QuestionItem {
            header: header.into(),
            question: format!("Which {header}?"),
            choices: choices
                .iter()
                .map(|c| Choice {
                    label: c.to_string(),
                    description: String::new(),
                })
                .collect(),
            multiple,
        }
    }

    fn ask(state: &mut SessionState, items: Vec<QuestionItem>, worker: Option<&str>) -> u64 {
        let worker = worker.map(str::to_string);
        run(state, Command::AskQuestions { items, worker }).unwrap();
        state.questions.last
    }

    fn answer(
        state: &mut SessionState,
        q: u64,
        answers: Vec<ItemAnswer>,
    ) -> Result<(), DomainError> {
        let who = "ana@laptop".to_string();
        run(
            state,
            Command::AnswerQuestion {
                question: q,
                answers,
                who,
            },
        )
        .map(drop)
    }

    fn chose(labels: &[&str], text: &str) -> ItemAnswer {
        ItemAnswer {
            chosen: labels.iter().map(|l| l.to_string()).collect(),
            text: text.into(),
        }
    }

    #[test]
    fn one_question_waits_per_worker_and_the_first_answer_wins() {
        let mut s = SessionState::default();
        let q1 = ask(
            &mut s,
            vec![item("Database", &["Postgres", "SQLite"], false)],
            None,
        );
        assert_eq!(q1, 1);
        let again = Command::AskQuestions {
            items: vec![item("Port", &[], false)],
            worker: None,
        };
        let refused = run(&mut s, again).unwrap_err().to_string();
        assert!(refused.contains("Q-1 still waits"), "{refused}");
        // Another worker may ask meanwhile.
        assert_eq!(ask(&mut s, vec![item("Port", &[], false)], Some("w1")), 2);
        answer(&mut s, q1, vec![chose(&["SQLite"], "keep it small")]).unwrap();
        let q = &s.questions.all[&q1];
        assert_eq!(
            q.answered_text(),
            "Q-1 answered by ana@laptop:\n- Database: SQLite — keep it small"
        );
        let late = answer(&mut s, q1, vec![chose(&[], "Postgres after all")]).unwrap_err();
        assert!(
            late.to_string()
                .contains("already answered (by ana@laptop)"),
            "{late}"
        );
        // Answered: the same worker may ask again.
        assert_eq!(ask(&mut s, vec![item("Port", &[], false)], None), 3);
    }

    #[test]
    fn answers_must_fit_the_question() {
        let mut s = SessionState::default();
        let q = ask(
            &mut s,
            vec![
                item("Database", &["Postgres", "SQLite"], false),
                item("Extras", &["Redis", "S3"], true),
            ],
            None,
        );
        for (bad, says) in [
            (
                vec![chose(&["MySQL"], ""), chose(&["S3"], "")],
                "is not a choice of \"Database\"; the choices are: Postgres, SQLite",
            ),
            (
                vec![chose(&["Postgres", "SQLite"], ""), chose(&[], "x")],
                "takes one choice, not 2",
            ),
            (
                vec![chose(&[], "  "), chose(&["S3"], "")],
                "needs an answer",
            ),
            (
                vec![chose(&[], "a"), chose(&[], "b"), chose(&[], "c")],
                "give one answer, or one for each (got 3)",
            ),
        ] {
            let e = answer(&mut s, q, bad).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
        assert!(
            s.questions.all[&q].is_open(),
            "nothing recorded by a refused answer"
        );
        // Several choices where the question takes several; one answer stands for both items.
        answer(&mut s, q, vec![chose(&[], "you decide")]).unwrap();
        let given = s.questions.all[&q].answer.as_ref().unwrap();
        assert_eq!(given.answers.len(), 2);
        let mut s = SessionState::default();
        let q = ask(&mut s, vec![item("Extras", &["Redis", "S3"], true)], None);
        answer(&mut s, q, vec![chose(&["Redis", "S3"], "")]).unwrap();
    }

    #[test]
    fn a_question_left_open_gets_its_answer_in_a_later_prompt() {
        let mut s = SessionState::default();
        let q = ask(&mut s, vec![item("Name", &[], false)], Some("w2"));
        let left = run(&mut s, Command::LeaveQuestionOpen { question: q }).unwrap();
        assert_eq!(left, vec![EventKind::QuestionLeftOpen { question: q }]);
        assert!(!s.questions.all[&q].is_waiting() && s.questions.all[&q].is_open());
        // Leaving it open twice writes nothing; the worker may ask something else meanwhile.
        assert!(
            run(&mut s, Command::LeaveQuestionOpen { question: q })
                .unwrap()
                .is_empty()
        );
        ask(&mut s, vec![item("Port", &[], false)], Some("w2"));
        answer(&mut s, q, vec![chose(&[], "iteratr")]).unwrap();
        assert_eq!(s.questions.late_answers, vec![q]);
        // Answered before the agent stopped waiting: not a late answer, and nothing to leave open.
        let mut s = SessionState::default();
        let q = ask(&mut s, vec![item("Name", &[], false)], None);
        answer(&mut s, q, vec![chose(&[], "x")]).unwrap();
        assert!(
            run(&mut s, Command::LeaveQuestionOpen { question: q })
                .unwrap()
                .is_empty()
        );
        assert!(s.questions.late_answers.is_empty());
    }

    #[test]
    fn questions_are_checked_before_anything_is_recorded() {
        let mut s = SessionState::default();
        let too_many: Vec<_> = (0..6).map(|i| item(&format!("h{i}"), &[], false)).collect();
        let long = QuestionItem {
            question: "x".repeat(QUESTION_MAX + 1),
            ..item("Long", &[], false)
        };
        let choices: Vec<String> = (0..11).map(|i| format!("c{i}")).collect();
        let choices: Vec<&str> = choices.iter().map(String::as_str).collect();
        for (items, says) in [
            (vec![], "questions is empty"),
            (too_many, "6 questions in one call, over the limit of 5"),
            (vec![item(" ", &[], false)], "header is empty"),
            (vec![long], "question is 2001 characters"),
            (
                vec![item("Many", &choices, false)],
                "11 choices of one question",
            ),
        ] {
            let e = run(
                &mut s,
                Command::AskQuestions {
                    items,
                    worker: None,
                },
            )
            .unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
        assert_eq!(s.last_seq, 0);
        assert_eq!(parse_question_id("q-7").unwrap(), 7);
        assert!(
            parse_question_id("TAS-7")
                .unwrap_err()
                .to_string()
                .contains("look like Q-3")
        );
    }
}
