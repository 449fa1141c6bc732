//! Set commands. Random choices (SPOP, SRANDMEMBER) are made here on the
//! primary and propagated as what they did (SREM of the popped members).

use bytes::Bytes;
use hashbrown::HashSet;

use super::args;
use super::effect_bytes;
use super::errors::{CmdError, CmdResult};
use crate::keyspace::access::DbAccess;
use crate::keyspace::random::FastRng;
use crate::keyspace::set::SetValue;
use crate::keyspace::value::Aggregate;
use crate::resp::Reply;

fn count(n: usize) -> Reply {
    Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The most elements a random pick with repetitions may return: a
/// negative count asks for |count| picks, and a reply that size must fit
/// in memory.
const MAX_REPEATED_PICKS: u64 = 100_000_000;

/// Positions for SRANDMEMBER / HRANDFIELD with a count: distinct positions
/// (at most `len`) for a positive count, `|count|` independent picks for a
/// negative one.
pub fn random_positions(rng: &mut FastRng, len: usize, requested: i64) -> Result<Vec<usize>, CmdError> {
    if len == 0 || requested == 0 {
        return Ok(Vec::new());
    }
    if requested < 0 {
        let picks = requested.unsigned_abs();
        if picks > MAX_REPEATED_PICKS {
            return Err(CmdError::Text("ERR value is out of range".to_owned()));
        }
        return Ok((0..picks).map(|_| rng.below(len)).collect());
    }
    let wanted = usize::try_from(requested).unwrap_or(usize::MAX);
    if wanted >= len {
        return Ok((0..len).collect());
    }
    if wanted * 3 > len {
        // Most of the set: drop random positions until `wanted` remain.
        let mut positions: Vec<usize> = (0..len).collect();
        while positions.len() > wanted {
            let drop = rng.below(positions.len());
            positions.swap_remove(drop);
        }
        return Ok(positions);
    }
    let mut chosen = HashSet::with_capacity(wanted);
    let mut positions = Vec::with_capacity(wanted);
    while positions.len() < wanted {
        let pick = rng.below(len);
        if chosen.insert(pick) {
            positions.push(pick);
        }
    }
    Ok(positions)
}

pub fn sadd(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, members @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let (_, set) = db.get_or_create::<SetValue>(key)?;
    let added = members.iter().filter(|member| set.insert(member)).count();
    if added > 0 {
        db.propagate(argv.to_vec());
    }
    Ok(count(added))
}

pub fn srem(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, members @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let Some((pos, set)) = db.get_mut_as::<SetValue>(key)? else {
        return Ok(Reply::Integer(0));
    };
    let removed = members.iter().filter(|member| set.remove(member)).count();
    if removed > 0 {
        db.remove_if_empty(pos);
        db.propagate(argv.to_vec());
    }
    Ok(count(removed))
}

pub fn smembers(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    let members = db
        .get_as::<SetValue>(key)?
        .map(|set| set.iter().map(|member| Reply::Bulk(member.to_bytes())).collect())
        .unwrap_or_default();
    Ok(Reply::Set(members))
}

pub fn scard(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    Ok(count(db.get_as::<SetValue>(key)?.map_or(0, SetValue::len)))
}

pub fn sismember(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, member] = argv else {
        return Err(CmdError::Arity);
    };
    let present = db.get_as::<SetValue>(key)?.is_some_and(|set| set.contains(member));
    Ok(Reply::Integer(i64::from(present)))
}

pub fn smismember(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, members @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let set = db.get_as::<SetValue>(key)?;
    Ok(Reply::Array(
        members
            .iter()
            .map(|member| Reply::Integer(i64::from(set.is_some_and(|set| set.contains(member)))))
            .collect(),
    ))
}

/// SPOP key [count]: propagated as `SREM key members...`, or `DEL key`
/// when the whole set goes.
pub fn spop(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let (key, requested) = match argv {
        [_, key] => (key, None),
        [_, key, count] => (key, Some(args::non_negative(count)?)),
        _ => return Err(CmdError::SYNTAX),
    };
    let Some(pos) = db.lookup(key) else {
        return Ok(if requested.is_some() {
            Reply::Set(Vec::new())
        } else {
            Reply::Null
        });
    };
    let room = db.effect_room();
    let (value, rng) = db.value_and_rng(pos);
    let set = value.and_then(SetValue::of_mut).ok_or(CmdError::WRONG_TYPE)?;
    let wanted = requested.unwrap_or(1);
    if wanted == 0 {
        return Ok(Reply::Set(Vec::new()));
    }
    let whole_set = wanted >= set.len();
    let positions = if whole_set {
        (0..set.len()).collect()
    } else {
        random_positions(rng, set.len(), i64::try_from(wanted).unwrap_or(i64::MAX))?
    };
    let popped: Vec<Bytes> = positions
        .iter()
        .filter_map(|&at| set.at(at).map(|member| member.to_bytes()))
        .collect();
    if !whole_set {
        // Journaled as `SREM key popped...`: refuse it before removing
        // anything if that cannot fit in one record.
        let members: usize = popped.iter().map(|m| m.len() + 8).sum();
        CmdError::admit_effects(
            effect_bytes(&[Bytes::from_static(b"SREM"), key.clone()]) + members,
            room,
        )?;
    }
    for member in &popped {
        set.remove(member);
    }
    db.remove_if_empty(pos);
    if whole_set {
        db.propagate(vec![Bytes::from_static(b"DEL"), key.clone()]);
    } else {
        let mut effect = Vec::with_capacity(popped.len() + 2);
        effect.push(Bytes::from_static(b"SREM"));
        effect.push(key.clone());
        effect.extend(popped.iter().cloned());
        db.propagate(effect);
    }
    Ok(match requested {
        None => popped.into_iter().next().map_or(Reply::Null, Reply::Bulk),
        Some(_) => Reply::Set(popped.into_iter().map(Reply::Bulk).collect()),
    })
}

/// SRANDMEMBER key [count].
pub fn srandmember(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let (key, requested) = match argv {
        [_, key] => (key, None),
        [_, key, count] => (key, Some(args::int(count)?)),
        _ => return Err(CmdError::SYNTAX),
    };
    let Some(pos) = db.lookup(key) else {
        return Ok(if requested.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Null
        });
    };
    let (value, rng) = db.value_and_rng(pos);
    let set = value
        .and_then(|value| SetValue::of(value))
        .ok_or(CmdError::WRONG_TYPE)?;
    let Some(requested) = requested else {
        let pick = rng.below(set.len());
        return Ok(set
            .at(pick)
            .map_or(Reply::Null, |member| Reply::Bulk(member.to_bytes())));
    };
    let positions = random_positions(rng, set.len(), requested)?;
    Ok(Reply::Array(
        positions
            .into_iter()
            .filter_map(|at| set.at(at).map(|member| Reply::Bulk(member.to_bytes())))
            .collect(),
    ))
}

pub fn smove(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, source, target, member] = argv else {
        return Err(CmdError::Arity);
    };
    let source_has = match db.get_as::<SetValue>(source)? {
        None => return Ok(Reply::Integer(0)),
        Some(set) => set.contains(member),
    };
    // The target's type is checked even when there is nothing to move.
    db.get_as::<SetValue>(target)?;
    if source == target {
        return Ok(Reply::Integer(i64::from(source_has)));
    }
    if !source_has {
        return Ok(Reply::Integer(0));
    }
    if let Some((pos, set)) = db.get_mut_as::<SetValue>(source)? {
        set.remove(member);
        db.remove_if_empty(pos);
    }
    let (_, set) = db.get_or_create::<SetValue>(target)?;
    set.insert(member);
    db.propagate(argv.to_vec());
    Ok(Reply::Integer(1))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Algebra {
    Inter,
    Union,
    Diff,
}

/// Members of the combination of the sets at `keys` (missing keys are
/// empty sets); WRONGTYPE if any key holds another type.
fn combine(db: &mut DbAccess<'_>, keys: &[Bytes], algebra: Algebra) -> Result<Vec<Bytes>, CmdError> {
    let mut sets: Vec<Option<Vec<Bytes>>> = Vec::with_capacity(keys.len());
    for key in keys {
        let members = db
            .get_as::<SetValue>(key)?
            .map(|set| set.iter().map(|member| member.to_bytes()).collect());
        sets.push(members);
    }
    let mut iter = sets.into_iter();
    let first: Vec<Bytes> = iter.next().flatten().unwrap_or_default();
    let rest: Vec<HashSet<Bytes>> = iter.map(|set| set.unwrap_or_default().into_iter().collect()).collect();
    Ok(match algebra {
        Algebra::Inter => first
            .into_iter()
            .filter(|member| rest.iter().all(|other| other.contains(member)))
            .collect(),
        Algebra::Diff => first
            .into_iter()
            .filter(|member| !rest.iter().any(|other| other.contains(member)))
            .collect(),
        Algebra::Union => {
            let mut seen: HashSet<Bytes> = first.iter().cloned().collect();
            let mut all = first;
            for other in rest {
                for member in other {
                    if seen.insert(member.clone()) {
                        all.push(member);
                    }
                }
            }
            all
        }
    })
}

fn algebra_reply(db: &mut DbAccess<'_>, argv: &[Bytes], algebra: Algebra) -> CmdResult {
    let keys = argv.get(1..).unwrap_or_default();
    let members = combine(db, keys, algebra)?;
    Ok(Reply::Set(members.into_iter().map(Reply::Bulk).collect()))
}

/// SINTERSTORE and friends: the destination is replaced (deleted when the
/// result is empty). Propagated as is: it is deterministic.
fn algebra_store(db: &mut DbAccess<'_>, argv: &[Bytes], algebra: Algebra) -> CmdResult {
    let [_, target, keys @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let members = combine(db, keys, algebra)?;
    let existed = db.delete(target);
    if !members.is_empty() {
        let mut set = SetValue::new();
        for member in &members {
            set.insert(member);
        }
        db.put(target, crate::keyspace::value::Value::Set(Box::new(set)), None);
    }
    if existed || !members.is_empty() {
        db.propagate(argv.to_vec());
    }
    Ok(count(members.len()))
}

pub fn sinter(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    algebra_reply(db, argv, Algebra::Inter)
}

pub fn sunion(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    algebra_reply(db, argv, Algebra::Union)
}

pub fn sdiff(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    algebra_reply(db, argv, Algebra::Diff)
}

pub fn sinterstore(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    algebra_store(db, argv, Algebra::Inter)
}

pub fn sunionstore(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    algebra_store(db, argv, Algebra::Union)
}

pub fn sdiffstore(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    algebra_store(db, argv, Algebra::Diff)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit].
pub fn sintercard(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, numkeys, rest @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let numkeys = match args::int(numkeys) {
        Ok(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => return Err(CmdError::Text("ERR numkeys should be greater than 0".to_owned())),
    };
    if numkeys > rest.len() {
        return Err(CmdError::Text(
            "ERR Number of keys can't be greater than number of args".to_owned(),
        ));
    }
    let (keys, options) = rest.split_at(numkeys);
    let mut limit = 0usize;
    match options {
        [] => {}
        [option, value] if args::is(option, "LIMIT") => {
            limit = usize::try_from(args::int(value)?)
                .map_err(|_| CmdError::Text("ERR LIMIT can't be negative".to_owned()))?;
        }
        _ => return Err(CmdError::SYNTAX),
    }
    let members = combine(db, keys, Algebra::Inter)?;
    let cardinality = if limit > 0 {
        members.len().min(limit)
    } else {
        members.len()
    };
    Ok(count(cardinality))
}
