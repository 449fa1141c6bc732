//! `INFO` and `CONFIG GET`: the fields Redis users and tools look for, plus
//! Memoir's own (prefixed `memoir_`).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::exec::node_commands::REDIS_COMPAT_VERSION;
use super::shared::{NodeShared, Role};
use crate::keyspace::Keyspace;

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "keyspace",
];
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "keyspace",
    "memoir",
];

/// Renders the requested sections (Redis's `default` set when none given).
pub(super) fn render(shared: &NodeShared, ks: &Keyspace, clients: usize, requested: &[String]) -> String {
    let mut wanted: Vec<&str> = Vec::new();
    if requested.is_empty() {
        wanted.extend(DEFAULT_SECTIONS);
    }
    for section in requested {
        match section.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS),
            "all" | "everything" => wanted.extend(ALL_SECTIONS),
            other => wanted.extend(ALL_SECTIONS.iter().filter(|s| **s == other)),
        }
    }
    let mut out = String::new();
    for section in ALL_SECTIONS.iter().filter(|s| wanted.contains(s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let mut lines: Vec<(String, String)> = Vec::new();
        let mut add = |k: &str, v: String| lines.push((k.to_owned(), v));
        match *section {
            "server" => server(shared, &mut add),
            "clients" => {
                add("connected_clients", clients.to_string());
                add("maxclients", shared.config.maxclients.to_string());
                add("blocked_clients", "0".into());
            }
            "memory" => {
                let rss = resident_bytes();
                add("used_memory", rss.to_string());
                add("used_memory_human", human_bytes(rss));
                add("used_memory_rss", rss.to_string());
                add("used_memory_rss_human", human_bytes(rss));
                add("maxmemory", "0".into());
                add("maxmemory_policy", "noeviction".into());
            }
            "persistence" => {
                add("loading", u8::from(shared.loading.load(Ordering::Acquire)).to_string());
                add("aof_enabled", "0".into());
                add("rdb_changes_since_last_save", "0".into());
                add("memoir_durability", "replicated-journal".into());
            }
            "stats" => {
                add(
                    "total_connections_received",
                    shared.total_connections.load(Ordering::Relaxed).to_string(),
                );
                add(
                    "total_commands_processed",
                    shared.total_commands.load(Ordering::Relaxed).to_string(),
                );
                add(
                    "rejected_connections",
                    shared.rejected_connections.load(Ordering::Relaxed).to_string(),
                );
            }
            "replication" => replication(shared, &mut add),
            "keyspace" => {
                for db in ks.db_stats() {
                    add(
                        &format!("db{}", db.db),
                        format!("keys={},expires={},avg_ttl={}", db.keys, db.expires, db.avg_ttl_ms),
                    );
                }
            }
            "memoir" => {
                add("memoir_node_id", shared.id.to_string());
                add("memoir_term", shared.term().to_string());
                add("memoir_journal", shared.config.journal.join(","));
                add("memoir_lease_ms", shared.config.lease.as_millis().to_string());
                add(
                    "memoir_halted",
                    shared
                        .halted_reason()
                        .unwrap_or_else(|| "no".into())
                        .replace(['\r', '\n'], " "),
                );
                add("memoir_failovers", shared.failovers.load(Ordering::Relaxed).to_string());
            }
            _ => {}
        }
        let title = {
            let mut chars = section.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        };
        let _ = write!(out, "# {title}\r\n");
        for (key, value) in lines {
            let _ = write!(out, "{key}:{value}\r\n");
        }
    }
    out
}

fn server(shared: &NodeShared, add: &mut impl FnMut(&str, String)) {
    let uptime = shared.started.elapsed().as_secs();
    add("redis_version", REDIS_COMPAT_VERSION.into());
    add("memoir_version", env!("CARGO_PKG_VERSION").into());
    add("redis_mode", "standalone".into());
    add("os", std::env::consts::OS.into());
    add("arch_bits", (usize::BITS).to_string());
    add("process_id", std::process::id().to_string());
    add("run_id", shared.id.0.simple().to_string());
    add("tcp_port", shared.local_addr.port().to_string());
    add("uptime_in_seconds", uptime.to_string());
    add("uptime_in_days", (uptime / 86_400).to_string());
}

fn replication(shared: &NodeShared, add: &mut impl FnMut(&str, String)) {
    let applied = shared.applied_seq.load(Ordering::Acquire).to_string();
    match shared.role() {
        Role::Primary => {
            add("role", "master".into());
            add("connected_slaves", "0".into());
            add("master_repl_offset", applied);
            add(
                "memoir_lease_remaining_ms",
                shared.lease_remaining(Instant::now()).as_millis().to_string(),
            );
        }
        Role::Replica => {
            let primary = shared.primary_info();
            let (host, port) = primary.address.rsplit_once(':').unwrap_or(("", "0"));
            let loading = shared.loading.load(Ordering::Acquire);
            add("role", "slave".into());
            add("master_host", host.into());
            add("master_port", port.into());
            add("master_link_status", if loading { "down" } else { "up" }.into());
            add("master_sync_in_progress", u8::from(loading).to_string());
            add("slave_repl_offset", applied.clone());
            add("slave_read_only", "1".into());
            add("master_repl_offset", applied);
            add("memoir_primary_id", primary.leader.to_string());
        }
    }
    add(
        "memoir_applied_seq",
        shared.applied_seq.load(Ordering::Acquire).to_string(),
    );
}

/// What `CONFIG GET` reports (read-only in this version).
pub(super) fn config_params(shared: &NodeShared) -> Vec<(String, String)> {
    let limits = &shared.config.limits;
    vec![
        ("bind".into(), shared.local_addr.ip().to_string()),
        ("port".into(), shared.local_addr.port().to_string()),
        ("databases".into(), shared.config.databases.to_string()),
        ("maxclients".into(), shared.config.maxclients.to_string()),
        ("proto-max-bulk-len".into(), limits.max_bulk_len.to_string()),
        (
            "client-query-buffer-limit".into(),
            limits.max_query_buffer_len.to_string(),
        ),
        ("appendonly".into(), "no".into()),
        ("appendfsync".into(), "always".into()),
        ("save".into(), String::new()),
        ("maxmemory".into(), "0".into()),
        ("maxmemory-policy".into(), "noeviction".into()),
        ("replica-read-only".into(), "yes".into()),
        ("timeout".into(), "0".into()),
    ]
}

/// Resident set size of this process (Linux), 0 where unknown.
pub fn resident_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "K", "M", "G"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}
