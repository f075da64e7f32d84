//! `iteratr notify [--test]`: the notification channels the settings declare, and with `--test`
//! one test notification to each, with whether it got through (after its retries).

use std::process::ExitCode;

use anyhow::Context;

use crate::config::Settings;
use crate::notify::{ChannelKind, Delivery};
use crate::session::SessionName;

pub async fn run(
    settings: &Settings,
    test: bool,
    session: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let (notify, _) = settings.notify();
    for line in channel_lines(settings) {
        println!("{line}");
    }
    if notify.channels.is_empty() {
        return Ok(ExitCode::from(crate::orchestrator::exit::USAGE));
    }
    if !test {
        println!("\n`iteratr notify --test` sends each a test notification.");
        return Ok(ExitCode::SUCCESS);
    }
    let session = match session {
        Some(name) => SessionName::parse(name)?,
        None => super::session_for_this_directory()?,
    };
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    println!();
    let mut all = true;
    for (channel, delivery) in crate::notify::test_all(&notify, session.as_str(), &cwd).await {
        all &= delivery.result.is_ok();
        println!("{channel}: {}", said(&delivery));
    }
    Ok(if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// "sent (HTTP 200)", "sent (HTTP 200) on attempt 3; before: HTTP 500; HTTP 500", "NOT sent
/// after 4 attempts: ...".
fn said(d: &Delivery) -> String {
    match &d.result {
        Ok(ok) if d.failures.is_empty() => format!("sent ({ok})"),
        Ok(ok) => format!(
            "sent ({ok}) on attempt {}; before: {}",
            d.attempts,
            d.failures.join("; ")
        ),
        Err(_) if d.attempts == 1 => format!("NOT sent: {}", d.failures.join("; ")),
        Err(_) => format!(
            "NOT sent after {} attempts: {}",
            d.attempts,
            d.failures.join("; ")
        ),
    }
}

/// The channels as `iteratr config` and `iteratr notify` show them: a webhook's address only as
/// `scheme://host/…`, the events each wants, where it is declared.
pub(super) fn channel_lines(settings: &Settings) -> Vec<String> {
    let (notify, origins) = settings.notify();
    if notify.channels.is_empty() {
        return vec![
            "Notifications: none (declare [[notify.webhook]], [[notify.command]] or [notify.desktop] in iteratr.toml)"
                .into(),
        ];
    }
    let mut lines = vec![format!(
        "Notifications (window {}, timeout {}, {} retries):",
        humantime::format_duration(notify.window),
        humantime::format_duration(notify.timeout),
        notify.retries
    )];
    for (channel, origin) in notify.channels.iter().zip(origins) {
        let note = match &channel.kind {
            ChannelKind::Desktop => match crate::notify::desktop_program() {
                Some(p) => format!(" with {}", p.display()),
                None => " (no desktop notifier on this machine: nothing is shown)".into(),
            },
            _ => String::new(),
        };
        lines.push(format!(
            "  {channel}{note}  on {}  ({origin})",
            channel.on_list()
        ));
    }
    lines
}
