//! `memoir-bench`: Memoir's benchmark harness. Each benchmark is a
//! subcommand that prints human-readable progress on stderr and, as the last
//! line on stdout, one line of `key=value` pairs that tools parse.

mod journal;
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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Journal(args) => journal::run(args),
    }
}
