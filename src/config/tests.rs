use clap::{CommandFactory, FromArgMatches};

use super::*;
use crate::cli::{Cli, Commands};
use crate::hooks::HookCommand;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "iteratr.toml", text);
    match file::load(&path) {
        Err(e) => e
            .to_string()
            .replace(&dir.path().display().to_string(), "DIR"),
        Ok(_) => panic!("{text:?} was accepted"),
    }
}

#[test]
fn mistakes_name_the_file_line_and_key() {
    let e = error("agent = \"opencode acp\"\nitertions = 5\n");
    assert!(
        e.starts_with("DIR/iteratr.toml:2:1: itertions: unknown field"),
        "{e}"
    );
    let e = error("model = \"m\"\niterations = \"five\"\n");
    assert!(e.starts_with("DIR/iteratr.toml:2:14: iterations:"), "{e}");
    assert!(e.contains("invalid type"), "{e}");
    let e = error("iteration_timeout = \"soon\"\n");
    assert!(e.starts_with("DIR/iteratr.toml:1:"), "{e}");
    assert!(
        e.contains("iteration_timeout:") && e.contains("not a duration"),
        "{e}"
    );
    let e = error("max_failures = 0\n");
    assert!(
        e.contains("max_failures: 0 is not a whole number of at least 1"),
        "{e}"
    );
    let e = error("approve = \"sometimes\"\n");
    assert!(
        e.contains("approve: \"sometimes\" is not auto or ask"),
        "{e}"
    );
    let e = error(
        "[hooks.post_iteration]\ncommand = [\"cargo\", \"test\"]\ntimeout = \"1 fortnight\"\n",
    );
    assert!(e.starts_with("DIR/iteratr.toml:3:"), "{e}");
    assert!(e.contains("hooks.post_iteration.timeout:"), "{e}");
    let e = error("[hooks.post_iter]\ncommand = \"make\"\n");
    assert!(e.contains("unknown variant `post_iter`"), "{e}");
    let e = error("[hooks.pre_iteration]\ncommand = []\n");
    assert!(
        e.contains("hooks.pre_iteration.command: the command is empty"),
        "{e}"
    );
    let e = error("[hooks.session_end]\ncommand = \"x\"\nretries = 2\n");
    assert!(
        e.contains("hooks.session_end.retries: unknown field"),
        "{e}"
    );
    let e = error("agent = [\n");
    assert!(e.starts_with("DIR/iteratr.toml:"), "{e}");
    let e = error("approve_wait = \"a while\"\n");
    assert!(
        e.contains("approve_wait:") && e.contains("not a duration"),
        "{e}"
    );
    let e = error("output_retention = \"forever\"\n");
    assert!(e.starts_with("DIR/iteratr.toml:1:"), "{e}");
    assert!(e.contains("output_retention:"), "{e}");
}

#[test]
fn the_output_retention_comes_from_the_file_unless_a_flag_says_otherwise() {
    let (_dir, s) = settings(None, Some("output_retention = \"2h,128MiB\"\n"));
    let cli = |args: &[&str]| {
        let argv = ["iteratr"].iter().chain(args).chain(&["status"]);
        let m = s.apply(Cli::command()).try_get_matches_from(argv).unwrap();
        Cli::from_arg_matches(&m).unwrap().store_config().unwrap()
    };
    let from_file = cli(&[]).output_retention;
    assert_eq!(from_file.to_string(), "2h,128MiB");
    let flagged = cli(&["--output-retention", "30m"]).output_retention;
    assert_eq!(
        flagged.retention().max_age,
        std::time::Duration::from_secs(1800)
    );
    assert!(
        cli(&["--output-retention", "off"])
            .output_retention
            .is_off()
    );
}

#[test]
fn a_missing_file_is_no_settings() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        file::load(&dir.path().join("iteratr.toml"))
            .unwrap()
            .is_none()
    );
}

fn settings(user: Option<&str>, project: Option<&str>) -> (tempfile::TempDir, Settings) {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, text) in [("user.toml", user), ("iteratr.toml", project)] {
        if let Some(text) = text {
            let path = write(dir.path(), name, text);
            files.push(file::load(&path).unwrap().unwrap());
        }
    }
    (
        dir,
        Settings {
            files,
            legacy: Vec::new(),
        },
    )
}

/// Parses `iteratr build ARGS` with the settings' defaults: the data dir and the build's flags.
fn build_args(s: &Settings, args: &[&str]) -> (PathBuf, crate::cli::BuildArgs) {
    let argv = ["iteratr", "build"].iter().chain(args);
    let matches = s.apply(Cli::command()).try_get_matches_from(argv).unwrap();
    let cli = Cli::from_arg_matches(&matches).unwrap();
    let Commands::Build(b) = cli.command else {
        unreachable!()
    };
    (cli.data_dir, b)
}

#[test]
fn flags_beat_the_project_file_which_beats_the_user_file_which_beats_defaults() {
    let user = "agent = \"user-agent\"\nmodel = \"user/model\"\niterations = 7\ndata_dir = \"user-data\"\n";
    let project =
        "model = \"project/model\"\nretry_delay = \"5s\"\ndeny_tools = [\"bash*\", \"rm\"]\n";
    // Nothing: the built-in defaults (ITERATR_AGENT may be set by whoever runs the tests).
    let (_d, none) = settings(None, None);
    let (data_dir, b) = build_args(&none, &[]);
    assert_eq!(b.model, None);
    assert_eq!(b.retry_delay, Duration::from_secs(2));
    assert_eq!(data_dir, PathBuf::from(".iteratr"));
    // The user's file over the defaults.
    let (_d, u) = settings(Some(user), None);
    let (data_dir, b) = build_args(&u, &[]);
    assert_eq!(b.model.as_deref(), Some("user/model"));
    assert_eq!(b.iterations, Some(7));
    assert_eq!(data_dir, PathBuf::from("user-data"));
    // The project's file over the user's, key by key.
    let (_d, both) = settings(Some(user), Some(project));
    let (_, b) = build_args(&both, &[]);
    assert_eq!(b.model.as_deref(), Some("project/model"));
    assert_eq!(b.iterations, Some(7));
    assert_eq!(b.retry_delay, Duration::from_secs(5));
    assert_eq!(b.deny_tools, ["bash*", "rm"]);
    // Flags over both.
    let (data_dir, b) = build_args(
        &both,
        &["-m", "flag/model", "-i", "2", "--deny-tools", "curl"],
    );
    assert_eq!(b.model.as_deref(), Some("flag/model"));
    assert_eq!(b.iterations, Some(2));
    assert_eq!(b.deny_tools, ["curl"]);
    assert_eq!(data_dir, PathBuf::from("user-data"));
    // Where each value came from.
    let (values, origin) = both.value("model").unwrap();
    assert_eq!(values, ["project/model"]);
    assert!(
        origin.path.ends_with("iteratr.toml") && origin.line == 1,
        "{origin}"
    );
    let (_, origin) = both.value("iterations").unwrap();
    assert!(
        origin.path.ends_with("user.toml") && origin.line == 3,
        "{origin}"
    );
}

#[test]
fn hooks_take_the_projects_declaration_of_a_point() {
    let user = "[hooks.post_iteration]\ncommand = \"make check\"\n\n[hooks.session_end]\ncommand = [\"notify-send\", \"done\"]\nto_agent = true\n";
    let project = "[hooks.post_iteration]\ncommand = [\"cargo\", \"test\"]\ntimeout = \"90s\"\nfix_rounds = 1\n";
    let (_d, s) = settings(Some(user), Some(project));
    let hooks = s.hooks();
    assert_eq!(hooks.len(), 2);
    let (post, origin) = &hooks[0];
    assert_eq!(post.point, HookPoint::PostIteration);
    assert_eq!(
        post.command,
        HookCommand::Args(vec!["cargo".into(), "test".into()])
    );
    assert_eq!(post.timeout, Duration::from_secs(90));
    assert!(post.to_agent);
    assert_eq!(post.fix_rounds, 1);
    assert!(origin.path.ends_with("iteratr.toml") && origin.line == 1);
    let (end, _) = &hooks[1];
    assert_eq!(end.point, HookPoint::SessionEnd);
    assert_eq!(end.timeout, DEFAULT_TIMEOUT);
    assert!(end.to_agent);
}

#[test]
fn workers_settings_reach_build_and_worker_and_are_checked() {
    let project = "workers = 3\nbranch = \"trunk\"\nremote = \"origin\"\nclaim_ttl = \"45s\"\n";
    let (_d, s) = settings(None, Some(project));
    let (_, b) = build_args(&s, &[]);
    assert_eq!(b.workers, 3);
    assert_eq!(b.branch.as_deref(), Some("trunk"));
    assert_eq!(b.remote.as_deref(), Some("origin"));
    assert_eq!(b.claim_ttl, Duration::from_secs(45));
    // `iteratr worker` takes them too.
    let argv = ["iteratr", "worker", "-n", "demo"];
    let matches = s.apply(Cli::command()).try_get_matches_from(argv).unwrap();
    let Commands::Worker(w) = Cli::from_arg_matches(&matches).unwrap().command else {
        unreachable!()
    };
    assert_eq!(w.remote.as_deref(), Some("origin"));
    let e = error("workers = 40\n");
    assert!(e.contains("workers") && e.contains("1 to 32"), "{e}");
    let e = error("claim_ttl = \"2h\"\n");
    assert!(
        e.contains("claim_ttl") && e.contains("outside 1s to 1h"),
        "{e}"
    );
}

#[test]
fn notify_mistakes_name_the_place_and_say_what_to_write() {
    let e = error(
        "[[notify.webhook]]\nurl = \"https://ntfy.sh/t\"\non = [\"permission\", \"blockd\"]\n",
    );
    assert!(e.starts_with("DIR/iteratr.toml:3:"), "{e}");
    assert!(
        e.contains("notify.webhook.on: \"blockd\" is not an event to notify; write one of question, permission, blocked, completed, stopped, worker_stopped"),
        "{e}"
    );
    let e = error(
        "[notify]\nwindow = \"1s\"\n\n[[notify.webhook]]\nurl = \"hooks.example.com/T0/SECRET\"\n",
    );
    assert!(
        e.starts_with("DIR/iteratr.toml:5:7: notify.webhook.url: not a URL"),
        "{e}"
    );
    assert!(
        e.contains("e.g. url = \"https://ntfy.sh/your-topic\""),
        "{e}"
    );
    assert!(!e.contains("SECRET"), "{e}");
    let e = error("[[notify.webhook]]\nurl = \"ftp://example.com/SECRET\"\n");
    assert!(
        e.contains("a ftp: address; webhooks go over http or https"),
        "{e}"
    );
    assert!(!e.contains("SECRET"), "{e}");
    let e = error("[[notify.webhook]]\nurl = \"https://x.example/\"\nformat = \"xml\"\n");
    assert!(
        e.contains("notify.webhook.format") && e.contains("`ntfy`"),
        "{e}"
    );
    let e = error("[[notify.command]]\ncommand = \"\"\n");
    assert!(
        e.contains("notify.command[0].command: the command is empty"),
        "{e}"
    );
    let e = error("[notify.desktop]\non = [\"question\"]\nsound = true\n");
    assert!(e.contains("notify.desktop.sound: unknown field"), "{e}");
    let e = error("[notify]\nretries = 50\n");
    assert!(e.contains("notify.retries: 50 is not 0 to 10"), "{e}");
    let e = error("[notify]\ntimeout = \"soon\"\n");
    assert!(
        e.contains("notify.timeout:") && e.contains("not a duration"),
        "{e}"
    );
}

#[test]
fn notify_channels_come_from_both_files_and_the_projects_desktop_wins() {
    use crate::notify::{ChannelKind, Trigger};
    let user = "[notify]\nretries = 1\n\n[[notify.webhook]]\nurl = \"https://ntfy.sh/mine\"\nformat = \"ntfy\"\n\n[notify.desktop]\n";
    let project = "[notify]\nwindow = \"1s\"\n\n[[notify.command]]\ncommand = [\"notify-me\"]\non = [\"completed\"]\n\n[notify.desktop]\non = [\"blocked\"]\n";
    let (_d, s) = settings(Some(user), Some(project));
    let (n, origins) = s.notify();
    assert_eq!(n.window, Duration::from_secs(1));
    assert_eq!(n.retries, 1);
    assert_eq!(n.timeout, crate::notify::DEFAULT_TIMEOUT);
    let shown: Vec<String> = n.channels.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        shown,
        [
            "webhook https://ntfy.sh/… (ntfy)",
            "command notify-me",
            "desktop"
        ]
    );
    assert_eq!(n.channels[0].on, Trigger::defaults());
    assert!(matches!(n.channels[1].kind, ChannelKind::Command(_)));
    assert_eq!(n.channels[1].on_list(), "completed");
    assert_eq!(n.channels[2].on_list(), "blocked");
    assert!(origins[0].path.ends_with("user.toml") && origins[0].line == 4);
    assert!(origins[2].path.ends_with("iteratr.toml") && origins[2].line == 8);
}
