//! What the agent does, as records of a session's output stream: the companion of the session
//! log that watchers in other processes and on other machines read to show the agent's live
//! output. The log keeps what the session is; this stream keeps what the agent said and did, for
//! a while (the store bounds it).
//!
//! Records are versioned like events: one from a newer iteratr, or one that does not decode, is
//! an [`OutputDecodeError`] the reader shows as unreadable and skips. A flood of text chunks is
//! coalesced ([`Coalescer`]) so it does not become one append per chunk.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::frontend::AgentUpdate;

mod reader;
mod writer;

pub(crate) use reader::follow_output;
pub(crate) use writer::OutputWriter;

/// Version of the record encoding this build reads and writes.
pub const OUTPUT_VERSION: u32 = 1;

/// Text or thought chunks wait at most this long before they are written.
pub const COALESCE_FOR: Duration = Duration::from_millis(50);
/// And are written once this many bytes have gathered.
pub const COALESCE_BYTES: usize = 4096;

/// One record of the output stream: an update from the agent of `worker` (none for a single
/// build) in `iteration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputRecord {
    pub v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u32>,
    pub update: AgentUpdate,
    /// The writer that stored it (one per build process, random) and its number among that
    /// writer's stored records, from 1, with no gaps: a reader that sees one writer's numbers
    /// jump knows that the records between were pruned before it read them. The store's own
    /// sequence numbers cannot say so: they count every session's records (see `reader.rs`).
    /// Empty and 0 in records of older builds, which a reader does not count.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub writer: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub n: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Why a stored output record cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OutputDecodeError {
    #[error("not an output record this iteratr knows ({0})")]
    Json(#[source] serde_json::Error),
    #[error(
        "written by a newer iteratr (output version {0}, this build reads up to {OUTPUT_VERSION})"
    )]
    Newer(u32),
}

impl OutputRecord {
    pub fn new(worker: Option<String>, iteration: Option<u32>, update: AgentUpdate) -> Self {
        OutputRecord {
            v: OUTPUT_VERSION,
            worker,
            iteration,
            update,
            writer: String::new(),
            n: 0,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn from_json(json: &str) -> Result<Self, OutputDecodeError> {
        let record: OutputRecord = serde_json::from_str(json).map_err(OutputDecodeError::Json)?;
        if record.v > OUTPUT_VERSION {
            return Err(OutputDecodeError::Newer(record.v));
        }
        Ok(record)
    }
}

/// A text chunk longer than this is kept as several records.
const CHUNK_MAX: usize = 16 * 1024;
/// Tool output, file contents and inputs are clipped to this many bytes each.
const FIELD_MAX: usize = 16 * 1024;
/// A record whose JSON is still bigger than this after clipping is replaced by a notice.
const RECORD_MAX: usize = crate::store::MAX_OUTPUT_PAYLOAD - 1024;

fn clip_bytes(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let dropped = text.len() - cut;
        text.truncate(cut);
        text.push_str(&format!("… ({dropped} bytes more, not kept)"));
    }
}

impl OutputRecord {
    /// This record as records the store takes (each under its size limit): a long text chunk
    /// split, long tool output and file contents clipped, saying how much was left out.
    pub fn bounded(mut self) -> Vec<OutputRecord> {
        if let Some(text) = chunk_mut(&mut self.update)
            && text.len() > CHUNK_MAX
        {
            let whole = std::mem::take(text);
            let mut pieces = Vec::new();
            let mut rest = whole.as_str();
            while !rest.is_empty() {
                let mut cut = CHUNK_MAX.min(rest.len());
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                let mut piece = self.clone();
                if let Some(t) = chunk_mut(&mut piece.update) {
                    *t = rest[..cut].to_string();
                }
                pieces.push(piece);
                rest = &rest[cut..];
            }
            return pieces;
        }
        match &mut self.update {
            AgentUpdate::ToolUpdate { output, diffs, .. } => {
                clip_bytes(output, FIELD_MAX);
                for d in diffs.iter_mut() {
                    clip_bytes(&mut d.new, FIELD_MAX);
                    if let Some(old) = &mut d.old {
                        clip_bytes(old, FIELD_MAX);
                    }
                }
            }
            AgentUpdate::ToolCall { input, .. } | AgentUpdate::PermissionAsked { input, .. } => {
                let size = input.as_ref().map_or(0, |i| i.to_string().len());
                if size > FIELD_MAX {
                    *input = Some(serde_json::Value::String(format!(
                        "(an input of {size} bytes, not kept)"
                    )));
                }
            }
            _ => {}
        }
        let size = self.to_json().len();
        if size > RECORD_MAX {
            self.update = AgentUpdate::Text {
                text: format!("[an update of {size} bytes was too large to keep]\n"),
            };
        }
        vec![self]
    }
}

/// Gathers consecutive text (or thought) chunks of one worker into one record, written when
/// [`COALESCE_BYTES`] have gathered, after [`COALESCE_FOR`], or when anything else comes (so
/// the order of what the agent did is kept). Everything else passes through as it comes.
#[derive(Debug, Default)]
pub struct Coalescer {
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    record: OutputRecord,
    since: Instant,
}

fn chunk_mut(update: &mut AgentUpdate) -> Option<&mut String> {
    match update {
        AgentUpdate::Text { text } | AgentUpdate::Thought { text } => Some(text),
        _ => None,
    }
}

/// Whether `b` may be appended to `a`: both text or both thought, same worker and iteration.
fn same_stream(a: &OutputRecord, b: &OutputRecord) -> bool {
    let kind = |u: &AgentUpdate| match u {
        AgentUpdate::Text { .. } => 1,
        AgentUpdate::Thought { .. } => 2,
        _ => 0,
    };
    let k = kind(&a.update);
    k != 0 && k == kind(&b.update) && a.worker == b.worker && a.iteration == b.iteration
}

impl Coalescer {
    /// Takes one record at `now`; returns the records to write now, in order.
    pub fn push(&mut self, mut record: OutputRecord, now: Instant) -> Vec<OutputRecord> {
        let mut out = Vec::new();
        if let Some(pending) = &mut self.pending {
            if same_stream(&pending.record, &record) {
                if let (Some(into), Some(text)) = (
                    chunk_mut(&mut pending.record.update),
                    chunk_mut(&mut record.update),
                ) {
                    into.push_str(text);
                }
                if chunk_mut(&mut pending.record.update).is_some_and(|t| t.len() >= COALESCE_BYTES)
                {
                    out.extend(self.flush());
                }
                return out;
            }
            out.extend(self.flush());
        }
        if chunk_mut(&mut record.update).is_some() {
            self.pending = Some(Pending { record, since: now });
            if self
                .pending
                .as_mut()
                .and_then(|p| chunk_mut(&mut p.record.update))
                .is_some_and(|t| t.len() >= COALESCE_BYTES)
            {
                out.extend(self.flush());
            }
        } else {
            out.push(record);
        }
        out
    }

    /// When the chunks gathered must be written, if any are.
    pub fn due(&self) -> Option<Instant> {
        self.pending.as_ref().map(|p| p.since + COALESCE_FOR)
    }

    /// The gathered chunks if they waited long enough at `now`.
    pub fn flush_due(&mut self, now: Instant) -> Option<OutputRecord> {
        if self.due().is_some_and(|due| now >= due) {
            self.flush()
        } else {
            None
        }
    }

    /// The gathered chunks, now (at the end of a turn, or before stopping).
    pub fn flush(&mut self) -> Option<OutputRecord> {
        self.pending.take().map(|p| p.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::{AgentExit, ToolKind, ToolStatus};

    fn text(s: &str) -> OutputRecord {
        OutputRecord::new(None, Some(1), AgentUpdate::Text { text: s.into() })
    }

    fn texts(records: &[OutputRecord]) -> Vec<String> {
        records
            .iter()
            .map(|r| match &r.update {
                AgentUpdate::Text { text } => format!("text:{text}"),
                AgentUpdate::Thought { text } => format!("thought:{text}"),
                other => format!("other:{}", serde_json::to_value(other).unwrap()["type"]),
            })
            .collect()
    }

    #[test]
    fn chunks_gather_until_something_else_comes_and_the_order_is_kept() {
        let mut c = Coalescer::default();
        let t0 = Instant::now();
        let mut out = Vec::new();
        out.extend(c.push(text("a"), t0));
        out.extend(c.push(text("b"), t0));
        let thought = OutputRecord::new(None, Some(1), AgentUpdate::Thought { text: "t".into() });
        out.extend(c.push(thought, t0));
        let call = OutputRecord::new(
            None,
            Some(1),
            AgentUpdate::ToolCall {
                id: "1".into(),
                title: "ls".into(),
                kind: ToolKind::Execute,
                status: ToolStatus::Pending,
                input: None,
            },
        );
        out.extend(c.push(call, t0));
        out.extend(c.push(text("c"), t0));
        // Another worker's text is another stream.
        let mut other = text("d");
        other.worker = Some("w2".into());
        out.extend(c.push(other, t0));
        out.extend(c.flush());
        assert_eq!(
            texts(&out),
            [
                "text:ab",
                "thought:t",
                "other:\"tool_call\"",
                "text:c",
                "text:d"
            ]
        );
    }

    #[test]
    fn chunks_are_written_after_the_wait_or_at_the_size() {
        let mut c = Coalescer::default();
        let t0 = Instant::now();
        assert!(c.push(text("x"), t0).is_empty());
        assert_eq!(c.flush_due(t0 + COALESCE_FOR / 2), None);
        assert_eq!(c.due(), Some(t0 + COALESCE_FOR));
        assert_eq!(
            texts(&[c.flush_due(t0 + COALESCE_FOR).unwrap()]),
            ["text:x"]
        );
        assert_eq!(c.due(), None);

        let big = "y".repeat(COALESCE_BYTES / 2);
        assert!(c.push(text(&big), t0).is_empty());
        let out = c.push(text(&big), t0);
        assert_eq!(out.len(), 1);
        assert!(c.flush().is_none());
        // A flood of 100,000 small chunks becomes a few hundred records.
        let mut records = 0;
        for _ in 0..100_000 {
            records += c.push(text("0123456789"), t0).len();
        }
        records += c.flush().into_iter().count();
        assert!(records <= 100_000 * 10 / COALESCE_BYTES + 1, "{records}");
    }

    #[test]
    fn records_round_trip_and_newer_or_broken_ones_are_refused() {
        let exit = OutputRecord::new(
            Some("w1".into()),
            Some(3),
            AgentUpdate::Exited {
                status: AgentExit::Code(2),
            },
        );
        assert_eq!(OutputRecord::from_json(&exit.to_json()).unwrap(), exit);
        for status in [
            AgentExit::StoppedByIteratr,
            AgentExit::Signal("signal: 9 (SIGKILL)".into()),
            AgentExit::Lost("no such process".into()),
        ] {
            let r = OutputRecord::new(None, None, AgentUpdate::Exited { status });
            assert_eq!(OutputRecord::from_json(&r.to_json()).unwrap(), r);
        }
        let newer = exit.to_json().replace("\"v\":1", "\"v\":99");
        let err = OutputRecord::from_json(&newer).unwrap_err().to_string();
        assert!(err.contains("newer iteratr"), "{err}");
        let err = OutputRecord::from_json("{\"v\":1}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an output record"), "{err}");
    }
}
