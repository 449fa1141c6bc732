//! ACL users: who may connect (passwords, stored as SHA-256 hashes as
//! Redis stores them), which commands they may run (by name, subcommand or
//! category), which keys (`~pattern`, `%R~`, `%W~`) and which pub/sub
//! channels (`&pattern`) they may touch.
//!
//! Users are node-local configuration, as in Redis (ACL users are not part
//! of the replication stream there either): nothing here is journaled, so
//! ACL SETUSER on one node does not reach its replicas. Selectors (`(...)`)
//! and the ACL LOG are not implemented.

use std::collections::BTreeMap;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::commands::categories::{self, Unit};
use crate::commands::glob;
use crate::commands::key_access::{self, Access};
use crate::commands::{table, CommandSpec};

pub const DEFAULT_USER: &str = "default";

/// A password as Redis keeps it: the SHA-256 of its bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PasswordHash([u8; 32]);

impl PasswordHash {
    pub fn of(password: &[u8]) -> PasswordHash {
        PasswordHash(Sha256::digest(password).into())
    }

    /// From the 64 lowercase hex digits of `#hash` rules.
    fn from_hex(text: &[u8]) -> Option<PasswordHash> {
        if text.len() != 64 || !text.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks(2)) {
            let digits = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(digits, 16).ok()?;
        }
        Some(PasswordHash(bytes))
    }

    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.hex())
    }
}

/// Why an ACL SETUSER rule was refused (Redis's texts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    Syntax,
    UnknownCommand,
    PatternAfterAllKeys,
    PatternAfterAllChannels,
    NoSuchPassword,
    BadHash,
    Selectors,
}

impl RuleError {
    pub fn message(self) -> &'static str {
        match self {
            RuleError::Syntax => "Syntax error",
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::PatternAfterAllKeys => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::PatternAfterAllChannels => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::Selectors => "ACL selectors are not supported by Memoir",
        }
    }
}

/// Why a command was refused for a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The command (or `container|subcommand`) is not allowed.
    Command(String),
    Key(Bytes),
    Channel(Bytes),
    /// SORT BY / GET with patterns, without access to every key.
    SortPattern(&'static str),
}

impl Denial {
    /// The error a client gets (Redis 7.0's texts).
    pub fn error(&self) -> String {
        match self {
            Denial::Command(name) => format!("NOPERM this user has no permissions to run the '{name}' command"),
            Denial::Key(_) => "NOPERM this user has no permissions to access one of the keys used as arguments".into(),
            Denial::Channel(_) => {
                "NOPERM this user has no permissions to access one of the channels used as arguments".into()
            }
            Denial::SortPattern(option) => {
                format!("ERR {option} option of SORT denied due to insufficient ACL permissions.")
            }
        }
    }

    /// ACL DRYRUN's description.
    pub fn dry_run_text(&self) -> String {
        match self {
            Denial::Command(name) => format!("This user has no permissions to run the '{name}' command"),
            Denial::Key(key) => format!(
                "This user has no permissions to access the '{}' key",
                String::from_utf8_lossy(key)
            ),
            Denial::Channel(channel) => format!(
                "This user has no permissions to access the '{}' channel",
                String::from_utf8_lossy(channel)
            ),
            Denial::SortPattern(option) => {
                format!("{option} option of SORT denied due to insufficient ACL permissions.")
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct KeyPattern {
    pattern: Bytes,
    read: bool,
    write: bool,
}

impl KeyPattern {
    fn describe(&self) -> String {
        let pattern = String::from_utf8_lossy(&self.pattern);
        match (self.read, self.write) {
            (true, true) => format!("~{pattern}"),
            (true, false) => format!("%R~{pattern}"),
            (false, true) => format!("%W~{pattern}"),
            (false, false) => String::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct User {
    name: String,
    enabled: bool,
    nopass: bool,
    passwords: Vec<PasswordHash>,
    /// One flag per command unit (see `commands::categories::Unit`).
    allowed: Vec<bool>,
    /// The command rules as ACL LIST shows them, starting with +@all or -@all.
    command_rules: Vec<String>,
    all_keys: bool,
    keys: Vec<KeyPattern>,
    all_channels: bool,
    channels: Vec<Bytes>,
    /// Every command, key and channel allowed: checks are skipped. Kept
    /// current by [`User::apply`] (it is asked on every command).
    unrestricted: bool,
}

impl User {
    /// A new user as ACL SETUSER creates it: off, no password, no commands,
    /// no keys, no channels (`acl-pubsub-default resetchannels`).
    pub fn new(name: &str) -> User {
        User {
            name: name.to_owned(),
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            allowed: vec![false; categories::unit_count()],
            command_rules: vec!["-@all".into()],
            all_keys: false,
            keys: Vec::new(),
            all_channels: false,
            channels: Vec::new(),
            unrestricted: false,
        }
    }

    /// The default user: on, nopass, every command, key and channel.
    fn default_user() -> User {
        let mut user = User::new(DEFAULT_USER);
        for rule in ["on", "nopass", "~*", "&*", "+@all"] {
            // These rules are valid by construction.
            let _ = user.apply(rule.as_bytes());
        }
        user
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn nopass(&self) -> bool {
        self.nopass
    }

    /// Whether `password` opens this user.
    pub fn accepts(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hash = PasswordHash::of(password);
        // Compare every stored hash fully, so timing says nothing about which matched.
        self.passwords
            .iter()
            .fold(false, |found, stored| found | constant_time_eq(&stored.0, &hash.0))
    }

    /// Whether nothing is restricted (the common case: no checks needed).
    pub fn unrestricted(&self) -> bool {
        self.unrestricted
    }

    /// Applies one ACL SETUSER rule.
    pub fn apply(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        let applied = self.apply_rule(rule);
        self.unrestricted = self.all_keys && self.all_channels && self.allowed.iter().all(|a| *a);
        applied
    }

    fn apply_rule(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_slice() {
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"allkeys" | b"~*" => {
                self.all_keys = true;
                self.keys.clear();
            }
            b"resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
            }
            b"allchannels" | b"&*" => {
                self.all_channels = true;
                self.channels.clear();
            }
            b"resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            b"allcommands" => return self.apply_rule(b"+@all"),
            b"nocommands" => return self.apply_rule(b"-@all"),
            b"reset" => {
                *self = User::new(&self.name);
            }
            // Redis's payload sanitisation applies to RESTORE of Redis
            // payloads, which Memoir refuses anyway.
            b"sanitize-payload" | b"skip-sanitize-payload" => {}
            _ => return self.apply_prefixed(rule),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, rule: &[u8]) -> Result<(), RuleError> {
        let (&first, rest) = rule.split_first().ok_or(RuleError::Syntax)?;
        match first {
            b'>' => {
                let hash = PasswordHash::of(rest);
                if !self.passwords.contains(&hash) {
                    self.passwords.push(hash);
                }
                self.nopass = false;
            }
            b'#' => {
                let hash = PasswordHash::from_hex(rest).ok_or(RuleError::BadHash)?;
                if !self.passwords.contains(&hash) {
                    self.passwords.push(hash);
                }
                self.nopass = false;
            }
            b'<' => self.remove_password(PasswordHash::of(rest))?,
            b'!' => self.remove_password(PasswordHash::from_hex(rest).ok_or(RuleError::BadHash)?)?,
            b'~' => self.add_key_pattern(rest, true, true)?,
            b'%' => {
                let tilde = rest.iter().position(|c| *c == b'~').ok_or(RuleError::Syntax)?;
                let (mut read, mut write) = (false, false);
                for c in &rest[..tilde] {
                    match c.to_ascii_uppercase() {
                        b'R' => read = true,
                        b'W' => write = true,
                        _ => return Err(RuleError::Syntax),
                    }
                }
                if !read && !write {
                    return Err(RuleError::Syntax);
                }
                self.add_key_pattern(&rest[tilde + 1..], read, write)?;
            }
            b'&' => {
                if self.all_channels {
                    return Err(RuleError::PatternAfterAllChannels);
                }
                if !self.channels.iter().any(|c| c.as_ref() == rest) {
                    self.channels.push(Bytes::copy_from_slice(rest));
                }
            }
            b'+' | b'-' => self.apply_command_rule(first == b'+', rest, rule)?,
            b'(' => return Err(RuleError::Selectors),
            _ => return Err(RuleError::Syntax),
        }
        Ok(())
    }

    fn remove_password(&mut self, hash: PasswordHash) -> Result<(), RuleError> {
        let before = self.passwords.len();
        self.passwords.retain(|p| *p != hash);
        if self.passwords.len() == before {
            return Err(RuleError::NoSuchPassword);
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, pattern: &[u8], read: bool, write: bool) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::PatternAfterAllKeys);
        }
        if pattern == b"*" && read && write {
            self.all_keys = true;
            self.keys.clear();
            return Ok(());
        }
        match self.keys.iter_mut().find(|k| k.pattern.as_ref() == pattern) {
            Some(existing) => {
                existing.read |= read;
                existing.write |= write;
            }
            None => self.keys.push(KeyPattern {
                pattern: Bytes::copy_from_slice(pattern),
                read,
                write,
            }),
        }
        Ok(())
    }

    fn apply_command_rule(&mut self, allow: bool, target: &[u8], rule: &[u8]) -> Result<(), RuleError> {
        let units: Vec<Unit> = if let Some(category) = target.strip_prefix(b"@") {
            if category.eq_ignore_ascii_case(b"all") {
                self.allowed.iter_mut().for_each(|a| *a = allow);
                self.command_rules = vec![if allow { "+@all" } else { "-@all" }.into()];
                return Ok(());
            }
            let category = categories::by_name(category).ok_or(RuleError::UnknownCommand)?;
            categories::units_in(category).collect()
        } else {
            let lower = String::from_utf8_lossy(target).to_ascii_lowercase();
            match lower.split_once('|') {
                Some((command, sub)) => {
                    table::position(command.as_bytes()).ok_or(RuleError::UnknownCommand)?;
                    vec![categories::subcommand_unit(command, sub.as_bytes()).ok_or(RuleError::UnknownCommand)?]
                }
                None => {
                    let position = table::position(lower.as_bytes()).ok_or(RuleError::UnknownCommand)?;
                    let name = table::COMMANDS.get(position).map_or("", |spec| spec.name);
                    std::iter::once(Unit(position))
                        .chain(categories::subcommand_units(name))
                        .collect()
                }
            }
        };
        for unit in units {
            if let Some(slot) = self.allowed.get_mut(unit.0) {
                *slot = allow;
            }
        }
        let text = String::from_utf8_lossy(rule).to_ascii_lowercase();
        if !target.starts_with(b"@") {
            // A later rule for the same command replaces an earlier one.
            let name = &text[1..];
            self.command_rules.retain(|r| r.get(1..) != Some(name));
        }
        self.command_rules.push(text);
        Ok(())
    }

    /// Whether the user may run `argv` (command at table `position`).
    pub fn check(&self, position: usize, spec: &CommandSpec, argv: &[Bytes]) -> Result<(), Denial> {
        let unit = categories::unit_of(position, spec, argv);
        if !self.allowed.get(unit.0).copied().unwrap_or(false) {
            return Err(Denial::Command(categories::unit_name(unit)));
        }
        if !self.all_keys {
            if let Some(option) = key_access::sort_pattern_option(spec, argv) {
                return Err(Denial::SortPattern(option));
            }
            for (key, access) in key_access::key_accesses(spec, argv) {
                if !self.may_access_key(key, access) {
                    return Err(Denial::Key(key.clone()));
                }
            }
        }
        if !self.all_channels {
            self.check_channels(spec, argv)?;
        }
        Ok(())
    }

    fn may_access_key(&self, key: &[u8], access: Access) -> bool {
        self.all_keys
            || self.keys.iter().any(|pattern| {
                (pattern.read || !access.read)
                    && (pattern.write || !access.write)
                    && glob::matches(&pattern.pattern, key)
            })
    }

    /// Whether the user may stay subscribed to `channel` (a pattern
    /// subscription when `pattern`).
    pub fn may_subscribe(&self, channel: &[u8], pattern: bool) -> bool {
        self.all_channels
            || self.channels.iter().any(|allowed| {
                if pattern {
                    allowed.as_ref() == channel
                } else {
                    glob::matches(allowed, channel)
                }
            })
    }

    /// PUBLISH and SUBSCRIBE name channels, matched against the user's
    /// patterns; PSUBSCRIBE's patterns must be among them literally.
    fn check_channels(&self, spec: &CommandSpec, argv: &[Bytes]) -> Result<(), Denial> {
        let (channels, literal) = match spec.name {
            "publish" => (argv.get(1..2).unwrap_or_default(), false),
            "subscribe" => (argv.get(1..).unwrap_or_default(), false),
            "psubscribe" => (argv.get(1..).unwrap_or_default(), true),
            _ => return Ok(()),
        };
        for channel in channels {
            if !self.may_subscribe(channel, literal) {
                return Err(Denial::Channel(channel.clone()));
            }
        }
        Ok(())
    }

    fn flag_names(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        flags.push("sanitize-payload");
        flags
    }

    pub fn keys_description(&self) -> String {
        if self.all_keys {
            return "~*".into();
        }
        self.keys.iter().map(KeyPattern::describe).collect::<Vec<_>>().join(" ")
    }

    pub fn channels_description(&self) -> String {
        if self.all_channels {
            return "&*".into();
        }
        self.channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn commands_description(&self) -> String {
        self.command_rules.join(" ")
    }

    pub fn flags(&self) -> Vec<&'static str> {
        self.flag_names()
    }

    pub fn password_hashes(&self) -> Vec<String> {
        self.passwords.iter().map(PasswordHash::hex).collect()
    }

    /// The user's line in ACL LIST.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("user {}", self.name)];
        parts.extend(self.flag_names().into_iter().map(str::to_owned));
        parts.extend(self.passwords.iter().map(|p| format!("#{}", p.hex())));
        let keys = self.keys_description();
        if !keys.is_empty() {
            parts.push(keys);
        }
        if self.all_channels {
            parts.push("&*".into());
        } else {
            parts.push("resetchannels".into());
            parts.extend(self.channels.iter().map(|c| format!("&{}", String::from_utf8_lossy(c))));
        }
        parts.push(self.commands_description());
        parts.join(" ")
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Why ACL SETUSER failed as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetUserError {
    BadName,
    Rule { rule: String, error: RuleError },
}

impl SetUserError {
    pub fn error(&self) -> String {
        match self {
            SetUserError::BadName => "ERR Usernames can't contain spaces or null characters".into(),
            SetUserError::Rule { rule, error } => {
                format!("ERR Error in ACL SETUSER modifier '{rule}': {}", error.message())
            }
        }
    }
}

/// Every user of this node, by name.
#[derive(Clone, Debug)]
pub struct Users {
    users: BTreeMap<String, User>,
    /// `acl-pubsub-default allchannels`: new users start with every channel.
    new_users_get_all_channels: bool,
}

impl Default for Users {
    fn default() -> Self {
        let mut users = BTreeMap::new();
        users.insert(DEFAULT_USER.to_owned(), User::default_user());
        Users {
            users,
            new_users_get_all_channels: false,
        }
    }
}

impl Users {
    /// `acl-pubsub-default`: whether users created from now on start with
    /// `allchannels` (else `resetchannels`, Redis 7.0's default).
    pub fn set_pubsub_default(&mut self, all_channels: bool) {
        self.new_users_get_all_channels = all_channels;
    }

    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    pub fn default_user(&self) -> Option<&User> {
        self.users.get(DEFAULT_USER)
    }

    /// Whether clients must authenticate before running commands: the
    /// default user has a password, or is disabled.
    pub fn default_needs_auth(&self) -> bool {
        self.default_user().is_none_or(|user| !user.nopass || !user.enabled)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    pub fn all(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// ACL SETUSER: every rule applies, or none does.
    pub fn set_user(&mut self, name: &[u8], rules: &[Bytes]) -> Result<(), SetUserError> {
        if name.is_empty() || name.iter().any(|c| c.is_ascii_whitespace() || *c == 0) {
            return Err(SetUserError::BadName);
        }
        let name = String::from_utf8_lossy(name).into_owned();
        let mut user = match self.users.get(&name) {
            Some(existing) => existing.clone(),
            None => {
                let mut user = User::new(&name);
                if self.new_users_get_all_channels {
                    // A valid rule: cannot fail.
                    let _ = user.apply(b"allchannels");
                }
                user
            }
        };
        for rule in rules {
            user.apply(rule).map_err(|error| SetUserError::Rule {
                rule: String::from_utf8_lossy(rule).into_owned(),
                error,
            })?;
        }
        self.users.insert(name, user);
        Ok(())
    }

    /// Removes a user; false if there was none.
    pub fn delete(&mut self, name: &str) -> bool {
        self.users.remove(name).is_some()
    }

    /// `requirepass`: the default user's password, or nopass when empty.
    pub fn set_default_password(&mut self, password: &[u8]) {
        let rules: Vec<Bytes> = if password.is_empty() {
            vec![Bytes::from_static(b"resetpass"), Bytes::from_static(b"nopass")]
        } else {
            let mut rule = b">".to_vec();
            rule.extend_from_slice(password);
            vec![Bytes::from_static(b"resetpass"), Bytes::from(rule)]
        };
        // Valid rules for an existing name: cannot fail.
        let _ = self.set_user(DEFAULT_USER.as_bytes(), &rules);
    }

    /// The user `name` if `password` opens it.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<&User> {
        let name = std::str::from_utf8(name).ok()?;
        self.users.get(name).filter(|user| user.accepts(password))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::lookup;

    fn argv(args: &[&str]) -> Vec<Bytes> {
        args.iter().map(|a| Bytes::from(a.to_string())).collect()
    }

    fn user(rules: &[&str]) -> User {
        let mut users = Users::default();
        users.set_user(b"u", &argv(rules)).unwrap();
        users.get("u").unwrap().clone()
    }

    fn check(user: &User, args: &[&str]) -> Result<(), Denial> {
        let argv = argv(args);
        let position = table::position(args[0].as_bytes()).unwrap();
        user.check(position, lookup(args[0].as_bytes()).unwrap(), &argv)
    }

    #[test]
    fn default_user_is_open_and_described_as_redis_does() {
        let users = Users::default();
        let default = users.default_user().unwrap();
        assert!(default.unrestricted());
        assert!(!users.default_needs_auth());
        assert_eq!(
            default.describe(),
            "user default on nopass sanitize-payload ~* &* +@all"
        );
    }

    #[test]
    fn new_users_can_do_nothing() {
        let u = user(&[]);
        assert!(!u.accepts(b""));
        assert_eq!(u.describe(), "user u off sanitize-payload resetchannels -@all");
        assert_eq!(check(&u, &["get", "k"]), Err(Denial::Command("get".into())));
    }

    #[test]
    fn passwords_are_hashed_and_checked() {
        let u = user(&["on", ">secret", ">other"]);
        assert!(u.accepts(b"secret") && u.accepts(b"other"));
        assert!(!u.accepts(b"wrong"));
        assert_eq!(
            u.password_hashes()[0],
            "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
        );
        let off = user(&["off", ">secret"]);
        assert!(!off.accepts(b"secret"));
        let mut users = Users::default();
        let err = users.set_user(b"u", &argv(&["<nope"])).unwrap_err();
        assert_eq!(
            err.error(),
            "ERR Error in ACL SETUSER modifier '<nope': The password you are trying to remove from the user does not exist"
        );
        assert!(users.set_user(b"u", &argv(&["#abc"])).is_err());
        let hash = PasswordHash::of(b"x").hex();
        users.set_user(b"h", &argv(&["on", &format!("#{hash}")])).unwrap();
        assert!(users.authenticate(b"h", b"x").is_some());
        users.set_user(b"h", &argv(&["nopass"])).unwrap();
        assert!(users.authenticate(b"h", b"anything").is_some());
        users.set_user(b"h", &argv(&["resetpass"])).unwrap();
        assert!(users.authenticate(b"h", b"anything").is_none());
    }

    #[test]
    fn command_rules_by_name_subcommand_and_category() {
        let u = user(&["on", "+@read", "-get", "+config|get", "allkeys"]);
        assert!(check(&u, &["strlen", "k"]).is_ok());
        assert_eq!(check(&u, &["get", "k"]), Err(Denial::Command("get".into())));
        assert_eq!(check(&u, &["set", "k", "v"]), Err(Denial::Command("set".into())));
        assert!(check(&u, &["config", "get", "x"]).is_ok());
        assert_eq!(
            check(&u, &["config", "set", "x", "y"]),
            Err(Denial::Command("config|set".into()))
        );
        assert_eq!(u.commands_description(), "-@all +@read -get +config|get");

        let admin = user(&["on", "allcommands", "-@dangerous", "allkeys"]);
        assert!(check(&admin, &["get", "k"]).is_ok());
        assert!(check(&admin, &["client", "id"]).is_ok());
        assert_eq!(check(&admin, &["flushall"]), Err(Denial::Command("flushall".into())));
        assert_eq!(
            check(&admin, &["client", "kill", "1.2.3.4:5"]),
            Err(Denial::Command("client|kill".into()))
        );
        let again = user(&["+get", "-get", "+get"]);
        assert_eq!(again.commands_description(), "-@all +get");
        let none = user(&["+@all", "nocommands"]);
        assert_eq!(none.commands_description(), "-@all");
    }

    #[test]
    fn key_patterns_with_read_and_write_permissions() {
        let u = user(&["on", "+@all", "~app:*", "%R~ro:*", "%W~wo:*"]);
        assert!(check(&u, &["get", "app:1"]).is_ok());
        assert!(check(&u, &["set", "app:1", "v"]).is_ok());
        assert_eq!(check(&u, &["get", "other"]), Err(Denial::Key(Bytes::from("other"))));
        assert!(check(&u, &["get", "ro:1"]).is_ok());
        assert!(check(&u, &["set", "ro:1", "v"]).is_err());
        assert!(check(&u, &["set", "wo:1", "v"]).is_ok());
        assert!(check(&u, &["get", "wo:1"]).is_err());
        // INCR reads and writes: needs one pattern with both.
        assert!(check(&u, &["incr", "ro:1"]).is_err());
        assert!(check(&u, &["mget", "app:1", "other"]).is_err());
        assert!(check(&u, &["zunion", "2", "app:a", "app:b", "WEIGHTS", "1", "2"]).is_ok());
        assert_eq!(
            check(&u, &["sort", "app:l", "BY", "w_*"]),
            Err(Denial::SortPattern("BY"))
        );
        assert!(check(&u, &["sort", "app:l", "BY", "nosort"]).is_ok());
        assert_eq!(
            check(&u, &["sort", "app:l", "GET", "o_*"]),
            Err(Denial::SortPattern("GET"))
        );
        assert!(check(&u, &["sort", "app:l", "GET", "#", "STORE", "app:d"]).is_ok());
        assert!(check(&u, &["sort", "app:l", "STORE", "other"]).is_err());
        assert_eq!(u.keys_description(), "~app:* %R~ro:* %W~wo:*");
        let mut users = Users::default();
        let err = users.set_user(b"all", &argv(&["allkeys", "~x"])).unwrap_err();
        assert_eq!(
            err,
            SetUserError::Rule {
                rule: "~x".into(),
                error: RuleError::PatternAfterAllKeys
            }
        );
        assert!(users.set_user(b"bad", &argv(&["%X~k"])).is_err());
        assert!(users.set_user(b"bad", &argv(&["%~k"])).is_err());
    }

    #[test]
    fn channel_patterns() {
        let u = user(&["on", "+@all", "allkeys", "&news.*"]);
        assert!(check(&u, &["publish", "news.1", "m"]).is_ok());
        assert_eq!(
            check(&u, &["subscribe", "news.1", "sport"]),
            Err(Denial::Channel(Bytes::from("sport")))
        );
        assert!(check(&u, &["psubscribe", "news.*"]).is_ok());
        assert!(check(&u, &["psubscribe", "news.1*"]).is_err());
        assert_eq!(
            u.describe(),
            "user u on sanitize-payload ~* resetchannels &news.* +@all"
        );
    }

    #[test]
    fn bad_rules_change_nothing() {
        let mut users = Users::default();
        users.set_user(b"u", &argv(&["on", ">pw"])).unwrap();
        let err = users.set_user(b"u", &argv(&["off", "+nosuchcommand"])).unwrap_err();
        assert_eq!(
            err.error(),
            "ERR Error in ACL SETUSER modifier '+nosuchcommand': Unknown command or category name in ACL"
        );
        assert!(users.get("u").unwrap().enabled());
        assert_eq!(
            users.set_user(b"u", &argv(&["bogus"])).unwrap_err().error(),
            "ERR Error in ACL SETUSER modifier 'bogus': Syntax error"
        );
        assert_eq!(users.set_user(b"a b", &[]).unwrap_err(), SetUserError::BadName);
        assert!(users.set_user(b"u", &argv(&["+@nosuch"])).is_err());
        users.set_user(b"u", &argv(&["reset"])).unwrap();
        assert_eq!(
            users.get("u").unwrap().describe(),
            "user u off sanitize-payload resetchannels -@all"
        );
    }

    #[test]
    fn acl_pubsub_default_applies_to_new_users() {
        let mut users = Users::default();
        users.set_pubsub_default(true);
        users.set_user(b"new", &[]).unwrap();
        assert_eq!(users.get("new").unwrap().channels_description(), "&*");
        users.set_pubsub_default(false);
        users.set_user(b"other", &[]).unwrap();
        assert_eq!(users.get("other").unwrap().channels_description(), "");
        // Existing users keep theirs.
        users.set_user(b"new", &argv(&["on"])).unwrap();
        assert_eq!(users.get("new").unwrap().channels_description(), "&*");
    }

    #[test]
    fn requirepass_sets_the_default_password() {
        let mut users = Users::default();
        users.set_default_password(b"pw");
        assert!(users.default_needs_auth());
        assert!(users.authenticate(b"default", b"pw").is_some());
        assert!(users.authenticate(b"default", b"nope").is_none());
        users.set_default_password(b"");
        assert!(!users.default_needs_auth());
    }
}
