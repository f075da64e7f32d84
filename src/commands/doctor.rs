//! `iteratr doctor`: is the agent there and speaking ACP, the store reachable, the terminal fine?

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::store::{NatsChoice, StoreConfig};

pub async fn run(store: &StoreConfig, agent: &str, timeout: Duration) -> anyhow::Result<ExitCode> {
    let data_dir = &store.data_dir;
    use crate::doctor::{Check, Level};
    let mut checks: Vec<Check> = Vec::new();
    match crate::process::split_command_line(agent) {
        Ok(argv) => {
            let project = std::env::current_dir().context("cannot read the current directory")?;
            println!(
                "checking the agent `{agent}` (up to {}s)...",
                timeout.as_secs()
            );
            checks.extend(crate::doctor::check_agent(&argv, &project, timeout).await);
        }
        Err(e) => checks.push(Check {
            level: Level::Fail,
            what: "agent",
            message: format!("--agent / ITERATR_AGENT: {e}"),
        }),
    }
    checks.push(crate::doctor::check_data_dir(data_dir).await);
    match &store.nats {
        NatsChoice::Url(opts) => {
            let url = opts.url().ok().map(|u| u.as_str());
            checks.push(crate::doctor::check_nats(url).await)
        }
        NatsChoice::Managed { .. } => checks.push(crate::doctor::check_managed_nats()),
        NatsChoice::Embedded => checks.push(crate::doctor::check_nats(None).await),
    }
    checks.push(crate::doctor::check_sandbox());
    checks.push(crate::doctor::check_terminal());
    for c in &checks {
        println!("{}", c.line());
    }
    let failed = checks.iter().filter(|c| c.level == Level::Fail).count();
    if failed > 0 {
        println!("{failed} check(s) failed; see the messages above for the fix");
        Ok(ExitCode::FAILURE)
    } else {
        println!("all set");
        Ok(ExitCode::SUCCESS)
    }
}
