//! A plain model of strings, counters, lists, hashes, sets, sorted sets
//! and expiry, built from std collections, next to the engine: every reply
//! must be what the model predicts, including WRONGTYPE and integer
//! errors, across the compact-to-table encoding conversions (bulk adds push
//! values past the thresholds). Driven by the `commands_model` proptest and
//! by the `engine_model` fuzz target ([`super::fuzz::engine_model`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use bytes::Bytes;

use super::harness::*;
use crate::resp::Reply;

#[derive(Clone, Debug)]
pub enum Model {
    Str(Vec<u8>),
    List(VecDeque<Vec<u8>>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    /// Integer scores only, so sums and orders are exact.
    ZSet(BTreeMap<Vec<u8>, i64>),
}

/// One command of the model, with its arguments as indexes into [`KEYS`]
/// and [`value`].
#[derive(Debug, Clone)]
pub enum Op {
    Set(u8, u8),
    Get(u8),
    Append(u8, u8),
    Incr(u8),
    Del(u8),
    Exists(u8),
    Type(u8),
    Strlen(u8),
    HSet(u8, u8, u8),
    HGet(u8, u8),
    HDel(u8, u8),
    HLen(u8),
    HGetAll(u8),
    HBulk(u8, u16),
    LPush(u8, u8),
    RPush(u8, u8),
    LPop(u8),
    RPop(u8),
    LLen(u8),
    LRange(u8, i8, i8),
    LIndex(u8, i8),
    SAdd(u8, u8),
    SRem(u8, u8),
    SIsMember(u8, u8),
    SCard(u8),
    SMembers(u8),
    SBulk(u8, u16, bool),
    SetBit(u8, u16, bool),
    GetBit(u8, u16),
    /// BITCOUNT key [start end [BIT]] (None = whole string).
    BitCount(u8, Option<(i16, i16, bool)>),
    IncrBy(u8, i64),
    /// ZADD key score member.
    ZAdd(u8, i8, u8),
    /// ZINCRBY key increment member.
    ZIncrBy(u8, i8, u8),
    ZRem(u8, u8),
    ZScore(u8, u8),
    ZCard(u8),
    ZRank(u8, u8),
    /// ZRANGE key start stop WITHSCORES.
    ZRange(u8, i8, i8),
    /// PEXPIRE key ms (0 deletes the key at once).
    PExpire(u8, u16),
    Persist(u8),
    PTtl(u8),
    /// Moves the fake clock forward (milliseconds).
    Advance(u16),
}

pub const KEYS: [&str; 4] = ["k1", "k2", "k3", "k4"];

pub fn key(i: u8) -> Vec<u8> {
    KEYS[usize::from(i) % KEYS.len()].as_bytes().to_vec()
}

/// Values: short strings, integers, and long ones past the packed limits.
pub fn value(i: u8) -> Vec<u8> {
    match i % 8 {
        0 => b"".to_vec(),
        1 => b"v".to_vec(),
        2 => b"17".to_vec(),
        3 => b"-3".to_vec(),
        4 => b"0042".to_vec(),
        5 => vec![b'L'; 70],
        6 => format!("f{}", i / 8).into_bytes(),
        _ => (i / 8).to_string().into_bytes(),
    }
}

fn b(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

fn count(n: usize) -> Reply {
    Reply::Integer(n as i64)
}

/// A strict integer as Redis reads it: must print back identically.
fn strict_int(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let value: i64 = text.parse().ok()?;
    (value.to_string() == text).then_some(value)
}

/// BITCOUNT's range over a byte string, computed bit by bit.
fn model_bitcount(bytes: &[u8], range: Option<(i16, i16, bool)>) -> i64 {
    let bit = |position: i64| (bytes[(position / 8) as usize] >> (7 - position % 8)) & 1;
    let total_bits = bytes.len() as i64 * 8;
    let (from, to) = match range {
        None => (0, total_bits - 1),
        Some((start, end, in_bits)) => {
            let (start, end) = (i64::from(start), i64::from(end));
            if start < 0 && end < 0 && start > end {
                return 0;
            }
            let total = if in_bits { total_bits } else { bytes.len() as i64 };
            let resolve = |index: i64| if index < 0 { (index + total).max(0) } else { index };
            let (start, end) = (resolve(start), resolve(end).min(total - 1));
            if start > end {
                return 0;
            }
            if in_bits {
                (start, end)
            } else {
                (start * 8, end * 8 + 7)
            }
        }
    };
    (from..=to).map(|position| i64::from(bit(position))).sum()
}

/// The engine (through [`Harness`]) and the model side by side.
pub struct World {
    pub model: HashMap<Vec<u8>, Model>,
    /// Absolute expiry (ms) of the model's keys that have one.
    pub expiry: HashMap<Vec<u8>, i64>,
    pub h: Harness,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    /// Replies are the point here; the replica is compared once at the end
    /// ([`World::check_final`]) rather than after every step
    /// (replication_determinism.rs does that).
    pub fn new() -> Self {
        let mut h = Harness::new();
        h.check_replica = false;
        Self {
            model: HashMap::new(),
            expiry: HashMap::new(),
            h,
        }
    }

    /// Executes `op` on both and returns (actual, expected), normalised.
    pub fn step(&mut self, op: &Op) -> (Reply, Reply) {
        // A key whose time has come is gone for every command (lazily
        // deleted in the engine, which no reply can tell apart).
        let now = self.h.now_ms;
        let expired: Vec<Vec<u8>> = self
            .expiry
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            self.model.remove(&key);
            self.expiry.remove(&key);
        }
        let outcome = self.step_live(op);
        // A key that was deleted (or emptied) loses its expiry with it.
        let model = &self.model;
        self.expiry.retain(|key, _| model.contains_key(key));
        outcome
    }

    /// After the last step: every key exists in both or in neither, and the
    /// replica, which applied every effect, holds the primary's data.
    pub fn check_final(&mut self) -> Result<(), String> {
        for index in 0..KEYS.len() as u8 {
            let (actual, expected) = self.step(&Op::Exists(index));
            if actual != expected {
                return Err(format!(
                    "EXISTS {}: engine {actual:?}, model {expected:?}",
                    KEYS[usize::from(index)]
                ));
            }
        }
        if self.h.primary.digest() != self.h.replica.digest() {
            return Err("the replica's data differs from the primary's".into());
        }
        Ok(())
    }

    fn run(&mut self, words: Vec<Vec<u8>>) -> Reply {
        self.h.run_argv(words.into_iter().map(Bytes::from).collect())
    }

    fn step_live(&mut self, op: &Op) -> (Reply, Reply) {
        let wrongtype = || err(WRONGTYPE);
        match op {
            Op::Set(k, v) => {
                self.model.insert(key(*k), Model::Str(value(*v)));
                self.expiry.remove(&key(*k));
                (self.run(vec![b"SET".to_vec(), key(*k), value(*v)]), ok())
            }
            Op::Get(k) => {
                let expected = match self.model.get(&key(*k)) {
                    None => nil(),
                    Some(Model::Str(s)) => b(s),
                    Some(_) => wrongtype(),
                };
                (self.run(vec![b"GET".to_vec(), key(*k)]), expected)
            }
            Op::Append(k, v) => {
                let expected = match self.model.entry(key(*k)).or_insert_with(|| Model::Str(Vec::new())) {
                    Model::Str(s) => {
                        s.extend_from_slice(&value(*v));
                        count(s.len())
                    }
                    _ => wrongtype(),
                };
                (self.run(vec![b"APPEND".to_vec(), key(*k), value(*v)]), expected)
            }
            Op::Incr(k) => {
                let expected = match self.model.get_mut(&key(*k)) {
                    None => {
                        self.model.insert(key(*k), Model::Str(b"1".to_vec()));
                        int(1)
                    }
                    Some(Model::Str(s)) => match strict_int(s).and_then(|n| n.checked_add(1)) {
                        Some(n) => {
                            *s = n.to_string().into_bytes();
                            int(n)
                        }
                        None if strict_int(s).is_some() => err("ERR increment or decrement would overflow"),
                        None => err(NOT_INTEGER),
                    },
                    Some(_) => wrongtype(),
                };
                (self.run(vec![b"INCR".to_vec(), key(*k)]), expected)
            }
            Op::Del(k) => {
                let expected = count(usize::from(self.model.remove(&key(*k)).is_some()));
                (self.run(vec![b"DEL".to_vec(), key(*k)]), expected)
            }
            Op::Exists(k) => {
                let expected = count(usize::from(self.model.contains_key(&key(*k))));
                (self.run(vec![b"EXISTS".to_vec(), key(*k)]), expected)
            }
            Op::Type(k) => {
                let name = match self.model.get(&key(*k)) {
                    None => "none",
                    Some(Model::Str(_)) => "string",
                    Some(Model::List(_)) => "list",
                    Some(Model::Hash(_)) => "hash",
                    Some(Model::Set(_)) => "set",
                    Some(Model::ZSet(_)) => "zset",
                };
                (self.run(vec![b"TYPE".to_vec(), key(*k)]), status(name))
            }
            Op::Strlen(k) => {
                let expected = match self.model.get(&key(*k)) {
                    None => int(0),
                    Some(Model::Str(s)) => count(s.len()),
                    Some(_) => wrongtype(),
                };
                (self.run(vec![b"STRLEN".to_vec(), key(*k)]), expected)
            }
            Op::HSet(k, f, v) => {
                let expected = match self
                    .model
                    .entry(key(*k))
                    .or_insert_with(|| Model::Hash(BTreeMap::new()))
                {
                    Model::Hash(hash) => count(usize::from(hash.insert(value(*f), value(*v)).is_none())),
                    _ => wrongtype(),
                };
                (
                    self.run(vec![b"HSET".to_vec(), key(*k), value(*f), value(*v)]),
                    expected,
                )
            }
            Op::HBulk(k, n) => {
                let mut words = vec![b"HSET".to_vec(), key(*k)];
                let fields: Vec<Vec<u8>> = (0..=*n).map(|i| format!("bulk{i}").into_bytes()).collect();
                for field in &fields {
                    words.push(field.clone());
                    words.push(b"x".to_vec());
                }
                let expected = match self
                    .model
                    .entry(key(*k))
                    .or_insert_with(|| Model::Hash(BTreeMap::new()))
                {
                    Model::Hash(hash) => count(
                        fields
                            .iter()
                            .filter(|field| hash.insert((*field).clone(), b"x".to_vec()).is_none())
                            .count(),
                    ),
                    _ => wrongtype(),
                };
                (self.run(words), expected)
            }
            Op::HGet(k, f) => {
                let expected = match self.model.get(&key(*k)) {
                    None => nil(),
                    Some(Model::Hash(hash)) => hash.get(&value(*f)).map_or(nil(), |v| b(v)),
                    Some(_) => wrongtype(),
                };
                (self.run(vec![b"HGET".to_vec(), key(*k), value(*f)]), expected)
            }
            Op::HDel(k, f) => {
                let expected = match self.model.get_mut(&key(*k)) {
                    None => int(0),
                    Some(Model::Hash(hash)) => {
                        let removed = hash.remove(&value(*f)).is_some();
                        if hash.is_empty() {
                            self.model.remove(&key(*k));
                        }
                        count(usize::from(removed))
                    }
                    Some(_) => wrongtype(),
                };
                (self.run(vec![b"HDEL".to_vec(), key(*k), value(*f)]), expected)
            }
            Op::HLen(k) => {
                let expected = match self.model.get(&key(*k)) {
                    None => int(0),
                    Some(Model::Hash(hash)) => count(hash.len()),
                    Some(_) => wrongtype(),
                };
                (self.run(vec![b"HLEN".to_vec(), key(*k)]), expected)
            }
            Op::HGetAll(k) => {
                let expected = match self.model.get(&key(*k)) {
                    None => Reply::Map(vec![]),
                    Some(Model::Hash(hash)) => Reply::Map(hash.iter().map(|(f, v)| (b(f), b(v))).collect()),
                    Some(_) => wrongtype(),
                };
                let actual = match self.run(vec![b"HGETALL".to_vec(), key(*k)]) {
                    Reply::Map(mut pairs) => {
                        pairs.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
                        Reply::Map(pairs)
                    }
                    other => other,
                };
                let expected = match expected {
                    Reply::Map(mut pairs) => {
                        pairs.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
                        Reply::Map(pairs)
                    }
                    other => other,
                };
                (actual, expected)
            }
            Op::LPush(k, v) | Op::RPush(k, v) => {
                let head = matches!(op, Op::LPush(..));
                let expected = match self
                    .model
                    .entry(key(*k))
                    .or_insert_with(|| Model::List(VecDeque::new()))
                {
                    Model::List(list) => {
                        if head {
                            list.push_front(value(*v));
                        } else {
                            list.push_back(value(*v));
                        }
                        count(list.len())
                    }
                    _ => wrongtype(),
                };
                let name = if head { b"LPUSH".to_vec() } else { b"RPUSH".to_vec() };
                (self.run(vec![name, key(*k), value(*v)]), expected)
            }
            Op::LPop(k) | Op::RPop(k) => {
                let head = matches!(op, Op::LPop(..));
                let expected = match self.model.get_mut(&key(*k)) {
                    None => nil(),
                    Some(Model::List(list)) => {
                        let popped = if head { list.pop_front() } else { list.pop_back() };
                        if list.is_empty() {
                            self.model.remove(&key(*k));
                        }
                        popped.map_or(nil(), |v| b(&v))
                    }
                    Some(_) => wrongtype(),
                };
                let name = if head { b"LPOP".to_vec() } else { b"RPOP".to_vec() };
                (self.run(vec![name, key(*k)]), expected)
            }
            Op::LLen(k) => {
                let expected = match self.model.get(&key(*k)) {
                    None => int(0),
                    Some(Model::List(list)) => count(list.len()),
                    Some(_) => wrongtype(),
                };
                (self.run(vec![b"LLEN".to_vec(), key(*k)]), expected)
            }
            Op::LRange(k, start, stop) => {
                let expected = match self.model.get(&key(*k)) {
                    None => arr(vec![]),
                    Some(Model::List(list)) => {
                        let len = list.len() as i64;
                        let mut s = i64::from(*start);
                        let mut e = i64::from(*stop);
                        if s < 0 {
                            s += len;
                        }
                        if e < 0 {
                            e += len;
                        }
                        s = s.max(0);
                        if s > e || s >= len {
                            arr(vec![])
                        } else {
                            e = e.min(len - 1);
                            arr((s..=e).map(|i| b(&list[i as usize])).collect())
                        }
                    }
                    Some(_) => wrongtype(),
                };
                let words = vec![
                    b"LRANGE".to_vec(),
                    key(*k),
                    start.to_string().into_bytes(),
                    stop.to_string().into_bytes(),
                ];
                (self.run(words), expected)
            }
            Op::LIndex(k, index) => {
                let expected = match self.model.get(&key(*k)) {
                    None => nil(),
                    Some(Model::List(list)) => {
                        let len = list.len() as i64;
                        let i = if *index < 0 {
                            i64::from(*index) + len
                        } else {
                            i64::from(*index)
                        };
                        if (0..len).contains(&i) {
                            b(&list[i as usize])
                        } else {
                            nil()
                        }
                    }
                    Some(_) => wrongtype(),
                };
                (
                    self.run(vec![b"LINDEX".to_vec(), key(*k), index.to_string().into_bytes()]),
                    expected,
                )
            }
            Op::SAdd(k, m) => {
                let expected = match self.model.entry(key(*k)).or_insert_with(|| Model::Set(BTreeSet::new())) {
                    Model::Set(set) => count(usize::from(set.insert(value(*m)))),
                    _ => wrongtype(),
                };
                (self.run(vec![b"SADD".to_vec(), key(*k), value(*m)]), expected)
            }
            Op::SBulk(k, n, ints) => {
                let members: Vec<Vec<u8>> = (0..=*n)
                    .map(|i| {
                        if *ints {
                            i.to_string().into_bytes()
                        } else {
                            format!("member{i}").into_bytes()
                        }
                    })
                    .collect();
                let mut words = vec![b"SADD".to_vec(), key(*k)];
                words.extend(members.iter().cloned());
                let expected = match self.model.entry(key(*k)).or_insert_with(|| Model::Set(BTreeSet::new())) {
                    Model::Set(set) => count(members.iter().filter(|m| set.insert((*m).clone())).count()),
                    _ => wrongtype(),
                };
                (self.run(words), expected)
            }
            Op::SetBit(k, offset, on) => {
                let offset = usize::from(*offset);
                let expected = match self.model.entry(key(*k)).or_insert_with(|| Model::Str(Vec::new())) {
                    Model::Str(bytes) => {
                        if bytes.len() <= offset / 8 {
                            bytes.resize(offset / 8 + 1, 0);
                        }
                        let mask = 1u8 << (7 - offset % 8);
                        let old = bytes[offset / 8] & mask != 0;
                        if *on {
                            bytes[offset / 8] |= mask;
                        } else {
                            bytes[offset / 8] &= !mask;
                        }
                        int(i64::from(old))
                    }
                    _ => wrongtype(),
                };
                let words = vec![
                    b"SETBIT".to_vec(),
                    key(*k),
                    offset.to_string().into_bytes(),
                    if *on { b"1".to_vec() } else { b"0".to_vec() },
                ];
                (self.run(words), expected)
            }
            Op::GetBit(k, offset) => {
                let offset = usize::from(*offset);
                let expected = match self.model.get(&key(*k)) {
                    None => int(0),
                    Some(Model::Str(bytes)) => int(bytes
                        .get(offset / 8)
                        .map_or(0, |byte| i64::from((byte >> (7 - offset % 8)) & 1))),
                    Some(_) => wrongtype(),
                };
                (
                    self.run(vec![b"GETBIT".to_vec(), key(*k), offset.to_string().into_bytes()]),
                    expected,
                )
            }
            Op::BitCount(k, range) => {
                let expected = match self.model.get(&key(*k)) {
                    None => int(0),
                    Some(Model::Str(bytes)) => int(model_bitcount(bytes, *range)),
                    Some(_) => wrongtype(),
                };
                let mut words = vec![b"BITCOUNT".to_vec(), key(*k)];
                if let Some((start, end, in_bits)) = range {
                    words.push(start.to_string().into_bytes());
                    words.push(end.to_string().into_bytes());
                    words.push(if *in_bits { b"BIT".to_vec() } else { b"BYTE".to_vec() });
                }
                (self.run(words), expected)
            }
            Op::SRem(k, m) => {
                let expected = match self.model.get_mut(&key(*k)) {
                    None => int(0),
                    Some(Model::Set(set)) => {
                        let removed = set.remove(&value(*m));
                        if set.is_empty() {
                            self.model.remove(&key(*k));
                        }
                        count(usize::from(removed))
                    }
                    Some(_) => wrongtype(),
                };
                (self.run(vec![b"SREM".to_vec(), key(*k), value(*m)]), expected)
            }
            Op::SIsMember(k, m) => {
                let expected = match self.model.get(&key(*k)) {
                    None => int(0),
                    Some(Model::Set(set)) => count(usize::from(set.contains(&value(*m)))),
                    Some(_) => wrongtype(),
                };
                (self.run(vec![b"SISMEMBER".to_vec(), key(*k), value(*m)]), expected)
            }
            Op::SCard(k) => {
                let expected = match self.model.get(&key(*k)) {
                    None => int(0),
                    Some(Model::Set(set)) => count(set.len()),
                    Some(_) => wrongtype(),
                };
                (self.run(vec![b"SCARD".to_vec(), key(*k)]), expected)
            }
            Op::SMembers(k) => {
                let expected = match self.model.get(&key(*k)) {
                    None => Reply::Set(vec![]),
                    Some(Model::Set(set)) => Reply::Set(set.iter().map(|m| b(m)).collect()),
                    Some(_) => wrongtype(),
                };
                let actual = match self.run(vec![b"SMEMBERS".to_vec(), key(*k)]) {
                    Reply::Set(mut members) => {
                        members.sort_by_key(|member| match member {
                            Reply::Bulk(bytes) => bytes.clone(),
                            _ => Bytes::new(),
                        });
                        Reply::Set(members)
                    }
                    other => other,
                };
                (actual, expected)
            }
            Op::IncrBy(k, by) => {
                let expected = match self.model.get_mut(&key(*k)) {
                    None => {
                        self.model.insert(key(*k), Model::Str(by.to_string().into_bytes()));
                        int(*by)
                    }
                    Some(Model::Str(s)) => match strict_int(s).map(|n| n.checked_add(*by)) {
                        Some(Some(n)) => {
                            *s = n.to_string().into_bytes();
                            int(n)
                        }
                        Some(None) => err("ERR increment or decrement would overflow"),
                        None => err(NOT_INTEGER),
                    },
                    Some(_) => wrongtype(),
                };
                (
                    self.run(vec![b"INCRBY".to_vec(), key(*k), by.to_string().into_bytes()]),
                    expected,
                )
            }
            Op::ZAdd(k, score, m) => {
                let expected = match self
                    .model
                    .entry(key(*k))
                    .or_insert_with(|| Model::ZSet(BTreeMap::new()))
                {
                    Model::ZSet(zset) => count(usize::from(zset.insert(value(*m), i64::from(*score)).is_none())),
                    _ => wrongtype(),
                };
                let words = vec![b"ZADD".to_vec(), key(*k), score.to_string().into_bytes(), value(*m)];
                (self.run(words), expected)
            }
            Op::ZIncrBy(k, by, m) => {
                let expected = match self
                    .model
                    .entry(key(*k))
                    .or_insert_with(|| Model::ZSet(BTreeMap::new()))
                {
                    Model::ZSet(zset) => {
                        let score = zset.entry(value(*m)).or_insert(0);
                        *score += i64::from(*by);
                        Reply::Double(*score as f64)
                    }
                    _ => wrongtype(),
                };
                let words = vec![b"ZINCRBY".to_vec(), key(*k), by.to_string().into_bytes(), value(*m)];
                (self.run(words), expected)
            }
            Op::ZRem(k, m) => {
                let expected = match self.model.get_mut(&key(*k)) {
                    None => int(0),
                    Some(Model::ZSet(zset)) => {
                        let removed = zset.remove(&value(*m)).is_some();
                        if zset.is_empty() {
                            self.model.remove(&key(*k));
                        }
                        count(usize::from(removed))
                    }
                    Some(_) => wrongtype(),
                };
                (self.run(vec![b"ZREM".to_vec(), key(*k), value(*m)]), expected)
            }
            Op::ZScore(k, m) => {
                let expected = match self.model.get(&key(*k)) {
                    None => nil(),
                    Some(Model::ZSet(zset)) => zset.get(&value(*m)).map_or(nil(), |s| Reply::Double(*s as f64)),
                    Some(_) => wrongtype(),
                };
                (self.run(vec![b"ZSCORE".to_vec(), key(*k), value(*m)]), expected)
            }
            Op::ZCard(k) => {
                let expected = match self.model.get(&key(*k)) {
                    None => int(0),
                    Some(Model::ZSet(zset)) => count(zset.len()),
                    Some(_) => wrongtype(),
                };
                (self.run(vec![b"ZCARD".to_vec(), key(*k)]), expected)
            }
            Op::ZRank(k, m) => {
                let expected = match self.model.get(&key(*k)) {
                    None => nil(),
                    Some(Model::ZSet(zset)) => {
                        let member = value(*m);
                        match zset.get(&member) {
                            None => nil(),
                            Some(score) => count(
                                zset.iter()
                                    .filter(|(other, s)| (**s, other.as_slice()) < (*score, member.as_slice()))
                                    .count(),
                            ),
                        }
                    }
                    Some(_) => wrongtype(),
                };
                (self.run(vec![b"ZRANK".to_vec(), key(*k), value(*m)]), expected)
            }
            Op::ZRange(k, start, stop) => {
                let expected = match self.model.get(&key(*k)) {
                    None => arr(vec![]),
                    Some(Model::ZSet(zset)) => {
                        let mut ordered: Vec<(i64, &Vec<u8>)> = zset.iter().map(|(m, s)| (*s, m)).collect();
                        ordered.sort();
                        let len = ordered.len() as i64;
                        let resolve = |index: i8| {
                            let index = i64::from(index);
                            if index < 0 {
                                index + len
                            } else {
                                index
                            }
                        };
                        let (s, e) = (resolve(*start).max(0), resolve(*stop).min(len - 1));
                        if s > e || s >= len {
                            arr(vec![])
                        } else {
                            Reply::Pairs(
                                ordered[s as usize..=e as usize]
                                    .iter()
                                    .map(|(score, member)| (b(member), Reply::Double(*score as f64)))
                                    .collect(),
                            )
                        }
                    }
                    Some(_) => wrongtype(),
                };
                let words = vec![
                    b"ZRANGE".to_vec(),
                    key(*k),
                    start.to_string().into_bytes(),
                    stop.to_string().into_bytes(),
                    b"WITHSCORES".to_vec(),
                ];
                // An empty result encodes the same either way.
                let actual = match self.run(words) {
                    Reply::Pairs(pairs) if pairs.is_empty() => arr(vec![]),
                    other => other,
                };
                (actual, expected)
            }
            Op::PExpire(k, ms) => {
                let expected = if self.model.contains_key(&key(*k)) {
                    if *ms == 0 {
                        self.model.remove(&key(*k));
                    } else {
                        self.expiry.insert(key(*k), self.h.now_ms + i64::from(*ms));
                    }
                    int(1)
                } else {
                    int(0)
                };
                (
                    self.run(vec![b"PEXPIRE".to_vec(), key(*k), ms.to_string().into_bytes()]),
                    expected,
                )
            }
            Op::Persist(k) => {
                let expected = count(usize::from(self.expiry.remove(&key(*k)).is_some()));
                (self.run(vec![b"PERSIST".to_vec(), key(*k)]), expected)
            }
            Op::PTtl(k) => {
                let expected = match (self.model.contains_key(&key(*k)), self.expiry.get(&key(*k))) {
                    (false, _) => int(-2),
                    (true, None) => int(-1),
                    (true, Some(at)) => int(at - self.h.now_ms),
                };
                (self.run(vec![b"PTTL".to_vec(), key(*k)]), expected)
            }
            Op::Advance(ms) => {
                self.h.advance(i64::from(*ms));
                (Reply::Null, Reply::Null)
            }
        }
    }
}

/// Reads fuzz bytes as model commands: one selector byte, then the
/// arguments' bytes; short input reads as zeros, so every input is valid.
pub struct OpReader<'a> {
    bytes: &'a [u8],
}

impl<'a> OpReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn u8(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((first, rest)) => {
                self.bytes = rest;
                *first
            }
            None => 0,
        }
    }

    fn i8(&mut self) -> i8 {
        self.u8() as i8
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A counter increment: mostly small, sometimes at the i64 edges so
    /// overflow is reached.
    fn increment(&mut self) -> i64 {
        match self.u8() {
            0 => i64::MAX,
            1 => i64::MIN,
            2 => i64::MAX / 2 + 1,
            n => i64::from(n as i8),
        }
    }
}

impl Iterator for OpReader<'_> {
    type Item = Op;

    fn next(&mut self) -> Option<Op> {
        if self.bytes.is_empty() {
            return None;
        }
        let selector = self.u8();
        let k = self.u8();
        Some(match selector % 45 {
            0 => Op::Set(k, self.u8()),
            1 => Op::Get(k),
            2 => Op::Append(k, self.u8()),
            3 => Op::Incr(k),
            4 => Op::Del(k),
            5 => Op::Exists(k),
            6 => Op::Type(k),
            7 => Op::Strlen(k),
            8 => Op::HSet(k, self.u8(), self.u8()),
            9 => Op::HGet(k, self.u8()),
            10 => Op::HDel(k, self.u8()),
            11 => Op::HLen(k),
            12 => Op::HGetAll(k),
            13 => Op::HBulk(k, self.u16() % 300),
            14 => Op::LPush(k, self.u8()),
            15 => Op::RPush(k, self.u8()),
            16 => Op::LPop(k),
            17 => Op::RPop(k),
            18 => Op::LLen(k),
            19 => Op::LRange(k, self.i8(), self.i8()),
            20 => Op::LIndex(k, self.i8()),
            21 => Op::SAdd(k, self.u8()),
            22 => Op::SRem(k, self.u8()),
            23 => Op::SIsMember(k, self.u8()),
            24 => Op::SCard(k),
            25 => Op::SMembers(k),
            26 => Op::SBulk(k, self.u16() % 700, self.bool()),
            27 => Op::SetBit(k, self.u16() % 400, self.bool()),
            28 => Op::GetBit(k, self.u16() % 400),
            29 => {
                let range = self
                    .bool()
                    .then(|| ((self.i8() % 60).into(), (self.i8() % 60).into(), self.bool()));
                Op::BitCount(k, range)
            }
            30 => Op::IncrBy(k, self.increment()),
            31 => Op::ZAdd(k, self.i8(), self.u8()),
            32 => Op::ZIncrBy(k, self.i8(), self.u8()),
            33 => Op::ZRem(k, self.u8()),
            34 => Op::ZScore(k, self.u8()),
            35 => Op::ZCard(k),
            36 => Op::ZRank(k, self.u8()),
            37 => Op::ZRange(k, self.i8(), self.i8()),
            38 => Op::PExpire(k, self.u16() % 2000),
            39 => Op::Persist(k),
            40 => Op::PTtl(k),
            41 => Op::Advance(u16::from(k) * 4),
            42 => Op::IncrBy(k, -1),
            43 => Op::ZAdd(k, self.i8() % 4, self.u8() % 16),
            _ => Op::Advance(u16::from(k % 8)),
        })
    }
}
