//! A webhook's address. Its path, query and user part often are the secret (a Slack webhook's
//! `/services/T…/B…/X…`, an ntfy topic, `?token=`), so it is never shown or logged whole: people
//! see `scheme://host/…`, and any text that may quote it (an HTTP client's error) is scrubbed.

use std::fmt;

/// An http(s) URL with a host, shown only as `scheme://host[:port]/…`.
#[derive(Clone, PartialEq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    /// Checks what a settings file says; the error says what to write instead and never repeats
    /// the address (it may hold a secret).
    pub fn parse(text: &str) -> Result<WebhookUrl, String> {
        const EXAMPLE: &str = "e.g. url = \"https://ntfy.sh/your-topic\"";
        let text = text.trim();
        if !text.contains("://") {
            return Err(format!(
                "not a URL (no http:// or https:// in front); write the whole address, {EXAMPLE}"
            ));
        }
        let url = url::Url::parse(text)
            .map_err(|e| format!("not a URL ({e}); write the whole address, {EXAMPLE}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "a {}: address; webhooks go over http or https, {EXAMPLE}",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("the address has no host; {EXAMPLE}"));
        }
        Ok(WebhookUrl(url))
    }

    /// The whole address, to send to (never to show).
    pub(crate) fn full(&self) -> &url::Url {
        &self.0
    }

    /// `https://hooks.slack.com/…`: what may be shown of it.
    pub fn shown(&self) -> String {
        let host = self.0.host_str().unwrap_or_default();
        match self.0.port() {
            Some(port) => format!("{}://{host}:{port}/…", self.0.scheme()),
            None => format!("{}://{host}/…", self.0.scheme()),
        }
    }

    /// `text` with every part of this address that may be secret replaced by `…`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let url = &self.0;
        let mut secrets: Vec<String> = vec![
            url.as_str().to_string(),
            url.path().to_string(),
            url.query().unwrap_or_default().to_string(),
            url.fragment().unwrap_or_default().to_string(),
            url.username().to_string(),
            url.password().unwrap_or_default().to_string(),
        ];
        secrets.extend(
            url.path_segments()
                .into_iter()
                .flatten()
                .map(str::to_string),
        );
        // Longest first, so a part inside another is not left half replaced.
        secrets.retain(|s| s.len() > 1);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets
            .iter()
            .fold(text.to_string(), |text, secret| text.replace(secret, "…"))
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

/// Debug output (a panic, a `{:?}`) shows no more than Display.
impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.shown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_addresses_with_a_host_are_taken_and_errors_never_repeat_them() {
        for bad in [
            "ntfy.sh/secret-topic",
            "ftp://example.com/secret-topic",
            "https://",
            "not a url at all secret-topic",
        ] {
            let e = WebhookUrl::parse(bad).unwrap_err();
            assert!(!e.contains("secret-topic"), "{e}");
            assert!(e.contains("https://ntfy.sh/your-topic"), "{e}");
        }
        assert!(WebhookUrl::parse("http://127.0.0.1:8080/hook").is_ok());
        assert!(WebhookUrl::parse(" https://ntfy.sh/topic ").is_ok());
    }

    #[test]
    fn shown_without_path_query_or_user() {
        let url =
            WebhookUrl::parse("https://user:pass@hooks.example.com/services/T0/B1/XYZSECRET?t=abc")
                .unwrap();
        assert_eq!(url.to_string(), "https://hooks.example.com/…");
        assert_eq!(
            format!("{url:?}"),
            "WebhookUrl(https://hooks.example.com/…)"
        );
        let local = WebhookUrl::parse("http://127.0.0.1:4000/x").unwrap();
        assert_eq!(local.shown(), "http://127.0.0.1:4000/…");
    }

    #[test]
    fn scrubbing_removes_every_secret_part() {
        let url =
            WebhookUrl::parse("https://u:pw1234@h.example/services/T0/XYZSECRET?token=abc123")
                .unwrap();
        let text = format!(
            "error sending request for url ({}): XYZSECRET token=abc123 pw1234",
            url.full()
        );
        let scrubbed = url.scrub(&text);
        for secret in ["XYZSECRET", "abc123", "pw1234", "/services"] {
            assert!(!scrubbed.contains(secret), "{scrubbed}");
        }
        assert!(scrubbed.starts_with("error sending request"), "{scrubbed}");
    }
}
