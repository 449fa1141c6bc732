//! `memoir-bench`: Memoir's benchmark harness. Each benchmark is a
//! subcommand that prints human-readable progress on stderr and, as the last
//! line on stdout, one line of `key=value` pairs that tools parse.

mod chaos;
mod cluster;
mod failover;
mod journal;
mod memory;
mod redis_compare;
mod rehydrate;
mod snapshot_impact;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "memoir-bench", about = "Memoir benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Appends through the journal: one local segment store, or (with
    /// --replicas 3) a replicated journal of real processes on loopback.
    Journal(journal::Args),
    /// redis-benchmark against `memoir dev`, redis-server with appendfsync
    /// always and redis-server without persistence, one after the other.
    RedisCompare(redis_compare::Args),
    /// Time from kill -9 of the primary memory node to the first write the
    /// new primary acknowledges.
    Failover(failover::Args),
    /// Resident memory of one memory node (`memoir server` over three
    /// `memoir journal` processes) and of redis-server holding the same keys.
    Memory(memory::Args),
    /// Latency and primary RSS while a snapshot is taken: Memoir's
    /// off-box snapshot service against redis-server's forking BGSAVE.
    SnapshotImpact(snapshot_impact::Args),
    /// Time for a new Memoir memory node to load the newest snapshot,
    /// against redis-server loading its RDB at start.
    Rehydrate(rehydrate::Args),
    /// Proof under faults: a cluster of processes under kill -9, pauses,
    /// partitions, torn tails and bit flips from a seeded schedule, with
    /// client histories checked (no acknowledged write lost, linearizable
    /// registers). Exits non-zero on a violation.
    Chaos(chaos::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Journal(args) => journal::run(args),
        Command::RedisCompare(args) => redis_compare::run(args),
        Command::Failover(args) => failover::run(args),
        Command::Memory(args) => memory::run(args),
        Command::SnapshotImpact(args) => snapshot_impact::run(args),
        Command::Rehydrate(args) => rehydrate::run(args),
        Command::Chaos(args) => chaos::run(args),
    }
}
