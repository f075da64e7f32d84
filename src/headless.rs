//! `--headless`: the build's progress as readable lines, or with `--json` one JSON object a line.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use tokio::sync::mpsc;

use crate::frontend::{
    AgentUpdate, BuildEvent, RunOutcome, ToolStatus, call_label, iteration_ended,
};
use crate::render::diff::FileDiff;
use crate::session::EventKind;
use crate::session::text::{clip, first_line};

/// Prints events until the channel closes.
pub(crate) async fn print(mut rx: mpsc::UnboundedReceiver<BuildEvent>, json: bool) {
    let colour = std::io::stdout().is_terminal();
    let mut printer = Printer {
        colour,
        ..Printer::default()
    };
    // Each worker's streamed text is held by its own printer; its lines carry its name.
    let mut workers: HashMap<String, Printer> = HashMap::new();
    while let Some(event) = rx.recv().await {
        let text = match (&event, json) {
            (BuildEvent::Worker { worker, event }, true) => {
                let mut value = serde_json::to_value(event).unwrap_or_default();
                if let Some(fields) = value.as_object_mut() {
                    fields.insert("worker".into(), worker.clone().into());
                }
                value.to_string() + "\n"
            }
            (_, true) => serde_json::to_string(&event)
                .map(|s| s + "\n")
                .unwrap_or_default(),
            (BuildEvent::Worker { worker, event }, false) => {
                let p = workers.entry(worker.clone()).or_insert_with(|| Printer {
                    colour,
                    ..Printer::default()
                });
                prefixed(worker, &p.render(event))
            }
            (_, false) => printer.render(&event),
        };
        let mut out = std::io::stdout().lock();
        if out
            .write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            return; // stdout closed (a pipe that went away): keep the build running quietly
        }
    }
    if !json {
        let mut rest = printer.flush_text();
        for (worker, p) in &mut workers {
            rest.push_str(&prefixed(worker, &p.flush_text()));
        }
        let _ = std::io::stdout().lock().write_all(rest.as_bytes());
    }
}

/// Every line of `text` with the worker's name in front.
fn prefixed(worker: &str, text: &str) -> String {
    text.lines().map(|l| format!("[{worker}] {l}\n")).collect()
}

/// Diff lines printed at most per file.
const DIFF_LINES: usize = 200;

/// Turns events into lines. Streamed text is held until a line is complete.
#[derive(Default)]
pub(crate) struct Printer {
    /// Diffs in red and green (stdout is a terminal).
    pub colour: bool,
    text: String,
    thought: String,
    tools: HashMap<String, String>,
}

impl Printer {
    /// Lines of streamed text and thought still held back.
    pub(crate) fn flush_text(&mut self) -> String {
        let mut out = String::new();
        if !self.thought.trim().is_empty() {
            out.push_str(&format!("  (thinking) {}\n", self.thought.trim_end()));
        }
        if !self.text.trim().is_empty() {
            out.push_str(&format!("  {}\n", self.text.trim_end()));
        }
        self.thought.clear();
        self.text.clear();
        out
    }

    fn complete_lines(buffer: &mut String, prefix: &str) -> String {
        let mut out = String::new();
        while let Some(pos) = buffer.find('\n') {
            let line: String = buffer.drain(..=pos).collect();
            let line = line.trim_end();
            if !line.trim().is_empty() {
                out.push_str(&format!("{prefix}{line}\n"));
            }
        }
        out
    }

    pub(crate) fn render(&mut self, event: &BuildEvent) -> String {
        // Streamed text keeps streaming; anything else first flushes what is held.
        if let BuildEvent::Agent {
            update: AgentUpdate::Text { text },
        } = event
        {
            self.text.push_str(text);
            return Self::complete_lines(&mut self.text, "  ");
        }
        if let BuildEvent::Agent {
            update: AgentUpdate::Thought { text },
        } = event
        {
            self.thought.push_str(text);
            return Self::complete_lines(&mut self.thought, "  (thinking) ");
        }
        let mut out = self.flush_text();
        out.push_str(&self.line(event));
        out
    }

    fn line(&mut self, event: &BuildEvent) -> String {
        match event {
            BuildEvent::Worker { event, .. } => self.line(event),
            BuildEvent::Started {
                session,
                spec,
                data_dir,
                agent,
                mcp_url,
            } => format!(
                "iteratr: session {session}, spec {spec}, data in {data_dir}\niteratr: agent `{agent}`, session tools at {mcp_url}\n"
            ),
            BuildEvent::Info { message } | BuildEvent::Phase { message, .. } => {
                format!("iteratr: {message}\n")
            }
            BuildEvent::Warning { message } => format!("iteratr: warning: {message}\n"),
            BuildEvent::AgentReady {
                name,
                version,
                http_mcp,
                sandboxed,
            } => format!(
                "iteratr: agent {} ready (session tools over {}{})\n",
                format!("{name} {version}").trim_end(),
                if *http_mcp { "HTTP" } else { "stdio" },
                if *sandboxed { "; sandboxed" } else { "" }
            ),
            BuildEvent::IterationStarted {
                iteration,
                planning,
            } => {
                // A new ACP session: tool call ids may repeat those of the last one.
                self.tools.clear();
                format!(
                    "\n── iteration {iteration}{} ──\n",
                    if *planning { " (planning)" } else { "" }
                )
            }
            BuildEvent::Agent { update } => self.agent_line(update),
            BuildEvent::Log { event, .. } => log_line(&event.kind),
            BuildEvent::IterationFinished {
                iteration,
                outcome,
                took,
                tasks,
                usage,
                auto_allowed,
            } => format!(
                "── {}\n",
                iteration_ended(
                    *iteration,
                    outcome,
                    *took,
                    tasks,
                    usage.as_ref(),
                    *auto_allowed
                )
            ),
            BuildEvent::ModelSelected { model } => format!("iteratr: model {model}\n"),
            BuildEvent::Hook { hook } => {
                format!("iteratr: {}\n", hook.text(20))
            }
            BuildEvent::Retrying {
                failures,
                max_failures,
                delay_ms,
                reason,
            } => format!(
                "iteratr: the agent failed ({failure}/{max_failures}): {reason}; restarting it in {:.1}s\n",
                *delay_ms as f64 / 1000.0,
                failure = failures,
                reason = first_line(reason),
            ),
            // A failure is said once, on stderr, by the command.
            BuildEvent::Finished {
                outcome: RunOutcome::Failed,
                ..
            } => String::new(),
            BuildEvent::Finished { message, .. } => format!("\niteratr: {message}\n"),
        }
    }

    fn agent_line(&mut self, update: &AgentUpdate) -> String {
        match update {
            // Usage is said once, at the iteration's end.
            AgentUpdate::Text { .. } | AgentUpdate::Thought { .. } | AgentUpdate::Usage { .. } => {
                String::new()
            }
            // Some agents announce the same call twice (claude-code-acp): say it once.
            AgentUpdate::ToolCall { id, title, .. } if self.tools.contains_key(id) => {
                if !title.is_empty() {
                    self.tools.insert(id.clone(), title.clone());
                }
                String::new()
            }
            AgentUpdate::ToolCall {
                id, title, status, ..
            } => {
                let title = if title.is_empty() { "tool" } else { title };
                self.tools.insert(id.clone(), title.to_string());
                format!("  ▸ {title} [{status}]\n")
            }
            AgentUpdate::ToolUpdate {
                id,
                title,
                status,
                output,
                diffs,
            } => {
                if let Some(t) = title.as_ref().filter(|t| !t.is_empty()) {
                    self.tools.insert(id.clone(), t.clone());
                }
                let name = self.tools.get(id).cloned().unwrap_or_else(|| "tool".into());
                let mut out = String::new();
                match status {
                    Some(ToolStatus::Completed) => {
                        out.push_str(&format!("  ✓ {name}"));
                        if !output.trim().is_empty() {
                            out.push_str(&format!(": {}", clip(first_line(output), 160)));
                        }
                        out.push('\n');
                    }
                    Some(ToolStatus::Failed) => out.push_str(&format!(
                        "  ✗ {name} failed: {}\n",
                        clip(first_line(output), 160)
                    )),
                    _ => {}
                }
                for d in diffs {
                    let diff = FileDiff::new(&d.path, d.old.as_deref(), &d.new);
                    out.push_str(&format!("    ~ {} {}\n", diff.path, diff.summary()));
                    out.push_str(&diff.unified("    ", DIFF_LINES, self.colour));
                }
                out
            }
            AgentUpdate::Plan { entries } => entries
                .iter()
                .map(|e| format!("  plan [{}] {}\n", e.status, e.content))
                .collect(),
            // Counted in the iteration's end line instead.
            AgentUpdate::AllowedQuietly { .. } => String::new(),
            AgentUpdate::PermissionAsked { tool, title, .. } => {
                format!("  permission asked: {}\n", call_label(tool, title))
            }
            AgentUpdate::Permission {
                tool,
                title,
                decision,
                rule,
                ..
            } => format!(
                "  permission: {} → {}\n",
                call_label(tool, title),
                decision.describe(rule.as_deref())
            ),
            AgentUpdate::File {
                op,
                path,
                allowed,
                error,
            } => match (allowed, error) {
                (true, _) => format!("  file {op} {path}\n"),
                (false, e) => format!(
                    "  file {op} {path} refused: {}\n",
                    e.as_deref().unwrap_or("")
                ),
            },
            // A clean exit after iteratr closed the connection is not news.
            AgentUpdate::Exited { status } if !status.is_news() => String::new(),
            AgentUpdate::Exited { status } => format!("  agent exited ({status})\n"),
        }
    }
}

/// A log event as a progress line, as the narrator tells it to a build's listener.
fn log_line(kind: &EventKind) -> String {
    crate::narrate::narrate(kind, crate::narrate::Listener::Build)
        .map(|told| format!("  {}\n", told.text))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_tool_call_is_shown_once() {
        let mut p = Printer::default();
        let call = |title: &str| BuildEvent::Agent {
            update: AgentUpdate::ToolCall {
                id: "t1".into(),
                title: title.into(),
                kind: crate::frontend::ToolKind::Other,
                status: ToolStatus::Pending,
                input: None,
            },
        };
        assert_eq!(p.render(&call("")), "  ▸ tool [pending]\n");
        assert_eq!(p.render(&call("mcp__iteratr__task-list")), "");
        let done = BuildEvent::Agent {
            update: AgentUpdate::ToolUpdate {
                id: "t1".into(),
                title: None,
                status: Some(ToolStatus::Completed),
                output: "ok".into(),
                diffs: vec![],
            },
        };
        assert_eq!(p.render(&done), "  ✓ mcp__iteratr__task-list: ok\n");
    }

    #[test]
    fn a_file_change_is_printed_as_hunks() {
        let old: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let new = old
            .replace("line 2\n", "line two\n")
            .replace("line 19\n", "");
        let update = |colour| {
            let mut p = Printer {
                colour,
                ..Printer::default()
            };
            p.render(&BuildEvent::Agent {
                update: AgentUpdate::ToolUpdate {
                    id: "t1".into(),
                    title: Some("Edit a.txt".into()),
                    status: None,
                    output: String::new(),
                    diffs: vec![crate::frontend::Diff {
                        path: "a.txt".into(),
                        old: Some(old.clone()),
                        new: new.clone(),
                    }],
                },
            })
        };
        assert_eq!(
            update(false),
            "    ~ a.txt +1 -2\n    @@ -1,5 +1,5 @@\n     line 1\n    -line 2\n    +line two\n     line 3\n     line 4\n     line 5\n\
             \x20   @@ -16,5 +16,4 @@\n     line 16\n     line 17\n     line 18\n    -line 19\n     line 20\n"
        );
        assert!(!update(false).contains('\x1b'));
        assert!(update(true).contains("\x1b[32m+line \x1b[1;7mtwo\x1b[22;27m\x1b[0m"));
    }

    #[test]
    fn a_call_id_reused_in_the_next_iteration_is_a_new_call() {
        let mut p = Printer::default();
        let call = BuildEvent::Agent {
            update: AgentUpdate::ToolCall {
                id: "call-1".into(),
                title: "task-list".into(),
                kind: crate::frontend::ToolKind::Other,
                status: ToolStatus::Pending,
                input: None,
            },
        };
        let next = BuildEvent::IterationStarted {
            iteration: 2,
            planning: false,
        };
        assert_eq!(p.render(&call), "  ▸ task-list [pending]\n");
        assert_eq!(p.render(&next), "\n── iteration 2 ──\n");
        assert_eq!(p.render(&call), "  ▸ task-list [pending]\n");
    }

    #[test]
    fn an_agent_without_a_version_is_named_without_a_gap() {
        let ready = BuildEvent::AgentReady {
            name: "node agent.js".into(),
            version: String::new(),
            http_mcp: false,
            sandboxed: false,
        };
        assert_eq!(
            Printer::default().render(&ready),
            "iteratr: agent node agent.js ready (session tools over stdio)\n"
        );
    }

    #[test]
    fn text_is_held_until_a_line_is_complete() {
        let mut p = Printer::default();
        let text = |t: &str| BuildEvent::Agent {
            update: AgentUpdate::Text { text: t.into() },
        };
        assert_eq!(p.render(&text("Hel")), "");
        assert_eq!(p.render(&text("lo\nWor")), "  Hello\n");
        let out = p.render(&BuildEvent::Info {
            message: "x".into(),
        });
        assert_eq!(out, "  Wor\niteratr: x\n");
    }
}
