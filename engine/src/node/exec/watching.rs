//! WATCH: optimistic locking for MULTI/EXEC, as Redis 7.0 does it.
//!
//! Watched keys are tracked per (db, key) on the execution thread. Every
//! effect (a client's write, a lazy or active expiry's DEL, a replica's
//! applied record) touches the keys it names and flags their watchers;
//! whole-database writes (FLUSHDB, FLUSHALL, SWAPDB) are checked before
//! they run, with Redis's rules for keys that exist, do not, or are
//! expired. EXEC then answers nil for a flagged client.

use bytes::Bytes;

use super::Exec;
use crate::commands::{self, flags, Effect};

/// One key a client watches.
pub(super) struct WatchedKey {
    pub db: usize,
    pub key: Bytes,
    /// The key was already logically expired when WATCH ran: its later
    /// deletion by expiry is no change (Redis's `wk->expired`).
    pub expired: bool,
}

/// A change the whole-database command about to run makes to a watcher.
enum Plan {
    Dirty(u64),
    SetExpired(u64, usize, Bytes, bool),
}

impl Exec {
    /// WATCH key...: remembers each key once, with whether it is expired.
    pub(super) fn watch(&mut self, conn: u64, db: usize, keys: &[Bytes]) {
        for key in keys {
            let already = self
                .sessions
                .get(&conn)
                .is_some_and(|s| s.watched.iter().any(|w| w.db == db && w.key == *key));
            if already {
                continue;
            }
            let expired = self.key_is_expired(db, key);
            let key = Bytes::copy_from_slice(key);
            if let Some(session) = self.sessions.get_mut(&conn) {
                session.watched.push(WatchedKey {
                    db,
                    key: key.clone(),
                    expired,
                });
                self.watchers.entry((db, key)).or_default().push(conn);
            }
        }
    }

    /// Forgets every key `conn` watches and clears its dirty flag.
    pub(super) fn unwatch_all(&mut self, conn: u64) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        session.watch_dirty = false;
        for watched in std::mem::take(&mut session.watched) {
            let slot = (watched.db, watched.key);
            if let Some(conns) = self.watchers.get_mut(&slot) {
                conns.retain(|c| *c != conn);
                if conns.is_empty() {
                    self.watchers.remove(&slot);
                }
            }
        }
    }

    /// Whether EXEC must fail: a watched key was touched, or expired since
    /// WATCH (Redis's `isWatchedKeyExpired`).
    pub(super) fn watch_failed(&self, conn: u64) -> bool {
        let Some(session) = self.sessions.get(&conn) else {
            return false;
        };
        session.watch_dirty
            || session
                .watched
                .iter()
                .any(|w| !w.expired && self.key_is_expired(w.db, &w.key))
    }

    /// The key exists physically and its TTL has passed.
    pub(super) fn key_is_expired(&self, db: usize, key: &[u8]) -> bool {
        let Some(store) = self.ks.db(db) else { return false };
        store
            .find(key)
            .and_then(|pos| store.expire_at(pos))
            .is_some_and(|at| at <= self.now_ms)
    }

    fn key_present(&self, db: usize, key: &[u8]) -> bool {
        self.ks.db(db).is_some_and(|store| store.find(key).is_some())
    }

    /// Flags the watchers of (db, key), after a write to it.
    pub(super) fn touch_key(&mut self, db: usize, key: &[u8]) {
        if self.watchers.is_empty() {
            return;
        }
        // hashbrown looks up a borrowed (usize, &[u8]) only through an
        // owned key; watched keys are few, so the copy is cheap enough.
        let slot = (db, Bytes::copy_from_slice(key));
        let Some(conns) = self.watchers.get(&slot) else {
            return;
        };
        let present = self.key_present(db, key);
        for conn in conns.clone() {
            let Some(session) = self.sessions.get_mut(&conn) else {
                continue;
            };
            if let Some(watched) = session.watched.iter_mut().find(|w| w.db == db && w.key == slot.1) {
                if watched.expired && !present {
                    // An already expired key got deleted: logically no
                    // change (Redis 7.0's touchWatchedKey).
                    watched.expired = false;
                    continue;
                }
            }
            session.watch_dirty = true;
        }
    }

    /// The (db, key) pairs an effect writes, for WATCH and blocked
    /// clients: the table's key positions, plus MOVE's and COPY's targets
    /// in another database. Whole-database effects name no keys here.
    pub(super) fn effect_keys(effect: &Effect) -> Vec<(usize, Bytes)> {
        let db = effect.db as usize;
        let Some(spec) = commands::lookup(&effect.argv[0]) else {
            return Vec::new();
        };
        let argv = &effect.argv;
        let target_db = |arg: &Bytes| std::str::from_utf8(arg).ok().and_then(|s| s.parse::<usize>().ok());
        match spec.name {
            "move" => {
                let mut keys = vec![(db, argv[1].clone())];
                if let Some(target) = argv.get(2).and_then(target_db) {
                    keys.push((target, argv[1].clone()));
                }
                keys
            }
            "copy" => {
                let mut dest_db = db;
                let mut i = 3;
                while i < argv.len() {
                    if argv[i].eq_ignore_ascii_case(b"db") {
                        if let Some(target) = argv.get(i + 1).and_then(target_db) {
                            dest_db = target;
                        }
                        i += 1;
                    }
                    i += 1;
                }
                argv.get(2).map(|k| vec![(dest_db, k.clone())]).unwrap_or_default()
            }
            _ if spec.flags & flags::WHOLE_DATASET != 0 => Vec::new(),
            _ => spec.keys(argv).into_iter().map(|k| (db, k.clone())).collect(),
        }
    }

    /// Before FLUSHDB / FLUSHALL / SWAPDB runs (for a client or applied
    /// from the journal): what it will do to watchers, following Redis
    /// 7.0's `touchAllWatchedKeysInDb`. Applied with
    /// [`Exec::apply_watch_plan`] once the command succeeded.
    pub(super) fn whole_dataset_watch_plan(
        &self,
        name: &[u8],
        db: usize,
        argv: &[Bytes],
    ) -> Vec<(usize, Option<usize>)> {
        let databases = self.ks.databases();
        let parse = |arg: Option<&Bytes>| {
            arg.and_then(|a| std::str::from_utf8(a).ok())
                .and_then(|s| s.parse::<usize>().ok())
                .filter(|i| *i < databases)
        };
        if name.eq_ignore_ascii_case(b"flushdb") {
            vec![(db, None)]
        } else if name.eq_ignore_ascii_case(b"flushall") {
            (0..databases).map(|d| (d, None)).collect()
        } else if name.eq_ignore_ascii_case(b"swapdb") {
            match (parse(argv.get(1)), parse(argv.get(2))) {
                (Some(a), Some(b)) if a != b => vec![(a, Some(b)), (b, Some(a))],
                _ => Vec::new(),
            }
        } else {
            Vec::new()
        }
    }

    /// Evaluates the (emptied, replaced_with) pairs now (before the
    /// command), returning the changes to make after it succeeds.
    pub(super) fn watch_changes(&self, pairs: &[(usize, Option<usize>)]) -> Vec<WatchChange> {
        let mut plan = Vec::new();
        if self.watchers.is_empty() {
            return plan;
        }
        for &(emptied, replaced_with) in pairs {
            for ((db, key), conns) in &self.watchers {
                if *db != emptied {
                    continue;
                }
                let in_emptied = self.key_present(emptied, key);
                let in_replacement = replaced_with.is_some_and(|r| self.key_present(r, key));
                if !in_emptied && !in_replacement {
                    continue;
                }
                let replacement_expired = replaced_with.is_some_and(|r| self.key_is_expired(r, key));
                for &conn in conns {
                    let Some(session) = self.sessions.get(&conn) else {
                        continue;
                    };
                    let was_expired = session
                        .watched
                        .iter()
                        .find(|w| w.db == *db && w.key == *key)
                        .is_some_and(|w| w.expired);
                    if was_expired {
                        if !in_replacement {
                            // Expired key now deleted: no logical change.
                            plan.push(WatchChange(Plan::SetExpired(conn, *db, key.clone(), false)));
                            continue;
                        } else if replacement_expired {
                            // Expired key stays expired.
                            continue;
                        }
                    } else if !in_emptied && replacement_expired {
                        // A missing key replaced with an expired one.
                        plan.push(WatchChange(Plan::SetExpired(conn, *db, key.clone(), true)));
                        continue;
                    }
                    plan.push(WatchChange(Plan::Dirty(conn)));
                }
            }
        }
        plan
    }

    pub(super) fn apply_watch_changes(&mut self, plan: Vec<WatchChange>) {
        for WatchChange(change) in plan {
            match change {
                Plan::Dirty(conn) => {
                    if let Some(session) = self.sessions.get_mut(&conn) {
                        session.watch_dirty = true;
                    }
                }
                Plan::SetExpired(conn, db, key, expired) => {
                    if let Some(session) = self.sessions.get_mut(&conn) {
                        if let Some(w) = session.watched.iter_mut().find(|w| w.db == db && w.key == key) {
                            w.expired = expired;
                        }
                    }
                }
            }
        }
    }
}

/// One deferred change to a watcher (see [`Exec::watch_changes`]).
pub(super) struct WatchChange(Plan);
