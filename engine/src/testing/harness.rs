//! A primary keyspace driven like the node drives it, with a replica that
//! applies every effect the primary produces, and a fake clock. Its
//! checks are assertions: a failed one is the test's (or fuzzer's) finding.

use bytes::Bytes;

use crate::commands::{self, Clock, CommandKind, Effect, ExecCtx};
use crate::keyspace::Keyspace;
use crate::resp::Reply;

/// A fixed "now" so expiry tests are exact: 2023-11-14T22:13:20Z.
pub const START_MS: i64 = 1_700_000_000_000;

pub struct Harness {
    pub primary: Keyspace,
    pub replica: Keyspace,
    pub now_ms: i64,
    pub db: usize,
    /// Effects of the last command.
    pub last_effects: Vec<Effect>,
    /// Check after every command that the replica has the same digest.
    pub check_replica: bool,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

pub fn argv(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|word| Bytes::copy_from_slice(word.as_bytes()))
        .collect()
}

impl Harness {
    pub fn new() -> Self {
        Self {
            primary: Keyspace::new(16),
            replica: Keyspace::new(16),
            now_ms: START_MS,
            db: 0,
            last_effects: Vec::new(),
            check_replica: true,
        }
    }

    /// Runs a command as the node would for a client of the primary.
    pub fn run(&mut self, words: &[&str]) -> Reply {
        self.run_argv(argv(words))
    }

    pub fn run_argv(&mut self, argv: Vec<Bytes>) -> Reply {
        self.last_effects.clear();
        let Some(spec) = argv.first().and_then(|name| commands::lookup(name)) else {
            return commands::unknown_command_error(&argv);
        };
        if !spec.arity_ok(argv.len()) {
            return commands::arity_error(spec.name);
        }
        let mut effects = Vec::new();
        let reply = match spec.kind {
            CommandKind::Data(_) => {
                let mut ctx = ExecCtx {
                    db: self.db,
                    clock: Clock::Primary { now_ms: self.now_ms },
                    effects: &mut effects,
                    effect_room: usize::MAX,
                };
                commands::execute(spec, &mut self.primary, &mut ctx, &argv)
            }
            CommandKind::Node if spec.name == "swapdb" => {
                let mut ctx = ExecCtx {
                    db: self.db,
                    clock: Clock::Primary { now_ms: self.now_ms },
                    effects: &mut effects,
                    effect_room: usize::MAX,
                };
                commands::swapdb(&mut self.primary, &mut ctx, &argv)
            }
            CommandKind::Node => panic!("node command {} in a keyspace test", spec.name),
        };
        if matches!(reply, Reply::Error(_)) {
            // A failed command writes nothing of its own; the only effects
            // allowed are lazy-expiry deletions it triggered on the way,
            // which did happen and must reach the replica.
            let only_expiry = effects
                .iter()
                .all(|effect| effect.argv.len() == 2 && effect.argv[0] == "DEL");
            assert!(only_expiry, "{argv:?} failed but pushed effects {effects:?}");
        }
        self.apply_to_replica(&effects);
        self.last_effects = effects;
        reply
    }

    /// Runs a read as a replica would serve it (Clock::Replica).
    pub fn run_on_replica(&mut self, words: &[&str]) -> Reply {
        let argv = argv(words);
        let spec = commands::lookup(&argv[0]).expect("known command");
        let mut effects = Vec::new();
        let mut ctx = ExecCtx {
            db: self.db,
            clock: Clock::Replica { now_ms: self.now_ms },
            effects: &mut effects,
            effect_room: usize::MAX,
        };
        let reply = commands::execute(spec, &mut self.replica, &mut ctx, &argv);
        assert!(effects.is_empty(), "a replica read produced effects {effects:?}");
        reply
    }

    pub fn apply_to_replica(&mut self, effects: &[Effect]) {
        for effect in effects {
            if let Err(reason) = self.replica.apply(effect) {
                panic!("replica failed to apply {effect:?}: {reason}");
            }
        }
        if self.check_replica {
            assert_eq!(
                self.primary.digest(),
                self.replica.digest(),
                "replica diverged after effects {effects:?}"
            );
        }
    }

    /// The last command's effects as text, for assertions.
    pub fn effects(&self) -> Vec<String> {
        self.last_effects
            .iter()
            .map(|effect| {
                effect
                    .argv
                    .iter()
                    .map(|arg| String::from_utf8_lossy(arg).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    pub fn advance(&mut self, ms: i64) {
        self.now_ms += ms;
    }

    /// One active expiry cycle on the primary, its effects applied.
    pub fn active_expire(&mut self, max_sampled: usize) -> usize {
        let mut effects = Vec::new();
        let deleted = self
            .primary
            .active_expire_cycle(self.now_ms, &mut effects, max_sampled)
            .deleted;
        assert_eq!(deleted, effects.len());
        self.apply_to_replica(&effects);
        self.last_effects = effects;
        deleted
    }
}

pub fn ok() -> Reply {
    Reply::SimpleString("OK".into())
}

pub fn status(text: &str) -> Reply {
    Reply::SimpleString(text.into())
}

pub fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

pub fn int(value: i64) -> Reply {
    Reply::Integer(value)
}

pub fn err(text: &str) -> Reply {
    Reply::Error(text.into())
}

pub fn nil() -> Reply {
    Reply::Null
}

pub fn arr(items: Vec<Reply>) -> Reply {
    Reply::Array(items)
}

pub fn bulks(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|item| bulk(item)).collect())
}

pub fn double(value: f64) -> Reply {
    Reply::Double(value)
}

/// Members of an array or set reply, sorted, for order-free comparison.
pub fn sorted_members(reply: &Reply) -> Vec<String> {
    let items = match reply {
        Reply::Array(items) | Reply::Set(items) => items,
        other => panic!("not a collection: {other:?}"),
    };
    let mut members: Vec<String> = items
        .iter()
        .map(|item| match item {
            Reply::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            other => panic!("not a bulk: {other:?}"),
        })
        .collect();
    members.sort();
    members
}

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const SYNTAX: &str = "ERR syntax error";
