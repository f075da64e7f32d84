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

mod places;
pub mod policy;
pub mod settings_guard;

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

/// `path` (as git names a changed file) is one of the files iteratr reads as the person's
/// settings: read-only in the sandbox where it exists, but an agent may create it.
pub fn is_persons_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    places::PERSONS_FILES.contains(&name)
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
        let places = places::places(agent, cwd, protected, &var, &self.policy)?;
        let mounts = self
            .policy
            .plan(&places, &|p| std::fs::canonicalize(p).ok());
        let mut names: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .chain(env.iter().map(|(k, _)| k.clone()))
            .filter(|k| self.policy.drops_env(k))
            .collect();
        names.sort();
        names.dedup();
        Ok(Wrapped {
            argv: bwrap_argv(&self.bwrap, &mounts, &places, agent),
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
fn bwrap_argv(bwrap: &Path, mounts: &[Mount], places: &Places, agent: &[String]) -> Vec<String> {
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
            Mount::Link { target, .. } => {
                argv.extend(["--symlink".to_string(), text(target), p]);
                continue;
            }
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
    for (name, value) in &places.set_env {
        argv.extend(["--setenv".into(), name.clone(), value.clone()]);
    }
    // The private `/tmp` is the one place to write temporary files (`TMPDIR` may name one the
    // sandbox hides).
    argv.extend([
        "--setenv".into(),
        "TMPDIR".into(),
        "/tmp".into(),
        "--setenv".into(),
        MARKER_ENV.into(),
        "bubblewrap".into(),
        "--chdir".into(),
        text(&places.project),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
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
            Mount::Link {
                path: "/home/ana/.cargo/bin".into(),
                target: "/opt/cargo/bin".into(),
            },
            Mount::Writable("/home/ana/p".into()),
            Mount::ReadOnly("/home/ana/p/.git".into()),
            Mount::Masked("/run/agent.sock".into()),
        ];
        let places = Places {
            project: "/home/ana/p".into(),
            set_env: vec![("CLAUDE_CONFIG_DIR".into(), "/home/ana/.claude".into())],
            ..Places::default()
        };
        let argv = bwrap_argv(
            Path::new("/usr/bin/bwrap"),
            &mounts,
            &places,
            &words(&["opencode", "acp"]),
        );
        let line = argv.join(" ");
        assert!(line.starts_with("/usr/bin/bwrap --die-with-parent --new-session --unshare-pid --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --tmpfs /home/ana --ro-bind /home/ana/.rustup /home/ana/.rustup --symlink /opt/cargo/bin /home/ana/.cargo/bin --bind /home/ana/p /home/ana/p --ro-bind /home/ana/p/.git /home/ana/p/.git --ro-bind /dev/null /run/agent.sock --remount-ro /home/ana "), "{line}");
        assert!(
            line.ends_with(" --setenv CLAUDE_CONFIG_DIR /home/ana/.claude --setenv TMPDIR /tmp --setenv ITERATR_SANDBOX bubblewrap --chdir /home/ana/p -- opencode acp"),
            "{line}"
        );
        assert!(!line.contains("--remount-ro /tmp"), "{line}");
    }
}
