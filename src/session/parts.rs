//! What each kind of event changes in a session, said once for every kind and matched with no
//! wildcard arm: a new kind does not compile until it says. MCP resource subscriptions (and any
//! front end or cache that redraws a part) follow it.

/// A part of a session that events change, as folded into [`super::SessionState`] (and, for
/// hooks, only in the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// The tasks: content, status, priority, dependencies, claims, integration.
    Tasks,
    Notes,
    /// The iterations: start, end, outcome, summary, the tasks each changed, usage.
    Iterations,
    /// Messages from people to the agent.
    Messages,
    /// Whether the session is completed.
    Completion,
    /// Whether the loop is asked to pause.
    Pause,
    /// The agent the loop last started.
    Agent,
    /// Which build holds the session.
    Lease,
    /// Permission decisions and their counts.
    Permissions,
    /// Hook runs: in the log only, for the front ends that show them.
    Hooks,
    /// The agent's questions to a person and their answers.
    Questions,
}

impl Part {
    pub const ALL: [Part; 11] = [
        Part::Tasks,
        Part::Notes,
        Part::Iterations,
        Part::Messages,
        Part::Completion,
        Part::Pause,
        Part::Agent,
        Part::Lease,
        Part::Permissions,
        Part::Hooks,
        Part::Questions,
    ];
}
