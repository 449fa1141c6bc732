//! Property: whatever interleaving of appends (under any leader uuid,
//! retried or not) and compare-and-set leader changes is committed, the
//! accepted log never holds an append whose uuid was not the leader at its
//! position, every retry reports its first position, and nothing is
//! accepted twice. Checked against a plain model.

use std::collections::HashMap;

use bytes::Bytes;
use memoir_journal::state::{Command, JournalState, Outcome};
use memoir_journal::{LeaderId, Seq, WriterId};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Append {
        writer: usize,
        retry_of: Option<usize>,
        leader: usize,
    },
    SetLeader {
        new: usize,
        expected: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, prop::option::of(0..20usize), 0..4usize)
            .prop_map(|(writer, retry_of, leader)| Op::Append { writer, retry_of, leader }),
        1 => (0..4usize, 0..4usize).prop_map(|(new, expected)| Op::SetLeader { new, expected }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn accepted_appends_always_carry_the_leader_of_their_position(ops in prop::collection::vec(op(), 1..200)) {
        // Leader 0 is NONE; 1..3 are real uuids.
        let leaders: Vec<LeaderId> = std::iter::once(LeaderId::NONE).chain((0..3).map(|_| LeaderId::random())).collect();
        let writers: Vec<WriterId> = (0..3).map(|_| WriterId::random()).collect();
        let mut state = JournalState::default();
        // The model.
        let mut register = LeaderId::NONE;
        let mut next_writer_seq = [1u64; 3];
        let mut accepted: HashMap<(usize, u64), Seq> = HashMap::new();
        let mut accepted_positions = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let index = i as u64 + 1;
            match op {
                Op::Append { writer, retry_of, leader } => {
                    let writer_seq = match retry_of {
                        Some(k) if (*k as u64) < next_writer_seq[*writer] => *k as u64 + 1,
                        _ => {
                            let s = next_writer_seq[*writer];
                            next_writer_seq[*writer] += 1;
                            s
                        }
                    };
                    let command = Command::Append {
                        writer: writers[*writer],
                        writer_seq,
                        leader: leaders[*leader],
                        payload: Bytes::new(),
                    };
                    let outcome = state.apply(index, 1, &command);
                    let expected = if let Some(seq) = accepted.get(&(*writer, writer_seq)) {
                        Outcome::Appended { seq: *seq }
                    } else if leaders[*leader] != register {
                        Outcome::Fenced { current: register }
                    } else {
                        accepted.insert((*writer, writer_seq), Seq(index));
                        accepted_positions.push((index, leaders[*leader]));
                        Outcome::Appended { seq: Seq(index) }
                    };
                    prop_assert_eq!(outcome, expected);
                }
                Op::SetLeader { new, expected } => {
                    let command = Command::SetLeader { new: leaders[*new], expected: leaders[*expected] };
                    let outcome = state.apply(index, 1, &command);
                    // A set to the value the register holds succeeds: it is
                    // the retry of a set that already won (leader ids are
                    // unique per term, so no one else holds that value).
                    let model = if register == leaders[*expected] || register == leaders[*new] {
                        register = leaders[*new];
                        Outcome::LeaderSet
                    } else {
                        Outcome::Conflict { current: register }
                    };
                    prop_assert_eq!(outcome, model);
                }
            }
        }
        // Reads see exactly the accepted positions.
        for index in 1..=ops.len() as u64 {
            let is_append = matches!(ops[index as usize - 1], Op::Append { .. });
            let model = accepted_positions.iter().any(|(i, _)| *i == index);
            if is_append {
                prop_assert_eq!(state.is_accepted_append(index), model, "position {}", index);
            }
        }
    }
}
