//! A file change as hunks, computed by `similar`: a few lines of context around each change, line
//! numbers, and inside a changed line the words that changed. One model for every front end: the
//! full-screen interface styles it ([`styled`]), `--headless` prints it as `+`/`-` lines
//! ([`FileDiff::unified`]), in colour only on a terminal.

use std::fmt::Write as _;
use std::time::Duration;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use similar::{Algorithm, ChangeTag, TextDiff};

use super::wrap::wrap_prefixed;

/// Unchanged lines shown around a change.
pub(crate) const CONTEXT: usize = 3;
/// A diff of two big files gives up looking for the smallest change after this long.
const TIMEOUT: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowKind {
    Context,
    Removed,
    Added,
}

/// One line of a hunk: its numbers in the old and new file (from 1), and its text in parts,
/// `true` for the parts that changed within the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub kind: RowKind,
    pub old: Option<usize>,
    pub new: Option<usize>,
    pub parts: Vec<(bool, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hunk {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileDiff {
    pub path: String,
    pub added: usize,
    pub removed: usize,
    pub hunks: Vec<Hunk>,
}

impl FileDiff {
    /// The change from `old` (none: a new file) to `new`.
    pub(crate) fn new(path: &str, old: Option<&str>, new: &str) -> FileDiff {
        let old = old.unwrap_or("");
        let diff = TextDiff::configure()
            .algorithm(Algorithm::Patience)
            .timeout(TIMEOUT)
            .diff_lines(old, new);
        let (mut added, mut removed) = (0, 0);
        let mut hunks = Vec::new();
        for group in diff.grouped_ops(CONTEXT) {
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                continue;
            };
            let (old_range, new_range) = (first.old_range(), first.new_range());
            let old_len = last.old_range().end - old_range.start;
            let new_len = last.new_range().end - new_range.start;
            // As `diff -u` numbers them: an empty side starts at the line before.
            let mut hunk = Hunk {
                old_start: old_range.start + usize::from(old_len > 0),
                old_len,
                new_start: new_range.start + usize::from(new_len > 0),
                new_len,
                rows: Vec::new(),
            };
            for op in &group {
                for change in diff.iter_inline_changes(op) {
                    let kind = match change.tag() {
                        ChangeTag::Equal => RowKind::Context,
                        ChangeTag::Delete => {
                            removed += 1;
                            RowKind::Removed
                        }
                        ChangeTag::Insert => {
                            added += 1;
                            RowKind::Added
                        }
                    };
                    let parts = change
                        .iter_strings_lossy()
                        .map(|(emph, s)| (emph, s.trim_end_matches(['\n', '\r']).to_string()))
                        .filter(|(_, s)| !s.is_empty())
                        .collect();
                    hunk.rows.push(Row {
                        kind,
                        old: change.old_index().map(|n| n + 1),
                        new: change.new_index().map(|n| n + 1),
                        parts,
                    });
                }
            }
            hunks.push(hunk);
        }
        FileDiff {
            path: path.to_string(),
            added,
            removed,
            hunks,
        }
    }

    /// `+12 -3`.
    pub(crate) fn summary(&self) -> String {
        format!("+{} -{}", self.added, self.removed)
    }

    /// Lines of the hunks shown when expanded (a header per hunk and its rows).
    pub(crate) fn len(&self) -> usize {
        self.hunks.iter().map(|h| h.rows.len() + 1).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.hunks.is_empty()
    }

    /// As a unified diff for a log: `@@ -a,b +c,d @@` headers and `+`/`-`/` ` lines, each line
    /// after `indent`, at most `limit` lines; red and green (changed words in bold) when `colour`.
    pub(crate) fn unified(&self, indent: &str, limit: usize, colour: bool) -> String {
        let mut out = String::new();
        let mut shown = 0;
        for hunk in &self.hunks {
            for line in std::iter::once(None).chain(hunk.rows.iter().map(Some)) {
                if shown == limit {
                    let _ = writeln!(out, "{indent}… {} more diff line(s)", self.len() - limit);
                    return out;
                }
                shown += 1;
                let Some(row) = line else {
                    let header = hunk.header();
                    let _ = match colour {
                        true => writeln!(out, "{indent}\x1b[36m{header}\x1b[0m"),
                        false => writeln!(out, "{indent}{header}"),
                    };
                    continue;
                };
                let (sign, code) = match row.kind {
                    RowKind::Context => (' ', ""),
                    RowKind::Removed => ('-', "\x1b[31m"),
                    RowKind::Added => ('+', "\x1b[32m"),
                };
                out.push_str(indent);
                if !colour || row.kind == RowKind::Context {
                    out.push(sign);
                    row.parts.iter().for_each(|(_, s)| out.push_str(s));
                } else {
                    out.push_str(code);
                    out.push(sign);
                    for (emph, s) in &row.parts {
                        match emph {
                            true => {
                                let _ = write!(out, "\x1b[1;7m{s}\x1b[22;27m");
                            }
                            false => out.push_str(s),
                        }
                    }
                    out.push_str("\x1b[0m");
                }
                out.push('\n');
            }
        }
        out
    }
}

impl Hunk {
    pub(crate) fn header(&self) -> String {
        format!(
            "@@ -{},{} +{},{} @@",
            self.old_start, self.old_len, self.new_start, self.new_len
        )
    }
}

/// The change as styled lines at `width`: a line with the path and `+N -M`, then (unless
/// `collapsed`) its hunks with line numbers, at most `limit` of their lines.
pub(crate) fn styled(
    out: &mut Vec<Line<'static>>,
    diff: &FileDiff,
    width: usize,
    limit: usize,
    collapsed: bool,
) {
    let dim = Style::default().fg(Color::DarkGray);
    let mut head = vec![
        Span::styled(
            format!("  ~ {} ", diff.path),
            Style::default().fg(Color::Blue),
        ),
        Span::styled(
            format!("+{}", diff.added),
            Style::default().fg(Color::Green),
        ),
        Span::raw(" "),
        Span::styled(
            format!("-{}", diff.removed),
            Style::default().fg(Color::Red),
        ),
    ];
    if collapsed && !diff.is_empty() {
        let hunks = diff.hunks.len();
        head.push(Span::styled(
            format!(
                " ({hunks} hunk{}; Enter expands)",
                if hunks == 1 { "" } else { "s" }
            ),
            dim,
        ));
    }
    wrap_prefixed(out, head, width, &[], &[Span::raw("    ")]);
    if collapsed {
        return;
    }
    // Room for the largest line number in the gutter.
    let digits = diff
        .hunks
        .iter()
        .flat_map(|h| h.rows.iter().flat_map(|r| r.old.max(r.new)))
        .max()
        .unwrap_or(0)
        .to_string()
        .len();
    let mut shown = 0;
    for hunk in &diff.hunks {
        if shown >= limit {
            break;
        }
        out.push(Line::styled(
            format!("    {}", hunk.header()),
            Style::default().fg(Color::Cyan),
        ));
        shown += 1;
        for row in &hunk.rows {
            if shown >= limit {
                break;
            }
            shown += 1;
            let (sign, color) = match row.kind {
                RowKind::Context => (' ', None),
                RowKind::Removed => ('-', Some(Color::Red)),
                RowKind::Added => ('+', Some(Color::Green)),
            };
            let base = color.map_or(dim, |c| Style::default().fg(c));
            let number = |n: Option<usize>| n.map_or_else(String::new, |n| n.to_string());
            let gutter = vec![Span::styled(
                format!(
                    "  {:>digits$} {:>digits$} {sign} ",
                    number(row.old),
                    number(row.new)
                ),
                base,
            )];
            let rest = vec![Span::raw(" ".repeat(2 * digits + 6))];
            let body = row
                .parts
                .iter()
                .map(|(emph, s)| {
                    let style = if *emph {
                        base.add_modifier(Modifier::REVERSED)
                    } else {
                        base
                    };
                    Span::styled(s.replace('\t', "    "), style)
                })
                .collect();
            wrap_prefixed(out, body, width, &gutter, &rest);
        }
    }
    if diff.len() > shown {
        out.push(Line::styled(
            format!("    … {} more diff line(s)", diff.len() - shown),
            dim,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn two_changes_far_apart_are_two_hunks() {
        let old = numbered(40);
        let new = old
            .replace("line 5\n", "line five\n")
            .replace("line 30\n", "line 30\nline 30b\n");
        let d = FileDiff::new("a.txt", Some(&old), &new);
        assert_eq!((d.added, d.removed), (2, 1));
        assert_eq!(d.summary(), "+2 -1");
        assert_eq!(d.hunks.len(), 2);
        assert_eq!(d.hunks[0].header(), "@@ -2,7 +2,7 @@");
        assert_eq!(d.hunks[1].header(), "@@ -28,6 +28,7 @@");
        let removed = &d.hunks[0].rows[3];
        assert_eq!(
            (removed.kind, removed.old, removed.new),
            (RowKind::Removed, Some(5), None)
        );
        // Only the word that changed is emphasised.
        assert_eq!(
            removed.parts,
            [(false, "line ".to_string()), (true, "5".to_string())]
        );
        assert_eq!(
            d.unified("", 100, false),
            "@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n line 6\n line 7\n line 8\n\
             @@ -28,6 +28,7 @@\n line 28\n line 29\n line 30\n+line 30b\n line 31\n line 32\n line 33\n"
        );
    }

    #[test]
    fn a_new_file_is_all_added_and_the_limit_holds() {
        let d = FileDiff::new("new.rs", None, "fn main() {}\n");
        assert_eq!(d.summary(), "+1 -0");
        assert_eq!(
            d.unified("  ", 100, false),
            "  @@ -0,0 +1,1 @@\n  +fn main() {}\n"
        );
        let big = FileDiff::new("big", None, &numbered(10));
        assert_eq!(
            big.unified("", 3, false).lines().last(),
            Some("… 8 more diff line(s)")
        );
        let coloured = FileDiff::new("a", Some("x y\n"), "x z\n").unified("", 10, true);
        assert!(
            coloured.contains("\x1b[31m-x \x1b[1;7my\x1b[22;27m\x1b[0m"),
            "{coloured:?}"
        );
    }
}
