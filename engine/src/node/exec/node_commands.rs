//! Commands that need connection or node state rather than the keyspace:
//! connection handling (PING, HELLO, SELECT, CLIENT...), transactions
//! (MULTI/EXEC/DISCARD), introspection (INFO, ROLE, DEBUG DIGEST) and
//! leadership (WAIT, FAILOVER, SHUTDOWN).

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

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
                if let Some(session) = self.sessions.get_mut(&conn) {
                    session.db = 0;
                    session.protocol = Protocol::Resp2;
                    session.name = None;
                    session.multi = None;
                }
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
                Some(_) => ok(),
                None => err("ERR DISCARD without MULTI"),
            }),
            "exec" => self.exec_transaction(conn),
            "watch" => Outcome::reply(if self.sessions.get(&conn).is_some_and(|s| s.multi.is_some()) {
                err("ERR WATCH inside MULTI is not allowed")
            } else {
                err("ERR WATCH is not supported yet by Memoir")
            }),
            "unwatch" => Outcome::reply(ok()),
            "info" => Outcome::reply(self.info(argv)),
            "role" => Outcome::reply(self.role_reply()),
            "wait" => Outcome::reply(self.wait(argv)),
            "client" => Outcome::reply(self.client(conn, argv)),
            "command" => Outcome::reply(commands::command_command(argv)),
            "debug" => self.debug(argv),
            "config" => Outcome::reply(self.config(argv)),
            "auth" => Outcome::reply(auth(argv)),
            "time" => {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                Outcome::reply(Reply::Array(vec![
                    Reply::Bulk(Bytes::from(now.as_secs().to_string())),
                    Reply::Bulk(Bytes::from(now.subsec_micros().to_string())),
                ]))
            }
            "lastsave" => Outcome::reply(Reply::Integer(self.shared.started_unix_secs())),
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
                    if let Reply::Error(e) =
                        auth(&[Bytes::from_static(b"auth"), argv[i + 1].clone(), argv[i + 2].clone()])
                    {
                        return Reply::Error(e);
                    }
                    i += 3;
                } else if argv[i].eq_ignore_ascii_case(b"setname") && more >= 1 {
                    if let Err(e) = validate_client_name(&argv[i + 1]) {
                        return e;
                    }
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
        if tx.errored {
            return Outcome::reply(err("EXECABORT Transaction discarded because of previous errors."));
        }
        // Every command runs in this one step of the execution thread, so
        // no other client interleaves and all effects land in one batch:
        // one journal record, applied all-or-nothing by replicas.
        let mut replies = Vec::with_capacity(tx.queued.len());
        let mut barrier = 0;
        for argv in tx.queued {
            let outcome = match commands::lookup(&argv[0]) {
                Some(spec) => self.dispatch(conn, spec, &argv),
                None => Outcome::reply(commands::unknown_command_error(&argv)),
            };
            barrier = barrier.max(outcome.barrier);
            replies.push(outcome.reply);
        }
        Outcome::with_barrier(Reply::Array(replies), barrier)
    }

    fn info(&self, argv: &[Bytes]) -> Reply {
        let sections: Vec<String> = argv[1..]
            .iter()
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .collect();
        let text = info::render(&self.shared, &self.ks, self.sessions.len(), &sections);
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

    fn client(&mut self, conn: u64, argv: &[Bytes]) -> Reply {
        let sub = upper(&argv[1]);
        match (sub.as_str(), argv.len()) {
            ("ID", 2) => Reply::Integer(i64::try_from(conn).unwrap_or(i64::MAX)),
            ("GETNAME", 2) => match self.sessions.get(&conn).and_then(|s| s.name.clone()) {
                Some(name) => Reply::Bulk(name),
                None => Reply::Null,
            },
            ("SETNAME", 3) => {
                if let Err(e) = validate_client_name(&argv[2]) {
                    return e;
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
                    return ok();
                };
                match upper(&argv[2]).as_str() {
                    "LIB-NAME" => session.lib_name = Some(value),
                    "LIB-VER" => session.lib_ver = Some(value),
                    _ => {
                        return err(format!(
                            "ERR Unrecognized option '{}'",
                            String::from_utf8_lossy(&argv[2])
                        ))
                    }
                }
                ok()
            }
            ("LIST", _) => Reply::Verbatim {
                format: *b"txt",
                text: Bytes::from(self.client_list(None)),
            },
            ("INFO", 2) => Reply::Verbatim {
                format: *b"txt",
                text: Bytes::from(self.client_list(Some(conn))),
            },
            ("NO-EVICT" | "NO-TOUCH", 3) => ok(),
            ("HELP", _) => Reply::Array(
                [
                    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "ID",
                    "GETNAME",
                    "SETNAME <name>",
                    "SETINFO <LIB-NAME|LIB-VER> <value>",
                    "LIST",
                    "INFO",
                ]
                .iter()
                .map(|line| Reply::SimpleString((*line).into()))
                .collect(),
            ),
            _ => unknown_subcommand(&argv[1], "client"),
        }
    }

    fn client_list(&self, only: Option<u64>) -> String {
        let mut ids: Vec<&u64> = self
            .sessions
            .keys()
            .filter(|id| only.is_none_or(|o| o == **id))
            .collect();
        ids.sort();
        let mut out = String::new();
        for id in ids {
            let Some(s) = self.sessions.get(id) else { continue };
            let name = s
                .name
                .as_ref()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default();
            let lib = |v: &Option<Bytes>| {
                v.as_ref()
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .unwrap_or_default()
            };
            out.push_str(&format!(
                "id={id} addr={} laddr={} fd=0 name={name} age={} idle=0 flags={} db={} sub=0 psub=0 ssub=0 multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=NULL user=default redir=-1 resp={} lib-name={} lib-ver={} tot-cmds={}\n",
                s.addr,
                self.shared.local_addr,
                s.created.elapsed().as_secs(),
                if s.multi.is_some() { "x" } else { "N" },
                s.db,
                s.multi.as_ref().map_or(-1, |t| t.queued.len() as i64),
                if s.protocol == Protocol::Resp3 { 3 } else { 2 },
                lib(&s.lib_name),
                lib(&s.lib_ver),
                s.commands,
            ));
        }
        out
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

    fn config(&self, argv: &[Bytes]) -> Reply {
        match (upper(&argv[1]).as_str(), argv.len()) {
            ("GET", n) if n >= 3 => {
                let params = info::config_params(&self.shared);
                let mut pairs = Vec::new();
                for pattern in &argv[2..] {
                    let pattern = String::from_utf8_lossy(pattern).to_ascii_lowercase();
                    for (name, value) in &params {
                        if glob_match(pattern.as_bytes(), name.as_bytes()) && !pairs.iter().any(|(n, _)| n == name) {
                            pairs.push((name.clone(), value.clone()));
                        }
                    }
                }
                Reply::Map(
                    pairs
                        .into_iter()
                        .map(|(n, v)| (Reply::Bulk(Bytes::from(n)), Reply::Bulk(Bytes::from(v))))
                        .collect(),
                )
            }
            ("SET", n) if n >= 4 && n % 2 == 0 => err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - parameter is read-only in Memoir",
                String::from_utf8_lossy(&argv[2])
            )),
            ("RESETSTAT", 2) => ok(),
            _ => unknown_subcommand(&argv[1], "config"),
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

fn auth(argv: &[Bytes]) -> Reply {
    match argv.len() {
        2 => err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"),
        3 if argv[1].as_ref() == b"default" => ok(),
        3 => err("WRONGPASS invalid username-password pair or user is disabled."),
        _ => commands::arity_error("auth"),
    }
}

fn validate_client_name(name: &[u8]) -> Result<(), Reply> {
    if name.iter().any(|b| *b <= b' ' || *b > b'~') {
        return Err(err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

fn split_address(address: &str) -> (String, i64) {
    match address.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.parse().unwrap_or(0)),
        None => (address.to_owned(), 0),
    }
}

/// Redis-style glob (`*`, `?`) for CONFIG GET patterns.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob_match(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob_match(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob_match(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_globs() {
        assert!(glob_match(b"*", b"maxclients"));
        assert!(glob_match(b"max*", b"maxclients"));
        assert!(glob_match(b"?ave", b"save"));
        assert!(!glob_match(b"max", b"maxclients"));
    }
}
