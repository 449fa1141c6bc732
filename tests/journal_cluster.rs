//! The replicated journal as three real processes: kill -9 under load,
//! partitions through a proxy, and a corrupted follower that repairs itself.
//! Every run prints its seed (`MEMOIR_TEST_SEED` replays it).

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use memoir_journal::client::{ClientError, JournalClient};
use memoir_journal::{LeaderId, Seq};
use rand::{Rng, SeedableRng};
use support::{seed, segments, Cluster, Proxy};

/// Acknowledged and unresolved appends of a load generator.
#[derive(Default)]
struct History {
    acked: Vec<(Seq, String)>,
    failed: usize,
}

/// Appends unique payloads with up to `depth` in flight until `stop`.
async fn load(
    client: Arc<JournalClient>,
    leader: LeaderId,
    prefix: String,
    depth: usize,
    history: Arc<Mutex<History>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut n = 0u64;
    let mut in_flight = std::collections::VecDeque::new();
    loop {
        while in_flight.len() < depth && !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let payload = format!("{prefix}-{n}");
            n += 1;
            let pending = client.append(Bytes::from(payload.clone()), leader);
            in_flight.push_back((payload, tokio::spawn(pending)));
        }
        let Some((payload, pending)) = in_flight.pop_front() else {
            return;
        };
        let result = pending.await.unwrap_or(Err(ClientError::Closed));
        let mut h = history.lock().unwrap();
        match result {
            Ok(seq) => h.acked.push((seq, payload)),
            Err(_) => h.failed += 1,
        }
    }
}

async fn read_all(client: &JournalClient) -> Vec<(Seq, Bytes)> {
    let mut out = Vec::new();
    let mut from = Seq(1);
    loop {
        let batch = client.read(from, 1 << 20).await.expect("read");
        let Some((last, _)) = batch.entries.last() else {
            return out;
        };
        from = last.next();
        out.extend(batch.entries);
    }
}

fn check_no_loss_no_duplicates(history: &History, log: &[(Seq, Bytes)]) {
    let mut seen = HashSet::new();
    for (_, payload) in log {
        assert!(
            seen.insert(payload.clone()),
            "payload {payload:?} appears twice in the log"
        );
    }
    let by_seq: std::collections::HashMap<Seq, &Bytes> = log.iter().map(|(s, p)| (*s, p)).collect();
    for (seq, payload) in &history.acked {
        assert_eq!(
            by_seq.get(seq).map(|p| p.as_ref()),
            Some(payload.as_bytes()),
            "acknowledged append {payload} at {seq} is missing or different"
        );
    }
}

/// Appends about 3 MiB (several 1 MiB segments); returns the last seq.
async fn fill_several_segments(client: &JournalClient, leader: LeaderId) -> Seq {
    let mut last = Seq(0);
    for chunk in 0..90 {
        let pending: Vec<_> = (0..100)
            .map(|i| client.append(Bytes::from(format!("{chunk}-{i}-{}", "x".repeat(300))), leader))
            .collect();
        for p in pending {
            last = p.await.expect("append");
        }
    }
    last
}

/// Flips one bit of `segment` that a checksum covers (inside some batch's
/// header or payload); returns that batch.
fn flip_checksummed_bit(segment: &std::path::Path, rng: &mut rand::rngs::StdRng) -> memoir_journal::scan::BatchLoc {
    let mut bytes = std::fs::read(segment).expect("read segment");
    let name = segment.file_name().and_then(|n| n.to_str()).expect("name");
    let id = memoir_journal::segment::parse_segment_file_name(name).expect("segment id");
    let scan = memoir_journal::scan::scan_segment(&bytes, id).expect("scan");
    let batch = scan.batches[rng.gen_range(0..scan.batches.len())];
    let header = memoir_journal::format::BatchHeader::decode(&bytes[batch.offset as usize..]).expect("header");
    let covered = memoir_journal::format::BATCH_HEADER_LEN + header.stored_len as usize;
    let at = batch.offset as usize + rng.gen_range(0..covered);
    bytes[at] ^= 1 << rng.gen_range(0..8);
    std::fs::write(segment, &bytes).expect("write segment");
    eprintln!("flipped a bit at {} offset {at}", segment.display());
    batch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_a_follower_then_the_leader_under_load_loses_nothing() {
    let seed = seed("kill_9_under_load");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut cluster = Cluster::start();
    let client = Arc::new(cluster.client(Duration::from_secs(10)));
    let leader = LeaderId::random();
    client.set_leader(leader, LeaderId::NONE).await.expect("set_leader");
    let history = Arc::new(Mutex::new(History::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loader = tokio::spawn(load(
        client.clone(),
        leader,
        "w".into(),
        16,
        history.clone(),
        stop.clone(),
    ));

    tokio::time::sleep(Duration::from_millis(rng.gen_range(300..700))).await;
    let raft_leader = cluster.raft_leader(Duration::from_secs(5)).await;
    let follower = if rng.gen_bool(0.5) {
        raft_leader % 3 + 1
    } else {
        (raft_leader + 1) % 3 + 1
    };
    eprintln!("kill -9 follower {follower}");
    cluster.kill(follower);
    let acked_before = history.lock().unwrap().acked.len();
    tokio::time::sleep(Duration::from_millis(rng.gen_range(400..800))).await;
    assert!(
        history.lock().unwrap().acked.len() > acked_before,
        "progress continues with one follower down\n{}",
        cluster.logs()
    );
    cluster.spawn(follower);
    tokio::time::sleep(Duration::from_millis(rng.gen_range(300..600))).await;

    let raft_leader = cluster.raft_leader(Duration::from_secs(5)).await;
    eprintln!("kill -9 raft leader {raft_leader}");
    cluster.kill(raft_leader);
    let acked_before = history.lock().unwrap().acked.len();
    // A new leader within a few election timeouts (10 ticks of 20 ms); the
    // bound is loose because CI runs test binaries side by side on 2 cores.
    let killed_at = std::time::Instant::now();
    let new_leader = cluster.raft_leader(Duration::from_secs(10)).await;
    eprintln!("new raft leader {new_leader} after {:?}", killed_at.elapsed());
    assert_ne!(new_leader, raft_leader);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        history.lock().unwrap().acked.len() > acked_before,
        "progress after the leader's death\n{}",
        cluster.logs()
    );
    cluster.spawn(raft_leader);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    loader.await.expect("loader");

    let history = std::mem::take(&mut *history.lock().unwrap());
    eprintln!("acked={} failed={}", history.acked.len(), history.failed);
    assert!(history.acked.len() > 100);
    let log = read_all(&client).await;
    check_no_loss_no_duplicates(&history, &log);

    // Both restarted replicas catch up and hold the same entries.
    let end = log.last().map(|(s, _)| s.0).unwrap_or(0);
    for id in [follower, raft_leader] {
        cluster.wait_applied(id, end, Duration::from_secs(10)).await;
        let direct = cluster.client_of(id, Duration::from_secs(5));
        assert_eq!(read_all(&direct).await, log, "replica {id} matches");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_minority_commits_nothing_and_heals() {
    seed("partition");
    // Every peer link goes through its own proxy, so one replica can be cut
    // off from the others in both directions.
    let ports: Vec<u16> = (0..3).map(|_| support::free_port()).collect();
    let mut proxies = std::collections::BTreeMap::new();
    for from in 1..=3u64 {
        for to in 1..=3u64 {
            if from != to {
                let target = format!("127.0.0.1:{}", ports[to as usize - 1]);
                proxies.insert((from, to), Proxy::start(target).await);
            }
        }
    }
    let links: std::collections::BTreeMap<(u64, u64), String> = proxies
        .iter()
        .map(|(&k, p)| (k, format!("127.0.0.1:{}", p.port)))
        .collect();
    let mut cluster = Cluster::start_with(|from, to| links.get(&(from, to)).cloned());
    // Start_with picked its own ports; restart on the proxied ones.
    for id in 1..=3 {
        cluster.kill(id);
    }
    cluster.ports = ports;
    for id in 1..=3 {
        cluster.spawn(id);
    }
    let client = cluster.client(Duration::from_secs(10));
    let leader = LeaderId::random();
    client.set_leader(leader, LeaderId::NONE).await.expect("set_leader");
    client
        .append(Bytes::from_static(b"before"), leader)
        .await
        .expect("append");

    // Cut off the raft leader: the worst case for the minority side.
    let isolated = cluster.raft_leader(Duration::from_secs(5)).await;
    for ((from, to), proxy) in &proxies {
        if *from == isolated || *to == isolated {
            proxy.cut();
        }
    }
    let committed_at_cut = cluster.status(isolated).await.expect("status").committed;
    let majority_ids: Vec<u64> = (1..=3).filter(|&id| id != isolated).collect();
    let mut options =
        memoir_journal::client::ClientOptions::new(majority_ids.iter().map(|&id| cluster.addr(id)).collect());
    options.deadline = Duration::from_secs(10);
    let majority = JournalClient::new(options);
    let seq = majority
        .append(Bytes::from_static(b"majority"), leader)
        .await
        .expect("majority commits");
    // The isolated side learns of no commit and, without a quorum, stops
    // being raft leader (check-quorum) within a few election timeouts.
    let mut stepped_down = false;
    for _ in 0..100 {
        let status = cluster.status(isolated).await.expect("status");
        assert_eq!(status.committed, committed_at_cut, "the minority commits nothing");
        if status.role != "leader" {
            stepped_down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stepped_down, "an isolated leader steps down\n{}", cluster.logs());
    let status = cluster.status(isolated).await.expect("status");
    assert_eq!(status.committed, committed_at_cut, "the minority commits nothing");

    for proxy in proxies.values() {
        proxy.heal();
    }
    cluster.wait_applied(isolated, seq.0, Duration::from_secs(10)).await;
    let healed = cluster.client_of(isolated, Duration::from_secs(5));
    let entries: Vec<Bytes> = read_all(&healed).await.into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        entries,
        vec![Bytes::from_static(b"before"), Bytes::from_static(b"majority")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bit_flip_in_a_follower_segment_is_repaired_from_peers() {
    let seed = seed("bit_flip_repair");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut cluster = Cluster::start();
    let client = cluster.client(Duration::from_secs(10));
    let leader = LeaderId::random();
    client.set_leader(leader, LeaderId::NONE).await.expect("set_leader");
    fill_several_segments(&client, leader).await;
    let log = read_all(&client).await;
    let end = log.last().map(|(s, _)| s.0).unwrap_or(0);
    let raft_leader = cluster.raft_leader(Duration::from_secs(5)).await;
    let follower = raft_leader % 3 + 1;
    cluster.wait_applied(follower, end, Duration::from_secs(10)).await;
    cluster.kill(follower);

    // Flip one bit inside an early segment's batches (not the tail).
    let files = segments(&cluster.data_dir(follower));
    assert!(files.len() >= 3, "several segments: {files:?}");
    flip_checksummed_bit(&files[rng.gen_range(0..files.len() - 1)], &mut rng);

    cluster.spawn(follower);
    cluster.wait_applied(follower, end, Duration::from_secs(15)).await;
    let logs = cluster.log_of(follower);
    assert!(
        logs.contains("repairing from peers"),
        "the damage was detected and reported:\n{logs}"
    );
    // New writes still commit, and the repaired follower serves exactly the
    // leader's data.
    let seq = client
        .append(Bytes::from_static(b"after repair"), leader)
        .await
        .expect("append");
    cluster.wait_applied(follower, seq.0, Duration::from_secs(10)).await;
    let direct = cluster.client_of(follower, Duration::from_secs(5));
    let repaired = read_all(&direct).await;
    let expected = read_all(&client).await;
    assert_eq!(
        repaired, expected,
        "the repaired replica serves exactly the leader's data"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_below_the_leaders_trim_point_is_rebuilt_from_a_snapshot() {
    let seed = seed("damage_below_trim");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut cluster = Cluster::start();
    let client = cluster.client(Duration::from_secs(10));
    let leader = LeaderId::random();
    client.set_leader(leader, LeaderId::NONE).await.expect("set_leader");
    let last = fill_several_segments(&client, leader).await;
    let raft_leader = cluster.raft_leader(Duration::from_secs(5)).await;
    let follower = raft_leader % 3 + 1;
    cluster.wait_applied(follower, last.0, Duration::from_secs(10)).await;
    cluster.kill(follower);

    // Damage the follower's oldest segment, then let the others trim it away.
    let files = segments(&cluster.data_dir(follower));
    let batch = flip_checksummed_bit(&files[0], &mut rng);
    let trimmed = client.trim(last).await.expect("trim");
    let more = client
        .append(Bytes::from_static(b"after trim"), leader)
        .await
        .expect("append");
    let status = client.status().await.expect("status");
    assert!(
        status.first_retained > batch.first_seq,
        "the damaged range is trimmed on the leader: {status:?}"
    );
    eprintln!(
        "trimmed before {trimmed}, leader retains from {}",
        status.first_retained
    );

    cluster.spawn(follower);
    cluster.wait_applied(follower, more.0, Duration::from_secs(15)).await;
    let logs = cluster.log_of(follower);
    assert!(logs.contains("rebuilding this replica from a snapshot"), "{logs}");
    // The rebuilt replica serves what it holds (from its snapshot on),
    // identical to the leader, and refuses what it does not.
    let newest = client
        .append(Bytes::from_static(b"after rebuild"), leader)
        .await
        .expect("append");
    cluster.wait_applied(follower, newest.0, Duration::from_secs(10)).await;
    let from = cluster.status(follower).await.expect("status").first_retained;
    let direct = cluster.client_of(follower, Duration::from_secs(5));
    let mine = direct.read(from, 1 << 20).await.expect("read");
    let theirs = client.read(from, 1 << 20).await.expect("read");
    assert!(mine.entries.iter().any(|(_, p)| p.as_ref() == b"after rebuild"));
    assert_eq!(mine.entries, theirs.entries[..mine.entries.len()]);
    if from > Seq(more.0 + 1) {
        assert!(matches!(
            direct.read(more, 100).await,
            Err(memoir_journal::client::ClientError::Trimmed(_))
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memoir_status_reports_every_replica_and_one_leader() {
    let cluster = Cluster::start();
    let raft_leader = cluster.raft_leader(Duration::from_secs(5)).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_memoir"))
        .args(["status", "--journal", &cluster.addrs().join(",")])
        .output()
        .expect("run memoir status");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("replica ")).count(), 3, "{text}");
    assert!(text.contains(&format!("id={raft_leader} role=leader")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memoir_journal_with_a_cluster_secret_admits_only_its_holders() {
    let cluster = Cluster::start_with_flags(
        |_, _| None,
        |dir| {
            let secret = dir.join("cluster-secret");
            std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").expect("write the secret");
            vec!["--cluster-secret-file".into(), secret.display().to_string()]
        },
    );
    let secret = cluster.dir.path().join("cluster-secret");
    let wrong = cluster.dir.path().join("wrong-secret");
    std::fs::write(&wrong, "not-the-cluster-secret-at-all").expect("write the wrong secret");
    let status = |secret_file: Option<&std::path::Path>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_memoir"));
        command.args(["status", "--journal", &cluster.addrs().join(",")]);
        command.env_remove("MEMOIR_CLUSTER_SECRET_FILE");
        if let Some(path) = secret_file {
            command.arg("--cluster-secret-file").arg(path);
        }
        command.output().expect("run memoir status")
    };
    // The replicas elect a leader among themselves (peer links authenticate).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let output = loop {
        let output = status(Some(&secret));
        let one_leader = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| l.contains("role=leader"))
            .count()
            == 1;
        // Answering is not enough: wait until the election is over.
        if (output.status.success() && one_leader) || std::time::Instant::now() > deadline {
            break output;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("role=leader")).count(), 1, "{text}");

    let output = status(None);
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(!output.status.success(), "{text}");
    assert_eq!(text.matches("requires the cluster secret").count(), 3, "{text}");

    let output = status(Some(&wrong));
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(!output.status.success(), "{text}");
    assert_eq!(text.matches("does not know this cluster's secret").count(), 3, "{text}");
}
