//! Where the scripted fake ACP agent (`examples/fake_agent.rs`) is built: `cargo test` builds
//! examples beside the test binaries.

use std::path::PathBuf;

pub fn path() -> PathBuf {
    super::example("fake_agent")
}
