//! Hash, list, set and sorted-set commands: replies, errors and effects.

mod common;

use common::*;
use memoir_engine::resp::Reply;

#[test]
fn hashes() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["HSET", "h", "a", "1", "b", "2"]), int(2));
    assert_eq!(h.effects(), ["HSET h a 1 b 2"]);
    assert_eq!(h.run(&["HSET", "h", "a", "10", "c", "3"]), int(1));
    assert_eq!(h.run(&["HGET", "h", "a"]), bulk("10"));
    assert_eq!(h.run(&["HGET", "h", "zz"]), nil());
    assert_eq!(h.run(&["HGET", "nokey", "a"]), nil());
    assert_eq!(h.run(&["HLEN", "h"]), int(3));
    assert_eq!(h.run(&["HEXISTS", "h", "b"]), int(1));
    assert_eq!(h.run(&["HEXISTS", "h", "q"]), int(0));
    assert_eq!(h.run(&["HSTRLEN", "h", "a"]), int(2));
    assert_eq!(
        h.run(&["HMGET", "h", "a", "q", "c"]),
        arr(vec![bulk("10"), nil(), bulk("3")])
    );
    assert_eq!(
        h.run(&["HGETALL", "h"]),
        Reply::Map(vec![
            (bulk("a"), bulk("10")),
            (bulk("b"), bulk("2")),
            (bulk("c"), bulk("3"))
        ])
    );
    assert_eq!(h.run(&["HGETALL", "nokey"]), Reply::Map(vec![]));
    assert_eq!(h.run(&["HKEYS", "h"]), bulks(&["a", "b", "c"]));
    assert_eq!(h.run(&["HVALS", "h"]), bulks(&["10", "2", "3"]));
    assert_eq!(h.run(&["HDEL", "h", "a", "q"]), int(1));
    assert_eq!(h.effects(), ["HDEL h a q"]);
    assert_eq!(h.run(&["HDEL", "h", "q"]), int(0));
    assert!(h.effects().is_empty());
    assert_eq!(h.run(&["HDEL", "h", "b", "c"]), int(2));
    assert_eq!(h.run(&["EXISTS", "h"]), int(0), "an emptied hash is deleted");
    assert_eq!(
        h.run(&["HSET", "h", "a"]),
        err("ERR wrong number of arguments for 'hset' command")
    );
    assert_eq!(
        h.run(&["HMSET", "h", "a", "1", "b"]),
        err("ERR wrong number of arguments for 'hmset' command")
    );
    assert_eq!(h.run(&["HMSET", "h", "a", "1"]), ok());
    assert_eq!(h.run(&["HSETNX", "h", "a", "2"]), int(0));
    assert_eq!(h.run(&["HSETNX", "h", "b", "2"]), int(1));
    assert_eq!(h.effects(), ["HSET h b 2"]);
    h.run(&["SET", "s", "x"]);
    for command in [
        &["HGET", "s", "a"][..],
        &["HSET", "s", "a", "1"],
        &["HGETALL", "s"],
        &["HDEL", "s", "a"],
        &["HLEN", "s"],
        &["HMGET", "s", "a"],
        &["HINCRBY", "s", "a", "1"],
    ] {
        assert_eq!(h.run(command), err(WRONGTYPE), "{command:?}");
    }
}

#[test]
fn hash_counters() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["HINCRBY", "h", "n", "5"]), int(5));
    assert_eq!(h.effects(), ["HINCRBY h n 5"]);
    assert_eq!(h.run(&["HINCRBY", "h", "n", "-10"]), int(-5));
    assert_eq!(h.run(&["HINCRBY", "h", "n", "x"]), err(NOT_INTEGER));
    h.run(&["HSET", "h", "s", "abc", "max", "9223372036854775807", "f", "1.5"]);
    assert_eq!(
        h.run(&["HINCRBY", "h", "s", "1"]),
        err("ERR hash value is not an integer")
    );
    assert_eq!(
        h.run(&["HINCRBY", "h", "max", "1"]),
        err("ERR increment or decrement would overflow")
    );
    assert_eq!(h.run(&["HINCRBYFLOAT", "h", "f", "0.1"]), bulk("1.6"));
    assert_eq!(h.effects(), ["HSET h f 1.6"]);
    assert_eq!(
        h.run(&["HINCRBYFLOAT", "h", "s", "1"]),
        err("ERR hash value is not a float")
    );
    assert_eq!(h.run(&["HINCRBYFLOAT", "h", "f", "x"]), err(NOT_FLOAT));
    assert_eq!(h.run(&["HINCRBYFLOAT", "new", "f", "2"]), bulk("2"));
}

#[test]
fn big_hashes_convert_transparently() {
    let mut h = Harness::new();
    for i in 0..300 {
        h.run(&["HSET", "h", &format!("field{i}"), &i.to_string()]);
    }
    assert_eq!(h.run(&["OBJECT", "ENCODING", "h"]), bulk("hashtable"));
    assert_eq!(h.run(&["HLEN", "h"]), int(300));
    assert_eq!(h.run(&["HGET", "h", "field123"]), bulk("123"));
    h.run(&["HSET", "big", "f", &"v".repeat(65)]);
    assert_eq!(h.run(&["OBJECT", "ENCODING", "big"]), bulk("hashtable"));
    let Reply::Array(fields) = h.run(&["HRANDFIELD", "h", "5"]) else {
        panic!()
    };
    assert_eq!(fields.len(), 5);
    let Reply::Array(fields) = h.run(&["HRANDFIELD", "h", "-500"]) else {
        panic!()
    };
    assert_eq!(fields.len(), 500);
    let Reply::Pairs(pairs) = h.run(&["HRANDFIELD", "h", "3", "WITHVALUES"]) else {
        panic!()
    };
    assert_eq!(pairs.len(), 3);
    assert_eq!(h.run(&["HRANDFIELD", "nokey"]), nil());
}

#[test]
fn lists() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["RPUSH", "l", "a", "b", "c"]), int(3));
    assert_eq!(h.effects(), ["RPUSH l a b c"]);
    assert_eq!(h.run(&["LPUSH", "l", "z", "y"]), int(5));
    assert_eq!(h.run(&["LRANGE", "l", "0", "-1"]), bulks(&["y", "z", "a", "b", "c"]));
    assert_eq!(h.run(&["LRANGE", "l", "-2", "100"]), bulks(&["b", "c"]));
    assert_eq!(h.run(&["LRANGE", "l", "3", "1"]), bulks(&[]));
    assert_eq!(h.run(&["LRANGE", "nokey", "0", "-1"]), bulks(&[]));
    assert_eq!(h.run(&["LRANGE", "l", "a", "1"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["LLEN", "l"]), int(5));
    assert_eq!(h.run(&["LINDEX", "l", "0"]), bulk("y"));
    assert_eq!(h.run(&["LINDEX", "l", "-1"]), bulk("c"));
    assert_eq!(h.run(&["LINDEX", "l", "5"]), nil());
    assert_eq!(h.run(&["LINDEX", "l", "-6"]), nil());
    assert_eq!(h.run(&["LPOP", "l"]), bulk("y"));
    assert_eq!(h.effects(), ["LPOP l"]);
    assert_eq!(h.run(&["RPOP", "l", "2"]), bulks(&["c", "b"]));
    assert_eq!(h.effects(), ["RPOP l 2"]);
    assert_eq!(h.run(&["LPOP", "l", "0"]), bulks(&[]));
    assert_eq!(
        h.run(&["LPOP", "l", "-1"]),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(
        h.run(&["LPOP", "l", "1", "2"]),
        err("ERR wrong number of arguments for 'lpop' command")
    );
    assert_eq!(h.run(&["LPOP", "nokey"]), nil());
    assert_eq!(h.run(&["LPOP", "nokey", "2"]), Reply::NullArray);
    assert!(h.effects().is_empty());
    assert_eq!(h.run(&["RPOP", "l", "10"]), bulks(&["a", "z"]));
    assert_eq!(h.run(&["EXISTS", "l"]), int(0), "an emptied list is deleted");
    assert_eq!(h.run(&["LPUSHX", "l", "a"]), int(0));
    assert!(h.effects().is_empty());
    h.run(&["SET", "s", "x"]);
    assert_eq!(h.run(&["LPUSH", "s", "a"]), err(WRONGTYPE));
    assert_eq!(h.run(&["LRANGE", "s", "0", "1"]), err(WRONGTYPE));
}

#[test]
fn list_editing() {
    let mut h = Harness::new();
    h.run(&["RPUSH", "l", "a", "b", "a", "c", "a"]);
    assert_eq!(h.run(&["LREM", "l", "-2", "a"]), int(2));
    assert_eq!(h.run(&["LRANGE", "l", "0", "-1"]), bulks(&["a", "b", "c"]));
    assert_eq!(h.run(&["LINSERT", "l", "BEFORE", "b", "x"]), int(4));
    assert_eq!(h.run(&["LINSERT", "l", "AFTER", "c", "y"]), int(5));
    assert_eq!(h.run(&["LINSERT", "l", "AFTER", "nope", "y"]), int(-1));
    assert_eq!(h.run(&["LINSERT", "l", "MIDDLE", "c", "y"]), err(SYNTAX));
    assert_eq!(h.run(&["LRANGE", "l", "0", "-1"]), bulks(&["a", "x", "b", "c", "y"]));
    assert_eq!(h.run(&["LSET", "l", "-1", "Y"]), ok());
    assert_eq!(h.run(&["LSET", "l", "10", "Y"]), err("ERR index out of range"));
    assert_eq!(h.run(&["LSET", "nokey", "0", "Y"]), err("ERR no such key"));
    assert_eq!(h.run(&["LTRIM", "l", "1", "-2"]), ok());
    assert_eq!(h.effects(), ["LTRIM l 1 -2"]);
    assert_eq!(h.run(&["LRANGE", "l", "0", "-1"]), bulks(&["x", "b", "c"]));
    assert_eq!(h.run(&["LPOS", "l", "c"]), int(2));
    assert_eq!(h.run(&["LPOS", "l", "q"]), nil());
    h.run(&["RPUSH", "l", "c", "c"]);
    assert_eq!(
        h.run(&["LPOS", "l", "c", "COUNT", "0"]),
        arr(vec![int(2), int(3), int(4)])
    );
    assert_eq!(h.run(&["LPOS", "l", "c", "RANK", "-1"]), int(4));
    assert_eq!(
        h.run(&["LPOS", "l", "c", "RANK", "2", "COUNT", "2"]),
        arr(vec![int(3), int(4)])
    );
    assert_eq!(h.run(&["LPOS", "l", "c", "MAXLEN", "2"]), nil());
    assert_eq!(
        h.run(&["LPOS", "l", "c", "RANK", "0"]),
        err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
    );
    assert_eq!(h.run(&["RPOPLPUSH", "l", "l2"]), bulk("c"));
    assert_eq!(h.run(&["LMOVE", "l2", "l", "LEFT", "LEFT"]), bulk("c"));
    assert_eq!(h.run(&["EXISTS", "l2"]), int(0));
    assert_eq!(h.run(&["LMOVE", "l", "l", "RIGHT", "LEFT"]), bulk("c"));
    assert_eq!(h.run(&["LRANGE", "l", "0", "0"]), bulks(&["c"]));
    assert_eq!(h.run(&["LMOVE", "l", "l", "UP", "LEFT"]), err(SYNTAX));
    assert_eq!(h.run(&["LTRIM", "l", "5", "1"]), ok());
    assert_eq!(h.run(&["EXISTS", "l"]), int(0));
}

#[test]
fn sets() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["SADD", "s", "a", "b", "a"]), int(2));
    assert_eq!(h.effects(), ["SADD s a b a"]);
    assert_eq!(h.run(&["SADD", "s", "a"]), int(0));
    assert!(h.effects().is_empty());
    assert_eq!(h.run(&["SCARD", "s"]), int(2));
    assert_eq!(h.run(&["SISMEMBER", "s", "a"]), int(1));
    assert_eq!(h.run(&["SISMEMBER", "s", "z"]), int(0));
    assert_eq!(h.run(&["SMISMEMBER", "s", "a", "z"]), arr(vec![int(1), int(0)]));
    let members = h.run(&["SMEMBERS", "s"]);
    assert!(matches!(members, Reply::Set(_)));
    assert_eq!(sorted_members(&members), ["a", "b"]);
    assert_eq!(h.run(&["SMEMBERS", "nokey"]), Reply::Set(vec![]));
    assert_eq!(h.run(&["SREM", "s", "a", "z"]), int(1));
    assert_eq!(h.effects(), ["SREM s a z"]);
    assert_eq!(h.run(&["SREM", "s", "z"]), int(0));
    assert!(h.effects().is_empty());
    assert_eq!(h.run(&["SREM", "s", "b"]), int(1));
    assert_eq!(h.run(&["EXISTS", "s"]), int(0));
    h.run(&["SET", "str", "x"]);
    assert_eq!(h.run(&["SADD", "str", "a"]), err(WRONGTYPE));
    assert_eq!(h.run(&["SMEMBERS", "str"]), err(WRONGTYPE));
}

#[test]
fn spop_propagates_what_it_removed() {
    let mut h = Harness::new();
    h.run(&["SADD", "s", "1", "2", "3", "4", "5"]);
    let Reply::Bulk(popped) = h.run(&["SPOP", "s"]) else {
        panic!("bulk")
    };
    assert_eq!(h.effects(), [format!("SREM s {}", String::from_utf8_lossy(&popped))]);
    let reply = h.run(&["SPOP", "s", "2"]);
    assert!(matches!(reply, Reply::Set(_)));
    let popped = sorted_members(&reply);
    assert_eq!(popped.len(), 2);
    let effect = &h.effects()[0];
    assert!(effect.starts_with("SREM s "));
    for member in &popped {
        assert!(effect.split(' ').any(|word| word == member));
    }
    assert_eq!(h.run(&["SCARD", "s"]), int(2));
    assert_eq!(sorted_members(&h.run(&["SPOP", "s", "10"])).len(), 2);
    assert_eq!(h.effects(), ["DEL s"]);
    assert_eq!(h.run(&["SPOP", "s"]), nil());
    assert_eq!(h.run(&["SPOP", "s", "3"]), Reply::Set(vec![]));
    assert_eq!(
        h.run(&["SPOP", "s", "-1"]),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(h.run(&["SPOP", "s", "1", "2"]), err(SYNTAX));
    // Large, table-encoded sets too.
    for i in 0..1000 {
        h.run(&["SADD", "big", &format!("m{i}")]);
    }
    assert_eq!(sorted_members(&h.run(&["SPOP", "big", "600"])).len(), 600);
    assert_eq!(h.run(&["SCARD", "big"]), int(400));
}

#[test]
fn srandmember() {
    let mut h = Harness::new();
    h.run(&["SADD", "s", "a", "b", "c"]);
    assert!(matches!(h.run(&["SRANDMEMBER", "s"]), Reply::Bulk(_)));
    assert!(h.effects().is_empty());
    assert_eq!(sorted_members(&h.run(&["SRANDMEMBER", "s", "10"])), ["a", "b", "c"]);
    let Reply::Array(picks) = h.run(&["SRANDMEMBER", "s", "-10"]) else {
        panic!()
    };
    assert_eq!(picks.len(), 10);
    let distinct = sorted_members(&h.run(&["SRANDMEMBER", "s", "2"]));
    assert_eq!(distinct.len(), 2);
    assert_ne!(distinct[0], distinct[1]);
    assert_eq!(h.run(&["SRANDMEMBER", "nokey"]), nil());
    assert_eq!(h.run(&["SRANDMEMBER", "nokey", "3"]), arr(vec![]));
    assert_eq!(
        h.run(&["SRANDMEMBER", "s", "-99999999999"]),
        err("ERR value is out of range")
    );
}

#[test]
fn set_algebra_and_smove() {
    let mut h = Harness::new();
    h.run(&["SADD", "a", "1", "2", "3"]);
    h.run(&["SADD", "b", "2", "3", "4"]);
    assert_eq!(sorted_members(&h.run(&["SINTER", "a", "b"])), ["2", "3"]);
    assert_eq!(sorted_members(&h.run(&["SUNION", "a", "b"])), ["1", "2", "3", "4"]);
    assert_eq!(sorted_members(&h.run(&["SDIFF", "a", "b"])), ["1"]);
    assert_eq!(sorted_members(&h.run(&["SINTER", "a", "nokey"])), Vec::<String>::new());
    assert_eq!(h.run(&["SINTERSTORE", "dst", "a", "b"]), int(2));
    assert_eq!(h.effects(), ["SINTERSTORE dst a b"]);
    assert_eq!(h.run(&["SINTERCARD", "2", "a", "b"]), int(2));
    assert_eq!(h.run(&["SINTERCARD", "2", "a", "b", "LIMIT", "1"]), int(1));
    assert_eq!(
        h.run(&["SINTERCARD", "0", "a"]),
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(h.run(&["SDIFFSTORE", "dst", "a", "a"]), int(0));
    assert_eq!(h.run(&["EXISTS", "dst"]), int(0));
    assert_eq!(h.run(&["SMOVE", "a", "b", "1"]), int(1));
    assert_eq!(h.effects(), ["SMOVE a b 1"]);
    assert_eq!(h.run(&["SMOVE", "a", "b", "1"]), int(0));
    assert!(h.effects().is_empty());
    h.run(&["SET", "str", "x"]);
    assert_eq!(h.run(&["SINTER", "a", "str"]), err(WRONGTYPE));
    assert_eq!(h.run(&["SMOVE", "a", "str", "2"]), err(WRONGTYPE));
}

#[test]
fn zadd_options() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["ZADD", "z", "1", "a", "2", "b"]), int(2));
    assert_eq!(h.effects(), ["ZADD z 1 a 2 b"]);
    assert_eq!(h.run(&["ZADD", "z", "1", "a"]), int(0));
    assert!(h.effects().is_empty(), "an unchanged score is no change");
    assert_eq!(h.run(&["ZADD", "z", "CH", "5", "a", "3", "c"]), int(2));
    assert_eq!(h.effects(), ["ZADD z 5 a 3 c"]);
    assert_eq!(h.run(&["ZADD", "z", "NX", "10", "a", "4", "d"]), int(1));
    assert_eq!(h.effects(), ["ZADD z 4 d"]);
    assert_eq!(h.run(&["ZADD", "z", "XX", "10", "a", "4", "e"]), int(0));
    assert_eq!(h.effects(), ["ZADD z 10 a"]);
    assert_eq!(h.run(&["ZADD", "z", "GT", "CH", "1", "a", "20", "b"]), int(1));
    assert_eq!(h.run(&["ZADD", "z", "LT", "CH", "1", "a", "30", "b"]), int(1));
    assert_eq!(h.run(&["ZSCORE", "z", "a"]), double(1.0));
    assert_eq!(h.run(&["ZSCORE", "z", "b"]), double(20.0));
    assert_eq!(h.run(&["ZADD", "z", "INCR", "2.5", "a"]), double(3.5));
    assert_eq!(h.effects(), ["ZADD z 3.5 a"]);
    assert_eq!(h.run(&["ZADD", "z", "INCR", "NX", "1", "a"]), nil());
    assert_eq!(h.run(&["ZADD", "z", "XX", "1", "nope"]), int(0));
    assert_eq!(h.run(&["ZADD", "nokey", "XX", "1", "a"]), int(0));
    assert_eq!(h.run(&["EXISTS", "nokey"]), int(0));
    assert_eq!(
        h.run(&["ZADD", "z", "NX", "XX", "1", "a"]),
        err("ERR XX and NX options at the same time are not compatible")
    );
    assert_eq!(
        h.run(&["ZADD", "z", "GT", "LT", "1", "a"]),
        err("ERR GT, LT, and/or NX options at the same time are not compatible")
    );
    assert_eq!(
        h.run(&["ZADD", "z", "INCR", "1", "a", "2", "b"]),
        err("ERR INCR option supports a single increment-element pair")
    );
    assert_eq!(
        h.run(&["ZADD", "z", "1"]),
        err("ERR wrong number of arguments for 'zadd' command")
    );
    assert_eq!(h.run(&["ZADD", "z", "NX", "1"]), err(SYNTAX));
    assert_eq!(h.run(&["ZADD", "z", "1", "a", "2"]), err(SYNTAX));
    assert_eq!(h.run(&["ZADD", "z", "x", "a"]), err(NOT_FLOAT));
    assert_eq!(h.run(&["ZADD", "z", "nan", "a"]), err(NOT_FLOAT));
    h.run(&["ZADD", "inf", "inf", "a"]);
    assert_eq!(
        h.run(&["ZADD", "inf", "INCR", "-inf", "a"]),
        err("ERR resulting score is not a number (NaN)")
    );
    assert_eq!(h.run(&["ZINCRBY", "z", "1.5", "new"]), double(1.5));
    assert_eq!(h.effects(), ["ZADD z 1.5 new"]);
    assert_eq!(h.run(&["ZINCRBY", "z", "0.1", "new"]), double(1.6));
    assert_eq!(h.run(&["ZINCRBY", "z", "x", "new"]), err(NOT_FLOAT));
    h.run(&["SET", "str", "x"]);
    assert_eq!(h.run(&["ZADD", "str", "1", "a"]), err(WRONGTYPE));
}

#[test]
fn zrange_forms() {
    let mut h = Harness::new();
    h.run(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
    assert_eq!(h.run(&["ZRANGE", "z", "0", "-1"]), bulks(&["a", "b", "c", "d"]));
    assert_eq!(h.run(&["ZRANGE", "z", "0", "1", "REV"]), bulks(&["d", "c"]));
    assert_eq!(
        h.run(&["ZRANGE", "z", "0", "0", "WITHSCORES"]),
        Reply::Pairs(vec![(bulk("a"), double(1.0))])
    );
    assert_eq!(h.run(&["ZRANGE", "z", "(1", "3", "BYSCORE"]), bulks(&["b", "c"]));
    assert_eq!(h.run(&["ZRANGE", "z", "3", "(1", "BYSCORE", "REV"]), bulks(&["c", "b"]));
    assert_eq!(
        h.run(&["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "2"]),
        bulks(&["b", "c"])
    );
    assert_eq!(
        h.run(&["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "-1", "2"]),
        bulks(&[])
    );
    assert_eq!(h.run(&["ZRANGEBYSCORE", "z", "2", "3"]), bulks(&["b", "c"]));
    assert_eq!(h.run(&["ZREVRANGEBYSCORE", "z", "3", "2"]), bulks(&["c", "b"]));
    assert_eq!(h.run(&["ZREVRANGE", "z", "0", "0"]), bulks(&["d"]));
    h.run(&["ZADD", "lex", "0", "a", "0", "b", "0", "c"]);
    assert_eq!(h.run(&["ZRANGE", "lex", "[b", "+", "BYLEX"]), bulks(&["b", "c"]));
    assert_eq!(h.run(&["ZRANGEBYLEX", "lex", "-", "(c"]), bulks(&["a", "b"]));
    assert_eq!(h.run(&["ZREVRANGEBYLEX", "lex", "+", "[b"]), bulks(&["c", "b"]));
    assert_eq!(h.run(&["ZLEXCOUNT", "lex", "-", "+"]), int(3));
    assert_eq!(h.run(&["ZCOUNT", "z", "(1", "+inf"]), int(3));
    assert_eq!(
        h.run(&["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"]),
        err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    );
    assert_eq!(
        h.run(&["ZRANGE", "lex", "-", "+", "BYLEX", "WITHSCORES"]),
        err("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    );
    assert_eq!(
        h.run(&["ZRANGE", "z", "x", "1", "BYSCORE"]),
        err("ERR min or max is not a float")
    );
    assert_eq!(
        h.run(&["ZRANGE", "z", "x", "1", "BYLEX"]),
        err("ERR min or max not valid string range item")
    );
    assert_eq!(h.run(&["ZRANGE", "z", "a", "1"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["ZRANGE", "z", "0", "1", "BOGUS"]), err(SYNTAX));
    assert_eq!(h.run(&["ZRANGEBYSCORE", "z", "0", "1", "REV"]), err(SYNTAX));
    assert_eq!(h.run(&["ZRANGE", "nokey", "0", "-1"]), bulks(&[]));
}

#[test]
fn zset_reads_and_removals() {
    let mut h = Harness::new();
    h.run(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"]);
    assert_eq!(h.run(&["ZCARD", "z"]), int(5));
    assert_eq!(h.run(&["ZRANK", "z", "c"]), int(2));
    assert_eq!(h.run(&["ZREVRANK", "z", "c"]), int(2));
    assert_eq!(h.run(&["ZRANK", "z", "q"]), nil());
    assert_eq!(h.run(&["ZSCORE", "z", "q"]), nil());
    assert_eq!(h.run(&["ZMSCORE", "z", "a", "q"]), arr(vec![double(1.0), nil()]));
    assert_eq!(h.run(&["ZREM", "z", "a", "q"]), int(1));
    assert_eq!(h.effects(), ["ZREM z a q"]);
    assert_eq!(h.run(&["ZPOPMIN", "z"]), arr(vec![bulk("b"), double(2.0)]));
    assert_eq!(h.effects(), ["ZPOPMIN z"]);
    assert_eq!(
        h.run(&["ZPOPMAX", "z", "1"]),
        Reply::Pairs(vec![(bulk("e"), double(5.0))])
    );
    assert_eq!(h.run(&["ZPOPMAX", "nokey"]), arr(vec![]));
    assert_eq!(h.run(&["ZREMRANGEBYRANK", "z", "0", "0"]), int(1));
    assert_eq!(h.effects(), ["ZREMRANGEBYRANK z 0 0"]);
    assert_eq!(h.run(&["ZREMRANGEBYSCORE", "z", "-inf", "(4"]), int(0));
    assert!(h.effects().is_empty());
    assert_eq!(h.run(&["ZREMRANGEBYSCORE", "z", "-inf", "4"]), int(1));
    assert_eq!(h.run(&["EXISTS", "z"]), int(0));
    h.run(&["ZADD", "lex", "0", "a", "0", "b"]);
    assert_eq!(h.run(&["ZREMRANGEBYLEX", "lex", "[a", "[a"]), int(1));
    assert_eq!(
        h.run(&["ZREMRANGEBYLEX", "lex", "a", "b"]),
        err("ERR min or max not valid string range item")
    );
}

#[test]
fn large_sorted_sets() {
    let mut h = Harness::new();
    for i in 0..500 {
        h.run(&["ZADD", "z", &i.to_string(), &format!("member{i:04}")]);
    }
    assert_eq!(h.run(&["OBJECT", "ENCODING", "z"]), bulk("skiplist"));
    assert_eq!(h.run(&["ZRANK", "z", "member0250"]), int(250));
    assert_eq!(
        h.run(&["ZRANGE", "z", "100", "101"]),
        bulks(&["member0100", "member0101"])
    );
    assert_eq!(h.run(&["ZCOUNT", "z", "100", "199"]), int(100));
}

/// Runs a value scan to completion; returns the elements seen.
fn scan_all(h: &mut Harness, command: &str, key: &str, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_owned();
    let mut seen = Vec::new();
    loop {
        let mut words = vec![command, key, &cursor];
        words.extend_from_slice(extra);
        let Reply::Array(parts) = h.run(&words) else {
            panic!("scan reply")
        };
        let [Reply::Bulk(next), Reply::Array(elements)] = &parts[..] else {
            panic!("scan shape")
        };
        for element in elements {
            let Reply::Bulk(bytes) = element else { panic!("bulk") };
            seen.push(String::from_utf8_lossy(bytes).into_owned());
        }
        cursor = String::from_utf8_lossy(next).into_owned();
        if cursor == "0" {
            return seen;
        }
    }
}

#[test]
fn value_scans() {
    let mut h = Harness::new();
    h.run(&["HSET", "small", "a", "1", "b", "2"]);
    assert_eq!(scan_all(&mut h, "HSCAN", "small", &[]), ["a", "1", "b", "2"]);
    assert_eq!(scan_all(&mut h, "HSCAN", "small", &["MATCH", "b"]), ["b", "2"]);
    for i in 0..300 {
        h.run(&["HSET", "big", &format!("f{i}"), "v"]);
    }
    let seen = scan_all(&mut h, "HSCAN", "big", &["COUNT", "7"]);
    assert_eq!(seen.len(), 600);
    let fields: std::collections::BTreeSet<&String> = seen.iter().step_by(2).collect();
    assert_eq!(fields.len(), 300);

    h.run(&["SADD", "ints", "3", "1", "2"]);
    assert_eq!(scan_all(&mut h, "SSCAN", "ints", &[]), ["1", "2", "3"]);
    for i in 0..1000 {
        h.run(&["SADD", "members", &format!("m{i}")]);
    }
    let mut members = scan_all(&mut h, "SSCAN", "members", &["COUNT", "50", "MATCH", "m1*"]);
    members.sort();
    members.dedup();
    assert_eq!(members.len(), 111);

    h.run(&["ZADD", "z", "1.5", "a", "2", "b"]);
    assert_eq!(scan_all(&mut h, "ZSCAN", "z", &[]), ["a", "1.5", "b", "2"]);
    assert_eq!(scan_all(&mut h, "ZSCAN", "missing", &[]), Vec::<String>::new());
    assert_eq!(h.run(&["HSCAN", "small", "0", "TYPE", "hash"]), err(SYNTAX));
    assert_eq!(h.run(&["SSCAN", "small", "0"]), err(WRONGTYPE));
    assert_eq!(h.run(&["ZSCAN", "z", "x"]), err("ERR invalid cursor"));
}
