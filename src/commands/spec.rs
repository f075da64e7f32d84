//! `iteratr spec [TITLE | FILE]`: the agent interviews the person and writes the spec the build
//! then runs. The flags are checked and the plan made here (where the spec goes, the spec being
//! refined), the interview runs in `spec/interview.rs`, and one of two front ends carries it: the
//! full-screen wizard (`tui::spec`, wired in `spec/wizard.rs`) or line-based `--headless`
//! (`spec/headless.rs`). Saving (whole files, the index) is the domain's (`crate::spec::save`).

mod headless;
mod interview;
mod wizard;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::acp::permissions::Approvals;
use crate::acp::permissions::policy::Policy;
use crate::cli::SpecArgs;
use crate::spec::prompt::{InterviewTemplate, InterviewVars};

/// What the person asked for, checked.
pub(crate) struct Plan {
    /// `--output`, or the spec being refined; else the path comes from the title.
    path: Option<PathBuf>,
    spec_dir: PathBuf,
    /// The spec being refined, as it is now.
    existing: Option<String>,
    title: Option<String>,
    description: Option<String>,
    template: InterviewTemplate,
    extra: String,
    /// Save without asking (overwrite, or the refined spec).
    yes: bool,
}

impl Plan {
    fn check(args: &SpecArgs) -> anyhow::Result<Plan> {
        let template = InterviewTemplate::find(args.template.as_deref())?;
        let mut plan = Plan {
            path: args.output.clone(),
            spec_dir: args.spec_dir.clone(),
            existing: None,
            title: None,
            description: args.description.clone(),
            template,
            extra: args.extra.clone().unwrap_or_default(),
            yes: args.yes,
        };
        let Some(target) = args.target.as_deref() else {
            return Ok(plan);
        };
        let looks_like_a_file =
            target.ends_with(".md") || target.contains('/') || Path::new(target).is_file();
        if !looks_like_a_file {
            if target.trim().is_empty() {
                bail!("the title is empty; give the spec a title (iteratr spec \"Todo CLI\")");
            }
            plan.title = Some(target.trim().to_string());
            return Ok(plan);
        }
        let path = PathBuf::from(target);
        if !path.is_file() {
            bail!(
                "{target} does not exist or is not a file; to write a new spec give its title (iteratr spec \"Todo CLI\"), and -o FILE to choose where it goes"
            );
        }
        if args.output.is_some() {
            bail!("-o/--output goes with a new spec; a refined spec is saved where it is");
        }
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {target}"))?;
        plan.title = Some(title_of(&text).unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        }));
        plan.existing = Some(text);
        plan.path = Some(path);
        Ok(plan)
    }

    /// Where the spec goes: the path given or refined, else `DIR/<slug>.md`.
    fn path_for(&self, title: &str) -> PathBuf {
        self.path.clone().unwrap_or_else(|| {
            self.spec_dir
                .join(format!("{}.md", crate::spec::save::slug(title)))
        })
    }

    fn refining(&self) -> bool {
        self.existing.is_some()
    }

    /// The interview's prompt for this title and description.
    fn prompt(&self, title: &str, description: &str) -> anyhow::Result<String> {
        self.template.render(&InterviewVars {
            title: title.to_string(),
            description: description.to_string(),
            existing: self.existing.clone().unwrap_or_default(),
            path: self.path_for(title).display().to_string(),
            extra: self.extra.clone(),
        })
    }

    /// Saves the spec (the path must be free or overwriting agreed to) and lists it in the
    /// index; a refined spec keeps the row it has. Says where it went.
    fn save(&self, spec: &str, title: &str, description: &str) -> anyhow::Result<Saved> {
        let path = self.path_for(title);
        let index = crate::spec::save::save(&path, spec, title, description, self.refining())?;
        Ok(Saved { path, index })
    }
}

/// Where a saved spec went.
pub(crate) struct Saved {
    path: PathBuf,
    index: PathBuf,
}

impl Saved {
    fn said(&self) -> String {
        format!(
            "saved {} (listed in {}); build it with: iteratr build --spec {}",
            self.path.display(),
            self.index.display(),
            self.path.display()
        )
    }
}

/// The spec's first `# ` heading.
fn title_of(spec: &str) -> Option<String> {
    spec.lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

pub async fn run(args: SpecArgs) -> anyhow::Result<ExitCode> {
    let plan = match Plan::check(&args) {
        Ok(plan) => plan,
        Err(e) => return Ok(super::build::usage(e)),
    };
    let agent = match crate::process::split_command_line(&args.agent) {
        Ok(agent) if !agent.is_empty() => agent,
        Ok(_) => return Ok(super::build::usage(anyhow::anyhow!("--agent is empty"))),
        Err(e) => {
            return Ok(super::build::usage(anyhow::anyhow!(
                "--agent / ITERATR_AGENT: {e}"
            )));
        }
    };
    let policy = match Policy::from_patterns(&args.deny_tools) {
        Ok(p) => p,
        Err(e) => return Ok(super::build::usage(anyhow::anyhow!("--deny-tools: {e}"))),
    };
    let headless = args.headless || !super::stdout_is_terminal();
    let project_dir = std::env::current_dir().context("cannot read the current directory")?;
    let (env, events) =
        crate::orchestrator::agent_env(&agent, &project_dir, &policy, args.question_wait).await?;
    for event in events {
        if let crate::frontend::BuildEvent::Warning { message } = event {
            tracing::warn!("{message}");
        }
    }
    // The wizard has no approval window: with --approve ask, what no rule decides is refused.
    let approvals = Arc::new(Approvals::new(policy, args.approve, false));
    let opts = interview::InterviewOpts {
        agent,
        model: args.model.clone(),
        approvals,
        init_timeout: args.init_timeout,
        question_wait: args.question_wait,
        project_dir,
        env,
    };
    if headless {
        headless::run(plan, opts).await
    } else {
        let build = wizard::run(plan, opts).await?;
        match build {
            Some(path) => Ok(start_build(&path, &args)),
            None => Ok(ExitCode::SUCCESS),
        }
    }
}

/// The done screen's key: `iteratr build --spec PATH` (with this agent and model) in place of
/// this process. Arguments go to it as they are, never through a shell.
fn start_build(path: &Path, args: &SpecArgs) -> ExitCode {
    use std::os::unix::process::CommandExt as _;
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("iteratr"));
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("build")
        .arg("--spec")
        .arg(path)
        .arg("--agent")
        .arg(&args.agent);
    if let Some(model) = &args.model {
        cmd.arg("--model").arg(model);
    }
    let e = cmd.exec();
    eprintln!("error: cannot start iteratr build: {e}");
    ExitCode::FAILURE
}
