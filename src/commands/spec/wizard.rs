//! The full-screen wizard wired to the interview: what the wizard asks for (`WizardOut`) is done
//! here (start or stop the interview, record an answer, save), and what happens goes back to it
//! (`WizardIn`: the interview's questions, the agent's words, the spec, saved). When the wizard
//! ends, so does the interview, agent and all.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::Plan;
use super::interview::{self, InterviewOpts, Running};
use crate::acp::AgentUpdate;
use crate::session::{Author, Command};
use crate::session_handle::SessionHandle;
use crate::tui::spec::{Editor, Wizard, WizardEnd, WizardIn, WizardOut, WizardSetup};

type Ins = mpsc::UnboundedSender<WizardIn>;

/// Runs the wizard; the path of the spec to build when the person asked for that.
pub(super) async fn run(plan: Plan, opts: InterviewOpts) -> anyhow::Result<Option<PathBuf>> {
    let setup = WizardSetup {
        title: plan.title.clone().unwrap_or_default(),
        description: plan.description.clone().unwrap_or_default(),
        existing: plan.existing.clone(),
        path: plan
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    };
    let (wizard, first) = Wizard::new(setup);
    let (ins_tx, ins) = mpsc::unbounded_channel();
    let (outs, outs_rx) = mpsc::unbounded_channel();
    let ui = crate::tui::spec::run(wizard, first, ins, outs, editor());
    let controller = control(&plan, opts, ins_tx, outs_rx);
    let (ended, saved) = tokio::join!(ui, controller);
    let saved = saved?;
    Ok(match ended? {
        WizardEnd::Build => saved,
        WizardEnd::Quit => None,
    })
}

/// `$VISUAL`, else `$EDITOR`, else `vi`, on a copy of the spec in a temporary file; the command
/// and its words are split as a shell would, but no shell runs and the spec is never part of it.
fn editor() -> Editor {
    Box::new(|spec: &str| {
        let line = std::env::var("VISUAL")
            .or_else(|_| std::env::var("EDITOR"))
            .unwrap_or_else(|_| "vi".into());
        let argv =
            crate::process::split_command_line(&line).map_err(|e| format!("$EDITOR: {e}"))?;
        let Some((program, args)) = argv.split_first() else {
            return Err("$EDITOR is empty; set it to your editor (EDITOR=nano)".into());
        };
        let file = tempfile::Builder::new()
            .prefix("iteratr-spec-")
            .suffix(".md")
            .tempfile()
            .map_err(|e| format!("cannot make a file to edit: {e}"))?;
        std::fs::write(file.path(), spec).map_err(|e| format!("cannot write {e}"))?;
        let status = std::process::Command::new(program)
            .args(args)
            .arg(file.path())
            .status()
            .map_err(|e| format!("cannot start the editor `{line}`: {e}"))?;
        if !status.success() {
            return Err(format!(
                "the editor `{line}` failed ({status}); the spec is as it was"
            ));
        }
        let edited = std::fs::read_to_string(file.path())
            .map_err(|e| format!("cannot read the edited spec: {e}"))?;
        let warning = crate::spec::check(&edited).err();
        Ok((edited, warning))
    })
}

/// The agent's words and tool calls, for the interview screen.
fn updates(ins: &Ins) -> crate::acp::UpdateSink {
    let ins = ins.clone();
    Arc::new(move |u: AgentUpdate| match u {
        AgentUpdate::Text { text } => {
            let _ = ins.send(WizardIn::Text(text));
        }
        AgentUpdate::ToolCall { title, .. } if !title.is_empty() => {
            let _ = ins.send(WizardIn::Activity(format!("the agent: {title}")));
        }
        _ => {}
    })
}

/// Follows the interview's session for the question window.
async fn follow(session: Arc<SessionHandle>, ins: Ins) {
    let Ok(mut events) = session.log().subscribe(session.name(), 0).await else {
        return;
    };
    while let Some(Ok(ev)) = events.next().await {
        let Ok(state) = session.refresh().await else {
            return;
        };
        if ins
            .send(WizardIn::State(state, Some(ev.event.kind)))
            .is_err()
        {
            return;
        }
    }
}

/// The running interview's end (never, when none runs).
async fn finished(running: &mut Option<Running>) -> anyhow::Result<String> {
    match running {
        Some(r) => match (&mut r.done).await {
            Ok(result) => result,
            Err(e) => Err(anyhow::anyhow!("the interview stopped: {e}")),
        },
        None => std::future::pending().await,
    }
}

struct Interview {
    running: Option<Running>,
    follower: Option<tokio::task::JoinHandle<()>>,
}

impl Interview {
    async fn stop(&mut self) {
        if let Some(f) = self.follower.take() {
            f.abort();
        }
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

async fn control(
    plan: &Plan,
    opts: InterviewOpts,
    ins: Ins,
    mut outs: mpsc::UnboundedReceiver<WizardOut>,
) -> anyhow::Result<Option<PathBuf>> {
    let mut now = Interview {
        running: None,
        follower: None,
    };
    let mut saved = None;
    loop {
        tokio::select! {
            out = outs.recv() => match out {
                None | Some(WizardOut::Quit | WizardOut::Build) => break,
                Some(WizardOut::Interview { title, description }) => {
                    now.stop().await;
                    let started = match plan.prompt(&title, &description) {
                        Ok(prompt) => interview::start(opts.clone(), prompt, updates(&ins)).await,
                        Err(e) => Err(e),
                    };
                    match started {
                        Ok(r) => {
                            now.follower = Some(tokio::spawn(follow(Arc::clone(&r.session), ins.clone())));
                            now.running = Some(r);
                        }
                        Err(e) => { let _ = ins.send(WizardIn::Failed(format!("{e:#}"))); }
                    }
                }
                Some(WizardOut::StopInterview) => now.stop().await,
                Some(WizardOut::Answer(question, answers)) => {
                    let Some(r) = &now.running else { continue };
                    let cmd = Command::AnswerQuestion { question, answers, who: crate::process::who() };
                    if let Err(e) = r.session.execute(&cmd, Author::User).await {
                        let _ = ins.send(WizardIn::Refused(e.to_string()));
                    }
                }
                Some(WizardOut::Save { spec, title, description, overwrite }) => {
                    let path = plan.path_for(&title);
                    if !overwrite && path.exists() {
                        let _ = ins.send(WizardIn::Exists(path.display().to_string()));
                        continue;
                    }
                    match plan.save(&spec, &title, &description) {
                        Ok(s) => {
                            let _ = ins.send(WizardIn::Saved(s.said(), s.path.display().to_string()));
                            saved = Some(s.path);
                        }
                        Err(e) => { let _ = ins.send(WizardIn::SaveFailed(format!("{e:#}"))); }
                    }
                }
            },
            result = finished(&mut now.running) => {
                now.stop().await;
                let _ = ins.send(match result {
                    Ok(spec) => WizardIn::Spec(spec),
                    Err(e) => WizardIn::Failed(format!("{e:#}")),
                });
            }
        }
    }
    now.stop().await;
    Ok(saved)
}
