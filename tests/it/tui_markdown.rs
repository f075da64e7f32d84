//! What the agent writes, as the full-screen interface shows it (ratatui's TestBackend): each
//! Markdown element, a file change in several hunks, and wide characters, at 60 and 120 columns.
//! A snapshot is the agent pane's text, then every styled run in it (row, columns, colour,
//! modifiers), so a lost colour or emphasis shows as well as a lost character.

use std::fmt::Write as _;
use std::time::Duration;

use iteratr::frontend::{AgentUpdate, BuildEvent, Diff, ToolKind, ToolStatus};
use iteratr::tui::{App, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;
use unicode_width::UnicodeWidthStr;

const WIDTHS: [u16; 2] = [60, 120];

fn agent_says(chunks: &[&str]) -> App {
    let mut app = App::new("md", false);
    app.set_clock(Duration::from_secs(5));
    for text in chunks {
        app.on_build_event(BuildEvent::Agent {
            update: AgentUpdate::Text {
                text: text.to_string(),
            },
        });
    }
    app
}

/// The agent pane's rows (up to the last one with text) and the styled runs in them.
fn pane(app: &mut App, width: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, 40)).unwrap();
    terminal.draw(|f| draw(f, app)).unwrap();
    let area = app.layout().agent;
    let buffer = terminal.backend().buffer();
    let mut rows = Vec::new();
    let mut runs = String::new();
    for y in area.y + 1..area.y + area.height - 1 {
        let mut text = String::new();
        // Runs of one style other than the default: (first column, style, text).
        let mut styled: Vec<(u16, String, String)> = Vec::new();
        let mut x = area.x + 1;
        while x < area.x + area.width - 1 {
            let cell = &buffer[(x, y)];
            let column = x - area.x - 1;
            text.push_str(cell.symbol());
            if cell.fg != Color::Reset || !cell.modifier.is_empty() {
                let style = format!("{:?} {:?}", cell.fg, cell.modifier);
                match styled.last_mut() {
                    Some((start, s, t))
                        if *s == style && *start as usize + t.width() == column as usize =>
                    {
                        t.push_str(cell.symbol())
                    }
                    _ => styled.push((column, style, cell.symbol().to_string())),
                }
            }
            // A wide character covers the next cell too.
            x += cell.symbol().width().max(1) as u16;
        }
        let row = rows.len();
        for (start, style, t) in styled {
            let _ = writeln!(runs, "r{row} c{start} {style}: {t:?}");
        }
        rows.push(text.trim_end().to_string());
    }
    while rows.last().is_some_and(|r| r.is_empty()) {
        rows.pop();
    }
    format!("{}\n---\n{runs}", rows.join("\n"))
}

/// Snapshots `chunks` as the agent's text at both widths, and returns the screens.
fn snapshot(name: &str, chunks: &[&str]) -> Vec<String> {
    WIDTHS
        .iter()
        .map(|w| {
            let screen = pane(&mut agent_says(chunks), *w);
            insta::assert_snapshot!(format!("{name}_{w}"), screen);
            screen
        })
        .collect()
}

#[test]
fn headings_emphasis_strong_and_inline_code() {
    let screens = snapshot(
        "inline",
        &[
            "# Top heading\n## Second level\n### Third level\n\nPlain, *emphasis*, **strong**, ***both***, ~~gone~~ and `inline code` in one line.\n",
        ],
    );
    for s in &screens {
        assert!(
            !s.contains('#') && !s.contains('*') && !s.contains('`'),
            "{s}"
        );
    }
}

#[test]
fn links() {
    let screens = snapshot(
        "links",
        &["Read [the ratatui docs](https://docs.rs/ratatui) and <https://example.org>.\n"],
    );
    assert!(screens[1].contains("the ratatui docs (https://docs.rs/ratatui)"));
}

#[test]
fn nested_lists() {
    let screens = snapshot(
        "lists",
        &[
            "1. First step\n2. Second step with a longer text that has to wrap at sixty columns at least once\n   - a bullet inside\n     - deeper still\n3. Third\n\n- [x] done\n- [ ] to do\n",
        ],
    );
    for s in &screens {
        assert!(s.contains("1. First step") && s.contains("3. Third"), "{s}");
    }
}

#[test]
fn block_quotes_and_rules() {
    snapshot(
        "quotes",
        &["> A quoted line\n> that goes on\n>\n> > and a nested quote\n\n---\n\nAfter the rule.\n"],
    );
}

#[test]
fn tables_are_aligned_and_clipped_to_the_width() {
    let screens = snapshot(
        "table",
        &[
            "| Name | Kind | Lines |\n|:-----|:----:|------:|\n| lexer.rs | module | 120 |\n| parser.rs | module with a very long description that cannot fit | 2048 |\n",
        ],
    );
    for s in &screens {
        assert!(!s.contains("|---") && !s.contains("|:--"), "{s}");
        assert!(s.contains("┌") && s.contains("┘"), "{s}");
    }
    assert!(
        screens[0].contains('…'),
        "clipped at 60 columns:\n{}",
        screens[0]
    );
}

#[test]
fn code_blocks_are_highlighted_by_language() {
    let screens = snapshot(
        "code",
        &[
            "Here:\n\n```rust\n/// Adds.\nfn add(a: i32, b: i32) -> i32 {\n    let s = \"sum\";\n    a + b // done\n}\n```\n\n```\nplain text block\n```\n",
        ],
    );
    for s in &screens {
        assert!(!s.contains("```"), "{s}");
        assert!(
            s.contains("Magenta NONE: \"fn\""),
            "keywords in colour:\n{s}"
        );
    }
}

#[test]
fn streamed_in_small_chunks_it_reads_the_same() {
    let doc =
        "# Plan\n\n1. one\n2. two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nlet x = 1;\n```\n";
    let whole = pane(&mut agent_says(&[doc]), 120);
    let chars: Vec<String> = doc.chars().map(String::from).collect();
    let pieces: Vec<&str> = chars.iter().map(String::as_str).collect();
    assert_eq!(pane(&mut agent_says(&pieces), 120), whole);
}

#[test]
fn cjk_and_emoji_wrap_without_breaking_the_layout() {
    let screens = snapshot(
        "wide",
        &[
            "漢字とかなの文章はスペースがなくても画面の幅で折り返されますし、行の長さが正しく数えられます。\n\nEmoji 🎉🚀✨ mixed with text: 👩‍💻 writes code, 🇫🇷 flags, and é with a combining accent (e\u{301}) never shift the border. 🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉\n",
        ],
    );
    let _ = screens;
    // Every row of the screen keeps its right border where it belongs.
    for w in WIDTHS {
        let mut app = agent_says(&[
            "漢字とかなの文章はスペースがなくても画面の幅で折り返されます。🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉\n",
        ]);
        let mut terminal = Terminal::new(TestBackend::new(w, 40)).unwrap();
        terminal.draw(|f| draw(f, &mut app)).unwrap();
        let area = app.layout().agent;
        let buffer = terminal.backend().buffer();
        for y in area.y + 1..area.y + area.height - 1 {
            assert_eq!(
                buffer[(area.x + area.width - 1, y)].symbol(),
                "│",
                "row {y} at {w} columns"
            );
        }
    }
}

#[test]
fn a_file_change_in_several_hunks() {
    let old: String = (1..=40)
        .map(|i| format!("fn f{i}() -> u32 {{ {i} }}\n"))
        .collect();
    let new = old
        .replace("fn f3() -> u32 { 3 }", "fn f3() -> u32 { 3 + 0 }")
        .replace(
            "fn f30() -> u32 { 30 }\n",
            "fn f30() -> u32 { 30 }\nfn f30b() -> u32 { 31 }\n",
        )
        .replace("fn f38() -> u32 { 38 }\n", "");
    for w in WIDTHS {
        let mut app = agent_says(&[]);
        app.on_build_event(BuildEvent::Agent {
            update: AgentUpdate::ToolCall {
                id: "e1".into(),
                title: "Edit src/lib.rs".into(),
                kind: ToolKind::Edit,
                status: ToolStatus::InProgress,
                input: None,
            },
        });
        app.on_build_event(BuildEvent::Agent {
            update: AgentUpdate::ToolUpdate {
                id: "e1".into(),
                title: None,
                status: Some(ToolStatus::Completed),
                output: String::new(),
                diffs: vec![Diff {
                    path: "src/lib.rs".into(),
                    old: Some(old.clone()),
                    new: new.clone(),
                }],
            },
        });
        // Collapsed: the summary line.
        let collapsed = pane(&mut app, w);
        assert!(
            collapsed.contains("~ src/lib.rs +2 -2 (3 hunks; Enter expands)"),
            "{collapsed}"
        );
        // Expanded: the hunks with line numbers and the changed words.
        app.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        assert!(app.expanded());
        let screen = pane(&mut app, w);
        let text = screen.split("\n---\n").next().unwrap();
        let hunks = text.lines().filter(|l| l.trim_start().starts_with("@@ -"));
        assert_eq!(hunks.count(), 3, "{screen}");
        insta::assert_snapshot!(format!("diff_{w}"), screen);
    }
}
