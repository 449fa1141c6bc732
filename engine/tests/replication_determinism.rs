//! The durability contract: a replica that applies the primary's effects
//! (with `Clock::Apply`) holds exactly the primary's data after every
//! command, whatever the commands, their failures, the clock, lazy and
//! active expiry, or random choices (SPOP) did.
//!
//! `Harness` applies each command's effects to the replica and compares
//! digests after every step; the proptest feeds it random command mixes
//! over a few shared keys, so types collide and keys expire mid-sequence.

mod common;

use common::*;
use proptest::prelude::*;

/// One random step.
#[derive(Debug, Clone)]
enum Step {
    Command(Raw),
    /// Let time pass on the primary's clock.
    Advance(i64),
    /// One active expiry cycle on the primary.
    ActiveExpire,
    /// Switch the client's database.
    Select(usize),
    /// A read served by the replica (must produce no effect).
    ReplicaRead(u8),
}

/// A command before it is spelled out: which one, and random material.
#[derive(Debug, Clone)]
struct Raw {
    op: u8,
    keys: [u8; 3],
    values: [u8; 2],
    n1: i64,
    n2: i64,
}

const KEYS: [&str; 5] = ["a", "b", "c", "d", "e"];

/// How many command kinds `spell` knows (the last is TYPE).
const OPS: u8 = 92;
const VALUES: [&str; 10] = ["", "x", "hello", "1", "42", "-7", "3.5", "m1", "m2", "0123"];

fn spell(raw: &Raw, now_ms: i64) -> Vec<String> {
    let k = |i: usize| KEYS[usize::from(raw.keys[i]) % KEYS.len()].to_owned();
    let v = |i: usize| VALUES[usize::from(raw.values[i]) % VALUES.len()].to_owned();
    let n1 = raw.n1.to_string();
    let n2 = raw.n2.to_string();
    let small = (raw.n1.rem_euclid(5)).to_string();
    let words: Vec<String> = match raw.op % OPS {
        0 => vec!["SET".into(), k(0), v(0)],
        1 => vec![
            "SET".into(),
            k(0),
            v(0),
            "PX".into(),
            (raw.n1.rem_euclid(3000) + 1).to_string(),
        ],
        2 => vec![
            "SET".into(),
            k(0),
            v(0),
            "EX".into(),
            (raw.n1.rem_euclid(3) + 1).to_string(),
        ],
        3 => vec!["SET".into(), k(0), v(0), "KEEPTTL".into()],
        4 => vec!["SET".into(), k(0), v(0), "NX".into(), "GET".into()],
        5 => vec![
            "SET".into(),
            k(0),
            v(0),
            "XX".into(),
            "PXAT".into(),
            (now_ms + raw.n1).to_string(),
        ],
        6 => vec!["GET".into(), k(0)],
        7 => vec!["SETEX".into(), k(0), (raw.n1.rem_euclid(3) + 1).to_string(), v(0)],
        8 => vec!["PSETEX".into(), k(0), (raw.n1.rem_euclid(2000) + 1).to_string(), v(0)],
        9 => vec!["GETSET".into(), k(0), v(0)],
        10 => vec!["SETNX".into(), k(0), v(0)],
        11 => vec!["INCR".into(), k(0)],
        12 => vec!["INCRBY".into(), k(0), n1],
        13 => vec!["DECRBY".into(), k(0), n1],
        14 => vec!["INCRBYFLOAT".into(), k(0), "1.1".into()],
        15 => vec!["APPEND".into(), k(0), v(0)],
        16 => vec!["MSET".into(), k(0), v(0), k(1), v(1)],
        17 => vec!["MSETNX".into(), k(0), v(0), k(1), v(1)],
        18 => vec!["DEL".into(), k(0), k(1)],
        19 => vec!["EXPIRE".into(), k(0), (raw.n1.rem_euclid(6) - 1).to_string()],
        20 => vec!["PEXPIRE".into(), k(0), (raw.n1.rem_euclid(3000) - 100).to_string()],
        21 => vec![
            "EXPIREAT".into(),
            k(0),
            (now_ms / 1000 + raw.n1.rem_euclid(5) - 1).to_string(),
        ],
        22 => vec![
            "PEXPIREAT".into(),
            k(0),
            (now_ms + raw.n1.rem_euclid(3000) - 100).to_string(),
        ],
        23 => vec!["PERSIST".into(), k(0)],
        24 => vec![
            "PEXPIRE".into(),
            k(0),
            (raw.n1.rem_euclid(3000)).to_string(),
            "GT".into(),
        ],
        25 => vec![
            "PEXPIRE".into(),
            k(0),
            (raw.n1.rem_euclid(3000)).to_string(),
            "LT".into(),
        ],
        26 => vec!["RENAME".into(), k(0), k(1)],
        27 => vec!["RENAMENX".into(), k(0), k(1)],
        28 => vec!["HSET".into(), k(0), v(0), v(1)],
        29 => vec!["HDEL".into(), k(0), v(0)],
        30 => vec!["HINCRBY".into(), k(0), v(0), n1],
        31 => vec!["HINCRBYFLOAT".into(), k(0), v(0), "0.25".into()],
        32 => vec!["HSETNX".into(), k(0), v(0), v(1)],
        33 => vec!["LPUSH".into(), k(0), v(0)],
        34 => vec!["RPUSH".into(), k(0), v(0), v(1)],
        35 => vec!["LPOP".into(), k(0)],
        36 => vec!["RPOP".into(), k(0), small],
        37 => vec!["LSET".into(), k(0), (raw.n1 % 3).to_string(), v(0)],
        38 => vec!["LTRIM".into(), k(0), (raw.n1 % 3).to_string(), (raw.n2 % 4).to_string()],
        39 => vec!["LREM".into(), k(0), (raw.n1 % 3).to_string(), v(0)],
        40 => vec!["LINSERT".into(), k(0), "BEFORE".into(), v(0), v(1)],
        41 => vec!["LMOVE".into(), k(0), k(1), "LEFT".into(), "RIGHT".into()],
        42 => vec!["RPOPLPUSH".into(), k(0), k(1)],
        43 => vec!["SADD".into(), k(0), v(0), v(1)],
        44 => vec!["SREM".into(), k(0), v(0)],
        45 => vec!["SPOP".into(), k(0)],
        46 => vec!["SPOP".into(), k(0), small],
        47 => vec!["SMOVE".into(), k(0), k(1), v(0)],
        48 => vec!["SINTERSTORE".into(), k(0), k(1), k(2)],
        49 => vec!["SUNIONSTORE".into(), k(0), k(1), k(2)],
        50 => vec!["SDIFFSTORE".into(), k(0), k(1), k(2)],
        51 => vec!["ZADD".into(), k(0), n1, v(0)],
        52 => vec!["ZADD".into(), k(0), "INCR".into(), "0.1".into(), v(0)],
        53 => vec!["ZINCRBY".into(), k(0), "1.3".into(), v(0)],
        54 => vec!["ZADD".into(), k(0), "GT".into(), "CH".into(), n1, v(0), n2, v(1)],
        55 => vec!["ZREM".into(), k(0), v(0)],
        56 => vec!["ZPOPMIN".into(), k(0), small],
        57 => vec!["ZREMRANGEBYSCORE".into(), k(0), n1.clone(), n2],
        58 => vec!["ZREMRANGEBYRANK".into(), k(0), "0".into(), small],
        59 => vec!["FLUSHDB".into()],
        60 => vec!["SWAPDB".into(), "0".into(), "1".into()],
        61 => vec!["GETDEL".into(), k(0)],
        62 => vec![
            "GETEX".into(),
            k(0),
            "PX".into(),
            (raw.n1.rem_euclid(2000) + 1).to_string(),
        ],
        63 => vec!["GETEX".into(), k(0), "PERSIST".into()],
        64 => vec!["SETRANGE".into(), k(0), (raw.n1.rem_euclid(10)).to_string(), v(0)],
        65 => vec!["HGETALL".into(), k(0)],
        66 => vec!["SCAN".into(), "0".into(), "COUNT".into(), "3".into()],
        67 => vec!["RANDOMKEY".into()],
        68 => vec!["SRANDMEMBER".into(), k(0), n1],
        69 => vec!["ZADD".into(), k(0), "3.14159".into(), v(0), "-inf".into(), v(1)],
        70 => vec!["EXISTS".into(), k(0), k(1)],
        // Bitmaps and LCS.
        72 => vec![
            "SETBIT".into(),
            k(0),
            (raw.n1.rem_euclid(80)).to_string(),
            (raw.n2 & 1).to_string(),
        ],
        73 => vec![
            "BITOP".into(),
            ["AND", "OR", "XOR"][usize::from(raw.values[0]) % 3].into(),
            k(0),
            k(1),
            k(2),
        ],
        74 => vec!["BITOP".into(), "NOT".into(), k(0), k(1)],
        75 => vec![
            "BITFIELD".into(),
            k(0),
            "OVERFLOW".into(),
            ["WRAP", "SAT", "FAIL"][usize::from(raw.values[0]) % 3].into(),
            "INCRBY".into(),
            ["u4", "i8", "i64", "u63"][usize::from(raw.values[1]) % 4].into(),
            (raw.n1.rem_euclid(40)).to_string(),
            n2.clone(),
            "SET".into(),
            "i5".into(),
            "#2".into(),
            n1.clone(),
        ],
        76 => vec!["BITCOUNT".into(), k(0), n2.clone(), "-1".into(), "BIT".into()],
        77 => vec!["LCS".into(), k(0), k(1), "IDX".into(), "WITHMATCHLEN".into()],
        // Keys.
        78 => vec!["COPY".into(), k(0), k(1)],
        79 => vec![
            "COPY".into(),
            k(0),
            k(1),
            "DB".into(),
            (raw.n2.rem_euclid(2)).to_string(),
            "REPLACE".into(),
        ],
        80 => vec!["MOVE".into(), k(0), (raw.n2.rem_euclid(2)).to_string()],
        81 => vec!["SORT".into(), k(0), "ALPHA".into(), "STORE".into(), k(1)],
        82 => vec![
            "SORT".into(),
            k(0),
            "BY".into(),
            format!("{}*", k(2)),
            "GET".into(),
            "#".into(),
            "GET".into(),
            format!("{}*->{}", k(1), v(0)),
            "LIMIT".into(),
            small.clone(),
            "3".into(),
            "STORE".into(),
            k(1),
        ],
        83 => vec![
            "SORT".into(),
            k(0),
            "BY".into(),
            "nosort".into(),
            "DESC".into(),
            "STORE".into(),
            k(1),
        ],
        // Sorted sets.
        84 => vec![
            "ZUNIONSTORE".into(),
            k(0),
            "2".into(),
            k(1),
            k(2),
            "WEIGHTS".into(),
            "0.1".into(),
            n2.clone(),
        ],
        85 => vec![
            "ZINTERSTORE".into(),
            k(0),
            "2".into(),
            k(1),
            k(2),
            "AGGREGATE".into(),
            ["SUM", "MIN", "MAX"][usize::from(raw.values[0]) % 3].into(),
        ],
        86 => vec!["ZDIFFSTORE".into(), k(0), "2".into(), k(1), k(2)],
        87 => vec!["ZRANGESTORE".into(), k(0), k(1), "0".into(), small.clone()],
        88 => vec![
            "ZRANGESTORE".into(),
            k(0),
            k(1),
            "+inf".into(),
            n1.clone(),
            "BYSCORE".into(),
            "REV".into(),
        ],
        89 => vec!["ZRANDMEMBER".into(), k(0), n2.clone(), "WITHSCORES".into()],
        90 => vec![
            "ZINTERCARD".into(),
            "2".into(),
            k(0),
            k(1),
            "LIMIT".into(),
            small.clone(),
        ],
        _ => vec!["TYPE".into(), k(0)],
    };
    words
}

fn raw() -> impl Strategy<Value = Raw> {
    (any::<u8>(), any::<[u8; 3]>(), any::<[u8; 2]>(), -20i64..3000, -5i64..10).prop_map(|(op, keys, values, n1, n2)| {
        Raw {
            op,
            keys,
            values,
            n1,
            n2,
        }
    })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        20 => raw().prop_map(Step::Command),
        3 => (0i64..2500).prop_map(Step::Advance),
        1 => Just(Step::ActiveExpire),
        1 => (0usize..2).prop_map(Step::Select),
        1 => any::<u8>().prop_map(Step::ReplicaRead),
    ]
}

/// Runs the steps; returns how many effects the primary produced and how
/// many of them were expiry deletions by active expiry.
fn run_steps(steps: &[Step]) -> (usize, usize) {
    let mut h = Harness::new();
    let mut effects = 0;
    let mut expired = 0;
    for step in steps {
        match step {
            Step::Command(raw) => {
                let words = spell(raw, h.now_ms);
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                // Digests are compared inside `run` after the effects are applied.
                h.run(&words);
                effects += h.last_effects.len();
            }
            Step::Advance(ms) => h.advance(*ms),
            Step::ActiveExpire => {
                expired += h.active_expire(20);
                effects += h.last_effects.len();
            }
            Step::Select(db) => h.db = *db,
            Step::ReplicaRead(which) => {
                let key = KEYS[usize::from(*which) % KEYS.len()];
                let before = h.replica.digest();
                for read in [
                    &["GET", key][..],
                    &["TTL", key],
                    &["EXISTS", key],
                    &["SCAN", "0"],
                    &["KEYS", "*"],
                ] {
                    let _ = h.run_on_replica(read);
                }
                assert_eq!(before, h.replica.digest(), "a replica read changed the data");
            }
        }
    }
    // Replaying the whole history from scratch lands on the same data too,
    // which `Harness` has been checking step by step.
    assert_eq!(h.primary.digest(), h.replica.digest());
    (effects, expired)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn replicas_applying_effects_match_the_primary(steps in prop::collection::vec(step(), 1..120)) {
        run_steps(&steps);
    }
}

#[test]
fn a_long_fixed_mix_stays_in_step() {
    // A deterministic long run: every command kind many times.
    let mut steps = Vec::new();
    for i in 0..3000u32 {
        let bytes = i.wrapping_mul(2_654_435_761).to_le_bytes();
        steps.push(Step::Command(Raw {
            op: (i % u32::from(OPS)) as u8,
            keys: [bytes[0], bytes[1], bytes[2]],
            values: [bytes[3], bytes[1] ^ bytes[2]],
            n1: i64::from(bytes[0]) * 13 - 20,
            n2: i64::from(bytes[1] % 10) - 5,
        }));
        if i % 17 == 0 {
            steps.push(Step::Advance(i64::from(bytes[2]) * 7));
        }
        if i % 29 == 0 {
            steps.push(Step::ActiveExpire);
        }
        if i % 101 == 0 {
            steps.push(Step::Select((i / 101 % 2) as usize));
        }
    }
    let (effects, expired) = run_steps(&steps);
    assert!(effects > 1000, "the mix should mostly write: {effects} effects");
    assert!(expired > 0, "active expiry should have found something");
}
