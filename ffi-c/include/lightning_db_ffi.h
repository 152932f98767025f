/*
 * lightning_db_ffi.h: the C API of Lightning DB, an embedded, crash-safe,
 * transactional key-value store. Link with liblightning_db_ffi (.so / .a):
 *
 *   gcc -o myapp myapp.c -L. -llightning_db_ffi -lpthread -ldl -lm
 *   gcc -o myapp myapp.c -L. -llightning_db_ffi -Wl,-rpath,'$ORIGIN'
 *
 * ERRORS. Every function that can fail returns a LightningDBError (Success is 0)
 * or a handle (NULL on failure). lightning_db_error_string(code) names a code;
 * lightning_db_last_error_code() and lightning_db_last_error_message() give the
 * code and the detail of the last failed call on the calling thread. No Rust panic
 * crosses this boundary: an internal failure is reported as UnknownError.
 *
 * POINTER ARGUMENTS. Every pointer argument is checked for NULL (NullPointer),
 * except where a function says NULL is allowed (config NULL = defaults; a value
 * NULL with length 0 = the empty value; a range bound or prefix NULL with length 0
 * = unbounded; report NULL = not wanted). Paths are NUL-terminated UTF-8
 * (otherwise InvalidUtf8). Buffers passed in (keys, values, bounds) are only read
 * during the call and are copied if kept.
 *
 * MEMORY. Each thing the library gives you has one release function:
 *   LightningDBConfig*      lightning_db_config_new        -> lightning_db_config_free
 *   LightningDB*            lightning_db_create / _open    -> lightning_db_close or lightning_db_free
 *   LightningDBWriteBatch*  lightning_db_batch_new         -> lightning_db_batch_free
 *   LightningDBIterator*    lightning_db_iter_*            -> lightning_db_iter_free
 *   LightningDBResult.data  lightning_db_get / _get_tx / _iter_next -> lightning_db_free_result
 *   const char* from lightning_db_error_string / lightning_db_version: static, never freed
 *   const char* from lightning_db_last_error_message: owned by the library, valid
 *     until the next call on the same thread (see there), never freed
 * Every release function accepts NULL and does nothing with it.
 * lightning_db_live_handle_count() counts the handles not yet released (a leak
 * check that LeakSanitizer and valgrind cannot make for handles).
 *
 * STALE HANDLES. LightningDB*, LightningDBConfig*, LightningDBWriteBatch* and
 * LightningDBIterator* are opaque handles, not addresses: the library never
 * dereferences them, it looks them up in a table of live objects. Handle values
 * are never reused within a process (on 64-bit platforms). Therefore a handle
 * that was already freed or closed, freed twice, of another type (a config passed
 * as a database), or never returned by this library is DETECTED: the call returns
 * InvalidArgument (or NULL), and a release function ignores it and records
 * InvalidArgument for lightning_db_last_error_code(). Transaction ids likewise:
 * an id that a handle never issued, or that was already committed or aborted, is
 * InvalidArgument. NOT DETECTED: a transaction id used with a different open
 * database handle that happens to have issued the same id (ids are per handle,
 * 1, 2, 3...); releasing a LightningDBResult.data twice or releasing a pointer the
 * library did not return (as with free()); keys, values and out-pointers that do
 * not point to memory of the stated length.
 *
 * THREADS. All handles may be used from any number of threads at once; one
 * database handle is meant to be shared by all threads of a process. Calls on one
 * iterator or batch are serialised. A database can be open for writing by one
 * handle at a time (a second, in this or another process: DatabaseLocked); any
 * number of read-only handles may be open beside it.
 */

#ifndef LIGHTNING_DB_FFI_H
#define LIGHTNING_DB_FFI_H

/*
 * GENERATED FILE, DO NOT EDIT. Made by tools/generate (cbindgen) from
 * ffi-c/src/c_api/ and ffi-c/cbindgen.toml; regenerate with ci/generate.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/** `*value_len` from lightning_db_get_into / lightning_db_get_tx_into when the key is absent. */
#define LIGHTNING_DB_NO_VALUE SIZE_MAX

/**
 * The longest key accepted, in bytes. Keys are 1 to this many bytes long.
 */
#define LIGHTNING_DB_MAX_KEY_SIZE 16384

/**
 * The longest value accepted, in bytes (256 MiB). Values may be empty.
 */
#define LIGHTNING_DB_MAX_VALUE_SIZE 268435456



/**
 * The operation byte of a put in a packed batch.
 */
#define LIGHTNING_DB_PACKED_PUT 1

/**
 * The operation byte of a delete in a packed batch.
 */
#define LIGHTNING_DB_PACKED_DELETE 2

/**
 * Bytes of an entry's header in a page: its key length and its value length.
 */
#define LIGHTNING_DB_PAGE_ENTRY_HEADER 8

/**
 * The outcome of a call. Every function that can fail returns one of these;
 * `lightning_db_last_error_message()` gives the detail of the last failure.
 */
typedef enum LightningDBError {
    /**
     * The call succeeded.
     */
    Success = 0,
    /**
     * A required pointer argument was NULL.
     */
    NullPointer = -1,
    /**
     * A path was not valid UTF-8.
     */
    InvalidUtf8 = -2,
    /**
     * The operating system reported an error (not found, permission, disk full...).
     */
    IoError = -3,
    /**
     * Stored data failed its checksum or is inconsistent; nothing wrong was returned.
     */
    CorruptedData = -4,
    /**
     * An argument was out of range (empty or oversized key, bad option, unknown
     * transaction id, freed handle, write to a read-only database, closed database...).
     */
    InvalidArgument = -5,
    /**
     * Memory could not be allocated.
     */
    OutOfMemory = -6,
    /**
     * Another handle or process has the database open for writing.
     */
    DatabaseLocked = -7,
    /**
     * The transaction's writes conflict with a commit made after it began; it was
     * not applied.
     */
    TransactionConflict = -8,
    /**
     * An internal error (a bug): the library caught it and the call had no effect
     * beyond what the message says.
     */
    UnknownError = -99,
} LightningDBError;

/**
 * When a commit is forced to stable storage; values for
 * `lightning_db_config_set_sync_mode`. In every mode a commit has been handed to
 * the operating system before the call returns, so it survives the process being
 * killed; the modes differ on power loss.
 */
typedef enum LightningDBSyncMode {
    /**
     * Default. The commit is on stable storage (fdatasync) before the call returns;
     * concurrent committers share one sync. Survives power loss.
     */
    SyncFull = 0,
    /**
     * A background thread syncs shortly after each commit (within 100 ms); a power
     * loss loses at most that last interval, and keeps a prefix of the commits.
     */
    SyncNormal = 1,
    /**
     * Synced only by checkpoint, close, segment roll-over and compaction.
     */
    SyncOff = 2,
} LightningDBSyncMode;

/**
 * An open database. Opaque: obtained from `lightning_db_create` or
 * `lightning_db_open`, released with `lightning_db_close` or `lightning_db_free`.
 */
typedef struct LightningDB LightningDB;

/**
 * Options for `lightning_db_create` / `lightning_db_open`. Opaque: obtained from
 * `lightning_db_config_new`, released with `lightning_db_config_free`.
 */
typedef struct LightningDBConfig LightningDBConfig;

/**
 * An ordered scan over a snapshot. Opaque: obtained from `lightning_db_iter_*`,
 * released with `lightning_db_iter_free`.
 */
typedef struct LightningDBIterator LightningDBIterator;

/**
 * A group of puts and deletes applied atomically by `lightning_db_write_batch`.
 * Opaque: obtained from `lightning_db_batch_new`, released with
 * `lightning_db_batch_free`.
 */
typedef struct LightningDBWriteBatch LightningDBWriteBatch;

/**
 * A byte buffer returned by the library (a value, or a key during iteration).
 *
 * Memory: `data` is owned by the caller once returned and must be released
 * exactly once with `lightning_db_free_result(data, len)`; never with `free()`.
 * `data` is NULL (and `len` 0) when there is nothing: an absent key, the end of an
 * iteration, or a failed call. A present but empty value has a non-NULL `data`
 * and `len` 0 (and must be released too). The bytes are not NUL-terminated.
 */
typedef struct LightningDBResult {
    uint8_t *data;
    size_t len;
} LightningDBResult;

/**
 * What one `lightning_db_compact` did.
 */
typedef struct LightningDBCompactionReport {
    uint64_t segments_before;
    uint64_t segments_after;
    uint64_t bytes_before;
    uint64_t bytes_after;
    /**
     * Live records rewritten into new segments.
     */
    uint64_t records_copied;
} LightningDBCompactionReport;

/**
 * What `lightning_db_verify` read and found.
 */
typedef struct LightningDBVerifyReport {
    /**
     * Segment files read.
     */
    uint64_t segments;
    /**
     * Records (puts and deletes) read with a good checksum.
     */
    uint64_t records;
    /**
     * Bytes of those records.
     */
    uint64_t bytes;
    /**
     * Keys currently stored.
     */
    uint64_t live_keys;
    /**
     * Live keys whose newest value cannot be read back intact.
     */
    uint64_t unreadable_keys;
    /**
     * Damaged places found (0 for a clean database).
     */
    uint64_t corruptions;
} LightningDBVerifyReport;

/**
 * Counters and sizes filled in by `lightning_db_stats`.
 */
typedef struct LightningDBStats {
    /**
     * Keys currently stored.
     */
    uint64_t live_keys;
    /**
     * Encoded bytes of the newest record of every live key.
     */
    uint64_t live_bytes;
    /**
     * Bytes of all segment files (live and dead data).
     */
    uint64_t total_bytes;
    /**
     * Segment files.
     */
    uint64_t segments;
    /**
     * Sequence number of the latest commit.
     */
    uint64_t last_seq;
    /**
     * Point reads of records of 1 KiB and more answered from the value cache
     * (smaller records are read from the map, past the cache, and not counted).
     */
    uint64_t cache_hits;
    /**
     * Point reads of records of 1 KiB and more that went to the segment files.
     */
    uint64_t cache_misses;
    /**
     * Compactions run through this handle (explicit or background).
     */
    uint64_t compactions;
    /**
     * Commits made through this handle.
     */
    uint64_t commits;
    /**
     * fdatasync calls made through this handle.
     */
    uint64_t fsyncs;
    /**
     * Checkpoints written through this handle.
     */
    uint64_t checkpoints;
} LightningDBStats;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The library's version, e.g. "0.1.0".
 *
 * Memory: a static string; do not free it.
 */
const char *lightning_db_version(void);

/**
 * A short English description of an error code, e.g. "Database locked".
 * Any value is accepted: one that is not a `LightningDBError` gives
 * "Unrecognised error code". (`int` rather than `LightningDBError`, so that an
 * out-of-range value is harmless.)
 *
 * Memory: a static string; do not free it.
 */
const char *lightning_db_error_string(int error);

/**
 * The code of the last failed call on this thread, or `Success` if the last
 * call succeeded. Useful after `lightning_db_create` / `lightning_db_open` /
 * `lightning_db_*_new` return NULL, which carry no code of their own.
 *
 * Which calls set it: every function returning `LightningDBError` or a handle
 * (set on failure, reset to `Success` on success). The `*_free` functions set it
 * only when they detect a misuse (a freed or unknown handle) and otherwise leave
 * it alone. `lightning_db_version`, `lightning_db_error_string`,
 * `lightning_db_last_error_code` and `lightning_db_last_error_message` never
 * change it. Each thread has its own.
 */
enum LightningDBError lightning_db_last_error_code(void);

/**
 * The detail behind the last failed call on this thread, e.g.
 * "lightning_db_open: I/O error: ./nodb: No such file or directory (os error 2)",
 * or "" if the last call succeeded. The same calls set it as
 * `lightning_db_last_error_code`. Never NULL.
 *
 * Memory: owned by the library; do not free it. It stays valid until the next
 * call on this thread of a function that can set it (any function except the
 * four named above): copy it if you need it longer.
 */
const char *lightning_db_last_error_message(void);

/**
 * The number of handles of every type (databases, configs, batches, iterators)
 * created in this process and not yet freed or closed: a leak check for tests and
 * debugging, meant to be 0 when a program has released everything. (Leak
 * detectors such as LeakSanitizer or valgrind cannot see a forgotten handle: the
 * library still refers to it until it is freed.)
 */
size_t lightning_db_live_handle_count(void);

/**
 * A new set of options with the defaults: page size 4096, cache 64 MiB,
 * `SyncFull`, read-write, 64 MiB segments, background compaction on.
 *
 * Memory: release it with `lightning_db_config_free`. `lightning_db_create` and
 * `lightning_db_open` copy the options, so it may be freed right after them.
 * Returns NULL only if memory runs out.
 */
struct LightningDBConfig *lightning_db_config_new(void);

/**
 * Sets the I/O unit: a power of two from 512 to 65536 bytes (default 4096);
 * segment files grow in steps of 256 pages. Other values: InvalidArgument, and the
 * config is unchanged.
 */
enum LightningDBError lightning_db_config_set_page_size(struct LightningDBConfig *config,
                                                        size_t page_size);

/**
 * Sets the bytes of values kept in the in-process read cache (default 64 MiB;
 * 0 disables the cache). It holds records of 1 KiB and more (key, value and
 * header); smaller ones are read from the map, which is faster than a lookup.
 * Hits and misses are reported by `lightning_db_stats`.
 */
enum LightningDBError lightning_db_config_set_cache_size(struct LightningDBConfig *config,
                                                         size_t cache_size);

/**
 * Sets when commits reach stable storage: one of the `LightningDBSyncMode`
 * values (default `SyncFull`). Any other value: InvalidArgument.
 */
enum LightningDBError lightning_db_config_set_sync_mode(struct LightningDBConfig *config,
                                                        int sync_mode);

/**
 * Opens without taking the writer lock (default false): any number of read-only
 * handles, in any processes, may coexist with one writer; writes through them fail
 * with InvalidArgument, and `lightning_db_refresh` loads commits made since.
 * `lightning_db_create` refuses a read-only config (InvalidArgument): use
 * `lightning_db_open`.
 */
enum LightningDBError lightning_db_config_set_read_only(struct LightningDBConfig *config,
                                                        bool read_only);

/**
 * Sets the size at which a segment file is sealed and a new one started: 4096
 * to 2147483647 bytes (just under 2 GiB; default 64 MiB). Other values:
 * InvalidArgument.
 */
enum LightningDBError lightning_db_config_set_segment_size(struct LightningDBConfig *config,
                                                           uint64_t segment_size);

/**
 * Lets a background thread compact when at least half of the segment bytes, and
 * at least 16 MiB, are dead (default true). `lightning_db_compact` works either way.
 */
enum LightningDBError lightning_db_config_set_auto_compact(struct LightningDBConfig *config,
                                                           bool auto_compact);

/**
 * Sets the share of dead segment bytes, in (0, 1], at which background
 * compaction starts (default 0.5). Other values (0, negative, above 1, NaN):
 * InvalidArgument.
 */
enum LightningDBError lightning_db_config_set_compaction_dead_ratio(struct LightningDBConfig *config,
                                                                    double ratio);

/**
 * Sets how many bytes must be dead before background compaction starts
 * (default 16 MiB).
 */
enum LightningDBError lightning_db_config_set_compaction_min_dead_bytes(struct LightningDBConfig *config,
                                                                        uint64_t bytes);

/**
 * Sets how long after a commit the background thread of `SyncNormal` syncs it,
 * in milliseconds (at least 1; default 100). 0: InvalidArgument.
 */
enum LightningDBError lightning_db_config_set_normal_sync_interval_ms(struct LightningDBConfig *config,
                                                                      uint64_t interval_ms);

/**
 * Releases a config. NULL: no-op. A handle already freed (or never returned by
 * `lightning_db_config_new`) is detected and ignored; the misuse is reported by
 * `lightning_db_last_error_code` (InvalidArgument) and the message.
 */
void lightning_db_config_free(struct LightningDBConfig *config);

/**
 * Opens the database in directory `path`, creating the directory and an empty
 * database if there is none; an existing database is opened, not replaced.
 * `config` may be NULL for the defaults (it is copied; see
 * `lightning_db_config_new`).
 *
 * Returns NULL on failure; `lightning_db_last_error_code()` then says why:
 * NullPointer (path NULL), InvalidUtf8 (path not UTF-8), InvalidArgument (empty
 * path, read-only config, freed config), DatabaseLocked (open for writing by
 * another handle, in this process or another), IoError, CorruptedData.
 *
 * Memory: release the handle with `lightning_db_close` or `lightning_db_free`.
 * Setting RUST_LOG (e.g. RUST_LOG=lightning_db=debug) before the first
 * create/open prints the engine's log to stderr.
 */
struct LightningDB *lightning_db_create(const char *path, const struct LightningDBConfig *config);

/**
 * Opens the existing database in directory `path` (IoError if there is none).
 * With a read-only config, opens without the writer lock. Otherwise as
 * `lightning_db_create`.
 */
struct LightningDB *lightning_db_open(const char *path, const struct LightningDBConfig *config);

/**
 * Closes the database and releases the handle, reporting whether the final sync
 * succeeded. The handle is released whatever the result: do not use it again.
 * Open transactions are discarded; iterators still open on it fail with
 * InvalidArgument from then on (but must still be freed).
 *
 * A handle already freed or closed, or never returned by create/open, is
 * detected: InvalidArgument, nothing happens. NULL: NullPointer.
 */
enum LightningDBError lightning_db_close(struct LightningDB *db);

/**
 * Closes the database (as `lightning_db_close`) and releases the handle; use
 * `lightning_db_close` to learn whether closing succeeded.
 *
 * NULL: no-op. A handle already freed or closed, or never returned by
 * create/open, is detected and ignored (the misuse is reported by
 * `lightning_db_last_error_code`, InvalidArgument).
 */
void lightning_db_free(struct LightningDB *db);

/**
 * Releases a handle without closing its database: for a handle that shares a
 * database opened elsewhere (such as one a language binding obtained from its
 * object API's `native_handle()`), which stays open for its other owners and
 * closes when the last of them closes it. NULL: no-op. A handle already
 * released, or never returned by this library, is detected and ignored
 * (reported by `lightning_db_last_error_code`, InvalidArgument).
 *
 * A handle from `lightning_db_create` / `lightning_db_open` is usually its
 * database's only owner: releasing it closes the database (without reporting
 * how the final sync went; use `lightning_db_close` for that) once no iterator
 * still reads it.
 */
void lightning_db_release(struct LightningDB *db);

/**
 * Stores `value` under `key`, replacing any previous value, as one durable
 * commit (see `LightningDBSyncMode`).
 *
 * `key`: 1 to LIGHTNING_DB_MAX_KEY_SIZE bytes, not NULL. `value`: 0 to
 * LIGHTNING_DB_MAX_VALUE_SIZE bytes; NULL is allowed only with `value_len` 0.
 * Memory: both are copied; the caller keeps ownership.
 */
enum LightningDBError lightning_db_put(struct LightningDB *db,
                                       const uint8_t *key,
                                       size_t key_len,
                                       const uint8_t *value,
                                       size_t value_len);

/**
 * Reads the value stored under `key` into `*result`.
 *
 * An absent key is not an error: Success with `result->data` NULL and
 * `result->len` 0. A present empty value has a non-NULL `data` and `len` 0.
 *
 * Memory: `*result` is always written (NULL/0 on failure), so it is always safe
 * to pass to `lightning_db_free_result`; a non-NULL `data` must be released with
 * `lightning_db_free_result(result->data, result->len)`.
 */
enum LightningDBError lightning_db_get(struct LightningDB *db,
                                       const uint8_t *key,
                                       size_t key_len,
                                       struct LightningDBResult *result);

/**
 * Removes `key`. Removing an absent key is not an error (and writes nothing).
 */
enum LightningDBError lightning_db_delete(struct LightningDB *db,
                                          const uint8_t *key,
                                          size_t key_len);

/**
 * Removes `key` as `lightning_db_delete` does, and sets `*found` to whether it
 * was stored: true when the key had a value and the delete was committed, false
 * when it had none (nothing is written then). For bindings whose delete answers
 * "was it there", in one call instead of a lookup and a delete.
 *
 * Memory: `*found` is always written (false on failure).
 */
enum LightningDBError lightning_db_delete_found(struct LightningDB *db,
                                                const uint8_t *key,
                                                size_t key_len,
                                                bool *found);

/**
 * Sets `*found` to whether `key` is stored, without reading its value.
 */
enum LightningDBError lightning_db_contains(struct LightningDB *db,
                                            const uint8_t *key,
                                            size_t key_len,
                                            bool *found);

/**
 * Releases a buffer returned in a `LightningDBResult` (by `lightning_db_get`,
 * `lightning_db_get_tx` or `lightning_db_iter_next`). `len` is the buffer's
 * length as returned (it is not needed to release the memory).
 *
 * NULL: no-op, so a result of an absent key can be passed as is. Releasing the
 * same buffer twice, or a pointer the library did not return, is undefined
 * behaviour exactly like `free()`: it is not detected.
 */
void lightning_db_free_result(uint8_t *data, size_t len);

/**
 * Reads the value stored under `key` into the caller's buffer `buf` of `cap`
 * bytes: the lending form of `lightning_db_get`, with no allocation handed to
 * the caller and nothing to release.
 *
 * `*value_len` receives the value's length, or LIGHTNING_DB_NO_VALUE if the key
 * is absent. When the value is longer than `cap`, nothing is copied: call again
 * with a buffer of at least `*value_len` bytes (the value may have changed in
 * between; check `*value_len` again). `buf` may be NULL when `cap` is 0, which
 * asks for the length only.
 *
 * Memory: `*value_len` is always written (LIGHTNING_DB_NO_VALUE on failure);
 * `buf` is written only in its first `*value_len` bytes, and only when they fit.
 */
enum LightningDBError lightning_db_get_into(struct LightningDB *db,
                                            const uint8_t *key,
                                            size_t key_len,
                                            uint8_t *buf,
                                            size_t cap,
                                            size_t *value_len);

/**
 * A new, empty write batch.
 *
 * Memory: release it with `lightning_db_batch_free`. Returns NULL only if memory
 * runs out.
 */
struct LightningDBWriteBatch *lightning_db_batch_new(void);

/**
 * Adds a put to the batch. Key and value follow the rules of `lightning_db_put`;
 * key length is checked when the batch is written. Memory: both are copied.
 */
enum LightningDBError lightning_db_batch_put(struct LightningDBWriteBatch *batch,
                                             const uint8_t *key,
                                             size_t key_len,
                                             const uint8_t *value,
                                             size_t value_len);

/**
 * Adds a delete to the batch. Memory: the key is copied.
 */
enum LightningDBError lightning_db_batch_delete(struct LightningDBWriteBatch *batch,
                                                const uint8_t *key,
                                                size_t key_len);

/**
 * Sets `*len` to the number of operations in the batch.
 */
enum LightningDBError lightning_db_batch_len(struct LightningDBWriteBatch *batch, size_t *len);

/**
 * Removes every operation from the batch, so that it can be reused.
 */
enum LightningDBError lightning_db_batch_clear(struct LightningDBWriteBatch *batch);

/**
 * Applies every operation of the batch to the database atomically, in order, as
 * one commit: after a crash all of them are there or none. On any error
 * (e.g. an empty key in the batch: InvalidArgument) nothing is applied. The batch
 * is left unchanged (clear or free it afterwards).
 */
enum LightningDBError lightning_db_write_batch(struct LightningDB *db,
                                               struct LightningDBWriteBatch *batch);

/**
 * Releases a batch. NULL: no-op. A batch already freed (or never returned by
 * `lightning_db_batch_new`) is detected and ignored (reported by
 * `lightning_db_last_error_code`, InvalidArgument).
 */
void lightning_db_batch_free(struct LightningDBWriteBatch *batch);

/**
 * Applies a packed batch of `count` operations atomically, in order, as one
 * commit: the form of `lightning_db_write_batch` that takes one buffer instead of
 * one call per operation.
 *
 * `ops` holds the operations back to back, each as: one byte,
 * LIGHTNING_DB_PACKED_PUT or LIGHTNING_DB_PACKED_DELETE; the key length and the
 * value length as little-endian 32-bit unsigned integers; the key's bytes; the
 * value's bytes (a delete has value length 0 and no value bytes). Keys and
 * values follow the rules of `lightning_db_put`. A malformed buffer (truncated,
 * an unknown operation, bytes left over) is InvalidArgument, naming the
 * operation, and nothing is written. `ops` may be NULL only with `len` 0
 * (then `count` must be 0: an empty batch commits nothing).
 *
 * Memory: `ops` is only read during the call.
 */
enum LightningDBError lightning_db_write_packed(struct LightningDB *db,
                                                const uint8_t *ops,
                                                size_t len,
                                                size_t count);

/**
 * Syncs everything written and saves a checkpoint of the index, so that the next
 * open starts from it instead of replaying the log, and a plain copy of the
 * directory taken now opens as a consistent database. Read-only handle:
 * InvalidArgument.
 */
enum LightningDBError lightning_db_checkpoint(struct LightningDB *db);

/**
 * Rewrites the live data of the sealed segments that hold overwritten or deleted
 * values into new segments and removes the old ones, reclaiming that space
 * (segments with next to nothing dead are left as they are); readers and writers
 * continue meanwhile. `report` may be NULL; otherwise it receives what was
 * done. Read-only handle: InvalidArgument.
 */
enum LightningDBError lightning_db_compact(struct LightningDB *db,
                                           struct LightningDBCompactionReport *report);

/**
 * Writes a consistent copy of the database into directory `dest_path` (which must
 * not exist, or be empty: otherwise InvalidArgument) while readers and writers
 * continue. The copy opens with `lightning_db_open`.
 */
enum LightningDBError lightning_db_backup(struct LightningDB *db, const char *dest_path);

/**
 * Reads every record of every segment and checks every checksum, and checks that
 * every live value can be read back.
 *
 * Returns Success if nothing is damaged, CorruptedData if something is (the
 * message of `lightning_db_last_error_message` then lists the first damaged
 * places: file, offset, reason). `report` may be NULL; otherwise it is filled in
 * either way.
 */
enum LightningDBError lightning_db_verify(struct LightningDB *db,
                                          struct LightningDBVerifyReport *report);

/**
 * Fills `*stats` with the database's counters and sizes.
 */
enum LightningDBError lightning_db_stats(struct LightningDB *db, struct LightningDBStats *stats);

/**
 * For a read-only handle: loads the commits made by the writing process since the
 * handle was opened or last refreshed. For a writable handle: does nothing.
 */
enum LightningDBError lightning_db_refresh(struct LightningDB *db);

/**
 * Begins a transaction and stores its id in `*tx_id`.
 *
 * A transaction reads the snapshot of the latest commit at its start plus its
 * own writes, and buffers its writes until `lightning_db_commit_transaction`,
 * which applies all of them atomically or fails with TransactionConflict if a
 * key it writes was written by another commit after it began (snapshot
 * isolation). Ids are valid only with the handle that created them. Finish every
 * transaction with commit or abort: until then it holds its snapshot's memory.
 */
enum LightningDBError lightning_db_begin_transaction(struct LightningDB *db, uint64_t *tx_id);

/**
 * Buffers a put in transaction `tx_id` (rules of `lightning_db_put`). An unknown
 * id: InvalidArgument. Memory: key and value are copied.
 */
enum LightningDBError lightning_db_put_tx(struct LightningDB *db,
                                          uint64_t tx_id,
                                          const uint8_t *key,
                                          size_t key_len,
                                          const uint8_t *value,
                                          size_t value_len);

/**
 * Reads `key` as transaction `tx_id` sees it (its snapshot plus its own writes).
 * Results and memory as `lightning_db_get`.
 */
enum LightningDBError lightning_db_get_tx(struct LightningDB *db,
                                          uint64_t tx_id,
                                          const uint8_t *key,
                                          size_t key_len,
                                          struct LightningDBResult *result);

/**
 * Buffers a delete of `key` in transaction `tx_id`.
 * Reads `key` as transaction `tx_id` sees it into the caller's buffer: the
 * lending form of `lightning_db_get_tx`. Results and memory as
 * `lightning_db_get_into`.
 */
enum LightningDBError lightning_db_get_tx_into(struct LightningDB *db,
                                               uint64_t tx_id,
                                               const uint8_t *key,
                                               size_t key_len,
                                               uint8_t *buf,
                                               size_t cap,
                                               size_t *value_len);

enum LightningDBError lightning_db_delete_tx(struct LightningDB *db,
                                             uint64_t tx_id,
                                             const uint8_t *key,
                                             size_t key_len);

/**
 * Sets `*found` to whether transaction `tx_id` sees `key`.
 */
enum LightningDBError lightning_db_contains_tx(struct LightningDB *db,
                                               uint64_t tx_id,
                                               const uint8_t *key,
                                               size_t key_len,
                                               bool *found);

/**
 * Commits transaction `tx_id`: all its writes become durable atomically, or
 * none (TransactionConflict, IoError...). The id is finished whatever the
 * outcome; using it again gives InvalidArgument. Retry a conflicting
 * transaction by beginning a new one.
 */
enum LightningDBError lightning_db_commit_transaction(struct LightningDB *db, uint64_t tx_id);

/**
 * Discards transaction `tx_id` and its writes. The id is finished.
 */
enum LightningDBError lightning_db_abort_transaction(struct LightningDB *db, uint64_t tx_id);

/**
 * Starts a scan of the keys `k` with `start <= k < end`, in ascending key order,
 * or descending if `reverse`. `start` NULL (with `start_len` 0): from the first
 * key; `end` NULL (with `end_len` 0): to the last key. Bounds are at most
 * LIGHTNING_DB_MAX_KEY_SIZE bytes and are copied.
 *
 * The scan reads a snapshot: commits made after this call are not seen, and do
 * not disturb it. Stores the new iterator in `*iter` (NULL on failure).
 *
 * Memory: release the iterator with `lightning_db_iter_free`, also after the end
 * and after the database is closed.
 */
enum LightningDBError lightning_db_iter_range(struct LightningDB *db,
                                              const uint8_t *start,
                                              size_t start_len,
                                              const uint8_t *end,
                                              size_t end_len,
                                              bool reverse,
                                              struct LightningDBIterator **iter);

/**
 * Starts a scan of the keys that begin with `prefix` (every key if `prefix` is
 * NULL with `prefix_len` 0), ascending or, if `reverse`, descending. Otherwise as
 * `lightning_db_iter_range`.
 */
enum LightningDBError lightning_db_iter_prefix(struct LightningDB *db,
                                               const uint8_t *prefix,
                                               size_t prefix_len,
                                               bool reverse,
                                               struct LightningDBIterator **iter);

/**
 * As `lightning_db_iter_range`, over what transaction `tx_id` sees: its snapshot
 * with its own writes (made before this call) applied. The iterator stays usable
 * after the transaction ends.
 */
enum LightningDBError lightning_db_iter_range_tx(struct LightningDB *db,
                                                 uint64_t tx_id,
                                                 const uint8_t *start,
                                                 size_t start_len,
                                                 const uint8_t *end,
                                                 size_t end_len,
                                                 bool reverse,
                                                 struct LightningDBIterator **iter);

/**
 * As `lightning_db_iter_prefix`, over what transaction `tx_id` sees.
 */
enum LightningDBError lightning_db_iter_prefix_tx(struct LightningDB *db,
                                                  uint64_t tx_id,
                                                  const uint8_t *prefix,
                                                  size_t prefix_len,
                                                  bool reverse,
                                                  struct LightningDBIterator **iter);

/**
 * Moves to the next entry.
 *
 * On Success, `*has_entry` says whether there was one: if true, `*key` and
 * `*value` hold it; if false, the scan is over (`*key` and `*value` are NULL/0),
 * and further calls keep returning Success with `*has_entry` false. On an error
 * (e.g. CorruptedData for a damaged value, InvalidArgument once the database is
 * closed) `*has_entry` is false and nothing is returned; a later call moves on to
 * the following entry. The usual loop:
 *
 * ```c
 * bool has_entry;
 * while ((err = lightning_db_iter_next(it, &key, &value, &has_entry)) == Success
 *        && has_entry) { ...; lightning_db_free_result(key.data, key.len); ... }
 * ```
 *
 * Memory: `*key`, `*value` and `*has_entry` are always written; release each
 * non-NULL `data` with `lightning_db_free_result`. An iterator may be used from
 * any thread, one call at a time (calls on one iterator are serialised).
 */
enum LightningDBError lightning_db_iter_next(struct LightningDBIterator *iter,
                                             struct LightningDBResult *key,
                                             struct LightningDBResult *value,
                                             bool *has_entry);

/**
 * Moves to the next entry and lends it: the form of `lightning_db_iter_next`
 * that allocates nothing for the caller.
 *
 * On Success, `*has_entry` says whether there was one: if true, `*key` (of
 * `*key_len` bytes) and `*value` (of `*value_len` bytes) point to the entry's
 * bytes, owned by the iterator; if false, the scan is over (NULL/0). Errors as
 * `lightning_db_iter_next`.
 *
 * Memory: the lent bytes stay valid and unchanged until the next call on this
 * iterator (any step or page) or `lightning_db_iter_free`, whichever comes
 * first; copy what you keep. Never release them. Every out-pointer is always
 * written.
 */
enum LightningDBError lightning_db_iter_next_borrowed(struct LightningDBIterator *iter,
                                                      const uint8_t **key,
                                                      size_t *key_len,
                                                      const uint8_t **value,
                                                      size_t *value_len,
                                                      bool *has_entry);

/**
 * Fills the caller's buffer with the next entries of the scan: one call instead
 * of one per entry, for languages where each call across the boundary costs.
 *
 * Writes up to `max_entries` entries into `buf[0..cap)`, back to back, each as
 * its key length and value length (little-endian 32-bit unsigned integers),
 * then the key's bytes, then the value's bytes (LIGHTNING_DB_PAGE_ENTRY_HEADER +
 * key length + value length bytes). `*count` receives the number of entries
 * written and `*used` the number of bytes.
 *
 * - `*count` > 0: entries were delivered; the scan goes on from the next one.
 * - `*count` == 0 and `*used` == 0: the scan is over (also on every later call).
 * - `*count` == 0 and `*used` > 0: the next entry alone needs `*used` bytes, more
 *   than `cap`; it is kept, not skipped: call again with a buffer at least that
 *   large.
 *
 * An entry that does not fit after others is kept for the next call. Errors are
 * those of `lightning_db_iter_next` (CorruptedData for a damaged value,
 * InvalidArgument once the database is closed): an error met after some entries
 * ends the page before it and is returned by the next call; an error returned
 * by a call delivers nothing (`*count` and `*used` 0), and the call after it
 * moves on past the damaged entry, as `lightning_db_iter_next` does.
 * `max_entries` 0 is InvalidArgument.
 *
 * Memory: `buf` is the caller's, written only in its first `*used` bytes;
 * `*count` and `*used` are always written.
 */
enum LightningDBError lightning_db_iter_next_page(struct LightningDBIterator *iter,
                                                  uint8_t *buf,
                                                  size_t cap,
                                                  size_t max_entries,
                                                  size_t *count,
                                                  size_t *used);

/**
 * Reads the first entries of a range in one call: what `lightning_db_iter_range`
 * followed by `lightning_db_iter_next_page` deliver, from one snapshot, without
 * making an iterator unless the caller asks for the rest. Made for short ranges,
 * where creating and freeing an iterator costs as much as reading the entries.
 *
 * The range, `reverse` and the bounds are those of `lightning_db_iter_range`;
 * `buf`, `cap`, `max_entries`, `*count` and `*used` those of
 * `lightning_db_iter_next_page` (the page format, and `*count` 0 with `*used` > 0
 * when the first entry alone needs more than `cap` bytes).
 *
 * `rest` NULL: only this page is wanted. `rest` non-NULL: `*rest` receives an
 * iterator over the entries of the range after the page (from the same
 * snapshot, an entry that did not fit first), or NULL when the page holds the
 * whole range; to know that when the page is full, the next entry is read
 * ahead and kept for the iterator.
 *
 * Errors are those of `lightning_db_iter_range` and `lightning_db_iter_next_page`
 * (`max_entries` 0 is InvalidArgument). An error delivers nothing and makes no
 * iterator (`*count` and `*used` 0, `*rest` NULL), also when it is met after some
 * entries; to read the entries around a damaged one, step with an iterator.
 *
 * Memory: `buf` is the caller's; after Success only its first `*used` bytes
 * are written, after an error its contents are unspecified. `*count`, `*used`
 * and a non-NULL `rest` are always written. Release a returned iterator with
 * `lightning_db_iter_free`.
 */
enum LightningDBError lightning_db_range_page(struct LightningDB *db,
                                              const uint8_t *start,
                                              size_t start_len,
                                              const uint8_t *end,
                                              size_t end_len,
                                              bool reverse,
                                              uint8_t *buf,
                                              size_t cap,
                                              size_t max_entries,
                                              size_t *count,
                                              size_t *used,
                                              struct LightningDBIterator **rest);

/**
 * As `lightning_db_range_page`, over what transaction `tx_id` sees: its snapshot
 * with its own writes (made before this call) applied. An iterator returned in
 * `*rest` stays usable after the transaction ends.
 */
enum LightningDBError lightning_db_range_page_tx(struct LightningDB *db,
                                                 uint64_t tx_id,
                                                 const uint8_t *start,
                                                 size_t start_len,
                                                 const uint8_t *end,
                                                 size_t end_len,
                                                 bool reverse,
                                                 uint8_t *buf,
                                                 size_t cap,
                                                 size_t max_entries,
                                                 size_t *count,
                                                 size_t *used,
                                                 struct LightningDBIterator **rest);

/**
 * Reads at most the first `max_entries` entries of a range in one call: what
 * `lightning_db_range_page` delivers, for callers that want no more than
 * `max_entries` entries. Nothing past them is read, and no iterator is made
 * unless one of them did not fit in `buf`.
 *
 * The arguments, the page, the errors and the memory rules are those of
 * `lightning_db_range_page`, except `*unfit`: an iterator (from the same
 * snapshot) that starts with the first of the `max_entries` entries that did
 * not fit in `buf` (when the first entry alone needs more than `cap` bytes,
 * `*count` is 0, `*used` its size, and the iterator starts with it); NULL when
 * none was left out, whether or not the range goes on past `max_entries`.
 * `unfit` NULL: such an entry is not wanted (the call is then
 * `lightning_db_range_page` with `rest` NULL). Release a returned iterator with
 * `lightning_db_iter_free`.
 */
enum LightningDBError lightning_db_range_first(struct LightningDB *db,
                                               const uint8_t *start,
                                               size_t start_len,
                                               const uint8_t *end,
                                               size_t end_len,
                                               bool reverse,
                                               uint8_t *buf,
                                               size_t cap,
                                               size_t max_entries,
                                               size_t *count,
                                               size_t *used,
                                               struct LightningDBIterator **unfit);

/**
 * As `lightning_db_range_first`, over what transaction `tx_id` sees: its
 * snapshot with its own writes (made before this call) applied. An iterator
 * returned in `*unfit` stays usable after the transaction ends.
 */
enum LightningDBError lightning_db_range_first_tx(struct LightningDB *db,
                                                  uint64_t tx_id,
                                                  const uint8_t *start,
                                                  size_t start_len,
                                                  const uint8_t *end,
                                                  size_t end_len,
                                                  bool reverse,
                                                  uint8_t *buf,
                                                  size_t cap,
                                                  size_t max_entries,
                                                  size_t *count,
                                                  size_t *used,
                                                  struct LightningDBIterator **unfit);

/**
 * Releases an iterator. NULL: no-op. An iterator already freed (or never
 * returned by this library) is detected and ignored (reported by
 * `lightning_db_last_error_code`, InvalidArgument).
 */
void lightning_db_iter_free(struct LightningDBIterator *iter);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* LIGHTNING_DB_FFI_H */
