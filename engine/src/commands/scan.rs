//! Cursor iteration: SCAN over a database, HSCAN / SSCAN / ZSCAN over one
//! value.
//!
//! Databases, and hashes and sets in their table encoding, live in a
//! `DenseTable`, whose cursor is a position walked from the end towards
//! the start; see `DenseTable::scan` for why every element present for the
//! whole scan is returned at least once, as Redis promises. Other values
//! (packed hashes and sets, integer sets, and sorted sets, whose skip list
//! has no positions that survive removals) are returned whole with cursor
//! 0, as Redis does for its compact encodings: COUNT is only a hint.

use bytes::Bytes;

use super::args::{self, is};
use super::errors::{CmdError, CmdResult};
use super::glob;
use crate::keyspace::access::DbAccess;
use crate::keyspace::hash::HashValue;
use crate::keyspace::set::SetValue;
use crate::keyspace::value::ValueType;
use crate::keyspace::zset::ZSet;
use crate::resp::{format_double, Reply};

/// Redis's default COUNT.
const DEFAULT_COUNT: usize = 10;

struct ScanOptions<'a> {
    cursor: u64,
    pattern: Option<&'a [u8]>,
    count: usize,
    /// SCAN's TYPE filter; `Some(None)` is a type name that matches nothing.
    type_filter: Option<Option<ValueType>>,
}

impl ScanOptions<'_> {
    fn matches(&self, bytes: &[u8]) -> bool {
        self.pattern
            .is_none_or(|pattern| pattern == b"*" || glob::matches(pattern, bytes))
    }
}

/// Parses `cursor [MATCH pattern] [COUNT count]`, and `[TYPE type]` for
/// SCAN itself (a syntax error elsewhere, as in Redis).
fn parse<'a>(cursor: &[u8], options: &'a [Bytes], allow_type: bool) -> Result<ScanOptions<'a>, CmdError> {
    let cursor = std::str::from_utf8(cursor)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| CmdError::Text("ERR invalid cursor".to_owned()))?;
    let mut parsed = ScanOptions {
        cursor,
        pattern: None,
        count: DEFAULT_COUNT,
        type_filter: None,
    };
    let mut i = 0;
    while let Some(option) = options.get(i) {
        let value = options.get(i + 1).ok_or(CmdError::SYNTAX)?;
        if is(option, "COUNT") {
            let requested = args::int(value)?;
            if requested < 1 {
                return Err(CmdError::SYNTAX);
            }
            parsed.count = usize::try_from(requested).unwrap_or(usize::MAX);
        } else if is(option, "MATCH") {
            parsed.pattern = Some(value);
        } else if allow_type && is(option, "TYPE") {
            // An unknown type matches nothing (Redis 7.0 behaviour).
            parsed.type_filter = Some(ValueType::from_name(value));
        } else {
            return Err(CmdError::SYNTAX);
        }
        i += 2;
    }
    Ok(parsed)
}

fn reply(next: u64, elements: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::Bulk(Bytes::from(next.to_string())), Reply::Array(elements)])
}

fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
pub fn scan(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, cursor, options @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let options = parse(cursor, options, true)?;
    let (range, next) = db.db().scan(options.cursor, options.count);
    // Collect first: checking expiry may delete keys, which moves others.
    let candidates: Vec<Bytes> = range
        .rev()
        .filter_map(|pos| db.db().key_bytes_at(pos))
        .filter(|key| options.matches(key))
        .collect();
    let mut keys = Vec::with_capacity(candidates.len());
    for key in candidates {
        // Expired keys are skipped (and deleted on the primary).
        let Some(value) = db.get(&key) else {
            continue;
        };
        if options
            .type_filter
            .is_some_and(|wanted| wanted != Some(value.value_type()))
        {
            continue;
        }
        keys.push(Reply::Bulk(key));
    }
    Ok(reply(next, keys))
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]: field, value, field...
pub fn hscan(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, cursor, options @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let options = parse(cursor, options, false)?;
    let Some(hash) = db.get_as::<HashValue>(key)? else {
        return Ok(reply(0, Vec::new()));
    };
    let mut elements = Vec::new();
    let mut push = |field: &[u8], value: &[u8]| {
        if options.matches(field) {
            elements.push(bulk(field));
            elements.push(bulk(value));
        }
    };
    let next = match hash {
        HashValue::Table(table) => {
            let (range, next) = table.scan(options.cursor, options.count);
            for pos in range.rev() {
                if let Some(pair) = table.get(pos) {
                    push(pair.field.as_bytes(), pair.value.as_bytes());
                }
            }
            next
        }
        HashValue::Packed(_) => {
            for (field, value) in hash.iter() {
                push(field, value);
            }
            0
        }
    };
    Ok(reply(next, elements))
}

/// SSCAN key cursor [MATCH pattern] [COUNT count].
pub fn sscan(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, cursor, options @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let options = parse(cursor, options, false)?;
    let Some(set) = db.get_as::<SetValue>(key)? else {
        return Ok(reply(0, Vec::new()));
    };
    let mut elements = Vec::new();
    let next = match set {
        SetValue::Table(table) => {
            let (range, next) = table.scan(options.cursor, options.count);
            for pos in range.rev() {
                if let Some(member) = table.get(pos) {
                    if options.matches(member.as_bytes()) {
                        elements.push(bulk(member.as_bytes()));
                    }
                }
            }
            next
        }
        SetValue::Ints(_) | SetValue::Packed(_) => {
            for member in set.iter() {
                member.with_bytes(|bytes| {
                    if options.matches(bytes) {
                        elements.push(bulk(bytes));
                    }
                });
            }
            0
        }
    };
    Ok(reply(next, elements))
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]: member, score, ...
/// (scores as bulk strings, as Redis sends them here).
pub fn zscan(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, cursor, options @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let options = parse(cursor, options, false)?;
    let Some(zset) = db.get_as::<ZSet>(key)? else {
        return Ok(reply(0, Vec::new()));
    };
    let mut elements = Vec::new();
    for (member, score) in zset.iter() {
        if options.matches(member) {
            elements.push(Reply::Bulk(member.clone()));
            elements.push(Reply::Bulk(Bytes::from(format_double(score))));
        }
    }
    Ok(reply(0, elements))
}
