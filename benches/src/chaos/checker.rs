//! The properties a chaos run must keep, checked on the recorded history:
//! no acknowledged write lost, no value that was never written, no
//! duplicate of a unique append, and linearizable single-key registers.
//!
//! The register check is a Wing & Gong search (as Lowe and Porcupine refine
//! it): extend a linearization one operation at a time, where an operation
//! may go next only if no other pending operation had already returned
//! before it was called, and memoize every (linearized set, register state)
//! already explored so that each is searched once.

use std::collections::{HashMap, HashSet};
use std::fmt;

/// A value written to a register: unique per write in a run.
pub type Value = u64;

/// What a register operation did, as its caller saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    /// GET returned this (None: the key did not exist).
    Read(Option<Value>),
    /// SET.
    Write(Value),
    /// WATCH, GET returned `from`, MULTI SET `to` EXEC committed.
    Cas { from: Value, to: Value },
}

impl RegisterOp {
    /// The state after this operation from `state`, if it can apply there.
    fn step(self, state: Option<Value>) -> Option<Option<Value>> {
        match self {
            RegisterOp::Read(seen) => (seen == state).then_some(state),
            RegisterOp::Write(v) => Some(Some(v)),
            RegisterOp::Cas { from, to } => (state == Some(from)).then_some(Some(to)),
        }
    }

    /// The value this operation stores, if it writes.
    fn written(self) -> Option<Value> {
        match self {
            RegisterOp::Read(_) => None,
            RegisterOp::Write(v) | RegisterOp::Cas { to: v, .. } => Some(v),
        }
    }
}

/// Nanoseconds since the start of the run (one monotonic clock).
pub type Nanos = u64;

/// One invocation and, if it is known, its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    pub client: usize,
    pub op: RegisterOp,
    pub call: Nanos,
    /// None: indeterminate (an error or timeout that does not prove the
    /// write did not happen). It may take effect at any time after `call`,
    /// or never.
    pub ret: Option<Nanos>,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |n: Nanos| n as f64 / 1e9;
        let ret = match self.ret {
            Some(r) => format!("{:.6}", secs(r)),
            None => "?".to_string(),
        };
        let op = match self.op {
            RegisterOp::Read(Some(v)) => format!("read -> {v}"),
            RegisterOp::Read(None) => "read -> nil".to_string(),
            RegisterOp::Write(v) => format!("write {v}"),
            RegisterOp::Cas { from, to } => format!("cas {from} -> {to}"),
        };
        write!(f, "[{:.6} .. {ret}] client {} {op}", secs(self.call), self.client)
    }
}

/// Why a register history was not shown linearizable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotLinearizable {
    /// No linearization exists. `longest` is the longest linearizable
    /// prefix found, `stuck` the operations none of which could go next
    /// after it, `state` the register's value there, and `window` every
    /// operation overlapping that part of the history.
    Violation {
        longest: Vec<Operation>,
        state: Option<Value>,
        stuck: Vec<Operation>,
        window: Vec<Operation>,
    },
    /// The search gave up after exploring this many states.
    TooLarge { explored: usize },
}

impl fmt::Display for NotLinearizable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotLinearizable::TooLarge { explored } => {
                write!(f, "search gave up after {explored} states (history too concurrent)")
            }
            NotLinearizable::Violation {
                longest,
                state,
                stuck,
                window,
            } => {
                writeln!(
                    f,
                    "not linearizable: after a linearizable prefix of {} operations (register = {}), no operation can go next",
                    longest.len(),
                    state.map_or("nil".to_string(), |v| v.to_string())
                )?;
                writeln!(f, "  end of that prefix:")?;
                for op in longest.iter().rev().take(8).rev() {
                    writeln!(f, "    {op}")?;
                }
                writeln!(f, "  could not go next:")?;
                for op in stuck {
                    writeln!(f, "    {op}")?;
                }
                writeln!(
                    f,
                    "  the failing sub-history (every operation overlapping that window):"
                )?;
                for op in window {
                    writeln!(f, "    {op}")?;
                }
                Ok(())
            }
        }
    }
}

/// Explored states beyond which the search gives up.
pub const SEARCH_BUDGET: usize = 5_000_000;

/// Checks one register's history, starting from a missing key.
pub fn check_register(history: &[Operation], budget: usize) -> Result<(), NotLinearizable> {
    let ops = prune_unobserved_pending(history);
    Search::new(ops, budget).run()
}

/// Drops indeterminate writes whose value nobody ever read: were one to
/// take effect, nothing could have seen the state it left before the next
/// write, so a linearization without it exists whenever one with it does.
/// (This keeps the search small: most indeterminate writes never applied.)
fn prune_unobserved_pending(history: &[Operation]) -> Vec<Operation> {
    let observed: HashSet<Value> = history
        .iter()
        .filter_map(|o| match o.op {
            RegisterOp::Read(v) => v,
            RegisterOp::Cas { from, .. } => Some(from),
            RegisterOp::Write(_) => None,
        })
        .collect();
    let mut ops: Vec<Operation> = history
        .iter()
        .filter(|o| o.ret.is_some() || o.op.written().is_some_and(|v| observed.contains(&v)))
        .copied()
        .collect();
    ops.sort_by_key(|o| o.call);
    ops
}

struct Frame {
    /// Operations that may go next, in the order they are tried.
    candidates: Vec<usize>,
    next: usize,
    state: Option<Value>,
}

struct Search {
    ops: Vec<Operation>,
    budget: usize,
    linearized: Vec<u64>,
    /// Bit i set if operation i completed (same layout as `linearized`).
    completed_mask: Vec<u64>,
    /// Indices of the indeterminate operations.
    indeterminate: Vec<usize>,
    /// The operations linearized so far, in order.
    path: Vec<usize>,
    completed_left: usize,
    seen: HashSet<(Vec<u64>, Option<Value>)>,
    deepest: Option<(Vec<usize>, Option<Value>, Vec<usize>)>,
}

impl Search {
    fn new(ops: Vec<Operation>, budget: usize) -> Search {
        let completed_left = ops.iter().filter(|o| o.ret.is_some()).count();
        let mut completed_mask = vec![0u64; ops.len().div_ceil(64)];
        let mut indeterminate = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            match o.ret {
                Some(_) => completed_mask[i / 64] |= 1 << (i % 64),
                None => indeterminate.push(i),
            }
        }
        Search {
            linearized: vec![0; ops.len().div_ceil(64)],
            completed_mask,
            indeterminate,
            ops,
            budget,
            path: Vec::new(),
            completed_left,
            seen: HashSet::new(),
            deepest: None,
        }
    }

    fn is_linearized(&self, i: usize) -> bool {
        self.linearized[i / 64] & (1 << (i % 64)) != 0
    }

    fn toggle(&mut self, i: usize) {
        self.linearized[i / 64] ^= 1 << (i % 64);
    }

    /// Unlinearized operations that may go next: called no later than the
    /// earliest return among the unlinearized completed ones. Completed
    /// operations are tried first (by return), indeterminate ones last.
    fn candidates(&self) -> Vec<usize> {
        // Operations are sorted by call, so the scan starts at the first
        // unlinearized completed one and stops at the first call past the
        // earliest return seen: no later operation returns earlier.
        let first_word = self
            .linearized
            .iter()
            .zip(&self.completed_mask)
            .position(|(done, completed)| !done & completed != 0)
            .unwrap_or(self.linearized.len());
        let mut earliest_return = Nanos::MAX;
        let mut c = Vec::new();
        for i in first_word * 64..self.ops.len() {
            let op = &self.ops[i];
            if op.call > earliest_return {
                break;
            }
            if self.is_linearized(i) {
                continue;
            }
            if let Some(ret) = op.ret {
                earliest_return = earliest_return.min(ret);
                c.push(i);
            }
        }
        c.retain(|&i| self.ops[i].call <= earliest_return);
        c.extend(
            self.indeterminate
                .iter()
                .copied()
                .filter(|&i| !self.is_linearized(i) && self.ops[i].call <= earliest_return),
        );
        c.sort_by_key(|&i| self.ops[i].ret.unwrap_or(Nanos::MAX));
        c
    }

    fn run(mut self) -> Result<(), NotLinearizable> {
        let mut stack = vec![Frame {
            candidates: self.candidates(),
            next: 0,
            state: None,
        }];
        while let Some(frame) = stack.last_mut() {
            if self.completed_left == 0 {
                return Ok(());
            }
            let Some(&i) = frame.candidates.get(frame.next) else {
                // Every choice from here failed: undo the one that led here.
                stack.pop();
                if let Some(i) = self.path.pop() {
                    self.toggle(i);
                    if self.ops[i].ret.is_some() {
                        self.completed_left += 1;
                    }
                }
                continue;
            };
            frame.next += 1;
            let state = frame.state;
            let Some(after) = self.ops[i].op.step(state) else {
                continue;
            };
            self.toggle(i);
            if !self.seen.insert((self.linearized.clone(), after)) {
                self.toggle(i);
                continue;
            }
            if self.seen.len() > self.budget {
                return Err(NotLinearizable::TooLarge {
                    explored: self.seen.len(),
                });
            }
            self.path.push(i);
            if self.ops[i].ret.is_some() {
                self.completed_left -= 1;
            }
            let candidates = self.candidates();
            let depth = self.path.len();
            if self.deepest.as_ref().is_none_or(|(p, _, _)| depth > p.len()) {
                self.deepest = Some((self.path.clone(), after, candidates.clone()));
            }
            stack.push(Frame {
                candidates,
                next: 0,
                state: after,
            });
        }
        Err(self.violation())
    }

    fn violation(&self) -> NotLinearizable {
        let (path, state, stuck) = match &self.deepest {
            Some(d) => d.clone(),
            // Nothing could go first (every toggle is undone by now).
            None => (Vec::new(), None, self.candidates()),
        };
        let longest: Vec<Operation> = path.iter().map(|&i| self.ops[i]).collect();
        let stuck: Vec<Operation> = stuck.iter().map(|&i| self.ops[i]).collect();
        // The window: from the call of the last few linearized operations to
        // the latest return among the stuck ones.
        let from = longest.iter().rev().take(4).map(|o| o.call).min().unwrap_or(0);
        let to = stuck.iter().filter_map(|o| o.ret).max().unwrap_or(Nanos::MAX);
        let window = self
            .ops
            .iter()
            .filter(|o| o.call <= to && o.ret.is_none_or(|r| r >= from))
            .copied()
            .collect();
        NotLinearizable::Violation {
            longest,
            state,
            stuck,
            window,
        }
    }
}

/// What happened to one INCRBY on a counter: its delta, and whether it was
/// acknowledged, refused (proved not applied) or indeterminate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Acked,
    Failed,
    Indeterminate,
}

/// The sums of a counter's increments by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSums {
    pub acked: i64,
    pub indeterminate: i64,
}

impl CounterSums {
    pub fn add(&mut self, delta: i64, outcome: Outcome) {
        match outcome {
            Outcome::Acked => self.acked += delta,
            Outcome::Indeterminate => self.indeterminate += delta,
            Outcome::Failed => {}
        }
    }
}

/// A counter's final value against its increments (all positive): it
/// must lie in [acked, acked + indeterminate].
#[derive(Debug, PartialEq, Eq)]
pub enum CounterVerdict {
    Ok,
    /// Below the sum of acknowledged increments by this much.
    Lost(i64),
    /// Above every increment that could have applied by this much.
    NeverWritten(i64),
}

pub fn check_counter(sums: CounterSums, final_value: i64) -> CounterVerdict {
    if final_value < sums.acked {
        CounterVerdict::Lost(sums.acked - final_value)
    } else if final_value > sums.acked + sums.indeterminate {
        CounterVerdict::NeverWritten(final_value - sums.acked - sums.indeterminate)
    } else {
        CounterVerdict::Ok
    }
}

/// A list's final contents against its unique RPUSHed values.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListVerdict {
    /// Acknowledged values absent from the list.
    pub missing: Vec<String>,
    /// Values present more than once (each unique value pushed once).
    pub duplicates: Vec<String>,
    /// Values present that were never pushed, or whose push was refused.
    pub never_written: Vec<String>,
}

impl ListVerdict {
    pub fn ok(&self) -> bool {
        self.missing.is_empty() && self.duplicates.is_empty() && self.never_written.is_empty()
    }
}

pub fn check_list(pushes: &HashMap<String, Outcome>, final_list: &[String]) -> ListVerdict {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for v in final_list {
        *counts.entry(v.as_str()).or_default() += 1;
    }
    let mut verdict = ListVerdict::default();
    for (value, outcome) in pushes {
        if *outcome == Outcome::Acked && !counts.contains_key(value.as_str()) {
            verdict.missing.push(value.clone());
        }
    }
    for (value, n) in counts {
        if n > 1 {
            verdict.duplicates.push(value.to_string());
        }
        if pushes.get(value).is_none_or(|o| *o == Outcome::Failed) {
            verdict.never_written.push(value.to_string());
        }
    }
    verdict.missing.sort();
    verdict.duplicates.sort();
    verdict.never_written.sort();
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: usize, op: RegisterOp, call: Nanos, ret: Option<Nanos>) -> Operation {
        Operation { client, op, call, ret }
    }
    use RegisterOp::{Cas, Read, Write};

    fn linearizable(h: &[Operation]) -> bool {
        match check_register(h, SEARCH_BUDGET) {
            Ok(()) => true,
            Err(NotLinearizable::Violation { .. }) => false,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = [
            op(0, Read(None), 0, Some(1)),
            op(0, Write(1), 2, Some(3)),
            op(1, Read(Some(1)), 4, Some(5)),
            op(1, Cas { from: 1, to: 2 }, 6, Some(7)),
            op(0, Read(Some(2)), 8, Some(9)),
        ];
        assert!(linearizable(&h));
    }

    #[test]
    fn stale_read_after_a_completed_write_is_not_linearizable() {
        let h = [
            op(0, Write(1), 0, Some(1)),
            op(0, Write(2), 2, Some(3)),
            op(1, Read(Some(1)), 4, Some(5)),
        ];
        let err = check_register(&h, SEARCH_BUDGET).unwrap_err();
        let NotLinearizable::Violation { stuck, window, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(stuck, &vec![h[2]]);
        assert!(window.contains(&h[2]));
        assert!(err.to_string().contains("client 1 read -> 1"), "{err}");
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        // The read overlaps both writes: it may see either, or none.
        for seen in [None, Some(1), Some(2)] {
            let h = [
                op(0, Write(1), 0, Some(10)),
                op(1, Write(2), 1, Some(11)),
                op(2, Read(seen), 2, Some(12)),
            ];
            assert!(linearizable(&h), "read {seen:?}");
        }
        // Once both writes finished, the later read must agree with the earlier.
        let h = [
            op(0, Write(1), 0, Some(10)),
            op(1, Write(2), 1, Some(11)),
            op(2, Read(Some(1)), 20, Some(21)),
            op(2, Read(Some(2)), 22, Some(23)),
        ];
        assert!(!linearizable(&h));
    }

    #[test]
    fn an_indeterminate_write_may_apply_late_or_never() {
        let late = [
            op(0, Write(1), 0, Some(1)),
            op(1, Write(2), 2, None),
            op(0, Read(Some(1)), 3, Some(4)),
            op(0, Read(Some(2)), 5, Some(6)),
        ];
        assert!(linearizable(&late));
        let never = [
            op(0, Write(1), 0, Some(1)),
            op(1, Write(2), 2, None),
            op(0, Read(Some(1)), 9, Some(10)),
        ];
        assert!(linearizable(&never));
        // But it cannot apply before it was called.
        let early = [op(0, Read(Some(2)), 0, Some(1)), op(1, Write(2), 2, None)];
        assert!(!linearizable(&early));
        // Nor apply twice.
        let twice = [
            op(1, Write(2), 0, None),
            op(0, Read(Some(2)), 1, Some(2)),
            op(0, Write(3), 3, Some(4)),
            op(0, Read(Some(2)), 5, Some(6)),
        ];
        assert!(!linearizable(&twice));
    }

    #[test]
    fn cas_must_see_its_expected_value() {
        let ok = [
            op(0, Write(1), 0, Some(1)),
            op(1, Cas { from: 1, to: 2 }, 2, Some(3)),
            op(0, Cas { from: 2, to: 3 }, 4, Some(5)),
            op(1, Read(Some(3)), 6, Some(7)),
        ];
        assert!(linearizable(&ok));
        // Two CAS from the same value cannot both succeed.
        let double = [
            op(0, Write(1), 0, Some(1)),
            op(1, Cas { from: 1, to: 2 }, 2, Some(5)),
            op(2, Cas { from: 1, to: 3 }, 3, Some(6)),
        ];
        assert!(!linearizable(&double));
    }

    #[test]
    fn a_value_never_written_is_not_linearizable() {
        let h = [op(0, Write(1), 0, Some(1)), op(1, Read(Some(7)), 2, Some(3))];
        assert!(!linearizable(&h));
        let lost = [op(0, Write(1), 0, Some(1)), op(1, Read(None), 2, Some(3))];
        assert!(!linearizable(&lost), "an acknowledged write lost");
    }

    #[test]
    fn unobserved_indeterminate_writes_are_pruned_and_observed_ones_kept() {
        let h = [
            op(0, Write(1), 0, None),
            op(1, Write(2), 0, None),
            op(2, Read(Some(2)), 5, Some(6)),
        ];
        let kept = prune_unobserved_pending(&h);
        assert_eq!(kept, vec![h[1], h[2]]);
    }

    #[test]
    fn the_search_scales_to_long_concurrent_histories() {
        // 4 clients, 2000 overlapping operations of a correct register.
        let mut h = Vec::new();
        let mut state: Option<Value> = None;
        for k in 0..2000u64 {
            let client = (k % 4) as usize;
            let call = k * 10;
            let ret = Some(call + 35);
            let o = match k % 3 {
                0 => {
                    state = Some(k);
                    Write(k)
                }
                1 => Read(state),
                _ => match state {
                    Some(from) => {
                        state = Some(k);
                        Cas { from, to: k }
                    }
                    None => Read(None),
                },
            };
            h.push(op(client, o, call, ret));
        }
        assert!(linearizable(&h));
        // One stale read in the middle breaks it.
        h[1000].op = Read(Some(3));
        h[1000].call = 10_000;
        h[1000].ret = Some(10_001);
        assert!(!linearizable(&h));
    }

    #[test]
    fn counter_bounds() {
        let mut sums = CounterSums::default();
        sums.add(5, Outcome::Acked);
        sums.add(3, Outcome::Indeterminate);
        sums.add(100, Outcome::Failed);
        assert_eq!(check_counter(sums, 5), CounterVerdict::Ok);
        assert_eq!(check_counter(sums, 8), CounterVerdict::Ok);
        assert_eq!(check_counter(sums, 4), CounterVerdict::Lost(1));
        assert_eq!(check_counter(sums, 9), CounterVerdict::NeverWritten(1));
    }

    #[test]
    fn list_checks() {
        let pushes: HashMap<String, Outcome> = [
            ("a", Outcome::Acked),
            ("b", Outcome::Indeterminate),
            ("c", Outcome::Failed),
            ("d", Outcome::Acked),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let good: Vec<String> = ["a", "b", "d"].iter().map(|s| s.to_string()).collect();
        assert!(check_list(&pushes, &good).ok());
        let bad: Vec<String> = ["a", "a", "c", "z"].iter().map(|s| s.to_string()).collect();
        let v = check_list(&pushes, &bad);
        assert_eq!(v.missing, vec!["d"]);
        assert_eq!(v.duplicates, vec!["a"]);
        assert_eq!(v.never_written, vec!["c", "z"]);
    }
}
