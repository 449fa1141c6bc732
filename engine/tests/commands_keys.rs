//! Generic key commands, expiry under each clock, whole-database commands,
//! and their effects.

mod common;

use std::collections::BTreeSet;

use common::*;
use memoir_engine::resp::Reply;

#[test]
fn del_exists_type() {
    let mut h = Harness::new();
    h.run(&["MSET", "a", "1", "b", "2"]);
    h.run(&["RPUSH", "l", "x"]);
    assert_eq!(h.run(&["EXISTS", "a", "a", "nope", "l"]), int(3));
    assert_eq!(h.run(&["TYPE", "a"]), status("string"));
    assert_eq!(h.run(&["TYPE", "l"]), status("list"));
    assert_eq!(h.run(&["TYPE", "nope"]), status("none"));
    assert_eq!(h.run(&["DEL", "a", "nope", "l"]), int(2));
    assert_eq!(h.effects(), ["DEL a l"], "only keys that existed are propagated");
    assert_eq!(h.run(&["DEL", "nope"]), int(0));
    assert!(h.effects().is_empty());
    assert_eq!(h.run(&["UNLINK", "b"]), int(1));
    assert_eq!(h.effects(), ["DEL b"]);
    assert_eq!(h.run(&["DBSIZE"]), int(0));
}

#[test]
fn expire_family_and_effects() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["EXPIRE", "k", "10"]), int(0), "missing key");
    h.run(&["SET", "k", "v"]);
    assert_eq!(h.run(&["EXPIRE", "k", "10"]), int(1));
    assert_eq!(h.effects(), [format!("PEXPIREAT k {}", START_MS + 10_000)]);
    assert_eq!(h.run(&["PEXPIRE", "k", "2500"]), int(1));
    assert_eq!(h.effects(), [format!("PEXPIREAT k {}", START_MS + 2500)]);
    assert_eq!(h.run(&["TTL", "k"]), int(3), "TTL rounds to the nearest second");
    assert_eq!(h.run(&["PTTL", "k"]), int(2500));
    assert_eq!(h.run(&["EXPIREAT", "k", "2000000000"]), int(1));
    assert_eq!(h.effects(), ["PEXPIREAT k 2000000000000"]);
    assert_eq!(h.run(&["PEXPIREAT", "k", "2000000000001"]), int(1));
    assert_eq!(h.effects(), ["PEXPIREAT k 2000000000001"]);
    assert_eq!(h.run(&["EXPIRETIME", "k"]), int(2_000_000_000));
    assert_eq!(h.run(&["PEXPIRETIME", "k"]), int(2_000_000_000_001));
    assert_eq!(h.run(&["PERSIST", "k"]), int(1));
    assert_eq!(h.effects(), ["PERSIST k"]);
    assert_eq!(h.run(&["PERSIST", "k"]), int(0));
    assert!(h.effects().is_empty());
    assert_eq!(h.run(&["TTL", "k"]), int(-1));
    assert_eq!(h.run(&["TTL", "missing"]), int(-2));
    assert_eq!(h.run(&["EXPIRETIME", "k"]), int(-1));

    // A time in the past deletes the key, propagated as DEL.
    assert_eq!(h.run(&["EXPIRE", "k", "-1"]), int(1));
    assert_eq!(h.effects(), ["DEL k"]);
    assert_eq!(h.run(&["EXISTS", "k"]), int(0));
    h.run(&["SET", "k", "v"]);
    assert_eq!(h.run(&["PEXPIREAT", "k", "1"]), int(1));
    assert_eq!(h.effects(), ["DEL k"]);
}

#[test]
fn expire_conditions() {
    let mut h = Harness::new();
    h.run(&["SET", "k", "v"]);
    assert_eq!(h.run(&["EXPIRE", "k", "100", "XX"]), int(0));
    assert_eq!(
        h.run(&["EXPIRE", "k", "100", "GT"]),
        int(0),
        "no TTL counts as infinite for GT"
    );
    assert_eq!(h.run(&["EXPIRE", "k", "100", "NX"]), int(1));
    assert_eq!(h.effects(), [format!("PEXPIREAT k {}", START_MS + 100_000)]);
    assert_eq!(h.run(&["EXPIRE", "k", "200", "NX"]), int(0));
    assert_eq!(h.run(&["EXPIRE", "k", "50", "GT"]), int(0));
    assert_eq!(h.run(&["EXPIRE", "k", "200", "GT"]), int(1));
    assert_eq!(h.run(&["EXPIRE", "k", "300", "LT"]), int(0));
    assert_eq!(h.run(&["EXPIRE", "k", "30", "LT", "XX"]), int(1));
    assert_eq!(h.run(&["TTL", "k"]), int(30));
    h.run(&["PERSIST", "k"]);
    assert_eq!(
        h.run(&["EXPIRE", "k", "30", "LT"]),
        int(1),
        "no TTL counts as infinite for LT"
    );
    assert_eq!(
        h.run(&["EXPIRE", "k", "30", "NX", "XX"]),
        err("ERR NX and XX, GT or LT options at the same time are not compatible")
    );
    assert_eq!(
        h.run(&["EXPIRE", "k", "30", "GT", "LT"]),
        err("ERR GT and LT options at the same time are not compatible")
    );
    assert_eq!(h.run(&["EXPIRE", "k", "30", "FOO"]), err("ERR Unsupported option FOO"));
    assert_eq!(h.run(&["EXPIRE", "k", "abc"]), err(NOT_INTEGER));
    assert_eq!(
        h.run(&["EXPIRE", "k", "9223372036854775807"]),
        err("ERR invalid expire time in 'expire' command")
    );
    assert_eq!(
        h.run(&["PEXPIRE", "k", "9223372036854775807"]),
        err("ERR invalid expire time in 'pexpire' command")
    );
}

#[test]
fn lazy_expiry_on_the_primary_deletes_and_propagates_first() {
    let mut h = Harness::new();
    h.run(&["SET", "k", "v", "PX", "100"]);
    h.advance(99);
    assert_eq!(h.run(&["GET", "k"]), bulk("v"));
    h.advance(1);
    assert_eq!(h.run(&["GET", "k"]), nil());
    assert_eq!(h.effects(), ["DEL k"], "a read that finds an expired key deletes it");
    assert_eq!(h.run(&["DBSIZE"]), int(0));

    h.run(&["SET", "k", "5", "PX", "100"]);
    h.advance(100);
    assert_eq!(h.run(&["INCR", "k"]), int(1));
    assert_eq!(
        h.effects(),
        ["DEL k", "INCR k"],
        "the DEL comes before the command's own effect"
    );

    h.run(&["RPUSH", "l", "a", "b", "c"]);
    h.run(&["PEXPIRE", "l", "10"]);
    h.advance(10);
    assert_eq!(h.run(&["LPUSH", "l", "z"]), int(1));
    assert_eq!(h.effects(), ["DEL l", "LPUSH l z"]);
    h.run(&["SET", "t", "v", "PX", "10"]);
    h.advance(10);
    assert_eq!(
        h.run(&["SET", "t", "w", "NX"]),
        ok(),
        "an expired key does not block NX"
    );
    assert_eq!(h.effects(), ["DEL t", "SET t w"]);
}

#[test]
fn replica_reads_hide_expired_keys_without_deleting() {
    let mut h = Harness::new();
    h.run(&["SET", "k", "v", "PX", "100"]);
    h.run(&["HSET", "h", "f", "v"]);
    h.run(&["PEXPIRE", "h", "100"]);
    h.advance(100);
    assert_eq!(h.run_on_replica(&["GET", "k"]), nil());
    assert_eq!(h.run_on_replica(&["HGET", "h", "f"]), nil());
    assert_eq!(h.run_on_replica(&["EXISTS", "k", "h"]), int(0));
    assert_eq!(h.run_on_replica(&["TTL", "k"]), int(-2));
    assert_eq!(
        h.run_on_replica(&["DBSIZE"]),
        int(2),
        "still there until the primary's DEL"
    );
    assert_eq!(h.replica.dbsize(0), 2);
    // The primary expires them; its DELs reach the replica.
    assert_eq!(h.active_expire(100), 2);
    assert_eq!(h.replica.dbsize(0), 0);
}

#[test]
fn applying_effects_never_expires() {
    let mut h = Harness::new();
    h.run(&["SET", "k", "v", "PX", "1"]);
    h.advance(1000);
    // The replica applies writes against a key expired by its clock; with
    // Clock::Apply the key is still there and INCR-like writes see it.
    h.run(&["SET", "other", "x"]);
    let effect = memoir_engine::commands::Effect {
        db: 0,
        argv: argv(&["APPEND", "k", "w"]),
    };
    h.replica.apply(&effect).expect("applies");
    h.primary.apply(&effect).expect("applies");
    assert_eq!(h.primary.digest(), h.replica.digest());
    assert_eq!(h.primary.dbsize(0), 2);
}

#[test]
fn active_expiry_samples_and_deletes() {
    let mut h = Harness::new();
    for i in 0..200 {
        h.run(&["SET", &format!("v{i}"), "x", "PX", "50"]);
        h.run(&["SET", &format!("p{i}"), "x"]);
    }
    assert_eq!(h.active_expire(1000), 0, "nothing expired yet");
    h.advance(50);
    let mut deleted = 0;
    for _ in 0..100 {
        deleted += h.active_expire(40);
        assert!(h.last_effects.len() <= 40);
        for effect in &h.last_effects {
            assert_eq!(effect.argv[0], "DEL");
            assert_eq!(effect.argv.len(), 2);
        }
    }
    assert_eq!(deleted, 200);
    assert_eq!(h.primary.dbsize(0), 200);
    assert_eq!(h.replica.dbsize(0), 200);
    let stats = h.primary.db_stats();
    assert_eq!(stats.len(), 1);
    assert_eq!((stats[0].db, stats[0].keys, stats[0].expires), (0, 200, 0));
}

#[test]
fn active_expiry_keeps_sampling_a_stale_database_up_to_its_bound() {
    let mut h = Harness::new();
    // Compared once at the end: a digest after each of 5,050 SETs is slow.
    h.check_replica = false;
    for i in 0..5000 {
        h.run(&["SET", &format!("v{i}"), "x", "PX", "10"]);
    }
    for i in 0..50 {
        h.run(&["SET", &format!("p{i}"), "x", "PX", "100000"]);
    }
    h.advance(10);
    let mut effects = Vec::new();
    // Almost every sample is stale, so the cycle goes on to its bound and
    // says there is more to do.
    let first = h.primary.active_expire_cycle(h.now_ms, &mut effects, 1000);
    assert_eq!(first.sampled, 1000);
    assert!(first.more);
    assert!(first.deleted > 900, "{first:?}");
    assert_eq!(effects.len(), first.deleted);
    // With room, it goes on until a round finds at most 10% stale: the
    // few stale keys left are outnumbered by the 50 live ones.
    let second = h.primary.active_expire_cycle(h.now_ms, &mut effects, 1_000_000);
    assert!(!second.more, "{second:?}");
    let deleted = first.deleted + second.deleted;
    assert!(deleted > 4900, "deleted {deleted} of 5000");
    assert_eq!(effects.len(), deleted);
    assert_eq!(h.primary.dbsize(0), 5050 - deleted);
    h.apply_to_replica(&effects);
    assert_eq!(h.primary.digest(), h.replica.digest());
}

#[test]
fn active_expiry_visits_every_database() {
    let mut h = Harness::new();
    for db in 0..16 {
        h.db = db;
        h.run(&["SET", "k", "v", "PX", "1"]);
    }
    h.advance(1);
    let mut total = 0;
    for _ in 0..20 {
        total += h.active_expire(5);
    }
    assert_eq!(total, 16);
    assert_eq!(h.primary.total_keys(), 0);
}

#[test]
fn one_active_expiry_cycle_with_room_visits_every_database() {
    let mut h = Harness::new();
    // Start the rotation part-way, as a running node would be.
    h.run(&["SET", "k", "v", "PX", "1"]);
    h.advance(1);
    assert_eq!(h.active_expire(100), 1);
    for db in 0..16 {
        h.db = db;
        h.run(&["SET", "k", "v", "PX", "1"]);
    }
    h.advance(1);
    // Until 2026-11-27 the rotation skipped databases within one cycle
    // (1, 3, 6, 10, ...): a stale key in a skipped one waited for a later
    // cycle.
    assert_eq!(h.active_expire(1000), 16);
    assert_eq!(h.primary.total_keys(), 0);
}

#[test]
fn db_stats_report_keys_expires_and_ttl() {
    let mut h = Harness::new();
    assert!(h.primary.db_stats().is_empty());
    h.db = 3;
    h.run(&["SET", "a", "1"]);
    // db_stats reads the wall clock, so the expiry is absolute and far away.
    h.run(&["SET", "b", "1", "PXAT", "4102444800000"]);
    let stats = h.primary.db_stats();
    assert_eq!(stats.len(), 1);
    assert_eq!((stats[0].db, stats[0].keys, stats[0].expires), (3, 2, 1));
    assert!(stats[0].avg_ttl_ms > 0);
}

#[test]
fn rename_and_renamenx() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["RENAME", "a", "b"]), err("ERR no such key"));
    h.run(&["SET", "a", "1", "EX", "100"]);
    assert_eq!(h.run(&["RENAME", "a", "b"]), ok());
    assert_eq!(h.effects(), ["RENAME a b"]);
    assert_eq!(h.run(&["GET", "b"]), bulk("1"));
    assert_eq!(h.run(&["TTL", "b"]), int(100), "the TTL moves with the value");
    assert_eq!(h.run(&["EXISTS", "a"]), int(0));
    assert_eq!(h.run(&["RENAME", "b", "b"]), ok());
    h.run(&["SET", "c", "3"]);
    assert_eq!(h.run(&["RENAMENX", "b", "c"]), int(0));
    assert_eq!(h.run(&["RENAMENX", "b", "d"]), int(1));
    assert_eq!(h.run(&["RENAME", "d", "c"]), ok());
    assert_eq!(h.run(&["GET", "c"]), bulk("1"));
}

#[test]
fn keys_and_randomkey() {
    let mut h = Harness::new();
    assert_eq!(h.run(&["RANDOMKEY"]), nil());
    h.run(&["MSET", "user:1", "a", "user:2", "b", "other", "c"]);
    h.run(&["SET", "user:3", "x", "PX", "5"]);
    h.advance(5);
    let reply = h.run(&["KEYS", "user:*"]);
    assert_eq!(sorted_members(&reply), ["user:1", "user:2"]);
    assert!(h.effects().is_empty(), "KEYS skips expired keys without deleting them");
    assert_eq!(sorted_members(&h.run(&["KEYS", "*"])).len(), 3);
    assert_eq!(sorted_members(&h.run(&["KEYS", "user:[2-9]"])), ["user:2"]);
    for _ in 0..20 {
        match h.run(&["RANDOMKEY"]) {
            Reply::Bulk(key) => assert_ne!(key, "user:3"),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn scan_returns_everything_once_the_cursor_is_back_to_zero() {
    let mut h = Harness::new();
    for i in 0..500 {
        h.run(&["SET", &format!("key:{i}"), "v"]);
    }
    for i in 0..50 {
        h.run(&["HSET", &format!("hash:{i}"), "f", "v"]);
    }
    let mut cursor = "0".to_owned();
    let mut seen = BTreeSet::new();
    let mut calls = 0;
    loop {
        let reply = h.run(&["SCAN", &cursor, "COUNT", "17"]);
        let Reply::Array(parts) = reply else {
            panic!("scan reply")
        };
        let [Reply::Bulk(next), keys] = &parts[..] else {
            panic!("scan reply shape")
        };
        seen.extend(sorted_members(keys));
        cursor = String::from_utf8_lossy(next).into_owned();
        calls += 1;
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 550);
    assert!(calls >= 550 / 17);

    let mut cursor = "0".to_owned();
    let mut hashes = BTreeSet::new();
    loop {
        let Reply::Array(parts) = h.run(&["SCAN", &cursor, "MATCH", "hash:*", "TYPE", "hash", "COUNT", "100"]) else {
            panic!("scan reply")
        };
        hashes.extend(sorted_members(&parts[1]));
        cursor = match &parts[0] {
            Reply::Bulk(next) => String::from_utf8_lossy(next).into_owned(),
            other => panic!("{other:?}"),
        };
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(hashes.len(), 50);
    let Reply::Array(parts) = h.run(&["SCAN", "0", "TYPE", "nosuchtype", "COUNT", "1000"]) else {
        panic!()
    };
    assert_eq!(parts[1], arr(vec![]));
    assert_eq!(h.run(&["SCAN", "abc"]), err("ERR invalid cursor"));
    assert_eq!(h.run(&["SCAN", "0", "COUNT", "0"]), err(SYNTAX));
    assert_eq!(h.run(&["SCAN", "0", "COUNT"]), err(SYNTAX));
    assert_eq!(h.run(&["SCAN", "0", "BOGUS", "1"]), err(SYNTAX));
    assert_eq!(h.run(&["SCAN", "0", "COUNT", "x"]), err(NOT_INTEGER));
}

#[test]
fn flushdb_flushall_swapdb_dbsize() {
    let mut h = Harness::new();
    h.run(&["SET", "a", "1"]);
    h.db = 1;
    h.run(&["SET", "b", "1"]);
    h.run(&["SET", "c", "1"]);
    assert_eq!(h.run(&["DBSIZE"]), int(2));
    assert_eq!(h.run(&["SWAPDB", "0", "1"]), ok());
    assert_eq!(h.effects(), ["SWAPDB 0 1"]);
    assert_eq!(h.run(&["DBSIZE"]), int(1));
    assert_eq!(h.run(&["SWAPDB", "0", "16"]), err("ERR DB index is out of range"));
    assert_eq!(h.run(&["SWAPDB", "x", "1"]), err("ERR invalid first DB index"));
    assert_eq!(h.run(&["SWAPDB", "1", "x"]), err("ERR invalid second DB index"));
    assert_eq!(h.run(&["FLUSHDB", "ASYNC"]), ok());
    assert_eq!(h.effects(), ["FLUSHDB"]);
    assert_eq!(h.run(&["DBSIZE"]), int(0));
    assert_eq!(h.primary.total_keys(), 2);
    assert_eq!(h.run(&["FLUSHDB", "LATER"]), err(SYNTAX));
    assert_eq!(h.run(&["FLUSHALL", "SYNC"]), ok());
    assert_eq!(h.effects(), ["FLUSHALL"]);
    assert_eq!(h.primary.total_keys(), 0);
    assert_eq!(h.primary.digest(), [0; 20]);
    assert_eq!(h.run(&["FLUSHALL", "SYNC", "x"]), err(SYNTAX));
}

#[test]
fn object_encoding() {
    let mut h = Harness::new();
    h.run(&["SET", "int", "123"]);
    h.run(&["SET", "short", "hello"]);
    h.run(&["SET", "long", &"x".repeat(100)]);
    h.run(&["HSET", "h", "f", "v"]);
    h.run(&["SADD", "ints", "1", "2"]);
    h.run(&["SADD", "strs", "a"]);
    h.run(&["ZADD", "z", "1", "a"]);
    h.run(&["RPUSH", "l", "a"]);
    for (key, encoding) in [
        ("int", "int"),
        ("short", "embstr"),
        ("long", "raw"),
        ("h", "listpack"),
        ("ints", "intset"),
        ("strs", "listpack"),
        ("z", "listpack"),
        ("l", "quicklist"),
    ] {
        assert_eq!(h.run(&["OBJECT", "ENCODING", key]), bulk(encoding), "{key}");
    }
    assert_eq!(h.run(&["OBJECT", "ENCODING", "missing"]), nil());
    assert_eq!(
        h.run(&["OBJECT", "NOPE", "k"]),
        err("ERR unknown subcommand 'NOPE'. Try OBJECT HELP.")
    );
}

#[test]
fn a_database_out_of_range_is_an_error_not_a_panic() {
    let mut h = Harness::new();
    h.db = 99;
    assert_eq!(h.run(&["GET", "k"]), err("ERR DB index is out of range"));
    assert_eq!(h.run(&["FLUSHDB"]), err("ERR DB index is out of range"));
}
