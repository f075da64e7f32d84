//! Settings files as a user writes them: `iteratr.toml` in the project and the user's file under
//! `$XDG_CONFIG_HOME`, their precedence against environment variables and flags (`iteratr
//! config` shows each value's source), mistakes reported by file, line and key, and a build that
//! takes its model from the project's file.

use std::process::{Command, Output};

use crate::common::fake_agent::log;
use crate::common::project::*;

fn config(
    dir: &std::path::Path,
    xdg: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    Command::new(crate::common::bin())
        .current_dir(dir)
        .args(args)
        .env("XDG_CONFIG_HOME", xdg)
        .env_remove("ITERATR_AGENT")
        .env_remove("ITERATR_DATA_DIR")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// The line `iteratr config` prints for `key`, its spacing collapsed.
fn line_of(out: &str, key: &str) -> String {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no {key} in {out}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn flags_then_environment_then_project_then_user_then_defaults() {
    let project = tempfile::tempdir().unwrap();
    let xdg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(xdg.path().join("iteratr")).unwrap();
    std::fs::write(
        xdg.path().join("iteratr/config.toml"),
        "model = \"user/model\"\niterations = 9\nagent = \"user-agent\"\nretry_delay = \"7s\"\noutput_retention = \"off\"\n",
    )
    .unwrap();
    std::fs::write(
        project.path().join("iteratr.toml"),
        "iterations = 4\nagent = \"project-agent --flag\"\ndata_dir = \"from-file\"\n\n[hooks.post_iteration]\ncommand = [\"cargo\", \"test\"]\ntimeout = \"90s\"\n",
    )
    .unwrap();
    let out = config(
        project.path(),
        xdg.path(),
        &["--data-dir", "from-flag", "config"],
        &[("ITERATR_AGENT", "env-agent")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout)
        .replace(&project.path().display().to_string(), "P")
        .replace(&xdg.path().display().to_string(), "U");
    assert_eq!(line_of(&text, "data_dir"), "data_dir from-flag (flag)");
    assert_eq!(
        line_of(&text, "agent"),
        "agent env-agent (environment ITERATR_AGENT)"
    );
    assert_eq!(
        line_of(&text, "iterations"),
        "iterations 4 (P/iteratr.toml:1)"
    );
    assert_eq!(
        line_of(&text, "model"),
        "model user/model (U/iteratr/config.toml:1)"
    );
    assert_eq!(
        line_of(&text, "retry_delay"),
        "retry_delay 7s (U/iteratr/config.toml:4)"
    );
    assert_eq!(line_of(&text, "lease_ttl"), "lease_ttl 90s (default)");
    assert_eq!(
        line_of(&text, "output_retention"),
        "output_retention off (U/iteratr/config.toml:5)"
    );
    // The environment wins over the file, and a mistake says what is accepted.
    let env = |value: &str| {
        config(
            project.path(),
            xdg.path(),
            &["config"],
            &[("ITERATR_OUTPUT_RETENTION", value)],
        )
    };
    let out = String::from_utf8_lossy(&env("7d").stdout).into_owned();
    assert_eq!(
        line_of(&out, "output_retention"),
        "output_retention 7d (environment ITERATR_OUTPUT_RETENTION)"
    );
    let bad = env("of");
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("or 'off' for no output stream"), "{err}");
    assert!(
        text.contains("post_iteration   cargo test  (timeout 1m 30s, output to the agent, fix rounds 2; P/iteratr.toml:5)"),
        "{text}"
    );
}

#[test]
fn a_mistake_names_the_file_line_and_key_and_nothing_runs() {
    let project = tempfile::tempdir().unwrap();
    let xdg = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("iteratr.toml"),
        "model = \"m\"\n\n[hooks.post_iteration]\ncommand = \"make\"\ntimeout = 5m\n",
    )
    .unwrap();
    let out = config(project.path(), xdg.path(), &["status"], &[]);
    let err =
        String::from_utf8_lossy(&out.stderr).replace(&project.path().display().to_string(), "P");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: P/iteratr.toml:5:"), "{err}");
    assert!(
        !project.path().join(".iteratr").exists(),
        "status created a data dir"
    );
    std::fs::write(
        project.path().join("iteratr.toml"),
        "[hooks.post_iteration]\ncommand = \"make\"\ntimeout = \"5 parsecs\"\n",
    )
    .unwrap();
    let out = config(project.path(), xdg.path(), &["config"], &[]);
    let err =
        String::from_utf8_lossy(&out.stderr).replace(&project.path().display().to_string(), "P");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("error: P/iteratr.toml:3:11: hooks.post_iteration.timeout: "),
        "{err}"
    );
}

#[test]
fn a_build_takes_its_model_from_the_projects_file() {
    let p = Project::new(full_script());
    std::fs::write(
        p.path().join("iteratr.toml"),
        "model = \"fake/large\"\niterations = 1\n",
    )
    .unwrap();
    let out = p.build(&["--headless"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let models = log::config_options(&p.agent_log());
    assert!(
        models.iter().any(|m| m.value == "fake/large"),
        "the model of iteratr.toml did not reach the agent: {models:?}"
    );
    let s = p.status();
    assert_eq!(
        s["iterations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["planning"] == false)
            .count(),
        1
    );
}
