//! `ask-questions`: the agent asks a person one or more questions (choices and a free answer) and
//! waits, up to the build's `question_wait`, for the first answer from anywhere that reaches the
//! log (the TUI, `watch`, the dashboard, `iteratr answer`). Without an answer in time the
//! question stays open, the agent is told to decide and go on, and a later answer reaches its
//! next prompt. So it does when the agent stops waiting first (its client gave up on the call or
//! cancelled it, its turn was stopped): the question does not keep waiting for nobody.

use std::time::Duration;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{schemars, tool, tool_router};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::tools::{SessionTools, failure, success};
use crate::session::{Choice, Command, EventKind, Question, QuestionItem, question_id};

/// One choice the person may pick.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub(super) struct OptionArg {
    /// What the person picks, short ("PostgreSQL").
    label: String,
    /// What picking it means, if the label does not say.
    #[serde(default)]
    description: String,
}

/// One question.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub(super) struct QuestionArg {
    /// A short label for the question, at most 60 characters ("Database").
    header: String,
    /// The question itself, with what the person needs to know to answer it.
    question: String,
    /// Choices to pick from (up to 10); the person can always answer in their own words too.
    #[serde(default)]
    options: Vec<OptionArg>,
    /// Whether several choices may be picked.
    #[serde(default)]
    multiple: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AskQuestionsArgs {
    /// One to five questions, asked together.
    questions: Vec<QuestionArg>,
}

/// What the agent is told when nobody answered in time.
fn left_open_text(id: &str, waited: Duration) -> String {
    let waited = if waited.is_zero() {
        "Nobody is there to answer now".to_string()
    } else {
        format!(
            "Nobody answered within {}",
            crate::session::text::format_duration(
                i64::try_from(waited.as_millis()).unwrap_or(i64::MAX)
            )
        )
    };
    format!(
        "{waited}. {id} stays open: an answer that comes later will be in your next prompt. \
         Do not wait for it: decide what seems best, record the decision and its reason with \
         note-add (type decision), and go on."
    )
}

fn answered(q: &Question) -> CallToolResult {
    let answers: Vec<_> = q
        .answer
        .as_ref()
        .map(|a| a.answers.clone())
        .unwrap_or_default();
    success(
        q.answered_text(),
        json!({ "question": question_id(q.id), "answered": true, "answers": answers }),
    )
}

#[tool_router(router = question_router, vis = "pub(super)")]
impl SessionTools {
    #[tool(
        name = "ask-questions",
        description = "Ask the person behind this build one to five questions when a decision is theirs to make (a product choice, a missing requirement, a credential you must not guess). Each question has a short header, the question, and optional choices; the person may also answer in words. The call waits for the answer for a while; if nobody answers in time, decide what seems best, record it with note-add (decision) and go on: a later answer comes in your next prompt. Ask one thing at a time; do not ask what the spec or the code already tells."
    )]
    async fn ask_questions(
        &self,
        Parameters(args): Parameters<AskQuestionsArgs>,
        cancelled: CancellationToken,
    ) -> Result<CallToolResult, CallToolResult> {
        let items: Vec<QuestionItem> = args
            .questions
            .into_iter()
            .map(|q| QuestionItem {
                header: q.header,
                question: q.question,
                choices: q
                    .options
                    .into_iter()
                    .map(|o| Choice {
                        label: o.label,
                        description: o.description,
                    })
                    .collect(),
                multiple: q.multiple,
            })
            .collect();
        let worker = self.worker.as_ref().map(|w| w.name.clone());
        let done = self.exec(Command::AskQuestions { items, worker }).await?;
        let (id, after) = done
            .events
            .iter()
            .find_map(|e| match &e.event.kind {
                EventKind::QuestionAsked { question, .. } => Some((*question, e.seq)),
                _ => None,
            })
            .ok_or_else(|| failure("the question was not recorded; try again".into()))?;
        let label = question_id(id);
        if self.wait_for_answer(id, after, &cancelled).await {
            let state = self.state().await?;
            if let Some(q) = state.questions.all.get(&id) {
                return Ok(answered(q));
            }
        }
        // Nobody answered: the question stays open, unless an answer came in the meantime.
        let done = self
            .exec(Command::LeaveQuestionOpen { question: id })
            .await?;
        if done.events.is_empty()
            && let Some(q) = done.state.questions.all.get(&id)
            && q.answer.is_some()
        {
            return Ok(answered(q));
        }
        Ok(success(
            left_open_text(&label, self.question_wait),
            json!({ "question": label, "answered": false }),
        ))
    }
}

impl SessionTools {
    /// Follows the log after `after` until question `id` is answered (true) or the wait is over
    /// (or the call was cancelled: nobody waits any more).
    async fn wait_for_answer(&self, id: u64, after: u64, cancelled: &CancellationToken) -> bool {
        if self.question_wait.is_zero() {
            return false;
        }
        let log = self.session.log();
        let Ok(mut events) = log.subscribe(self.session.name(), after).await else {
            return false;
        };
        let answered = async {
            while let Some(Ok(stored)) = events.next().await {
                if matches!(stored.event.kind, EventKind::QuestionAnswered { question, .. } if question == id)
                {
                    return true;
                }
            }
            false
        };
        tokio::select! {
            answered = tokio::time::timeout(self.question_wait, answered) => answered.unwrap_or(false),
            () = cancelled.cancelled() => false,
        }
    }
}
