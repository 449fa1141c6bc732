//! A small `memoir-bench redis-compare` run against real servers
//! (`memoir dev` and two redis-servers): one `compare` line and one `cpu`
//! line per test, in the format the README gives, with figures that make
//! sense.
//!
//! Needs redis-server and redis-benchmark (scripts/setup.sh installs them)
//! and `memoir` next to `memoir-bench` (`cargo test --workspace` builds it).

mod common;

use std::process::Command;

use common::{bench_binary, field};

/// The number after `name=` in `line`.
fn number(line: &str, name: &str) -> f64 {
    let text = field(line, name).unwrap_or_else(|| panic!("no {name}= in {line:?}"));
    text.parse()
        .unwrap_or_else(|_| panic!("{name}={text:?} in {line:?} is not a number"))
}

#[test]
fn prints_throughput_and_cpu_lines_for_each_test() {
    let bench = bench_binary();
    let scratch = tempfile::Builder::new()
        .prefix("memoir-compare-test-")
        .tempdir()
        .unwrap();
    let output = Command::new(&bench)
        .args([
            "redis-compare",
            "--clients",
            "4",
            "--pipeline",
            "4",
            "--requests",
            "20000",
        ])
        .args(["--timeout-s", "120", "--dir"])
        .arg(scratch.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "redis-compare failed:\n{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "two lines per test expected:\n{stdout}");
    for (pair, test) in lines.chunks(2).zip(["set", "get"]) {
        let (compare, cpu) = (pair[0], pair[1]);
        let head = format!("test={test} pipeline=4 ");
        assert!(compare.starts_with(&format!("compare {head}")), "{compare}");
        assert!(cpu.starts_with(&format!("cpu {head}")), "{cpu}");
        for name in ["memoir_rps", "redis_always_rps", "redis_nopersist_rps"] {
            assert!(number(compare, name) > 0.0, "{compare}");
        }
        let (p50, p99) = (number(compare, "memoir_p50_ms"), number(compare, "memoir_p99_ms"));
        assert!(p50 > 0.0 && p50 <= p99, "{compare}");
        // 20,000 requests take far more than one clock tick of CPU in
        // `memoir dev` (a whole cluster) and in redis-benchmark; the others
        // may round to zero ticks on a fast machine.
        assert!(number(cpu, "memoir_us_per_request") > 0.0, "{cpu}");
        assert!(number(cpu, "memoir_client_us_per_request") > 0.0, "{cpu}");
        for name in [
            "redis_always_us_per_request",
            "redis_nopersist_us_per_request",
            "redis_always_client_us_per_request",
            "redis_nopersist_client_us_per_request",
        ] {
            let value = number(cpu, name);
            assert!(value.is_finite() && value >= 0.0, "{cpu}");
        }
    }
}
