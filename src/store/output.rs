//! The output stream: what the agent does (text, tool calls, diffs, plans, usage...), kept per
//! session in a bounded companion stream beside the session log, never in it. The session log
//! stays small and is kept forever; the output stream is pruned by age and by bytes per session.
//!
//! Payloads are opaque here: the layer above defines and versions the record JSON. What this layer
//! promises: records of one append keep their order and get increasing sequence numbers; any
//! number of writers (workers in several processes) may append to one session at once; readers and
//! live subscribers see the retained records in sequence order.
//!
//! Sequence numbers come from a store-wide counter (SQLite: the table's AUTOINCREMENT rowid;
//! JetStream: the stream sequence, see `nats/output.rs`), so they increase forever for a session,
//! even across a reset, and are not gap-free: a subscriber never has to start over, and the
//! numbers of pruned records are simply missing.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;
use tokio::sync::mpsc;

use super::StoreError;

/// The largest payload one output record may hold. The caller coalesces chunks into records of a
/// few KiB; a record this large is a bug or a flood, not output anyone reads.
pub const MAX_OUTPUT_PAYLOAD: usize = 64 * 1024;

/// One retained output record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputEntry {
    /// Increasing within a session (even across a reset); not gap-free.
    pub seq: u64,
    /// The writer's time for the record (milliseconds since the Unix epoch).
    pub at_ms: i64,
    pub payload: String,
}

/// How much output a store keeps per session: records older than `max_age` go, and the oldest
/// records go when a session holds more than `max_bytes` of payload. Both bounds always apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputRetention {
    pub max_age: Duration,
    pub max_bytes: u64,
}

impl OutputRetention {
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
    pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;
    /// Below this a retention is not worth having; it also lets every store keep at least one
    /// record of the largest size.
    pub const MIN_MAX_BYTES: u64 = 64 * 1024;
    pub const MIN_MAX_AGE: Duration = Duration::from_secs(1);

    /// Checks both bounds; the message says which one is out of range and what is allowed.
    pub fn new(max_age: Duration, max_bytes: u64) -> Result<Self, RetentionError> {
        if max_age < Self::MIN_MAX_AGE {
            return Err(RetentionError::AgeTooShort(max_age));
        }
        if max_bytes < Self::MIN_MAX_BYTES {
            return Err(RetentionError::BytesTooFew(max_bytes));
        }
        Ok(OutputRetention { max_age, max_bytes })
    }
}

impl Default for OutputRetention {
    fn default() -> Self {
        OutputRetention {
            max_age: Self::DEFAULT_MAX_AGE,
            max_bytes: Self::DEFAULT_MAX_BYTES,
        }
    }
}

/// An `output_retention` setting that cannot be used. Every message shows the accepted form.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RetentionError {
    #[error("output retention is empty; {FORM}")]
    Empty,
    #[error("output retention '{0}': '{1}' is neither an age nor a size; {FORM}")]
    Part(String, String),
    #[error("output retention '{0}' gives the {1} twice; {FORM}")]
    Twice(String, &'static str),
    #[error(
        "output retention: an age of {}s is too short; keep output for at least 1s",
        .0.as_secs_f64()
    )]
    AgeTooShort(Duration),
    #[error(
        "output retention: {0} bytes per session is too few; allow at least 64KiB (one record of the largest size)"
    )]
    BytesTooFew(u64),
}

const FORM: &str = "write an age and/or a size per session separated by a comma, e.g. '24h,64MiB' (ages: s, m, h, d; sizes: B, KiB, MiB, GiB, or KB, MB, GB), or 'off' for no output stream";

impl FromStr for OutputRetention {
    type Err = RetentionError;

    /// `"24h,64MiB"`, `"90m"`, `"1GiB"`, `"7d, 512MB"`: an age, a size, or both in any order; a
    /// bound left out keeps its default.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err(RetentionError::Empty);
        }
        let (mut age, mut bytes) = (None, None);
        for part in s.split(',').map(str::trim) {
            let bad = || RetentionError::Part(s.to_string(), part.to_string());
            let split = part.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            let (number, unit) = part.split_at(split);
            let number: u64 = number.parse().map_err(|_| bad())?;
            let unit = unit.trim();
            if let Some(secs) = age_unit(unit) {
                let secs = number.checked_mul(secs).ok_or_else(bad)?;
                if age.replace(Duration::from_secs(secs)).is_some() {
                    return Err(RetentionError::Twice(s.to_string(), "age"));
                }
            } else if let Some(scale) = size_unit(unit) {
                let n = number.checked_mul(scale).ok_or_else(bad)?;
                if bytes.replace(n).is_some() {
                    return Err(RetentionError::Twice(s.to_string(), "size"));
                }
            } else {
                return Err(bad());
            }
        }
        OutputRetention::new(
            age.unwrap_or(Self::DEFAULT_MAX_AGE),
            bytes.unwrap_or(Self::DEFAULT_MAX_BYTES),
        )
    }
}

fn age_unit(unit: &str) -> Option<u64> {
    Some(match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    })
}

fn size_unit(unit: &str) -> Option<u64> {
    // "m" is minutes (an age); a size in MiB is "M" or "MiB".
    Some(match unit {
        "B" | "b" => 1,
        "K" | "KiB" | "kib" => 1 << 10,
        "M" | "MiB" | "mib" => 1 << 20,
        "G" | "GiB" | "gib" => 1 << 30,
        "KB" | "kB" | "kb" => 1_000,
        "MB" | "mb" => 1_000_000,
        "GB" | "gb" => 1_000_000_000,
        _ => return None,
    })
}

impl fmt::Display for OutputRetention {
    /// The form [`FromStr`] reads back (`24h,64MiB`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.max_age.as_secs();
        match secs {
            s if s % 86_400 == 0 => write!(f, "{}d", s / 86_400)?,
            s if s % 3600 == 0 => write!(f, "{}h", s / 3600)?,
            s if s % 60 == 0 => write!(f, "{}m", s / 60)?,
            s => write!(f, "{s}s")?,
        }
        match self.max_bytes {
            b if b % (1 << 30) == 0 => write!(f, ",{}GiB", b >> 30),
            b if b % (1 << 20) == 0 => write!(f, ",{}MiB", b >> 20),
            b if b % (1 << 10) == 0 => write!(f, ",{}KiB", b >> 10),
            b => write!(f, ",{b}B"),
        }
    }
}

/// The `output_retention` setting: keep the agent's output for watchers within these bounds, or
/// `off`: a build writes none (watchers show the session log only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputSetting {
    Keep(OutputRetention),
    Off,
}

impl OutputSetting {
    /// The bounds a store keeps what it holds to. With `off` this process writes nothing, and
    /// the store keeps the default bounds for what other builds wrote.
    pub fn retention(self) -> OutputRetention {
        match self {
            OutputSetting::Keep(r) => r,
            OutputSetting::Off => OutputRetention::default(),
        }
    }

    /// A build writes no output records.
    pub fn is_off(self) -> bool {
        self == OutputSetting::Off
    }
}

impl Default for OutputSetting {
    fn default() -> Self {
        OutputSetting::Keep(OutputRetention::default())
    }
}

impl FromStr for OutputSetting {
    type Err = RetentionError;

    /// `off`, or a retention (`"24h,64MiB"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("off") {
            return Ok(OutputSetting::Off);
        }
        s.parse().map(OutputSetting::Keep)
    }
}

impl fmt::Display for OutputSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputSetting::Keep(r) => r.fmt(f),
            OutputSetting::Off => f.write_str("off"),
        }
    }
}

/// Refuses a batch with a payload over [`MAX_OUTPUT_PAYLOAD`], before anything is written.
pub(crate) fn validate_output(session: &str, records: &[(i64, String)]) -> Result<(), StoreError> {
    if let Some((index, (_, payload))) = records
        .iter()
        .enumerate()
        .find(|(_, (_, p))| p.len() > MAX_OUTPUT_PAYLOAD)
    {
        return Err(StoreError::OutputTooLarge {
            session: session.to_string(),
            index,
            bytes: payload.len(),
            max: MAX_OUTPUT_PAYLOAD,
        });
    }
    Ok(())
}

/// A live view of a session's output: first the retained records after the starting point, then
/// new ones as any process appends them. Dropping it stops the feed.
pub struct OutputSubscription {
    rx: mpsc::Receiver<Result<OutputEntry, StoreError>>,
}

impl OutputSubscription {
    pub fn from_channel(rx: mpsc::Receiver<Result<OutputEntry, StoreError>>) -> Self {
        OutputSubscription { rx }
    }

    /// The next record, or an error after which the subscription ends, or `None` when the store
    /// is closed.
    pub async fn next(&mut self) -> Option<Result<OutputEntry, StoreError>> {
        self.rx.recv().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<OutputRetention, RetentionError> {
        s.parse()
    }

    #[test]
    fn retention_parses_an_age_a_size_or_both() {
        let day = Duration::from_secs(86_400);
        assert_eq!(parse("24h,64MiB").unwrap(), OutputRetention::default());
        assert_eq!(
            parse(" 64MiB , 24h ").unwrap(),
            OutputRetention::default(),
            "any order, spaces allowed"
        );
        let r = parse("7d,1GiB").unwrap();
        assert_eq!((r.max_age, r.max_bytes), (day * 7, 1 << 30));
        let r = parse("90m").unwrap();
        assert_eq!(r.max_age, Duration::from_secs(5400));
        assert_eq!(
            r.max_bytes,
            OutputRetention::DEFAULT_MAX_BYTES,
            "default kept"
        );
        let r = parse("500MB").unwrap();
        assert_eq!((r.max_age, r.max_bytes), (day, 500_000_000));
        assert_eq!(parse("30s,256KiB").unwrap().max_bytes, 256 * 1024);
        assert_eq!(
            parse("10 min, 2 GB").unwrap().max_age,
            Duration::from_secs(600)
        );
        for r in [OutputRetention::default(), parse("30s,100000B").unwrap()] {
            assert_eq!(parse(&r.to_string()).unwrap(), r, "{r} reads back");
        }
    }

    #[test]
    fn a_bad_retention_says_what_and_how() {
        let e = parse("").unwrap_err();
        assert_eq!(e, RetentionError::Empty);
        for bad in [
            "24",
            "h",
            "24x",
            "64 parsecs",
            "-1h",
            "1.5h",
            "24h,",
            "99999999999999999999d",
        ] {
            let e = parse(bad).unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, RetentionError::Part(..)), "{bad}: {e:?}");
            assert!(text.contains("e.g. '24h,64MiB'"), "{text}");
        }
        assert_eq!(
            parse("1h,2h").unwrap_err(),
            RetentionError::Twice("1h,2h".into(), "age")
        );
        let text = parse("1KiB").unwrap_err().to_string();
        assert!(text.contains("at least 64KiB"), "{text}");
        let text = parse("0s").unwrap_err().to_string();
        assert!(text.contains("at least 1s"), "{text}");
    }

    #[test]
    fn off_is_no_output_stream_and_reads_back() {
        let off: OutputSetting = " OFF ".parse().unwrap();
        assert!(off.is_off());
        assert_eq!(off.to_string(), "off");
        assert_eq!(off.retention(), OutputRetention::default());
        let kept: OutputSetting = "90m".parse().unwrap();
        assert!(!kept.is_off());
        assert_eq!(kept.retention().max_age, Duration::from_secs(5400));
        assert_eq!(kept.to_string().parse::<OutputSetting>().unwrap(), kept);
        assert_eq!(OutputSetting::default().to_string(), "1d,64MiB");
        for bad in ["of", "off,24h", "none"] {
            let text = bad.parse::<OutputSetting>().unwrap_err().to_string();
            assert!(text.contains("or 'off'"), "{bad}: {text}");
        }
    }

    #[test]
    fn an_oversize_payload_is_named() {
        let ok = "x".repeat(MAX_OUTPUT_PAYLOAD);
        let big = "x".repeat(MAX_OUTPUT_PAYLOAD + 1);
        assert!(validate_output("s", &[(1, ok.clone())]).is_ok());
        let e = validate_output("s", &[(1, ok), (2, big)]).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("record #2 ") && text.contains("65537 bytes"),
            "{text}"
        );
        assert!(text.contains("nothing was written"), "{text}");
    }
}
