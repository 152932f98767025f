//! `LightningDBIterator`: ordered scans (range, prefix, forward or reverse) over a
//! snapshot, of the database or of a transaction.

use std::ops::{Bound, ControlFlow};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, PoisonError};

use lightning_db::{Iter, KeyRange};

use crate::boundary::handles::OpenDatabase;

use super::database::database;
use super::{LightningDB, LightningDBError, LightningDBIterator, LightningDBResult};
use crate::boundary::handles::Registry;
use crate::boundary::{self, out, run, run_void, Failure, Outcome};

/// A scan and the database it reads. The database is kept so that every step can
/// refuse once it is closed: the engine's iterator notices a close only when it
/// reads a stored value, so the end of a scan, or a transaction's own writes (held
/// in the iterator), would otherwise still come back as Success.
pub(crate) struct Scan {
    db: Arc<OpenDatabase>,
    cursor: Mutex<Cursor>,
}

/// The engine's iterator, walked from one end, and the entry it lends out.
///
/// `key` and `value` are reused from step to step, so a scan allocates only while
/// its entries keep growing; the lending calls hand out pointers into them, which
/// is why those pointers are valid until the next step. `pending`: they hold an
/// entry read from the engine but not yet delivered (one that did not fit in the
/// last page), which the next step delivers first.
struct Cursor {
    entries: Iter,
    reverse: bool,
    key: Vec<u8>,
    value: Vec<u8>,
    pending: bool,
    /// An error met while filling a page after some entries: the page ends
    /// before it, and the next call reports it.
    deferred: Option<Failure>,
}

impl Cursor {
    fn new(entries: Iter, reverse: bool) -> Cursor {
        Cursor {
            entries,
            reverse,
            key: Vec::new(),
            value: Vec::new(),
            pending: false,
            deferred: None,
        }
    }

    /// Reads the next entry into `key`/`value`; false at the end.
    fn advance(&mut self) -> Outcome<bool> {
        if let Some(failure) = self.deferred.take() {
            return Err(failure);
        }
        if self.pending {
            self.pending = false;
            return Ok(true);
        }
        let (key, value) = (&mut self.key, &mut self.value);
        let fill = |k: &[u8], v: &[u8]| {
            key.clear();
            key.extend_from_slice(k);
            value.clear();
            value.extend_from_slice(v);
        };
        let step = if self.reverse {
            self.entries.next_back_with(fill)
        } else {
            self.entries.next_with(fill)
        };
        match step {
            None => Ok(false),
            Some(result) => result.map(|()| true).map_err(Failure::from),
        }
    }

    /// Writes the next entries into `page`, up to `max_entries`, each straight
    /// from the engine's lent bytes. Stops at the end of the scan, or before an
    /// entry that does not fit, which is kept pending (and whose size is the
    /// bytes reported if it is the first). Returns the entries and bytes written,
    /// and the error that ended the page, if one did.
    fn fill_page(
        &mut self,
        page: &mut Page,
        max_entries: usize,
    ) -> (usize, usize, Option<Failure>) {
        let (mut n, mut at) = (0usize, 0usize);
        while n < max_entries {
            if let Some(failure) = self.deferred.take() {
                return (n, at, Some(failure));
            }
            let Cursor {
                entries,
                reverse,
                key,
                value,
                pending,
                ..
            } = self;
            let room = page.cap - at;
            // Ok(size) once written; Err(size) if it does not fit, then kept.
            let placed = if *pending {
                let need = LIGHTNING_DB_PAGE_ENTRY_HEADER + key.len() + value.len();
                if need <= room {
                    // SAFETY: `need` bytes from `at` are within the caller's buffer.
                    unsafe { page.put(at, key, value) };
                    *pending = false;
                    Ok(need)
                } else {
                    Err(need)
                }
            } else {
                let place = |k: &[u8], v: &[u8]| {
                    let need = LIGHTNING_DB_PAGE_ENTRY_HEADER + k.len() + v.len();
                    if need > room {
                        key.clear();
                        key.extend_from_slice(k);
                        value.clear();
                        value.extend_from_slice(v);
                        return Err(need);
                    }
                    // SAFETY: `need` bytes from `at` are within the caller's buffer.
                    unsafe { page.put(at, k, v) };
                    Ok(need)
                };
                let step = if *reverse {
                    entries.next_back_with(place)
                } else {
                    entries.next_with(place)
                };
                match step {
                    None => break,
                    Some(Err(e)) => return (n, at, Some(Failure::from(e))),
                    Some(Ok(placed)) => {
                        *pending = placed.is_err();
                        placed
                    }
                }
            };
            match placed {
                Ok(size) => {
                    at += size;
                    n += 1;
                }
                Err(need) => {
                    if n == 0 {
                        at = need;
                    }
                    break;
                }
            }
        }
        (n, at, None)
    }
}

/// The caller's page buffer: `cap` writable bytes at `buf` (NULL when `cap` is 0),
/// which may be uninitialised, so it is written through the pointer, never read.
struct Page {
    buf: *mut u8,
    cap: usize,
}

impl Page {
    /// Writes one entry (its lengths, key and value) at `at`.
    ///
    /// # Safety
    /// `at + LIGHTNING_DB_PAGE_ENTRY_HEADER + k.len() + v.len() <= self.cap`.
    unsafe fn put(&mut self, at: usize, k: &[u8], v: &[u8]) {
        // Lengths fit in 32 bits: keys are at most 16 KiB and values 256 MiB.
        let header = [
            (k.len() as u32).to_le_bytes(),
            (v.len() as u32).to_le_bytes(),
        ];
        let out = self.buf.add(at);
        std::ptr::copy_nonoverlapping(
            header.as_ptr().cast::<u8>(),
            out,
            LIGHTNING_DB_PAGE_ENTRY_HEADER,
        );
        let out = out.add(LIGHTNING_DB_PAGE_ENTRY_HEADER);
        std::ptr::copy_nonoverlapping(k.as_ptr(), out, k.len());
        std::ptr::copy_nonoverlapping(v.as_ptr(), out.add(k.len()), v.len());
    }
}

impl Scan {
    /// The cursor, once the database is known to be open.
    fn cursor(&self) -> Outcome<std::sync::MutexGuard<'_, Cursor>> {
        if self.db.is_closed() {
            return Err(Failure::invalid(
                "the database of this iterator was closed (free the iterator)",
            ));
        }
        Ok(self.cursor.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

pub(crate) static ITERATORS: Registry<Scan> = Registry::new("LightningDBIterator*");

/// Where a scan reads: the database's latest commit, or a transaction's view.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Database,
    Transaction(u64),
}

impl Source {
    /// The engine's iterator over `keys` as this source sees them.
    fn range(self, db: &OpenDatabase, keys: KeyRange) -> Outcome<Iter> {
        Ok(match self {
            Source::Database => db.range(keys)?,
            Source::Transaction(id) => db.transactions.with(db, id, |tx| tx.range(keys))?,
        })
    }
}

/// The start and end bounds of a range, borrowed.
type KeyBounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// The range `[start, end)` of a call's bounds (NULL and 0: unbounded),
/// borrowing the caller's bytes.
unsafe fn bounds<'a>(
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
) -> Outcome<KeyBounds<'a>> {
    let start = boundary::bound(start, start_len, "start")?;
    let end = boundary::bound(end, end_len, "end")?;
    Ok((
        start.map_or(Bound::Unbounded, Bound::Included),
        end.map_or(Bound::Unbounded, Bound::Excluded),
    ))
}

/// As `bounds`, copied into a `KeyRange` (for an iterator, which outlives the call).
unsafe fn range(
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
) -> Outcome<KeyRange> {
    let (start, end) = bounds(start, start_len, end, end_len)?;
    Ok(KeyRange {
        start: start.map(<[u8]>::to_vec),
        end: end.map(<[u8]>::to_vec),
    })
}

/// Creates the iterator and stores its handle in `*iter` (NULL on failure).
unsafe fn create(
    db: *mut LightningDB,
    source: Source,
    reverse: bool,
    iter: *mut *mut LightningDBIterator,
    keys: impl FnOnce() -> Outcome<KeyRange>,
) -> Outcome<()> {
    let db = database(db)?;
    let iter = out(iter, "iter")?;
    let scan = source.range(&db, keys()?)?;
    // `Iter` is double-ended: reverse order is the same snapshot walked from the
    // back, fetched page by page like the forward walk.
    let token = ITERATORS.insert(Scan {
        db: db.arc(),
        cursor: Mutex::new(Cursor::new(scan, reverse)),
    });
    iter.write(std::ptr::without_provenance_mut(token));
    Ok(())
}

/// Starts a scan of the keys `k` with `start <= k < end`, in ascending key order,
/// or descending if `reverse`. `start` NULL (with `start_len` 0): from the first
/// key; `end` NULL (with `end_len` 0): to the last key. Bounds are at most
/// LIGHTNING_DB_MAX_KEY_SIZE bytes and are copied.
///
/// The scan reads a snapshot: commits made after this call are not seen, and do
/// not disturb it. Stores the new iterator in `*iter` (NULL on failure).
///
/// Memory: release the iterator with `lightning_db_iter_free`, also after the end
/// and after the database is closed.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_iter_range(
    db: *mut LightningDB,
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
    reverse: bool,
    iter: *mut *mut LightningDBIterator,
) -> LightningDBError {
    if !iter.is_null() {
        iter.write(std::ptr::null_mut());
    }
    run("lightning_db_iter_range", || {
        create(db, Source::Database, reverse, iter, || {
            range(start, start_len, end, end_len)
        })
    })
}

/// Starts a scan of the keys that begin with `prefix` (every key if `prefix` is
/// NULL with `prefix_len` 0), ascending or, if `reverse`, descending. Otherwise as
/// `lightning_db_iter_range`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_iter_prefix(
    db: *mut LightningDB,
    prefix: *const u8,
    prefix_len: usize,
    reverse: bool,
    iter: *mut *mut LightningDBIterator,
) -> LightningDBError {
    if !iter.is_null() {
        iter.write(std::ptr::null_mut());
    }
    run("lightning_db_iter_prefix", || {
        create(db, Source::Database, reverse, iter, || {
            let prefix = boundary::bound(prefix, prefix_len, "prefix")?;
            Ok(prefix.map_or_else(KeyRange::all, KeyRange::prefix))
        })
    })
}

/// As `lightning_db_iter_range`, over what transaction `tx_id` sees: its snapshot
/// with its own writes (made before this call) applied. The iterator stays usable
/// after the transaction ends.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_iter_range_tx(
    db: *mut LightningDB,
    tx_id: u64,
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
    reverse: bool,
    iter: *mut *mut LightningDBIterator,
) -> LightningDBError {
    if !iter.is_null() {
        iter.write(std::ptr::null_mut());
    }
    run("lightning_db_iter_range_tx", || {
        create(db, Source::Transaction(tx_id), reverse, iter, || {
            range(start, start_len, end, end_len)
        })
    })
}

/// As `lightning_db_iter_prefix`, over what transaction `tx_id` sees.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_iter_prefix_tx(
    db: *mut LightningDB,
    tx_id: u64,
    prefix: *const u8,
    prefix_len: usize,
    reverse: bool,
    iter: *mut *mut LightningDBIterator,
) -> LightningDBError {
    if !iter.is_null() {
        iter.write(std::ptr::null_mut());
    }
    run("lightning_db_iter_prefix_tx", || {
        create(db, Source::Transaction(tx_id), reverse, iter, || {
            let prefix = boundary::bound(prefix, prefix_len, "prefix")?;
            Ok(prefix.map_or_else(KeyRange::all, KeyRange::prefix))
        })
    })
}

/// Moves to the next entry.
///
/// On Success, `*has_entry` says whether there was one: if true, `*key` and
/// `*value` hold it; if false, the scan is over (`*key` and `*value` are NULL/0),
/// and further calls keep returning Success with `*has_entry` false. On an error
/// (e.g. CorruptedData for a damaged value, InvalidArgument once the database is
/// closed) `*has_entry` is false and nothing is returned; a later call moves on to
/// the following entry. The usual loop:
///
/// ```c
/// bool has_entry;
/// while ((err = lightning_db_iter_next(it, &key, &value, &has_entry)) == Success
///        && has_entry) { ...; lightning_db_free_result(key.data, key.len); ... }
/// ```
///
/// Memory: `*key`, `*value` and `*has_entry` are always written; release each
/// non-NULL `data` with `lightning_db_free_result`. An iterator may be used from
/// any thread, one call at a time (calls on one iterator are serialised).
#[no_mangle]
pub unsafe extern "C" fn lightning_db_iter_next(
    iter: *mut LightningDBIterator,
    key: *mut LightningDBResult,
    value: *mut LightningDBResult,
    has_entry: *mut bool,
) -> LightningDBError {
    for result in [key, value] {
        if !result.is_null() {
            result.write(LightningDBResult::EMPTY);
        }
    }
    if !has_entry.is_null() {
        has_entry.write(false);
    }
    run("lightning_db_iter_next", || {
        let scan = ITERATORS.get(iter.addr(), "iter")?;
        let key = out(key, "key")?;
        let value = out(value, "value")?;
        let has_entry = out(has_entry, "has_entry")?;
        let mut cursor = scan.cursor()?;
        if !cursor.advance()? {
            return Ok(());
        }
        let k = boundary::buffer(&cursor.key)?;
        let v = match boundary::buffer(&cursor.value) {
            Ok(v) => v,
            Err(e) => {
                boundary::release_buffer(k.data);
                return Err(e);
            }
        };
        key.write(k);
        value.write(v);
        has_entry.write(true);
        Ok(())
    })
}

/// Moves to the next entry and lends it: the form of `lightning_db_iter_next`
/// that allocates nothing for the caller.
///
/// On Success, `*has_entry` says whether there was one: if true, `*key` (of
/// `*key_len` bytes) and `*value` (of `*value_len` bytes) point to the entry's
/// bytes, owned by the iterator; if false, the scan is over (NULL/0). Errors as
/// `lightning_db_iter_next`.
///
/// Memory: the lent bytes stay valid and unchanged until the next call on this
/// iterator (any step or page) or `lightning_db_iter_free`, whichever comes
/// first; copy what you keep. Never release them. Every out-pointer is always
/// written.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_iter_next_borrowed(
    iter: *mut LightningDBIterator,
    key: *mut *const u8,
    key_len: *mut usize,
    value: *mut *const u8,
    value_len: *mut usize,
    has_entry: *mut bool,
) -> LightningDBError {
    for ptr in [key, value] {
        if !ptr.is_null() {
            ptr.write(std::ptr::null());
        }
    }
    for len in [key_len, value_len] {
        if !len.is_null() {
            len.write(0);
        }
    }
    if !has_entry.is_null() {
        has_entry.write(false);
    }
    run("lightning_db_iter_next_borrowed", || {
        let scan = ITERATORS.get(iter.addr(), "iter")?;
        let (key, key_len) = (out(key, "key")?, out(key_len, "key_len")?);
        let (value, value_len) = (out(value, "value")?, out(value_len, "value_len")?);
        let has_entry = out(has_entry, "has_entry")?;
        let mut cursor = scan.cursor()?;
        if !cursor.advance()? {
            return Ok(());
        }
        // The registry's Arc keeps the Scan, and so these buffers, alive until
        // lightning_db_iter_free; only the next step on this iterator changes them.
        key.write(cursor.key.as_ptr());
        key_len.write(cursor.key.len());
        value.write(cursor.value.as_ptr());
        value_len.write(cursor.value.len());
        has_entry.write(true);
        Ok(())
    })
}

/// Bytes of an entry's header in a page: its key length and its value length.
pub const LIGHTNING_DB_PAGE_ENTRY_HEADER: usize = 8;

/// Fills the caller's buffer with the next entries of the scan: one call instead
/// of one per entry, for languages where each call across the boundary costs.
///
/// Writes up to `max_entries` entries into `buf[0..cap)`, back to back, each as
/// its key length and value length (little-endian 32-bit unsigned integers),
/// then the key's bytes, then the value's bytes (LIGHTNING_DB_PAGE_ENTRY_HEADER +
/// key length + value length bytes). `*count` receives the number of entries
/// written and `*used` the number of bytes.
///
/// - `*count` > 0: entries were delivered; the scan goes on from the next one.
/// - `*count` == 0 and `*used` == 0: the scan is over (also on every later call).
/// - `*count` == 0 and `*used` > 0: the next entry alone needs `*used` bytes, more
///   than `cap`; it is kept, not skipped: call again with a buffer at least that
///   large.
///
/// An entry that does not fit after others is kept for the next call. Errors are
/// those of `lightning_db_iter_next` (CorruptedData for a damaged value,
/// InvalidArgument once the database is closed): an error met after some entries
/// ends the page before it and is returned by the next call; an error returned
/// by a call delivers nothing (`*count` and `*used` 0), and the call after it
/// moves on past the damaged entry, as `lightning_db_iter_next` does.
/// `max_entries` 0 is InvalidArgument.
///
/// Memory: `buf` is the caller's, written only in its first `*used` bytes;
/// `*count` and `*used` are always written.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_iter_next_page(
    iter: *mut LightningDBIterator,
    buf: *mut u8,
    cap: usize,
    max_entries: usize,
    count: *mut usize,
    used: *mut usize,
) -> LightningDBError {
    for ptr in [count, used] {
        if !ptr.is_null() {
            ptr.write(0);
        }
    }
    run("lightning_db_iter_next_page", || {
        let scan = ITERATORS.get(iter.addr(), "iter")?;
        let (count, used) = (out(count, "count")?, out(used, "used")?);
        super::database::out_buffer(buf, cap)?;
        if max_entries == 0 {
            return Err(Failure::invalid("max_entries is 0"));
        }
        let mut cursor = scan.cursor()?;
        let (n, at, failure) = cursor.fill_page(&mut Page { buf, cap }, max_entries);
        match failure {
            // The entries before it are delivered now, the error by the next
            // call: nothing is skipped in silence.
            Some(failure) if n > 0 => cursor.deferred = Some(failure),
            Some(failure) => return Err(failure),
            None => {}
        }
        count.write(n);
        used.write(at);
        Ok(())
    })
}

/// Reads the first entries of a range in one call: what `lightning_db_iter_range`
/// followed by `lightning_db_iter_next_page` deliver, from one snapshot, without
/// making an iterator unless the caller asks for the rest. Made for short ranges,
/// where creating and freeing an iterator costs as much as reading the entries.
///
/// The range, `reverse` and the bounds are those of `lightning_db_iter_range`;
/// `buf`, `cap`, `max_entries`, `*count` and `*used` those of
/// `lightning_db_iter_next_page` (the page format, and `*count` 0 with `*used` > 0
/// when the first entry alone needs more than `cap` bytes).
///
/// `rest` NULL: only this page is wanted. `rest` non-NULL: `*rest` receives an
/// iterator over the entries of the range after the page (from the same
/// snapshot, an entry that did not fit first), or NULL when the page holds the
/// whole range; to know that when the page is full, the next entry is read
/// ahead and kept for the iterator.
///
/// Errors are those of `lightning_db_iter_range` and `lightning_db_iter_next_page`
/// (`max_entries` 0 is InvalidArgument). An error delivers nothing and makes no
/// iterator (`*count` and `*used` 0, `*rest` NULL), also when it is met after some
/// entries; to read the entries around a damaged one, step with an iterator.
///
/// Memory: `buf` is the caller's; after Success only its first `*used` bytes
/// are written, after an error its contents are unspecified. `*count`, `*used`
/// and a non-NULL `rest` are always written. Release a returned iterator with
/// `lightning_db_iter_free`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_range_page(
    db: *mut LightningDB,
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
    reverse: bool,
    buf: *mut u8,
    cap: usize,
    max_entries: usize,
    count: *mut usize,
    used: *mut usize,
    rest: *mut *mut LightningDBIterator,
) -> LightningDBError {
    let bounds = (start, start_len, end, end_len);
    let page = (buf, cap, max_entries, count, used, rest);
    first_page(
        "lightning_db_range_page",
        db,
        Source::Database,
        bounds,
        reverse,
        page,
        RestOf::Range,
    )
}

/// As `lightning_db_range_page`, over what transaction `tx_id` sees: its snapshot
/// with its own writes (made before this call) applied. An iterator returned in
/// `*rest` stays usable after the transaction ends.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_range_page_tx(
    db: *mut LightningDB,
    tx_id: u64,
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
    reverse: bool,
    buf: *mut u8,
    cap: usize,
    max_entries: usize,
    count: *mut usize,
    used: *mut usize,
    rest: *mut *mut LightningDBIterator,
) -> LightningDBError {
    let bounds = (start, start_len, end, end_len);
    let page = (buf, cap, max_entries, count, used, rest);
    first_page(
        "lightning_db_range_page_tx",
        db,
        Source::Transaction(tx_id),
        bounds,
        reverse,
        page,
        RestOf::Range,
    )
}

/// The bounds of a range page call: start, its length, end, its length.
type Bounds = (*const u8, usize, *const u8, usize);
/// The page of a range page call: buf, cap, max_entries, count, used, rest.
type PageArgs = (
    *mut u8,
    usize,
    usize,
    *mut usize,
    *mut usize,
    *mut *mut LightningDBIterator,
);

/// What the iterator a first-page call returns in `rest` covers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RestOf {
    /// Every entry after the page (the C ABI's `rest`): when the page is full,
    /// one entry is read ahead to know whether there is any.
    Range,
    /// Only what `max_entries` asked for and the buffer had no room for
    /// (`lightning_db_range_first`): a range that goes on past them is neither
    /// read ahead nor given an iterator.
    Unfit,
}

/// Reads at most the first `max_entries` entries of a range in one call: what
/// `lightning_db_range_page` delivers, for callers that want no more than
/// `max_entries` entries. Nothing past them is read, and no iterator is made
/// unless one of them did not fit in `buf`.
///
/// The arguments, the page, the errors and the memory rules are those of
/// `lightning_db_range_page`, except `*unfit`: an iterator (from the same
/// snapshot) that starts with the first of the `max_entries` entries that did
/// not fit in `buf` (when the first entry alone needs more than `cap` bytes,
/// `*count` is 0, `*used` its size, and the iterator starts with it); NULL when
/// none was left out, whether or not the range goes on past `max_entries`.
/// `unfit` NULL: such an entry is not wanted (the call is then
/// `lightning_db_range_page` with `rest` NULL). Release a returned iterator with
/// `lightning_db_iter_free`.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_range_first(
    db: *mut LightningDB,
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
    reverse: bool,
    buf: *mut u8,
    cap: usize,
    max_entries: usize,
    count: *mut usize,
    used: *mut usize,
    unfit: *mut *mut LightningDBIterator,
) -> LightningDBError {
    let bounds = (start, start_len, end, end_len);
    let page = (buf, cap, max_entries, count, used, unfit);
    first_page(
        "lightning_db_range_first",
        db,
        Source::Database,
        bounds,
        reverse,
        page,
        RestOf::Unfit,
    )
}

/// As `lightning_db_range_first`, over what transaction `tx_id` sees: its
/// snapshot with its own writes (made before this call) applied. An iterator
/// returned in `*unfit` stays usable after the transaction ends.
#[no_mangle]
pub unsafe extern "C" fn lightning_db_range_first_tx(
    db: *mut LightningDB,
    tx_id: u64,
    start: *const u8,
    start_len: usize,
    end: *const u8,
    end_len: usize,
    reverse: bool,
    buf: *mut u8,
    cap: usize,
    max_entries: usize,
    count: *mut usize,
    used: *mut usize,
    unfit: *mut *mut LightningDBIterator,
) -> LightningDBError {
    let bounds = (start, start_len, end, end_len);
    let page = (buf, cap, max_entries, count, used, unfit);
    first_page(
        "lightning_db_range_first_tx",
        db,
        Source::Transaction(tx_id),
        bounds,
        reverse,
        page,
        RestOf::Unfit,
    )
}

unsafe fn first_page(
    name: &str,
    db: *mut LightningDB,
    source: Source,
    (start, start_len, end, end_len): Bounds,
    reverse: bool,
    (buf, cap, max_entries, count, used, rest): PageArgs,
    rest_of: RestOf,
) -> LightningDBError {
    for ptr in [count, used] {
        if !ptr.is_null() {
            ptr.write(0);
        }
    }
    if !rest.is_null() {
        rest.write(std::ptr::null_mut());
    }
    run(name, || {
        let db = database(db)?;
        let (count, used) = (out(count, "count")?, out(used, "used")?);
        super::database::out_buffer(buf, cap)?;
        if max_entries == 0 {
            return Err(Failure::invalid("max_entries is 0"));
        }
        if rest.is_null() && source == Source::Database {
            // No iterator wanted: the entries are lent straight into the page.
            let bounds = bounds(start, start_len, end, end_len)?;
            let (n, at) = lend_page(&db, bounds, reverse, &mut Page { buf, cap }, max_entries)?;
            count.write(n);
            used.write(at);
            return Ok(());
        }
        let keys = range(start, start_len, end, end_len)?;
        let mut entries = source.range(&db, keys)?;
        // The page's entries, and the one read ahead for `rest`: nothing past
        // them is decoded or fetched.
        let read_ahead = !rest.is_null() && rest_of == RestOf::Range;
        entries.will_take(max_entries.saturating_add(usize::from(read_ahead)));
        let mut cursor = Cursor::new(entries, reverse);
        let (n, at, failure) = cursor.fill_page(&mut Page { buf, cap }, max_entries);
        if let Some(failure) = failure {
            return Err(failure);
        }
        if let Some(rest) = NonNull::new(rest) {
            // An entry that did not fit is pending; otherwise read one ahead.
            let more = cursor.pending
                || (read_ahead && {
                    cursor.pending = cursor.advance()?;
                    cursor.pending
                });
            if more {
                let token = ITERATORS.insert(Scan {
                    db: db.arc(),
                    cursor: Mutex::new(cursor),
                });
                rest.write(std::ptr::without_provenance_mut(token));
            }
        }
        count.write(n);
        used.write(at);
        Ok(())
    })
}

/// Fills `page` with the first `max_entries` entries of `bounds` as
/// `Cursor::fill_page` does, without an iterator: the engine lends each entry,
/// which is copied into the page, and the walk stops at the first entry that
/// does not fit. Returns the entries written and the bytes used (the size the
/// first entry needs when it alone does not fit).
fn lend_page(
    db: &OpenDatabase,
    bounds: KeyBounds<'_>,
    reverse: bool,
    page: &mut Page,
    max_entries: usize,
) -> Outcome<(usize, usize)> {
    let (mut n, mut at) = (0usize, 0usize);
    db.range_with(bounds, reverse, max_entries, |k, v| {
        let need = LIGHTNING_DB_PAGE_ENTRY_HEADER + k.len() + v.len();
        if need > page.cap - at {
            if n == 0 {
                at = need;
            }
            return ControlFlow::Break(());
        }
        // SAFETY: `need` bytes from `at` are within the caller's buffer.
        unsafe { page.put(at, k, v) };
        at += need;
        n += 1;
        ControlFlow::Continue(())
    })?;
    Ok((n, at))
}

/// Releases an iterator. NULL: no-op. An iterator already freed (or never
/// returned by this library) is detected and ignored (reported by
/// `lightning_db_last_error_code`, InvalidArgument).
#[no_mangle]
pub extern "C" fn lightning_db_iter_free(iter: *mut LightningDBIterator) {
    if iter.is_null() {
        return;
    }
    run_void("lightning_db_iter_free", || {
        ITERATORS.remove(iter.addr(), "iter").map(drop)
    });
}
