//! An independent MCP client, the official Python SDK (`pip install mcp`), against the real binary
//! over both transports. A missing SDK fails the test: `./test.sh` installs it into a venv under target/test-env and puts it first on PATH.

use std::process::Command;

use crate::common::mcp::{self, TOKEN};

fn script() -> String {
    format!(
        "{}/tests/python/mcp_sdk_client.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

pub(crate) fn require_sdk() {
    let probe = Command::new("python3").args(["-c", "import mcp"]).output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "the Python MCP SDK is missing: run the tests with `./test.sh` (it installs mcp==2.3.0 into target/test-env/venv), or `python3 -m pip install mcp==2.3.0`"
        ),
    }
}

fn check(out: std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python client failed:\n{stdout}\n{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["tools"], 12);
    assert_eq!(summary["task"], "TAS-1");
    assert_eq!(summary["note"], "NOT-1");
    summary
}

#[test]
fn python_sdk_over_http() {
    require_sdk();
    let dir = tempfile::tempdir().unwrap();
    let server = mcp::serve_http(dir.path(), "py-http", &[]);
    let out = Command::new("python3")
        .args([script().as_str(), "http", &server.url, TOKEN])
        .output()
        .unwrap();
    check(out);
}

#[test]
fn python_sdk_over_stdio() {
    require_sdk();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(script())
        .args(["stdio", crate::common::bin()])
        .arg(dir.path())
        .arg("py-stdio")
        .output()
        .unwrap();
    check(out);
    // The SDK's writes landed in the session the binary serves.
    let status = Command::new(crate::common::bin())
        .arg("--data-dir")
        .arg(dir.path())
        .args(["status", "--session", "py-stdio"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("TAS-1   p3  Written by the Python SDK"),
        "{text}"
    );
    assert!(text.contains("NOT-1   The SDK works"), "{text}");
}
