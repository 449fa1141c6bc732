//! Votes held after a repair: a replica whose log lost entries it may have
//! acknowledged (a damaged range refilled from a peer, or a log restarted
//! empty because the leader had trimmed that range) neither votes nor
//! campaigns until it provably holds every committed entry again.
//!
//! Why: an entry is committed once a majority holds it, and raft's safety
//! rests on every later majority of voters containing one of them. A
//! replica that lost the entry and still votes breaks that: with the one
//! other holder down, it and a lagging third replica would elect a leader
//! without the entry, and an acknowledged write would be gone. (The chaos
//! harness found exactly this after bit flips and repairs.)
//!
//! When: once the replica knows a leader of its current term and its
//! committed *and persisted* index has reached an entry of that term. A
//! leader commits an entry of its own term only with everything before it,
//! and the replica's log matches the leader's up to its commit index, so it
//! then holds every committed entry, including any it lost. That leader was
//! elected without this replica's vote (it gave none), by a majority that
//! still held every committed entry.
//!
//! The hold is a marker file, fsync'ed, so it survives restarts until it is
//! released; the cluster may wait (no quorum of voters) rather than lose an
//! acknowledged write.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::log::sync_directory;

const MARKER: &str = "votes-held";

/// Whether this replica's votes are held, and where the marker lives.
#[derive(Debug)]
pub struct VoteHold {
    marker: PathBuf,
    held: bool,
}

impl VoteHold {
    /// The hold as the data directory records it.
    pub fn load(dir: &Path) -> VoteHold {
        let marker = dir.join(MARKER);
        let held = marker.exists();
        VoteHold { marker, held }
    }

    /// Holds this replica's votes (durably) until it has caught up.
    pub fn hold(dir: &Path) -> Result<()> {
        let marker = dir.join(MARKER);
        std::fs::write(
            &marker,
            b"votes held until this replica has caught up with a leader after a repair\n",
        )
        .and_then(|()| std::fs::File::open(&marker)?.sync_all())
        .map_err(|e| Error::io("writing", &marker, e))?;
        sync_directory(dir)
    }

    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Lets this replica vote again (the marker is removed durably).
    pub fn release(&mut self) -> Result<()> {
        match std::fs::remove_file(&self.marker) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("removing", &self.marker, e)),
        }
        if let Some(dir) = self.marker.parent() {
            sync_directory(dir)?;
        }
        self.held = false;
        Ok(())
    }
}

/// The release condition, on raft's view: a known leader of the current
/// term, and a committed, persisted index whose entry is of that term.
pub fn caught_up(leader_known: bool, term: u64, committed: u64, persisted: u64, committed_term: Option<u64>) -> bool {
    leader_known && committed > 0 && persisted >= committed && committed_term == Some(term)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hold_survives_reopening_until_released() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!VoteHold::load(dir.path()).is_held());
        VoteHold::hold(dir.path()).unwrap();
        let mut hold = VoteHold::load(dir.path());
        assert!(hold.is_held());
        assert!(VoteHold::load(dir.path()).is_held(), "still held after a restart");
        hold.release().unwrap();
        assert!(!hold.is_held());
        assert!(!VoteHold::load(dir.path()).is_held());
    }

    #[test]
    fn released_only_at_a_persisted_commit_of_the_leaders_term() {
        // No leader known, or nothing committed yet.
        assert!(!caught_up(false, 5, 10, 10, Some(5)));
        assert!(!caught_up(true, 5, 0, 0, None));
        // Committed entry from an older term: the new leader has not yet
        // committed in its own term, so earlier entries may be missing.
        assert!(!caught_up(true, 5, 10, 10, Some(4)));
        // Committed but not yet durable here.
        assert!(!caught_up(true, 5, 10, 9, Some(5)));
        assert!(caught_up(true, 5, 10, 10, Some(5)));
    }
}
