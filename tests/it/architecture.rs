//! The README's architecture table says which module may use which; this checks every file's
//! `crate::…` paths against it, so the table stays true (and the arrows keep pointing one way).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The modules a row names in its first column and the ones it may use in its third.
struct Row {
    modules: Vec<String>,
    may_use: BTreeSet<String>,
    /// "everything below": every module of the rows after this one.
    everything_below: bool,
}

fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(|m| m.trim_end_matches('/').trim_end_matches(".rs").to_string())
        .collect()
}

fn table(readme: &str) -> Vec<Row> {
    let section = readme
        .split("\n## Architecture")
        .nth(1)
        .expect("the README has an Architecture section");
    section
        .lines()
        .skip_while(|l| !l.starts_with("| module"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            assert_eq!(cells.len(), 3, "a row of three cells: {line}");
            let uses = cells[2].trim_end_matches('|').trim();
            Row {
                modules: backticked(cells[0]),
                may_use: backticked(uses).into_iter().collect(),
                everything_below: uses.starts_with("everything below"),
            }
        })
        .collect()
}

/// The top-level module a file under `src/` belongs to (`orchestrator`, `frontend`, `main`).
fn module_of(rel: &Path) -> String {
    let top = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    top.trim_end_matches(".rs").to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file names through `crate::` (or `iteratr::` in `main.rs`),
/// including inside `use crate::{a, b::c}` groups.
fn uses(text: &str, root: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let prefix = format!("{root}::");
    for (i, _) in text.match_indices(&prefix) {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &text[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                    _ if depth == 0 => item.push(c),
                    _ => {}
                }
            }
            items.push(item);
            for item in items {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.insert(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

#[test]
fn every_module_uses_only_what_the_readmes_table_allows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let rows = table(&readme);
    let mut allowed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        let mut may: BTreeSet<String> = row.may_use.clone();
        if row.everything_below {
            may.extend(rows[i + 1..].iter().flat_map(|r| r.modules.clone()));
        }
        for m in &row.modules {
            allowed.insert(m.clone(), may.clone());
        }
    }

    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut modules: BTreeSet<String> = BTreeSet::new();
    for file in &files {
        modules.insert(module_of(file.strip_prefix(&src).unwrap()));
    }
    modules.remove("lib");
    let listed: BTreeSet<String> = allowed.keys().cloned().collect();
    let unlisted: Vec<&String> = modules
        .iter()
        .filter(|m| !listed.contains(*m) && !m.ends_with("_tests"))
        .collect();
    let gone: Vec<&String> = listed.iter().filter(|m| !modules.contains(*m)).collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "the README's architecture table should list every module in src/: missing {unlisted:?}, no longer there {gone:?}"
    );

    let mut wrong = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let module = module_of(rel);
        let test_file = rel.to_string_lossy().ends_with("_tests.rs");
        if module == "lib" || module.ends_with("_tests") || test_file {
            continue;
        }
        // Code only: a doc link to another module is no dependency, nor is a unit test module
        // at the end of a file (tests may reach further).
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        let text: String = code
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let root_name = if module == "main" { "iteratr" } else { "crate" };
        let may = &allowed[&module];
        for used in uses(&text, root_name) {
            if used == module || !modules.contains(&used) {
                continue;
            }
            if !may.contains(&used) {
                wrong.push(format!("{} uses `{used}`", rel.display()));
            }
            graph.entry(module.clone()).or_default().insert(used);
        }
    }
    assert!(
        wrong.is_empty(),
        "imports the README's architecture table does not allow (change the code, or the table if the arrow is right):\n{}",
        wrong.join("\n")
    );
    if let Some(cycle) = a_cycle(&graph) {
        panic!("modules use each other in a circle: {}", cycle.join(" -> "));
    }
}

/// A path that comes back to where it started, if the modules' uses have one.
fn a_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_checker_finds_a_circle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), BTreeSet::from([v.to_string()])))
        .collect();
    assert_eq!(a_cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
}

#[test]
fn the_checker_reads_groups_and_paths() {
    let text = "use crate::{session::{Event, Task}, store};\nlet x = crate::frontend::Op::Stop;\nfoo_crate::bar;";
    let found: Vec<String> = uses(text, "crate").into_iter().collect();
    assert_eq!(found, ["frontend", "session", "store"]);
}
