//! `iteratr stop`, `iteratr message`, `iteratr approve`, `iteratr deny` and `iteratr answer`: from any terminal (or
//! machine, on JetStream), ask the build that runs a session to stop (after its iteration, or
//! `--now`), tell its agent something, answer its agent's permission request `P-n` or its question `Q-n`. All are
//! events in the session's log, recorded with who asked; the build, every `watch` and `status`
//! see them.

use std::process::ExitCode;

use super::pause::open_picked;
use anyhow::bail;

use crate::session::{
    Author, Command, DomainError, ItemAnswer, PermissionDecision, Question, parse_question_id,
    permission_id, question_id,
};
use crate::store::StoreConfig;

pub async fn stop(
    store: &StoreConfig,
    session: Option<&str>,
    now: bool,
) -> anyhow::Result<ExitCode> {
    let handle = open_picked(store, session).await?;
    let name = handle.name().to_string();
    let cmd = Command::RequestStop {
        now,
        who: crate::process::who(),
    };
    let done = as_person(&handle, &cmd).await?;
    let message = match (done.events.is_empty(), now) {
        (true, _) => format!("session {name}: its build was already asked to stop"),
        (false, false) => {
            format!("session {name}: stop requested; its build stops after the iteration that runs")
        }
        (false, true) => {
            format!("session {name}: stop requested; its build stops the turn now")
        }
    };
    println!("{message}");
    Ok(ExitCode::SUCCESS)
}

pub async fn message(
    store: &StoreConfig,
    session: Option<&str>,
    text: &str,
) -> anyhow::Result<ExitCode> {
    let handle = open_picked(store, session).await?;
    let name = handle.name().to_string();
    let cmd = Command::UserMessage {
        text: text.into(),
        who: crate::process::who(),
    };
    as_person(&handle, &cmd).await?;
    println!(
        "session {name}: message recorded; the agent gets it when its turn ends (or in the next iteration)"
    );
    Ok(ExitCode::SUCCESS)
}

/// Records `cmd` as the person at this terminal; a refusal names the session.
async fn as_person(
    handle: &crate::session_handle::SessionHandle,
    cmd: &Command,
) -> anyhow::Result<crate::session_handle::Executed> {
    handle
        .execute(cmd, Author::User)
        .await
        .map_err(|e| anyhow::anyhow!("session {}: {e}", handle.name()))
}

/// `P-3`, `p3` or `3`: the request's number.
fn request_number(id: &str) -> anyhow::Result<u64> {
    let digits = id
        .trim()
        .trim_start_matches(['P', 'p'])
        .trim_start_matches('-');
    digits.parse().map_err(|_| {
        anyhow::anyhow!(
            "'{id}' is not a permission request; they look like P-3 (`iteratr status` lists those that wait)"
        )
    })
}

pub async fn answer(
    store: &StoreConfig,
    session: Option<&str>,
    id: &str,
    decision: PermissionDecision,
) -> anyhow::Result<ExitCode> {
    let request = request_number(id)?;
    let handle = open_picked(store, session).await?;
    let name = handle.name().to_string();
    let cmd = Command::AnswerPermission {
        request,
        decision,
        who: crate::process::who(),
    };
    as_person(&handle, &cmd).await?;
    println!(
        "session {name}: {} {}",
        permission_id(request),
        decision.describe(None)
    );
    Ok(ExitCode::SUCCESS)
}

/// The answers `--choice` (`N` or `I:N`, 1-based) and the words give question `q`.
fn answers_of(
    q: &Question,
    text: Option<&str>,
    choices: &[String],
) -> anyhow::Result<Vec<ItemAnswer>> {
    let mut answers = vec![ItemAnswer::default(); q.items.len()];
    for given in choices {
        let (item, n) = match given.split_once(':') {
            Some((i, n)) => (i.trim().parse::<usize>().ok(), n),
            None => (Some(1), given.as_str()),
        };
        let n = n.trim().parse::<usize>().ok();
        let picked = item.zip(n).and_then(|(i, n)| {
            Some((
                i,
                q.items
                    .get(i.checked_sub(1)?)?
                    .choices
                    .get(n.checked_sub(1)?)?,
            ))
        });
        let Some((i, choice)) = picked else {
            let listed: Vec<String> = q
                .items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let labels: Vec<String> = item
                        .choices
                        .iter()
                        .enumerate()
                        .map(|(n, c)| format!("{}:{} {}", i + 1, n + 1, c.label))
                        .collect();
                    format!(
                        "{}: {}",
                        item.header,
                        if labels.is_empty() {
                            "no choices".into()
                        } else {
                            labels.join(", ")
                        }
                    )
                })
                .collect();
            bail!(
                "--choice {given} is not a choice of {}; the choices are {}",
                question_id(q.id),
                listed.join("; ")
            );
        };
        answers[i - 1].chosen.push(choice.label.clone());
    }
    if let Some(text) = text {
        for a in &mut answers {
            a.text = text.to_string();
        }
    }
    Ok(answers)
}

pub async fn answer_question(
    store: &StoreConfig,
    session: Option<&str>,
    id: &str,
    text: Option<&str>,
    choices: &[String],
) -> anyhow::Result<ExitCode> {
    let question = parse_question_id(id)?;
    if text.is_none_or(|t| t.trim().is_empty()) && choices.is_empty() {
        bail!("give an answer: words (iteratr answer {id} \"TEXT\"), a --choice N, or both");
    }
    let handle = open_picked(store, session).await?;
    let name = handle.name().to_string();
    let state = handle.refresh().await?;
    let q = state.questions.all.get(&question).ok_or_else(|| {
        anyhow::anyhow!("session {name}: {}", DomainError::NotAQuestion(id.into()))
    })?;
    let cmd = Command::AnswerQuestion {
        question,
        answers: answers_of(q, text, choices)?,
        who: crate::process::who(),
    };
    as_person(&handle, &cmd).await?;
    println!("session {name}: {} answered", question_id(question));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_read_as_people_write_them() {
        for id in ["P-3", "p-3", "P3", " 3 "] {
            assert_eq!(super::request_number(id).unwrap(), 3, "{id}");
        }
        let e = super::request_number("TAS-3").unwrap_err().to_string();
        assert!(e.contains("look like P-3"), "{e}");
    }
}
