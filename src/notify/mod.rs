//! Notifications: telling a person when a build needs one (a permission request waits, a task
//! became blocked), and how it ended, through the channels the settings declare (`[notify]`): a
//! command (run as hooks are: values only as environment variables and JSON on stdin), a webhook
//! (JSON, or the shapes ntfy and Slack incoming webhooks take) and the desktop's notifications.
//!
//! A [`Notifier`] runs beside the build: it follows the session log (what waits for a person is
//! a fold of it, so the same state is said once until it changes) and the build's own news (a
//! worker that stopped, the build's end), gathers what comes within a short window into one
//! notification, and hands it to each channel's own queue. Sending is never on the loop's path:
//! queues are bounded, every attempt has a timeout, a channel that fails is retried with backoff
//! and then reported as a warning.

mod address;
mod deliver;
mod message;
mod needs;
mod notifier;
#[cfg(test)]
mod notifier_tests;

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

pub use address::WebhookUrl;
pub use deliver::{Delivery, desktop_program, test_all};
pub use message::{Item, Notification};
pub use needs::Scope;
pub use notifier::{BuildEnd, Notifier, Observer, Start};

use crate::hooks::HookCommand;

/// What a notification is about; each channel chooses the ones it wants (`on = [...]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Trigger {
    /// The agent asked a question (`ask-questions`: `question_asked`) that waits for an answer.
    Question,
    /// A permission request waits for a person (`--approve ask`: `permission_requested`).
    Permission,
    /// A task became blocked.
    Blocked,
    /// The session completed.
    Completed,
    /// The build stopped without completing the session (iteration limit, budget, idle, an
    /// error, a lost lease, someone asked it to stop).
    Stopped,
    /// One worker of a team stopped while the build goes on.
    WorkerStopped,
}

impl Trigger {
    pub const ALL: [Trigger; 6] = [
        Trigger::Question,
        Trigger::Permission,
        Trigger::Blocked,
        Trigger::Completed,
        Trigger::Stopped,
        Trigger::WorkerStopped,
    ];

    /// The name settings and payloads use.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Question => "question",
            Trigger::Permission => "permission",
            Trigger::Blocked => "blocked",
            Trigger::Completed => "completed",
            Trigger::Stopped => "stopped",
            Trigger::WorkerStopped => "worker_stopped",
        }
    }

    pub fn parse(name: &str) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether a person has something to do: every trigger but the session's completion. A
    /// channel without `on` gets these.
    pub fn needs_person(self) -> bool {
        self != Trigger::Completed
    }

    /// The triggers of a channel that does not say (`on` left out).
    pub fn defaults() -> BTreeSet<Trigger> {
        Trigger::ALL
            .into_iter()
            .filter(|t| t.needs_person())
            .collect()
    }

    /// "question, permission, ...": what a setting may name.
    pub fn names() -> String {
        Trigger::ALL.map(Trigger::as_str).join(", ")
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Trigger {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Trigger {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Trigger::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{name:?} is not an event to notify; write one of {}",
                Trigger::names()
            ))
        })
    }
}

/// What a webhook sends: a JSON object of iteratr's, or the shape a service takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `{"session", "title", "message", "events", "items", "link", ...}`.
    #[default]
    Json,
    /// ntfy (ntfy.sh or your own server): the message as the body, `Title`, `Tags`, `Priority`
    /// and `Click` headers.
    Ntfy,
    /// A Slack incoming webhook: `{"text": ...}`.
    Slack,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ntfy => "ntfy",
            Format::Slack => "slack",
        }
    }
}

/// Where a notification goes.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelKind {
    Command(HookCommand),
    Webhook {
        url: WebhookUrl,
        format: Format,
    },
    /// `notify-send` (Linux and the BSDs), `osascript` (macOS), where present.
    Desktop,
}

/// A channel and the triggers it wants.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub kind: ChannelKind,
    pub on: BTreeSet<Trigger>,
}

impl Channel {
    pub fn wants(&self, trigger: Trigger) -> bool {
        self.on.contains(&trigger)
    }

    /// "on permission, blocked".
    pub fn on_list(&self) -> String {
        self.on
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// For people (`iteratr config`, warnings): a webhook's address without its secret parts.
impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ChannelKind::Command(command) => write!(f, "command {command}"),
            ChannelKind::Webhook { url, format } => {
                write!(f, "webhook {url} ({})", format.as_str())
            }
            ChannelKind::Desktop => f.write_str("desktop"),
        }
    }
}

/// How long several things make one notification, one attempt's limit, and the attempts after
/// a failed one.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_RETRIES: u32 = 3;

/// The `[notify]` settings: the channels and how sending goes.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySettings {
    pub channels: Vec<Channel>,
    /// Things that happen within this time of the first make one notification.
    pub window: Duration,
    /// One attempt's limit (a request, a command).
    pub timeout: Duration,
    /// Attempts after a failed one, with backoff.
    pub retries: u32,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            channels: Vec::new(),
            window: DEFAULT_WINDOW,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_names_round_trip_and_defaults_leave_out_completion() {
        for t in Trigger::ALL {
            assert_eq!(Trigger::parse(t.as_str()), Some(t));
        }
        assert_eq!(Trigger::parse("blockd"), None);
        let defaults = Trigger::defaults();
        assert!(!defaults.contains(&Trigger::Completed));
        assert!(defaults.contains(&Trigger::Question) && defaults.contains(&Trigger::Permission));
        assert_eq!(
            Trigger::names(),
            "question, permission, blocked, completed, stopped, worker_stopped"
        );
    }
}
