//! The `work` action's reasoning, as plain functions: what a task asks to write, which files a
//! rebase left in conflict, and how a conflict is resolved (both sides kept).

/// What a task says to do: `write PATH: TEXT` writes TEXT (and a newline) to PATH; anything else
/// writes the task's content to `ID.txt`.
pub fn task_file(id: &str, content: &str) -> (String, String) {
    if let Some(rest) = content.trim().strip_prefix("write ")
        && let Some((path, text)) = rest.split_once(':')
        && !path.trim().is_empty()
    {
        return (path.trim().to_string(), format!("{}\n", text.trim()));
    }
    (format!("{id}.txt"), format!("{}\n", content.trim()))
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
