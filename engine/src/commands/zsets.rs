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
use super::sets::random_positions;
use crate::keyspace::access::DbAccess;
use crate::keyspace::set::SetValue;
use crate::keyspace::value::{Aggregate as _, Value};
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
    let request = RangeRequest {
        key,
        first,
        second,
        options,
        preset_kind,
        preset_reverse,
        store: false,
    };
    Ok(match select_range(db, &request)? {
        Some((entries, with_scores)) => entries_reply(entries, with_scores),
        None => Reply::Array(Vec::new()),
    })
}

/// What a ZRANGE-family command asks for, before parsing its options.
struct RangeRequest<'a> {
    key: &'a Bytes,
    first: &'a Bytes,
    second: &'a Bytes,
    options: &'a [Bytes],
    preset_kind: Option<RangeKind>,
    preset_reverse: Option<bool>,
    /// ZRANGESTORE: WITHSCORES is not an option there.
    store: bool,
}

/// The entries a ZRANGE-family request selects and whether it asked for
/// scores; `None` when the key is missing.
#[allow(clippy::type_complexity)]
fn select_range(
    db: &mut DbAccess<'_>,
    request: &RangeRequest<'_>,
) -> Result<Option<(Vec<(Bytes, f64)>, bool)>, CmdError> {
    let RangeRequest {
        key,
        first,
        second,
        options,
        preset_kind,
        preset_reverse,
        store,
    } = *request;
    let mut kind = preset_kind;
    let mut reverse = preset_reverse;
    let mut with_scores = false;
    let mut limit: Option<(i64, i64)> = None;
    let mut i = 0;
    while let Some(option) = options.get(i) {
        let arguments_left = options.len() - i - 1;
        if !store && is(option, "WITHSCORES") {
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
        return Ok(None);
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
    Ok(Some((entries, with_scores)))
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

/// ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset
/// count]. Deterministic, so propagated as given.
pub fn zrangestore(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, target, key, first, second, options @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let request = RangeRequest {
        key,
        first,
        second,
        options,
        preset_kind: None,
        preset_reverse: None,
        store: true,
    };
    let entries = select_range(db, &request)?
        .map(|(entries, _)| entries)
        .unwrap_or_default();
    store_result(db, argv, target, entries)
}

/// Replaces `target` with a sorted set of `entries` (deleting it when
/// there are none) and replies with the count, as the STORE forms do. The
/// command is deterministic given the data, so it is its own effect.
fn store_result(db: &mut DbAccess<'_>, argv: &[Bytes], target: &[u8], entries: Vec<(Bytes, f64)>) -> CmdResult {
    let stored = entries.len();
    if stored > 0 {
        // Looked up first so that an expired destination is deleted (and
        // recorded) like any key a write touches.
        db.lookup(target);
        let mut zset = ZSet::new();
        for (member, score) in entries {
            zset.insert(member, score);
        }
        db.put(target, Value::ZSet(Box::new(zset)), None);
        db.propagate(argv.to_vec());
    } else if db.delete(target) {
        db.propagate(argv.to_vec());
    }
    Ok(count(stored))
}

/// ZRANDMEMBER key [count [WITHSCORES]]. A read: nothing to propagate.
pub fn zrandmember(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let (key, requested, with_scores) = match argv {
        [_, key] => (key, None, false),
        [_, key, count, rest @ ..] => {
            let requested = args::int(count)?;
            // Redis reads the count within ±LONG_MAX.
            if requested == i64::MIN {
                return Err(CmdError::Text(format!(
                    "ERR value is out of range, value must between {} and {}",
                    -i64::MAX,
                    i64::MAX
                )));
            }
            let with_scores = match rest {
                [] => false,
                [option] if is(option, "WITHSCORES") => true,
                _ => return Err(CmdError::SYNTAX),
            };
            if with_scores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&requested) {
                return Err(CmdError::Text("ERR value is out of range".to_owned()));
            }
            (key, Some(requested), with_scores)
        }
        _ => return Err(CmdError::Arity),
    };
    let Some(pos) = db.lookup(key) else {
        return Ok(match requested {
            Some(_) => Reply::Array(Vec::new()),
            None => Reply::Null,
        });
    };
    let (value, rng) = db.value_and_rng(pos);
    let zset = value.and_then(|value| ZSet::of(value)).ok_or(CmdError::WRONG_TYPE)?;
    let Some(requested) = requested else {
        let pick = rng.below(zset.len());
        return Ok(zset
            .get_by_rank(pick)
            .map_or(Reply::Null, |(member, _)| Reply::Bulk(member.clone())));
    };
    // Asked for at least the whole set, Redis 7.0 returns it in
    // descending rank order.
    let whole = usize::try_from(requested).is_ok_and(|wanted| wanted >= zset.len());
    let positions = if whole {
        (0..zset.len()).rev().collect()
    } else {
        random_positions(rng, zset.len(), requested)?
    };
    let entries = positions
        .into_iter()
        .filter_map(|rank| zset.get_by_rank(rank).map(|(member, score)| (member.clone(), score)))
        .collect();
    Ok(entries_reply(entries, with_scores))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// `zunionInterAggregate`: +inf + -inf sums to 0, not NaN.
fn aggregate(target: &mut f64, value: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += value;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if value < *target {
                *target = value;
            }
        }
        Aggregate::Max => {
            if value > *target {
                *target = value;
            }
        }
    }
}

/// One input of the ZUNION family: a sorted set, or a plain set whose
/// members all score 1, as in Redis.
#[derive(Clone, Copy)]
enum Input<'a> {
    Missing,
    Set(&'a SetValue),
    ZSet(&'a ZSet),
}

impl Input<'_> {
    fn len(&self) -> usize {
        match self {
            Input::Missing => 0,
            Input::Set(set) => set.len(),
            Input::ZSet(zset) => zset.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Input::Missing => None,
            Input::Set(set) => set.contains(member).then_some(1.0),
            Input::ZSet(zset) => zset.score(member),
        }
    }

    fn entries(&self) -> Vec<(Bytes, f64)> {
        match self {
            Input::Missing => Vec::new(),
            Input::Set(set) => set.iter().map(|member| (member.to_bytes(), 1.0)).collect(),
            Input::ZSet(zset) => zset.iter().map(|(member, score)| (member.clone(), score)).collect(),
        }
    }
}

/// What a ZUNION-family command computes.
struct Combined {
    entries: Vec<(Bytes, f64)>,
    with_scores: bool,
    cardinality: usize,
}

/// `zunionInterDiffGenericCommand`: `numkeys` at `numkeys_at`, then the
/// keys, then the options this form accepts.
fn combine_generic(
    db: &mut DbAccess<'_>,
    argv: &[Bytes],
    numkeys_at: usize,
    op: SetOp,
    store: bool,
    cardinality_only: bool,
    name: &str,
) -> Result<Combined, CmdError> {
    let numkeys = args::int(argv.get(numkeys_at).ok_or(CmdError::Arity)?)?;
    if numkeys < 1 {
        return Err(CmdError::Text(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    let rest = argv.get(numkeys_at + 1..).unwrap_or_default();
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys > rest.len() {
        return Err(CmdError::SYNTAX);
    }
    let (keys, options) = rest.split_at(numkeys);
    // Redis checks the keys' types before reading the options. A first
    // pass deletes expired keys, so that positions stay put afterwards.
    for key in keys {
        if let Some(pos) = db.lookup(key) {
            if !matches!(db.value(pos), Some(Value::Set(_) | Value::ZSet(_))) {
                return Err(CmdError::WRONG_TYPE);
            }
        }
    }
    let positions: Vec<Option<usize>> = keys.iter().map(|key| db.lookup(key)).collect();
    let mut weights = vec![1.0f64; numkeys];
    let mut how = Aggregate::Sum;
    let mut with_scores = false;
    let mut limit = 0usize;
    let mut j = 0;
    while let Some(option) = options.get(j) {
        let remaining = options.len() - j;
        if op != SetOp::Diff && !cardinality_only && remaining > numkeys && is(option, "WEIGHTS") {
            for (weight, arg) in weights.iter_mut().zip(options.get(j + 1..).unwrap_or_default()) {
                *weight = args::float(arg).map_err(|_| CmdError::Static("ERR weight value is not a float"))?;
            }
            j += 1 + numkeys;
        } else if op != SetOp::Diff && !cardinality_only && remaining >= 2 && is(option, "AGGREGATE") {
            let name = options.get(j + 1).map(|arg| &arg[..]).unwrap_or_default();
            how = if is(name, "SUM") {
                Aggregate::Sum
            } else if is(name, "MIN") {
                Aggregate::Min
            } else if is(name, "MAX") {
                Aggregate::Max
            } else {
                return Err(CmdError::SYNTAX);
            };
            j += 2;
        } else if !store && !cardinality_only && is(option, "WITHSCORES") {
            with_scores = true;
            j += 1;
        } else if cardinality_only && remaining >= 2 && is(option, "LIMIT") {
            let value = options.get(j + 1).map(|arg| args::int(arg));
            limit = match value {
                Some(Ok(value)) if value >= 0 => usize::try_from(value).unwrap_or(usize::MAX),
                _ => return Err(CmdError::Static("ERR LIMIT can't be negative")),
            };
            j += 2;
        } else {
            return Err(CmdError::SYNTAX);
        }
    }
    let mut inputs: Vec<(Input<'_>, f64)> = positions
        .iter()
        .zip(&weights)
        .map(|(pos, &weight)| {
            let input = match pos.and_then(|pos| db.value(pos)) {
                Some(Value::Set(set)) => Input::Set(set),
                Some(Value::ZSet(zset)) => Input::ZSet(zset),
                _ => Input::Missing,
            };
            (input, weight)
        })
        .collect();
    // Smallest inputs first, as Redis orders them (a stable sort, like
    // glibc's qsort for small arrays): this fixes the order in which
    // scores are summed, hence their rounding.
    if op != SetOp::Diff {
        inputs.sort_by_key(|(input, _)| input.len());
    }
    let mut result = ZSet::new();
    let mut cardinality = 0usize;
    match op {
        SetOp::Inter => {
            let Some(((first, first_weight), others)) = inputs.split_first() else {
                return Err(CmdError::SYNTAX);
            };
            for (member, score) in first.entries() {
                let mut total = first_weight * score;
                if total.is_nan() {
                    total = 0.0;
                }
                let in_all = others.iter().all(|(input, weight)| match input.score(&member) {
                    Some(value) => {
                        aggregate(&mut total, value * weight, how);
                        true
                    }
                    None => false,
                });
                if !in_all {
                    continue;
                }
                if cardinality_only {
                    cardinality += 1;
                    if limit > 0 && cardinality >= limit {
                        break;
                    }
                } else {
                    result.insert(member, total);
                }
            }
        }
        SetOp::Union => {
            let mut totals: hashbrown::HashMap<Bytes, f64> = hashbrown::HashMap::new();
            for (input, weight) in &inputs {
                for (member, score) in input.entries() {
                    let mut value = weight * score;
                    if value.is_nan() {
                        value = 0.0;
                    }
                    match totals.entry(member) {
                        hashbrown::hash_map::Entry::Occupied(mut total) => aggregate(total.get_mut(), value, how),
                        hashbrown::hash_map::Entry::Vacant(slot) => {
                            slot.insert(value);
                        }
                    }
                }
            }
            for (member, score) in totals {
                result.insert(member, score);
            }
        }
        SetOp::Diff => {
            let Some(((first, _), others)) = inputs.split_first() else {
                return Err(CmdError::SYNTAX);
            };
            for (member, score) in first.entries() {
                if others.iter().all(|(input, _)| input.score(&member).is_none()) {
                    result.insert(member, score);
                }
            }
        }
    }
    Ok(Combined {
        entries: result.iter().map(|(member, score)| (member.clone(), score)).collect(),
        with_scores,
        cardinality,
    })
}

fn combine_reply(db: &mut DbAccess<'_>, argv: &[Bytes], op: SetOp, name: &str) -> CmdResult {
    let combined = combine_generic(db, argv, 1, op, false, false, name)?;
    Ok(entries_reply(combined.entries, combined.with_scores))
}

fn combine_store(db: &mut DbAccess<'_>, argv: &[Bytes], op: SetOp, name: &str) -> CmdResult {
    let Some(target) = argv.get(1) else {
        return Err(CmdError::Arity);
    };
    let combined = combine_generic(db, argv, 2, op, true, false, name)?;
    store_result(db, argv, target, combined.entries)
}

/// ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
/// [WITHSCORES].
pub fn zunion(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    combine_reply(db, argv, SetOp::Union, "zunion")
}

pub fn zinter(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    combine_reply(db, argv, SetOp::Inter, "zinter")
}

pub fn zdiff(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    combine_reply(db, argv, SetOp::Diff, "zdiff")
}

/// ZUNIONSTORE dst numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...].
/// Deterministic (inputs are read in a fixed order), so propagated as
/// given.
pub fn zunionstore(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    combine_store(db, argv, SetOp::Union, "zunionstore")
}

pub fn zinterstore(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    combine_store(db, argv, SetOp::Inter, "zinterstore")
}

pub fn zdiffstore(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    combine_store(db, argv, SetOp::Diff, "zdiffstore")
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit].
pub fn zintercard(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let combined = combine_generic(db, argv, 1, SetOp::Inter, false, true, "zintercard")?;
    Ok(count(combined.cardinality))
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
