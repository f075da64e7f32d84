//! What the agent writes, made readable: Markdown with code highlighted by language, file
//! changes as hunks with word-level highlights, and wrapping that knows how wide characters are.
//! Shared by the front ends (the full-screen interface, `--headless`); it knows nothing of them.

pub(crate) mod diff;
pub(crate) mod highlight;
pub(crate) mod markdown;
pub(crate) mod wrap;

/// The text of each line, without styles (for tests).
#[cfg(test)]
pub(crate) fn texts(lines: &[ratatui::text::Line]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect()
}
