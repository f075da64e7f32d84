//! The session as MCP resources and the `iteration` prompt, checked with the official Python SDK
//! client against the real binary: list, read (JSON and Markdown), follow the tasks and get the
//! update when another process adds one, and render the prompt with the session's tasks. Both
//! ways of following: `resources/subscribe` (protocols before 2026-07-28) and
//! `subscriptions/listen` (2026-07-28).

use std::process::Command;

use crate::common::mcp::{self, call, connect_http, text};
use crate::mcp_python::require_sdk;
use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams, ResourceContents};
use serde_json::json;

use crate::common::fake_agent::log;

/// Runs the Python client in `mode` (legacy or modern), on stdio or, with `http`, against
/// `iteratr mcp serve --http` on the same data dir.
fn follow_with_python(mode: &str, http: bool) {
    require_sdk();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = dir.path().join("spec.md");
    std::fs::write(
        &spec,
        "# Parser\n\nBuild a parser.\n\n- [ ] Write the parser\n",
    )
    .unwrap();
    let spec_arg = spec.display().to_string();
    let server = http.then(|| mcp::serve_http(&data, "followed", &["--spec", &spec_arg]));
    let script = format!(
        "{}/tests/python/mcp_resources_client.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg(crate::common::bin())
        .arg(&data)
        .arg("followed")
        .arg(&spec)
        .arg(mode);
    if let Some(server) = &server {
        cmd.args([server.url.as_str(), mcp::TOKEN]);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python client failed:\n{stdout}\n{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["updated"], "iteratr://sessions/followed/tasks");
}

#[test]
fn python_sdk_follows_tasks_with_resources_subscribe() {
    follow_with_python("legacy", false);
    follow_with_python("legacy", true);
}

#[test]
fn python_sdk_follows_tasks_with_subscriptions_listen() {
    follow_with_python("modern", false);
    follow_with_python("modern", true);
}

fn resource_text(c: &ResourceContents) -> (&str, Option<&str>) {
    match c {
        ResourceContents::TextResourceContents {
            text, mime_type, ..
        } => (text.as_str(), mime_type.as_deref()),
        other => panic!("not text: {other:?}"),
    }
}

/// Over HTTP with the rmcp client: any session of the store is readable, unknown ones and bad
/// URIs are refused with what exists, and the prompt names the served session by default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_and_prompt_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = mcp::serve_http(dir.path(), "served", &[]);
    let c = connect_http(&server.url, mcp::TOKEN).await;
    let r = call(&c, "note-add", json!({"type": "tip", "content": "Use nom"})).await;
    assert_eq!(r.is_error, Some(false), "{}", text(&r));

    let read = |uri: &str| c.read_resource(ReadResourceRequestParams::new(uri.to_string()));
    let notes = read("iteratr://sessions/served/notes").await.unwrap();
    let (body, mime) = resource_text(&notes.contents[0]);
    assert_eq!(mime, Some("application/json"));
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["notes"][0]["content"], "Use nom", "{v}");
    let md = read("iteratr://sessions/served/notes.md").await.unwrap();
    let (body, mime) = resource_text(&md.contents[0]);
    assert_eq!(mime, Some("text/markdown"));
    assert!(body.contains("- NOT-1 Use nom"), "{body}");

    let e = read("iteratr://sessions/nobody/tasks").await.unwrap_err();
    assert!(e.to_string().contains("no session 'nobody'"), "{e}");
    let e = read("iteratr://sessions/served/secrets").await.unwrap_err();
    assert!(e.to_string().contains("resources/list"), "{e}");
    // Without --spec, the server takes the only specs/*.md of its directory (this repository's).
    let spec = read("iteratr://sessions/served/spec").await.unwrap();
    let v: serde_json::Value = serde_json::from_str(resource_text(&spec.contents[0]).0).unwrap();
    assert_eq!(v["path"], "specs/todo-cli.md", "{v}");
    assert!(
        v["text"].as_str().unwrap().starts_with("# Spec: `todo`"),
        "{v}"
    );

    let prompt = c
        .get_prompt(GetPromptRequestParams::new("iteration"))
        .await
        .unwrap();
    let text = serde_json::to_value(&prompt.messages[0]).unwrap();
    let text = text["content"]["text"].as_str().unwrap().to_string();
    assert!(
        text.starts_with("# iteratr session served\n")
            && text.contains("\n## Now: iteratr session served, iteration 0\n"),
        "{text}"
    );
    assert!(text.contains("- NOT-1 (tip) Use nom"), "{text}");
    let e = c
        .get_prompt(GetPromptRequestParams::new("iteration").with_arguments(
            serde_json::from_value(json!({"session": "x", "colour": "red"})).unwrap(),
        ))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("takes one argument, session"), "{e}");
    c.cancel().await.unwrap();
}

/// The `iteration` prompt is the prompt `iteratr build` sends: taken between two builds of a
/// project, it is exactly what the agent receives first in the next build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_iteration_prompt_is_what_build_sends_next() {
    use crate::common::project::{Project, full_script, stdout};
    use rmcp::ServiceExt;

    let p = Project::new(full_script());
    let build = |p: &Project| {
        let out = p.build(&["--headless", "-i", "1"]);
        assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    };
    tokio::task::block_in_place(|| build(&p));

    let mut cmd = tokio::process::Command::new(crate::common::bin());
    cmd.current_dir(p.path())
        .env_remove("ITERATR_DATA_DIR")
        .args(["mcp", "serve", "--session", "demo"]);
    let c = ().serve(rmcp::transport::TokioChildProcess::new(cmd).unwrap()).await.unwrap();
    let prompt = c
        .get_prompt(GetPromptRequestParams::new("iteration"))
        .await
        .unwrap();
    c.cancel().await.unwrap();
    let by_mcp = serde_json::to_value(&prompt.messages[0]).unwrap()["content"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        by_mcp.contains("\n## Now: iteratr session demo, iteration 2\n"),
        "{by_mcp}"
    );

    tokio::task::block_in_place(|| build(&p));
    let prompts = p.agent_events::<log::Prompt>();
    let sent = prompts.last().unwrap().text.as_str();
    assert_eq!(by_mcp, sent);
}
