//! Per-client resource limits the execution thread enforces: the output
//! buffer limit of the client's class (`client-output-buffer-limit`: a
//! client that does not read its replies or messages is disconnected
//! rather than growing the node's memory) and the idle timeout (`timeout`).
//! The query buffer limit is the connection task's (`resp.rs` parser).

use std::time::Duration;

use super::Exec;
use crate::node::limits::ClassLimit;
use crate::resp::Reply;

/// Most unwritten output a client that has not authenticated may have
/// (it only ever gets short errors and AUTH/HELLO replies; a client that
/// pipelines commands without reading cannot make the node queue more).
const UNAUTHENTICATED_OUTPUT_LIMIT: ClassLimit = ClassLimit {
    hard: 64 * 1024,
    soft: 0,
    soft_seconds: 0,
};

/// How often idle clients are looked for (Redis's clientsCron visits every
/// client about once a second).
const IDLE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// About how many bytes `reply` takes on the wire (headers estimated).
pub(super) fn reply_size(reply: &Reply) -> usize {
    const HEADER: usize = 16;
    match reply {
        Reply::SimpleString(text) | Reply::Error(text) | Reply::BigNumber(text) => text.len() + 3,
        Reply::Bulk(bytes) | Reply::Verbatim { text: bytes, .. } => bytes.len() + HEADER,
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            HEADER + items.iter().map(reply_size).sum::<usize>()
        }
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            HEADER
                + pairs
                    .iter()
                    .map(|(k, v)| 4 + reply_size(k) + reply_size(v))
                    .sum::<usize>()
        }
        Reply::Integer(_) => 24,
        Reply::Double(_) => 40,
        Reply::Null | Reply::NullArray | Reply::Boolean(_) => 5,
    }
}

impl Exec {
    /// The output limit of `conn`'s class: pub/sub while it has
    /// subscriptions, normal otherwise; a fixed small one until it has
    /// authenticated.
    pub(super) fn output_limit(&self, conn: u64) -> ClassLimit {
        let Some(session) = self.sessions.get(&conn) else {
            return ClassLimit::UNLIMITED;
        };
        if !session.identity.authenticated {
            return UNAUTHENTICATED_OUTPUT_LIMIT;
        }
        if !session.channels.is_empty() || !session.patterns.is_empty() {
            self.output_limits.pubsub
        } else {
            self.output_limits.normal
        }
    }

    /// Counts `bytes` more queued output for `conn`; disconnects it when
    /// its class's limit is passed. False when it was disconnected.
    pub(super) fn charge_output(&mut self, conn: u64, bytes: usize) -> bool {
        let limit = self.output_limit(conn);
        let now = self.now;
        let Some(session) = self.sessions.get_mut(&conn) else {
            return false;
        };
        if session.control.is_killed() {
            return false;
        }
        let queued = session.control.add_output_bytes(bytes);
        if limit.exceeded(
            u64::try_from(queued).unwrap_or(u64::MAX),
            &mut session.over_soft_limit_since,
            now,
        ) {
            tracing::warn!(
                conn,
                queued,
                addr = %session.addr,
                "client output buffer limit reached; closing the client"
            );
            session.control.kill();
            self.shared
                .output_limit_disconnections
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return false;
        }
        true
    }

    /// `timeout`: closes clients idle longer, except blocked clients (their
    /// own timeout applies) and subscribers, as Redis does.
    pub(super) fn close_idle_clients(&mut self) {
        if self.now.saturating_duration_since(self.last_idle_check) < IDLE_CHECK_EVERY {
            return;
        }
        self.last_idle_check = self.now;
        let timeout = self.admin.idle_timeout();
        if timeout.is_zero() {
            return;
        }
        for (conn, session) in &self.sessions {
            let exempt = session.blocked.is_some() || !session.channels.is_empty() || !session.patterns.is_empty();
            if !exempt && self.now.saturating_duration_since(session.last_active) > timeout {
                tracing::debug!(conn, "closing idle client (timeout)");
                session.control.kill();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::resp::Protocol;

    #[test]
    fn reply_size_is_at_least_the_encoded_size() {
        let replies = [
            Reply::Bulk(Bytes::from(vec![b'x'; 1000])),
            Reply::Array((0..100).map(|i| Reply::Integer(i * 1_000_000)).collect()),
            Reply::Map(vec![(Reply::SimpleString("k".into()), Reply::Null)]),
            Reply::Pairs(vec![(
                Reply::Bulk(Bytes::from("m")),
                Reply::Double(-1.797_693_134_862_315_7e308),
            )]),
            Reply::Error("ERR x".into()),
        ];
        for reply in replies {
            for protocol in [Protocol::Resp2, Protocol::Resp3] {
                let mut out = bytes::BytesMut::new();
                reply.encode(protocol, &mut out);
                assert!(reply_size(&reply) >= out.len(), "{reply:?}");
            }
        }
    }
}
