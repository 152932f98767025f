//! The C ABI of liblightning_db_ffi (ffi-c/include/lightning_db_ffi.h), declared by
//! hand: the addon calls nothing else. `bindings/node/scripts/check-sys.js` (run by
//! ci/test-node) compares every function declared here, its name and parameter and
//! return types, with the header, so a change of the header cannot go unnoticed.
#![allow(non_camel_case_types, dead_code)]

use std::os::raw::{c_char, c_int};

pub type LightningDBError = c_int;
pub const SUCCESS: LightningDBError = 0;
pub const LIGHTNING_DB_NO_VALUE: usize = usize::MAX;
pub const LIGHTNING_DB_MAX_KEY_SIZE: u32 = 16384;
pub const LIGHTNING_DB_MAX_VALUE_SIZE: u32 = 268435456;

#[repr(C)]
pub struct LightningDB {
    _private: [u8; 0],
}
#[repr(C)]
pub struct LightningDBConfig {
    _private: [u8; 0],
}
#[repr(C)]
pub struct LightningDBIterator {
    _private: [u8; 0],
}
#[repr(C)]
pub struct LightningDBWriteBatch {
    _private: [u8; 0],
}

#[repr(C)]
pub struct LightningDBResult {
    pub data: *mut u8,
    pub len: usize,
}

#[repr(C)]
#[derive(Default)]
pub struct LightningDBCompactionReport {
    pub segments_before: u64,
    pub segments_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_copied: u64,
}

#[repr(C)]
#[derive(Default)]
pub struct LightningDBVerifyReport {
    pub segments: u64,
    pub records: u64,
    pub bytes: u64,
    pub live_keys: u64,
    pub unreadable_keys: u64,
    pub corruptions: u64,
}

#[repr(C)]
#[derive(Default)]
pub struct LightningDBStats {
    pub live_keys: u64,
    pub live_bytes: u64,
    pub total_bytes: u64,
    pub segments: u64,
    pub last_seq: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub compactions: u64,
    pub commits: u64,
    pub fsyncs: u64,
    pub checkpoints: u64,
}

#[link(name = "lightning_db_ffi")]
extern "C" {
    pub fn lightning_db_version() -> *const c_char;
    pub fn lightning_db_last_error_code() -> LightningDBError;
    pub fn lightning_db_last_error_message() -> *const c_char;
    pub fn lightning_db_live_handle_count() -> usize;

    pub fn lightning_db_config_new() -> *mut LightningDBConfig;
    pub fn lightning_db_config_set_page_size(
        config: *mut LightningDBConfig,
        page_size: usize,
    ) -> LightningDBError;
    pub fn lightning_db_config_set_cache_size(
        config: *mut LightningDBConfig,
        cache_size: usize,
    ) -> LightningDBError;
    pub fn lightning_db_config_set_sync_mode(
        config: *mut LightningDBConfig,
        sync_mode: c_int,
    ) -> LightningDBError;
    pub fn lightning_db_config_set_read_only(
        config: *mut LightningDBConfig,
        read_only: bool,
    ) -> LightningDBError;
    pub fn lightning_db_config_set_segment_size(
        config: *mut LightningDBConfig,
        segment_size: u64,
    ) -> LightningDBError;
    pub fn lightning_db_config_set_auto_compact(
        config: *mut LightningDBConfig,
        auto_compact: bool,
    ) -> LightningDBError;
    pub fn lightning_db_config_set_compaction_dead_ratio(
        config: *mut LightningDBConfig,
        ratio: f64,
    ) -> LightningDBError;
    pub fn lightning_db_config_set_compaction_min_dead_bytes(
        config: *mut LightningDBConfig,
        bytes: u64,
    ) -> LightningDBError;
    pub fn lightning_db_config_set_normal_sync_interval_ms(
        config: *mut LightningDBConfig,
        interval_ms: u64,
    ) -> LightningDBError;
    pub fn lightning_db_config_free(config: *mut LightningDBConfig);

    pub fn lightning_db_create(
        path: *const c_char,
        config: *const LightningDBConfig,
    ) -> *mut LightningDB;
    pub fn lightning_db_open(
        path: *const c_char,
        config: *const LightningDBConfig,
    ) -> *mut LightningDB;
    pub fn lightning_db_close(db: *mut LightningDB) -> LightningDBError;
    pub fn lightning_db_free(db: *mut LightningDB);

    pub fn lightning_db_put(
        db: *mut LightningDB,
        key: *const u8,
        key_len: usize,
        value: *const u8,
        value_len: usize,
    ) -> LightningDBError;
    pub fn lightning_db_get(
        db: *mut LightningDB,
        key: *const u8,
        key_len: usize,
        result: *mut LightningDBResult,
    ) -> LightningDBError;
    pub fn lightning_db_delete(
        db: *mut LightningDB,
        key: *const u8,
        key_len: usize,
    ) -> LightningDBError;
    pub fn lightning_db_contains(
        db: *mut LightningDB,
        key: *const u8,
        key_len: usize,
        found: *mut bool,
    ) -> LightningDBError;
    pub fn lightning_db_free_result(data: *mut u8, len: usize);
    pub fn lightning_db_get_into(
        db: *mut LightningDB,
        key: *const u8,
        key_len: usize,
        buf: *mut u8,
        cap: usize,
        value_len: *mut usize,
    ) -> LightningDBError;
    pub fn lightning_db_get_tx_into(
        db: *mut LightningDB,
        tx_id: u64,
        key: *const u8,
        key_len: usize,
        buf: *mut u8,
        cap: usize,
        value_len: *mut usize,
    ) -> LightningDBError;
    pub fn lightning_db_write_packed(
        db: *mut LightningDB,
        ops: *const u8,
        len: usize,
        count: usize,
    ) -> LightningDBError;

    pub fn lightning_db_batch_new() -> *mut LightningDBWriteBatch;
    pub fn lightning_db_batch_put(
        batch: *mut LightningDBWriteBatch,
        key: *const u8,
        key_len: usize,
        value: *const u8,
        value_len: usize,
    ) -> LightningDBError;
    pub fn lightning_db_batch_delete(
        batch: *mut LightningDBWriteBatch,
        key: *const u8,
        key_len: usize,
    ) -> LightningDBError;
    pub fn lightning_db_write_batch(
        db: *mut LightningDB,
        batch: *mut LightningDBWriteBatch,
    ) -> LightningDBError;
    pub fn lightning_db_batch_free(batch: *mut LightningDBWriteBatch);

    pub fn lightning_db_checkpoint(db: *mut LightningDB) -> LightningDBError;
    pub fn lightning_db_compact(
        db: *mut LightningDB,
        report: *mut LightningDBCompactionReport,
    ) -> LightningDBError;
    pub fn lightning_db_backup(db: *mut LightningDB, dest_path: *const c_char) -> LightningDBError;
    pub fn lightning_db_verify(
        db: *mut LightningDB,
        report: *mut LightningDBVerifyReport,
    ) -> LightningDBError;
    pub fn lightning_db_stats(
        db: *mut LightningDB,
        stats: *mut LightningDBStats,
    ) -> LightningDBError;
    pub fn lightning_db_refresh(db: *mut LightningDB) -> LightningDBError;

    pub fn lightning_db_begin_transaction(
        db: *mut LightningDB,
        tx_id: *mut u64,
    ) -> LightningDBError;
    pub fn lightning_db_put_tx(
        db: *mut LightningDB,
        tx_id: u64,
        key: *const u8,
        key_len: usize,
        value: *const u8,
        value_len: usize,
    ) -> LightningDBError;
    pub fn lightning_db_get_tx(
        db: *mut LightningDB,
        tx_id: u64,
        key: *const u8,
        key_len: usize,
        result: *mut LightningDBResult,
    ) -> LightningDBError;
    pub fn lightning_db_delete_tx(
        db: *mut LightningDB,
        tx_id: u64,
        key: *const u8,
        key_len: usize,
    ) -> LightningDBError;
    pub fn lightning_db_contains_tx(
        db: *mut LightningDB,
        tx_id: u64,
        key: *const u8,
        key_len: usize,
        found: *mut bool,
    ) -> LightningDBError;
    pub fn lightning_db_commit_transaction(db: *mut LightningDB, tx_id: u64) -> LightningDBError;
    pub fn lightning_db_abort_transaction(db: *mut LightningDB, tx_id: u64) -> LightningDBError;

    pub fn lightning_db_iter_range(
        db: *mut LightningDB,
        start: *const u8,
        start_len: usize,
        end: *const u8,
        end_len: usize,
        reverse: bool,
        iter: *mut *mut LightningDBIterator,
    ) -> LightningDBError;
    pub fn lightning_db_iter_prefix(
        db: *mut LightningDB,
        prefix: *const u8,
        prefix_len: usize,
        reverse: bool,
        iter: *mut *mut LightningDBIterator,
    ) -> LightningDBError;
    pub fn lightning_db_iter_range_tx(
        db: *mut LightningDB,
        tx_id: u64,
        start: *const u8,
        start_len: usize,
        end: *const u8,
        end_len: usize,
        reverse: bool,
        iter: *mut *mut LightningDBIterator,
    ) -> LightningDBError;
    pub fn lightning_db_iter_prefix_tx(
        db: *mut LightningDB,
        tx_id: u64,
        prefix: *const u8,
        prefix_len: usize,
        reverse: bool,
        iter: *mut *mut LightningDBIterator,
    ) -> LightningDBError;
    pub fn lightning_db_iter_next(
        iter: *mut LightningDBIterator,
        key: *mut LightningDBResult,
        value: *mut LightningDBResult,
        has_entry: *mut bool,
    ) -> LightningDBError;
    pub fn lightning_db_iter_next_page(
        iter: *mut LightningDBIterator,
        buf: *mut u8,
        cap: usize,
        max_entries: usize,
        count: *mut usize,
        used: *mut usize,
    ) -> LightningDBError;
    pub fn lightning_db_iter_free(iter: *mut LightningDBIterator);
}
