//! `--sandbox`: the agent and everything it starts run under bubblewrap (Linux). The file system
//! is read-only, with a private `/tmp` and fresh `/dev` and `/proc`; the project (a worker's
//! worktree) and the agent's own state are writable; the person's home is an empty read-only
//! directory but for toolchains and what they allow; iteratr's data dir and the repository's git
//! directories are read-only; variables that grant access elsewhere are dropped; the network is
//! shared (the agent needs its provider, and iteratr's MCP endpoint is on loopback).
//!
//! What is allowed is plain data ([`policy`]); this module finds the places for one agent and
//! turns the plan into bubblewrap's arguments (never a shell line). A sandbox that cannot work
//! here is refused before anything starts ([`Sandbox::check`]): never silently unsandboxed.

pub mod policy;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use policy::Policy;
use policy::{Mount, Places};

/// The variable set in the sandbox, so what runs there can tell.
pub const MARKER_ENV: &str = "ITERATR_SANDBOX";

/// Why `--sandbox` cannot run here; the build stops with [`EXIT_CODE`].
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error(
        "--sandbox needs bubblewrap (bwrap), which is not on PATH; install it (sudo apt-get install bubblewrap on Debian/Ubuntu, sudo dnf install bubblewrap on Fedora, sudo pacman -S bubblewrap on Arch), or build without --sandbox"
    )]
    Missing,
    #[error(
        "--sandbox: bubblewrap ({bwrap}) cannot create its sandbox here: {cause}; user namespaces may be refused: enable them (sudo sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 23.10 and later sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap), or in a container allow them (docker run --security-opt seccomp=unconfined, or --privileged)"
    )]
    Refused { bwrap: String, cause: String },
    #[error(
        "--sandbox runs the agent under bubblewrap, which is Linux only for now; build without --sandbox on this system"
    )]
    NotLinux,
}

/// The exit code of a build whose `--sandbox` cannot run here.
pub const EXIT_CODE: u8 = 7;

/// A sandbox that works on this machine, with the person's policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Sandbox {
    bwrap: PathBuf,
    policy: Policy,
}

/// An agent's command wrapped in the sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Wrapped {
    pub argv: Vec<String>,
    /// Variables to take from the agent's environment.
    pub env_removed: Vec<String>,
}

impl Sandbox {
    /// Finds bubblewrap and makes a sandbox with it, to be sure it works here.
    pub fn check(policy: Policy) -> Result<Sandbox, Unavailable> {
        if !cfg!(target_os = "linux") {
            return Err(Unavailable::NotLinux);
        }
        let bwrap = crate::process::on_path("bwrap").ok_or(Unavailable::Missing)?;
        probe(&bwrap)?;
        Ok(Sandbox { bwrap, policy })
    }

    /// `agent` (program and arguments) run in `cwd` inside the sandbox. `protected`: places
    /// never writable (the data dir, relative to iteratr's current directory); `env`: what the agent gets on top of iteratr's own
    /// environment. Creates the agent's own state directories when missing, so they can be
    /// mounted.
    pub fn wrap(
        &self,
        agent: &[String],
        cwd: &Path,
        protected: &[PathBuf],
        env: &[(String, String)],
    ) -> Result<Wrapped, String> {
        let var = |name: &str| -> Option<String> {
            env.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var(name).ok())
                .filter(|v| !v.is_empty())
        };
        let places = places(agent, cwd, protected, &var, &self.policy)?;
        let mounts = self.policy.plan(&places, &|p| p.exists());
        let mut names: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .chain(env.iter().map(|(k, _)| k.clone()))
            .filter(|k| self.policy.drops_env(k))
            .collect();
        names.sort();
        names.dedup();
        Ok(Wrapped {
            argv: bwrap_argv(&self.bwrap, &mounts, &places.project, agent),
            env_removed: names,
        })
    }
}

/// What every sandbox starts with: its own process ids and session, gone with bubblewrap, the
/// whole file system read-only, fresh `/dev` and `/proc`.
const BASE: &[&str] = &[
    "--die-with-parent",
    "--new-session",
    "--unshare-pid",
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
];

/// bubblewrap's arguments for `mounts`, then the agent's command. Its processes get their own
/// process ids and session (no keystrokes pushed into iteratr's terminal) and die with
/// bubblewrap.
fn bwrap_argv(bwrap: &Path, mounts: &[Mount], cwd: &Path, agent: &[String]) -> Vec<String> {
    let text = |p: &Path| p.to_string_lossy().into_owned();
    let mut argv = vec![text(bwrap)];
    argv.extend(BASE.iter().map(|s| s.to_string()));
    for mount in mounts {
        let p = text(mount.path());
        let args: Vec<&str> = match mount {
            Mount::Empty { .. } => vec!["--tmpfs", &p],
            Mount::ReadOnly(_) => vec!["--ro-bind", &p, &p],
            Mount::Writable(_) => vec!["--bind", &p, &p],
            Mount::Masked(_) => vec!["--ro-bind", "/dev/null", &p],
        };
        argv.extend(args.into_iter().map(str::to_string));
    }
    // Emptied places become read-only once what shows through them is mounted.
    for mount in mounts {
        if let Mount::Empty {
            path,
            writable: false,
        } = mount
        {
            argv.extend(["--remount-ro".to_string(), text(path)]);
        }
    }
    argv.extend([
        "--setenv".into(),
        MARKER_ENV.into(),
        "bubblewrap".into(),
        "--chdir".into(),
        text(cwd),
        "--".into(),
    ]);
    argv.extend(agent.iter().cloned());
    argv
}

/// Makes a small sandbox with `bwrap`; the error says what it said.
fn probe(bwrap: &Path) -> Result<(), Unavailable> {
    let refused = |cause: String| Unavailable::Refused {
        bwrap: bwrap.display().to_string(),
        cause,
    };
    let mut child = std::process::Command::new(bwrap)
        .args(BASE)
        .args(["--tmpfs", "/tmp", "--", "true"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| refused(format!("it does not start: {e}")))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut said = String::new();
                if let Some(mut err) = child.stderr.take() {
                    use std::io::Read as _;
                    let _ = err.read_to_string(&mut said);
                }
                let said = said.trim();
                return Err(refused(if said.is_empty() {
                    format!("it ended with {status}")
                } else {
                    format!("it said \"{said}\"")
                }));
            }
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(refused("it did not finish within 10s".into()));
            }
            Err(e) => return Err(refused(e.to_string())),
        }
    }
}

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
    } else if names.iter().any(|n| n.contains("claude")) {
        Known::ClaudeCode
    } else {
        Known::Other
    }
}

/// The state directories of the agents iteratr knows (their sessions, caches, settings), with
/// `true` for those of the agent `agent` starts (created when missing).
fn agent_state(
    agent: &[String],
    home: Option<&Path>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Vec<(PathBuf, bool)> {
    let kind = known(agent);
    let xdg = |name: &str, default: &str| -> Option<PathBuf> {
        var(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.map(|h| h.join(default)))
    };
    let mut dirs = Vec::new();
    for (name, default) in [
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_STATE_HOME", ".local/state"),
    ] {
        if let Some(base) = xdg(name, default) {
            dirs.push((base.join("opencode"), kind == Known::Opencode));
        }
    }
    let claude = kind == Known::ClaudeCode;
    if let Some(home) = home {
        dirs.push((home.join(".claude"), claude));
        dirs.push((home.join(".claude.json"), false));
    }
    if let Some(dir) = var("CLAUDE_CONFIG_DIR").map(PathBuf::from) {
        dirs.push((dir, claude));
    }
    dirs
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

/// Where things are for one agent.
fn places(
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
    for (dir, own) in agent_state(agent, home.as_deref(), var) {
        if own && !dir.exists() {
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
    let sockets = ["SSH_AUTH_SOCK", "GPG_AGENT_INFO"]
        .into_iter()
        .filter_map(var)
        .map(|s| PathBuf::from(s.split(':').next().unwrap_or_default()))
        .filter(|p| p.is_absolute())
        .collect();
    let policy_path = |p: &PathBuf| real(&expand(p, home.as_deref(), &project));
    let readable = policy.readable.iter().map(policy_path).collect();
    let agent_state = agent_dirs
        .into_iter()
        .chain(policy.writable.iter().map(policy_path))
        .collect();
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
        assert_eq!(known(&words(&["gemini", "--acp"])), Known::Other);
    }

    #[test]
    fn the_agents_state_follows_xdg_and_home() {
        let home = Path::new("/home/ana");
        let var = |n: &str| (n == "XDG_DATA_HOME").then(|| "/data".to_string());
        let dirs = agent_state(&words(&["opencode", "acp"]), Some(home), &var);
        assert!(dirs.contains(&(PathBuf::from("/data/opencode"), true)));
        assert!(dirs.contains(&(PathBuf::from("/home/ana/.cache/opencode"), true)));
        assert!(dirs.contains(&(PathBuf::from("/home/ana/.claude"), false)));
        let dirs = agent_state(&words(&["claude-code-acp"]), Some(home), &|_| None);
        assert!(dirs.contains(&(PathBuf::from("/home/ana/.claude"), true)));
        assert!(dirs.contains(&(PathBuf::from("/home/ana/.local/share/opencode"), false)));
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
    fn the_argv_mounts_in_order_and_remounts_the_emptied_home_read_only() {
        let mounts = vec![
            Mount::Empty {
                path: "/tmp".into(),
                writable: true,
            },
            Mount::Empty {
                path: "/home/ana".into(),
                writable: false,
            },
            Mount::ReadOnly("/home/ana/.rustup".into()),
            Mount::Writable("/home/ana/p".into()),
            Mount::ReadOnly("/home/ana/p/.git".into()),
            Mount::Masked("/run/agent.sock".into()),
        ];
        let argv = bwrap_argv(
            Path::new("/usr/bin/bwrap"),
            &mounts,
            Path::new("/home/ana/p"),
            &words(&["opencode", "acp"]),
        );
        let line = argv.join(" ");
        assert!(line.starts_with("/usr/bin/bwrap --die-with-parent --new-session --unshare-pid --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --tmpfs /home/ana --ro-bind /home/ana/.rustup /home/ana/.rustup --bind /home/ana/p /home/ana/p --ro-bind /home/ana/p/.git /home/ana/p/.git --ro-bind /dev/null /run/agent.sock --remount-ro /home/ana "), "{line}");
        assert!(
            line.ends_with(" --chdir /home/ana/p -- opencode acp"),
            "{line}"
        );
        assert!(!line.contains("--remount-ro /tmp"), "{line}");
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
}
