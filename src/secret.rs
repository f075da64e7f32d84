//! Access tokens: random ones from the OS, checked ones a person chose, and comparing them in
//! equal time. The MCP endpoint and the web dashboard both use them.

use std::io::Read;

use anyhow::{Context, bail};

/// The shortest token a person may choose.
pub(crate) const MIN_TOKEN_LEN: usize = 16;

/// 32 random bytes from the OS, hex-encoded.
pub fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read random bytes for a token from /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A token a person chose for `what` ("the MCP token"): long enough, visible ASCII only.
pub(crate) fn check_token(what: &str, token: &str) -> anyhow::Result<()> {
    if token.len() < MIN_TOKEN_LEN {
        bail!(
            "{what} is too short ({} characters); use at least {MIN_TOKEN_LEN}, or leave it out for a random one",
            token.len()
        );
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("{what} may contain only visible ASCII characters (no spaces)");
    }
    Ok(())
}

/// Equal-time comparison, so a token cannot be guessed byte by byte from response times.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_and_compared_whole() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(same(a.as_bytes(), a.clone().as_bytes()));
        assert!(!same(a.as_bytes(), b.as_bytes()));
        assert!(!same(a.as_bytes(), &a.as_bytes()[..63]));
    }

    #[test]
    fn a_chosen_token_must_be_long_and_visible() {
        let short = check_token("the web token", "abc").unwrap_err().to_string();
        assert!(
            short.contains("the web token is too short (3 characters)"),
            "{short}"
        );
        let spaced = check_token("the web token", "abcdefgh ijklmnopq").unwrap_err();
        assert!(spaced.to_string().contains("visible ASCII"), "{spaced}");
        check_token("the web token", "0123456789abcdef").unwrap();
    }
}
