//! `iteratr spec`'s flags.

use std::path::PathBuf;
use std::time::Duration;

use super::parse_duration;

#[derive(Debug, clap::Args)]
pub struct SpecArgs {
    /// The new spec's title, or an existing spec (a .md file) to refine
    #[arg(value_name = "TITLE | FILE")]
    pub target: Option<String>,
    /// A short description of what the spec is for (asked for when not given)
    #[arg(short = 'd', long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Where to save the spec (default: DIR/<title as a file name>.md)
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The directory new specs go to (its README.md lists them)
    #[arg(
        long,
        env = "ITERATR_SPEC_DIR",
        default_value = "specs",
        value_name = "DIR"
    )]
    pub spec_dir: PathBuf,
    /// The interview's prompt template (default: .iteratr-spec.template if present, else the
    /// built-in one; `iteratr gen-template --spec` writes it out)
    #[arg(short = 't', long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Extra instructions added to the interview's prompt
    #[arg(short = 'e', long = "extra-instructions", value_name = "TEXT")]
    pub extra: Option<String>,
    /// Model for the agent to use, as the agent names it
    #[arg(short = 'm', long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Questions on stdout, answers on stdin, one line each, instead of the full-screen wizard
    #[arg(long)]
    pub headless: bool,
    /// Overwrite an existing spec, or save a refined one, without asking
    #[arg(long)]
    pub yes: bool,
    /// The ACP agent command
    #[arg(
        long,
        env = "ITERATR_AGENT",
        default_value = "opencode acp",
        value_name = "CMD ARGS"
    )]
    pub agent: String,
    /// Refuse permission for tool calls whose title, name or kind matches (glob, repeatable)
    #[arg(long = "deny-tools", value_name = "PATTERN")]
    pub deny_tools: Vec<String>,
    /// Permission requests no --deny-tools rule refuses: allow them (auto), or refuse them (ask:
    /// nobody answers permission requests during an interview)
    #[arg(long, env = "ITERATR_APPROVE", value_enum, default_value_t = crate::acp::permissions::ApproveMode::Auto, value_name = "MODE")]
    pub approve: crate::acp::permissions::ApproveMode,
    /// How long the agent may take to answer `initialize`
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub init_timeout: Duration,
    /// How long one of the agent's questions waits for an answer before it is told to decide
    #[arg(long, default_value = "1h", value_parser = parse_duration, value_name = "DURATION")]
    pub question_wait: Duration,
}
