//! Strings, counters, lists, hashes, sets, sorted sets and expiry against
//! the plain model of `memoir_engine::testing::model` (shared with the
//! `engine_model` fuzz target): every reply must be what the model
//! predicts.

use memoir_engine::testing::model::{Op, World};
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    let k = || any::<u8>();
    prop_oneof![
        (k(), k()).prop_map(|(a, b)| Op::Set(a, b)),
        k().prop_map(Op::Get),
        (k(), k()).prop_map(|(a, b)| Op::Append(a, b)),
        k().prop_map(Op::Incr),
        k().prop_map(Op::Del),
        k().prop_map(Op::Exists),
        k().prop_map(Op::Type),
        k().prop_map(Op::Strlen),
        (k(), k(), k()).prop_map(|(a, b, c)| Op::HSet(a, b, c)),
        (k(), k()).prop_map(|(a, b)| Op::HGet(a, b)),
        (k(), k()).prop_map(|(a, b)| Op::HDel(a, b)),
        k().prop_map(Op::HLen),
        k().prop_map(Op::HGetAll),
        (k(), 0u16..300).prop_map(|(a, n)| Op::HBulk(a, n)),
        (k(), k()).prop_map(|(a, b)| Op::LPush(a, b)),
        (k(), k()).prop_map(|(a, b)| Op::RPush(a, b)),
        k().prop_map(Op::LPop),
        k().prop_map(Op::RPop),
        k().prop_map(Op::LLen),
        (k(), any::<i8>(), any::<i8>()).prop_map(|(a, b, c)| Op::LRange(a, b, c)),
        (k(), any::<i8>()).prop_map(|(a, b)| Op::LIndex(a, b)),
        (k(), k()).prop_map(|(a, b)| Op::SAdd(a, b)),
        (k(), k()).prop_map(|(a, b)| Op::SRem(a, b)),
        (k(), k()).prop_map(|(a, b)| Op::SIsMember(a, b)),
        k().prop_map(Op::SCard),
        k().prop_map(Op::SMembers),
        (k(), 0u16..700, any::<bool>()).prop_map(|(a, n, ints)| Op::SBulk(a, n, ints)),
        (k(), 0u16..400, any::<bool>()).prop_map(|(a, offset, on)| Op::SetBit(a, offset, on)),
        (k(), 0u16..400).prop_map(|(a, offset)| Op::GetBit(a, offset)),
        (k(), proptest::option::of((-60i16..60, -60i16..60, any::<bool>())))
            .prop_map(|(a, range)| Op::BitCount(a, range)),
        (k(), any::<i64>()).prop_map(|(a, by)| Op::IncrBy(a, by % 1000)),
        (k(), any::<i8>(), k()).prop_map(|(a, s, m)| Op::ZAdd(a, s, m)),
        (k(), any::<i8>(), k()).prop_map(|(a, s, m)| Op::ZIncrBy(a, s, m)),
        (k(), k()).prop_map(|(a, m)| Op::ZRem(a, m)),
        (k(), k()).prop_map(|(a, m)| Op::ZScore(a, m)),
        k().prop_map(Op::ZCard),
        (k(), k()).prop_map(|(a, m)| Op::ZRank(a, m)),
        (k(), any::<i8>(), any::<i8>()).prop_map(|(a, b, c)| Op::ZRange(a, b, c)),
        (k(), 0u16..2000).prop_map(|(a, ms)| Op::PExpire(a, ms)),
        k().prop_map(Op::Persist),
        k().prop_map(Op::PTtl),
        (0u16..1500).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn commands_agree_with_the_model(ops in prop::collection::vec(op(), 1..150)) {
        let mut world = World::new();
        for op in &ops {
            let (actual, expected) = world.step(op);
            prop_assert_eq!(actual, expected, "after {:?}", op);
        }
        prop_assert_eq!(world.check_final(), Ok(()));
    }
}

/// The fuzz target's entry point over a few fixed inputs, so its decoding
/// and checks run under `cargo test` too (the corpus replay covers more).
#[test]
fn engine_model_entry_point_runs() {
    memoir_engine::testing::fuzz::engine_model(&[]);
    memoir_engine::testing::fuzz::engine_model(&(0..=255u8).collect::<Vec<_>>());
    memoir_engine::testing::fuzz::engine_model(&[31, 0, 5, 1, 37, 0, 0, 255, 38, 0, 10, 0, 41, 3, 40, 0]);
}
