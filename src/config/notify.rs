//! `[notify]` in a settings file: the channels (`[[notify.command]]`, `[[notify.webhook]]`,
//! `[notify.desktop]`), each with the events it wants, and how sending goes (`window`,
//! `timeout`, `retries`). Checked as strictly as the rest: an unknown event or a webhook that is
//! not an http(s) URL is an error at its file, line and column that says what to write instead.

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use super::file::{At, CommandDecl, command_is_empty, duration};
use super::{Origin, Settings};
use crate::notify::{Channel, ChannelKind, Format, NotifySettings, Trigger, WebhookUrl};

/// `[notify]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyDecl {
    #[serde(default, deserialize_with = "duration")]
    pub window: At<String>,
    #[serde(default, deserialize_with = "duration")]
    pub timeout: At<String>,
    #[serde(default, deserialize_with = "retries")]
    pub retries: Option<u32>,
    #[serde(default)]
    pub command: Vec<Spanned<CommandChannelDecl>>,
    #[serde(default)]
    pub webhook: Vec<Spanned<WebhookDecl>>,
    pub desktop: Option<Spanned<DesktopDecl>>,
}

/// `[[notify.command]]`: run as a hook is (values as environment variables and JSON on stdin).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandChannelDecl {
    pub command: CommandDecl,
    pub on: Option<Vec<Trigger>>,
}

/// `[[notify.webhook]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDecl {
    #[serde(deserialize_with = "webhook_url")]
    pub url: WebhookUrl,
    #[serde(default)]
    pub format: Format,
    pub on: Option<Vec<Trigger>>,
}

/// `[notify.desktop]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesktopDecl {
    pub on: Option<Vec<Trigger>>,
}

fn webhook_url<'de, D: Deserializer<'de>>(d: D) -> Result<WebhookUrl, D::Error> {
    let text = String::deserialize(d)?;
    WebhookUrl::parse(&text).map_err(serde::de::Error::custom)
}

fn retries<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match u32::deserialize(d)? {
        n @ 0..=10 => Ok(Some(n)),
        n => Err(serde::de::Error::custom(format!(
            "{n} is not 0 to 10 (attempts after a failed one)"
        ))),
    }
}

/// The first empty command of `[[notify.command]]`, as its index and where it is.
pub(super) fn empty_command(decl: &NotifyDecl) -> Option<(usize, std::ops::Range<usize>)> {
    decl.command
        .iter()
        .enumerate()
        .find(|(_, c)| command_is_empty(&c.get_ref().command))
        .map(|(i, c)| (i, c.span()))
}

fn on(list: &Option<Vec<Trigger>>) -> BTreeSet<Trigger> {
    match list {
        Some(list) => list.iter().copied().collect(),
        None => Trigger::defaults(),
    }
}

impl Settings {
    /// The notification channels of every file (the user's first, then the project's) and each
    /// one's origin; `window`, `timeout` and `retries` from the file that sets them last.
    pub fn notify(&self) -> (NotifySettings, Vec<Origin>) {
        let mut out = NotifySettings::default();
        let mut origins = Vec::new();
        for f in &self.files {
            let Some(decl) = &f.settings.notify else {
                continue;
            };
            let origin = |span: std::ops::Range<usize>| Origin {
                path: f.path.clone(),
                line: f.line(&span),
            };
            let parse = |t: &At<String>| {
                t.as_ref()
                    .and_then(|t| crate::cli::parse_duration(t.get_ref()).ok())
            };
            if let Some(w) = parse(&decl.window) {
                out.window = w;
            }
            if let Some(t) = parse(&decl.timeout) {
                out.timeout = t.max(std::time::Duration::from_millis(1));
            }
            if let Some(r) = decl.retries {
                out.retries = r;
            }
            for c in &decl.command {
                let c2 = c.get_ref();
                out.channels.push(Channel {
                    kind: ChannelKind::Command(c2.command.command()),
                    on: on(&c2.on),
                });
                origins.push(origin(c.span()));
            }
            for w in &decl.webhook {
                let w2 = w.get_ref();
                out.channels.push(Channel {
                    kind: ChannelKind::Webhook {
                        url: w2.url.clone(),
                        format: w2.format,
                    },
                    on: on(&w2.on),
                });
                origins.push(origin(w.span()));
            }
            if let Some(d) = &decl.desktop {
                // One desktop: the project's declaration replaces the user's.
                if let Some(i) = out
                    .channels
                    .iter()
                    .position(|c| c.kind == ChannelKind::Desktop)
                {
                    out.channels.remove(i);
                    origins.remove(i);
                }
                out.channels.push(Channel {
                    kind: ChannelKind::Desktop,
                    on: on(&d.get_ref().on),
                });
                origins.push(origin(d.span()));
            }
        }
        (out, origins)
    }
}
