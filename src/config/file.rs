//! One settings file (`iteratr.toml` in the project, `~/.config/iteratr/config.toml` for the
//! user), parsed strictly: an unknown key or a value of the wrong type or range is an error that
//! names the file, the line and the key.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::hooks::{HookCommand, HookPoint};

/// A value with where it was written.
pub(crate) type At<T> = Option<Spanned<T>>;

/// The keys of a settings file. Values that clap parses again are kept as the text written
/// (checked here, so a mistake is reported against the file).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    // The store.
    pub data_dir: At<String>,
    pub nats_url: At<String>,
    pub nats_creds: At<String>,
    #[serde(default, deserialize_with = "replicas")]
    pub nats_replicas: At<String>,
    pub nats_server: At<bool>,
    #[serde(default, deserialize_with = "output_retention")]
    pub output_retention: At<String>,
    // The build.
    pub agent: At<String>,
    pub model: At<String>,
    pub iterations: At<u32>,
    pub template: At<String>,
    pub extra_instructions: At<String>,
    pub deny_tools: At<Vec<String>>,
    #[serde(default, deserialize_with = "approve")]
    pub approve: At<String>,
    #[serde(default, deserialize_with = "duration")]
    pub approve_wait: At<String>,
    #[serde(default, deserialize_with = "duration")]
    pub question_wait: At<String>,
    #[serde(default, deserialize_with = "duration")]
    pub iteration_timeout: At<String>,
    #[serde(default, deserialize_with = "at_least_one")]
    pub max_failures: At<String>,
    #[serde(default, deserialize_with = "duration")]
    pub retry_delay: At<String>,
    #[serde(default, deserialize_with = "duration")]
    pub init_timeout: At<String>,
    #[serde(default, deserialize_with = "lease_ttl")]
    pub lease_ttl: At<String>,
    pub auto_commit: At<bool>,
    pub sandbox: At<bool>,
    pub sandbox_writable: At<Vec<String>>,
    pub sandbox_readable: At<Vec<String>>,
    #[serde(default, deserialize_with = "env_patterns")]
    pub sandbox_env_allow: At<Vec<String>>,
    #[serde(default, deserialize_with = "env_patterns")]
    pub sandbox_env_deny: At<Vec<String>>,
    pub max_idle_iterations: At<u32>,
    pub max_tokens: At<u64>,
    #[serde(default, deserialize_with = "cost")]
    pub max_cost: At<String>,
    pub max_tokens_per_task: At<u64>,
    #[serde(default, deserialize_with = "cost")]
    pub max_cost_per_task: At<String>,
    pub prompt_budget: At<u32>,
    // Workers.
    #[serde(default, deserialize_with = "workers")]
    pub workers: At<String>,
    pub branch: At<String>,
    pub remote: At<String>,
    #[serde(default, deserialize_with = "lease_ttl")]
    pub claim_ttl: At<String>,
    #[serde(default)]
    pub hooks: BTreeMap<HookPoint, Spanned<HookDecl>>,
    /// Notifications (`[notify]`, see `notify.rs`).
    pub notify: Option<super::notify::NotifyDecl>,
}

/// `[hooks.<point>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookDecl {
    pub command: CommandDecl,
    #[serde(default, deserialize_with = "duration")]
    pub timeout: At<String>,
    pub to_agent: Option<bool>,
    pub fix_rounds: Option<u32>,
}

/// `command = ["cargo", "test"]` (no shell) or `command = "cargo test 2>&1 | tail -50"` (`sh -c`).
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a list of strings (program and arguments) or a string for sh -c"
)]
pub enum CommandDecl {
    Args(Vec<String>),
    Shell(String),
}

impl CommandDecl {
    pub(crate) fn command(&self) -> HookCommand {
        match self {
            CommandDecl::Args(argv) => HookCommand::Args(argv.clone()),
            CommandDecl::Shell(line) => HookCommand::Shell(line.clone()),
        }
    }
}

/// No program, or a blank line for `sh -c`.
pub(super) fn command_is_empty(command: &CommandDecl) -> bool {
    match command {
        CommandDecl::Args(argv) => argv.first().is_none_or(|p| p.trim().is_empty()),
        CommandDecl::Shell(line) => line.trim().is_empty(),
    }
}

fn checked<'de, D: Deserializer<'de>>(
    d: D,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<At<String>, D::Error> {
    let v: Spanned<toml::Value> = Spanned::deserialize(d)?;
    let span = v.span();
    let text = match v.into_inner() {
        toml::Value::String(s) => s,
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(f) => f.to_string(),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a string or a number, found {}",
                other.type_str()
            )));
        }
    };
    check(&text).map_err(serde::de::Error::custom)?;
    Ok(Some(Spanned::new(span, text)))
}

pub(super) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<At<String>, D::Error> {
    checked(d, |s| crate::cli::parse_duration(s).map(drop))
}

fn output_retention<'de, D: Deserializer<'de>>(d: D) -> Result<At<String>, D::Error> {
    checked(d, |s| crate::cli::parse_output_retention(s).map(drop))
}

fn lease_ttl<'de, D: Deserializer<'de>>(d: D) -> Result<At<String>, D::Error> {
    checked(d, |s| crate::cli::parse_lease_ttl(s).map(drop))
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<At<String>, D::Error> {
    checked(d, |s| match s.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(()),
        _ => Err(format!("{s} is not a whole number of at least 1")),
    })
}

fn workers<'de, D: Deserializer<'de>>(d: D) -> Result<At<String>, D::Error> {
    checked(d, |s| match s.parse::<u32>() {
        Ok(1..=32) => Ok(()),
        _ => Err(format!("{s} is not 1 to 32")),
    })
}

fn replicas<'de, D: Deserializer<'de>>(d: D) -> Result<At<String>, D::Error> {
    checked(d, |s| match s.parse::<u8>() {
        Ok(1..=5) => Ok(()),
        _ => Err(format!("{s} is not 1 to 5")),
    })
}

fn cost<'de, D: Deserializer<'de>>(d: D) -> Result<At<String>, D::Error> {
    checked(d, |s| crate::cli::parse_cost(s).map(drop))
}

fn approve<'de, D: Deserializer<'de>>(d: D) -> Result<At<String>, D::Error> {
    checked(d, |s| match s {
        "auto" | "ask" => Ok(()),
        _ => Err(format!("{s:?} is not auto or ask")),
    })
}

/// A list of environment variable patterns (`AWS_*`), each checked.
fn env_patterns<'de, D: Deserializer<'de>>(d: D) -> Result<At<Vec<String>>, D::Error> {
    let v: Spanned<Vec<String>> = Spanned::deserialize(d)?;
    for p in v.get_ref() {
        crate::sandbox::policy::check_env_pattern(p).map_err(serde::de::Error::custom)?;
    }
    Ok(Some(v))
}

/// Why a settings file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        /// The key the mistake is at, as a dotted path (`hooks.post_iteration.timeout`).
        key: String,
        message: String,
    },
}

/// A parsed file and its text (to turn spans into lines).
pub(crate) struct Loaded {
    pub path: PathBuf,
    pub text: String,
    pub settings: FileSettings,
}

impl Loaded {
    /// The 1-based line of a span in this file.
    pub(crate) fn line(&self, span: &Range<usize>) -> usize {
        line_col(&self.text, span.start).0
    }
}

/// Reads and checks `path`; `None` when there is no such file.
pub(crate) fn load(path: &Path) -> Result<Option<Loaded>, FileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(FileError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let settings = parse(&text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        let (line, column) = line_col(&text, at);
        FileError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            key: key_at(&text, at),
            message: e.message().trim().to_string(),
        }
    })?;
    let empty = |at: usize, key: String, example: &str| {
        let (line, column) = line_col(&text, at);
        FileError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            key,
            message: format!(
                "the command is empty; give a program and its arguments, e.g. {example}"
            ),
        }
    };
    for (point, decl) in &settings.hooks {
        if command_is_empty(&decl.get_ref().command) {
            let key = format!("hooks.{point}.command");
            return Err(empty(decl.span().start, key, "[\"cargo\", \"test\"]"));
        }
    }
    if let Some((i, span)) = settings
        .notify
        .as_ref()
        .and_then(super::notify::empty_command)
    {
        let key = format!("notify.command[{i}].command");
        return Err(empty(span.start, key, "[\"notify-me\", \"--urgent\"]"));
    }
    Ok(Some(Loaded {
        path: path.to_path_buf(),
        text,
        settings,
    }))
}

pub(crate) fn parse(text: &str) -> Result<FileSettings, toml::de::Error> {
    toml::from_str(text)
}

fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The dotted key at byte `at`: the last `[table]` header above it and the key on its line.
fn key_at(text: &str, at: usize) -> String {
    let at = at.min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = text[line_start..line_end].trim();
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    if line.starts_with('[') {
        return line
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_string();
    }
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string());
    match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (None, Some(k)) => k,
        (Some(t), None) => t,
        (None, None) => "(top level)".into(),
    }
}
