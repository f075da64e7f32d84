//! Styled text wrapped to a width by `textwrap` (words at spaces, words wider than a line broken
//! by character width), with `unicode-width` deciding how many columns a character takes: wide
//! (CJK, emoji) and zero-width (combining marks) characters never push a line past the width.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use textwrap::WordSeparator;
use textwrap::core::{break_words, display_width};
use textwrap::wrap_algorithms::wrap_first_fit;
use unicode_width::UnicodeWidthChar;

/// Columns the spans take.
pub(crate) fn width_of(spans: &[Span<'_>]) -> usize {
    spans.iter().map(|s| display_width(&s.content)).sum()
}

/// Wraps one line of styled spans (no newlines in them) to `width` columns, keeping their styles.
pub(crate) fn wrap_line(out: &mut Vec<Line<'static>>, spans: Vec<Span<'static>>, width: usize) {
    wrap_prefixed(out, spans, width, &[], &[]);
}

/// Wraps one line of styled spans to `width` columns; the first output line starts with `first`,
/// the ones it wraps onto with `rest` (list markers and their indentation, quote bars).
pub(crate) fn wrap_prefixed(
    out: &mut Vec<Line<'static>>,
    spans: Vec<Span<'static>>,
    width: usize,
    first: &[Span<'static>],
    rest: &[Span<'static>],
) {
    let first_room = width.saturating_sub(width_of(first)).max(1);
    let rest_room = width.saturating_sub(width_of(rest)).max(1);
    let line = |prefix: &[Span<'static>], body: Vec<Span<'static>>| {
        let mut all = prefix.to_vec();
        all.extend(body);
        Line::from(all)
    };
    // Most lines fit: no need to find words.
    if width_of(&spans) <= first_room {
        out.push(line(first, spans));
        return;
    }
    let text: String = spans.iter().map(|s| s.content.as_ref()).collect();
    let mut runs = Vec::with_capacity(spans.len());
    let mut at = 0;
    for s in &spans {
        runs.push((at, at + s.content.len(), s.style));
        at += s.content.len();
    }
    let words = break_words(
        WordSeparator::AsciiSpace.find_words(&text),
        first_room.min(rest_room),
    );
    // The words cover the text in order: a word's offset is the length of those before it.
    let mut offsets = Vec::with_capacity(words.len());
    let mut at = 0;
    for w in &words {
        offsets.push(at);
        at += w.word.len() + w.whitespace.len();
    }
    let wrapped = wrap_first_fit(&words, &[first_room as f64, rest_room as f64]);
    let mut index = 0;
    for (n, words_of_line) in wrapped.iter().enumerate() {
        let Some(last) = words_of_line.last() else {
            continue;
        };
        let start = offsets[index];
        index += words_of_line.len();
        let end = offsets[index - 1] + last.word.len();
        let prefix = if n == 0 { first } else { rest };
        out.push(line(prefix, slice_runs(&text, &runs, start, end)));
    }
}

/// The part `start..end` of `text` as spans with the styles of `runs`.
fn slice_runs(
    text: &str,
    runs: &[(usize, usize, Style)],
    start: usize,
    end: usize,
) -> Vec<Span<'static>> {
    runs.iter()
        .filter(|(s, e, _)| *e > start && *s < end)
        .map(|(s, e, style)| Span::styled(text[(*s).max(start)..(*e).min(end)].to_string(), *style))
        .collect()
}

/// The spans cut to at most `width` columns (a cut marked with `…`), and the columns they take.
pub(crate) fn clip(spans: &[Span<'static>], width: usize) -> (Vec<Span<'static>>, usize) {
    let total = width_of(spans);
    if total <= width {
        return (spans.to_vec(), total);
    }
    let room = width.saturating_sub(1);
    let mut out = Vec::new();
    let mut used = 0;
    'spans: for s in spans {
        let mut piece = String::new();
        for ch in s.content.chars() {
            let w = ch.width().unwrap_or(0);
            if used + w > room {
                if !piece.is_empty() {
                    out.push(Span::styled(piece, s.style));
                }
                break 'spans;
            }
            used += w;
            piece.push(ch);
        }
        out.push(Span::styled(piece, s.style));
    }
    if width > 0 {
        let style = out.last().map_or_else(Style::default, |s| s.style);
        out.push(Span::styled("…", style));
        used += 1;
    }
    (out, used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::{Color, Modifier};

    use crate::render::texts as plain;

    fn wrapped(spans: Vec<Span<'static>>, width: usize) -> Vec<Line<'static>> {
        let mut out = Vec::new();
        wrap_line(&mut out, spans, width);
        out
    }

    #[test]
    fn wraps_at_spaces_and_keeps_styles() {
        let bold = Style::default().add_modifier(Modifier::BOLD);
        let lines = wrapped(
            vec![
                Span::raw("one two "),
                Span::styled("three four", bold),
                Span::raw(" five"),
            ],
            9,
        );
        assert_eq!(plain(&lines), ["one two", "three", "four five"]);
        assert_eq!(lines[1].spans[0].style, bold);
        assert_eq!(lines[2].spans[0].style, bold);
        assert_eq!(lines[2].spans[1].style, Style::default());
    }

    #[test]
    fn breaks_long_words_and_keeps_leading_indentation() {
        assert_eq!(
            plain(&wrapped(vec![Span::raw("x".repeat(25))], 10)),
            ["xxxxxxxxxx", "xxxxxxxxxx", "xxxxx"]
        );
        assert_eq!(
            plain(&wrapped(vec![Span::raw("    let a = 1;")], 10)),
            ["    let a", "= 1;"]
        );
    }

    #[test]
    fn wide_and_combining_characters_never_overflow() {
        let cjk = "漢字かな交じり文を折り返す";
        for line in wrapped(vec![Span::raw(cjk)], 7) {
            assert!(line.width() <= 7, "{line:?}");
        }
        let emoji = "🎉🎉🎉 party 🎉🎉";
        for line in wrapped(vec![Span::raw(emoji)], 5) {
            assert!(line.width() <= 5, "{line:?}");
        }
        // e + combining acute: one column each; never split from their base.
        let combining = "e\u{301}e\u{301}e\u{301}e\u{301}";
        let lines = wrapped(vec![Span::raw(combining)], 2);
        assert_eq!(plain(&lines), ["e\u{301}e\u{301}", "e\u{301}e\u{301}"]);
    }

    #[test]
    fn prefixes_mark_first_and_following_lines() {
        let mut out = Vec::new();
        wrap_prefixed(
            &mut out,
            vec![Span::raw("alpha beta gamma")],
            10,
            &[Span::raw("1. ")],
            &[Span::raw("   ")],
        );
        assert_eq!(plain(&out), ["1. alpha", "   beta", "   gamma"]);
    }

    #[test]
    fn clip_marks_the_cut() {
        let red = Style::default().fg(Color::Red);
        let (spans, used) = clip(&[Span::styled("abcdef", red)], 4);
        assert_eq!(used, 4);
        assert_eq!(
            spans.iter().map(|s| s.content.as_ref()).collect::<String>(),
            "abc…"
        );
        assert_eq!(clip(&[Span::raw("漢字漢字")], 4).1, 3);
    }
}
