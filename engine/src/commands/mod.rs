//! The command table and the data commands (strings, keys, hashes, lists,
//! sets, sorted sets, server-wide data commands such as FLUSHDB).
//!
//! CONTRACT with the node (engine/src/node/): the node parses RESP, looks a
//! command up here, checks arity, handles the commands whose kind is
//! [`CommandKind::Node`] itself (they need connection or node state), and
//! calls [`execute`] for the rest on its execution thread.
//!
//! Modules: [`table`] (every command's row and docs), [`introspection`]
//! (the COMMAND command), one module per data type ([`strings`], [`keys`],
//! [`hashes`], [`lists`], [`sets`], [`zsets`]), [`scan`] (SCAN and the
//! per-value scans) and [`server`] (FLUSHDB, SWAPDB...), with [`args`],
//! [`errors`] and [`glob`] as helpers.
//!
//! Every write pushes its *effects*: the deterministic commands a replica
//! applies (with [`Clock::Apply`]) to reach the same state. Relative expiry
//! becomes absolute, random choices become explicit (SPOP → SREM), floats
//! are sent as results (INCRBYFLOAT → SET ... KEEPTTL), and a command that
//! changed nothing pushes nothing.

pub mod args;
pub mod bitmaps;
pub mod categories;
pub mod dump;
pub mod errors;
pub mod glob;
pub mod hashes;
pub mod introspection;
pub mod key_access;
pub mod keys;
pub mod lists;
pub mod mpop;
pub mod scan;
pub mod server;
pub mod sets;
pub mod sort;
pub mod strings;
pub mod table;
pub mod zsets;

use bytes::Bytes;

use crate::keyspace::access::DbAccess;
use crate::keyspace::Keyspace;
use crate::resp::Reply;

pub use errors::{arity_error, unknown_command_error};
pub use introspection::command_command;
pub use server::swapdb;

use errors::{CmdResult, DB_OUT_OF_RANGE};

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

/// What an effect's arguments weigh in a batch and in its journal record
/// (each argument with a few bytes of framing). The one measure for the
/// execution thread's batches and write bound, for merged records, and for
/// [`ExecCtx::effect_room`].
pub fn effect_bytes(argv: &[Bytes]) -> usize {
    argv.iter().map(|a| a.len() + 8).sum()
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
    /// The most effect bytes ([`effect_bytes`]) this command may push: its
    /// effects become one journal record, which has a size limit. The
    /// node checks a write's arguments against its bound before running
    /// it; a write whose effects outgrow its arguments (`SORT ... STORE`,
    /// `SPOP` with a count) checks this before it changes anything.
    /// `usize::MAX` where nothing bounds it (applying effects, tests).
    pub effect_room: usize,
}

impl CommandSpec {
    /// The key arguments, from the first/last/step positions. Commands with
    /// keys in only some positions report what those positions give, which
    /// is what Redis's legacy key positions give too.
    pub fn keys<'a>(&self, argv: &'a [Bytes]) -> Vec<&'a Bytes> {
        let (Ok(first), Ok(step)) = (usize::try_from(self.first_key), usize::try_from(self.key_step)) else {
            return Vec::new();
        };
        if first == 0 || step == 0 {
            return Vec::new();
        }
        let argc = i64::try_from(argv.len()).unwrap_or(i64::MAX);
        let last = if self.last_key < 0 {
            argc + i64::from(self.last_key)
        } else {
            i64::from(self.last_key)
        };
        let Ok(last) = usize::try_from(last) else {
            return Vec::new();
        };
        let last = last.min(argv.len().saturating_sub(1));
        if last < first {
            return Vec::new();
        }
        argv.get(first..=last)
            .map(|span| span.iter().step_by(step).collect())
            .unwrap_or_default()
    }

    /// Whether `argc` arguments (the name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = i64::try_from(argc).unwrap_or(i64::MAX);
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }
}

/// Finds a command by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    table::lookup(name)
}

/// Every command, for `COMMAND` and `COMMAND COUNT`.
pub fn all() -> &'static [CommandSpec] {
    table::COMMANDS
}

/// Runs a data command. The caller has checked arity (it is checked again
/// here, cheaply, so that no handler ever sees too few arguments).
pub fn execute(spec: &CommandSpec, ks: &mut Keyspace, ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if !spec.arity_ok(argv.len()) {
        return arity_error(spec.name);
    }
    match spec.kind {
        CommandKind::Data(handler) => handler(ks, ctx, argv),
        CommandKind::Node => Reply::Error(format!("ERR '{}' is executed by the node, not the keyspace", spec.name)),
    }
}

/// A handler working on the selected database.
pub(crate) type DbHandler = fn(&mut DbAccess<'_>, &[Bytes]) -> CmdResult;

/// A handler working on the whole keyspace (FLUSHALL...).
pub(crate) type KeyspaceHandler = fn(&mut Keyspace, &mut ExecCtx<'_>, &[Bytes]) -> CmdResult;

pub(crate) fn run_db(
    ks: &mut Keyspace,
    ctx: &mut ExecCtx<'_>,
    argv: &[Bytes],
    name: &str,
    handler: DbHandler,
) -> Reply {
    let Some(mut db) = ks.access(ctx) else {
        return Reply::Error(DB_OUT_OF_RANGE.to_owned());
    };
    handler(&mut db, argv).unwrap_or_else(|error| error.into_reply(name))
}

pub(crate) fn run_keyspace(
    ks: &mut Keyspace,
    ctx: &mut ExecCtx<'_>,
    argv: &[Bytes],
    name: &str,
    handler: KeyspaceHandler,
) -> Reply {
    handler(ks, ctx, argv).unwrap_or_else(|error| error.into_reply(name))
}
