//! The settings files a sandboxed agent could write. Where `iteratr.toml`, `.iteratr.hooks.yml`
//! or `.iteratr.template` exist the sandbox makes them read-only, but where one does not the
//! agent may create it (its directory is the project), and the next build would run the hooks
//! declared there outside any sandbox. So a sandboxed build or worker records the three files as
//! they are when it starts (in the data dir, which the agent cannot write), and every later build
//! or worker of the project, sandboxed or not, compares them first: a file changed since is
//! refused, with the change shown, until the person looks and runs again with `--trust-settings`.
//! A sandboxed run that ends with the files as it found them leaves no record.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::places::PERSONS_FILES;

/// Where the records are, in the data dir: one file per running (or killed) sandboxed process.
const RECORDS: &str = "sandbox-settings";

/// The settings files as a sandboxed run found them: name → text (`None`: no such file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    started_at_ms: u64,
    pid: u32,
    files: BTreeMap<String, Option<String>>,
}

/// Settings files changed since a sandboxed run started: the build is refused (exit 2).
#[derive(Debug, thiserror::Error)]
#[error(
    "{} changed since a sandboxed build started ({}); its agent may have written {}, and hooks declared there run outside the sandbox. Look at the change:\n{diff}\nIf it is yours (or now looks right), run again with --trust-settings",
    names.join(", "),
    humantime::format_rfc3339_seconds(*since),
    if names.len() == 1 { "it" } else { "them" }
)]
pub struct Changed {
    pub names: Vec<String>,
    since: std::time::SystemTime,
    diff: String,
}

/// The three files in `project` now.
fn current(project: &Path) -> BTreeMap<String, Option<String>> {
    PERSONS_FILES
        .iter()
        .map(|name| {
            let text = std::fs::read(project.join(name))
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            ((*name).to_string(), text)
        })
        .collect()
}

fn records(data_dir: &Path) -> Vec<(PathBuf, Option<Record>)> {
    let Ok(dir) = std::fs::read_dir(data_dir.join(RECORDS)) else {
        return Vec::new();
    };
    dir.flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let record = std::fs::read(&p)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            (p, record)
        })
        .collect()
}

/// The files that differ between `was` and `now`.
fn changed(
    was: &BTreeMap<String, Option<String>>,
    now: &BTreeMap<String, Option<String>>,
) -> Vec<String> {
    now.iter()
        .filter(|(name, text)| was.get(*name) != Some(*text))
        .map(|(name, _)| name.clone())
        .collect()
}

/// What changed between `was` and `now`, as unified diffs of the files that differ.
fn diff(was: &BTreeMap<String, Option<String>>, now: &BTreeMap<String, Option<String>>) -> String {
    let mut out = String::new();
    for (name, now_text) in now {
        let before = was.get(name).cloned().flatten();
        if before.as_ref() == now_text.as_ref() {
            continue;
        }
        let (a, b) = (
            before.unwrap_or_default(),
            now_text.clone().unwrap_or_default(),
        );
        let text = similar::TextDiff::from_lines(&a, &b);
        out.push_str(
            &text
                .unified_diff()
                .context_radius(3)
                .header(&format!("{name} (then)"), &format!("{name} (now)"))
                .to_string(),
        );
    }
    out
}

/// A sandboxed run's record of the settings files, for [`Watch::end`].
pub struct Watch {
    record: Option<(PathBuf, Record)>,
    project: PathBuf,
}

/// Before a build or worker in `project` reads its settings: refused when a settings file
/// changed since a sandboxed run started (`trust` accepts the files as they are), and when this
/// run is `sandboxed` the files are recorded now.
pub fn begin(
    project: &Path,
    data_dir: &Path,
    sandboxed: bool,
    trust: bool,
) -> Result<Watch, Changed> {
    let now = current(project);
    for (path, record) in records(data_dir) {
        let Some(record) = record else {
            // Unreadable (a torn write): nothing to compare with.
            let _ = std::fs::remove_file(&path);
            continue;
        };
        if record.files != now && !trust {
            return Err(Changed {
                names: changed(&record.files, &now),
                since: std::time::UNIX_EPOCH
                    + std::time::Duration::from_millis(record.started_at_ms),
                diff: diff(&record.files, &now),
            });
        }
        // Accepted or unchanged: a record of a run that is over has nothing more to say.
        if record.files != now || !crate::process::runs(record.pid) {
            let _ = std::fs::remove_file(&path);
        }
    }
    let mut watch = Watch {
        record: None,
        project: project.to_path_buf(),
    };
    if sandboxed {
        let record = Record {
            started_at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            pid: std::process::id(),
            files: now,
        };
        let dir = data_dir.join(RECORDS);
        let path = dir.join(format!("{}.json", record.pid));
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            let tmp = dir.join(format!(".{}.json.tmp", record.pid));
            std::fs::write(&tmp, serde_json::to_vec(&record).unwrap_or_default())?;
            std::fs::rename(&tmp, &path)
        });
        match written {
            Ok(()) => watch.record = Some((path, record)),
            Err(e) => tracing::warn!(
                "cannot record the settings files at the sandboxed build's start in {}: {e}",
                dir.display()
            ),
        }
    }
    Ok(watch)
}

impl Watch {
    /// At the end of a sandboxed run: the record goes when the files are as it found them;
    /// otherwise it stays (the next build refuses them until the person trusts them) and the
    /// files that changed are returned, to be said.
    pub fn end(self) -> Vec<String> {
        let Some((path, record)) = self.record else {
            return Vec::new();
        };
        let now = current(&self.project);
        if now == record.files {
            let _ = std::fs::remove_file(path);
            return Vec::new();
        }
        changed(&record.files, &now)
    }
}

#[cfg(test)]
#[path = "settings_guard_tests.rs"]
mod tests;
