//! The journal's network protocol: framing, handshake and messages.
//!
//! ```text
//! frame = len: u32 LE | crc: u32 LE | kind: u8 | body (len - 1 bytes)
//!         crc = CRC32C(kind | body); len counts kind + body, at most MAX_FRAME_LEN
//! ```
//! The first frames each way are the handshake: the cluster-secret
//! challenge-response when configured (`AuthChallenge`, `AuthReply`,
//! `AuthProof`; see `auth.rs`), then `Hello`, `HelloReply`, which fix the
//! protocol version. With TLS all of this runs inside the TLS session. Peer links then carry `Raft` frames (one
//! protobuf-encoded raft message each); client links carry `Request` and
//! `Response` frames (postcard-encoded, each with a request id so that many
//! requests can be in flight). Documented in docs/format.md ("Journal wire
//! protocol").
//!
//! Every decoder here faces bytes from the network: a bad length, CRC,
//! kind, version or body is an error, never a panic (fuzz target
//! `journal_frame`).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::ids::{LeaderId, NodeId, WriterId};
use crate::log_checksum::LogChecksum;
use crate::node::PeerProgress;
use crate::seq::Seq;

pub const PROTOCOL_MAGIC: [u8; 8] = *b"MEMOIRJ\0";
/// 2: `Entries` carry the running log checksum.
pub const PROTOCOL_VERSION: u16 = 2;
/// The largest payload one append may carry (one journal entry). A
/// follower acknowledges the leader, heartbeats included, only once what
/// it received is durable, so one entry must be written and flushed on
/// every replica well within an election timeout (500 ms by default):
/// 16 MiB three times over takes about 250 ms on a slow shared disk, and
/// 64 MiB made the leader lose its quorum again and again.
pub const MAX_APPEND_BYTES: usize = 16 << 20;
/// Largest frame accepted. A read's response carries up to its budget of
/// entries plus one entry beyond it, so frames stay well below this.
pub const MAX_FRAME_LEN: u32 = 65 << 20;
pub const FRAME_HEADER_LEN: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    Hello = 1,
    HelloReply = 2,
    Raft = 3,
    Request = 4,
    Response = 5,
    /// Cluster-secret authentication (`auth.rs`), before `Hello`.
    AuthChallenge = 6,
    AuthReply = 7,
    AuthProof = 8,
}

impl FrameKind {
    fn from_u8(v: u8) -> Option<FrameKind> {
        Some(match v {
            1 => FrameKind::Hello,
            2 => FrameKind::HelloReply,
            3 => FrameKind::Raft,
            4 => FrameKind::Request,
            5 => FrameKind::Response,
            6 => FrameKind::AuthChallenge,
            7 => FrameKind::AuthReply,
            8 => FrameKind::AuthProof,
            _ => return None,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("connection closed")]
    Closed,
    #[error("network I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes exceeds the limit of {MAX_FRAME_LEN}")]
    TooLarge(u32),
    #[error("empty frame")]
    Empty,
    #[error("frame checksum mismatch")]
    Checksum,
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("unexpected frame kind {0:?}")]
    Unexpected(FrameKind),
    #[error("undecodable {what}: {reason}")]
    Body { what: &'static str, reason: String },
    #[error("handshake refused: {0}")]
    Handshake(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("TLS: {0}")]
    Tls(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: FrameKind,
    pub body: Bytes,
}

pub fn encode_frame(kind: FrameKind, body: &[u8], out: &mut BytesMut) {
    let len = body.len() as u32 + 1;
    let mut crc = crc32c::crc32c(&[kind as u8]);
    crc = crc32c::crc32c_append(crc, body);
    out.reserve(FRAME_HEADER_LEN + 1 + body.len());
    out.put_u32_le(len);
    out.put_u32_le(crc);
    out.put_u8(kind as u8);
    out.put_slice(body);
}

/// Decodes one frame from the front of `buf` if it is complete; consumes it.
pub fn decode_frame(buf: &mut BytesMut) -> Result<Option<Frame>, WireError> {
    if buf.len() < FRAME_HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len == 0 {
        return Err(WireError::Empty);
    }
    if len > MAX_FRAME_LEN {
        return Err(WireError::TooLarge(len));
    }
    let total = FRAME_HEADER_LEN + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if crc32c::crc32c(&buf[FRAME_HEADER_LEN..total]) != crc {
        return Err(WireError::Checksum);
    }
    let kind_byte = buf[FRAME_HEADER_LEN];
    let kind = FrameKind::from_u8(kind_byte).ok_or(WireError::UnknownKind(kind_byte))?;
    buf.advance(FRAME_HEADER_LEN + 1);
    let body = buf.split_to(len as usize - 1).freeze();
    Ok(Some(Frame { kind, body }))
}

/// Reads frames from a byte stream.
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(64 * 1024),
        }
    }

    /// A frame already received and buffered, without waiting for more.
    pub fn try_next(&mut self) -> Result<Option<Frame>, WireError> {
        decode_frame(&mut self.buf)
    }

    pub async fn next(&mut self) -> Result<Frame, WireError> {
        loop {
            if let Some(frame) = decode_frame(&mut self.buf)? {
                return Ok(frame);
            }
            if self.buf.capacity() - self.buf.len() < 16 * 1024 {
                self.buf.reserve(64 * 1024);
            }
            let n = self.inner.read_buf(&mut self.buf).await?;
            if n == 0 {
                return Err(WireError::Closed);
            }
        }
    }
}

pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, kind: FrameKind, body: &[u8]) -> Result<(), WireError> {
    let mut out = BytesMut::new();
    encode_frame(kind, body, &mut out);
    w.write_all(&out).await?;
    // TLS buffers what it encrypts until flushed.
    w.flush().await?;
    Ok(())
}

pub fn encode_body<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain data structures serialize without error.
    postcard::to_stdvec(value).unwrap_or_default()
}

pub fn decode_body<'a, T: Deserialize<'a>>(what: &'static str, bytes: &'a [u8]) -> Result<T, WireError> {
    postcard::from_bytes(bytes).map_err(|e| WireError::Body {
        what,
        reason: e.to_string(),
    })
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// A raft peer with this id, about to send raft messages. `incarnation`
    /// is random per data directory: a new value tells the leader that the
    /// peer lost its state (wiped), so that it re-probes it from scratch.
    Peer {
        from: NodeId,
        incarnation: u64,
    },
    Client,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub magic: [u8; 8],
    pub version: u16,
    pub role: Role,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloReply {
    Welcome { version: u16, node: NodeId },
    Refused { reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub body: RequestBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestBody {
    Append {
        writer: WriterId,
        writer_seq: u64,
        leader: LeaderId,
        payload: Bytes,
    },
    SetLeader {
        new: LeaderId,
        expected: LeaderId,
    },
    Read {
        from: Seq,
        max_bytes: u64,
    },
    Subscribe {
        from: Seq,
    },
    Trim {
        before: Seq,
    },
    Status,
    /// Raw stored raft entries from `from` on (used by a replica repairing
    /// its damaged log from the raft leader).
    FetchRaw {
        from: Seq,
        max_bytes: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub id: u64,
    pub body: ResponseBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseBody {
    Appended {
        seq: Seq,
    },
    Fenced {
        current: LeaderId,
    },
    LeaderSet,
    Conflict {
        current: LeaderId,
    },
    /// Committed entries (accepted appends only) and how far this replica
    /// knows the log is committed (`committed`, inclusive). Also the pushes
    /// of a subscription.
    Entries {
        entries: Vec<(Seq, Bytes)>,
        committed: Seq,
        /// Present when the entries reach the replica's applied end: the
        /// running log checksum through it.
        checksum: Option<LogChecksum>,
    },
    Trimmed {
        before: Seq,
    },
    Status(Box<StatusReport>),
    RawEntries {
        entries: Vec<(Seq, Bytes)>,
        last: Seq,
    },
    /// Writes go to the raft leader; `leader` is the hint, if known, with
    /// its client address.
    NotLeader {
        leader: Option<(NodeId, String)>,
    },
    Error {
        kind: ErrorKind,
        message: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The entries below `first retained` are gone (trimmed).
    Trimmed,
    /// Leadership changed while the request was in flight; retry (appends
    /// are deduplicated by writer sequence).
    Retry,
    /// The replica cannot serve (stopped after an I/O failure).
    Unavailable,
    /// The request itself is wrong.
    Invalid,
    /// A retry so old that the journal no longer knows its outcome.
    Indeterminate,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub node: NodeId,
    pub role: String,
    pub raft_leader: Option<NodeId>,
    pub term: u64,
    /// Highest committed position this replica knows of.
    pub committed: Seq,
    pub applied: Seq,
    pub first_retained: Seq,
    pub last_index: Seq,
    pub leader: LeaderId,
    /// Progress of every replica (known on the raft leader only).
    pub replicas: Vec<PeerProgress>,
    pub accepted_appends: u64,
    pub fenced_appends: u64,
    pub log_groups: u64,
    pub log_entries: u64,
    pub log_bytes_written: u64,
    pub io: String,
    pub fatal: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_reject_damage() {
        let mut buf = BytesMut::new();
        encode_frame(FrameKind::Request, b"hello", &mut buf);
        encode_frame(FrameKind::Raft, b"", &mut buf);
        let a = decode_frame(&mut buf).unwrap().unwrap();
        assert_eq!((a.kind, &a.body[..]), (FrameKind::Request, &b"hello"[..]));
        let b = decode_frame(&mut buf).unwrap().unwrap();
        assert_eq!((b.kind, b.body.len()), (FrameKind::Raft, 0));
        assert!(decode_frame(&mut buf).unwrap().is_none());

        let mut damaged = BytesMut::new();
        encode_frame(FrameKind::Request, b"hello", &mut damaged);
        damaged[10] ^= 1;
        assert!(matches!(decode_frame(&mut damaged), Err(WireError::Checksum)));

        let mut huge = BytesMut::new();
        huge.put_u32_le(MAX_FRAME_LEN + 1);
        huge.put_u32_le(0);
        assert!(matches!(decode_frame(&mut huge), Err(WireError::TooLarge(_))));

        let mut partial = BytesMut::new();
        encode_frame(FrameKind::Response, b"abcdef", &mut partial);
        partial.truncate(10);
        assert!(
            decode_frame(&mut partial).unwrap().is_none(),
            "incomplete is not an error"
        );
    }

    #[test]
    fn messages_round_trip() {
        let request = Request {
            id: 7,
            body: RequestBody::Append {
                writer: WriterId::random(),
                writer_seq: 3,
                leader: LeaderId::random(),
                payload: Bytes::from_static(b"payload"),
            },
        };
        let decoded: Request = decode_body("request", &encode_body(&request)).unwrap();
        assert_eq!(decoded, request);
        assert!(decode_body::<Request>("request", &[0xff, 0xff, 0xff]).is_err());
    }
}
