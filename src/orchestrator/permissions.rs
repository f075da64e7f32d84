//! The build's side of permissions: configuring opencode so that it asks, and telling people
//! whether the agent asks at all (the log of decisions and answers is `permission_log.rs`).

use std::path::Path;
use std::time::Duration;

use crate::acp::AgentInfo;
use crate::acp::agents::Asking;
use crate::acp::opencode;
use crate::acp::permissions::ApproveMode;
use crate::acp::permissions::policy::Policy;
use crate::frontend::BuildEvent;

/// How long `opencode debug config` may take.
const DEBUG_CONFIG_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment that makes opencode ask (empty for other agents), and what to tell people.
/// Fails when the user's own opencode settings in the environment cannot be read.
/// `question_wait`: how long the agent's question waits for a person (opencode must wait longer).
pub(crate) async fn agent_env(
    argv: &[String],
    cwd: &Path,
    policy: &Policy,
    question_wait: Duration,
) -> anyhow::Result<(Vec<(String, String)>, Vec<BuildEvent>)> {
    if !opencode::is_opencode_command(argv) {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut events = Vec::new();
    let resolved = match opencode::resolved_config(argv, cwd, DEBUG_CONFIG_TIMEOUT).await {
        Ok(config) => Some(config),
        Err(e) => {
            tracing::warn!("opencode debug config: {e}");
            events.push(BuildEvent::Warning {
                message: format!("cannot read opencode's configuration with `debug config`: {e}"),
            });
            None
        }
    };
    let content = std::env::var("OPENCODE_CONFIG_CONTENT").ok();
    let permission = std::env::var("OPENCODE_PERMISSION").ok();
    // iteratr's own tools run without asking, unless a --deny-tools rule names one of them.
    let allow_own = !crate::session::tools::TOOLS.iter().any(|tool| {
        let named = format!("{}_{tool}", crate::session::tools::SERVER);
        policy.denies(&[tool, &named]).is_some()
    });
    let setup = opencode::setup(
        content.as_deref(),
        permission.as_deref(),
        resolved.as_ref(),
        allow_own,
        question_wait,
    )
    .map_err(anyhow::Error::msg)?;
    events.push(BuildEvent::Info {
        message: setup.summary,
    });
    events.extend(
        setup
            .warnings
            .into_iter()
            .map(|message| BuildEvent::Warning { message }),
    );
    Ok((setup.env, events))
}

/// What to say once the agent answered `initialize`: whether it asks before its tools, and a
/// warning when rules or `--approve ask` may not reach them.
pub(super) fn asking_report(
    info: &AgentInfo,
    configured_as_opencode: bool,
    has_rules: bool,
    approve: ApproveMode,
) -> Vec<BuildEvent> {
    let asking = Asking::of(info, configured_as_opencode);
    let mut out = Vec::new();
    if asking == Asking::OpencodeUnconfigured {
        out.push(BuildEvent::Warning {
            message: asking.describe(),
        });
    } else {
        out.push(BuildEvent::Info {
            message: asking.describe(),
        });
    }
    if let Some(message) = asking.rules_warning(has_rules, approve == ApproveMode::Ask) {
        out.push(BuildEvent::Warning { message });
    }
    out
}
