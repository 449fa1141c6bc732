//! The value stored under a key, and how strings are encoded.
//!
//! `Value` is 24 bytes: strings that print as a canonical integer are kept
//! as an `i64` (Redis's `int` encoding), strings up to 22 bytes inline, and
//! the aggregate types behind one pointer each.

use bytes::Bytes;

use super::compact::CompactBytes;
use super::hash::HashValue;
use super::list::ListValue;
use super::numbers::{format_i64, i64_text_len, parse_i64, MAX_I64_TEXT};
use super::set::SetValue;
use super::zset::ZSet;

/// Longest string Redis accepts (`proto-max-bulk-len`, 512 MB).
pub const MAX_STRING_LEN: usize = 512 * 1024 * 1024;

// `Growable` boxes its Vec on purpose: a bare Vec would make every value 32
// bytes instead of 24, for the rare strings that are appended to.
#[allow(clippy::box_collection)]
pub enum Value {
    Int(i64),
    Str(CompactBytes),
    /// A string grown by APPEND or SETRANGE: spare capacity keeps repeated
    /// appends amortised O(1), as Redis's sds does.
    Growable(Box<Vec<u8>>),
    List(Box<ListValue>),
    Hash(Box<HashValue>),
    Set(Box<SetValue>),
    ZSet(Box<ZSet>),
}

/// A string value (or set member) without copying it: integers stay
/// integers until someone needs their bytes.
#[derive(Clone, Copy, Debug)]
pub enum StrRef<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl StrRef<'_> {
    /// Calls `f` with the bytes, formatting an integer on the stack.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            StrRef::Int(value) => f(format_i64(*value, &mut [0; MAX_I64_TEXT])),
            StrRef::Bytes(bytes) => f(bytes),
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        self.with_bytes(Bytes::copy_from_slice)
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }

    pub fn len(&self) -> usize {
        match self {
            StrRef::Int(value) => i64_text_len(*value),
            StrRef::Bytes(bytes) => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value as an integer, if it is one as Redis reads integers.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            StrRef::Int(value) => Some(*value),
            StrRef::Bytes(bytes) => parse_i64(bytes),
        }
    }
}

/// The names TYPE reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Hash,
    Set,
    ZSet,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
        }
    }

    /// Parses a TYPE name (SCAN's TYPE filter), case-insensitively.
    pub fn from_name(name: &[u8]) -> Option<ValueType> {
        [
            ValueType::String,
            ValueType::List,
            ValueType::Hash,
            ValueType::Set,
            ValueType::ZSet,
        ]
        .into_iter()
        .find(|kind| kind.name().as_bytes().eq_ignore_ascii_case(name))
    }
}

impl Value {
    /// A string value in its most compact encoding.
    pub fn string(bytes: &[u8]) -> Value {
        match parse_i64(bytes) {
            Some(value) => Value::Int(value),
            None => Value::Str(CompactBytes::new(bytes)),
        }
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Int(_) | Value::Str(_) | Value::Growable(_) => ValueType::String,
            Value::List(_) => ValueType::List,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
            Value::ZSet(_) => ValueType::ZSet,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<StrRef<'_>> {
        match self {
            Value::Int(value) => Some(StrRef::Int(*value)),
            Value::Str(bytes) => Some(StrRef::Bytes(bytes.as_bytes())),
            Value::Growable(bytes) => Some(StrRef::Bytes(bytes)),
            _ => None,
        }
    }

    /// True for an aggregate with no elements left (Redis deletes the key).
    pub fn is_empty_aggregate(&self) -> bool {
        match self {
            Value::List(list) => list.is_empty(),
            Value::Hash(hash) => hash.is_empty(),
            Value::Set(set) => set.is_empty(),
            Value::ZSet(zset) => zset.is_empty(),
            Value::Int(_) | Value::Str(_) | Value::Growable(_) => false,
        }
    }

    /// What OBJECT ENCODING reports.
    pub fn encoding_name(&self) -> &'static str {
        /// Redis embeds strings up to 44 bytes in the object header.
        const EMBSTR_MAX: usize = 44;
        match self {
            Value::Int(_) => "int",
            Value::Str(bytes) if bytes.len() <= EMBSTR_MAX => "embstr",
            Value::Str(_) | Value::Growable(_) => "raw",
            Value::List(_) => "quicklist",
            Value::Hash(hash) => hash.encoding_name(),
            Value::Set(set) => set.encoding_name(),
            Value::ZSet(zset) => zset.encoding(),
        }
    }

    /// Heap bytes held beyond the value's own 24 bytes (approximate).
    /// Heap bytes held, counting every element of a collection: O(n).
    pub fn heap_bytes(&self) -> usize {
        self.heap_bytes_sampled(0)
    }

    /// Heap bytes held, a large list's, set's or hash's elements estimated
    /// from the first `samples` of them (every one when 0), as Redis's
    /// `MEMORY USAGE ... SAMPLES` does. A sorted set keeps its members'
    /// byte count, so it is always exact.
    pub fn heap_bytes_sampled(&self, samples: usize) -> usize {
        match self {
            Value::Int(_) => 0,
            Value::Str(bytes) => bytes.heap_bytes(),
            Value::Growable(bytes) => bytes.capacity() + std::mem::size_of::<Vec<u8>>(),
            Value::List(list) => list.heap_bytes_sampled(samples) + std::mem::size_of::<ListValue>(),
            Value::Hash(hash) => hash.heap_bytes_sampled(samples) + std::mem::size_of::<HashValue>(),
            Value::Set(set) => set.heap_bytes_sampled(samples) + std::mem::size_of::<SetValue>(),
            Value::ZSet(zset) => zset.memory_bytes() + std::mem::size_of::<ZSet>(),
        }
    }
}

/// Access to one aggregate type inside a [`Value`], so that the keyspace can
/// offer "get this key as a hash, or WRONGTYPE" once for every type.
pub trait Aggregate: Sized {
    fn of(value: &Value) -> Option<&Self>;
    fn of_mut(value: &mut Value) -> Option<&mut Self>;
    fn new_value() -> Value;
}

macro_rules! aggregate {
    ($type:ty, $variant:ident) => {
        impl Aggregate for $type {
            fn of(value: &Value) -> Option<&Self> {
                match value {
                    Value::$variant(inner) => Some(inner),
                    _ => None,
                }
            }

            fn of_mut(value: &mut Value) -> Option<&mut Self> {
                match value {
                    Value::$variant(inner) => Some(inner),
                    _ => None,
                }
            }

            fn new_value() -> Value {
                Value::$variant(Box::default())
            }
        }
    };
}

aggregate!(ListValue, List);
aggregate!(HashValue, Hash);
aggregate!(SetValue, Set);
aggregate!(ZSet, ZSet);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }

    #[test]
    fn canonical_integers_use_the_int_encoding() {
        assert!(matches!(Value::string(b"123"), Value::Int(123)));
        assert!(matches!(Value::string(b"0123"), Value::Str(_)));
        assert!(matches!(Value::string(b"-0"), Value::Str(_)));
        assert_eq!(
            Value::string(b"-45").as_str().map(|s| s.to_vec()),
            Some(b"-45".to_vec())
        );
        assert_eq!(Value::string(b"12345678901234567890123456").encoding_name(), "embstr");
        assert_eq!(Value::string(&[b'a'; 45]).encoding_name(), "raw");
    }
}
