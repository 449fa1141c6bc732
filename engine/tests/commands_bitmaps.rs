//! Bitmap commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
//! BITFIELD_RO) and LCS: replies and error texts as Redis 7.0.15 gives
//! them (checked against redis-server by hand), with the replica's digest
//! compared after every command by `Harness`.

mod common;

use bytes::Bytes;
use common::*;
use memoir_engine::resp::Reply;

const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BITFIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

fn set_raw(h: &mut Harness, key: &str, value: &[u8]) {
    let reply = h.run_argv(vec![
        Bytes::from_static(b"SET"),
        Bytes::copy_from_slice(key.as_bytes()),
        Bytes::copy_from_slice(value),
    ]);
    assert_eq!(reply, ok());
}

fn get_raw(h: &mut Harness, key: &str) -> Vec<u8> {
    match h.run(&["GET", key]) {
        Reply::Bulk(bytes) => bytes.to_vec(),
        other => panic!("not a bulk: {other:?}"),
    }
}

fn ints(values: &[i64]) -> Reply {
    arr(values.iter().map(|&value| int(value)).collect())
}

#[test]
fn setbit_and_getbit() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["SETBIT", "n", "7", "1"]), int(0));
    assert_eq!(h.effects(), vec!["SETBIT n 7 1"]);
    assert_eq!(get_raw(&mut h, "n"), vec![1u8]);
    // Same bit again: nothing changed, nothing propagated.
    assert_eq!(h.run(&["SETBIT", "n", "7", "1"]), int(1));
    assert!(h.last_effects.is_empty());
    // Clearing a bit past the end still grows the string.
    assert_eq!(h.run(&["SETBIT", "n", "100", "0"]), int(0));
    assert_eq!(h.effects(), vec!["SETBIT n 100 0"]);
    assert_eq!(h.run(&["STRLEN", "n"]), int(13));
    assert_eq!(h.run(&["GETBIT", "n", "7"]), int(1));
    assert_eq!(h.run(&["GETBIT", "n", "1000"]), int(0));
    assert_eq!(h.run(&["GETBIT", "missing", "3"]), int(0));

    // An integer-encoded string works on its text.
    h.run(&["SET", "i", "123"]);
    assert_eq!(h.run(&["SETBIT", "i", "0", "1"]), int(0));
    assert_eq!(get_raw(&mut h, "i"), b"\xb123".to_vec());
    assert_eq!(h.run(&["GETBIT", "i", "2"]), int(1));

    // A string kept long enough to leave the inline encoding.
    assert_eq!(h.run(&["SETBIT", "long", "400", "1"]), int(0));
    assert_eq!(h.run(&["GETBIT", "long", "400"]), int(1));
    assert_eq!(h.run(&["BITCOUNT", "long"]), int(1));
}

#[test]
fn setbit_keeps_the_ttl() {
    let mut h = Harness::new();
    h.run(&["SET", "k", "a", "PX", "5000"]);
    h.run(&["SETBIT", "k", "1", "0"]);
    assert_eq!(h.run(&["PTTL", "k"]), int(5000));
}

#[test]
fn bit_errors() {
    let mut h = Harness::new();
    h.run(&["HSET", "h", "f", "v"]);
    assert_eq!(h.run(&["SETBIT", "s", "-1", "1"]), err(BIT_OFFSET));
    assert_eq!(h.run(&["SETBIT", "s", "4294967296", "1"]), err(BIT_OFFSET));
    assert_eq!(h.run(&["SETBIT", "s", "x", "1"]), err(BIT_OFFSET));
    assert_eq!(
        h.run(&["SETBIT", "s", "0", "2"]),
        err("ERR bit is not an integer or out of range")
    );
    assert_eq!(
        h.run(&["SETBIT", "s", "0", "x"]),
        err("ERR bit is not an integer or out of range")
    );
    assert_eq!(h.run(&["SETBIT", "h", "0", "1"]), err(WRONGTYPE));
    assert_eq!(h.run(&["GETBIT", "s", "x"]), err(BIT_OFFSET));
    assert_eq!(h.run(&["GETBIT", "h", "0"]), err(WRONGTYPE));
    assert_eq!(h.run(&["BITCOUNT", "h"]), err(WRONGTYPE));
    assert_eq!(h.run(&["BITPOS", "h", "1"]), err(WRONGTYPE));
    assert_eq!(h.run(&["BITOP", "AND", "d", "h"]), err(WRONGTYPE));
    assert_eq!(h.run(&["BITFIELD", "h", "GET", "u8", "0"]), err(WRONGTYPE));
    assert_eq!(h.run(&["BITFIELD", "h", "SET", "u8", "0", "1"]), err(WRONGTYPE));
    assert_eq!(h.run(&["EXISTS", "s", "d"]), int(0));
    assert_eq!(
        h.run(&["SETBIT", "s"]),
        err("ERR wrong number of arguments for 'setbit' command")
    );
}

#[test]
fn bitcount_ranges() {
    let mut h = Harness::new();
    h.run(&["SET", "s", "foobar"]);
    assert_eq!(h.run(&["BITCOUNT", "s"]), int(26));
    assert_eq!(h.run(&["BITCOUNT", "s", "0", "0"]), int(4));
    assert_eq!(h.run(&["BITCOUNT", "s", "1", "1"]), int(6));
    assert_eq!(h.run(&["BITCOUNT", "s", "1", "1", "BIT"]), int(1));
    assert_eq!(h.run(&["BITCOUNT", "s", "5", "30", "bit"]), int(17));
    assert_eq!(h.run(&["BITCOUNT", "s", "-3", "-1", "BIT"]), int(1));
    assert_eq!(h.run(&["BITCOUNT", "s", "0", "-1", "BIT"]), int(26));
    assert_eq!(h.run(&["BITCOUNT", "s", "0", "-1", "byte"]), int(26));
    assert_eq!(h.run(&["BITCOUNT", "s", "-1", "-2"]), int(0));
    assert_eq!(h.run(&["BITCOUNT", "s", "1", "-100"]), int(0));
    assert_eq!(h.run(&["BITCOUNT", "s", "-100", "100"]), int(26));
    // Missing keys answer 0 before the arguments are even read.
    assert_eq!(h.run(&["BITCOUNT", "missing", "0"]), int(0));
    assert_eq!(h.run(&["BITCOUNT", "missing", "a", "b"]), int(0));
    assert_eq!(h.run(&["BITCOUNT", "s", "0"]), err(SYNTAX));
    assert_eq!(h.run(&["BITCOUNT", "s", "a", "b"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["BITCOUNT", "s", "0", "-1", "foo"]), err(SYNTAX));
    // An impossible negative range is 0 before the unit is checked.
    assert_eq!(h.run(&["BITCOUNT", "s", "-1", "-2", "foo"]), int(0));
    h.run(&["SET", "e", ""]);
    assert_eq!(h.run(&["BITCOUNT", "e"]), int(0));
}

#[test]
fn bitpos_ranges() {
    let mut h = Harness::new();
    set_raw(&mut h, "b", &[0xff, 0xf0, 0x00]);
    assert_eq!(h.run(&["BITPOS", "b", "0"]), int(12));
    assert_eq!(h.run(&["BITPOS", "b", "1", "2"]), int(-1));
    assert_eq!(h.run(&["BITPOS", "b", "0", "0", "0"]), int(-1));
    assert_eq!(h.run(&["BITPOS", "b", "0", "0", "1"]), int(12));
    assert_eq!(h.run(&["BITPOS", "b", "1", "2", "-1", "BYTE"]), int(-1));
    assert_eq!(h.run(&["BITPOS", "b", "0", "7", "15", "BIT"]), int(12));
    assert_eq!(h.run(&["BITPOS", "b", "1", "7", "15", "bit"]), int(7));
    assert_eq!(h.run(&["BITPOS", "b", "0", "0", "11", "BIT"]), int(-1));
    assert_eq!(h.run(&["BITPOS", "b", "1", "30", "40", "BIT"]), int(-1));
    assert_eq!(h.run(&["BITPOS", "b", "1", "-1"]), int(-1));

    set_raw(&mut h, "ones", &[0xff, 0xff]);
    // Without an end the string is padded with zeros on the right.
    assert_eq!(h.run(&["BITPOS", "ones", "0"]), int(16));
    assert_eq!(h.run(&["BITPOS", "ones", "0", "1"]), int(16));
    assert_eq!(h.run(&["BITPOS", "ones", "0", "0", "-1"]), int(-1));
    assert_eq!(h.run(&["BITPOS", "ones", "0", "3", "-1", "BIT"]), int(-1));

    h.run(&["SET", "e", ""]);
    assert_eq!(h.run(&["BITPOS", "e", "0"]), int(-1));
    assert_eq!(h.run(&["BITPOS", "e", "1"]), int(-1));
    assert_eq!(h.run(&["BITPOS", "missing", "0"]), int(0));
    assert_eq!(h.run(&["BITPOS", "missing", "1"]), int(-1));
    assert_eq!(h.run(&["BITPOS", "missing", "0", "a"]), int(0));

    assert_eq!(
        h.run(&["BITPOS", "b", "2"]),
        err("ERR The bit argument must be 1 or 0.")
    );
    assert_eq!(h.run(&["BITPOS", "b", "x"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["BITPOS", "b", "1", "a"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["BITPOS", "b", "1", "0", "-1", "foo"]), err(SYNTAX));
    assert_eq!(h.run(&["BITPOS", "b", "1", "0", "-1", "bit", "x"]), err(SYNTAX));
}

#[test]
fn bitpos_agrees_with_a_bit_by_bit_scan() {
    let mut h = Harness::new();
    let bytes = [0x00u8, 0x10, 0xff, 0xfe, 0x00, 0x01];
    set_raw(&mut h, "k", &bytes);
    let bit_at = |position: i64| (bytes[(position / 8) as usize] >> (7 - position % 8)) & 1;
    let total = (bytes.len() * 8) as i64;
    for bit in 0..=1u8 {
        for start in -50i64..50 {
            for end in -50i64..50 {
                let resolve = |index: i64| if index < 0 { (index + total).max(0) } else { index };
                let (from, to) = (resolve(start), resolve(end).min(total - 1));
                let expected = if from > to {
                    -1
                } else {
                    (from..=to).find(|&position| bit_at(position) == bit).unwrap_or(-1)
                };
                let reply = h.run(&[
                    "BITPOS",
                    "k",
                    &bit.to_string(),
                    &start.to_string(),
                    &end.to_string(),
                    "BIT",
                ]);
                assert_eq!(reply, int(expected), "BITPOS k {bit} {start} {end} BIT");
            }
        }
    }
}

#[test]
fn bitop_operations() {
    let mut h = Harness::new();
    h.run(&["SET", "k1", "foobar"]);
    h.run(&["SET", "k2", "abcdef"]);
    assert_eq!(h.run(&["BITOP", "AND", "dest", "k1", "k2"]), int(6));
    assert_eq!(h.effects(), vec!["BITOP AND dest k1 k2"]);
    assert_eq!(h.run(&["GET", "dest"]), bulk("`bc`ab"));
    assert_eq!(h.run(&["BITOP", "or", "dest", "k1", "k2"]), int(6));
    assert_eq!(h.run(&["GET", "dest"]), bulk("goofev"));
    assert_eq!(h.run(&["BITOP", "XOR", "dest", "k1", "k2", "missing"]), int(6));
    assert_eq!(get_raw(&mut h, "dest"), vec![7, 13, 12, 6, 4, 20]);
    assert_eq!(h.run(&["BITOP", "NOT", "dest", "k1"]), int(6));
    assert_eq!(
        get_raw(&mut h, "dest"),
        b"foobar".iter().map(|byte| !byte).collect::<Vec<_>>()
    );
    h.run(&["SET", "short", "ab"]);
    assert_eq!(h.run(&["BITOP", "AND", "dest", "k1", "short"]), int(6));
    assert_eq!(get_raw(&mut h, "dest"), b"`b\0\0\0\0".to_vec());
    // The destination loses its TTL, like a SET.
    h.run(&["PEXPIRE", "dest", "5000"]);
    h.run(&["BITOP", "OR", "dest", "k1"]);
    assert_eq!(h.run(&["TTL", "dest"]), int(-1));
    // Only missing inputs: the destination is deleted.
    assert_eq!(h.run(&["BITOP", "AND", "dest", "missing1", "missing2"]), int(0));
    assert_eq!(h.effects(), vec!["BITOP AND dest missing1 missing2"]);
    assert_eq!(h.run(&["EXISTS", "dest"]), int(0));
    assert_eq!(h.run(&["BITOP", "AND", "dest", "missing1"]), int(0));
    assert!(h.last_effects.is_empty());

    assert_eq!(h.run(&["BITOP", "foo", "d", "k1"]), err(SYNTAX));
    assert_eq!(
        h.run(&["BITOP", "NOT", "d", "k1", "k2"]),
        err("ERR BITOP NOT must be called with a single source key.")
    );
}

#[test]
fn bitfield_operations() {
    let mut h = Harness::new();
    let reply = h.run(&[
        "BITFIELD", "bf", "SET", "i8", "0", "100", "GET", "i8", "0", "INCRBY", "i8", "0", "100", "OVERFLOW", "SAT",
        "INCRBY", "i8", "0", "100", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "100", "OVERFLOW", "WRAP", "INCRBY", "i8",
        "0", "100",
    ]);
    assert_eq!(reply, arr(vec![int(0), int(100), int(-56), int(44), nil(), int(-112)]));
    assert_eq!(h.last_effects.len(), 1);
    assert_eq!(h.run(&["BITFIELD_RO", "bf", "GET", "i8", "0"]), ints(&[-112]));

    let reply = h.run(&[
        "BITFIELD", "bf2", "SET", "u8", "#1", "255", "GET", "u8", "8", "GET", "u4", "8", "GET", "i4", "8", "INCRBY",
        "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2", "102", "1", "OVERFLOW", "FAIL", "INCRBY", "u2", "102",
        "1",
    ]);
    assert_eq!(reply, ints(&[0, 255, 15, -1, 1, 1, 2]));
    assert_eq!(h.run(&["STRLEN", "bf2"]), int(13));

    let reply = h.run(&[
        "BITFIELD", "bf3", "SET", "u8", "0", "-1", "SET", "i8", "8", "-200", "OVERFLOW", "SAT", "SET", "u8", "16",
        "-1", "SET", "i8", "24", "-200", "SET", "i8", "32", "200", "OVERFLOW", "FAIL", "SET", "u8", "40", "256", "GET",
        "u8", "40",
    ]);
    assert_eq!(reply, arr(vec![int(0), int(0), int(0), int(0), int(0), nil(), int(0)]));
    assert_eq!(get_raw(&mut h, "bf3"), vec![0xff, 56, 0xff, 0x80, 0x7f, 0]);

    let reply = h.run(&[
        "BITFIELD",
        "bf4",
        "SET",
        "i64",
        "0",
        "-1",
        "INCRBY",
        "i64",
        "0",
        "1",
        "INCRBY",
        "i64",
        "0",
        "-9223372036854775808",
        "INCRBY",
        "i64",
        "0",
        "-1",
        "OVERFLOW",
        "SAT",
        "INCRBY",
        "i64",
        "0",
        "-10",
    ]);
    assert_eq!(reply, ints(&[0, 0, i64::MIN, i64::MAX, i64::MAX - 10]));
    let reply = h.run(&[
        "BITFIELD",
        "bf5",
        "SET",
        "u63",
        "0",
        "9223372036854775807",
        "INCRBY",
        "u63",
        "0",
        "1",
        "GET",
        "u63",
        "0",
    ]);
    assert_eq!(reply, ints(&[0, 0, 0]));

    // A FAIL that writes nothing still creates the string, as in Redis.
    assert_eq!(
        h.run(&["BITFIELD", "bf7", "OVERFLOW", "FAIL", "SET", "u2", "0", "5"]),
        arr(vec![nil()])
    );
    assert_eq!(h.run(&["STRLEN", "bf7"]), int(1));

    // GETs alone read past the end as zeros and create nothing.
    assert_eq!(h.run(&["BITFIELD", "missing", "GET", "u8", "0"]), ints(&[0]));
    assert!(h.last_effects.is_empty());
    assert_eq!(h.run(&["EXISTS", "missing"]), int(0));
    assert_eq!(h.run(&["BITFIELD", "bf"]), arr(vec![]));
    h.run(&["SET", "s", "foobar"]);
    assert_eq!(
        h.run(&["BITFIELD", "s", "GET", "u8", "0", "GET", "i16", "4"]),
        ints(&[102, 26358])
    );
    h.run(&["SET", "z", "0"]);
    assert_eq!(h.run(&["BITFIELD", "z", "SET", "u4", "0", "15"]), ints(&[3]));
    assert_eq!(get_raw(&mut h, "z"), vec![0xf0]);
}

#[test]
fn bitfield_errors() {
    let mut h = Harness::new();
    h.run(&["SET", "s", "x"]);
    assert_eq!(h.run(&["BITFIELD", "s", "GET", "u64", "0"]), err(BITFIELD_TYPE));
    assert_eq!(h.run(&["BITFIELD", "s", "GET", "i65", "0"]), err(BITFIELD_TYPE));
    assert_eq!(h.run(&["BITFIELD", "s", "GET", "I8", "0"]), err(BITFIELD_TYPE));
    assert_eq!(h.run(&["BITFIELD", "s", "GET", "u0", "0"]), err(BITFIELD_TYPE));
    assert_eq!(h.run(&["BITFIELD", "s", "GET", "i8", "#x"]), err(BIT_OFFSET));
    assert_eq!(h.run(&["BITFIELD", "s", "GET", "i8", "#-1"]), err(BIT_OFFSET));
    assert_eq!(h.run(&["BITFIELD", "s", "GET", "i8", "-1"]), err(BIT_OFFSET));
    assert_eq!(
        h.run(&["BITFIELD", "s", "OVERFLOW", "foo"]),
        err("ERR Invalid OVERFLOW type specified")
    );
    assert_eq!(h.run(&["BITFIELD", "s", "SET", "u8", "0"]), err(SYNTAX));
    assert_eq!(h.run(&["BITFIELD", "s", "bar"]), err(SYNTAX));
    assert_eq!(h.run(&["BITFIELD", "s", "SET", "u8", "0", "x"]), err(NOT_INTEGER));
    assert_eq!(
        h.run(&["BITFIELD_RO", "s", "SET", "u8", "0", "1"]),
        err("ERR BITFIELD_RO only supports the GET subcommand")
    );
    // Arguments are all checked before the read-only rule.
    assert_eq!(h.run(&["BITFIELD_RO", "s", "INCRBY", "u8", "0", "x"]), err(NOT_INTEGER));
    assert_eq!(get_raw(&mut h, "s"), b"x".to_vec());
}

#[test]
fn lcs_forms() {
    let mut h = Harness::new();
    h.run(&["SET", "x1", "ohmytext"]);
    h.run(&["SET", "x2", "mynewtext"]);
    assert_eq!(h.run(&["LCS", "x1", "x2"]), bulk("mytext"));
    assert_eq!(h.run(&["LCS", "x1", "x2", "LEN"]), int(6));
    let range = |a: i64, b: i64| ints(&[a, b]);
    assert_eq!(
        h.run(&["LCS", "x1", "x2", "IDX"]),
        Reply::Map(vec![
            (
                bulk("matches"),
                arr(vec![
                    arr(vec![range(4, 7), range(5, 8)]),
                    arr(vec![range(2, 3), range(0, 1)]),
                ])
            ),
            (bulk("len"), int(6)),
        ])
    );
    assert_eq!(
        h.run(&["LCS", "x1", "x2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]),
        Reply::Map(vec![
            (bulk("matches"), arr(vec![arr(vec![range(4, 7), range(5, 8), int(4)])])),
            (bulk("len"), int(6)),
        ])
    );
    assert_eq!(
        h.run(&["LCS", "x1", "x2", "idx", "withmatchlen"]),
        Reply::Map(vec![
            (
                bulk("matches"),
                arr(vec![
                    arr(vec![range(4, 7), range(5, 8), int(4)]),
                    arr(vec![range(2, 3), range(0, 1), int(2)]),
                ])
            ),
            (bulk("len"), int(6)),
        ])
    );
    assert_eq!(h.run(&["LCS", "x1", "nope"]), bulk(""));
    assert_eq!(
        h.run(&["LCS", "nope", "nope", "IDX"]),
        Reply::Map(vec![(bulk("matches"), arr(vec![])), (bulk("len"), int(0))])
    );
    h.run(&["SET", "n", "12345"]);
    assert_eq!(h.run(&["LCS", "n", "x1", "LEN"]), int(0));
    assert_eq!(h.run(&["LCS", "n", "n"]), bulk("12345"));

    h.run(&["HSET", "h", "f", "v"]);
    assert_eq!(
        h.run(&["LCS", "x1", "h"]),
        err("ERR The specified keys must contain string values")
    );
    assert_eq!(
        h.run(&["LCS", "x1", "x2", "LEN", "IDX"]),
        err("ERR If you want both the length and indexes, please just use IDX.")
    );
    assert_eq!(h.run(&["LCS", "x1", "x2", "MINMATCHLEN", "x"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["LCS", "x1", "x2", "MINMATCHLEN"]), err(SYNTAX));
    assert_eq!(h.run(&["LCS", "x1", "x2", "foo"]), err(SYNTAX));
}
