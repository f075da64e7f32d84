//! Session names: parsed once where they come in (a flag, a spec's file name, the store's
//! listing), then carried as [`SessionName`], which is always valid.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use super::error::DomainError;
use super::limits;

/// A session's name: 1-64 letters, digits, `-` or `_`, starting with a letter or digit. It names a
/// stream in every backend, so only characters safe everywhere are allowed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionName(String);

impl SessionName {
    pub fn parse(name: &str) -> Result<Self, DomainError> {
        validate_session_name(name)?;
        Ok(SessionName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SessionName {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionName::parse(s)
    }
}

impl Deref for SessionName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SessionName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<SessionName> for String {
    fn from(n: SessionName) -> String {
        n.0
    }
}

/// Checks a session name: it names a stream in every backend (a SQLite key, a NATS subject token),
/// so it is kept to characters that are safe everywhere.
pub fn validate_session_name(name: &str) -> Result<(), DomainError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > limits::SESSION_NAME_MAX || !ok_chars || !first_ok {
        return Err(DomainError::InvalidSessionName(name.to_string()));
    }
    Ok(())
}

/// Turns any text (a spec's file stem, say) into a valid session name.
pub fn session_name_from(text: &str) -> SessionName {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out
        .trim_matches(|c: char| c == '-' || c == '_')
        .chars()
        .take(limits::SESSION_NAME_MAX)
        .collect();
    SessionName(if trimmed.is_empty() {
        "session".to_string()
    } else {
        trimmed
    })
}
