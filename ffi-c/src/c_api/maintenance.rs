//! Checkpoint, compaction, backup, verification, statistics.

use std::ffi::c_char;
use std::fmt::Write;

use super::database::database;
use super::{
    LightningDB, LightningDBCompactionReport, LightningDBError, LightningDBStats,
    LightningDBVerifyReport,
};
use crate::boundary::{self, out, run, Failure};

/// Syncs everything written and saves a checkpoint of the index, so that the next
/// open starts from it instead of replaying the log, and a plain copy of the
/// directory taken now opens as a consistent database. Read-only handle:
/// InvalidArgument.
#[no_mangle]
pub extern "C" fn lightning_db_checkpoint(db: *mut LightningDB) -> LightningDBError {
    run("lightning_db_checkpoint", || {
        database(db)?.checkpoint()?;
        Ok(())
    })
}

/// Rewrites the live data of the sealed segments that hold overwritten or deleted
/// values into new segments and removes the old ones, reclaiming that space
/// (segments with next to nothing dead are left as they are); readers and writers
/// continue meanwhile. `report` may be NULL; otherwise it receives what was
/// done. Read-only handle: InvalidArgument.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_compact(
    db: *mut LightningDB,
    report: *mut LightningDBCompactionReport,
) -> LightningDBError {
    run("lightning_db_compact", || {
        let r = database(db)?.compact()?;
        if !report.is_null() {
            report.write(LightningDBCompactionReport {
                segments_before: r.segments_before,
                segments_after: r.segments_after,
                bytes_before: r.bytes_before,
                bytes_after: r.bytes_after,
                records_copied: r.records_copied,
            });
        }
        Ok(())
    })
}

/// Writes a consistent copy of the database into directory `dest_path` (which must
/// not exist, or be empty: otherwise InvalidArgument) while readers and writers
/// continue. The copy opens with `lightning_db_open`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_backup(
    db: *mut LightningDB,
    dest_path: *const c_char,
) -> LightningDBError {
    run("lightning_db_backup", || {
        let db = database(db)?;
        let dest = boundary::path(dest_path, "dest_path")?;
        db.backup(dest)?;
        Ok(())
    })
}

/// Reads every record of every segment and checks every checksum, and checks that
/// every live value can be read back.
///
/// Returns Success if nothing is damaged, CorruptedData if something is (the
/// message of `lightning_db_last_error_message` then lists the first damaged
/// places: file, offset, reason). `report` may be NULL; otherwise it is filled in
/// either way.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_verify(
    db: *mut LightningDB,
    report: *mut LightningDBVerifyReport,
) -> LightningDBError {
    run("lightning_db_verify", || {
        let r = database(db)?.verify()?;
        if !report.is_null() {
            report.write(LightningDBVerifyReport {
                segments: r.segments,
                records: r.records,
                bytes: r.bytes,
                live_keys: r.live_keys,
                unreadable_keys: r.unreadable_keys,
                corruptions: r.corruptions.len() as u64,
            });
        }
        if r.is_clean() {
            return Ok(());
        }
        const LISTED: usize = 5;
        let mut message = format!("{} damaged place(s) found:", r.corruptions.len());
        for c in r.corruptions.iter().take(LISTED) {
            let _ = write!(message, " {} at offset {}: {};", c.file, c.offset, c.reason);
        }
        if r.corruptions.len() > LISTED {
            let _ = write!(message, " and {} more", r.corruptions.len() - LISTED);
        }
        Err(Failure::new(LightningDBError::CorruptedData, message))
    })
}

/// Fills `*stats` with the database's counters and sizes.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_stats(
    db: *mut LightningDB,
    stats: *mut LightningDBStats,
) -> LightningDBError {
    run("lightning_db_stats", || {
        let db = database(db)?;
        let stats = out(stats, "stats")?;
        let s = db.stats()?;
        stats.write(LightningDBStats {
            live_keys: s.live_keys,
            live_bytes: s.live_bytes,
            total_bytes: s.total_bytes,
            segments: s.segments,
            last_seq: s.last_seq,
            cache_hits: s.cache_hits,
            cache_misses: s.cache_misses,
            compactions: s.compactions,
            commits: s.commits,
            fsyncs: s.fsyncs,
            checkpoints: s.checkpoints,
        });
        Ok(())
    })
}

/// For a read-only handle: loads the commits made by the writing process since the
/// handle was opened or last refreshed. For a writable handle: does nothing.
#[no_mangle]
pub extern "C" fn lightning_db_refresh(db: *mut LightningDB) -> LightningDBError {
    run("lightning_db_refresh", || {
        database(db)?.refresh()?;
        Ok(())
    })
}
