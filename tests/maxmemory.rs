//! `maxmemory` on real `memoir server` processes (jemalloc's count of
//! allocated bytes) over three `memoir journal` processes, driven by
//! redis-rs: the flags reach CONFIG and INFO; under allkeys-lru the keys
//! nobody read go first and memory settles under the limit; the replica
//! follows the evictions (equal digests); under noeviction writes get
//! Redis's OOM error while reads and deletes go on; MEMORY PURGE and
//! MALLOC-STATS reach jemalloc.

mod support;

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use support::{Cluster, MemoryNodes};

const LEASE_MS: u64 = 400;
const VALUE_BYTES: usize = 1000;
const COLD_KEYS: usize = 4000;
const HOT_KEYS: usize = 200;
const NEW_KEYS: usize = 3000;

async fn connect(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).expect("a redis url");
    client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the memory node")
}

/// One field of INFO.
async fn info_field(con: &mut MultiplexedConnection, section: &str, field: &str) -> String {
    let text: String = redis::cmd("INFO").arg(section).query_async(con).await.expect("INFO");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}:\n{text}"))
        .trim()
        .to_owned()
}

async fn info_number(con: &mut MultiplexedConnection, section: &str, field: &str) -> u64 {
    let text = info_field(con, section, field).await;
    text.parse()
        .unwrap_or_else(|_| panic!("{field}:{text} is not a number"))
}

async fn config_get(con: &mut MultiplexedConnection, name: &str) -> String {
    let pair: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query_async(con)
        .await
        .expect("CONFIG GET");
    pair.get(1).cloned().unwrap_or_default()
}

async fn config_set(con: &mut MultiplexedConnection, name: &str, value: &str) {
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query_async(con)
        .await
        .unwrap_or_else(|e| panic!("CONFIG SET {name} {value}: {e}"));
}

async fn write_keys(con: &mut MultiplexedConnection, prefix: &str, range: std::ops::Range<usize>, hot_reads: bool) {
    let value = vec![b'v'; VALUE_BYTES];
    let indexes: Vec<usize> = range.collect();
    for chunk in indexes.chunks(100) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("SET").arg(format!("{prefix}:{i}")).arg(&value);
        }
        if hot_reads {
            // Keep the hot keys recently used while the new ones arrive.
            for i in 0..HOT_KEYS {
                pipe.cmd("GET").arg(format!("cold:{i}")).ignore();
            }
        }
        // Every SET's own reply: an OOM refusal must not pass unseen.
        let replies: Vec<redis::Value> = pipe.query_async(con).await.expect("a pipeline of SETs");
        assert_eq!(replies.len(), chunk.len());
        for reply in replies {
            assert_eq!(reply, redis::Value::Okay, "a SET under allkeys-lru");
        }
    }
}

async fn read_hot_keys(con: &mut MultiplexedConnection) {
    let mut command = redis::cmd("MGET");
    for i in 0..HOT_KEYS {
        command.arg(format!("cold:{i}"));
    }
    let values: Vec<Option<Vec<u8>>> = command.query_async(con).await.expect("MGET");
    assert!(values.iter().all(Option::is_some), "every hot key is there");
}

async fn existing(con: &mut MultiplexedConnection, prefix: &str, range: std::ops::Range<usize>) -> usize {
    let mut count = 0;
    let indexes: Vec<usize> = range.collect();
    for chunk in indexes.chunks(500) {
        let mut command = redis::cmd("EXISTS");
        for i in chunk {
            command.arg(format!("{prefix}:{i}"));
        }
        let n: usize = command.query_async(con).await.expect("EXISTS");
        count += n;
    }
    count
}

async fn digest_seq(con: &mut MultiplexedConnection) -> (String, u64) {
    redis::cmd("DEBUG")
        .arg("DIGEST-SEQ")
        .query_async(con)
        .await
        .expect("DEBUG DIGEST-SEQ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allkeys_lru_evicts_the_keys_nobody_read_and_noeviction_refuses_writes() {
    let cluster = Cluster::start();
    let nodes = MemoryNodes::start_with_args(
        &cluster,
        2,
        LEASE_MS,
        &["--maxmemory", "1gb", "--maxmemory-policy", "allkeys-lru"],
    );
    let primary = nodes.primary(Duration::from_secs(30)).await;
    let replica = 1 - primary;
    let mut con = connect(&nodes.url(primary)).await;

    // The flags, as CONFIG and INFO report them.
    assert_eq!(config_get(&mut con, "maxmemory").await, (1u64 << 30).to_string());
    assert_eq!(config_get(&mut con, "maxmemory-policy").await, "allkeys-lru");
    assert_eq!(info_field(&mut con, "memory", "maxmemory_policy").await, "allkeys-lru");
    assert_eq!(info_number(&mut con, "memory", "maxmemory").await, 1 << 30);

    // Cold keys, then seconds later (the LRU clock counts seconds) a few
    // of them read again.
    write_keys(&mut con, "cold", 0..COLD_KEYS, false).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    read_hot_keys(&mut con).await;

    // A limit 1 MiB above what is used now; the new keys need about 4 MiB.
    let used = info_number(&mut con, "memory", "used_memory").await;
    let limit = used + (1 << 20);
    config_set(&mut con, "maxmemory", &limit.to_string()).await;
    write_keys(&mut con, "new", 0..NEW_KEYS, true).await;

    // The tick finishes what the last command left. Then the limit is
    // lifted, so that counting the keys evicts none of them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let used_after = info_number(&mut con, "memory", "used_memory").await;
    config_set(&mut con, "maxmemory", "0").await;
    let evicted = info_number(&mut con, "stats", "evicted_keys").await;
    let hot_left = existing(&mut con, "cold", 0..HOT_KEYS).await;
    let cold_left = existing(&mut con, "cold", HOT_KEYS..COLD_KEYS).await;
    let new_left = existing(&mut con, "new", 0..NEW_KEYS).await;
    let report = format!(
        "limit={limit} used_after={used_after} evicted={evicted} hot_left={hot_left} cold_left={cold_left} new_left={new_left}"
    );
    println!("{report}");
    assert!(evicted >= 1000, "the new keys needed room: {report}");
    assert_eq!(
        (COLD_KEYS + NEW_KEYS) as u64 - evicted,
        (hot_left + cold_left + new_left) as u64,
        "every missing key was evicted, and counted: {report}"
    );
    // jemalloc's count includes freed blocks its thread caches hold.
    assert!(
        used_after <= limit + (1 << 20),
        "memory settles under the limit: {report}"
    );
    // Approximate LRU: nearly every eviction hit a key nobody had read.
    let cold_evicted = (COLD_KEYS - HOT_KEYS - cold_left) as u64;
    assert!(cold_evicted * 10 >= evicted * 9, "LRU chose unread keys: {report}");
    assert!(hot_left * 100 >= HOT_KEYS * 95, "the keys in use stayed: {report}");

    // The replica applied the same evictions.
    let (primary_digest, primary_seq) = digest_seq(&mut con).await;
    let mut replica_con = connect(&nodes.url(replica)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (digest, seq) = digest_seq(&mut replica_con).await;
        if seq >= primary_seq {
            assert_eq!(digest, primary_digest, "the replica follows the primary's evictions");
            break;
        }
        assert!(Instant::now() < deadline, "the replica did not catch up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // noeviction below current usage: writes that allocate are refused
    // with Redis's error; reads and deletes go on.
    config_set(&mut con, "maxmemory-policy", "noeviction").await;
    let used = info_number(&mut con, "memory", "used_memory").await;
    config_set(&mut con, "maxmemory", &(used / 2).to_string()).await;
    let refused = redis::cmd("SET")
        .arg("one-more")
        .arg("value")
        .query_async::<()>(&mut con)
        .await
        .expect_err("a write over maxmemory under noeviction");
    assert!(
        refused
            .to_string()
            .contains("command not allowed when used memory > 'maxmemory'"),
        "{refused}"
    );
    let hot: Option<Vec<u8>> = redis::cmd("GET")
        .arg("cold:0")
        .query_async(&mut con)
        .await
        .expect("GET");
    assert_eq!(hot.map(|v| v.len()), Some(VALUE_BYTES));
    let deleted: u64 = redis::cmd("DEL")
        .arg("cold:0")
        .query_async(&mut con)
        .await
        .expect("DEL");
    assert_eq!(deleted, 1);
    let evicted_since = info_number(&mut con, "stats", "evicted_keys").await - evicted;
    assert_eq!(evicted_since, 0, "noeviction evicts nothing");

    // Lifting the limit lets writes through again.
    config_set(&mut con, "maxmemory", "0").await;
    let () = redis::cmd("SET")
        .arg("one-more")
        .arg("value")
        .query_async(&mut con)
        .await
        .expect("a write once the limit is lifted");

    // jemalloc's purge and report, as Redis answers them.
    let () = redis::cmd("MEMORY")
        .arg("PURGE")
        .query_async(&mut con)
        .await
        .expect("MEMORY PURGE");
    let report: String = redis::cmd("MEMORY")
        .arg("MALLOC-STATS")
        .query_async(&mut con)
        .await
        .expect("MEMORY MALLOC-STATS");
    assert!(report.contains("jemalloc statistics"), "{report}");
}
