//! The open-files limit. Every MCP connection, agent pipe and store file is a file descriptor;
//! the usual soft limit (1,024) is far below what the kernel allows a process (the hard limit),
//! so iteratr raises its soft limit to the hard one at start, as most servers do. Children
//! inherit the raised limit.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises the soft limit on open files to the hard limit. Returns (before, after) when it changed.
pub fn raise() -> Option<(u64, u64)> {
    let limit = getrlimit(Resource::Nofile);
    let (Some(current), Some(maximum)) = (limit.current, limit.maximum) else {
        // Unlimited already (None), nothing to raise.
        return None;
    };
    if current >= maximum {
        return None;
    }
    match setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(maximum),
            maximum: Some(maximum),
        },
    ) {
        Ok(()) => Some((current, maximum)),
        Err(e) => {
            tracing::warn!(
                "cannot raise the open-files limit from {current} to {maximum}: {e}; long builds may run out of file descriptors"
            );
            None
        }
    }
}

/// The soft limit on open files, for messages ("1024", or "unlimited").
pub fn describe() -> String {
    match getrlimit(Resource::Nofile).current {
        Some(n) => n.to_string(),
        None => "unlimited".into(),
    }
}

/// Whether `e` (or what caused it) is running out of file descriptors: EMFILE (this process's
/// limit) or ENFILE (the system's).
pub fn is_exhaustion(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(io.raw_os_error(), Some(23 | 24))
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// What to tell the user when it happened.
pub fn advice() -> String {
    format!(
        "iteratr ran out of file descriptors (open-files limit {}); raise it (`ulimit -n 65536`, or the hard limit in /etc/security/limits.conf) and run the same command again to resume",
        describe()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhaustion_is_found_in_the_chain() {
        let emfile = std::io::Error::from_raw_os_error(24);
        assert!(is_exhaustion(&emfile));
        let other = std::io::Error::from_raw_os_error(2);
        assert!(!is_exhaustion(&other));
        let wrapped = anyhow::Error::new(std::io::Error::from_raw_os_error(23)).context("spawn");
        assert!(is_exhaustion(wrapped.as_ref()));
    }

    #[test]
    fn raising_twice_changes_nothing_the_second_time() {
        raise();
        assert_eq!(raise(), None);
        assert!(!describe().is_empty());
    }
}
