//! SORT, SORT_RO, COPY and MOVE: replies, error texts and effects as Redis
//! 7.0.15 gives them (checked against redis-server by hand), with the
//! replica's digest compared after every command by `Harness`.

mod common;

use common::*;

fn setup_list(h: &mut Harness) {
    h.run(&["RPUSH", "l", "3", "1", "2", "10"]);
}

#[test]
fn sort_numeric_alpha_and_limit() {
    let mut h = Harness::new();
    setup_list(&mut h);
    assert_eq!(h.run(&["SORT", "l"]), bulks(&["1", "2", "3", "10"]));
    assert_eq!(h.run(&["SORT", "l", "DESC"]), bulks(&["10", "3", "2", "1"]));
    assert_eq!(h.run(&["SORT", "l", "ALPHA"]), bulks(&["1", "10", "2", "3"]));
    assert_eq!(h.run(&["SORT", "l", "LIMIT", "1", "2"]), bulks(&["2", "3"]));
    assert_eq!(h.run(&["SORT", "l", "LIMIT", "-5", "2"]), bulks(&["1", "2"]));
    assert_eq!(h.run(&["SORT", "l", "LIMIT", "10", "2"]), bulks(&[]));
    assert_eq!(h.run(&["SORT", "l", "LIMIT", "1", "-1"]), bulks(&["2", "3", "10"]));
    assert_eq!(h.run(&["SORT", "l", "LIMIT", "0", "0"]), bulks(&[]));
    assert_eq!(h.run(&["SORT_RO", "l", "DESC"]), bulks(&["10", "3", "2", "1"]));
    assert_eq!(h.run(&["SORT", "missing"]), bulks(&[]));
    // A read: nothing to propagate.
    assert!(h.last_effects.is_empty());

    h.run(&["RPUSH", "fl", "1.5", "-inf", " 2", ""]);
    assert_eq!(h.run(&["SORT", "fl"]), bulks(&["-inf", "", "1.5", " 2"]));
    h.run(&["RPUSH", "tie", "b", "a"]);
    h.run(&["RPUSH", "tie2", "2", "1"]);
    h.run(&["MSET", "t_1", "5", "t_2", "5"]);
    // Equal scores fall back to comparing the elements.
    assert_eq!(h.run(&["SORT", "tie2", "BY", "t_*"]), bulks(&["1", "2"]));
    assert_eq!(h.run(&["SORT", "tie2", "BY", "t_*", "DESC"]), bulks(&["2", "1"]));
}

#[test]
fn sort_sets_and_sorted_sets() {
    let mut h = Harness::new();
    h.run(&["SADD", "st", "c", "a", "b"]);
    assert_eq!(h.run(&["SORT", "st", "ALPHA"]), bulks(&["a", "b", "c"]));
    h.run(&["SADD", "nums", "5", "-1", "3"]);
    assert_eq!(h.run(&["SORT", "nums"]), bulks(&["-1", "3", "5"]));
    h.run(&["ZADD", "zz", "3", "a", "1", "b", "2", "c"]);
    // BY without `*`: the sorted set's own order, DESC and LIMIT applied.
    assert_eq!(h.run(&["SORT", "zz", "BY", "nosort"]), bulks(&["b", "c", "a"]));
    assert_eq!(
        h.run(&["SORT", "zz", "BY", "nosort", "DESC", "LIMIT", "0", "2"]),
        bulks(&["a", "c"])
    );
    assert_eq!(h.run(&["SORT", "zz", "ALPHA", "DESC"]), bulks(&["c", "b", "a"]));
    // STORE of an unsorted set is sorted alphabetically, as in Redis.
    assert_eq!(h.run(&["SORT", "st", "BY", "nosort", "STORE", "dst"]), int(3));
    assert_eq!(h.run(&["LRANGE", "dst", "0", "-1"]), bulks(&["a", "b", "c"]));
}

#[test]
fn sort_by_and_get_patterns() {
    let mut h = Harness::new();
    setup_list(&mut h);
    h.run(&["MSET", "w_3", "30", "w_1", "10", "w_2", "20"]);
    // w_10 is missing: it sorts as 0.
    assert_eq!(h.run(&["SORT", "l", "BY", "w_*"]), bulks(&["10", "1", "2", "3"]));
    assert_eq!(
        h.run(&["SORT", "l", "BY", "w_*", "GET", "#", "GET", "w_*"]),
        arr(vec![
            bulk("10"),
            nil(),
            bulk("1"),
            bulk("10"),
            bulk("2"),
            bulk("20"),
            bulk("3"),
            bulk("30"),
        ])
    );
    assert_eq!(h.run(&["SORT", "l", "BY", "nosort"]), bulks(&["3", "1", "2", "10"]));
    assert_eq!(
        h.run(&["SORT", "l", "BY", "nosort", "DESC", "LIMIT", "1", "2"]),
        bulks(&["2", "1"])
    );
    assert_eq!(
        h.run(&["SORT", "l", "BY", "nosort", "GET", "w_*"]),
        arr(vec![bulk("30"), bulk("10"), bulk("20"), nil()])
    );
    h.run(&["HSET", "o_1", "f", "b"]);
    h.run(&["HSET", "o_2", "f", "a"]);
    h.run(&["HSET", "o_3", "f", "c"]);
    assert_eq!(
        h.run(&["SORT", "l", "BY", "o_*->f", "ALPHA"]),
        bulks(&["10", "2", "1", "3"])
    );
    assert_eq!(
        h.run(&["SORT", "l", "BY", "o_*->f", "ALPHA", "GET", "o_*->f", "GET", "#"]),
        arr(vec![
            nil(),
            bulk("10"),
            bulk("a"),
            bulk("2"),
            bulk("b"),
            bulk("1"),
            bulk("c"),
            bulk("3"),
        ])
    );
    assert_eq!(
        h.run(&["SORT", "l", "BY", "o_*->f"]),
        err("ERR One or more scores can't be converted into double")
    );
    // A pattern with no `*`, or an arrow with no field, finds nothing.
    assert_eq!(
        h.run(&["SORT", "l", "GET", "nokey"]),
        arr(vec![nil(), nil(), nil(), nil()])
    );
    assert_eq!(
        h.run(&["SORT", "l", "GET", "x*->"]),
        arr(vec![nil(), nil(), nil(), nil()])
    );
    // GET through a key of the wrong type is nil, not an error.
    assert_eq!(h.run(&["SORT", "l", "GET", "o_*", "LIMIT", "0", "1"]), arr(vec![nil()]));
}

#[test]
fn sort_store_replicates_its_result() {
    let mut h = Harness::new();
    setup_list(&mut h);
    h.run(&["MSET", "w_3", "30", "w_1", "10", "w_2", "20"]);
    assert_eq!(h.run(&["SORT", "l", "STORE", "dst"]), int(4));
    assert_eq!(h.effects(), vec!["RPUSH dst 1 2 3 10"]);
    assert_eq!(h.run(&["LRANGE", "dst", "0", "-1"]), bulks(&["1", "2", "3", "10"]));
    // Replacing an existing destination deletes it first, TTL included.
    h.run(&["PEXPIRE", "dst", "5000"]);
    assert_eq!(h.run(&["SORT", "l", "GET", "nokey", "STORE", "dst"]), int(4));
    assert_eq!(h.effects(), vec!["DEL dst", "RPUSH dst    "]);
    assert_eq!(h.run(&["LRANGE", "dst", "0", "-1"]), bulks(&["", "", "", ""]));
    assert_eq!(h.run(&["TTL", "dst"]), int(-1));
    assert_eq!(h.run(&["SORT", "missing", "STORE", "dst"]), int(0));
    assert_eq!(h.effects(), vec!["DEL dst"]);
    assert_eq!(h.run(&["EXISTS", "dst"]), int(0));
    assert_eq!(h.run(&["SORT", "missing", "STORE", "dst"]), int(0));
    assert!(h.last_effects.is_empty());
    // Storing over the source itself.
    assert_eq!(h.run(&["SORT", "l", "BY", "w_*", "STORE", "l"]), int(4));
    assert_eq!(h.run(&["LRANGE", "l", "0", "-1"]), bulks(&["10", "1", "2", "3"]));
    // A string destination is simply replaced.
    h.run(&["SET", "s", "x"]);
    assert_eq!(h.run(&["SORT", "l", "LIMIT", "0", "1", "STORE", "s"]), int(1));
    assert_eq!(h.run(&["TYPE", "s"]), status("list"));
}

#[test]
fn sort_errors() {
    let mut h = Harness::new();
    h.run(&["SET", "s", "x"]);
    h.run(&["HSET", "h", "f", "v"]);
    h.run(&["RPUSH", "bad", "1", "a", "2"]);
    h.run(&["RPUSH", "fl2", "1e400"]);
    assert_eq!(h.run(&["SORT", "s"]), err(WRONGTYPE));
    assert_eq!(h.run(&["SORT", "h"]), err(WRONGTYPE));
    assert_eq!(h.run(&["SORT", "bad", "LIMIT", "x", "1"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["SORT", "bad", "foo"]), err(SYNTAX));
    assert_eq!(h.run(&["SORT", "bad", "LIMIT", "1"]), err(SYNTAX));
    assert_eq!(h.run(&["SORT_RO", "bad", "STORE", "x"]), err(SYNTAX));
    assert_eq!(
        h.run(&["SORT", "bad"]),
        err("ERR One or more scores can't be converted into double")
    );
    assert_eq!(
        h.run(&["SORT", "bad", "STORE", "dst"]),
        err("ERR One or more scores can't be converted into double")
    );
    assert_eq!(h.run(&["EXISTS", "dst"]), int(0));
    assert_eq!(
        h.run(&["SORT", "fl2"]),
        err("ERR One or more scores can't be converted into double")
    );
    assert_eq!(h.run(&["SORT", "bad", "ALPHA"]), bulks(&["1", "2", "a"]));
}

#[test]
fn copy_within_and_across_databases() {
    let mut h = Harness::new();
    h.run(&["SET", "s", "hello", "PX", "5000"]);
    assert_eq!(h.run(&["COPY", "s", "t"]), int(1));
    assert_eq!(h.effects(), vec!["COPY s t"]);
    assert_eq!(h.run(&["GET", "t"]), bulk("hello"));
    assert_eq!(h.run(&["PTTL", "t"]), int(5000));
    // The destination exists: nothing without REPLACE.
    h.run(&["SET", "u", "old"]);
    assert_eq!(h.run(&["COPY", "s", "u"]), int(0));
    assert!(h.last_effects.is_empty());
    assert_eq!(h.run(&["COPY", "s", "u", "REPLACE"]), int(1));
    assert_eq!(h.run(&["GET", "u"]), bulk("hello"));
    assert_eq!(h.run(&["COPY", "missing", "v"]), int(0));

    // Every type copies as a separate value.
    h.run(&["RPUSH", "l", "a", "b"]);
    h.run(&["HSET", "h", "f", "v"]);
    h.run(&["SADD", "st", "1", "2", "x"]);
    h.run(&["ZADD", "z", "1", "m"]);
    for key in ["l", "h", "st", "z"] {
        let target = format!("{key}2");
        assert_eq!(h.run(&["COPY", key, &target]), int(1));
    }
    h.run(&["RPUSH", "l2", "c"]);
    assert_eq!(h.run(&["LRANGE", "l", "0", "-1"]), bulks(&["a", "b"]));
    assert_eq!(h.run(&["LRANGE", "l2", "0", "-1"]), bulks(&["a", "b", "c"]));
    assert_eq!(h.run(&["HGET", "h2", "f"]), bulk("v"));
    assert_eq!(sorted_members(&h.run(&["SMEMBERS", "st2"])), vec!["1", "2", "x"]);
    assert_eq!(h.run(&["ZSCORE", "z2", "m"]), double(1.0));

    // Another database.
    assert_eq!(h.run(&["COPY", "s", "s", "DB", "1"]), int(1));
    assert_eq!(h.effects(), vec!["COPY s s DB 1"]);
    assert_eq!(h.last_effects[0].db, 0);
    h.db = 1;
    assert_eq!(h.run(&["GET", "s"]), bulk("hello"));
    assert_eq!(h.run(&["PTTL", "s"]), int(5000));
    h.db = 0;
    assert_eq!(h.run(&["COPY", "s", "s", "DB", "1"]), int(0));
    assert_eq!(h.run(&["COPY", "l", "s", "DB", "1", "REPLACE"]), int(1));
    h.db = 1;
    assert_eq!(h.run(&["TYPE", "s"]), status("list"));
    assert_eq!(h.run(&["TTL", "s"]), int(-1));
}

#[test]
fn copy_and_move_with_expired_keys() {
    let mut h = Harness::new();
    h.run(&["SET", "k", "v"]);
    h.db = 1;
    h.run(&["SET", "k", "old", "PX", "100"]);
    h.db = 0;
    h.advance(200);
    // The expired destination in database 1 is deleted (and that deletion
    // replicated against database 1) before the move.
    assert_eq!(h.run(&["MOVE", "k", "1"]), int(1));
    assert_eq!(h.effects(), vec!["DEL k", "MOVE k 1"]);
    assert_eq!(h.last_effects[0].db, 1);
    assert_eq!(h.last_effects[1].db, 0);
    h.db = 1;
    assert_eq!(h.run(&["GET", "k"]), bulk("v"));
    h.run(&["SET", "src", "x", "PX", "100"]);
    h.advance(200);
    assert_eq!(h.run(&["COPY", "src", "dst", "DB", "0"]), int(0));
    assert_eq!(h.effects(), vec!["DEL src"]);
}

#[test]
fn copy_errors() {
    let mut h = Harness::new();
    h.run(&["SET", "s", "x"]);
    assert_eq!(
        h.run(&["COPY", "s", "s"]),
        err("ERR source and destination objects are the same")
    );
    assert_eq!(
        h.run(&["COPY", "s", "s", "DB", "0"]),
        err("ERR source and destination objects are the same")
    );
    assert_eq!(
        h.run(&["COPY", "s", "t", "DB", "99"]),
        err("ERR DB index is out of range")
    );
    assert_eq!(
        h.run(&["COPY", "s", "t", "DB", "-1"]),
        err("ERR DB index is out of range")
    );
    assert_eq!(h.run(&["COPY", "s", "t", "DB", "x"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["COPY", "s", "t", "DB", "4294967296"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["COPY", "s", "t", "foo"]), err(SYNTAX));
    assert_eq!(h.run(&["COPY", "s", "t", "DB"]), err(SYNTAX));
    assert_eq!(
        h.run(&["COPY", "s"]),
        err("ERR wrong number of arguments for 'copy' command")
    );
}

#[test]
fn move_between_databases() {
    let mut h = Harness::new();
    h.run(&["SET", "k", "v", "PX", "5000"]);
    assert_eq!(h.run(&["MOVE", "k", "2"]), int(1));
    assert_eq!(h.effects(), vec!["MOVE k 2"]);
    assert_eq!(h.run(&["EXISTS", "k"]), int(0));
    h.db = 2;
    assert_eq!(h.run(&["GET", "k"]), bulk("v"));
    assert_eq!(h.run(&["PTTL", "k"]), int(5000));
    // The key exists in the target: nothing moves.
    h.db = 0;
    h.run(&["SET", "k", "w"]);
    assert_eq!(h.run(&["MOVE", "k", "2"]), int(0));
    assert!(h.last_effects.is_empty());
    assert_eq!(h.run(&["GET", "k"]), bulk("w"));
    assert_eq!(h.run(&["MOVE", "missing", "2"]), int(0));

    assert_eq!(
        h.run(&["MOVE", "k", "0"]),
        err("ERR source and destination objects are the same")
    );
    assert_eq!(h.run(&["MOVE", "k", "16"]), err("ERR DB index is out of range"));
    assert_eq!(h.run(&["MOVE", "k", "x"]), err(NOT_INTEGER));
}
