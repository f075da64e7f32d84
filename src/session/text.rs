//! Text for people, said the same way everywhere: times and durations, the first line of a text,
//! clipping, who asked, one line of whitespace, an error with its causes.

use std::time::{Duration, UNIX_EPOCH};

/// A time as `2026-12-06 04:12:52Z`.
pub fn format_time(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace('T', " ")
}

/// A duration rounded to seconds, as `1h 2m 3s`.
pub fn format_duration(ms: i64) -> String {
    let secs = (ms.max(0) as u64 + 500) / 1000;
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// The first line that says something, trimmed.
pub fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// At most `max` characters, with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Who asked for something, as recorded, or `unknown` when the log did not say (events written
/// before iteratr recorded it).
pub fn who_or<'a>(who: &'a str, unknown: &'a str) -> &'a str {
    if who.trim().is_empty() { unknown } else { who }
}

/// ` by ana@laptop`, or nothing when the log did not say who.
pub fn by_who(who: &str) -> String {
    if who.trim().is_empty() {
        String::new()
    } else {
        format!(" by {who}")
    }
}

/// All whitespace (newlines included) as single spaces.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An error with its causes, as one line: "cannot open X: permission denied". For places that
/// show an error to people or to the model without anyhow's `{:#}`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
