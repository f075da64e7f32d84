//! What workers need from git: a worktree per worker on its own branch, a rebase onto the
//! integration branch, and moving that branch by compare-and-set: `git update-ref` with the old
//! value locally, a push without force to a remote. Nothing is ever forced, no untracked file is
//! deleted, and a worktree is removed only when it is clean.

use std::path::{Path, PathBuf};

use super::{GitError, Repo, git, rev_parse};

/// Where the workers' finished work goes: a branch of the project's repository, moved by
/// compare-and-set, or the same branch on a remote, moved by a push without force.
#[derive(Debug, Clone)]
pub(crate) struct Integration {
    /// The project's repository (its main checkout).
    pub repo: PathBuf,
    pub branch: String,
    pub remote: Option<String>,
}

/// How a rebase went.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rebase {
    Done,
    /// Stopped on conflicts in these files (the rebase waits for them to be resolved).
    Conflict(Vec<String>),
}

/// The untracked files git names as in the way of a checkout (`\tPATH` lines of its message).
fn in_the_way(e: &GitError) -> Vec<String> {
    let GitError::Failed { message, .. } = e else {
        return Vec::new();
    };
    if !message.contains("untracked working tree files would be") {
        return Vec::new();
    }
    message
        .lines()
        .filter_map(|l| l.strip_prefix('\t'))
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn is_conflict_stop(e: &GitError) -> bool {
    matches!(e, GitError::Failed { message, .. }
        if message.contains("CONFLICT") || message.contains("could not apply") || message.contains("Resolve all conflicts"))
}

impl Integration {
    /// The integration branch's commit now (on the remote, after fetching it into `worktree`).
    pub(crate) async fn tip(&self, worktree: &Path) -> Result<String, GitError> {
        match &self.remote {
            None => rev_parse(&self.repo, &format!("refs/heads/{}", self.branch)).await,
            Some(remote) => {
                // Into this worktree's own FETCH_HEAD only: the remote-tracking refs are shared
                // by every worktree, and workers fetching at once would fight over their lock.
                let refspec = format!("refs/heads/{}", self.branch);
                let mut last = None;
                for attempt in 0..3u64 {
                    match git(
                        worktree,
                        &["fetch", "--quiet", "--refmap=", remote, &refspec],
                        None,
                    )
                    .await
                    {
                        Ok(_) => return rev_parse(worktree, "FETCH_HEAD").await,
                        Err(e) => last = Some(e),
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200 * (attempt + 1))).await;
                }
                Err(last.unwrap_or(GitError::Failed {
                    args: "fetch".into(),
                    message: "failed".into(),
                }))
            }
        }
    }

    /// Moves the integration branch from `old` to `new`; false when it no longer points at `old`
    /// (another worker moved it first: fetch, rebase and try again).
    pub(crate) async fn advance(
        &self,
        worktree: &Path,
        old: &str,
        new: &str,
    ) -> Result<bool, GitError> {
        let result = match &self.remote {
            None => {
                let name = format!("refs/heads/{}", self.branch);
                git(
                    &self.repo,
                    &["update-ref", "-m", "iteratr: integrate", &name, new, old],
                    None,
                )
                .await
            }
            Some(remote) => {
                let refspec = format!("{new}:refs/heads/{}", self.branch);
                git(worktree, &["push", "--quiet", remote, &refspec], None).await
            }
        };
        match result {
            Ok(_) => Ok(true),
            Err(GitError::Failed { message, .. })
                if message.contains("but expected")
                    || message.contains("cannot lock ref")
                    || message.contains("rejected")
                    || message.contains("non-fast-forward")
                    || message.contains("fetch first") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Brings the main checkout's files along after the branch it has checked out moved from
    /// `old` to `new` (a two-tree merge: the person's own changes there are kept).
    pub(crate) async fn follow_in_checkout(&self, old: &str, new: &str) -> Result<(), GitError> {
        if self.remote.is_some() {
            return Ok(());
        }
        let head = git(&self.repo, &["symbolic-ref", "--quiet", "HEAD"], None).await;
        if head.ok().as_deref().map(str::trim) != Some(&format!("refs/heads/{}", self.branch)) {
            return Ok(());
        }
        git(&self.repo, &["read-tree", "-m", "-u", old, new], None)
            .await
            .map(drop)
    }
}

/// Makes `root` (a directory inside the project) ready to hold worktrees under `group`: both
/// created, and a `.gitignore` at the root so that git in the project does not list the
/// worktrees as untracked (nor `git add -A` take them as embedded repositories). Returns the
/// group's directory.
pub(crate) fn prepare_worktrees_root(root: &Path, group: &str) -> std::io::Result<PathBuf> {
    let dir = root.join(group);
    std::fs::create_dir_all(&dir)?;
    let ignore = root.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(
            &ignore,
            "# iteratr's worker worktrees: not part of the project\n*\n",
        )?;
    }
    Ok(dir)
}

/// The git directory of the linked worktree at `worktree` (its `.git` file says `gitdir: DIR`);
/// `None` for a main checkout or no repository.
fn linked_git_dir(worktree: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(worktree.join(".git")).ok()?;
    text.strip_prefix("gitdir:")
        .map(|d| PathBuf::from(d.trim()))
}

impl Repo {
    /// A worktree at `path` on `branch`: the existing one, or a new one whose branch starts at
    /// `start` (or continues the branch when it exists, from an earlier run).
    pub(crate) async fn add_worktree(
        &self,
        path: &Path,
        branch: &str,
        start: &str,
    ) -> Result<Repo, GitError> {
        let dir = path.display().to_string();
        if path.join(".git").exists() {
            self.finish_interrupted_add(path).await?;
        } else {
            let exists = rev_parse(&self.top, &format!("refs/heads/{branch}"))
                .await
                .is_ok();
            if exists {
                git(
                    &self.top,
                    &["worktree", "add", "--quiet", &dir, branch],
                    None,
                )
                .await?;
            } else {
                git(
                    &self.top,
                    &["worktree", "add", "--quiet", "-b", branch, &dir, start],
                    None,
                )
                .await?;
            }
        }
        let top = path.canonicalize().map_err(GitError::Spawn)?;
        Ok(Repo {
            top,
            excluded: Vec::new(),
        })
    }

    /// A `git worktree add` killed half way leaves its worktree locked ("initializing"), which
    /// no later `git worktree remove` passes, and maybe not checked out (no index yet): the lock
    /// goes, and a worktree never checked out is, now.
    async fn finish_interrupted_add(&self, path: &Path) -> Result<(), GitError> {
        let Some(admin) = linked_git_dir(path) else {
            return Ok(());
        };
        let locked = std::fs::read_to_string(admin.join("locked")).unwrap_or_default();
        if locked.trim() != "initializing" {
            return Ok(());
        }
        let dir = path.display().to_string();
        git(&self.top, &["worktree", "unlock", &dir], None).await?;
        if !admin.join("index").exists() {
            git(path, &["reset", "--quiet", "--hard"], None).await?;
        }
        Ok(())
    }

    /// Removes the worktree at `path` if it holds no change and no untracked file; true when
    /// removed. Its branch goes too when the integration branch has all of it.
    pub(crate) async fn remove_worktree_if_clean(
        &self,
        path: &Path,
        branch: &str,
        merged_into: &str,
    ) -> Result<bool, GitError> {
        self.finish_interrupted_add(path).await?;
        let status = git(
            path,
            &["status", "--porcelain", "--untracked-files=all"],
            None,
        )
        .await?;
        if !status.trim().is_empty() {
            return Ok(false);
        }
        let dir = path.display().to_string();
        git(&self.top, &["worktree", "remove", &dir], None).await?;
        let merged = git(
            &self.top,
            &["merge-base", "--is-ancestor", branch, merged_into],
            None,
        )
        .await
        .is_ok();
        if merged {
            git(&self.top, &["branch", "--quiet", "-D", branch], None).await?;
        }
        Ok(true)
    }

    /// Replays this branch's own commits onto `onto` (changes not committed are put aside and
    /// back, so they never block it).
    pub(crate) async fn rebase(&self, onto: &str) -> Result<Rebase, GitError> {
        let mut moved_aside = false;
        loop {
            match git(&self.top, &["rebase", "--quiet", "--autostash", onto], None).await {
                Ok(_) => return Ok(Rebase::Done),
                Err(e) if is_conflict_stop(&e) => {
                    return Ok(Rebase::Conflict(self.conflicted().await?));
                }
                Err(e) if !moved_aside && !in_the_way(&e).is_empty() => {
                    self.move_aside(&in_the_way(&e))?;
                    moved_aside = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves files git found in its way (untracked, where the other side has them) into
    /// `iteratr-aside/<time>/` in this worktree's git directory: kept, out of the way.
    fn move_aside(&self, files: &[String]) -> Result<(), GitError> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let git_dir = linked_git_dir(&self.top).unwrap_or_else(|| self.top.join(".git"));
        let aside = git_dir.join("iteratr-aside").join(stamp.to_string());
        for file in files {
            let from = self.top.join(file);
            if !from.starts_with(&self.top) || file.contains("..") {
                continue;
            }
            let to = aside.join(file);
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir).map_err(GitError::Spawn)?;
            }
            std::fs::rename(&from, &to).map_err(GitError::Spawn)?;
        }
        Ok(())
    }

    /// After the conflicted files were edited: stages them and goes on with the rebase.
    pub(crate) async fn continue_rebase(&self, files: &[String]) -> Result<Rebase, GitError> {
        let mut add = vec!["add", "--"];
        add.extend(files.iter().map(String::as_str));
        git(&self.top, &add, None).await?;
        match git(&self.top, &["rebase", "--continue"], None).await {
            Ok(_) => Ok(Rebase::Done),
            Err(e) if is_conflict_stop(&e) => Ok(Rebase::Conflict(self.conflicted().await?)),
            Err(e) => {
                // Resolving may leave a commit with nothing in it: skip it.
                let nothing = matches!(&e, GitError::Failed { message, .. }
                    if message.contains("nothing to commit") || message.contains("No changes"));
                if !nothing {
                    return Err(e);
                }
                match git(&self.top, &["rebase", "--skip"], None).await {
                    Ok(_) => Ok(Rebase::Done),
                    Err(e) if is_conflict_stop(&e) => {
                        Ok(Rebase::Conflict(self.conflicted().await?))
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Keeps this branch's work under `keep` (a new branch) and moves this branch back to
    /// `tip`; files not committed and untracked files stay as they are.
    pub(crate) async fn park(&self, keep: &str, tip: &str) -> Result<(), GitError> {
        git(&self.top, &["branch", "--force", keep, "HEAD"], None).await?;
        // What no commit holds (an agent still writing as its claim ended) goes to the stash,
        // so that it neither blocks the reset nor stays behind for the next task.
        self.stash_leftovers(&format!("iteratr: uncommitted work set aside with {keep}"))
            .await?;
        if git(&self.top, &["reset", "--quiet", "--keep", tip], None)
            .await
            .is_ok()
        {
            return Ok(());
        }
        // Files git still finds in the way (an agent writing as its claim ended): the work is on
        // `keep` and in the stash, so the worker's own worktree goes to `tip` as it is.
        git(&self.top, &["reset", "--quiet", "--hard", tip], None)
            .await
            .map(drop)
    }

    pub(crate) async fn abort_rebase(&self) -> Result<(), GitError> {
        git(&self.top, &["rebase", "--abort"], None).await.map(drop)
    }

    /// Files with unresolved conflicts.
    pub(crate) async fn conflicted(&self) -> Result<Vec<String>, GitError> {
        let out = git(
            &self.top,
            &["diff", "--name-only", "-z", "--diff-filter=U"],
            None,
        )
        .await?;
        Ok(out
            .split('\0')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Files among `files` that still hold conflict markers.
    pub(crate) fn still_marked(&self, files: &[String]) -> Vec<String> {
        files
            .iter()
            .filter(|f| {
                std::fs::read_to_string(self.top.join(f)).is_ok_and(|text| {
                    text.lines().any(|l| {
                        l.starts_with("<<<<<<< ") || l.starts_with(">>>>>>> ") || l == "======="
                    })
                })
            })
            .cloned()
            .collect()
    }
}

/// How old a lock of the shared repository must be to be taken as left by a killed git.
const STALE_LOCK: std::time::Duration = std::time::Duration::from_secs(60);

/// A commit's id and subject, and the task iteratr made it for (its `Iteratr-Task` trailer).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Commit {
    pub id: String,
    pub subject: String,
    pub task: Option<String>,
}

impl Commit {
    /// Made by a worker for `task` (`TAS-n`), as its `Iteratr-Task` trailer says.
    pub(crate) fn is_for(&self, task: &str) -> bool {
        self.task.as_deref() == Some(task)
    }
}

impl Repo {
    /// The commits of `range` (`A..B`, or a commit and its history), newest first; with
    /// `session`, only those iteratr made for that session (its `Iteratr-Session` trailer).
    pub(crate) async fn commits(
        &self,
        range: &str,
        session: Option<&str>,
    ) -> Result<Vec<Commit>, GitError> {
        let out = git(
            &self.top,
            &[
                "log",
                "--format=%H%x1f%s%x1f%(trailers:key=Iteratr-Session,valueonly,separator=%x2c)%x1f%(trailers:key=Iteratr-Task,valueonly,separator=%x2c)%x1e",
                range,
                "--",
            ],
            None,
        )
        .await?;
        Ok(out
            .split('\x1e')
            .filter_map(|record| {
                let mut fields = record.trim().split('\x1f');
                let (id, subject, trailer) = (fields.next()?, fields.next()?, fields.next()?);
                let task = fields.next().map(str::trim).filter(|t| !t.is_empty());
                let ours = session.is_none_or(|s| trailer.split(',').any(|t| t.trim() == s));
                (!id.is_empty() && ours).then(|| Commit {
                    id: id.to_string(),
                    subject: subject.to_string(),
                    task: task.map(str::to_string),
                })
            })
            .collect())
    }

    /// Puts what the worktree holds and no commit has (a worker killed mid-iteration left it) in
    /// git's stash, with `message`; true when there was something to put away.
    pub(crate) async fn stash_leftovers(&self, message: &str) -> Result<bool, GitError> {
        let status = git(
            &self.top,
            &["status", "--porcelain", "--untracked-files=all"],
            None,
        )
        .await?;
        if status.trim().is_empty() {
            return Ok(false);
        }
        git(
            &self.top,
            &[
                "stash",
                "push",
                "--quiet",
                "--include-untracked",
                "-m",
                message,
            ],
            None,
        )
        .await?;
        Ok(true)
    }
}

impl Repo {
    /// The branches under `prefix` (`refs/heads/iteratr/demo/`), by short name.
    pub(crate) async fn branches(&self, prefix: &str) -> Result<Vec<String>, GitError> {
        let out = git(
            &self.top,
            &["for-each-ref", "--format=%(refname:short)", prefix],
            None,
        )
        .await?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// Deletes `branch` (refused by git while a worktree has it checked out).
    pub(crate) async fn delete_branch(&self, branch: &str) -> Result<(), GitError> {
        git(&self.top, &["branch", "--quiet", "-D", branch], None)
            .await
            .map(drop)
    }
}

impl Repo {
    /// Removes a `packed-refs.lock` of the repository all worktrees share that a killed git left:
    /// only one old enough (another process may be using the repository now); true if removed.
    pub(crate) async fn drop_stale_shared_locks(&self) -> Result<bool, GitError> {
        let common = git(&self.top, &["rev-parse", "--git-common-dir"], None).await?;
        let packed = self.top.join(common.trim()).join("packed-refs.lock");
        let stale = std::fs::metadata(&packed)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_LOCK);
        if stale {
            std::fs::remove_file(&packed).map_err(GitError::Spawn)?;
        }
        Ok(stale)
    }

    /// Undoes what git, killed halfway (with the worker that ran it), left in this worktree: a
    /// stale `index.lock` and a rebase stopped in the middle (aborted: the branch goes back to
    /// where it was). Only for a worktree nothing else uses: a worker's own, as it starts.
    pub(crate) async fn recover_after_kill(&self) -> Result<Vec<&'static str>, GitError> {
        let dir = git(&self.top, &["rev-parse", "--absolute-git-dir"], None).await?;
        let dir = PathBuf::from(dir.trim());
        let mut done = Vec::new();
        let lock = dir.join("index.lock");
        if lock.exists() {
            std::fs::remove_file(&lock).map_err(GitError::Spawn)?;
            done.push("removed the index.lock a killed git left");
        }
        if self.drop_stale_shared_locks().await? {
            done.push("removed the packed-refs.lock a killed git left");
        }
        if dir.join("rebase-merge").exists() || dir.join("rebase-apply").exists() {
            self.abort_rebase().await?;
            done.push("aborted the rebase a killed worker left halfway");
        }
        Ok(done)
    }
}

impl Repo {
    /// Moves the worktree at `dir` (of a worker that is gone, holding changes git cannot stash)
    /// out of the way, files and all, into `iteratr-aside/` in the repository's git directory, and
    /// forgets it as a worktree; returns where it went.
    pub(crate) async fn set_worktree_aside(&self, dir: &Path) -> Result<PathBuf, GitError> {
        let common = git(&self.top, &["rev-parse", "--git-common-dir"], None).await?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let name = dir
            .file_name()
            .map_or_else(|| "worktree".into(), |n| n.to_string_lossy().into_owned());
        let aside = self
            .top
            .join(common.trim())
            .join("iteratr-aside")
            .join(format!("{name}-{stamp}"));
        if let Some(parent) = aside.parent() {
            std::fs::create_dir_all(parent).map_err(GitError::Spawn)?;
        }
        std::fs::rename(dir, &aside).map_err(GitError::Spawn)?;
        git(&self.top, &["worktree", "prune"], None).await?;
        Ok(aside)
    }
}

impl Repo {
    /// The paths with changes no commit holds (modified, added, deleted or untracked).
    pub(crate) async fn uncommitted(&self) -> Result<Vec<String>, GitError> {
        let out = git(
            &self.top,
            &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
            None,
        )
        .await?;
        let mut paths = Vec::new();
        let mut entries = out.split('\0').filter(|e| e.len() > 3);
        while let Some(entry) = entries.next() {
            let (code, path) = entry.split_at(3);
            paths.push(path.to_string());
            // A rename names its source next.
            if code.starts_with('R') || code.starts_with('C') {
                entries.next();
            }
        }
        Ok(paths)
    }
}
