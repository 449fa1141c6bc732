//! The faults, drawn one at a time from the run's seeded generator: each is
//! injected, held, then ended before the next one starts.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::cluster::{Cluster, Component, Link, COMPONENTS};

/// One fault, with everything drawn for it.
#[derive(Clone, Debug)]
pub enum Fault {
    /// kill -9, then a restart over the same data after `down`.
    Kill { target: Component, down: Duration },
    /// SIGSTOP for `hold` (longer than the lease), then SIGCONT.
    Pause { target: Component, hold: Duration },
    /// Cut `links` for `hold`; with `reset`, open connections are closed.
    Partition {
        what: String,
        links: Vec<Link>,
        reset: bool,
        hold: Duration,
    },
    /// kill -9 a journal replica, tear the tail of its last segment,
    /// restart it.
    TornTail { journal: usize, how: TornTail },
    /// kill -9 a journal follower, flip one bit in the data of one of its
    /// segments, restart it (it must repair from its peers).
    SegmentBitFlip { journal: usize },
    /// kill -9 the snapshot service, flip one bit in a file of the newest
    /// snapshot, restart it (nodes must fall back to an older snapshot or
    /// the journal). Skipped while an earlier damaged snapshot is still
    /// retained: two bad snapshots are beyond what the store tolerates.
    SnapshotBitFlip,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Kill { target, down } => write!(f, "kill -9 {target}, restart after {} ms", down.as_millis()),
            Fault::Pause { target, hold } => write!(f, "SIGSTOP {target} for {} ms", hold.as_millis()),
            Fault::Partition { what, reset, hold, .. } => write!(
                f,
                "partition {what} for {} ms{}",
                hold.as_millis(),
                if *reset { " (connections reset)" } else { "" }
            ),
            Fault::TornTail { journal, how } => write!(
                f,
                "torn tail on journal-{}{}",
                journal + 1,
                if *how == TornTail::CutIntoData {
                    " (cut into data)"
                } else {
                    ""
                }
            ),
            Fault::SegmentBitFlip { journal } => write!(f, "bit flip in a segment of journal-{}", journal + 1),
            Fault::SnapshotBitFlip => f.write_str("bit flip in the newest snapshot"),
        }
    }
}

/// Draws the next fault. `leader` is the journal's raft leader if known
/// (a segment bit flip goes to a follower).
pub fn draw(rng: &mut StdRng, lease: Duration, leader: Option<usize>, torn: TornTail) -> Fault {
    let lease_ms = lease.as_millis() as u64;
    let held = |rng: &mut StdRng| Duration::from_millis(rng.gen_range(lease_ms * 3 / 2..=lease_ms * 3));
    match rng.gen_range(0..100) {
        0..=29 => Fault::Kill {
            target: *COMPONENTS.choose(rng).unwrap_or(&Component::Node(0)),
            down: Duration::from_millis(rng.gen_range(100..=lease_ms * 2)),
        },
        30..=49 => Fault::Pause {
            target: *COMPONENTS.choose(rng).unwrap_or(&Component::Node(0)),
            hold: held(rng),
        },
        50..=79 => {
            let (what, links) = partition(rng);
            Fault::Partition {
                what,
                links,
                reset: rng.gen_bool(0.3),
                hold: held(rng),
            }
        }
        80..=87 => Fault::TornTail {
            journal: rng.gen_range(0..3),
            how: torn,
        },
        88..=95 => {
            let followers: Vec<usize> = (0..3).filter(|&j| Some(j) != leader).collect();
            Fault::SegmentBitFlip {
                journal: *followers.choose(rng).unwrap_or(&0),
            }
        }
        _ => Fault::SnapshotBitFlip,
    }
}

/// A set of links to cut and its description.
fn partition(rng: &mut StdRng) -> (String, Vec<Link>) {
    match rng.gen_range(0..4) {
        // A memory node cut off from the whole journal.
        0 => {
            let node = rng.gen_range(0..2);
            let links = (0..3).map(|journal| Link::NodeJournal { node, journal }).collect();
            (format!("node-{node} from every journal replica"), links)
        }
        // A journal replica cut off from its peers, both ways.
        1 => {
            let j = rng.gen_range(0..3);
            let links = (0..3)
                .filter(|&o| o != j)
                .flat_map(|o| [Link::Peer { from: j, to: o }, Link::Peer { from: o, to: j }])
                .collect();
            (format!("journal-{} from its peers", j + 1), links)
        }
        // A journal replica cut off from everything: peers and nodes.
        2 => {
            let j = rng.gen_range(0..3);
            let mut links: Vec<Link> = (0..3)
                .filter(|&o| o != j)
                .flat_map(|o| [Link::Peer { from: j, to: o }, Link::Peer { from: o, to: j }])
                .collect();
            links.extend((0..2).map(|node| Link::NodeJournal { node, journal: j }));
            (format!("journal-{} from everything", j + 1), links)
        }
        // One directed link.
        _ => {
            if rng.gen_bool(0.5) {
                let from = rng.gen_range(0..3);
                let to = (from + rng.gen_range(1..3)) % 3;
                let l = Link::Peer { from, to };
                (l.to_string(), vec![l])
            } else {
                let l = Link::NodeJournal {
                    node: rng.gen_range(0..2),
                    journal: rng.gen_range(0..3),
                };
                (l.to_string(), vec![l])
            }
        }
    }
}

/// Injects `fault`, holds it (calling `tick` about every 100 ms, which may
/// stop the hold early by returning an error) and ends it.
pub fn apply(
    fault: &Fault,
    cluster: &mut Cluster,
    rng: &mut StdRng,
    tick: &mut dyn FnMut(&mut Cluster) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let mut hold = |cluster: &mut Cluster, d: Duration| -> anyhow::Result<()> {
        let end = std::time::Instant::now() + d;
        while std::time::Instant::now() < end {
            std::thread::sleep(
                Duration::from_millis(100).min(end.saturating_duration_since(std::time::Instant::now())),
            );
            tick(cluster)?;
        }
        Ok(())
    };
    let note = match fault {
        Fault::Kill { target, down } => {
            cluster.kill9(*target)?;
            hold(cluster, *down)?;
            cluster.spawn(*target)?;
            String::new()
        }
        Fault::Pause { target, hold: d } => {
            cluster.pause(*target)?;
            let held = hold(cluster, *d);
            cluster.resume(*target)?;
            held?;
            String::new()
        }
        Fault::Partition {
            links, reset, hold: d, ..
        } => {
            for l in links {
                cluster.cut(*l, *reset);
            }
            let held = hold(cluster, *d);
            for l in links {
                cluster.heal(*l);
            }
            held?;
            String::new()
        }
        Fault::TornTail { journal, how } => {
            let target = Component::Journal(*journal);
            cluster.kill9(target)?;
            settle_after_kill();
            let note = torn_tail(&cluster.segment_dir(*journal), *how, rng).unwrap_or_else(skipped);
            cluster.spawn(target)?;
            note
        }
        Fault::SegmentBitFlip { journal } => {
            let target = Component::Journal(*journal);
            cluster.kill9(target)?;
            settle_after_kill();
            let note = segment_bit_flip(&cluster.segment_dir(*journal), rng).unwrap_or_else(skipped);
            cluster.spawn(target)?;
            note
        }
        Fault::SnapshotBitFlip => {
            cluster.damaged_snapshots.retain(|p| p.exists());
            if let Some(damaged) = cluster.damaged_snapshots.first() {
                format!("skipped: {} is damaged and still retained", file_name(damaged))
            } else {
                cluster.kill9(Component::Snapshot)?;
                settle_after_kill();
                let flipped = snapshot_bit_flip(&cluster.snapshot_store(), rng);
                cluster.spawn(Component::Snapshot)?;
                match flipped {
                    Ok((note, damaged)) => {
                        cluster.damaged_snapshots.extend(damaged);
                        note
                    }
                    Err(e) => skipped(e),
                }
            }
        }
    };
    Ok(note)
}

/// A killed replica's io_uring writes can still be completing in kernel
/// workers after the process is reaped; writing the same file with
/// buffered I/O meanwhile collides with them (the kernel logs "Page cache
/// invalidation failure on direct I/O" and returns EIO). A real crash has
/// no such writer left, so the disk faults wait for them to drain.
fn settle_after_kill() {
    std::thread::sleep(Duration::from_millis(300));
}

/// A disk fault that could not be made is reported and skipped: the run
/// goes on (the replica restarts over its untouched files).
fn skipped(e: anyhow::Error) -> String {
    format!("skipped: {e:#}")
}

/// Segment files of a journal replica's directory, oldest first.
fn segments(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "seg") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// Offset just past the last non-zero byte (segments are preallocated
/// with zeros, so this is where written data ends).
fn data_end(file: &mut File) -> anyhow::Result<u64> {
    let len = file.seek(SeekFrom::End(0))?;
    let mut end = len;
    let mut buf = vec![0u8; 1 << 20];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b != 0) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// How a torn tail is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TornTail {
    /// What a crash in the middle of a write leaves: after the last data,
    /// a few zeros then up to 4 KiB of garbage (the unfinished write), the
    /// file cut right after it. Nothing written before is touched, so
    /// nothing acknowledged is lost.
    UnfinishedWrite,
    /// The file cut at a random offset in its last 4 KiB of data: this can
    /// remove entries already fsynced and acknowledged, which is beyond a
    /// crash (a disk losing written data).
    CutIntoData,
}

fn torn_tail(dir: &Path, how: TornTail, rng: &mut StdRng) -> anyhow::Result<String> {
    let Some(last) = segments(dir)?.pop() else {
        return Ok("no segment to tear".into());
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&last)
        .with_context(|| format!("opening {}", last.display()))?;
    let end = data_end(&mut file)?;
    if end == 0 {
        return Ok(format!("{} holds no data", last.display()));
    }
    let note = match how {
        TornTail::CutIntoData => {
            let at = rng.gen_range(end.saturating_sub(4096)..end);
            file.set_len(at)
                .with_context(|| format!("truncating {}", last.display()))?;
            format!("{} truncated at {at} (data ended at {end})", file_name(&last))
        }
        TornTail::UnfinishedWrite => {
            // The zeros keep a batch that happens to end in zero bytes whole.
            let at = end + 64;
            let len = rng.gen_range(1..=4096u64);
            let garbage: Vec<u8> = (0..len).map(|_| rng.gen_range(1..=255u8)).collect();
            file.seek(SeekFrom::Start(at))?;
            file.write_all(&garbage)?;
            file.set_len(at + len)
                .with_context(|| format!("truncating {}", last.display()))?;
            format!(
                "{}: {len} bytes of an unfinished write at {at}, file cut after them (data ended at {end})",
                file_name(&last)
            )
        }
    };
    file.sync_all()?;
    Ok(note)
}

fn segment_bit_flip(dir: &Path, rng: &mut StdRng) -> anyhow::Result<String> {
    let mut written = Vec::new();
    for path in segments(dir)? {
        let mut f = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let end = data_end(&mut f)?;
        if end > 64 {
            written.push((path, end));
        }
    }
    let Some((path, end)) = written.choose(rng).cloned() else {
        return Ok("no segment data to flip".into());
    };
    let at = rng.gen_range(64..end);
    flip_bit(&path, at, rng)
}

/// Flips a bit in the newest snapshot; returns a note and the snapshot's
/// directory if it was damaged.
fn snapshot_bit_flip(store: &Path, rng: &mut StdRng) -> anyhow::Result<(String, Option<PathBuf>)> {
    let snapshots = store.join("snapshots");
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(&snapshots) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect(),
        Err(_) => return Ok(("no snapshot yet".into(), None)),
    };
    dirs.sort();
    let Some(newest) = dirs.pop() else {
        return Ok(("no snapshot yet".into(), None));
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&newest)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let Some(path) = files.choose(rng).cloned() else {
        return Ok((format!("{} has no files", newest.display()), None));
    };
    let len = std::fs::metadata(&path)?.len();
    if len == 0 {
        return Ok((format!("{} is empty", path.display()), None));
    }
    let at = rng.gen_range(0..len);
    Ok((flip_bit(&path, at, rng)?, Some(newest)))
}

fn flip_bit(path: &Path, at: u64, rng: &mut StdRng) -> anyhow::Result<String> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut byte = [0u8; 1];
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(&mut byte)?;
    let bit = rng.gen_range(0..8);
    byte[0] ^= 1 << bit;
    f.seek(SeekFrom::Start(at))?;
    f.write_all(&byte)?;
    f.sync_all()?;
    Ok(format!("bit {bit} of byte {at} in {} flipped", file_name(path)))
}

fn file_name(path: &Path) -> String {
    let parent = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{parent}/{name}")
}
