//! `INFO` and `CONFIG GET`: the fields Redis users and tools look for, plus
//! Memoir's own (prefixed `memoir_`).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::exec::node_commands::REDIS_COMPAT_VERSION;
use super::shared::{NodeShared, Role, StatCounters};
use crate::keyspace::{AccessStats, Keyspace};

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
    "journal",
    "memoir",
];

/// What the execution thread knows that INFO reports.
pub(super) struct Extra {
    pub clients: usize,
    /// Largest query buffer and unwritten output among current clients.
    pub max_input_buffer: usize,
    pub max_output_buffer: usize,
    pub blocked_clients: usize,
    pub pubsub_channels: usize,
    pub pubsub_patterns: usize,
    pub watching_clients: usize,
    pub watched_keys: usize,
    pub total_error_replies: u64,
    /// The network threads' counters since start or `CONFIG RESETSTAT`.
    pub counters: StatCounters,
    /// acl_access_denied_{auth,cmd,key,channel}.
    pub acl_denied: [u64; 4],
    pub commandstats: Vec<(String, String)>,
    pub errorstats: Vec<(String, String)>,
    pub access: AccessStats,
    pub instantaneous_ops_per_sec: u64,
    /// Client bytes in and out per second, in KiB.
    pub instantaneous_kbps: (f64, f64),
    /// `expired_stale_perc`, `expired_time_cap_reached_count`.
    pub expiry: (f64, u64),
    /// `used_memory` at start.
    pub startup_memory: u64,
    /// What the allocator reports as allocated, if the node has a gauge.
    pub allocated: Option<u64>,
    pub maxmemory: u64,
    pub maxmemory_policy: &'static str,
    /// Bytes waiting for the journal, not counted against `maxmemory`.
    pub mem_not_counted_for_evict: usize,
}

/// Renders the requested sections (Redis's `default` set when none given).
pub(super) fn render(shared: &NodeShared, ks: &Keyspace, extra: &Extra, requested: &[String]) -> String {
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
                add("connected_clients", extra.clients.to_string());
                add("maxclients", shared.maxclients.load(Ordering::Acquire).to_string());
                add("client_recent_max_input_buffer", extra.max_input_buffer.to_string());
                add("client_recent_max_output_buffer", extra.max_output_buffer.to_string());
                add("blocked_clients", extra.blocked_clients.to_string());
                add("watching_clients", extra.watching_clients.to_string());
                add("total_watched_keys", extra.watched_keys.to_string());
            }
            "memory" => {
                let rss = resident_bytes();
                let (used, peak) = used_memory(shared, extra.allocated);
                let dataset = ks.dataset_bytes() as u64;
                let system = total_system_memory();
                add("used_memory", used.to_string());
                add("used_memory_human", human_bytes(used));
                add("used_memory_rss", rss.to_string());
                add("used_memory_rss_human", human_bytes(rss));
                add("used_memory_peak", peak.to_string());
                add("used_memory_peak_human", human_bytes(peak));
                add("used_memory_peak_perc", percent(used, peak));
                add("used_memory_overhead", used.saturating_sub(dataset).to_string());
                add("used_memory_startup", extra.startup_memory.to_string());
                add("used_memory_dataset", dataset.to_string());
                // As Redis: the data set's share of what was allocated since start.
                add(
                    "used_memory_dataset_perc",
                    percent(dataset, used.saturating_sub(extra.startup_memory)),
                );
                add("total_system_memory", system.to_string());
                add("total_system_memory_human", human_bytes(system));
                add(
                    "mem_fragmentation_ratio",
                    format!("{:.2}", if used == 0 { 0.0 } else { rss as f64 / used as f64 }),
                );
                add("mem_fragmentation_bytes", (rss as i64 - used as i64).to_string());
                add("maxmemory", extra.maxmemory.to_string());
                add("maxmemory_human", human_bytes(extra.maxmemory));
                add("maxmemory_policy", extra.maxmemory_policy.into());
                add("mem_not_counted_for_evict", extra.mem_not_counted_for_evict.to_string());
            }
            "persistence" => {
                add("loading", u8::from(shared.loading.load(Ordering::Acquire)).to_string());
                persistence_snapshots(shared, &mut add);
                add("aof_enabled", "0".into());
                add("memoir_durability", "replicated-journal".into());
            }
            "stats" => {
                let counters = extra.counters;
                add("total_connections_received", counters.total_connections.to_string());
                add("total_commands_processed", counters.total_commands.to_string());
                add("rejected_connections", counters.rejected_connections.to_string());
                add("pubsub_channels", extra.pubsub_channels.to_string());
                add("pubsub_patterns", extra.pubsub_patterns.to_string());
                add("total_error_replies", extra.total_error_replies.to_string());
                add("instantaneous_ops_per_sec", extra.instantaneous_ops_per_sec.to_string());
                let net = counters.net;
                add("total_net_input_bytes", net.input_bytes.to_string());
                add("total_net_output_bytes", net.output_bytes.to_string());
                add("instantaneous_input_kbps", format!("{:.2}", extra.instantaneous_kbps.0));
                add(
                    "instantaneous_output_kbps",
                    format!("{:.2}", extra.instantaneous_kbps.1),
                );
                add("total_reads_processed", net.reads.to_string());
                add("total_writes_processed", net.writes.to_string());
                add("expired_stale_perc", format!("{:.2}", extra.expiry.0));
                add("expired_time_cap_reached_count", extra.expiry.1.to_string());
                // Memoir never forks: snapshots are built off-box.
                add("total_forks", "0".into());
                add("latest_fork_usec", "0".into());
                add("expired_keys", extra.access.expired_keys.to_string());
                add("evicted_keys", extra.access.evicted_keys.to_string());
                add("keyspace_hits", extra.access.keyspace_hits.to_string());
                add("keyspace_misses", extra.access.keyspace_misses.to_string());
                for (name, count) in ["auth", "cmd", "key", "channel"].iter().zip(extra.acl_denied) {
                    add(&format!("acl_access_denied_{name}"), count.to_string());
                }
                add(
                    "memoir_output_limit_disconnections",
                    counters.output_limit_disconnections.to_string(),
                );
            }
            "replication" => replication(shared, &mut add),
            "cpu" => cpu(&mut add),
            "cluster" => add("cluster_enabled", "0".into()),
            "commandstats" => {
                for (key, value) in &extra.commandstats {
                    add(key, value.clone());
                }
            }
            "errorstats" => {
                for (key, value) in &extra.errorstats {
                    add(key, value.clone());
                }
            }
            "keyspace" => {
                for db in ks.db_stats() {
                    add(
                        &format!("db{}", db.db),
                        format!("keys={},expires={},avg_ttl={}", db.keys, db.expires, db.avg_ttl_ms),
                    );
                }
            }
            "journal" => journal(shared, &mut add),
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
    // The cron tick (expiry, eviction, statistics) runs 10 times a second.
    add("hz", "10".into());
    add("configured_hz", "10".into());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // Redis's LRU clock: seconds, in 24 bits.
    add("lru_clock", (now.as_secs() & ((1 << 24) - 1)).to_string());
    add("server_time_usec", now.as_micros().to_string());
    add(
        "executable",
        std::env::current_exe()
            .map(|path| path.display().to_string())
            .unwrap_or_default(),
    );
    add("multiplexing_api", "epoll".into());
}

/// CPU time used, in seconds: by the process, by its waited-for children,
/// and by the execution thread (Redis's "main thread"; this runs on it).
/// In `memoir dev` the process holds every part of the cluster.
fn cpu(add: &mut impl FnMut(&str, String)) {
    for (who, suffix) in [
        (libc::RUSAGE_SELF, ""),
        (libc::RUSAGE_CHILDREN, "_children"),
        (libc::RUSAGE_THREAD, "_main_thread"),
    ] {
        let (user, sys) = cpu_seconds(who);
        add(&format!("used_cpu_sys{suffix}"), format!("{sys:.6}"));
        add(&format!("used_cpu_user{suffix}"), format!("{user:.6}"));
    }
}

/// (user, system) CPU seconds from `getrusage(who)`; zeros if it fails.
fn cpu_seconds(who: libc::c_int) -> (f64, f64) {
    // SAFETY: `getrusage` writes a whole `rusage` (all-integer, so zeroed
    // is a valid value) and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`.
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return (0.0, 0.0);
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (seconds(usage.ru_utime), seconds(usage.ru_stime))
}

/// `part` as a percentage of `whole`, as Redis prints it ("12.34%").
fn percent(part: u64, whole: u64) -> String {
    let perc = if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    };
    format!("{perc:.2}%")
}

/// The machine's memory (Linux `MemTotal`), 0 where unknown.
fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| {
            meminfo
                .lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
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

/// The journal as this node sees it: where it is, how far each replica
/// has got (known on the primary), and the primary's appends.
fn journal(shared: &NodeShared, add: &mut impl FnMut(&str, String)) {
    add("journal_replicas", shared.config.journal.join(","));
    let matched = shared.journal_matched.lock().map(|m| m.clone()).unwrap_or_default();
    for (i, seq) in matched.iter().enumerate() {
        add(&format!("journal_replica{i}_matched_seq"), seq.to_string());
    }
    add(
        "journal_applied_seq",
        shared.applied_seq.load(Ordering::Acquire).to_string(),
    );
    let stats = shared.journal_stats.read();
    add("journal_appends", stats.appends.to_string());
    add("journal_append_bytes", stats.bytes.to_string());
    add("journal_appends_in_flight", stats.in_flight.to_string());
    add("journal_append_failures", stats.failures.to_string());
    // Execution steps per record: the node's group commit at work.
    let per_append = stats.batches as f64 / stats.appends.max(1) as f64;
    add("journal_batches_per_append", format!("{per_append:.2}"));
    add("journal_append_latency_avg_us", stats.latency_us_avg.to_string());
    add("journal_append_latency_max_us", stats.latency_us_max.to_string());
}

/// `used_memory` and its peak, as INFO and MEMORY STATS report them. As
/// Redis: the allocator's figure, which `maxmemory` is measured by; the
/// resident set where the node has no gauge.
pub(super) fn used_memory(shared: &NodeShared, allocated: Option<u64>) -> (u64, u64) {
    let used = current_used_memory(allocated);
    let peak = shared.used_memory_peak.fetch_max(used, Ordering::Relaxed).max(used);
    (used, peak)
}

/// `used_memory` now, without touching the peak: the allocator's figure
/// (`allocated`, from the node's gauge) or else the resident set.
pub(super) fn current_used_memory(allocated: Option<u64>) -> u64 {
    allocated.unwrap_or_else(resident_bytes)
}

/// Resident set size of this process (Linux), 0 where unknown.
fn resident_bytes() -> u64 {
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

/// INFO persistence's snapshot fields, named as Redis names its RDB ones
/// where the meaning carries over (tools read `loading_*` and
/// `rdb_last_save_time`), plus Memoir's own.
fn persistence_snapshots(shared: &NodeShared, add: &mut impl FnMut(&str, String)) {
    let load = shared.snapshot_load.lock().ok().and_then(|load| *load);
    if let Some((progress, started)) = load {
        let elapsed = started.elapsed().as_secs_f64();
        let total = progress.bytes_total.max(1);
        let perc = progress.bytes_loaded as f64 * 100.0 / total as f64;
        let eta = if progress.bytes_loaded > 0 {
            (progress.bytes_total.saturating_sub(progress.bytes_loaded) as f64 * elapsed / progress.bytes_loaded as f64)
                as u64
        } else {
            0
        };
        add("loading_total_bytes", progress.bytes_total.to_string());
        add("loading_loaded_bytes", progress.bytes_loaded.to_string());
        add("loading_loaded_perc", format!("{perc:.2}"));
        add("loading_eta_seconds", eta.to_string());
        add("memoir_loading_keys", progress.keys_loaded.to_string());
    }
    let summary = shared.snapshot_summary();
    // Write effects the newest snapshot lacks (see `changes.rs`).
    let snapshot_seq = summary.newest.map(|(seq, _, _)| seq.0);
    add(
        "rdb_changes_since_last_save",
        shared.changes.since(snapshot_seq).to_string(),
    );
    add("rdb_bgsave_in_progress", u8::from(summary.in_progress).to_string());
    add(
        "rdb_last_bgsave_status",
        summary.last_status.unwrap_or("ok").to_string(),
    );
    match summary.newest {
        Some((seq, published_unix_ms, bytes)) => {
            let now_ms = crate::keyspace::access::wall_clock_ms();
            add("rdb_last_save_time", (published_unix_ms / 1000).to_string());
            add("memoir_snapshot_seq", seq.0.to_string());
            add(
                "memoir_snapshot_age_s",
                ((now_ms - published_unix_ms).max(0) / 1000).to_string(),
            );
            add("memoir_snapshot_bytes", bytes.to_string());
        }
        None => {
            add("rdb_last_save_time", "0".into());
            add("memoir_snapshot_seq", "0".into());
        }
    }
    if let Some(applied) = summary.service_applied {
        add("memoir_snapshot_service_applied_seq", applied.0.to_string());
    }
}
