//! Hash commands.

use bytes::Bytes;

use super::args::{self, is};
use super::errors::{CmdError, CmdResult, NAN_OR_INFINITY, OVERFLOW};
use crate::keyspace::access::DbAccess;
use crate::keyspace::hash::HashValue;
use crate::keyspace::numbers::{format_human_f64, parse_f64, parse_i64};
use crate::resp::Reply;

fn count(n: usize) -> Reply {
    Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

/// HSET key field value [field value ...]: the number of new fields.
pub fn hset(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, pairs @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(CmdError::Arity);
    }
    let (_, hash) = db.get_or_create::<HashValue>(key)?;
    let mut added = 0;
    for pair in pairs.chunks_exact(2) {
        if let [field, value] = pair {
            added += usize::from(hash.set(field, value));
        }
    }
    db.propagate(argv.to_vec());
    Ok(count(added))
}

/// HMSET: HSET answering OK.
pub fn hmset(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    hset(db, argv)?;
    Ok(Reply::SimpleString("OK".to_owned()))
}

pub fn hsetnx(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, field, value] = argv else {
        return Err(CmdError::Arity);
    };
    if db.get_as::<HashValue>(key)?.is_some_and(|hash| hash.contains(field)) {
        return Ok(Reply::Integer(0));
    }
    let (_, hash) = db.get_or_create::<HashValue>(key)?;
    hash.set(field, value);
    db.propagate(vec![
        Bytes::from_static(b"HSET"),
        key.clone(),
        field.clone(),
        value.clone(),
    ]);
    Ok(Reply::Integer(1))
}

pub fn hget(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, field] = argv else {
        return Err(CmdError::Arity);
    };
    Ok(db
        .get_as::<HashValue>(key)?
        .and_then(|hash| hash.get(field))
        .map_or(Reply::Null, bulk))
}

pub fn hmget(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, fields @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let hash = db.get_as::<HashValue>(key)?;
    Ok(Reply::Array(
        fields
            .iter()
            .map(|field| hash.and_then(|hash| hash.get(field)).map_or(Reply::Null, bulk))
            .collect(),
    ))
}

pub fn hdel(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, fields @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let Some((pos, hash)) = db.get_mut_as::<HashValue>(key)? else {
        return Ok(Reply::Integer(0));
    };
    let removed = fields.iter().filter(|field| hash.remove(field)).count();
    if removed > 0 {
        db.remove_if_empty(pos);
        db.propagate(argv.to_vec());
    }
    Ok(count(removed))
}

pub fn hgetall(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    let pairs = db
        .get_as::<HashValue>(key)?
        .map(|hash| hash.iter().map(|(field, value)| (bulk(field), bulk(value))).collect())
        .unwrap_or_default();
    Ok(Reply::Map(pairs))
}

pub fn hkeys(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    let fields = db
        .get_as::<HashValue>(key)?
        .map(|hash| hash.iter().map(|(field, _)| bulk(field)).collect())
        .unwrap_or_default();
    Ok(Reply::Array(fields))
}

pub fn hvals(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    let values = db
        .get_as::<HashValue>(key)?
        .map(|hash| hash.iter().map(|(_, value)| bulk(value)).collect())
        .unwrap_or_default();
    Ok(Reply::Array(values))
}

pub fn hlen(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    Ok(count(db.get_as::<HashValue>(key)?.map_or(0, HashValue::len)))
}

pub fn hexists(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, field] = argv else {
        return Err(CmdError::Arity);
    };
    let present = db.get_as::<HashValue>(key)?.is_some_and(|hash| hash.contains(field));
    Ok(Reply::Integer(i64::from(present)))
}

pub fn hstrlen(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, field] = argv else {
        return Err(CmdError::Arity);
    };
    let length = db
        .get_as::<HashValue>(key)?
        .and_then(|hash| hash.get(field))
        .map_or(0, <[u8]>::len);
    Ok(count(length))
}

pub fn hincrby(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, field, delta] = argv else {
        return Err(CmdError::Arity);
    };
    let delta = args::int(delta)?;
    let current = match db.get_as::<HashValue>(key)?.and_then(|hash| hash.get(field)) {
        Some(text) => parse_i64(text).ok_or_else(|| CmdError::Text("ERR hash value is not an integer".to_owned()))?,
        None => 0,
    };
    let updated = current.checked_add(delta).ok_or(CmdError::Static(OVERFLOW))?;
    let (_, hash) = db.get_or_create::<HashValue>(key)?;
    hash.set(field, updated.to_string().as_bytes());
    db.propagate(argv.to_vec());
    Ok(Reply::Integer(updated))
}

pub fn hincrbyfloat(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, field, delta] = argv else {
        return Err(CmdError::Arity);
    };
    let delta = args::float(delta)?;
    let current = match db.get_as::<HashValue>(key)?.and_then(|hash| hash.get(field)) {
        Some(text) => parse_f64(text).ok_or_else(|| CmdError::Text("ERR hash value is not a float".to_owned()))?,
        None => 0.0,
    };
    let updated = current + delta;
    if !updated.is_finite() {
        return Err(CmdError::Static(NAN_OR_INFINITY));
    }
    let text = Bytes::from(format_human_f64(updated));
    let (_, hash) = db.get_or_create::<HashValue>(key)?;
    hash.set(field, &text);
    // Replayed as the result, never recomputed.
    db.propagate(vec![
        Bytes::from_static(b"HSET"),
        key.clone(),
        field.clone(),
        text.clone(),
    ]);
    Ok(Reply::Bulk(text))
}

/// HRANDFIELD key [count [WITHVALUES]].
pub fn hrandfield(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let (key, count_arg, with_values) = match argv {
        [_, key] => (key, None, false),
        [_, key, count] => (key, Some(count), false),
        [_, key, count, option] if is(option, "WITHVALUES") => (key, Some(count), true),
        _ => return Err(CmdError::SYNTAX),
    };
    let requested = count_arg.map(|count| args::int(count)).transpose()?;
    let Some(pos) = db.lookup(key) else {
        return Ok(if requested.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Null
        });
    };
    let (value, rng) = db.value_and_rng(pos);
    let hash = value
        .and_then(|value| <HashValue as crate::keyspace::value::Aggregate>::of(value))
        .ok_or(CmdError::WRONG_TYPE)?;
    let len = hash.len();
    let Some(requested) = requested else {
        return Ok(hash.at(rng.below(len)).map_or(Reply::Null, |(field, _)| bulk(field)));
    };
    let picks = super::sets::random_positions(rng, len, requested)?;
    let mut out = Vec::with_capacity(picks.len() * if with_values { 2 } else { 1 });
    let mut pairs = Vec::new();
    for pick in picks {
        if let Some((field, value)) = hash.at(pick) {
            if with_values {
                pairs.push((bulk(field), bulk(value)));
            } else {
                out.push(bulk(field));
            }
        }
    }
    Ok(if with_values {
        Reply::Pairs(pairs)
    } else {
        Reply::Array(out)
    })
}
