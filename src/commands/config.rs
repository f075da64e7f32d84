//! `iteratr config`: the settings a build here would use, and where each comes from.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::CommandFactory;
use clap::parser::ValueSource;

use crate::cli::Cli;
use crate::config::{KEYS, Scope, Settings};

pub fn run(settings: &Settings) -> anyhow::Result<ExitCode> {
    let cmd = settings.apply(Cli::command());
    let build_cmd = cmd
        .find_subcommand("build")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no build command"))?;
    // What `iteratr build` would get with this command line's global flags: flags, environment,
    // files, defaults.
    let matches = cmd
        .clone()
        .try_get_matches_from(as_build(std::env::args_os()))?;
    let build = matches
        .subcommand_matches("build")
        .ok_or_else(|| anyhow::anyhow!("no build settings"))?;
    let files = settings.files();
    if files.is_empty() {
        println!(
            "Settings files: none (iteratr.toml here, or {})",
            user_file_name()
        );
    } else {
        let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        println!("Settings files (later ones win): {}", names.join(", "));
    }
    println!();
    let width = KEYS.iter().map(|k| k.name.len()).max().unwrap_or(0);
    for k in &KEYS {
        let (m, defs) = match k.scope {
            Scope::Global => (&matches, &cmd),
            Scope::Build => (build, &build_cmd),
        };
        let value = m
            .get_raw(k.arg)
            .map(|vs| {
                vs.map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|v| !v.is_empty())
            .map(|v| without_passwords(&v))
            .unwrap_or_else(|| "(not set)".into());
        let env = defs
            .get_arguments()
            .find(|a| a.get_id() == k.arg)
            .and_then(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned());
        let source = match m.value_source(k.arg) {
            Some(ValueSource::EnvVariable) => format!("environment {}", env.unwrap_or_default()),
            Some(ValueSource::CommandLine) => "flag".into(),
            Some(ValueSource::DefaultValue) => settings
                .value(k.name)
                .map_or("default".into(), |(_, origin)| origin.to_string()),
            _ => "default".into(),
        };
        println!("{:width$}  {value}  ({source})", k.name);
    }
    let hooks = settings.hooks();
    println!();
    if hooks.is_empty() {
        println!("Hooks: none");
    } else {
        println!("Hooks:");
        for (h, origin) in hooks {
            println!(
                "  {:16} {}  (timeout {}, output {}, fix rounds {}; {origin})",
                h.point.as_str(),
                h.command,
                humantime::format_duration(h.timeout),
                if h.to_agent { "to the agent" } else { "logged" },
                h.fix_rounds,
            );
        }
    }
    println!();
    for line in super::notify::channel_lines(settings) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// URLs with their user and password replaced (`nats://***@host:4222`): this output is shown
/// and pasted, and must not carry secrets.
fn without_passwords(value: &str) -> String {
    value
        .split(',')
        .map(|part| match (part.find("://"), part.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}***{}", &part[..scheme + 3], &part[at..])
            }
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// This command line with `config` (the subcommand, not a flag's value) replaced by `build`.
fn as_build(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    const TAKE_VALUES: [&str; 5] = [
        "--data-dir",
        "--nats-url",
        "--nats-creds",
        "--nats-token",
        "--nats-replicas",
    ];
    let mut out: Vec<OsString> = Vec::new();
    let mut replaced = false;
    for arg in args {
        let value_of_flag = out
            .last()
            .and_then(|prev| prev.to_str())
            .is_some_and(|prev| TAKE_VALUES.contains(&prev));
        if !replaced && !out.is_empty() && !value_of_flag && arg == "config" {
            out.push("build".into());
            replaced = true;
        } else {
            out.push(arg);
        }
    }
    out
}

fn user_file_name() -> String {
    crate::config::user_file().map_or("~/.config/iteratr/config.toml".into(), |p| {
        p.display().to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_not_shown() {
        assert_eq!(
            without_passwords("nats://user:secret@a:4222, nats://b:4222"),
            "nats://***@a:4222, nats://b:4222"
        );
        assert_eq!(without_passwords("opencode acp"), "opencode acp");
    }

    #[test]
    fn the_subcommand_becomes_build_not_a_flags_value() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            as_build(args(&["iteratr", "--data-dir", "config", "config"]).into_iter()),
            args(&["iteratr", "--data-dir", "config", "build"])
        );
        assert_eq!(
            as_build(args(&["iteratr", "config", "--nats-url", "x"]).into_iter()),
            args(&["iteratr", "build", "--nats-url", "x"])
        );
    }
}
