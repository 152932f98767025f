//! Database configuration. Every knob here changes observable behaviour; none is
//! accepted and ignored.

use crate::error::{Error, Result};

/// When a commit is forced to stable storage.
///
/// In every mode a commit has been handed to the operating system (`write(2)`)
/// before the call returns, so it survives the process being killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// The commit is on stable storage (`fdatasync`, and the directory is synced
    /// after every file creation or rename) before the call returns. Concurrent
    /// committers share one sync (group commit). Survives power loss.
    #[default]
    Full,
    /// A background thread syncs at most [`Config::normal_sync_interval_ms`] after a
    /// commit; a power loss loses at most the commits of that last interval. After
    /// any crash the database holds a prefix of the commit order.
    Normal,
    /// Synced only by `checkpoint`, `close`, segment roll-over and compaction. A
    /// power loss may lose any commit made since the last of those.
    Off,
}

/// Options for opening a database.
#[derive(Debug, Clone)]
pub struct Config {
    /// I/O unit in bytes: a power of two between 512 and 65536 (default 4096).
    /// Segment files grow in steps of 256 pages (1 MiB at the default), allocated
    /// ahead of the writes so that a durable commit does not also have to sync file
    /// metadata.
    pub page_size: usize,
    /// Bytes of decoded values kept in the in-process read cache (default 64 MiB;
    /// 0 disables it). It holds records of 1 KiB and more: a smaller one is read
    /// from the map in less time than a lookup takes. Hits and misses are
    /// reported by `stats()`.
    pub cache_size: usize,
    pub sync_mode: SyncMode,
    /// Open without taking the writer lock; writes fail with InvalidArgument.
    /// Any number of read-only handles may coexist with one writer process.
    pub read_only: bool,
    /// A segment is sealed and a new one started once it reaches this many bytes
    /// (default 64 MiB, minimum 4096, maximum 2147483647).
    pub segment_size: u64,
    /// Let a background thread compact when dead bytes exceed
    /// `compaction_dead_ratio` of the segment bytes (default true).
    pub auto_compact: bool,
    /// Fraction of dead bytes that triggers background compaction (default 0.5).
    pub compaction_dead_ratio: f64,
    /// Background compaction waits until at least this many bytes are dead
    /// (default 16 MiB).
    pub compaction_min_dead_bytes: u64,
    /// Background sync period for [`SyncMode::Normal`], in milliseconds (default 100).
    pub normal_sync_interval_ms: u64,
}

pub const DEFAULT_PAGE_SIZE: usize = 4096;
pub const DEFAULT_CACHE_SIZE: usize = 64 * 1024 * 1024;
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 * 1024 * 1024;

impl Default for Config {
    fn default() -> Self {
        Config {
            page_size: DEFAULT_PAGE_SIZE,
            cache_size: DEFAULT_CACHE_SIZE,
            sync_mode: SyncMode::Full,
            read_only: false,
            segment_size: DEFAULT_SEGMENT_SIZE,
            auto_compact: true,
            compaction_dead_ratio: 0.5,
            compaction_min_dead_bytes: 16 * 1024 * 1024,
            normal_sync_interval_ms: 100,
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<()> {
        if !self.page_size.is_power_of_two() || !(512..=65536).contains(&self.page_size) {
            return Err(Error::invalid(format!(
                "page size {} is not a power of two between 512 and 65536",
                self.page_size
            )));
        }
        if self.segment_size < 4096 || self.segment_size > u32::MAX as u64 / 2 {
            return Err(Error::invalid(format!(
                "segment size {} is outside 4096..=2147483647 bytes",
                self.segment_size
            )));
        }
        if !(self.compaction_dead_ratio > 0.0 && self.compaction_dead_ratio <= 1.0) {
            return Err(Error::invalid("compaction_dead_ratio must be in (0, 1]"));
        }
        if self.normal_sync_interval_ms == 0 {
            return Err(Error::invalid("normal_sync_interval_ms must be at least 1"));
        }
        Ok(())
    }

    /// Bytes by which a segment file is extended ahead of the writes.
    pub(crate) fn growth_step(&self) -> u64 {
        self.page_size as u64 * 256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_must_be_a_power_of_two_in_range() {
        for bad in [0, 1000, 4097, 256, 131072] {
            let c = Config {
                page_size: bad,
                ..Config::default()
            };
            assert_eq!(
                c.validate().unwrap_err().kind(),
                crate::ErrorKind::InvalidArgument
            );
        }
        for good in [512, 4096, 65536] {
            Config {
                page_size: good,
                ..Config::default()
            }
            .validate()
            .unwrap();
        }
    }

    #[test]
    fn defaults_match_the_guide() {
        let c = Config::default();
        assert_eq!(c.page_size, 4096);
        assert_eq!(c.cache_size, 64 * 1024 * 1024);
        assert_eq!(c.sync_mode, SyncMode::Full);
    }
}
