//! Generic key commands: existence, deletion, types, expiry, renaming,
//! OBJECT, KEYS and RANDOMKEY (SCAN is in `scan`).

use bytes::Bytes;

use super::args::{self, is};
use super::errors::{CmdError, CmdResult, DB_OUT_OF_RANGE, NO_SUCH_KEY};
use super::{glob, Effect, ExecCtx};
use crate::keyspace::access::DbAccess;
use crate::keyspace::compact::CompactBytes;
use crate::keyspace::eviction::AccessMode;
use crate::keyspace::hash::HashValue;
use crate::keyspace::list::{End, ListValue};
use crate::keyspace::set::SetValue;
use crate::keyspace::value::Value;
use crate::keyspace::Keyspace;
use crate::resp::Reply;

const SAME_OBJECT: &str = "ERR source and destination objects are the same";

fn count(n: usize) -> Reply {
    Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// DEL and UNLINK (memory is freed inline either way). The effect lists
/// only the keys that were there.
pub fn del(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let mut effect = vec![Bytes::from_static(b"DEL")];
    for key in argv.get(1..).unwrap_or_default() {
        if db.delete(key) {
            effect.push(key.clone());
        }
    }
    let deleted = effect.len() - 1;
    if deleted > 0 {
        db.propagate(effect);
    }
    Ok(count(deleted))
}

pub fn exists(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let keys = argv.get(1..).unwrap_or_default();
    Ok(count(keys.iter().filter(|key| db.exists(key)).count()))
}

/// TOUCH: like EXISTS here, as this server keeps no access times.
pub fn touch(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    exists(db, argv)
}

pub fn type_(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    let name = db.get(key).map_or("none", |value| value.value_type().name());
    Ok(Reply::SimpleString(name.to_owned()))
}

/// EXPIRE's NX / XX / GT / LT.
#[derive(Default)]
struct ExpireConditions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_conditions(options: &[Bytes]) -> Result<ExpireConditions, CmdError> {
    let mut conditions = ExpireConditions::default();
    for option in options {
        if is(option, "NX") {
            conditions.nx = true;
        } else if is(option, "XX") {
            conditions.xx = true;
        } else if is(option, "GT") {
            conditions.gt = true;
        } else if is(option, "LT") {
            conditions.lt = true;
        } else {
            return Err(CmdError::Text(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(option)
            )));
        }
    }
    if conditions.nx && (conditions.xx || conditions.gt || conditions.lt) {
        return Err(CmdError::Text(
            "ERR NX and XX, GT or LT options at the same time are not compatible".to_owned(),
        ));
    }
    if conditions.gt && conditions.lt {
        return Err(CmdError::Text(
            "ERR GT and LT options at the same time are not compatible".to_owned(),
        ));
    }
    Ok(conditions)
}

/// Whether the conditions allow replacing `current` (None = no TTL, which
/// GT and LT treat as infinite) with `when`.
fn conditions_allow(conditions: &ExpireConditions, current: Option<i64>, when: i64) -> bool {
    if conditions.nx && current.is_some() {
        return false;
    }
    if conditions.xx && current.is_none() {
        return false;
    }
    if conditions.gt && current.is_none_or(|current| when <= current) {
        return false;
    }
    if conditions.lt && current.is_some_and(|current| when >= current) {
        return false;
    }
    true
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT. Propagated as `PEXPIREAT key ms`,
/// or as `DEL key` when the time is already past on the primary.
fn expire_generic(db: &mut DbAccess<'_>, argv: &[Bytes], seconds: bool, relative: bool) -> CmdResult {
    let [_, key, time, options @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let conditions = parse_expire_conditions(options)?;
    let mut when = args::int(time)?;
    if seconds {
        when = when.checked_mul(1000).ok_or(CmdError::InvalidExpire)?;
    }
    if relative {
        when = when.checked_add(db.now_ms()).ok_or(CmdError::InvalidExpire)?;
    }
    let Some(pos) = db.lookup(key) else {
        return Ok(Reply::Integer(0));
    };
    if !conditions_allow(&conditions, db.expire_at(pos), when) {
        return Ok(Reply::Integer(0));
    }
    if db.deletes_expired() && when <= db.now_ms() {
        db.remove_at(pos);
        db.propagate(vec![Bytes::from_static(b"DEL"), key.clone()]);
    } else {
        db.set_expire(pos, Some(when));
        db.propagate(vec![
            Bytes::from_static(b"PEXPIREAT"),
            key.clone(),
            args::bulk_i64(when),
        ]);
    }
    Ok(Reply::Integer(1))
}

pub fn expire(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    expire_generic(db, argv, true, true)
}

pub fn pexpire(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    expire_generic(db, argv, false, true)
}

pub fn expireat(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    expire_generic(db, argv, true, false)
}

pub fn pexpireat(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    expire_generic(db, argv, false, false)
}

/// How TTL-family commands report a key's expiry.
#[derive(Clone, Copy)]
enum TtlOutput {
    RemainingSeconds,
    RemainingMs,
    AtSeconds,
    AtMs,
}

fn ttl_generic(db: &mut DbAccess<'_>, argv: &[Bytes], output: TtlOutput) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    let Some(pos) = db.lookup(key) else {
        return Ok(Reply::Integer(-2));
    };
    let Some(at) = db.expire_at(pos) else {
        return Ok(Reply::Integer(-1));
    };
    let remaining = at.saturating_sub(db.now_ms()).max(0);
    Ok(Reply::Integer(match output {
        // Rounded to the nearest second, as Redis does.
        TtlOutput::RemainingSeconds => remaining.saturating_add(500) / 1000,
        TtlOutput::RemainingMs => remaining,
        TtlOutput::AtSeconds => at / 1000,
        TtlOutput::AtMs => at,
    }))
}

pub fn ttl(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    ttl_generic(db, argv, TtlOutput::RemainingSeconds)
}

pub fn pttl(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    ttl_generic(db, argv, TtlOutput::RemainingMs)
}

pub fn expiretime(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    ttl_generic(db, argv, TtlOutput::AtSeconds)
}

pub fn pexpiretime(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    ttl_generic(db, argv, TtlOutput::AtMs)
}

pub fn persist(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    let Some(pos) = db.lookup(key) else {
        return Ok(Reply::Integer(0));
    };
    if db.expire_at(pos).is_none() {
        return Ok(Reply::Integer(0));
    }
    db.set_expire(pos, None);
    db.propagate(vec![Bytes::from_static(b"PERSIST"), key.clone()]);
    Ok(Reply::Integer(1))
}

/// RENAME and RENAMENX: the value moves with its TTL.
fn rename_generic(db: &mut DbAccess<'_>, argv: &[Bytes], only_if_new: bool) -> CmdResult {
    let [_, source, target] = argv else {
        return Err(CmdError::Arity);
    };
    if db.lookup(source).is_none() {
        return Err(CmdError::Static(NO_SUCH_KEY));
    }
    if source == target {
        return Ok(if only_if_new {
            Reply::Integer(0)
        } else {
            Reply::SimpleString("OK".to_owned())
        });
    }
    if only_if_new && db.lookup(target).is_some() {
        return Ok(Reply::Integer(0));
    }
    // Looking the target up may have deleted it (expired), which can move
    // entries, so find the source again.
    db.lookup(target);
    let Some(pos) = db.lookup(source) else {
        return Err(CmdError::Static(NO_SUCH_KEY));
    };
    let expire_at = db.expire_at(pos);
    let Some(value) = db.remove_at(pos) else {
        return Err(CmdError::Static(NO_SUCH_KEY));
    };
    db.put(target, value, expire_at);
    db.propagate(argv.to_vec());
    Ok(if only_if_new {
        Reply::Integer(1)
    } else {
        Reply::SimpleString("OK".to_owned())
    })
}

pub fn rename(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    rename_generic(db, argv, false)
}

pub fn renamenx(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    rename_generic(db, argv, true)
}

/// OBJECT ENCODING | REFCOUNT | IDLETIME | FREQ | HELP.
pub fn object(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let subcommand = argv.get(1).map(|sub| sub.to_ascii_lowercase()).unwrap_or_default();
    if subcommand == b"help" && argv.len() == 2 {
        let lines = [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Print this help.",
        ];
        return Ok(Reply::Array(
            lines
                .iter()
                .map(|line| Reply::SimpleString((*line).to_owned()))
                .collect(),
        ));
    }
    let known = matches!(&subcommand[..], b"encoding" | b"refcount" | b"idletime" | b"freq");
    let [_, _, key] = argv else {
        return Err(CmdError::Text(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(argv.get(1).map(|sub| &sub[..]).unwrap_or_default())
        )));
    };
    if !known {
        return Err(CmdError::Text(format!(
            "ERR unknown subcommand '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(argv.get(1).map(|sub| &sub[..]).unwrap_or_default())
        )));
    }
    // Reading a key's idle time must not reset it (Redis's LOOKUP_NOTOUCH).
    let Some(pos) = db.lookup_untouched(key) else {
        return Ok(Reply::Null);
    };
    let Some(value) = db.value(pos) else {
        return Ok(Reply::Null);
    };
    let tracking = db.access_tracking();
    let stamp = db.db().access_stamp(pos).unwrap_or_default();
    match (&subcommand[..], tracking.mode) {
        (b"encoding", _) => Ok(Reply::Bulk(Bytes::from_static(value.encoding_name().as_bytes()))),
        (b"refcount", _) => Ok(Reply::Integer(1)),
        (b"idletime", AccessMode::Lru) => Ok(Reply::Integer(i64::from(tracking.idle_seconds(stamp)))),
        (b"idletime", AccessMode::Lfu) => Err(CmdError::Static(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        )),
        (_, AccessMode::Lfu) => Ok(Reply::Integer(i64::from(tracking.decayed_counter(stamp)))),
        (_, AccessMode::Lru) => Err(CmdError::Static(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        )),
    }
}

/// Whether the entry at `pos` is expired for a read that must not delete
/// (KEYS skips such keys without deleting them, as Redis does).
fn expired_for_listing(db: &DbAccess<'_>, pos: usize) -> bool {
    use crate::commands::Clock;
    let now = match db.clock() {
        Clock::Primary { now_ms } | Clock::Replica { now_ms } => now_ms,
        Clock::Apply => return false,
    };
    db.expire_at(pos).is_some_and(|at| at <= now)
}

pub fn keys(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, pattern] = argv else {
        return Err(CmdError::Arity);
    };
    let match_all = pattern[..] == b"*"[..];
    let mut found = Vec::new();
    for (pos, entry) in db.db().entries().enumerate() {
        if (match_all || glob::matches(pattern, entry.key())) && !expired_for_listing(db, pos) {
            found.push(Reply::Bulk(Bytes::copy_from_slice(entry.key())));
        }
    }
    Ok(Reply::Array(found))
}

pub fn randomkey(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() != 1 {
        return Err(CmdError::Arity);
    }
    // On the primary an expired pick is deleted and another drawn; where
    // keys cannot be deleted (a replica), Redis gives up after 100 expired
    // picks and returns one anyway, and so do we.
    const MAX_EXPIRED_PICKS: usize = 100;
    let mut expired_picks = 0;
    loop {
        let len = db.db().len();
        if len == 0 {
            return Ok(Reply::Null);
        }
        let pick = db.rng().below(len);
        let Some(key) = db.db().key_bytes_at(pick) else {
            return Ok(Reply::Null);
        };
        if db.lookup(&key).is_some() {
            return Ok(Reply::Bulk(key));
        }
        expired_picks += 1;
        if !db.deletes_expired() && expired_picks >= MAX_EXPIRED_PICKS {
            return Ok(Reply::Bulk(key));
        }
    }
}

/// A deep copy of a value (COPY), rebuilt through each type's own insert
/// path so that the copy picks its compact encoding as a new value would.
fn duplicate(value: &Value) -> Value {
    match value {
        Value::Int(number) => Value::Int(*number),
        Value::Str(bytes) => Value::Str(bytes.clone()),
        Value::Growable(bytes) => Value::Str(CompactBytes::new(bytes)),
        Value::List(list) => {
            let mut copy = ListValue::new();
            for element in list.iter() {
                copy.push(End::Tail, element);
            }
            Value::List(Box::new(copy))
        }
        Value::Hash(hash) => {
            let mut copy = HashValue::new();
            for (field, value) in hash.iter() {
                copy.set(field, value);
            }
            Value::Hash(Box::new(copy))
        }
        Value::Set(set) => {
            let mut copy = SetValue::new();
            for member in set.iter() {
                member.with_bytes(|bytes| copy.insert(bytes));
            }
            Value::Set(Box::new(copy))
        }
        Value::ZSet(zset) => Value::ZSet(zset.clone()),
    }
}

/// A database index argument (`getIntFromObjectOrReply`, then `selectDb`).
fn database_index(ks: &Keyspace, arg: &[u8]) -> Result<usize, CmdError> {
    let index = args::int(arg)?;
    if i32::try_from(index).is_err() {
        return Err(CmdError::NOT_INTEGER);
    }
    usize::try_from(index)
        .ok()
        .filter(|&index| index < ks.databases())
        .ok_or(CmdError::Static(DB_OUT_OF_RANGE))
}

/// Runs `f` on database `index` with the command's clock and effect log,
/// so that lazy expiry there is recorded against that database.
fn with_db<R>(
    ks: &mut Keyspace,
    ctx: &mut ExecCtx<'_>,
    index: usize,
    f: impl FnOnce(&mut DbAccess<'_>) -> R,
) -> Result<R, CmdError> {
    let mut other = ExecCtx {
        db: index,
        clock: ctx.clock,
        effects: &mut *ctx.effects,
        effect_room: ctx.effect_room,
    };
    let mut db = ks.access(&mut other).ok_or(CmdError::Static(DB_OUT_OF_RANGE))?;
    Ok(f(&mut db))
}

/// COPY source destination [DB destination-db] [REPLACE]. The copy keeps
/// the source's TTL. Deterministic, so propagated as given.
pub fn copy(ks: &mut Keyspace, ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, source, target, options @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let mut replace = false;
    let mut target_db = ctx.db;
    let mut i = 0;
    while let Some(option) = options.get(i) {
        if is(option, "REPLACE") {
            replace = true;
        } else if is(option, "DB") && i + 1 < options.len() {
            target_db = database_index(ks, options.get(i + 1).ok_or(CmdError::SYNTAX)?)?;
            i += 1;
        } else {
            return Err(CmdError::SYNTAX);
        }
        i += 1;
    }
    if target_db == ctx.db && source == target {
        return Err(CmdError::Static(SAME_OBJECT));
    }
    let source_db = ctx.db;
    let copied = with_db(ks, ctx, source_db, |db| {
        let pos = db.lookup(source)?;
        let value = duplicate(db.value(pos)?);
        Some((value, db.expire_at(pos)))
    })?;
    let Some((value, expire_at)) = copied else {
        return Ok(Reply::Integer(0));
    };
    let stored = with_db(ks, ctx, target_db, |db| {
        if db.lookup(target).is_some() && !replace {
            return false;
        }
        db.put(target, value, expire_at);
        true
    })?;
    if !stored {
        return Ok(Reply::Integer(0));
    }
    ctx.effects.push(Effect {
        db: u32::try_from(source_db).map_err(|_| CmdError::Static(DB_OUT_OF_RANGE))?,
        argv: argv.to_vec(),
    });
    Ok(Reply::Integer(1))
}

/// MOVE key db: the key and its TTL move to another database unless the
/// key exists there. Propagated as given.
pub fn move_(ks: &mut Keyspace, ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, index] = argv else {
        return Err(CmdError::Arity);
    };
    let target_db = database_index(ks, index)?;
    let source_db = ctx.db;
    if target_db == source_db {
        return Err(CmdError::Static(SAME_OBJECT));
    }
    if !with_db(ks, ctx, source_db, |db| db.exists(key))? {
        return Ok(Reply::Integer(0));
    }
    if with_db(ks, ctx, target_db, |db| db.exists(key))? {
        return Ok(Reply::Integer(0));
    }
    let moved = with_db(ks, ctx, source_db, |db| {
        let pos = db.lookup(key)?;
        let expire_at = db.expire_at(pos);
        db.remove_at(pos).map(|value| (value, expire_at))
    })?;
    let Some((value, expire_at)) = moved else {
        return Ok(Reply::Integer(0));
    };
    with_db(ks, ctx, target_db, |db| db.put(key, value, expire_at))?;
    ctx.effects.push(Effect {
        db: u32::try_from(source_db).map_err(|_| CmdError::Static(DB_OUT_OF_RANGE))?,
        argv: argv.to_vec(),
    });
    Ok(Reply::Integer(1))
}
