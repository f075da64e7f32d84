//! Markdown that is still arriving, rendered incrementally: the text is cut into blocks where a
//! new block starts in the source (a line at the margin after a blank line, outside a code
//! fence); complete blocks are rendered once per width and kept, and only the open block at the
//! end is parsed again. A long paragraph or code block is cut every [`LONG`] lines, so the open
//! block stays small however long the agent writes without a blank line.

use std::collections::VecDeque;

use ratatui::text::Line;

use super::render;

/// Lines after which an open paragraph or code block is closed at the next safe line.
const LONG: usize = 48;
/// Characters kept of one line (a stream without newlines must not grow without bound).
const MAX_LINE_CHARS: usize = 4_000;

#[derive(Debug)]
struct Block {
    source: String,
    lines: usize,
    /// A blank line followed it in the source.
    blank_after: bool,
    rendered: Option<(usize, Vec<Line<'static>>)>,
}

impl Block {
    fn lines(&mut self, width: usize) -> &[Line<'static>] {
        if self.rendered.as_ref().is_none_or(|(w, _)| *w != width) {
            self.rendered = Some((width, render(&self.source, width)));
        }
        self.rendered.as_ref().map_or(&[], |(_, l)| l.as_slice())
    }
}

/// An open code fence: its marker (three or more backticks or tildes) and its opening line.
#[derive(Debug, Clone)]
struct Fence {
    marker: char,
    len: usize,
    line: String,
}

#[derive(Debug, Default)]
pub(crate) struct MarkdownStream {
    blocks: VecDeque<Block>,
    /// The open block: complete lines, then the line still arriving (from `live`).
    open: String,
    live: usize,
    open_lines: usize,
    fence: Option<Fence>,
    /// The last complete line was blank / plain paragraph text.
    last_blank: bool,
    last_plain: bool,
    /// Complete lines held, in all blocks.
    lines: usize,
}

/// A fence line: its marker character and length.
fn fence_of(line: &str) -> Option<(char, usize)> {
    let t = line.trim_start();
    let marker = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = t.chars().take_while(|c| *c == marker).count();
    (len >= 3).then_some((marker, len))
}

/// Text that can only continue a paragraph, not start or shape another block (no list, quote,
/// heading, table or setext underline): cutting a long paragraph before such a line is safe.
fn plain(line: &str) -> bool {
    let t = line.trim_start();
    let mut chars = t.chars();
    let starts_text = match chars.next() {
        Some(c) if c.is_ascii_digit() => false,
        Some(c) if c.is_alphanumeric() || "\"'([`".contains(c) => true,
        // Emphasis, not a bullet or a rule.
        Some('*') => chars.next().is_some_and(char::is_alphanumeric) || t.starts_with("**"),
        _ => false,
    };
    line.len() - t.len() < 4 && starts_text && !line.contains('|') && !t.starts_with("***")
}

impl MarkdownStream {
    /// Complete lines held.
    pub(crate) fn lines(&self) -> usize {
        self.lines
    }

    /// Adds a chunk; returns the number of lines it completed.
    pub(crate) fn push(&mut self, chunk: &str) -> usize {
        let mut completed = 0;
        for (i, part) in chunk.split('\n').enumerate() {
            if i > 0 {
                self.complete_line();
                completed += 1;
            }
            self.open.push_str(part);
        }
        let live = self.open.len() - self.live;
        if live > MAX_LINE_CHARS
            && let Some((i, _)) = self.open[self.live..].char_indices().nth(MAX_LINE_CHARS)
        {
            self.open.truncate(self.live + i);
            self.open.push('…');
        }
        completed
    }

    fn complete_line(&mut self) {
        let line = self.open[self.live..].to_string();
        let blank = line.trim().is_empty();
        match &self.fence {
            Some(f) => {
                let closes = fence_of(&line).is_some_and(|(m, n)| {
                    m == f.marker && n >= f.len && line.trim().chars().all(|c| c == m)
                });
                if closes {
                    self.fence = None;
                } else if self.open_lines >= LONG {
                    // A long code block: close it here and go on in a new one.
                    let fence = f.clone();
                    let mut closing = fence.marker.to_string().repeat(fence.len);
                    closing.push('\n');
                    self.commit(false, &closing, &format!("{}\n", fence.line));
                }
            }
            None => {
                let margin = !line.starts_with([' ', '\t']);
                if !blank && self.last_blank && margin {
                    self.commit(true, "", "");
                } else if self.open_lines >= LONG && self.last_plain && plain(&line) {
                    self.commit(false, "", "");
                }
                if let Some((marker, len)) = fence_of(&line) {
                    self.fence = Some(Fence {
                        marker,
                        len,
                        line: line.clone(),
                    });
                }
            }
        }
        self.open.push('\n');
        self.live = self.open.len();
        self.open_lines += 1;
        self.lines += 1;
        self.last_blank = blank;
        self.last_plain = self.fence.is_none() && plain(&line);
    }

    /// Closes the open block before the line that just completed: `close` ends the block's
    /// source (a code fence), `reopen` starts the new open block (the fence again).
    fn commit(&mut self, blank_after: bool, close: &str, reopen: &str) {
        let mut source: String = self.open.drain(..self.live).collect();
        source.push_str(close);
        self.blocks.push_back(Block {
            source,
            lines: self.open_lines,
            blank_after,
            rendered: None,
        });
        self.open.insert_str(0, reopen);
        self.live = reopen.len();
        self.open_lines = 0;
    }

    /// Drops blocks from the start until at least `lines` complete lines went (never the open
    /// block); returns how many went.
    pub(crate) fn drop_front(&mut self, lines: usize) -> usize {
        let mut dropped = 0;
        while dropped < lines {
            let Some(block) = self.blocks.pop_front() else {
                break;
            };
            dropped += block.lines;
        }
        self.lines -= dropped;
        dropped
    }

    /// The last lines at `width`, at least `need` of them when there are that many, in order.
    pub(crate) fn tail(&mut self, width: usize, need: usize) -> Vec<Line<'static>> {
        let mut parts: Vec<Vec<Line<'static>>> = Vec::new();
        let mut count = 0;
        if !self.open.is_empty() {
            let open = render(&self.open, width);
            count += open.len();
            parts.push(open);
        }
        for block in self.blocks.iter_mut().rev() {
            if count >= need {
                break;
            }
            let mut lines = Vec::new();
            if block.blank_after && count > 0 {
                lines.push(Line::default());
            }
            // The cached lines come first: they are cloned in view order below.
            let rendered = block.lines(width);
            count += rendered.len() + lines.len();
            let mut all = rendered.to_vec();
            all.extend(lines);
            parts.push(all);
        }
        parts.into_iter().rev().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_lines(s: &mut MarkdownStream, width: usize) -> Vec<String> {
        crate::render::texts(&s.tail(width, usize::MAX))
    }

    #[test]
    fn streamed_in_pieces_renders_like_all_at_once() {
        let doc = "# Plan\nFirst **bold** line\nsecond line\n\n1. one\n2. two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn main() {}\n\nlet x = 1;\n```\nafter\n";
        let whole = render(doc, 40);
        for size in [1, 2, 3, 7, 64] {
            let mut s = MarkdownStream::default();
            let chars: Vec<char> = doc.chars().collect();
            for piece in chars.chunks(size) {
                s.push(&piece.iter().collect::<String>());
            }
            let streamed: Vec<String> = plain_lines(&mut s, 40);
            assert_eq!(streamed, crate::render::texts(&whole), "chunks of {size}");
        }
    }

    #[test]
    fn complete_blocks_are_cut_and_cached() {
        let mut s = MarkdownStream::default();
        s.push("para one\n\n- item\n\nnext para\n");
        assert_eq!(s.blocks.len(), 2);
        assert_eq!(s.open, "next para\n");
        s.tail(30, usize::MAX);
        assert!(s.blocks.iter().all(|b| b.rendered.is_some()));
        // A blank line inside a fence does not cut it.
        let mut s = MarkdownStream::default();
        s.push("```\na\n\nb\n```\n");
        assert!(s.blocks.is_empty());
    }

    #[test]
    fn long_paragraphs_and_code_blocks_are_cut_and_memory_drops_whole_blocks() {
        let mut s = MarkdownStream::default();
        for i in 0..200 {
            s.push(&format!("line {i} with `code`\n"));
        }
        assert!(s.blocks.len() >= 3, "{}", s.blocks.len());
        assert!(s.open_lines <= LONG + 1);
        assert_eq!(s.lines(), 200);
        let tail = plain_lines(&mut s, 80);
        assert_eq!(tail.len(), 200);
        assert_eq!(tail[199], "line 199 with code");
        let dropped = s.drop_front(100);
        assert!(dropped >= 100 && s.lines() == 200 - dropped);

        let mut s = MarkdownStream::default();
        s.push("```rust\n");
        for i in 0..120 {
            s.push(&format!("let x{i} = {i};\n"));
        }
        s.push("```\n");
        let lines = plain_lines(&mut s, 80);
        assert_eq!(lines.len(), 120, "no fence is shown: {lines:?}");
        assert!(lines.iter().all(|l| l.starts_with("  let x")), "{lines:?}");
    }
}
