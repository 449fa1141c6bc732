//! A lagging follower's entries, read off the raft thread.
//!
//! The leader sends a follower the entries after the last one it acked.
//! For a follower at the tail they are in memory (raft-rs's unstable
//! entries, `RaftStorage`'s unpersisted ones, the segment store's newest
//! batches). For one that fell behind (restarted, partitioned, slower disk)
//! they are on disk, and reading them on the raft thread held up every
//! proposal, commit and heartbeat meanwhile: under a bulk load, the leader
//! missed its heartbeats long enough for a follower to start an election.
//!
//! raft-rs lets storage answer `LogTemporarilyUnavailable` for such a read
//! and be called again once the entries are there (`on_entries_fetched`).
//! This thread does the reading; the raft thread picks the result up on
//! its next try.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::thread;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use raft::prelude::Entry;
use raft::GetEntriesContext;

use crate::error::{Error, Result};
use crate::log::Log;
use crate::raft_storage::read_durable;

/// Fetched results kept for the raft thread to take: one per follower is
/// enough; stale ones (the follower moved on) fall off the front.
const MAX_READY: usize = 8;

/// Fetches waiting for the thread (more are refused: raft asks again).
const MAX_QUEUED: usize = 16;

struct Job {
    low: u64,
    end: u64,
    max_size: u64,
    context: GetEntriesContext,
}

#[derive(Default)]
struct Fetched {
    /// First indexes being read.
    pending: HashSet<u64>,
    /// (first index, what the read gave), oldest first.
    ready: VecDeque<(u64, raft::Result<Vec<Entry>>)>,
}

pub(crate) struct EntryFetcher {
    jobs: Sender<Job>,
    fetched: Arc<Mutex<Fetched>>,
}

impl EntryFetcher {
    /// Starts the thread. Each finished read is announced on the returned
    /// receiver with its raft context, for the raft thread to retry the
    /// send it deferred (`RawNode::on_entries_fetched`). The thread ends
    /// when the fetcher or that receiver is dropped.
    pub fn start(log: Arc<Log>, name: String) -> Result<(EntryFetcher, Receiver<GetEntriesContext>)> {
        let (jobs, queue) = bounded::<Job>(MAX_QUEUED);
        let (done, announced) = bounded::<GetEntriesContext>(MAX_QUEUED);
        let fetched = Arc::new(Mutex::new(Fetched::default()));
        let thread_fetched = Arc::clone(&fetched);
        thread::Builder::new()
            .name(name)
            .spawn(move || {
                for job in queue {
                    // The raft thread's own read, done here.
                    let result = read_durable(&log, job.low, job.end, job.max_size);
                    {
                        let mut fetched = thread_fetched.lock().unwrap_or_else(|e| e.into_inner());
                        fetched.pending.remove(&job.low);
                        fetched.ready.retain(|(low, _)| *low != job.low);
                        fetched.ready.push_back((job.low, result));
                        while fetched.ready.len() > MAX_READY {
                            fetched.ready.pop_front();
                        }
                    }
                    if done.send(job.context).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| Error::io("spawning the raft fetch thread for", std::path::PathBuf::new(), e))?;
        Ok((EntryFetcher { jobs, fetched }, announced))
    }

    /// What a finished read from `low` gave, if there is one.
    pub fn take(&self, low: u64) -> Option<raft::Result<Vec<Entry>>> {
        let mut fetched = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
        let at = fetched.ready.iter().position(|(first, _)| *first == low)?;
        fetched.ready.remove(at).map(|(_, result)| result)
    }

    /// Has `[low, end)` read in the background. A read from `low` already
    /// under way will announce itself; then `context` is dropped and raft
    /// retries this send on the follower's next heartbeat response, as it
    /// does when the queue is full. False if the thread is gone: the caller
    /// reads on its own thread.
    pub fn request(&self, low: u64, end: u64, max_size: u64, context: GetEntriesContext) -> bool {
        let mut fetched = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
        if fetched.pending.contains(&low) {
            return true;
        }
        let job = Job {
            low,
            end,
            max_size,
            context,
        };
        match self.jobs.try_send(job) {
            Ok(()) => {
                fetched.pending.insert(low);
                true
            }
            Err(TrySendError::Full(_)) => true,
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}
