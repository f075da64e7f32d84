//! Where the scripted fake ACP agent (`examples/fake_agent.rs`) is built: `cargo test` builds
//! examples beside the test binaries.

use std::path::PathBuf;

pub fn path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let agent = dir.join("examples").join("fake_agent");
    assert!(
        agent.exists(),
        "{} is missing: build it with `cargo build --examples` (cargo test does this)",
        agent.display()
    );
    agent
}
