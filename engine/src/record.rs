//! Journal records written by the memory node.
//!
//! Every journal entry a memory node appends is one [`Record`]: either a
//! batch of write effects (applied atomically by every replica) or a
//! leadership record (lease renewal, takeover, release). The byte layout is
//! in docs/format.md ("Memory-node records").
//!
//! Layout: `b"MR"`, format version (u16 little endian), then the postcard
//! encoding of [`Record`]. The version comes first and outside postcard so a
//! replica can recognise a record from a newer engine before trying to
//! decode it, and stop applying (safe rolling upgrades) instead of
//! misreading it.

use bytes::Bytes;
use memoir_journal::LeaderId;
use serde::{Deserialize, Serialize};

use crate::commands::Effect;

/// Written into every record; bump when the record or effect semantics change.
pub const ENGINE_FORMAT_VERSION: u16 = 1;
const MAGIC: [u8; 2] = *b"MR";
const HEADER_LEN: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    /// Effects of one or more commands, applied all or nothing, in order.
    Effects(Vec<EffectOp>),
    /// The primary `leader` holds its lease for `lease_ms` from when it sent
    /// this record; `address` is where it serves clients (for ROLE/INFO on
    /// replicas).
    LeaseRenewal {
        leader: LeaderId,
        lease_ms: u64,
        address: String,
    },
    /// First record of a new primary, appended right after it won the
    /// leader register: everything before it is final.
    Takeover { leader: LeaderId, address: String },
    /// The primary resigned (shutdown or FAILOVER): a caught-up replica may
    /// take over at once instead of waiting for the lease to run out.
    Release { leader: LeaderId },
}

/// One effect as stored: database and argument vector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectOp {
    pub db: u32,
    pub argv: Vec<Bytes>,
}

impl From<Effect> for EffectOp {
    fn from(effect: Effect) -> Self {
        EffectOp {
            db: effect.db,
            argv: effect.argv,
        }
    }
}

impl From<EffectOp> for Effect {
    fn from(op: EffectOp) -> Self {
        Effect {
            db: op.db,
            argv: op.argv,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("not a memory-node record (bad magic)")]
    BadMagic,
    #[error("record written by a newer engine (format version {found}, this engine reads up to {supported})")]
    NewerVersion { found: u16, supported: u16 },
    #[error("record is truncated or malformed: {0}")]
    Malformed(String),
}

impl Record {
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&ENGINE_FORMAT_VERSION.to_le_bytes());
        // Serializing owned plain data into a Vec cannot fail.
        match postcard::to_extend(self, out) {
            Ok(out) => Bytes::from(out),
            Err(_) => unreachable_encoding(),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
        if bytes.len() < HEADER_LEN || bytes[..2] != MAGIC {
            return Err(RecordError::BadMagic);
        }
        let version = u16::from_le_bytes([bytes[2], bytes[3]]);
        if version > ENGINE_FORMAT_VERSION {
            return Err(RecordError::NewerVersion {
                found: version,
                supported: ENGINE_FORMAT_VERSION,
            });
        }
        let (record, rest) = postcard::take_from_bytes::<Record>(&bytes[HEADER_LEN..])
            .map_err(|e| RecordError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(RecordError::Malformed(format!("{} trailing bytes", rest.len())));
        }
        if let Record::Effects(ops) = &record {
            if ops.iter().any(|op| op.argv.is_empty()) {
                return Err(RecordError::Malformed("effect with an empty argument vector".into()));
            }
        }
        Ok(record)
    }
}

#[cold]
fn unreachable_encoding() -> Bytes {
    // postcard only fails on writers that run out of space or on types it
    // cannot represent; neither applies to a Vec and these plain types.
    Bytes::new()
}

/// Fuzz entry point: decoding arbitrary bytes returns an error, never panics,
/// and whatever decodes re-encodes to a record that decodes the same.
#[doc(hidden)]
pub fn fuzz_record(data: &[u8]) {
    if let Ok(record) = Record::decode(data) {
        let again = Record::decode(&record.encode());
        assert_eq!(again.as_ref(), Ok(&record));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_round_trip() {
        let record = Record::Effects(vec![EffectOp {
            db: 3,
            argv: vec![
                Bytes::from_static(b"SET"),
                Bytes::from_static(b"k"),
                Bytes::from_static(b"\x00v"),
            ],
        }]);
        assert_eq!(Record::decode(&record.encode()), Ok(record));
    }

    #[test]
    fn control_records_round_trip() {
        let leader = LeaderId::random();
        for record in [
            Record::LeaseRenewal {
                leader,
                lease_ms: 1000,
                address: "127.0.0.1:6379".into(),
            },
            Record::Takeover {
                leader,
                address: "127.0.0.1:6380".into(),
            },
            Record::Release { leader },
        ] {
            assert_eq!(Record::decode(&record.encode()), Ok(record));
        }
    }

    #[test]
    fn newer_version_is_recognised_before_decoding() {
        let mut bytes = Record::Release { leader: LeaderId::NONE }.encode().to_vec();
        bytes[2..4].copy_from_slice(&(ENGINE_FORMAT_VERSION + 1).to_le_bytes());
        bytes.truncate(4);
        assert_eq!(
            Record::decode(&bytes),
            Err(RecordError::NewerVersion {
                found: ENGINE_FORMAT_VERSION + 1,
                supported: ENGINE_FORMAT_VERSION
            })
        );
    }

    /// Pins the byte layout documented in docs/format.md: a change here is
    /// a format change and needs a new version.
    #[test]
    fn layout_is_stable() {
        let bytes = b"MR\x01\x00\x00\x01\x00\x03\x03SET\x01k\x01v";
        let record = Record::Effects(vec![EffectOp {
            db: 0,
            argv: vec![
                Bytes::from_static(b"SET"),
                Bytes::from_static(b"k"),
                Bytes::from_static(b"v"),
            ],
        }]);
        assert_eq!(Record::decode(bytes), Ok(record.clone()));
        assert_eq!(&record.encode()[..], &bytes[..]);
        let leader = LeaderId(uuid::Uuid::from_bytes(*b"0123456789abcdef"));
        let mut release = b"MR\x01\x00\x03\x10".to_vec();
        release.extend_from_slice(b"0123456789abcdef");
        assert_eq!(Record::decode(&release), Ok(Record::Release { leader }));
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(Record::decode(b""), Err(RecordError::BadMagic));
        assert_eq!(Record::decode(b"XX\x01\x00"), Err(RecordError::BadMagic));
        assert!(matches!(
            Record::decode(b"MR\x01\x00\x07"),
            Err(RecordError::Malformed(_))
        ));
        let mut bytes = Record::Release { leader: LeaderId::NONE }.encode().to_vec();
        bytes.push(0);
        assert!(matches!(Record::decode(&bytes), Err(RecordError::Malformed(_))));
        assert!(matches!(
            Record::decode(&Record::Effects(vec![EffectOp { db: 0, argv: vec![] }]).encode()),
            Err(RecordError::Malformed(_))
        ));
    }
}
