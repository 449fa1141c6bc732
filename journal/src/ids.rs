//! Identities used by the journal service: leaders and writers.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The identity a memory node holds while it is the primary. The journal's
/// leader register stores one; `append` carries the writer's, and is fenced
/// if they differ. [`LeaderId::NONE`] is the register of a fresh journal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LeaderId(pub Uuid);

impl LeaderId {
    pub const NONE: LeaderId = LeaderId(Uuid::nil());

    pub fn random() -> LeaderId {
        LeaderId(Uuid::new_v4())
    }

    pub fn is_none(&self) -> bool {
        self.0.is_nil()
    }
}

impl fmt::Display for LeaderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            f.write_str("none")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl std::str::FromStr for LeaderId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "none" {
            return Ok(LeaderId::NONE);
        }
        Ok(LeaderId(s.parse()?))
    }
}

/// One journal client instance. With a per-writer sequence number it makes
/// retried appends idempotent: the journal remembers which (writer, writer
/// seq) pairs it accepted, and at which seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WriterId(pub Uuid);

impl WriterId {
    pub fn random() -> WriterId {
        WriterId(Uuid::new_v4())
    }
}

impl fmt::Display for WriterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A raft replica id (1, 2, 3 ...).
pub type NodeId = u64;
