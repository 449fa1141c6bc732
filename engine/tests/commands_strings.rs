//! String commands: replies, Redis 7.0 error texts, and the effects each
//! write propagates. Every command also runs against a replica fed the
//! effects (see `common::Harness`), which must stay identical.

mod common;

use common::*;

#[test]
fn get_set_basics() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["GET", "k"]), nil());
    assert_eq!(h.run(&["SET", "k", "v"]), ok());
    assert_eq!(h.effects(), ["SET k v"]);
    assert_eq!(h.run(&["GET", "k"]), bulk("v"));
    assert!(h.effects().is_empty(), "a read of a live key has no effect");
    assert_eq!(h.run(&["set", "k", "12345"]), ok());
    assert_eq!(h.run(&["get", "k"]), bulk("12345"));
    assert_eq!(h.run(&["SET", "bin", "\u{0}\u{ff}x"]), ok());
    assert_eq!(h.run(&["GET", "bin"]), bulk("\u{0}\u{ff}x"));
    let long = "x".repeat(1000);
    assert_eq!(h.run(&["SET", "long", &long]), ok());
    assert_eq!(h.run(&["GET", "long"]), bulk(&long));
}

#[test]
fn set_options_and_their_effects() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["SET", "k", "v", "EX", "10"]), ok());
    assert_eq!(h.effects(), [format!("SET k v PXAT {}", START_MS + 10_000)]);
    assert_eq!(h.run(&["PTTL", "k"]), int(10_000));
    assert_eq!(h.run(&["SET", "k", "v2", "KEEPTTL"]), ok());
    assert_eq!(h.effects(), ["SET k v2 KEEPTTL"]);
    assert_eq!(h.run(&["TTL", "k"]), int(10));
    assert_eq!(h.run(&["SET", "k", "v3"]), ok());
    assert_eq!(h.run(&["TTL", "k"]), int(-1), "a plain SET clears the TTL");
    assert_eq!(h.run(&["SET", "k", "v", "PX", "1500"]), ok());
    assert_eq!(h.effects(), [format!("SET k v PXAT {}", START_MS + 1500)]);
    assert_eq!(h.run(&["SET", "k", "v", "EXAT", "2000000000"]), ok());
    assert_eq!(h.effects(), ["SET k v PXAT 2000000000000"]);
    assert_eq!(h.run(&["SET", "k", "v", "PXAT", "2000000000123"]), ok());
    assert_eq!(h.effects(), ["SET k v PXAT 2000000000123"]);
    assert_eq!(
        h.run(&["SET", "k", "v", "EX", "5", "EX", "7"]),
        ok(),
        "repeating a form is allowed"
    );
    assert_eq!(h.run(&["TTL", "k"]), int(7));

    // NX / XX: nothing propagated when they make the SET a no-op.
    assert_eq!(h.run(&["SET", "k", "other", "NX"]), nil());
    assert!(h.effects().is_empty());
    assert_eq!(h.run(&["SET", "new", "x", "XX"]), nil());
    assert!(h.effects().is_empty());
    assert_eq!(h.run(&["SET", "new", "x", "NX", "EX", "100"]), ok());
    assert_eq!(h.effects(), [format!("SET new x PXAT {}", START_MS + 100_000)]);
    assert_eq!(h.run(&["SET", "new", "y", "XX"]), ok());
    assert_eq!(h.effects(), ["SET new y"]);

    // GET returns the old value and is stripped from the effect.
    assert_eq!(h.run(&["SET", "new", "z", "GET"]), bulk("y"));
    assert_eq!(h.effects(), ["SET new z"]);
    assert_eq!(h.run(&["SET", "missing", "z", "GET"]), nil());
    assert_eq!(h.run(&["SET", "new", "w", "NX", "GET"]), bulk("z"));
    assert!(h.effects().is_empty());
    assert_eq!(h.run(&["GET", "new"]), bulk("z"));
    h.run(&["LPUSH", "list", "a"]);
    assert_eq!(h.run(&["SET", "list", "v", "GET"]), err(WRONGTYPE));
    assert_eq!(
        h.run(&["TYPE", "list"]),
        status("list"),
        "a failed SET GET writes nothing"
    );
    assert_eq!(h.run(&["SET", "list", "v"]), ok(), "SET overwrites any type");
    assert_eq!(h.run(&["TYPE", "list"]), status("string"));
}

#[test]
fn set_option_errors() {
    let mut h = Harness::new();
    for bad in [
        &["SET", "k", "v", "NX", "XX"][..],
        &["SET", "k", "v", "XX", "NX"],
        &["SET", "k", "v", "EX", "10", "PX", "10"],
        &["SET", "k", "v", "KEEPTTL", "EX", "10"],
        &["SET", "k", "v", "EX", "10", "KEEPTTL"],
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "FOO"],
        &["SET", "k", "v", "EXAT", "1", "PXAT", "1"],
    ] {
        assert_eq!(h.run(bad), err(SYNTAX), "{bad:?}");
    }
    assert_eq!(h.run(&["SET", "k", "v", "EX", "abc"]), err(NOT_INTEGER));
    for bad in [
        &["SET", "k", "v", "EX", "0"][..],
        &["SET", "k", "v", "EX", "-1"],
        &["SET", "k", "v", "PX", "0"],
        &["SET", "k", "v", "EX", "9223372036854775807"],
        &["SET", "k", "v", "PX", "9223372036854775807"],
        &["SET", "k", "v", "EXAT", "9223372036854776"],
    ] {
        assert_eq!(h.run(bad), err("ERR invalid expire time in 'set' command"), "{bad:?}");
    }
    assert_eq!(h.run(&["SET", "k", "v", "PXAT", "9223372036854775807"]), ok());
    assert_eq!(
        h.run(&["SET", "k"]),
        err("ERR wrong number of arguments for 'set' command")
    );
    assert_eq!(h.run(&["GET"]), err("ERR wrong number of arguments for 'get' command"));
    assert_eq!(
        h.run(&["GET", "a", "b"]),
        err("ERR wrong number of arguments for 'get' command")
    );
}

#[test]
fn setnx_setex_psetex_getset() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["SETNX", "k", "1"]), int(1));
    assert_eq!(h.effects(), ["SET k 1"]);
    assert_eq!(h.run(&["SETNX", "k", "2"]), int(0));
    assert!(h.effects().is_empty());
    assert_eq!(h.run(&["SETEX", "k", "10", "v"]), ok());
    assert_eq!(h.effects(), [format!("SET k v PXAT {}", START_MS + 10_000)]);
    assert_eq!(h.run(&["PSETEX", "k", "10", "v"]), ok());
    assert_eq!(h.effects(), [format!("SET k v PXAT {}", START_MS + 10)]);
    assert_eq!(
        h.run(&["SETEX", "k", "0", "v"]),
        err("ERR invalid expire time in 'setex' command")
    );
    assert_eq!(
        h.run(&["PSETEX", "k", "-5", "v"]),
        err("ERR invalid expire time in 'psetex' command")
    );
    assert_eq!(h.run(&["SETEX", "k", "x", "v"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["GETSET", "k", "new"]), bulk("v"));
    assert_eq!(h.effects(), ["SET k new"]);
    assert_eq!(h.run(&["TTL", "k"]), int(-1), "GETSET clears the TTL");
    assert_eq!(h.run(&["GETSET", "fresh", "x"]), nil());
    h.run(&["SADD", "s", "m"]);
    assert_eq!(h.run(&["GETSET", "s", "x"]), err(WRONGTYPE));
}

#[test]
fn getdel_and_getex() {
    let mut h = Harness::new();
    h.run(&["SET", "k", "v"]);
    assert_eq!(h.run(&["GETDEL", "k"]), bulk("v"));
    assert_eq!(h.effects(), ["DEL k"]);
    assert_eq!(h.run(&["GETDEL", "k"]), nil());
    assert!(h.effects().is_empty());

    h.run(&["SET", "k", "v"]);
    assert_eq!(h.run(&["GETEX", "k", "EX", "100"]), bulk("v"));
    assert_eq!(h.effects(), [format!("PEXPIREAT k {}", START_MS + 100_000)]);
    assert_eq!(h.run(&["GETEX", "k", "PERSIST"]), bulk("v"));
    assert_eq!(h.effects(), ["PERSIST k"]);
    assert_eq!(h.run(&["GETEX", "k"]), bulk("v"));
    assert!(h.effects().is_empty());
    assert_eq!(h.run(&["GETEX", "k", "PXAT", "1"]), bulk("v"));
    assert_eq!(h.effects(), ["DEL k"], "an absolute time in the past deletes");
    assert_eq!(h.run(&["GETEX", "k", "EX", "10", "PERSIST"]), err(SYNTAX));
    assert_eq!(
        h.run(&["GETEX", "k", "EX", "0"]),
        err("ERR invalid expire time in 'getex' command")
    );
}

#[test]
fn mget_mset_msetnx() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["MSET", "a", "1", "b", "2"]), ok());
    assert_eq!(h.effects(), ["MSET a 1 b 2"]);
    h.run(&["LPUSH", "l", "x"]);
    assert_eq!(
        h.run(&["MGET", "a", "nope", "b", "l"]),
        arr(vec![bulk("1"), nil(), bulk("2"), nil()])
    );
    assert_eq!(
        h.run(&["MSET", "a", "1", "b"]),
        err("ERR wrong number of arguments for 'mset' command")
    );
    assert_eq!(h.run(&["MSETNX", "a", "9", "c", "3"]), int(0));
    assert!(h.effects().is_empty());
    assert_eq!(h.run(&["MSETNX", "c", "3", "d", "4"]), int(1));
    assert_eq!(h.effects(), ["MSET c 3 d 4"]);
}

#[test]
fn counters() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["INCR", "n"]), int(1));
    assert_eq!(h.effects(), ["INCR n"]);
    assert_eq!(h.run(&["INCRBY", "n", "10"]), int(11));
    assert_eq!(h.run(&["DECR", "n"]), int(10));
    assert_eq!(h.run(&["DECRBY", "n", "-5"]), int(15));
    assert_eq!(h.run(&["GET", "n"]), bulk("15"));
    assert_eq!(h.run(&["INCRBY", "n", "x"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["INCRBY", "n", "+1"]), err(NOT_INTEGER));
    assert_eq!(h.run(&["INCRBY", "n", " 1"]), err(NOT_INTEGER));
    h.run(&["SET", "s", "abc"]);
    assert_eq!(h.run(&["INCR", "s"]), err(NOT_INTEGER));
    h.run(&["SET", "s", "007"]);
    assert_eq!(
        h.run(&["INCR", "s"]),
        err(NOT_INTEGER),
        "leading zeros are not an integer"
    );
    h.run(&["SET", "max", "9223372036854775807"]);
    assert_eq!(
        h.run(&["INCR", "max"]),
        err("ERR increment or decrement would overflow")
    );
    assert!(h.effects().is_empty());
    h.run(&["SET", "min", "-9223372036854775808"]);
    assert_eq!(
        h.run(&["DECR", "min"]),
        err("ERR increment or decrement would overflow")
    );
    assert_eq!(
        h.run(&["DECRBY", "n", "-9223372036854775808"]),
        err("ERR decrement would overflow")
    );
    h.run(&["SADD", "set", "a"]);
    assert_eq!(h.run(&["INCR", "set"]), err(WRONGTYPE));

    // INCR keeps the TTL.
    h.run(&["SET", "ttl", "1", "EX", "100"]);
    assert_eq!(h.run(&["INCR", "ttl"]), int(2));
    assert_eq!(h.run(&["TTL", "ttl"]), int(100));
}

#[test]
fn incrbyfloat() {
    let mut h = Harness::new();
    h.run(&["SET", "f", "10.50"]);
    assert_eq!(h.run(&["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
    assert_eq!(h.effects(), ["SET f 10.6 KEEPTTL"]);
    assert_eq!(h.run(&["INCRBYFLOAT", "f", "-5"]), bulk("5.6"));
    h.run(&["SET", "f", "5.0e3"]);
    assert_eq!(h.run(&["INCRBYFLOAT", "f", "2.0e2"]), bulk("5200"));
    assert_eq!(h.run(&["INCRBYFLOAT", "new", "1.25"]), bulk("1.25"));
    assert_eq!(h.run(&["INCRBYFLOAT", "new", "abc"]), err(NOT_FLOAT));
    assert_eq!(h.run(&["INCRBYFLOAT", "new", "nan"]), err(NOT_FLOAT));
    h.run(&["SET", "text", "hello"]);
    assert_eq!(h.run(&["INCRBYFLOAT", "text", "1"]), err(NOT_FLOAT));
    h.run(&["SET", "big", "1.7e308"]);
    assert_eq!(
        h.run(&["INCRBYFLOAT", "big", "1.7e308"]),
        err("ERR increment would produce NaN or Infinity")
    );
    h.run(&["SET", "ttl", "1", "PX", "5000"]);
    h.run(&["INCRBYFLOAT", "ttl", "1"]);
    assert_eq!(h.run(&["PTTL", "ttl"]), int(5000));
}

#[test]
fn append_strlen_ranges() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["APPEND", "k", "Hello"]), int(5));
    assert_eq!(h.effects(), ["APPEND k Hello"]);
    assert_eq!(h.run(&["APPEND", "k", " World"]), int(11));
    assert_eq!(h.run(&["GET", "k"]), bulk("Hello World"));
    assert_eq!(h.run(&["STRLEN", "k"]), int(11));
    assert_eq!(h.run(&["STRLEN", "none"]), int(0));
    for _ in 0..100 {
        h.run(&["APPEND", "k", "0123456789"]);
    }
    assert_eq!(h.run(&["STRLEN", "k"]), int(1011));
    h.run(&["SET", "n", "12"]);
    assert_eq!(h.run(&["STRLEN", "n"]), int(2));
    assert_eq!(h.run(&["APPEND", "n", "3"]), int(3));
    assert_eq!(h.run(&["INCR", "n"]), int(124));

    h.run(&["SET", "s", "This is a string"]);
    assert_eq!(h.run(&["GETRANGE", "s", "0", "3"]), bulk("This"));
    assert_eq!(h.run(&["GETRANGE", "s", "-3", "-1"]), bulk("ing"));
    assert_eq!(h.run(&["GETRANGE", "s", "0", "-1"]), bulk("This is a string"));
    assert_eq!(h.run(&["GETRANGE", "s", "10", "100"]), bulk("string"));
    assert_eq!(h.run(&["GETRANGE", "s", "5", "3"]), bulk(""));
    assert_eq!(h.run(&["GETRANGE", "s", "0", "-100"]), bulk("T"));
    assert_eq!(h.run(&["GETRANGE", "nokey", "0", "-1"]), bulk(""));

    h.run(&["SET", "key1", "Hello World"]);
    assert_eq!(h.run(&["SETRANGE", "key1", "6", "Redis"]), int(11));
    assert_eq!(h.run(&["GET", "key1"]), bulk("Hello Redis"));
    assert_eq!(h.run(&["SETRANGE", "key2", "6", "Redis"]), int(11));
    assert_eq!(h.run(&["GET", "key2"]), bulk("\0\0\0\0\0\0Redis"));
    assert_eq!(h.run(&["SETRANGE", "key3", "0", ""]), int(0));
    assert_eq!(h.run(&["EXISTS", "key3"]), int(0));
    assert_eq!(
        h.run(&["SETRANGE", "key1", "-1", "x"]),
        err("ERR offset is out of range")
    );
    assert_eq!(
        h.run(&["SETRANGE", "key1", "536870911", "xx"]),
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
}

#[test]
fn non_utf8_and_huge_arguments_never_panic() {
    let mut h = Harness::new();
    let weird = bytes::Bytes::from_static(b"\xff\xfe\x00\x80");
    for name in [
        "SET", "GET", "INCRBY", "EXPIRE", "LPUSH", "HSET", "SADD", "ZADD", "SCAN", "KEYS",
    ] {
        for argc in 1..6 {
            let mut argv = vec![bytes::Bytes::copy_from_slice(name.as_bytes())];
            argv.extend(std::iter::repeat_n(weird.clone(), argc));
            let _ = h.run_argv(argv);
        }
    }
    for huge in [
        "99999999999999999999999",
        "-9223372036854775808",
        "9223372036854775807",
        "1e999",
    ] {
        for command in [
            &["INCRBY", "h", huge][..],
            &["EXPIRE", "h", huge],
            &["LRANGE", "h", huge, huge],
            &["LPOP", "h", huge],
            &["SPOP", "h", huge],
            &["SRANDMEMBER", "h", huge],
            &["ZADD", "h", huge, "m"],
            &["SETRANGE", "h", huge, "x"],
            &["GETRANGE", "h", huge, huge],
            &["SCAN", huge, "COUNT", huge],
        ] {
            let _ = h.run(command);
        }
    }
}
