//! The dataset digest (DEBUG DIGEST): one SHA-1-sized fingerprint of every
//! database, key, value and expiry, equal on two nodes exactly when their
//! data is, so tests can compare a primary, its replicas and a restored
//! snapshot.
//!
//! Like Redis's, it combines per-key digests with XOR so that it does not
//! depend on the order keys are stored in, and it is all zeros for an empty
//! dataset. Inside a value, order-free collections (hash fields, set
//! members) are combined with XOR too, while a list's elements are chained,
//! so their order counts. Strings are digested as their bytes whatever
//! their encoding, so `int` and `embstr` forms of "42" agree.

use sha1::{Digest as _, Sha1};

use super::value::Value;

pub type Digest = [u8; 20];

/// `state = SHA1(state || len(data) || data)`: an order-sensitive step. The
/// length prefix keeps `["ab"]` and `["a", "b"]` apart.
pub fn mix(state: &mut Digest, data: &[u8]) {
    let length = u64::try_from(data.len()).unwrap_or(u64::MAX);
    *state = Sha1::new()
        .chain_update(*state)
        .chain_update(length.to_le_bytes())
        .chain_update(data)
        .finalize()
        .into();
}

pub fn xor_into(state: &mut Digest, other: &Digest) {
    for (byte, other) in state.iter_mut().zip(other) {
        *byte ^= other;
    }
}

/// The digest of an order-free element made of `parts`.
fn element(parts: &[&[u8]]) -> Digest {
    let mut digest = [0; 20];
    for part in parts {
        mix(&mut digest, part);
    }
    digest
}

/// The digest of one key with its value and expiry.
pub fn entry(key: &[u8], value: &Value, expire_at: Option<i64>) -> Digest {
    let mut digest = [0; 20];
    mix(&mut digest, key);
    mix(&mut digest, value.value_type().name().as_bytes());
    match value {
        Value::Int(_) | Value::Str(_) | Value::Growable(_) => {
            if let Some(text) = value.as_str() {
                text.with_bytes(|bytes| mix(&mut digest, bytes));
            }
        }
        Value::List(list) => {
            for item in list.iter() {
                mix(&mut digest, item);
            }
        }
        Value::Hash(hash) => {
            let mut fields = [0; 20];
            for (field, value) in hash.iter() {
                xor_into(&mut fields, &element(&[field, value]));
            }
            mix(&mut digest, &fields);
        }
        Value::Set(set) => {
            let mut members = [0; 20];
            for member in set.iter() {
                member.with_bytes(|bytes| xor_into(&mut members, &element(&[bytes])));
            }
            mix(&mut digest, &members);
        }
        Value::ZSet(zset) => {
            let mut members = [0; 20];
            for (member, score) in zset.iter() {
                xor_into(&mut members, &element(&[member, &score.to_bits().to_le_bytes()]));
            }
            mix(&mut digest, &members);
        }
    }
    if let Some(at) = expire_at {
        mix(&mut digest, b"expire");
        mix(&mut digest, &at.to_le_bytes());
    }
    digest
}
