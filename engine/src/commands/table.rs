//! The command table: one row per command with Redis 7.0's arity, flags
//! and key positions, its handler, and the documentation COMMAND DOCS
//! reports. Both come from one macro so they cannot drift apart.

use std::sync::OnceLock;

use bytes::Bytes;
use hashbrown::HashMap;

use super::{
    bitmaps, dump, flags, hashes, keys, lists, mpop, run_db, run_keyspace, scan, server, sets, sort, strings, zsets,
    CommandKind, CommandSpec, ExecCtx,
};
use crate::keyspace::Keyspace;
use crate::resp::Reply;

/// Redis's command groups, as COMMAND DOCS names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Generic,
    String,
    Bitmap,
    List,
    Set,
    SortedSet,
    Hash,
    Connection,
    Transactions,
    Server,
    PubSub,
    Cluster,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::Bitmap => "bitmap",
            Group::List => "list",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::Hash => "hash",
            Group::Connection => "connection",
            Group::Transactions => "transactions",
            Group::Server => "server",
            Group::PubSub => "pubsub",
            Group::Cluster => "cluster",
        }
    }
}

/// What COMMAND DOCS says about a command.
pub struct CommandDoc {
    pub group: Group,
    pub since: &'static str,
    pub summary: &'static str,
}

/// The handler of a row: `node`, `db: path` (works on the selected
/// database) or `ks: path` (works on the whole keyspace).
macro_rules! handler_kind {
    (node, $name:literal) => {
        CommandKind::Node
    };
    (db, $handler:path, $name:literal) => {{
        fn handler(ks: &mut Keyspace, ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
            run_db(ks, ctx, argv, $name, $handler)
        }
        CommandKind::Data(handler)
    }};
    (ks, $handler:path, $name:literal) => {{
        fn handler(ks: &mut Keyspace, ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
            run_keyspace(ks, ctx, argv, $name, $handler)
        }
        CommandKind::Data(handler)
    }};
}

macro_rules! command_table {
    ($(
        $name:literal, $arity:expr, [$($flag:ident)*], $first:expr, $last:expr, $step:expr,
        $group:ident, $since:literal, $kind:ident $(: $handler:path)?, $summary:literal;
    )*) => {
        pub static COMMANDS: &[CommandSpec] = &[$(
            CommandSpec {
                name: $name,
                arity: $arity,
                flags: 0 $(| flags::$flag)*,
                first_key: $first,
                last_key: $last,
                key_step: $step,
                kind: handler_kind!($kind $(, $handler)?, $name),
            },
        )*];

        /// Parallel to [`COMMANDS`].
        pub static DOCS: &[CommandDoc] = &[$(
            CommandDoc { group: Group::$group, since: $since, summary: $summary },
        )*];
    };
}

command_table! {
    // Strings.
    "get", 2, [READONLY FAST], 1, 1, 1, String, "1.0.0", db: strings::get,
        "Returns the string value of a key.";
    "set", -3, [WRITE DENYOOM], 1, 1, 1, String, "1.0.0", db: strings::set,
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.";
    "setnx", 3, [WRITE DENYOOM FAST], 1, 1, 1, String, "1.0.0", db: strings::setnx,
        "Set the string value of a key only when the key doesn't exist.";
    "setex", 4, [WRITE DENYOOM], 1, 1, 1, String, "2.0.0", db: strings::setex,
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.";
    "psetex", 4, [WRITE DENYOOM], 1, 1, 1, String, "2.6.0", db: strings::psetex,
        "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.";
    "getset", 3, [WRITE DENYOOM FAST], 1, 1, 1, String, "1.0.0", db: strings::getset,
        "Returns the previous string value of a key after setting it to a new value.";
    "getdel", 2, [WRITE FAST], 1, 1, 1, String, "6.2.0", db: strings::getdel,
        "Returns the string value of a key after deleting the key.";
    "getex", -2, [WRITE FAST], 1, 1, 1, String, "6.2.0", db: strings::getex,
        "Returns the string value of a key after setting its expiration time.";
    "mget", -2, [READONLY FAST], 1, -1, 1, String, "1.0.0", db: strings::mget,
        "Atomically returns the string values of one or more keys.";
    "mset", -3, [WRITE DENYOOM], 1, -1, 2, String, "1.0.1", db: strings::mset,
        "Atomically creates or modifies the string values of one or more keys.";
    "msetnx", -3, [WRITE DENYOOM], 1, -1, 2, String, "1.0.1", db: strings::msetnx,
        "Atomically modifies the string values of one or more keys only when all keys don't exist.";
    "incr", 2, [WRITE DENYOOM FAST], 1, 1, 1, String, "1.0.0", db: strings::incr,
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.";
    "decr", 2, [WRITE DENYOOM FAST], 1, 1, 1, String, "1.0.0", db: strings::decr,
        "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.";
    "incrby", 3, [WRITE DENYOOM FAST], 1, 1, 1, String, "1.0.0", db: strings::incrby,
        "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.";
    "decrby", 3, [WRITE DENYOOM FAST], 1, 1, 1, String, "1.0.0", db: strings::decrby,
        "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.";
    "incrbyfloat", 3, [WRITE DENYOOM FAST], 1, 1, 1, String, "2.6.0", db: strings::incrbyfloat,
        "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.";
    "append", 3, [WRITE DENYOOM FAST], 1, 1, 1, String, "2.0.0", db: strings::append,
        "Appends a string to the value of a key. Creates the key if it doesn't exist.";
    "strlen", 2, [READONLY FAST], 1, 1, 1, String, "2.2.0", db: strings::strlen,
        "Returns the length of a string value.";
    "getrange", 4, [READONLY], 1, 1, 1, String, "2.4.0", db: strings::getrange,
        "Returns a substring of the string stored at a key.";
    "substr", 4, [READONLY], 1, 1, 1, String, "1.0.0", db: strings::getrange,
        "Returns a substring from a string value.";
    "setrange", 4, [WRITE DENYOOM], 1, 1, 1, String, "2.2.0", db: strings::setrange,
        "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.";
    "lcs", -3, [READONLY], 1, 2, 1, String, "7.0.0", db: strings::lcs,
        "Finds the longest common substring.";

    // Bitmaps.
    "setbit", 4, [WRITE DENYOOM], 1, 1, 1, Bitmap, "2.2.0", db: bitmaps::setbit,
        "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.";
    "getbit", 3, [READONLY FAST], 1, 1, 1, Bitmap, "2.2.0", db: bitmaps::getbit,
        "Returns a bit value by offset.";
    "bitcount", -2, [READONLY], 1, 1, 1, Bitmap, "2.6.0", db: bitmaps::bitcount,
        "Counts the number of set bits (population counting) in a string.";
    "bitpos", -3, [READONLY], 1, 1, 1, Bitmap, "2.8.7", db: bitmaps::bitpos,
        "Finds the first set (1) or clear (0) bit in a string.";
    "bitop", -4, [WRITE DENYOOM], 2, -1, 1, Bitmap, "2.6.0", db: bitmaps::bitop,
        "Performs bitwise operations on multiple strings, and stores the result.";
    "bitfield", -2, [WRITE DENYOOM], 1, 1, 1, Bitmap, "3.2.0", db: bitmaps::bitfield,
        "Performs arbitrary bitfield integer operations on strings.";
    "bitfield_ro", -2, [READONLY FAST], 1, 1, 1, Bitmap, "6.0.0", db: bitmaps::bitfield_ro,
        "Performs arbitrary read-only bitfield integer operations on strings.";

    // Keys.
    "del", -2, [WRITE], 1, -1, 1, Generic, "1.0.0", db: keys::del,
        "Deletes one or more keys.";
    "unlink", -2, [WRITE FAST], 1, -1, 1, Generic, "4.0.0", db: keys::del,
        "Asynchronously deletes one or more keys.";
    "exists", -2, [READONLY FAST], 1, -1, 1, Generic, "1.0.0", db: keys::exists,
        "Determines whether one or more keys exist.";
    "touch", -2, [READONLY FAST], 1, -1, 1, Generic, "3.2.1", db: keys::touch,
        "Returns the number of existing keys out of those specified after updating the time they were last accessed.";
    "type", 2, [READONLY FAST], 1, 1, 1, Generic, "1.0.0", db: keys::type_,
        "Determines the type of value stored at a key.";
    "expire", -3, [WRITE FAST], 1, 1, 1, Generic, "1.0.0", db: keys::expire,
        "Sets the expiration time of a key in seconds.";
    "pexpire", -3, [WRITE FAST], 1, 1, 1, Generic, "2.6.0", db: keys::pexpire,
        "Sets the expiration time of a key in milliseconds.";
    "expireat", -3, [WRITE FAST], 1, 1, 1, Generic, "1.2.0", db: keys::expireat,
        "Sets the expiration time of a key to a Unix timestamp.";
    "pexpireat", -3, [WRITE FAST], 1, 1, 1, Generic, "2.6.0", db: keys::pexpireat,
        "Sets the expiration time of a key to a Unix milliseconds timestamp.";
    "ttl", 2, [READONLY FAST], 1, 1, 1, Generic, "1.0.0", db: keys::ttl,
        "Returns the expiration time in seconds of a key.";
    "pttl", 2, [READONLY FAST], 1, 1, 1, Generic, "2.6.0", db: keys::pttl,
        "Returns the expiration time in milliseconds of a key.";
    "expiretime", 2, [READONLY FAST], 1, 1, 1, Generic, "7.0.0", db: keys::expiretime,
        "Returns the expiration time of a key as a Unix timestamp.";
    "pexpiretime", 2, [READONLY FAST], 1, 1, 1, Generic, "7.0.0", db: keys::pexpiretime,
        "Returns the expiration time of a key as a Unix milliseconds timestamp.";
    "persist", 2, [WRITE FAST], 1, 1, 1, Generic, "2.2.0", db: keys::persist,
        "Removes the expiration time of a key.";
    "rename", 3, [WRITE], 1, 2, 1, Generic, "1.0.0", db: keys::rename,
        "Renames a key and overwrites the destination.";
    "renamenx", 3, [WRITE FAST], 1, 2, 1, Generic, "1.0.0", db: keys::renamenx,
        "Renames a key only when the target key name doesn't exist.";
    "dump", 2, [READONLY], 1, 1, 1, Generic, "2.6.0", db: dump::dump,
        "Returns a serialized representation of the value stored at a key.";
    "restore", -4, [WRITE DENYOOM], 1, 1, 1, Generic, "2.6.0", db: dump::restore,
        "Creates a key from the serialized representation of a value.";
    // COPY and MOVE write another database than the selected one, and SORT
    // reads keys named by its BY/GET patterns: none of that is in the key
    // positions, so they count as touching the whole dataset.
    "copy", -3, [WRITE DENYOOM WHOLE_DATASET], 1, 2, 1, Generic, "6.2.0", ks: keys::copy,
        "Copies the value of a key to a new key.";
    "move", 3, [WRITE FAST WHOLE_DATASET], 1, 1, 1, Generic, "1.0.0", ks: keys::move_,
        "Moves a key to another database.";
    "sort", -2, [WRITE DENYOOM WHOLE_DATASET], 1, 1, 1, Generic, "1.0.0", db: sort::sort,
        "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.";
    "sort_ro", -2, [READONLY WHOLE_DATASET], 1, 1, 1, Generic, "7.0.0", db: sort::sort_ro,
        "Returns the sorted elements of a list, a set, or a sorted set.";
    "object", -2, [READONLY], 2, 2, 1, Generic, "2.2.3", db: keys::object,
        "A container for object introspection commands.";
    "keys", 2, [READONLY WHOLE_DATASET], 0, 0, 0, Generic, "1.0.0", db: keys::keys,
        "Returns all key names that match a pattern.";
    "randomkey", 1, [READONLY WHOLE_DATASET], 0, 0, 0, Generic, "1.0.0", db: keys::randomkey,
        "Returns a random key name from the database.";
    "scan", -2, [READONLY WHOLE_DATASET], 0, 0, 0, Generic, "2.8.0", db: scan::scan,
        "Iterates over the key names in the database.";
    "wait", 3, [NOSCRIPT], 0, 0, 0, Generic, "3.0.0", node,
        "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.";

    // Hashes.
    "hset", -4, [WRITE DENYOOM FAST], 1, 1, 1, Hash, "2.0.0", db: hashes::hset,
        "Creates or modifies the value of a field in a hash.";
    "hsetnx", 4, [WRITE DENYOOM FAST], 1, 1, 1, Hash, "2.0.0", db: hashes::hsetnx,
        "Sets the value of a field in a hash only when the field doesn't exist.";
    "hmset", -4, [WRITE DENYOOM FAST], 1, 1, 1, Hash, "2.0.0", db: hashes::hmset,
        "Sets the values of multiple fields.";
    "hget", 3, [READONLY FAST], 1, 1, 1, Hash, "2.0.0", db: hashes::hget,
        "Returns the value of a field in a hash.";
    "hmget", -3, [READONLY FAST], 1, 1, 1, Hash, "2.0.0", db: hashes::hmget,
        "Returns the values of all fields in a hash.";
    "hdel", -3, [WRITE FAST], 1, 1, 1, Hash, "2.0.0", db: hashes::hdel,
        "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.";
    "hgetall", 2, [READONLY], 1, 1, 1, Hash, "2.0.0", db: hashes::hgetall,
        "Returns all fields and values in a hash.";
    "hkeys", 2, [READONLY], 1, 1, 1, Hash, "2.0.0", db: hashes::hkeys,
        "Returns all fields in a hash.";
    "hvals", 2, [READONLY], 1, 1, 1, Hash, "2.0.0", db: hashes::hvals,
        "Returns all values in a hash.";
    "hlen", 2, [READONLY FAST], 1, 1, 1, Hash, "2.0.0", db: hashes::hlen,
        "Returns the number of fields in a hash.";
    "hexists", 3, [READONLY FAST], 1, 1, 1, Hash, "2.0.0", db: hashes::hexists,
        "Determines whether a field exists in a hash.";
    "hstrlen", 3, [READONLY FAST], 1, 1, 1, Hash, "3.2.0", db: hashes::hstrlen,
        "Returns the length of the value of a field.";
    "hincrby", 4, [WRITE DENYOOM FAST], 1, 1, 1, Hash, "2.0.0", db: hashes::hincrby,
        "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.";
    "hincrbyfloat", 4, [WRITE DENYOOM FAST], 1, 1, 1, Hash, "2.6.0", db: hashes::hincrbyfloat,
        "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.";
    "hscan", -3, [READONLY], 1, 1, 1, Hash, "2.8.0", db: scan::hscan,
        "Iterates over fields and values of a hash.";
    "hrandfield", -2, [READONLY], 1, 1, 1, Hash, "6.2.0", db: hashes::hrandfield,
        "Returns one or more random fields from a hash.";

    // Lists.
    "lpush", -3, [WRITE DENYOOM FAST], 1, 1, 1, List, "1.0.0", db: lists::lpush,
        "Prepends one or more elements to a list. Creates the key if it doesn't exist.";
    "rpush", -3, [WRITE DENYOOM FAST], 1, 1, 1, List, "1.0.0", db: lists::rpush,
        "Appends one or more elements to a list. Creates the key if it doesn't exist.";
    "lpushx", -3, [WRITE DENYOOM FAST], 1, 1, 1, List, "2.2.0", db: lists::lpushx,
        "Prepends one or more elements to a list only when the list exists.";
    "rpushx", -3, [WRITE DENYOOM FAST], 1, 1, 1, List, "2.2.0", db: lists::rpushx,
        "Appends an element to a list only when the list exists.";
    "lpop", -2, [WRITE FAST], 1, 1, 1, List, "1.0.0", db: lists::lpop,
        "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.";
    "rpop", -2, [WRITE FAST], 1, 1, 1, List, "1.0.0", db: lists::rpop,
        "Returns and removes the last elements of a list. Deletes the list if the last element was popped.";
    "llen", 2, [READONLY FAST], 1, 1, 1, List, "1.0.0", db: lists::llen,
        "Returns the length of a list.";
    "lrange", 4, [READONLY], 1, 1, 1, List, "1.0.0", db: lists::lrange,
        "Returns a range of elements from a list.";
    "lindex", 3, [READONLY], 1, 1, 1, List, "1.0.0", db: lists::lindex,
        "Returns an element from a list by its index.";
    "lset", 4, [WRITE DENYOOM], 1, 1, 1, List, "1.0.0", db: lists::lset,
        "Sets the value of an element in a list by its index.";
    "ltrim", 4, [WRITE], 1, 1, 1, List, "1.0.0", db: lists::ltrim,
        "Removes elements from both ends a list. Deletes the list if all elements were trimmed.";
    "lrem", 4, [WRITE], 1, 1, 1, List, "1.0.0", db: lists::lrem,
        "Removes elements from a list. Deletes the list if the last element was removed.";
    "linsert", 5, [WRITE DENYOOM], 1, 1, 1, List, "2.2.0", db: lists::linsert,
        "Inserts an element before or after another element in a list.";
    "lpos", -3, [READONLY], 1, 1, 1, List, "6.0.6", db: lists::lpos,
        "Returns the index of matching elements in a list.";
    "rpoplpush", 3, [WRITE DENYOOM], 1, 2, 1, List, "1.2.0", db: lists::rpoplpush,
        "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.";
    "lmove", 5, [WRITE DENYOOM], 1, 2, 1, List, "6.2.0", db: lists::lmove,
        "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.";

    // Sets.
    "sadd", -3, [WRITE DENYOOM FAST], 1, 1, 1, Set, "1.0.0", db: sets::sadd,
        "Adds one or more members to a set. Creates the key if it doesn't exist.";
    "srem", -3, [WRITE FAST], 1, 1, 1, Set, "1.0.0", db: sets::srem,
        "Removes one or more members from a set. Deletes the set if the last member was removed.";
    "smembers", 2, [READONLY], 1, 1, 1, Set, "1.0.0", db: sets::smembers,
        "Returns all members of a set.";
    "scard", 2, [READONLY FAST], 1, 1, 1, Set, "1.0.0", db: sets::scard,
        "Returns the number of members in a set.";
    "sismember", 3, [READONLY FAST], 1, 1, 1, Set, "1.0.0", db: sets::sismember,
        "Determines whether a member belongs to a set.";
    "smismember", -3, [READONLY FAST], 1, 1, 1, Set, "6.2.0", db: sets::smismember,
        "Determines whether multiple members belong to a set.";
    "spop", -2, [WRITE FAST], 1, 1, 1, Set, "1.0.0", db: sets::spop,
        "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.";
    "srandmember", -2, [READONLY], 1, 1, 1, Set, "1.0.0", db: sets::srandmember,
        "Get one or multiple random members from a set";
    "smove", 4, [WRITE FAST], 1, 2, 1, Set, "1.0.0", db: sets::smove,
        "Moves a member from one set to another.";
    "sinter", -2, [READONLY], 1, -1, 1, Set, "1.0.0", db: sets::sinter,
        "Returns the intersect of multiple sets.";
    "sunion", -2, [READONLY], 1, -1, 1, Set, "1.0.0", db: sets::sunion,
        "Returns the union of multiple sets.";
    "sdiff", -2, [READONLY], 1, -1, 1, Set, "1.0.0", db: sets::sdiff,
        "Returns the difference of multiple sets.";
    "sinterstore", -3, [WRITE DENYOOM], 1, -1, 1, Set, "1.0.0", db: sets::sinterstore,
        "Stores the intersect of multiple sets in a key.";
    "sunionstore", -3, [WRITE DENYOOM], 1, -1, 1, Set, "1.0.0", db: sets::sunionstore,
        "Stores the union of multiple sets in a key.";
    "sdiffstore", -3, [WRITE DENYOOM], 1, -1, 1, Set, "1.0.0", db: sets::sdiffstore,
        "Stores the difference of multiple sets in a key.";
    "sscan", -3, [READONLY], 1, 1, 1, Set, "2.8.0", db: scan::sscan,
        "Iterates over members of a set.";
    "sintercard", -3, [READONLY], 2, -1, 1, Set, "7.0.0", db: sets::sintercard,
        "Returns the number of members of the intersect of multiple sets.";

    // Sorted sets.
    "zadd", -4, [WRITE DENYOOM FAST], 1, 1, 1, SortedSet, "1.2.0", db: zsets::zadd,
        "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.";
    "zincrby", 4, [WRITE DENYOOM FAST], 1, 1, 1, SortedSet, "1.2.0", db: zsets::zincrby,
        "Increments the score of a member in a sorted set.";
    "zrem", -3, [WRITE FAST], 1, 1, 1, SortedSet, "1.2.0", db: zsets::zrem,
        "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.";
    "zcard", 2, [READONLY FAST], 1, 1, 1, SortedSet, "1.2.0", db: zsets::zcard,
        "Returns the number of members in a sorted set.";
    "zscore", 3, [READONLY FAST], 1, 1, 1, SortedSet, "1.2.0", db: zsets::zscore,
        "Returns the score of a member in a sorted set.";
    "zmscore", -3, [READONLY FAST], 1, 1, 1, SortedSet, "6.2.0", db: zsets::zmscore,
        "Returns the score of one or more members in a sorted set.";
    "zrank", 3, [READONLY FAST], 1, 1, 1, SortedSet, "2.0.0", db: zsets::zrank,
        "Returns the index of a member in a sorted set ordered by ascending scores.";
    "zrevrank", 3, [READONLY FAST], 1, 1, 1, SortedSet, "2.0.0", db: zsets::zrevrank,
        "Returns the index of a member in a sorted set ordered by descending scores.";
    "zcount", 4, [READONLY FAST], 1, 1, 1, SortedSet, "2.0.0", db: zsets::zcount,
        "Returns the count of members in a sorted set that have scores within a range.";
    "zlexcount", 4, [READONLY FAST], 1, 1, 1, SortedSet, "2.8.9", db: zsets::zlexcount,
        "Returns the number of members in a sorted set within a lexicographical range.";
    "zrange", -4, [READONLY], 1, 1, 1, SortedSet, "1.2.0", db: zsets::zrange,
        "Returns members in a sorted set within a range of indexes.";
    "zrevrange", -4, [READONLY], 1, 1, 1, SortedSet, "1.2.0", db: zsets::zrevrange,
        "Returns members in a sorted set within a range of indexes in reverse order.";
    "zrangebyscore", -4, [READONLY], 1, 1, 1, SortedSet, "1.0.5", db: zsets::zrangebyscore,
        "Returns members in a sorted set within a range of scores.";
    "zrevrangebyscore", -4, [READONLY], 1, 1, 1, SortedSet, "2.2.0", db: zsets::zrevrangebyscore,
        "Returns members in a sorted set within a range of scores in reverse order.";
    "zrangebylex", -4, [READONLY], 1, 1, 1, SortedSet, "2.8.9", db: zsets::zrangebylex,
        "Returns members in a sorted set within a lexicographical range.";
    "zrevrangebylex", -4, [READONLY], 1, 1, 1, SortedSet, "2.8.9", db: zsets::zrevrangebylex,
        "Returns members in a sorted set within a lexicographical range in reverse order.";
    "zpopmin", -2, [WRITE FAST], 1, 1, 1, SortedSet, "5.0.0", db: zsets::zpopmin,
        "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.";
    "zpopmax", -2, [WRITE FAST], 1, 1, 1, SortedSet, "5.0.0", db: zsets::zpopmax,
        "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.";
    "zremrangebyrank", 4, [WRITE], 1, 1, 1, SortedSet, "2.0.0", db: zsets::zremrangebyrank,
        "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.";
    "zremrangebyscore", 4, [WRITE], 1, 1, 1, SortedSet, "1.2.0", db: zsets::zremrangebyscore,
        "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.";
    "zremrangebylex", 4, [WRITE], 1, 1, 1, SortedSet, "2.8.9", db: zsets::zremrangebylex,
        "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.";

    "zscan", -3, [READONLY], 1, 1, 1, SortedSet, "2.8.0", db: scan::zscan,
        "Iterates over members and scores of a sorted set.";
    "zrangestore", -5, [WRITE DENYOOM], 1, 2, 1, SortedSet, "6.2.0", db: zsets::zrangestore,
        "Stores a range of members from sorted set in a key.";
    "zrandmember", -2, [READONLY], 1, 1, 1, SortedSet, "6.2.0", db: zsets::zrandmember,
        "Returns one or more random members from a sorted set.";
    // Redis reports the numkeys-based forms with movable keys; these
    // positions cover every key (and the options after them), as SINTERCARD.
    "zunion", -3, [READONLY], 2, -1, 1, SortedSet, "6.2.0", db: zsets::zunion,
        "Returns the union of multiple sorted sets.";
    "zinter", -3, [READONLY], 2, -1, 1, SortedSet, "6.2.0", db: zsets::zinter,
        "Returns the intersect of multiple sorted sets.";
    "zdiff", -3, [READONLY], 2, -1, 1, SortedSet, "6.2.0", db: zsets::zdiff,
        "Returns the difference between multiple sorted sets.";
    "zunionstore", -4, [WRITE DENYOOM], 1, -1, 1, SortedSet, "2.0.0", db: zsets::zunionstore,
        "Stores the union of multiple sorted sets in a key.";
    "zinterstore", -4, [WRITE DENYOOM], 1, -1, 1, SortedSet, "2.0.0", db: zsets::zinterstore,
        "Stores the intersect of multiple sorted sets in a key.";
    "zdiffstore", -4, [WRITE DENYOOM], 1, -1, 1, SortedSet, "6.2.0", db: zsets::zdiffstore,
        "Stores the difference of multiple sorted sets in a key.";
    "zintercard", -3, [READONLY], 2, -1, 1, SortedSet, "7.0.0", db: zsets::zintercard,
        "Returns the number of members of the intersect of multiple sorted sets.";

    // Server-wide data commands.
    "dbsize", 1, [READONLY FAST WHOLE_DATASET], 0, 0, 0, Server, "1.0.0", db: server::dbsize,
        "Returns the number of keys in the database.";
    "flushdb", -1, [WRITE WHOLE_DATASET], 0, 0, 0, Server, "1.0.0", ks: server::flushdb,
        "Remove all keys from the current database.";
    "flushall", -1, [WRITE WHOLE_DATASET], 0, 0, 0, Server, "1.0.0", ks: server::flushall,
        "Removes all keys from all databases.";
    "swapdb", 3, [WRITE FAST WHOLE_DATASET], 0, 0, 0, Server, "4.0.0", node,
        "Swaps two Redis databases.";

    // Multi-key pops (Redis 7.0). Key positions over-approximate the
    // numkeys-described keys (numkeys..side keyword), which is safe for
    // key-level tracking.
    "lmpop", -4, [WRITE], 2, -2, 1, List, "7.0.0", db: mpop::lmpop,
        "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.";
    "zmpop", -4, [WRITE], 2, -2, 1, SortedSet, "7.0.0", db: mpop::zmpop,
        "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.";
    "blmpop", -5, [WRITE BLOCKING], 3, -2, 1, List, "7.0.0", node,
        "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.";
    "bzmpop", -5, [WRITE BLOCKING], 3, -2, 1, SortedSet, "7.0.0", node,
        "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.";

    // Blocking variants and pub/sub: they wait for data or deliver messages,
    // which is the node's business.
    "blpop", -3, [WRITE BLOCKING], 1, -2, 1, List, "2.0.0", node,
        "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.";
    "brpop", -3, [WRITE BLOCKING], 1, -2, 1, List, "2.0.0", node,
        "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.";
    "brpoplpush", 4, [WRITE DENYOOM BLOCKING], 1, 2, 1, List, "2.2.0", node,
        "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.";
    "blmove", 6, [WRITE DENYOOM BLOCKING], 1, 2, 1, List, "6.2.0", node,
        "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.";
    "bzpopmin", -3, [WRITE BLOCKING FAST], 1, -2, 1, SortedSet, "5.0.0", node,
        "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.";
    "bzpopmax", -3, [WRITE BLOCKING FAST], 1, -2, 1, SortedSet, "5.0.0", node,
        "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.";
    "subscribe", -2, [PUBSUB NOSCRIPT LOADING STALE], 0, 0, 0, PubSub, "2.0.0", node,
        "Listens for messages published to channels.";
    "unsubscribe", -1, [PUBSUB NOSCRIPT LOADING STALE], 0, 0, 0, PubSub, "2.0.0", node,
        "Stops listening to messages posted to channels.";
    "psubscribe", -2, [PUBSUB NOSCRIPT LOADING STALE], 0, 0, 0, PubSub, "2.0.0", node,
        "Listens for messages published to channels that match one or more patterns.";
    "punsubscribe", -1, [PUBSUB NOSCRIPT LOADING STALE], 0, 0, 0, PubSub, "2.0.0", node,
        "Stops listening to messages published to channels that match one or more patterns.";
    "publish", 3, [PUBSUB LOADING STALE FAST MAY_REPLICATE], 0, 0, 0, PubSub, "2.0.0", node,
        "Posts a message to a channel.";
    "pubsub", -2, [], 0, 0, 0, PubSub, "2.8.0", node,
        "A container for Pub/Sub commands.";

    // Connection, transactions and server commands the node implements.
    "ping", -1, [FAST], 0, 0, 0, Connection, "1.0.0", node,
        "Returns the server's liveliness response.";
    "echo", 2, [FAST], 0, 0, 0, Connection, "1.0.0", node,
        "Returns the given string.";
    "hello", -1, [NOSCRIPT LOADING STALE FAST NO_AUTH ALLOW_BUSY], 0, 0, 0, Connection, "6.0.0", node,
        "Handshakes with the Redis server.";
    "select", 2, [LOADING STALE FAST], 0, 0, 0, Connection, "1.0.0", node,
        "Changes the selected database.";
    "auth", -2, [NOSCRIPT LOADING STALE FAST NO_AUTH ALLOW_BUSY], 0, 0, 0, Connection, "1.0.0", node,
        "Authenticates the connection.";
    "quit", -1, [ALLOW_BUSY NOSCRIPT LOADING STALE FAST NO_AUTH], 0, 0, 0, Connection, "1.0.0", node,
        "Closes the connection.";
    "reset", 1, [NOSCRIPT LOADING STALE FAST NO_AUTH ALLOW_BUSY], 0, 0, 0, Connection, "6.2.0", node,
        "Resets the connection.";
    "client", -2, [], 0, 0, 0, Connection, "2.4.0", node,
        "A container for client connection commands.";
    "multi", 1, [NOSCRIPT LOADING STALE FAST ALLOW_BUSY], 0, 0, 0, Transactions, "1.2.0", node,
        "Starts a transaction.";
    "exec", 1, [NOSCRIPT LOADING STALE], 0, 0, 0, Transactions, "1.2.0", node,
        "Executes all commands in a transaction.";
    "discard", 1, [NOSCRIPT LOADING STALE FAST ALLOW_BUSY], 0, 0, 0, Transactions, "2.0.0", node,
        "Discards a transaction.";
    "watch", -2, [NOSCRIPT LOADING STALE FAST ALLOW_BUSY], 1, -1, 1, Transactions, "2.2.0", node,
        "Monitors changes to keys to determine the execution of a transaction.";
    "unwatch", 1, [NOSCRIPT LOADING STALE FAST ALLOW_BUSY], 0, 0, 0, Transactions, "2.2.0", node,
        "Forgets about watched keys of a transaction.";
    "info", -1, [LOADING STALE], 0, 0, 0, Server, "1.0.0", node,
        "Returns information and statistics about the server.";
    "role", 1, [NOSCRIPT LOADING STALE FAST], 0, 0, 0, Server, "2.8.12", node,
        "Returns the replication role.";
    "command", -1, [LOADING STALE], 0, 0, 0, Server, "2.8.13", node,
        "Returns detailed information about all commands.";
    "config", -2, [], 0, 0, 0, Server, "2.0.0", node,
        "A container for server configuration commands.";
    "acl", -2, [], 0, 0, 0, Server, "6.0.0", node,
        "A container for Access List Control commands.";
    "debug", -2, [ADMIN NOSCRIPT LOADING STALE], 0, 0, 0, Server, "1.0.0", node,
        "A container for debugging commands.";
    "slowlog", -2, [], 0, 0, 0, Server, "2.2.12", node,
        "A container for slow log commands.";
    "latency", -2, [], 0, 0, 0, Server, "2.8.13", node,
        "A container for latency diagnostics commands.";
    "memory", -2, [], 0, 0, 0, Server, "4.0.0", node,
        "A container for memory diagnostics commands.";
    "shutdown", -1, [ADMIN NOSCRIPT LOADING STALE NO_MULTI ALLOW_BUSY], 0, 0, 0, Server, "1.0.0", node,
        "Synchronously saves the database(s) to disk and shuts down the Redis server.";
    "failover", -1, [ADMIN NOSCRIPT STALE], 0, 0, 0, Server, "6.2.0", node,
        "Starts a coordinated failover from a server to one of its replicas.";
    "time", 1, [LOADING STALE FAST], 0, 0, 0, Server, "2.6.0", node,
        "Returns the server time.";
    "lastsave", 1, [LOADING STALE FAST], 0, 0, 0, Server, "1.0.0", node,
        "Returns the Unix timestamp of the last successful save to disk.";
    "bgsave", -1, [ADMIN NOSCRIPT], 0, 0, 0, Server, "1.0.0", node,
        "Asynchronously saves the database(s) to disk.";
    "save", 1, [ADMIN NOSCRIPT NO_MULTI], 0, 0, 0, Server, "1.0.0", node,
        "Synchronously saves the database(s) to disk.";
    "readonly", 1, [LOADING STALE FAST], 0, 0, 0, Cluster, "3.0.0", node,
        "Enables read-only queries for a connection to a Redis Cluster replica node.";
    "readwrite", 1, [LOADING STALE FAST], 0, 0, 0, Cluster, "3.0.0", node,
        "Enables read-write queries for a connection to a Redis Cluster replica node.";
}

/// Longer names cannot be commands; they are not even lowercased.
const LONGEST_NAME: usize = 24;

fn index() -> &'static HashMap<&'static [u8], usize> {
    static INDEX: OnceLock<HashMap<&'static [u8], usize>> = OnceLock::new();
    INDEX.get_or_init(|| {
        COMMANDS
            .iter()
            .enumerate()
            .map(|(position, spec)| (spec.name.as_bytes(), position))
            .collect()
    })
}

/// Position of a command in [`COMMANDS`] (and [`DOCS`]), case-insensitively.
pub fn position(name: &[u8]) -> Option<usize> {
    let mut buffer = [0u8; LONGEST_NAME];
    let lower = buffer.get_mut(..name.len())?;
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    index().get(&*lower).copied()
}

/// Position of `spec` in [`COMMANDS`], from its address (every spec the
/// table hands out lives there): per-command statistics are kept by
/// position without hashing names on every call.
pub fn index_of(spec: &CommandSpec) -> Option<usize> {
    let size = std::mem::size_of::<CommandSpec>();
    let offset = (spec as *const CommandSpec as usize).checked_sub(COMMANDS.as_ptr() as usize)?;
    let index = offset / size;
    (offset % size == 0 && index < COMMANDS.len()).then_some(index)
}

pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    position(name).and_then(|position| COMMANDS.get(position))
}

pub fn doc(position: usize) -> Option<&'static CommandDoc> {
    DOCS.get(position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_of_finds_every_spec() {
        for (position, spec) in COMMANDS.iter().enumerate() {
            assert_eq!(index_of(spec), Some(position), "{}", spec.name);
            assert_eq!(lookup(spec.name.as_bytes()).and_then(index_of), Some(position));
        }
    }

    #[test]
    fn names_are_unique_lowercase_and_short() {
        assert_eq!(COMMANDS.len(), DOCS.len());
        assert_eq!(index().len(), COMMANDS.len(), "duplicate command names");
        for spec in COMMANDS {
            assert!(spec.name.len() <= LONGEST_NAME, "{}", spec.name);
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(spec.arity != 0, "{}", spec.name);
        }
    }

    #[test]
    fn lookup_ignores_case() {
        assert_eq!(lookup(b"GeT").map(|spec| spec.name), Some("get"));
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
        assert!(lookup(b"").is_none());
    }

    #[test]
    fn writes_and_reads_are_flagged() {
        for spec in COMMANDS {
            let write = spec.flags & flags::WRITE != 0;
            let read = spec.flags & flags::READONLY != 0;
            assert!(!(write && read), "{}", spec.name);
            if matches!(spec.kind, CommandKind::Data(_)) {
                assert!(write || read, "data command {} is neither read nor write", spec.name);
            }
        }
    }
}
