//! Permission requests (`session/request_permission`): who decides, and how. A `--deny-tools`
//! rule refuses first; then a tool a person allowed "always" earlier in the build passes; then
//! iteratr's own session tools pass; then `--approve auto` allows, and `--approve ask` asks a
//! person in the full-screen interface (or, with nobody to ask, refuses). The agent always gets "once" answers, so every later call of the
//! tool still reaches iteratr, its rules and its log.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use tokio::sync::oneshot;

pub mod policy;

use self::policy::Policy;
use super::{AgentUpdate, Diff};
use crate::session::PermissionDecision;

/// `--approve`: what iteratr does with a permission request no rule refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApproveMode {
    /// Allow it (the default, as the original tool did).
    #[default]
    Auto,
    /// Ask the person at the full-screen interface; refuse when there is none (--headless).
    Ask,
}

crate::named!(ApproveMode);

pub use crate::frontend::Answer;

/// A tool call the agent asks about, as iteratr understands it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallInfo {
    /// The tool's name (`bash`, `Bash`, `mcp__acp__Write`), when the agent told it.
    pub tool: String,
    pub title: String,
    pub kind: String,
    pub input: Option<Value>,
    pub diffs: Vec<Diff>,
}

impl CallInfo {
    /// The tool's name, or the title for agents that name no tool.
    pub fn tool_or_title(&self) -> &str {
        if self.tool.is_empty() {
            &self.title
        } else {
            &self.tool
        }
    }
}

/// What the agent said about its tool calls before asking (names and kinds arrive with
/// `tool_call`; the permission request itself often carries only a title).
#[derive(Debug, Default)]
pub struct ToolCalls {
    calls: Mutex<HashMap<String, (String, String)>>,
}

/// Tool calls remembered at most; a misbehaving agent cannot grow the map without bound.
const CALLS_KEPT: usize = 1_000;

impl ToolCalls {
    /// Takes note of a `session/update` (as JSON).
    pub fn observe(&self, update: &Value) {
        let Ok(mut calls) = self.calls.lock() else {
            return;
        };
        let id = update
            .get("toolCallId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match update.get("sessionUpdate").and_then(Value::as_str) {
            Some("tool_call") if !id.is_empty() => {
                // claude-code-acp names the tool in _meta; opencode's first title is the tool name.
                let name = update
                    .pointer("/_meta/claudeCode/toolName")
                    .and_then(Value::as_str)
                    .or_else(|| update.get("title").and_then(Value::as_str))
                    .unwrap_or_default();
                let kind = update
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if calls.len() >= CALLS_KEPT {
                    calls.clear();
                }
                calls
                    .entry(id.to_string())
                    .or_insert_with(|| (name.to_string(), kind.to_string()));
            }
            Some("tool_call_update") => {
                let status = update.get("status").and_then(Value::as_str);
                if matches!(status, Some("completed" | "failed")) {
                    calls.remove(id);
                }
            }
            _ => {}
        }
    }

    /// What a permission request's `toolCall` (as JSON) is about.
    pub fn describe(&self, call: &Value) -> CallInfo {
        let text = |k: &str| {
            call.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let id = text("toolCallId");
        let (known_name, known_kind) = self
            .calls
            .lock()
            .ok()
            .and_then(|c| c.get(&id).cloned())
            .unwrap_or_default();
        let mut tool = call
            .pointer("/_meta/claudeCode/toolName")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or(known_name);
        let title = text("title");
        if tool == title {
            tool.clear();
        }
        let kind = Some(text("kind"))
            .filter(|k| !k.is_empty())
            .unwrap_or(known_kind);
        let diffs = call
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| c.get("type").and_then(Value::as_str) == Some("diff"))
            .map(|d| Diff {
                path: d["path"].as_str().unwrap_or_default().to_string(),
                old: d["oldText"].as_str().map(str::to_string),
                new: d["newText"].as_str().unwrap_or_default().to_string(),
            })
            .collect();
        CallInfo {
            tool,
            title,
            kind,
            input: call.get("rawInput").filter(|v| !v.is_null()).cloned(),
            diffs,
        }
    }
}

/// A decision and what it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub decision: PermissionDecision,
    /// The `--deny-tools` pattern that refused.
    pub rule: Option<String>,
    /// A person made it (now, or earlier with "always").
    pub by_user: bool,
}

impl Decided {
    /// Allowed with no person and no rule involved (`--approve auto`, a tool allowed "always"
    /// earlier, iteratr's own tools): counted per iteration, not shown or logged one by one.
    pub fn quiet(&self) -> bool {
        !self.by_user && self.rule.is_none() && self.decision.allowed()
    }
}

/// The permission side of a build: rules, mode, the tools a person allowed always, and the
/// requests waiting for a person. Shared by the agent connection (which asks) and the front end
/// (which answers), and kept across agent restarts.
#[derive(Debug)]
pub struct Approvals {
    policy: Policy,
    mode: ApproveMode,
    /// Someone is at a full-screen interface to answer.
    interactive: bool,
    always: Mutex<HashSet<String>>,
    /// By request id: the connection that asked (its number from [`Approvals::next_id`]) and
    /// where the answer goes. Workers' agents share one `Approvals`.
    pending: Mutex<HashMap<u64, (u64, oneshot::Sender<Answer>)>>,
    next: AtomicU64,
    /// Requests the session's log also holds, as `P-n`: by request id, that number.
    links: Mutex<HashMap<u64, u64>>,
    /// With nobody at a full-screen interface: how long a request waits for an answer from
    /// anywhere (`iteratr approve`) before it is refused; zero refuses at once.
    unattended_wait: std::time::Duration,
}

impl Approvals {
    pub fn new(policy: Policy, mode: ApproveMode, interactive: bool) -> Self {
        Approvals {
            policy,
            mode,
            interactive,
            always: Mutex::new(HashSet::new()),
            pending: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            links: Mutex::new(HashMap::new()),
            unattended_wait: std::time::Duration::ZERO,
        }
    }

    /// Without a full-screen interface, requests wait this long for an answer from anywhere.
    pub fn with_unattended_wait(mut self, wait: std::time::Duration) -> Self {
        self.unattended_wait = wait;
        self
    }

    /// Request `id` is also request `number` (`P-n`) in the session's log.
    pub fn link(&self, id: u64, number: u64) {
        if let Ok(mut links) = self.links.lock() {
            links.insert(id, number);
        }
    }

    /// The log's number for request `id`, if it has one.
    pub fn number_of(&self, id: u64) -> Option<u64> {
        self.links.lock().ok()?.get(&id).copied()
    }

    /// The request the log numbers `number`, if it is this build's.
    pub fn id_of(&self, number: u64) -> Option<u64> {
        let links = self.links.lock().ok()?;
        links.iter().find(|(_, n)| **n == number).map(|(id, _)| *id)
    }

    /// Forgets request `id`'s number (it was decided).
    pub fn unlink(&self, id: u64) {
        if let Ok(mut links) = self.links.lock() {
            links.remove(&id);
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn mode(&self) -> ApproveMode {
        self.mode
    }

    /// A number for a new request.
    pub fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    fn always_key(call: &CallInfo) -> String {
        call.tool_or_title().to_lowercase()
    }

    /// The decision when no person needs to be asked; None when one must be.
    pub fn decide_now(&self, call: &CallInfo) -> Option<Decided> {
        let decided = |decision, rule, by_user| {
            Some(Decided {
                decision,
                rule,
                by_user,
            })
        };
        if let Some(p) = self.policy.denies(&[&call.title, &call.tool, &call.kind]) {
            return decided(
                PermissionDecision::DeniedByRule,
                Some(p.as_str().to_string()),
                false,
            );
        }
        // iteratr's own session tools never need a person (opencode is told so; others may ask).
        if crate::session::tools::own_tool(&call.tool).is_some() {
            return decided(PermissionDecision::Allowed, None, false);
        }
        if self
            .always
            .lock()
            .is_ok_and(|a| a.contains(&Self::always_key(call)))
        {
            return decided(PermissionDecision::AllowedAlways, None, false);
        }
        match (self.mode, self.interactive) {
            (ApproveMode::Auto, _) => decided(PermissionDecision::Allowed, None, false),
            (ApproveMode::Ask, false) if self.unattended_wait.is_zero() => {
                decided(PermissionDecision::DeniedUnattended, None, false)
            }
            (ApproveMode::Ask, false) => None,
            (ApproveMode::Ask, true) => None,
        }
    }

    /// Asks a person: tells the front end (`PermissionAsked` with `id`) and waits for the answer.
    /// `from`: the asking connection's number (one per agent connection).
    pub async fn ask(
        &self,
        id: u64,
        from: u64,
        call: &CallInfo,
        sink: &(dyn Fn(AgentUpdate) + Send + Sync),
    ) -> Decided {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id, (from, tx));
        }
        sink(AgentUpdate::PermissionAsked {
            id,
            tool: call.tool.clone(),
            title: call.title.clone(),
            kind: crate::frontend::ToolKind::parse(&call.kind),
            input: call.input.clone(),
            diffs: call.diffs.clone(),
        });
        let answer = if self.interactive {
            rx.await.unwrap_or(Answer::Cancel)
        } else {
            match tokio::time::timeout(self.unattended_wait, rx).await {
                Ok(answer) => answer.unwrap_or(Answer::Cancel),
                Err(_) => {
                    if let Ok(mut pending) = self.pending.lock() {
                        pending.remove(&id);
                    }
                    return Decided {
                        decision: PermissionDecision::DeniedUnattended,
                        rule: None,
                        by_user: false,
                    };
                }
            }
        };
        let decision = match answer {
            Answer::AllowOnce => PermissionDecision::AllowedByUser,
            Answer::AllowAlways => {
                if let Ok(mut always) = self.always.lock() {
                    always.insert(Self::always_key(call));
                }
                PermissionDecision::AllowedAlways
            }
            Answer::Deny => PermissionDecision::DeniedByUser,
            Answer::Cancel => PermissionDecision::Cancelled,
        };
        Decided {
            decision,
            rule: None,
            by_user: answer != Answer::Cancel,
        }
    }

    /// A person's answer to request `id`; false when it no longer waits.
    pub fn answer(&self, id: u64, answer: Answer) -> bool {
        let waiting = self.pending.lock().ok().and_then(|mut p| p.remove(&id));
        waiting.is_some_and(|(_, tx)| tx.send(answer).is_ok())
    }

    /// Ends every request connection `from` is waiting on, without an answer (its turn stopped,
    /// or its agent went away); other agents' requests keep waiting.
    pub fn cancel_from(&self, from: u64) {
        let waiting: Vec<_> = self
            .pending
            .lock()
            .map(|mut p| {
                let ids: Vec<u64> = p
                    .iter()
                    .filter(|(_, (owner, _))| *owner == from)
                    .map(|(id, _)| *id)
                    .collect();
                ids.into_iter()
                    .filter_map(|id| p.remove(&id))
                    .map(|(_, tx)| tx)
                    .collect()
            })
            .unwrap_or_default();
        for tx in waiting {
            let _ = tx.send(Answer::Cancel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::policy::Pattern;
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn bash() -> CallInfo {
        CallInfo {
            tool: "bash".into(),
            title: "echo hi".into(),
            kind: "execute".into(),
            ..CallInfo::default()
        }
    }

    #[test]
    fn tool_names_come_from_the_tool_call_announcement() {
        let calls = ToolCalls::default();
        // opencode: the first title is the tool's name; the request's title is the command.
        calls.observe(&json!({"sessionUpdate": "tool_call", "toolCallId": "c1", "title": "bash", "kind": "execute"}));
        let info = calls.describe(&json!({"toolCallId": "c1", "title": "echo hi > x", "rawInput": {"command": "echo hi > x"}}));
        assert_eq!(
            (info.tool.as_str(), info.title.as_str(), info.kind.as_str()),
            ("bash", "echo hi > x", "execute")
        );
        assert_eq!(info.input, Some(json!({"command": "echo hi > x"})));
        // claude-code-acp: the name is in _meta.
        calls.observe(&json!({"sessionUpdate": "tool_call", "toolCallId": "c2", "title": "`ls`", "_meta": {"claudeCode": {"toolName": "Bash"}}}));
        assert_eq!(
            calls
                .describe(&json!({"toolCallId": "c2", "title": "`ls`"}))
                .tool,
            "Bash"
        );
        // Finished calls are forgotten; unknown ones have only their title.
        calls.observe(
            &json!({"sessionUpdate": "tool_call_update", "toolCallId": "c1", "status": "completed"}),
        );
        let info = calls.describe(&json!({"toolCallId": "c1", "title": "x", "content": [
            {"type": "diff", "path": "/p/a", "oldText": "a", "newText": "b"}]}));
        assert_eq!(info.tool, "");
        assert_eq!(info.tool_or_title(), "x");
        assert_eq!(info.diffs[0].new, "b");
    }

    #[test]
    fn iteratrs_own_tools_pass_quietly_in_every_mode_unless_a_rule_refuses_them() {
        let own = |tool: &str| CallInfo {
            tool: tool.into(),
            title: "task-next".into(),
            ..CallInfo::default()
        };
        for (mode, interactive) in [
            (ApproveMode::Ask, true),
            (ApproveMode::Ask, false),
            (ApproveMode::Auto, false),
        ] {
            let a = Approvals::new(Policy::default(), mode, interactive);
            for tool in ["iteratr_task-next", "mcp__iteratr__task-next"] {
                let d = a.decide_now(&own(tool)).unwrap();
                assert_eq!(d.decision, PermissionDecision::Allowed, "{tool}");
                assert!(d.quiet());
            }
            // Another server's tool of the same name is not iteratr's.
            let other = a.decide_now(&own("other_task-next"));
            assert_eq!(
                other.is_some_and(|d| d.quiet()),
                mode == ApproveMode::Auto,
                "{mode:?}"
            );
        }
        let policy = Policy {
            deny: vec![Pattern::new("*task-next*")],
        };
        let a = Approvals::new(policy, ApproveMode::Ask, true);
        let d = a.decide_now(&own("iteratr_task-next")).unwrap();
        assert_eq!(d.decision, PermissionDecision::DeniedByRule);
        assert!(!d.quiet(), "a refusal is shown and logged");
    }

    #[test]
    fn rules_then_always_then_the_mode_decide() {
        let policy = Policy {
            deny: vec![Pattern::new("bash*")],
        };
        let auto = Approvals::new(policy.clone(), ApproveMode::Auto, false);
        let d = auto.decide_now(&bash()).unwrap();
        assert_eq!(d.decision, PermissionDecision::DeniedByRule);
        assert_eq!(d.rule.as_deref(), Some("bash*"));
        let write = CallInfo {
            tool: "write".into(),
            title: "a.txt".into(),
            ..CallInfo::default()
        };
        assert_eq!(
            auto.decide_now(&write).unwrap().decision,
            PermissionDecision::Allowed
        );
        let headless = Approvals::new(policy.clone(), ApproveMode::Ask, false);
        assert_eq!(
            headless.decide_now(&write).unwrap().decision,
            PermissionDecision::DeniedUnattended
        );
        let ask = Approvals::new(policy, ApproveMode::Ask, true);
        assert!(ask.decide_now(&write).is_none());
        assert_eq!(
            ask.decide_now(&bash()).unwrap().decision,
            PermissionDecision::DeniedByRule
        );
    }

    #[tokio::test]
    async fn a_person_answers_and_always_sticks() {
        let ask = Arc::new(Approvals::new(Policy::default(), ApproveMode::Ask, true));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&asked);
        let sink = move |u: AgentUpdate| {
            if let AgentUpdate::PermissionAsked { id, .. } = u {
                seen.lock().unwrap().push(id);
            }
        };
        let answer_when_asked = |answer: Answer| {
            let (ask, asked) = (Arc::clone(&ask), Arc::clone(&asked));
            tokio::spawn(async move {
                loop {
                    let id = asked.lock().unwrap().pop();
                    if let Some(id) = id {
                        assert!(ask.answer(id, answer));
                        return;
                    }
                    tokio::task::yield_now().await;
                }
            })
        };
        answer_when_asked(Answer::Deny);
        let d = ask.ask(ask.next_id(), 0, &bash(), &sink).await;
        assert_eq!(
            (d.decision, d.by_user),
            (PermissionDecision::DeniedByUser, true)
        );
        answer_when_asked(Answer::AllowAlways);
        let d = ask.ask(ask.next_id(), 0, &bash(), &sink).await;
        assert_eq!(d.decision, PermissionDecision::AllowedAlways);
        // Next time the tool passes without asking.
        assert_eq!(
            ask.decide_now(&bash()).unwrap().decision,
            PermissionDecision::AllowedAlways
        );
        // A stopped turn ends a waiting request.
        let write = CallInfo {
            tool: "write".into(),
            ..CallInfo::default()
        };
        // A stopped turn ends the requests of its own agent only (workers share one Approvals).
        let (id, other) = (ask.next_id(), ask.next_id());
        let waiting = {
            let (ask, write) = (Arc::clone(&ask), write.clone());
            tokio::spawn(async move { ask.ask(id, 7, &write, &|_| {}).await })
        };
        let elsewhere = {
            let ask = Arc::clone(&ask);
            tokio::spawn(async move { ask.ask(other, 8, &write, &|_| {}).await })
        };
        while ask.pending.lock().unwrap().len() < 2 {
            tokio::task::yield_now().await;
        }
        ask.cancel_from(7);
        assert!(ask.pending.lock().unwrap().contains_key(&other));
        assert!(ask.answer(other, Answer::AllowOnce));
        assert_eq!(
            elsewhere.await.unwrap().decision,
            PermissionDecision::AllowedByUser
        );
        let d = waiting.await.unwrap();
        assert_eq!(
            (d.decision, d.by_user),
            (PermissionDecision::Cancelled, false)
        );
        assert!(!ask.answer(id, Answer::AllowOnce));
    }
}
