//! What the sandbox allows, as plain data: which paths the agent sees read-only, which it may
//! write, which are hidden, and which environment variables it loses. Built from the places a
//! build knows (project, data dir, home) without touching the file system except through the
//! `exists` question it is given, so every rule is unit-tested.

use std::path::{Path, PathBuf};

/// One mount of the sandbox's file system view, on top of the read-only root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mount {
    /// An empty directory in memory: what was there is hidden. `writable` keeps it writable
    /// (the private `/tmp`); otherwise it is made read-only once what it holds is mounted.
    Empty { path: PathBuf, writable: bool },
    /// Visible, read-only (a toolchain in a hidden home; `.git` and the data dir in a writable
    /// project).
    ReadOnly(PathBuf),
    /// Visible and writable (the project, the agent's own state).
    Writable(PathBuf),
    /// A file replaced by an empty one (a socket that grants access elsewhere).
    Masked(PathBuf),
    /// A symbolic link to `target` (a link in the hidden home to a toolchain mounted where it
    /// really is).
    Link { path: PathBuf, target: PathBuf },
}

impl Mount {
    pub(crate) fn path(&self) -> &Path {
        match self {
            Mount::Empty { path, .. }
            | Mount::ReadOnly(path)
            | Mount::Writable(path)
            | Mount::Masked(path)
            | Mount::Link { path, .. } => path,
        }
    }

    /// Which of two mounts of one path goes on top: a protected part of a writable tree must
    /// come after the tree, and an empty directory before what is shown in it.
    fn rank(&self) -> u8 {
        match self {
            Mount::Empty { .. } => 0,
            Mount::Writable(_) => 1,
            Mount::ReadOnly(_) => 2,
            Mount::Masked(_) => 3,
            Mount::Link { .. } => 4,
        }
    }
}

/// Where things are, for one agent: the inputs of [`Policy::plan`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Places {
    /// The directory the agent works in (a worker's worktree): writable.
    pub project: PathBuf,
    /// Never writable, even inside the project: iteratr's data dir, the repository's git
    /// directories.
    pub protected: Vec<PathBuf>,
    /// Read-only wherever they are (the main repository of a worker's worktree).
    pub readable: Vec<PathBuf>,
    /// The agent's own state directories (its sessions, caches, settings): writable.
    pub agent_state: Vec<PathBuf>,
    /// The person's home: hidden.
    pub home: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR` (sockets of the person's agents and services): hidden.
    pub runtime_dir: Option<PathBuf>,
    /// The files of sockets that grant access elsewhere (`SSH_AUTH_SOCK`): hidden.
    pub sockets: Vec<PathBuf>,
    /// Variables set for the agent in the sandbox (where its state goes).
    pub set_env: Vec<(String, String)>,
}

/// The person's choices (`sandbox_writable`, `sandbox_readable`, `sandbox_env_allow`,
/// `sandbox_env_deny`) on top of the defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// More writable places (`~/` is the home, relative paths are the project's).
    pub writable: Vec<PathBuf>,
    /// More places visible read-only in the hidden home.
    pub readable: Vec<PathBuf>,
    /// Variables kept even when a deny pattern matches them.
    pub env_allow: Vec<String>,
    /// More variables to drop (patterns with `*`).
    pub env_deny: Vec<String>,
}

/// Home directories readable by default, so a normal build and test in the project works:
/// toolchains, their caches of downloaded packages, git's own settings.
pub(crate) const DEFAULT_READABLE_IN_HOME: &[&str] = &[
    ".rustup",
    ".cargo/bin",
    ".cargo/config.toml",
    ".cargo/config",
    ".cargo/registry",
    ".cargo/git",
    ".gitconfig",
    ".config/git",
    ".local/bin",
    ".opencode/bin",
    ".nvm",
    ".volta",
    ".bun/bin",
    ".deno/bin",
    ".pyenv",
    ".sdkman",
    "go/bin",
    "go/pkg/mod",
];

/// Environment variables that grant access elsewhere, removed by default (`*` matches any
/// run of characters): agent sockets, cloud and forge credentials, registry tokens. The
/// providers' keys (`ANTHROPIC_API_KEY`, `OPENAI_API_KEY`, ...) stay: the agent needs them.
pub(crate) const DEFAULT_ENV_DENY: &[&str] = &[
    "SSH_AUTH_SOCK",
    "SSH_AGENT_PID",
    "SSH_ASKPASS",
    "GIT_ASKPASS",
    "GPG_AGENT_INFO",
    "DBUS_SESSION_BUS_ADDRESS",
    "KRB5CCNAME",
    "AWS_*",
    "AZURE_*",
    "ARM_*",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CREDENTIALS",
    "CLOUDSDK_*",
    "GCLOUD_*",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    "GITLAB_TOKEN",
    "GL_TOKEN",
    "CI_JOB_TOKEN",
    "BITBUCKET_*",
    "GITEA_TOKEN",
    "NPM_TOKEN",
    "NODE_AUTH_TOKEN",
    "CARGO_REGISTRY_TOKEN",
    "CARGO_REGISTRIES_*_TOKEN",
    "PYPI_*",
    "TWINE_*",
    "DOCKER_AUTH_CONFIG",
    "KUBECONFIG",
    "VAULT_*",
    "HEROKU_API_KEY",
    "DIGITALOCEAN_*",
    "CLOUDFLARE_API_*",
    "NETLIFY_AUTH_TOKEN",
    "VERCEL_TOKEN",
    "FLY_API_TOKEN",
    "HCLOUD_TOKEN",
    "OP_SESSION_*",
    "OP_SERVICE_ACCOUNT_TOKEN",
    "SENTRY_AUTH_TOKEN",
];

/// `name` matches `pattern`, where `*` stands for any run of characters (case-sensitive, as
/// environment variables are).
pub(crate) fn env_matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no `*`: the whole name
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// A variable name pattern, checked: letters, digits, `_` and `*`.
pub(crate) fn check_env_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("an empty pattern; write a variable name like GITHUB_TOKEN or AWS_*".into());
    }
    if let Some(c) = pattern
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '*'))
    {
        return Err(format!(
            "{pattern:?} holds {c:?}; a pattern is a variable name with `*` for any characters (AWS_*)"
        ));
    }
    Ok(())
}

impl Policy {
    /// The variable `name` is taken from the agent's environment: a deny pattern (the defaults
    /// and `sandbox_env_deny`) matches and no `sandbox_env_allow` pattern does.
    pub(crate) fn drops_env(&self, name: &str) -> bool {
        let denied = DEFAULT_ENV_DENY
            .iter()
            .copied()
            .chain(self.env_deny.iter().map(String::as_str))
            .any(|p| env_matches(p, name));
        denied && !self.env_allow.iter().any(|p| env_matches(p, name))
    }

    /// The mounts for `places`, in the order they must be made: parents before what is mounted
    /// inside them, so a protected `.git` lands on the writable project and a toolchain shows
    /// through the empty home. `resolve` gives where a path really is (bubblewrap mounts real
    /// paths), `None` when it does not exist (then it is left out); a symbolic link in a hidden
    /// place is made again there, to what it names.
    pub(crate) fn plan(
        &self,
        places: &Places,
        resolve: &dyn Fn(&Path) -> Option<PathBuf>,
    ) -> Vec<Mount> {
        let home_readable = places.home.iter().flat_map(|home| {
            DEFAULT_READABLE_IN_HOME
                .iter()
                .map(move |rel| home.join(rel))
        });
        let mut mounts: Vec<Mount> = Vec::new();
        mounts.push(Mount::Empty {
            path: PathBuf::from("/tmp"),
            writable: true,
        });
        for hidden in places.home.iter().chain(&places.runtime_dir) {
            mounts.push(Mount::Empty {
                path: hidden.clone(),
                writable: false,
            });
        }
        let hidden: Vec<PathBuf> = places
            .home
            .iter()
            .chain(&places.runtime_dir)
            .cloned()
            .collect();
        let mut add = |path: &Path, mount: fn(PathBuf) -> Mount| {
            let Some(real) = resolve(path) else { return };
            if real != path && hidden.iter().any(|h| path.starts_with(h)) {
                mounts.push(Mount::Link {
                    path: path.to_path_buf(),
                    target: real.clone(),
                });
            }
            mounts.push(mount(real));
        };
        let readable = home_readable
            .chain(self.readable.iter().cloned())
            .chain(places.readable.iter().cloned());
        readable.for_each(|p| add(&p, Mount::ReadOnly));
        let writable = places
            .agent_state
            .iter()
            .chain(&self.writable)
            .chain([&places.project]);
        writable.for_each(|p| add(p, Mount::Writable));
        places
            .protected
            .iter()
            .for_each(|p| add(p, Mount::ReadOnly));
        // A socket that grants access elsewhere, where the hidden places do not cover it.
        for socket in places.sockets.iter().filter(|p| resolve(p).is_some()) {
            if !mounts
                .iter()
                .any(|m| matches!(m, Mount::Empty { path, .. } if socket.starts_with(path)))
            {
                mounts.push(Mount::Masked(socket.clone()));
            }
        }
        // A writable path inside a protected one stays protected (a `sandbox_writable` under
        // `.git`); only the project itself may sit inside one (a worker's worktree in the data
        // dir).
        mounts.retain(|m| match m {
            Mount::Writable(p) if p != &places.project => {
                !places.protected.iter().any(|g| p.starts_with(g))
            }
            _ => true,
        });
        let mut seen = std::collections::HashSet::new();
        mounts.retain(|m| seen.insert((m.path().to_path_buf(), m.rank())));
        mounts.sort_by_key(|m| (m.path().components().count(), m.rank()));
        mounts
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
