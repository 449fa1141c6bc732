//! Three journal replicas in this process over loopback TCP, for the test
//! suites of the crates above the journal (engine, snapshot): one copy of
//! the set-up instead of one per suite. Data goes to a fresh directory
//! under the system's temporary directory, removed on drop.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::client::{ClientOptions, JournalClient};
use crate::error::{Error, Result};
use crate::server::{Replica, ReplicaConfig};
use crate::test_ports::free_loopback_addr;
use crate::IoMode;

pub struct LocalJournal {
    dir: PathBuf,
    addrs: Vec<SocketAddr>,
    replicas: Vec<Replica>,
}

impl LocalJournal {
    /// Starts three replicas with a fast raft tick (20 ms), segments of
    /// `segment_size_bytes` and the I/O backend `MEMOIR_IO` names.
    ///
    /// A port found free can be taken before its replica binds it (by a
    /// server of another test process); then the whole journal starts
    /// again on new ports, a few times at most.
    pub async fn start(segment_size_bytes: u64) -> Result<LocalJournal> {
        const ATTEMPTS: usize = 5;
        let mut attempt = 1;
        loop {
            match LocalJournal::start_once(segment_size_bytes).await {
                Err(e) if attempt < ATTEMPTS && crate::test_ports::is_addr_in_use(&e) => attempt += 1,
                outcome => return outcome,
            }
        }
    }

    async fn start_once(segment_size_bytes: u64) -> Result<LocalJournal> {
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "memoir-local-journal-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let addrs: Vec<SocketAddr> = (0..3).map(|_| free_loopback_addr()).collect();
        let peers: BTreeMap<u64, String> = (1..=3u64).zip(addrs.iter().map(ToString::to_string)).collect();
        let io = IoMode::from_env().map_err(|e| Error::InvalidArgument(format!("MEMOIR_IO: {e}")))?;
        let mut journal = LocalJournal {
            dir,
            addrs,
            replicas: Vec::new(),
        };
        for (id, addr) in (1..=3u64).zip(journal.addrs.clone()) {
            let mut config = ReplicaConfig::new(id, addr, peers.clone(), journal.dir.join(format!("replica-{id}")));
            config.node.tick = Duration::from_millis(20);
            config.log.segment_size_bytes = segment_size_bytes;
            config.log.io = io;
            journal.replicas.push(Replica::start(config).await?);
        }
        Ok(journal)
    }

    pub fn addrs(&self) -> Vec<String> {
        self.addrs.iter().map(ToString::to_string).collect()
    }

    pub fn client(&self) -> JournalClient {
        JournalClient::new(ClientOptions::new(self.addrs()))
    }

    /// Stops every replica (the data is removed when this drops).
    pub fn stop(mut self) {
        for replica in self.replicas.drain(..) {
            replica.stop();
        }
    }
}

impl Drop for LocalJournal {
    fn drop(&mut self) {
        for replica in self.replicas.drain(..) {
            replica.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
