//! What iteratr survives, part 5 (`RELIABILITY.md`, "Security"): the MCP endpoint takes only
//! its token (compared in constant time: `same` in `src/mcp/http.rs`), from loopback origins
//! naming the bound host, and listens on loopback only; secrets never reach logs, `--json`,
//! progress lines or a command line; the data dir is the owner's alone; deny rules hold. (The
//! agent's file requests: `reliability_agent_io.rs`; hook values never become shell:
//! `hooks.rs`.)

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::mcp::{self, INIT, TOKEN, post};
use crate::common::nats::{NatsServer, free_port};
use crate::common::procs::{KillOnDrop, listening, with_cmdline};
use crate::common::project::*;
use crate::common::{PATIENCE, rogue, wait_until};
use serde_json::{Value, json};

use crate::common::fake_agent::log;
use crate::common::fake_agent::script::{Action, Script, Turn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requires_the_token_and_a_loopback_origin_and_host() {
    let dir = tempfile::tempdir().unwrap();
    let server = mcp::serve_http(dir.path(), "guarded", &[]);
    let url = server.url.as_str();

    let none = post(url, None, &[], INIT).await;
    assert_eq!(none.status(), 401);
    let challenge = none.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer"), "{challenge}");

    assert_eq!(
        post(url, Some("wrong-token-0123456789"), &[], INIT)
            .await
            .status(),
        401
    );
    // A prefix of the token, the token with more after it, the token in another scheme or
    // another case: all refused.
    assert_eq!(
        post(url, Some(&TOKEN[..TOKEN.len() - 1]), &[], INIT)
            .await
            .status(),
        401
    );
    assert_eq!(
        post(url, Some(&format!("{TOKEN}0")), &[], INIT)
            .await
            .status(),
        401
    );
    assert_eq!(
        post(url, Some(&TOKEN.to_uppercase()), &[], INIT)
            .await
            .status(),
        401
    );
    let token_scheme = format!("Token {TOKEN}");
    assert_eq!(
        post(url, None, &[("authorization", token_scheme.as_str())], INIT)
            .await
            .status(),
        401
    );
    let basic = reqwest::Client::new()
        .post(url)
        .basic_auth("user", Some(TOKEN))
        .body(INIT)
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);

    for origin in [
        "http://evil.example",
        "http://127.0.0.1.evil.example:8080",
        "null",
    ] {
        let r = post(url, Some(TOKEN), &[("origin", origin)], INIT).await;
        assert_eq!(r.status(), 403, "origin {origin}");
    }
    // Without a token a foreign page learns nothing either.
    assert_eq!(
        post(url, None, &[("origin", "http://evil.example")], INIT)
            .await
            .status(),
        403
    );
    // DNS rebinding: the right token, but the Host names another site.
    let rebound = post(url, Some(TOKEN), &[("host", "evil.example")], INIT).await;
    assert_eq!(rebound.status(), 403);

    // The same request, properly made, is served; a loopback Origin is fine.
    let good = post(
        url,
        Some(TOKEN),
        &[("origin", "http://localhost:3000")],
        INIT,
    )
    .await;
    assert_eq!(good.status(), 200);
    assert!(good.text().await.unwrap().contains("\"serverInfo\""));
}

#[test]
fn http_listens_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let out = Command::new(crate::common::bin())
            .arg("--data-dir")
            .arg(dir.path())
            .args([
                "mcp",
                "serve",
                "--session",
                "s",
                "--http",
                addr,
                "--token",
                TOKEN,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{addr}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("loopback only"), "{err}");
    }
    let server = mcp::serve_http(dir.path(), "s", &[]);
    assert!(server.url.starts_with("http://127.0.0.1:"));
    assert!(TcpStream::connect(("127.0.0.1", server.port)).is_ok());
    // What the server process really listens on (the kernel's view, not what it printed): the
    // port, on loopback and nothing else.
    let bound = crate::common::procs::listening(server.child.id());
    assert!(
        bound.iter().any(|a| a.port() == server.port),
        "not listening on {}: {bound:?}",
        server.port
    );
    assert!(
        bound.iter().all(|a| a.ip().is_loopback()),
        "listening beyond loopback: {bound:?}"
    );
    let short = Command::new(crate::common::bin())
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "mcp",
            "serve",
            "--session",
            "s",
            "--http",
            "127.0.0.1:0",
            "--token",
            "short",
        ])
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("too short"));
}

#[test]
fn permissions_and_files_follow_the_policy() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    let turn = Turn::of([
        Action::permission("Edit src/lib.rs", "edit"),
        Action::permission("Run rm -rf target", "execute"),
        Action::read(&secret),
        Action::read("specs/demo.md"),
        Action::write(outside.path().join("planted.txt"), "x"),
        status_of("TAS-1", "cancelled"),
        status_of("TAS-2", "cancelled"),
        status_of("TAS-3", "cancelled"),
        tool("session-complete", json!({})),
    ]);
    let p = Project::new(Script::turns([planning_turn(), turn]));
    let out = p.build(&["--headless", "--deny-tools", "run rm*"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let perms = p.agent_events::<log::Permission>();
    assert_eq!(perms[0].outcome, "allow_once", "{perms:?}");
    assert_eq!(perms[1].outcome, "reject_once", "{perms:?}");
    // What no rule refuses is counted, not shown one by one.
    assert!(!text.contains("permission: Edit src/lib.rs"), "{text}");
    assert!(text.contains(" · 1 tool call allowed"), "{text}");
    assert!(
        text.contains("permission: Run rm -rf target → denied by --deny-tools 'run rm*'"),
        "{text}"
    );
    // The fake agent is not known to ask before every tool: the build says the rules may not
    // reach all of them.
    assert!(
        text.contains("iteratr: warning: --deny-tools applies only to the tool calls fake-agent asks permission for"),
        "{text}"
    );
    // Both decisions are counted in the session log; the refusal is recorded on its own too.
    let s = p.status();
    let perms = &s["permissions"];
    assert_eq!(
        (perms["allowed"].as_u64(), perms["denied"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    assert_eq!(perms["recent"].as_array().unwrap().len(), 1, "{s}");
    assert_eq!(perms["recent"][0]["decision"], "denied_by_rule", "{s}");
    assert_eq!(perms["recent"][0]["rule"], "run rm*", "{s}");
    assert_eq!(perms["recent"][0]["title"], "Run rm -rf target", "{s}");
    assert_eq!(perms["recent"][0]["iteration"], 1, "{s}");
    let out = Command::new(crate::common::bin())
        .current_dir(p.path())
        .args(["status", "--session", "demo"])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(
        status.contains("Permission requests: 1 allowed, 1 denied"),
        "{status}"
    );
    assert!(
        status.contains("#1   Run rm -rf target → denied by --deny-tools 'run rm*'"),
        "{status}"
    );
    let reads = p.agent_events::<log::Read>();
    assert!(!reads[0].ok);
    assert!(
        reads[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("outside the project directory")),
        "{reads:?}"
    );
    assert!(reads[1].ok);
    assert_eq!(reads[1].content.as_deref(), Some(SPEC));
    assert!(!p.agent_events::<log::Write>()[0].ok);
    assert!(!outside.path().join("planted.txt").exists());
}

/// Every file under `dir` holding `secret`, as text.
fn files_holding(dir: &Path, secret: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        if entry.is_file()
            && let Ok(bytes) = std::fs::read(&entry)
            && bytes.windows(secret.len()).any(|w| w == secret.as_bytes())
        {
            found.push(entry.display().to_string());
        }
    }
    found
}

/// Every path under `dir` (not following symlinks), `dir` excluded.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        out.push(path.clone());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&path));
        }
    }
    out
}

/// The bearer token a build gave its agent, from what the rogue agent logged of its last
/// `session/new`.
fn token_given(p: &Project) -> String {
    let sessions = rogue::events(p, "new_session");
    let header = sessions.last().unwrap()["mcp_servers"][0]["headers"][0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let token = header.strip_prefix("Bearer ").unwrap().to_string();
    assert!(token.len() >= 32, "{token}");
    token
}

/// While a build runs: its MCP endpoint listens on loopback only, and the token is on no command
/// line. After it: the token is in no output (`--json`, progress lines, stderr), not in the log
/// file even at the trace level, and in no file of the data dir.
#[test]
fn the_builds_endpoint_is_on_loopback_and_its_token_is_never_printed() {
    let p = Project::new(Script::turns([]));
    let go = p.path().join("go");
    let log = p.path().join("iteratr.log");
    let runs: [(&[&str], Value); 2] = [
        (
            &["--headless", "--json", "-i", "1"],
            json!([[{"say": "planning\n"}], [{"wait_file": go}]]),
        ),
        (&["--headless", "-i", "1"], json!([[{"wait_file": go}]])),
    ];
    for (run, (args, turns)) in runs.into_iter().enumerate() {
        let _ = std::fs::remove_file(&go);
        rogue::script(&p, json!({ "turns": turns }));
        let mut cmd = rogue::command(&p, args);
        cmd.env("ITERATR_LOG_FILE", &log)
            .env("ITERATR_LOG_LEVEL", "trace");
        let child = KillOnDrop::new(cmd.spawn().unwrap());
        wait_until(
            PATIENCE,
            || "the agent never reached its turn",
            || rogue::events(&p, "waiting").len() > run,
        );
        let token = token_given(&p);
        let url = rogue::events(&p, "new_session").last().unwrap()["mcp_servers"][0]["url"]
            .as_str()
            .unwrap()
            .to_string();
        let port: u16 = url
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches("/mcp")
            .parse()
            .unwrap();
        let bound = listening(child.id());
        assert!(bound.iter().any(|a| a.port() == port), "{bound:?}");
        assert!(
            bound.iter().all(|a| a.ip().is_loopback()),
            "the build listens beyond loopback: {bound:?}"
        );
        assert_eq!(with_cmdline(&token), [], "the token is on a command line");
        std::fs::write(&go, "").unwrap();
        let out = finish(child.into_inner(), PATIENCE);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let logged = std::fs::read_to_string(&log).unwrap();
        // The log really is at the trace level: the agent's messages are in it.
        assert!(logged.contains("TRACE"), "{logged}");
        for (what, text) in [
            ("stdout", stdout(&out)),
            ("stderr", stderr(&out)),
            ("the log file", logged),
        ] {
            assert!(!text.contains(&token), "the token is in {what}:\n{text}");
        }
        assert_eq!(
            files_holding(&p.path().join(".iteratr"), &token),
            [] as [String; 0]
        );
    }
}

/// A secret for the store (here a NATS token) reaches the stdio MCP server the agent starts
/// through its environment, never its command line: checked on every process while the agent
/// works.
#[test]
fn secrets_for_the_stdio_mcp_entry_never_appear_on_a_command_line() {
    const SECRET: &str = "nats-secret-token-5f1e2d3c4b5a69788796";
    let server = NatsServer::start_with(free_port(), vec!["--auth".into(), SECRET.into()]);
    let p = Project::new(Script::turns([Turn::of([
        tool("task-list", json!({})),
        Action::wait_file("go"),
        summary("planned"),
    ])]))
    .with_env("ITERATR_NATS_URL", &server.url())
    .with_env("ITERATR_NATS_TOKEN", SECRET);
    let mut cmd = p.command(&["--headless", "-i", "1"]);
    cmd.env("ITERATR_FAKE_AGENT_NO_HTTP", "1");
    let child = KillOnDrop::new(cmd.spawn().unwrap());
    p.wait_for_agent("waiting");
    // The agent's stdio MCP server runs (its tool call went through it) and has the secret.
    let serving: Vec<u32> = with_cmdline("mcp serve")
        .into_iter()
        .filter(|(_, cmdline)| cmdline.contains(&p.path().display().to_string()))
        .map(|(pid, _)| pid)
        .collect();
    assert_eq!(serving.len(), 1, "the stdio MCP server is not running");
    let environ = std::fs::read(format!("/proc/{}/environ", serving[0])).unwrap();
    assert!(
        String::from_utf8_lossy(&environ).contains(&format!("ITERATR_NATS_TOKEN={SECRET}")),
        "the secret did not reach the stdio MCP server"
    );
    let leaks: Vec<(u32, String)> = with_cmdline(SECRET)
        .into_iter()
        .filter(|(pid, _)| *pid != server.pid())
        .collect();
    assert_eq!(leaks, [], "the secret is on a command line");
    std::fs::write(p.path().join("go"), "").unwrap();
    let out = finish(child.into_inner(), PATIENCE);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!stdout(&out).contains(SECRET) && !stderr(&out).contains(SECRET));
}

/// The mode bits of every path under `dir` (and `dir`) that others or the group could use.
fn not_owner_only(dir: &Path) -> Vec<String> {
    std::iter::once(dir.to_path_buf())
        .chain(walk(dir))
        .filter_map(|path| {
            let mode = std::fs::symlink_metadata(&path).ok()?.permissions().mode() & 0o777;
            (mode & 0o077 != 0).then(|| format!("{} {mode:o}", path.display()))
        })
        .collect()
}

/// `cmd` run under umask 022 (through `sh`), whatever the umask of the tests: files the process
/// creates are readable by all unless it protects them itself.
fn with_umask_022(cmd: &Command) -> Command {
    let mut wrapped = Command::new("sh");
    wrapped
        .arg("-c")
        .arg("umask 022 && exec \"$@\"")
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    wrapped
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    wrapped
}

/// The data dir is 0700 and everything in it the owner's alone, while a build runs (the SQLite
/// -wal and -shm files exist then) and with `--nats-server` (the managed server's store); the
/// log file is 0600.
#[test]
fn the_data_dir_and_its_files_are_owner_only() {
    for store in [&[][..], &["--nats-server"][..]] {
        let p = Project::new(Script::turns([Turn::of([
            tool("task-list", json!({})),
            Action::wait_file("go"),
            summary("planned"),
        ])]));
        let data = p.path().join(".iteratr");
        // `--nats-server` is a global flag: it may follow the subcommand.
        let mut args = vec!["--headless", "-i", "1"];
        args.extend_from_slice(store);
        let mut cmd = p.command(&args);
        let log = p.path().join("iteratr.log");
        cmd.env("ITERATR_LOG_FILE", &log);
        let child = KillOnDrop::new(with_umask_022(&cmd).spawn().unwrap());
        p.wait_for_agent("waiting");
        let names: Vec<String> = walk(&data)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        if store.is_empty() {
            for f in ["iteratr.db", "iteratr.db-wal", "iteratr.db-shm"] {
                assert!(names.iter().any(|n| n == f), "no {f} in {names:?}");
            }
        } else {
            assert!(names.iter().any(|n| n == "jetstream"), "{names:?}");
        }
        assert_eq!(not_owner_only(&data), [] as [String; 0], "{store:?}");
        std::fs::write(p.path().join("go"), "").unwrap();
        let out = finish(child.into_inner(), PATIENCE);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert_eq!(not_owner_only(&data), [] as [String; 0], "{store:?}, after");
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the log file");
    }
}
