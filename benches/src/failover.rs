//! `memoir-bench failover`: how long writes stop when the primary memory
//! node dies.
//!
//! Starts three `memoir journal` processes and two `memoir server`
//! processes (a primary on P, a replica on P+1), keeps a writer issuing SETs
//! to whichever node accepts them, kill -9s the primary and measures from
//! the kill to the first write the other node acknowledges. The killed node
//! is then restarted (it must rejoin as a replica) and the next trial kills
//! the new primary.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use crate::cluster::{role, server_command, Journals, Role};
use crate::redis_compare::{
    connect, finish_scratch, memoir_bin, reserve_port, reserve_port_pair, tail, Proc, ScratchArgs, START_TIMEOUT,
    STOP_GRACE,
};
use crate::stats::scratch_dir;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Primary kills to measure.
    #[arg(long, default_value_t = 5)]
    trials: usize,
    /// The memory nodes' lease (`memoir server --lease-ms`).
    #[arg(long, default_value_t = 1000)]
    lease_ms: u64,
    #[command(flatten)]
    scratch: ScratchArgs,
}

/// Pause between two writes to the node that accepts them.
const WRITE_PACE: Duration = Duration::from_millis(1);
/// Pause between two rounds of attempts on every candidate, after an error.
const RETRY_PACE: Duration = Duration::from_millis(5);
/// How long the writer must have been writing to the primary before a kill.
const WARM_UP: Duration = Duration::from_millis(300);
/// Connect, read and write timeout of the writer's connections.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.trials == 0 || args.lease_ms == 0 {
        bail!("--trials and --lease-ms must be at least 1");
    }
    let bin = memoir_bin(args.scratch.memoir_bin.as_deref())?;
    let scratch = scratch_dir(args.scratch.dir.as_deref())?;
    eprintln!("memoir-bench failover: data and logs in {}", scratch.path().display());
    let result = trials(&args, &bin, scratch.path());
    finish_scratch(scratch, args.scratch.keep, result.is_err());
    let mut ms = result?;
    ms.sort_by(f64::total_cmp);
    let p50 = ms[ms.len().div_ceil(2) - 1];
    let max = ms[ms.len() - 1];
    println!(
        "failover trials={} lease_ms={} p50_ms={p50:.1} max_ms={max:.1}",
        ms.len(),
        args.lease_ms
    );
    Ok(())
}

/// The processes of one deployment: three journal replicas and the two
/// memory nodes (index 0 on port P, 1 on P+1).
struct Deployment {
    bin: PathBuf,
    dir: PathBuf,
    lease_ms: u64,
    ports: [u16; 2],
    journals: Journals,
    nodes: [Option<Proc>; 2],
}

impl Deployment {
    fn start_journals(bin: &Path, dir: &Path, lease_ms: u64) -> anyhow::Result<Deployment> {
        let mut held = Vec::new();
        let journal_ports = [
            reserve_port(&mut held)?,
            reserve_port(&mut held)?,
            reserve_port(&mut held)?,
        ];
        let port = reserve_port_pair(&mut held)?;
        drop(held);
        let journals = Journals::start(bin, dir, journal_ports)?;
        eprintln!(
            "journal replicas on {}; memory nodes will serve 127.0.0.1:{port} and :{}",
            journals.addrs,
            port + 1
        );
        Ok(Deployment {
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            lease_ms,
            ports: [port, port + 1],
            journals,
            nodes: [None, None],
        })
    }

    /// Starts (or restarts, over the same data directory) memory node `i`.
    fn start_node(&mut self, i: usize) -> anyhow::Result<()> {
        let cmd = server_command(
            &self.bin,
            &self.journals.addrs,
            self.ports[i],
            &self.dir.join(format!("node-{i}")),
            self.lease_ms,
        );
        let log = self.dir.join(format!("node-{i}.log"));
        self.nodes[i] = Some(Proc::spawn(&format!("memoir server {i}"), cmd, &log)?);
        Ok(())
    }

    fn node(&mut self, i: usize) -> anyhow::Result<&mut Proc> {
        self.nodes[i]
            .as_mut()
            .ok_or_else(|| anyhow!("memory node {i} is not running"))
    }

    /// Fails if any process has exited.
    fn check_running(&mut self) -> anyhow::Result<()> {
        self.journals.check_running()?;
        for n in self.nodes.iter_mut().flatten() {
            n.check_running()?;
        }
        Ok(())
    }

    /// ROLE of every running node (None: no answer).
    fn roles(&self) -> [Option<Role>; 2] {
        let ask = |i: usize| -> Option<Role> {
            self.nodes[i].as_ref()?;
            let mut con = connect(self.ports[i], Duration::from_millis(300)).ok()?;
            role(&mut con).ok()
        };
        [ask(0), ask(1)]
    }

    /// Waits until exactly one node says it is the master, and returns it.
    fn wait_primary(&mut self, timeout: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_running()?;
            let roles = self.roles();
            let masters: Vec<usize> = (0..2)
                .filter(|&i| roles[i].as_ref().is_some_and(|r| r.name == "master"))
                .collect();
            if let [primary] = masters[..] {
                return Ok(primary);
            }
            if Instant::now() >= deadline {
                bail!(
                    "no single primary within {} s (ROLE: {roles:?}); see the logs in {}",
                    timeout.as_secs(),
                    self.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until node `i` answers ROLE as a replica, connected to its
    /// primary if ROLE reports the link's state (as Redis does).
    fn wait_replica(&mut self, i: usize, timeout: Duration) -> anyhow::Result<Role> {
        let deadline = Instant::now() + timeout;
        loop {
            self.node(i)?.check_running()?;
            if let Some(r) = self.roles()[i].take() {
                if r.name != "master" && r.link.as_deref().is_none_or(|l| l == "connected") {
                    return Ok(r);
                }
            }
            if Instant::now() >= deadline {
                let log = self.node(i)?.log().to_path_buf();
                bail!(
                    "memory node {i} did not come up as a replica within {} s; end of {}:\n{}",
                    timeout.as_secs(),
                    log.display(),
                    tail(&log)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(mut self) {
        for node in self.nodes.iter_mut() {
            if let Some(p) = node.take() {
                p.stop(STOP_GRACE);
            }
        }
        self.journals.stop();
    }
}

fn trials(args: &Args, bin: &Path, dir: &Path) -> anyhow::Result<Vec<f64>> {
    let lease = Duration::from_millis(args.lease_ms);
    let mut d = Deployment::start_journals(bin, dir, args.lease_ms)?;
    d.start_node(0)?;
    let started = Instant::now();
    d.wait_primary(START_TIMEOUT + lease)?;
    eprintln!(
        "memory node 0 is primary after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    d.start_node(1)?;
    let r = d.wait_replica(1, START_TIMEOUT + lease)?;
    eprintln!("memory node 1 is up (ROLE {r})");

    let writer = Writer::start(d.ports);
    let takeover_timeout = Duration::from_secs(30) + 10 * lease;
    let mut results = Vec::new();
    let mut lost = 0;
    for trial in 1..=args.trials {
        let primary = d.wait_primary(takeover_timeout)?;
        let other = 1 - primary;
        // The writer must be writing to the primary before the kill.
        writer.wait_for(
            Duration::from_secs(10),
            "steady writes acknowledged by the primary",
            |s| {
                let steady = s.run_start[primary].is_some_and(|t| t.elapsed() >= WARM_UP);
                (s.current == Some(primary) && steady && s.acks[primary] >= s.acks_at_switch + 20).then_some(())
            },
        )?;
        let kill_at = Instant::now();
        d.node(primary)?.kill9()?;
        let took_over = writer
            .wait_for(takeover_timeout, "a write acknowledged by the new primary", |s| {
                s.run_start[other].filter(|&t| t > kill_at)
            })
            .with_context(|| format!("trial {trial}: after kill -9 of memory node {primary}"))?;
        let ms = took_over.duration_since(kill_at).as_secs_f64() * 1000.0;
        eprintln!("failover trial={trial} ms={ms:.1}");
        results.push(ms);
        if !check_last_write(&writer, primary, d.ports[other]) {
            lost += 1;
        }

        // The killed node comes back over its data and must rejoin as a replica.
        d.start_node(primary)?;
        let r = d.wait_replica(primary, START_TIMEOUT + lease)?;
        eprintln!("memory node {primary} restarted (ROLE {r})");
    }
    let totals = writer.stop();
    eprintln!(
        "writer: {} writes acknowledged, {} errors (READONLY and connection errors are expected)",
        totals.0, totals.1
    );
    if lost > 0 {
        eprintln!(
            "warning: in {lost} of {} trials the new primary lacked the killed one's last acknowledged write",
            args.trials
        );
    }
    d.stop();
    Ok(results)
}

/// The last write the killed primary acknowledged must be on the new one.
/// False (after a warning) if it is not.
fn check_last_write(writer: &Writer, killed: usize, new_port: u16) -> bool {
    let Some(seq) = writer.state().last_seq[killed] else {
        return true;
    };
    let key = format!("failover:{seq}");
    let got =
        connect(new_port, WRITE_TIMEOUT).and_then(|mut con| redis::cmd("GET").arg(&key).query::<Option<u64>>(&mut con));
    match got {
        Ok(Some(v)) if v == seq => true,
        Ok(other) => {
            eprintln!(
                "warning: LOST ACKNOWLEDGED WRITE: {key} (last acknowledged by the killed primary) reads {other:?} on the new primary"
            );
            false
        }
        Err(e) => {
            eprintln!("warning: could not read back {key} on the new primary: {e}");
            true
        }
    }
}

#[derive(Default)]
struct WriterState {
    /// The node the writer is writing to (None: it is probing every node).
    current: Option<usize>,
    /// When the current run of acknowledged writes on each node began.
    run_start: [Option<Instant>; 2],
    /// Acknowledged writes per node.
    acks: [u64; 2],
    /// `acks` of the current node when the writer switched to it.
    acks_at_switch: u64,
    /// Sequence number of the last write each node acknowledged.
    last_seq: [Option<u64>; 2],
    errors: u64,
    last_error: Option<String>,
}

/// A thread writing `SET failover:SEQ SEQ` to whichever node accepts it:
/// back to back to the node that last acknowledged, and after an error to
/// each candidate in turn every 5 ms. Stopped and joined on drop.
struct Writer {
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<WriterState>>,
    handle: Option<JoinHandle<()>>,
}

impl Writer {
    fn start(ports: [u16; 2]) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(WriterState::default()));
        let (stop2, state2) = (stop.clone(), state.clone());
        let handle = std::thread::spawn(move || write_loop(ports, &stop2, &state2));
        Writer {
            stop,
            state,
            handle: Some(handle),
        }
    }

    fn state(&self) -> MutexGuard<'_, WriterState> {
        lock(&self.state)
    }

    /// Polls the writer's state until `ready` returns a value.
    fn wait_for<T>(
        &self,
        timeout: Duration,
        what: &str,
        ready: impl Fn(&WriterState) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let s = self.state();
                if let Some(v) = ready(&s) {
                    return Ok(v);
                }
                if Instant::now() >= deadline {
                    bail!(
                        "no {what} within {} s (writer on {:?}, {} errors, last: {})",
                        timeout.as_secs(),
                        s.current,
                        s.errors,
                        s.last_error.as_deref().unwrap_or("none")
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops the thread; returns (acknowledged writes, errors).
    fn stop(mut self) -> (u64, u64) {
        self.join();
        let s = self.state();
        (s.acks[0] + s.acks[1], s.errors)
    }

    fn join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.join();
    }
}

fn lock(state: &Mutex<WriterState>) -> MutexGuard<'_, WriterState> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write_loop(ports: [u16; 2], stop: &AtomicBool, state: &Mutex<WriterState>) {
    let mut conns: [Option<redis::Connection>; 2] = [None, None];
    let mut current: Option<usize> = None;
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let candidates = match current {
            Some(i) => i..i + 1,
            None => 0..2,
        };
        for i in candidates {
            seq += 1;
            let result = write(&mut conns[i], ports[i], seq);
            let mut s = lock(state);
            match result {
                Ok(at) => {
                    if current != Some(i) {
                        current = Some(i);
                        s.current = Some(i);
                        s.run_start[i] = Some(at);
                        s.acks_at_switch = s.acks[i];
                    }
                    s.acks[i] += 1;
                    s.last_seq[i] = Some(seq);
                    break;
                }
                Err(e) => {
                    current = None;
                    s.current = None;
                    s.errors += 1;
                    s.last_error = Some(format!("node {i} (port {}): {e}", ports[i]));
                }
            }
        }
        std::thread::sleep(if current.is_some() { WRITE_PACE } else { RETRY_PACE });
    }
}

/// One SET; returns when it was acknowledged. Keeps the connection after a
/// server error (READONLY), drops it after a connection error.
fn write(conn: &mut Option<redis::Connection>, port: u16, seq: u64) -> redis::RedisResult<Instant> {
    let mut con = match conn.take() {
        Some(c) => c,
        None => connect(port, WRITE_TIMEOUT)?,
    };
    let result = redis::cmd("SET")
        .arg(format!("failover:{seq}"))
        .arg(seq)
        .query::<()>(&mut con);
    match result {
        Ok(()) => {
            let at = Instant::now();
            *conn = Some(con);
            Ok(at)
        }
        Err(e) => {
            let broken = e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal();
            if !broken {
                *conn = Some(con);
            }
            Err(e)
        }
    }
}
