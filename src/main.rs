//! `memoir`: the command-line entry point to every Memoir server and tool.

mod allocator;
mod inspect;
mod journal_replica;
mod memory_server;
mod open_files;
mod security;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "memoir",
    version,
    about = "Memoir: a durable, Redis-compatible, memory-first database"
)]
struct Cli {
    /// Log filter (also RUST_LOG), for example `info` or `memoir_journal=debug`.
    #[arg(long, global = true, default_value = "info", env = "MEMOIR_LOG")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one journal replica over a local segment store.
    Journal(journal_replica::Args),
    /// Run one memory node (RESP) over a running journal.
    Server(memory_server::ServerArgs),
    /// Run a whole local cluster in one process: three journal replicas, a
    /// primary and a replica memory node, on loopback.
    Dev(memory_server::DevArgs),
    /// Run the snapshot service: a shadow replica writing RocksDB SST
    /// snapshots into a store, and trimming the journal behind them.
    Snapshot(memory_server::SnapshotArgs),
    /// Status of running servers.
    Status {
        /// Journal replicas, comma-separated HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103")]
        journal: String,
        #[command(flatten)]
        security: security::JournalSecurityArgs,
    },
    /// Print and verify on-disk data.
    Inspect {
        #[command(subcommand)]
        what: Inspect,
    },
}

#[derive(Subcommand)]
enum Inspect {
    /// Every journal segment in DIR (a replica's data directory or its
    /// `log/`): range, batches, and any damage with its offset.
    Segments {
        dir: PathBuf,
        /// Also print every entry's seq and length.
        #[arg(long)]
        entries: bool,
    },
    /// A snapshot (a directory with a MANIFEST) or every snapshot of a
    /// store: manifest fields, then each file read back and verified.
    Snapshot { dir: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if matches!(
        cli.command,
        Command::Journal(_) | Command::Server(_) | Command::Dev(_) | Command::Snapshot(_)
    ) {
        open_files::raise_to_hard_limit();
    }
    let result = match cli.command {
        Command::Journal(args) => journal_replica::run(args),
        Command::Server(args) => memory_server::run_server(args),
        Command::Dev(args) => memory_server::run_dev(args),
        Command::Snapshot(args) => memory_server::run_snapshot(args),
        Command::Status { journal, security } => status::journal(&journal, &security),
        Command::Inspect {
            what: Inspect::Segments { dir, entries },
        } => inspect::segments(&dir, entries),
        Command::Inspect {
            what: Inspect::Snapshot { dir },
        } => inspect::snapshot(&dir),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("memoir: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
