//! Lightning DB through its C ABI (`ffi-c`, `lightning_db_ffi.h`): the same
//! engine and durable configuration as `lightning`, driven only through the
//! `#[no_mangle] extern "C"` functions a C program links against, so that the
//! table shows what the boundary (handle tables, argument checks, copies) costs.
//! Reads use the header's lending calls, as the integration guide's fast path
//! does: `lightning_db_get_into` for point reads and `lightning_db_range_page`
//! for ranges.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use lightning_db_ffi::c_api::{
    lightning_db_checkpoint, lightning_db_close, lightning_db_compact, lightning_db_config_free,
    lightning_db_config_new, lightning_db_config_set_sync_mode, lightning_db_create,
    lightning_db_free, lightning_db_get_into, lightning_db_last_error_message, lightning_db_put,
    lightning_db_range_page, lightning_db_stats, lightning_db_write_packed, LightningDB,
    LightningDBError, LightningDBStats, LightningDBSyncMode, LIGHTNING_DB_NO_VALUE,
    LIGHTNING_DB_PACKED_DELETE, LIGHTNING_DB_PACKED_PUT, LIGHTNING_DB_PAGE_ENTRY_HEADER,
};

use crate::store::{Key, Reader, Store, Value, KEY_SIZE, VALUE_SIZE};

pub const CONFIG: &str = "the `lightning` engine's configuration set through the C ABI: \
`lightning_db_config_new` + `lightning_db_config_set_sync_mode(SyncFull)` (fdatasync before \
every commit returns; 64 MiB value cache, auto-compaction on: defaults), `lightning_db_create`. \
Bulk load, batches and removals are one `lightning_db_write_packed` each (one buffer of packed \
operations, one atomic commit); individual writes are `lightning_db_put`; point reads are \
`lightning_db_get_into` into a caller buffer (no allocation handed out); range reads are one \
`lightning_db_range_page` each (start key, no end, at most 10 entries copied into a caller \
buffer from one snapshot, no iterator made); len() is `lightning_db_stats` (`live_keys`, \
there is no len call); compaction `lightning_db_compact`; checkpoint \
`lightning_db_checkpoint`; close `lightning_db_close`. The Rust crate's functions are called \
directly (statically linked, no dlopen).";

/// `LightningDB*` from `lightning_db_create`. The header: "All handles may be
/// used from any number of threads at once"; it is a token, never dereferenced.
struct Handle(*mut LightningDB);

// SAFETY: the C ABI documents database handles as usable from any thread at
// once (the library looks them up in a table of live objects).
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

impl Drop for Handle {
    /// A store dropped without `close` (the read phase) is released as a C
    /// program's exit path would: `lightning_db_free` closes it.
    fn drop(&mut self) {
        lightning_db_free(self.0);
    }
}

pub struct LightningC {
    db: Handle,
    /// The packed operations of the commit being built, reused between commits.
    packed: Vec<u8>,
}

fn check(call: &str, err: LightningDBError) {
    if err != LightningDBError::Success {
        // SAFETY: never NULL; valid until the next call on this thread.
        let msg = unsafe { CStr::from_ptr(lightning_db_last_error_message()) };
        panic!("{call}: {err:?}: {}", msg.to_string_lossy());
    }
}

pub struct LightningCReader<'a> {
    db: &'a Handle,
    /// Caller buffer for `lightning_db_get_into`; every value here is 150 bytes.
    buf: [u8; 256],
    /// Caller buffer for `lightning_db_range_page`: a range reads at most 10
    /// entries of 8 + 24 + 150 bytes.
    page: Vec<u8>,
}

impl Reader for LightningCReader<'_> {
    fn get(&mut self, key: &[u8]) -> Option<(u8, usize)> {
        let mut len = 0usize;
        // SAFETY: key and buf are valid for the lengths passed; len is writable.
        let err = unsafe {
            lightning_db_get_into(
                self.db.0,
                key.as_ptr(),
                key.len(),
                self.buf.as_mut_ptr(),
                self.buf.len(),
                &mut len,
            )
        };
        check("lightning_db_get_into", err);
        if len == LIGHTNING_DB_NO_VALUE {
            return None;
        }
        assert!(len <= self.buf.len(), "value longer than the buffer");
        Some((self.buf[0], len))
    }

    fn scan(&mut self, start: &[u8], n: usize) -> (usize, u64) {
        let (mut count, mut used) = (0usize, 0usize);
        // SAFETY: start is valid for its length; the end bound is NULL/0
        // (unbounded); the page is writable for its length; count and used are
        // writable; rest is NULL (no iterator wanted).
        let err = unsafe {
            lightning_db_range_page(
                self.db.0,
                start.as_ptr(),
                start.len(),
                ptr::null(),
                0,
                false,
                self.page.as_mut_ptr(),
                self.page.len(),
                n,
                &mut count,
                &mut used,
                ptr::null_mut(),
            )
        };
        check("lightning_db_range_page", err);
        assert!(
            count > 0 || used == 0,
            "a {used}-byte entry did not fit in the page"
        );
        let (mut at, mut sum) = (0, 0u64);
        for _ in 0..count {
            let len = |at: usize| u32::from_le_bytes(self.page[at..at + 4].try_into().unwrap());
            let (k, v) = (len(at) as usize, len(at + 4) as usize);
            assert!(v > 0);
            sum += u64::from(self.page[at + LIGHTNING_DB_PAGE_ENTRY_HEADER + k]);
            at += LIGHTNING_DB_PAGE_ENTRY_HEADER + k + v;
        }
        assert_eq!(at, used);
        (count, sum)
    }
}

impl LightningC {
    fn push_op(&mut self, op: u8, key: &[u8], value: &[u8]) {
        self.packed.push(op);
        self.packed
            .extend_from_slice(&(key.len() as u32).to_le_bytes());
        self.packed
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.packed.extend_from_slice(key);
        self.packed.extend_from_slice(value);
    }

    fn write_packed(&mut self, count: usize) {
        // SAFETY: packed is valid for its length and holds `count` operations.
        let err = unsafe {
            lightning_db_write_packed(self.db.0, self.packed.as_ptr(), self.packed.len(), count)
        };
        check("lightning_db_write_packed", err);
        self.packed.clear();
    }
}

impl Store for LightningC {
    type Reader<'a> = LightningCReader<'a>;

    fn open(dir: &Path) -> Self {
        let path = CString::new(dir.as_os_str().as_bytes()).unwrap();
        let config = lightning_db_config_new();
        assert!(!config.is_null());
        check(
            "lightning_db_config_set_sync_mode",
            lightning_db_config_set_sync_mode(config, LightningDBSyncMode::SyncFull as _),
        );
        // SAFETY: path is NUL-terminated; config is a live config handle.
        let db = unsafe { lightning_db_create(path.as_ptr(), config) };
        lightning_db_config_free(config);
        if db.is_null() {
            // SAFETY: never NULL.
            let msg = unsafe { CStr::from_ptr(lightning_db_last_error_message()) };
            panic!("lightning_db_create: {}", msg.to_string_lossy());
        }
        LightningC {
            db: Handle(db),
            packed: Vec::new(),
        }
    }

    fn commit_puts(&mut self, items: &mut dyn Iterator<Item = (Key, Value)>) {
        // The workload's iterators know their length: one allocation.
        let (lower, _) = items.size_hint();
        self.packed.reserve(lower * (9 + KEY_SIZE + VALUE_SIZE));
        let mut count = 0;
        for (k, v) in items {
            self.push_op(LIGHTNING_DB_PACKED_PUT, &k, &v);
            count += 1;
        }
        self.write_packed(count);
    }

    fn put_one(&mut self, key: &Key, value: &Value) {
        // SAFETY: key and value are valid for their lengths.
        let err = unsafe {
            lightning_db_put(
                self.db.0,
                key.as_ptr(),
                key.len(),
                value.as_ptr(),
                value.len(),
            )
        };
        check("lightning_db_put", err);
    }

    fn commit_deletes(&mut self, keys: &mut dyn Iterator<Item = Key>) {
        let mut count = 0;
        for k in keys {
            self.push_op(LIGHTNING_DB_PACKED_DELETE, &k, &[]);
            count += 1;
        }
        self.write_packed(count);
    }

    fn len(&self) -> u64 {
        let mut stats = LightningDBStats::default();
        // SAFETY: stats is writable.
        check("lightning_db_stats", unsafe {
            lightning_db_stats(self.db.0, &mut stats)
        });
        stats.live_keys
    }

    fn reader(&self) -> LightningCReader<'_> {
        LightningCReader {
            db: &self.db,
            buf: [0; 256],
            page: vec![0; 4096],
        }
    }

    fn compact(&mut self) -> bool {
        // SAFETY: the report may be NULL.
        check("lightning_db_compact", unsafe {
            lightning_db_compact(self.db.0, ptr::null_mut())
        });
        true
    }

    fn checkpoint(&self) -> bool {
        check(
            "lightning_db_checkpoint",
            lightning_db_checkpoint(self.db.0),
        );
        true
    }

    fn close(mut self) {
        let db = std::mem::replace(&mut self.db.0, ptr::null_mut());
        check("lightning_db_close", lightning_db_close(db));
    }
}
