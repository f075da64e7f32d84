//! `--sandbox`: the agent and what it starts run under bubblewrap. The fake agent's `run` action
//! runs programs in its own process tree (not through the client's file requests), as a model's
//! shell tool does, so these tests see what the sandbox lets a command do: write the project and
//! nothing else, not read the home's secrets, not touch `.iteratr/` or `.git/hooks`, and not see
//! the credentials in iteratr's environment. The same script without `--sandbox` succeeds, so it
//! is the sandbox that stops it. The real opencode with its fake LLM completes a spec in it, and
//! a machine without bubblewrap is refused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Turn};
use crate::common::project::*;

/// A scratch directory that is not under `/tmp` (the sandbox has its own `/tmp`, so a write
/// there would fail for that reason alone): the sandbox must refuse it for being outside the
/// project.
fn outside_tmp() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// A home with a private key in it.
fn home_with_a_key() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    std::fs::write(
        home.path().join(".ssh/id_rsa"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nfixture\n",
    )
    .unwrap();
    home
}

/// What each probe of [`probes`] is for.
const INSIDE: &str = "write inside the project";
const OUTSIDE: &str = "write outside the project";
const KEY: &str = "read ~/.ssh/id_rsa";
const DATA_DIR: &str = "write into .iteratr/";
const HOOK: &str = "plant a git hook";
const AGENT_SOCK: &str = "see SSH_AUTH_SOCK";
const PROVIDER_KEY: &str = "see OPENAI_API_KEY";
const GIT_STATUS: &str = "run git status and git diff";
const GIT_COMMIT: &str = "commit (move a ref)";
const SETTINGS: &str = "change iteratr.toml (its hooks run outside)";
const TEMPLATE: &str = "create .iteratr.template";

/// The commands the agent runs, each with what it tries.
fn probes(outside: &Path, home: &Path) -> Vec<(&'static str, Vec<String>)> {
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        (INSIDE, words(&["touch", "inside.txt"])),
        (
            OUTSIDE,
            words(&["touch", &outside.join("escaped.txt").display().to_string()]),
        ),
        (
            KEY,
            words(&["cat", &home.join(".ssh/id_rsa").display().to_string()]),
        ),
        (DATA_DIR, words(&["touch", ".iteratr/planted"])),
        (HOOK, words(&["touch", ".git/hooks/pre-commit"])),
        (SETTINGS, words(&["touch", "iteratr.toml"])),
        (TEMPLATE, words(&["touch", ".iteratr.template"])),
        (AGENT_SOCK, words(&["printenv", "SSH_AUTH_SOCK"])),
        (PROVIDER_KEY, words(&["printenv", "OPENAI_API_KEY"])),
        (GIT_STATUS, words(&["git", "status", "--short"])),
        (GIT_STATUS, words(&["git", "diff", "--stat", "HEAD"])),
        (
            GIT_COMMIT,
            words(&["git", "commit", "--quiet", "--allow-empty", "-m", "agent"]),
        ),
    ]
}

/// Builds a git project whose agent runs [`probes`] in its planning iteration, then completes
/// the session; returns each probe's run (by what it tries), the build's stdout and the project.
fn probe_build(sandbox: bool) -> (Vec<(&'static str, log::Run)>, String, Project) {
    let outside = outside_tmp();
    let home = home_with_a_key();
    let probes = probes(outside.path(), home.path());
    let runs: Vec<Action> = probes
        .iter()
        .map(|(_, argv)| Action::run(argv.clone()))
        .collect();
    let p = Project::new(Script::turns([Turn::of(runs), complete_all()]))
        .with_env("HOME", &home.path().display().to_string())
        .with_env("SSH_AUTH_SOCK", "/run/ssh-agent.sock")
        .with_env("OPENAI_API_KEY", "sk-test");
    p.init_git();
    std::fs::write(p.path().join("iteratr.toml"), "max_failures = 3\n").unwrap();
    let args: &[&str] = if sandbox {
        &["--headless", "--sandbox"]
    } else {
        &["--headless"]
    };
    let out = p.build(args);
    let text = stdout_and_stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let logged: Vec<log::Run> = p.agent_events();
    assert_eq!(logged.len(), probes.len(), "{logged:?}\n{text}");
    let named = probes
        .iter()
        .zip(logged)
        .map(|((what, argv), run)| {
            assert_eq!(&run.argv, argv);
            (*what, run)
        })
        .collect();
    // Nothing got out, whatever the run.
    assert!(!outside.path().join("escaped.txt").exists() || !sandbox);
    (named, stdout(&out), p)
}

fn run_of<'a>(runs: &'a [(&str, log::Run)], what: &str) -> &'a log::Run {
    &runs.iter().find(|(w, _)| *w == what).unwrap().1
}

#[test]
fn the_sandbox_lets_the_agent_write_the_project_and_nothing_else() {
    let (runs, text, p) = probe_build(true);
    let all = format!("{runs:#?}\n{text}");
    let inside = run_of(&runs, INSIDE);
    assert!(inside.succeeded(), "{all}");
    assert!(p.path().join("inside.txt").exists());
    for what in [OUTSIDE, DATA_DIR, HOOK, GIT_COMMIT, SETTINGS] {
        let run = run_of(&runs, what);
        assert!(!run.succeeded(), "{what} succeeded in the sandbox: {all}");
        assert!(
            run.stderr.contains("Read-only file system"),
            "{what}: {all}"
        );
    }
    // git can look at the repository.
    for (what, run) in runs.iter().filter(|(w, _)| *w == GIT_STATUS) {
        assert!(run.succeeded(), "{what}: {all}");
    }
    assert!(
        run_of(&runs, GIT_STATUS).stdout.contains("?? inside.txt"),
        "{all}"
    );
    assert!(!p.path().join(".iteratr/planted").exists());
    assert!(!p.path().join(".git/hooks/pre-commit").exists());
    // The home is an empty directory: the key is not there at all.
    let key = run_of(&runs, KEY);
    assert!(!key.succeeded(), "{all}");
    assert!(!key.stdout.contains("PRIVATE KEY"), "{all}");
    assert!(key.stderr.contains("No such file or directory"), "{all}");
    // Credentials that grant access elsewhere are gone; the provider's key stays.
    assert_eq!(run_of(&runs, AGENT_SOCK).code, Some(1), "{all}");
    let provider = run_of(&runs, PROVIDER_KEY);
    assert_eq!(
        (provider.code, provider.stdout.as_str()),
        (Some(0), "sk-test"),
        "{all}"
    );
    // A settings file the agent could create is pointed out.
    let created = run_of(&runs, TEMPLATE);
    assert!(created.succeeded(), "{all}");
    assert!(
        text.contains("iteratr: warning: the agent wrote .iteratr.template, which iteratr reads as your settings (hooks declared there run outside the sandbox): review it before the next build"),
        "{text}"
    );
    // People and watchers are told.
    assert!(
        text.contains("iteratr: agent fake-agent 1.0 ready (session tools over HTTP; sandboxed)"),
        "{text}"
    );
    let status = p.status();
    assert_eq!(status["agent_sandboxed"], true, "{status}");
    let human = crate::common::as_ana(p.path(), &["status", "--session", "demo"]);
    assert!(
        stdout(&human).contains("Agent: fake-agent 1.0 (sandboxed: --sandbox)"),
        "{}",
        stdout(&human)
    );
}

#[test]
fn without_the_sandbox_the_same_commands_succeed() {
    let (runs, text, p) = probe_build(false);
    let all = format!("{runs:#?}\n{text}");
    for (what, run) in &runs {
        assert!(run.succeeded(), "{what} failed without the sandbox: {all}");
    }
    assert!(run_of(&runs, KEY).stdout.contains("PRIVATE KEY"), "{all}");
    assert_eq!(
        run_of(&runs, AGENT_SOCK).stdout,
        "/run/ssh-agent.sock",
        "{all}"
    );
    assert!(p.path().join(".git/hooks/pre-commit").exists());
    assert!(
        !text.contains("which iteratr reads as your settings"),
        "{text}"
    );
    assert!(
        text.contains("iteratr: agent fake-agent 1.0 ready (session tools over HTTP)\n"),
        "{text}"
    );
    assert_eq!(p.status()["agent_sandboxed"], false);
}

/// `PATH` with the programs a build needs, but no `bwrap`.
fn path_without_bwrap() -> tempfile::TempDir {
    let bin = tempfile::tempdir().unwrap();
    for program in ["git", "sh"] {
        let found = iteratr::process::on_path(program).unwrap();
        std::os::unix::fs::symlink(found, bin.path().join(program)).unwrap();
    }
    bin
}

#[test]
fn without_bubblewrap_the_sandbox_is_refused_with_what_to_install() {
    let bin = path_without_bwrap();
    let p = Project::new(Script::turns([complete_all()]))
        .with_env("PATH", &bin.path().display().to_string());
    let out = p.build(&["--headless", "--sandbox"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(
        err.contains("--sandbox needs bubblewrap (bwrap), which is not on PATH; install it (sudo apt-get install bubblewrap"),
        "{err}"
    );
    // Never silently unsandboxed: no agent started.
    assert!(p.agent_log().is_empty());

    // doctor says whether the sandbox works here.
    let agent = crate::common::fake_agent::path().display().to_string();
    let doctor = |path: &str| stdout(&crate::doctor::doctor(p.path(), &agent, &[("PATH", path)]));
    let t = doctor(&bin.path().display().to_string());
    assert!(
        t.contains("warn  sandbox   --sandbox needs bubblewrap (bwrap)"),
        "{t}"
    );
    let t = doctor(&std::env::var("PATH").unwrap());
    assert!(
        t.contains("ok    sandbox   bubblewrap works here: --sandbox can run the agent in it"),
        "{t}"
    );
}

/// `touch DIR/probe` for the worktree of each worker, and the main checkout.
/// And `git status` in its own.
fn worker_probes(p: &Path) -> Vec<Action> {
    let mut targets: Vec<PathBuf> = ["w1", "w2"]
        .iter()
        .map(|w| p.join(".iteratr/worktrees/demo").join(w))
        .collect();
    targets.push(p.to_path_buf());
    targets
        .iter()
        .map(|t| Action::run(["touch".to_string(), t.join("probe").display().to_string()]))
        .chain([Action::run(["git", "status", "--short"])])
        .collect()
}

#[test]
fn each_sandboxed_worker_writes_only_its_own_worktree() {
    let tasks = [
        "write a.txt: a",
        "write b.txt: b",
        "write c.txt: c",
        "write d.txt: d",
    ];
    // Outside `/tmp`: the sandbox's own `/tmp` would take writes beside the worktrees there.
    let p = crate::workers::team_project_in(outside_tmp(), &tasks, vec![summary("Planned")], 300);
    let dir = p.path().canonicalize().unwrap();
    std::fs::write(
        p.path().join(".gitignore"),
        "script.json*\nagent.log\n.iteratr/\nprobe\n",
    )
    .unwrap();
    git(p.path(), &["commit", "--quiet", "-am", "ignore probes"]);
    // The agents' script and log outside the project: a worker may not write the main checkout.
    let harness = tempfile::tempdir().unwrap();
    let script = Script::turns([Turn::of([summary("Planned")])])
        .repeat(Turn::of(worker_probes(&dir)).then([Action::work(300)]));
    std::fs::write(harness.path().join("script.json"), script.to_json()).unwrap();
    let mut cmd = p.command(&["--headless", "--sandbox", "--workers", "2"]);
    let harness_dir = harness.path().display().to_string();
    cmd.env(
        "ITERATR_FAKE_AGENT_SCRIPT",
        harness.path().join("script.json"),
    )
    .env("ITERATR_FAKE_AGENT_LOG", harness.path().join("agent.log"))
    .args(["--sandbox-writable", &harness_dir]);
    let out = finish(cmd.spawn().unwrap(), Duration::from_secs(120));
    let text = stdout_and_stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let runs: Vec<log::Run> = log::of(&crate::common::fake_agent::read_log(
        &harness.path().join("agent.log"),
    ));
    let all = format!("{runs:#?}\n{text}");
    let (git, runs): (Vec<&log::Run>, Vec<&log::Run>) =
        runs.iter().partition(|r| r.argv[0] == "git");
    assert!(
        !git.is_empty() && git.iter().all(|r| r.succeeded()),
        "{all}"
    );
    let mut seen = std::collections::BTreeSet::new();
    for run in &runs {
        let target = Path::new(&run.argv[1]).parent().unwrap();
        let own = run.cwd.canonicalize().unwrap_or(run.cwd.clone());
        seen.insert(own.clone());
        assert_eq!(
            run.succeeded(),
            target == own,
            "the agent in {} touching {}: {all}",
            own.display(),
            target.display()
        );
    }
    assert_eq!(seen.len(), 2, "both workers ran their probes: {all}");
    for run in git.iter().chain(&runs) {
        assert!(
            run.succeeded() || run.stderr.contains("Read-only file system"),
            "{all}"
        );
    }
    assert!(!dir.join("probe").exists());
}

#[test]
fn the_real_opencode_completes_a_spec_in_the_sandbox_and_its_shell_cannot_write_home() {
    use crate::common::fake_llm::{Api, FakeLlm, prompt, result};
    use crate::common::real_agent::{
        Project, opencode, opencode_env, quote, run_script_to_the_end,
    };
    let p = Project::new("boxed", "# Boxed\n\n- [ ] Write hello.txt\n");
    let file = p.path().join("hello.txt").display().to_string();
    let llm = FakeLlm::start(
        Api::OpenAi,
        vec![
            prompt("planning iteration").call(
                "bash",
                json!({"command": "touch \"$HOME/outside\"", "description": "Touch a file in the home"}),
            ),
            result("Read-only file system")
                .call("write", json!({"filePath": file, "content": "hello\n"})),
            result("Wrote file successfully").call(
                "iteratr_task-status",
                json!({"id": "TAS-1", "status": "completed"}),
            ),
            result("TAS-1 is now completed").call(
                "iteratr_session-complete",
                json!({"summary": "hello.txt written in the sandbox"}),
            ),
            result("Session complete").say("Done."),
        ],
    );
    let agent = format!("{} acp", quote(&opencode()));
    let mut cmd = p.build(&agent, &["-i", "1", "-m", "fakellm/scripted", "--sandbox"]);
    opencode_env(&mut cmd, &llm, "other");
    let (out, context) = run_script_to_the_end(cmd, &llm, &p, Duration::from_secs(110));
    assert!(out.stdout.contains("; sandboxed)"), "{context}");
    assert_eq!(
        std::fs::read_to_string(p.path().join("hello.txt")).unwrap(),
        "hello\n"
    );
    let home = p.path().parent().unwrap().join("home");
    assert!(!home.join("outside").exists(), "{context}");
    let status: Value = p.status();
    assert_eq!(status["completed"], true, "{status}");
    assert_eq!(status["agent_sandboxed"], true, "{status}");
}

#[test]
fn the_sandbox_and_what_it_allows_come_from_the_settings_file() {
    let home = home_with_a_key();
    std::fs::create_dir_all(home.path().join("cache")).unwrap();
    let words = |w: &[&str]| Action::run(w.iter().map(|s| s.to_string()));
    let cached = home.path().join("cache/written").display().to_string();
    let p = Project::new(Script::turns([
        Turn::of([
            words(&["printenv", "ITERATR_SANDBOX"]),
            words(&["touch", &cached]),
            words(&["printenv", "SSH_AUTH_SOCK"]),
            words(&["printenv", "MY_DB_SECRET"]),
            words(&["printenv", "MY_DB"]),
        ]),
        complete_all(),
    ]))
    .with_env("HOME", &home.path().display().to_string())
    .with_env("SSH_AUTH_SOCK", "/run/ssh-agent.sock")
    .with_env("MY_DB_SECRET", "s3cret")
    .with_env("MY_DB", "db");
    let settings = "sandbox = true\nsandbox_writable = [\"~/cache\"]\nsandbox_env_allow = [\"SSH_AUTH_SOCK\"]\nsandbox_env_deny = [\"MY_*_SECRET\"]\n";
    std::fs::write(p.path().join("iteratr.toml"), settings).unwrap();

    // `iteratr config` shows them, with where they come from.
    let out = Command::new(crate::common::bin())
        .current_dir(p.path())
        .arg("config")
        .env_remove("ITERATR_DATA_DIR")
        .output()
        .unwrap();
    let text = stdout(&out).replace(&p.path().display().to_string(), "P");
    for line in [
        "sandbox true (P/iteratr.toml:1)",
        "sandbox_writable ~/cache (P/iteratr.toml:2)",
        "sandbox_env_allow SSH_AUTH_SOCK (P/iteratr.toml:3)",
        "sandbox_env_deny MY_*_SECRET (P/iteratr.toml:4)",
        "sandbox_readable (not set) (default)",
    ] {
        let key = line.split_whitespace().next().unwrap();
        let shown = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "));
        assert_eq!(shown.as_deref(), Some(line), "{text}");
    }

    // A build here runs sandboxed, with what the file allows, and says so in --json too.
    let out = p.build(&["--headless", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    let ready: Vec<Value> = stdout(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "agent_ready")
        .collect();
    assert_eq!(ready.len(), 1, "{}", stdout(&out));
    assert_eq!(ready[0]["sandboxed"], true, "{}", ready[0]);
    let runs: Vec<log::Run> = p.agent_events();
    let all = format!("{runs:#?}");
    let results: Vec<(Option<i32>, &str)> =
        runs.iter().map(|r| (r.code, r.stdout.as_str())).collect();
    assert_eq!(
        results,
        [
            (Some(0), "bubblewrap"),
            (Some(0), ""),
            (Some(0), "/run/ssh-agent.sock"),
            (Some(1), ""),
            (Some(0), "db"),
        ],
        "{all}"
    );
    assert!(Path::new(&cached).exists());

    // A pattern that is not a variable name is refused with its file, line and key.
    std::fs::write(
        p.path().join("iteratr.toml"),
        "sandbox = true\nsandbox_env_deny = [\"MY-SECRET\"]\n",
    )
    .unwrap();
    let out = p.build(&["--headless"]);
    let err = stderr(&out).replace(&p.path().display().to_string(), "P");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("error: P/iteratr.toml:2:")
            && err.contains("sandbox_env_deny")
            && err.contains("\"MY-SECRET\" holds '-'; a pattern is a variable name"),
        "{err}"
    );
}

/// Waits until nothing works in `dir` or names it (an agent, what it started, bubblewrap).
fn assert_nothing_left_in(dir: &Path) {
    use crate::common::procs;
    let left = || {
        let mut left = procs::working_in(dir);
        left.extend(procs::with_cmdline(&dir.display().to_string()));
        left
    };
    crate::common::wait_until(
        crate::common::PATIENCE,
        || format!("left running: {:?}", left()),
        || left().is_empty(),
    );
}

#[test]
fn a_sandboxed_agent_and_what_it_started_go_with_iteratr_even_killed() {
    // Agents that ignore SIGTERM and their stdin closing, each with a grandchild in a session of
    // its own that does too.
    let stubborn =
        |script: Script| Project::new(script).with_env("ITERATR_FAKE_AGENT_STUBBORN", "setsid");
    // A build that ends by itself.
    let p = stubborn(Script::turns([complete_all()]));
    let out = p.build(&["--headless", "--sandbox"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout_and_stderr(&out));
    assert!(!p.agent_events::<log::Grandchild>().is_empty());
    assert_nothing_left_in(&p.path().canonicalize().unwrap());

    // A build killed (SIGKILL) while its agent works.
    let p = stubborn(Script::turns([Turn::of([Action::Hang])]));
    let mut build = crate::common::procs::KillOnDrop::new(
        p.command(&["--headless", "--sandbox"]).spawn().unwrap(),
    );
    p.wait_for_agent("grandchild");
    p.wait_for_agent("prompt");
    // What the check below looks for is seen while it runs: bubblewrap, the agent, its grandchild.
    let dir = p.path().canonicalize().unwrap();
    let running = crate::common::procs::working_in(&dir);
    assert!(running.len() >= 3, "{running:?}");
    assert!(
        running.iter().any(|(_, c)| c.contains("bwrap")),
        "{running:?}"
    );
    build.child_mut().kill().unwrap();
    build.child_mut().wait().unwrap();
    assert_nothing_left_in(&p.path().canonicalize().unwrap());
}

#[test]
fn claude_code_builds_a_spec_in_the_sandbox() {
    use crate::common::fake_llm::{Api, FakeLlm};
    use crate::common::real_agent::{claude_code_acp, claude_env, quote, run_script_to_the_end};
    let p = crate::real_agents::project();
    let llm = FakeLlm::start(Api::Anthropic, crate::real_agents::claude_script(&p.path()));
    let agent = format!("node {}", quote(&claude_code_acp()));
    let mut cmd = p.build(&agent, &["-i", "3", "-m", "haiku", "--sandbox"]);
    claude_env(&mut cmd, &llm);
    // Its state in ~/.claude, the one place of the home it may write (CLAUDE_CONFIG_DIR).
    let (out, context) = run_script_to_the_end(cmd, &llm, &p, Duration::from_secs(110));
    assert!(
        out.stdout
            .contains("iteratr: agent @zed-industries/claude-code-acp 0.16.2 ready (session tools over HTTP; sandboxed)"),
        "{context}"
    );
    for (file, text) in [("hello.txt", "hello\n"), ("world.txt", "world\n")] {
        assert_eq!(std::fs::read_to_string(p.path().join(file)).unwrap(), text);
    }
    let home = p.path().parent().unwrap().join("home");
    assert!(home.join(".claude/.claude.json").exists(), "{context}");
    assert!(!home.join(".claude.json").exists(), "{context}");
}

/// Where no `iteratr.toml` exists the sandboxed agent can create one (its directory is the
/// project), and hooks declared there would run outside the sandbox at the next build. The
/// sandboxed build says so as it ends, and the next build, sandboxed or not, refuses the file
/// with the change shown until the person runs again with `--trust-settings`.
#[test]
fn a_settings_file_the_sandboxed_agent_wrote_is_refused_until_the_person_trusts_it() {
    let hook = "[hooks.session_end]\ncommand = \"touch pwned\"\n";
    let plant = Action::run(vec![
        "sh".into(),
        "-c".into(),
        format!("printf '{}' > iteratr.toml", hook.replace('\n', "\\n")),
    ]);
    let p = Project::new(Script::turns([Turn::of([plant]), complete_all()]));
    p.init_git();
    let out = p.build(&["--headless", "--sandbox"]);
    let text = stdout_and_stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        std::fs::read_to_string(p.path().join("iteratr.toml")).unwrap(),
        hook
    );
    assert!(
        text.contains("iteratr: warning: iteratr.toml changed during this sandboxed build (its agent may have written it, and hooks declared there run outside the sandbox): the next build shows the change and refuses it until you run again with --trust-settings"),
        "{text}"
    );

    for args in [&["--headless"][..], &["--headless", "--sandbox"]] {
        let refused = p.build(args);
        let said = stderr(&refused);
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{said}\n{}",
            stdout(&refused)
        );
        assert!(
            said.contains("error: iteratr.toml changed since a sandboxed build started (")
                && said.contains("+[hooks.session_end]")
                && said.contains("+command = \"touch pwned\"")
                && said.contains("run again with --trust-settings"),
            "{said}"
        );
        assert!(!p.path().join("pwned").exists(), "the hook ran: {said}");
    }
    // The log is as the sandboxed build left it.
    assert_eq!(p.status()["completed"], true);

    let trusted = p.build(&["--headless", "--trust-settings"]);
    let text = stdout_and_stderr(&trusted);
    assert_eq!(trusted.status.code(), Some(0), "{text}");
    assert!(!text.contains("changed since a sandboxed build"), "{text}");
    let again = p.build(&["--headless"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        stdout_and_stderr(&again)
    );
}
