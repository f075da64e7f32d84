//! An agent's failure that is its model provider saying "not now" (rate limit, overload): waiting
//! helps, restarting the agent does not, and it is not the agent failing. The loop waits with
//! backoff and does not count it against `--max-failures`.

use std::time::Duration;

/// Waits in a row before a rate limit counts as a failure after all (about two hours with the
/// default delay: a quota that ran out will not come back tonight).
pub(super) const MAX_WAITS: u32 = 12;
const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);

/// Whether an agent's error says its provider is rate-limiting or overloaded.
pub(super) fn is_rate_limit(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    let phrases = [
        "rate limit",
        "rate_limit",
        "ratelimit",
        "too many requests",
        "overloaded",
        "server is busy",
        "try again later",
    ];
    phrases.iter().any(|p| r.contains(p)) || has_status(&r, "429") || has_status(&r, "529")
}

/// `code` as a number of its own (not inside a longer one: "line 4290" is not a 429).
fn has_status(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// The wait before trying again after the `n`th rate limit in a row (1-based).
pub(super) fn wait(first: Duration, n: u32) -> Duration {
    first
        .max(Duration::from_millis(1))
        .saturating_mul(1 << (n.saturating_sub(1)).min(16))
        .min(LONGEST_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_limits_are_told_from_other_failures() {
        for limited in [
            "Rate limit reached for requests",
            "API error 429: Too Many Requests",
            "anthropic: overloaded_error (529)",
            "status=429",
            "rate_limit_error: please try again later",
        ] {
            assert!(is_rate_limit(limited), "{limited}");
        }
        for other in [
            "agent exited with status 1",
            "timeout: the turn took longer than 1800s",
            "parse error at line 4290",
            "invalid api key",
        ] {
            assert!(!is_rate_limit(other), "{other}");
        }
    }

    #[test]
    fn waits_double_up_to_a_limit() {
        let first = Duration::from_secs(2);
        assert_eq!(wait(first, 1), Duration::from_secs(2));
        assert_eq!(wait(first, 3), Duration::from_secs(8));
        assert_eq!(wait(first, 40), LONGEST_WAIT);
    }
}
