//! Code coloured by its language with syntect (its bundled syntaxes, pure-Rust regexes). The
//! colours are the terminal's own named colours rather than a theme's RGB values, so highlighted
//! code reads on dark and light backgrounds alike (as bat's `ansi` theme does).

use std::str::FromStr;
use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use syntect::easy::HighlightLines;
use syntect::highlighting::{
    self as sh, FontStyle, ScopeSelectors, StyleModifier, Theme, ThemeItem,
};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

/// The colours the theme may use; a syntect colour names one by its index in `r` (alpha 0).
const PALETTE: [Color; 7] = [
    Color::Reset,
    Color::Magenta,
    Color::Blue,
    Color::Cyan,
    Color::Green,
    Color::Yellow,
    Color::DarkGray,
];

/// Scopes (TextMate selectors) and the palette entry that colours them.
const RULES: [(&str, u8); 9] = [
    ("comment, punctuation.definition.comment", 6),
    ("string, constant.character", 4),
    ("constant.numeric, constant.language, constant.other", 5),
    ("keyword, storage, keyword.operator.word", 1),
    ("keyword.operator, punctuation", 0),
    (
        "entity.name.function, support.function, meta.function-call.identifier",
        2,
    ),
    ("support.macro, entity.name.macro, meta.macro", 2),
    (
        "entity.name.type, entity.name.class, entity.name.struct, entity.name.enum, support.type, support.class, storage.type.primitive",
        3,
    ),
    (
        "entity.name.tag, entity.other.attribute-name, variable.language",
        3,
    ),
];

struct Highlighting {
    syntaxes: SyntaxSet,
    theme: Theme,
}

fn palette(index: u8) -> sh::Color {
    sh::Color {
        r: index,
        g: 0,
        b: 0,
        a: 0,
    }
}

fn highlighting() -> &'static Highlighting {
    static CELL: OnceLock<Highlighting> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut theme = Theme::default();
        theme.settings.foreground = Some(palette(0));
        for (scopes, colour) in RULES {
            if let Ok(scope) = ScopeSelectors::from_str(scopes) {
                let font_style = (colour == 6).then_some(FontStyle::ITALIC);
                theme.scopes.push(ThemeItem {
                    scope,
                    style: StyleModifier {
                        foreground: Some(palette(colour)),
                        background: None,
                        font_style,
                    },
                });
            }
        }
        Highlighting {
            syntaxes: SyntaxSet::load_defaults_newlines(),
            theme,
        }
    })
}

/// Whether `lang` (a fence's info string: `rust`, `py`, `sh`, ...) names a known language.
#[cfg(test)]
fn knows(lang: &str) -> bool {
    !lang.is_empty() && highlighting().syntaxes.find_syntax_by_token(lang).is_some()
}

/// `code` in `lang`, a list of spans per line (without line ends, tabs as four spaces); `None`
/// when the language is unknown.
pub(crate) fn highlight(code: &str, lang: &str) -> Option<Vec<Vec<Span<'static>>>> {
    if lang.is_empty() {
        return None;
    }
    let h = highlighting();
    let syntax = h.syntaxes.find_syntax_by_token(lang)?;
    let mut lines = HighlightLines::new(syntax, &h.theme);
    let mut out = Vec::new();
    for line in LinesWithEndings::from(code) {
        let Ok(ranges) = lines.highlight_line(line, &h.syntaxes) else {
            // A syntax the regex engine cannot run: the rest of the block stays plain.
            return None;
        };
        let spans = ranges
            .into_iter()
            .filter_map(|(style, text)| {
                let text = text.trim_end_matches(['\n', '\r']).replace('\t', "    ");
                (!text.is_empty()).then(|| Span::styled(text, style_of(style)))
            })
            .collect();
        out.push(spans);
    }
    Some(out)
}

fn style_of(s: sh::Style) -> Style {
    let mut style = Style::default();
    let colour = PALETTE
        .get(usize::from(s.foreground.r))
        .copied()
        .unwrap_or(Color::Reset);
    if colour != Color::Reset {
        style = style.fg(colour);
    }
    if s.font_style.contains(FontStyle::ITALIC) {
        style = style.add_modifier(Modifier::ITALIC);
    }
    if s.font_style.contains(FontStyle::BOLD) {
        style = style.add_modifier(Modifier::BOLD);
    }
    style
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colour_of(lines: &[Vec<Span>], word: &str) -> Option<Color> {
        lines
            .iter()
            .flatten()
            .find(|s| s.content.trim() == word)
            .and_then(|s| s.style.fg)
    }

    #[test]
    fn rust_keywords_strings_and_comments_have_colours() {
        let lines = highlight("fn main() {\n    let s = \"hi\"; // greet\n}\n", "rust").unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(colour_of(&lines, "fn"), Some(Color::Magenta));
        assert_eq!(colour_of(&lines, "let"), Some(Color::Magenta));
        assert_eq!(colour_of(&lines, "main"), Some(Color::Blue));
        assert_eq!(colour_of(&lines, "hi"), Some(Color::Green));
        assert_eq!(colour_of(&lines, "greet"), Some(Color::DarkGray));
        assert!(knows("py") && knows("rs") && !knows("no-such-language"));
        assert!(highlight("x", "no-such-language").is_none());
    }
}
