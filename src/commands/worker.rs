//! `iteratr worker` (and `build --workers N`): who the workers are and where their work goes.
//! `iteratr worker` itself runs the same loop as `build` (see `build.rs`), joining the workers
//! of a session another build drives, without its planning and without taking the session's lease.

use std::path::Path;

use anyhow::{Context, bail};

use crate::cli::BuildArgs;
use crate::git::{Integration, Repo};
use crate::orchestrator::Team;
use crate::session::validate_worker_name;

/// This machine's part of a worker's name: its hostname, in the characters a name allows.
fn host_part() -> String {
    let host: String = crate::process::host_name()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let host = host.trim_matches('-');
    if host.is_empty() {
        "host".into()
    } else {
        host.to_string()
    }
}

/// The team this command runs, if it runs workers: `build --workers N` (N > 1, or with
/// `--remote`), or `iteratr worker`.
pub(super) async fn team(
    args: &BuildArgs,
    project_dir: &Path,
    joining: bool,
) -> anyhow::Result<Option<Team>> {
    if !joining && args.workers == 1 && args.remote.is_none() {
        return Ok(None);
    }
    if joining && args.reset {
        bail!("--reset goes with `iteratr build`, not with a worker that joins a session");
    }
    let repo = Repo::discover(project_dir, &[]).await.with_context(|| {
        format!(
            "workers need the project in a git repository ({} is not in one): each works in its own git worktree; run `git init` and make a first commit",
            project_dir.display()
        )
    })?;
    let branch = match &args.branch {
        Some(b) => b.clone(),
        None => repo.current_branch().await.context(
            "no branch is checked out (a detached HEAD); check one out or choose the integration branch with --branch",
        )?,
    };
    let names: Vec<String> = if joining {
        let prefix = format!("{}-{}", host_part(), std::process::id());
        (1..=args.workers)
            .map(|i| format!("{prefix}-w{i}"))
            .collect()
    } else {
        (1..=args.workers).map(|i| format!("w{i}")).collect()
    };
    for name in &names {
        validate_worker_name(name)?;
    }
    let integration = Integration {
        repo: repo.top.clone(),
        branch: branch.clone(),
        remote: args.remote.clone(),
    };
    if let Err(e) = integration.tip(&repo.top).await {
        let at = args
            .remote
            .as_deref()
            .map_or(String::new(), |r| format!(" on {r}"));
        bail!(
            "the integration branch {branch}{at} cannot be read ({e}); commit on it first, or choose another with --branch"
        );
    }
    Ok(Some(Team {
        names,
        integration,
        claim_ttl: args.claim_ttl,
        plan: !joining,
    }))
}
