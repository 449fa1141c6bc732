//! Which keys a command reads and which it writes, for ACL key permissions
//! (`~pattern`, `%R~pattern`, `%W~pattern`).
//!
//! The table's first/last/step positions over-approximate the keys of the
//! `numkeys` commands (ZUNION 2 a b WEIGHTS 1 2 would count `WEIGHTS` as a
//! key), which is harmless for key-level tracking but would refuse legal
//! commands here, so those are decoded exactly. SORT's STORE destination and
//! MEMORY USAGE's key are not in the positions at all and are added.
//!
//! Simplification of Redis's key-spec flags: a read-only command reads its
//! keys; a write command reads and writes them, except the destinations of
//! `*STORE` forms and the commands in [`WRITE_ONLY`], which only write
//! (Redis marks them without the ACCESS flag).

use bytes::Bytes;

use super::args::is;
use super::{flags, CommandSpec};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
}

const READ: Access = Access {
    read: true,
    write: false,
};
const WRITE: Access = Access {
    read: false,
    write: true,
};
const READ_WRITE: Access = Access {
    read: true,
    write: true,
};

/// Writes that do not return anything from the value they change.
const WRITE_ONLY: &[&str] = &[
    "set",
    "setex",
    "psetex",
    "setnx",
    "mset",
    "msetnx",
    "del",
    "unlink",
    "expire",
    "pexpire",
    "expireat",
    "pexpireat",
    "persist",
    "hset",
    "hmset",
    "hsetnx",
    "lpush",
    "rpush",
    "lpushx",
    "rpushx",
    "sadd",
    "restore",
    "setrange",
    "append",
];

/// Commands whose first argument (after the name, and after `skip` more)
/// is `numkeys`, followed by that many keys.
fn numkeys_layout(name: &str) -> Option<(usize, bool)> {
    // (index of numkeys, whether argv[1] is a destination key)
    match name {
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => Some((1, false)),
        "zunionstore" | "zinterstore" | "zdiffstore" => Some((2, true)),
        // BLMPOP / BZMPOP timeout numkeys key...
        "blmpop" | "bzmpop" => Some((2, false)),
        _ => None,
    }
}

/// Every key `argv` names, with how the command uses it.
pub fn key_accesses<'a>(spec: &CommandSpec, argv: &'a [Bytes]) -> Vec<(&'a Bytes, Access)> {
    let write = spec.flags & flags::WRITE != 0;
    let source = if write { READ_WRITE } else { READ };
    if let Some((numkeys_at, destination)) = numkeys_layout(spec.name) {
        let mut keys = Vec::new();
        if destination {
            if let Some(dest) = argv.get(1) {
                keys.push((dest, WRITE));
            }
        }
        let count = argv
            .get(numkeys_at)
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        let sources = if destination { READ } else { source };
        let first = numkeys_at + 1;
        for key in argv.iter().skip(first).take(count) {
            keys.push((key, sources));
        }
        return keys;
    }
    match spec.name {
        // Destination first, sources after.
        "sinterstore" | "sunionstore" | "sdiffstore" | "bitop" | "zrangestore" => {
            return spec
                .keys(argv)
                .into_iter()
                .enumerate()
                .map(|(i, key)| (key, if i == 0 { WRITE } else { READ }))
                .collect();
        }
        "copy" => {
            return spec
                .keys(argv)
                .into_iter()
                .enumerate()
                .map(|(i, key)| (key, if i == 0 { READ } else { WRITE }))
                .collect();
        }
        "sort" | "sort_ro" => {
            let mut keys: Vec<(&Bytes, Access)> = argv.get(1).map(|k| (k, READ)).into_iter().collect();
            let mut i = 2;
            while i + 1 < argv.len() {
                if is(&argv[i], "STORE") {
                    keys.push((&argv[i + 1], WRITE));
                }
                i += 1;
            }
            return keys;
        }
        "memory" if argv.get(1).is_some_and(|sub| is(sub, "USAGE")) => {
            return argv.get(2).map(|k| (k, READ)).into_iter().collect();
        }
        "set" if argv.iter().skip(3).any(|arg| is(arg, "GET")) => {
            return argv.get(1).map(|k| (k, READ_WRITE)).into_iter().collect();
        }
        _ => {}
    }
    let access = if write && WRITE_ONLY.contains(&spec.name) {
        WRITE
    } else {
        source
    };
    spec.keys(argv).into_iter().map(|key| (key, access)).collect()
}

/// SORT's BY and GET patterns read keys no argument names; Redis allows
/// them only to users who may access every key. The option that needs it.
pub fn sort_pattern_option(spec: &CommandSpec, argv: &[Bytes]) -> Option<&'static str> {
    if !matches!(spec.name, "sort" | "sort_ro") {
        return None;
    }
    let mut i = 2;
    while i + 1 < argv.len() {
        // A BY pattern without `*` only turns sorting off (Redis's nosort).
        if is(&argv[i], "BY") && argv[i + 1].contains(&b'*') {
            return Some("BY");
        }
        if is(&argv[i], "GET") && argv[i + 1].as_ref() != b"#" {
            return Some("GET");
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::lookup;

    fn accesses(args: &[&str]) -> Vec<(String, Access)> {
        let argv: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
        let spec = lookup(args[0].as_bytes()).unwrap();
        key_accesses(spec, &argv)
            .into_iter()
            .map(|(k, a)| (String::from_utf8_lossy(k).into_owned(), a))
            .collect()
    }

    #[test]
    fn numkeys_commands_name_only_their_keys() {
        assert_eq!(
            accesses(&["zunion", "2", "a", "b", "WEIGHTS", "1", "2"]),
            [("a".into(), READ), ("b".into(), READ)]
        );
        assert_eq!(
            accesses(&["zunionstore", "d", "2", "a", "b", "AGGREGATE", "MIN"]),
            [("d".into(), WRITE), ("a".into(), READ), ("b".into(), READ)]
        );
        assert_eq!(accesses(&["blmpop", "0", "1", "l", "LEFT"]), [("l".into(), READ_WRITE)]);
    }

    #[test]
    fn reads_writes_and_destinations() {
        assert_eq!(accesses(&["get", "k"]), [("k".into(), READ)]);
        assert_eq!(accesses(&["set", "k", "v"]), [("k".into(), WRITE)]);
        assert_eq!(accesses(&["set", "k", "v", "GET"]), [("k".into(), READ_WRITE)]);
        assert_eq!(accesses(&["incr", "k"]), [("k".into(), READ_WRITE)]);
        assert_eq!(
            accesses(&["sort", "s", "LIMIT", "0", "1", "STORE", "d"]),
            [("s".into(), READ), ("d".into(), WRITE)]
        );
        assert_eq!(
            accesses(&["sinterstore", "d", "a", "b"]),
            [("d".into(), WRITE), ("a".into(), READ), ("b".into(), READ)]
        );
        assert_eq!(accesses(&["memory", "usage", "k"]), [("k".into(), READ)]);
    }
}
