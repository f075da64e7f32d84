//! What a spec must hold before the interview may end: the sections a build needs, and tasks as
//! checklist lines with a priority tag the build's import understands. A spec that falls short is
//! refused with every problem at once, so the agent fixes them in one go.

/// The largest spec accepted (a spec is read by people and put in every prompt).
pub const SPEC_MAX_BYTES: usize = 256 * 1024;

/// The sections a spec must have: the heading as written in the template, and the words a
/// heading may use for it (compared without case, numbering or a trailing colon).
pub const SECTIONS: [(&str, &[&str]); 7] = [
    ("Overview", &["overview"]),
    ("User Story", &["user story", "user stories"]),
    ("Requirements", &["requirements"]),
    (
        "Technical Implementation",
        &["technical implementation", "implementation"],
    ),
    ("Tasks", &["tasks"]),
    ("Out of Scope", &["out of scope"]),
    ("Open Questions", &["open questions"]),
];

/// The priority words a checklist line may start with (in brackets), and their 0-4 priority
/// (4 highest, as the session tools count).
pub const PRIORITY_WORDS: [(&str, u8); 5] = [
    ("critical", 4),
    ("high", 3),
    ("medium", 2),
    ("low", 1),
    ("backlog", 0),
];

/// A checklist item's leading priority tag: `[p0]`..`[p4]` or `[critical]`, `[high]`, `[medium]`,
/// `[low]`, `[backlog]` (any case). Returns the priority and the content after the tag.
pub fn priority_tag(content: &str) -> (Option<u8>, &str) {
    let trimmed = content.trim_start();
    let Some(rest) = trimmed.strip_prefix('[') else {
        return (None, content);
    };
    let Some((tag, after)) = rest.split_once(']') else {
        return (None, content);
    };
    let tag = tag.trim().to_ascii_lowercase();
    let priority = match tag.strip_prefix('p') {
        Some(n) if n.len() == 1 => n.parse::<u8>().ok().filter(|n| *n <= 4),
        _ => PRIORITY_WORDS
            .iter()
            .find(|(w, _)| *w == tag)
            .map(|(_, p)| *p),
    };
    match priority {
        Some(p) => (Some(p), after.trim_start()),
        None => (None, content),
    }
}

/// A Markdown checklist line: whether it is ticked, and its text. None for other lines.
pub fn checklist_item(line: &str) -> Option<(bool, &str)> {
    let l = line.trim_start();
    let rest = l
        .strip_prefix("- ")
        .or_else(|| l.strip_prefix("* "))
        .or_else(|| l.strip_prefix("+ "))?;
    if let Some(c) = rest.strip_prefix("[ ]") {
        Some((false, c))
    } else {
        rest.strip_prefix("[x]")
            .or_else(|| rest.strip_prefix("[X]"))
            .map(|c| (true, c))
    }
}

/// A heading's level and text, for lines that are Markdown headings.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|c| *c == '#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let text = line[level..].strip_prefix(' ')?;
    Some((level, text.trim().trim_end_matches('#').trim()))
}

/// A heading's words as compared: no case, no numbering ("2. Tasks"), no trailing colon.
fn normalized(text: &str) -> String {
    let t = text.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ')');
    t.trim()
        .trim_end_matches(':')
        .trim()
        .to_ascii_lowercase()
        .replace(['_', '-'], " ")
}

/// What a spec that passed holds: its tasks (open ones) with their priorities.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub tasks: Vec<(u8, String)>,
}

/// Checks a spec; the error lists every problem and what to do about it.
pub fn check(spec: &str) -> Result<Checked, String> {
    let mut problems = Vec::new();
    if spec.trim().is_empty() {
        return Err("the spec is empty; send the whole spec as Markdown".into());
    }
    if spec.len() > SPEC_MAX_BYTES {
        return Err(format!(
            "the spec is {} bytes, over the limit of {SPEC_MAX_BYTES}; make it shorter",
            spec.len()
        ));
    }
    let mut found = [false; SECTIONS.len()];
    let mut in_tasks: Option<usize> = None;
    let mut tasks = Vec::new();
    let mut untagged = Vec::new();
    let mut fence = false;
    for line in spec.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        if let Some((level, text)) = heading(line) {
            let words = normalized(text);
            let section = SECTIONS
                .iter()
                .position(|(_, names)| names.contains(&words.as_str()));
            if let Some(i) = section {
                found[i] = true;
            }
            match (section, in_tasks) {
                (Some(4), _) => in_tasks = Some(level),
                (_, Some(l)) if level <= l => in_tasks = None,
                _ => {}
            }
            continue;
        }
        if in_tasks.is_none() {
            continue;
        }
        if let Some((done, content)) = checklist_item(line) {
            let (priority, text) = priority_tag(content);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            match priority {
                Some(p) if !done => tasks.push((p, text.to_string())),
                Some(_) => {}
                None => untagged.push(text.to_string()),
            }
        }
    }
    let missing: Vec<String> = SECTIONS
        .iter()
        .zip(found)
        .filter(|(_, f)| !f)
        .map(|((name, _), _)| format!("\"## {name}\""))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "it has no section {} (a Markdown heading)",
            missing.join(", ")
        ));
    }
    if found[4] && tasks.is_empty() && untagged.is_empty() {
        problems.push(
            "the Tasks section has no checklist: write each task as a line `- [ ] [high] what to do`"
                .into(),
        );
    }
    if !untagged.is_empty() {
        let shown: Vec<String> = untagged
            .iter()
            .take(5)
            .map(|t| format!("\"{t}\""))
            .collect();
        problems.push(format!(
            "{} task line(s) have no priority ({}{}): start each with [critical], [high], [medium], [low] or [backlog] (or [p4]..[p0]), e.g. `- [ ] [high] {}`",
            untagged.len(),
            shown.join(", "),
            if untagged.len() > 5 { ", …" } else { "" },
            untagged[0]
        ));
    }
    if problems.is_empty() {
        Ok(Checked { tasks })
    } else {
        Err(format!(
            "The spec was not accepted: {}. Fix this and call finish-spec again with the whole spec.",
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const GOOD: &str = "# Todo CLI\n\n## Overview\nA small todo list.\n\n## User Story\nAs a user I want to keep todos.\n\n## Requirements\n- Add and list todos\n\n## Technical Implementation\nRust, one file.\n\n## Tasks\n- [ ] [high] Parse the arguments\n- [ ] [p1] Write the README\n  - [ ] [critical] Store todos in a file\n\n## Out of Scope\nSync.\n\n## Open Questions\nNone.\n";

    #[test]
    fn priority_tags() {
        assert_eq!(priority_tag(" [high] Do it"), (Some(3), "Do it"));
        assert_eq!(priority_tag("[P0] Later"), (Some(0), "Later"));
        assert_eq!(priority_tag("[Critical]Now"), (Some(4), "Now"));
        assert_eq!(priority_tag("[p5] No"), (None, "[p5] No"));
        assert_eq!(priority_tag("[link] text"), (None, "[link] text"));
        assert_eq!(priority_tag("plain"), (None, "plain"));
    }

    #[test]
    fn a_whole_spec_passes_with_its_tasks() {
        let checked = check(GOOD).unwrap();
        assert_eq!(
            checked.tasks,
            vec![
                (3, "Parse the arguments".to_string()),
                (1, "Write the README".to_string()),
                (4, "Store todos in a file".to_string())
            ]
        );
        // Numbered headings, other levels and a colon are the same sections.
        let numbered = GOOD
            .replace("## Overview", "### 1. Overview:")
            .replace("## Tasks", "# Tasks");
        assert!(check(&numbered).is_ok(), "{:?}", check(&numbered));
    }

    #[test]
    fn what_is_missing_is_said() {
        let no_checklist = GOOD
            .replace("- [ ] [high] Parse the arguments\n", "")
            .replace("- [ ] [p1] Write the README\n", "")
            .replace(
                "  - [ ] [critical] Store todos in a file\n",
                "Some prose.\n",
            )
            .replace("## Open Questions\nNone.\n", "");
        let e = check(&no_checklist).unwrap_err();
        assert!(e.contains("\"## Open Questions\""), "{e}");
        assert!(e.contains("the Tasks section has no checklist"), "{e}");
        assert!(!e.contains("\"## Overview\""), "{e}");
        let untagged = GOOD.replace("[p1] Write", "Write");
        let e = check(&untagged).unwrap_err();
        assert!(
            e.contains("1 task line(s) have no priority (\"Write the README\")"),
            "{e}"
        );
        // A checklist in a code block or in another section is not the task list.
        let fenced = GOOD.replace("## Tasks\n", "## Tasks\n```\n- [ ] quoted\n```\n");
        assert!(check(&fenced).is_ok());
        assert!(check("").is_err());
        assert!(
            check(&"x".repeat(SPEC_MAX_BYTES + 1))
                .unwrap_err()
                .contains("over the limit")
        );
    }
}
