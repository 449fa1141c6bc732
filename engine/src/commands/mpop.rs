//! LMPOP and ZMPOP (Redis 7.0): pop from the first non-empty of several
//! keys. Their blocking forms (BLMPOP, BZMPOP) are the node's business; it
//! parses them with [`parse`] and serves them through these handlers.
//!
//! Like Redis, a pop is propagated as the concrete single-key command
//! (`LPOP key count`, `ZPOPMIN key count`), so replicas never see the
//! multi-key form.

use bytes::Bytes;

use super::args::{self, is};
use super::errors::{CmdError, CmdResult};
use crate::keyspace::access::DbAccess;
use crate::keyspace::list::{End, ListValue};
use crate::keyspace::zset::ZSet;
use crate::resp::Reply;

const NUMKEYS: &str = "ERR numkeys should be greater than 0";
const COUNT: &str = "ERR count should be greater than 0";

/// Which end an MPOP pops from: LEFT/MIN = `first`, RIGHT/MAX = last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    First,
    Last,
}

/// A parsed `numkeys key... LEFT|RIGHT [COUNT n]` (or MIN|MAX).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpopArgs {
    pub keys: Vec<Bytes>,
    pub side: Side,
    pub count: usize,
}

/// Parses the arguments from `argv[numkeys_at]` on, as Redis's
/// `lmpopGenericCommand` / `zmpopGenericCommand` do (same error order).
pub fn parse(argv: &[Bytes], numkeys_at: usize, zset: bool) -> Result<MpopArgs, CmdError> {
    let numkeys = argv
        .get(numkeys_at)
        .and_then(|n| args::int(n).ok())
        .filter(|n| *n > 0)
        .ok_or(CmdError::Static(NUMKEYS))?;
    let first_key = numkeys_at + 1;
    // The side keyword must follow the keys.
    let numkeys = usize::try_from(numkeys).map_err(|_| CmdError::SYNTAX)?;
    if numkeys > argv.len().saturating_sub(first_key + 1) {
        return Err(CmdError::SYNTAX);
    }
    let keys = argv[first_key..first_key + numkeys].to_vec();
    let side_at = first_key + numkeys;
    let side_arg = argv.get(side_at).ok_or(CmdError::SYNTAX)?;
    let side = match (zset, side_arg) {
        (false, a) if is(a, "LEFT") => Side::First,
        (false, a) if is(a, "RIGHT") => Side::Last,
        (true, a) if is(a, "MIN") => Side::First,
        (true, a) if is(a, "MAX") => Side::Last,
        _ => return Err(CmdError::SYNTAX),
    };
    let mut count = None;
    let mut i = side_at + 1;
    while let Some(option) = argv.get(i) {
        match argv.get(i + 1) {
            Some(value) if count.is_none() && is(option, "COUNT") => {
                let n = args::int(value)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(CmdError::Static(COUNT))?;
                count = Some(usize::try_from(n).unwrap_or(usize::MAX));
                i += 2;
            }
            _ => return Err(CmdError::SYNTAX),
        }
    }
    Ok(MpopArgs {
        keys,
        side,
        count: count.unwrap_or(1),
    })
}

fn count_arg(n: usize) -> Bytes {
    Bytes::from(n.to_string())
}

/// Pops up to `count` elements from the list at `key`: `None` if there is
/// no such list (WRONGTYPE if it is not a list).
pub fn pop_list(db: &mut DbAccess<'_>, key: &Bytes, side: Side, count: usize) -> Result<Option<Reply>, CmdError> {
    let Some((pos, list)) = db.get_mut_as::<ListValue>(key)? else {
        return Ok(None);
    };
    let end = match side {
        Side::First => End::Head,
        Side::Last => End::Tail,
    };
    let mut elements = Vec::new();
    while elements.len() < count {
        match list.pop(end) {
            Some(element) => elements.push(Reply::Bulk(Bytes::copy_from_slice(element.as_bytes()))),
            None => break,
        }
    }
    if elements.is_empty() {
        return Ok(None);
    }
    let popped = elements.len();
    db.remove_if_empty(pos);
    let name: &'static [u8] = if side == Side::First { b"LPOP" } else { b"RPOP" };
    db.propagate(vec![Bytes::from_static(name), key.clone(), count_arg(popped)]);
    Ok(Some(Reply::Array(vec![
        Reply::Bulk(key.clone()),
        Reply::Array(elements),
    ])))
}

/// Pops up to `count` members from the sorted set at `key`, as
/// `[key, [[member, score]...]]` (nested in RESP2 too, as Redis 7.0).
pub fn pop_zset(db: &mut DbAccess<'_>, key: &Bytes, side: Side, count: usize) -> Result<Option<Reply>, CmdError> {
    let Some((pos, zset)) = db.get_mut_as::<ZSet>(key)? else {
        return Ok(None);
    };
    let popped = match side {
        Side::First => zset.pop_min(count),
        Side::Last => zset.pop_max(count),
    };
    if popped.is_empty() {
        return Ok(None);
    }
    let n = popped.len();
    db.remove_if_empty(pos);
    let name: &'static [u8] = if side == Side::First { b"ZPOPMIN" } else { b"ZPOPMAX" };
    db.propagate(vec![Bytes::from_static(name), key.clone(), count_arg(n)]);
    let members = popped
        .into_iter()
        .map(|(member, score)| Reply::Array(vec![Reply::Bulk(member), Reply::Double(score)]))
        .collect();
    Ok(Some(Reply::Array(vec![
        Reply::Bulk(key.clone()),
        Reply::Array(members),
    ])))
}

fn mpop(db: &mut DbAccess<'_>, argv: &[Bytes], zset: bool) -> CmdResult {
    let parsed = parse(argv, 1, zset)?;
    for key in &parsed.keys {
        let popped = if zset {
            pop_zset(db, key, parsed.side, parsed.count)?
        } else {
            pop_list(db, key, parsed.side, parsed.count)?
        };
        if let Some(reply) = popped {
            return Ok(reply);
        }
    }
    Ok(Reply::NullArray)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn lmpop(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    mpop(db, argv, false)
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub fn zmpop(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    mpop(db, argv, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    fn error(result: Result<MpopArgs, CmdError>) -> String {
        match result {
            Err(e) => match e.into_reply("lmpop") {
                Reply::Error(text) => text,
                other => panic!("{other:?}"),
            },
            Ok(parsed) => panic!("parsed {parsed:?}"),
        }
    }

    #[test]
    fn parses_like_redis() {
        let parsed = parse(&argv(&["lmpop", "2", "a", "b", "right", "COUNT", "3"]), 1, false).unwrap();
        assert_eq!(parsed.keys, argv(&["a", "b"]));
        assert_eq!(parsed.side, Side::Last);
        assert_eq!(parsed.count, 3);
        assert_eq!(parse(&argv(&["zmpop", "1", "z", "min"]), 1, true).unwrap().count, 1);
        for (words, text) in [
            (&["lmpop", "0", "a", "left"][..], NUMKEYS),
            (&["lmpop", "abc", "a", "left"], NUMKEYS),
            (&["lmpop", "-1", "a", "left"], NUMKEYS),
            (&["lmpop", "1", "a", "middle"], "ERR syntax error"),
            (&["lmpop", "2", "a", "left"], "ERR syntax error"),
            (&["lmpop", "10", "a", "left"], "ERR syntax error"),
            (&["lmpop", "1", "a", "left", "count", "0"], COUNT),
            (&["lmpop", "1", "a", "left", "count", "abc"], COUNT),
            (
                &["lmpop", "1", "a", "left", "count", "1", "count", "2"],
                "ERR syntax error",
            ),
            (&["lmpop", "1", "a", "left", "count"], "ERR syntax error"),
            (&["lmpop", "1", "a", "left", "foo"], "ERR syntax error"),
            (&["lmpop", "1", "a", "min"], "ERR syntax error"),
        ] {
            assert_eq!(error(parse(&argv(words), 1, false)), text, "{words:?}");
        }
    }
}
