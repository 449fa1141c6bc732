//! Administration commands the node answers: CLIENT, CONFIG, SLOWLOG,
//! LATENCY, MEMORY, and the statistics behind INFO commandstats and
//! errorstats.
//!
//! CONFIG keeps every parameter Redis 7.0.15 has (its defaults as
//! `CONFIG GET *` reports them) so that clients and Redis's own test suite
//! can set and read them back; the ones Memoir acts on are applied
//! (maxclients, proto-max-bulk-len, client-query-buffer-limit,
//! slowlog-log-slower-than, slowlog-max-len), the rest are stored and
//! echoed.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::{Exec, Outcome};
use crate::commands::{self, glob, CommandSpec};
use crate::keyspace::eviction::EvictionPolicy;
use crate::node::memory::MemoryGauge;
use crate::node::shared::{NodeShared, StatCounters};
use crate::resp::{Protocol, Reply};

fn ok() -> Reply {
    Reply::SimpleString("OK".into())
}

fn err(text: impl Into<String>) -> Reply {
    Reply::Error(text.into())
}

fn int(n: usize) -> Reply {
    Reply::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn text(s: impl Into<String>) -> Reply {
    Reply::Bulk(Bytes::from(s.into()))
}

fn upper(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).to_ascii_uppercase()
}

/// CLIENT REPLY state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplyMode {
    On,
    Off,
    /// Replies still to silence (CLIENT REPLY SKIP: itself and the next).
    Skip(u8),
}

impl ReplyMode {
    /// Whether the reply being queued now is suppressed.
    pub fn silences_next(&mut self) -> bool {
        match *self {
            ReplyMode::On => false,
            ReplyMode::Off => true,
            ReplyMode::Skip(n) => {
                *self = if n <= 1 { ReplyMode::On } else { ReplyMode::Skip(n - 1) };
                true
            }
        }
    }
}

/// Containers whose statistics and messages name the subcommand
/// (`client|list`), as Redis 7.0 does.
/// Ticks kept for instantaneous_ops_per_sec (1.6 s at 100 ms).
const OPS_SAMPLES: usize = 16;

/// Elements of a collection `MEMORY USAGE` reads to estimate the rest when
/// no SAMPLES is given (Redis's default).
const MEMORY_USAGE_DEFAULT_SAMPLES: usize = 5;

const CONTAINERS: &[&str] = &[
    "client", "config", "pubsub", "debug", "slowlog", "latency", "memory", "command", "object", "acl", "xinfo",
    "script", "function", "cluster", "module",
];

/// `name` or `name|subcommand`, lower case.
pub(crate) fn full_name(spec: &CommandSpec, argv: &[Bytes]) -> String {
    match argv.get(1) {
        Some(sub) if CONTAINERS.contains(&spec.name) && spec.name != "debug" => {
            format!("{}|{}", spec.name, String::from_utf8_lossy(sub).to_ascii_lowercase())
        }
        _ => spec.name.to_owned(),
    }
}

#[derive(Clone, Copy, Default)]
struct CmdStat {
    calls: u64,
    usec: u64,
    rejected: u64,
    failed: u64,
}

struct SlowEntry {
    id: u64,
    unix_secs: i64,
    micros: u64,
    argv: Vec<Bytes>,
    addr: String,
    name: Bytes,
}

/// Redis's default `slowlog-log-slower-than`.
const SLOWLOG_THRESHOLD_DEFAULT_US: i64 = 10_000;

fn parse_i64(config: &BTreeMap<&'static str, String>, name: &str, default: i64) -> i64 {
    config.get(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Statistics and configuration the execution thread keeps.
pub(crate) struct AdminState {
    /// Per command, by position in the command table (no hashing on the
    /// hot path), and per container subcommand (`client|list`).
    stats: Vec<CmdStat>,
    /// By position in the command table: whether its statistics name the
    /// subcommand.
    is_container: Vec<bool>,
    sub_stats: BTreeMap<String, CmdStat>,
    errors: BTreeMap<String, u64>,
    total_errors: u64,
    slowlog: VecDeque<SlowEntry>,
    slowlog_next_id: u64,
    config: BTreeMap<&'static str, String>,
    /// `slowlog-log-slower-than`, parsed once per CONFIG SET rather than on
    /// every command.
    slowlog_threshold_us: i64,
    /// Counters at each tick, for the instantaneous_* rates.
    traffic_samples: VecDeque<TrafficSample>,
    /// Active expiry: the running average of the share of sampled keys
    /// that were stale, and how often a cycle ran out of time.
    expired_stale_perc: f64,
    expired_time_cap_reached: u64,
    /// `used_memory` when the node started (INFO's `used_memory_startup`).
    startup_memory: u64,
    /// The network threads' counters at the last `CONFIG RESETSTAT`.
    counters_baseline: StatCounters,
}

/// The counters behind INFO's instantaneous rates, at one tick.
#[derive(Clone, Copy, Debug)]
pub struct TrafficSample {
    pub at: Instant,
    pub counters: StatCounters,
}

impl AdminState {
    pub fn new(shared: &NodeShared) -> AdminState {
        let mut config: BTreeMap<&'static str, String> =
            REDIS_DEFAULTS.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let limits = &shared.config.limits;
        for (name, value) in [
            ("bind", shared.local_addr.ip().to_string()),
            ("port", shared.local_addr.port().to_string()),
            ("databases", shared.config.databases.to_string()),
            ("maxclients", shared.config.maxclients.to_string()),
            ("proto-max-bulk-len", limits.max_bulk_len.to_string()),
            ("client-query-buffer-limit", limits.max_query_buffer_len.to_string()),
            ("appendonly", "no".to_owned()),
            ("requirepass", shared.config.requirepass.clone().unwrap_or_default()),
            (
                "protected-mode",
                if shared.config.protected_mode { "yes" } else { "no" }.to_owned(),
            ),
            ("timeout", shared.config.idle_timeout.as_secs().to_string()),
            ("maxmemory", shared.config.maxmemory.to_string()),
            ("maxmemory-policy", shared.config.maxmemory_policy.name().to_owned()),
            ("maxmemory-samples", shared.config.maxmemory_samples.to_string()),
            ("client-output-buffer-limit", shared.config.output_limits.render()),
            ("appendfsync", "always".to_owned()),
            ("save", String::new()),
            ("pidfile", String::new()),
            (
                "dir",
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
            ),
        ] {
            if let Some(slot) = config.get_mut(name) {
                *slot = value;
            }
        }
        AdminState {
            stats: vec![CmdStat::default(); commands::table::COMMANDS.len()],
            is_container: commands::table::COMMANDS
                .iter()
                .map(|spec| CONTAINERS.contains(&spec.name))
                .collect(),
            sub_stats: BTreeMap::new(),
            errors: BTreeMap::new(),
            total_errors: 0,
            slowlog: VecDeque::new(),
            slowlog_next_id: 0,
            traffic_samples: VecDeque::with_capacity(OPS_SAMPLES),
            expired_stale_perc: 0.0,
            expired_time_cap_reached: 0,
            startup_memory: crate::node::info::current_used_memory(
                shared.config.memory_gauge.and_then(|gauge| gauge.read()),
            ),
            slowlog_threshold_us: parse_i64(&config, "slowlog-log-slower-than", SLOWLOG_THRESHOLD_DEFAULT_US),
            config,
            counters_baseline: StatCounters::default(),
        }
    }

    /// Records a CONFIG SET (already validated).
    fn set_config(&mut self, name: &'static str, value: String) {
        self.config.insert(name, value);
        if name == "slowlog-log-slower-than" {
            self.slowlog_threshold_us = self.config_i64(name, SLOWLOG_THRESHOLD_DEFAULT_US);
        }
    }

    /// `timeout` (zero: idle clients are never closed).
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.config_i64("timeout", 0)).unwrap_or(0))
    }

    /// A numeric setting as last set (`default` if it does not parse).
    pub(super) fn config_i64(&self, name: &str, default: i64) -> i64 {
        parse_i64(&self.config, name, default)
    }

    /// An error reply went to a client (INFO errorstats): counted by its
    /// code, the first word.
    pub fn count_error(&mut self, text: &str) {
        let code = text.split(' ').next().unwrap_or("ERR");
        let code = if code.is_empty() { "ERR" } else { code };
        *self.errors.entry(code.to_owned()).or_default() += 1;
        self.total_errors += 1;
    }

    fn stat(&mut self, spec: &'static CommandSpec, argv: &[Bytes]) -> &mut CmdStat {
        match commands::table::index_of(spec) {
            Some(position) if !(argv.len() > 1 && self.is_container[position]) => &mut self.stats[position],
            _ => self.sub_stats.entry(full_name(spec, argv)).or_default(),
        }
    }

    pub fn count_rejected(&mut self, spec: &'static CommandSpec, argv: &[Bytes]) {
        self.stat(spec, argv).rejected += 1;
    }

    pub fn count_call(
        &mut self,
        spec: &'static CommandSpec,
        argv: &[Bytes],
        took: Duration,
        failed: bool,
        rejected: bool,
    ) {
        let stat = self.stat(spec, argv);
        if rejected {
            stat.rejected += 1;
            return;
        }
        stat.calls += 1;
        stat.usec += u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        if failed {
            stat.failed += 1;
        }
    }

    /// `CONFIG RESETSTAT`, given the counters as they stand now.
    pub fn reset_stats(&mut self, counters_now: StatCounters) {
        self.counters_baseline = counters_now;
        // Redis restarts its instantaneous rates too.
        self.traffic_samples.clear();
        self.stats.fill(CmdStat::default());
        self.sub_stats.clear();
        self.errors.clear();
        self.total_errors = 0;
        self.expired_stale_perc = 0.0;
        self.expired_time_cap_reached = 0;
    }

    /// Records the counters at a tick (every 100 ms); Redis too averages
    /// over its last 16 samples.
    pub fn sample_traffic(&mut self, sample: TrafficSample) {
        if self.traffic_samples.len() == OPS_SAMPLES {
            self.traffic_samples.pop_front();
        }
        self.traffic_samples.push_back(sample);
    }

    /// A counter's increase per second over the sampled window.
    fn rate(&self, counter: fn(&TrafficSample) -> u64) -> f64 {
        match (self.traffic_samples.front(), self.traffic_samples.back()) {
            (Some(first), Some(last)) if last.at > first.at => {
                counter(last).saturating_sub(counter(first)) as f64 / (last.at - first.at).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    /// Commands per second over the sampled window (INFO stats).
    pub fn instantaneous_ops_per_sec(&self) -> u64 {
        self.rate(|s| s.counters.total_commands).round() as u64
    }

    /// Client bytes read and written per second, in KiB (INFO stats).
    pub fn instantaneous_kbps(&self) -> (f64, f64) {
        (
            self.rate(|s| s.counters.net.input_bytes) / 1024.0,
            self.rate(|s| s.counters.net.output_bytes) / 1024.0,
        )
    }

    /// Counts one active expiry cycle: `sampled` keys looked at, `stale`
    /// of them expired; `out_of_time` if it stopped at its time budget
    /// with work left. Redis keeps the same running average (5% weight to
    /// the newest cycle).
    pub fn expiry_cycle(&mut self, sampled: usize, stale: usize, out_of_time: bool) {
        if sampled > 0 {
            let perc = stale as f64 * 100.0 / sampled as f64;
            self.expired_stale_perc = perc * 0.05 + self.expired_stale_perc * 0.95;
        }
        if out_of_time {
            self.expired_time_cap_reached += 1;
        }
    }

    /// The network threads' counters since start or `CONFIG RESETSTAT`.
    pub fn counters(&self, counters_now: StatCounters) -> StatCounters {
        counters_now.since(self.counters_baseline)
    }

    pub fn startup_memory(&self) -> u64 {
        self.startup_memory
    }

    /// INFO's `expired_stale_perc` and `expired_time_cap_reached_count`.
    pub fn expiry_stats(&self) -> (f64, u64) {
        (self.expired_stale_perc, self.expired_time_cap_reached)
    }

    pub fn total_error_replies(&self) -> u64 {
        self.total_errors
    }

    /// INFO commandstats lines.
    pub fn commandstats(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, CmdStat)> = self
            .stats
            .iter()
            .zip(commands::table::COMMANDS)
            .map(|(s, spec)| (spec.name.to_owned(), *s))
            .chain(self.sub_stats.iter().map(|(name, s)| (name.clone(), *s)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.into_iter()
            .filter(|(_, s)| s.calls > 0 || s.rejected > 0 || s.failed > 0)
            .map(|(name, s)| {
                let per_call = if s.calls == 0 {
                    0.0
                } else {
                    s.usec as f64 / s.calls as f64
                };
                (
                    format!("cmdstat_{name}"),
                    format!(
                        "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                        s.calls, s.usec, s.rejected, s.failed
                    ),
                )
            })
            .collect()
    }

    /// INFO errorstats lines.
    pub fn errorstats(&self) -> Vec<(String, String)> {
        self.errors
            .iter()
            .map(|(code, n)| (format!("errorstat_{code}"), format!("count={n}")))
            .collect()
    }
}

/// Parameters that take a memory value (`10mb`).
const MEMORY_PARAMS: &[&str] = &[
    "maxmemory",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "hash-max-listpack-value",
    "hash-max-ziplist-value",
    "set-max-listpack-value",
    "zset-max-listpack-value",
    "zset-max-ziplist-value",
    "list-max-listpack-size",
    "list-max-ziplist-size",
    "stream-node-max-bytes",
    "auto-aof-rewrite-min-size",
    "active-defrag-ignore-bytes",
    "repl-backlog-size",
    "maxmemory-clients",
];

/// Redis's `memtoull` with a sign (`list-max-listpack-size -2`): the
/// unit parsing is `limits::parse_memory`'s.
fn parse_memory(value: &str) -> Option<i64> {
    let (negative, magnitude) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let bytes = i64::try_from(crate::node::limits::parse_memory(magnitude)?).ok()?;
    Some(if negative { -bytes } else { bytes })
}

/// Checks one CONFIG SET value; the stored form on success.
fn validate(name: &str, value: &[u8]) -> Result<String, String> {
    let value = String::from_utf8_lossy(value).into_owned();
    let default = REDIS_DEFAULTS.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| *v);
    if IMMUTABLE.contains(&name) {
        return Err("can't set immutable config".into());
    }
    if name == "maxmemory-policy" {
        return match EvictionPolicy::parse(&value) {
            Some(policy) => Ok(policy.name().to_owned()),
            None => Err(format!(
                "argument(s) must be one of the following: {}",
                EvictionPolicy::ALL.map(EvictionPolicy::name).join(", ")
            )),
        };
    }
    if let Some(&(_, low, high)) = BOUNDED_INTEGERS.iter().find(|(n, _, _)| *n == name) {
        return match value.parse::<i64>() {
            Ok(n) if (low..=high).contains(&n) => Ok(n.to_string()),
            _ => Err(format!("argument must be between {low} and {high} inclusive")),
        };
    }
    if name == "acl-pubsub-default" {
        let lower = value.to_ascii_lowercase();
        return match lower.as_str() {
            "allchannels" | "resetchannels" => Ok(lower),
            _ => Err("argument(s) must be one of the following: allchannels, resetchannels".into()),
        };
    }
    if name == "timeout" {
        return match value.parse::<i64>() {
            Ok(seconds) if (0..=i64::from(i32::MAX)).contains(&seconds) => Ok(seconds.to_string()),
            _ => Err("argument must be between 0 and 2147483647 inclusive".into()),
        };
    }
    if default == "yes" || default == "no" {
        return match value.to_ascii_lowercase().as_str() {
            v @ ("yes" | "no") => Ok(v.to_owned()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        };
    }
    if MEMORY_PARAMS.contains(&name) {
        return match parse_memory(&value) {
            Some(bytes) if bytes >= 0 || name.starts_with("list-max") => Ok(bytes.to_string()),
            _ => Err("argument must be a memory value".into()),
        };
    }
    if !default.is_empty() && default.parse::<i64>().is_ok() && value.parse::<i64>().is_err() {
        return Err("argument couldn't be parsed into an integer".into());
    }
    Ok(value)
}

/// Integer parameters with Redis's bounds.
const BOUNDED_INTEGERS: &[(&str, i64, i64)] = &[
    ("maxmemory-samples", 1, crate::node::memory::MAX_SAMPLES as i64),
    ("maxmemory-eviction-tenacity", 0, 100),
    ("lfu-log-factor", 0, i32::MAX as i64),
    ("lfu-decay-time", 0, i32::MAX as i64),
];

/// Parameters Redis refuses to change at run time.
const IMMUTABLE: &[&str] = &[
    "databases",
    "daemonize",
    "io-threads",
    "unixsocket",
    "logfile",
    "syslog-enabled",
    "supervised",
    "always-show-logo",
    "set-proc-title",
    "disable-thp",
    "cluster-enabled",
    "cluster-config-file",
    "aof-timestamp-enabled",
    "enable-debug-command",
    "enable-module-command",
    "enable-protected-configs",
    "appenddirname",
    "pidfile",
];

impl Exec {
    pub(super) fn slowlog_record(&mut self, conn: u64, argv: &[Bytes], took: Duration) {
        let threshold = self.admin.slowlog_threshold_us;
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        if threshold < 0 || micros < u64::try_from(threshold).unwrap_or(0) {
            return;
        }
        let max_len = usize::try_from(self.admin.config_i64("slowlog-max-len", 128)).unwrap_or(0);
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        // Redis keeps at most 32 arguments of at most 128 bytes each.
        let mut args: Vec<Bytes> = Vec::new();
        for (i, arg) in argv.iter().enumerate() {
            if i == 31 && argv.len() > 32 {
                args.push(Bytes::from(format!("... ({} more arguments)", argv.len() - 31)));
                break;
            }
            if arg.len() > 128 {
                let mut cut = arg[..128].to_vec();
                cut.extend_from_slice(format!("... ({} more bytes)", arg.len() - 128).as_bytes());
                args.push(Bytes::from(cut));
            } else {
                args.push(Bytes::copy_from_slice(arg));
            }
        }
        let entry = SlowEntry {
            id: self.admin.slowlog_next_id,
            unix_secs: unix_secs(),
            micros,
            argv: args,
            addr: session.addr.to_string(),
            name: session.name.clone().unwrap_or_default(),
        };
        self.admin.slowlog_next_id += 1;
        self.admin.slowlog.push_front(entry);
        self.admin.slowlog.truncate(max_len);
    }

    pub(super) fn slowlog(&mut self, argv: &[Bytes]) -> Reply {
        match (upper(&argv[1]).as_str(), argv.len()) {
            ("GET", 2 | 3) => {
                let count = match argv.get(2) {
                    None => 10,
                    Some(n) => match std::str::from_utf8(n).ok().and_then(|s| s.parse::<i64>().ok()) {
                        Some(-1) => usize::MAX,
                        Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                        _ => return err("ERR count should be greater than or equal to -1"),
                    },
                };
                Reply::Array(
                    self.admin
                        .slowlog
                        .iter()
                        .take(count)
                        .map(|e| {
                            Reply::Array(vec![
                                Reply::Integer(i64::try_from(e.id).unwrap_or(i64::MAX)),
                                Reply::Integer(e.unix_secs),
                                Reply::Integer(i64::try_from(e.micros).unwrap_or(i64::MAX)),
                                Reply::Array(e.argv.iter().cloned().map(Reply::Bulk).collect()),
                                text(e.addr.clone()),
                                Reply::Bulk(e.name.clone()),
                            ])
                        })
                        .collect(),
                )
            }
            ("LEN", 2) => int(self.admin.slowlog.len()),
            ("RESET", 2) => {
                self.admin.slowlog.clear();
                ok()
            }
            ("HELP", 2) => help(&[
                "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
                "HELP",
                "    Prints this help.",
            ]),
            ("GET" | "LEN" | "RESET" | "HELP", _) => err(format!(
                "ERR wrong number of arguments for 'slowlog|{}' command",
                String::from_utf8_lossy(&argv[1]).to_ascii_lowercase()
            )),
            _ => unknown_subcommand(&argv[1], "SLOWLOG"),
        }
    }

    /// LATENCY: the monitor is off (latency-monitor-threshold 0, Redis's
    /// default), so there are never samples.
    pub(super) fn latency(&self, argv: &[Bytes]) -> Reply {
        match upper(&argv[1]).as_str() {
            "LATEST" => Reply::Array(Vec::new()),
            "HISTORY" if argv.len() == 3 => Reply::Array(Vec::new()),
            "RESET" => Reply::Integer(0),
            "DOCTOR" => Reply::Verbatim {
                format: *b"txt",
                text: Bytes::from_static(b"I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"),
            },
            "GRAPH" if argv.len() == 3 => err(format!(
                "ERR No samples available for event '{}'",
                String::from_utf8_lossy(&argv[2])
            )),
            "HISTOGRAM" => Reply::Map(Vec::new()),
            "HELP" => help(&[
                "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "LATEST",
                "HISTORY <event>",
                "RESET [<event> ...]",
                "GRAPH <event>",
                "HISTOGRAM [COMMAND ...]",
                "HELP",
            ]),
            _ => unknown_subcommand(&argv[1], "LATENCY"),
        }
    }

    /// MEMORY USAGE / STATS / DOCTOR / MALLOC-STATS / PURGE.
    pub(super) fn memory(&mut self, conn: u64, argv: &[Bytes]) -> Outcome {
        match upper(&argv[1]).as_str() {
            "USAGE" if argv.len() == 3 || (argv.len() == 5 && argv[3].eq_ignore_ascii_case(b"samples")) => {
                // Redis's default; SAMPLES 0 counts every element.
                let mut samples = MEMORY_USAGE_DEFAULT_SAMPLES;
                if argv.len() == 5 {
                    match std::str::from_utf8(&argv[4]).ok().and_then(|s| s.parse::<i64>().ok()) {
                        Some(count) if count < 0 => return Outcome::reply(err("ERR syntax error")),
                        Some(count) => samples = usize::try_from(count).unwrap_or(usize::MAX),
                        None => return Outcome::reply(err("ERR value is not an integer or out of range")),
                    }
                }
                let db = self.sessions.get(&conn).map_or(0, |s| s.db);
                let key = &argv[2];
                let usage = self.ks.db(db).and_then(|store| {
                    let pos = store.find(key)?;
                    if store.expire_at(pos).is_some_and(|at| at <= self.now_ms) {
                        return None;
                    }
                    // Key bytes + value heap + the dict entry, robj and key
                    // header Redis would allocate (about 48 bytes).
                    Some(key.len() + store.value_at(pos)?.heap_bytes_sampled(samples) + 48)
                });
                let barrier = if self.shared.role() == crate::node::shared::Role::Primary {
                    self.key_barrier(db, key)
                } else {
                    0
                };
                Outcome::with_barrier(usage.map_or(Reply::Null, int), barrier)
            }
            "STATS" if argv.len() == 2 => {
                let (used, peak) = crate::node::info::used_memory(&self.shared, self.memory.allocated_now());
                let dataset = self.ks.dataset_bytes();
                let keys = self.ks.total_keys();
                let pair = |k: &str, v: Reply| (text(k), v);
                let n = |v: u64| Reply::Integer(i64::try_from(v).unwrap_or(i64::MAX));
                Outcome::reply(Reply::Map(vec![
                    pair("peak.allocated", n(peak)),
                    pair("total.allocated", n(used)),
                    pair("startup.allocated", n(self.admin.startup_memory())),
                    pair("replication.backlog", n(0)),
                    pair("clients.slaves", n(0)),
                    pair("clients.normal", n(0)),
                    pair("aof.buffer", n(0)),
                    pair("keys.count", int(keys)),
                    pair("keys.bytes-per-key", int(dataset.checked_div(keys).unwrap_or(0))),
                    pair("dataset.bytes", int(dataset)),
                    pair("dataset.percentage", Reply::Double(if used == 0 { 0.0 } else { dataset as f64 * 100.0 / used as f64 })),
                ]))
            }
            "DOCTOR" if argv.len() == 2 => Outcome::reply(Reply::Verbatim {
                format: *b"txt",
                text: Bytes::from_static(b"Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"),
            }),
            "MALLOC-STATS" if argv.len() == 2 => Outcome::reply(Reply::Verbatim {
                format: *b"txt",
                text: match self.memory.gauge().and_then(MemoryGauge::stats) {
                    Some(report) => Bytes::from(report),
                    None => Bytes::from_static(b"Stats not supported for the current allocator\n"),
                },
            }),
            // As Redis: OK also where the allocator cannot purge.
            "PURGE" if argv.len() == 2 => match self.memory.gauge().and_then(MemoryGauge::purge) {
                Some(Err(error)) => {
                    tracing::warn!(%error, "MEMORY PURGE failed");
                    Outcome::reply(err("ERR Error purging dirty pages"))
                }
                Some(Ok(())) | None => Outcome::reply(ok()),
            },
            "HELP" => Outcome::reply(help(&[
                "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "MALLOC-STATS",
                "PURGE",
                "STATS",
                "USAGE <key> [SAMPLES <count>]",
                "HELP",
            ])),
            "USAGE" | "STATS" | "DOCTOR" | "MALLOC-STATS" | "PURGE" => Outcome::reply(err(format!(
                "ERR wrong number of arguments for 'memory|{}' command",
                String::from_utf8_lossy(&argv[1]).to_ascii_lowercase()
            ))),
            _ => Outcome::reply(unknown_subcommand(&argv[1], "MEMORY")),
        }
    }

    pub(super) fn config(&mut self, argv: &[Bytes]) -> Reply {
        match (upper(&argv[1]).as_str(), argv.len()) {
            ("GET", n) if n >= 3 => {
                let mut pairs: Vec<(&'static str, String)> = Vec::new();
                for pattern in &argv[2..] {
                    let pattern = String::from_utf8_lossy(pattern).to_ascii_lowercase();
                    for (name, value) in &self.admin.config {
                        if glob::matches(pattern.as_bytes(), name.as_bytes()) && !pairs.iter().any(|(n, _)| n == name) {
                            pairs.push((name, value.clone()));
                        }
                    }
                }
                Reply::Map(pairs.into_iter().map(|(n, v)| (text(n), text(v))).collect())
            }
            ("SET", n) if n >= 4 && n % 2 == 0 => self.config_set(argv),
            ("SET", _) | ("GET", _) => err(format!(
                "ERR wrong number of arguments for 'config|{}' command",
                String::from_utf8_lossy(&argv[1]).to_ascii_lowercase()
            )),
            ("RESETSTAT", 2) => {
                // Redis resets the counters, not the slow log.
                self.admin.reset_stats(self.shared.stat_counters());
                self.ks.reset_access_stats();
                self.denials = Default::default();
                ok()
            }
            ("REWRITE", 2) => err("ERR The server is running without a config file"),
            ("HELP", 2) => help(&[
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "SET <directive> <value>",
                "RESETSTAT",
                "REWRITE",
                "HELP",
            ]),
            _ => unknown_subcommand(&argv[1], "CONFIG"),
        }
    }

    /// CONFIG SET name value [name value ...]: all or nothing.
    fn config_set(&mut self, argv: &[Bytes]) -> Reply {
        let mut changes: Vec<(&'static str, String)> = Vec::new();
        for pair in argv[2..].chunks(2) {
            let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            let Some((&canonical, _)) = self.admin.config.get_key_value(name.as_str()) else {
                return err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    String::from_utf8_lossy(&pair[0])
                ));
            };
            let failed = |why: String| {
                err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{}') - {why}",
                    String::from_utf8_lossy(&pair[0])
                ))
            };
            if changes.iter().any(|(n, _)| *n == canonical) {
                return failed("duplicate parameter".into());
            }
            let validated = if canonical == "client-output-buffer-limit" {
                let text = String::from_utf8_lossy(&pair[1]).into_owned();
                match self.output_limits.parse_update(&text) {
                    Ok(limits) => Ok(limits.render()),
                    Err(why) => Err(why.to_owned()),
                }
            } else {
                validate(canonical, &pair[1])
            };
            match validated {
                Ok(value) if canonical == "maxmemory" && value != "0" && !self.memory.has_gauge() => {
                    return failed(crate::node::memory::NO_GAUGE.into());
                }
                Ok(value) => changes.push((canonical, value)),
                Err(why) => return failed(why),
            }
        }
        for (name, value) in changes {
            let number = value.parse::<usize>().ok();
            match (name, number) {
                ("maxclients", Some(n)) => self.shared.maxclients.store(n, Ordering::Release),
                ("proto-max-bulk-len", Some(n)) => {
                    self.shared.max_bulk_len.store(n, Ordering::Release);
                    self.shared.limits_generation.fetch_add(1, Ordering::AcqRel);
                }
                ("client-query-buffer-limit", Some(n)) => {
                    self.shared.max_query_buffer_len.store(n, Ordering::Release);
                    self.shared.limits_generation.fetch_add(1, Ordering::AcqRel);
                }
                ("requirepass", _) => self.set_requirepass(value.as_bytes()),
                ("acl-pubsub-default", _) => self.acl.set_pubsub_default(value == "allchannels"),
                ("protected-mode", _) => self.shared.protected_mode.store(value == "yes", Ordering::Release),
                ("maxmemory", Some(n)) => self.set_maxmemory(n as u64),
                ("maxmemory-policy", _) => {
                    if let Some(policy) = EvictionPolicy::parse(&value) {
                        self.set_maxmemory_policy(policy);
                    }
                }
                ("maxmemory-samples", Some(n)) => self.memory.samples = n,
                ("client-output-buffer-limit", _) => {
                    // Validated above: parses.
                    if let Ok(limits) = self.output_limits.parse_update(&value) {
                        self.output_limits = limits;
                    }
                }
                _ => {}
            }
            self.admin.set_config(name, value);
            if matches!(name, "lfu-log-factor" | "lfu-decay-time") {
                self.sync_access_tracking();
            }
        }
        ok()
    }

    pub(super) fn client(&mut self, conn: u64, argv: &[Bytes]) -> Outcome {
        let sub = upper(&argv[1]);
        let reply = match (sub.as_str(), argv.len()) {
            ("ID", 2) => Reply::Integer(i64::try_from(conn).unwrap_or(i64::MAX)),
            ("GETNAME", 2) => match self.sessions.get(&conn).and_then(|s| s.name.clone()) {
                Some(name) => Reply::Bulk(name),
                None => Reply::Null,
            },
            ("SETNAME", 3) => {
                if let Err(e) = validate_client_name(&argv[2]) {
                    return Outcome::reply(e);
                }
                if let Some(session) = self.sessions.get_mut(&conn) {
                    session.name = if argv[2].is_empty() {
                        None
                    } else {
                        Some(argv[2].clone())
                    };
                }
                ok()
            }
            ("SETINFO", 4) => {
                let value = argv[3].clone();
                let Some(session) = self.sessions.get_mut(&conn) else {
                    return Outcome::reply(ok());
                };
                match upper(&argv[2]).as_str() {
                    "LIB-NAME" => session.lib_name = Some(value),
                    "LIB-VER" => session.lib_ver = Some(value),
                    _ => {
                        return Outcome::reply(err(format!(
                            "ERR Unrecognized option '{}'",
                            String::from_utf8_lossy(&argv[2])
                        )))
                    }
                }
                ok()
            }
            ("LIST", _) => match self.client_list_filter(argv) {
                Ok(ids) => Reply::Verbatim {
                    format: *b"txt",
                    text: Bytes::from(self.client_list(&ids)),
                },
                Err(e) => e,
            },
            ("INFO", 2) => Reply::Verbatim {
                format: *b"txt",
                text: Bytes::from(self.client_list(&[conn])),
            },
            ("KILL", n) if n >= 3 => return self.client_kill(conn, argv),
            ("REPLY", 3) => {
                let mode = match upper(&argv[2]).as_str() {
                    "ON" => ReplyMode::On,
                    "OFF" => ReplyMode::Off,
                    // This reply and the next one.
                    "SKIP" => ReplyMode::Skip(2),
                    _ => return Outcome::reply(err("ERR syntax error")),
                };
                if let Some(session) = self.sessions.get_mut(&conn) {
                    session.reply_mode = mode;
                }
                ok()
            }
            ("NO-EVICT" | "NO-TOUCH", 3) => match upper(&argv[2]).as_str() {
                "ON" | "OFF" => ok(),
                _ => err("ERR syntax error"),
            },
            ("UNBLOCK", 3 | 4) => {
                let Some(target) = std::str::from_utf8(&argv[2]).ok().and_then(|s| s.parse::<u64>().ok()) else {
                    return Outcome::reply(err("ERR value is not an integer or out of range"));
                };
                let error = match argv.get(3).map(|a| upper(a)) {
                    None => false,
                    Some(m) if m == "TIMEOUT" => false,
                    Some(m) if m == "ERROR" => true,
                    Some(_) => return Outcome::reply(err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")),
                };
                Reply::Integer(i64::from(self.unblock_by_client(target, error)))
            }
            ("PAUSE", n) if n >= 3 => self.client_pause(argv),
            ("UNPAUSE", 2) => self.client_unpause(),
            ("TRACKING" | "TRACKINGINFO" | "GETREDIR" | "CACHING", _) => {
                err(format!("ERR CLIENT {sub} is not supported by Memoir"))
            }
            ("HELP", 2) => help(&[
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ID",
                "GETNAME",
                "SETNAME <name>",
                "SETINFO <LIB-NAME|LIB-VER> <value>",
                "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> [<id> ...]]",
                "INFO",
                "KILL <ip:port> | KILL <option> <value> [<option> <value> [...]]",
                "REPLY (ON|OFF|SKIP)",
                "NO-EVICT (ON|OFF)",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "PAUSE <timeout> [WRITE|ALL]",
                "UNPAUSE",
            ]),
            (
                "ID" | "GETNAME" | "SETNAME" | "SETINFO" | "INFO" | "KILL" | "REPLY" | "NO-EVICT" | "NO-TOUCH"
                | "UNBLOCK" | "PAUSE" | "UNPAUSE",
                _,
            ) => err(format!(
                "ERR wrong number of arguments for 'client|{}' command",
                sub.to_ascii_lowercase()
            )),
            _ => unknown_subcommand(&argv[1], "CLIENT"),
        };
        Outcome::reply(reply)
    }

    /// Which clients CLIENT LIST [TYPE t] [ID id...] shows.
    fn client_list_filter(&self, argv: &[Bytes]) -> Result<Vec<u64>, Reply> {
        let mut ids: Vec<u64> = self.sessions.keys().copied().collect();
        ids.sort_unstable();
        match argv.len() {
            2 => Ok(ids),
            n if n >= 4 && argv[2].eq_ignore_ascii_case(b"type") && n == 4 => {
                let kind = String::from_utf8_lossy(&argv[3]).to_ascii_lowercase();
                let pubsub = match kind.as_str() {
                    "normal" => false,
                    "pubsub" => true,
                    "master" | "replica" | "slave" => return Ok(Vec::new()),
                    _ => {
                        return Err(err(format!(
                            "ERR Unknown client type '{}'",
                            String::from_utf8_lossy(&argv[3])
                        )))
                    }
                };
                Ok(ids.into_iter().filter(|id| self.is_pubsub(*id) == pubsub).collect())
            }
            n if n >= 4 && argv[2].eq_ignore_ascii_case(b"id") => {
                let mut wanted = Vec::new();
                for arg in &argv[3..] {
                    match std::str::from_utf8(arg).ok().and_then(|s| s.parse::<i64>().ok()) {
                        Some(id) if id > 0 => wanted.push(id as u64),
                        _ => return Err(err("ERR Invalid client ID")),
                    }
                }
                Ok(ids.into_iter().filter(|id| wanted.contains(id)).collect())
            }
            _ => Err(err("ERR syntax error")),
        }
    }

    fn is_pubsub(&self, conn: u64) -> bool {
        self.sessions
            .get(&conn)
            .is_some_and(|s| !s.channels.is_empty() || !s.patterns.is_empty())
    }

    /// CLIENT KILL ip:port, or CLIENT KILL [ID id] [ADDR a] [LADDR a]
    /// [USER u] [TYPE t] [SKIPME yes|no].
    fn client_kill(&mut self, conn: u64, argv: &[Bytes]) -> Outcome {
        let local = self.shared.local_addr.to_string();
        let mut ids: Vec<u64> = self.sessions.keys().copied().collect();
        ids.sort_unstable();
        let old_style = argv.len() == 3;
        let mut skipme = !old_style;
        if old_style {
            let addr = String::from_utf8_lossy(&argv[2]).into_owned();
            ids.retain(|id| self.sessions.get(id).is_some_and(|s| s.addr.to_string() == addr));
        } else {
            if argv.len() % 2 != 0 {
                return Outcome::reply(err("ERR syntax error"));
            }
            for pair in argv[2..].chunks(2) {
                let value = String::from_utf8_lossy(&pair[1]).into_owned();
                match upper(&pair[0]).as_str() {
                    "ID" => match value.parse::<i64>() {
                        Ok(id) if id > 0 => ids.retain(|c| *c == id as u64),
                        _ => return Outcome::reply(err("ERR client-id should be greater than 0")),
                    },
                    "ADDR" => ids.retain(|id| self.sessions.get(id).is_some_and(|s| s.addr.to_string() == value)),
                    "LADDR" => {
                        if value != local {
                            ids.clear();
                        }
                    }
                    "USER" => {
                        if self.acl.get(&value).is_none() {
                            return Outcome::reply(err(format!("ERR No such user '{value}'")));
                        }
                        ids.retain(|id| self.sessions.get(id).is_some_and(|s| s.identity.user == value));
                    }
                    "TYPE" => {
                        let pubsub = match value.to_ascii_lowercase().as_str() {
                            "normal" => false,
                            "pubsub" => true,
                            "master" | "replica" | "slave" => {
                                ids.clear();
                                continue;
                            }
                            _ => return Outcome::reply(err(format!("ERR Unknown client type '{value}'"))),
                        };
                        ids.retain(|id| self.is_pubsub(*id) == pubsub);
                    }
                    "SKIPME" => match value.to_ascii_lowercase().as_str() {
                        "yes" => skipme = true,
                        "no" => skipme = false,
                        _ => return Outcome::reply(err("ERR syntax error")),
                    },
                    _ => return Outcome::reply(err("ERR syntax error")),
                }
            }
        }
        if skipme {
            ids.retain(|id| *id != conn);
        }
        let mut killed_self = false;
        for id in &ids {
            if *id == conn {
                // Closed once this reply is written.
                killed_self = true;
            } else if let Some(session) = self.sessions.get(id) {
                session.control.kill();
                self.forget_session(*id);
            }
        }
        let reply = if old_style {
            if ids.is_empty() {
                err("ERR No such client")
            } else {
                ok()
            }
        } else {
            int(ids.len())
        };
        Outcome {
            close: killed_self,
            ..Outcome::reply(reply)
        }
    }

    fn client_list(&self, ids: &[u64]) -> String {
        let mut out = String::new();
        for id in ids {
            let Some(s) = self.sessions.get(id) else { continue };
            let lossy = |v: &Option<Bytes>| {
                v.as_ref()
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .unwrap_or_default()
            };
            let mut flags = String::new();
            if s.multi.is_some() {
                flags.push('x');
            }
            if s.blocked.is_some() {
                flags.push('b');
            }
            if !s.channels.is_empty() || !s.patterns.is_empty() {
                flags.push('P');
            }
            if s.watch_dirty {
                flags.push('d');
            }
            if flags.is_empty() {
                flags.push('N');
            }
            let omem = s.control.output_bytes();
            let qbuf = s.control.query_bytes();
            out.push_str(&format!(
                "id={id} addr={} laddr={} fd=0 name={} age={} idle={} flags={flags} db={} sub={} psub={} ssub=0 multi={} qbuf={qbuf} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={omem} tot-mem={} events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={} tot-cmds={}\n",
                s.addr,
                self.shared.local_addr,
                lossy(&s.name),
                s.created.elapsed().as_secs(),
                self.now.saturating_duration_since(s.last_active).as_secs(),
                s.db,
                s.channels.len(),
                s.patterns.len(),
                s.multi.as_ref().map_or(-1, |t| t.queued.len() as i64),
                omem + qbuf,
                if s.last_command == "NULL" { "NULL".to_owned() } else { s.last_command.to_owned() },
                s.identity.user,
                if s.protocol == Protocol::Resp3 { 3 } else { 2 },
                lossy(&s.lib_name),
                lossy(&s.lib_ver),
                s.commands,
            ));
        }
        out
    }

    /// DEBUG SLEEP seconds: stalls the execution thread, as Redis stalls
    /// its main thread.
    pub(super) fn debug_sleep(&self, arg: &[u8]) -> Reply {
        let Some(seconds) = std::str::from_utf8(arg)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite())
        else {
            return err("ERR value is not a valid float");
        };
        if seconds > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(seconds.min(3600.0)));
        }
        ok()
    }
}

pub(crate) fn validate_client_name(name: &[u8]) -> Result<(), Reply> {
    if name.iter().any(|b| *b <= b' ' || *b > b'~') {
        return Err(err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

fn unknown_subcommand(sub: &[u8], command: &str) -> Reply {
    err(format!(
        "ERR unknown subcommand '{}'. Try {command} HELP.",
        String::from_utf8_lossy(sub)
    ))
}

fn help(lines: &[&str]) -> Reply {
    Reply::Array(lines.iter().map(|line| Reply::SimpleString((*line).into())).collect())
}

fn unix_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Every parameter of Redis 7.0.15 with its default, from `CONFIG GET *`.
const REDIS_DEFAULTS: &[(&str, &str)] = &[
    ("acl-pubsub-default", "resetchannels"),
    ("aclfile", ""),
    ("acllog-max-len", "128"),
    ("active-defrag-cycle-max", "25"),
    ("active-defrag-cycle-min", "1"),
    ("active-defrag-ignore-bytes", "104857600"),
    ("active-defrag-max-scan-fields", "1000"),
    ("active-defrag-threshold-lower", "10"),
    ("active-defrag-threshold-upper", "100"),
    ("active-expire-effort", "1"),
    ("activedefrag", "no"),
    ("activerehashing", "yes"),
    ("always-show-logo", "no"),
    ("aof-disable-auto-gc", "no"),
    ("aof-load-truncated", "yes"),
    ("aof-rewrite-incremental-fsync", "yes"),
    ("aof-timestamp-enabled", "no"),
    ("aof-use-rdb-preamble", "yes"),
    ("aof_rewrite_cpulist", ""),
    ("appenddirname", "appendonlydir"),
    ("appendfilename", "appendonly.aof"),
    ("appendfsync", "everysec"),
    ("appendonly", "no"),
    ("auto-aof-rewrite-min-size", "67108864"),
    ("auto-aof-rewrite-percentage", "100"),
    ("bgsave_cpulist", ""),
    ("bind", "* -::*"),
    ("bind-source-addr", ""),
    ("bio_cpulist", ""),
    ("busy-reply-threshold", "5000"),
    (
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    ("client-query-buffer-limit", "1073741824"),
    ("cluster-allow-pubsubshard-when-down", "yes"),
    ("cluster-allow-reads-when-down", "no"),
    ("cluster-allow-replica-migration", "yes"),
    ("cluster-announce-bus-port", "0"),
    ("cluster-announce-hostname", ""),
    ("cluster-announce-ip", ""),
    ("cluster-announce-port", "0"),
    ("cluster-announce-tls-port", "0"),
    ("cluster-config-file", "nodes.conf"),
    ("cluster-enabled", "no"),
    ("cluster-link-sendbuf-limit", "0"),
    ("cluster-migration-barrier", "1"),
    ("cluster-node-timeout", "15000"),
    ("cluster-port", "0"),
    ("cluster-preferred-endpoint-type", "ip"),
    ("cluster-replica-no-failover", "no"),
    ("cluster-replica-validity-factor", "10"),
    ("cluster-require-full-coverage", "yes"),
    ("cluster-slave-no-failover", "no"),
    ("cluster-slave-validity-factor", "10"),
    ("crash-log-enabled", "yes"),
    ("crash-memcheck-enabled", "yes"),
    ("daemonize", "yes"),
    ("databases", "16"),
    ("dbfilename", "dump.rdb"),
    ("dir", "/work/main"),
    ("disable-thp", "yes"),
    ("dynamic-hz", "yes"),
    ("enable-debug-command", "no"),
    ("enable-module-command", "no"),
    ("enable-protected-configs", "no"),
    ("hash-max-listpack-entries", "512"),
    ("hash-max-listpack-value", "64"),
    ("hash-max-ziplist-entries", "512"),
    ("hash-max-ziplist-value", "64"),
    ("hll-sparse-max-bytes", "3000"),
    ("hz", "10"),
    ("ignore-warnings", ""),
    ("io-threads", "1"),
    ("io-threads-do-reads", "no"),
    ("jemalloc-bg-thread", "yes"),
    ("latency-monitor-threshold", "0"),
    ("latency-tracking", "yes"),
    ("latency-tracking-info-percentiles", "50 99 99.9"),
    ("lazyfree-lazy-eviction", "no"),
    ("lazyfree-lazy-expire", "no"),
    ("lazyfree-lazy-server-del", "no"),
    ("lazyfree-lazy-user-del", "no"),
    ("lazyfree-lazy-user-flush", "no"),
    ("lfu-decay-time", "1"),
    ("lfu-log-factor", "10"),
    ("list-compress-depth", "0"),
    ("list-max-listpack-size", "-2"),
    ("list-max-ziplist-size", "-2"),
    ("logfile", ""),
    ("loglevel", "notice"),
    ("lua-time-limit", "5000"),
    ("masterauth", ""),
    ("masteruser", ""),
    ("maxclients", "10000"),
    ("maxmemory", "0"),
    ("maxmemory-clients", "0"),
    ("maxmemory-eviction-tenacity", "10"),
    ("maxmemory-policy", "noeviction"),
    ("maxmemory-samples", "5"),
    ("min-replicas-max-lag", "10"),
    ("min-replicas-to-write", "0"),
    ("min-slaves-max-lag", "10"),
    ("min-slaves-to-write", "0"),
    ("no-appendfsync-on-rewrite", "no"),
    ("notify-keyspace-events", ""),
    ("oom-score-adj", "no"),
    ("oom-score-adj-values", "0 200 800"),
    ("pidfile", "/var/run/redis.pid"),
    ("port", "16380"),
    ("proc-title-template", "{title} {listen-addr} {server-mode}"),
    ("propagation-error-behavior", "ignore"),
    ("protected-mode", "yes"),
    ("proto-max-bulk-len", "536870912"),
    ("rdb-del-sync-files", "no"),
    ("rdb-save-incremental-fsync", "yes"),
    ("rdbchecksum", "yes"),
    ("rdbcompression", "yes"),
    ("repl-backlog-size", "1048576"),
    ("repl-backlog-ttl", "3600"),
    ("repl-disable-tcp-nodelay", "no"),
    ("repl-diskless-load", "disabled"),
    ("repl-diskless-sync", "yes"),
    ("repl-diskless-sync-delay", "5"),
    ("repl-diskless-sync-max-replicas", "0"),
    ("repl-ping-replica-period", "10"),
    ("repl-ping-slave-period", "10"),
    ("repl-timeout", "60"),
    ("replica-announce-ip", ""),
    ("replica-announce-port", "0"),
    ("replica-announced", "yes"),
    ("replica-ignore-disk-write-errors", "no"),
    ("replica-ignore-maxmemory", "yes"),
    ("replica-lazy-flush", "no"),
    ("replica-priority", "100"),
    ("replica-read-only", "yes"),
    ("replica-serve-stale-data", "yes"),
    ("replicaof", ""),
    ("requirepass", ""),
    ("sanitize-dump-payload", "no"),
    ("save", ""),
    ("server_cpulist", ""),
    ("set-max-intset-entries", "512"),
    ("set-proc-title", "yes"),
    ("shutdown-on-sigint", "default"),
    ("shutdown-on-sigterm", "default"),
    ("shutdown-timeout", "10"),
    ("slave-announce-ip", ""),
    ("slave-announce-port", "0"),
    ("slave-ignore-maxmemory", "yes"),
    ("slave-lazy-flush", "no"),
    ("slave-priority", "100"),
    ("slave-read-only", "yes"),
    ("slave-serve-stale-data", "yes"),
    ("slaveof", ""),
    ("slowlog-log-slower-than", "10000"),
    ("slowlog-max-len", "128"),
    ("socket-mark-id", "0"),
    ("stop-writes-on-bgsave-error", "yes"),
    ("stream-node-max-bytes", "4096"),
    ("stream-node-max-entries", "100"),
    ("supervised", "no"),
    ("syslog-enabled", "no"),
    ("syslog-facility", "local0"),
    ("syslog-ident", "redis"),
    ("tcp-backlog", "511"),
    ("tcp-keepalive", "300"),
    ("timeout", "0"),
    ("tls-auth-clients", "yes"),
    ("tls-ca-cert-dir", ""),
    ("tls-ca-cert-file", ""),
    ("tls-cert-file", ""),
    ("tls-ciphers", ""),
    ("tls-ciphersuites", ""),
    ("tls-client-cert-file", ""),
    ("tls-client-key-file", ""),
    ("tls-client-key-file-pass", ""),
    ("tls-cluster", "no"),
    ("tls-dh-params-file", ""),
    ("tls-key-file", ""),
    ("tls-key-file-pass", ""),
    ("tls-port", "0"),
    ("tls-prefer-server-ciphers", "no"),
    ("tls-protocols", ""),
    ("tls-replication", "no"),
    ("tls-session-cache-size", "20480"),
    ("tls-session-cache-timeout", "300"),
    ("tls-session-caching", "yes"),
    ("tracking-table-max-keys", "1000000"),
    ("unixsocket", ""),
    ("unixsocketperm", "0"),
    ("zset-max-listpack-entries", "128"),
    ("zset-max-listpack-value", "64"),
    ("zset-max-ziplist-entries", "128"),
    ("zset-max-ziplist-value", "64"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_validate_like_redis() {
        assert_eq!(validate("appendonly", b"YES"), Ok("yes".into()));
        assert!(validate("appendonly", b"maybe").is_err());
        assert_eq!(validate("maxmemory", b"10mb"), Ok((10 * 1024 * 1024).to_string()));
        assert!(validate("maxmemory", b"10x").is_err());
        assert!(validate("maxclients", b"abc").is_err());
        assert!(validate("databases", b"3").is_err());
        assert_eq!(validate("save", b""), Ok(String::new()));
    }

    #[test]
    fn reply_skip_silences_two_replies() {
        let mut mode = ReplyMode::Skip(2);
        assert!(mode.silences_next());
        assert!(mode.silences_next());
        assert!(!mode.silences_next());
    }
}
