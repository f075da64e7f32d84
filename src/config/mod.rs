//! Settings files. Precedence: flags > environment > the project's `iteratr.toml` > the user's
//! `~/.config/iteratr/config.toml` (`$XDG_CONFIG_HOME/iteratr/config.toml`) > built-in defaults.
//!
//! Files become clap's defaults (so flags and environment variables still win, and every value
//! is parsed by the same parser as its flag); hooks exist only in files.

pub(crate) mod file;
pub(crate) mod legacy_hooks;
mod notify;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use file::{CommandDecl, FileError, FileSettings, HookDecl};

use crate::hooks::{DEFAULT_FIX_ROUNDS, DEFAULT_TIMEOUT, Hook, HookPoint};

pub const PROJECT_FILE: &str = "iteratr.toml";

/// Whether a key sets a global flag (before the subcommand) or one of `build`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Build,
}

/// A settings key and the clap argument (its id) it gives a value to.
pub struct Key {
    pub name: &'static str,
    pub arg: &'static str,
    pub scope: Scope,
}

const fn key(name: &'static str, arg: &'static str, scope: Scope) -> Key {
    Key { name, arg, scope }
}

/// Every key a settings file may hold besides `[hooks.*]`.
pub const KEYS: [Key; 36] = [
    key("data_dir", "data_dir", Scope::Global),
    key("nats_url", "nats_url", Scope::Global),
    key("nats_creds", "nats_creds", Scope::Global),
    key("nats_replicas", "nats_replicas", Scope::Global),
    key("nats_server", "nats_server", Scope::Global),
    key("output_retention", "output_retention", Scope::Global),
    key("agent", "agent", Scope::Build),
    key("model", "model", Scope::Build),
    key("iterations", "iterations", Scope::Build),
    key("template", "template", Scope::Build),
    key("extra_instructions", "extra", Scope::Build),
    key("deny_tools", "deny_tools", Scope::Build),
    key("approve", "approve", Scope::Build),
    key("approve_wait", "approve_wait", Scope::Build),
    key("question_wait", "question_wait", Scope::Build),
    key("iteration_timeout", "iteration_timeout", Scope::Build),
    key("max_failures", "max_failures", Scope::Build),
    key("retry_delay", "retry_delay", Scope::Build),
    key("init_timeout", "init_timeout", Scope::Build),
    key("lease_ttl", "lease_ttl", Scope::Build),
    key("auto_commit", "auto_commit", Scope::Build),
    key("sandbox", "sandbox", Scope::Build),
    key("sandbox_writable", "sandbox_writable", Scope::Build),
    key("sandbox_readable", "sandbox_readable", Scope::Build),
    key("sandbox_env_allow", "sandbox_env_allow", Scope::Build),
    key("sandbox_env_deny", "sandbox_env_deny", Scope::Build),
    key("max_idle_iterations", "max_idle_iterations", Scope::Build),
    key("max_tokens", "max_tokens", Scope::Build),
    key("max_cost", "max_cost", Scope::Build),
    key("max_tokens_per_task", "max_tokens_per_task", Scope::Build),
    key("max_cost_per_task", "max_cost_per_task", Scope::Build),
    key("prompt_budget", "prompt_budget", Scope::Build),
    key("workers", "workers", Scope::Build),
    key("branch", "branch", Scope::Build),
    key("remote", "remote", Scope::Build),
    key("claim_ttl", "claim_ttl", Scope::Build),
];

/// The keys of `build` that `spec` takes too.
const SPEC_KEYS: [&str; 5] = ["agent", "model", "deny_tools", "approve", "init_timeout"];

/// Where a value was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub path: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.line)
    }
}

/// The settings files found, the user's first, the project's last (it wins).
#[derive(Default)]
pub struct Settings {
    files: Vec<file::Loaded>,
    /// Hooks of the original iteratr's `.iteratr.hooks.yml` (a settings file's win).
    legacy: Vec<(Hook, Origin)>,
}

/// The user's settings file: `$XDG_CONFIG_HOME/iteratr/config.toml`, else under `~/.config`.
pub fn user_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("iteratr").join("config.toml"))
}

impl FileSettings {
    /// The value of `name` as clap arguments, and where it was written.
    fn get(&self, name: &str) -> Option<(Vec<String>, std::ops::Range<usize>)> {
        fn shown<T: ToString>(v: &file::At<T>) -> Option<(Vec<String>, std::ops::Range<usize>)> {
            v.as_ref()
                .map(|v| (vec![v.get_ref().to_string()], v.span()))
        }
        fn listed(v: &file::At<Vec<String>>) -> Option<(Vec<String>, std::ops::Range<usize>)> {
            v.as_ref().map(|v| (v.get_ref().clone(), v.span()))
        }
        match name {
            "data_dir" => shown(&self.data_dir),
            "nats_url" => shown(&self.nats_url),
            "nats_creds" => shown(&self.nats_creds),
            "nats_replicas" => shown(&self.nats_replicas),
            "nats_server" => shown(&self.nats_server),
            "output_retention" => shown(&self.output_retention),
            "agent" => shown(&self.agent),
            "model" => shown(&self.model),
            "iterations" => shown(&self.iterations),
            "template" => shown(&self.template),
            "extra_instructions" => shown(&self.extra_instructions),
            "deny_tools" => listed(&self.deny_tools),
            "approve" => shown(&self.approve),
            "approve_wait" => shown(&self.approve_wait),
            "question_wait" => shown(&self.question_wait),
            "iteration_timeout" => shown(&self.iteration_timeout),
            "max_failures" => shown(&self.max_failures),
            "retry_delay" => shown(&self.retry_delay),
            "init_timeout" => shown(&self.init_timeout),
            "lease_ttl" => shown(&self.lease_ttl),
            "max_tokens" => shown(&self.max_tokens),
            "max_cost" => shown(&self.max_cost),
            "max_tokens_per_task" => shown(&self.max_tokens_per_task),
            "max_cost_per_task" => shown(&self.max_cost_per_task),
            "prompt_budget" => shown(&self.prompt_budget),
            "max_idle_iterations" => shown(&self.max_idle_iterations),
            "auto_commit" => shown(&self.auto_commit),
            "sandbox" => shown(&self.sandbox),
            "sandbox_writable" => listed(&self.sandbox_writable),
            "sandbox_readable" => listed(&self.sandbox_readable),
            "sandbox_env_allow" => listed(&self.sandbox_env_allow),
            "sandbox_env_deny" => listed(&self.sandbox_env_deny),
            "workers" => shown(&self.workers),
            "branch" => shown(&self.branch),
            "remote" => shown(&self.remote),
            "claim_ttl" => shown(&self.claim_ttl),
            _ => None,
        }
    }
}

impl Settings {
    /// Reads the user's file and `iteratr.toml` in `project_dir` (either may be missing).
    pub fn load(project_dir: &Path) -> Result<Self, FileError> {
        let mut files = Vec::new();
        for path in user_file()
            .into_iter()
            .chain([project_dir.join(PROJECT_FILE)])
        {
            if let Some(loaded) = file::load(&path)? {
                files.push(loaded);
            }
        }
        let legacy = legacy_hooks::load(project_dir)?
            .into_iter()
            .map(|h| {
                let origin = Origin {
                    path: project_dir.join(legacy_hooks::LEGACY_FILE),
                    line: 1,
                };
                (h, origin)
            })
            .collect();
        Ok(Settings { files, legacy })
    }

    /// The files read, in order of precedence (lowest first).
    pub fn files(&self) -> Vec<&Path> {
        self.files.iter().map(|f| f.path.as_path()).collect()
    }

    /// The winning value of a key and where it was written.
    pub fn value(&self, name: &str) -> Option<(Vec<String>, Origin)> {
        self.files.iter().rev().find_map(|f| {
            f.settings.get(name).map(|(values, span)| {
                let origin = Origin {
                    path: f.path.clone(),
                    line: f.line(&span),
                };
                (values, origin)
            })
        })
    }

    /// Makes the files' values clap's defaults, so flags and environment variables win.
    pub fn apply(&self, mut cmd: clap::Command) -> clap::Command {
        for k in &KEYS {
            let Some((values, _)) = self.value(k.name) else {
                continue;
            };
            let set = |a: clap::Arg| a.default_values(values.clone());
            cmd = match k.scope {
                Scope::Global => cmd.mut_arg(k.arg, set),
                Scope::Build => cmd
                    .mut_subcommand("build", |b| b.mut_arg(k.arg, set))
                    .mut_subcommand("worker", |b| b.mut_arg(k.arg, set)),
            };
            // `iteratr spec` starts the same agent, under the same permission rules.
            if k.scope == Scope::Build && SPEC_KEYS.contains(&k.arg) {
                cmd = cmd.mut_subcommand("spec", |b| b.mut_arg(k.arg, set));
            }
        }
        cmd
    }

    /// The hooks declared, one a point (the project's declaration of a point wins, then the
    /// user's, then the original iteratr's `.iteratr.hooks.yml`).
    pub fn hooks(&self) -> Vec<(Hook, Origin)> {
        HookPoint::ALL
            .into_iter()
            .filter_map(|point| {
                self.files
                    .iter()
                    .rev()
                    .find_map(|f| {
                        let decl = f.settings.hooks.get(&point)?;
                        let origin = Origin {
                            path: f.path.clone(),
                            line: f.line(&decl.span()),
                        };
                        Some((hook(point, decl.get_ref()), origin))
                    })
                    .or_else(|| self.legacy.iter().find(|(h, _)| h.point == point).cloned())
            })
            .collect()
    }
}

fn hook(point: HookPoint, decl: &HookDecl) -> Hook {
    let timeout = decl
        .timeout
        .as_ref()
        .and_then(|t| crate::cli::parse_duration(t.get_ref()).ok())
        .unwrap_or(DEFAULT_TIMEOUT);
    Hook {
        point,
        command: decl.command.command(),
        timeout: timeout.max(Duration::from_millis(1)),
        // The output of the checks around an iteration is for the agent unless said otherwise.
        to_agent: decl.to_agent.unwrap_or(matches!(
            point,
            HookPoint::PreIteration | HookPoint::PostIteration
        )),
        fix_rounds: decl.fix_rounds.unwrap_or(DEFAULT_FIX_ROUNDS),
    }
}

#[cfg(test)]
mod tests;
