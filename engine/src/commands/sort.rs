//! SORT and SORT_RO, following Redis 7.0's `sortCommandGeneric`: the same
//! option parsing, LIMIT clamping, `BY` / `GET` pattern substitution
//! (`*` and `*->field`), numeric parsing and tie-breaking.
//!
//! `SORT ... STORE` is propagated as its result (`DEL dst` when the
//! destination existed, then `RPUSH dst elements...`), not as the command:
//! the result depends on other keys through the patterns and, for ties
//! under `ALPHA BY`, on iteration order, neither of which a replica should
//! have to reproduce.

use std::cmp::Ordering;

use bytes::Bytes;

use super::args::{self, is};
use super::effect_bytes;
use super::errors::{CmdError, CmdResult};
use crate::keyspace::access::DbAccess;
use crate::keyspace::hash::HashValue;
use crate::keyspace::list::{End, ListValue};
use crate::keyspace::value::Value;
use crate::resp::Reply;

/// Redis reads patterns with C string functions, which stop at a NUL.
fn c_string(bytes: &[u8]) -> &[u8] {
    let end = memchr::memchr(0, bytes).unwrap_or(bytes.len());
    bytes.get(..end).unwrap_or_default()
}

/// `lookupKeyByPattern`: `#` is the element itself; otherwise the first
/// `*` is replaced by the element and the key read as a string, or, with
/// `->field` after the `*`, as a hash field. `None` when there is no `*`,
/// no such key, or the key has another type.
fn lookup_by_pattern(db: &mut DbAccess<'_>, pattern: &[u8], element: &Bytes) -> Option<Bytes> {
    let visible = c_string(pattern);
    if visible == b"#" {
        return Some(element.clone());
    }
    let star = memchr::memchr(b'*', visible)?;
    let after_star = visible.get(star + 1..).unwrap_or_default();
    // A field needs at least one byte after the arrow.
    let field_at = memchr::memmem::find(after_star, b"->")
        .map(|at| star + 1 + at)
        .filter(|&at| visible.len() > at + 2);
    let (suffix_end, field) = match field_at {
        Some(at) => (at, pattern.get(at + 2..)),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(pattern.len() + element.len());
    key.extend_from_slice(pattern.get(..star).unwrap_or_default());
    key.extend_from_slice(element);
    key.extend_from_slice(pattern.get(star + 1..suffix_end).unwrap_or_default());
    let value = db.get(&key)?;
    match field {
        Some(field) => match value {
            Value::Hash(hash) => HashValue::get(hash, field).map(Bytes::copy_from_slice),
            _ => None,
        },
        None => value.as_str().map(|text| text.to_bytes()),
    }
}

/// The C library's `strtod` as SORT uses it: the whole text must be a
/// number (leading white space allowed, empty text is 0), and overflow,
/// underflow or NaN are errors.
fn sort_score(text: &[u8]) -> Option<f64> {
    let text = c_string(text);
    let trimmed = match text
        .iter()
        .position(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
    {
        Some(first) => text.get(first..).unwrap_or_default(),
        // Only white space: strtod converts nothing and stops at the
        // first byte, which is not the end unless the text is empty.
        None => return text.is_empty().then_some(0.0),
    };
    let text = std::str::from_utf8(trimmed).ok()?;
    let lower = text.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if unsigned.len() + 1 < lower.len() || unsigned.starts_with(['+', '-']) {
        return None;
    }
    // Rust's parser takes "infinity"/"inf"/"nan" like strtod, but not
    // strtod's hexadecimal form: read hexadecimal integers here.
    if let Some(hex) = unsigned.strip_prefix("0x") {
        let magnitude = u64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if lower.starts_with('-') { -magnitude } else { magnitude });
    }
    let value: f64 = text.parse().ok()?;
    if value.is_nan() {
        return None;
    }
    let literal_infinity = matches!(unsigned, "inf" | "infinity");
    if value.is_infinite() && !literal_infinity {
        return None;
    }
    // Underflow: strtod reports ERANGE for results that lost precision
    // below the normal range (including those rounded to zero).
    let has_nonzero_digit = unsigned
        .split(['e'])
        .next()
        .is_some_and(|mantissa| mantissa.bytes().any(|byte| matches!(byte, b'1'..=b'9')));
    if (value == 0.0 && has_nonzero_digit) || value.is_subnormal() {
        return None;
    }
    Some(value)
}

/// One element to sort, with what it sorts by.
struct Item {
    element: Bytes,
    score: f64,
    /// The BY pattern's value for ALPHA sorting (None when missing).
    by_value: Option<Bytes>,
}

struct SortOptions<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    store: Option<&'a Bytes>,
    by: Option<&'a Bytes>,
    /// BY with a pattern without `*`: keep the value's own order.
    dont_sort: bool,
    gets: Vec<&'a Bytes>,
}

fn parse_options(options: &[Bytes], read_only: bool) -> Result<SortOptions<'_>, CmdError> {
    let mut parsed = SortOptions {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        store: None,
        by: None,
        dont_sort: false,
        gets: Vec::new(),
    };
    let mut j = 0;
    while let Some(option) = options.get(j) {
        let left = options.len() - j - 1;
        if is(option, "ASC") {
            parsed.desc = false;
        } else if is(option, "DESC") {
            parsed.desc = true;
        } else if is(option, "ALPHA") {
            parsed.alpha = true;
        } else if is(option, "LIMIT") && left >= 2 {
            parsed.limit_start = args::int(options.get(j + 1).ok_or(CmdError::SYNTAX)?)?;
            parsed.limit_count = args::int(options.get(j + 2).ok_or(CmdError::SYNTAX)?)?;
            j += 2;
        } else if !read_only && is(option, "STORE") && left >= 1 {
            parsed.store = options.get(j + 1);
            j += 1;
        } else if is(option, "BY") && left >= 1 {
            let pattern = options.get(j + 1).ok_or(CmdError::SYNTAX)?;
            parsed.by = Some(pattern);
            // The last BY decides.
            parsed.dont_sort = memchr::memchr(b'*', c_string(pattern)).is_none();
            j += 1;
        } else if is(option, "GET") && left >= 1 {
            parsed.gets.push(options.get(j + 1).ok_or(CmdError::SYNTAX)?);
            j += 1;
        } else {
            return Err(CmdError::SYNTAX);
        }
        j += 1;
    }
    Ok(parsed)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Set,
    ZSet,
}

/// The elements of the value at `key` (missing = empty list), in its own
/// order; for lists and sorted sets that are not sorted, only the
/// `start..=end` window, reversed for DESC as Redis loads them.
fn load(
    db: &mut DbAccess<'_>,
    key: &[u8],
    dont_sort: bool,
    desc: bool,
    window: Option<(usize, usize)>,
) -> Result<(Kind, Vec<Bytes>), CmdError> {
    let Some(value) = db.get(key) else {
        return Ok((Kind::List, Vec::new()));
    };
    let windowed = |len: usize| match window {
        Some((start, end)) if dont_sort => (start, end + 1 - start),
        None if dont_sort => (0, 0),
        _ => (0, len),
    };
    Ok(match value {
        Value::List(list) => {
            let (skip, take) = windowed(list.len());
            let elements = if dont_sort && desc {
                list.iter()
                    .rev()
                    .skip(skip)
                    .take(take)
                    .map(Bytes::copy_from_slice)
                    .collect()
            } else {
                list.iter().skip(skip).take(take).map(Bytes::copy_from_slice).collect()
            };
            (Kind::List, elements)
        }
        Value::Set(set) => (Kind::Set, set.iter().map(|member| member.to_bytes()).collect()),
        Value::ZSet(zset) => {
            let (skip, take) = windowed(zset.len());
            let elements = if dont_sort && desc {
                zset.iter()
                    .rev()
                    .skip(skip)
                    .take(take)
                    .map(|(member, _)| member.clone())
                    .collect()
            } else {
                zset.iter()
                    .skip(skip)
                    .take(take)
                    .map(|(member, _)| member.clone())
                    .collect()
            };
            (Kind::ZSet, elements)
        }
        _ => return Err(CmdError::WRONG_TYPE),
    })
}

fn value_len(db: &mut DbAccess<'_>, key: &[u8]) -> Result<Option<(Kind, usize)>, CmdError> {
    Ok(match db.get(key) {
        None => None,
        Some(Value::List(list)) => Some((Kind::List, list.len())),
        Some(Value::Set(set)) => Some((Kind::Set, set.len())),
        Some(Value::ZSet(zset)) => Some((Kind::ZSet, zset.len())),
        Some(_) => return Err(CmdError::WRONG_TYPE),
    })
}

fn sort_generic(db: &mut DbAccess<'_>, argv: &[Bytes], read_only: bool) -> CmdResult {
    let [_, key, options @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let mut options = parse_options(options, read_only)?;
    let (kind, len) = value_len(db, key)?.unwrap_or((Kind::List, 0));
    // Sorting a set "by nothing" into a key would store hash order; Redis
    // sorts it alphabetically instead so that the result is reproducible.
    if options.dont_sort && kind == Kind::Set && options.store.is_some() {
        options.dont_sort = false;
        options.alpha = true;
        options.by = None;
    }
    // LIMIT clamping exactly as Redis does it.
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let mut start = options.limit_start.max(0);
    let mut end = if options.limit_count < 0 {
        len_i - 1
    } else {
        start.saturating_add(options.limit_count).saturating_sub(1)
    };
    if start >= len_i {
        start = len_i - 1;
        end = len_i - 2;
    }
    if end >= len_i {
        end = len_i - 1;
    }
    let window = match (usize::try_from(start), usize::try_from(end)) {
        (Ok(start), Ok(end)) if start <= end => Some((start, end)),
        _ => None,
    };
    let direct = options.dont_sort && kind != Kind::Set;
    let (_, elements) = load(db, key, options.dont_sort, options.desc, window)?;
    let mut conversion_error = false;
    let mut items: Vec<Item> = Vec::with_capacity(elements.len());
    for element in elements {
        let mut item = Item {
            element,
            score: 0.0,
            by_value: None,
        };
        if !options.dont_sort {
            let by_value = match options.by {
                Some(pattern) => lookup_by_pattern(db, pattern, &item.element),
                None => Some(item.element.clone()),
            };
            if let Some(by_value) = by_value {
                if options.alpha {
                    if options.by.is_some() {
                        item.by_value = Some(by_value);
                    }
                } else {
                    match sort_score(&by_value) {
                        Some(score) => item.score = score,
                        None => conversion_error = true,
                    }
                }
            }
        }
        items.push(item);
    }
    if !options.dont_sort {
        let (alpha, by_pattern, desc) = (options.alpha, options.by.is_some(), options.desc);
        items.sort_by(|a, b| {
            let order = if !alpha {
                if a.score > b.score {
                    Ordering::Greater
                } else if a.score < b.score {
                    Ordering::Less
                } else {
                    // Equal scores fall back to the elements themselves, so
                    // that the result is deterministic.
                    a.element.cmp(&b.element)
                }
            } else if by_pattern {
                // Elements whose BY key is missing sort first.
                match (&a.by_value, &b.by_value) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => x.cmp(y),
                }
            } else {
                a.element.cmp(&b.element)
            };
            if desc {
                order.reverse()
            } else {
                order
            }
        });
    }
    if conversion_error {
        return Err(CmdError::Static(
            "ERR One or more scores can't be converted into double",
        ));
    }
    // Lists and sorted sets in their own order were loaded as the window
    // already; everything else is cut to it now.
    let selected: &[Item] = match window {
        None => &[],
        Some(_) if direct => &items,
        Some((from, to)) => items
            .get(from..=to.min(items.len().saturating_sub(1)))
            .unwrap_or_default(),
    };
    let mut output: Vec<Option<Bytes>> = Vec::new();
    for item in selected {
        if options.gets.is_empty() {
            output.push(Some(item.element.clone()));
        }
        for pattern in &options.gets {
            output.push(lookup_by_pattern(db, pattern, &item.element));
        }
    }
    let Some(target) = options.store else {
        return Ok(Reply::Array(
            output
                .into_iter()
                .map(|value| value.map_or(Reply::Null, Reply::Bulk))
                .collect(),
        ));
    };
    let stored = output.len();
    if stored > 0 {
        let existed = db.lookup(target).is_some();
        // The result is journaled as itself: refuse it before storing if
        // it cannot fit in one record.
        let values: usize = output.iter().map(|v| v.as_ref().map_or(0, Bytes::len) + 8).sum();
        let delete = if existed {
            effect_bytes(&[Bytes::from_static(b"DEL"), target.clone()])
        } else {
            0
        };
        let bytes = effect_bytes(&[Bytes::from_static(b"RPUSH"), target.clone()]) + values + delete;
        CmdError::admit_effects(bytes, db.effect_room())?;
        let mut list = ListValue::new();
        let mut effect = Vec::with_capacity(stored + 2);
        effect.push(Bytes::from_static(b"RPUSH"));
        effect.push(target.clone());
        for value in output {
            // A missing GET result is stored as an empty string.
            let value = value.unwrap_or_default();
            list.push(End::Tail, &value);
            effect.push(value);
        }
        db.put(target, Value::List(Box::new(list)), None);
        if existed {
            db.propagate(vec![Bytes::from_static(b"DEL"), target.clone()]);
        }
        db.propagate(effect);
    } else if db.delete(target) {
        db.propagate(vec![Bytes::from_static(b"DEL"), target.clone()]);
    }
    Ok(Reply::Integer(i64::try_from(stored).unwrap_or(i64::MAX)))
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC |
/// DESC] [ALPHA] [STORE destination].
pub fn sort(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    sort_generic(db, argv, false)
}

/// SORT_RO: SORT without STORE.
pub fn sort_ro(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    sort_generic(db, argv, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_parse_like_strtod() {
        assert_eq!(sort_score(b"1.5"), Some(1.5));
        assert_eq!(sort_score(b"  -2"), Some(-2.0));
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b" "), None);
        assert_eq!(sort_score(b"2 "), None);
        assert_eq!(sort_score(b"abc"), None);
        assert_eq!(sort_score(b"inf"), Some(f64::INFINITY));
        assert_eq!(sort_score(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(sort_score(b"nan"), None);
        assert_eq!(sort_score(b"1e400"), None);
        assert_eq!(sort_score(b"1e-400"), None);
        assert_eq!(sort_score(b"0.000"), Some(0.0));
        assert_eq!(sort_score(b"0x10"), Some(16.0));
        assert_eq!(sort_score(b"+-1"), None);
    }
}
