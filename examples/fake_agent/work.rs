//! The `work` action: what a worker's model does. Its reasoning as plain functions (what a task
//! asks to write, which files a rebase left in conflict, and how a conflict is resolved: both
//! sides kept), then the action itself, which calls the session's tools.

use std::sync::Arc;
use std::time::Duration;

use agent_client_protocol::Client;
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::ToolKind;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::Fake;
use crate::session::Session;

/// What a task says to do: `write PATH: TEXT` writes TEXT (and a newline) to PATH, `append PATH:
/// TEXT` adds it as the last line of PATH (which earlier tasks may have written: the work of a
/// task that depends on them); anything else writes the task's content to `ID.txt`. Returns the
/// path, the text, and whether it is added to what the file holds.
pub fn task_file(id: &str, content: &str) -> (String, String, bool) {
    for (verb, append) in [("write ", false), ("append ", true)] {
        if let Some(rest) = content.trim().strip_prefix(verb)
            && let Some((path, text)) = rest.split_once(':')
            && !path.trim().is_empty()
        {
            return (
                path.trim().to_string(),
                format!("{}\n", text.trim()),
                append,
            );
        }
    }
    (format!("{id}.txt"), format!("{}\n", content.trim()), false)
}

/// The files a prompt says are in conflict: the `- path` lines after the one that mentions
/// conflicts.
pub fn conflict_files(prompt: &str) -> Vec<String> {
    let mut lines = prompt.lines();
    if !lines.any(|l| l.contains("stopped with conflicts")) {
        return Vec::new();
    }
    lines
        .take_while(|l| l.starts_with("- "))
        .map(|l| l[2..].trim().to_string())
        .collect()
}

/// A file with conflict markers, resolved by keeping both sides, theirs after ours.
pub fn keep_both(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("<<<<<<< ")
            || line.starts_with(">>>>>>> ")
            || line == "======="
            || line.starts_with("||||||| ")
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

impl Fake {
    /// The `work` action (see `Action::Work`); false if cancelled.
    pub async fn work(
        &self,
        cx: &ConnectionTo<Client>,
        session: &Arc<Session>,
        prompt: &str,
        sleep_ms: u64,
        token: &CancellationToken,
    ) -> bool {
        let conflicts = conflict_files(prompt);
        if !conflicts.is_empty() {
            for file in conflicts {
                let text = std::fs::read_to_string(session.resolve(&file)).unwrap_or_default();
                if !self
                    .write_file(cx, session, &file, keep_both(&text), token)
                    .await
                {
                    return false;
                }
            }
            return true;
        }
        let other = ToolKind::Other;
        let Some(next) = self
            .tool(
                cx,
                session,
                "task-next".into(),
                json!({}),
                None,
                other,
                token,
            )
            .await
        else {
            return false;
        };
        let task = next.pointer("/structuredContent/task").cloned();
        let (Some(id), Some(content)) = (
            task.as_ref()
                .and_then(|t| t.get("id"))
                .and_then(Value::as_str),
            task.as_ref()
                .and_then(|t| t.get("content"))
                .and_then(Value::as_str),
        ) else {
            // Alone on the spec and nothing left: declare it built, as a model would.
            let message = next
                .pointer("/structuredContent/message")
                .and_then(Value::as_str);
            if message.is_some_and(|m| m.contains("call session-complete")) {
                let args = json!({"summary": "every task is done"});
                let done = self.tool(
                    cx,
                    session,
                    "session-complete".into(),
                    args,
                    None,
                    other,
                    token,
                );
                return done.await.is_some();
            }
            return true;
        };
        if task
            .as_ref()
            .and_then(|t| t.get("status"))
            .and_then(Value::as_str)
            == Some("completed")
        {
            return true;
        }
        let status = |s: &str| json!({"id": id, "status": s});
        let (path, mut text, append) = task_file(id, content);
        let steps: [(&str, Value); 1] = [("task-status", status("in_progress"))];
        for (name, args) in steps {
            if self
                .tool(cx, session, name.into(), args, None, ToolKind::Other, token)
                .await
                .is_none()
            {
                return false;
            }
        }
        if append {
            let before = std::fs::read_to_string(session.resolve(&path)).unwrap_or_default();
            text = before + &text;
        }
        if !self.write_file(cx, session, &path, text, token).await {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(sleep_ms)) => {}
            () = token.cancelled() => return false,
        }
        let summary = json!({"summary": format!("{id}: wrote {path}")});
        for (name, args) in [
            ("task-status", status("completed")),
            ("iteration-summary", summary),
        ] {
            if self
                .tool(cx, session, name.into(), args, None, ToolKind::Other, token)
                .await
                .is_none()
            {
                return false;
            }
        }
        true
    }
}
