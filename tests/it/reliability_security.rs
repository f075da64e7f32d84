//! What iteratr survives, part 5 (`RELIABILITY.md`, "Security"): the MCP endpoint takes only
//! its token (compared in constant time: `same` in `src/mcp/http.rs`), from loopback origins
//! naming the bound host, and listens on loopback only; secrets never reach logs, `--json`,
//! progress lines or a command line; the data dir is the owner's alone; deny rules hold. (The
//! agent's file requests: `reliability_agent_io.rs`; hook values never become shell:
//! `hooks.rs`.)

use std::net::TcpStream;
use std::process::Command;

use crate::common::mcp::{self, INIT, TOKEN, post};
use crate::common::project::*;
use serde_json::json;

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
    assert_eq!(
        post(url, Some(&TOKEN[..TOKEN.len() - 1]), &[], INIT)
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
    let turn = json!({"actions": [
        {"permission": {"title": "Edit src/lib.rs", "kind": "edit"}},
        {"permission": {"title": "Run rm -rf target", "kind": "execute"}},
        {"read": secret.display().to_string()},
        {"read": "specs/demo.md"},
        {"write": {"path": outside.path().join("planted.txt").display().to_string(), "content": "x"}},
        status_of("TAS-1", "cancelled"), status_of("TAS-2", "cancelled"), status_of("TAS-3", "cancelled"),
        tool("session-complete", json!({})),
    ]});
    let p = Project::new(json!({"turns": [planning_turn(), turn]}));
    let out = p.build(&["--headless", "--deny-tools", "run rm*"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let perms = p.agent_events("permission");
    assert_eq!(perms[0]["outcome"], "allow_once", "{perms:?}");
    assert_eq!(perms[1]["outcome"], "reject_once", "{perms:?}");
    assert!(
        text.contains("permission: Edit src/lib.rs → allowed"),
        "{text}"
    );
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
    // Both decisions are in the session log, and status shows them.
    let s = p.status();
    let perms = &s["permissions"];
    assert_eq!(
        (perms["allowed"].as_u64(), perms["denied"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    assert_eq!(perms["recent"][0]["decision"], "allowed", "{s}");
    assert_eq!(perms["recent"][1]["decision"], "denied_by_rule", "{s}");
    assert_eq!(perms["recent"][1]["rule"], "run rm*", "{s}");
    assert_eq!(perms["recent"][1]["title"], "Run rm -rf target", "{s}");
    assert_eq!(perms["recent"][1]["iteration"], 1, "{s}");
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
    let reads = p.agent_events("read");
    assert_eq!(reads[0]["ok"], false);
    assert!(
        reads[0]["error"]
            .as_str()
            .unwrap()
            .contains("outside the project directory"),
        "{reads:?}"
    );
    assert_eq!(reads[1]["ok"], true);
    assert_eq!(reads[1]["content"], SPEC);
    assert_eq!(p.agent_events("write")[0]["ok"], false);
    assert!(!outside.path().join("planted.txt").exists());
}
