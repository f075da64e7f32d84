//! The files in `mcp/`: the tool schemas match the code, and each ready client config starts a
//! server that answers.

use std::path::{Path, PathBuf};

use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn tool_schemas_match_the_code() {
    let path = repo("mcp/tools.json");
    let generated = iteratr::commands::mcp::tools_json().unwrap() + "\n";
    if std::env::var_os("ITERATR_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap();
    assert!(
        stored == generated,
        "mcp/tools.json is out of date: regenerate with ITERATR_UPDATE_GOLDEN=1 cargo test --test it mcp_files"
    );
    // The binary prints the same.
    let out = std::process::Command::new(crate::common::bin())
        .args(["mcp", "tools"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), stored);
    let v: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(v["tools"].as_array().unwrap().len(), 12);
}

/// Every optional argument is absent-or-typed: no type arrays, no `null` type, no `nullable`
/// (Gemini-style function declarations reject them; the MCP Inspector's `--strict` mode warns).
#[test]
fn tool_schemas_are_portable() {
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(repo("mcp/tools.json")).unwrap()).unwrap();
    for tool in stored["tools"].as_array().unwrap() {
        for key in ["inputSchema", "outputSchema"] {
            let found = iteratr::mcp::non_portable(&tool[key]);
            assert!(
                found.is_empty(),
                "{} {key} is not portable: {found:?}",
                tool["name"]
            );
        }
    }
}

/// The command line a config file launches, with `iteratr` replaced by the built binary.
fn command_of(config: &Value, workspace: &Path) -> (String, Vec<String>) {
    let subst = |s: &str| s.replace("${workspaceFolder}", &workspace.display().to_string());
    if let Some(server) = config.pointer("/mcp/iteratr") {
        assert_eq!(server["type"], "local");
        let parts: Vec<String> = server["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| subst(p.as_str().unwrap()))
            .collect();
        return (parts[0].clone(), parts[1..].to_vec());
    }
    let server = config.pointer("/mcpServers/iteratr").unwrap();
    let args = server["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| subst(a.as_str().unwrap()))
        .collect();
    (server["command"].as_str().unwrap().to_string(), args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_configs_start_a_working_server() {
    assert_eq!(
        std::fs::read_to_string(repo("opencode.json.example")).unwrap(),
        std::fs::read_to_string(repo("mcp/opencode.json")).unwrap()
    );
    for file in [
        "mcp/opencode.json",
        "mcp/.mcp.json",
        "mcp/cursor.mcp.json",
        "opencode.json.example",
    ] {
        let config: Value = serde_json::from_str(&std::fs::read_to_string(repo(file)).unwrap())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let project = tempfile::tempdir().unwrap();
        let (program, args) = command_of(&config, project.path());
        assert_eq!(program, "iteratr", "{file}");
        let mut cmd = tokio::process::Command::new(crate::common::bin());
        cmd.args(&args).current_dir(project.path());
        let client = ().serve(TokioChildProcess::new(cmd).unwrap()).await.unwrap();
        let tools = client.list_all_tools().await.unwrap();
        assert_eq!(tools.len(), 12, "{file}");
        let r = crate::common::mcp::call(
            &client,
            "task-add",
            serde_json::json!({"content": "configured"}),
        )
        .await;
        assert_eq!(
            r.is_error,
            Some(false),
            "{file}: {}",
            crate::common::mcp::text(&r)
        );
        client.cancel().await.unwrap();
        assert!(
            project.path().join(".iteratr/iteratr.db").exists(),
            "{file}: data dir in the project"
        );
    }
}
