//! CLIENT PAUSE and CLIENT UNPAUSE, as Redis 7.0 does them: for the given
//! time, commands of normal clients (ALL) or only those that may write
//! (WRITE: write commands, PUBLISH and the like, an EXEC with queued
//! writes) are postponed, in arrival order per client; nothing expires
//! while paused (reads of expired keys see them missing without deleting
//! them, as a replica does). Operators use it to let replicas and the
//! journal go quiet before a manual failover.
//!
//! A postponed client's command and everything it pipelined behind it wait
//! in its `pending` queue, the queue blocking commands use, so its replies
//! keep their order. The end of the pause (timer or UNPAUSE) hands the
//! postponed clients to `resume`, oldest first.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Exec, ExecMsg};
use crate::commands::{self, flags};
use crate::resp::Reply;

/// The pause in force.
#[derive(Debug)]
pub(super) struct Pause {
    until: Instant,
    /// WRITE mode: reads go on.
    writes_only: bool,
    /// Tags the timer, so a timer of an earlier, replaced pause does nothing.
    token: u64,
}

/// Pause state of the execution thread.
#[derive(Debug, Default)]
pub(super) struct PauseState {
    current: Option<Pause>,
    next_token: u64,
    /// Clients with postponed commands, in the order they were postponed.
    postponed: Vec<u64>,
}

impl Exec {
    /// `CLIENT PAUSE timeout-ms [WRITE|ALL]`.
    pub(super) fn client_pause(&mut self, argv: &[Bytes]) -> Reply {
        let timeout_ms = match std::str::from_utf8(&argv[2]).ok().and_then(|s| s.parse::<i64>().ok()) {
            Some(ms) if ms < 0 => return Reply::Error("ERR timeout is negative".into()),
            Some(ms) => ms.unsigned_abs(),
            None => return Reply::Error("ERR timeout is not an integer or out of range".into()),
        };
        let writes_only = match argv.get(3).map(|mode| mode.to_ascii_uppercase()) {
            None => false,
            Some(mode) if mode == b"ALL" => false,
            Some(mode) if mode == b"WRITE" => true,
            Some(_) => return Reply::Error("ERR CLIENT PAUSE mode must be WRITE or ALL".into()),
        };
        if argv.len() > 4 {
            return Reply::Error("ERR syntax error".into());
        }
        let until = self.now + Duration::from_millis(timeout_ms);
        // As Redis: a pause already in force is only ever extended and made
        // stricter, never shortened or relaxed, by another PAUSE.
        let (until, writes_only) = match &self.pause.current {
            Some(current) => (current.until.max(until), current.writes_only && writes_only),
            None => (until, writes_only),
        };
        self.pause.next_token += 1;
        let token = self.pause.next_token;
        self.pause.current = Some(Pause {
            until,
            writes_only,
            token,
        });
        if let (Some(runtime), Some(tx)) = (&self.runtime, self.self_tx.clone()) {
            let deadline = tokio::time::Instant::from_std(until);
            runtime.spawn(async move {
                tokio::time::sleep_until(deadline).await;
                if let Some(tx) = tx.upgrade() {
                    let _ = tx.send(ExecMsg::PauseEnd { token }).await;
                }
            });
        }
        Reply::SimpleString("OK".into())
    }

    /// `CLIENT UNPAUSE`.
    pub(super) fn client_unpause(&mut self) -> Reply {
        self.end_pause();
        Reply::SimpleString("OK".into())
    }

    /// The timer of the pause tagged `token` fired.
    pub(super) fn pause_timer(&mut self, token: u64) {
        if self.pause.current.as_ref().is_some_and(|p| p.token == token) {
            self.end_pause();
        }
    }

    fn end_pause(&mut self) {
        self.pause.current = None;
        let postponed = std::mem::take(&mut self.pause.postponed);
        self.resume.extend(postponed);
    }

    /// Whether a pause is in force now (expiry waits while it is).
    pub(super) fn paused(&self) -> bool {
        self.pause.current.as_ref().is_some_and(|p| p.until > self.now)
    }

    /// Whether this command of `conn` must wait for the pause to end; if
    /// so, the caller queues it (and what follows) in the client's
    /// `pending`, and the client is remembered for the end of the pause.
    pub(super) fn postpone_for_pause(&mut self, conn: u64, argv: &[Bytes]) -> bool {
        let Some(pause) = &self.pause.current else {
            return false;
        };
        if pause.until <= self.now {
            // The timer message is on its way; the pause is over already.
            self.end_pause();
            return false;
        }
        let postpone = !pause.writes_only || self.may_write(conn, argv);
        if postpone && !self.pause.postponed.contains(&conn) {
            self.pause.postponed.push(conn);
        }
        postpone
    }

    /// Redis's "may replicate" test: a write command, a command flagged
    /// may-replicate (PUBLISH), or an EXEC whose queue holds one.
    fn may_write(&self, conn: u64, argv: &[Bytes]) -> bool {
        let writes = |argv: &[Bytes]| {
            commands::lookup(&argv[0]).is_some_and(|spec| spec.flags & (flags::WRITE | flags::MAY_REPLICATE) != 0)
        };
        if writes(argv) {
            return true;
        }
        let is_exec = argv[0].eq_ignore_ascii_case(b"EXEC");
        is_exec
            && self
                .sessions
                .get(&conn)
                .and_then(|s| s.multi.as_ref())
                .is_some_and(|multi| multi.queued.iter().any(|queued| writes(queued)))
    }

    /// A client that went away is no longer waiting.
    pub(super) fn forget_postponed(&mut self, conn: u64) {
        self.pause.postponed.retain(|&c| c != conn);
    }
}
