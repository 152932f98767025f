//! The background thread of a writing handle: the periodic sync that
//! `SyncMode::Normal` promises, compaction once enough bytes are dead, and a
//! checkpoint once enough keys have changed since the last one, so that the
//! index's changes in memory stay bounded, or, sooner, once the database is at
//! rest, so that a process that ends without closing it (killed, or an app
//! the system stops) does not leave a long log for the next open to replay;
//! and, once a read has found the index file damaged, the rebuild of the index
//! from the segments in its place. A commit that leaves a segment without a
//! live record wakes the thread to look at compaction at once (`Wake`). At
//! each wake it frees the scratch space a commit released (`Released`), so
//! that no commit waits for it to be unmapped.
//!
//! Invariants:
//! - The thread holds the shared state, never the handle: stopping it is the
//!   handle's job, at close, before the writer goes away.
//! - Compaction and checkpoints run only if the maintenance lock is free at that
//!   moment: the thread never waits behind a checkpoint, backup or compaction
//!   of the user's.
//! - A close waits only for a checkpoint it would write itself: the thread
//!   abandons a compaction, or a new index file where the close would write a
//!   delta, once the close asks it to stop (`AtClose`), and the work undoes
//!   what it wrote, as after a failure.
//! - On Linux and Android the thread runs at a lower priority (nice
//!   [`BACKGROUND_NICE`] above the thread that opened the handle): its work
//!   yields to the application's threads, a commit that wakes from its sync
//!   among them, when the cores are all busy. A nice value there is a thread's
//!   own; the threads it starts (`pages_ahead`) inherit it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::compaction;
use crate::error::{Error, Result};
use crate::maintenance::{self, AtRest, Kind};
use crate::shared::{AtClose, IndexChanges, Shared, Woken};

/// How often the thread wakes when no sync period asks for more.
const DEFAULT_PERIOD: Duration = Duration::from_millis(250);

/// Background compaction looks at the dead bytes, and the background
/// checkpoint at the changes, this often (compaction sooner when nudged).
const COMPACTION_CHECK_PERIOD: Duration = Duration::from_secs(1);

/// A checkpoint is written once the changes since the last one number this
/// many (about 100 bytes each in memory, with the hash index): a delta of
/// them if it fits ([`maintenance::delta_fits`]; which delta,
/// [`maintenance::delta_kind`]) and the deltas it takes in hold no more
/// entries than the changes, so that it writes at most twice as many as it
/// takes out of memory; a new index file if a delta would not fit, when the
/// changes and the deltas are half the file's keys or more, so that it writes
/// at most three times as many as it takes out of memory and out of the
/// deltas. The work of a checkpoint written beside commits then grows with
/// the commits since the last one, not with the keys held, until a new file
/// is due (`bench/results/background-deltas-2026-12-08.md`).
const CHECKPOINT_CHANGES: usize = if cfg!(test) { 1 << 13 } else { 1 << 20 };

/// A delta is folded into a new index file once the lookups that read it as
/// well as the file number this many per key of the file, however small the
/// delta: each paid a probe or a seek more, and a new file costs about as
/// much per key to write, on this thread, as the slowest of those lookups
/// paid (`bench/results/delta-lookups-2026-12-07.md`). A delta under the
/// idle fold's share of the keys would otherwise stay, read by every lookup
/// of every later process, until more changes came.
const DELTA_LOOKUPS_PER_KEY: u64 = 1;

/// How much lower the background thread's priority is than that of the
/// thread that opened the handle.
const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's priority by [`BACKGROUND_NICE`]; a hint only,
/// nothing is lost where it fails.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn lower_priority() {
    use rustix::process::{getpriority_process, setpriority_process};
    // On Linux `setpriority(PRIO_PROCESS, tid)` sets one thread's nice value.
    let me = Some(rustix::thread::gettid());
    if let Ok(nice) = getpriority_process(me) {
        let _ = setpriority_process(me, (nice + BACKGROUND_NICE).min(19));
    }
}

/// Elsewhere the nice value is the whole process's: it is left alone.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn lower_priority() {}

/// After a background checkpoint or compaction fails, the next waits this many
/// looks (a second each), doubling with each failure in a row up to 63: a full
/// disk would otherwise have a temporary file written and removed every second.
fn looks_to_skip(failures: u32) -> u32 {
    (1u32 << failures.min(6)) - 1
}

/// A running background thread; `stop` ends it.
pub(crate) struct Background {
    shared: Arc<Shared>,
    handle: std::thread::JoinHandle<()>,
}

impl Background {
    pub(crate) fn start(shared: Arc<Shared>) -> Result<Background> {
        Self::start_looking_every(shared, COMPACTION_CHECK_PERIOD)
    }

    /// A thread whose periodic looks at checkpoints and compaction come
    /// `look` apart (tests: an hour, to see what a nudge alone does).
    pub(crate) fn start_looking_every(shared: Arc<Shared>, look: Duration) -> Result<Background> {
        shared.wake.restart();
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("lightning-db-bg".into())
            .spawn(move || run(&thread_shared, look))
            .map_err(|e| Error::io("spawn background thread", e))?;
        Ok(Background { shared, handle })
    }

    /// Wakes the thread, tells it to end and waits until it has.
    pub(crate) fn stop(self) {
        self.shared.wake.stop();
        let _ = self.handle.join();
    }
}

fn run(shared: &Arc<Shared>, look: Duration) {
    lower_priority();
    let sync_period = shared.log.background_sync_period();
    let period = sync_period.unwrap_or(DEFAULT_PERIOD);
    let mut last_look = Instant::now();
    let mut seq_at_last_check = None;
    // Failures in a row of checkpoints and compactions, and the looks left to
    // skip before the next attempt.
    let (mut failures, mut skip) = (0u32, 0u32);
    loop {
        let nudged = match shared.wake.wait(period) {
            Woken::Stop => return,
            Woken::Nudged => true,
            Woken::TimedOut => false,
        };
        shared.free_released();
        if sync_period.is_some() {
            if let Err(e) = shared.log.sync_written() {
                log::error!("background sync of {} failed: {e}", shared.dir.display());
            }
        }
        // A nudge brings the look at compaction forward; the checkpoint's
        // rules (rest is a look with no commit since the one before) and the
        // spacing after failures count periodic looks only.
        let periodic = last_look.elapsed() >= look;
        if periodic {
            last_look = Instant::now();
            if skip > 0 {
                skip -= 1;
                continue;
            }
        } else if !nudged || skip > 0 {
            continue;
        }
        if shared.index_file().is_some_and(|f| f.damaged()) {
            // A checkpoint or compaction reads the whole file: it would fail.
            if periodic {
                if let Some(_m) = shared.maintenance.try_lock() {
                    let healed = maintenance::heal_damaged_index(shared);
                    failures = if healed { 0 } else { failures + 1 };
                    skip = looks_to_skip(failures);
                }
            }
            continue;
        }
        let mut failed = false;
        if let Some(c) = shared.index_changes().filter(|_| periodic) {
            // No commit since the last look, a second or more ago. The
            // sequence number is read with the changes, under the writer lock:
            // a commit under way when the thread looked is not taken for rest.
            let at_rest = seq_at_last_check == Some(c.last_seq);
            seq_at_last_check = Some(c.last_seq);
            if at_rest {
                shared.release_scratch();
            }
            let changes = c.changes;
            if let Some(kind) = checkpoint_to_write(&c, at_rest) {
                if let Some(_m) = shared.maintenance.try_lock() {
                    log::info!(
                        "background checkpoint ({kind:?}) of {}: {changes} changes{}",
                        shared.dir.display(),
                        if at_rest { ", at rest" } else { "" }
                    );
                    let result = maintenance::checkpoint_of_kind(shared, kind, at_close(kind, &c));
                    failed |= failed_unless_abandoned(shared, "checkpoint", result);
                }
            }
        }
        if shared.config.auto_compact {
            let s = shared.stats();
            let dead = s.total_bytes.saturating_sub(s.live_bytes);
            if dead >= shared.config.compaction_min_dead_bytes
                && dead as f64 >= shared.config.compaction_dead_ratio * s.total_bytes as f64
            {
                if let Some(_m) = shared.maintenance.try_lock() {
                    log::info!(
                        "background compaction of {}: {dead} dead bytes",
                        shared.dir.display()
                    );
                    let result = compaction::compact(shared, AtClose::Abandon);
                    failed |= failed_unless_abandoned(shared, "compaction", result);
                }
            }
        }
        failures = if failed { failures + 1 } else { 0 };
        skip = looks_to_skip(failures);
    }
}

/// The checkpoint the thread writes at a periodic look, if any, for the
/// changes `c`, and whether no commit came since the look before: once the
/// changes are many, a delta or a new index file ([`CHECKPOINT_CHANGES`]); a
/// new index file once the lookups through the deltas have cost the reads about
/// what one costs to write ([`DELTA_LOOKUPS_PER_KEY`]), and a first delta that
/// takes a second in once they number the deltas' entries; at rest, what
/// `AtRest::Idle` asks.
fn checkpoint_to_write(c: &IndexChanges, at_rest: bool) -> Option<Kind> {
    let many = c.changes >= CHECKPOINT_CHANGES;
    let kind = maintenance::delta_kind(c);
    if (many && !maintenance::delta_fits(c))
        || (c.in_delta + c.in_second > 0
            && c.delta_lookups >= DELTA_LOOKUPS_PER_KEY * c.in_file as u64)
    {
        Some(Kind::Full)
    } else if many && maintenance::taken_in(kind, c) <= c.changes {
        Some(kind)
    } else if c.in_second > 0
        && c.delta_lookups >= DELTA_LOOKUPS_PER_KEY * (c.in_delta + c.in_second) as u64
        && maintenance::delta_fits(c)
    {
        // A first delta takes the second in once the lookups through them
        // number their entries: it costs those entries to write, and each of
        // those lookups paid a probe more, a range a third walk to merge.
        Some(Kind::Delta)
    } else if at_rest {
        maintenance::checkpoint_at_rest(AtRest::Idle, c)
    } else {
        None
    }
}

/// Whether a background checkpoint of `kind`, for the changes `c`, goes on
/// when the handle closes: if the close would write the same (a close's rules
/// are [`AtRest::Closing`]), it had better wait for this one than start it
/// again; otherwise (a new index file that takes a delta in, where the close
/// writes a delta or nothing) it is abandoned.
fn at_close(kind: Kind, c: &IndexChanges) -> AtClose {
    if maintenance::checkpoint_at_rest(AtRest::Closing, c) == Some(kind) {
        AtClose::Finish
    } else {
        AtClose::Abandon
    }
}

/// Whether the background `work` that gave `result` failed; a failure is
/// logged, and so is work abandoned because the handle is closing.
fn failed_unless_abandoned<T>(shared: &Shared, work: &str, result: Result<T>) -> bool {
    match result {
        Ok(_) => false,
        Err(e) if e.is_abandoned() => {
            log::info!(
                "background {work} of {} abandoned: the handle is closing",
                shared.dir.display()
            );
            false
        }
        Err(e) => {
            log::error!("background {work} of {} failed: {e}", shared.dir.display());
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nice value is the background thread's alone: the thread that
    /// started it keeps its own.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_lower_priority_is_the_calling_threads_alone() {
        use rustix::process::getpriority_process;
        let ours = getpriority_process(None).unwrap();
        let theirs = std::thread::spawn(|| {
            lower_priority();
            getpriority_process(None).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(theirs, (ours + BACKGROUND_NICE).min(19));
        assert_eq!(getpriority_process(None).unwrap(), ours);
    }

    fn changes(changes: usize, in_file: usize, in_delta: usize) -> IndexChanges {
        IndexChanges {
            changes,
            in_file,
            in_delta,
            in_second: 0,
            delta_lookups: 0,
            delta_possible: true,
            last_seq: 1,
            file_seq: None,
        }
    }

    #[test]
    fn a_close_waits_for_the_background_checkpoint_it_would_write_itself() {
        // As many changes as keys in the file: a new index file, at close too.
        let c = changes(CHECKPOINT_CHANGES * 2, CHECKPOINT_CHANGES * 2, 0);
        assert_eq!(at_close(Kind::Full, &c), AtClose::Finish);
        // At rest, a delta of the changes: a close writes the same.
        let c = changes(20_000, 100_000, 0);
        assert_eq!(at_close(Kind::Delta, &c), AtClose::Finish);
        // At rest, a new index file that takes in changes an eighth of the
        // keys (and a delta): a close writes a delta instead.
        assert_eq!(at_close(Kind::Full, &c), AtClose::Abandon);
        let c = changes(0, 100_000, 20_000);
        assert_eq!(at_close(Kind::Full, &c), AtClose::Abandon);
        // A new index file the thread starts once the changes and the delta
        // reach half the file's keys: a close writes a delta of the two.
        let m = CHECKPOINT_CHANGES;
        let c = changes(2 * m, 8 * m, 2 * m);
        assert_eq!(checkpoint_to_write(&c, false), Some(Kind::Full));
        assert_eq!(at_close(Kind::Full, &c), AtClose::Abandon);
    }

    #[test]
    fn a_delta_is_folded_once_the_lookups_through_it_are_as_many_as_the_keys() {
        // A delta of one in twenty of the keys: idle, it stays.
        let c = changes(0, 100_000, 5_000);
        assert_eq!(checkpoint_to_write(&c, true), None);
        let read = |delta_lookups| IndexChanges {
            delta_lookups,
            ..changes(0, 100_000, 5_000)
        };
        assert_eq!(checkpoint_to_write(&read(99_999), true), None);
        // As many lookups as keys: a new index file, at rest or not; a close
        // would not write it.
        assert_eq!(checkpoint_to_write(&read(100_000), false), Some(Kind::Full));
        assert_eq!(checkpoint_to_write(&read(100_000), true), Some(Kind::Full));
        assert_eq!(at_close(Kind::Full, &read(100_000)), AtClose::Abandon);
        // A second delta is taken into the first once the lookups number
        // the entries of both, long before a new index file is due.
        let second = |delta_lookups| IndexChanges {
            in_second: 1_000,
            delta_lookups,
            ..changes(0, 100_000, 5_000)
        };
        assert_eq!(checkpoint_to_write(&second(5_999), true), None);
        assert_eq!(
            checkpoint_to_write(&second(6_000), false),
            Some(Kind::Delta)
        );
        assert_eq!(checkpoint_to_write(&second(6_000), true), Some(Kind::Delta));
        assert_eq!(
            checkpoint_to_write(&second(100_000), true),
            Some(Kind::Full)
        );
        // No delta, no fold, whatever was looked up.
        let none = IndexChanges {
            delta_lookups: 1 << 40,
            ..changes(0, 100_000, 0)
        };
        assert_eq!(checkpoint_to_write(&none, true), None);
    }

    #[test]
    fn a_checkpoint_beside_commits_writes_a_delta_while_one_fits() {
        const M: usize = CHECKPOINT_CHANGES;
        // Too few changes: nothing, unless at rest.
        assert_eq!(checkpoint_to_write(&changes(M - 1, 8 * M, 0), false), None);
        // No file, or one a delta would not fit under: a new index file.
        assert_eq!(
            checkpoint_to_write(&changes(M, 0, 0), false),
            Some(Kind::Full)
        );
        assert_eq!(
            checkpoint_to_write(&changes(M, M, 0), false),
            Some(Kind::Full)
        );
        // A delta of the changes; over it, a second delta of as many
        // changes as it holds or fewer (below), or one of the changes and the
        // delta before, once they are more.
        assert_eq!(
            checkpoint_to_write(&changes(M, 8 * M, 0), false),
            Some(Kind::Delta)
        );
        assert_eq!(
            checkpoint_to_write(&changes(M, 8 * M, M), false),
            Some(Kind::SecondDelta)
        );
        assert_eq!(
            checkpoint_to_write(&changes(M + 1, 8 * M, M), false),
            Some(Kind::Delta)
        );
        // Either way, no more than half the file's keys.
        assert_eq!(
            checkpoint_to_write(&changes(M, 6 * M, 2 * M), false),
            Some(Kind::Full)
        );
        assert_eq!(
            checkpoint_to_write(&changes(2 * M, 16 * M, 2 * M), false),
            Some(Kind::SecondDelta)
        );
        assert_eq!(
            checkpoint_to_write(&changes(2 * M, 8 * M, 2 * M), false),
            Some(Kind::Full)
        );
        // Over a first delta as large as the changes or more, a second
        // delta; it takes in the second before while that holds no more
        // entries than the changes and the two stay within the first.
        let second = |changes_now, in_second| IndexChanges {
            in_second,
            ..changes(changes_now, 32 * M, 4 * M)
        };
        assert_eq!(
            checkpoint_to_write(&second(M, 0), false),
            Some(Kind::SecondDelta)
        );
        assert_eq!(
            checkpoint_to_write(&second(2 * M, 2 * M), false),
            Some(Kind::SecondDelta)
        );
        assert_eq!(checkpoint_to_write(&second(M, 2 * M), false), None);
        // Past the first, a first delta takes in both, once the changes
        // match them.
        assert_eq!(checkpoint_to_write(&second(3 * M, 2 * M), false), None);
        assert_eq!(
            checkpoint_to_write(&second(6 * M, 2 * M), false),
            Some(Kind::Delta)
        );
        // Past half the file, a new one.
        let many = IndexChanges {
            in_file: 8 * M,
            ..second(M, M)
        };
        assert_eq!(checkpoint_to_write(&many, false), Some(Kind::Full));
        // A file that cannot take a delta: a new one.
        let no_delta = IndexChanges {
            delta_possible: false,
            ..changes(M, 8 * M, 0)
        };
        assert_eq!(checkpoint_to_write(&no_delta, false), Some(Kind::Full));
    }

    /// Commits of `step` new keys each, as many as make a hundred times
    /// [`CHECKPOINT_CHANGES`] (100M keys outside tests), with the
    /// background checkpoint's rules applied after each (and finishing before
    /// the next). Returns the most changes held in memory past a quarter of
    /// the file's keys (or past [`CHECKPOINT_CHANGES`] if that is more), and
    /// the entries written to index files per key.
    fn simulate(step: usize) -> (usize, f64) {
        let (mut in_file, mut in_delta, mut in_second) = (0usize, 0usize, 0usize);
        let mut changes_now = 0usize;
        let (mut most_past_bound, mut written) = (0usize, 0usize);
        let commits = 100 * CHECKPOINT_CHANGES / step;
        for _ in 0..commits {
            changes_now += step;
            let bound = CHECKPOINT_CHANGES.max(in_file / 4);
            most_past_bound = most_past_bound.max(changes_now.saturating_sub(bound));
            let c = IndexChanges {
                in_second,
                ..changes(changes_now, in_file, in_delta)
            };
            match checkpoint_to_write(&c, false) {
                Some(Kind::Delta) => {
                    in_delta += in_second + changes_now;
                    in_second = 0;
                    written += in_delta;
                }
                Some(Kind::SecondDelta) => {
                    in_second += changes_now;
                    written += in_second;
                }
                Some(Kind::Full) => {
                    in_file += in_delta + in_second + changes_now;
                    (in_delta, in_second) = (0, 0);
                    written += in_file;
                }
                None => continue,
            }
            changes_now = 0;
        }
        let keys = in_file + in_delta + in_second + changes_now;
        assert_eq!(keys, commits * step);
        (most_past_bound, written as f64 / keys as f64)
    }

    #[test]
    fn the_changes_in_memory_stay_under_a_quarter_of_the_files_keys() {
        for step in [1_000, CHECKPOINT_CHANGES / 8, CHECKPOINT_CHANGES] {
            let (most_past_bound, written_per_key) = simulate(step);
            // Past the bound by less than a commit: the commit that reached it.
            assert!(
                most_past_bound < step,
                "{most_past_bound} (commits of {step})"
            );
            // The price: each key is written about four times (twice when a
            // new file waited for as many changes as its keys).
            assert!(
                written_per_key < 4.0,
                "{written_per_key} (commits of {step})"
            );
        }
    }

    #[test]
    fn failures_in_a_row_space_the_attempts_out_up_to_a_minute() {
        let skipped: Vec<u32> = (0..9).map(looks_to_skip).collect();
        assert_eq!(skipped, [0, 1, 3, 7, 15, 31, 63, 63, 63]);
        assert_eq!(looks_to_skip(u32::MAX), 63);
    }
}
