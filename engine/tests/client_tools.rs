//! Real client tools against a real listening node: redis-cli in RESP2 and
//! RESP3, compared line for line with redis-cli against a real
//! redis-server 7.0 given the same commands, and redis-py (from PyPI, in
//! the virtualenv `scripts/setup.sh` makes) running
//! `tests/clients/redis_py_check.py` in both protocols.

mod node_common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use node_common::{free_addr, primary};

/// A redis-server without persistence on a free port, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    fn start() -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_addr().port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed by scripts/setup.sh");
        let server = RedisServer { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis_cli(port, false, &["PING"]) != "PONG\n" {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// redis-cli's output for one command (stdout and stderr: errors go there
/// in some versions).
fn redis_cli(port: u16, resp3: bool, args: &[&str]) -> String {
    let mut command = Command::new("redis-cli");
    command.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    if resp3 {
        command.arg("-3");
    }
    let output = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli is installed by scripts/setup.sh");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

/// Commands whose replies cover every reply type redis-cli renders:
/// simple strings, errors, integers, bulks, nil, empty and nested arrays,
/// and in RESP3 maps, sets, doubles and booleans. Collections hold one
/// element (or are sorted) where Redis's order is not defined.
const SCRIPT: &[&[&str]] = &[
    &["SET", "cli:s", "hello"],
    &["GET", "cli:s"],
    &["GET", "cli:missing"],
    &["APPEND", "cli:s", " world"],
    &["GETRANGE", "cli:s", "0", "4"],
    &["INCRBYFLOAT", "cli:f", "1.5"],
    &["INCR", "cli:s"],
    &["LPUSH", "cli:s", "x"],
    &["SET", "cli:s", "v", "XX", "GET"],
    &["MSET", "cli:a", "1", "cli:b", "2"],
    &["MGET", "cli:a", "cli:missing", "cli:b"],
    &["HSET", "cli:h", "field", "value"],
    &["HGETALL", "cli:h"],
    &["HGETALL", "cli:missing"],
    &["HMGET", "cli:h", "field", "nope"],
    &["RPUSH", "cli:l", "a", "b", "c", "b"],
    &["LRANGE", "cli:l", "0", "-1"],
    &["LPOS", "cli:l", "b", "COUNT", "0"],
    &["LPOP", "cli:l", "2"],
    &["SADD", "cli:set", "only"],
    &["SMEMBERS", "cli:set"],
    &["SISMEMBER", "cli:set", "only"],
    &["SMISMEMBER", "cli:set", "only", "other"],
    &["ZADD", "cli:z", "1", "one", "2.5", "two"],
    &["ZRANGE", "cli:z", "0", "-1", "WITHSCORES"],
    &["ZSCORE", "cli:z", "two"],
    &["ZINCRBY", "cli:z", "0.5", "one"],
    &["ZPOPMIN", "cli:z"],
    &["ZRANK", "cli:z", "missing"],
    &["ZMSCORE", "cli:z", "two", "missing"],
    &["EXPIRE", "cli:s", "100"],
    &["TTL", "cli:s"],
    &["PERSIST", "cli:s"],
    &["TYPE", "cli:z"],
    &["EXISTS", "cli:a", "cli:b", "cli:missing"],
    &["SORT", "cli:l", "ALPHA"],
    &["SCAN", "0", "MATCH", "cli:h*"],
    &["CONFIG", "GET", "maxmemory-policy"],
    &["OBJECT", "ENCODING", "cli:a"],
    &["DEL", "cli:a", "cli:b"],
    &["GETDEL", "cli:h"],
    &["NOSUCHCOMMAND", "x"],
    &["SET", "cli:s"],
    &["SET", "cli:s", "v", "EX", "-1"],
    &["ECHO", "line\nbreak"],
    &["PING"],
    &["FLUSHDB"],
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_renders_memoir_as_it_renders_redis_in_resp2_and_resp3() {
    let reference = RedisServer::start();
    let (journal, node) = primary().await;
    let memoir_port = node.local_addr().port();
    for resp3 in [false, true] {
        for args in SCRIPT {
            let (want, got) = tokio::task::spawn_blocking({
                let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
                let reference_port = reference.port;
                move || {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    (
                        redis_cli(reference_port, resp3, &args),
                        redis_cli(memoir_port, resp3, &args),
                    )
                }
            })
            .await
            .unwrap();
            assert_eq!(
                got,
                want,
                "redis-cli{} {args:?}: Memoir (left) differs from redis-server (right)",
                if resp3 { " -3" } else { "" }
            );
        }
    }
    node.abort();
    journal.stop();
}

/// The virtualenv with redis-py, made by `scripts/setup.sh`.
fn venv_python() -> PathBuf {
    let venv = std::env::var_os("MEMOIR_VENV").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").expect("HOME is set");
        PathBuf::from(home).join(".cache/memoir/venv")
    });
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh, which installs redis-py there",
        python.display()
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_py_runs_its_checks_in_resp2_and_resp3() {
    let python = venv_python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/clients/redis_py_check.py");
    let (journal, node) = primary().await;
    let port = node.local_addr().port();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .output()
            .expect("the venv's python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("redis-py ok"),
        "redis-py check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    node.abort();
    journal.stop();
}
