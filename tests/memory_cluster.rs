//! Memory nodes as real `memoir server` processes over three `memoir
//! journal` processes, driven by redis-rs: kill -9 of the primary and of a
//! journal replica under load (0 acknowledged writes lost, none doubled),
//! and a stale primary (SIGSTOP past its lease) that must neither
//! acknowledge a write nor serve a read. Seeds are printed for replay.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use support::{seed, Cluster, MemoryNodes};

const LEASE_MS: u64 = 400;
/// How long the cluster gets to recover from a fault before progress is
/// required.
const SETTLE: Duration = Duration::from_millis(2500);

/// What the load generators learned.
#[derive(Default)]
struct History {
    incr_acked: u64,
    incr_attempted: u64,
    push_acked: Vec<String>,
    push_attempted: HashSet<String>,
    errors: u64,
}

/// Connects to whichever node is primary now.
async fn primary_connection(urls: &[String]) -> Option<redis::aio::MultiplexedConnection> {
    for url in urls {
        let Ok(client) = redis::Client::open(url.as_str()) else {
            continue;
        };
        let Ok(Ok(mut con)) =
            tokio::time::timeout(Duration::from_millis(300), client.get_multiplexed_async_connection()).await
        else {
            continue;
        };
        let command = redis::cmd("ROLE");
        let role = command.query_async::<Vec<redis::Value>>(&mut con);
        if let Ok(Ok(role)) = tokio::time::timeout(Duration::from_millis(300), role).await {
            if role.first() == Some(&redis::Value::BulkString(b"master".to_vec())) {
                return Some(con);
            }
        }
    }
    None
}

/// One client: INCR and RPUSH of unique values against the primary,
/// following it across failovers. A failed or timed-out write is never
/// retried (its outcome is unknown), so a value can appear at most once.
async fn client_loop(id: usize, urls: Vec<String>, seed: u64, history: Arc<Mutex<History>>, stop: Arc<AtomicBool>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ id as u64);
    let mut con = None;
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        if con.is_none() {
            con = primary_connection(&urls).await;
            if con.is_none() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        }
        let Some(c) = con.as_mut() else { continue };
        let incr = rng.gen_bool(0.5);
        let value = format!("c{id}-{n}");
        n += 1;
        let request = if incr {
            history.lock().unwrap().incr_attempted += 1;
            redis::cmd("INCR").arg("counter").to_owned()
        } else {
            history.lock().unwrap().push_attempted.insert(value.clone());
            redis::cmd("RPUSH").arg("values").arg(&value).to_owned()
        };
        let reply = tokio::time::timeout(Duration::from_secs(3), request.query_async::<i64>(c)).await;
        let mut h = history.lock().unwrap();
        match reply {
            Ok(Ok(_)) if incr => h.incr_acked += 1,
            Ok(Ok(_)) => h.push_acked.push(value),
            _ => {
                h.errors += 1;
                drop(h);
                con = None;
            }
        }
    }
}

async fn check(nodes: &MemoryNodes, history: &History) {
    let primary = nodes.primary(Duration::from_secs(15)).await;
    let client = redis::Client::open(nodes.url(primary)).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let counter: Option<u64> = redis::cmd("GET").arg("counter").query_async(&mut con).await.unwrap();
    let counter = counter.unwrap_or(0);
    let values: Vec<String> = redis::cmd("LRANGE")
        .arg("values")
        .arg(0)
        .arg(-1)
        .query_async(&mut con)
        .await
        .unwrap();
    eprintln!(
        "incr acked={} attempted={} counter={counter}; rpush acked={} attempted={} present={}; errors={}",
        history.incr_acked,
        history.incr_attempted,
        history.push_acked.len(),
        history.push_attempted.len(),
        values.len(),
        history.errors
    );
    assert!(
        history.incr_acked > 50,
        "the load made too little progress to prove anything"
    );
    assert!(
        counter >= history.incr_acked,
        "acknowledged INCRs lost: counter {counter} < {}",
        history.incr_acked
    );
    assert!(counter <= history.incr_attempted, "more increments than attempted");
    let present: HashSet<&String> = values.iter().collect();
    assert_eq!(present.len(), values.len(), "a value appears twice");
    let lost: Vec<&String> = history.push_acked.iter().filter(|v| !present.contains(v)).collect();
    assert!(lost.is_empty(), "acknowledged RPUSH values lost: {lost:?}");
    assert!(
        values.iter().all(|v| history.push_attempted.contains(v)),
        "a value nobody pushed"
    );
}

/// Runs the load, injects `fault`, waits `settle` for the cluster to
/// recover, and checks that writes go on and none acknowledged was lost.
async fn run_load_with_fault(test: &str, settle: Duration, fault: impl FnOnce(&mut Cluster, &mut MemoryNodes, usize)) {
    let seed = seed(test);
    let mut cluster = Cluster::start();
    let mut nodes = MemoryNodes::start(&cluster, 2, LEASE_MS);
    let first = nodes.primary(Duration::from_secs(20)).await;
    let urls: Vec<String> = (0..2).map(|i| nodes.url(i)).collect();
    let history = Arc::new(Mutex::new(History::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|id| tokio::spawn(client_loop(id, urls.clone(), seed, history.clone(), stop.clone())))
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    tokio::time::sleep(Duration::from_millis(rng.gen_range(800..1500))).await;
    fault(&mut cluster, &mut nodes, first);
    tokio::time::sleep(settle).await;
    let progress_after = history.lock().unwrap().incr_acked;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let history = std::mem::take(&mut *history.lock().unwrap());
    assert!(
        history.incr_acked > progress_after,
        "no progress after the fault\n{}",
        nodes.logs()
    );
    check(&nodes, &history).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_primary_under_load_loses_no_acknowledged_write() {
    run_load_with_fault("kill_9_of_the_primary", SETTLE, |_, nodes, primary| nodes.kill(primary)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_journal_replica_under_load_loses_no_acknowledged_write() {
    run_load_with_fault("kill_9_of_a_journal_replica", SETTLE, |cluster, _, _| {
        // Replica 1 is as likely as any to be the raft leader.
        cluster.kill(1);
    })
    .await;
}

/// Every journal replica is killed and restarted (a power cut; a full disk
/// freed and the replicas started again). The memory nodes wait without
/// serving, then serve again once the journal is back, with every
/// acknowledged write. Until 2026-12-06 a node that asked a restarting
/// replica whether it had caught up compared its log checksum with the
/// replica's, still at seq 0, and refused to serve for good (MASTERDOWN).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_journal_replica_restarting_under_load_loses_no_acknowledged_write() {
    run_load_with_fault("every_journal_replica_restarts", SETTLE * 3, |cluster, _, _| {
        for id in 1..=3 {
            cluster.kill(id);
        }
        // Long enough for the primary's lease to run out.
        std::thread::sleep(Duration::from_millis(LEASE_MS * 2));
        for id in 1..=3 {
            cluster.spawn(id);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_primary_acknowledges_no_write_and_serves_no_read_after_its_lease() {
    let _ = seed("stale_primary");
    let cluster = Cluster::start();
    let nodes = MemoryNodes::start(&cluster, 2, LEASE_MS);
    let old = nodes.primary(Duration::from_secs(20)).await;
    let new = 1 - old;
    let old_client = redis::Client::open(nodes.url(old)).unwrap();
    let mut stale = old_client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("old")
        .query_async(&mut stale)
        .await
        .unwrap();

    nodes.signal(old, "STOP");
    let deadline = Instant::now() + Duration::from_secs(15);
    while nodes.role(new).await.as_deref() != Some("master") {
        assert!(
            Instant::now() < deadline,
            "the replica did not take over\n{}",
            nodes.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let new_client = redis::Client::open(nodes.url(new)).unwrap();
    let mut fresh = new_client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("new")
        .query_async(&mut fresh)
        .await
        .unwrap();

    // Wake the stale primary with requests already waiting on its socket.
    let write = tokio::spawn({
        let mut stale = stale.clone();
        async move {
            tokio::time::timeout(
                Duration::from_secs(5),
                redis::cmd("SET")
                    .arg("k")
                    .arg("stale")
                    .query_async::<String>(&mut stale),
            )
            .await
        }
    });
    let read = tokio::spawn(async move {
        tokio::time::timeout(
            Duration::from_secs(5),
            redis::cmd("GET").arg("k").query_async::<Option<String>>(&mut stale),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    nodes.signal(old, "CONT");
    let write = write.await.unwrap();
    assert!(
        !matches!(write, Ok(Ok(_))),
        "the stale primary acknowledged a write: {write:?}"
    );
    let read = read.await.unwrap();
    assert!(
        !matches!(read, Ok(Ok(Some(ref v))) if v == "old"),
        "the stale primary served a stale read: {read:?}"
    );
    let value: String = redis::cmd("GET").arg("k").query_async(&mut fresh).await.unwrap();
    assert_eq!(value, "new");
}
