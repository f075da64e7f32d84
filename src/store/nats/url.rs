//! The address of a NATS server or cluster, parsed once where it enters iteratr.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_nats::ServerAddr;
use thiserror::Error;

/// One NATS URL or several separated by commas (`nats://user:pass@host:4222,nats://host2:4222`),
/// each a valid server address. It may hold a password or token: `Display` and `Debug` show it
/// redacted, [`NatsUrl::as_str`] gives it whole (for the connection and for child processes).
#[derive(Clone, PartialEq, Eq)]
pub struct NatsUrl {
    text: String,
    addrs: Vec<ServerAddr>,
}

#[derive(Debug, Clone, Error)]
pub enum NatsUrlError {
    #[error("'{part}' is not a NATS URL (write e.g. nats://127.0.0.1:4222)")]
    Invalid {
        part: String,
        // Shared so the error can be cloned with the options that hold it.
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("the NATS URL is empty; write e.g. nats://127.0.0.1:4222")]
    Empty,
}

impl NatsUrl {
    pub fn parse(text: &str) -> Result<Self, NatsUrlError> {
        let mut addrs = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let addr: ServerAddr = part.parse().map_err(|e| NatsUrlError::Invalid {
                part: part.to_string(),
                source: Arc::new(e),
            })?;
            addrs.push(addr);
        }
        if addrs.is_empty() {
            return Err(NatsUrlError::Empty);
        }
        Ok(NatsUrl {
            text: text.to_string(),
            addrs,
        })
    }

    /// The URL as given, secrets included.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn addrs(&self) -> &[ServerAddr] {
        &self.addrs
    }

    /// The URL without a password or token, for messages.
    pub fn redacted(&self) -> String {
        redact(&self.text)
    }
}

impl FromStr for NatsUrl {
    type Err = NatsUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NatsUrl::parse(s)
    }
}

impl fmt::Display for NatsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for NatsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NatsUrl({})", self.redacted())
    }
}

/// `url` without a password or token, for messages.
pub fn redact(url: &str) -> String {
    url.split(',')
        .map(|part| match (part.find("://"), part.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}://***@{}", &part[..scheme], &part[at + 1..])
            }
            (None, Some(at)) => format!("***@{}", &part[at + 1..]),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_redacted() {
        assert_eq!(
            NatsUrl::parse("nats://127.0.0.1:4222")
                .unwrap()
                .addrs()
                .len(),
            1
        );
        assert_eq!(
            NatsUrl::parse("nats://a:1, nats://b:2")
                .unwrap()
                .addrs()
                .len(),
            2
        );
        assert!(matches!(NatsUrl::parse(" , "), Err(NatsUrlError::Empty)));
        let bad = NatsUrl::parse("nats://a b").unwrap_err();
        assert!(
            bad.to_string().contains("'nats://a b' is not a NATS URL"),
            "{bad}"
        );
        assert!(
            std::error::Error::source(&bad).is_some(),
            "the parser's reason is kept"
        );
        assert_eq!(
            redact("nats://user:secret@host:4222,nats://h2:1"),
            "nats://***@host:4222,nats://h2:1"
        );
        assert_eq!(redact("nats://host:4222"), "nats://host:4222");
        let url = NatsUrl::parse("nats://user:secret@host:4222").unwrap();
        assert_eq!(url.to_string(), "nats://***@host:4222");
        assert!(!format!("{url:?}").contains("secret"));
        assert_eq!(url.as_str(), "nats://user:secret@host:4222");
    }
}
