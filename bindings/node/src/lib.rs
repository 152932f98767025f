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
    Error::new(
        Status::GenericFailure,
        format!("[{}] {}", code_name(code), message),
    )
}

fn invalid(message: &str) -> Error {
    Error::new(
        Status::GenericFailure,
        format!("[InvalidArgument] {message}"),
    )
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
    pub compaction_dead_ratio: Option<f64>,
    pub compaction_min_dead_bytes: Option<f64>,
    pub normal_sync_interval_ms: Option<f64>,
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
        if let Some(v) = options.compaction_dead_ratio {
            check(lightning_db_config_set_compaction_dead_ratio(config.0, v))?;
        }
        if let Some(v) = options.compaction_min_dead_bytes {
            check(lightning_db_config_set_compaction_min_dead_bytes(
                config.0, v as u64,
            ))?;
        }
        if let Some(v) = options.normal_sync_interval_ms {
            check(lightning_db_config_set_normal_sync_interval_ms(
                config.0, v as u64,
            ))?;
        }
    }
    Ok(config)
}

/// The library's version string.
#[napi]
pub fn version() -> String {
    unsafe { CStr::from_ptr(lightning_db_version()) }
        .to_string_lossy()
        .into_owned()
}

/// The longest key accepted, in bytes (keys are 1 to this many bytes).
#[napi]
pub fn max_key_size() -> u32 {
    LIGHTNING_DB_MAX_KEY_SIZE
}

/// The longest value accepted, in bytes (values may be empty).
#[napi]
pub fn max_value_size() -> u32 {
    LIGHTNING_DB_MAX_VALUE_SIZE
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

thread_local! {
    /// Where values and pages land before they are copied into a JS Buffer: the
    /// library writes into memory the caller owns (the lending calls), so a read
    /// costs one copy into the Buffer and no allocation of the library's. Only
    /// the JS thread uses it, and never across calls.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(16 * 1024));
}

/// Runs a lending `get` (`call(buf, cap, &mut len)`) and returns its value as a
/// new Buffer, retrying with a larger buffer when the value did not fit.
fn get_with<'env>(
    env: &'env Env,
    call: impl Fn(*mut u8, usize, *mut usize) -> c_int,
) -> Result<Option<BufferSlice<'env>>> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        loop {
            let mut len = 0usize;
            check(call(scratch.as_mut_ptr(), scratch.capacity(), &mut len))?;
            if len == LIGHTNING_DB_NO_VALUE {
                return Ok(None);
            }
            if len <= scratch.capacity() {
                let value = unsafe { std::slice::from_raw_parts(scratch.as_ptr(), len) };
                return BufferSlice::copy_from(env, value).map(Some);
            }
            if len > 1 << 20 {
                // A large value goes straight into memory the Buffer then owns.
                let mut own: Vec<u8> = Vec::with_capacity(len);
                let mut got = 0usize;
                check(call(own.as_mut_ptr(), own.capacity(), &mut got))?;
                if got == LIGHTNING_DB_NO_VALUE {
                    return Ok(None);
                }
                if got <= own.capacity() {
                    unsafe { own.set_len(got) };
                    return BufferSlice::from_data(env, own).map(Some);
                }
                continue; // it grew meanwhile
            }
            scratch.reserve(len);
        }
    })
}

/// Applies a packed batch (`[u8 op][u32 key_len][u32 value_len][key][value]`,
/// op 1 = put, 2 = delete: the C ABI's packed form) as one atomic commit.
fn write_packed(db: usize, ops: &[u8], count: u32) -> Result<()> {
    check(unsafe {
        lightning_db_write_packed(
            db as *mut LightningDB,
            ptr_of(ops),
            ops.len(),
            count as usize,
        )
    })
}

fn verify(db: usize) -> Result<NativeVerifyReport> {
    let mut report = LightningDBVerifyReport::default();
    let code = unsafe { lightning_db_verify(db as *mut LightningDB, &mut report) };
    let message = match code {
        SUCCESS => String::new(),
        // Damage is a finding of the report, not a failure of the call.
        -4 => unsafe { CStr::from_ptr(lightning_db_last_error_message()) }
            .to_string_lossy()
            .into_owned(),
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
            Job::Commit(tx) => {
                check(unsafe { lightning_db_commit_transaction(db, tx) }).map(|_| JobOutput::Unit)
            }
            Job::Write(ops, count) => write_packed(self.db, &ops, count).map(|_| JobOutput::Unit),
            Job::Checkpoint => {
                check(unsafe { lightning_db_checkpoint(db) }).map(|_| JobOutput::Unit)
            }
            Job::Compact => compact(self.db).map(JobOutput::Compact),
            Job::Backup(dest) => {
                check(unsafe { lightning_db_backup(db, dest.as_ptr()) }).map(|_| JobOutput::Unit)
            }
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
        Ok(NativeDb {
            db: db as usize,
            closed: false,
        })
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

    /// The C handle as a number, for the fast-path functions (handles are
    /// registry tokens, well below 2^53). Calls after close are refused by the
    /// library; index.js turns its message into "the database is closed".
    #[napi(getter)]
    pub fn handle(&self) -> f64 {
        self.db as f64
    }

    fn task(&self, job: Job) -> Result<AsyncTask<DiskTask>> {
        self.ptr()?;
        Ok(AsyncTask::new(DiskTask {
            db: self.db,
            job: Some(job),
        }))
    }

    #[napi]
    pub fn close(&mut self) -> Result<()> {
        let code = unsafe { lightning_db_close(self.ptr()?) };
        self.closed = true;
        check(code)
    }

    #[napi]
    pub fn get<'env>(&self, env: &'env Env, key: &[u8]) -> Result<Option<BufferSlice<'env>>> {
        let db = self.ptr()?;
        get_with(env, |buf, cap, len| unsafe {
            lightning_db_get_into(db, ptr_of(key), key.len(), buf, cap, len)
        })
    }

    #[napi]
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        check(unsafe {
            lightning_db_put(
                self.ptr()?,
                ptr_of(key),
                key.len(),
                ptr_of(value),
                value.len(),
            )
        })
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
    pub fn tx_get<'env>(
        &self,
        env: &'env Env,
        tx: f64,
        key: &[u8],
    ) -> Result<Option<BufferSlice<'env>>> {
        let db = self.ptr()?;
        get_with(env, |buf, cap, len| unsafe {
            lightning_db_get_tx_into(db, tx as u64, ptr_of(key), key.len(), buf, cap, len)
        })
    }

    #[napi]
    pub fn tx_put(&self, tx: f64, key: &[u8], value: &[u8]) -> Result<()> {
        check(unsafe {
            lightning_db_put_tx(
                self.ptr()?,
                tx as u64,
                ptr_of(key),
                key.len(),
                ptr_of(value),
                value.len(),
            )
        })
    }

    #[napi]
    pub fn tx_delete(&self, tx: f64, key: &[u8]) -> Result<()> {
        check(unsafe { lightning_db_delete_tx(self.ptr()?, tx as u64, ptr_of(key), key.len()) })
    }

    #[napi]
    pub fn tx_contains(&self, tx: f64, key: &[u8]) -> Result<bool> {
        let mut found = false;
        check(unsafe {
            lightning_db_contains_tx(self.ptr()?, tx as u64, ptr_of(key), key.len(), &mut found)
        })?;
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
    pub fn range(
        &self,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
        reverse: bool,
        tx: Option<f64>,
    ) -> Result<NativeIter> {
        let (s, sl) = start.map_or((ptr::null(), 0), |b| (ptr_of(b), b.len()));
        let (e, el) = end.map_or((ptr::null(), 0), |b| (ptr_of(b), b.len()));
        let mut iter = ptr::null_mut();
        check(unsafe {
            match tx {
                Some(tx) => lightning_db_iter_range_tx(
                    self.ptr()?,
                    tx as u64,
                    s,
                    sl,
                    e,
                    el,
                    reverse,
                    &mut iter,
                ),
                None => lightning_db_iter_range(self.ptr()?, s, sl, e, el, reverse, &mut iter),
            }
        })?;
        Ok(NativeIter {
            iter: iter as usize,
        })
    }

    #[napi]
    pub fn prefix(&self, prefix: &[u8], reverse: bool, tx: Option<f64>) -> Result<NativeIter> {
        let mut iter = ptr::null_mut();
        check(unsafe {
            match tx {
                Some(tx) => lightning_db_iter_prefix_tx(
                    self.ptr()?,
                    tx as u64,
                    ptr_of(prefix),
                    prefix.len(),
                    reverse,
                    &mut iter,
                ),
                None => lightning_db_iter_prefix(
                    self.ptr()?,
                    ptr_of(prefix),
                    prefix.len(),
                    reverse,
                    &mut iter,
                ),
            }
        })?;
        Ok(NativeIter {
            iter: iter as usize,
        })
    }
}

/// A scan in progress. Released by `free()` or, failing that, by the garbage
/// collector.
#[napi]
pub struct NativeIter {
    iter: usize,
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
    /// The next entries, up to `max_entries` and `max_bytes` (more when a single
    /// entry needs it), packed as `[u32 key_len][u32 value_len][key][value]` in
    /// one Buffer: one crossing of the boundary and one Buffer per page.
    /// `undefined` when the scan is over.
    #[napi]
    pub fn next_page<'env>(
        &mut self,
        env: &'env Env,
        max_entries: u32,
        max_bytes: u32,
    ) -> Result<Option<BufferSlice<'env>>> {
        if self.iter == 0 {
            return Err(invalid("the iterator is closed"));
        }
        let it = self.iter as *mut LightningDBIterator;
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.reserve(max_bytes as usize);
            loop {
                let (mut count, mut used) = (0usize, 0usize);
                check(unsafe {
                    lightning_db_iter_next_page(
                        it,
                        scratch.as_mut_ptr(),
                        scratch.capacity(),
                        max_entries.max(1) as usize,
                        &mut count,
                        &mut used,
                    )
                })?;
                if count == 0 && used == 0 {
                    return Ok(None);
                }
                if count == 0 {
                    scratch.reserve(used); // one entry larger than the buffer
                    continue;
                }
                let page = unsafe { std::slice::from_raw_parts(scratch.as_ptr(), used) };
                return BufferSlice::copy_from(env, page).map(Some);
            }
        })
    }

    /// As `next_page`, into the value area of the shared buffer (see the end of
    /// this file): returns the bytes written, 0 when the scan is over, or minus
    /// the bytes the next entry needs when it alone is larger than the area (it
    /// is kept: read it with `next_page`).
    #[napi]
    pub fn next_page_shared(&mut self, max_entries: u32) -> Result<f64> {
        if self.iter == 0 {
            return Err(invalid("the iterator is closed"));
        }
        let (_, buf, cap) = shared_key(0)?;
        let (mut count, mut used) = (0usize, 0usize);
        check(unsafe {
            lightning_db_iter_next_page(
                self.iter as *mut LightningDBIterator,
                buf,
                cap,
                max_entries.max(1) as usize,
                &mut count,
                &mut used,
            )
        })?;
        Ok(if count == 0 && used > 0 {
            -(used as f64)
        } else {
            used as f64
        })
    }

    #[napi]
    pub fn free(&mut self) {
        if self.iter != 0 {
            unsafe { lightning_db_iter_free(self.iter as *mut LightningDBIterator) };
            self.iter = 0;
        }
    }
}

// ---------------------------------------------------------------------------
// The fast path of point reads and writes. A call through a class method with a
// Buffer argument and a Buffer result costs more than the engine's lookup: the
// `this` unwrap, the typed-array inspection of the key, and above all creating a
// Buffer in native code (a backing store of its own per value). Here the key and
// the value travel through one buffer shared with index.js, allocated once per
// thread, so a call takes and returns only numbers, and index.js copies the value
// into a pooled Buffer (`Buffer.allocUnsafe`), which is far cheaper.

/// The shared buffer: keys at [0, KEY_AREA), values at [KEY_AREA, SHARED_LEN).
pub const KEY_AREA: usize = 16384;
const SHARED_LEN: usize = KEY_AREA + 64 * 1024;

thread_local! {
    /// The shared buffer's memory (address, length) and a strong reference to it
    /// (a `napi_ref`), one per thread, i.e. per JS environment (main or worker).
    static SHARED: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
    static SHARED_REF: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The buffer shared with index.js: made on the first call in a thread and the
/// same Buffer on every later call, so that every copy of index.js loaded in one
/// thread (a module registry reset by a test runner, two copies of the package)
/// reads and writes the one buffer the addon uses. Never released: the
/// reference keeps it, and its memory, for the life of the thread.
#[napi(ts_return_type = "Buffer")]
pub fn shared_buffer<'env>(env: &'env Env) -> Result<Unknown<'env>> {
    use napi::sys;
    let raw = env.raw();
    unsafe {
        let existing = SHARED_REF.with(|r| r.get());
        if existing != 0 {
            let mut value = ptr::null_mut();
            if sys::napi_get_reference_value(raw, existing as sys::napi_ref, &mut value)
                == sys::Status::napi_ok
                && !value.is_null()
            {
                return Ok(Unknown::from_raw_unchecked(raw, value));
            }
        }
        let mut data = ptr::null_mut();
        let mut value = ptr::null_mut();
        if sys::napi_create_buffer(raw, SHARED_LEN, &mut data, &mut value) != sys::Status::napi_ok {
            return Err(Error::new(
                Status::GenericFailure,
                "[OutOfMemory] cannot make the shared buffer",
            ));
        }
        let mut reference = ptr::null_mut();
        if sys::napi_create_reference(raw, value, 1, &mut reference) != sys::Status::napi_ok {
            return Err(Error::new(
                Status::GenericFailure,
                "[UnknownError] cannot keep the shared buffer",
            ));
        }
        SHARED_REF.with(|r| r.set(reference as usize));
        SHARED.with(|s| s.set((data as usize, SHARED_LEN)));
        Ok(Unknown::from_raw_unchecked(raw, value))
    }
}

fn shared_key(key_len: u32) -> Result<(&'static [u8], *mut u8, usize)> {
    let (ptr, len) = SHARED.with(|s| s.get());
    if ptr == 0 || key_len as usize > KEY_AREA {
        return Err(invalid(
            "no shared buffer, or a key longer than its key area",
        ));
    }
    let key = unsafe { std::slice::from_raw_parts(ptr as *const u8, key_len as usize) };
    Ok((key, (ptr + KEY_AREA) as *mut u8, len - KEY_AREA))
}

/// Reads the value of the key in the shared buffer's key area into its value
/// area. Returns -1 when the key is absent, else the value's length (when it is
/// larger than the value area nothing was copied: read it with `NativeDb.get`).
#[napi]
pub fn fast_get(db: f64, key_len: u32) -> Result<f64> {
    let (key, buf, cap) = shared_key(key_len)?;
    let mut len = 0usize;
    check(unsafe {
        lightning_db_get_into(
            db as usize as *mut LightningDB,
            ptr_of(key),
            key.len(),
            buf,
            cap,
            &mut len,
        )
    })?;
    Ok(if len == LIGHTNING_DB_NO_VALUE {
        -1.0
    } else {
        len as f64
    })
}

/// As `fast_get`, in transaction `tx`.
#[napi]
pub fn fast_tx_get(db: f64, tx: f64, key_len: u32) -> Result<f64> {
    let (key, buf, cap) = shared_key(key_len)?;
    let mut len = 0usize;
    check(unsafe {
        lightning_db_get_tx_into(
            db as usize as *mut LightningDB,
            tx as u64,
            ptr_of(key),
            key.len(),
            buf,
            cap,
            &mut len,
        )
    })?;
    Ok(if len == LIGHTNING_DB_NO_VALUE {
        -1.0
    } else {
        len as f64
    })
}

#[napi]
pub fn fast_has(db: f64, key_len: u32) -> Result<bool> {
    let (key, _, _) = shared_key(key_len)?;
    let mut found = false;
    check(unsafe {
        lightning_db_contains(
            db as usize as *mut LightningDB,
            ptr_of(key),
            key.len(),
            &mut found,
        )
    })?;
    Ok(found)
}

/// Stores the key of the key area with the value of the value area's first
/// `value_len` bytes.
#[napi]
pub fn fast_put(db: f64, key_len: u32, value_len: u32) -> Result<()> {
    let (key, value, cap) = shared_key(key_len)?;
    if value_len as usize > cap {
        return Err(invalid(
            "a value longer than the shared buffer's value area",
        ));
    }
    check(unsafe {
        lightning_db_put(
            db as usize as *mut LightningDB,
            ptr_of(key),
            key.len(),
            ptr_of(std::slice::from_raw_parts(value, value_len as usize)),
            value_len as usize,
        )
    })
}

#[napi]
pub fn fast_delete(db: f64, key_len: u32) -> Result<()> {
    let (key, _, _) = shared_key(key_len)?;
    check(unsafe { lightning_db_delete(db as usize as *mut LightningDB, ptr_of(key), key.len()) })
}
