//! DUMP and RESTORE: a key's value as bytes and back.
//!
//! The payload is Memoir's own (`docs/format.md`, "DUMP payload"): the
//! snapshot value encoding without expiry, then a 2-byte version and a
//! CRC-32C, mirroring the shape of Redis's (RDB value, RDB version,
//! CRC-64). A payload from Redis, or a damaged one, is refused with Redis's
//! own error text: Memoir and Redis do not exchange DUMP payloads.

use bytes::Bytes;

use super::args::{self, is};
use super::errors::{CmdError, CmdResult};
use crate::keyspace::access::DbAccess;
use crate::keyspace::serial::{decode_value, encode_value};
use crate::resp::Reply;

/// Version of the DUMP payload; high byte `M` so it never matches an RDB
/// version number.
const DUMP_VERSION: u16 = 0x4d01;
const TRAILER_LEN: usize = 2 + 4;
const BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
const BAD_DATA: &str = "ERR Bad data format";
const BUSY_KEY: &str = "BUSYKEY Target key name already exists.";
const BAD_TTL: &str = "ERR Invalid TTL value, must be >= 0";

/// The payload of one value.
pub fn dump_payload(value: &crate::keyspace::value::Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(value, None, &mut out);
    seal_payload(out)
}

/// Appends the version and checksum to an encoded value.
pub fn seal_payload(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&DUMP_VERSION.to_le_bytes());
    let crc = crc32c::crc32c(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// DUMP key: the payload, or nil for a missing key.
pub fn dump(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key] = argv else { return Err(CmdError::Arity) };
    let Some(pos) = db.lookup(key) else {
        return Ok(Reply::Null);
    };
    let value = db.value(pos).ok_or(CmdError::Static(BAD_DATA))?;
    Ok(Reply::Bulk(Bytes::from(dump_payload(value))))
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f].
/// Propagated with the expiry made absolute (`ABSTTL REPLACE`), or as DEL
/// when that expiry has already passed.
pub fn restore(db: &mut DbAccess<'_>, argv: &[Bytes]) -> CmdResult {
    let [_, key, ttl, payload, options @ ..] = argv else {
        return Err(CmdError::Arity);
    };
    let mut replace = false;
    let mut absolute = false;
    let mut i = 0;
    while let Some(option) = options.get(i) {
        if is(option, "REPLACE") {
            replace = true;
        } else if is(option, "ABSTTL") {
            absolute = true;
        } else if (is(option, "IDLETIME") || is(option, "FREQ")) && i + 1 < options.len() {
            // Memoir keeps no LRU/LFU data; the values are checked and
            // ignored, as Redis ignores the one its policy does not use.
            let amount = args::int(&options[i + 1])?;
            if amount < 0 {
                return Err(CmdError::Static(if is(option, "FREQ") {
                    "ERR Invalid FREQ value, must be >= 0 and <= 255"
                } else {
                    "ERR Invalid IDLETIME value, must be >= 0"
                }));
            }
            if is(option, "FREQ") && amount > 255 {
                return Err(CmdError::Static("ERR Invalid FREQ value, must be >= 0 and <= 255"));
            }
            i += 1;
        } else {
            return Err(CmdError::SYNTAX);
        }
        i += 1;
    }
    let ttl = args::int(ttl)?;
    if ttl < 0 {
        return Err(CmdError::Static(BAD_TTL));
    }
    let exists = db.lookup(key).is_some();
    if exists && !replace {
        return Err(CmdError::Static(BUSY_KEY));
    }
    let (value, _) = decode_payload(payload)?;
    let expire_at = match (ttl, absolute) {
        (0, _) => None,
        (at, true) => Some(at),
        (ms, false) => Some(ms.checked_add(db.now_ms()).ok_or(CmdError::InvalidExpire)?),
    };
    if let Some(at) = expire_at {
        if db.deletes_expired() && at <= db.now_ms() {
            // Already expired: Redis stores nothing (and deletes what
            // REPLACE would have replaced).
            if exists && db.delete(key) {
                db.propagate(vec![Bytes::from_static(b"DEL"), key.clone()]);
            }
            return Ok(Reply::SimpleString("OK".to_owned()));
        }
    }
    db.put(key, value, expire_at);
    db.propagate(vec![
        Bytes::from_static(b"RESTORE"),
        key.clone(),
        args::bulk_i64(expire_at.unwrap_or(0)),
        payload.clone(),
        Bytes::from_static(b"ABSTTL"),
        Bytes::from_static(b"REPLACE"),
    ]);
    Ok(Reply::SimpleString("OK".to_owned()))
}

fn decode_payload(payload: &[u8]) -> Result<(crate::keyspace::value::Value, Option<i64>), CmdError> {
    if payload.len() < TRAILER_LEN {
        return Err(CmdError::Static(BAD_PAYLOAD));
    }
    let (body_and_version, crc) = payload.split_at(payload.len() - 4);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let (body, version) = body_and_version.split_at(body_and_version.len() - 2);
    if u16::from_le_bytes([version[0], version[1]]) != DUMP_VERSION || crc32c::crc32c(body_and_version) != stored {
        return Err(CmdError::Static(BAD_PAYLOAD));
    }
    match decode_value(body) {
        Ok((value, None)) => Ok((value, None)),
        _ => Err(CmdError::Static(BAD_DATA)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_payloads_are_refused() {
        let payload = dump_payload(&crate::keyspace::value::Value::string(b"hello"));
        assert!(decode_payload(&payload).is_ok());
        for byte in 0..payload.len() {
            let mut damaged = payload.clone();
            damaged[byte] ^= 0x01;
            assert!(decode_payload(&damaged).is_err(), "flip at {byte}");
        }
        assert!(decode_payload(&payload[..3]).is_err());
        // A Redis 7 payload of the string "hello" (RDB 10).
        let redis = b"\x00\x05hello\x0a\x00\xa3\xf2\xc6\xa3\xe0\x9a\x9d\x0b";
        assert!(decode_payload(redis).is_err());
    }
}
