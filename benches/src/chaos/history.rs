//! What the clients saw: every operation with its outcome, per key, on one
//! monotonic clock shared by every client thread.

use std::collections::HashMap;
use std::time::Instant;

use super::checker::{CounterSums, Nanos, Operation, Outcome};

/// The run's monotonic clock: nanoseconds since its start.
#[derive(Clone, Copy, Debug)]
pub struct Clock(Instant);

impl Clock {
    pub fn start() -> Clock {
        Clock(Instant::now())
    }

    pub fn now(&self) -> Nanos {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Indices of the keys each workload uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyIndex(pub usize);

/// One client's record, merged into a [`History`] when it stops.
#[derive(Debug, Default)]
pub struct ClientLog {
    /// INCRBY key delta, by outcome.
    pub increments: Vec<(KeyIndex, i64, Outcome)>,
    /// RPUSH key value, by outcome.
    pub pushes: Vec<(KeyIndex, String, Outcome)>,
    /// Register operations (refused ones and failed reads are not recorded:
    /// they had no effect).
    pub registers: Vec<(KeyIndex, Operation)>,
    /// Operations sent to a node.
    pub invoked: u64,
    /// Operations the node answered with success.
    pub acked: u64,
}

/// Every client's operations, per key.
#[derive(Debug, Default)]
pub struct History {
    pub counters: HashMap<KeyIndex, CounterSums>,
    pub pushes: HashMap<KeyIndex, HashMap<String, Outcome>>,
    pub registers: HashMap<KeyIndex, Vec<Operation>>,
    /// Counter values read after the run (a missing key reads 0).
    pub final_counters: HashMap<KeyIndex, i64>,
    /// List contents read after the run.
    pub final_lists: HashMap<KeyIndex, Vec<String>>,
    pub invoked: u64,
    pub acked: u64,
}

impl History {
    pub fn add(&mut self, log: ClientLog) {
        for (key, delta, outcome) in log.increments {
            self.counters.entry(key).or_default().add(delta, outcome);
        }
        for (key, value, outcome) in log.pushes {
            self.pushes.entry(key).or_default().insert(value, outcome);
        }
        for (key, op) in log.registers {
            self.registers.entry(key).or_default().push(op);
        }
        self.invoked += log.invoked;
        self.acked += log.acked;
    }
}
