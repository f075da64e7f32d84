//! The original iteratr's `.iteratr.hooks.yml`, read so that a project migrates without edits:
//!
//! ```yaml
//! version: 1
//! hooks:
//!   post_iteration:
//!     - command: "go test ./... -run {{session}}"
//!       timeout: 120        # seconds, default 30
//!       pipe_output: true   # the output goes to the agent
//! ```
//!
//! The original spliced values into the command (`{{task_id}}` became the text itself, so a task
//! could inject shell code). Here each placeholder becomes a quoted reference to the environment
//! variable that carries the value, so the command means the same and nothing is spliced. The
//! commands of one point run in order in one `sh -c` script; it fails if one of them failed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::file::FileError;
use crate::hooks::{DEFAULT_FIX_ROUNDS, Hook, HookCommand, HookPoint};

pub(crate) const LEGACY_FILE: &str = ".iteratr.hooks.yml";
const LEGACY_TIMEOUT_SECS: u64 = 30;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Legacy {
    #[serde(default)]
    #[allow(dead_code)]
    version: Option<u32>,
    #[serde(default)]
    hooks: BTreeMap<HookPoint, Vec<LegacyHook>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyHook {
    command: String,
    #[serde(default)]
    timeout: Option<u64>,
    #[serde(default)]
    pipe_output: bool,
}

/// The environment variable behind each placeholder of the original.
fn variable(placeholder: &str) -> Option<&'static str> {
    Some(match placeholder {
        "session" => "ITERATR_SESSION",
        "iteration" => "ITERATR_ITERATION",
        "task_id" => "ITERATR_TASK_ID",
        "task_content" | "task" => "ITERATR_TASK_CONTENT",
        "summary" => "ITERATR_SUMMARY",
        "error" => "ITERATR_ERROR",
        "data_dir" => "ITERATR_DATA_DIR",
        _ => return None,
    })
}

/// Replaces `{{name}}` with a reference to its environment variable, quoted for where it stands:
/// `"$V"` outside quotes, `${V}` inside double quotes, `'"$V"'` inside single quotes.
pub(crate) fn migrate_command(command: &str) -> Result<String, String> {
    let mut out = String::new();
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut rest = command;
    while let Some(c) = rest.chars().next() {
        if !escaped
            && let Some(inner) = rest.strip_prefix("{{")
            && let Some(end) = inner.find("}}")
        {
            let name = inner[..end].trim().trim_start_matches('.');
            let var = variable(name).ok_or_else(|| {
                format!(
                    "unknown placeholder {{{{{name}}}}}; use session, iteration, task_id, task_content, summary, error or data_dir"
                )
            })?;
            out.push_str(&match (single, double) {
                (true, _) => format!("'\"${var}\"'"),
                (_, true) => format!("${{{var}}}"),
                _ => format!("\"${var}\""),
            });
            rest = &inner[end + 2..];
            continue;
        }
        match c {
            '\\' if !single && !escaped => escaped = true,
            '\'' if !double && !escaped => single = !single,
            '"' if !single && !escaped => double = !double,
            _ => escaped = false,
        }
        if c != '\\' {
            escaped = false;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

/// The hooks of `dir/.iteratr.hooks.yml`, one a point; none when there is no such file.
pub(crate) fn load(dir: &Path) -> Result<Vec<Hook>, FileError> {
    let path = dir.join(LEGACY_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(FileError::Read { path, source }),
    };
    let invalid = |line: usize, column: usize, key: String, message: String| FileError::Invalid {
        path: path.clone(),
        line,
        column,
        key,
        message,
    };
    let legacy: Legacy = serde_norway::from_str(&text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        invalid(line, column, "hooks".into(), e.to_string())
    })?;
    let mut hooks = Vec::new();
    for (point, list) in legacy.hooks {
        if list.is_empty() {
            continue;
        }
        let mut script = vec!["status=0".to_string()];
        let mut timeout = 0;
        for h in &list {
            let command = migrate_command(&h.command)
                .map_err(|m| invalid(1, 1, format!("hooks.{point}.command"), m))?;
            script.push(format!("{{ {command}\n}} || status=$?"));
            timeout += h.timeout.unwrap_or(LEGACY_TIMEOUT_SECS).max(1);
        }
        script.push("exit $status".into());
        hooks.push(Hook {
            point,
            command: HookCommand::Shell(script.join("\n")),
            timeout: Duration::from_secs(timeout),
            to_agent: list.iter().any(|h| h.pipe_output),
            fix_rounds: DEFAULT_FIX_ROUNDS,
        });
    }
    Ok(hooks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_quoted_environment_references() {
        assert_eq!(
            migrate_command("./notify.sh {{session}} {{ iteration }}").unwrap(),
            "./notify.sh \"$ITERATR_SESSION\" \"$ITERATR_ITERATION\""
        );
        assert_eq!(
            migrate_command("echo \"task {{task_id}} done\"").unwrap(),
            "echo \"task ${ITERATR_TASK_ID} done\""
        );
        assert_eq!(
            migrate_command("echo 'Task {{task_id}} completed'").unwrap(),
            "echo 'Task '\"$ITERATR_TASK_ID\"' completed'"
        );
        assert!(
            migrate_command("rm {{everything}}")
                .unwrap_err()
                .contains("unknown placeholder {{everything}}")
        );
    }

    #[test]
    fn the_original_file_becomes_hooks_that_run_its_commands_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(LEGACY_FILE),
            "version: 1\nhooks:\n  post_iteration:\n    - command: \"echo one\"\n      timeout: 5\n      pipe_output: true\n    - command: \"echo two; false\"\n  session_end:\n    - command: \"echo bye {{session}}\"\n",
        )
        .unwrap();
        let hooks = load(dir.path()).unwrap();
        assert_eq!(hooks.len(), 2);
        let post = hooks
            .iter()
            .find(|h| h.point == HookPoint::PostIteration)
            .unwrap();
        assert_eq!(post.timeout, Duration::from_secs(35));
        assert!(post.to_agent);
        let end = hooks
            .iter()
            .find(|h| h.point == HookPoint::SessionEnd)
            .unwrap();
        assert!(!end.to_agent);
        std::fs::write(dir.path().join(LEGACY_FILE), "hooks:\n  post_iter: []\n").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(".iteratr.hooks.yml:2:") && e.contains("post_iter"),
            "{e}"
        );
    }
}
