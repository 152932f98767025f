//! Checkpoint, hot backup and verification.
//!
//! Invariants:
//! - All run under the maintenance lock, held by the caller, so no compaction
//!   removes a segment they are reading; writers continue meanwhile.
//! - A checkpoint covers only records already synced, and only sealed segments:
//!   recovery replays the active one.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::checkpoint;
use crate::error::{Error, Result};
use crate::reports::{Corruption, VerifyReport};
use crate::segment::{self, segment_path};
use crate::shared::Shared;
use crate::sync;

/// Syncs everything written and writes a checkpoint of the latest version.
pub(crate) fn checkpoint(shared: &Shared) -> Result<()> {
    let version = shared.snapshot();
    shared.log.sync_to(version.seq)?;
    let covered: BTreeSet<u32> = version
        .segments
        .keys()
        .copied()
        .filter(|id| version.active.map(|(a, _)| a) != Some(*id))
        .collect();
    let started = Instant::now();
    checkpoint::write(&shared.dir, version.seq, &covered, &version.index)?;
    shared.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
    log::info!(
        "checkpoint of {} at seq {}: {} keys in {:?}",
        shared.dir.display(),
        version.seq,
        version.index.len(),
        started.elapsed()
    );
    Ok(())
}

pub(crate) fn backup(shared: &Shared, dest: &Path) -> Result<()> {
    if dest.exists() {
        let mut entries = std::fs::read_dir(dest).map_err(|e| Error::io(dest.display(), e))?;
        if entries.next().is_some() {
            return Err(Error::invalid(format!(
                "backup destination {} is not empty",
                dest.display()
            )));
        }
    } else {
        std::fs::create_dir_all(dest).map_err(|e| Error::io(dest.display(), e))?;
    }
    let version = shared.snapshot();
    if !shared.config.read_only {
        shared.log.sync_to(version.seq)?;
    }
    let active = version.active;
    for (id, seg) in version.segments.iter() {
        let limit = match active {
            Some((a, len)) if a == *id => len,
            _ => u64::MAX,
        };
        let to = segment_path(dest, *id);
        let io = |e| {
            Error::io(
                format!("copy {} to {}", seg.path.display(), to.display()),
                e,
            )
        };
        // From the handle's own map: a compaction in a writer process may have
        // removed the file since this snapshot was taken.
        let data = seg.data();
        let mut out = File::create(&to).map_err(io)?;
        out.write_all(&data[..(limit as usize).min(data.len())])
            .map_err(io)?;
        sync::all(&out).map_err(io)?;
    }
    let covered: BTreeSet<u32> = version
        .segments
        .keys()
        .copied()
        .filter(|id| active.map(|(a, _)| a) != Some(*id))
        .collect();
    checkpoint::write(dest, version.seq, &covered, &version.index)?;
    sync::dir(dest)?;
    log::info!(
        "backup of {} to {} at seq {}",
        shared.dir.display(),
        dest.display(),
        version.seq
    );
    Ok(())
}

pub(crate) fn verify(shared: &Shared) -> Result<VerifyReport> {
    let version = shared.snapshot();
    let mut report = VerifyReport {
        live_keys: version.index.len() as u64,
        ..Default::default()
    };
    for (id, seg) in version.segments.iter() {
        // Through the handle's own map: a compaction in a writer process may have
        // removed the file since this snapshot was taken.
        let mut bytes = seg.data();
        if let Some((a, len)) = version.active {
            if a == *id {
                bytes = &bytes[..(len as usize).min(bytes.len())];
            }
        }
        report.segments += 1;
        let mut base = 0usize;
        loop {
            let end = segment::scan(&bytes[base..], |_, e| {
                report.records += 1;
                report.bytes += e.len as u64;
            });
            match end.corruption {
                None => {
                    // A writer's segments other than the one it appends to all end
                    // with a seal; without one, the end of the file is damaged. (A
                    // read-only handle cannot tell which segment another process
                    // is appending to.)
                    let appending = version.active.is_none_or(|(a, _)| a == *id);
                    if !end.sealed && !appending {
                        report.corruptions.push(Corruption {
                            file: seg.path.display().to_string(),
                            offset: (base + end.valid_len) as u64,
                            reason: "sealed segment does not end with its seal frame".into(),
                        });
                    }
                    break;
                }
                Some((offset, why)) => {
                    let at = base + offset;
                    report.corruptions.push(Corruption {
                        file: seg.path.display().to_string(),
                        offset: at as u64,
                        reason: why.to_string(),
                    });
                    match next_frame(bytes, at) {
                        Some(next) => base = next,
                        None => break,
                    }
                }
            }
        }
    }
    for (key, loc) in version.index.iter() {
        let Some(seg) = version.segments.get(&loc.segment) else {
            report.corruptions.push(Corruption {
                file: segment_path(&shared.dir, loc.segment).display().to_string(),
                offset: loc.offset as u64,
                reason: "index refers to a missing segment".into(),
            });
            continue;
        };
        if let Err(e) = seg.read_value(loc.offset, loc.len, key, |_| ()) {
            report.unreadable_keys += 1;
            report.corruptions.push(Corruption {
                file: seg.path.display().to_string(),
                offset: loc.offset as u64,
                reason: format!("live record unreadable: {}", e.message()),
            });
        }
    }
    log::info!(
        "verify of {}: {} records, {} corruptions",
        shared.dir.display(),
        report.records,
        report.corruptions.len()
    );
    Ok(report)
}

/// Offset of the next valid frame after `pos`, to resume scanning past corruption.
fn next_frame(bytes: &[u8], pos: usize) -> Option<usize> {
    let magic = crate::format::FRAME_MAGIC.to_le_bytes();
    (pos + 1
        ..bytes
            .len()
            .saturating_sub(crate::format::FRAME_HEADER_LEN - 1))
        .find(|&p| bytes[p..p + 4] == magic && crate::format::check_frame(bytes, p).is_ok())
}
