//! What a notification says, and the shapes it is sent in: iteratr's JSON, ntfy's body and
//! headers, a Slack incoming webhook's `text`, a command's environment and stdin, the desktop's
//! title and body.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Value, json};

use super::Trigger;
use super::needs::Need;

/// One thing to tell: what happened and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub event: Trigger,
    /// What it is about (`P-3`, `TAS-4`, a worker's name), when it is about one thing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub text: String,
    /// What to do: the command to run.
    pub action: String,
    /// The state it reports, while that state lasts (a request that waits, a blocked task).
    #[serde(skip)]
    pub(crate) need: Option<Need>,
}

/// One notification: what came within the window, for one session.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub session: String,
    pub items: Vec<Item>,
    /// The session's page on the dashboard, when the build serves one (`--web`).
    pub link: Option<String>,
    /// Sent by `iteratr notify --test`.
    pub test: bool,
}

impl Notification {
    /// What `iteratr notify --test` sends.
    pub fn test(session: &str) -> Notification {
        Notification {
            session: session.to_string(),
            items: Vec::new(),
            link: None,
            test: true,
        }
    }

    /// The part of it a channel that wants `on` gets; none when nothing is left.
    pub(crate) fn for_channel(&self, on: &BTreeSet<Trigger>) -> Option<Notification> {
        if self.test {
            return Some(self.clone());
        }
        let items: Vec<Item> = self
            .items
            .iter()
            .filter(|i| on.contains(&i.event))
            .cloned()
            .collect();
        (!items.is_empty()).then(|| Notification {
            items,
            ..self.clone()
        })
    }

    /// The triggers it reports, in their usual order.
    pub fn events(&self) -> Vec<Trigger> {
        Trigger::ALL
            .into_iter()
            .filter(|t| self.items.iter().any(|i| i.event == *t))
            .collect()
    }

    fn needs_person(&self) -> bool {
        self.items.iter().any(|i| i.event.needs_person())
    }

    /// "iteratr demo: 3 permission requests wait; TAS-4 is blocked" (ASCII when the ids are).
    pub fn title(&self) -> String {
        if self.test {
            return format!("iteratr {}: test notification", self.session);
        }
        let parts: Vec<String> = self
            .events()
            .into_iter()
            .map(|t| {
                let of: Vec<&Item> = self.items.iter().filter(|i| i.event == t).collect();
                let one = of.first().and_then(|i| i.id.clone()).unwrap_or_default();
                let n = of.len();
                match (t, n) {
                    (Trigger::Question, 1) => "a question waits for an answer".to_string(),
                    (Trigger::Question, n) => format!("{n} questions wait for answers"),
                    (Trigger::Permission, 1) => format!("permission request {one} waits"),
                    (Trigger::Permission, n) => format!("{n} permission requests wait"),
                    (Trigger::Blocked, 1) => format!("{one} is blocked"),
                    (Trigger::Blocked, n) => format!("{n} tasks are blocked"),
                    (Trigger::Completed, _) => "the session is complete".to_string(),
                    (Trigger::Stopped, _) => "the build stopped".to_string(),
                    (Trigger::WorkerStopped, 1) => format!("worker {one} stopped"),
                    (Trigger::WorkerStopped, n) => format!("{n} workers stopped"),
                }
            })
            .collect();
        format!("iteratr {}: {}", self.session, parts.join("; "))
    }

    /// Each item and what to do about it, then the dashboard's link.
    pub fn message(&self) -> String {
        if self.test {
            return "A test notification from `iteratr notify --test`: this channel works."
                .to_string();
        }
        let mut lines: Vec<String> = self
            .items
            .iter()
            .map(|i| format!("{}\n→ {}", i.text, i.action))
            .collect();
        if let Some(link) = &self.link {
            lines.push(format!("Dashboard: {link}"));
        }
        lines.join("\n")
    }

    /// iteratr's own JSON (`format = "json"`, and a command's stdin).
    pub fn json(&self) -> Value {
        json!({
            "source": "iteratr",
            "test": self.test,
            "session": self.session,
            "title": self.title(),
            "message": self.message(),
            "events": self.events(),
            "items": self.items,
            "link": self.link,
        })
    }

    /// ntfy's shape: the message as the body, the rest as headers (kept to visible ASCII, which
    /// every HTTP stack passes on).
    pub fn ntfy(&self) -> (String, Vec<(&'static str, String)>) {
        let ascii = |s: String| -> String {
            s.chars()
                .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
                .collect()
        };
        let mut tags = vec!["iteratr".to_string()];
        tags.extend(self.events().iter().map(|t| t.as_str().to_string()));
        let priority = if self.needs_person() {
            "high"
        } else {
            "default"
        };
        let mut headers = vec![
            ("Title", ascii(self.title())),
            ("Tags", tags.join(",")),
            ("Priority", priority.to_string()),
        ];
        if let Some(link) = &self.link {
            headers.push(("Click", ascii(link.clone())));
        }
        (self.message(), headers)
    }

    /// A Slack incoming webhook's shape: `{"text": ...}`, with `&`, `<` and `>` escaped so that
    /// nothing the agent wrote becomes a mention or a link.
    pub fn slack(&self) -> Value {
        let escape = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let mut lines: Vec<String> = vec![format!("*{}*", escape(&self.title()))];
        if self.test {
            lines.push(escape(&self.message()));
        }
        for i in &self.items {
            lines.push(format!("{}\n→ `{}`", escape(&i.text), escape(&i.action)));
        }
        if let Some(link) = &self.link {
            lines.push(format!("<{}|Open the dashboard>", escape(link)));
        }
        json!({ "text": lines.join("\n") })
    }

    /// What a command channel gets as environment variables (its stdin gets [`Self::json`]).
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        let events: Vec<&str> = self.events().iter().map(|t| t.as_str()).collect();
        let actions: Vec<&str> = self.items.iter().map(|i| i.action.as_str()).collect();
        let mut env = vec![
            ("ITERATR_SESSION", self.session.clone()),
            ("ITERATR_NOTIFY_EVENTS", events.join(",")),
            ("ITERATR_NOTIFY_TITLE", self.title()),
            ("ITERATR_NOTIFY_MESSAGE", self.message()),
            ("ITERATR_NOTIFY_ACTION", actions.join("\n")),
        ];
        if let Some(link) = &self.link {
            env.push(("ITERATR_NOTIFY_LINK", link.clone()));
        }
        if self.test {
            env.push(("ITERATR_NOTIFY_TEST", "1".to_string()));
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(event: Trigger, id: &str, text: &str) -> Item {
        Item {
            event,
            id: Some(id.into()),
            text: text.into(),
            action: format!("iteratr approve --session demo {id}"),
            need: None,
        }
    }

    fn three_requests() -> Notification {
        Notification {
            session: "demo".into(),
            items: vec![
                item(Trigger::Permission, "P-1", "P-1: w1's agent asks"),
                item(Trigger::Permission, "P-2", "P-2: w2's agent asks"),
                item(
                    Trigger::Blocked,
                    "TAS-4",
                    "TAS-4 is blocked: <!channel> & more",
                ),
            ],
            link: Some("http://127.0.0.1:7177/#s/demo".into()),
            test: false,
        }
    }

    #[test]
    fn the_title_counts_what_came_together() {
        let n = three_requests();
        assert_eq!(
            n.title(),
            "iteratr demo: 2 permission requests wait; TAS-4 is blocked"
        );
        let only = n
            .for_channel(&[Trigger::Blocked].into_iter().collect())
            .unwrap();
        assert_eq!(only.title(), "iteratr demo: TAS-4 is blocked");
        assert!(
            n.for_channel(&[Trigger::Completed].into_iter().collect())
                .is_none()
        );
        assert!(
            n.message()
                .ends_with("Dashboard: http://127.0.0.1:7177/#s/demo")
        );
    }

    #[test]
    fn shapes_carry_the_same_news() {
        let n = three_requests();
        let j = n.json();
        assert_eq!(j["session"], "demo");
        assert_eq!(j["events"], json!(["permission", "blocked"]));
        assert_eq!(j["items"][0]["id"], "P-1");
        assert_eq!(
            j["items"][0]["action"],
            "iteratr approve --session demo P-1"
        );
        let (body, headers) = n.ntfy();
        assert!(body.contains("P-2: w2's agent asks"), "{body}");
        assert!(
            headers.contains(&("Priority", "high".into())),
            "{headers:?}"
        );
        assert!(headers.contains(&("Tags", "iteratr,permission,blocked".into())));
        let slack = n.slack()["text"].as_str().unwrap().to_string();
        assert!(slack.contains("&lt;!channel&gt; &amp; more"), "{slack}");
        assert!(!slack.contains("<!channel>"), "{slack}");
        assert!(slack.contains("<http://127.0.0.1:7177/#s/demo|Open the dashboard>"));
    }

    #[test]
    fn a_test_notification_goes_to_every_channel() {
        let t = Notification::test("demo");
        assert!(t.for_channel(&BTreeSet::new()).is_some());
        assert_eq!(t.title(), "iteratr demo: test notification");
        assert!(t.env().contains(&("ITERATR_NOTIFY_TEST", "1".into())));
        assert_eq!(t.json()["test"], true);
    }
}
