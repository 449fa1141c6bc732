//! No input makes a command panic: every data command in the table gets
//! random argument lists built from keywords, numbers at the edges and odd
//! bytes. The replica check in `Harness` also holds for all of them.

mod common;

use bytes::Bytes;
use common::*;
use memoir_engine::commands::{self, CommandKind};
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "k",
    "k2",
    "v",
    "",
    "0",
    "1",
    "-1",
    "2",
    "10",
    "-100",
    "3.5",
    "-0",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "(1",
    "[a",
    "(a",
    "-",
    "+",
    "*",
    "k*",
    "[",
    "\\",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "1e308",
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "KEEPTTL",
    "GET",
    "PERSIST",
    "LIMIT",
    "WITHSCORES",
    "BYSCORE",
    "BYLEX",
    "REV",
    "COUNT",
    "MATCH",
    "TYPE",
    "RANK",
    "MAXLEN",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "WITHVALUES",
    "ASYNC",
    "SYNC",
    "ENCODING",
    "HELP",
    "string",
    "hash",
];

fn token() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        8 => prop::sample::select(TOKENS).prop_map(|token| Bytes::copy_from_slice(token.as_bytes())),
        1 => prop::collection::vec(any::<u8>(), 0..8).prop_map(Bytes::from),
    ]
}

fn data_command_names() -> Vec<&'static str> {
    commands::all()
        .iter()
        .filter(|spec| matches!(spec.kind, CommandKind::Data(_)) || spec.name == "swapdb")
        .map(|spec| spec.name)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_arguments_never_panic(
        script in prop::collection::vec(
            (prop::sample::select(data_command_names()), prop::collection::vec(token(), 0..7)),
            1..12,
        ),
        advance in 0i64..5000,
    ) {
        let mut h = Harness::new();
        // Seed some data of every type under the keys the tokens use.
        for seed in [
            &["SET", "k", "1"][..],
            &["RPUSH", "k2", "a", "b"],
            &["HSET", "h", "f", "v"],
            &["SADD", "s", "1", "x"],
            &["ZADD", "z", "1", "a", "2", "b"],
            &["SET", "v", "x", "PX", "100"],
        ] {
            h.run(seed);
        }
        h.advance(advance);
        for (name, args) in script {
            let mut argv = vec![Bytes::copy_from_slice(name.as_bytes())];
            argv.extend(args);
            let _ = h.run_argv(argv);
        }
    }
}

#[test]
fn every_data_command_handles_every_small_arity() {
    let mut h = Harness::new();
    h.run(&["SET", "k", "1"]);
    for name in data_command_names() {
        for argc in 1..8 {
            let mut argv = vec![Bytes::copy_from_slice(name.as_bytes())];
            argv.extend((1..argc).map(|i| Bytes::copy_from_slice(TOKENS[i * 7 % TOKENS.len()].as_bytes())));
            let _ = h.run_argv(argv);
        }
    }
}
