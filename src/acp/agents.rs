//! What iteratr knows about the agents people run: whether they ask permission before running
//! their tools. Rules (`--deny-tools`) and `--approve ask` only reach the calls an agent asks
//! about, so a build says which case it is in.

use super::AgentInfo;

/// Whether an agent's tool calls reach iteratr's permission policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Asking {
    /// opencode, started with iteratr's permission config: it asks before every tool call.
    OpencodeConfigured,
    /// opencode, but started by a command iteratr did not recognise, so it was not configured.
    OpencodeUnconfigured,
    /// Claude Code (claude-code-acp): it asks by itself.
    ClaudeCode,
    /// An agent iteratr knows nothing about.
    Unknown(String),
}

impl Asking {
    /// From what the agent said in `initialize`, and whether iteratr configured it as opencode.
    pub fn of(info: &AgentInfo, configured_as_opencode: bool) -> Asking {
        let name = info.name.to_lowercase();
        if name == "opencode" || (configured_as_opencode && name.contains("opencode")) {
            if configured_as_opencode {
                Asking::OpencodeConfigured
            } else {
                Asking::OpencodeUnconfigured
            }
        } else if name.contains("claude-code") || name.contains("claude code") {
            Asking::ClaudeCode
        } else {
            Asking::Unknown(info.name.clone())
        }
    }

    /// Known to ask about the tools that matter (so rules hold).
    pub fn asks(&self) -> bool {
        matches!(self, Asking::OpencodeConfigured | Asking::ClaudeCode)
    }

    /// For people, at the start of a build and in `iteratr doctor`.
    pub fn describe(&self) -> String {
        match self {
            Asking::OpencodeConfigured => {
                "OpenCode asks iteratr before every tool call (iteratr sets its permission config)"
                    .into()
            }
            Asking::OpencodeUnconfigured => "this is OpenCode, but the command does not start `opencode` directly, so iteratr did not set its permission config: its shell, edits and web tools run without asking, out of reach of --deny-tools and --approve ask; run it as `opencode acp` (or a path to opencode)".into(),
            Asking::ClaudeCode => "Claude Code asks iteratr before commands, edits, web fetches and MCP tools; its read-only tools (reading and searching files) run without asking".into(),
            Asking::Unknown(name) => format!(
                "iteratr does not know whether {name} asks permission before running its tools"
            ),
        }
    }

    /// The warning for a build with rules or `--approve ask` that may not reach every tool.
    pub fn rules_warning(&self, has_rules: bool, asks_people: bool) -> Option<String> {
        if self.asks() || (!has_rules && !asks_people) {
            return None;
        }
        let what = match (has_rules, asks_people) {
            (true, true) => "--deny-tools and --approve ask apply",
            (true, false) => "--deny-tools applies",
            _ => "--approve ask applies",
        };
        let name = match self {
            Asking::Unknown(n) => n.as_str(),
            _ => "OpenCode",
        };
        Some(format!(
            "{what} only to the tool calls {name} asks permission for; it may run others without asking"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> AgentInfo {
        AgentInfo {
            name: name.into(),
            version: "1".into(),
            http_mcp: true,
            load_session: false,
            protocol_version: "1".into(),
        }
    }

    #[test]
    fn known_agents() {
        assert_eq!(
            Asking::of(&info("OpenCode"), true),
            Asking::OpencodeConfigured
        );
        assert_eq!(
            Asking::of(&info("OpenCode"), false),
            Asking::OpencodeUnconfigured
        );
        let claude = Asking::of(&info("@zed-industries/claude-code-acp"), false);
        assert_eq!(claude, Asking::ClaudeCode);
        assert!(claude.rules_warning(true, true).is_none());
        let other = Asking::of(&info("fake-agent"), false);
        assert!(!other.asks());
        assert!(other.rules_warning(false, false).is_none());
        assert_eq!(
            other.rules_warning(true, false).unwrap(),
            "--deny-tools applies only to the tool calls fake-agent asks permission for; it may run others without asking"
        );
        assert!(
            Asking::OpencodeUnconfigured
                .rules_warning(false, true)
                .unwrap()
                .starts_with("--approve ask applies only to the tool calls OpenCode asks")
        );
    }
}
