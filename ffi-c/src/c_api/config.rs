//! `LightningDBConfig`: options for opening a database.
//!
//! Each setter checks its value with the engine's own validation at once, so a
//! bad option is reported where it is set rather than later by create/open.

use std::ffi::c_int;
use std::sync::{Mutex, PoisonError};

use lightning_db::{Config, SyncMode};

use super::{LightningDBConfig, LightningDBError};
use crate::boundary::handles::Registry;
use crate::boundary::{run, run_handle, run_void, Failure, Outcome};

pub(crate) static CONFIGS: Registry<Mutex<Config>> = Registry::new("LightningDBConfig*");

fn token(config: *const LightningDBConfig) -> usize {
    config.addr()
}

/// The options behind a handle, copied; NULL means the defaults.
pub(crate) fn resolve(config: *const LightningDBConfig) -> Outcome<Config> {
    if config.is_null() {
        return Ok(Config::default());
    }
    let config = CONFIGS.get(token(config), "config")?;
    let config = config.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(config.clone())
}

/// Applies `change` to the options behind `config` if the result is valid.
fn update(
    name: &str,
    config: *mut LightningDBConfig,
    change: impl FnOnce(&mut Config) -> Outcome<()>,
) -> LightningDBError {
    run(name, || {
        let config = CONFIGS.get(token(config), "config")?;
        let mut config = config.lock().unwrap_or_else(PoisonError::into_inner);
        let mut changed = config.clone();
        change(&mut changed)?;
        changed.validate()?;
        *config = changed;
        Ok(())
    })
}

/// A new set of options with the defaults: page size 4096, cache 64 MiB,
/// `SyncFull`, read-write, 64 MiB segments, background compaction on.
///
/// Memory: release it with `lightning_db_config_free`. `lightning_db_create` and
/// `lightning_db_open` copy the options, so it may be freed right after them.
/// Returns NULL only if memory runs out.
#[no_mangle]
pub extern "C" fn lightning_db_config_new() -> *mut LightningDBConfig {
    let token = run_handle("lightning_db_config_new", || {
        Ok(CONFIGS.insert(Mutex::new(Config::default())))
    });
    std::ptr::without_provenance_mut(token)
}

/// Sets the I/O unit: a power of two from 512 to 65536 bytes (default 4096);
/// segment files grow in steps of 256 pages. Other values: InvalidArgument, and the
/// config is unchanged.
#[no_mangle]
pub extern "C" fn lightning_db_config_set_page_size(
    config: *mut LightningDBConfig,
    page_size: usize,
) -> LightningDBError {
    update("lightning_db_config_set_page_size", config, |c| {
        c.page_size = page_size;
        Ok(())
    })
}

/// Sets the bytes of values kept in the in-process read cache (default 64 MiB;
/// 0 disables the cache). It holds records of 1 KiB and more (key, value and
/// header); smaller ones are read from the map, which is faster than a lookup.
/// Hits and misses are reported by `lightning_db_stats`.
#[no_mangle]
pub extern "C" fn lightning_db_config_set_cache_size(
    config: *mut LightningDBConfig,
    cache_size: usize,
) -> LightningDBError {
    update("lightning_db_config_set_cache_size", config, |c| {
        c.cache_size = cache_size;
        Ok(())
    })
}

/// Sets when commits reach stable storage: one of the `LightningDBSyncMode`
/// values (default `SyncFull`). Any other value: InvalidArgument.
#[no_mangle]
pub extern "C" fn lightning_db_config_set_sync_mode(
    config: *mut LightningDBConfig,
    sync_mode: c_int,
) -> LightningDBError {
    update("lightning_db_config_set_sync_mode", config, |c| {
        c.sync_mode = match sync_mode {
            0 => SyncMode::Full,
            1 => SyncMode::Normal,
            2 => SyncMode::Off,
            other => {
                return Err(Failure::invalid(format!(
                    "{other} is not a LightningDBSyncMode (0 SyncFull, 1 SyncNormal, 2 SyncOff)"
                )))
            }
        };
        Ok(())
    })
}

/// Opens without taking the writer lock (default false): any number of read-only
/// handles, in any processes, may coexist with one writer; writes through them fail
/// with InvalidArgument, and `lightning_db_refresh` loads commits made since.
/// `lightning_db_create` refuses a read-only config (InvalidArgument): use
/// `lightning_db_open`.
#[no_mangle]
pub extern "C" fn lightning_db_config_set_read_only(
    config: *mut LightningDBConfig,
    read_only: bool,
) -> LightningDBError {
    update("lightning_db_config_set_read_only", config, |c| {
        c.read_only = read_only;
        Ok(())
    })
}

/// Sets the size at which a segment file is sealed and a new one started: 4096
/// to 2147483647 bytes (just under 2 GiB; default 64 MiB). Other values:
/// InvalidArgument.
#[no_mangle]
pub extern "C" fn lightning_db_config_set_segment_size(
    config: *mut LightningDBConfig,
    segment_size: u64,
) -> LightningDBError {
    update("lightning_db_config_set_segment_size", config, |c| {
        c.segment_size = segment_size;
        Ok(())
    })
}

/// Lets a background thread compact when at least half of the segment bytes, and
/// at least 16 MiB, are dead (default true). `lightning_db_compact` works either way.
#[no_mangle]
pub extern "C" fn lightning_db_config_set_auto_compact(
    config: *mut LightningDBConfig,
    auto_compact: bool,
) -> LightningDBError {
    update("lightning_db_config_set_auto_compact", config, |c| {
        c.auto_compact = auto_compact;
        Ok(())
    })
}

/// Sets the share of dead segment bytes, in (0, 1], at which background
/// compaction starts (default 0.5). Other values (0, negative, above 1, NaN):
/// InvalidArgument.
#[no_mangle]
pub extern "C" fn lightning_db_config_set_compaction_dead_ratio(
    config: *mut LightningDBConfig,
    ratio: f64,
) -> LightningDBError {
    update(
        "lightning_db_config_set_compaction_dead_ratio",
        config,
        |c| {
            c.compaction_dead_ratio = ratio;
            Ok(())
        },
    )
}

/// Sets how many bytes must be dead before background compaction starts
/// (default 16 MiB).
#[no_mangle]
pub extern "C" fn lightning_db_config_set_compaction_min_dead_bytes(
    config: *mut LightningDBConfig,
    bytes: u64,
) -> LightningDBError {
    update(
        "lightning_db_config_set_compaction_min_dead_bytes",
        config,
        |c| {
            c.compaction_min_dead_bytes = bytes;
            Ok(())
        },
    )
}

/// Sets how long after a commit the background thread of `SyncNormal` syncs it,
/// in milliseconds (at least 1; default 100). 0: InvalidArgument.
#[no_mangle]
pub extern "C" fn lightning_db_config_set_normal_sync_interval_ms(
    config: *mut LightningDBConfig,
    interval_ms: u64,
) -> LightningDBError {
    update(
        "lightning_db_config_set_normal_sync_interval_ms",
        config,
        |c| {
            c.normal_sync_interval_ms = interval_ms;
            Ok(())
        },
    )
}

/// Releases a config. NULL: no-op. A handle already freed (or never returned by
/// `lightning_db_config_new`) is detected and ignored; the misuse is reported by
/// `lightning_db_last_error_code` (InvalidArgument) and the message.
#[no_mangle]
pub extern "C" fn lightning_db_config_free(config: *mut LightningDBConfig) {
    if config.is_null() {
        return;
    }
    run_void("lightning_db_config_free", || {
        CONFIGS.remove(token(config), "config").map(drop)
    });
}
