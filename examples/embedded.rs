//! Embedding Memoir: a Rust program that starts a three-replica journal and
//! a memory node in its own process, then talks to it with a Redis client.
//!
//! ```sh
//! cargo run --example embedded
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use memoir_engine::{MemoryNode, Role};
use memoir_journal::server::{Replica, ReplicaConfig};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;

    // Three journal replicas on loopback (in production: three machines).
    let addrs: Vec<SocketAddr> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()))
        .collect::<Result<_, _>>()?;
    let peers: BTreeMap<u64, String> = addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| (i as u64 + 1, addr.to_string()))
        .collect();
    let mut replicas = Vec::new();
    for (id, addr) in peers.keys().zip(&addrs) {
        let dir = data.path().join(format!("journal-{id}"));
        replicas.push(Replica::start(ReplicaConfig::new(*id, *addr, peers.clone(), dir)).await?);
    }

    // A memory node over them, built in-process.
    let node = MemoryNode::builder()
        .journal(addrs.iter().map(ToString::to_string))
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .lease(Duration::from_millis(500))
        .start()
        .await?;
    while node.role() != Role::Primary {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("memory node primary on {}", node.local_addr());

    // Any Redis client works; every acknowledged write is on a quorum.
    let client = redis::Client::open(format!("redis://{}/", node.local_addr()))?;
    let mut con = client.get_multiplexed_async_connection().await?;
    let _: () = redis::cmd("SET")
        .arg("hello")
        .arg("world")
        .query_async(&mut con)
        .await?;
    let value: String = redis::cmd("GET").arg("hello").query_async(&mut con).await?;
    println!("GET hello -> {value}");

    node.shutdown().await;
    for replica in replicas {
        replica.stop();
    }
    Ok(())
}
