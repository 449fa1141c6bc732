//! The byte form of one value with its expiry: what snapshots store for
//! each key (docs/format.md, "Snapshot values").
//!
//! Hand-written rather than serde-derived because it is a stored format
//! with a byte layout we promise to read back across versions, and because
//! the decoder is fed outside bytes: every length is checked against what
//! is left before anything is allocated, and a value that could not have
//! been produced by the encoder (a duplicate member, an empty collection, a
//! NaN score) is rejected as corruption instead of being loaded.
//!
//! ```text
//! tag u8 (0 string, 1 list, 2 hash, 3 set, 4 zset)
//! flags u8 (bit 0: an expiry follows; other bits must be 0)
//! [expire_at_ms i64 LE]                       if flags bit 0
//! string: the bytes, to the end
//! list, set: count varint, then count x (len varint, bytes)
//! hash:      count varint, then count x (field, value) each (len varint, bytes)
//! zset:      count varint, then count x (len varint, member, score f64 LE)
//! ```
//! Varints are unsigned LEB128, at most 10 bytes.

use bytes::Bytes;
use thiserror::Error;

use super::hash::HashValue;
use super::list::{End, ListValue};
use super::set::SetValue;
use super::value::{Value, MAX_STRING_LEN};
use super::zset::ZSet;

const TAG_STRING: u8 = 0;
const TAG_LIST: u8 = 1;
const TAG_HASH: u8 = 2;
const TAG_SET: u8 = 3;
const TAG_ZSET: u8 = 4;
const FLAG_EXPIRY: u8 = 1;

/// Why bytes are not a value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueDecodeError {
    #[error("value ends early at byte {0}")]
    Truncated(usize),
    #[error("unknown value type tag {0}")]
    UnknownTag(u8),
    #[error("unknown flags {0:#04x}")]
    UnknownFlags(u8),
    #[error("malformed length at byte {0}")]
    BadVarint(usize),
    #[error("{0} trailing bytes after the value")]
    Trailing(usize),
    #[error("impossible value: {0}")]
    Invalid(&'static str),
}

/// Appends the encoding of `value` (expiring at `expire_at_ms`) to `out`.
pub fn encode_value(value: &Value, expire_at_ms: Option<i64>, out: &mut Vec<u8>) {
    let tag = match value {
        Value::Int(_) | Value::Str(_) | Value::Growable(_) => TAG_STRING,
        Value::List(_) => TAG_LIST,
        Value::Hash(_) => TAG_HASH,
        Value::Set(_) => TAG_SET,
        Value::ZSet(_) => TAG_ZSET,
    };
    out.push(tag);
    match expire_at_ms {
        Some(at) => {
            out.push(FLAG_EXPIRY);
            out.extend_from_slice(&at.to_le_bytes());
        }
        None => out.push(0),
    }
    match value {
        Value::Int(_) | Value::Str(_) | Value::Growable(_) => {
            if let Some(text) = value.as_str() {
                text.with_bytes(|bytes| out.extend_from_slice(bytes));
            }
        }
        Value::List(list) => {
            put_varint(out, list.len() as u64);
            for item in list.iter() {
                put_bytes(out, item);
            }
        }
        Value::Hash(hash) => {
            put_varint(out, hash.len() as u64);
            for (field, value) in hash.iter() {
                put_bytes(out, field);
                put_bytes(out, value);
            }
        }
        Value::Set(set) => {
            put_varint(out, set.len() as u64);
            for member in set.iter() {
                member.with_bytes(|bytes| put_bytes(out, bytes));
            }
        }
        Value::ZSet(zset) => {
            put_varint(out, zset.len() as u64);
            for (member, score) in zset.iter() {
                put_bytes(out, member);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
    }
}

/// Decodes one value and its expiry; the whole of `bytes` must be used.
pub fn decode_value(bytes: &[u8]) -> Result<(Value, Option<i64>), ValueDecodeError> {
    let mut reader = Reader { bytes, at: 0 };
    let tag = reader.byte()?;
    let flags = reader.byte()?;
    if flags & !FLAG_EXPIRY != 0 {
        return Err(ValueDecodeError::UnknownFlags(flags));
    }
    let expire_at = if flags & FLAG_EXPIRY != 0 {
        Some(i64::from_le_bytes(reader.array()?))
    } else {
        None
    };
    let value = match tag {
        TAG_STRING => {
            let rest = reader.rest();
            if rest.len() > MAX_STRING_LEN {
                return Err(ValueDecodeError::Invalid("string longer than 512 MB"));
            }
            Value::string(rest)
        }
        TAG_LIST => {
            let count = reader.count()?;
            let mut list = ListValue::new();
            for _ in 0..count {
                list.push(End::Tail, reader.bytes()?);
            }
            Value::List(Box::new(list))
        }
        TAG_HASH => {
            let count = reader.count()?;
            let mut hash = HashValue::new();
            for _ in 0..count {
                let field = reader.bytes()?;
                let value = reader.bytes()?;
                if !hash.set(field, value) {
                    return Err(ValueDecodeError::Invalid("duplicate hash field"));
                }
            }
            Value::Hash(Box::new(hash))
        }
        TAG_SET => {
            let count = reader.count()?;
            let mut set = SetValue::new();
            for _ in 0..count {
                if !set.insert(reader.bytes()?) {
                    return Err(ValueDecodeError::Invalid("duplicate set member"));
                }
            }
            Value::Set(Box::new(set))
        }
        TAG_ZSET => {
            let count = reader.count()?;
            let mut zset = ZSet::new();
            for _ in 0..count {
                let member = Bytes::copy_from_slice(reader.bytes()?);
                let score = f64::from_le_bytes(reader.array()?);
                if score.is_nan() {
                    return Err(ValueDecodeError::Invalid("NaN score"));
                }
                if zset.insert(member, score).is_some() {
                    return Err(ValueDecodeError::Invalid("duplicate sorted-set member"));
                }
            }
            Value::ZSet(Box::new(zset))
        }
        other => return Err(ValueDecodeError::UnknownTag(other)),
    };
    if reader.at != bytes.len() {
        return Err(ValueDecodeError::Trailing(bytes.len() - reader.at));
    }
    if value.is_empty_aggregate() {
        return Err(ValueDecodeError::Invalid("empty collection"));
    }
    Ok((value, expire_at))
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, ValueDecodeError> {
        let byte = *self.bytes.get(self.at).ok_or(ValueDecodeError::Truncated(self.at))?;
        self.at += 1;
        Ok(byte)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ValueDecodeError> {
        let slice = self.take(N)?;
        let mut array = [0u8; N];
        array.copy_from_slice(slice);
        Ok(array)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], ValueDecodeError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(ValueDecodeError::Truncated(self.bytes.len()))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = &self.bytes[self.at..];
        self.at = self.bytes.len();
        rest
    }

    fn varint(&mut self) -> Result<u64, ValueDecodeError> {
        let start = self.at;
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(ValueDecodeError::BadVarint(start));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ValueDecodeError::BadVarint(start))
    }

    /// An element count: each element takes at least one byte, so a count
    /// beyond the bytes left is corruption (and must not size anything).
    fn count(&mut self) -> Result<usize, ValueDecodeError> {
        let at = self.at;
        let count = self.varint()?;
        let left = (self.bytes.len() - self.at) as u64;
        if count > left {
            return Err(ValueDecodeError::Truncated(at));
        }
        usize::try_from(count).map_err(|_| ValueDecodeError::BadVarint(at))
    }

    fn bytes(&mut self) -> Result<&'a [u8], ValueDecodeError> {
        let at = self.at;
        let len = usize::try_from(self.varint()?).map_err(|_| ValueDecodeError::BadVarint(at))?;
        self.take(len)
    }
}

/// Decodes outside bytes as a snapshot value (fuzzing): an error or a
/// value, never a panic; what decodes re-encodes to bytes that decode to
/// the same data.
pub fn fuzz_value(data: &[u8]) {
    if let Ok((value, expire_at)) = decode_value(data) {
        let mut again = Vec::new();
        encode_value(&value, expire_at, &mut again);
        let (decoded, decoded_expire) = match decode_value(&again) {
            Ok(decoded) => decoded,
            Err(e) => panic!("a re-encoded value does not decode: {e}"),
        };
        assert_eq!(decoded_expire, expire_at);
        assert_eq!(
            super::digest::entry(b"k", &decoded, decoded_expire),
            super::digest::entry(b"k", &value, expire_at),
            "re-encoding changes the value"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::digest;

    fn round_trip(value: Value, expire: Option<i64>) {
        let mut bytes = Vec::new();
        encode_value(&value, expire, &mut bytes);
        let (decoded, decoded_expire) = decode_value(&bytes).expect("decodes");
        assert_eq!(decoded_expire, expire);
        assert_eq!(
            digest::entry(b"k", &decoded, decoded_expire),
            digest::entry(b"k", &value, expire)
        );
        // Every strict prefix is an error, never a panic or a shorter value.
        for cut in 0..bytes.len() {
            if let Ok((shorter, _)) = decode_value(&bytes[..cut]) {
                assert!(shorter.as_str().is_some(), "only a string can be cut and still decode");
            }
        }
    }

    #[test]
    fn every_type_round_trips() {
        round_trip(Value::string(b"hello"), None);
        round_trip(Value::string(b"-12345"), Some(1_700_000_000_000));
        round_trip(Value::string(b""), None);
        let mut list = ListValue::new();
        for i in 0..300 {
            list.push(End::Tail, format!("item-{i}").as_bytes());
        }
        round_trip(Value::List(Box::new(list)), Some(5));
        let mut hash = HashValue::new();
        for i in 0..200 {
            hash.set(format!("f{i}").as_bytes(), format!("v{i}").as_bytes());
        }
        round_trip(Value::Hash(Box::new(hash)), None);
        for extra in [None, Some(&b"not-an-int"[..])] {
            let mut set = SetValue::new();
            for i in 0..100 {
                set.insert(i.to_string().as_bytes());
            }
            if let Some(extra) = extra {
                set.insert(extra);
            }
            round_trip(Value::Set(Box::new(set)), None);
        }
        let mut zset = ZSet::new();
        for i in 0..150 {
            zset.insert(Bytes::from(format!("m{i}")), f64::from(i) * 0.5 - 3.0);
        }
        zset.insert(Bytes::from_static(b"inf"), f64::INFINITY);
        round_trip(Value::ZSet(Box::new(zset)), Some(-1));
    }

    #[test]
    fn impossible_values_are_rejected() {
        assert_eq!(decode_value(&[9, 0]).err(), Some(ValueDecodeError::UnknownTag(9)));
        assert_eq!(decode_value(&[0, 2]).err(), Some(ValueDecodeError::UnknownFlags(2)));
        assert_eq!(
            decode_value(&[TAG_LIST, 0, 0]).err(),
            Some(ValueDecodeError::Invalid("empty collection"))
        );
        assert_eq!(
            decode_value(&[TAG_SET, 0, 2, 1, b'a', 1, b'a']).err(),
            Some(ValueDecodeError::Invalid("duplicate set member"))
        );
        // A count far beyond the bytes left allocates nothing.
        assert_eq!(
            decode_value(&[TAG_LIST, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]).err(),
            Some(ValueDecodeError::Truncated(2))
        );
        assert_eq!(
            decode_value(&[TAG_LIST, 0, 1, 1, b'a', 0]).err(),
            Some(ValueDecodeError::Trailing(1))
        );
        let mut nan = vec![TAG_ZSET, 0, 1, 1, b'm'];
        nan.extend_from_slice(&f64::NAN.to_le_bytes());
        assert_eq!(decode_value(&nan).err(), Some(ValueDecodeError::Invalid("NaN score")));
    }
}
