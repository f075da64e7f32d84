//! Markdown as styled lines for a terminal, parsed by pulldown-cmark (CommonMark with GitHub's
//! tables, strikethrough and task lists): headings, emphasis, inline code, links with their URL
//! dimmed, nested lists, block quotes, tables, rules and code blocks highlighted by language.
//! A line break in the source is a line break on screen (agents mean them), and a blank line
//! between blocks stays one blank line. [`MarkdownStream`] renders text that is still arriving.

mod stream;
mod table;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

pub(crate) use self::stream::MarkdownStream;
use self::table::Table;
use super::highlight::highlight;
use super::wrap::{width_of, wrap_prefixed};

/// Lines of `source` at `width` columns.
pub(crate) fn render(source: &str, width: usize) -> Vec<Line<'static>> {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut writer = Writer {
        width: width.max(1),
        source,
        ..Writer::default()
    };
    for (event, range) in Parser::new_ext(source, options).into_offset_iter() {
        writer.event(event, range.start);
    }
    writer.flush();
    writer.out
}

fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

fn code_style() -> Style {
    Style::default().fg(Color::Cyan)
}

#[derive(Debug)]
enum Container {
    Quote,
    List {
        next: Option<u64>,
        depth: usize,
    },
    /// A list item; its marker is shown on its first line, its width indents the others.
    Item {
        marker: String,
        shown: bool,
    },
}

#[derive(Debug, Default)]
struct Code {
    lang: String,
    text: String,
}

#[derive(Debug, Default)]
struct Writer<'a> {
    width: usize,
    source: &'a str,
    out: Vec<Line<'static>>,
    /// The line being built.
    inline: Vec<Span<'static>>,
    /// Inline styles in effect (emphasis, strong, links, a heading), innermost last.
    styles: Vec<Style>,
    containers: Vec<Container>,
    /// URLs of the links being written.
    links: Vec<String>,
    code: Option<Code>,
    table: Option<Table>,
}

impl Writer<'_> {
    fn style(&self) -> Style {
        self.styles
            .iter()
            .fold(Style::default(), |acc, s| acc.patch(*s))
    }

    fn push(&mut self, span: Span<'static>) {
        match &mut self.table {
            Some(t) => t.push(span),
            None => self.inline.push(span),
        }
    }

    fn text(&mut self, text: &str) {
        if let Some(code) = &mut self.code {
            code.text.push_str(text);
            return;
        }
        let style = self.style();
        for (i, part) in text.split('\n').enumerate() {
            if i > 0 {
                self.flush();
            }
            if !part.is_empty() {
                self.push(Span::styled(part.replace('\t', "    "), style));
            }
        }
    }

    /// The prefixes of the next line: quote bars and list markers (each marker once, on its
    /// item's first line), and of the lines it wraps onto (bars and indentation).
    fn prefixes(&mut self) -> (Vec<Span<'static>>, Vec<Span<'static>>) {
        let (mut first, mut rest) = (Vec::new(), Vec::new());
        for c in &mut self.containers {
            match c {
                Container::Quote => {
                    first.push(Span::styled("│ ", dim()));
                    rest.push(Span::styled("│ ", dim()));
                }
                Container::List { .. } => {}
                Container::Item { marker, shown } => {
                    let indent = " ".repeat(width_of(&[Span::raw(marker.as_str())]));
                    if *shown {
                        first.push(Span::raw(indent.clone()));
                    } else {
                        first.push(Span::styled(
                            marker.clone(),
                            Style::default().fg(Color::Blue),
                        ));
                        *shown = true;
                    }
                    rest.push(Span::raw(indent));
                }
            }
        }
        (first, rest)
    }

    fn marker_pending(&self) -> bool {
        self.containers
            .iter()
            .any(|c| matches!(c, Container::Item { shown: false, .. }))
    }

    /// Ends the line being built, wrapped to the width.
    fn flush(&mut self) {
        if self.inline.is_empty() && !self.marker_pending() {
            return;
        }
        let body = std::mem::take(&mut self.inline);
        self.emit(body, true);
    }

    fn emit(&mut self, body: Vec<Span<'static>>, wrap: bool) {
        let (first, rest) = self.prefixes();
        if wrap {
            wrap_prefixed(&mut self.out, body, self.width, &first, &rest);
        } else {
            let mut spans = first;
            spans.extend(body);
            self.out.push(Line::from(spans));
        }
    }

    /// Columns left after the containers' prefixes.
    fn room(&self) -> usize {
        let used: usize = self
            .containers
            .iter()
            .map(|c| match c {
                Container::Quote => 2,
                Container::List { .. } => 0,
                Container::Item { marker, .. } => width_of(&[Span::raw(marker.as_str())]),
            })
            .sum();
        self.width.saturating_sub(used).max(1)
    }

    /// A blank line before a block that has one before it in the source (not at the top).
    fn separate(&mut self, start: usize) {
        self.flush();
        let Some(last) = self.out.last() else { return };
        if last
            .spans
            .iter()
            .all(|s| s.content.trim_matches([' ', '│']).is_empty())
        {
            return;
        }
        let before = &self.source[..start.min(self.source.len())];
        let Some(line_start) = before.rfind('\n') else {
            return;
        };
        let prev = &before[..line_start];
        let prev_line = &prev[prev.rfind('\n').map_or(0, |i| i + 1)..];
        if prev_line
            .trim_matches(|c: char| c.is_whitespace() || c == '>')
            .is_empty()
        {
            let (_, rest) = self.prefixes();
            let bars: Vec<Span<'static>> = rest
                .into_iter()
                .filter(|s| s.content.contains('│'))
                .map(|s| Span::styled("│", s.style))
                .collect();
            self.out.push(Line::from(bars));
        }
    }

    fn event(&mut self, event: Event<'_>, start: usize) {
        match event {
            Event::Start(tag) => self.start(tag, start),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.text(&t),
            Event::Code(t) => {
                let style = self.style().patch(code_style());
                self.push(Span::styled(t.to_string(), style));
            }
            Event::InlineMath(t) | Event::DisplayMath(t) => self.text(&t),
            Event::Html(t) | Event::InlineHtml(t) => {
                self.styles.push(dim());
                self.text(t.trim_end_matches('\n'));
                self.styles.pop();
            }
            Event::FootnoteReference(t) => self.text(&format!("[^{t}]")),
            Event::SoftBreak | Event::HardBreak => self.flush(),
            Event::Rule => {
                self.separate(start);
                let rule = "─".repeat(self.room());
                self.emit(vec![Span::styled(rule, dim())], false);
            }
            Event::TaskListMarker(done) => {
                self.push(Span::raw(if done { "☑ " } else { "☐ " }));
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>, start: usize) {
        match tag {
            Tag::Paragraph | Tag::HtmlBlock => self.separate(start),
            Tag::Heading { level, .. } => {
                self.separate(start);
                let style = Style::default()
                    .fg(Color::Magenta)
                    .add_modifier(Modifier::BOLD);
                self.styles.push(match level {
                    HeadingLevel::H1 => style.add_modifier(Modifier::UNDERLINED),
                    HeadingLevel::H2 => style,
                    _ => style.add_modifier(Modifier::ITALIC),
                });
            }
            Tag::BlockQuote(_) => {
                self.separate(start);
                self.containers.push(Container::Quote);
            }
            Tag::CodeBlock(kind) => {
                self.separate(start);
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => {
                        info.split([' ', ',', '{']).next().unwrap_or("").to_string()
                    }
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some(Code {
                    lang,
                    text: String::new(),
                });
            }
            Tag::List(first) => {
                self.separate(start);
                let depth = self
                    .containers
                    .iter()
                    .filter(|c| matches!(c, Container::List { .. }))
                    .count();
                self.containers.push(Container::List { next: first, depth });
            }
            Tag::Item => {
                self.separate(start);
                let marker = match self.containers.last_mut() {
                    Some(Container::List { next: Some(n), .. }) => {
                        *n += 1;
                        format!("{}. ", *n - 1)
                    }
                    Some(Container::List { depth, .. }) => {
                        ["• ", "◦ ", "▪ "][*depth % 3].to_string()
                    }
                    _ => "• ".to_string(),
                };
                self.containers.push(Container::Item {
                    marker,
                    shown: false,
                });
            }
            Tag::Table(aligns) => {
                self.separate(start);
                self.table = Some(Table::new(aligns));
            }
            Tag::TableHead | Tag::TableRow | Tag::TableCell => {}
            Tag::Emphasis => self
                .styles
                .push(Style::default().add_modifier(Modifier::ITALIC)),
            Tag::Strong => self
                .styles
                .push(Style::default().add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self
                .styles
                .push(Style::default().add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { dest_url, .. } => {
                self.styles.push(
                    Style::default()
                        .fg(Color::Blue)
                        .add_modifier(Modifier::UNDERLINED),
                );
                self.links.push(dest_url.to_string());
            }
            Tag::Image { dest_url, .. } => {
                self.push(Span::styled("[image: ", dim()));
                self.styles.push(dim());
                self.links.push(dest_url.to_string());
            }
            Tag::Superscript
            | Tag::Subscript
            | Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::MetadataBlock(_) => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::HtmlBlock => self.flush(),
            TagEnd::Heading(_) => {
                self.flush();
                self.styles.pop();
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.containers.pop();
            }
            TagEnd::CodeBlock => {
                if let Some(code) = self.code.take() {
                    self.code_block(&code);
                }
            }
            TagEnd::List(_) | TagEnd::Item => {
                self.flush();
                self.containers.pop();
            }
            TagEnd::Table => {
                if let Some(table) = self.table.take() {
                    for line in table.lines(self.room()) {
                        self.emit(line.spans, false);
                    }
                }
            }
            TagEnd::TableCell => {
                if let Some(t) = &mut self.table {
                    t.end_cell();
                }
            }
            TagEnd::TableHead | TagEnd::TableRow => {
                if let Some(t) = &mut self.table {
                    t.end_row(tag == TagEnd::TableHead);
                }
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                self.styles.pop();
            }
            TagEnd::Link => {
                self.styles.pop();
                let url = self.links.pop().unwrap_or_default();
                // An autolink's text is its URL already.
                let spans = self.table.as_ref().map_or(&self.inline, |t| t.cell());
                let text: String = spans.iter().map(|s| s.content.as_ref()).collect();
                if !url.is_empty() && !text.ends_with(&url) {
                    self.push(Span::styled(format!(" ({url})"), dim()));
                }
            }
            TagEnd::Image => {
                self.styles.pop();
                let url = self.links.pop().unwrap_or_default();
                self.push(Span::styled(format!("] ({url})"), dim()));
            }
            _ => {}
        }
    }

    /// A code block, indented two columns: highlighted when its language is known.
    fn code_block(&mut self, code: &Code) {
        let text = code.text.strip_suffix('\n').unwrap_or(&code.text);
        let lines = highlight(text, &code.lang).unwrap_or_else(|| {
            text.split('\n')
                .map(|l| vec![Span::styled(l.replace('\t', "    "), code_style())])
                .collect()
        });
        let (first, rest) = self.prefixes();
        let mut prefix = first;
        prefix.push(Span::raw("  "));
        let mut indent = rest;
        indent.push(Span::raw("  "));
        for line in lines {
            wrap_prefixed(&mut self.out, line, self.width, &prefix, &indent);
            prefix.clone_from(&indent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(source: &str, width: usize) -> Vec<String> {
        crate::render::texts(&render(source, width))
            .into_iter()
            .map(|s| s.trim_end().to_string())
            .collect()
    }

    #[test]
    fn blocks_keep_the_blank_lines_of_the_source() {
        assert_eq!(
            plain("# Title\nText **bold**\n\n- a\n- b\n\n---\n", 20),
            [
                "Title",
                "Text bold",
                "",
                "• a",
                "• b",
                "",
                "────────────────────"
            ]
        );
    }

    #[test]
    fn nested_lists_indent_and_number() {
        assert_eq!(
            plain("1. one\n2. two\n   - inner\n     1. deep\n3. three\n", 30),
            ["1. one", "2. two", "   ◦ inner", "     1. deep", "3. three"]
        );
        assert_eq!(plain("7. seven\n8. eight\n", 30), ["7. seven", "8. eight"]);
        assert_eq!(
            plain("- [x] done\n- [ ] todo\n", 30),
            ["• ☑ done", "• ☐ todo"]
        );
    }

    #[test]
    fn links_show_their_url_dimmed() {
        let lines = render("See [the docs](https://docs.rs) now", 60);
        let spans = &lines[0].spans;
        assert_eq!(spans[1].content, "the docs");
        assert!(spans[1].style.add_modifier.contains(Modifier::UNDERLINED));
        assert_eq!(spans[2].content, " (https://docs.rs)");
        assert_eq!(spans[2].style.fg, Some(Color::DarkGray));
        assert_eq!(plain("<https://x.org>", 60), ["https://x.org"]);
        assert_eq!(
            plain("| a |\n|---|\n| <https://x.org> |\n", 60)[3],
            "│ https://x.org │"
        );
    }

    #[test]
    fn quotes_and_code_blocks() {
        assert_eq!(
            plain("> quoted\n>\n> more\n\n```\nlet x = 1;\n\n```\n", 30),
            ["│ quoted", "│", "│ more", "", "  let x = 1;", ""]
        );
    }

    #[test]
    fn tables_are_aligned_and_clipped() {
        let table = "| a | long header |\n|--:|:--|\n| 1 | x |\n| 22 | yy |\n";
        assert_eq!(
            plain(table, 40),
            [
                "┌────┬─────────────┐",
                "│  a │ long header │",
                "├────┼─────────────┤",
                "│  1 │ x           │",
                "│ 22 │ yy          │",
                "└────┴─────────────┘"
            ]
        );
        for line in render(table, 12) {
            assert!(line.width() <= 12, "{line:?}");
        }
    }
}
