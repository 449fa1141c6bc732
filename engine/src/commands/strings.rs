//! String commands: GET, SET and its variants, counters, APPEND, ranges.

use bytes::Bytes;

use super::args::{self, is};
use super::errors::{CmdError, CmdResult, NAN_OR_INFINITY, STRING_TOO_LONG};
use crate::keyspace::access::DbAccess;
use crate::keyspace::compact::{CompactBytes, INLINE_CAPACITY};
use crate::keyspace::numbers::{format_human_f64, parse_f64};
use crate::keyspace::value::{Value, MAX_STRING_LEN};
use crate::resp::Reply;

fn ok() -> Reply {
    Reply::SimpleString("OK".to_owned())
}

fn bulk_or_null(value: Option<Bytes>) -> Reply {
    value.map_or(Reply::Null, Reply::Bulk)
}

/// What a write does to the key's time to live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ttl {
    /// Plain SET: the new value has no TTL.
    Clear,
    /// KEEPTTL, and counters: a live key keeps its TTL.
    Keep,
    /// Expires at this unix time in ms.
    At(i64),
}

/// Stores a string under `key`, `live` being the key's position if it is
/// live (so KEEPTTL keeps only a TTL that still counts, and an existing
/// key is overwritten in place without hashing it again).
fn store(db: &mut DbAccess<'_>, key: &[u8], live: Option<usize>, value: Value, ttl: Ttl) {
    let Some(pos) = live else {
        let expire_at = match ttl {
            Ttl::At(at) => Some(at),
            Ttl::Clear | Ttl::Keep => None,
        };
        db.put(key, value, expire_at);
        return;
    };
    if let Some(slot) = db.value_mut(pos) {
        *slot = value;
    }
    match ttl {
        Ttl::Keep => {}
        Ttl::Clear => db.set_expire(pos, None),
        Ttl::At(at) => db.set_expire(pos, Some(at)),
    }
}

/// The effect of a SET that happened: `SET key value [PXAT ms | KEEPTTL]`.
fn set_effect(key: &Bytes, value: &Bytes, ttl: Ttl) -> Vec<Bytes> {
    let mut argv = vec![Bytes::from_static(b"SET"), key.clone(), value.clone()];
    match ttl {
        Ttl::Clear => {}
        Ttl::Keep => argv.push(Bytes::from_static(b"KEEPTTL")),
        Ttl::At(at) => {
            argv.push(Bytes::from_static(b"PXAT"));
            argv.push(args::bulk_i64(at));
        }
    }
    argv
}

/// Turns an expire argument into an absolute unix time in ms, with Redis's
/// checks (`getExpireMillisecondsOrReply`): not positive, or overflowing
/// once converted, is an invalid expire time.
fn absolute_expiry(arg: &[u8], seconds: bool, relative: bool, now_ms: i64) -> Result<i64, CmdError> {
    let value = args::int(arg)?;
    if value <= 0 {
        return Err(CmdError::InvalidExpire);
    }
    let ms = if seconds {
        value.checked_mul(1000).ok_or(CmdError::InvalidExpire)?
    } else {
        value
    };
    let at = if relative {
        ms.checked_add(now_ms).ok_or(CmdError::InvalidExpire)?
    } else {
        ms
    };
    if at <= 0 {
        return Err(CmdError::InvalidExpire);
    }
    Ok(at)
}

pub fn get(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    Ok(bulk_or_null(db.get_str(key)?.map(|value| value.to_bytes())))
}

/// How SET was told to expire the key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireOption {
    None,
    KeepTtl,
    /// EX/PX (relative) or EXAT/PXAT (absolute), seconds or milliseconds.
    Given {
        arg_index: usize,
        seconds: bool,
        relative: bool,
    },
}

struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    expire: ExpireOption,
}

/// `(seconds, relative)` for the expiry keywords SET and GETEX share.
fn expiry_keyword(arg: &[u8]) -> Option<(bool, bool)> {
    [
        ("EX", true, true),
        ("PX", false, true),
        ("EXAT", true, false),
        ("PXAT", false, false),
    ]
    .into_iter()
    .find(|(name, ..)| is(arg, name))
    .map(|(_, seconds, relative)| (seconds, relative))
}

/// Parses SET's options with Redis 7.0's rules: NX/XX exclude each other,
/// KEEPTTL and the four expiry forms exclude each other, each may repeat
/// (the last expiry value wins), anything else is a syntax error.
fn parse_set_options(argv: &[Bytes]) -> Result<SetOptions, CmdError> {
    let mut options = SetOptions {
        nx: false,
        xx: false,
        get: false,
        expire: ExpireOption::None,
    };
    let mut i = 3;
    while let Some(arg) = argv.get(i) {
        let consumed = if is(arg, "NX") && !options.xx {
            options.nx = true;
            1
        } else if is(arg, "XX") && !options.nx {
            options.xx = true;
            1
        } else if is(arg, "GET") {
            options.get = true;
            1
        } else if is(arg, "KEEPTTL") && matches!(options.expire, ExpireOption::None | ExpireOption::KeepTtl) {
            options.expire = ExpireOption::KeepTtl;
            1
        } else if let Some((seconds, relative)) = expiry_keyword(arg) {
            let compatible = match options.expire {
                ExpireOption::None => true,
                ExpireOption::KeepTtl => false,
                ExpireOption::Given {
                    seconds: s,
                    relative: r,
                    ..
                } => (s, r) == (seconds, relative),
            };
            if !compatible || i + 1 >= argv.len() {
                return Err(CmdError::SYNTAX);
            }
            options.expire = ExpireOption::Given {
                arg_index: i + 1,
                seconds,
                relative,
            };
            2
        } else {
            return Err(CmdError::SYNTAX);
        };
        i += consumed;
    }
    Ok(options)
}

pub fn set(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, value, ..] = argv else {
        return Err(CmdError::Arity);
    };
    let options = parse_set_options(argv)?;
    let ttl = match options.expire {
        ExpireOption::None => Ttl::Clear,
        ExpireOption::KeepTtl => Ttl::Keep,
        ExpireOption::Given {
            arg_index,
            seconds,
            relative,
        } => {
            let arg = argv.get(arg_index).ok_or(CmdError::SYNTAX)?;
            Ttl::At(absolute_expiry(arg, seconds, relative, db.now_ms())?)
        }
    };
    let old = if options.get {
        Some(db.get_str(key)?.map(|old| old.to_bytes()))
    } else {
        None
    };
    let live = db.lookup(key);
    if (options.nx && live.is_some()) || (options.xx && live.is_none()) {
        return Ok(bulk_or_null(old.flatten()));
    }
    store(db, key, live, Value::string(value), ttl);
    db.propagate(set_effect(key, value, ttl));
    Ok(match old {
        Some(old) => bulk_or_null(old),
        None => ok(),
    })
}

pub fn setnx(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, value] = argv else {
        return Err(CmdError::Arity);
    };
    if db.lookup(key).is_some() {
        return Ok(Reply::Integer(0));
    }
    db.put(key, Value::string(value), None);
    db.propagate(set_effect(key, value, Ttl::Clear));
    Ok(Reply::Integer(1))
}

fn set_with_expiry(db: &mut DbAccess<'_>, argv: &[Bytes], seconds: bool) -> CmdResult {
    let [_, key, time, value] = argv else {
        return Err(CmdError::Arity);
    };
    let at = absolute_expiry(time, seconds, true, db.now_ms())?;
    // Like Redis's SET path, a lookup first deletes an expired key (and
    // records it) before the write.
    db.lookup(key);
    db.put(key, Value::string(value), Some(at));
    db.propagate(set_effect(key, value, Ttl::At(at)));
    Ok(ok())
}

pub fn setex(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    set_with_expiry(db, argv, true)
}

pub fn psetex(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    set_with_expiry(db, argv, false)
}

pub fn getset(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, value] = argv else {
        return Err(CmdError::Arity);
    };
    let old = db.get_str(key)?.map(|old| old.to_bytes());
    db.put(key, Value::string(value), None);
    db.propagate(set_effect(key, value, Ttl::Clear));
    Ok(bulk_or_null(old))
}

pub fn getdel(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    let Some(old) = db.get_str(key)?.map(|old| old.to_bytes()) else {
        return Ok(Reply::Null);
    };
    db.delete(key);
    db.propagate(vec![Bytes::from_static(b"DEL"), key.clone()]);
    Ok(Reply::Bulk(old))
}

/// GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST].
pub fn getex(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, options @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    enum Change {
        None,
        Persist,
        At(i64),
    }
    let mut given: Option<(usize, bool, bool)> = None;
    let mut persist = false;
    let mut i = 0;
    while let Some(option) = options.get(i) {
        let has_next = i + 1 < options.len();
        match expiry_keyword(option) {
            Some((seconds, relative))
                if has_next && !persist && given.is_none_or(|(_, s, r)| (s, r) == (seconds, relative)) =>
            {
                given = Some((i + 1, seconds, relative));
                i += 2;
            }
            None if is(option, "PERSIST") && given.is_none() => {
                persist = true;
                i += 1;
            }
            _ => return Err(CmdError::SYNTAX),
        }
    }
    let change = match given {
        Some((index, seconds, relative)) => {
            let arg = options.get(index).ok_or(CmdError::SYNTAX)?;
            Change::At(absolute_expiry(arg, seconds, relative, db.now_ms())?)
        }
        None if persist => Change::Persist,
        None => Change::None,
    };
    let Some(pos) = db.lookup(key) else {
        return Ok(Reply::Null);
    };
    let value = match db.value(pos).and_then(Value::as_str) {
        Some(value) => value.to_bytes(),
        None => return Err(CmdError::WRONG_TYPE),
    };
    match change {
        Change::None => {}
        Change::At(at) if at <= db.now_ms() && db.deletes_expired() => {
            db.remove_at(pos);
            db.propagate(vec![Bytes::from_static(b"DEL"), key.clone()]);
        }
        Change::At(at) => {
            db.set_expire(pos, Some(at));
            db.propagate(vec![Bytes::from_static(b"PEXPIREAT"), key.clone(), args::bulk_i64(at)]);
        }
        Change::Persist => {
            if db.expire_at(pos).is_some() {
                db.set_expire(pos, None);
                db.propagate(vec![Bytes::from_static(b"PERSIST"), key.clone()]);
            }
        }
    }
    Ok(Reply::Bulk(value))
}

pub fn mget(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let keys = argv.get(1..).unwrap_or_default();
    let replies = keys
        .iter()
        .map(|key| match db.get(key).and_then(Value::as_str) {
            Some(value) => Reply::Bulk(value.to_bytes()),
            // MGET answers nil for a key of another type, not WRONGTYPE.
            None => Reply::Null,
        })
        .collect();
    Ok(Reply::Array(replies))
}

pub fn mset(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let pairs = argv.get(1..).unwrap_or_default();
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(CmdError::Arity);
    }
    for pair in pairs.chunks_exact(2) {
        if let [key, value] = pair {
            db.lookup(key);
            db.put(key, Value::string(value), None);
        }
    }
    let mut effect = Vec::with_capacity(argv.len());
    effect.push(Bytes::from_static(b"MSET"));
    effect.extend(pairs.iter().cloned());
    db.propagate(effect);
    Ok(ok())
}

pub fn msetnx(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let pairs = argv.get(1..).unwrap_or_default();
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(CmdError::Arity);
    }
    let mut any_exists = false;
    for key in pairs.iter().step_by(2) {
        any_exists |= db.lookup(key).is_some();
    }
    if any_exists {
        return Ok(Reply::Integer(0));
    }
    mset(db, argv)?;
    Ok(Reply::Integer(1))
}

/// INCR and friends: adds `delta` to the integer at `key` (0 if missing),
/// keeping its TTL. The command is deterministic, so it is its own effect.
fn add_to_integer(db: &mut DbAccess<'_>, argv: &[Bytes], key: &[u8], delta: i64) -> CmdResult {
    let live = db.lookup(key);
    let current = match live {
        None => 0,
        Some(pos) => match db.value(pos).and_then(Value::as_str) {
            Some(value) => value.as_i64().ok_or(CmdError::NOT_INTEGER)?,
            None => return Err(CmdError::WRONG_TYPE),
        },
    };
    let updated = current.checked_add(delta).ok_or(CmdError::OVERFLOW)?;
    store(db, key, live, Value::Int(updated), Ttl::Keep);
    db.propagate(argv.to_vec());
    Ok(Reply::Integer(updated))
}

pub fn incr(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    add_to_integer(db, argv, key, 1)
}

pub fn decr(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    add_to_integer(db, argv, key, -1)
}

pub fn incrby(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, delta] = argv else {
        return Err(CmdError::Arity);
    };
    add_to_integer(db, argv, key, args::int(delta)?)
}

pub fn decrby(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, delta] = argv else {
        return Err(CmdError::Arity);
    };
    let delta = args::int(delta)?;
    let negated = delta
        .checked_neg()
        .ok_or_else(|| CmdError::Text("ERR decrement would overflow".to_owned()))?;
    add_to_integer(db, argv, key, negated)
}

pub fn incrbyfloat(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, delta] = argv else {
        return Err(CmdError::Arity);
    };
    let delta = args::float(delta)?;
    let live = db.lookup(key);
    let current = match live {
        None => 0.0,
        Some(pos) => match db.value(pos).and_then(Value::as_str) {
            Some(value) => value.with_bytes(parse_f64).ok_or(CmdError::NOT_FLOAT)?,
            None => return Err(CmdError::WRONG_TYPE),
        },
    };
    let updated = current + delta;
    if !updated.is_finite() {
        return Err(CmdError::Static(NAN_OR_INFINITY));
    }
    let text = Bytes::from(format_human_f64(updated));
    store(db, key, live, Value::string(&text), Ttl::Keep);
    // Float arithmetic is replayed as its result, never recomputed.
    db.propagate(set_effect(key, &text, Ttl::Keep));
    Ok(Reply::Bulk(text))
}

/// The string value grown in place: short results stay inline, longer ones
/// keep spare capacity for the next append.
fn grow_string(value: &mut Value, tail: &[u8]) {
    if let Value::Growable(buffer) = value {
        buffer.extend_from_slice(tail);
        return;
    }
    let mut bytes = value.as_str().map(|current| current.to_vec()).unwrap_or_default();
    bytes.extend_from_slice(tail);
    *value = if bytes.len() <= INLINE_CAPACITY {
        Value::Str(CompactBytes::new(&bytes))
    } else {
        Value::Growable(Box::new(bytes))
    };
}

pub fn append(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, tail] = argv else {
        return Err(CmdError::Arity);
    };
    let length = match db.lookup(key) {
        None => {
            db.put(key, Value::Str(CompactBytes::new(tail)), None);
            tail.len()
        }
        Some(pos) => {
            let Some(value) = db.value_mut(pos) else {
                return Err(CmdError::WRONG_TYPE);
            };
            let Some(current) = value.as_str() else {
                return Err(CmdError::WRONG_TYPE);
            };
            let length = current.len().saturating_add(tail.len());
            if length > MAX_STRING_LEN {
                return Err(CmdError::Static(STRING_TOO_LONG));
            }
            grow_string(value, tail);
            length
        }
    };
    db.propagate(argv.to_vec());
    Ok(Reply::Integer(i64::try_from(length).unwrap_or(i64::MAX)))
}

pub fn strlen(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    let length = db.get_str(key)?.map_or(0, |value| value.len());
    Ok(Reply::Integer(i64::try_from(length).unwrap_or(i64::MAX)))
}

pub fn getrange(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, start, end] = argv else {
        return Err(CmdError::Arity);
    };
    let (start, end) = (args::int(start)?, args::int(end)?);
    let Some(value) = db.get_str(key)? else {
        return Ok(Reply::Bulk(Bytes::new()));
    };
    // Redis 7.0's own clamping, which differs from LRANGE's: a negative
    // end below the start of the string still yields the first byte.
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::Bulk(Bytes::new()));
    }
    let slice = value.with_bytes(|bytes| {
        let len = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let start = if start < 0 { start.saturating_add(len) } else { start }.max(0);
        let end = if end < 0 { end.saturating_add(len) } else { end }.max(0).min(len - 1);
        if start > end || len == 0 {
            return Bytes::new();
        }
        let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
            return Bytes::new();
        };
        Bytes::copy_from_slice(bytes.get(start..=end).unwrap_or_default())
    });
    Ok(Reply::Bulk(slice))
}

pub fn setrange(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, offset, patch] = argv else {
        return Err(CmdError::Arity);
    };
    let offset = args::int(offset)?;
    let offset = usize::try_from(offset).map_err(|_| CmdError::Text("ERR offset is out of range".to_owned()))?;
    let live = db.lookup(key);
    let current_len = match live {
        None => 0,
        Some(pos) => db.value(pos).and_then(Value::as_str).ok_or(CmdError::WRONG_TYPE)?.len(),
    };
    if patch.is_empty() {
        // Nothing to write: the length as it is, and no key created.
        return Ok(Reply::Integer(i64::try_from(current_len).unwrap_or(i64::MAX)));
    }
    let needed = offset
        .checked_add(patch.len())
        .ok_or(CmdError::Static(STRING_TOO_LONG))?;
    if needed > MAX_STRING_LEN {
        return Err(CmdError::Static(STRING_TOO_LONG));
    }
    let pos = match live {
        Some(pos) => pos,
        None => db.put(key, Value::Str(CompactBytes::new(b"")), None),
    };
    let Some(value) = db.value_mut(pos) else {
        return Err(CmdError::WRONG_TYPE);
    };
    let mut bytes = match std::mem::replace(value, Value::Int(0)) {
        Value::Growable(buffer) => *buffer,
        other => other.as_str().map(|current| current.to_vec()).unwrap_or_default(),
    };
    if bytes.len() < needed {
        bytes.resize(needed, 0);
    }
    if let Some(target) = bytes.get_mut(offset..needed) {
        target.copy_from_slice(patch);
    }
    let length = bytes.len();
    *value = if length <= INLINE_CAPACITY {
        Value::Str(CompactBytes::new(&bytes))
    } else {
        Value::Growable(Box::new(bytes))
    };
    db.propagate(argv.to_vec());
    Ok(Reply::Integer(i64::try_from(length).unwrap_or(i64::MAX)))
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: Redis
/// 7.0's dynamic-programming table, walked back from the end the same way
/// so that the reported match ranges are the ones Redis reports.
pub fn lcs(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, first_key, second_key, options @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let first = db.get(first_key).map(|value| value.as_str().map(|text| text.to_vec()));
    let second = db.get(second_key).map(|value| value.as_str().map(|text| text.to_vec()));
    let (Some(a), Some(b)) = (first.unwrap_or(Some(Vec::new())), second.unwrap_or(Some(Vec::new()))) else {
        return Err(CmdError::Static("ERR The specified keys must contain string values"));
    };
    let (mut want_len, mut want_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: u64 = 0;
    let mut i = 0;
    while let Some(option) = options.get(i) {
        if is(option, "IDX") {
            want_idx = true;
        } else if is(option, "LEN") {
            want_len = true;
        } else if is(option, "WITHMATCHLEN") {
            with_match_len = true;
        } else if is(option, "MINMATCHLEN") && i + 1 < options.len() {
            let value = args::int(options.get(i + 1).ok_or(CmdError::SYNTAX)?)?;
            min_match_len = u64::try_from(value).unwrap_or(0);
            i += 1;
        } else {
            return Err(CmdError::SYNTAX);
        }
        i += 1;
    }
    if want_idx && want_len {
        return Err(CmdError::Static(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    if u32::try_from(a.len()).map_or(true, |len| len >= u32::MAX - 1)
        || u32::try_from(b.len()).map_or(true, |len| len >= u32::MAX - 1)
    {
        return Err(CmdError::Static("ERR String too long for LCS"));
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen + 1).checked_mul(blen + 1);
    let table_bytes = cells.and_then(|cells| cells.checked_mul(std::mem::size_of::<u32>()));
    let Some(cells) = cells.filter(|_| table_bytes.is_some_and(|bytes| bytes <= MAX_STRING_LEN)) else {
        return Err(CmdError::Static(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    };
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells).is_err() {
        return Err(CmdError::Static(
            "ERR Insufficient memory, failed allocating transient memory for LCS",
        ));
    }
    table.resize(cells, 0);
    let width = blen + 1;
    let at = |table: &[u32], i: usize, j: usize| table.get(j + i * width).copied().unwrap_or(0);
    for (i, &left) in a.iter().enumerate() {
        for (j, &right) in b.iter().enumerate() {
            let value = if left == right {
                at(&table, i, j) + 1
            } else {
                at(&table, i, j + 1).max(at(&table, i + 1, j))
            };
            if let Some(cell) = table.get_mut((j + 1) + (i + 1) * width) {
                *cell = value;
            }
        }
    }
    let total = at(&table, alen, blen);
    if want_len {
        return Ok(Reply::Integer(i64::from(total)));
    }
    // Walk back from the end, collecting the common bytes (backwards) and
    // the contiguous ranges of matches.
    let mut common: Vec<u8> = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let mut matches = Vec::new();
    // (a_start, a_end, b_start, b_end) of the range being extended.
    let mut current: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        let (Some(&left), Some(&right)) = (a.get(i - 1), b.get(j - 1)) else {
            break;
        };
        if left == right {
            common.push(left);
            current = match current {
                None => Some((i - 1, i - 1, j - 1, j - 1)),
                Some((a_start, a_end, b_start, b_end)) if a_start == i && b_start == j => {
                    Some((a_start - 1, a_end, b_start - 1, b_end))
                }
                Some(range) => {
                    emit = true;
                    Some(range)
                }
            };
            if current.is_some_and(|(a_start, _, b_start, _)| a_start == 0 || b_start == 0) {
                emit = true;
            }
            i -= 1;
            j -= 1;
        } else {
            if at(&table, i - 1, j) > at(&table, i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = current.is_some();
        }
        if emit {
            if let Some((a_start, a_end, b_start, b_end)) = current.take() {
                let length = a_end - a_start + 1;
                if want_idx && u64::try_from(length).unwrap_or(u64::MAX) >= min_match_len {
                    let int = |value: usize| Reply::Integer(i64::try_from(value).unwrap_or(i64::MAX));
                    let mut entry = vec![
                        Reply::Array(vec![int(a_start), int(a_end)]),
                        Reply::Array(vec![int(b_start), int(b_end)]),
                    ];
                    if with_match_len {
                        entry.push(int(length));
                    }
                    matches.push(Reply::Array(entry));
                }
            }
        }
    }
    if want_idx {
        return Ok(Reply::Map(vec![
            (Reply::Bulk(Bytes::from_static(b"matches")), Reply::Array(matches)),
            (
                Reply::Bulk(Bytes::from_static(b"len")),
                Reply::Integer(i64::from(total)),
            ),
        ]));
    }
    common.reverse();
    Ok(Reply::Bulk(Bytes::from(common)))
}
