//! Permission rules hold with the agents users run. opencode runs its tools without asking unless
//! its permission config says otherwise, so iteratr starts it with one that makes it ask (merged
//! with the user's own settings); Claude Code asks by itself. Each agent is driven by a scripted
//! fake LLM on 127.0.0.1 (`tests/common/fake_llm.rs`); the tools are the agents' own.

use std::time::Duration;

use crate::common::fake_llm::{Api, FakeLlm, prompt, result};
use crate::common::real_agent::{
    Project, claude_code_acp, claude_env, opencode, opencode_env, quote, run, run_script_to_the_end,
};
use serde_json::json;

const SPEC: &str = "# Tools\n\nNothing to build: the agent tries a few of its tools.\n";

#[test]
fn opencode_asks_and_a_deny_rule_refuses_its_shell() {
    let p = Project::new("tools", SPEC);
    let file = |name: &str| p.path().join(name).display().to_string();
    let llm = FakeLlm::start(
        Api::OpenAi,
        vec![
            prompt("planning iteration").call(
                "bash",
                json!({"command": "echo no > denied.txt", "description": "Write denied.txt"}),
            ),
            // The model is told, and goes on with another tool.
            result("rejected permission").call(
                "write",
                json!({"filePath": file("allowed.txt"), "content": "yes\n"}),
            ),
            result("Wrote file successfully").call(
                "iteratr_session-complete",
                json!({"summary": "tried the tools"}),
            ),
            result("Session complete").say("Done."),
        ],
    );
    let agent = format!("{} acp", quote(&opencode()));
    let mut cmd = p.build(
        &agent,
        &["-i", "1", "-m", "fakellm/scripted", "--deny-tools", "bash*"],
    );
    opencode_env(&mut cmd, &llm, "other");
    let (out, context) = run_script_to_the_end(cmd, &llm, &p, Duration::from_secs(110));
    let text = &out.stdout;
    let context = || context.clone();

    // The shell command never ran; the edit did.
    assert!(!p.path().join("denied.txt").exists(), "{}", context());
    assert_eq!(
        std::fs::read_to_string(p.path().join("allowed.txt")).unwrap(),
        "yes\n"
    );
    for line in [
        "iteratr: set opencode's permission config (OPENCODE_PERMISSION, OPENCODE_CONFIG_CONTENT) so that it asks before every tool call",
        "iteratr: OpenCode asks iteratr before every tool call",
        "  permission: bash: echo no > denied.txt → denied by --deny-tools 'bash*'",
        " · 1 tool call allowed",
        "  session completed",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{}", context());
    }
    // What no rule refused is counted, not shown; iteratr's own tools never asked at all.
    assert!(!text.contains("→ allowed"), "{}", context());
    assert!(!text.contains("permission: iteratr_"), "{}", context());
    // Every decision is in the session log: the refusal on its own, the allowance counted.
    let s = p.status();
    let perms = &s["permissions"];
    assert_eq!(perms["denied"], 1, "{s}");
    assert_eq!(perms["allowed"], 1, "{s}");
    assert_eq!(perms["recent"].as_array().unwrap().len(), 1, "{s}");
    let denied = &perms["recent"][0];
    assert_eq!(
        (
            denied["tool"].as_str(),
            denied["decision"].as_str(),
            denied["rule"].as_str()
        ),
        (Some("bash"), Some("denied_by_rule"), Some("bash*")),
        "{s}"
    );
    assert_eq!(denied["by"], "system", "{s}");
}

#[test]
fn without_rules_opencode_runs_everything_and_the_users_settings_still_apply() {
    let p = Project::new("tools", SPEC);
    let file = |name: &str| p.path().join(name).display().to_string();
    std::fs::write(p.path().join("keep.txt"), "keep\n").unwrap();
    // The user's own opencode settings: a global config file allowing the shell except `rm`,
    // and OPENCODE_PERMISSION refusing web fetches; the provider and its default model (`other`)
    // come from OPENCODE_CONFIG_CONTENT.
    let global = p.config_home().join("opencode");
    std::fs::create_dir_all(&global).unwrap();
    std::fs::write(
        global.join("opencode.json"),
        r#"{"permission": {"bash": {"*": "allow", "rm *": "deny"}}}"#,
    )
    .unwrap();
    let llm = FakeLlm::start(
        Api::OpenAi,
        vec![
            prompt("planning iteration").call(
                "bash",
                json!({"command": "echo yes > ran.txt", "description": "Write ran.txt"}),
            ),
            result("no output").call(
                "bash",
                json!({"command": "rm keep.txt", "description": "Remove keep.txt"}),
            ),
            // opencode itself refuses `rm` (the user's rule), without asking iteratr.
            result("specified a rule").call(
                "write",
                json!({"filePath": file("written.txt"), "content": "yes\n"}),
            ),
            result("Wrote file successfully").call(
                "iteratr_session-complete",
                json!({"summary": "tried the tools"}),
            ),
            result("Session complete").say("Done."),
        ],
    );
    let agent = format!("{} acp", quote(&opencode()));
    let mut cmd = p.build(&agent, &["-i", "1"]);
    opencode_env(&mut cmd, &llm, "other");
    cmd.env("OPENCODE_PERMISSION", r#"{"webfetch": "deny"}"#);
    let (out, context) = run_script_to_the_end(cmd, &llm, &p, Duration::from_secs(110));
    let text = &out.stdout;
    let steps = llm.progress().1;
    let context = || context.clone();

    // Without rules every call iteratr was asked about ran.
    assert_eq!(
        std::fs::read_to_string(p.path().join("ran.txt")).unwrap(),
        "yes\n"
    );
    assert_eq!(
        std::fs::read_to_string(p.path().join("written.txt")).unwrap(),
        "yes\n"
    );
    for line in [
        "iteratr: set opencode's permission config (OPENCODE_PERMISSION, OPENCODE_CONFIG_CONTENT) so that it asks before every tool call (1 \"allow\" rule(s) of yours now \"ask\"; 2 \"deny\" rule(s) of yours kept)",
        " · 2 tool calls allowed",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{}", context());
    }
    assert!(!text.contains("→ allowed"), "{}", context());
    // The user's deny rule still holds, in opencode itself.
    assert!(p.path().join("keep.txt").exists(), "{}", context());
    assert!(
        !text.contains("permission: bash: rm keep.txt"),
        "{}",
        context()
    );
    let s = p.status();
    assert_eq!(
        (
            s["permissions"]["allowed"].as_u64(),
            s["permissions"]["denied"].as_u64()
        ),
        (Some(2), Some(0)),
        "{s}"
    );
    // The user's provider served every request, with their default model; their refusal of web
    // fetches keeps that tool from the model.
    let main = llm.main_requests();
    assert_eq!(main.len(), steps, "{}", context());
    for r in &main {
        assert_eq!(r.model(), Some("other"), "{}", context());
        let tools = r.tool_names();
        assert!(
            tools.iter().any(|t| t == "bash") && tools.iter().any(|t| t == "write"),
            "{tools:?}"
        );
        assert!(!tools.iter().any(|t| t == "webfetch"), "{tools:?}");
    }
}

#[test]
fn claude_code_follows_the_same_deny_rule() {
    let p = Project::new("tools", SPEC);
    let llm = FakeLlm::start(
        Api::Anthropic,
        vec![
            prompt("planning iteration").call(
                "Bash",
                json!({"command": "echo no > denied.txt", "description": "Write denied.txt"}),
            ),
            // claude-code-acp ends the turn when a call is refused: the next request the model
            // gets is the next iteration's prompt, not a continuation of the refused turn.
            prompt("session tools, iteration 1\n").say("Done."),
        ],
    );
    let agent = format!("node {}", quote(&claude_code_acp()));
    let mut cmd = p.build(&agent, &["-i", "1", "--deny-tools", "bash*"]);
    claude_env(&mut cmd, &llm);
    let out = run(cmd, Duration::from_secs(110));
    let text = crate::common::project::stdout(&out);
    let context = || {
        format!(
            "{text}\n{}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            llm.report(),
            p.log_tail()
        )
    };
    assert!(!p.path().join("denied.txt").exists(), "{}", context());
    assert_eq!(llm.progress(), (2, 2), "{}", context());
    assert!(llm.errors().is_empty(), "{}", context());
    assert!(
        text.contains(
            "  permission: Bash: `echo no > denied.txt` → denied by --deny-tools 'bash*'"
        ),
        "{}",
        context()
    );
    assert!(
        text.contains(
            "iteratr: Claude Code asks iteratr before commands, edits, web fetches and MCP tools"
        ),
        "{}",
        context()
    );
    let s = p.status();
    assert_eq!(s["permissions"]["denied"], 1, "{s}");
    assert_eq!(s["permissions"]["recent"][0]["tool"], "Bash", "{s}");
}
