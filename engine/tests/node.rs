//! Memory nodes in-process over a real three-replica journal (real TCP),
//! driven by a real Redis client (redis-rs) and raw sockets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use memoir_engine::{MemoryNode, NodeConfig, Role};
use memoir_journal::LeaderId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod node_common;

use node_common::{connect, info_field, start_journal, start_node, wait_for, Raw, LEASE, V};

async fn connect_resp3(node: &MemoryNode) -> redis::aio::MultiplexedConnection {
    let url = format!("redis://{}/?protocol=resp3", node.local_addr());
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// Sends raw bytes and reads until `expect` bytes arrived or the peer closed.
async fn raw(addr: SocketAddr, send: &[u8], expect: usize) -> (Vec<u8>, bool) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(send).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, stream.read(&mut buf)).await {
            Ok(Ok(0)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(_)) => return (out, true),
            Err(_) => return (out, false),
        }
        if out.len() >= expect {
            // Give a close a moment to arrive.
            let mut probe = [0u8; 1];
            return match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut probe)).await {
                Ok(Ok(0)) | Ok(Err(_)) => (out, true),
                _ => (out, false),
            };
        }
    }
}

async fn digest_seq(con: &mut redis::aio::MultiplexedConnection) -> redis::RedisResult<(String, u64)> {
    redis::cmd("DEBUG").arg("DIGEST-SEQ").query_async(con).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_serves_replica_follows_refuses_writes_and_digests_match() {
    let journal = start_journal().await;
    let a = start_node(&journal, Duration::ZERO).await;
    let b = start_node(&journal, LEASE * 4).await;
    wait_for("a primary", Duration::from_secs(10), || a.role() == Role::Primary).await;

    let mut con = connect(&a).await;
    let _: () = redis::cmd("SET")
        .arg("greeting")
        .arg("hello")
        .query_async(&mut con)
        .await
        .unwrap();
    let n: i64 = redis::cmd("INCRBY")
        .arg("counter")
        .arg(5)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(n, 5);
    let _: () = redis::pipe()
        .atomic()
        .cmd("RPUSH")
        .arg("list")
        .arg("x")
        .arg("y")
        .ignore()
        .cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .ignore()
        .query_async(&mut con)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("ttl")
        .arg("v")
        .arg("EX")
        .arg(100)
        .query_async(&mut con)
        .await
        .unwrap();
    let value: String = redis::cmd("GET").arg("greeting").query_async(&mut con).await.unwrap();
    assert_eq!(value, "hello");
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut con).await.unwrap();
    assert_eq!(role[0], redis::Value::BulkString(b"master".to_vec()));

    // The replica applies the same records and refuses writes.
    let mut replica = connect(&b).await;
    let (primary_digest, primary_seq) = digest_seq(&mut con).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let replica_digest = loop {
        if let Ok((digest, seq)) = digest_seq(&mut replica).await {
            if seq >= primary_seq {
                break digest;
            }
        }
        assert!(Instant::now() < deadline, "replica did not catch up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(replica_digest, primary_digest);
    assert_ne!(primary_digest, "0".repeat(40));
    let list: Vec<String> = redis::cmd("LRANGE")
        .arg("list")
        .arg(0)
        .arg(-1)
        .query_async(&mut replica)
        .await
        .unwrap();
    assert_eq!(list, ["x", "y"]);
    let ttl: i64 = redis::cmd("TTL").arg("ttl").query_async(&mut replica).await.unwrap();
    assert!((1..=100).contains(&ttl), "ttl {ttl}");
    let refused: redis::RedisResult<()> = redis::cmd("SET").arg("k").arg("v").query_async(&mut replica).await;
    let error = refused.unwrap_err();
    assert_eq!(error.code(), Some("READONLY"), "{error}");
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut replica).await.unwrap();
    assert_eq!(role[0], redis::Value::BulkString(b"slave".to_vec()));
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut replica)
        .await
        .unwrap();
    assert!(info.contains("role:slave"), "{info}");
    assert!(
        info.contains(&format!("master_port:{}", a.local_addr().port())),
        "{info}"
    );

    a.abort();
    b.abort();
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp3_inline_commands_and_protocol_errors() {
    let journal = start_journal().await;
    let a = start_node(&journal, Duration::ZERO).await;
    wait_for("a primary", Duration::from_secs(10), || a.role() == Role::Primary).await;

    let mut con = connect_resp3(&a).await;
    let _: () = redis::cmd("HSET")
        .arg("h")
        .arg("a")
        .arg("1")
        .query_async(&mut con)
        .await
        .unwrap();
    let map: redis::Value = redis::cmd("HGETALL").arg("h").query_async(&mut con).await.unwrap();
    assert!(matches!(map, redis::Value::Map(_)), "RESP3 map, got {map:?}");

    // Inline commands, as redis-cli and telnet send them.
    let (out, _) = raw(a.local_addr(), b"PING\r\nECHO \"a b\"\r\n", 14).await;
    assert_eq!(out, b"+PONG\r\n$3\r\na b\r\n");
    // HELLO 3 switches the connection to RESP3 maps.
    let (out, _) = raw(a.local_addr(), b"HELLO 3\r\n", 1).await;
    assert_eq!(out[0], b'%', "{}", String::from_utf8_lossy(&out));
    // Malformed RESP: an error, then the connection is closed.
    let (out, closed) = raw(a.local_addr(), b"PING\r\n*1\r\n$x\r\n", 20).await;
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("+PONG\r\n-ERR Protocol error: invalid bulk length"),
        "{text}"
    );
    assert!(closed, "connection closed after a protocol error");
    // Unknown commands and wrong arity keep Redis's texts.
    let (out, _) = raw(a.local_addr(), b"NOSUCH a b\r\nGET\r\n", 60).await;
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' "),
        "{text}"
    );
    assert!(
        text.contains("-ERR wrong number of arguments for 'get' command"),
        "{text}"
    );

    a.abort();
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_of_a_key_with_an_in_flight_write_waits_for_its_commit() {
    let journal = start_journal().await;
    let a = start_node(&journal, Duration::ZERO).await;
    wait_for("a primary", Duration::from_secs(10), || a.role() == Role::Primary).await;
    let mut setup = connect(&a).await;
    let _: () = redis::cmd("MSET")
        .arg("k")
        .arg("old")
        .arg("other")
        .arg("o")
        .query_async(&mut setup)
        .await
        .unwrap();

    a.hold_commits(true);
    let mut writer = connect(&a).await;
    let write = tokio::spawn(async move {
        let r: redis::RedisResult<String> = redis::cmd("SET").arg("k").arg("new").query_async(&mut writer).await;
        r
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut reader = connect(&a).await;
    let read = tokio::spawn(async move {
        let r: redis::RedisResult<String> = redis::cmd("GET").arg("k").query_async(&mut reader).await;
        r
    });
    // A clean key is served at once, with the write to `k` still held.
    let mut other = connect(&a).await;
    let clean: String = tokio::time::timeout(
        Duration::from_secs(2),
        redis::cmd("GET").arg("other").query_async(&mut other),
    )
    .await
    .expect("a read of a clean key is not held")
    .unwrap();
    assert_eq!(clean, "o");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!write.is_finished(), "the write was acknowledged before its commit");
    assert!(!read.is_finished(), "a read saw an uncommitted write");

    // On one connection, a read of a clean key sent after a held write
    // (in a message of its own) is answered after the write: replies keep
    // their order, even though the execution thread writes a reply that
    // waits for nothing to the socket itself.
    let mut pipelined = Raw::connect(&a).await;
    pipelined.send(&["SET", "k3", "v"]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    pipelined.send(&["GET", "other"]).await;
    assert_eq!(
        pipelined.read_within(Duration::from_millis(300)).await,
        None,
        "a reply overtook the held write's"
    );

    a.hold_commits(false);
    assert_eq!(write.await.unwrap().unwrap(), "OK");
    assert_eq!(read.await.unwrap().unwrap(), "new");
    assert_eq!(pipelined.read().await, V::Simple("OK".into()));
    assert_eq!(pipelined.read().await, V::bulk("o"));

    a.abort();
    journal.stop();
}

/// INCR n, again while the primary refuses it because its lease lapsed (a
/// busy machine can delay a 300 ms lease's renewal). A refused command did
/// not run, so the count stays exact; any other error fails the test.
async fn incr(con: &mut redis::aio::MultiplexedConnection) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match redis::cmd("INCR").arg("n").query_async(con).await {
            Ok(n) => return n,
            Err(e) if e.to_string().contains("lease has expired") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("INCR failed: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_after_a_crash_and_after_a_resignation_keeps_every_acknowledged_write() {
    let journal = start_journal().await;
    let a = start_node(&journal, Duration::ZERO).await;
    let b = start_node(&journal, LEASE * 2).await;
    wait_for("a primary", Duration::from_secs(10), || a.role() == Role::Primary).await;
    let mut con = connect(&a).await;
    for _ in 0..100 {
        incr(&mut con).await;
    }
    // A crash: no release record; the replica waits out the lease.
    let crashed = Instant::now();
    a.abort();
    wait_for("b to take over", Duration::from_secs(10), || b.role() == Role::Primary).await;
    let took = crashed.elapsed();
    assert!(took >= LEASE, "took over after {took:?}, inside the old lease");
    let mut con = connect(&b).await;
    assert_eq!(incr(&mut con).await, 101);

    // A resignation: the release record lets a caught-up replica take
    // over without waiting for the lease.
    let c = start_node(&journal, Duration::ZERO).await;
    wait_for("c to catch up", Duration::from_secs(10), || {
        c.shared().applied_seq.load(std::sync::atomic::Ordering::Acquire) > 0
            && !c.shared().loading.load(std::sync::atomic::Ordering::Acquire)
    })
    .await;
    b.shutdown().await;
    wait_for("c to take over", Duration::from_secs(10), || c.role() == Role::Primary).await;
    let mut con = connect(&c).await;
    assert_eq!(incr(&mut con).await, 102);

    c.abort();
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_primary_fails_its_writes_and_rejoins_as_a_replica() {
    let journal = start_journal().await;
    let a = start_node(&journal, Duration::ZERO).await;
    wait_for("a primary", Duration::from_secs(10), || a.role() == Role::Primary).await;
    let mut con = connect(&a).await;
    let _: () = redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query_async(&mut con)
        .await
        .unwrap();

    // A client of the primary that sends nothing while it is fenced.
    let mut bystander = Raw::connect(&a).await;
    assert_eq!(bystander.cmd(&["GET", "before"]).await, V::bulk("1"));

    // Someone else takes the leader register (as a new primary would).
    let usurper = LeaderId::random();
    journal.client().set_leader(usurper, a.term()).await.unwrap();
    let refused: redis::RedisResult<()> = redis::cmd("SET").arg("after").arg("1").query_async(&mut con).await;
    assert!(refused.is_err(), "a fenced write was acknowledged");
    wait_for("a to step down", Duration::from_secs(10), || a.role() == Role::Replica).await;
    // The primary's clients are disconnected: none of them goes on reading
    // from what is now a replica, lagging the new primary, without knowing.
    assert!(
        bystander.closed_within(Duration::from_secs(5)).await,
        "a client of the fenced primary stayed connected to the replica it became"
    );
    // It rehydrates from the journal: the committed write is there, the
    // fenced one is not.
    let mut con = connect(&a).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before: redis::RedisResult<Option<String>> = redis::cmd("GET").arg("before").query_async(&mut con).await;
        if let Ok(Some(value)) = before {
            assert_eq!(value, "1");
            break;
        }
        assert!(Instant::now() < deadline, "did not rehydrate");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after: Option<String> = redis::cmd("GET").arg("after").query_async(&mut con).await.unwrap();
    assert_eq!(after, None);

    a.abort();
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_commands_limits_and_wait() {
    let journal = start_journal().await;
    let mut config = NodeConfig::new(journal.addrs(), SocketAddr::from(([127, 0, 0, 1], 0)));
    config.lease = LEASE;
    config.lease_margin = LEASE / 4;
    config.maxclients = 3;
    config.limits.max_bulk_len = 1024;
    let a = MemoryNode::start(config).await.unwrap();
    wait_for("a primary", Duration::from_secs(10), || a.role() == Role::Primary).await;
    let mut con = connect(&a).await;

    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("tester")
        .query_async(&mut con)
        .await
        .unwrap();
    let name: String = redis::cmd("CLIENT").arg("GETNAME").query_async(&mut con).await.unwrap();
    assert_eq!(name, "tester");
    let id: i64 = redis::cmd("CLIENT").arg("ID").query_async(&mut con).await.unwrap();
    assert!(id > 0);
    let _: () = redis::cmd("SELECT").arg(15).query_async(&mut con).await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("in15")
        .arg("x")
        .query_async(&mut con)
        .await
        .unwrap();
    let size: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
    assert_eq!(size, 1);
    let out_of_range: redis::RedisResult<()> = redis::cmd("SELECT").arg(16).query_async(&mut con).await;
    assert!(out_of_range
        .unwrap_err()
        .to_string()
        .contains("DB index is out of range"));
    let info: String = redis::cmd("INFO").query_async(&mut con).await.unwrap();
    for field in [
        "redis_version:",
        "role:master",
        "connected_clients:",
        "db15:keys=1,expires=0",
    ] {
        assert!(info.contains(field), "INFO lacks {field}: {info}");
    }

    // WAIT counts the journal replicas (beyond the raft leader) holding
    // every committed write: both, once the status poll has seen them.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let replicas: i64 = redis::cmd("WAIT").arg(2).arg(100).query_async(&mut con).await.unwrap();
        if replicas == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "WAIT never reported both journal followers");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // proto-max-bulk-len: a longer argument is a protocol error.
    let (out, closed) = raw(a.local_addr(), b"*2\r\n$3\r\nGET\r\n$2048\r\n", 10).await;
    assert!(
        String::from_utf8_lossy(&out).starts_with("-ERR Protocol error: invalid bulk length"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(closed);

    // maxclients: `con` plus two more fill the node; the next is refused.
    // Connections closed above are let go of asynchronously, and one still
    // counted refuses a new one, so each step waits for the count.
    async fn clients(con: &mut redis::aio::MultiplexedConnection) -> usize {
        let info: String = redis::cmd("INFO").arg("clients").query_async(con).await.unwrap();
        info_field(&info, "connected_clients").parse().unwrap()
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while clients(&mut con).await != 1 {
        assert!(Instant::now() < deadline, "closed connections still counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut held = Vec::new();
    for want in [2, 3] {
        let deadline = Instant::now() + Duration::from_secs(10);
        'connect: loop {
            let stream = tokio::net::TcpStream::connect(a.local_addr()).await.unwrap();
            let settle = Instant::now() + Duration::from_millis(500);
            while Instant::now() < settle {
                if clients(&mut con).await == want {
                    held.push(stream);
                    break 'connect;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Refused while a closed connection was still counted: again.
            assert!(Instant::now() < deadline, "the node never counted {want} clients");
        }
    }
    let (out, closed) = raw(a.local_addr(), b"PING\r\n", 10).await;
    assert_eq!(String::from_utf8_lossy(&out), "-ERR max number of clients reached\r\n");
    assert!(closed);

    a.abort();
    journal.stop();
}

/// One write command becomes one journal record, so it is bounded by what
/// one append takes: up to the bound it commits, beyond it it is refused
/// before it runs, and the primary goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_up_to_the_journal_record_bound_commits_and_a_larger_one_is_refused() {
    const MAX_WRITE_BYTES: usize = 12 << 20;
    let journal = start_journal().await;
    // Renewals commit behind the 12 MiB record, flushed on three replicas
    // of one disk in a debug build: the tests' 300 ms lease can run out
    // meanwhile (CI saw it once), and this test is not about leases.
    let mut config = NodeConfig::new(journal.addrs(), SocketAddr::from(([127, 0, 0, 1], 0)));
    config.lease = Duration::from_secs(2);
    config.lease_margin = Duration::from_millis(500);
    let a = MemoryNode::start(config).await.unwrap();
    wait_for("a primary", Duration::from_secs(20), || a.role() == Role::Primary).await;
    let mut con = connect(&a).await;

    // Each argument counts its length plus 8: SET, the key and the value.
    let largest = vec![b'l'; MAX_WRITE_BYTES - (3 + 8) - (1 + 8) - 8];
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg(&largest)
        .query_async(&mut con)
        .await
        .unwrap();
    let length: usize = redis::cmd("STRLEN").arg("k").query_async(&mut con).await.unwrap();
    assert_eq!(length, largest.len());

    let refused: redis::RedisResult<()> = redis::cmd("SET")
        .arg("k2")
        .arg(vec![b'x'; largest.len() + 1])
        .query_async(&mut con)
        .await;
    let error = refused.unwrap_err().to_string();
    assert!(error.contains("exceeds the largest write the journal takes"), "{error}");
    let exists: i64 = redis::cmd("EXISTS").arg("k2").query_async(&mut con).await.unwrap();
    assert_eq!(exists, 0);
    assert_eq!(
        a.role(),
        Role::Primary,
        "a refused write does not make the primary step down"
    );
    assert_eq!(incr(&mut con).await, 1);
}

/// One snapshot, claiming a seq the journal has not reached: what a node
/// meets when the journal replica it asks is restarting (its applied end
/// back at its last checkpoint) or cut off behind it.
struct SnapshotAheadOfTheJournal;

impl memoir_engine::SnapshotSource for SnapshotAheadOfTheJournal {
    fn load_newest(
        &self,
        databases: usize,
        _progress: &mut dyn FnMut(memoir_engine::LoadProgress),
    ) -> Result<Option<memoir_engine::LoadedSnapshot>, String> {
        Ok(Some(memoir_engine::LoadedSnapshot {
            keyspace: memoir_engine::keyspace::Keyspace::new(databases),
            seq: memoir_journal::Seq(1_000_000),
            id: "ahead".into(),
            log_checksum: 0x5eed,
        }))
    }

    fn request_snapshot(&self) -> Result<(), String> {
        Ok(())
    }

    fn summary(&self) -> memoir_engine::SnapshotSummary {
        memoir_engine::SnapshotSummary::default()
    }
}

/// The journal's running checksum through an earlier seq than the node's
/// position vouches for nothing: the node waits (LOADING) for the journal
/// to reach it. Until 2026-12-06 it compared the two anyway and refused to
/// serve for good (MASTERDOWN), which `memoir dev` showed when restarted
/// over a long journal: both nodes loaded their snapshot before the
/// journal replicas had replayed their logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_ahead_of_the_journal_waits_for_it_instead_of_halting() {
    let (journal, primary) = node_common::primary().await;
    let mut writer = connect(&primary).await;
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut writer)
        .await
        .unwrap();

    let mut config = NodeConfig::new(journal.addrs(), SocketAddr::from(([127, 0, 0, 1], 0)));
    config.lease = LEASE;
    config.lease_margin = LEASE / 4;
    config.can_lead = false;
    config.snapshots = memoir_engine::Snapshots(Some(std::sync::Arc::new(SnapshotAheadOfTheJournal)));
    let ahead = MemoryNode::start(config).await.unwrap();
    // Many rounds of "have I caught up?" against the journal.
    tokio::time::sleep(LEASE * 6).await;
    let mut reader = connect(&ahead).await;
    let refused = redis::cmd("GET")
        .arg("k")
        .query_async::<Option<String>>(&mut reader)
        .await
        .expect_err("a node that has not caught up serves nothing");
    assert_eq!(
        refused.kind(),
        redis::ErrorKind::BusyLoadingError,
        "still waiting (LOADING), not halted: {refused}"
    );
    ahead.shutdown().await;
    primary.shutdown().await;
}

/// A reply larger than the socket takes at once: the execution thread
/// writes what fits, the writer task the rest, then later replies, in
/// order and byte for byte (the client reads nothing until both are sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_the_socket_takes_only_in_part_arrives_whole_and_in_order() {
    let (journal, node) = node_common::primary().await;
    let value: String = (0..8 << 20).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let mut setup = Raw::connect(&node).await;
    assert_eq!(setup.cmd(&["SET", "big", &value]).await, V::Simple("OK".into()));
    assert_eq!(setup.cmd(&["SET", "small", "s"]).await, V::Simple("OK".into()));

    let mut slow = Raw::connect(&node).await;
    slow.send(&["GET", "big"]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    slow.send(&["GET", "small"]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(slow.read().await, V::bulk(&value));
    assert_eq!(slow.read().await, V::bulk("s"));
    let info = slow.cmd(&["INFO", "stats"]).await.text();
    let output_bytes: u64 = info_field(&info, "total_net_output_bytes").parse().unwrap();
    assert!(output_bytes >= value.len() as u64, "{info}");

    node.abort();
    journal.stop();
}
