//! Blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP.
//!
//! A blocking command first runs as its non-blocking form on each key in
//! order; if nothing is there (and it is not inside MULTI/EXEC) the client
//! blocks: it joins a FIFO queue per (db, key), and the commands it
//! pipelined after the blocking one wait in its session, so its replies
//! keep their order. A write whose effect names a key with blocked clients
//! marks the key ready; after each command the node serves ready keys,
//! oldest client first, by running the concrete pop (LPOP, LMOVE, ZPOPMIN,
//! LMPOP...) on the keyspace. That pop's effects are the record the journal
//! gets, as Redis propagates a served BLPOP as LPOP, and the reply is held
//! until it commits like any write.
//!
//! Timeouts run on the tokio runtime: a sleeping task sends
//! [`ExecMsg::BlockTimeout`] back to this thread, tagged with a token so a
//! stale timer for an already served block does nothing.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Exec, ExecMsg, Outcome, Outgoing, PendingReply};
use crate::commands::{self, mpop, CommandKind};
use crate::keyspace::value::ValueType;
use crate::resp::Reply;

const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
const SYNTAX: &str = "ERR syntax error";
/// What blocked clients get when the node stops being primary (Redis's
/// text when a master turns replica).
pub(super) const UNBLOCKED_ROLE: &str =
    "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)";

/// What a blocked client waits to do to a key that gets data.
#[derive(Clone, Debug)]
pub(super) enum BlockOp {
    /// BLPOP / BRPOP: `[key, element]`.
    Pop { left: bool },
    /// BLMOVE / BRPOPLPUSH: the moved element.
    Move {
        dest: Bytes,
        from: Bytes,
        to: Bytes,
        legacy: bool,
    },
    /// BLMPOP: `[key, [elements]]`.
    LMpop { left: bool, count: usize },
    /// BZPOPMIN / BZPOPMAX: `[key, member, score]`.
    ZPop { min: bool },
    /// BZMPOP: `[key, [[member, score]...]]`.
    ZMpop { min: bool, count: usize },
}

impl BlockOp {
    fn value_type(&self) -> ValueType {
        match self {
            BlockOp::Pop { .. } | BlockOp::Move { .. } | BlockOp::LMpop { .. } => ValueType::List,
            BlockOp::ZPop { .. } | BlockOp::ZMpop { .. } => ValueType::ZSet,
        }
    }

    /// The concrete non-blocking command that serves this op from `key`.
    fn concrete(&self, key: &Bytes) -> Vec<Bytes> {
        let word = |s: &'static str| Bytes::from_static(s.as_bytes());
        let count = |n: &usize| Bytes::from(n.to_string());
        match self {
            BlockOp::Pop { left } => vec![word(if *left { "LPOP" } else { "RPOP" }), key.clone()],
            BlockOp::Move { dest, from, to, legacy } => {
                if *legacy {
                    vec![word("RPOPLPUSH"), key.clone(), dest.clone()]
                } else {
                    vec![word("LMOVE"), key.clone(), dest.clone(), from.clone(), to.clone()]
                }
            }
            BlockOp::LMpop { left, count: n } => vec![
                word("LMPOP"),
                word("1"),
                key.clone(),
                word(if *left { "LEFT" } else { "RIGHT" }),
                word("COUNT"),
                count(n),
            ],
            BlockOp::ZPop { min } => vec![word(if *min { "ZPOPMIN" } else { "ZPOPMAX" }), key.clone()],
            BlockOp::ZMpop { min, count: n } => vec![
                word("ZMPOP"),
                word("1"),
                key.clone(),
                word(if *min { "MIN" } else { "MAX" }),
                word("COUNT"),
                count(n),
            ],
        }
    }

    /// The blocking command's reply from the concrete command's, or
    /// `None` when the concrete command found nothing.
    fn wrap(&self, key: &Bytes, reply: Reply) -> Option<Reply> {
        match reply {
            Reply::Null | Reply::NullArray => None,
            Reply::Error(e) => Some(Reply::Error(e)),
            Reply::Array(items) if items.is_empty() => None,
            reply => Some(match self {
                BlockOp::Pop { .. } => Reply::Array(vec![Reply::Bulk(key.clone()), reply]),
                BlockOp::ZPop { .. } => match reply {
                    Reply::Array(mut items) => {
                        items.insert(0, Reply::Bulk(key.clone()));
                        Reply::Array(items)
                    }
                    other => other,
                },
                _ => reply,
            }),
        }
    }
}

/// A client waiting in a blocking command.
pub(super) struct Blocked {
    pub db: usize,
    pub keys: Vec<Bytes>,
    pub op: BlockOp,
    pub token: u64,
    timer: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Blocked {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
    }
}

/// Redis's `getTimeoutFromObjectOrReply` in seconds: `None` = forever.
fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, Reply> {
    let invalid = || Reply::Error(TIMEOUT_NOT_FLOAT.into());
    let text = std::str::from_utf8(arg).map_err(|_| invalid())?;
    if text.is_empty() || text.starts_with(|c: char| c.is_ascii_whitespace()) {
        return Err(invalid());
    }
    let seconds: f64 = text.parse().map_err(|_| invalid())?;
    if seconds.is_nan() {
        return Err(invalid());
    }
    let ms = (seconds * 1000.0).ceil();
    // Redis casts to long long: out-of-range values (inf) come out
    // negative, hence its "negative" error for them.
    if ms < 0.0 || ms >= i64::MAX as f64 {
        return Err(Reply::Error(TIMEOUT_NEGATIVE.into()));
    }
    if ms == 0.0 {
        return Ok(None);
    }
    Ok(Some(Duration::from_millis(ms as u64)))
}

fn side_word(arg: &[u8]) -> Option<Bytes> {
    if arg.eq_ignore_ascii_case(b"left") {
        Some(Bytes::from_static(b"LEFT"))
    } else if arg.eq_ignore_ascii_case(b"right") {
        Some(Bytes::from_static(b"RIGHT"))
    } else {
        None
    }
}

/// What a blocking command asks for, once parsed.
struct Request {
    keys: Vec<Bytes>,
    op: BlockOp,
    timeout: Option<Duration>,
}

fn parse_request(name: &str, argv: &[Bytes]) -> Result<Request, Reply> {
    let last = argv.len() - 1;
    match name {
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => {
            let timeout = parse_timeout(&argv[last])?;
            let op = match name {
                "blpop" => BlockOp::Pop { left: true },
                "brpop" => BlockOp::Pop { left: false },
                "bzpopmin" => BlockOp::ZPop { min: true },
                _ => BlockOp::ZPop { min: false },
            };
            Ok(Request {
                keys: argv[1..last].to_vec(),
                op,
                timeout,
            })
        }
        "brpoplpush" => Ok(Request {
            timeout: parse_timeout(&argv[3])?,
            keys: vec![argv[1].clone()],
            op: BlockOp::Move {
                dest: argv[2].clone(),
                from: Bytes::from_static(b"RIGHT"),
                to: Bytes::from_static(b"LEFT"),
                legacy: true,
            },
        }),
        "blmove" => {
            let (Some(from), Some(to)) = (side_word(&argv[3]), side_word(&argv[4])) else {
                return Err(Reply::Error(SYNTAX.into()));
            };
            Ok(Request {
                timeout: parse_timeout(&argv[5])?,
                keys: vec![argv[1].clone()],
                op: BlockOp::Move {
                    dest: argv[2].clone(),
                    from,
                    to,
                    legacy: false,
                },
            })
        }
        "blmpop" | "bzmpop" => {
            let zset = name == "bzmpop";
            let parsed = mpop::parse(argv, 2, zset).map_err(|e| e.into_reply(name))?;
            let first = parsed.side == mpop::Side::First;
            let op = if zset {
                BlockOp::ZMpop {
                    min: first,
                    count: parsed.count,
                }
            } else {
                BlockOp::LMpop {
                    left: first,
                    count: parsed.count,
                }
            };
            Ok(Request {
                timeout: parse_timeout(&argv[1])?,
                keys: parsed.keys,
                op,
            })
        }
        _ => Err(Reply::Error(format!("ERR '{name}' is not a blocking command"))),
    }
}

impl Exec {
    /// Runs a blocking command for a client: serves it at once, answers
    /// nil (inside MULTI/EXEC), or blocks it.
    pub(super) fn blocking_command(&mut self, conn: u64, name: &str, argv: &[Bytes]) -> Outcome {
        let request = match parse_request(name, argv) {
            Ok(request) => request,
            Err(reply) => return Outcome::reply(reply),
        };
        let db = self.sessions.get(&conn).map_or(0, |s| s.db);
        for key in &request.keys {
            let (reply, barrier) = self.run_concrete(db, &request.op, key);
            if let Some(reply) = request.op.wrap(key, reply) {
                return Outcome::with_barrier(reply, barrier);
            }
        }
        if self.in_exec {
            // Inside a transaction a blocking command cannot block: Redis
            // answers as if it timed out at once.
            let barrier = self.keys_barrier(db, &request.keys);
            return Outcome::with_barrier(Reply::NullArray, barrier);
        }
        self.block(conn, db, request);
        Outcome {
            blocked: true,
            ..Outcome::reply(Reply::Null)
        }
    }

    /// The newest uncommitted write to any of `keys` (what a reply about
    /// them must wait for).
    fn keys_barrier(&self, db: usize, keys: &[Bytes]) -> u64 {
        if self.shared.role() != crate::node::shared::Role::Primary {
            return 0;
        }
        keys.iter()
            .map(|k| self.key_barrier(db, k))
            .fold(self.dirty.whole_dataset, u64::max)
    }

    /// Runs the concrete pop for `op` on `key` (its effects join the open
    /// batch); the reply and the batch it must wait for.
    fn run_concrete(&mut self, db: usize, op: &BlockOp, key: &Bytes) -> (Reply, u64) {
        let argv = op.concrete(key);
        let Some(spec) = commands::lookup(&argv[0]) else {
            return (Reply::Error("ERR internal: no concrete pop".into()), 0);
        };
        let CommandKind::Data(handler) = spec.kind else {
            return (Reply::Error("ERR internal: no concrete pop".into()), 0);
        };
        let outcome = self.data_command(db, spec, handler, &argv);
        let barrier = outcome.barrier.max(self.barrier_for(db, spec, &argv));
        (outcome.reply, barrier)
    }

    fn block(&mut self, conn: u64, db: usize, request: Request) {
        self.block_token += 1;
        let token = self.block_token;
        let timer = match (request.timeout, &self.runtime, self.self_tx.clone()) {
            (Some(timeout), Some(runtime), Some(tx)) => {
                let deadline = tokio::time::Instant::from_std(Instant::now() + timeout);
                Some(runtime.spawn(async move {
                    tokio::time::sleep_until(deadline).await;
                    if let Some(tx) = tx.upgrade() {
                        let _ = tx.send(ExecMsg::BlockTimeout { conn, token }).await;
                    }
                }))
            }
            _ => None,
        };
        let mut keys: Vec<Bytes> = Vec::with_capacity(request.keys.len());
        for key in request.keys {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        for key in &keys {
            self.blocking.entry((db, key.clone())).or_default().push_back(conn);
        }
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.blocked = Some(Blocked {
                db,
                keys,
                op: request.op,
                token,
                timer,
            });
        }
    }

    /// Takes `conn` out of blocking: leaves every key queue.
    fn unblock(&mut self, conn: u64) -> Option<Blocked> {
        let blocked = self.sessions.get_mut(&conn)?.blocked.take()?;
        for key in &blocked.keys {
            let slot = (blocked.db, key.clone());
            if let Some(queue) = self.blocking.get_mut(&slot) {
                queue.retain(|c| *c != conn);
                if queue.is_empty() {
                    self.blocking.remove(&slot);
                }
            }
        }
        Some(blocked)
    }

    /// Sends the late reply of a blocked command, then lets the client's
    /// pipelined commands run (at the end of this step).
    fn answer_blocked(&mut self, conn: u64, reply: Reply, barrier: u64) {
        if let Some(session) = self.sessions.get_mut(&conn) {
            let item = PendingReply {
                reply,
                barrier,
                protocol: session.protocol,
                silent: false,
                drop_on_failure: false,
                accounted: 0,
            };
            session.last_barrier = session.last_barrier.max(barrier);
            session.send(Outgoing::replies(vec![item], 1));
            self.resume.push_back(conn);
        }
    }

    /// A blocked client's timeout fired.
    pub(super) fn block_timeout(&mut self, conn: u64, token: u64) {
        let current = self
            .sessions
            .get(&conn)
            .and_then(|s| s.blocked.as_ref())
            .is_some_and(|b| b.token == token);
        if !current {
            return;
        }
        if let Some(blocked) = self.unblock(conn) {
            let barrier = self.keys_barrier(blocked.db, &blocked.keys);
            self.answer_blocked(conn, Reply::NullArray, barrier);
        }
    }

    /// The client disconnected.
    pub(super) fn drop_blocked(&mut self, conn: u64) {
        self.unblock(conn);
    }

    /// Releases every blocked client with `error` (the node stopped being
    /// primary: nothing could ever serve them here).
    pub(super) fn unblock_all(&mut self, error: &str) {
        let conns: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.blocked.is_some())
            .map(|(c, _)| *c)
            .collect();
        for conn in conns {
            if self.unblock(conn).is_some() {
                self.answer_blocked(conn, Reply::Error(error.to_owned()), 0);
            }
        }
    }

    /// CLIENT UNBLOCK: true if `conn` was blocked.
    pub(super) fn unblock_by_client(&mut self, conn: u64, error: bool) -> bool {
        match self.unblock(conn) {
            Some(blocked) => {
                let reply = if error {
                    Reply::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
                } else {
                    Reply::NullArray
                };
                let barrier = self.keys_barrier(blocked.db, &blocked.keys);
                self.answer_blocked(conn, reply, barrier);
                true
            }
            None => false,
        }
    }

    /// After a write to (db, key): if clients block on it, it may serve
    /// them once the current command is done.
    pub(super) fn signal_ready(&mut self, db: usize, key: &Bytes) {
        if self.blocking.is_empty() {
            return;
        }
        let slot = (db, key.clone());
        if self.blocking.contains_key(&slot) && self.ready_set.insert(slot.clone()) {
            self.ready.push_back(slot);
        }
    }

    /// Every key with blocked clients in these databases (after SWAPDB).
    pub(super) fn signal_ready_dbs(&mut self, dbs: &[usize]) {
        let slots: Vec<(usize, Bytes)> = self
            .blocking
            .keys()
            .filter(|(db, _)| dbs.contains(db))
            .cloned()
            .collect();
        for (db, key) in slots {
            self.signal_ready(db, &key);
        }
    }

    /// Serves clients blocked on keys that got data, oldest first, until
    /// no key is ready (serving BLMOVE may make its target ready).
    pub(super) fn serve_ready_keys(&mut self) {
        while let Some(slot) = self.ready.pop_front() {
            self.ready_set.remove(&slot);
            let (db, key) = slot;
            let waiting: Vec<u64> = match self.blocking.get(&(db, key.clone())) {
                Some(queue) => queue.iter().copied().collect(),
                None => continue,
            };
            for conn in waiting {
                let Some(actual) = self.live_type(db, &key) else {
                    break;
                };
                let Some(op) = self
                    .sessions
                    .get(&conn)
                    .and_then(|s| s.blocked.as_ref())
                    .filter(|b| b.db == db)
                    .map(|b| b.op.clone())
                else {
                    continue;
                };
                if op.value_type() != actual {
                    // Another type now lives at the key: this client keeps
                    // waiting (Redis serves only matching clients).
                    continue;
                }
                let (reply, barrier) = self.run_concrete(db, &op, &key);
                if let Some(reply) = op.wrap(&key, reply) {
                    self.unblock(conn);
                    self.answer_blocked(conn, reply, barrier);
                }
            }
        }
    }

    /// The type of the live (unexpired) value at `key`, if any.
    fn live_type(&self, db: usize, key: &[u8]) -> Option<ValueType> {
        let store = self.ks.db(db)?;
        let pos = store.find(key)?;
        if store.expire_at(pos).is_some_and(|at| at <= self.now_ms) {
            return None;
        }
        store.value_at(pos).map(|v| v.value_type())
    }

    /// Runs what unblocked clients pipelined after their blocking command.
    pub(super) fn resume_unblocked(&mut self) {
        while let Some(conn) = self.resume.pop_front() {
            let pending = match self.sessions.get_mut(&conn) {
                Some(session) if session.blocked.is_none() => std::mem::take(&mut session.pending),
                _ => continue,
            };
            if !pending.is_empty() {
                self.run_commands(conn, pending.into_iter().collect());
            }
        }
    }

    /// Blocked clients (INFO clients).
    pub(super) fn blocked_clients(&self) -> usize {
        self.sessions.values().filter(|s| s.blocked.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_like_redis() {
        assert_eq!(parse_timeout(b"0").unwrap(), None);
        assert_eq!(parse_timeout(b"0.001").unwrap(), Some(Duration::from_millis(1)));
        assert_eq!(parse_timeout(b"1.5").unwrap(), Some(Duration::from_millis(1500)));
        for (arg, text) in [
            (&b"-1"[..], TIMEOUT_NEGATIVE),
            (b"inf", TIMEOUT_NEGATIVE),
            (b"abc", TIMEOUT_NOT_FLOAT),
            (b"nan", TIMEOUT_NOT_FLOAT),
            (b" 1", TIMEOUT_NOT_FLOAT),
            (b"", TIMEOUT_NOT_FLOAT),
        ] {
            assert_eq!(parse_timeout(arg), Err(Reply::Error(text.into())), "{arg:?}");
        }
    }
}
