//! A short seeded `memoir-bench chaos` run against real `memoir`
//! processes: every property must hold (no acknowledged write lost, no
//! duplicate, linearizable registers, no process exiting on its own).
//!
//! `memoir-bench` finds `memoir` next to itself; `cargo test --workspace`
//! builds it there (the root package's tests need it). With
//! `cargo test -p memoir-bench` alone, build it first: `cargo build -p memoir`.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bench_binary, field};

/// The run is 20 s of faults; start-up, healing and checking take the rest.
const RUN_TIMEOUT: Duration = Duration::from_secs(240);

#[test]
fn a_short_seeded_chaos_run_keeps_every_property() {
    let bench = bench_binary();
    let scratch = tempfile::Builder::new().prefix("memoir-chaos-test-").tempdir().unwrap();
    let stderr_path = scratch.path().join("chaos.stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let mut child = Command::new(&bench)
        .args(["chaos", "--seconds", "20", "--seed", "20261126", "--clients", "4"])
        .arg("--dir")
        .arg(scratch.path())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "memoir-bench chaos did not finish within {} s; its stderr:\n{}",
                RUN_TIMEOUT.as_secs(),
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let last = stdout.lines().last().unwrap_or_default();
    if !status.success() || field(last, "linearizable") != Some("yes") {
        // The processes' logs are the only record of what happened: the
        // run is timing-dependent and may not fail again on replay.
        let kept = scratch.keep();
        eprintln!("chaos run failed: its data and logs are kept in {}", kept.display());
    }
    assert!(
        status.success(),
        "chaos run failed ({status}):\nstdout:\n{stdout}\nstderr:\n{log}"
    );
    assert!(
        last.starts_with("chaos seed=20261126 "),
        "unexpected last line: {last:?}"
    );
    assert!(
        stdout.contains("replay: memoir-bench chaos --seconds 20 --seed 20261126"),
        "no replay line:\n{stdout}"
    );
    assert_eq!(field(last, "acked_lost"), Some("0"), "{last}\n{log}");
    assert_eq!(field(last, "duplicates"), Some("0"), "{last}\n{log}");
    assert_eq!(field(last, "linearizable"), Some("yes"), "{last}\n{log}");
    let number = |name: &str| -> u64 { field(last, name).and_then(|v| v.parse().ok()).unwrap_or(0) };
    assert!(number("faults") >= 5, "too few faults injected: {last}");
    assert!(number("acked") >= 100, "too few acknowledged operations: {last}");
}
