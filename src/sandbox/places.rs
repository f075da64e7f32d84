//! The places of one agent in the sandbox: its project, the data dir and the repository's git
//! directories, the home, the agent's own state directories, what the person added.

use std::path::{Path, PathBuf};

use super::policy::{Places, Policy};

/// `path` with its symbolic links resolved (bubblewrap mounts what a path names), or as given
/// when it does not exist.
fn real(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A path a person wrote in the settings: `~/` is the home, a relative path is the project's.
fn expand(path: &Path, home: Option<&Path>, project: &Path) -> PathBuf {
    if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), home) {
        return home.join(rest);
    }
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        project.join(path)
    }
}

/// What the person configured in the project, which runs outside the sandbox (hooks) or shapes
/// the prompt: read-only where it exists (`config::PROJECT_FILE`, `config::legacy_hooks`, the
/// template `build` picks up).
pub(super) const PERSONS_FILES: [&str; 3] =
    ["iteratr.toml", ".iteratr.hooks.yml", ".iteratr.template"];

/// Which agent a command starts, for its state directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Opencode,
    ClaudeCode,
    Other,
}

fn known(agent: &[String]) -> Known {
    let names: Vec<String> = agent
        .iter()
        .take(3)
        .filter_map(|w| Path::new(w).file_name())
        .map(|n| n.to_string_lossy().to_lowercase())
        .collect();
    if names
        .iter()
        .any(|n| n == "opencode" || n.starts_with("opencode-") || n.starts_with("opencode@"))
    {
        Known::Opencode
    } else if agent
        .iter()
        .take(3)
        .any(|w| w.to_lowercase().contains("claude"))
    {
        // `claude-code-acp`, or `node …/claude-code-acp/dist/index.js`.
        Known::ClaudeCode
    } else {
        Known::Other
    }
}

/// The state directories (sessions, caches, settings) of the agent `agent` starts, when iteratr
/// knows it: only its own, never another agent's (Claude Code's hold its credentials).
fn agent_state(
    agent: &[String],
    home: Option<&Path>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Vec<PathBuf> {
    match known(agent) {
        Known::Opencode => [
            ("XDG_DATA_HOME", ".local/share"),
            ("XDG_CONFIG_HOME", ".config"),
            ("XDG_CACHE_HOME", ".cache"),
            ("XDG_STATE_HOME", ".local/state"),
        ]
        .into_iter()
        .filter_map(|(name, default)| {
            var(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| home.map(|h| h.join(default)))
        })
        .map(|base| base.join("opencode"))
        .collect(),
        Known::ClaudeCode => var("CLAUDE_CONFIG_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.map(|h| h.join(".claude")))
            .into_iter()
            .collect(),
        Known::Other => Vec::new(),
    }
}

/// The git directories of the repository `project` is in: `.git` (a directory, or the file of a
/// worktree with the directory it names and the main repository's), none outside a repository.
fn git_dirs(project: &Path) -> Vec<PathBuf> {
    let Some(dot_git) = project
        .ancestors()
        .map(|d| d.join(".git"))
        .find(|g| g.exists())
    else {
        return Vec::new();
    };
    let mut dirs = vec![dot_git.clone()];
    if dot_git.is_file() {
        let named = std::fs::read_to_string(&dot_git).ok().and_then(|text| {
            let dir = PathBuf::from(text.trim().strip_prefix("gitdir:")?.trim());
            Some(if dir.is_absolute() {
                dir
            } else {
                dot_git.parent()?.join(dir)
            })
        });
        if let Some(gitdir) = named {
            if let Ok(common) = std::fs::read_to_string(gitdir.join("commondir")) {
                dirs.push(real(&gitdir.join(common.trim())));
            }
            dirs.push(real(&gitdir));
        }
    }
    dirs
}

/// Where the agent's command lives, to be readable wherever it is installed (a home's
/// `~/.npm-global`, say): for its program (found on `PATH`) and the files its first arguments
/// name (`node ~/agents/agent.js`), the directory named and, links resolved, the file's directory
/// and the one above it (a package's root); and iteratr's own binary, which the prompt may name
/// (`{{binary}}`) and an agent that takes MCP only over stdio runs. Never the home itself or
/// what holds it.
fn agent_files(
    agent: &[String],
    var: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Vec<PathBuf> {
    let program = agent.first().and_then(|p| {
        if p.contains('/') {
            Some(PathBuf::from(p))
        } else {
            let path = var("PATH")?;
            std::env::split_paths(&path)
                .map(|d| d.join(p))
                .find(|f| f.is_file())
        }
    });
    let named = agent
        .iter()
        .skip(1)
        .take(2)
        .map(PathBuf::from)
        .filter(|p| p.is_file());
    let mut dirs = Vec::new();
    let iteratr = std::env::current_exe().ok();
    for file in program.into_iter().chain(named).chain(iteratr) {
        let file = std::path::absolute(&file).unwrap_or(file);
        let target = real(&file);
        dirs.extend(file.parent().map(Path::to_path_buf));
        dirs.extend(target.ancestors().skip(1).take(2).map(Path::to_path_buf));
    }
    dirs.retain(|d| d.parent().is_some() && !home.is_some_and(|h| h.starts_with(d)));
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Where things are for one agent.
pub(super) fn places(
    agent: &[String],
    cwd: &Path,
    protected: &[PathBuf],
    var: &dyn Fn(&str) -> Option<String>,
    policy: &Policy,
) -> Result<Places, String> {
    let project = std::fs::canonicalize(cwd)
        .map_err(|e| format!("cannot find the project directory {}: {e}", cwd.display()))?;
    let home = var("HOME").map(PathBuf::from).map(|h| real(&h));
    let home = home.filter(|h| h.is_absolute() && h.parent().is_some());
    let mut agent_dirs = Vec::new();
    for dir in agent_state(agent, home.as_deref(), var) {
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| {
                format!(
                    "cannot create the agent's state directory {}: {e}",
                    dir.display()
                )
            })?;
        }
        agent_dirs.push(real(&dir));
    }
    // The data dir is relative to where iteratr runs (a worker's agent runs elsewhere).
    let mut protected: Vec<PathBuf> = protected
        .iter()
        .map(|p| real(&std::path::absolute(p).unwrap_or_else(|_| p.clone())))
        .collect();
    protected.extend(git_dirs(&project));
    protected.extend(PERSONS_FILES.iter().map(|f| project.join(f)));
    let sockets = ["SSH_AUTH_SOCK", "GPG_AGENT_INFO"]
        .into_iter()
        .filter_map(var)
        .map(|s| PathBuf::from(s.split(':').next().unwrap_or_default()))
        .filter(|p| p.is_absolute())
        .collect();
    let policy_path = |p: &PathBuf| real(&expand(p, home.as_deref(), &project));
    let readable = policy
        .readable
        .iter()
        .map(policy_path)
        .chain(agent_files(agent, var, home.as_deref()))
        .collect();
    let agent_state = agent_dirs
        .into_iter()
        .chain(policy.writable.iter().map(policy_path))
        .collect();
    // Claude Code keeps `~/.claude.json` beside `~/.claude/`, rewriting it (and backups) in the
    // home, which is read-only here; with CLAUDE_CONFIG_DIR both are in that directory.
    let mut set_env = Vec::new();
    if known(agent) == Known::ClaudeCode
        && var("CLAUDE_CONFIG_DIR").is_none()
        && let Some(home) = &home
    {
        let dir = home.join(".claude").display().to_string();
        set_env.push(("CLAUDE_CONFIG_DIR".to_string(), dir));
    }
    Ok(Places {
        project,
        protected,
        readable,
        agent_state,
        runtime_dir: var("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|p| real(&p)),
        home,
        sockets,
        set_env,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn knows_the_agents_by_their_command() {
        assert_eq!(known(&words(&["opencode", "acp"])), Known::Opencode);
        assert_eq!(
            known(&words(&["/opt/bin/opencode-linux-x64", "acp"])),
            Known::Opencode
        );
        assert_eq!(
            known(&words(&["npx", "@zed-industries/claude-code-acp"])),
            Known::ClaudeCode
        );
        assert_eq!(
            known(&words(&["node", "/opt/claude-code-acp/dist/index.js"])),
            Known::ClaudeCode
        );
        assert_eq!(known(&words(&["gemini", "--acp"])), Known::Other);
    }

    #[test]
    fn the_agents_state_follows_xdg_and_home() {
        let home = Path::new("/home/ana");
        let var = |n: &str| (n == "XDG_DATA_HOME").then(|| "/data".to_string());
        let dirs = agent_state(&words(&["opencode", "acp"]), Some(home), &var);
        let want = |d: &[&str]| d.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(
            dirs,
            want(&[
                "/data/opencode",
                "/home/ana/.config/opencode",
                "/home/ana/.cache/opencode",
                "/home/ana/.local/state/opencode"
            ])
        );
        let dirs = agent_state(&words(&["claude-code-acp"]), Some(home), &|_| None);
        assert_eq!(dirs, want(&["/home/ana/.claude"]));
        let var = |n: &str| (n == "CLAUDE_CONFIG_DIR").then(|| "/cfg/claude".to_string());
        let dirs = agent_state(&words(&["claude-code-acp"]), Some(home), &var);
        assert_eq!(dirs, want(&["/cfg/claude"]));
        assert!(agent_state(&words(&["gemini", "--acp"]), Some(home), &var).is_empty());
    }

    #[test]
    fn settings_paths_are_the_homes_or_the_projects() {
        let (home, project) = (Path::new("/home/ana"), Path::new("/work/p"));
        let e = |p: &str| expand(Path::new(p), Some(home), project);
        assert_eq!(e("~/.npm"), PathBuf::from("/home/ana/.npm"));
        assert_eq!(e("/opt/cache"), PathBuf::from("/opt/cache"));
        assert_eq!(e("build/out"), PathBuf::from("/work/p/build/out"));
    }

    #[test]
    fn a_worktree_names_its_repositorys_git_directories() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main");
        let gitdir = main.join(".git/worktrees/w1");
        std::fs::create_dir_all(&gitdir).unwrap();
        std::fs::write(gitdir.join("commondir"), "../..\n").unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        std::fs::write(tree.join(".git"), format!("gitdir: {}\n", gitdir.display())).unwrap();
        let dirs = git_dirs(&tree.join("sub"));
        assert_eq!(
            dirs,
            vec![tree.join(".git"), real(&main.join(".git")), real(&gitdir)]
        );
        assert_eq!(git_dirs(&main), vec![main.join(".git")]);
    }

    #[test]
    fn the_agents_own_files_are_readable_but_never_the_home() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let package = home.join(".npm-global/lib/node_modules/agent");
        std::fs::create_dir_all(package.join("dist")).unwrap();
        std::fs::create_dir_all(home.join(".npm-global/bin")).unwrap();
        std::fs::write(package.join("dist/index.js"), "").unwrap();
        std::os::unix::fs::symlink(
            package.join("dist/index.js"),
            home.join(".npm-global/bin/agent"),
        )
        .unwrap();
        let path = home.join(".npm-global/bin").display().to_string();
        let var = |n: &str| (n == "PATH").then(|| path.clone());
        let dirs = agent_files(&words(&["agent", "acp"]), &var, Some(&home));
        let package = real(&package);
        for dir in [
            home.join(".npm-global/bin"),
            package.clone(),
            package.join("dist"),
        ] {
            assert!(dirs.contains(&dir), "{dir:?} not in {dirs:?}");
        }
        // Nothing else of the home.
        let of_home: Vec<&PathBuf> = dirs.iter().filter(|d| d.starts_with(&home)).collect();
        assert_eq!(of_home.len(), 3, "{dirs:?}");
        // iteratr's own binary.
        let exe = std::env::current_exe().unwrap();
        assert!(
            dirs.contains(&exe.parent().unwrap().to_path_buf()),
            "{dirs:?}"
        );
        // A script in the home itself: its directory is the home, never made visible whole.
        std::fs::write(home.join("agent.js"), "").unwrap();
        let script = home.join("agent.js").display().to_string();
        let dirs = agent_files(&words(&["/usr/bin/env", &script]), &|_| None, Some(&home));
        assert!(!dirs.iter().any(|d| home.starts_with(d)), "{dirs:?}");
    }
}
