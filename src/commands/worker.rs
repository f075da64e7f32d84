//! `iteratr worker`: joins the workers of a session another build drives, without its planning
//! and without taking the session's lease; it runs its loop with `build`'s steps (`build.rs`).
//! Also who the workers of `build --workers N` are and where their work goes.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use super::build::{self, Launch, usage};
use super::open_for_writing;
use crate::cli::BuildArgs;
use crate::git::{Integration, Repo};
use crate::orchestrator::Team;
use crate::session::validate_worker_name;
use crate::store::StoreConfig;

pub async fn run(
    store: &StoreConfig,
    mut args: BuildArgs,
    settings: &crate::config::Settings,
) -> anyhow::Result<ExitCode> {
    let checked = match build::check(&mut args) {
        Ok(c) => c,
        Err(e) => return Ok(usage(e)),
    };
    let project_dir = std::env::current_dir().context("cannot read the current directory")?;
    let settings_watch = match build::watch_settings(&args, &checked, store, &project_dir) {
        Ok(w) => w,
        Err(refused) => return Ok(refused),
    };
    let team = match joining_team(&args, &project_dir).await {
        Ok(team) => team,
        Err(e) => return Ok(usage(e)),
    };
    let log = open_for_writing(store).await?;
    // Workers that join a session run beside its build: no lease.
    build::drive(
        Launch {
            args,
            checked,
            project_dir,
            team: Some(team),
            log,
            interrupt: tokio_util::sync::CancellationToken::new(),
            lease: None,
            settings_watch,
        },
        store,
        settings,
    )
    .await
}

/// The team of `build --workers N` (N > 1, or with `--remote`): `w1`, `w2`, ..., planning first.
pub(super) async fn build_team(
    args: &BuildArgs,
    project_dir: &Path,
) -> anyhow::Result<Option<Team>> {
    if args.workers == 1 && args.remote.is_none() {
        return Ok(None);
    }
    let names = (1..=args.workers).map(|i| format!("w{i}")).collect();
    team(args, project_dir, names, true).await.map(Some)
}

/// The workers `iteratr worker` adds to a session: named after this machine and process, so
/// they never take the name of another's.
async fn joining_team(args: &BuildArgs, project_dir: &Path) -> anyhow::Result<Team> {
    if args.reset {
        bail!("--reset goes with `iteratr build`, not with a worker that joins a session");
    }
    let prefix = format!("{}-{}", crate::process::host_part(), std::process::id());
    let names = (1..=args.workers)
        .map(|i| format!("{prefix}-w{i}"))
        .collect();
    team(args, project_dir, names, false).await
}

/// A team of workers called `names`, integrating into the branch the flags say (checked).
async fn team(
    args: &BuildArgs,
    project_dir: &Path,
    names: Vec<String>,
    plan: bool,
) -> anyhow::Result<Team> {
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
    Ok(Team {
        names,
        integration,
        claim_ttl: args.claim_ttl,
        plan,
    })
}
