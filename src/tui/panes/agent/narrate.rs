//! `iteratr watch`: the transcript of a build another process runs, told from its session log.

use super::transcript::Transcript;
use crate::narrate::{Listener, Tone, narrate as told};
use crate::session::EventKind;

/// Watching another process's build: the agent's output is not in the log, so the transcript
/// tells what the log records instead, in the narrator's words.
pub(super) fn narrate(transcript: &mut Transcript, kind: &EventKind) {
    let Some(told) = told(kind, Listener::Watcher) else {
        return;
    };
    match told.tone {
        Tone::Divider => transcript.divider(told.text),
        Tone::Text => transcript.text(&told.text),
        Tone::Info => transcript.info(told.text, false),
        Tone::Warning => transcript.info(told.text, true),
    }
}
