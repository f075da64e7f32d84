//! Which turn of the script is next: kept in `SCRIPT.state` (`{"next_turn": n}`), written
//! atomically when a prompt takes a turn, under a file lock so that agents in several processes
//! (a team's workers) sharing one script never take the same turn.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use agent_client_protocol::v1::schema::StopReason;
use serde_json::{Value, json};

use crate::Fake;
use crate::script::{Action, Script, Stop};

/// A turn taken: its actions parsed, and the stop reason it answers with.
#[derive(Debug)]
pub struct Turn {
    pub actions: Vec<Action>,
    pub stop: StopReason,
}

/// Reads the script, its actions left as JSON until their turn runs.
pub fn read_script(path: &Path) -> Result<Script<Value>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read script {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("bad script {}: {e}", path.display()))
}

fn stop_reason(stop: Option<&Stop>) -> Result<StopReason, String> {
    Ok(match stop {
        None | Some(Stop::EndTurn) => StopReason::EndTurn,
        Some(Stop::MaxTokens) => StopReason::MaxTokens,
        Some(Stop::MaxTurnRequests) => StopReason::MaxTurnRequests,
        Some(Stop::Refusal) => StopReason::Refusal,
        Some(Stop::Cancelled) => StopReason::Cancelled,
        Some(Stop::Unknown(other)) => return Err(format!("unknown stop reason {other:?}")),
    })
}

fn state_path(script: &Path) -> PathBuf {
    let mut s = script.as_os_str().to_owned();
    s.push(".state");
    PathBuf::from(s)
}

fn read_next_turn(state: &Path) -> usize {
    std::fs::read_to_string(state)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.get("next_turn").and_then(Value::as_u64))
        .unwrap_or(0) as usize
}

/// Locks the state file's companion lock file, so that agents in several processes (a team's
/// workers) sharing one script never take the same turn; the lock ends when the file is dropped.
fn lock_state(state: &Path) -> Result<std::fs::File, String> {
    let mut path = state.as_os_str().to_owned();
    path.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", PathBuf::from(&path).display()))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| format!("cannot lock {}: {e}", PathBuf::from(&path).display()))?;
    Ok(file)
}

fn write_next_turn(state: &Path, n: usize) -> std::io::Result<()> {
    let mut tmp = state.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(json!({ "next_turn": n }).to_string().as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, state)
}

impl Fake {
    /// Takes the next turn of the script, advancing the state file first.
    pub fn claim_turn(&self) -> Result<Option<(usize, Turn)>, String> {
        let script_path = self.script.as_deref().ok_or_else(|| {
            "no script: pass --script FILE or set ITERATR_FAKE_AGENT_SCRIPT".to_string()
        })?;
        let _guard = self.turn_lock.lock().unwrap();
        let state = state_path(script_path);
        let _file_lock = lock_state(&state)?;
        let script = read_script(script_path)?;
        let n = read_next_turn(&state);
        let Some(spec) = script.turns.get(n).or(script.repeat.as_ref()) else {
            return Ok(None);
        };
        let actions = spec
            .actions
            .iter()
            .map(Action::from_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("turn {n}: {e}"))?;
        let stop = stop_reason(spec.stop.as_ref()).map_err(|e| format!("turn {n}: {e}"))?;
        write_next_turn(&state, n + 1)
            .map_err(|e| format!("cannot write {}: {e}", state.display()))?;
        Ok(Some((n, Turn { actions, stop })))
    }

    /// When the next turn is an `exit_in_new_session` one, uses it up and returns its exit code.
    pub fn new_session_exit(&self) -> Option<i32> {
        let script_path = self.script.as_deref()?;
        let _guard = self.turn_lock.lock().unwrap();
        let state = state_path(script_path);
        let _file_lock = lock_state(&state).ok()?;
        let script = read_script(script_path).ok()?;
        let n = read_next_turn(&state);
        let code = script.turns.get(n)?.exit_in_new_session?;
        write_next_turn(&state, n + 1).ok()?;
        Some(code)
    }
}
