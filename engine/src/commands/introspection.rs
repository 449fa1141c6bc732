//! The COMMAND command: the table as Redis 7.0 reports it, so that clients
//! (redis-cli's hints, cluster-aware clients reading key positions) work.

use bytes::Bytes;

use super::args::is;
use super::errors::arity_error;
use super::glob;
use super::table::{self, COMMANDS};
use super::{categories, flags};
use crate::resp::Reply;

/// Flags in the order Redis prints them.
const FLAG_NAMES: &[(u32, &str)] = &[
    (flags::WRITE, "write"),
    (flags::READONLY, "readonly"),
    (flags::DENYOOM, "denyoom"),
    (flags::ADMIN, "admin"),
    (flags::PUBSUB, "pubsub"),
    (flags::NOSCRIPT, "noscript"),
    (flags::BLOCKING, "blocking"),
    (flags::LOADING, "loading"),
    (flags::STALE, "stale"),
    (flags::SKIP_MONITOR, "skip_monitor"),
    (flags::FAST, "fast"),
    (flags::NO_AUTH, "no_auth"),
    (flags::MAY_REPLICATE, "may_replicate"),
    (flags::NO_MULTI, "no_multi"),
    (flags::ALLOW_BUSY, "allow_busy"),
];

fn status(text: &str) -> Reply {
    Reply::SimpleString(text.to_owned())
}

fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

/// One COMMAND INFO entry: name, arity, flags, first key, last key, step,
/// ACL categories, tips, key specs, subcommands.
fn info_entry(position: usize) -> Reply {
    let Some(spec) = COMMANDS.get(position) else {
        return Reply::Null;
    };
    let flag_names = FLAG_NAMES
        .iter()
        .filter(|(flag, _)| spec.flags & flag != 0)
        .map(|(_, name)| status(name))
        .collect();
    Reply::Array(vec![
        bulk(spec.name),
        Reply::Integer(i64::from(spec.arity)),
        Reply::Set(flag_names),
        Reply::Integer(i64::from(spec.first_key)),
        Reply::Integer(i64::from(spec.last_key)),
        Reply::Integer(i64::from(spec.key_step)),
        Reply::Set(
            categories::of_command(position)
                .names()
                .map(|name| status(&format!("@{name}")))
                .collect(),
        ),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
    ])
}

/// One COMMAND DOCS entry.
fn doc_entry(position: usize) -> Option<(Reply, Reply)> {
    let spec = COMMANDS.get(position)?;
    let doc = table::doc(position)?;
    Some((
        bulk(spec.name),
        Reply::Map(vec![
            (bulk("summary"), bulk(doc.summary)),
            (bulk("since"), bulk(doc.since)),
            (bulk("group"), bulk(doc.group.name())),
        ]),
    ))
}

fn help() -> Reply {
    let lines = [
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
        "    Return a list of all commands in this Redis server.",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(lines.iter().map(|line| status(line)).collect())
}

fn getkeys(command: &[Bytes]) -> Reply {
    let Some(spec) = command.first().and_then(|name| table::lookup(name)) else {
        return Reply::Error("ERR Invalid command specified".to_owned());
    };
    if !spec.arity_ok(command.len()) {
        return Reply::Error("ERR Invalid number of arguments specified for command".to_owned());
    }
    let keys = spec.keys(command);
    if keys.is_empty() {
        return Reply::Error("ERR The command has no key arguments".to_owned());
    }
    Reply::Array(keys.into_iter().map(|key| Reply::Bulk(key.clone())).collect())
}

fn list(filter: &[Bytes]) -> Reply {
    let names = COMMANDS.iter().enumerate().filter(|(position, spec)| match filter {
        [] => true,
        [by, kind, value] if is(by, "FILTERBY") => {
            if is(kind, "PATTERN") {
                glob::matches(&value.to_ascii_lowercase(), spec.name.as_bytes())
            } else if is(kind, "ACLCAT") {
                categories::by_name(value).is_some_and(|category| categories::of_command(*position).contains(category))
            } else {
                // MODULE: this server has no modules.
                false
            }
        }
        _ => false,
    });
    Reply::Array(names.map(|(_, spec)| bulk(spec.name)).collect())
}

/// `COMMAND [COUNT | INFO name... | DOCS name... | LIST | GETKEYS cmd... | HELP]`.
pub fn command_command(argv: &[Bytes]) -> Reply {
    let Some(subcommand) = argv.get(1) else {
        return Reply::Array((0..COMMANDS.len()).map(info_entry).collect());
    };
    let rest = argv.get(2..).unwrap_or_default();
    if is(subcommand, "COUNT") {
        if !rest.is_empty() {
            return arity_error("command|count");
        }
        return Reply::Integer(i64::try_from(COMMANDS.len()).unwrap_or(i64::MAX));
    }
    if is(subcommand, "INFO") {
        if rest.is_empty() {
            return Reply::Array((0..COMMANDS.len()).map(info_entry).collect());
        }
        return Reply::Array(
            rest.iter()
                .map(|name| table::position(name).map_or(Reply::Null, info_entry))
                .collect(),
        );
    }
    if is(subcommand, "DOCS") {
        let entries = if rest.is_empty() {
            (0..COMMANDS.len()).filter_map(doc_entry).collect()
        } else {
            rest.iter()
                .filter_map(|name| table::position(name).and_then(doc_entry))
                .collect()
        };
        return Reply::Map(entries);
    }
    if is(subcommand, "LIST") {
        if !matches!(rest.len(), 0 | 3) {
            return Reply::Error("ERR syntax error".to_owned());
        }
        return list(rest);
    }
    if is(subcommand, "GETKEYS") {
        if rest.is_empty() {
            return arity_error("command|getkeys");
        }
        return getkeys(rest);
    }
    if is(subcommand, "HELP") {
        return help();
    }
    Reply::Error(format!(
        "ERR unknown subcommand '{}'. Try COMMAND HELP.",
        String::from_utf8_lossy(subcommand)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|word| Bytes::copy_from_slice(word.as_bytes()))
            .collect()
    }

    #[test]
    fn info_for_get_matches_redis() {
        let reply = command_command(&argv(&["COMMAND", "INFO", "get", "nosuch"]));
        let Reply::Array(entries) = reply else {
            panic!("not an array")
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1], Reply::Null);
        assert_eq!(
            entries[0],
            Reply::Array(vec![
                bulk("get"),
                Reply::Integer(2),
                Reply::Set(vec![status("readonly"), status("fast")]),
                Reply::Integer(1),
                Reply::Integer(1),
                Reply::Integer(1),
                Reply::Set(vec![status("@read"), status("@string"), status("@fast")]),
                Reply::Array(vec![]),
                Reply::Array(vec![]),
                Reply::Array(vec![]),
            ])
        );
    }

    #[test]
    fn categories() {
        let categories = |name: &str| {
            let position = table::position(name.as_bytes()).expect("known");
            categories::of_command(position)
                .names()
                .map(|name| format!("@{name}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(categories("set"), ["@write", "@string", "@slow"]);
        assert_eq!(categories("del"), ["@keyspace", "@write", "@slow"]);
        assert_eq!(categories("flushall"), ["@keyspace", "@write", "@slow", "@dangerous"]);
        assert_eq!(categories("ping"), ["@fast", "@connection"]);
        assert_eq!(categories("zadd"), ["@write", "@sortedset", "@fast"]);
    }

    #[test]
    fn count_docs_list_getkeys() {
        assert_eq!(
            command_command(&argv(&["command", "count"])),
            Reply::Integer(COMMANDS.len() as i64)
        );
        let Reply::Map(docs) = command_command(&argv(&["command", "docs", "get"])) else {
            panic!("docs is a map")
        };
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].0, bulk("get"));
        let Reply::Array(names) = command_command(&argv(&["command", "list", "filterby", "pattern", "z*"])) else {
            panic!("list is an array")
        };
        assert!(names.contains(&bulk("zadd")) && !names.contains(&bulk("get")));
        assert_eq!(
            command_command(&argv(&["command", "getkeys", "mset", "a", "1", "b", "2"])),
            Reply::Array(vec![bulk("a"), bulk("b")])
        );
        assert_eq!(
            command_command(&argv(&["command", "getkeys", "ping"])),
            Reply::Error("ERR The command has no key arguments".to_owned())
        );
        assert_eq!(
            command_command(&argv(&["command", "getkeys", "get"])),
            Reply::Error("ERR Invalid number of arguments specified for command".to_owned())
        );
        assert_eq!(
            command_command(&argv(&["command", "bogus"])),
            Reply::Error("ERR unknown subcommand 'bogus'. Try COMMAND HELP.".to_owned())
        );
        let Reply::Array(all) = command_command(&argv(&["command"])) else {
            panic!("array")
        };
        assert_eq!(all.len(), COMMANDS.len());
    }
}
