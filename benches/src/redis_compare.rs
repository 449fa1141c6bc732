//! `memoir-bench redis-compare`: the same redis-benchmark run against
//! `memoir dev`, redis-server with `appendfsync always` (durable, like
//! Memoir) and redis-server without persistence (the ceiling), one after the
//! other so that they never compete for the CPUs. Each test runs on its
//! own, so that the CPU each server (and redis-benchmark) used for it can
//! be reported per request: on a 2-vCPU machine, that decides throughput.
//!
//! This file also holds the process plumbing the server benchmarks share
//! (`failover`, `memory`): children that die with this process and are
//! killed on drop, free loopback ports, readiness checks and RSS.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use crate::stats::scratch_dir;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Parallel connections (redis-benchmark -c).
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Requests per round trip on each connection (redis-benchmark -P).
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Requests per test (redis-benchmark -n).
    #[arg(long, default_value_t = 200_000)]
    requests: u64,
    /// Value size in bytes (redis-benchmark -d).
    #[arg(long, default_value_t = 64)]
    data_size: usize,
    /// Comma-separated redis-benchmark tests (redis-benchmark -t).
    #[arg(long, default_value = "set,get")]
    tests: String,
    /// Upper bound on one redis-benchmark run, in seconds.
    #[arg(long, default_value_t = 900)]
    timeout_s: u64,
    #[command(flatten)]
    servers: ServerArgs,
}

/// Where servers keep their data, and which Memoir to start.
#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    #[command(flatten)]
    pub scratch: ScratchArgs,
    /// Testing: a shell command started instead of `memoir dev`; {port} and
    /// {dir} are replaced by the port to serve and a fresh data directory.
    #[arg(long, hide = true)]
    pub memoir_cmd: Option<String>,
}

/// How long a server may take to accept its first write.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to exit after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Target {
    Memoir,
    RedisAlways,
    RedisNoPersist,
}

impl Target {
    pub fn label(self) -> &'static str {
        match self {
            Target::Memoir => "memoir",
            Target::RedisAlways => "redis-always",
            Target::RedisNoPersist => "redis-nopersist",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Target::Memoir => "memoir dev",
            Target::RedisAlways => "redis-server (appendonly yes, appendfsync always)",
            Target::RedisNoPersist => "redis-server (no persistence)",
        }
    }
}

/// One server under test: its process, the port it serves RESP on, and its
/// data directory.
pub struct Server {
    pub target: Target,
    pub port: u16,
    pub proc: Proc,
    /// The data directory (redis-server's `--dir`, where dump.rdb goes).
    pub dir: PathBuf,
}

impl Server {
    /// Starts `target` on free ports with a fresh data directory under
    /// `scratch` and waits until it acknowledges a write.
    pub fn start(target: Target, memoir: &Memoir, scratch: &Path) -> anyhow::Result<Server> {
        // P and P+1 for the memory nodes of `memoir dev`, and three ports
        // for its journal replicas (instead of its fixed default 7101..7103).
        let (port, journal_port) = {
            let mut held = Vec::new();
            (reserve_port_pair(&mut held)?, reserve_consecutive(&mut held, 3)?)
        };
        let data = scratch.join(target.label());
        std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
        let log = scratch.join(format!("{}.log", target.label()));
        let cmd = match target {
            Target::Memoir => memoir.dev_command(port, journal_port, &data),
            Target::RedisAlways => redis_server_command(port, &data, true),
            Target::RedisNoPersist => redis_server_command(port, &data, false),
        };
        let mut proc = Proc::spawn(target.label(), cmd, &log)?;
        let started = Instant::now();
        wait_writable(&mut proc, port, START_TIMEOUT)?;
        eprintln!(
            "{} (pid {}) serving 127.0.0.1:{port} after {:.1} s, data in {}",
            target.describe(),
            proc.pid(),
            started.elapsed().as_secs_f64(),
            data.display()
        );
        Ok(Server {
            target,
            port,
            proc,
            dir: data,
        })
    }

    pub fn stop(self) {
        self.proc.stop(STOP_GRACE);
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.clients == 0 || args.pipeline == 0 || args.requests == 0 || args.data_size == 0 {
        bail!("--clients, --pipeline, --requests and --data-size must be at least 1");
    }
    if args.tests.trim().is_empty() || args.tests.contains(char::is_whitespace) {
        bail!("--tests must be a comma-separated list without spaces, such as set,get");
    }
    which("redis-server")?;
    which("redis-benchmark")?;
    let memoir = Memoir::from_args(&args.servers)?;
    let scratch = scratch_dir(args.servers.scratch.dir.as_deref())?;
    eprintln!(
        "memoir-bench redis-compare: data and logs in {}",
        scratch.path().display()
    );
    let result = compare(&args, &memoir, scratch.path());
    finish_scratch(scratch, args.servers.scratch.keep, result.is_err());
    result
}

fn compare(args: &Args, memoir: &Memoir, scratch: &Path) -> anyhow::Result<()> {
    let mut results = Vec::new();
    for target in [Target::Memoir, Target::RedisAlways, Target::RedisNoPersist] {
        let mut server = Server::start(target, memoir, scratch)?;
        eprintln!(
            "redis-benchmark -c {} -P {} -n {} -d {} -t {} against {}",
            args.clients,
            args.pipeline,
            args.requests,
            args.data_size,
            args.tests,
            target.describe()
        );
        let rows = redis_benchmark(args, &mut server, scratch)?;
        server.stop();
        for row in &rows {
            eprintln!(
                "  {}: {:.0} requests/s, p50 {:.3} ms, p99 {:.3} ms, CPU per request {:.2} us (redis-benchmark {:.2} us)",
                row.test, row.rps, row.p50_ms, row.p99_ms, row.server_cpu_us, row.bench_cpu_us
            );
        }
        results.push(rows);
    }
    let [memoir_rows, always_rows, nopersist_rows] = &results[..] else {
        bail!("expected results of three servers");
    };
    for m in memoir_rows {
        let find = |rows: &[Row], name: &str| {
            rows.iter()
                .find(|r| r.test == m.test)
                .cloned()
                .ok_or_else(|| anyhow!("redis-benchmark printed no {} result for {name}", m.test))
        };
        let always = find(always_rows, "redis-server (appendfsync always)")?;
        let nopersist = find(nopersist_rows, "redis-server (no persistence)")?;
        eprintln!(
            "{}: memoir/redis_always rps {:.2}x, memoir/redis_always p99 {:.2}x, memoir/redis_nopersist rps {:.2}x",
            m.test,
            ratio(m.rps, always.rps),
            ratio(m.p99_ms, always.p99_ms),
            ratio(m.rps, nopersist.rps),
        );
        println!(
            "compare test={} pipeline={} memoir_rps={:.0} redis_always_rps={:.0} redis_nopersist_rps={:.0} memoir_p50_ms={:.3} memoir_p99_ms={:.3} redis_always_p99_ms={:.3}",
            m.test, args.pipeline, m.rps, always.rps, nopersist.rps, m.p50_ms, m.p99_ms, always.p99_ms,
        );
        println!(
            "cpu test={} pipeline={} memoir_us_per_request={:.2} redis_always_us_per_request={:.2} redis_nopersist_us_per_request={:.2} memoir_client_us_per_request={:.2} redis_always_client_us_per_request={:.2} redis_nopersist_client_us_per_request={:.2}",
            m.test,
            args.pipeline,
            m.server_cpu_us,
            always.server_cpu_us,
            nopersist.server_cpu_us,
            m.bench_cpu_us,
            always.bench_cpu_us,
            nopersist.bench_cpu_us,
        );
    }
    Ok(())
}

pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

/// One test's line of redis-benchmark's CSV.
#[derive(Clone, Debug)]
struct Row {
    /// Lower-case first word of the test name: `set`, `get`, `lrange_100`.
    test: String,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU the server used per request (all its threads), in microseconds.
    server_cpu_us: f64,
    /// CPU redis-benchmark itself used per request, in microseconds.
    bench_cpu_us: f64,
}

/// Runs redis-benchmark against `server`, one test at a time, so that
/// each test's CPU can be charged to it: the server process's (all its
/// threads: for `memoir dev`, the whole cluster) and redis-benchmark's.
fn redis_benchmark(args: &Args, server: &mut Server, scratch: &Path) -> anyhow::Result<Vec<Row>> {
    let label = server.target.label();
    let mut rows = Vec::new();
    for test in args.tests.split(',').filter(|t| !t.is_empty()) {
        let csv_path = scratch.join(format!("{label}-{test}-redis-benchmark.csv"));
        let csv = File::create(&csv_path).with_context(|| format!("creating {}", csv_path.display()))?;
        let mut cmd = Command::new("redis-benchmark");
        cmd.args(["-h", "127.0.0.1", "-p", &server.port.to_string()])
            .args(["-c", &args.clients.to_string(), "-P", &args.pipeline.to_string()])
            .args(["-n", &args.requests.to_string(), "-d", &args.data_size.to_string()])
            .args(["-t", test, "--csv"]);
        let log = scratch.join(format!("{label}-{test}-redis-benchmark.log"));
        let server_cpu_before = process_cpu_s(server.proc.pid())?;
        let bench_cpu_before = reaped_children_cpu_s();
        let mut bench = Proc::spawn_with_stdout("redis-benchmark", cmd, csv, &log)?;
        let status = bench.wait_exit(Duration::from_secs(args.timeout_s), Some(&mut server.proc))?;
        let server_cpu_s = process_cpu_s(server.proc.pid())? - server_cpu_before;
        let bench_cpu_s = reaped_children_cpu_s() - bench_cpu_before;
        if !status.success() {
            bail!(
                "redis-benchmark against {label} failed ({status}); end of {}:\n{}",
                log.display(),
                tail(&log)
            );
        }
        let text = std::fs::read_to_string(&csv_path).with_context(|| format!("reading {}", csv_path.display()))?;
        let parsed =
            parse_csv(&text).with_context(|| format!("parsing redis-benchmark's CSV in {}", csv_path.display()))?;
        if parsed.is_empty() {
            bail!(
                "redis-benchmark -t {test} against {label} printed no results (see {})",
                log.display()
            );
        }
        // One name may stand for several tests (`-t lrange` runs four):
        // their CPU is shared out evenly.
        let requests = args.requests as f64 * parsed.len() as f64;
        let per_request_us = |cpu_s: f64| cpu_s * 1e6 / requests;
        rows.extend(parsed.into_iter().map(|row| Row {
            server_cpu_us: per_request_us(server_cpu_s),
            bench_cpu_us: per_request_us(bench_cpu_s),
            ..row
        }));
    }
    Ok(rows)
}

/// CPU seconds (user + system, all threads) a running process has used so
/// far, from `/proc/<pid>/stat`.
fn process_cpu_s(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let ticks = stat_cpu_ticks(&stat).with_context(|| format!("parsing {path}"))?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks_per_s <= 0 {
        bail!("sysconf(_SC_CLK_TCK) returned {ticks_per_s}");
    }
    Ok(ticks as f64 / ticks_per_s as f64)
}

/// utime + stime (fields 14 and 15, in clock ticks) of a `/proc/<pid>/stat`
/// line. The command name (field 2) may hold spaces and parentheses, so
/// fields are counted from its last closing parenthesis.
fn stat_cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let (_, rest) = stat.rsplit_once(')').context("no command name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |number: usize| -> anyhow::Result<u64> {
        // `rest` starts at field 3.
        let text = fields.get(number - 3).with_context(|| format!("no field {number}"))?;
        text.parse().with_context(|| format!("field {number} is {text:?}"))
    };
    Ok(field(14)? + field(15)?)
}

/// CPU seconds used by this process's children that have been waited for.
/// The difference around one child's run is that child's CPU, provided no
/// other child is reaped meanwhile (the servers are stopped only later).
fn reaped_children_cpu_s() -> f64 {
    // SAFETY: `getrusage` writes a whole `rusage` (all integers, so the
    // zeroed value is valid) and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return f64::NAN;
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Parses redis-benchmark 7's `--csv` output, finding columns by their
/// header names (`test`, `rps`, `p50_latency_ms`, `p99_latency_ms`).
fn parse_csv(text: &str) -> anyhow::Result<Vec<Row>> {
    fn fields(line: &str) -> Vec<&str> {
        line.split(',').map(|f| f.trim().trim_matches('"')).collect()
    }
    let mut lines = text.lines().filter(|l| l.starts_with('"'));
    let header = fields(lines.next().context("no CSV header line")?);
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| anyhow!("no {name:?} column in the header {header:?}"))
    };
    let (test, rps, p50, p99) = (
        column("test")?,
        column("rps")?,
        column("p50_latency_ms")?,
        column("p99_latency_ms")?,
    );
    let mut rows = Vec::new();
    for line in lines {
        let f = fields(line);
        let get = |i: usize| f.get(i).copied().ok_or_else(|| anyhow!("short CSV line {line:?}"));
        let number = |i: usize| -> anyhow::Result<f64> {
            let s = get(i)?;
            s.parse().with_context(|| format!("{s:?} in {line:?} is not a number"))
        };
        let name = get(test)?.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        rows.push(Row {
            test: name,
            rps: number(rps)?,
            p50_ms: number(p50)?,
            p99_ms: number(p99)?,
            server_cpu_us: f64::NAN,
            bench_cpu_us: f64::NAN,
        });
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------
// Process plumbing shared by redis-compare, failover and memory.

/// A child process whose stdout and stderr go to a log file. It is killed
/// (SIGKILL) and reaped on drop unless it was stopped first, and it gets
/// SIGKILL from the kernel should this process die without unwinding.
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    reaped: bool,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, cmd: Command, log: &Path) -> anyhow::Result<Proc> {
        Self::start(name, cmd, None, log)
    }

    /// Starts `cmd` with stdout to `stdout` and stderr appended to `log`.
    pub fn spawn_with_stdout(name: &str, cmd: Command, stdout: File, log: &Path) -> anyhow::Result<Proc> {
        Self::start(name, cmd, Some(stdout), log)
    }

    fn start(name: &str, mut cmd: Command, stdout: Option<File>, log: &Path) -> anyhow::Result<Proc> {
        let log_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let stdout = match stdout {
            Some(f) => f,
            None => log_file.try_clone().context("duplicating a log file handle")?,
        };
        cmd.stdin(Stdio::null()).stdout(stdout).stderr(log_file);
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: {:?}", cmd.get_program()))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
            reaped: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// An error (with the end of the log) if the process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if self.reaped {
            bail!("{} was already stopped", self.name);
        }
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.reaped = true;
                Err(anyhow!(
                    "{} exited unexpectedly ({status}); end of {}:\n{}",
                    self.name,
                    self.log.display(),
                    tail(&self.log)
                ))
            }
            Err(e) => Err(anyhow!("waiting for {}: {e}", self.name)),
        }
    }

    /// Waits up to `timeout` for the process to exit, killing it after that.
    /// If `watch` exits meanwhile (the server a client runs against), kills
    /// this process and fails.
    pub fn wait_exit(&mut self, timeout: Duration, mut watch: Option<&mut Proc>) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .with_context(|| format!("waiting for {}", self.name))?
            {
                self.reaped = true;
                return Ok(status);
            }
            if let Some(server) = watch.as_deref_mut() {
                if let Err(e) = server.check_running() {
                    self.kill9()?;
                    return Err(e.context(format!("while {} was running", self.name)));
                }
            }
            if Instant::now() >= deadline {
                self.kill9()?;
                bail!(
                    "{} did not finish within {} s (killed); see {}",
                    self.name,
                    timeout.as_secs(),
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then up to `grace` for the process to exit, then SIGKILL.
    /// Problems are reported on stderr: results are already measured.
    pub fn stop(mut self, grace: Duration) {
        if self.reaped {
            return;
        }
        if let Err(e) = signal(self.pid(), libc::SIGTERM) {
            eprintln!("warning: SIGTERM to {}: {e}", self.name);
        }
        let deadline = Instant::now() + grace;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    if !status.success() && status.signal() != Some(libc::SIGTERM) {
                        eprintln!("warning: {} exited with {status} after SIGTERM", self.name);
                    }
                    return;
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    eprintln!(
                        "warning: {} still running {} s after SIGTERM; killing it",
                        self.name,
                        grace.as_secs()
                    );
                    break;
                }
                Err(e) => {
                    eprintln!("warning: waiting for {}: {e}", self.name);
                    break;
                }
            }
        }
        if let Err(e) = self.kill9() {
            eprintln!("warning: {e:#}");
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        if self.reaped {
            return Ok(());
        }
        self.child.kill().with_context(|| format!("killing {}", self.name))?;
        self.child.wait().with_context(|| format!("reaping {}", self.name))?;
        self.reaped = true;
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Asks the kernel to SIGKILL the child when the thread that started it
/// exits, so that no server outlives an aborted benchmark. Children are
/// started from the main thread only, which lives as long as the process.
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only
    // calls prctl, which is async-signal-safe and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

pub fn signal(pid: u32, sig: libc::c_int) -> anyhow::Result<()> {
    let pid = libc::pid_t::try_from(pid).context("pid out of range")?;
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own child.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

/// The last 2 KiB of a log file, for error messages.
pub fn tail(path: &Path) -> String {
    let read = || -> std::io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.seek(SeekFrom::End(0))?;
        f.seek(SeekFrom::Start(len.saturating_sub(2048)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(if buf.is_empty() {
            "(empty)".to_string()
        } else {
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    read().unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

/// Waits until `needle` appears in the process's log (a readiness line
/// the process prints on stdout or stderr).
pub fn wait_log_line(proc: &mut Proc, needle: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        proc.check_running()?;
        if std::fs::read_to_string(&proc.log).is_ok_and(|text| text.contains(needle)) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{} did not print {needle:?} within {} s; end of {}:\n{}",
                proc.name,
                timeout.as_secs(),
                proc.log.display(),
                tail(&proc.log)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reserves a free loopback port (held by a listener in `held` until the
/// caller drops it).
pub fn reserve_port(held: &mut Vec<TcpListener>) -> anyhow::Result<u16> {
    let listener = bind_below_ephemeral().map_or_else(
        || TcpListener::bind("127.0.0.1:0").context("binding a free loopback port"),
        Ok,
    )?;
    let port = listener.local_addr()?.port();
    held.push(listener);
    Ok(port)
}

/// Ports for servers the benchmarks start (and restart, in chaos) come from
/// below Linux's ephemeral range (32768 and up by default): a port from
/// that range, free while its server is down, can be taken as the local
/// port of any outgoing connection (a client reconnecting), and the server
/// then cannot bind it again.
fn bind_below_ephemeral() -> Option<TcpListener> {
    (0..20).find_map(|_| TcpListener::bind(memoir_journal::test_ports::free_loopback_addr()).ok())
}

/// Reserves two consecutive free loopback ports P and P+1 and returns P.
pub fn reserve_port_pair(held: &mut Vec<TcpListener>) -> anyhow::Result<u16> {
    reserve_consecutive(held, 2)
}

/// Reserves `n` consecutive free loopback ports and returns the first.
pub fn reserve_consecutive(held: &mut Vec<TcpListener>, n: u16) -> anyhow::Result<u16> {
    'attempt: for _ in 0..100 {
        let first = TcpListener::bind("127.0.0.1:0").context("binding a free loopback port")?;
        let port = first.local_addr()?.port();
        let mut run = vec![first];
        for k in 1..n {
            let Some(next) = port.checked_add(k) else {
                continue 'attempt;
            };
            match TcpListener::bind(("127.0.0.1", next)) {
                Ok(l) => run.push(l),
                Err(_) => continue 'attempt,
            }
        }
        held.extend(run);
        return Ok(port);
    }
    bail!("found no {n} consecutive free loopback ports in 100 tries")
}

/// A connection with `timeout` on connect, reads and writes.
pub fn connect(port: u16, timeout: Duration) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let con = client.get_connection_with_timeout(timeout)?;
    con.set_read_timeout(Some(timeout))?;
    con.set_write_timeout(Some(timeout))?;
    Ok(con)
}

/// Waits until the server on `port` answers PING and acknowledges a SET.
pub fn wait_writable(proc: &mut Proc, port: u16, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let try_write = || -> redis::RedisResult<()> {
        let mut con = connect(port, Duration::from_millis(500))?;
        redis::cmd("PING").query::<String>(&mut con)?;
        redis::cmd("SET")
            .arg("memoir-bench:ready")
            .arg("1")
            .query::<()>(&mut con)
    };
    loop {
        proc.check_running()?;
        let last = match try_write() {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            bail!(
                "{} on 127.0.0.1:{port} did not acknowledge a write within {} s (last error: {last}); end of {}:\n{}",
                proc.name,
                timeout.as_secs(),
                proc.log.display(),
                tail(&proc.log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// redis-server on 127.0.0.1:`port` with `--dir dir`, no RDB save points,
/// and an AOF fsynced on every write if `always` (else no AOF).
pub fn redis_server_command(port: u16, dir: &Path, always: bool) -> Command {
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--daemonize", "no"])
        .args(["--save", ""])
        .arg("--dir")
        .arg(dir);
    if always {
        cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
    } else {
        cmd.args(["--appendonly", "no"]);
    }
    cmd
}

/// How to start Memoir: the binary, or (for testing the harness) a shell
/// command in its place.
pub enum Memoir {
    Bin(PathBuf),
    Cmd(String),
}

impl Memoir {
    pub fn from_args(args: &ServerArgs) -> anyhow::Result<Memoir> {
        match &args.memoir_cmd {
            Some(cmd) => Ok(Memoir::Cmd(cmd.clone())),
            None => Ok(Memoir::Bin(memoir_bin(args.scratch.memoir_bin.as_deref())?)),
        }
    }

    /// `memoir dev --port P --journal-port J --data-dir DIR`: a primary on P,
    /// a replica on P+1 and journal replicas on J, J+1 and J+2.
    fn dev_command(&self, port: u16, journal_port: u16, dir: &Path) -> Command {
        match self {
            Memoir::Bin(bin) => {
                let mut cmd = Command::new(bin);
                cmd.args(["dev", "--port", &port.to_string()])
                    .args(["--journal-port", &journal_port.to_string()])
                    .arg("--data-dir")
                    .arg(dir);
                cmd
            }
            Memoir::Cmd(template) => {
                let dir = format!("'{}'", dir.display().to_string().replace('\'', r"'\''"));
                let line = template.replace("{port}", &port.to_string()).replace("{dir}", &dir);
                let mut cmd = Command::new("sh");
                // exec, so that the pid (signals, RSS) is the server's.
                cmd.arg("-c").arg(format!("exec {line}"));
                cmd
            }
        }
    }
}

/// The `memoir` binary: `explicit`, or the one next to this executable.
pub fn memoir_bin(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let bin = match explicit {
        Some(bin) => bin.to_path_buf(),
        None => std::env::current_exe()?.with_file_name("memoir"),
    };
    if !bin.is_file() {
        bail!(
            "{} not found: build it (cargo build --release -p memoir) or pass --memoir-bin",
            bin.display()
        );
    }
    Ok(bin)
}

/// Fails early with a hint if `program` is not on PATH.
pub fn which(program: &str) -> anyhow::Result<()> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    if !found {
        bail!("{program} not found on PATH: install redis-server and redis-tools (bash scripts/setup.sh)");
    }
    Ok(())
}

/// `INFO section`.
pub fn info(con: &mut redis::Connection, section: &str) -> redis::RedisResult<String> {
    redis::cmd("INFO").arg(section).query(con)
}

/// The value of `name:value` in an INFO reply.
pub fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
        .map(str::trim)
}

/// VmRSS of process `pid`, in KiB.
pub fn vm_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .with_context(|| format!("no VmRSS in {path}"))?;
    let kib = line.trim().trim_end_matches("kB").trim();
    kib.parse().with_context(|| format!("VmRSS {line:?} in {path}"))
}

/// Where a benchmark that starts `memoir` processes keeps its data and
/// logs, and which binary it starts: the same three flags on every such
/// subcommand.
#[derive(clap::Args, Clone, Debug)]
pub struct ScratchArgs {
    /// Where to put data and logs (default: ./bench-data, on the project's disk).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the scratch directory (data and logs) afterwards; it is always kept on failure.
    #[arg(long)]
    pub keep: bool,
    /// The `memoir` binary (default: next to this one).
    #[arg(long)]
    pub memoir_bin: Option<PathBuf>,
}

/// Keeps the scratch directory if asked to or if the run failed (its logs
/// say why); otherwise it is removed.
pub fn finish_scratch(scratch: tempfile::TempDir, keep: bool, failed: bool) {
    if keep || failed {
        let path = scratch.keep();
        eprintln!("kept {} (data and logs)", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_benchmark_7_csv() -> anyhow::Result<()> {
        let text = concat!(
            "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n",
            "\"SET\",\"87719.30\",\"0.302\",\"0.064\",\"0.287\",\"0.375\",\"0.751\",\"1.839\"\n",
            "\"LRANGE_100 (first 100 elements)\",\"90909.09\",\"0.284\",\"0.072\",\"0.287\",\"0.343\",\"0.471\",\"1.103\"\n",
        );
        let rows = parse_csv(text)?;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].test, "set");
        assert!((rows[0].rps - 87719.30).abs() < 1e-6);
        assert!((rows[0].p50_ms - 0.287).abs() < 1e-9);
        assert!((rows[0].p99_ms - 0.751).abs() < 1e-9);
        assert_eq!(rows[1].test, "lrange_100");
        Ok(())
    }

    #[test]
    fn reads_cpu_ticks_past_a_command_name_with_spaces() -> anyhow::Result<()> {
        let stat = "4242 (memoir (dev) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 731 215 0 0 20 0 9 0 77 0 0";
        assert_eq!(stat_cpu_ticks(stat)?, 731 + 215);
        assert!(stat_cpu_ticks("4242 (short) S 1 2").is_err());
        assert!(stat_cpu_ticks("no name at all").is_err());
        Ok(())
    }

    #[test]
    fn rejects_csv_without_the_needed_columns() {
        assert!(parse_csv("\"test\",\"rps\"\n\"SET\",\"1\"\n").is_err());
        assert!(parse_csv("").is_err());
    }
}
