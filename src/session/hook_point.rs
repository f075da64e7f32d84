//! Where in a build a hook runs: part of the session's record of each hook run.

use serde::{Deserialize, Serialize};

crate::named!(HookPoint);

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

    pub fn parse(name: &str) -> Option<Self> {
        super::names::from_name(name)
    }
}
