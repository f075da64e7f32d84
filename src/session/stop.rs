//! Asking the build that runs to stop (`iteratr stop`): from any process or machine that reaches
//! the log, like a pause. Only a build that holds the session can be asked.

use super::error::DomainError;
use super::event_kind::EventKind;
use super::state::SessionState;

/// The events that ask the build to stop, or none when it was asked already (as firmly).
pub(super) fn request(
    state: &SessionState,
    now_ms: i64,
    now: bool,
    who: &str,
) -> Result<Vec<EventKind>, DomainError> {
    let running = state.lease.as_ref().is_some_and(|l| l.is_live(now_ms));
    if !running {
        return Err(DomainError::NoBuildRunning);
    }
    if state.stop.as_ref().is_some_and(|s| s.now || !now) {
        return Ok(Vec::new());
    }
    Ok(vec![EventKind::StopRequested {
        now,
        who: super::limits::check_who(who),
    }])
}
