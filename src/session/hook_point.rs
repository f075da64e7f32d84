//! Where in a build a hook runs: part of the session's record of each hook run.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where in a build a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookPoint {
    SessionStart,
    PreIteration,
    PostIteration,
    OnTaskComplete,
    OnError,
    SessionEnd,
}

impl HookPoint {
    pub const ALL: [HookPoint; 6] = [
        HookPoint::SessionStart,
        HookPoint::PreIteration,
        HookPoint::PostIteration,
        HookPoint::OnTaskComplete,
        HookPoint::OnError,
        HookPoint::SessionEnd,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HookPoint::SessionStart => "session_start",
            HookPoint::PreIteration => "pre_iteration",
            HookPoint::PostIteration => "post_iteration",
            HookPoint::OnTaskComplete => "on_task_complete",
            HookPoint::OnError => "on_error",
            HookPoint::SessionEnd => "session_end",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for HookPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
