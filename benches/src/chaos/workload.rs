//! The clients: threads speaking RESP through the `redis` crate to
//! whichever node says it is the primary, recording every operation.
//!
//! The outcome of a write is what makes the checker sound:
//! - acknowledged: the node replied with success;
//! - failed: the node refused it before executing it (READONLY, LOADING,
//!   MASTERDOWN, TRYAGAIN for an expired lease, EXECABORT), or no
//!   connection could be made so it was never sent;
//! - indeterminate: anything else (a timeout, a dropped connection, any
//!   other error, TRYAGAIN "not acknowledged" included: the journal may
//!   still have committed it). It may have applied, once, at any time
//!   after it was sent.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::{Connection, RedisError, RedisResult};

use super::checker::{Operation, Outcome, RegisterOp, Value};
use super::history::{ClientLog, Clock, KeyIndex};
use crate::cluster::role;
use crate::redis_compare::connect;

/// Timeout of connects, reads and writes: above the longest pause a fault
/// holds, so most slow answers still arrive.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause after finding no primary.
const NO_PRIMARY_PAUSE: Duration = Duration::from_millis(50);

/// Names of the keys every client shares.
#[derive(Clone, Debug)]
pub struct Keys {
    pub prefix: String,
    pub counters: usize,
    pub lists: usize,
    pub registers: usize,
}

impl Keys {
    pub fn counter(&self, k: KeyIndex) -> String {
        format!("{}:counter:{}", self.prefix, k.0)
    }
    pub fn list(&self, k: KeyIndex) -> String {
        format!("{}:list:{}", self.prefix, k.0)
    }
    pub fn register(&self, k: KeyIndex) -> String {
        format!("{}:register:{}", self.prefix, k.0)
    }
}

/// Live totals for progress lines.
#[derive(Default)]
pub struct Progress {
    pub invoked: AtomicU64,
    pub acked: AtomicU64,
}

/// What every client thread shares.
#[derive(Clone)]
pub struct Shared {
    pub ports: [u16; 2],
    pub keys: Keys,
    pub clock: Clock,
    pub stop: Arc<AtomicBool>,
    pub progress: Arc<Progress>,
}

/// The outcome of an error reply or a failed call.
pub fn classify(e: &RedisError) -> Outcome {
    match e.code() {
        Some("READONLY" | "LOADING" | "MASTERDOWN" | "EXECABORT") => Outcome::Failed,
        Some("TRYAGAIN")
            if e.detail()
                .is_some_and(|d| d.starts_with("the primary's lease has expired")) =>
        {
            Outcome::Failed
        }
        _ => Outcome::Indeterminate,
    }
}

/// A connection to the node that last said it was the primary.
struct PrimaryConnection {
    ports: [u16; 2],
    current: Option<Connection>,
}

impl PrimaryConnection {
    /// The primary's connection, asking ROLE of each node if there is none.
    fn get(&mut self, rng: &mut StdRng) -> Option<&mut Connection> {
        if self.current.is_none() {
            let first = rng.gen_range(0..2);
            for i in [first, 1 - first] {
                let Ok(mut con) = connect(self.ports[i], CLIENT_TIMEOUT) else {
                    continue;
                };
                if role(&mut con).is_ok_and(|r| r.name == "master") {
                    self.current = Some(con);
                    break;
                }
            }
        }
        self.current.as_mut()
    }

    /// After an error: a refused write means this is not (or no longer) a
    /// serving primary; a broken connection cannot be reused (a late reply
    /// would be read as the next one's).
    fn forget(&mut self) {
        self.current = None;
    }
}

/// One client until `stop`: a mix of counter, list and register operations.
pub fn run_client(id: usize, seed: u64, shared: Shared) -> ClientLog {
    let mut rng = StdRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut log = ClientLog::default();
    let mut primary = PrimaryConnection {
        ports: shared.ports,
        current: None,
    };
    let mut seq: u64 = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        if primary.get(&mut rng).is_none() {
            std::thread::sleep(NO_PRIMARY_PAUSE);
            continue;
        }
        seq += 1;
        // Unique across clients and operations of this run.
        let unique: Value = ((id as u64 + 1) << 40) | seq;
        let roll = rng.gen_range(0..100);
        let before = log.acked;
        let ok = if roll < 25 {
            let key = KeyIndex(rng.gen_range(0..shared.keys.counters));
            increment(&mut primary, &shared, &mut log, key, rng.gen_range(1..=100))
        } else if roll < 45 {
            let key = KeyIndex(rng.gen_range(0..shared.keys.lists));
            push(&mut primary, &shared, &mut log, key, format!("c{id}-{seq}"))
        } else {
            let key = KeyIndex(rng.gen_range(0..shared.keys.registers));
            match roll % 3 {
                0 => write(&mut primary, &shared, &mut log, id, key, unique),
                1 => read(&mut primary, &shared, &mut log, id, key),
                _ => compare_and_set(&mut primary, &shared, &mut log, id, key, unique),
            }
        };
        if !ok {
            primary.forget();
        }
        shared.progress.invoked.fetch_add(1, Ordering::Relaxed);
        shared.progress.acked.fetch_add(log.acked - before, Ordering::Relaxed);
        log.invoked += 1;
    }
    log
}

fn connection(primary: &mut PrimaryConnection) -> RedisResult<&mut Connection> {
    primary
        .current
        .as_mut()
        .ok_or_else(|| RedisError::from((redis::ErrorKind::IoError, "no connection")))
}

/// INCRBY; false after an error.
fn increment(p: &mut PrimaryConnection, s: &Shared, log: &mut ClientLog, key: KeyIndex, delta: i64) -> bool {
    let result = connection(p).and_then(|c| redis::cmd("INCRBY").arg(s.keys.counter(key)).arg(delta).query::<i64>(c));
    let outcome = match &result {
        Ok(_) => Outcome::Acked,
        Err(e) => classify(e),
    };
    log.increments.push((key, delta, outcome));
    count(log, outcome)
}

/// RPUSH of a value no other push uses; false after an error.
fn push(p: &mut PrimaryConnection, s: &Shared, log: &mut ClientLog, key: KeyIndex, value: String) -> bool {
    let result = connection(p).and_then(|c| redis::cmd("RPUSH").arg(s.keys.list(key)).arg(&value).query::<i64>(c));
    let outcome = match &result {
        Ok(_) => Outcome::Acked,
        Err(e) => classify(e),
    };
    log.pushes.push((key, value, outcome));
    count(log, outcome)
}

fn count(log: &mut ClientLog, outcome: Outcome) -> bool {
    if outcome == Outcome::Acked {
        log.acked += 1;
    }
    outcome == Outcome::Acked
}

/// Records a write's outcome: acknowledged with its return time,
/// indeterminate without one, refused not at all.
fn record_write(
    log: &mut ClientLog,
    client: usize,
    key: KeyIndex,
    op: RegisterOp,
    call: u64,
    result: Result<u64, Outcome>,
) -> bool {
    let ret = match result {
        Ok(ret) => Some(ret),
        Err(Outcome::Failed) => return false,
        Err(_) => None,
    };
    log.registers.push((key, Operation { client, op, call, ret }));
    count(
        log,
        if ret.is_some() {
            Outcome::Acked
        } else {
            Outcome::Indeterminate
        },
    )
}

fn write(
    p: &mut PrimaryConnection,
    s: &Shared,
    log: &mut ClientLog,
    client: usize,
    key: KeyIndex,
    value: Value,
) -> bool {
    let call = s.clock.now();
    let result = connection(p).and_then(|c| redis::cmd("SET").arg(s.keys.register(key)).arg(value).query::<()>(c));
    let result = result.map(|()| s.clock.now()).map_err(|e| classify(&e));
    record_write(log, client, key, RegisterOp::Write(value), call, result)
}

/// GET; a failed read had no effect and is not recorded.
fn read(p: &mut PrimaryConnection, s: &Shared, log: &mut ClientLog, client: usize, key: KeyIndex) -> bool {
    let call = s.clock.now();
    match connection(p).and_then(|c| redis::cmd("GET").arg(s.keys.register(key)).query::<Option<Value>>(c)) {
        Ok(seen) => {
            let ret = s.clock.now();
            log.registers.push((
                key,
                Operation {
                    client,
                    op: RegisterOp::Read(seen),
                    call,
                    ret: Some(ret),
                },
            ));
            log.acked += 1;
            true
        }
        Err(_) => false,
    }
}

/// WATCH, GET, then MULTI SET EXEC from the value seen. Recorded as a CAS
/// if EXEC ran (or may have); as the GET's read if the key was missing or
/// EXEC aborted because the key changed.
fn compare_and_set(
    p: &mut PrimaryConnection,
    s: &Shared,
    log: &mut ClientLog,
    client: usize,
    key: KeyIndex,
    to: Value,
) -> bool {
    let name = s.keys.register(key);
    let call = s.clock.now();
    let Ok(c) = connection(p) else { return false };
    if redis::cmd("WATCH").arg(&name).query::<()>(c).is_err() {
        return false;
    }
    let read_call = s.clock.now();
    let seen = match redis::cmd("GET").arg(&name).query::<Option<Value>>(c) {
        Ok(seen) => seen,
        Err(_) => return false,
    };
    let read_ret = s.clock.now();
    let read = Operation {
        client,
        op: RegisterOp::Read(seen),
        call: read_call,
        ret: Some(read_ret),
    };
    let Some(from) = seen else {
        log.registers.push((key, read));
        log.acked += 1;
        return redis::cmd("UNWATCH").query::<()>(c).is_ok();
    };
    let queued = redis::cmd("MULTI")
        .query::<()>(c)
        .and_then(|()| redis::cmd("SET").arg(&name).arg(to).query::<String>(c));
    if queued.is_err() {
        // Nothing was executed yet (EXEC was not sent): the read stands;
        // the connection is dropped (a half-open MULTI must not carry over).
        log.registers.push((key, read));
        log.acked += 1;
        return false;
    }
    let op = RegisterOp::Cas { from, to };
    match redis::cmd("EXEC").query::<redis::Value>(c) {
        Ok(redis::Value::Nil) => {
            // Aborted: the key changed after WATCH. Only the read happened.
            log.registers.push((key, read));
            log.acked += 1;
            true
        }
        Ok(redis::Value::Array(replies)) if replies.len() == 1 => {
            let ret = s.clock.now();
            record_write(log, client, key, op, call, Ok(ret))
        }
        Ok(_) => {
            // A reply of another shape proves nothing either way.
            record_write(log, client, key, op, call, Err(Outcome::Indeterminate));
            false
        }
        Err(e) => {
            let outcome = classify(&e);
            if outcome == Outcome::Failed {
                log.registers.push((key, read));
                log.acked += 1;
            }
            record_write(log, client, key, op, call, Err(outcome));
            false
        }
    }
}
