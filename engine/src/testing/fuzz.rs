//! Fuzz entry points that drive whole commands through the [`Harness`]
//! (the decoders' own entry points live next to them: `resp`, `record`,
//! `keyspace::serial`). A panic is a finding; its message says what
//! differed.

use bytes::Bytes;

use super::harness::Harness;
use super::model::{OpReader, World};
use crate::commands::dump::seal_payload;
use crate::keyspace::digest;
use crate::keyspace::serial::decode_value;
use crate::resp::Reply;

/// Commands per input: enough to build and convert every encoding, few
/// enough that each input runs in well under a millisecond.
const MAX_OPS: usize = 256;

/// Differential target: the bytes are a sequence of model commands over
/// four keys, run on the engine and on the model; every reply must agree,
/// and at the end the replica must hold the primary's data.
pub fn engine_model(data: &[u8]) {
    let mut world = World::new();
    let ops: Vec<_> = OpReader::new(data).take(MAX_OPS).collect();
    for (index, op) in ops.iter().enumerate() {
        let (actual, expected) = world.step(op);
        if actual != expected {
            panic!(
                "command {index} {op:?}: the engine replied {actual:?}, the model expects {expected:?}\n\
                 commands: {:?}",
                &ops[..=index]
            );
        }
    }
    if let Err(difference) = world.check_final() {
        panic!("after {} commands: {difference}\ncommands: {ops:?}", ops.len());
    }
}

/// DUMP/RESTORE payloads: the bytes as a whole payload (framing checks),
/// then as a value body sealed with a valid version and checksum (to reach
/// the value decoder through RESTORE). A restored value must dump to the
/// same data, replicate identically, and survive reads and writes that
/// convert its encoding.
pub fn dump_payload(data: &[u8]) {
    let mut h = Harness::new();
    let word = |text: &'static str| Bytes::from_static(text.as_bytes());
    let raw = h.run_argv(vec![
        word("RESTORE"),
        word("raw"),
        word("0"),
        Bytes::copy_from_slice(data),
    ]);
    assert!(
        matches!(&raw, Reply::Error(_) | Reply::SimpleString(_)),
        "RESTORE of raw bytes replied {raw:?}"
    );
    let sealed = Bytes::from(seal_payload(data.to_vec()));
    if h.run_argv(vec![word("RESTORE"), word("v"), word("0"), sealed]) != Reply::SimpleString("OK".into()) {
        return;
    }
    let Ok((original, None)) = decode_value(data) else {
        panic!("RESTORE accepted a body the value decoder refuses");
    };
    let Reply::Bulk(dumped) = h.run_argv(vec![word("DUMP"), word("v")]) else {
        panic!("DUMP of a restored key is not a payload");
    };
    let body = &dumped[..dumped.len().saturating_sub(6)];
    let Ok((again, None)) = decode_value(body) else {
        panic!("DUMP wrote a body the value decoder refuses");
    };
    assert_eq!(
        digest::entry(b"v", &again, None),
        digest::entry(b"v", &original, None),
        "DUMP after RESTORE changes the value"
    );
    // Reads of every type (WRONGTYPE for all but one), then writes that
    // grow the value past its compact encoding's limits.
    for command in [
        &["TYPE", "v"][..],
        &["GET", "v"],
        &["STRLEN", "v"],
        &["LRANGE", "v", "0", "-1"],
        &["LINDEX", "v", "-1"],
        &["HGETALL", "v"],
        &["HLEN", "v"],
        &["SMEMBERS", "v"],
        &["SISMEMBER", "v", "1"],
        &["ZRANGE", "v", "0", "-1", "WITHSCORES"],
        &["ZRANK", "v", "a"],
        &["APPEND", "v", "x"],
        &["INCR", "v"],
        &["LPUSH", "v", "x"],
        &["LPOP", "v"],
        &["HSET", "v", "f", "x"],
        &["HDEL", "v", "f"],
        &["SADD", "v", "member", "17"],
        &["SREM", "v", "17"],
        &["ZADD", "v", "1.5", "a"],
        &["ZREM", "v", "a"],
        &["DUMP", "v"],
    ] {
        // Each reply may be anything but a panic; the harness compares the
        // replica's data after every command.
        h.run(command);
    }
}
