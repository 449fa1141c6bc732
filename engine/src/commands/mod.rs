//! The command table and the data commands (strings, keys, hashes, lists,
//! sets, sorted sets, server-wide data commands such as FLUSHDB).
//!
//! CONTRACT with the node (engine/src/node/): the node parses RESP, looks a
//! command up here, checks arity, handles the commands whose kind is
//! [`CommandKind::Node`] itself (they need connection or node state), and
//! calls [`execute`] for the rest on its execution thread.

use bytes::Bytes;

use crate::keyspace::Keyspace;
use crate::resp::Reply;

/// Flags as `COMMAND` reports them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const FAST: u32 = 1 << 10;
    pub const NO_AUTH: u32 = 1 << 11;
    pub const MAY_REPLICATE: u32 = 1 << 12;
    pub const NO_MULTI: u32 = 1 << 13;
    pub const ALLOW_BUSY: u32 = 1 << 14;
    /// Reads or writes the whole dataset rather than named keys (DBSIZE,
    /// FLUSHDB, KEYS, SCAN, RANDOMKEY...): key-level tracking treats it as
    /// touching every key.
    pub const WHOLE_DATASET: u32 = 1 << 20;
}

pub type DataHandler = fn(&mut Keyspace, &mut ExecCtx<'_>, &[Bytes]) -> Reply;

#[derive(Clone, Copy)]
pub enum CommandKind {
    /// Executed by [`execute`] on the keyspace.
    Data(DataHandler),
    /// Needs connection or node state; the node implements it.
    Node,
}

/// One row of the command table (what `COMMAND INFO` reports).
pub struct CommandSpec {
    /// Lower case, as Redis reports it.
    pub name: &'static str,
    /// Redis arity: positive = exact argc, negative = at least -arity.
    pub arity: i32,
    pub flags: u32,
    /// 1-based key positions (0 = no keys); `last_key` -1 = last argument.
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    pub kind: CommandKind,
}

/// How the clock applies to this execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Primary serving a client: an expired key is deleted on access and the
    /// deletion is recorded as a `DEL` effect.
    Primary { now_ms: i64 },
    /// Replica serving a read: expired keys look missing but stay (only the
    /// primary's DEL effects delete them).
    Replica { now_ms: i64 },
    /// Applying the primary's effects: nothing expires, so applying is
    /// deterministic whatever the local clock says.
    Apply,
}

/// One deterministic write, as Redis would propagate it to a replica:
/// relative expiry made absolute, SPOP as SREM, INCRBYFLOAT as SET, etc.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effect {
    pub db: u32,
    pub argv: Vec<Bytes>,
}

pub struct ExecCtx<'a> {
    /// Selected database (0..16).
    pub db: usize,
    pub clock: Clock,
    /// Effects of this command are pushed here (empty for a pure read).
    pub effects: &'a mut Vec<Effect>,
}

/// Finds a command by name, case-insensitively.
pub fn lookup(_name: &[u8]) -> Option<&'static CommandSpec> {
    None
}

/// Every command, for `COMMAND` and `COMMAND COUNT`.
pub fn all() -> &'static [CommandSpec] {
    &[]
}

/// Runs a data command. The caller has checked arity.
pub fn execute(_spec: &CommandSpec, _ks: &mut Keyspace, _ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Error("ERR not implemented".into())
}
