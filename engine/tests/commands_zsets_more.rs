//! ZRANGESTORE, ZRANDMEMBER, ZUNION/ZINTER/ZDIFF (and their STORE forms)
//! and ZINTERCARD: replies and error texts as Redis 7.0.15 gives them
//! (checked against redis-server by hand), with the replica's digest
//! compared after every command by `Harness`.

mod common;

use common::*;
use memoir_engine::resp::Reply;

fn scored(pairs: &[(&str, f64)]) -> Reply {
    Reply::Pairs(
        pairs
            .iter()
            .map(|&(member, score)| (bulk(member), double(score)))
            .collect(),
    )
}

fn setup(h: &mut Harness) {
    h.run(&["ZADD", "z1", "1", "a", "2", "b", "3", "c"]);
    h.run(&["ZADD", "z2", "10", "b", "20", "c", "30", "d"]);
    h.run(&["SADD", "s1", "a", "d", "e"]);
}

#[test]
fn union_inter_diff_replies() {
    let mut h = Harness::new();
    setup(&mut h);
    assert_eq!(
        h.run(&["ZUNION", "2", "z1", "z2", "WITHSCORES"]),
        scored(&[("a", 1.0), ("b", 12.0), ("c", 23.0), ("d", 30.0)])
    );
    assert_eq!(h.run(&["ZUNION", "2", "z1", "z2"]), bulks(&["a", "b", "c", "d"]));
    // Plain sets count with score 1.
    assert_eq!(
        h.run(&["ZUNION", "3", "z1", "z2", "s1", "WITHSCORES"]),
        scored(&[("e", 1.0), ("a", 2.0), ("b", 12.0), ("c", 23.0), ("d", 31.0)])
    );
    assert_eq!(
        h.run(&["ZUNION", "2", "z1", "z2", "WEIGHTS", "2", "0.5", "WITHSCORES"]),
        scored(&[("a", 2.0), ("b", 9.0), ("d", 15.0), ("c", 16.0)])
    );
    assert_eq!(
        h.run(&["ZUNION", "2", "z1", "z2", "AGGREGATE", "MAX", "WITHSCORES"]),
        scored(&[("a", 1.0), ("b", 10.0), ("c", 20.0), ("d", 30.0)])
    );
    assert_eq!(
        h.run(&[
            "ZUNION",
            "2",
            "z1",
            "z2",
            "aggregate",
            "min",
            "WITHSCORES",
            "weights",
            "1",
            "-1"
        ]),
        scored(&[("d", -30.0), ("c", -20.0), ("b", -10.0), ("a", 1.0)])
    );
    assert_eq!(
        h.run(&["ZINTER", "2", "z1", "z2", "WITHSCORES"]),
        scored(&[("b", 12.0), ("c", 23.0)])
    );
    assert_eq!(h.run(&["ZINTER", "3", "z1", "z2", "s1"]), bulks(&[]));
    assert_eq!(h.run(&["ZINTER", "2", "z1", "s1", "WITHSCORES"]), scored(&[("a", 2.0)]));
    assert_eq!(h.run(&["ZINTER", "2", "z1", "missing"]), bulks(&[]));
    assert_eq!(h.run(&["ZDIFF", "2", "z1", "z2", "WITHSCORES"]), scored(&[("a", 1.0)]));
    assert_eq!(
        h.run(&["ZDIFF", "2", "s1", "z1", "WITHSCORES"]),
        scored(&[("d", 1.0), ("e", 1.0)])
    );
    assert_eq!(h.run(&["ZDIFF", "1", "missing"]), bulks(&[]));
    assert_eq!(
        h.run(&["ZUNION", "1", "z1", "WITHSCORES", "WITHSCORES"]),
        scored(&[("a", 1.0), ("b", 2.0), ("c", 3.0)])
    );
    // A read: nothing propagated.
    assert!(h.last_effects.is_empty());
}

#[test]
fn infinities_sum_to_zero() {
    let mut h = Harness::new();
    h.run(&["ZADD", "zi", "1", "x"]);
    h.run(&["ZADD", "zj", "inf", "x"]);
    h.run(&["ZADD", "zk", "-inf", "x"]);
    assert_eq!(h.run(&["ZUNION", "2", "zj", "zk", "WITHSCORES"]), scored(&[("x", 0.0)]));
    assert_eq!(h.run(&["ZINTER", "2", "zj", "zk", "WITHSCORES"]), scored(&[("x", 0.0)]));
    assert_eq!(
        h.run(&["ZUNION", "2", "zi", "zj", "WEIGHTS", "0", "1", "WITHSCORES"]),
        scored(&[("x", f64::INFINITY)])
    );
    assert_eq!(
        h.run(&["ZUNION", "1", "zj", "WEIGHTS", "0", "WITHSCORES"]),
        scored(&[("x", 0.0)])
    );
}

#[test]
fn store_forms() {
    let mut h = Harness::new();
    setup(&mut h);
    assert_eq!(h.run(&["ZUNIONSTORE", "out", "2", "z1", "z2"]), int(4));
    assert_eq!(h.effects(), vec!["ZUNIONSTORE out 2 z1 z2"]);
    assert_eq!(
        h.run(&["ZRANGE", "out", "0", "-1", "WITHSCORES"]),
        scored(&[("a", 1.0), ("b", 12.0), ("c", 23.0), ("d", 30.0)])
    );
    assert_eq!(h.run(&["ZINTERSTORE", "out", "2", "z1", "missing"]), int(0));
    assert_eq!(h.effects(), vec!["ZINTERSTORE out 2 z1 missing"]);
    assert_eq!(h.run(&["EXISTS", "out"]), int(0));
    assert_eq!(h.run(&["ZINTERSTORE", "out", "2", "z1", "missing"]), int(0));
    assert!(h.last_effects.is_empty());
    assert_eq!(h.run(&["ZDIFFSTORE", "out", "2", "z1", "z2"]), int(1));
    assert_eq!(
        h.run(&["ZRANGE", "out", "0", "-1", "WITHSCORES"]),
        scored(&[("a", 1.0)])
    );
    assert_eq!(
        h.run(&[
            "ZUNIONSTORE",
            "out",
            "1",
            "z1",
            "WEIGHTS",
            "1",
            "AGGREGATE",
            "SUM",
            "AGGREGATE",
            "MAX"
        ]),
        int(3)
    );
    // The destination may be one of the inputs, and loses its TTL.
    h.run(&["PEXPIRE", "z1", "5000"]);
    assert_eq!(
        h.run(&["ZINTERSTORE", "z1", "2", "z1", "z2", "WEIGHTS", "2", "1"]),
        int(2)
    );
    assert_eq!(
        h.run(&["ZRANGE", "z1", "0", "-1", "WITHSCORES"]),
        scored(&[("b", 14.0), ("c", 26.0)])
    );
    assert_eq!(h.run(&["TTL", "z1"]), int(-1));
    // Over a key of another type.
    h.run(&["SET", "str", "x"]);
    assert_eq!(h.run(&["ZUNIONSTORE", "str", "1", "z2"]), int(3));
    assert_eq!(h.run(&["TYPE", "str"]), status("zset"));
}

#[test]
fn intercard() {
    let mut h = Harness::new();
    setup(&mut h);
    assert_eq!(h.run(&["ZINTERCARD", "2", "z1", "z2"]), int(2));
    assert_eq!(h.run(&["ZINTERCARD", "2", "z1", "z2", "LIMIT", "1"]), int(1));
    assert_eq!(h.run(&["ZINTERCARD", "2", "z1", "z2", "LIMIT", "0"]), int(2));
    assert_eq!(h.run(&["ZINTERCARD", "1", "s1"]), int(3));
    assert_eq!(h.run(&["ZINTERCARD", "2", "z1", "missing"]), int(0));
    assert_eq!(
        h.run(&["ZINTERCARD", "1", "z1", "LIMIT", "-1"]),
        err("ERR LIMIT can't be negative")
    );
    assert_eq!(
        h.run(&["ZINTERCARD", "1", "z1", "LIMIT", "x"]),
        err("ERR LIMIT can't be negative")
    );
    assert_eq!(h.run(&["ZINTERCARD", "1", "z1", "WEIGHTS", "1"]), err(SYNTAX));
    assert_eq!(h.run(&["ZINTERCARD", "1", "z1", "WITHSCORES"]), err(SYNTAX));
}

#[test]
fn combination_errors() {
    let mut h = Harness::new();
    setup(&mut h);
    h.run(&["SET", "str", "x"]);
    for (command, name) in [
        ("ZUNION", "zunion"),
        ("ZINTER", "zinter"),
        ("ZDIFF", "zdiff"),
        ("ZINTERCARD", "zintercard"),
    ] {
        assert_eq!(
            h.run(&[command, "0", "a"]),
            err(&format!("ERR at least 1 input key is needed for '{name}' command"))
        );
        assert_eq!(h.run(&[command, "3", "a"]), err(SYNTAX));
        assert_eq!(h.run(&[command, "x", "a"]), err(NOT_INTEGER));
        assert_eq!(h.run(&[command, "1", "str"]), err(WRONGTYPE));
    }
    for (command, name) in [
        ("ZUNIONSTORE", "zunionstore"),
        ("ZINTERSTORE", "zinterstore"),
        ("ZDIFFSTORE", "zdiffstore"),
    ] {
        assert_eq!(
            h.run(&[command, "d", "0", "a"]),
            err(&format!("ERR at least 1 input key is needed for '{name}' command"))
        );
        assert_eq!(h.run(&[command, "d", "1", "z1", "WITHSCORES"]), err(SYNTAX));
        assert_eq!(h.run(&[command, "d", "1", "str"]), err(WRONGTYPE));
    }
    // Types are checked before the options are read.
    assert_eq!(h.run(&["ZUNION", "1", "str", "WEIGHTS", "x"]), err(WRONGTYPE));
    assert_eq!(
        h.run(&["ZUNION", "1", "z1", "WEIGHTS", "x"]),
        err("ERR weight value is not a float")
    );
    assert_eq!(h.run(&["ZUNION", "2", "z1", "z2", "WEIGHTS", "1"]), err(SYNTAX));
    assert_eq!(h.run(&["ZUNION", "1", "z1", "AGGREGATE", "foo"]), err(SYNTAX));
    assert_eq!(h.run(&["ZUNION", "2", "z1", "z2", "AGGREGATE"]), err(SYNTAX));
    assert_eq!(h.run(&["ZDIFF", "1", "z1", "WEIGHTS", "1"]), err(SYNTAX));
    assert_eq!(h.run(&["ZDIFF", "1", "z1", "AGGREGATE", "SUM"]), err(SYNTAX));
    assert_eq!(
        h.run(&["ZUNION", "1"]),
        err("ERR wrong number of arguments for 'zunion' command")
    );
    assert_eq!(
        h.run(&["ZUNIONSTORE", "d", "1"]),
        err("ERR wrong number of arguments for 'zunionstore' command")
    );
}

#[test]
fn rangestore() {
    let mut h = Harness::new();
    setup(&mut h);
    assert_eq!(h.run(&["ZRANGESTORE", "dst", "z2", "0", "1"]), int(2));
    assert_eq!(h.effects(), vec!["ZRANGESTORE dst z2 0 1"]);
    assert_eq!(
        h.run(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        scored(&[("b", 10.0), ("c", 20.0)])
    );
    assert_eq!(
        h.run(&["ZRANGESTORE", "dst", "z2", "(10", "+inf", "BYSCORE", "LIMIT", "0", "1"]),
        int(1)
    );
    assert_eq!(
        h.run(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        scored(&[("c", 20.0)])
    );
    assert_eq!(h.run(&["ZRANGESTORE", "dst", "z2", "[c", "[a", "BYLEX", "REV"]), int(2));
    assert_eq!(h.run(&["ZRANGE", "dst", "0", "-1"]), bulks(&["b", "c"]));
    assert_eq!(h.run(&["ZRANGESTORE", "dst", "z2", "-1", "-1", "REV"]), int(1));
    assert_eq!(h.run(&["ZRANGE", "dst", "0", "-1"]), bulks(&["b"]));
    assert_eq!(h.run(&["ZRANGESTORE", "dst", "z2", "5", "6"]), int(0));
    assert_eq!(h.effects(), vec!["ZRANGESTORE dst z2 5 6"]);
    assert_eq!(h.run(&["EXISTS", "dst"]), int(0));
    assert_eq!(h.run(&["ZRANGESTORE", "dst", "missing", "0", "-1"]), int(0));
    assert!(h.last_effects.is_empty());

    h.run(&["SET", "str", "x"]);
    assert_eq!(
        h.run(&["ZRANGESTORE", "dst", "z2", "0", "-1", "WITHSCORES"]),
        err(SYNTAX)
    );
    assert_eq!(h.run(&["ZRANGESTORE", "dst", "str", "0", "-1"]), err(WRONGTYPE));
    assert_eq!(h.run(&["ZRANGESTORE", "dst", "z2", "x", "-1"]), err(NOT_INTEGER));
    assert_eq!(
        h.run(&["ZRANGESTORE", "dst", "z2", "0", "-1", "LIMIT", "0", "1"]),
        err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    );
    assert_eq!(
        h.run(&["ZRANGESTORE", "dst", "z2", "0"]),
        err("ERR wrong number of arguments for 'zrangestore' command")
    );
}

#[test]
fn randmember() {
    let mut h = Harness::new();
    setup(&mut h);
    let members = ["a", "b", "c"];
    for _ in 0..20 {
        match h.run(&["ZRANDMEMBER", "z1"]) {
            Reply::Bulk(member) => assert!(members.contains(&std::str::from_utf8(&member).unwrap_or(""))),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(h.run(&["ZRANDMEMBER", "z1", "0"]), bulks(&[]));
    // The whole set comes back in descending rank order, as Redis 7.0.
    assert_eq!(
        h.run(&["ZRANDMEMBER", "z1", "5", "WITHSCORES"]),
        scored(&[("c", 3.0), ("b", 2.0), ("a", 1.0)])
    );
    assert_eq!(h.run(&["ZRANDMEMBER", "z1", "3"]), bulks(&["c", "b", "a"]));
    let distinct = sorted_members(&h.run(&["ZRANDMEMBER", "z1", "2"]));
    assert_eq!(distinct.len(), 2);
    assert_ne!(distinct[0], distinct[1]);
    match h.run(&["ZRANDMEMBER", "z1", "-7", "WITHSCORES"]) {
        Reply::Pairs(pairs) => {
            assert_eq!(pairs.len(), 7);
            for (member, score) in pairs {
                let Reply::Bulk(member) = member else {
                    panic!("{member:?}")
                };
                let expected = match &member[..] {
                    b"a" => 1.0,
                    b"b" => 2.0,
                    b"c" => 3.0,
                    other => panic!("{other:?}"),
                };
                assert_eq!(score, double(expected));
            }
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.run(&["ZRANDMEMBER", "missing"]), nil());
    assert_eq!(h.run(&["ZRANDMEMBER", "missing", "3"]), bulks(&[]));
    assert_eq!(h.run(&["ZRANDMEMBER", "missing", "3", "WITHSCORES"]), bulks(&[]));
    assert!(h.last_effects.is_empty());

    h.run(&["SET", "str", "x"]);
    assert_eq!(h.run(&["ZRANDMEMBER", "str"]), err(WRONGTYPE));
    assert_eq!(h.run(&["ZRANDMEMBER", "z1", "x"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["ZRANDMEMBER", "z1", "1", "foo"]), err(SYNTAX));
    assert_eq!(h.run(&["ZRANDMEMBER", "z1", "1", "WITHSCORES", "x"]), err(SYNTAX));
    assert_eq!(
        h.run(&["ZRANDMEMBER", "z1", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(
        h.run(&["ZRANDMEMBER", "z1", "9223372036854775807", "WITHSCORES"]),
        err("ERR value is out of range")
    );
    // Reads on the replica agree.
    assert_eq!(h.run_on_replica(&["ZRANDMEMBER", "z1", "3"]), bulks(&["c", "b", "a"]));
}

#[test]
fn command_table_rows() {
    use memoir_engine::commands;
    for (name, arity, first, last, step) in [
        ("zrangestore", -5, 1, 2, 1),
        ("zrandmember", -2, 1, 1, 1),
        ("zunion", -3, 2, -1, 1),
        ("zunionstore", -4, 1, -1, 1),
        ("zintercard", -3, 2, -1, 1),
        ("setbit", 4, 1, 1, 1),
        ("bitop", -4, 2, -1, 1),
        ("bitfield_ro", -2, 1, 1, 1),
        ("lcs", -3, 1, 2, 1),
        ("copy", -3, 1, 2, 1),
        ("move", 3, 1, 1, 1),
        ("sort", -2, 1, 1, 1),
        ("sort_ro", -2, 1, 1, 1),
    ] {
        let spec = commands::lookup(name.as_bytes()).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(
            (spec.arity, spec.first_key, spec.last_key, spec.key_step),
            (arity, first, last, step),
            "{name}"
        );
    }
}
