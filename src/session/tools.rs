//! The session tools' names, as the MCP server serves them and agents call them, so that every
//! part (the server, the permission answers, the agent's settings) says them the same way.

/// The name iteratr's MCP server goes by in the agent's `mcpServers`.
pub const SERVER: &str = "iteratr";

/// Every session tool the MCP server serves.
pub const TOOLS: [&str; 12] = [
    "task-add",
    "task-batch-add",
    "task-status",
    "task-priority",
    "task-depends",
    "task-list",
    "task-next",
    "note-add",
    "note-list",
    "iteration-summary",
    "session-complete",
    "ask-questions",
];

/// The session tool an agent's name for a call means: `iteratr_task-next` (opencode),
/// `mcp__iteratr__task-next` (Claude Code); None for any other tool.
pub fn own_tool(name: &str) -> Option<&'static str> {
    let name = name.trim();
    let bare = name
        .strip_prefix("mcp__")
        .and_then(|n| n.strip_prefix(SERVER))
        .and_then(|n| n.strip_prefix("__"))
        .or_else(|| name.strip_prefix(SERVER).and_then(|n| n.strip_prefix('_')))?;
    TOOLS.into_iter().find(|t| *t == bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_agents_give_iteratrs_tools_are_recognised_and_no_others() {
        assert_eq!(own_tool("iteratr_task-next"), Some("task-next"));
        assert_eq!(
            own_tool("mcp__iteratr__session-complete"),
            Some("session-complete")
        );
        for other in [
            "task-next",
            "bash",
            "iteratr_rm",
            "other_task-next",
            "mcp__other__task-next",
            "mcp__iteratr_task-next",
            "iteratr__task-next",
            "iteratr_task-next-and-more",
        ] {
            assert_eq!(own_tool(other), None, "{other}");
        }
    }
}
