//! Snapshots end to end: a real three-replica journal over TCP, memory
//! nodes driven by a real Redis client, the snapshot service writing real
//! RocksDB SST files, and fresh nodes rehydrating from them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use memoir_engine::commands::Effect;
use memoir_engine::keyspace::Keyspace;
use memoir_engine::record::Record;
use memoir_engine::{MemoryNode, NodeConfig, Role, SnapshotSource, Snapshots};
use memoir_journal::Seq;
use memoir_snapshot::format::chain_record;
use memoir_snapshot::store::read_manifest;
use memoir_snapshot::{ServiceConfig, SnapshotService, Store, StoreSource};
use redis::aio::MultiplexedConnection;

const LEASE: Duration = Duration::from_millis(300);

type Journal = memoir_journal::local_cluster::LocalJournal;

/// Three in-process journal replicas over loopback.
// Small segments, so that trimming has whole segments to drop.
async fn start_journal() -> Journal {
    Journal::start(64 << 10).await.expect("a local journal")
}

async fn start_node(journal: &Journal, store: Option<&Path>, can_lead: bool) -> MemoryNode {
    let mut config = NodeConfig::new(journal.addrs(), SocketAddr::from(([127, 0, 0, 1], 0)));
    config.lease = LEASE;
    config.lease_margin = LEASE / 4;
    config.can_lead = can_lead;
    if let Some(store) = store {
        let source = StoreSource::open(store).expect("store");
        config.snapshots = Snapshots(Some(Arc::new(source)));
    }
    MemoryNode::start(config).await.expect("node")
}

fn start_service(journal: &Journal, store: &Path, trim_margin: u64) -> SnapshotService {
    let mut config = ServiceConfig::new(journal.addrs(), store.to_path_buf());
    // Only BGSAVE triggers snapshots here, so the tests decide when.
    config.min_log_ratio = 1e12;
    config.interval = Duration::from_secs(3600);
    config.trim_margin = trim_margin;
    config.max_files = 3;
    // Several files even for this small data set: loading is parallel.
    config.min_keys_per_file = 100;
    SnapshotService::start(config).expect("service")
}

async fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn connect(node: &MemoryNode) -> MultiplexedConnection {
    let client = redis::Client::open(format!("redis://{}/", node.local_addr())).expect("client");
    client.get_multiplexed_async_connection().await.expect("connect")
}

async fn digest_seq(con: &mut MultiplexedConnection) -> redis::RedisResult<(String, u64)> {
    redis::cmd("DEBUG").arg("DIGEST-SEQ").query_async(con).await
}

/// The number in INFO field `name`; panics, showing the text, if there is
/// none.
fn info_number(info: &str, name: &str) -> u64 {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name}: {info}"))
}

async fn changes_since_last_save(con: &mut MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query_async(con)
        .await
        .expect("info");
    info_number(&info, "rdb_changes_since_last_save")
}

/// Waits until `node` reflects at least `seq` and returns its digest there
/// (lease renewals move the seq on; no data changes after `seq`).
async fn digest_at(node: &MemoryNode, seq: u64) -> String {
    let mut con = connect(node).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((digest, at)) = digest_seq(&mut con).await {
            if at >= seq {
                return digest;
            }
        }
        assert!(Instant::now() < deadline, "node did not reach seq {seq}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A data set with every type, expiries, two databases and large
/// collections (past every compact encoding).
async fn load_dataset(con: &mut MultiplexedConnection, tag: &str) {
    let q = |args: &[&str]| {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd
    };
    let _: () = q(&["SET", &format!("{tag}:int"), "12345"])
        .query_async(con)
        .await
        .expect("set");
    let _: () = q(&["SET", &format!("{tag}:short"), "hello"])
        .query_async(con)
        .await
        .expect("set");
    let long = "x".repeat(5000);
    let _: () = q(&["SET", &format!("{tag}:long"), &long, "EX", "1000"])
        .query_async(con)
        .await
        .expect("set");
    let mut pipe = redis::pipe();
    for i in 0..600 {
        pipe.cmd("RPUSH")
            .arg(format!("{tag}:list"))
            .arg(format!("element-{i}"))
            .ignore();
        pipe.cmd("HSET")
            .arg(format!("{tag}:hash"))
            .arg(format!("field-{i}"))
            .arg(format!("value-{i}"))
            .ignore();
        pipe.cmd("SADD").arg(format!("{tag}:intset")).arg(i).ignore();
        pipe.cmd("SADD")
            .arg(format!("{tag}:set"))
            .arg(format!("member-{i}"))
            .ignore();
        pipe.cmd("ZADD")
            .arg(format!("{tag}:zset"))
            .arg(f64::from(i) / 7.0)
            .arg(format!("z-{i}"))
            .ignore();
        pipe.cmd("SET")
            .arg(format!("{tag}:k:{i}"))
            .arg(format!("v-{i}"))
            .ignore();
    }
    for i in 0..5 {
        pipe.cmd("HSET")
            .arg(format!("{tag}:small-hash-{i}"))
            .arg("f")
            .arg(i)
            .ignore();
        pipe.cmd("ZADD")
            .arg(format!("{tag}:small-zset-{i}"))
            .arg(i)
            .arg("m")
            .ignore();
        pipe.cmd("PEXPIRE")
            .arg(format!("{tag}:small-zset-{i}"))
            .arg(5_000_000)
            .ignore();
    }
    let _: () = pipe.query_async(con).await.expect("pipeline");
    let _: () = q(&["SELECT", "3"]).query_async(con).await.expect("select");
    let _: () = q(&["SET", &format!("{tag}:in-db-3"), "three", "PX", "9000000"])
        .query_async(con)
        .await
        .expect("set");
    let _: () = q(&["SELECT", "0"]).query_async(con).await.expect("select");
}

async fn bgsave(con: &mut MultiplexedConnection, service: &SnapshotService) {
    let before = service.stats.snapshots_published.load(Ordering::Acquire);
    let reply: String = redis::cmd("BGSAVE").query_async(con).await.expect("bgsave");
    assert_eq!(reply, "Background saving started");
    let deadline = Instant::now() + Duration::from_secs(60);
    while service.stats.snapshots_published.load(Ordering::Acquire) == before {
        assert!(!service.stats.failed.load(Ordering::Acquire), "snapshot service failed");
        assert!(Instant::now() < deadline, "no snapshot published");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `node` answers reads with an error containing `reason`;
/// panics if it ever serves a value (it must refuse, not serve wrong data).
async fn refuses_to_serve(node: &MemoryNode, reason: &str, who: &str) {
    let mut con = connect(node).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply: redis::RedisResult<String> = redis::cmd("GET").arg("a:short").query_async(&mut con).await;
        let last = match reply {
            Err(e) if e.to_string().contains(reason) => return,
            Err(e) => e.to_string(),
            Ok(value) => panic!("{who} served {value:?}"),
        };
        assert!(Instant::now() < deadline, "{who} never refused with {reason:?}: {last}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn newest_manifest(store: &Path) -> memoir_snapshot::format::Manifest {
    let store = Store::open(store).expect("store");
    let newest = store.list().expect("list").into_iter().next().expect("a snapshot");
    read_manifest(&newest.path).expect("manifest")
}

fn snapshot_dirs(store: &Path) -> Vec<PathBuf> {
    Store::open(store)
        .expect("store")
        .list()
        .expect("list")
        .into_iter()
        .map(|s| s.path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehydrate_from_snapshot_plus_tail_after_trims_and_corruption() {
    let journal = start_journal().await;
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = store_dir.path();
    let primary = start_node(&journal, Some(store), true).await;
    wait_for("a primary", Duration::from_secs(10), || primary.role() == Role::Primary).await;
    let service = start_service(&journal, store, 0);
    let mut con = connect(&primary).await;

    // Snapshot 1, then a fresh node rehydrates from it alone.
    load_dataset(&mut con, "a").await;
    bgsave(&mut con, &service).await;
    let first = newest_manifest(store);
    assert!(first.keys > 600 && first.files.len() > 1, "{first:?}");
    // INFO persistence and LASTSAVE report it (refreshed off the execution
    // thread, so within a moment). The service publishes before it rewrites
    // its status, so a refresh in between shows the new snapshot with the
    // build still in progress: wait for both.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query_async(&mut con)
            .await
            .expect("info");
        if info.contains(&format!("memoir_snapshot_seq:{}\r\n", first.seq))
            && info.contains("rdb_bgsave_in_progress:0\r\n")
        {
            // The service says how far it has replayed: at least the
            // snapshot it just published.
            let applied = info_number(&info, "memoir_snapshot_service_applied_seq");
            assert!(applied >= first.seq, "{applied} < {}: {info}", first.seq);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "INFO never showed snapshot {}: {info}",
            first.seq
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lastsave: i64 = redis::cmd("LASTSAVE").query_async(&mut con).await.expect("lastsave");
    assert_eq!(lastsave, first.created_unix_ms / 1000);
    // The snapshot holds every write so far; three more are changes it lacks.
    assert_eq!(changes_since_last_save(&mut con).await, 0);
    for command in [&["SET", "changed", "1"][..], &["INCR", "changed"], &["DEL", "changed"]] {
        let _: redis::Value = redis::cmd(command[0])
            .arg(&command[1..])
            .query_async(&mut con)
            .await
            .expect("write");
    }
    assert_eq!(changes_since_last_save(&mut con).await, 3);
    let (digest, seq) = digest_seq(&mut con).await.expect("digest");
    let fresh = start_node(&journal, Some(store), false).await;
    assert_eq!(digest_at(&fresh, seq).await, digest, "snapshot only");
    // The replica counts the three writes it replayed after the snapshot.
    assert_eq!(changes_since_last_save(&mut connect(&fresh).await).await, 3);
    fresh.shutdown().await;

    // Snapshots 2 and 3 with writes between: the journal is trimmed below
    // snapshot 2, so only snapshot + tail can rebuild the data now.
    load_dataset(&mut con, "b").await;
    bgsave(&mut con, &service).await;
    load_dataset(&mut con, "c").await;
    bgsave(&mut con, &service).await;
    let second_seq = snapshot_dirs(store)
        .get(1)
        .map(|dir| read_manifest(dir).expect("manifest").seq)
        .expect("two snapshots kept");
    let status = journal.client().status().await.expect("status");
    assert!(
        status.first_retained > Seq(1) && status.first_retained <= Seq(second_seq + 1),
        "trimmed below the previous snapshot only: first retained {} vs previous snapshot {second_seq}",
        status.first_retained
    );
    // The tail after snapshot 3.
    load_dataset(&mut con, "d").await;
    let (digest, seq) = digest_seq(&mut con).await.expect("digest");
    let fresh = start_node(&journal, Some(store), false).await;
    assert_eq!(digest_at(&fresh, seq).await, digest, "snapshot + tail");
    fresh.shutdown().await;

    // Without snapshots the trimmed journal cannot rebuild the data: the
    // node refuses to serve, with the reason.
    let blind = start_node(&journal, None, false).await;
    refuses_to_serve(&blind, "trimmed", "a node without the trimmed records").await;
    blind.shutdown().await;

    // Corrupt the newest snapshot three ways: each time the previous one
    // (with a longer tail) is used, and the data is still exactly right.
    let newest = snapshot_dirs(store)[0].clone();
    let manifest = read_manifest(&newest).expect("manifest");
    let sst = newest.join(&manifest.files[0].name);
    let original = std::fs::read(&sst).expect("read sst");
    let source = StoreSource::open(store).expect("source");
    let mut flipped = original.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    std::fs::write(&sst, &flipped).expect("flip");
    let loaded = source.load_newest(16, &mut |_| {}).expect("load").expect("a snapshot");
    assert_eq!(
        loaded.seq,
        Seq(second_seq),
        "a flipped bit falls back to the previous snapshot"
    );
    let fresh = start_node(&journal, Some(store), false).await;
    assert_eq!(digest_at(&fresh, seq).await, digest, "previous snapshot + longer tail");
    fresh.shutdown().await;
    std::fs::write(&sst, &original).expect("restore");
    assert_eq!(
        source
            .load_newest(16, &mut |_| {})
            .expect("load")
            .expect("snapshot")
            .seq,
        Seq(manifest.seq)
    );

    let manifest_path = newest.join("MANIFEST");
    let manifest_bytes = std::fs::read(&manifest_path).expect("manifest");
    std::fs::write(&manifest_path, &manifest_bytes[..manifest_bytes.len() - 3]).expect("truncate");
    let loaded = source.load_newest(16, &mut |_| {}).expect("load").expect("a snapshot");
    assert_eq!(loaded.seq, Seq(second_seq), "a truncated manifest falls back");
    std::fs::write(&manifest_path, &manifest_bytes).expect("restore");

    let last = newest.join(&manifest.files[manifest.files.len() - 1].name);
    std::fs::remove_file(&last).expect("delete");
    let loaded = source.load_newest(16, &mut |_| {}).expect("load").expect("a snapshot");
    assert_eq!(loaded.seq, Seq(second_seq), "a missing file falls back");

    // A snapshot whose files verify but whose manifest claims a log
    // checksum the journal's log does not have (a snapshot of another log,
    // or of a wrong replay): the node rehydrating from it finds the
    // difference when it reaches the journal's end, and refuses to serve.
    let previous = snapshot_dirs(store)[1].clone();
    let mut lying = read_manifest(&previous).expect("manifest");
    assert_eq!(lying.seq, second_seq);
    lying.log_checksum ^= 1;
    std::fs::write(previous.join("MANIFEST"), lying.encode()).expect("rewrite the manifest");
    let misled = start_node(&journal, Some(store), false).await;
    refuses_to_serve(
        &misled,
        "running log checksum",
        "a node loaded from a snapshot of another log",
    )
    .await;
    misled.shutdown().await;

    service.stop().expect("service stop");
    primary.shutdown().await;
    journal.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_taken_under_write_load_equals_the_log_prefix_it_claims() {
    let journal = start_journal().await;
    let store_dir = tempfile::tempdir().expect("tempdir");
    let store = store_dir.path();
    let primary = start_node(&journal, Some(store), true).await;
    wait_for("a primary", Duration::from_secs(10), || primary.role() == Role::Primary).await;
    let service = start_service(&journal, store, 0);
    let mut con = connect(&primary).await;
    load_dataset(&mut con, "base").await;

    // Writers keep going while the snapshot is taken.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..4 {
        let mut con = connect(&primary).await;
        let stop = Arc::clone(&stop);
        writers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _: () = redis::pipe()
                    .cmd("INCR")
                    .arg(format!("counter-{writer}"))
                    .ignore()
                    .cmd("RPUSH")
                    .arg(format!("log-{writer}"))
                    .arg(i)
                    .ignore()
                    .cmd("ZADD")
                    .arg("board")
                    .arg(i)
                    .arg(format!("w{writer}-{}", i % 50))
                    .ignore()
                    .query_async(&mut con)
                    .await
                    .expect("write");
                i += 1;
            }
            i
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    bgsave(&mut con, &service).await;
    stop.store(true, Ordering::Relaxed);
    let mut written = 0;
    for writer in writers {
        written += writer.await.expect("writer");
    }
    assert!(written > 0);
    let manifest = newest_manifest(store);

    // Replay the log up to the manifest's seq from scratch: the data set
    // and the running checksum must be the snapshot's.
    let client = journal.client();
    let mut keyspace = Keyspace::new(16);
    let mut chain = 0u32;
    let mut next = Seq(1);
    while next.0 <= manifest.seq {
        let batch = client.read(next, 512).await.expect("read");
        assert!(!batch.entries.is_empty(), "the log is shorter than the snapshot claims");
        for (seq, payload) in batch.entries {
            if seq.0 > manifest.seq {
                break;
            }
            chain = chain_record(chain, seq.0, &payload);
            if let Ok(Record::Effects(ops)) = Record::decode(&payload) {
                for op in ops {
                    keyspace.apply(&Effect::from(op)).expect("apply");
                }
            }
            next = seq.next();
        }
    }
    assert_eq!(chain, manifest.log_checksum, "running log checksum");
    assert_eq!(keyspace.digest(), manifest.digest, "data set at the snapshot's seq");
    assert_eq!(keyspace.total_keys() as u64, manifest.keys);

    service.stop().expect("service stop");
    primary.shutdown().await;
    journal.stop();
}
