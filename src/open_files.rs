//! The open-files limit of a server process.
//!
//! Every client connection of a memory node holds two descriptors (its
//! socket, and the duplicate the execution thread writes ready replies
//! through), every journal replica one per peer and per segment. Debian's
//! default soft limit of 1,024 would refuse clients long before
//! `maxclients` (10,000). Redis raises its soft limit at start for the same
//! reason (`adjustOpenFilesLimit`); so do we, up to the hard limit, which
//! only the administrator can raise.

use tracing::{info, warn};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the limit in
/// force afterwards, if it could be read.
pub fn raise_to_hard_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; no other effect.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        warn!(error = %std::io::Error::last_os_error(), "cannot read the open-files limit");
        return None;
    }
    if limit.rlim_cur >= limit.rlim_max {
        return Some(limit.rlim_cur);
    }
    let before = limit.rlim_cur;
    let raised = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit reads the struct we own; raising the soft limit up
    // to the hard one needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        warn!(
            error = %std::io::Error::last_os_error(),
            soft = before,
            "cannot raise the open-files limit; clients past it will be refused"
        );
        return Some(before);
    }
    info!(from = before, to = raised.rlim_cur, "raised the open-files limit");
    Some(raised.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let limit = raise_to_hard_limit().expect("the limit is readable");
        let mut now = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) }, 0);
        assert_eq!(now.rlim_cur, now.rlim_max);
        assert_eq!(limit, now.rlim_cur);
    }
}
