//! `memoir journal`: one journal replica.
//!
//! Today a replica is its local segment store: it opens (recovering from
//! any crash), reports where its log stands, and holds the directory until
//! interrupted. The replication protocol and its TCP listener are the next
//! piece of work (see ARCHITECTURE.md, "Status").

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use memoir_journal::{IoMode, Log, LogOptions, RecoveryMode};

#[derive(clap::Args)]
pub struct Args {
    /// Directory of this replica's segment files (created if missing).
    #[arg(long, default_value = "./memoir-data/journal-1")]
    data_dir: PathBuf,
    /// I/O backend: auto (io_uring if the kernel allows it), uring or sync.
    #[arg(long, env = "MEMOIR_IO", default_value = "auto")]
    io: IoMode,
    /// What to do with a damaged log: tolerate-torn-tail, strict, or
    /// truncate-at-first-bad-batch (salvage; only for a replica that can
    /// refill from its peers).
    #[arg(long, default_value = "tolerate-torn-tail")]
    recovery: RecoveryMode,
    /// Size of each preallocated segment file, in MiB.
    #[arg(long, default_value_t = 64)]
    segment_size_mib: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = LogOptions {
        io: args.io,
        recovery: args.recovery,
        segment_size_bytes: args.segment_size_mib << 20,
        ..LogOptions::default()
    };
    let log = Log::open(&args.data_dir, options)
        .with_context(|| format!("opening the journal in {}", args.data_dir.display()))?;
    let status = log.status();
    println!(
        "journal replica ready: data_dir={} io={} first_seq={} next_seq={} segments={}",
        args.data_dir.display(),
        status.io,
        status.first_seq,
        status.next_seq,
        status.segments
    );
    println!("(single local replica: the replicated journal service is not built yet; Ctrl-C to stop)");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime
        .block_on(tokio::signal::ctrl_c())
        .context("waiting for Ctrl-C")?;
    log.close();
    println!("journal replica stopped");
    Ok(ExitCode::SUCCESS)
}
