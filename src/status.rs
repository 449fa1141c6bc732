//! `memoir status --journal ADDRS`: one line per journal replica.

use std::process::ExitCode;
use std::time::Duration;

use memoir_journal::client::replica_status;

use crate::security::JournalSecurityArgs;

/// Asks every replica in `addrs` (comma-separated) for its status and prints
/// one `key=value` line each. Exits non-zero if no replica answers or if
/// they do not agree on a single raft leader.
pub fn journal(addrs: &str, security: &JournalSecurityArgs) -> anyhow::Result<ExitCode> {
    let security = security.link_security(false)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut answered = 0;
        let mut leaders = std::collections::BTreeSet::new();
        for addr in addrs.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match replica_status(addr, &security, Duration::from_secs(2)).await {
                Ok(s) => {
                    answered += 1;
                    if let Some(leader) = s.raft_leader {
                        leaders.insert(leader);
                    }
                    let lag: Vec<String> = s.replicas.iter().map(|p| format!("{}:{}", p.id, p.lag)).collect();
                    println!(
                        "replica addr={addr} id={} role={} raft_leader={} term={} committed={} applied={} first_retained={} last_index={} leader_uuid={} lag={} accepted_appends={} fenced_appends={} log_groups={} io={}{}",
                        s.node,
                        s.role,
                        s.raft_leader.map_or("none".into(), |l| l.to_string()),
                        s.term,
                        s.committed,
                        s.applied,
                        s.first_retained,
                        s.last_index,
                        s.leader,
                        if lag.is_empty() { "-".into() } else { lag.join(",") },
                        s.accepted_appends,
                        s.fenced_appends,
                        s.log_groups,
                        s.io,
                        s.fatal.map(|f| format!(" fatal=\"{f}\"")).unwrap_or_default(),
                    );
                }
                Err(e) => println!("replica addr={addr} unreachable=\"{e}\""),
            }
        }
        Ok(if answered > 0 && leaders.len() == 1 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}
