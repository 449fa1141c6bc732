//! The dataset digest: equal exactly when the data is, whatever order or
//! encoding the data was built in.

mod common;

use common::*;

fn digest_after(commands: &[&[&str]]) -> [u8; 20] {
    let mut h = Harness::new();
    h.check_replica = false;
    for command in commands {
        let reply = h.run(command);
        assert!(
            !matches!(reply, memoir_engine::resp::Reply::Error(_)),
            "{command:?}: {reply:?}"
        );
    }
    h.primary.digest()
}

#[test]
fn empty_is_all_zeros() {
    assert_eq!(digest_after(&[]), [0; 20]);
    assert_eq!(digest_after(&[&["SET", "k", "v"], &["DEL", "k"]]), [0; 20]);
    assert_ne!(digest_after(&[&["SET", "k", "v"]]), [0; 20]);
}

#[test]
fn key_order_does_not_matter() {
    assert_eq!(
        digest_after(&[&["SET", "a", "1"], &["SET", "b", "2"]]),
        digest_after(&[&["SET", "b", "2"], &["SET", "a", "1"]])
    );
}

#[test]
fn hash_field_and_set_member_order_do_not_matter() {
    assert_eq!(
        digest_after(&[&["HSET", "h", "a", "1", "b", "2", "c", "3"]]),
        digest_after(&[&["HSET", "h", "c", "3"], &["HSET", "h", "b", "2", "a", "1"]])
    );
    assert_eq!(
        digest_after(&[&["SADD", "s", "x", "y", "z"]]),
        digest_after(&[&["SADD", "s", "z", "x"], &["SADD", "s", "y"]])
    );
    assert_eq!(
        digest_after(&[&["ZADD", "z", "1", "a", "2", "b"]]),
        digest_after(&[&["ZADD", "z", "2", "b", "1", "a"]])
    );
}

#[test]
fn list_order_matters() {
    assert_ne!(
        digest_after(&[&["RPUSH", "l", "a", "b"]]),
        digest_after(&[&["RPUSH", "l", "b", "a"]])
    );
    assert_ne!(
        digest_after(&[&["RPUSH", "l", "ab"]]),
        digest_after(&[&["RPUSH", "l", "a", "b"]])
    );
}

#[test]
fn values_types_expiry_and_databases_matter() {
    let base = digest_after(&[&["SET", "k", "v"]]);
    assert_ne!(base, digest_after(&[&["SET", "k", "w"]]));
    assert_ne!(base, digest_after(&[&["SET", "j", "v"]]));
    assert_ne!(base, digest_after(&[&["SADD", "k", "v"]]));
    assert_ne!(base, digest_after(&[&["RPUSH", "k", "v"]]));
    assert_ne!(base, digest_after(&[&["SET", "k", "v", "PXAT", "2000000000000"]]));
    assert_ne!(
        digest_after(&[&["SET", "k", "v", "PXAT", "2000000000000"]]),
        digest_after(&[&["SET", "k", "v", "PXAT", "2000000000001"]])
    );
    assert_ne!(base, digest_after(&[&["SET", "k", "v"], &["SWAPDB", "0", "1"]]));
    assert_ne!(
        digest_after(&[&["HSET", "h", "f", "1"]]),
        digest_after(&[&["HSET", "h", "f", "2"]])
    );
    assert_ne!(
        digest_after(&[&["ZADD", "z", "1", "a"]]),
        digest_after(&[&["ZADD", "z", "2", "a"]])
    );
}

#[test]
fn encodings_do_not_matter() {
    // "42" stored as an integer and as bytes built by APPEND.
    assert_eq!(
        digest_after(&[&["SET", "k", "42"]]),
        digest_after(&[&["SET", "k", "4"], &["APPEND", "k", "2"]])
    );
    // A hash that grew into a table and shrank back holds the same data as
    // a small packed one.
    let mut grown: Vec<Vec<String>> = vec![];
    for i in 0..200 {
        grown.push(vec!["HSET".into(), "h".into(), format!("f{i}"), "v".into()]);
    }
    for i in 1..200 {
        grown.push(vec!["HDEL".into(), "h".into(), format!("f{i}")]);
    }
    let grown: Vec<Vec<&str>> = grown.iter().map(|c| c.iter().map(String::as_str).collect()).collect();
    let grown: Vec<&[&str]> = grown.iter().map(Vec::as_slice).collect();
    assert_eq!(digest_after(&grown), digest_after(&[&["HSET", "h", "f0", "v"]]));
    // An integer set and the same members in a table.
    assert_eq!(
        digest_after(&[&["SADD", "s", "1", "2"]]),
        digest_after(&[&["SADD", "s", "1", "2", "x"], &["SREM", "s", "x"]])
    );
}
