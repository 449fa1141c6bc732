//! ACL categories (`@read`, `@dangerous`...) of every command and of the
//! subcommands of container commands (CONFIG GET, CLIENT KILL...), as Redis
//! 7.0.15 declares them. COMMAND INFO reports them, ACL CAT lists them and
//! ACL rules (`+@read`, `-@dangerous`) select commands by them.
//!
//! Most categories follow from a command's flags and group (Redis derives
//! @read, @write, @admin, @pubsub, @fast/@slow and @blocking from flags the
//! same way); the rest are listed per command below.

use bytes::Bytes;

use super::flags;
use super::table::{self, Group, COMMANDS};
use super::CommandSpec;

/// A set of categories, one bit each, in [`NAMES`] order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Categories(pub u32);

/// Redis 7.0's categories, in the order ACL CAT lists them.
pub const NAMES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

const fn bit(name_index: u32) -> u32 {
    1 << name_index
}

pub const KEYSPACE: u32 = bit(0);
pub const READ: u32 = bit(1);
pub const WRITE: u32 = bit(2);
pub const SET: u32 = bit(3);
pub const SORTEDSET: u32 = bit(4);
pub const LIST: u32 = bit(5);
pub const HASH: u32 = bit(6);
pub const STRING: u32 = bit(7);
pub const BITMAP: u32 = bit(8);
pub const PUBSUB: u32 = bit(12);
pub const ADMIN: u32 = bit(13);
pub const FAST: u32 = bit(14);
pub const SLOW: u32 = bit(15);
pub const BLOCKING: u32 = bit(16);
pub const DANGEROUS: u32 = bit(17);
pub const CONNECTION: u32 = bit(18);
pub const TRANSACTION: u32 = bit(19);

impl Categories {
    pub fn contains(self, category: u32) -> bool {
        self.0 & category != 0
    }

    /// `@name` strings, in Redis's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        (0u32..)
            .zip(NAMES.iter())
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, name)| *name)
    }
}

/// The category bit named `name` (without the `@`), case-insensitively.
pub fn by_name(name: &[u8]) -> Option<u32> {
    (0u32..)
        .zip(NAMES.iter())
        .find(|(_, known)| known.as_bytes().eq_ignore_ascii_case(name))
        .map(|(i, _)| 1 << i)
}

/// Categories Redis declares explicitly, beyond what flags and group give.
const EXTRA: &[(&str, u32)] = &[
    ("dbsize", KEYSPACE),
    ("flushdb", KEYSPACE | DANGEROUS),
    ("flushall", KEYSPACE | DANGEROUS),
    ("swapdb", KEYSPACE | DANGEROUS),
    ("keys", DANGEROUS),
    ("restore", DANGEROUS),
    ("sort", SET | SORTEDSET | LIST | DANGEROUS),
    ("sort_ro", SET | SORTEDSET | LIST | DANGEROUS),
    ("info", DANGEROUS),
    ("role", ADMIN | DANGEROUS),
    ("lastsave", ADMIN | DANGEROUS),
    ("command", CONNECTION),
    ("wait", CONNECTION),
    ("readonly", CONNECTION),
    ("readwrite", CONNECTION),
];

/// Generic commands that are not in @keyspace.
const NOT_KEYSPACE: &[&str] = &["sort", "sort_ro", "wait"];

/// Container subcommands and their categories (Redis 7.0 gives each its own
/// categories; the container itself is only @slow).
pub const SUBCOMMANDS: &[(&str, &str, u32)] = &[
    ("acl", "cat", SLOW),
    ("acl", "deluser", ADMIN | SLOW | DANGEROUS),
    ("acl", "dryrun", ADMIN | SLOW | DANGEROUS),
    ("acl", "genpass", SLOW),
    ("acl", "getuser", ADMIN | SLOW | DANGEROUS),
    ("acl", "help", SLOW),
    ("acl", "list", ADMIN | SLOW | DANGEROUS),
    ("acl", "load", ADMIN | SLOW | DANGEROUS),
    ("acl", "log", ADMIN | SLOW | DANGEROUS),
    ("acl", "save", ADMIN | SLOW | DANGEROUS),
    ("acl", "setuser", ADMIN | SLOW | DANGEROUS),
    ("acl", "users", ADMIN | SLOW | DANGEROUS),
    ("acl", "whoami", SLOW),
    ("client", "caching", SLOW | CONNECTION),
    ("client", "getname", SLOW | CONNECTION),
    ("client", "getredir", SLOW | CONNECTION),
    ("client", "help", SLOW | CONNECTION),
    ("client", "id", SLOW | CONNECTION),
    ("client", "info", SLOW | CONNECTION),
    ("client", "kill", ADMIN | SLOW | DANGEROUS | CONNECTION),
    ("client", "list", ADMIN | SLOW | DANGEROUS | CONNECTION),
    ("client", "no-evict", ADMIN | SLOW | DANGEROUS | CONNECTION),
    ("client", "pause", ADMIN | SLOW | DANGEROUS | CONNECTION),
    ("client", "reply", SLOW | CONNECTION),
    ("client", "setinfo", SLOW | CONNECTION),
    ("client", "setname", SLOW | CONNECTION),
    ("client", "tracking", SLOW | CONNECTION),
    ("client", "trackinginfo", SLOW | CONNECTION),
    ("client", "unblock", ADMIN | SLOW | DANGEROUS | CONNECTION),
    ("client", "unpause", ADMIN | SLOW | DANGEROUS | CONNECTION),
    ("command", "count", SLOW | CONNECTION),
    ("command", "docs", SLOW | CONNECTION),
    ("command", "getkeys", SLOW | CONNECTION),
    ("command", "getkeysandflags", SLOW | CONNECTION),
    ("command", "help", SLOW | CONNECTION),
    ("command", "info", SLOW | CONNECTION),
    ("command", "list", SLOW | CONNECTION),
    ("config", "get", ADMIN | SLOW | DANGEROUS),
    ("config", "help", SLOW),
    ("config", "resetstat", ADMIN | SLOW | DANGEROUS),
    ("config", "rewrite", ADMIN | SLOW | DANGEROUS),
    ("config", "set", ADMIN | SLOW | DANGEROUS),
    ("latency", "doctor", ADMIN | SLOW | DANGEROUS),
    ("latency", "graph", ADMIN | SLOW | DANGEROUS),
    ("latency", "help", SLOW),
    ("latency", "histogram", ADMIN | SLOW | DANGEROUS),
    ("latency", "history", ADMIN | SLOW | DANGEROUS),
    ("latency", "latest", ADMIN | SLOW | DANGEROUS),
    ("latency", "reset", ADMIN | SLOW | DANGEROUS),
    ("memory", "doctor", SLOW),
    ("memory", "help", SLOW),
    ("memory", "malloc-stats", SLOW),
    ("memory", "purge", SLOW),
    ("memory", "stats", SLOW),
    ("memory", "usage", READ | SLOW),
    ("object", "encoding", KEYSPACE | READ | SLOW),
    ("object", "freq", KEYSPACE | READ | SLOW),
    ("object", "help", KEYSPACE | SLOW),
    ("object", "idletime", KEYSPACE | READ | SLOW),
    ("object", "refcount", KEYSPACE | READ | SLOW),
    ("pubsub", "channels", PUBSUB | SLOW),
    ("pubsub", "help", SLOW),
    ("pubsub", "numpat", PUBSUB | SLOW),
    ("pubsub", "numsub", PUBSUB | SLOW),
    ("pubsub", "shardchannels", PUBSUB | SLOW),
    ("pubsub", "shardnumsub", PUBSUB | SLOW),
    ("slowlog", "get", ADMIN | SLOW | DANGEROUS),
    ("slowlog", "help", SLOW),
    ("slowlog", "len", ADMIN | SLOW | DANGEROUS),
    ("slowlog", "reset", ADMIN | SLOW | DANGEROUS),
];

/// The containers of [`SUBCOMMANDS`] (asked on every ACL check).
const CONTAINERS: &[&str] = &[
    "acl", "client", "command", "config", "latency", "memory", "object", "pubsub", "slowlog",
];

/// Whether `name` is a container whose subcommands are ACL units of their own.
pub fn is_container(name: &str) -> bool {
    CONTAINERS.contains(&name)
}

/// The categories of the command at `position` in the table.
pub fn of_command(position: usize) -> Categories {
    let (Some(spec), Some(doc)) = (COMMANDS.get(position), table::doc(position)) else {
        return Categories::default();
    };
    derive(spec, doc.group)
}

fn derive(spec: &CommandSpec, group: Group) -> Categories {
    if is_container(spec.name) {
        return Categories(SLOW);
    }
    let has = |flag: u32| spec.flags & flag != 0;
    let mut set = 0;
    if group == Group::Generic && !NOT_KEYSPACE.contains(&spec.name) {
        set |= KEYSPACE;
    }
    for (flag, category) in [
        (flags::READONLY, READ),
        (flags::WRITE, WRITE),
        (flags::PUBSUB, PUBSUB),
        (flags::ADMIN, ADMIN | DANGEROUS),
        (flags::BLOCKING, BLOCKING),
    ] {
        if has(flag) {
            set |= category;
        }
    }
    set |= if has(flags::FAST) { FAST } else { SLOW };
    set |= match group {
        Group::Set => SET,
        Group::SortedSet => SORTEDSET,
        Group::List => LIST,
        Group::Hash => HASH,
        Group::String => STRING,
        Group::Bitmap => BITMAP,
        Group::Connection => CONNECTION,
        Group::Transactions => TRANSACTION,
        _ => 0,
    };
    if let Some((_, extra)) = EXTRA.iter().find(|(name, _)| *name == spec.name) {
        set |= extra;
    }
    Categories(set)
}

/// One thing an ACL rule can allow: a command, or a container's subcommand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit(pub usize);

/// How many units there are: every table row, then every [`SUBCOMMANDS`] row.
pub fn unit_count() -> usize {
    COMMANDS.len() + SUBCOMMANDS.len()
}

/// The unit a command invocation falls under: the subcommand's when the
/// container knows it, else the command's.
pub fn unit_of(position: usize, spec: &CommandSpec, argv: &[Bytes]) -> Unit {
    match argv.get(1) {
        Some(sub) if is_container(spec.name) => subcommand_unit(spec.name, sub).unwrap_or(Unit(position)),
        _ => Unit(position),
    }
}

pub fn subcommand_unit(container: &str, sub: &[u8]) -> Option<Unit> {
    SUBCOMMANDS
        .iter()
        .position(|(c, s, _)| *c == container && s.as_bytes().eq_ignore_ascii_case(sub))
        .map(|i| Unit(COMMANDS.len() + i))
}

/// The units of a container's subcommands.
pub fn subcommand_units(container: &str) -> impl Iterator<Item = Unit> + '_ {
    SUBCOMMANDS
        .iter()
        .enumerate()
        .filter(move |(_, (c, _, _))| *c == container)
        .map(|(i, _)| Unit(COMMANDS.len() + i))
}

/// A unit's name as ACL rules and errors write it (`get`, `config|get`).
pub fn unit_name(unit: Unit) -> String {
    match COMMANDS.get(unit.0) {
        Some(spec) => spec.name.to_owned(),
        None => SUBCOMMANDS
            .get(unit.0 - COMMANDS.len())
            .map(|(c, s, _)| format!("{c}|{s}"))
            .unwrap_or_default(),
    }
}

pub fn unit_categories(unit: Unit) -> Categories {
    if unit.0 < COMMANDS.len() {
        of_command(unit.0)
    } else {
        SUBCOMMANDS
            .get(unit.0 - COMMANDS.len())
            .map_or(Categories::default(), |(_, _, set)| Categories(*set))
    }
}

/// Every unit in `category`: what `ACL CAT name` lists and `+@name` allows.
pub fn units_in(category: u32) -> impl Iterator<Item = Unit> {
    (0..unit_count())
        .map(Unit)
        .filter(move |unit| unit_categories(*unit).contains(category))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cats(name: &str) -> Vec<&'static str> {
        of_command(table::position(name.as_bytes()).unwrap()).names().collect()
    }

    #[test]
    fn categories_match_redis_7_0() {
        assert_eq!(cats("get"), ["read", "string", "fast"]);
        assert_eq!(cats("set"), ["write", "string", "slow"]);
        assert_eq!(cats("del"), ["keyspace", "write", "slow"]);
        assert_eq!(cats("keys"), ["keyspace", "read", "slow", "dangerous"]);
        assert_eq!(cats("flushall"), ["keyspace", "write", "slow", "dangerous"]);
        assert_eq!(cats("blpop"), ["write", "list", "slow", "blocking"]);
        assert_eq!(cats("setbit"), ["write", "bitmap", "slow"]);
        assert_eq!(cats("publish"), ["pubsub", "fast"]);
        assert_eq!(cats("auth"), ["fast", "connection"]);
        assert_eq!(cats("exec"), ["slow", "transaction"]);
        assert_eq!(cats("sort"), ["write", "set", "sortedset", "list", "slow", "dangerous"]);
        assert_eq!(cats("shutdown"), ["admin", "slow", "dangerous"]);
        assert_eq!(cats("config"), ["slow"]);
    }

    #[test]
    fn subcommands_are_units_of_their_own() {
        let config = table::position(b"config").unwrap();
        let spec = &COMMANDS[config];
        let get = unit_of(config, spec, &[Bytes::from("config"), Bytes::from("GET")]);
        assert_eq!(unit_name(get), "config|get");
        assert!(unit_categories(get).contains(DANGEROUS));
        // Unknown subcommands fall back to the container.
        assert_eq!(
            unit_of(config, spec, &[Bytes::from("config"), Bytes::from("x")]),
            Unit(config)
        );
        assert!(units_in(DANGEROUS).any(|u| unit_name(u) == "flushdb"));
        assert!(!units_in(DANGEROUS).any(|u| unit_name(u) == "get"));
        assert_eq!(by_name(b"SortedSet"), Some(SORTEDSET));
        assert_eq!(by_name(b"nosuch"), None);
    }

    #[test]
    fn containers_are_the_subcommand_owners() {
        for (container, _, _) in SUBCOMMANDS {
            assert!(CONTAINERS.contains(container), "{container}");
        }
        for container in CONTAINERS {
            assert!(SUBCOMMANDS.iter().any(|(c, _, _)| c == container), "{container}");
            assert!(table::position(container.as_bytes()).is_some(), "{container}");
        }
    }

    #[test]
    fn every_command_is_fast_or_slow() {
        for (position, spec) in COMMANDS.iter().enumerate() {
            let set = of_command(position);
            assert!(set.contains(FAST) != set.contains(SLOW), "{}", spec.name);
        }
    }
}
