//! Lines of text shared by the agent output and the permission window: wrapping styled spans to a
//! width, and a file change as `-` old and `+` new lines.

use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

use crate::protocol::Diff;

/// A file change as lines: what differs between the common start and end, `-` old and `+` new.
pub fn render_diff(out: &mut Vec<Line<'static>>, d: &Diff, width: usize, limit: usize) {
    out.push(Line::styled(
        format!("  ~ {}", d.path),
        Style::default().fg(Color::Blue),
    ));
    let old: Vec<&str> = d.old.as_deref().unwrap_or("").lines().collect();
    let new: Vec<&str> = d.new.lines().collect();
    let mut rows: Vec<(char, &str)> = Vec::new();
    // Lines common to the start and end stay as context; what differs in between is the change.
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    if prefix > 0 {
        rows.push((' ', old[prefix - 1]));
    }
    rows.extend(old[prefix..old.len() - suffix].iter().map(|l| ('-', *l)));
    rows.extend(new[prefix..new.len() - suffix].iter().map(|l| ('+', *l)));
    if suffix > 0 {
        rows.push((' ', old[old.len() - suffix]));
    }
    let total = rows.len();
    for (sign, text) in rows.into_iter().take(limit) {
        let style = match sign {
            '-' => Style::default().fg(Color::Red),
            '+' => Style::default().fg(Color::Green),
            _ => Style::default().fg(Color::DarkGray),
        };
        wrap_into(
            out,
            vec![Span::styled(format!("  {sign} {text}"), style)],
            width,
        );
    }
    if total > limit {
        out.push(Line::styled(
            format!("  … {} more diff line(s)", total - limit),
            Style::default().fg(Color::DarkGray),
        ));
    }
}

/// Wraps spans to `width` columns (by character width), keeping their styles.
pub fn wrap_into(out: &mut Vec<Line<'static>>, spans: Vec<Span<'static>>, width: usize) {
    let mut line: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in spans {
        let mut piece = String::new();
        for ch in span.content.chars() {
            let w = ch.width().unwrap_or(0);
            if used + w > width && used > 0 {
                if !piece.is_empty() {
                    line.push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                out.push(Line::from(std::mem::take(&mut line)));
                used = 0;
            }
            piece.push(ch);
            used += w;
        }
        if !piece.is_empty() {
            line.push(Span::styled(piece, span.style));
        }
    }
    out.push(Line::from(line));
}
