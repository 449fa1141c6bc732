//! Log positions.

use std::fmt;

/// The position of one entry in a log: strictly increasing, dense, starting
/// at 1 in a fresh log. `Seq(0)` never names an entry; it is the "nothing yet"
/// position (for example the last seq of an empty log that starts at 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Seq(pub u64);

impl Seq {
    /// The first seq of a fresh log.
    pub const FIRST: Seq = Seq(1);

    pub const fn get(self) -> u64 {
        self.0
    }

    /// The next position. Seqs are u64 and advance by one per entry, so
    /// overflow would take centuries at any plausible rate; it is still a
    /// checked operation because a decoder may hand us a hostile value.
    pub fn next(self) -> Seq {
        Seq(self.0.saturating_add(1))
    }

    /// `self + n`, saturating (see [`Seq::next`]).
    pub fn plus(self, n: u64) -> Seq {
        Seq(self.0.saturating_add(n))
    }

    /// The previous position (`Seq(0)` stays `Seq(0)`).
    pub fn prev(self) -> Seq {
        Seq(self.0.saturating_sub(1))
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The seqs given to one `append` call: `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub first: Seq,
    pub last: Seq,
}

impl Appended {
    pub fn count(&self) -> u64 {
        self.last.0 - self.first.0 + 1
    }
}
