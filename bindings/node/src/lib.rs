//! The native half of the Node.js binding: a thin napi-rs layer over the C ABI of
//! liblightning_db_ffi (declared in `sys.rs`), linked dynamically so that Node uses
//! the same library as every other language. Everything idiomatic (options, string
//! keys, iterables, transactions as callbacks, error classes) is in `index.js`;
//! this layer only moves bytes and handles across the boundary.
//!
//! Errors: a failed call throws an `Error` whose message is `[<C error name>] <the
//! library's message>`; `index.js` turns it into the matching error class.

mod sys;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::ffi::{CStr, CString};
use std::os::raw::c_int;
use std::ptr;
use sys::*;

fn code_name(code: c_int) -> &'static str {
    match code {
        -1 => "NullPointer",
        -2 => "InvalidUtf8",
        -3 => "IoError",
        -4 => "CorruptedData",
        -5 => "InvalidArgument",
        -6 => "OutOfMemory",
        -7 => "DatabaseLocked",
        -8 => "TransactionConflict",
        _ => "UnknownError",
    }
}

fn error_of(code: c_int) -> Error {
    // The message is thread-local in the library and set by the call that just
    // failed on this thread (the main thread, or the worker of an async task).
    let message = unsafe { CStr::from_ptr(lightning_db_last_error_message()) }.to_string_lossy();
    Error::new(Status::GenericFailure, format!("[{}] {}", code_name(code), message))
}

fn invalid(message: &str) -> Error {
    Error::new(Status::GenericFailure, format!("[InvalidArgument] {message}"))
}

fn check(code: c_int) -> Result<()> {
    if code == SUCCESS {
        Ok(())
    } else {
        Err(error_of(code))
    }
}

/// Never NULL, also for an empty slice: the library answers a NULL key with
/// NullPointer, while an empty key must get the engine's own InvalidArgument
/// ("empty key"), as in every other language.
fn ptr_of(bytes: &[u8]) -> *const u8 {
    static EMPTY: [u8; 1] = [0];
    if bytes.is_empty() {
        EMPTY.as_ptr()
    } else {
        bytes.as_ptr()
    }
}

fn closed_error() -> Error {
    invalid("the database is closed")
}

fn path_of(path: &str) -> Result<CString> {
    CString::new(path).map_err(|_| invalid("a path cannot contain a NUL character"))
}

/// Options of `open`/`create`, as the JS layer passes them (already validated
/// and converted to the C config's units).
#[napi(object)]
pub struct NativeConfig {
    pub page_size: Option<u32>,
    pub cache_size: Option<f64>,
    pub sync_mode: Option<i32>,
    pub read_only: Option<bool>,
    pub segment_size: Option<f64>,
    pub auto_compact: Option<bool>,
}

struct Config(*mut LightningDBConfig);

impl Drop for Config {
    fn drop(&mut self) {
        unsafe { lightning_db_config_free(self.0) }
    }
}

fn config_of(options: &NativeConfig) -> Result<Config> {
    let config = Config(unsafe { lightning_db_config_new() });
    if config.0.is_null() {
        return Err(error_of(unsafe { lightning_db_last_error_code() }));
    }
    unsafe {
        if let Some(v) = options.page_size {
            check(lightning_db_config_set_page_size(config.0, v as usize))?;
        }
        if let Some(v) = options.cache_size {
            check(lightning_db_config_set_cache_size(config.0, v as usize))?;
        }
        if let Some(v) = options.sync_mode {
            check(lightning_db_config_set_sync_mode(config.0, v))?;
        }
        if let Some(v) = options.read_only {
            check(lightning_db_config_set_read_only(config.0, v))?;
        }
        if let Some(v) = options.segment_size {
            check(lightning_db_config_set_segment_size(config.0, v as u64))?;
        }
        if let Some(v) = options.auto_compact {
            check(lightning_db_config_set_auto_compact(config.0, v))?;
        }
    }
    Ok(config)
}

/// The library's version string.
#[napi]
pub fn version() -> String {
    unsafe { CStr::from_ptr(lightning_db_version()) }.to_string_lossy().into_owned()
}

/// Handles of every type not yet released in this process (the library's leak
/// check; tests use it to prove that iterators are released).
#[napi]
pub fn live_handle_count() -> u32 {
    unsafe { lightning_db_live_handle_count() as u32 }
}

#[napi(object)]
pub struct NativeStats {
    pub live_keys: f64,
    pub live_bytes: f64,
    pub total_bytes: f64,
    pub segments: f64,
    pub last_seq: f64,
    pub cache_hits: f64,
    pub cache_misses: f64,
    pub compactions: f64,
    pub commits: f64,
    pub fsyncs: f64,
    pub checkpoints: f64,
}

#[napi(object)]
pub struct NativeVerifyReport {
    pub segments: f64,
    pub records: f64,
    pub bytes: f64,
    pub live_keys: f64,
    pub unreadable_keys: f64,
    pub corruptions: f64,
    /// Empty when clean, otherwise the library's list of the first damaged places.
    pub message: String,
}

#[napi(object)]
pub struct NativeCompactionReport {
    pub segments_before: f64,
    pub segments_after: f64,
    pub bytes_before: f64,
    pub bytes_after: f64,
    pub records_copied: f64,
}

/// An open database: the C handle (a registry token, so a call after close is
/// refused by the library instead of touching freed memory).
#[napi]
pub struct NativeDb {
    db: usize,
    closed: bool,
}

impl Drop for NativeDb {
    fn drop(&mut self) {
        // Garbage collected without close(): release the handle so that the
        // writer lock does not outlive every reference to the database.
        if !self.closed {
            unsafe { lightning_db_free(self.db as *mut LightningDB) }
        }
    }
}

/// Reads a C result into a new Buffer and releases the library's copy.
fn take_result<'env>(env: &'env Env, result: LightningDBResult) -> Result<Option<BufferSlice<'env>>> {
    if result.data.is_null() {
        return Ok(None);
    }
    let bytes = unsafe { std::slice::from_raw_parts(result.data, result.len) };
    let buffer = BufferSlice::copy_from(env, bytes);
    unsafe { lightning_db_free_result(result.data, result.len) };
    buffer.map(Some)
}

/// Applies a packed batch (`[u8 op][u32 key_len][u32 value_len][key][value]`,
/// op 1 = put, 2 = delete) as one atomic commit.
fn write_packed(db: usize, ops: &[u8], count: u32) -> Result<()> {
    struct Batch(*mut LightningDBWriteBatch);
    impl Drop for Batch {
        fn drop(&mut self) {
            unsafe { lightning_db_batch_free(self.0) }
        }
    }
    let batch = Batch(unsafe { lightning_db_batch_new() });
    if batch.0.is_null() {
        return Err(error_of(unsafe { lightning_db_last_error_code() }));
    }
    let mut at = 0usize;
    let u32_at = |at: usize| -> Result<usize> {
        ops.get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
            .ok_or_else(|| invalid("malformed packed batch"))
    };
    for _ in 0..count {
        let op = *ops.get(at).ok_or_else(|| invalid("malformed packed batch"))?;
        let key_len = u32_at(at + 1)?;
        let value_len = u32_at(at + 5)?;
        at += 9;
        let key = ops.get(at..at + key_len).ok_or_else(|| invalid("malformed packed batch"))?;
        at += key_len;
        let value = ops.get(at..at + value_len).ok_or_else(|| invalid("malformed packed batch"))?;
        at += value_len;
        let code = match op {
            1 => unsafe { lightning_db_batch_put(batch.0, ptr_of(key), key.len(), ptr_of(value), value.len()) },
            2 => unsafe { lightning_db_batch_delete(batch.0, ptr_of(key), key.len()) },
            _ => return Err(invalid("malformed packed batch")),
        };
        check(code)?;
    }
    if at != ops.len() {
        return Err(invalid("malformed packed batch"));
    }
    check(unsafe { lightning_db_write_batch(db as *mut LightningDB, batch.0) })
}

fn verify(db: usize) -> Result<NativeVerifyReport> {
    let mut report = LightningDBVerifyReport::default();
    let code = unsafe { lightning_db_verify(db as *mut LightningDB, &mut report) };
    let message = match code {
        SUCCESS => String::new(),
        // Damage is a finding of the report, not a failure of the call.
        -4 => unsafe { CStr::from_ptr(lightning_db_last_error_message()) }.to_string_lossy().into_owned(),
        _ => return Err(error_of(code)),
    };
    Ok(NativeVerifyReport {
        segments: report.segments as f64,
        records: report.records as f64,
        bytes: report.bytes as f64,
        live_keys: report.live_keys as f64,
        unreadable_keys: report.unreadable_keys as f64,
        corruptions: report.corruptions as f64,
        message,
    })
}

fn compact(db: usize) -> Result<NativeCompactionReport> {
    let mut r = LightningDBCompactionReport::default();
    check(unsafe { lightning_db_compact(db as *mut LightningDB, &mut r) })?;
    Ok(NativeCompactionReport {
        segments_before: r.segments_before as f64,
        segments_after: r.segments_after as f64,
        bytes_before: r.bytes_before as f64,
        bytes_after: r.bytes_after as f64,
        records_copied: r.records_copied as f64,
    })
}

/// The calls that wait on the disk, run on libuv's thread pool by `AsyncTask`.
pub enum Job {
    Commit(u64),
    Write(Vec<u8>, u32),
    Checkpoint,
    Compact,
    Backup(CString),
    Verify,
}

pub enum JobOutput {
    Unit,
    Compact(NativeCompactionReport),
    Verify(NativeVerifyReport),
}

pub struct DiskTask {
    db: usize,
    job: Option<Job>,
}

impl Task for DiskTask {
    type Output = JobOutput;
    type JsValue = Either3<Undefined, NativeCompactionReport, NativeVerifyReport>;

    fn compute(&mut self) -> Result<JobOutput> {
        let db = self.db as *mut LightningDB;
        match self.job.take().expect("a task runs once") {
            Job::Commit(tx) => check(unsafe { lightning_db_commit_transaction(db, tx) }).map(|_| JobOutput::Unit),
            Job::Write(ops, count) => write_packed(self.db, &ops, count).map(|_| JobOutput::Unit),
            Job::Checkpoint => check(unsafe { lightning_db_checkpoint(db) }).map(|_| JobOutput::Unit),
            Job::Compact => compact(self.db).map(JobOutput::Compact),
            Job::Backup(dest) => check(unsafe { lightning_db_backup(db, dest.as_ptr()) }).map(|_| JobOutput::Unit),
            Job::Verify => verify(self.db).map(JobOutput::Verify),
        }
    }

    fn resolve(&mut self, _env: Env, output: JobOutput) -> Result<Self::JsValue> {
        Ok(match output {
            JobOutput::Unit => Either3::A(()),
            JobOutput::Compact(r) => Either3::B(r),
            JobOutput::Verify(r) => Either3::C(r),
        })
    }
}

#[napi]
impl NativeDb {
    /// Opens (`create` true: creating if missing) the database in `path`.
    #[napi(factory)]
    pub fn open(path: String, create: bool, options: NativeConfig) -> Result<NativeDb> {
        let config = config_of(&options)?;
        let path = path_of(&path)?;
        let db = unsafe {
            if create {
                lightning_db_create(path.as_ptr(), config.0)
            } else {
                lightning_db_open(path.as_ptr(), config.0)
            }
        };
        if db.is_null() {
            return Err(error_of(unsafe { lightning_db_last_error_code() }));
        }
        Ok(NativeDb { db: db as usize, closed: false })
    }

    /// The handle, or the error every call after close() gets. The library
    /// refuses a closed handle too, but only this layer knows it was closed (and
    /// not never opened), so it says so in the words of the other languages.
    fn ptr(&self) -> Result<*mut LightningDB> {
        if self.closed {
            Err(closed_error())
        } else {
            Ok(self.db as *mut LightningDB)
        }
    }

    fn task(&self, job: Job) -> Result<AsyncTask<DiskTask>> {
        self.ptr()?;
        Ok(AsyncTask::new(DiskTask { db: self.db, job: Some(job) }))
    }

    #[napi]
    pub fn close(&mut self) -> Result<()> {
        let code = unsafe { lightning_db_close(self.ptr()?) };
        self.closed = true;
        check(code)
    }

    #[napi]
    pub fn get<'env>(&self, env: &'env Env, key: &[u8]) -> Result<Option<BufferSlice<'env>>> {
        let mut result = LightningDBResult { data: ptr::null_mut(), len: 0 };
        check(unsafe { lightning_db_get(self.ptr()?, ptr_of(key), key.len(), &mut result) })?;
        take_result(env, result)
    }

    #[napi]
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        check(unsafe { lightning_db_put(self.ptr()?, ptr_of(key), key.len(), ptr_of(value), value.len()) })
    }

    #[napi]
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        check(unsafe { lightning_db_delete(self.ptr()?, ptr_of(key), key.len()) })
    }

    #[napi]
    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        let mut found = false;
        check(unsafe { lightning_db_contains(self.ptr()?, ptr_of(key), key.len(), &mut found) })?;
        Ok(found)
    }

    #[napi]
    pub fn write_packed(&self, ops: &[u8], count: u32) -> Result<()> {
        self.ptr()?;
        write_packed(self.db, ops, count)
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn write_packed_async(&self, ops: &[u8], count: u32) -> Result<AsyncTask<DiskTask>> {
        self.task(Job::Write(ops.to_vec(), count))
    }

    #[napi]
    pub fn stats(&self) -> Result<NativeStats> {
        let mut s = LightningDBStats::default();
        check(unsafe { lightning_db_stats(self.ptr()?, &mut s) })?;
        Ok(NativeStats {
            live_keys: s.live_keys as f64,
            live_bytes: s.live_bytes as f64,
            total_bytes: s.total_bytes as f64,
            segments: s.segments as f64,
            last_seq: s.last_seq as f64,
            cache_hits: s.cache_hits as f64,
            cache_misses: s.cache_misses as f64,
            compactions: s.compactions as f64,
            commits: s.commits as f64,
            fsyncs: s.fsyncs as f64,
            checkpoints: s.checkpoints as f64,
        })
    }

    #[napi]
    pub fn checkpoint(&self) -> Result<()> {
        check(unsafe { lightning_db_checkpoint(self.ptr()?) })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn checkpoint_async(&self) -> Result<AsyncTask<DiskTask>> {
        self.task(Job::Checkpoint)
    }

    #[napi]
    pub fn compact(&self) -> Result<NativeCompactionReport> {
        self.ptr()?;
        compact(self.db)
    }

    #[napi(ts_return_type = "Promise<NativeCompactionReport>")]
    pub fn compact_async(&self) -> Result<AsyncTask<DiskTask>> {
        self.task(Job::Compact)
    }

    #[napi]
    pub fn backup(&self, dest: String) -> Result<()> {
        let dest = path_of(&dest)?;
        check(unsafe { lightning_db_backup(self.ptr()?, dest.as_ptr()) })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn backup_async(&self, dest: String) -> Result<AsyncTask<DiskTask>> {
        self.task(Job::Backup(path_of(&dest)?))
    }

    #[napi]
    pub fn verify(&self) -> Result<NativeVerifyReport> {
        self.ptr()?;
        verify(self.db)
    }

    #[napi(ts_return_type = "Promise<NativeVerifyReport>")]
    pub fn verify_async(&self) -> Result<AsyncTask<DiskTask>> {
        self.task(Job::Verify)
    }

    #[napi]
    pub fn refresh(&self) -> Result<()> {
        check(unsafe { lightning_db_refresh(self.ptr()?) })
    }

    /// Begins a transaction; its id (ids stay far below 2^53).
    #[napi]
    pub fn begin(&self) -> Result<f64> {
        let mut tx = 0u64;
        check(unsafe { lightning_db_begin_transaction(self.ptr()?, &mut tx) })?;
        Ok(tx as f64)
    }

    #[napi]
    pub fn tx_get<'env>(&self, env: &'env Env, tx: f64, key: &[u8]) -> Result<Option<BufferSlice<'env>>> {
        let mut result = LightningDBResult { data: ptr::null_mut(), len: 0 };
        check(unsafe { lightning_db_get_tx(self.ptr()?, tx as u64, ptr_of(key), key.len(), &mut result) })?;
        take_result(env, result)
    }

    #[napi]
    pub fn tx_put(&self, tx: f64, key: &[u8], value: &[u8]) -> Result<()> {
        check(unsafe { lightning_db_put_tx(self.ptr()?, tx as u64, ptr_of(key), key.len(), ptr_of(value), value.len()) })
    }

    #[napi]
    pub fn tx_delete(&self, tx: f64, key: &[u8]) -> Result<()> {
        check(unsafe { lightning_db_delete_tx(self.ptr()?, tx as u64, ptr_of(key), key.len()) })
    }

    #[napi]
    pub fn tx_contains(&self, tx: f64, key: &[u8]) -> Result<bool> {
        let mut found = false;
        check(unsafe { lightning_db_contains_tx(self.ptr()?, tx as u64, ptr_of(key), key.len(), &mut found) })?;
        Ok(found)
    }

    #[napi]
    pub fn commit(&self, tx: f64) -> Result<()> {
        check(unsafe { lightning_db_commit_transaction(self.ptr()?, tx as u64) })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn commit_async(&self, tx: f64) -> Result<AsyncTask<DiskTask>> {
        self.task(Job::Commit(tx as u64))
    }

    #[napi]
    pub fn rollback(&self, tx: f64) -> Result<()> {
        check(unsafe { lightning_db_abort_transaction(self.ptr()?, tx as u64) })
    }

    /// A scan of `start <= key < end` (either bound may be absent), over the
    /// database or, with `tx`, over what that transaction sees.
    #[napi]
    pub fn range(&self, start: Option<&[u8]>, end: Option<&[u8]>, reverse: bool, tx: Option<f64>) -> Result<NativeIter> {
        let (s, sl) = start.map_or((ptr::null(), 0), |b| (ptr_of(b), b.len()));
        let (e, el) = end.map_or((ptr::null(), 0), |b| (ptr_of(b), b.len()));
        let mut iter = ptr::null_mut();
        check(unsafe {
            match tx {
                Some(tx) => lightning_db_iter_range_tx(self.ptr()?, tx as u64, s, sl, e, el, reverse, &mut iter),
                None => lightning_db_iter_range(self.ptr()?, s, sl, e, el, reverse, &mut iter),
            }
        })?;
        Ok(NativeIter { iter: iter as usize, pending: None })
    }

    #[napi]
    pub fn prefix(&self, prefix: &[u8], reverse: bool, tx: Option<f64>) -> Result<NativeIter> {
        let mut iter = ptr::null_mut();
        check(unsafe {
            match tx {
                Some(tx) => lightning_db_iter_prefix_tx(self.ptr()?, tx as u64, ptr_of(prefix), prefix.len(), reverse, &mut iter),
                None => lightning_db_iter_prefix(self.ptr()?, ptr_of(prefix), prefix.len(), reverse, &mut iter),
            }
        })?;
        Ok(NativeIter { iter: iter as usize, pending: None })
    }
}

/// A scan in progress. Released by `free()` or, failing that, by the garbage
/// collector.
#[napi]
pub struct NativeIter {
    iter: usize,
    /// An error met after some entries of a page were read: thrown by the next
    /// call, so that no entry is skipped silently.
    pending: Option<String>,
}

impl Drop for NativeIter {
    fn drop(&mut self) {
        if self.iter != 0 {
            unsafe { lightning_db_iter_free(self.iter as *mut LightningDBIterator) }
        }
    }
}

#[napi]
impl NativeIter {
    /// The next entries, up to `max_entries` and about `max_bytes`, packed as
    /// `[u32 key_len][u32 value_len][key][value]` in one Buffer (one crossing of
    /// the boundary and one allocation per page); `undefined` when the scan is
    /// over.
    #[napi]
    pub fn next_page<'env>(&mut self, env: &'env Env, max_entries: u32, max_bytes: u32) -> Result<Option<BufferSlice<'env>>> {
        if self.iter == 0 {
            return Err(invalid("the iterator is closed"));
        }
        if let Some(reason) = self.pending.take() {
            return Err(Error::new(Status::GenericFailure, reason));
        }
        let it = self.iter as *mut LightningDBIterator;
        let mut page: Vec<u8> = Vec::new();
        let mut entries = 0u32;
        while entries < max_entries.max(1) && page.len() < max_bytes as usize {
            let mut key = LightningDBResult { data: ptr::null_mut(), len: 0 };
            let mut value = LightningDBResult { data: ptr::null_mut(), len: 0 };
            let mut has = false;
            let code = unsafe { lightning_db_iter_next(it, &mut key, &mut value, &mut has) };
            if code != SUCCESS {
                // Entries already read are returned first; the error comes with
                // the next call, as the library moves past it (iter_next's rule).
                if entries > 0 {
                    self.pending = Some(error_of(code).reason);
                    break;
                }
                return Err(error_of(code));
            }
            if !has {
                break;
            }
            unsafe {
                let k = std::slice::from_raw_parts(key.data, key.len);
                let v = if value.data.is_null() { &[][..] } else { std::slice::from_raw_parts(value.data, value.len) };
                page.extend_from_slice(&(k.len() as u32).to_le_bytes());
                page.extend_from_slice(&(v.len() as u32).to_le_bytes());
                page.extend_from_slice(k);
                page.extend_from_slice(v);
                lightning_db_free_result(key.data, key.len);
                lightning_db_free_result(value.data, value.len);
            }
            entries += 1;
        }
        if entries == 0 {
            return Ok(None);
        }
        BufferSlice::from_data(env, page).map(Some)
    }

    #[napi]
    pub fn free(&mut self) {
        if self.iter != 0 {
            unsafe { lightning_db_iter_free(self.iter as *mut LightningDBIterator) };
            self.iter = 0;
        }
    }
}
