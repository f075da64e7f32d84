//! Who drives a session: the lease a build holds in the session's own log.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Who drives a session: one `iteratr build` process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseHolder {
    /// Random, per build process.
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub version: String,
    pub started_at_ms: i64,
    /// This machine (a hash of its id), boot and process start (ticks since boot), so a build
    /// can tell that a holder on its machine is gone; absent where unknown or in older leases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
    /// The build writes none of its agent's output for watchers (`--output-retention off`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_output: bool,
}

impl fmt::Display for LeaseHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "iteratr {} (pid {} on {})",
            self.version, self.pid, self.host
        )
    }
}

/// The build that drives the session, as the log last said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lease {
    pub holder: LeaseHolder,
    pub acquired_at_ms: i64,
    pub renewed_at_ms: i64,
    pub ttl_ms: u64,
    pub released_at_ms: Option<i64>,
}

impl Lease {
    pub fn expires_at_ms(&self) -> i64 {
        self.renewed_at_ms
            .saturating_add(i64::try_from(self.ttl_ms).unwrap_or(i64::MAX))
    }

    /// Held at `now_ms`: not released, and renewed within its time to live.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.released_at_ms.is_none() && now_ms < self.expires_at_ms()
    }
}
