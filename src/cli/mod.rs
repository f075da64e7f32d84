//! The command line as clap parses it: flags, subcommands and their values, checked at the edge.
//! No command logic lives here; `commands` runs what was parsed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

// Store selection lives in `store`; these names stay reachable here for the commands.
use crate::store::StoreConfig;

mod spec;
pub use spec::SpecArgs;

pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ITERATR_GIT_COMMIT"),
    ", built ",
    env!("ITERATR_BUILD_DATE"),
    ")"
);

/// The heading the store options are listed under, on every command that has them.
const STORE: &str = "Store options (where sessions are kept)";

#[derive(Debug, Parser)]
#[command(
    name = "iteratr",
    version = VERSION_LINE,
    about = "Run an AI coding agent in a loop until a spec is built",
    long_about = None,
)]
pub struct Cli {
    /// Directory holding the session store (created owner-only on first write)
    #[arg(
        long,
        global = true,
        help_heading = STORE,
        env = "ITERATR_DATA_DIR",
        default_value = ".iteratr",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,

    /// Keep sessions in NATS JetStream at this server or cluster (comma-separated URLs;
    /// `nats://user:password@host:4222` for user and password) instead of the embedded store
    #[arg(
        long,
        global = true,
        help_heading = STORE,
        env = "ITERATR_NATS_URL",
        value_name = "URL",
        conflicts_with = "nats_server"
    )]
    pub nats_url: Option<String>,

    /// NATS credentials file (.creds: JWT and NKey seed) for --nats-url
    #[arg(long, global = true,
        help_heading = STORE, env = "ITERATR_NATS_CREDS", value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,

    /// NATS token for --nats-url (when it is not in the URL)
    #[arg(
        long,
        global = true,
        help_heading = STORE,
        env = "ITERATR_NATS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub nats_token: Option<String>,

    /// Copies of the JetStream stream when iteratr creates it (3 or 5 in a cluster)
    #[arg(long, global = true,
        help_heading = STORE, env = "ITERATR_NATS_REPLICAS", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=5), value_name = "N")]
    pub nats_replicas: u8,

    /// Run a local nats-server (loopback, random port, store in <data-dir>/jetstream), shared by
    /// the iteratr processes on this data dir and stopped with the last of them
    #[arg(long, global = true, help_heading = STORE)]
    pub nats_server: bool,

    /// How much of the agent's output each session keeps for watchers: an age, a size, or both
    /// (e.g. "24h,64MiB", "7d", "1GiB"); "off": a build writes none (watchers see the log only)
    #[arg(long, global = true, help_heading = STORE, env = "ITERATR_OUTPUT_RETENTION",
          default_value = "24h,64MiB", value_parser = parse_output_retention, value_name = "AGE,SIZE|off")]
    pub output_retention: crate::store::OutputSetting,

    #[command(subcommand)]
    pub command: Commands,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Show a session's tasks, notes and iterations (or list the sessions)
    Status {
        /// Session to show; without it, the only session, or a list when there are several
        #[arg(long, short = 'n', visible_alias = "name", value_name = "NAME")]
        session: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Run the coding agent in a loop until the spec is built
    Build(BuildArgs),
    /// Join a running session's workers from this clone: claim tasks, work, integrate
    Worker(BuildArgs),
    /// Write a spec with the agent: it interviews you, then the spec is saved in specs/
    Spec(SpecArgs),
    /// Write the built-in prompt template to a file, to customise it
    GenTemplate {
        /// Where to write it ("-" for stdout; default: .iteratr.template, or
        /// .iteratr-spec.template with --spec)
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Overwrite the file if it exists
        #[arg(long)]
        force: bool,
        /// Write the interview's template of `iteratr spec` instead of the build's
        #[arg(long)]
        spec: bool,
    },
    /// Check that the agent, the store, NATS (when configured) and the terminal are ready
    Doctor {
        /// The ACP agent command to check
        #[arg(
            long,
            env = "ITERATR_AGENT",
            default_value = "opencode acp",
            value_name = "CMD ARGS"
        )]
        agent: String,
        /// How long the agent may take to answer `initialize`
        #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
        timeout: Duration,
    },
    /// Follow a session that another process runs, in the full-screen interface (read-only, plus messages)
    Watch {
        /// Session to follow (default: the only one)
        #[arg(long, short = 'n', visible_alias = "name", value_name = "NAME")]
        session: Option<String>,
        /// Print progress lines, the agent's output included, instead of the full-screen interface (also without a terminal); ends when the build that runs ends
        #[arg(long)]
        headless: bool,
        /// With --headless: print one JSON object per line
        #[arg(long)]
        json: bool,
    },
    /// Serve the web dashboard of every session here (loopback and an access token by default)
    Web {
        /// Where to listen
        #[arg(long, value_name = "ADDR", default_value = DEFAULT_WEB_ADDR)]
        addr: SocketAddr,
        #[command(flatten)]
        access: WebAccess,
    },
    /// Session tools for MCP clients
    Mcp {
        #[command(subcommand)]
        command: McpCommand,
    },
    /// Ask the build of a session to pause after the iteration that runs (from any terminal)
    Pause {
        /// The session (default: the only one)
        #[arg(long, short = 'n', visible_alias = "name", value_name = "NAME")]
        session: Option<String>,
    },
    /// Ask the build of a session to stop after the iteration that runs, or at once (from any terminal)
    Stop {
        /// The session (default: the only one)
        #[arg(long, short = 'n', visible_alias = "name", value_name = "NAME")]
        session: Option<String>,
        /// Stop the turn that runs now (it is recorded as interrupted)
        #[arg(long)]
        now: bool,
    },
    /// Send the agent of a session's build a message (from any terminal), as typing in the full-screen interface does
    Message {
        /// The session (default: the only one)
        #[arg(long, short = 'n', visible_alias = "name", value_name = "NAME")]
        session: Option<String>,
        /// What to tell the agent
        #[arg(value_name = "TEXT")]
        text: String,
    },
    /// Allow the agent's permission request P-n of a session's build (from any terminal)
    Approve {
        /// The session (default: the only one)
        #[arg(long, short = 'n', visible_alias = "name", value_name = "NAME")]
        session: Option<String>,
        /// The request, as the build, watch and status show it (P-3)
        #[arg(value_name = "ID")]
        id: String,
        /// Allow this tool for the rest of the build
        #[arg(long)]
        always: bool,
    },
    /// Refuse the agent's permission request P-n of a session's build (from any terminal)
    Deny {
        /// The session (default: the only one)
        #[arg(long, short = 'n', visible_alias = "name", value_name = "NAME")]
        session: Option<String>,
        /// The request, as the build, watch and status show it (P-3)
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Answer the agent's question Q-n of a session's build (from any terminal)
    Answer {
        /// The session (default: the only one)
        #[arg(long, short = 'n', visible_alias = "name", value_name = "NAME")]
        session: Option<String>,
        /// The question, as the build, watch and status show it
        #[arg(value_name = "ID")]
        id: String,
        /// Your answer in words (it may go with --choice)
        #[arg(value_name = "TEXT")]
        text: Option<String>,
        /// Pick choice N (1 is the first); for a question of several, I:N picks choice N of question I; repeatable
        #[arg(long = "choice", value_name = "N")]
        choices: Vec<String>,
    },
    /// Let a paused build go on
    Resume {
        /// The session (default: the only one)
        #[arg(long, short = 'n', visible_alias = "name", value_name = "NAME")]
        session: Option<String>,
    },
    /// Print the settings a build here would use and where each comes from (flag, environment,
    /// iteratr.toml, ~/.config/iteratr/config.toml, default), the hooks and the notification
    /// channels
    Config,
    /// List the notification channels ([notify] in the settings files); with --test, send each a
    /// test notification and say whether it got through
    Notify {
        /// Send a test notification to every channel (exit 1 when one does not get it)
        #[arg(long)]
        test: bool,
        /// The session the test notification names (default: named after this directory)
        #[arg(long, short = 'n', visible_alias = "name", value_name = "NAME")]
        session: Option<String>,
    },
    /// Print the version, git commit and build date
    Version,
    /// Runs the nats-server of --nats-server for the iteratr processes of a data dir (internal)
    #[command(hide = true)]
    NatsKeeper {
        #[arg(long, value_name = "PATH")]
        server_bin: PathBuf,
    },
}

/// Where the web dashboard listens unless told otherwise.
pub const DEFAULT_WEB_ADDR: &str = "127.0.0.1:7177";

/// Who may reach the dashboard, for `iteratr web` and `build --web`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WebAccess {
    /// Let the dashboard listen on an address that is not loopback (plain HTTP: prefer 127.0.0.1 and an SSH tunnel)
    #[arg(long)]
    pub listen: bool,
    /// Also print a second, view-only address to share (it sees everything and steers nothing)
    #[arg(long)]
    pub view_token: bool,
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The spec to build (default: the only .md file in specs/)
    #[arg(short = 's', long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Session name (default: the spec's file name without extension)
    #[arg(
        short = 'n',
        long = "name",
        visible_alias = "session",
        value_name = "NAME"
    )]
    pub name: Option<String>,
    /// Prompt template (default: .iteratr.template if present, else the built-in one)
    #[arg(short = 't', long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Extra instructions added to every prompt
    #[arg(short = 'e', long = "extra-instructions", value_name = "TEXT")]
    pub extra: Option<String>,
    /// Iterations to run now, not counting planning; 0 or no flag: no limit, run until the session completes
    #[arg(short = 'i', long, value_name = "N")]
    pub iterations: Option<u32>,
    /// Model for the agent to use, as the agent names it (e.g. anthropic/claude-sonnet-4)
    #[arg(short = 'm', long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Print progress lines instead of the full-screen interface
    #[arg(long)]
    pub headless: bool,
    /// Serve the web dashboard from the build too, on ADDR (default 127.0.0.1:7177)
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = DEFAULT_WEB_ADDR)]
    pub web: Option<SocketAddr>,
    #[command(flatten)]
    pub web_access: WebAccess,
    /// With --headless: print one JSON object per line
    #[arg(long)]
    pub json: bool,
    /// Start the session over (its history stays in the log)
    #[arg(long)]
    pub reset: bool,
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
    /// Permission requests no --deny-tools rule refuses: allow them (auto), or ask in the
    /// full-screen interface (ask; with --headless they are denied)
    #[arg(long, env = "ITERATR_APPROVE", value_enum, default_value_t = crate::acp::permissions::ApproveMode::Auto, value_name = "MODE")]
    pub approve: crate::acp::permissions::ApproveMode,
    /// With --approve ask and no full-screen interface: how long a permission request waits for an answer from anywhere (`iteratr approve P-3`, `watch`) before it is refused (0: at once)
    #[arg(long, env = "ITERATR_APPROVE_WAIT", default_value = "0s", value_parser = parse_duration, value_name = "DURATION")]
    pub approve_wait: Duration,
    /// How long the agent's question (ask-questions) waits for an answer from anywhere before the agent is told to decide and go on (default: 5m with the full-screen interface, 0s with --headless)
    #[arg(long, env = "ITERATR_QUESTION_WAIT", value_parser = parse_duration, value_name = "DURATION")]
    pub question_wait: Option<Duration>,
    /// Cancel a turn that runs longer than this (e.g. 30m, 90s)
    #[arg(long, default_value = "30m", value_parser = parse_duration, value_name = "DURATION")]
    pub iteration_timeout: Duration,
    /// Stop after this many failed iterations in a row
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..), value_name = "N")]
    pub max_failures: u32,
    /// First delay before restarting a failed agent (doubles each time, up to 30s)
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    pub retry_delay: Duration,
    /// How long the agent may take to answer `initialize`
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub init_timeout: Duration,
    /// Take the session over from a build on this machine whose process is gone
    #[arg(long)]
    pub takeover: bool,
    /// Do not commit each iteration's changes (by default, in a git repository, iteratr commits
    /// the files an iteration changed after it ends)
    #[arg(long = "no-auto-commit", action = clap::ArgAction::SetFalse)]
    pub auto_commit: bool,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// Stop (exit 5) after this many work iterations in a row that changed no task and no file
    /// (files are compared with git, so only in a git repository); 0: never
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub max_idle_iterations: u32,
    /// Stop (exit 6) at the end of the iteration where this run's tokens (input + output, as the
    /// agent reports them) reach N
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    pub max_tokens: Option<u64>,
    /// Stop (exit 6) at the end of the iteration where this run's cost (as the agent reports it, in
    /// its currency) reaches AMOUNT
    #[arg(long, value_parser = parse_cost, value_name = "AMOUNT")]
    pub max_cost: Option<f64>,
    /// Mark a task blocked (with a stuck note) once the tokens attributed to it (input + output,
    /// across its iterations, retries included) reach N; the loop goes on with other work
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    pub max_tokens_per_task: Option<u64>,
    /// Mark a task blocked (with a stuck note) once the cost attributed to it reaches AMOUNT
    #[arg(long, value_parser = parse_cost, value_name = "AMOUNT")]
    pub max_cost_per_task: Option<f64>,
    /// The budget of the session state (tasks, notes, recent iterations, messages) in each
    /// prompt, in estimated tokens (4 bytes each); past it the prompt shows what the iteration
    /// needs and says how to list the rest. 0: no budget, everything
    #[arg(long, env = "ITERATR_PROMPT_BUDGET", default_value_t = crate::template::DEFAULT_PROMPT_BUDGET, value_name = "TOKENS")]
    pub prompt_budget: u32,
    /// How long this build's hold on the session lasts without renewal (renewed every third)
    #[arg(long, env = "ITERATR_LEASE_TTL", default_value = "90s", value_parser = parse_lease_ttl, value_name = "DURATION")]
    pub lease_ttl: Duration,
    /// Agents working at once, each in its own git worktree, claiming tasks from the session
    #[arg(long, env = "ITERATR_WORKERS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=32), value_name = "N")]
    pub workers: u32,
    /// The branch workers integrate into (default: the branch checked out)
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// Integrate by pushing (never forced) to this git remote's branch, for workers on several machines
    #[arg(long, value_name = "REMOTE")]
    pub remote: Option<String>,
    /// How long a worker's claim on a task lasts without renewal (renewed every third)
    #[arg(long, env = "ITERATR_CLAIM_TTL", default_value = "2m", value_parser = parse_lease_ttl, value_name = "DURATION")]
    pub claim_ttl: Duration,
}

pub fn parse_lease_ttl(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(1) || d > Duration::from_secs(3600) {
        return Err(format!("{s} is outside 1s to 1h"));
    }
    Ok(d)
}

pub fn parse_cost(s: &str) -> Result<f64, String> {
    match s.trim().trim_start_matches('$').parse::<f64>() {
        Ok(c) if c.is_finite() && c > 0.0 => Ok(c),
        _ => Err(format!(
            "'{s}' is not an amount above 0; write e.g. 5 or 2.50"
        )),
    }
}

pub fn parse_output_retention(s: &str) -> Result<crate::store::OutputSetting, String> {
    s.parse()
        .map_err(|e: crate::store::RetentionError| e.to_string())
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.trim().parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration ({e}); write e.g. 90s, 30m or 1h"))
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Serve the session tools to an MCP client: over stdio (default) or streamable HTTP
    Serve {
        /// Session the tools work on; without it, the only session in the data dir, or one named
        /// after the current directory when there is none yet
        #[arg(
            long,
            short = 'n',
            visible_alias = "name",
            env = "ITERATR_SESSION",
            value_name = "NAME"
        )]
        session: Option<String>,
        /// Serve streamable HTTP at http://ADDR/mcp instead of stdio (loopback only; port 0 picks one)
        #[arg(long, value_name = "ADDR")]
        http: Option<SocketAddr>,
        /// Bearer token HTTP clients must send (random when left out; at least 16 characters)
        #[arg(
            long,
            env = "ITERATR_MCP_TOKEN",
            hide_env_values = true,
            value_name = "TOKEN"
        )]
        token: Option<String>,
        /// The spec, for the `spec` resource and the `iteration` prompt (default: the only .md
        /// file in specs/, if there is one)
        #[arg(short = 's', long, value_name = "FILE")]
        spec: Option<PathBuf>,
        /// Prompt template of the `iteration` prompt (default: .iteratr.template if present, else
        /// the built-in one)
        #[arg(short = 't', long, value_name = "FILE")]
        template: Option<PathBuf>,
        /// Extra instructions in the `iteration` prompt, as `build -e` adds them
        #[arg(short = 'e', long = "extra-instructions", value_name = "TEXT")]
        extra: Option<String>,
        /// Serve one worker of `--workers`: task-next claims the task it returns for it
        #[arg(long, value_name = "NAME")]
        worker: Option<String>,
        /// How long that worker's claims last without renewal
        #[arg(long, default_value = "2m", value_parser = parse_lease_ttl, value_name = "DURATION")]
        claim_ttl: Duration,
        /// How long ask-questions waits for a person's answer before the agent is told to go on
        #[arg(long, env = "ITERATR_QUESTION_WAIT", default_value = "0s", value_parser = parse_duration, value_name = "DURATION")]
        question_wait: Duration,
    },
    /// Print the tools' names, descriptions and JSON input schemas
    Tools,
}

impl Cli {
    /// The command takes over the terminal (the full-screen interface), given whether stdout is one.
    pub fn uses_terminal(&self, stdout_is_terminal: bool) -> bool {
        (stdout_is_terminal
            && (matches!(&self.command, Commands::Build(args) | Commands::Worker(args) if !args.headless)
                || matches!(&self.command, Commands::Spec(args) if !args.headless)))
            || matches!(
                self.command,
                Commands::Watch {
                    headless: false,
                    json: false,
                    ..
                }
            )
    }

    /// The store the global options name.
    pub fn store_config(&self) -> Result<StoreConfig, crate::store::ConfigError> {
        let mut config = StoreConfig::new(
            self.data_dir.clone(),
            self.nats_url.as_deref(),
            self.nats_creds.clone(),
            self.nats_token.clone(),
            self.nats_replicas,
            self.nats_server,
        )?;
        config.output_retention = self.output_retention;
        Ok(config)
    }
}

/// `--sandbox` and what it allows (README "Sandbox").
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SandboxArgs {
    /// Run the agent and everything it starts under bubblewrap (Linux): only the project (a
    /// worker's worktree) and the agent's own state writable, the home hidden, credentials out of
    /// its environment; exit 7 where the sandbox cannot work
    #[arg(long)]
    pub sandbox: bool,
    /// With --sandbox: another writable path (`~/` is the home; repeatable)
    #[arg(long = "sandbox-writable", value_name = "PATH")]
    pub sandbox_writable: Vec<std::path::PathBuf>,
    /// With --sandbox: another path the agent may read in the hidden home (repeatable)
    #[arg(long = "sandbox-readable", value_name = "PATH")]
    pub sandbox_readable: Vec<std::path::PathBuf>,
    /// With --sandbox: keep these environment variables although a deny pattern matches them
    /// (`*` for any characters; repeatable)
    #[arg(long = "sandbox-env-allow", value_name = "PATTERN", value_parser = parse_env_pattern)]
    pub sandbox_env_allow: Vec<String>,
    /// With --sandbox: drop these environment variables too (`*` for any characters; repeatable)
    #[arg(long = "sandbox-env-deny", value_name = "PATTERN", value_parser = parse_env_pattern)]
    pub sandbox_env_deny: Vec<String>,
    /// Accept iteratr.toml, .iteratr.hooks.yml and .iteratr.template as they are now, although
    /// they changed since a sandboxed build started (its agent may have written them)
    #[arg(long = "trust-settings")]
    pub trust_settings: bool,
}

fn parse_env_pattern(s: &str) -> Result<String, String> {
    crate::sandbox::policy::check_env_pattern(s).map(|()| s.to_string())
}
