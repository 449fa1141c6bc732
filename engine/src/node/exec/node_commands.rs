//! Commands that need connection or node state rather than the keyspace:
//! connection handling (PING, HELLO, SELECT, CLIENT...), transactions
//! (MULTI/EXEC/DISCARD), introspection (INFO, ROLE, DEBUG DIGEST) and
//! leadership (WAIT, FAILOVER, SHUTDOWN).

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::admin::validate_client_name;
use super::{Exec, Outcome, Transaction};
use crate::commands::{self, CommandSpec};
use crate::node::info;
use crate::node::role::RoleCommand;
use crate::node::shared::Role;
use crate::resp::{Protocol, Reply};

/// The Redis version Memoir answers to (HELLO, INFO): the command surface
/// and error texts follow Redis 7.0.
pub const REDIS_COMPAT_VERSION: &str = "7.0.15";

fn ok() -> Reply {
    Reply::SimpleString("OK".into())
}

fn err(text: impl Into<String>) -> Reply {
    Reply::Error(text.into())
}

fn parse_i64(arg: &[u8]) -> Option<i64> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

fn not_an_integer() -> Reply {
    err("ERR value is not an integer or out of range")
}

fn unknown_subcommand(sub: &[u8], command: &str) -> Reply {
    err(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        command.to_ascii_uppercase()
    ))
}

fn upper(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).to_ascii_uppercase()
}

impl Exec {
    pub(super) fn node_command(&mut self, conn: u64, spec: &'static CommandSpec, argv: &[Bytes]) -> Outcome {
        match spec.name {
            // RESP2 clients with subscriptions get Redis's pub/sub form.
            "ping" if argv.len() <= 2 && self.in_resp2_pubsub_mode(conn) => Outcome::reply(Reply::Array(vec![
                Reply::Bulk(Bytes::from_static(b"pong")),
                Reply::Bulk(argv.get(1).cloned().unwrap_or_default()),
            ])),
            "ping" => Outcome::reply(match argv.get(1) {
                Some(message) if argv.len() == 2 => Reply::Bulk(message.clone()),
                Some(_) => commands::arity_error("ping"),
                None => Reply::SimpleString("PONG".into()),
            }),
            "echo" => Outcome::reply(Reply::Bulk(argv[1].clone())),
            "quit" => Outcome {
                close: true,
                ..Outcome::reply(ok())
            },
            "hello" => Outcome::reply(self.hello(conn, argv)),
            "select" => Outcome::reply(self.select(conn, argv)),
            "reset" => {
                self.unwatch_all(conn);
                self.unsubscribe_all(conn);
                if let Some(session) = self.sessions.get_mut(&conn) {
                    session.db = 0;
                    session.protocol = Protocol::Resp2;
                    session.name = None;
                    session.multi = None;
                    session.reply_mode = super::admin::ReplyMode::On;
                }
                // Back to the default user, authenticated only if it needs no password.
                let identity = self.default_identity();
                self.set_identity(conn, identity);
                Outcome::reply(Reply::SimpleString("RESET".into()))
            }
            "multi" => Outcome::reply(match self.sessions.get_mut(&conn) {
                Some(session) if session.multi.is_some() => err("ERR MULTI calls can not be nested"),
                Some(session) => {
                    session.multi = Some(Transaction::default());
                    ok()
                }
                None => ok(),
            }),
            "discard" => Outcome::reply(match self.sessions.get_mut(&conn).and_then(|s| s.multi.take()) {
                Some(_) => {
                    self.unwatch_all(conn);
                    ok()
                }
                None => err("ERR DISCARD without MULTI"),
            }),
            "exec" => self.exec_transaction(conn),
            "watch" => Outcome::reply(if self.sessions.get(&conn).is_some_and(|s| s.multi.is_some()) {
                err("ERR WATCH inside MULTI is not allowed")
            } else {
                let db = self.sessions.get(&conn).map_or(0, |s| s.db);
                self.watch(conn, db, &argv[1..]);
                ok()
            }),
            "unwatch" => {
                self.unwatch_all(conn);
                Outcome::reply(ok())
            }
            "subscribe" => self.subscribe(conn, argv, false),
            "psubscribe" => self.subscribe(conn, argv, true),
            "unsubscribe" => self.unsubscribe(conn, argv, false),
            "punsubscribe" => self.unsubscribe(conn, argv, true),
            "publish" => Outcome::reply(self.publish(conn, &argv[1], &argv[2])),
            "pubsub" => Outcome::reply(self.pubsub_command(argv)),
            "slowlog" => Outcome::reply(self.slowlog(argv)),
            "latency" => Outcome::reply(self.latency(argv)),
            "memory" => self.memory(conn, argv),
            "info" => Outcome::reply(self.info(argv)),
            "role" => Outcome::reply(self.role_reply()),
            "wait" => Outcome::reply(self.wait(argv)),
            "client" => self.client(conn, argv),
            "command" => Outcome::reply(commands::command_command(argv)),
            "debug" => self.debug(argv),
            "config" => Outcome::reply(self.config(argv)),
            "auth" => Outcome::reply(self.auth(conn, argv)),
            "acl" => {
                let (reply, close) = self.acl_command(conn, argv);
                Outcome {
                    close,
                    ..Outcome::reply(reply)
                }
            }
            "time" => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                Outcome::reply(Reply::Array(vec![
                    Reply::Bulk(Bytes::from(now.as_secs().to_string())),
                    Reply::Bulk(Bytes::from(now.subsec_micros().to_string())),
                ]))
            }
            "lastsave" => Outcome::reply(Reply::Integer(self.last_save_unix_secs())),
            "bgsave" => Outcome::reply(self.bgsave(argv)),
            // Snapshots are built off-box by the snapshot service; this node
            // cannot block until one is done, and saying OK before it is
            // would be a lie about durability of the snapshot.
            "save" => Outcome::reply(err(
                "ERR SAVE is not supported: snapshots are taken off-box by the snapshot service; use BGSAVE",
            )),
            "readonly" | "readwrite" => Outcome::reply(err("ERR This instance has cluster support disabled")),
            "shutdown" => {
                if argv.iter().skip(1).any(|a| a.eq_ignore_ascii_case(b"abort")) {
                    return Outcome::reply(err("ERR No shutdown in progress."));
                }
                self.shared.request_shutdown();
                Outcome {
                    close: true,
                    silent: true,
                    ..Outcome::reply(Reply::Null)
                }
            }
            "failover" => Outcome::reply(self.failover(argv)),
            other => Outcome::reply(err(format!("ERR '{other}' is not supported by Memoir yet"))),
        }
    }

    fn hello(&mut self, conn: u64, argv: &[Bytes]) -> Reply {
        let mut protocol = self.sessions.get(&conn).map_or(Protocol::Resp2, |s| s.protocol);
        let mut name = None;
        let mut credentials = None;
        if let Some(version) = argv.get(1) {
            protocol = match parse_i64(version) {
                Some(2) => Protocol::Resp2,
                Some(3) => Protocol::Resp3,
                Some(_) => return err("NOPROTO unsupported protocol version"),
                None => return err("ERR Protocol version is not an integer or out of range"),
            };
            let mut i = 2;
            while i < argv.len() {
                let more = argv.len() - i - 1;
                if argv[i].eq_ignore_ascii_case(b"auth") && more >= 2 {
                    credentials = Some((&argv[i + 1], &argv[i + 2]));
                    i += 3;
                } else if argv[i].eq_ignore_ascii_case(b"setname") && more >= 1 {
                    name = Some(argv[i + 1].clone());
                    i += 2;
                } else {
                    return err(format!(
                        "ERR Syntax error in HELLO option '{}'",
                        String::from_utf8_lossy(&argv[i])
                    ));
                }
            }
        }
        // As Redis: authenticate first, then require authentication, then
        // validate the name.
        if let Err(refusal) = self.hello_auth(conn, credentials) {
            return refusal;
        }
        if let Some(name) = &name {
            if let Err(e) = validate_client_name(name) {
                return e;
            }
        }
        let role = match self.shared.role() {
            Role::Primary => "master",
            Role::Replica => "replica",
        };
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.protocol = protocol;
            if name.is_some() {
                session.name = name;
            }
        }
        let text = |s: &str| Reply::Bulk(Bytes::from(s.to_owned()));
        Reply::Map(vec![
            (text("server"), text("redis")),
            (text("version"), text(REDIS_COMPAT_VERSION)),
            (
                text("proto"),
                Reply::Integer(if protocol == Protocol::Resp3 { 3 } else { 2 }),
            ),
            (text("id"), Reply::Integer(i64::try_from(conn).unwrap_or(i64::MAX))),
            (text("mode"), text("standalone")),
            (text("role"), text(role)),
            (text("modules"), Reply::Array(Vec::new())),
        ])
    }

    fn select(&mut self, conn: u64, argv: &[Bytes]) -> Reply {
        let Some(index) = parse_i64(&argv[1]) else {
            return not_an_integer();
        };
        if index < 0 || index >= self.shared.config.databases as i64 {
            return err("ERR DB index is out of range");
        }
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.db = index as usize;
        }
        ok()
    }

    fn exec_transaction(&mut self, conn: u64) -> Outcome {
        let Some(tx) = self.sessions.get_mut(&conn).and_then(|s| s.multi.take()) else {
            return Outcome::reply(err("ERR EXEC without MULTI"));
        };
        let watch_failed = self.watch_failed(conn);
        self.unwatch_all(conn);
        if tx.errored {
            return Outcome::reply(err("EXECABORT Transaction discarded because of previous errors."));
        }
        if watch_failed {
            // A watched key changed since WATCH: nil, nothing runs.
            return Outcome::reply(Reply::NullArray);
        }
        // Every command runs in this one step of the execution thread, so
        // no other client interleaves and all effects land in one batch:
        // one journal record, applied all-or-nothing by replicas.
        let mut replies = Vec::with_capacity(tx.queued.len());
        let mut barrier = 0;
        let mut close = false;
        self.in_exec = true;
        self.exec_effect_bytes = 0;
        for argv in tx.queued {
            // ACL rules may have changed since the command was queued.
            let outcome = match (commands::lookup(&argv[0]), self.exec_time_refusal(conn, &argv)) {
                (Some(_), Some(refusal)) => Outcome::reply(refusal),
                (Some(spec), None) => self.dispatch(conn, spec, &argv),
                (None, _) => Outcome::reply(commands::unknown_command_error(&argv)),
            };
            barrier = barrier.max(outcome.barrier);
            close |= outcome.close;
            if let Reply::Error(text) = &outcome.reply {
                self.admin.count_error(text);
            }
            // SUBSCRIBE inside MULTI answers once per channel, flattened.
            replies.extend(outcome.extra);
            replies.push(outcome.reply);
        }
        self.in_exec = false;
        Outcome {
            close,
            ..Outcome::with_barrier(Reply::Array(replies), barrier)
        }
    }

    fn info(&self, argv: &[Bytes]) -> Reply {
        let sections: Vec<String> = argv[1..]
            .iter()
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .collect();
        let extra = info::Extra {
            clients: self.sessions.len(),
            max_input_buffer: self
                .sessions
                .values()
                .map(|s| s.control.query_bytes())
                .max()
                .unwrap_or(0),
            max_output_buffer: self
                .sessions
                .values()
                .map(|s| s.control.output_bytes())
                .max()
                .unwrap_or(0),
            blocked_clients: self.blocked_clients(),
            pubsub_channels: self.pubsub_channel_count(),
            pubsub_patterns: self.pubsub_pattern_count(),
            watching_clients: self.sessions.values().filter(|s| !s.watched.is_empty()).count(),
            watched_keys: self.watchers.len(),
            total_error_replies: self.admin.total_error_replies(),
            counters: self.admin.counters(self.shared.stat_counters()),
            acl_denied: [
                self.denials.auth,
                self.denials.cmd,
                self.denials.key,
                self.denials.channel,
            ],
            commandstats: self.admin.commandstats(),
            errorstats: self.admin.errorstats(),
            access: self.ks.access_stats(),
            instantaneous_ops_per_sec: self.admin.instantaneous_ops_per_sec(),
            instantaneous_kbps: self.admin.instantaneous_kbps(),
            expiry: self.admin.expiry_stats(),
            startup_memory: self.admin.startup_memory(),
            allocated: self.memory.allocated_now(),
            maxmemory: self.memory.maxmemory,
            maxmemory_policy: self.memory.policy.name(),
            mem_not_counted_for_evict: self.journal_bytes(),
        };
        let text = info::render(&self.shared, &self.ks, &extra, &sections);
        Reply::Verbatim {
            format: *b"txt",
            text: Bytes::from(text),
        }
    }

    fn role_reply(&self) -> Reply {
        let offset = i64::try_from(self.shared.applied_seq.load(Ordering::Acquire)).unwrap_or(i64::MAX);
        match self.shared.role() {
            Role::Primary => Reply::Array(vec![
                Reply::Bulk(Bytes::from_static(b"master")),
                Reply::Integer(offset),
                Reply::Array(Vec::new()),
            ]),
            Role::Replica => {
                let primary = self.shared.primary_info();
                let (host, port) = split_address(&primary.address);
                let state = if self.shared.loading.load(Ordering::Acquire) {
                    "sync"
                } else {
                    "connected"
                };
                Reply::Array(vec![
                    Reply::Bulk(Bytes::from_static(b"slave")),
                    Reply::Bulk(Bytes::from(host)),
                    Reply::Integer(port),
                    Reply::Bulk(Bytes::from(state)),
                    Reply::Integer(offset),
                ])
            }
        }
    }

    /// `WAIT numreplicas timeout`: a write is acknowledged only once a
    /// quorum of journal replicas holds it, so there is nothing to wait
    /// for; the answer counts the journal replicas other than the raft
    /// leader that hold everything committed so far (as of the last status
    /// poll, so it may undercount, never overcount).
    fn wait(&self, argv: &[Bytes]) -> Reply {
        if self.shared.role() != Role::Primary {
            return err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
        }
        if parse_i64(&argv[1]).is_none() {
            return not_an_integer();
        }
        match parse_i64(&argv[2]) {
            None => return err("ERR timeout is not an integer or out of range"),
            Some(t) if t < 0 => return err("ERR timeout is negative"),
            Some(_) => {}
        }
        let committed = self.commit_rx.borrow().committed_seq.0;
        let matched = self
            .shared
            .journal_matched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let holding = matched.iter().filter(|m| **m >= committed).count();
        Reply::Integer(holding.saturating_sub(1) as i64)
    }

    fn debug(&self, argv: &[Bytes]) -> Outcome {
        let digest = || {
            let digest = self.ks.digest();
            Bytes::from(digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
        };
        match upper(&argv[1]).as_str() {
            // The digest covers writes still in flight, so the reply waits
            // for the newest batch like any whole-dataset read.
            "DIGEST" if argv.len() == 2 => Outcome::with_barrier(Reply::Bulk(digest()), self.primary_barrier()),
            // Memoir's: the digest plus the journal seq it reflects.
            "DIGEST-SEQ" if argv.len() == 2 => {
                let in_flight = self.shared.role() == Role::Primary
                    && self.newest_write_batch() > self.commit_rx.borrow().committed;
                if in_flight {
                    return Outcome::reply(err("TRYAGAIN writes in flight; the digest has no seq yet"));
                }
                let seq = self.shared.applied_seq.load(Ordering::Acquire);
                Outcome::reply(Reply::Array(vec![
                    Reply::Bulk(digest()),
                    Reply::Integer(i64::try_from(seq).unwrap_or(i64::MAX)),
                ]))
            }
            "SLEEP" if argv.len() == 3 => Outcome::reply(self.debug_sleep(&argv[2])),
            _ => Outcome::reply(unknown_subcommand(&argv[1], "debug")),
        }
    }

    fn primary_barrier(&self) -> u64 {
        if self.shared.role() == Role::Primary {
            self.newest_write_batch()
        } else {
            0
        }
    }

    fn failover(&self, argv: &[Bytes]) -> Reply {
        if self.shared.role() != Role::Primary {
            return err("ERR FAILOVER is not valid when server is a replica.");
        }
        if argv.len() > 1 && argv[1].eq_ignore_ascii_case(b"abort") {
            return err("ERR No failover in progress.");
        }
        let _ = self.role_commands.send(RoleCommand::Failover);
        ok()
    }
}

/// Snapshot commands: forwarded to the snapshot service through the
/// node's snapshot source (the node itself never writes to disk).
impl Exec {
    fn bgsave(&self, argv: &[Bytes]) -> Reply {
        let scheduled = match argv.get(1) {
            None => false,
            Some(arg) if arg.eq_ignore_ascii_case(b"schedule") && argv.len() == 2 => true,
            Some(_) => return err("ERR syntax error"),
        };
        let Some(source) = self.shared.config.snapshots.0.as_ref() else {
            return err("ERR snapshots are not configured on this node (start it with --snapshot-store DIR)");
        };
        match source.request_snapshot() {
            Ok(()) if scheduled => Reply::SimpleString("Background saving scheduled".into()),
            Ok(()) => Reply::SimpleString("Background saving started".into()),
            Err(reason) => err(format!("ERR could not request a snapshot: {reason}")),
        }
    }

    /// The newest snapshot's time, or the node's start when there is none.
    fn last_save_unix_secs(&self) -> i64 {
        self.shared
            .snapshot_summary()
            .newest
            .map_or_else(|| self.shared.started_unix_secs(), |(_, unix_ms, _)| unix_ms / 1000)
    }
}

fn split_address(address: &str) -> (String, i64) {
    match address.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.parse().unwrap_or(0)),
        None => (address.to_owned(), 0),
    }
}
