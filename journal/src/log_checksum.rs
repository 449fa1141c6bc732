//! The running checksum of the log: a CRC-32C chained over every accepted
//! append in seq order (the seq's 8 little-endian bytes, then the payload),
//! 0 before the first. Every replica keeps it in its replicated state (so it
//! survives trims, in checkpoints) and hands it out with reads that reach
//! the applied end; a reader that chained the same records from a snapshot's
//! claimed checksum must arrive at the same value, which is how a snapshot
//! is checked against the log it claims to cover, and how a replica notices
//! that what it applied is not the journal's log.

use serde::{Deserialize, Serialize};

use crate::Seq;

/// The running checksum through (and including) the record at `through`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogChecksum {
    pub through: Seq,
    pub value: u32,
}

/// The running checksum after the record at `seq` with `payload`, given
/// the checksum through the record before it.
pub fn chain(previous: u32, seq: Seq, payload: &[u8]) -> u32 {
    let with_seq = crc32c::crc32c_append(previous, &seq.0.to_le_bytes());
    crc32c::crc32c_append(with_seq, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_on_every_seq_payload_and_their_order() {
        let a = chain(chain(0, Seq(1), b"x"), Seq(2), b"y");
        assert_ne!(a, chain(chain(0, Seq(1), b"y"), Seq(2), b"x"), "order");
        assert_ne!(a, chain(chain(0, Seq(1), b"x"), Seq(3), b"y"), "seq");
        assert_ne!(a, chain(chain(0, Seq(1), b"x"), Seq(2), b"z"), "payload");
        assert_eq!(a, chain(chain(0, Seq(1), b"x"), Seq(2), b"y"));
    }
}
