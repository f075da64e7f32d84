//! The project's git repository, through the git command line: what an iteration changed, and a
//! commit of exactly that. iteratr never pushes, never commits what was already dirty or
//! untracked before the iteration, never its own data dir, and leaves a repository in the middle
//! of a merge, rebase, cherry-pick or revert alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

#[cfg(test)]
mod leftovers_tests;
mod worktree;
pub(crate) use worktree::{Integration, Rebase, prepare_worktrees_root};

/// A working tree's changes: path (relative to the top) → what git says plus a content stamp.
pub(crate) type Snapshot = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub(crate) enum GitError {
    #[error("git {args} failed: {message}")]
    Failed { args: String, message: String },
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
}

impl GitError {
    /// A fetch failed: the remote could not be reached or read just now (worth trying again).
    pub(crate) fn is_fetch(&self) -> bool {
        matches!(self, GitError::Failed { args, .. } if args == "fetch")
    }
}

/// A repository iteratr may commit in.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    pub top: PathBuf,
    /// Paths never committed (the data dir), relative to `top`, with a trailing `/`.
    excluded: Vec<String>,
}

pub(crate) async fn git(
    dir: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
) -> Result<String, GitError> {
    // Its own process group, killed with iteratr (a commit, a rebase or a push runs the
    // repository's hooks).
    let argv: Vec<String> = std::iter::once("git")
        .chain(args.iter().copied())
        .map(str::to_string)
        .collect();
    let commit = matches!(args.first(), Some(&("commit" | "rebase" | "push")));
    let made = if commit {
        crate::process::guarded_command(&argv, dir)
    } else {
        crate::process::command(&argv, dir).map(crate::process::GuardedCommand::from)
    };
    let Some(mut made) = made else {
        return Err(GitError::Spawn(std::io::Error::other("empty git command")));
    };
    // Paths are paths, never patterns; but not for `stash`, whose push with untracked files
    // cleans them with a pathspec of its own (`:/`), which literal pathspecs turn into nothing:
    // the leftovers were stashed and stayed too (a chaos run found a task's line added twice).
    if args.first() != Some(&"stash") {
        made.cmd.env("GIT_LITERAL_PATHSPECS", "1");
    }
    made.cmd
        // No pager, no prompts.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PAGER", "cat")
        // A rebase that goes on keeps its messages; nothing waits for an editor.
        .env("GIT_EDITOR", "true")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // What a commit hook starts goes with git if iteratr dies.
    let (mut child, _group) = made.spawn().map_err(GitError::Spawn)?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).await.map_err(GitError::Spawn)?;
        drop(pipe);
    }
    let out = child.wait_with_output().await.map_err(GitError::Spawn)?;
    if !out.status.success() {
        let mut message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if message.is_empty() {
            message = String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        return Err(GitError::Failed {
            args: args.first().copied().unwrap_or_default().to_string(),
            message,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The commit `rev` names in `dir`.
pub(crate) async fn rev_parse(dir: &Path, rev: &str) -> Result<String, GitError> {
    let arg = format!("{rev}^{{commit}}");
    Ok(git(dir, &["rev-parse", "--verify", "--quiet", &arg], None)
        .await?
        .trim()
        .to_string())
}

/// The branch checked out in `dir` and whether tracked files have changes (what the status bar
/// shows), or None outside a repository.
pub(crate) async fn branch_status(dir: &Path) -> Option<(String, bool)> {
    let branch = git(dir, &["rev-parse", "--abbrev-ref", "HEAD"], None)
        .await
        .ok()?;
    let dirty = git(
        dir,
        &["status", "--porcelain", "--untracked-files=no"],
        None,
    )
    .await
    .is_ok_and(|out| !out.is_empty());
    Some((branch.trim().to_string(), dirty))
}

/// What commit `hash` (hex digits only) holds, as `git show` prints it with its patch and stats:
/// no colour, no external diff drivers or text conversions (nothing the repository configures
/// runs), at most `max` bytes (cut at a line, saying so).
pub(crate) async fn show_commit(dir: &Path, hash: &str, max: usize) -> Result<String, GitError> {
    if hash.is_empty() || hash.len() > 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(GitError::Failed {
            args: "show".into(),
            message: format!("{hash:?} is not a commit hash (hex digits)"),
        });
    }
    let arg = format!("{hash}^{{commit}}");
    let mut text = git(
        dir,
        &[
            "show",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--stat",
            "--patch",
            "--format=fuller",
            &arg,
            "--",
        ],
        None,
    )
    .await?;
    if text.len() > max {
        let mut cut = text[..max].rfind('\n').unwrap_or(0);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let left = text.len() - cut;
        text.truncate(cut);
        text.push_str(&format!(
            "\n… ({left} bytes more; `git show {hash}` prints it all)\n"
        ));
    }
    Ok(text)
}

impl Repo {
    /// The branch checked out in this working tree, if any (not a detached HEAD).
    pub(crate) async fn current_branch(&self) -> Option<String> {
        git(
            &self.top,
            &["symbolic-ref", "--quiet", "--short", "HEAD"],
            None,
        )
        .await
        .ok()
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty())
    }

    /// The commit checked out.
    pub(crate) async fn head(&self) -> Result<String, GitError> {
        rev_parse(&self.top, "HEAD").await
    }

    /// The repository whose working tree is at `top` (a worktree found on disk), as it is.
    pub(crate) fn at(top: PathBuf) -> Repo {
        Repo {
            top,
            excluded: Vec::new(),
        }
    }

    /// Whether `commit` is already in this working tree's history.
    pub(crate) async fn contains(&self, commit: &str) -> bool {
        git(
            &self.top,
            &["merge-base", "--is-ancestor", commit, "HEAD"],
            None,
        )
        .await
        .is_ok()
    }

    /// The repository `dir` is in, if any (and git is installed).
    pub(crate) async fn discover(dir: &Path, never_commit: &[PathBuf]) -> Option<Repo> {
        let top = git(dir, &["rev-parse", "--show-toplevel"], None)
            .await
            .ok()?;
        let top = PathBuf::from(top.trim()).canonicalize().ok()?;
        let excluded = never_commit
            .iter()
            .filter_map(|p| {
                let abs = if p.is_absolute() {
                    p.clone()
                } else {
                    dir.join(p)
                };
                let abs = abs.canonicalize().unwrap_or(abs);
                let rel = abs.strip_prefix(&top).ok()?;
                Some(format!("{}/", rel.display()))
            })
            .collect();
        Some(Repo { top, excluded })
    }

    /// The operation in progress that makes committing wrong, if any.
    pub(crate) async fn operation_in_progress(&self) -> Option<&'static str> {
        for (marker, what) in [
            ("MERGE_HEAD", "a merge"),
            ("rebase-merge", "a rebase"),
            ("rebase-apply", "a rebase"),
            ("CHERRY_PICK_HEAD", "a cherry-pick"),
            ("REVERT_HEAD", "a revert"),
        ] {
            let Ok(path) = git(&self.top, &["rev-parse", "--git-path", marker], None).await else {
                continue;
            };
            if self.top.join(path.trim()).exists() {
                return Some(what);
            }
        }
        None
    }

    /// What is changed or untracked now (ignored files are not listed), each with a stamp of
    /// its content, so a file already dirty before counts as changed only if it changed again.
    pub(crate) async fn snapshot(&self) -> Result<Snapshot, GitError> {
        let out = git(
            &self.top,
            &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
            None,
        )
        .await?;
        let mut entries = out.split('\0').filter(|e| !e.is_empty());
        let mut snapshot = Snapshot::new();
        while let Some(entry) = entries.next() {
            let (code, path) = entry.split_at(entry.len().min(3));
            // A rename names its source next; the destination is the change.
            if code.starts_with('R') || code.starts_with('C') {
                entries.next();
            }
            let stamp = std::fs::metadata(self.top.join(path))
                .map(|m| {
                    let modified = m
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    format!("{modified}:{}", m.len())
                })
                .unwrap_or_else(|_| "gone".into());
            snapshot.insert(path.to_string(), format!("{}{stamp}", code.trim()));
        }
        Ok(snapshot)
    }

    /// The paths an iteration changed: in `after` and new or different since `before`, never
    /// an untracked file that existed before, never under an excluded directory.
    pub(crate) fn changed(&self, before: &Snapshot, after: &Snapshot) -> Vec<String> {
        after
            .iter()
            .filter(|(path, state)| before.get(*path) != Some(state))
            .filter(|(path, _)| !before.get(*path).is_some_and(|was| was.starts_with("??")))
            .filter(|(path, _)| !self.excluded.iter().any(|x| path.starts_with(x.as_str())))
            .map(|(path, _)| path.clone())
            .collect()
    }

    /// Stages `paths` and commits only them with `message` (read from stdin, never a command
    /// line); returns the new commit's hash.
    pub(crate) async fn commit(&self, paths: &[String], message: &str) -> Result<String, GitError> {
        let mut add = vec!["add", "--all", "--"];
        add.extend(paths.iter().map(String::as_str));
        git(&self.top, &add, None).await?;
        let mut commit = vec!["commit", "--quiet", "--file=-", "--only", "--"];
        commit.extend(paths.iter().map(String::as_str));
        git(&self.top, &commit, Some(message.as_bytes())).await?;
        Ok(git(&self.top, &["rev-parse", "HEAD"], None)
            .await?
            .trim()
            .to_string())
    }
}
