//! Strings, hashes, lists and sets against a plain model built from std
//! collections: every reply must be what the model predicts, including
//! WRONGTYPE and integer errors, across the compact-to-table encoding
//! conversions (bulk adds push values past the thresholds).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use bytes::Bytes;
use common::*;
use memoir_engine::resp::Reply;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Model {
    Str(Vec<u8>),
    List(VecDeque<Vec<u8>>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
}

#[derive(Debug, Clone)]
enum Op {
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
}

const KEYS: [&str; 4] = ["k1", "k2", "k3", "k4"];

fn key(i: u8) -> Vec<u8> {
    KEYS[usize::from(i) % KEYS.len()].as_bytes().to_vec()
}

/// Values: short strings, integers, and long ones past the packed limits.
fn value(i: u8) -> Vec<u8> {
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

fn op() -> impl Strategy<Value = Op> {
    let k = || any::<u8>();
    prop_oneof![
        (k(), k()).prop_map(|(a, b)| Op::Set(a, b)),
        k().prop_map(Op::Get),
        (k(), k()).prop_map(|(a, b)| Op::Append(a, b)),
        k().prop_map(Op::Incr),
        k().prop_map(Op::Del),
        k().prop_map(Op::Exists),
        k().prop_map(Op::Type),
        k().prop_map(Op::Strlen),
        (k(), k(), k()).prop_map(|(a, b, c)| Op::HSet(a, b, c)),
        (k(), k()).prop_map(|(a, b)| Op::HGet(a, b)),
        (k(), k()).prop_map(|(a, b)| Op::HDel(a, b)),
        k().prop_map(Op::HLen),
        k().prop_map(Op::HGetAll),
        (k(), 0u16..300).prop_map(|(a, n)| Op::HBulk(a, n)),
        (k(), k()).prop_map(|(a, b)| Op::LPush(a, b)),
        (k(), k()).prop_map(|(a, b)| Op::RPush(a, b)),
        k().prop_map(Op::LPop),
        k().prop_map(Op::RPop),
        k().prop_map(Op::LLen),
        (k(), any::<i8>(), any::<i8>()).prop_map(|(a, b, c)| Op::LRange(a, b, c)),
        (k(), any::<i8>()).prop_map(|(a, b)| Op::LIndex(a, b)),
        (k(), k()).prop_map(|(a, b)| Op::SAdd(a, b)),
        (k(), k()).prop_map(|(a, b)| Op::SRem(a, b)),
        (k(), k()).prop_map(|(a, b)| Op::SIsMember(a, b)),
        k().prop_map(Op::SCard),
        k().prop_map(Op::SMembers),
        (k(), 0u16..700, any::<bool>()).prop_map(|(a, n, ints)| Op::SBulk(a, n, ints)),
        (k(), 0u16..400, any::<bool>()).prop_map(|(a, offset, on)| Op::SetBit(a, offset, on)),
        (k(), 0u16..400).prop_map(|(a, offset)| Op::GetBit(a, offset)),
        (k(), proptest::option::of((-60i16..60, -60i16..60, any::<bool>())))
            .prop_map(|(a, range)| Op::BitCount(a, range)),
    ]
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

struct World {
    model: HashMap<Vec<u8>, Model>,
    h: Harness,
}

impl World {
    fn run(&mut self, words: Vec<Vec<u8>>) -> Reply {
        self.h.run_argv(words.into_iter().map(Bytes::from).collect())
    }

    /// Executes `op` on both and returns (actual, expected), normalised.
    fn step(&mut self, op: &Op) -> (Reply, Reply) {
        let wrongtype = || err(WRONGTYPE);
        match op {
            Op::Set(k, v) => {
                self.model.insert(key(*k), Model::Str(value(*v)));
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
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn commands_agree_with_the_model(ops in prop::collection::vec(op(), 1..150)) {
        // Replies are the point here; the replica is compared once at the
        // end rather than after every step (replication_determinism.rs
        // does that).
        let mut h = Harness::new();
        h.check_replica = false;
        let mut world = World { model: HashMap::new(), h };
        for op in &ops {
            let (actual, expected) = world.step(op);
            prop_assert_eq!(actual, expected, "after {:?}", op);
        }
        prop_assert_eq!(world.h.primary.dbsize(0), world.model.len());
        prop_assert_eq!(world.h.primary.digest(), world.h.replica.digest());
    }
}
