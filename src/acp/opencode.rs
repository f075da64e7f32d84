//! Making opencode ask before it runs a tool. By default opencode runs its shell, edits, web
//! fetches and MCP tools without asking, so iteratr's `--deny-tools` and `--approve ask` never see
//! them. opencode reads a permission configuration (`"allow"`, `"ask"` or `"deny"` per tool, with
//! patterns; the last matching rule wins) from its config files, `OPENCODE_CONFIG_CONTENT` and,
//! last of all, `OPENCODE_PERMISSION`. iteratr starts it with:
//!
//! * `OPENCODE_PERMISSION`: the user's own rules in their order with every `"allow"` turned into
//!   `"ask"` (their `"deny"` rules stay), and a catch-all `"*": "ask"` so tools without a rule ask
//!   too. When their rules have no `"*"` but do deny something, a catch-all at the end would
//!   override those denials, so iteratr names opencode's tools (and each MCP server's) instead.
//! * `OPENCODE_CONFIG_CONTENT`: the user's own (kept whole) plus `"ask"` for the `"allow"` rules
//!   of their agents, and `experimental.continue_loop_on_deny`, so a refused call is reported to
//!   the model as a tool error instead of ending opencode's turn; and, when the agent's question
//!   (`ask-questions`) may wait longer than opencode waits for an MCP call (60 s),
//!   `experimental.mcp_timeout`, so that opencode does not give up on it first.
//!
//! The user's rules come from `opencode debug config` (opencode's own reading of every config
//! source), or, when that fails, from the two environment variables alone.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::ordered_json::{Json, parse_jsonc};
use super::permissions::policy::wildcard;

/// opencode's tools, named when a catch-all rule cannot be used.
const TOOLS: [&str; 15] = [
    "bash",
    "edit",
    "read",
    "glob",
    "grep",
    "list",
    "task",
    "webfetch",
    "websearch",
    "codesearch",
    "lsp",
    "skill",
    "todowrite",
    "todoread",
    "external_directory",
];

/// How long opencode waits for an MCP tool call by default (the MCP SDK's request timeout).
const OPENCODE_MCP_TIMEOUT: Duration = Duration::from_secs(60);
/// What a tool that waits (`ask-questions`) needs beyond its wait to record and answer.
const MCP_TIMEOUT_MARGIN: Duration = Duration::from_secs(30);

/// The name iteratr gives its MCP server in `session/new` (opencode's tools are `<server>_<tool>`).
const OWN_MCP_SERVER: &str = crate::session::tools::SERVER;

/// Does this command start opencode (`opencode acp`, `/path/opencode acp`, `npx opencode-ai acp`)?
pub fn is_opencode_command(argv: &[String]) -> bool {
    argv.iter().take(3).any(|w| {
        let name = Path::new(w)
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        name == "opencode" || name.starts_with("opencode-") || name.starts_with("opencode@")
    })
}

/// The command that prints opencode's resolved configuration: the words before `acp`, then
/// `debug config`.
pub fn debug_config_argv(argv: &[String]) -> Option<Vec<String>> {
    let at = argv.iter().position(|w| w == "acp")?;
    let mut out = argv[..at].to_vec();
    out.extend(["debug".to_string(), "config".to_string()]);
    Some(out)
}

/// Why opencode's configuration cannot be read (`debug config`), or the user's own settings
/// cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OpencodeError {
    #[error("the command has no `acp` word to replace with `debug config`")]
    NoAcpWord,
    #[error("the agent command is empty")]
    EmptyCommand,
    #[error("cannot run it: {0}")]
    Run(std::io::Error),
    #[error("it did not answer within {0}s")]
    Timeout(u64),
    #[error("it ended with {status}: {last}")]
    Failed { status: String, last: String },
    #[error("its output is not JSON ({0})")]
    NotJson(serde_json::Error),
    #[error(
        "OPENCODE_CONFIG_CONTENT is not a JSON object; fix or unset it (iteratr adds its permission settings to it)"
    )]
    ContentNotObject,
    #[error(
        "OPENCODE_CONFIG_CONTENT is not valid JSON ({0}); fix or unset it (iteratr adds its permission settings to it)"
    )]
    ContentInvalid(serde_json::Error),
    #[error(
        "OPENCODE_PERMISSION is not valid JSON ({0}); opencode would ignore it; fix or unset it"
    )]
    PermissionInvalid(serde_json::Error),
}

/// Runs `opencode debug config` in `cwd` with the environment the agent will get (without
/// iteratr's additions), and returns the configuration opencode would use.
pub async fn resolved_config(
    argv: &[String],
    cwd: &Path,
    timeout: Duration,
) -> Result<Json, OpencodeError> {
    let Some(debug) = debug_config_argv(argv) else {
        return Err(OpencodeError::NoAcpWord);
    };
    let Some(mut cmd) = crate::process::command(&debug, cwd) else {
        return Err(OpencodeError::EmptyCommand);
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = async {
        let child = cmd.spawn().map_err(OpencodeError::Run)?;
        child.wait_with_output().await.map_err(OpencodeError::Run)
    };
    let out = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| OpencodeError::Timeout(timeout.as_secs()))??;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(OpencodeError::Failed {
            status: out.status.to_string(),
            last: last.trim().to_string(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // Anything printed before the JSON (a notice) is skipped.
    let start = text.find('{').unwrap_or(0);
    parse_jsonc(&text[start..]).map_err(OpencodeError::NotJson)
}

/// What iteratr sets for opencode, and what it tells people about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    /// Environment variables for the agent (`OPENCODE_PERMISSION`, `OPENCODE_CONFIG_CONTENT`).
    pub env: Vec<(String, String)>,
    /// One line for people: what was configured.
    pub summary: String,
    pub warnings: Vec<String>,
}

/// Counts of what the rewriting did.
#[derive(Default)]
struct Counts {
    allow_to_ask: usize,
    denies: usize,
}

fn ask_instead_of_allow(action: &Json, counts: &mut Counts) -> Json {
    match action.as_str() {
        Some("allow") => {
            counts.allow_to_ask += 1;
            Json::str("ask")
        }
        Some("deny") => {
            counts.denies += 1;
            action.clone()
        }
        _ => action.clone(),
    }
}

/// A permission value (an action, or patterns to actions) with every `allow` made `ask`.
fn ask_rules(value: &Json, counts: &mut Counts) -> Json {
    match value {
        Json::Object(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), ask_rules(v, counts)))
                .collect(),
        ),
        other => ask_instead_of_allow(other, counts),
    }
}

/// The rules for `OPENCODE_PERMISSION`, from the user's resolved `permission` value.
fn permission_overlay(user: Option<&Json>, mcp_servers: &[String], counts: &mut Counts) -> Json {
    let mut overlay = match user {
        // `"permission": "allow"` is opencode's shorthand for `{"*": "allow"}`.
        Some(Json::String(s)) => Json::Object(vec![(
            "*".into(),
            ask_instead_of_allow(&Json::str(s), counts),
        )]),
        Some(rules @ Json::Object(_)) => ask_rules(rules, counts),
        _ => Json::Object(Vec::new()),
    };
    let has_catch_all = overlay.get("*").is_some();
    if has_catch_all {
        return overlay;
    }
    if counts.denies == 0 {
        overlay.set("*", Json::str("ask"));
        return overlay;
    }
    let names: Vec<String> = TOOLS
        .iter()
        .map(|t| t.to_string())
        .chain(
            mcp_servers
                .iter()
                .map(String::as_str)
                .chain([OWN_MCP_SERVER])
                .map(|s| format!("{s}_*")),
        )
        .collect();
    for name in names {
        let sample = name.replace('*', "x");
        let covered = overlay
            .entries()
            .iter()
            .any(|(k, _)| k == &name || wildcard(k, &sample));
        if !covered {
            overlay.set(&name, Json::str("ask"));
        }
    }
    overlay
}

/// The environment that makes opencode ask, from the user's `OPENCODE_CONFIG_CONTENT` and
/// `OPENCODE_PERMISSION` (as set for iteratr) and opencode's resolved configuration (None when it
/// could not be read).
/// `allow_own`: iteratr's own session tools run without asking (no `--deny-tools` rule names
/// them). `tool_wait`: how long one of iteratr's tools may wait before it answers (the agent's
/// question waits for a person that long).
pub fn setup(
    user_content: Option<&str>,
    user_permission: Option<&str>,
    resolved: Option<&Json>,
    allow_own: bool,
    tool_wait: Duration,
) -> Result<Setup, OpencodeError> {
    let mut content = match user_content.filter(|c| !c.trim().is_empty()) {
        Some(text) => match parse_jsonc(text) {
            Ok(v @ Json::Object(_)) => v,
            Ok(_) => return Err(OpencodeError::ContentNotObject),
            Err(e) => return Err(OpencodeError::ContentInvalid(e)),
        },
        None => Json::Object(Vec::new()),
    };
    let user_rules = match user_permission.filter(|p| !p.trim().is_empty()) {
        Some(text) => {
            Some(serde_json::from_str::<Json>(text).map_err(OpencodeError::PermissionInvalid)?)
        }
        None => None,
    };
    let mut warnings = Vec::new();
    // What opencode would use: its own reading, or the environment's part of it.
    let config = match resolved {
        Some(r) => r.clone(),
        None => {
            let mut c = content.clone();
            if let Some(rules) = &user_rules {
                c.object_at("permission").merge(rules);
            }
            warnings.push("iteratr could not read opencode's configuration files, so \"allow\" rules written there still let opencode run those tools without asking".to_string());
            c
        }
    };
    let mcp_servers: Vec<String> = config
        .get("mcp")
        .map(|m| m.entries().iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut counts = Counts::default();
    let mut overlay = permission_overlay(config.get("permission"), &mcp_servers, &mut counts);
    let named_tools = overlay.get("*").is_none();
    // Last: iteratr's own tools need nobody (opencode's last matching rule wins), unless the
    // user's rules name them.
    let own = format!("{OWN_MCP_SERVER}_*");
    let user_names_own = config
        .get("permission")
        .map(Json::entries)
        .unwrap_or_default()
        .iter()
        .any(|(k, _)| k.starts_with(OWN_MCP_SERVER));
    if allow_own && !user_names_own {
        overlay.set(&own, Json::str("allow"));
    }
    if named_tools {
        warnings.push("your opencode permission rules deny some tools and have no \"*\" rule, so iteratr asks for opencode's own tools and MCP servers by name; tools from opencode plugins may still run without asking".to_string());
    }
    // Agents' own rules win over the top-level ones: they ask too.
    for section in ["agent", "mode"] {
        for (name, agent) in config.get(section).map(Json::entries).unwrap_or_default() {
            if let Some(rules) = agent.get("permission") {
                let asked = ask_rules(rules, &mut counts);
                if &asked != rules {
                    content
                        .object_at(section)
                        .object_at(name)
                        .set("permission", asked);
                }
            }
        }
    }
    let user_chose = config
        .get("experimental")
        .and_then(|e| e.get("continue_loop_on_deny"))
        .is_some();
    if !user_chose {
        content
            .object_at("experimental")
            .set("continue_loop_on_deny", Json::Bool(true));
    }
    // opencode tells its model that an MCP call failed ("Request timed out") once it waited
    // `experimental.mcp_timeout`: longer than that, the agent's question would never be answered.
    let needed = tool_wait + MCP_TIMEOUT_MARGIN;
    if needed > OPENCODE_MCP_TIMEOUT {
        let ms = u64::try_from(needed.as_millis()).unwrap_or(u64::MAX);
        match config.get("experimental").and_then(|e| e.get("mcp_timeout")) {
            None => content
                .object_at("experimental")
                .set("mcp_timeout", Json::Number(ms.into())),
            Some(Json::Number(n)) if n.as_u64().is_some_and(|n| n < ms) => warnings.push(format!(
                "your opencode setting experimental.mcp_timeout ({n} ms) is shorter than the agent's question may wait (--question-wait {}): opencode gives up on the question first; raise it to {ms} or lower --question-wait",
                crate::session::text::format_duration(i64::try_from(tool_wait.as_millis()).unwrap_or(i64::MAX))
            )),
            Some(_) => {}
        }
    }
    let mut summary =
        "set opencode's permission config (OPENCODE_PERMISSION, OPENCODE_CONFIG_CONTENT) so that it asks before every tool call"
            .to_string();
    if counts.allow_to_ask > 0 || counts.denies > 0 {
        summary.push_str(&format!(
            " ({} \"allow\" rule(s) of yours now \"ask\"; {} \"deny\" rule(s) of yours kept)",
            counts.allow_to_ask, counts.denies
        ));
    }
    Ok(Setup {
        env: vec![
            ("OPENCODE_PERMISSION".into(), overlay.to_json_string()),
            ("OPENCODE_CONFIG_CONTENT".into(), content.to_json_string()),
        ],
        summary,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Json {
        serde_json::from_str(text).unwrap()
    }

    fn env<'a>(s: &'a Setup, name: &str) -> &'a str {
        &s.env.iter().find(|(k, _)| k == name).unwrap().1
    }

    #[test]
    fn recognises_opencode_commands() {
        let argv = |s: &str| crate::process::split_command_line(s).unwrap();
        for yes in [
            "opencode acp",
            "/opt/bin/opencode acp",
            "npx opencode-ai acp",
            "bunx opencode-ai@1.18 acp",
        ] {
            assert!(is_opencode_command(&argv(yes)), "{yes}");
        }
        for no in [
            "claude-code-acp",
            "node dist/index.js",
            "gemini --experimental-acp",
        ] {
            assert!(!is_opencode_command(&argv(no)), "{no}");
        }
        assert_eq!(
            debug_config_argv(&argv("npx opencode-ai acp --print-logs")).unwrap(),
            ["npx", "opencode-ai", "debug", "config"]
        );
        assert!(debug_config_argv(&argv("opencode")).is_none());
    }

    #[test]
    fn without_user_rules_everything_asks_and_the_rest_is_kept() {
        let user = r#"{"provider": {"p": {"options": {"apiKey": "{env:KEY}"}}}, "model": "p/m"}"#;
        let s = setup(Some(user), None, Some(&json(user)), true, Duration::ZERO).unwrap();
        assert_eq!(
            env(&s, "OPENCODE_PERMISSION"),
            r#"{"*":"ask","iteratr_*":"allow"}"#
        );
        assert_eq!(
            env(&s, "OPENCODE_CONFIG_CONTENT"),
            r#"{"provider":{"p":{"options":{"apiKey":"{env:KEY}"}}},"model":"p/m","experimental":{"continue_loop_on_deny":true}}"#
        );
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        // No configuration at all.
        let s = setup(None, None, Some(&json("{}")), true, Duration::ZERO).unwrap();
        assert_eq!(
            env(&s, "OPENCODE_PERMISSION"),
            r#"{"*":"ask","iteratr_*":"allow"}"#
        );
    }

    #[test]
    fn iteratrs_own_tools_run_without_asking_unless_a_rule_names_them() {
        // Last, so it wins over the catch-all (opencode's last matching rule wins).
        let s = setup(None, None, Some(&json("{}")), true, Duration::ZERO).unwrap();
        assert!(
            env(&s, "OPENCODE_PERMISSION").ends_with(r#","iteratr_*":"allow"}"#),
            "{}",
            env(&s, "OPENCODE_PERMISSION")
        );
        // A --deny-tools rule names one of them: opencode asks, and iteratr's rule refuses.
        let s = setup(None, None, Some(&json("{}")), false, Duration::ZERO).unwrap();
        assert!(!env(&s, "OPENCODE_PERMISSION").contains("allow"));
        // The user's own rule for them is theirs: nothing is allowed over it.
        let resolved = json(r#"{"permission": {"iteratr_session-complete": "deny"}}"#);
        let s = setup(None, None, Some(&resolved), true, Duration::ZERO).unwrap();
        let p = env(&s, "OPENCODE_PERMISSION");
        assert!(
            p.starts_with(r#"{"iteratr_session-complete":"deny","#) && !p.contains("allow"),
            "{p}"
        );
    }

    #[test]
    fn allow_becomes_ask_in_place_and_deny_stays() {
        // The resolved config (as `opencode debug config` prints it) has rules from files.
        let resolved = json(
            r#"{"permission": {"read": "allow", "bash": {"*": "allow", "rm *": "deny"}, "*": "allow", "webfetch": "deny"},
                "agent": {"build": {"permission": {"edit": "allow"}}, "plan": {"model": "x"}},
                "experimental": {"continue_loop_on_deny": false}}"#,
        );
        let s = setup(
            None,
            Some(r#"{"read": "allow"}"#),
            Some(&resolved),
            true,
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(
            env(&s, "OPENCODE_PERMISSION"),
            r#"{"read":"ask","bash":{"*":"ask","rm *":"deny"},"*":"ask","webfetch":"deny","iteratr_*":"allow"}"#
        );
        // The agent's own rule asks too; the user's choice of continue_loop_on_deny stands.
        assert_eq!(
            env(&s, "OPENCODE_CONFIG_CONTENT"),
            r#"{"agent":{"build":{"permission":{"edit":"ask"}}}}"#
        );
        assert!(
            s.summary
                .contains("4 \"allow\" rule(s) of yours now \"ask\""),
            "{}",
            s.summary
        );
        assert!(
            s.summary.contains("2 \"deny\" rule(s) of yours kept"),
            "{}",
            s.summary
        );
    }

    #[test]
    fn denials_without_a_catch_all_are_not_overridden() {
        let resolved = json(
            r#"{"permission": {"bash": {"rm *": "deny"}, "web*": "deny"}, "mcp": {"github": {"type": "remote"}}}"#,
        );
        let s = setup(None, None, Some(&resolved), true, Duration::ZERO).unwrap();
        let p = env(&s, "OPENCODE_PERMISSION");
        assert!(
            p.starts_with(r#"{"bash":{"rm *":"deny"},"web*":"deny","edit":"ask","#),
            "{p}"
        );
        assert!(!p.contains(r#""*":"ask""#), "{p}");
        assert!(
            !p.contains("webfetch") && !p.contains(r#""bash":"ask""#),
            "{p}"
        );
        assert!(
            p.contains(r#""github_*":"ask""#) && p.ends_with(r#""iteratr_*":"allow"}"#),
            "{p}"
        );
        assert_eq!(s.warnings.len(), 1);
    }

    #[test]
    fn without_opencodes_reading_the_environment_is_used() {
        let s = setup(
            Some("{\n // mine\n \"permission\": {\"edit\": \"allow\"},\n}"),
            Some(r#"{"bash": "allow"}"#),
            None,
            true,
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(
            env(&s, "OPENCODE_PERMISSION"),
            r#"{"edit":"ask","bash":"ask","*":"ask","iteratr_*":"allow"}"#
        );
        assert!(s.warnings[0].contains("could not read"), "{:?}", s.warnings);
        let s = setup(None, None, None, true, Duration::ZERO).unwrap();
        assert_eq!(
            env(&s, "OPENCODE_PERMISSION"),
            r#"{"*":"ask","iteratr_*":"allow"}"#
        );
    }

    #[test]
    fn a_question_that_may_wait_past_opencodes_mcp_timeout_raises_it() {
        // Headless (0s) or a short wait: opencode's 60 s are enough, nothing is added.
        for wait in [Duration::ZERO, Duration::from_secs(30)] {
            let s = setup(None, None, Some(&json("{}")), true, wait).unwrap();
            assert!(!env(&s, "OPENCODE_CONFIG_CONTENT").contains("mcp_timeout"));
        }
        // The full-screen interface's 5 minutes: opencode waits a little longer.
        let five = Duration::from_secs(300);
        let s = setup(None, None, Some(&json("{}")), true, five).unwrap();
        assert_eq!(
            env(&s, "OPENCODE_CONFIG_CONTENT"),
            r#"{"experimental":{"continue_loop_on_deny":true,"mcp_timeout":330000}}"#
        );
        // The user's own choice stands, with a warning when it is too short.
        let mine = r#"{"experimental":{"mcp_timeout":600000}}"#;
        let s = setup(Some(mine), None, Some(&json(mine)), true, five).unwrap();
        assert!(env(&s, "OPENCODE_CONFIG_CONTENT").contains(r#""mcp_timeout":600000"#));
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let mine = r#"{"experimental":{"mcp_timeout":5000}}"#;
        let s = setup(Some(mine), None, Some(&json(mine)), true, five).unwrap();
        assert!(env(&s, "OPENCODE_CONFIG_CONTENT").contains(r#""mcp_timeout":5000"#));
        assert!(
            s.warnings[0].contains("experimental.mcp_timeout (5000 ms) is shorter than the agent's question may wait (--question-wait 5m"),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn invalid_user_settings_are_refused_clearly() {
        let e = setup(Some("{nope"), None, None, true, Duration::ZERO)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("OPENCODE_CONFIG_CONTENT is not valid JSON"),
            "{e}"
        );
        let e = setup(Some("[1]"), None, None, true, Duration::ZERO)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a JSON object"), "{e}");
        let e = setup(None, Some("{'bash': 1}"), None, true, Duration::ZERO)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("OPENCODE_PERMISSION is not valid JSON"),
            "{e}"
        );
    }

    #[test]
    fn wildcards_match_as_opencode_does() {
        assert!(wildcard("web*", "webfetch") && wildcard("*", "x") && wildcard("b?sh", "bash"));
        assert!(!wildcard("bash", "bashx") && !wildcard("web*", "fetchweb"));
    }
}
