//! List commands (the non-blocking ones; BLPOP and friends wait for data,
//! which is the node's business). Every list command is deterministic, so
//! each write is its own effect.

use bytes::Bytes;

use super::args::{self, is};
use super::errors::{CmdError, CmdResult, NO_SUCH_KEY};
use crate::keyspace::access::DbAccess;
use crate::keyspace::list::{End, ListValue};
use crate::resp::Reply;

fn count(n: usize) -> Reply {
    Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

/// LPUSH / RPUSH, and with `only_existing` LPUSHX / RPUSHX.
fn push_generic(db: &mut DbAccess<'_>, argv: &[Bytes], end: End, only_existing: bool) -> CmdResult {
    let [_, key, elements @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let list = if only_existing {
        match db.get_mut_as::<ListValue>(key)? {
            Some((_, list)) => list,
            None => return Ok(Reply::Integer(0)),
        }
    } else {
        db.get_or_create::<ListValue>(key)?.1
    };
    for element in elements {
        list.push(end, element);
    }
    let length = list.len();
    db.propagate(argv.to_vec());
    Ok(count(length))
}

pub fn lpush(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    push_generic(db, argv, End::Head, false)
}

pub fn rpush(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    push_generic(db, argv, End::Tail, false)
}

pub fn lpushx(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    push_generic(db, argv, End::Head, true)
}

pub fn rpushx(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    push_generic(db, argv, End::Tail, true)
}

/// LPOP / RPOP key [count].
fn pop_generic(db: &mut DbAccess<'_>, argv: &[Bytes], end: End) -> CmdResult {
    let (key, requested) = match argv {
        [_, key] => (key, None),
        [_, key, count] => (key, Some(args::non_negative(count)?)),
        _ => return Err(CmdError::Arity),
    };
    let Some((pos, list)) = db.get_mut_as::<ListValue>(key)? else {
        return Ok(if requested.is_some() {
            Reply::NullArray
        } else {
            Reply::Null
        });
    };
    let reply = match requested {
        None => list.pop(end).map_or(Reply::Null, |element| bulk(element.as_bytes())),
        Some(0) => return Ok(Reply::Array(Vec::new())),
        Some(wanted) => {
            let popped = wanted.min(list.len());
            let mut elements = Vec::with_capacity(popped);
            for _ in 0..popped {
                if let Some(element) = list.pop(end) {
                    elements.push(bulk(element.as_bytes()));
                }
            }
            Reply::Array(elements)
        }
    };
    db.remove_if_empty(pos);
    db.propagate(argv.to_vec());
    Ok(reply)
}

pub fn lpop(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    pop_generic(db, argv, End::Head)
}

pub fn rpop(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    pop_generic(db, argv, End::Tail)
}

pub fn llen(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    Ok(count(db.get_as::<ListValue>(key)?.map_or(0, ListValue::len)))
}

pub fn lrange(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, start, stop] = argv else {
        return Err(CmdError::Arity);
    };
    let (start, stop) = (args::int(start)?, args::int(stop)?);
    let Some(list) = db.get_as::<ListValue>(key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let elements = match args::clamp_range(start, stop, list.len()) {
        Some((from, to)) => list.range(from, to).map(bulk).collect(),
        None => Vec::new(),
    };
    Ok(Reply::Array(elements))
}

/// A Redis list index (negative from the end) as a position, if in range.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len_signed = i64::try_from(len).ok()?;
    let index = if index < 0 {
        index.checked_add(len_signed)?
    } else {
        index
    };
    usize::try_from(index).ok().filter(|&index| index < len)
}

pub fn lindex(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, index] = argv else {
        return Err(CmdError::Arity);
    };
    let index = args::int(index)?;
    let Some(list) = db.get_as::<ListValue>(key)? else {
        return Ok(Reply::Null);
    };
    Ok(resolve_index(index, list.len())
        .and_then(|at| list.get(at))
        .map_or(Reply::Null, bulk))
}

pub fn lset(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, index, element] = argv else {
        return Err(CmdError::Arity);
    };
    let index = args::int(index)?;
    let Some((_, list)) = db.get_mut_as::<ListValue>(key)? else {
        return Err(CmdError::Static(NO_SUCH_KEY));
    };
    let replaced = resolve_index(index, list.len()).is_some_and(|at| list.set(at, element));
    if !replaced {
        return Err(CmdError::Text("ERR index out of range".to_owned()));
    }
    db.propagate(argv.to_vec());
    Ok(Reply::SimpleString("OK".to_owned()))
}

pub fn ltrim(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, start, stop] = argv else {
        return Err(CmdError::Arity);
    };
    let (start, stop) = (args::int(start)?, args::int(stop)?);
    let ok = Reply::SimpleString("OK".to_owned());
    let Some((pos, list)) = db.get_mut_as::<ListValue>(key)? else {
        return Ok(ok);
    };
    let before = list.len();
    match args::clamp_range(start, stop, before) {
        Some((from, to)) => list.retain_range(from, to),
        None => list.retain_range(1, 0),
    }
    if list.len() != before {
        db.remove_if_empty(pos);
        db.propagate(argv.to_vec());
    }
    Ok(ok)
}

/// LREM key count element: count > 0 from the head, < 0 from the tail,
/// 0 every occurrence.
pub fn lrem(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, limit, element] = argv else {
        return Err(CmdError::Arity);
    };
    let limit = args::int(limit)?;
    let Some((pos, list)) = db.get_mut_as::<ListValue>(key)? else {
        return Ok(Reply::Integer(0));
    };
    let max = if limit == 0 {
        usize::MAX
    } else {
        usize::try_from(limit.unsigned_abs()).unwrap_or(usize::MAX)
    };
    let mut removed = 0usize;
    if limit >= 0 {
        list.retain(|item| {
            if removed < max && item == &element[..] {
                removed += 1;
                false
            } else {
                true
            }
        });
    } else {
        // From the tail: find the positions first, then drop them.
        let doomed: Vec<usize> = list
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, item)| *item == &element[..])
            .take(max)
            .map(|(at, _)| at)
            .collect();
        removed = doomed.len();
        for at in doomed {
            // Descending positions: earlier removals do not shift later ones.
            list.remove(at);
        }
    }
    if removed > 0 {
        db.remove_if_empty(pos);
        db.propagate(argv.to_vec());
    }
    Ok(count(removed))
}

pub fn linsert(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, place, pivot, element] = argv else {
        return Err(CmdError::Arity);
    };
    let after = if is(place, "AFTER") {
        true
    } else if is(place, "BEFORE") {
        false
    } else {
        return Err(CmdError::SYNTAX);
    };
    let Some((_, list)) = db.get_mut_as::<ListValue>(key)? else {
        return Ok(Reply::Integer(0));
    };
    let Some(at) = list.iter().position(|item| item == &pivot[..]) else {
        return Ok(Reply::Integer(-1));
    };
    list.insert(if after { at + 1 } else { at }, element);
    let length = list.len();
    db.propagate(argv.to_vec());
    Ok(count(length))
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
pub fn lpos(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, element, options @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let mut rank: i64 = 1;
    let mut matches_wanted: Option<usize> = None;
    let mut max_len = 0usize;
    let mut i = 0;
    while let Some(option) = options.get(i) {
        let value = options.get(i + 1).ok_or(CmdError::SYNTAX)?;
        if is(option, "RANK") {
            rank = args::int(value)?;
            if rank == 0 {
                return Err(CmdError::Text(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list".to_owned(),
                ));
            }
            if rank == i64::MIN {
                return Err(CmdError::Text("ERR value is out of range".to_owned()));
            }
        } else if is(option, "COUNT") {
            let wanted = args::int(value)?;
            matches_wanted =
                Some(usize::try_from(wanted).map_err(|_| CmdError::Text("ERR COUNT can't be negative".to_owned()))?);
        } else if is(option, "MAXLEN") {
            let limit = args::int(value)?;
            max_len = usize::try_from(limit).map_err(|_| CmdError::Text("ERR MAXLEN can't be negative".to_owned()))?;
        } else {
            return Err(CmdError::SYNTAX);
        }
        i += 2;
    }
    let Some(list) = db.get_as::<ListValue>(key)? else {
        return Ok(if matches_wanted.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Null
        });
    };
    let scan_limit = if max_len == 0 { usize::MAX } else { max_len };
    let skip = usize::try_from(rank.unsigned_abs() - 1).unwrap_or(usize::MAX);
    let take = match matches_wanted {
        None => 1,
        Some(0) => usize::MAX,
        Some(n) => n,
    };
    let indexed = list.iter().enumerate();
    let found: Vec<usize> = if rank > 0 {
        indexed
            .take(scan_limit)
            .filter(|(_, item)| *item == &element[..])
            .skip(skip)
            .take(take)
            .map(|(at, _)| at)
            .collect()
    } else {
        indexed
            .rev()
            .take(scan_limit)
            .filter(|(_, item)| *item == &element[..])
            .skip(skip)
            .take(take)
            .map(|(at, _)| at)
            .collect()
    };
    Ok(match matches_wanted {
        None => found.first().map_or(Reply::Null, |&at| count(at)),
        Some(_) => Reply::Array(found.into_iter().map(count).collect()),
    })
}

fn parse_end(arg: &[u8]) -> Result<End, CmdError> {
    if is(arg, "LEFT") {
        Ok(End::Head)
    } else if is(arg, "RIGHT") {
        Ok(End::Tail)
    } else {
        Err(CmdError::SYNTAX)
    }
}

/// Pops from one end of `source` and pushes onto one end of `target`
/// (which may be the same list: a rotation).
fn move_element(
    db: &mut DbAccess<'_>,
    argv: &[Bytes],
    source: &Bytes,
    target: &Bytes,
    from: End,
    to: End,
) -> CmdResult {
    if db.get_as::<ListValue>(source)?.is_none_or(ListValue::is_empty) {
        return Ok(Reply::Null);
    }
    db.get_as::<ListValue>(target)?;
    let Some(element) = db.get_mut_as::<ListValue>(source)?.and_then(|(_, list)| list.pop(from)) else {
        return Ok(Reply::Null);
    };
    let (_, list) = db.get_or_create::<ListValue>(target)?;
    list.push(to, element.as_bytes());
    if let Some(pos) = db.lookup(source) {
        db.remove_if_empty(pos);
    }
    db.propagate(argv.to_vec());
    Ok(bulk(element.as_bytes()))
}

pub fn rpoplpush(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, source, target] = argv else {
        return Err(CmdError::Arity);
    };
    move_element(db, argv, source, target, End::Tail, End::Head)
}

pub fn lmove(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, source, target, from, to] = argv else {
        return Err(CmdError::Arity);
    };
    let (from, to) = (parse_end(from)?, parse_end(to)?);
    move_element(db, argv, source, target, from, to)
}
