//! Every kind of event a session records, declared once: its fields, its stored name (serde's,
//! snake case), the first encoding version that knows it, and the parts of a session it changes
//! (which MCP resource subscriptions and front ends follow). A new kind is a new entry here, its
//! fold in `state.rs` and its words in the narrator; every other consumer matches without a
//! wildcard or asks [`EventType`].

use serde::{Deserialize, Serialize};

use super::event::{IterationOutcome, NoteType, PermissionDecision, TaskStatus, is_zero};
use super::hook_point::HookPoint;
use super::lease::LeaseHolder;
use super::parts::Part;
use super::questions::{ItemAnswer, QuestionItem};
use super::usage::Usage;

/// Declares [`EventKind`], [`EventType`] (its kinds without their fields) and what each kind is.
macro_rules! event_kinds {
    ($(
        $(#[$attr:meta])*
        $kind:ident $({ $($(#[$fattr:meta])* $field:ident: $fty:ty),* $(,)? })?
            version $version:literal changes [$($part:ident),*];
    )*) => {
        /// What happened. Task and note ids are the numbers behind `TAS-n` and `NOT-n`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum EventKind {
            $($(#[$attr])* $kind $({ $($(#[$fattr])* $field: $fty),* })?,)*
        }

        /// The kind of an event, without its fields: named as stored (`task_added`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum EventType {
            $($kind,)*
        }

        impl EventType {
            /// Every kind, in the order declared.
            pub const ALL: &'static [EventType] = &[$(EventType::$kind),*];

            /// The first encoding version that knows this kind.
            pub fn version(self) -> u32 {
                match self {
                    $(EventType::$kind => $version,)*
                }
            }

            /// The parts of a session an event of this kind changes.
            pub fn changes(self) -> &'static [Part] {
                match self {
                    $(EventType::$kind => &[$(Part::$part),*],)*
                }
            }
        }

        impl EventKind {
            pub fn event_type(&self) -> EventType {
                match self {
                    $(EventKind::$kind { .. } => EventType::$kind,)*
                }
            }
        }
    };
}

crate::named!(EventType);

impl EventKind {
    /// The end of an iteration that did not end by itself, and why.
    pub fn interrupted(iteration: u32, detail: String) -> EventKind {
        EventKind::IterationFinished {
            iteration,
            outcome: IterationOutcome::Interrupted,
            detail: Some(detail),
            commit: None,
            usage: None,
            auto_allowed: 0,
        }
    }

    /// The first encoding version that knows this kind: 2 for the workers' claims and for
    /// `task_released`, 1 for the rest.
    pub fn version(&self) -> u32 {
        self.event_type().version()
    }

    /// The parts of the session this event changes.
    pub fn changes(&self) -> &'static [Part] {
        self.event_type().changes()
    }

    /// The `type` tag, also stored beside the payload for people reading the database.
    pub fn type_name(&self) -> &'static str {
        self.event_type().as_str()
    }
}

event_kinds! {
    // A running iteration lists the tasks it added or changed; unfinished work makes a completed
    // session incomplete again.
    TaskAdded {
        task: u64,
        content: String,
        status: TaskStatus,
        priority: u8,
        depends_on: Vec<u64>,
    } version 1 changes [Tasks, Iterations, Completion];
    TaskStatusSet {
        task: u64,
        status: TaskStatus,
    } version 1 changes [Tasks, Iterations, Completion];
    TaskPrioritySet {
        task: u64,
        priority: u8,
    } version 1 changes [Tasks, Iterations];
    TaskDependencyAdded {
        task: u64,
        depends_on: u64,
    } version 1 changes [Tasks, Iterations];
    TaskContentEdited {
        task: u64,
        content: String,
    } version 1 changes [Tasks, Iterations];
    TaskDeleted {
        task: u64,
    } version 1 changes [Tasks, Iterations];
    /// A task someone took is given back (in progress → remaining), so `task-next` offers it
    /// again: whoever worked on it stopped without saying how far it got (an iteration that
    /// never ended; later, a worker's lease that lapsed).
    TaskReleased {
        task: u64,
        /// Why, for people: "iteration 3 never ended".
        reason: String,
    } version 2 changes [Tasks, Iterations];
    NoteAdded {
        note: u64,
        note_type: NoteType,
        content: String,
    } version 1 changes [Notes];
    NoteContentEdited {
        note: u64,
        content: String,
    } version 1 changes [Notes];
    NoteDeleted {
        note: u64,
    } version 1 changes [Notes];
    IterationStarted {
        iteration: u32,
        /// The planning iteration (review the task list, no code). Iteration 0 always is; a failed
        /// planning iteration is retried as planning under the next number.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        planning: bool,
        /// The worker that runs it (`--workers`); none for a single build.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<String>,
    } version 1 changes [Iterations];
    IterationSummarized {
        iteration: u32,
        summary: String,
    } version 1 changes [Iterations];
    IterationFinished {
        iteration: u32,
        /// Why the turn ended: the agent's stop reason (`end_turn`, `cancelled`, ...) or what went
        /// wrong (`error`, `timeout`, `interrupted`).
        outcome: IterationOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// The commit iteratr made of what the iteration changed (a full hash).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit: Option<String>,
        /// Tokens and cost as the agent reported them for the iteration.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
        /// Permission requests allowed with no person and no rule involved (not logged singly).
        #[serde(default, skip_serializing_if = "is_zero")]
        auto_allowed: u32,
    } version 1 changes [Iterations, Permissions, Tasks];
    UserMessage {
        text: String,
        /// Who wrote it, as `user@host` (or as the front end names them); empty in logs written
        /// before iteratr recorded it.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        who: String,
    } version 1 changes [Messages];
    SessionCompleted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
    } version 1 changes [Completion];
    /// A hook declared in a settings file ran (`iteratr config` lists them).
    HookRan {
        point: HookPoint,
        /// The command as declared (it holds no values: those go to the environment).
        command: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// "exit 1", "timed out after 5m", "could not start: ...".
        result: String,
        /// It ran past its timeout and was stopped.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        timed_out: bool,
        took_ms: u64,
        /// The end of its output.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        output: String,
    } version 1 changes [Hooks];
    /// Someone asked the loop to pause after the iteration that runs (`iteratr pause`, `p`).
    /// `who` came later than the kind: an older iteratr reads the event and ignores it, so the
    /// version stays 1.
    SessionPaused {
        /// Who asked, as `user@host`.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        who: String,
    } version 1 changes [Pause];
    /// And to go on.
    SessionResumed {
        /// Who asked, as `user@host`.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        who: String,
    } version 1 changes [Pause];
    /// Someone asked the build that runs to stop (`iteratr stop`): after the iteration that runs,
    /// or `now` (the turn is stopped and recorded interrupted), and of its workers anywhere. It
    /// holds until the next build takes the session.
    StopRequested {
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        now: bool,
        /// Who asked, as `user@host`.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        who: String,
    } version 3 changes [Pause];
    /// The loop started an agent: what it said it is in `initialize`.
    AgentStarted {
        name: String,
        version: String,
        /// It takes MCP servers over HTTP.
        http_mcp: bool,
        /// It runs in iteratr's sandbox (`--sandbox`). Came later than the kind: an older
        /// iteratr ignores it, so the version stays 1.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        sandboxed: bool,
    } version 1 changes [Agent];
    /// iteratr answered an agent's permission request (`session/request_permission`).
    PermissionDecided {
        /// The tool as the agent names it (`bash`, `mcp__acp__Write`); empty when it names none.
        tool: String,
        /// What the call does, as the agent describes it (a command, a file path).
        title: String,
        decision: PermissionDecision,
        /// The `--deny-tools` pattern that refused it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
    } version 1 changes [Permissions];
    /// A permission request waits for a person (`--approve ask`), who may answer from anywhere
    /// that reaches the log, as request `P-n`.
    PermissionRequested {
        request: u64,
        tool: String,
        title: String,
        /// The worker whose agent asks (none for a single build).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<String>,
    } version 3 changes [Permissions];
    /// The first answer to request `P-n` (a person's, or `cancelled` when its turn ended).
    PermissionAnswered {
        request: u64,
        decision: PermissionDecision,
        /// Who answered, as `user@host`.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        who: String,
    } version 3 changes [Permissions];
    /// The agent asked a person (`ask-questions`), as question `Q-n`.
    QuestionAsked {
        question: u64,
        items: Vec<QuestionItem>,
        /// The worker whose agent asks (none for a single build).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<String>,
    } version 4 changes [Questions];
    /// The first answer to `Q-n`, from anywhere.
    QuestionAnswered {
        question: u64,
        answers: Vec<ItemAnswer>,
        /// Who answered, as `user@host`.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        who: String,
    } version 4 changes [Questions];
    /// The agent stopped waiting for `Q-n`; it stays open, and a later answer reaches the
    /// agent's next prompt.
    QuestionLeftOpen {
        question: u64,
    } version 4 changes [Questions];
    // Everything but the lease starts over.
    /// Starts the session over: the fold forgets everything before it. The history stays in the log.
    SessionReset {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    } version 1 changes [Tasks, Notes, Iterations, Messages, Completion, Pause, Agent, Permissions, Questions];
    /// A build took charge of the session (a stop asked of an earlier one no longer holds): one
    /// builder at a time. The lease lapses `ttl_ms`
    /// after its last renewal.
    LeaseAcquired {
        holder: LeaseHolder,
        ttl_ms: u64,
        /// The holder it replaced while that one's lease still ran (`--takeover`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        took_over_from: Option<String>,
    } version 1 changes [Lease, Pause];
    /// The holder is still at work.
    LeaseRenewed {
        id: String,
    } version 1 changes [Lease];
    /// The holder's build ended.
    LeaseReleased {
        id: String,
    } version 1 changes [Lease];
    /// A worker took the task: no other worker works on it until the claim ends or lapses
    /// `ttl_ms` after its last renewal.
    TaskClaimed {
        task: u64,
        worker: String,
        ttl_ms: u64,
    } version 2 changes [Tasks];
    /// The worker is still at work: its claims run for another time to live.
    ClaimsRenewed {
        worker: String,
    } version 2 changes [Tasks];
    /// A claim ended: released by its worker (done, blocked, given up) or `expired`. A task
    /// still in progress goes back to remaining.
    TaskUnclaimed {
        task: u64,
        worker: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        expired: bool,
        reason: String,
    } version 2 changes [Tasks];
    /// The task's work reached the integration branch at `commit`.
    TaskIntegrated {
        task: u64,
        commit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<String>,
    } version 2 changes [Tasks];
}
