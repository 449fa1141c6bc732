//! Sorted-set commands.
//!
//! Score arithmetic (ZADD INCR, ZINCRBY) is propagated as its result,
//! `ZADD key score member`, with the score printed as `%.17g`, which reads
//! back to the same double; other writes are deterministic as they are.
//!
//! Replies pairing members with scores (WITHSCORES, ZPOPMIN with a count)
//! are `Reply::Pairs`: RESP2 clients get Redis's flat member/score array,
//! RESP3 clients an array of [member, score] pairs, as Redis 7 sends.

use bytes::Bytes;

use super::args::{self, is};
use super::errors::{CmdError, CmdResult};
use crate::keyspace::access::DbAccess;
use crate::keyspace::zset::{LexBound, ScoreBound, ZSet};
use crate::resp::Reply;

const NOT_A_FLOAT_RANGE: &str = "ERR min or max is not a float";
const NOT_A_LEX_RANGE: &str = "ERR min or max not valid string range item";
const NAN_SCORE: &str = "ERR resulting score is not a number (NaN)";

fn count(n: usize) -> Reply {
    Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Members with or without their scores, as ZRANGE replies.
fn entries_reply(entries: Vec<(Bytes, f64)>, with_scores: bool) -> Reply {
    if with_scores {
        Reply::Pairs(
            entries
                .into_iter()
                .map(|(member, score)| (Reply::Bulk(member), Reply::Double(score)))
                .collect(),
        )
    } else {
        Reply::Array(entries.into_iter().map(|(member, _)| Reply::Bulk(member)).collect())
    }
}

/// A double in a range bound: Redis reads these with a bare `strtod`, so
/// unlike scores they may overflow to infinity; only NaN is refused.
fn bound_f64(text: &[u8]) -> Option<f64> {
    std::str::from_utf8(text)
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|value| !value.is_nan())
}

fn score_bound(arg: &[u8]) -> Option<ScoreBound> {
    match arg {
        [b'(', rest @ ..] => bound_f64(rest).map(ScoreBound::Exclusive),
        _ => bound_f64(arg).map(ScoreBound::Inclusive),
    }
}

fn score_range(min: &[u8], max: &[u8]) -> Result<(ScoreBound, ScoreBound), CmdError> {
    match (score_bound(min), score_bound(max)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => Err(CmdError::Static(NOT_A_FLOAT_RANGE)),
    }
}

fn lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg {
        b"-" => Some(LexBound::NegInf),
        b"+" => Some(LexBound::PosInf),
        [b'[', rest @ ..] => Some(LexBound::Inclusive(args::owned(rest))),
        [b'(', rest @ ..] => Some(LexBound::Exclusive(args::owned(rest))),
        _ => None,
    }
}

fn lex_range(min: &[u8], max: &[u8]) -> Result<(LexBound, LexBound), CmdError> {
    match (lex_bound(min), lex_bound(max)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => Err(CmdError::Static(NOT_A_LEX_RANGE)),
    }
}

/// ZADD's options.
#[derive(Default)]
struct AddOptions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// Adds or updates `pairs` in the sorted set at `key`, with Redis's
/// `zsetAdd` rules. Returns (added, updated, processed, last score), and
/// the changes as the effect to propagate.
struct AddOutcome {
    added: usize,
    updated: usize,
    processed: usize,
    last_score: f64,
}

fn add_members(
    db: &mut DbAccess<'_>,
    key: &Bytes,
    pairs: &[(f64, &Bytes)],
    options: &AddOptions,
) -> Result<AddOutcome, CmdError> {
    let mut outcome = AddOutcome {
        added: 0,
        updated: 0,
        processed: 0,
        last_score: 0.0,
    };
    let exists = db.get_as::<ZSet>(key)?.is_some();
    if !exists && options.xx {
        return Ok(outcome);
    }
    let (pos, zset) = db.get_or_create::<ZSet>(key)?;
    let mut changes: Vec<(f64, Bytes)> = Vec::new();
    let mut failure = None;
    for &(score, member) in pairs {
        match zset.score(member) {
            Some(current) => {
                if options.nx {
                    continue;
                }
                let updated = if options.incr { current + score } else { score };
                if updated.is_nan() {
                    failure = Some(CmdError::Static(NAN_SCORE));
                    break;
                }
                if (options.lt && updated >= current) || (options.gt && updated <= current) {
                    continue;
                }
                outcome.processed += 1;
                outcome.last_score = updated;
                if updated != current {
                    zset.insert(args::owned(member), updated);
                    outcome.updated += 1;
                    changes.push((updated, member.clone()));
                }
            }
            None => {
                if options.xx {
                    continue;
                }
                zset.insert(args::owned(member), score);
                outcome.added += 1;
                outcome.processed += 1;
                outcome.last_score = score;
                changes.push((score, member.clone()));
            }
        }
    }
    db.remove_if_empty(pos);
    if !changes.is_empty() {
        let mut effect = Vec::with_capacity(2 + changes.len() * 2);
        effect.push(Bytes::from_static(b"ZADD"));
        effect.push(key.clone());
        for (score, member) in changes {
            effect.push(args::bulk_f64(score));
            effect.push(member);
        }
        db.propagate(effect);
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(outcome),
    }
}

pub fn zadd(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, rest @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let mut options = AddOptions::default();
    let mut first_score = 0;
    for arg in rest {
        let flag = match arg.to_ascii_lowercase().as_slice() {
            b"nx" => &mut options.nx,
            b"xx" => &mut options.xx,
            b"gt" => &mut options.gt,
            b"lt" => &mut options.lt,
            b"ch" => &mut options.ch,
            b"incr" => &mut options.incr,
            _ => break,
        };
        *flag = true;
        first_score += 1;
    }
    let elements = rest.get(first_score..).unwrap_or_default();
    if elements.is_empty() || elements.len() % 2 != 0 {
        return Err(CmdError::SYNTAX);
    }
    if options.nx && options.xx {
        return Err(CmdError::Text(
            "ERR XX and NX options at the same time are not compatible".to_owned(),
        ));
    }
    if (options.nx && (options.gt || options.lt)) || (options.gt && options.lt) {
        return Err(CmdError::Text(
            "ERR GT, LT, and/or NX options at the same time are not compatible".to_owned(),
        ));
    }
    if options.incr && elements.len() > 2 {
        return Err(CmdError::Text(
            "ERR INCR option supports a single increment-element pair".to_owned(),
        ));
    }
    let mut pairs = Vec::with_capacity(elements.len() / 2);
    for pair in elements.chunks_exact(2) {
        if let [score, member] = pair {
            pairs.push((args::float(score)?, member));
        }
    }
    let outcome = add_members(db, key, &pairs, &options)?;
    Ok(if options.incr {
        if outcome.processed > 0 {
            Reply::Double(outcome.last_score)
        } else {
            Reply::Null
        }
    } else if options.ch {
        count(outcome.added + outcome.updated)
    } else {
        count(outcome.added)
    })
}

pub fn zincrby(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, increment, member] = argv else {
        return Err(CmdError::Arity);
    };
    let increment = args::float(increment)?;
    let options = AddOptions {
        incr: true,
        ..AddOptions::default()
    };
    let outcome = add_members(db, key, &[(increment, member)], &options)?;
    Ok(Reply::Double(outcome.last_score))
}

pub fn zrem(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, members @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let Some((pos, zset)) = db.get_mut_as::<ZSet>(key)? else {
        return Ok(Reply::Integer(0));
    };
    let removed = members.iter().filter(|member| zset.remove(member).is_some()).count();
    if removed > 0 {
        db.remove_if_empty(pos);
        db.propagate(argv.to_vec());
    }
    Ok(count(removed))
}

pub fn zcard(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    Ok(count(db.get_as::<ZSet>(key)?.map_or(0, ZSet::len)))
}

pub fn zscore(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, member] = argv else {
        return Err(CmdError::Arity);
    };
    Ok(db
        .get_as::<ZSet>(key)?
        .and_then(|zset| zset.score(member))
        .map_or(Reply::Null, Reply::Double))
}

pub fn zmscore(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, members @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let zset = db.get_as::<ZSet>(key)?;
    Ok(Reply::Array(
        members
            .iter()
            .map(|member| {
                zset.and_then(|zset| zset.score(member))
                    .map_or(Reply::Null, Reply::Double)
            })
            .collect(),
    ))
}

fn rank_generic(db: &mut DbAccess<'_>, argv: &[Bytes], reverse: bool) -> CmdResult {
    let [_, key, member] = argv else {
        return Err(CmdError::Arity);
    };
    let rank = db.get_as::<ZSet>(key)?.and_then(|zset| {
        if reverse {
            zset.rev_rank(member)
        } else {
            zset.rank(member)
        }
    });
    Ok(rank.map_or(Reply::Null, count))
}

pub fn zrank(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    rank_generic(db, argv, false)
}

pub fn zrevrank(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    rank_generic(db, argv, true)
}

pub fn zcount(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, min, max] = argv else {
        return Err(CmdError::Arity);
    };
    let (min, max) = score_range(min, max)?;
    Ok(count(
        db.get_as::<ZSet>(key)?
            .map_or(0, |zset| zset.count_by_score(&min, &max)),
    ))
}

pub fn zlexcount(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, min, max] = argv else {
        return Err(CmdError::Arity);
    };
    let (min, max) = lex_range(min, max)?;
    Ok(count(
        db.get_as::<ZSet>(key)?.map_or(0, |zset| zset.count_by_lex(&min, &max)),
    ))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Rank,
    Score,
    Lex,
}

/// The ZRANGE family, parsed as Redis 7.0's `zrangeGenericCommand` does;
/// the older commands preset the kind and direction, so the options that
/// would choose them are syntax errors there.
fn range_generic(
    db: &mut DbAccess<'_>,
    argv: &[Bytes],
    preset_kind: Option<RangeKind>,
    preset_reverse: Option<bool>,
) -> CmdResult {
    let [_, key, first, second, options @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let mut kind = preset_kind;
    let mut reverse = preset_reverse;
    let mut with_scores = false;
    let mut limit: Option<(i64, i64)> = None;
    let mut i = 0;
    while let Some(option) = options.get(i) {
        let arguments_left = options.len() - i - 1;
        if is(option, "WITHSCORES") {
            with_scores = true;
        } else if is(option, "LIMIT") && arguments_left >= 2 {
            let offset = options.get(i + 1).map(|arg| args::int(arg)).transpose()?;
            let count = options.get(i + 2).map(|arg| args::int(arg)).transpose()?;
            limit = offset.zip(count);
            i += 2;
        } else if reverse.is_none() && is(option, "REV") {
            reverse = Some(true);
        } else if kind.is_none() && is(option, "BYLEX") {
            kind = Some(RangeKind::Lex);
        } else if kind.is_none() && is(option, "BYSCORE") {
            kind = Some(RangeKind::Score);
        } else {
            return Err(CmdError::SYNTAX);
        }
        i += 1;
    }
    let kind = kind.unwrap_or(RangeKind::Rank);
    let reverse = reverse.unwrap_or(false);
    // Redis 7.0 only objects to a LIMIT whose count is not -1 here.
    if limit.is_some_and(|(_, count)| count != -1) && kind == RangeKind::Rank {
        return Err(CmdError::Text(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX".to_owned(),
        ));
    }
    if with_scores && kind == RangeKind::Lex {
        return Err(CmdError::Text(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX".to_owned(),
        ));
    }
    // Reversed score and lex ranges are written max first.
    let (low, high) = if reverse && kind != RangeKind::Rank {
        (second, first)
    } else {
        (first, second)
    };
    let (offset, count) = limit.unwrap_or((0, -1));
    let window = if offset < 0 {
        None
    } else {
        Some((
            usize::try_from(offset).unwrap_or(usize::MAX),
            usize::try_from(count).ok(),
        ))
    };
    enum Parsed {
        Rank(i64, i64),
        Score(ScoreBound, ScoreBound),
        Lex(LexBound, LexBound),
    }
    let parsed = match kind {
        RangeKind::Rank => Parsed::Rank(args::int(low)?, args::int(high)?),
        RangeKind::Score => {
            let (min, max) = score_range(low, high)?;
            Parsed::Score(min, max)
        }
        RangeKind::Lex => {
            let (min, max) = lex_range(low, high)?;
            Parsed::Lex(min, max)
        }
    };
    let Some(zset) = db.get_as::<ZSet>(key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let entries = match (parsed, window) {
        (Parsed::Rank(start, stop), _) => match args::clamp_range(start, stop, zset.len()) {
            Some((from, to)) if reverse => zset.rev_by_rank(from, to),
            Some((from, to)) => zset.by_rank(from, to),
            None => Vec::new(),
        },
        // A negative offset selects nothing, as in Redis.
        (_, None) => Vec::new(),
        (Parsed::Score(min, max), Some((offset, count))) => zset.by_score(&min, &max, offset, count, reverse),
        (Parsed::Lex(min, max), Some((offset, count))) => zset.by_lex(&min, &max, offset, count, reverse),
    };
    Ok(entries_reply(entries, with_scores))
}

pub fn zrange(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    range_generic(db, argv, None, None)
}

pub fn zrevrange(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    range_generic(db, argv, Some(RangeKind::Rank), Some(true))
}

pub fn zrangebyscore(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    range_generic(db, argv, Some(RangeKind::Score), Some(false))
}

pub fn zrevrangebyscore(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    range_generic(db, argv, Some(RangeKind::Score), Some(true))
}

pub fn zrangebylex(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    range_generic(db, argv, Some(RangeKind::Lex), Some(false))
}

pub fn zrevrangebylex(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    range_generic(db, argv, Some(RangeKind::Lex), Some(true))
}

/// ZPOPMIN / ZPOPMAX key [count].
fn pop_generic(db: &mut DbAccess<'_>, argv: &[Bytes], highest: bool) -> CmdResult {
    let (key, requested) = match argv {
        [_, key] => (key, None),
        [_, key, count] => (key, Some(args::non_negative(count)?)),
        _ => return Err(CmdError::SYNTAX),
    };
    let wanted = requested.unwrap_or(1);
    if wanted == 0 {
        return Ok(Reply::Array(Vec::new()));
    }
    let Some((pos, zset)) = db.get_mut_as::<ZSet>(key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let popped = if highest {
        zset.pop_max(wanted)
    } else {
        zset.pop_min(wanted)
    };
    if !popped.is_empty() {
        db.remove_if_empty(pos);
        db.propagate(argv.to_vec());
    }
    Ok(match requested {
        Some(_) => entries_reply(popped, true),
        None => Reply::Array(
            popped
                .into_iter()
                .flat_map(|(member, score)| [Reply::Bulk(member), Reply::Double(score)])
                .collect(),
        ),
    })
}

pub fn zpopmin(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    pop_generic(db, argv, false)
}

pub fn zpopmax(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    pop_generic(db, argv, true)
}

/// Removes what `remove` selects from the sorted set at argv[1].
fn remove_range(db: &mut DbAccess<'_>, argv: &[Bytes], remove: impl FnOnce(&mut ZSet) -> usize) -> CmdResult {
    let Some(key) = argv.get(1) else {
        return Err(CmdError::Arity);
    };
    let Some((pos, zset)) = db.get_mut_as::<ZSet>(key)? else {
        return Ok(Reply::Integer(0));
    };
    let removed = remove(zset);
    if removed > 0 {
        db.remove_if_empty(pos);
        db.propagate(argv.to_vec());
    }
    Ok(count(removed))
}

pub fn zremrangebyrank(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, _, start, stop] = argv else {
        return Err(CmdError::Arity);
    };
    let (start, stop) = (args::int(start)?, args::int(stop)?);
    remove_range(db, argv, |zset| match args::clamp_range(start, stop, zset.len()) {
        Some((from, to)) => zset.remove_range_by_rank(from, to),
        None => 0,
    })
}

pub fn zremrangebyscore(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, _, min, max] = argv else {
        return Err(CmdError::Arity);
    };
    let (min, max) = score_range(min, max)?;
    remove_range(db, argv, |zset| zset.remove_range_by_score(&min, &max))
}

pub fn zremrangebylex(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, _, min, max] = argv else {
        return Err(CmdError::Arity);
    };
    let (min, max) = lex_range(min, max)?;
    remove_range(db, argv, |zset| zset.remove_range_by_lex(&min, &max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_parse() {
        assert_eq!(score_bound(b"(1.5"), Some(ScoreBound::Exclusive(1.5)));
        assert_eq!(score_bound(b"-inf"), Some(ScoreBound::Inclusive(f64::NEG_INFINITY)));
        assert_eq!(score_bound(b"nan"), None);
        assert_eq!(score_bound(b"("), None);
        assert_eq!(lex_bound(b"-"), Some(LexBound::NegInf));
        assert_eq!(lex_bound(b"[a"), Some(LexBound::Inclusive(Bytes::from_static(b"a"))));
        assert_eq!(lex_bound(b"a"), None);
    }
}
