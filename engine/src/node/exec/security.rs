//! Authentication and authorisation of client commands: the NOAUTH gate,
//! ACL permission checks, AUTH, HELLO's AUTH option, RESET's
//! de-authentication, and the ACL command (users live in `node/acl.rs`).
//!
//! ACL users are this node's configuration: nothing here is journaled, so
//! changes are not replicated to other nodes (as with Redis, where ACL
//! users are per-node configuration too).

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{Exec, Session};
use crate::commands::categories::{self, NAMES};
use crate::commands::{self, flags, table, CommandSpec};
use crate::node::acl::{Denial, DEFAULT_USER};
use crate::resp::Reply;

pub(crate) const NOAUTH: &str = "NOAUTH Authentication required.";
pub(crate) const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
const NO_DEFAULT_PASSWORD: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
const HELLO_NOAUTH: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

fn ok() -> Reply {
    Reply::SimpleString("OK".into())
}

fn err(text: impl Into<String>) -> Reply {
    Reply::Error(text.into())
}

fn bulk(text: impl Into<String>) -> Reply {
    Reply::Bulk(Bytes::from(text.into()))
}

/// INFO stats' `acl_access_denied_*` counters.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DenialStats {
    pub auth: u64,
    pub cmd: u64,
    pub key: u64,
    pub channel: u64,
}

impl DenialStats {
    fn count(&mut self, denial: &Denial) {
        match denial {
            Denial::Command(_) => self.cmd += 1,
            Denial::Key(_) | Denial::SortPattern(_) => self.key += 1,
            Denial::Channel(_) => self.channel += 1,
        }
    }
}

/// Who a connection is: its user, and whether it has authenticated (a
/// connection is authenticated from the start while the default user needs
/// no password, as in Redis).
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub user: String,
    pub authenticated: bool,
}

impl Exec {
    /// The identity of a new (or RESET) connection.
    pub(super) fn default_identity(&self) -> Identity {
        Identity {
            user: DEFAULT_USER.to_owned(),
            authenticated: !self.acl.default_needs_auth(),
        }
    }

    /// The refusal for running `spec` now, before it runs or is queued:
    /// NOAUTH for an unauthenticated connection, NOPERM for an ACL denial.
    pub(super) fn access_refusal(
        &mut self,
        conn: u64,
        position: usize,
        spec: &CommandSpec,
        argv: &[Bytes],
    ) -> Option<Reply> {
        let session = self.sessions.get(&conn)?;
        if !session.identity.authenticated {
            if spec.flags & flags::NO_AUTH == 0 {
                return Some(err(NOAUTH));
            }
            return None;
        }
        let denial = self.permission(session, position, spec, argv).err()?;
        self.denials.count(&denial);
        Some(err(denial.error()))
    }

    fn permission(&self, session: &Session, position: usize, spec: &CommandSpec, argv: &[Bytes]) -> Result<(), Denial> {
        match self.acl.get(&session.identity.user) {
            Some(user) if user.unrestricted() => Ok(()),
            Some(user) => user.check(position, spec, argv),
            // The user was deleted while this connection ran (its
            // connections are closed, but a pipeline may still be queued).
            None => Err(Denial::Command(admin_name(spec, argv))),
        }
    }

    /// Re-checks a queued command at EXEC (ACL rules may have changed).
    pub(super) fn exec_time_refusal(&mut self, conn: u64, argv: &[Bytes]) -> Option<Reply> {
        let position = table::position(&argv[0])?;
        let spec = table::COMMANDS.get(position)?;
        let session = self.sessions.get(&conn)?;
        let denial = self.permission(session, position, spec, argv).err()?;
        self.denials.count(&denial);
        Some(err(denial.error()))
    }

    /// `AUTH [username] password`.
    pub(super) fn auth(&mut self, conn: u64, argv: &[Bytes]) -> Reply {
        let (user, password) = match argv {
            [_, password] => {
                if !self.acl.default_needs_auth() {
                    return err(NO_DEFAULT_PASSWORD);
                }
                (Bytes::from_static(DEFAULT_USER.as_bytes()), password)
            }
            [_, user, password] => (user.clone(), password),
            _ => return err("ERR syntax error"),
        };
        if self.authenticate(conn, &user, password) {
            ok()
        } else {
            err(WRONGPASS)
        }
    }

    fn authenticate(&mut self, conn: u64, user: &[u8], password: &[u8]) -> bool {
        let Some(name) = self.acl.authenticate(user, password).map(|u| u.name().to_owned()) else {
            self.denials.auth += 1;
            tracing::debug!(conn, user = %String::from_utf8_lossy(user), "authentication failed");
            return false;
        };
        self.set_identity(
            conn,
            Identity {
                user: name,
                authenticated: true,
            },
        );
        true
    }

    /// Changes who `conn` is; its connection task learns whether it is
    /// authenticated (its limits depend on it).
    pub(super) fn set_identity(&mut self, conn: u64, identity: Identity) {
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.control.set_authenticated(identity.authenticated);
            session.identity = identity;
        }
    }

    /// HELLO's AUTH option, then the authentication HELLO requires.
    pub(super) fn hello_auth(&mut self, conn: u64, credentials: Option<(&Bytes, &Bytes)>) -> Result<(), Reply> {
        if let Some((user, password)) = credentials {
            if !self.authenticate(conn, user, password) {
                return Err(err(WRONGPASS));
            }
        }
        if self.sessions.get(&conn).is_some_and(|s| !s.identity.authenticated) {
            return Err(err(HELLO_NOAUTH));
        }
        Ok(())
    }

    /// `requirepass` changed: the default user's password follows.
    pub(super) fn set_requirepass(&mut self, password: &[u8]) {
        self.acl.set_default_password(password);
        self.publish_default_user();
    }

    /// What the accept loop needs for protected mode.
    pub(super) fn publish_default_user(&self) {
        let open = self.acl.default_user().is_some_and(|u| u.nopass());
        self.shared.default_user_nopass.store(open, Ordering::Release);
    }

    pub(super) fn whoami(&self, conn: u64) -> String {
        self.sessions
            .get(&conn)
            .map_or_else(|| DEFAULT_USER.to_owned(), |s| s.identity.user.clone())
    }

    /// `ACL subcommand ...`.
    pub(super) fn acl_command(&mut self, conn: u64, argv: &[Bytes]) -> (Reply, bool) {
        let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        let wrong_args = || err(format!("ERR wrong number of arguments for 'acl|{sub}' command"));
        let reply = match (sub.as_str(), argv.len()) {
            ("whoami", 2) => bulk(self.whoami(conn)),
            ("users", 2) => Reply::Array(self.acl.names().map(bulk).collect()),
            ("list", 2) => Reply::Array(self.acl.all().map(|u| bulk(u.describe())).collect()),
            ("setuser", n) if n >= 3 => match self.acl.set_user(&argv[2], &argv[3..]) {
                Ok(()) => {
                    self.publish_default_user();
                    self.close_revoked_subscribers(&String::from_utf8_lossy(&argv[2]));
                    ok()
                }
                Err(e) => err(e.error()),
            },
            ("getuser", 3) => self.getuser(&argv[2]),
            ("deluser", n) if n >= 3 => return self.deluser(conn, &argv[2..]),
            ("cat", 2) => Reply::Array(NAMES.iter().map(|n| bulk(*n)).collect()),
            ("cat", 3) => match categories::by_name(&argv[2]) {
                Some(category) => Reply::Array(
                    categories::units_in(category)
                        .map(|unit| bulk(categories::unit_name(unit)))
                        .collect(),
                ),
                None => err(format!("ERR Unknown category '{}'", String::from_utf8_lossy(&argv[2]))),
            },
            ("genpass", 2 | 3) => genpass(argv.get(2)),
            ("dryrun", n) if n >= 4 => self.dry_run(&argv[2], &argv[3..]),
            ("log", 2 | 3) => match argv.get(2) {
                Some(arg) if arg.eq_ignore_ascii_case(b"reset") => ok(),
                Some(arg)
                    if std::str::from_utf8(arg)
                        .ok()
                        .and_then(|s| s.parse::<i64>().ok())
                        .is_none() =>
                {
                    err("ERR value is out of range, must be positive")
                }
                _ => Reply::Array(Vec::new()),
            },
            ("load" | "save", 2) => err(NO_ACL_FILE),
            ("help", 2) => Reply::Array(
                ACL_HELP
                    .iter()
                    .map(|line| Reply::SimpleString((*line).to_owned()))
                    .collect(),
            ),
            (
                "whoami" | "users" | "list" | "setuser" | "getuser" | "deluser" | "cat" | "genpass" | "dryrun" | "log"
                | "load" | "save" | "help",
                _,
            ) => wrong_args(),
            _ => err(format!(
                "ERR unknown subcommand '{}'. Try ACL HELP.",
                String::from_utf8_lossy(&argv[1])
            )),
        };
        (reply, false)
    }

    /// As Redis: clients of `user` subscribed to a channel or pattern the
    /// user may no longer use are disconnected.
    fn close_revoked_subscribers(&self, user: &str) {
        let Some(rules) = self.acl.get(user) else { return };
        for (conn, session) in &self.sessions {
            if session.identity.user != user {
                continue;
            }
            let revoked = session.channels.iter().any(|c| !rules.may_subscribe(c, false))
                || session.patterns.iter().any(|p| !rules.may_subscribe(p, true));
            if revoked {
                tracing::debug!(conn, user, "subscription no longer permitted; closing the client");
                session.control.kill();
            }
        }
    }

    fn getuser(&self, name: &[u8]) -> Reply {
        let Some(user) = std::str::from_utf8(name).ok().and_then(|n| self.acl.get(n)) else {
            return Reply::Null;
        };
        let key = |k: &str| bulk(k);
        Reply::Map(vec![
            (key("flags"), Reply::Array(user.flags().into_iter().map(bulk).collect())),
            (
                key("passwords"),
                Reply::Array(user.password_hashes().into_iter().map(bulk).collect()),
            ),
            (key("commands"), bulk(user.commands_description())),
            (key("keys"), bulk(user.keys_description())),
            (key("channels"), bulk(user.channels_description())),
            (key("selectors"), Reply::Array(Vec::new())),
        ])
    }

    /// ACL DELUSER: connections authenticated as a deleted user are closed
    /// (this one once the reply is written).
    fn deluser(&mut self, conn: u64, names: &[Bytes]) -> (Reply, bool) {
        let mut deleted = 0;
        let mut close_self = false;
        for name in names {
            let name = String::from_utf8_lossy(name);
            if name == DEFAULT_USER {
                return (err("ERR The 'default' user cannot be removed"), false);
            }
        }
        for name in names {
            let name = String::from_utf8_lossy(name).into_owned();
            if !self.acl.delete(&name) {
                continue;
            }
            deleted += 1;
            for (id, session) in &self.sessions {
                if session.identity.user == name {
                    if *id == conn {
                        close_self = true;
                    } else {
                        session.control.kill();
                    }
                }
            }
        }
        (Reply::Integer(deleted), close_self)
    }

    /// ACL DRYRUN user command arg...: would the user be allowed?
    fn dry_run(&self, user: &[u8], command: &[Bytes]) -> Reply {
        let Some(user) = std::str::from_utf8(user).ok().and_then(|n| self.acl.get(n)) else {
            return err(format!("ERR User '{}' not found", String::from_utf8_lossy(user)));
        };
        let Some(position) = table::position(&command[0]) else {
            return err(format!(
                "ERR Command '{}' not found",
                String::from_utf8_lossy(&command[0])
            ));
        };
        let Some(spec) = table::COMMANDS.get(position) else {
            return err("ERR Command not found");
        };
        if !spec.arity_ok(command.len()) {
            return commands::arity_error(spec.name);
        }
        match user.check(position, spec, command) {
            Ok(()) => ok(),
            Err(denial) => bulk(denial.dry_run_text()),
        }
    }
}

fn admin_name(spec: &CommandSpec, argv: &[Bytes]) -> String {
    super::admin::full_name(spec, argv)
}

/// ACL GENPASS [bits]: random hex, 256 bits unless told.
fn genpass(bits: Option<&Bytes>) -> Reply {
    let bits = match bits {
        None => 256,
        Some(arg) => match std::str::from_utf8(arg).ok().and_then(|s| s.parse::<i64>().ok()) {
            Some(n) if (1..=4096).contains(&n) => n as usize,
            _ => return err("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"),
        },
    };
    let chars = bits.div_ceil(4);
    let mut out = String::with_capacity(chars);
    while out.len() < chars {
        let word: u64 = rand::random();
        out.push_str(&format!("{word:016x}"));
    }
    out.truncate(chars);
    bulk(out)
}

const ACL_HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Print this help.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genpass_sizes() {
        let Reply::Bulk(pass) = genpass(None) else { panic!() };
        assert_eq!(pass.len(), 64);
        let Reply::Bulk(pass) = genpass(Some(&Bytes::from("5"))) else {
            panic!()
        };
        assert_eq!(pass.len(), 2);
        assert!(matches!(genpass(Some(&Bytes::from("0"))), Reply::Error(_)));
    }
}
