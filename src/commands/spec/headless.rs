//! `iteratr spec --headless`: the wizard as lines, for scripts and plain terminals. Questions and
//! prompts go to stdout; each answer is one line on stdin: a choice's number (several, separated
//! by commas, where several may be picked) or the person's own words. Nothing typed is run.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::sync::mpsc;

use super::interview::{self, InterviewOpts};
use super::{Plan, Saved};
use crate::acp::AgentUpdate;
use crate::session::{Author, Command, EventKind, ItemAnswer, Question, question_id};
use crate::session_handle::SessionHandle;

/// Lines read from stdin, on a thread of their own: a read that blocks (nobody types) must not
/// keep the process from ending, as tokio's stdin would at the runtime's shutdown.
struct Input(mpsc::UnboundedReceiver<std::io::Result<String>>);

impl Input {
    fn start() -> Input {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = std::thread::Builder::new()
            .name("iteratr-stdin".into())
            .spawn(move || {
                for line in std::io::stdin().lines() {
                    let failed = line.is_err();
                    if tx.send(line).is_err() || failed {
                        return;
                    }
                }
            });
        Input(rx)
    }

    /// Prints `prompt` and reads a line; None at the end of stdin.
    async fn ask(&mut self, prompt: &str) -> anyhow::Result<Option<String>> {
        println!("{prompt}");
        match self.0.recv().await {
            Some(line) => Ok(Some(line.context("cannot read stdin")?.trim().to_string())),
            None => Ok(None),
        }
    }

    /// A yes/no question: only `y` or `yes` is yes (the end of stdin is no).
    async fn confirm(&mut self, prompt: &str) -> anyhow::Result<bool> {
        let answer = self.ask(&format!("{prompt} [y/N]")).await?;
        Ok(answer.is_some_and(|a| matches!(a.to_ascii_lowercase().as_str(), "y" | "yes")))
    }
}

/// One line's answer to a question item: its choices' numbers, or words.
pub(super) fn parse_answer(
    line: &str,
    choices: usize,
    multiple: bool,
) -> Result<ItemAnswer, String> {
    let line = line.trim();
    if line.is_empty() {
        return Err("an answer is needed: a choice's number or your own words".into());
    }
    let numbers = line
        .split(',')
        .map(|n| n.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>();
    let Ok(numbers) = numbers else {
        return Ok(ItemAnswer {
            chosen: Vec::new(),
            text: line.to_string(),
        });
    };
    if choices == 0 {
        return Ok(ItemAnswer {
            chosen: Vec::new(),
            text: line.to_string(),
        });
    }
    if numbers.len() > 1 && !multiple {
        return Err("pick one choice (one number) for this question".into());
    }
    if let Some(n) = numbers.iter().find(|n| **n == 0 || **n > choices) {
        return Err(format!(
            "there is no choice {n}; pick 1 to {choices}, or write words"
        ));
    }
    let mut picked: Vec<usize> = numbers;
    picked.dedup();
    Ok(ItemAnswer {
        chosen: picked.iter().map(|n| n.to_string()).collect(),
        text: String::new(),
    })
}

/// Asks each item of `q` on stdout and reads its answer; None at the end of stdin.
async fn answer(q: &Question, input: &mut Input) -> anyhow::Result<Option<Vec<ItemAnswer>>> {
    let mut answers = Vec::new();
    let count = q.items.len();
    for (i, item) in q.items.iter().enumerate() {
        let mut text = format!("question {}", question_id(q.id));
        if count > 1 {
            text.push_str(&format!(" ({}/{count})", i + 1));
        }
        text.push_str(&format!(": {}: {}", item.header, item.question));
        for (n, c) in item.choices.iter().enumerate() {
            text.push_str(&format!("\n  {}. {}", n + 1, c.label));
            if !c.description.is_empty() {
                text.push_str(&format!(" ({})", c.description));
            }
        }
        let how = match (item.choices.is_empty(), item.multiple) {
            (true, _) => "your answer:",
            (false, false) => "your answer (a number, or your own words):",
            (false, true) => "your answer (numbers separated by commas, or your own words):",
        };
        text.push('\n');
        text.push_str(how);
        let mut prompt = text;
        loop {
            let Some(line) = input.ask(&prompt).await? else {
                return Ok(None);
            };
            match parse_answer(&line, item.choices.len(), item.multiple) {
                Ok(mut a) => {
                    // Numbers become the choices' labels.
                    a.chosen = a
                        .chosen
                        .iter()
                        .filter_map(|n| n.parse::<usize>().ok())
                        .filter_map(|n| item.choices.get(n - 1))
                        .map(|c| c.label.clone())
                        .collect();
                    answers.push(a);
                    break;
                }
                Err(e) => prompt = format!("{e}\n{how}"),
            }
        }
    }
    Ok(Some(answers))
}

/// Follows the interview's questions and answers them from stdin until the spec is accepted.
async fn interview(
    session: &Arc<SessionHandle>,
    done: &mut tokio::task::JoinHandle<anyhow::Result<String>>,
    input: &mut Input,
) -> anyhow::Result<String> {
    let mut events = session.log().subscribe(session.name(), 0).await?;
    loop {
        tokio::select! {
            ev = events.next() => {
                let Some(ev) = ev else { bail!("the interview's store closed") };
                let EventKind::QuestionAsked { question, .. } = ev?.event.kind else {
                    continue;
                };
                let state = session.refresh().await?;
                let Some(q) = state.questions.all.get(&question).filter(|q| q.is_open()) else {
                    continue;
                };
                let Some(answers) = answer(q, input).await? else {
                    bail!("stdin ended before {} was answered", question_id(question));
                };
                let cmd = Command::AnswerQuestion { question, answers, who: crate::process::who() };
                session.execute(&cmd, Author::User).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            spec = &mut *done => return spec.context("the interview failed")?,
        }
    }
}

pub(super) async fn run(plan: Plan, opts: InterviewOpts) -> anyhow::Result<ExitCode> {
    let mut input = Input::start();
    let title = match &plan.title {
        Some(t) => t.clone(),
        None => match input.ask("title:").await? {
            Some(t) if !t.is_empty() => t,
            _ => bail!("the spec needs a title; give it as the first argument or on stdin"),
        },
    };
    let description = match &plan.description {
        Some(d) => d.clone(),
        None if plan.refining() => String::new(),
        None => input.ask("description:").await?.unwrap_or_default(),
    };
    let prompt = plan.prompt(&title, &description)?;
    // The agent's own words are not for stdout, which carries the questions: the log has them.
    let sink: crate::acp::UpdateSink = Arc::new(|u: AgentUpdate| {
        if let AgentUpdate::ToolCall { title, .. } = u {
            tracing::info!("interview: the agent calls {title}");
        }
    });
    println!("the agent is interviewing you for {title}");
    let mut running = interview::start(opts, prompt, sink).await?;
    let outcome = tokio::select! {
        r = interview(&running.session, &mut running.done, &mut input) => Some(r),
        () = crate::signal::shutdown_signal() => None,
    };
    let spec = match outcome {
        Some(Ok(spec)) => spec,
        Some(Err(e)) => {
            running.stop().await;
            return Err(e);
        }
        None => {
            running.stop().await;
            eprintln!("iteratr: interrupted; nothing was saved");
            return Ok(ExitCode::from(130));
        }
    };
    running.stop().await;
    review(&plan, &spec, &title, &description, &mut input).await
}

/// The spec shown (or, refined, its changes), then saved when agreed to.
async fn review(
    plan: &Plan,
    spec: &str,
    title: &str,
    description: &str,
    input: &mut Input,
) -> anyhow::Result<ExitCode> {
    let path = plan.path_for(title);
    let shown = path.display().to_string();
    if let Some(old) = &plan.existing {
        let diff = crate::render::diff::FileDiff::new(&shown, Some(old), spec);
        if diff.is_empty() {
            println!("the agent changed nothing in {shown}");
            return Ok(ExitCode::SUCCESS);
        }
        println!("changes to {shown} ({}):", diff.summary());
        print!("{}", diff.unified("", usize::MAX, false));
        if !plan.yes
            && !input
                .confirm(&format!("save the changes to {shown}?"))
                .await?
        {
            println!("not saved; {shown} is as it was");
            return Ok(ExitCode::from(1));
        }
    } else {
        println!("the spec for {title}:\n");
        println!("{spec}");
        if path.exists()
            && !plan.yes
            && !input
                .confirm(&format!("{shown} exists already; overwrite it?"))
                .await?
        {
            println!("not saved; {shown} is as it was");
            return Ok(ExitCode::from(1));
        }
    }
    let saved: Saved = plan.save(spec, title, description)?;
    println!("{}", saved.said());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_answer;

    #[test]
    fn answers_are_numbers_or_words() {
        assert_eq!(parse_answer("2", 3, false).unwrap().chosen, ["2"]);
        assert_eq!(parse_answer("1, 3", 3, true).unwrap().chosen, ["1", "3"]);
        assert!(
            parse_answer("1,3", 3, false)
                .unwrap_err()
                .contains("pick one")
        );
        assert!(
            parse_answer("4", 3, false)
                .unwrap_err()
                .contains("no choice 4")
        );
        assert_eq!(parse_answer("3 tables", 3, false).unwrap().text, "3 tables");
        assert_eq!(parse_answer("7", 0, false).unwrap().text, "7");
        assert!(parse_answer("  ", 3, false).is_err());
    }
}
