//! Memoir deployed as separate processes, as `failover` and `memory` run it:
//! three `memoir journal` replicas and `memoir server` memory nodes over
//! them, and the ROLE query that tells a primary from a replica.

use std::path::Path;
use std::process::Command;

use crate::redis_compare::{vm_rss_kib, Proc, STOP_GRACE};

/// Three `memoir journal` processes forming one replicated journal.
pub struct Journals {
    /// Replica i + 1 (its raft id) is `procs[i]`.
    pub procs: Vec<Proc>,
    /// The replicas' addresses, comma-separated, as `memoir server --journal` takes them.
    pub addrs: String,
}

impl Journals {
    /// Starts `memoir journal --id I --listen 127.0.0.1:ports[I-1]` for I in
    /// 1..=3, with data in `dir`/journal-I and logs in `dir`/journal-I.log.
    pub fn start(bin: &Path, dir: &Path, ports: [u16; 3]) -> anyhow::Result<Journals> {
        let peers = ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut procs = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let id = i + 1;
            let mut cmd = Command::new(bin);
            cmd.args(["journal", "--id", &id.to_string()])
                .args(["--listen", &format!("127.0.0.1:{port}"), "--peers", &peers])
                .arg("--data-dir")
                .arg(dir.join(format!("journal-{id}")));
            procs.push(Proc::spawn(
                &format!("memoir journal {id}"),
                cmd,
                &dir.join(format!("journal-{id}.log")),
            )?);
        }
        let addrs = ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        Ok(Journals { procs, addrs })
    }

    /// Fails (with the end of its log) if a replica has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        for p in &mut self.procs {
            p.check_running()?;
        }
        Ok(())
    }

    /// VmRSS of each replica, in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<Vec<u64>> {
        self.procs.iter().map(|p| vm_rss_kib(p.pid())).collect()
    }

    pub fn stop(self) {
        for p in self.procs {
            p.stop(STOP_GRACE);
        }
    }
}

/// `memoir server --journal JOURNAL --port PORT --data-dir DATA_DIR --lease-ms LEASE_MS`.
pub fn server_command(bin: &Path, journal: &str, port: u16, data_dir: &Path, lease_ms: u64) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["server", "--journal", journal])
        .args(["--port", &port.to_string()])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--lease-ms", &lease_ms.to_string()]);
    cmd
}

/// `memoir snapshot --journal JOURNAL --store STORE --idle --interval 3600s
/// --min-log-ratio 1000000`: the snapshot service as its own process, at
/// idle CPU priority, taking a snapshot only when a node forwards BGSAVE
/// (the hour and the ratio keep its own schedule out of a benchmark).
pub fn snapshot_on_request_command(bin: &Path, journal: &str, store: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["snapshot", "--journal", journal])
        .arg("--store")
        .arg(store)
        .args(["--idle", "--interval", "3600s", "--min-log-ratio", "1000000"]);
    cmd
}

/// ROLE's reply: `master`, `slave` or `replica`, and for a replica the
/// state of its link to the primary (`connect`, `sync`, `connected` ...).
#[derive(Debug)]
pub struct Role {
    pub name: String,
    pub link: Option<String>,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.link {
            Some(link) => write!(f, "{} ({link})", self.name),
            None => f.write_str(&self.name),
        }
    }
}

pub fn role(con: &mut redis::Connection) -> redis::RedisResult<Role> {
    let reply: Vec<redis::Value> = redis::cmd("ROLE").query(con)?;
    let text = |i: usize| reply.get(i).and_then(|v| redis::from_redis_value::<String>(v).ok());
    let name = text(0).unwrap_or_default();
    let link = if name == "master" { None } else { text(3) };
    Ok(Role { name, link })
}
