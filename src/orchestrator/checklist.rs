//! The spec's Markdown checklists, imported as the session's first tasks.

use crate::session::{NewTask, TaskStatus};

/// Tasks from the spec's Markdown checklists: `- [ ] todo` and `- [x] done` (also `*` and `+`).
pub fn checklist_tasks(spec: &str) -> Vec<NewTask> {
    let mut tasks: Vec<NewTask> = Vec::new();
    for line in spec.lines() {
        let l = line.trim_start();
        let Some(rest) = l
            .strip_prefix("- ")
            .or_else(|| l.strip_prefix("* "))
            .or_else(|| l.strip_prefix("+ "))
        else {
            continue;
        };
        let (done, content) = if let Some(c) = rest.strip_prefix("[ ]") {
            (false, c)
        } else if let Some(c) = rest
            .strip_prefix("[x]")
            .or_else(|| rest.strip_prefix("[X]"))
        {
            (true, c)
        } else {
            continue;
        };
        let content: String = content
            .trim()
            .chars()
            .take(crate::session::limits::TASK_CONTENT_MAX)
            .collect();
        if content.is_empty()
            || tasks
                .iter()
                .any(|t| t.content.eq_ignore_ascii_case(&content))
        {
            continue;
        }
        let mut task = NewTask::new(content);
        if done {
            task.status = Some(TaskStatus::Completed);
        }
        tasks.push(task);
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checklists_become_tasks() {
        let spec = "# Spec\n- [ ] First\n  * [x] Done already\n- [ ]   \n- [ ] first\n+ [X] Third\n- not a task\n- [y] nope\n";
        let tasks = checklist_tasks(spec);
        let got: Vec<(&str, Option<TaskStatus>)> = tasks
            .iter()
            .map(|t| (t.content.as_str(), t.status))
            .collect();
        assert_eq!(
            got,
            vec![
                ("First", None),
                ("Done already", Some(TaskStatus::Completed)),
                ("Third", Some(TaskStatus::Completed)),
            ]
        );
    }
}
