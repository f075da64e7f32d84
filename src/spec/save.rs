//! Where a spec goes and how: its file name from the title, the index of specs
//! (`specs/README.md`, one row per spec under `<!-- SPECS -->`, nothing else in it touched), and
//! writing through a temporary file and a rename, so an interrupted save leaves no half-written
//! file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The marker the index's rows go under.
pub const MARKER: &str = "<!-- SPECS -->";
const TABLE_HEAD: &str = "| Spec | File | Description | Date |\n|---|---|---|---|";
const SLUG_MAX: usize = 60;

/// A file name for a title: lowercase letters and digits joined by dashes (`spec` when the title
/// has none).
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.trim_end_matches('-').chars().take(SLUG_MAX).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "spec".into() } else { out }
}

/// Text for one table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The index's row for a spec: title, link (relative to the index), description, date.
pub fn index_row(title: &str, link: &str, description: &str, date: &str) -> String {
    let link = link.replace(' ', "%20");
    format!(
        "| {} | [{}]({}) | {} | {} |",
        cell(title),
        cell(&link),
        link,
        cell(description),
        cell(date)
    )
}

/// The index with `row` for the spec at `link`: the row that links there already is replaced;
/// else the row goes first under the marker's table (made when the marker is alone); else the
/// marker and its table are added at the end. Nothing else changes.
pub fn add_to_index(existing: Option<&str>, row: &str, link: &str) -> String {
    let Some(text) = existing else {
        return format!(
            "# Specs\n\nThe specs of this project, newest first.\n\n{MARKER}\n{TABLE_HEAD}\n{row}\n"
        );
    };
    let target = format!("]({})", link.replace(' ', "%20"));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let newline_at_end = text.ends_with('\n') || text.is_empty();
    if let Some(at) = lines
        .iter()
        .position(|l| l.trim_start().starts_with('|') && l.contains(&target))
    {
        lines[at] = row.to_string();
    } else if let Some(marker) = lines.iter().position(|l| l.trim() == MARKER) {
        let is_table = |i: usize| {
            lines
                .get(i)
                .is_some_and(|l| l.trim_start().starts_with('|'))
        };
        let separator = |i: usize| {
            lines.get(i).is_some_and(|l| {
                l.trim_start().starts_with("|-")
                    || l.trim_start().starts_with("| -")
                    || l.trim_start().starts_with("|:")
            })
        };
        if is_table(marker + 1) && separator(marker + 2) {
            lines.insert(marker + 3, row.to_string());
        } else {
            let mut insert: Vec<String> = TABLE_HEAD.lines().map(str::to_string).collect();
            insert.push(row.to_string());
            for (i, l) in insert.into_iter().enumerate() {
                lines.insert(marker + 1 + i, l);
            }
        }
    } else {
        if lines.last().is_some_and(|l| !l.trim().is_empty()) {
            lines.push(String::new());
        }
        lines.push(MARKER.to_string());
        lines.extend(TABLE_HEAD.lines().map(str::to_string));
        lines.push(row.to_string());
    }
    let mut out = lines.join("\n");
    if newline_at_end || !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Today in UTC, as `YYYY-MM-DD`.
pub fn today() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .take(10)
        .collect()
}

/// Writes `content` to `path` whole or not at all: a temporary file beside it, synced, renamed
/// over it. The directory is created when missing.
pub fn write_atomic(path: &Path, content: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "spec.md".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(content.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Saves the spec and lists it in the index beside it (`README.md` in the spec's directory);
/// with `keep_row`, a row the index has for it already stays as it is. Returns the index's path.
pub fn save(
    path: &Path,
    spec: &str,
    title: &str,
    description: &str,
    keep_row: bool,
) -> anyhow::Result<PathBuf> {
    use anyhow::Context as _;
    write_atomic(path, spec).with_context(|| format!("cannot write {}", path.display()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let index = dir.join("README.md");
    if index == path {
        return Ok(index);
    }
    let existing = match std::fs::read_to_string(&index) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", index.display())),
    };
    let link = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if keep_row
        && existing
            .as_deref()
            .is_some_and(|t| t.contains(&format!("]({})", link.replace(' ', "%20"))))
    {
        return Ok(index);
    }
    let row = index_row(title, &link, description, &today());
    let updated = add_to_index(existing.as_deref(), &row, &link);
    write_atomic(&index, &updated).with_context(|| format!("cannot write {}", index.display()))?;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Todo CLI: the first cut!"), "todo-cli-the-first-cut");
        assert_eq!(slug("  Ünïcode & co  "), "n-code-co");
        assert_eq!(slug("!!!"), "spec");
        assert_eq!(slug(&"a b ".repeat(50)).len(), 59);
        assert_eq!(slug("../../etc/passwd"), "etc-passwd");
    }

    #[test]
    fn the_index_gets_one_row_and_nothing_else_changes() {
        let row = index_row(
            "Todo | CLI",
            "todo-cli.md",
            "A list\nof todos",
            "2026-12-06",
        );
        assert_eq!(
            row,
            "| Todo \\| CLI | [todo-cli.md](todo-cli.md) | A list of todos | 2026-12-06 |"
        );
        let fresh = add_to_index(None, &row, "todo-cli.md");
        assert!(
            fresh.contains(&format!("{MARKER}\n{TABLE_HEAD}\n{row}\n")),
            "{fresh}"
        );

        let mine = "# Our specs\n\nIntro, kept.\n\n<!-- SPECS -->\n| Spec | File | Description | Date |\n|---|---|---|---|\n| Old | [old.md](old.md) | old one | 2026-01-01 |\n\nFooter, kept.\n";
        let added = add_to_index(Some(mine), &row, "todo-cli.md");
        assert_eq!(
            added,
            mine.replace(
                "|---|---|---|---|\n",
                &format!("|---|---|---|---|\n{row}\n")
            )
        );
        // The same spec again: its row is replaced, not doubled.
        let again = index_row("Todo CLI", "todo-cli.md", "new words", "2026-12-07");
        let replaced = add_to_index(Some(&added), &again, "todo-cli.md");
        assert_eq!(replaced, added.replace(&row, &again));
        // No marker: it and the table go at the end.
        let plain = "# Notes\nkeep me";
        assert_eq!(
            add_to_index(Some(plain), &row, "todo-cli.md"),
            format!("# Notes\nkeep me\n\n{MARKER}\n{TABLE_HEAD}\n{row}\n")
        );
        // A marker alone gets its table.
        let marker_only = "Top\n<!-- SPECS -->\nBottom\n";
        assert_eq!(
            add_to_index(Some(marker_only), &row, "todo-cli.md"),
            format!("Top\n{MARKER}\n{TABLE_HEAD}\n{row}\nBottom\n")
        );
    }

    #[test]
    fn saving_writes_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("specs/todo.md");
        let index = save(&path, "# Todo\n", "Todo", "todos", false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# Todo\n");
        let listed = std::fs::read_to_string(index).unwrap();
        assert!(
            listed.contains("| Todo | [todo.md](todo.md) | todos |"),
            "{listed}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path().join("specs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left.len(), 2, "no temporary file is left: {left:?}");
        assert_eq!(today().len(), 10);
        // Refined: the file changes, the row it has stays.
        save(&path, "# Todo 2\n", "Todo 2", "", true).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("specs/README.md")).unwrap(),
            listed
        );
    }
}
