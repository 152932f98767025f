/*
 * The C API test suite: every function of lightning_db_ffi.h, every error code
 * that a caller can provoke, the memory rules (run under AddressSanitizer +
 * UBSan and under valgrind by ci/test-c, which also catches leaks), stale
 * handles, one handle shared by threads, and a second process.
 *
 * Plain C11 + POSIX. Usage: test_c_api [TEST_NAME...] (no name: all tests).
 * The last line of output is "N passed, N failed"; the exit status is 0 only if
 * nothing failed. The program re-executes itself (argv[0]) with --child-* for the
 * tests that need a second process.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lightning_db_ffi.h"

/* The guide's error codes are a contract: check the header's values. */
_Static_assert(Success == 0, "Success");
_Static_assert(NullPointer == -1, "NullPointer");
_Static_assert(InvalidUtf8 == -2, "InvalidUtf8");
_Static_assert(IoError == -3, "IoError");
_Static_assert(CorruptedData == -4, "CorruptedData");
_Static_assert(InvalidArgument == -5, "InvalidArgument");
_Static_assert(OutOfMemory == -6, "OutOfMemory");
_Static_assert(DatabaseLocked == -7, "DatabaseLocked");
_Static_assert(TransactionConflict == -8, "TransactionConflict");
_Static_assert(UnknownError == -99, "UnknownError");
_Static_assert(sizeof(LightningDBResult) == sizeof(void *) + sizeof(size_t), "LightningDBResult");

/* ------------------------------------------------------------------------- */
/* A tiny harness.                                                            */

static int passed, failed;
static const char *current_test = "";
static const char *self_path; /* argv[0], to start second processes */
static char root_dir[256];    /* every test's databases live below it */

static void fail_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    failed++;
    fprintf(stderr, "FAIL [%s] %s:%d: ", current_test, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

#define CHECK(cond)                                                      \
    do {                                                                 \
        if (cond)                                                        \
            passed++;                                                    \
        else                                                             \
            fail_at(__FILE__, __LINE__, "%s", #cond);                    \
    } while (0)

/* Checks the code of a call and, on a mismatch, shows the library's detail. */
#define EXPECT(expr, code)                                                         \
    do {                                                                           \
        LightningDBError got_ = (expr);                                            \
        if (got_ == (code))                                                        \
            passed++;                                                              \
        else                                                                       \
            fail_at(__FILE__, __LINE__, "%s returned %d (%s), expected %s; detail: %s", \
                    #expr, (int)got_, lightning_db_error_string(got_), #code,      \
                    lightning_db_last_error_message());                            \
    } while (0)

#define OK(expr) EXPECT(expr, Success)

/* The result holds exactly the C string `want` (without its NUL). */
static int result_is(LightningDBResult r, const char *want) {
    size_t n = strlen(want);
    return r.data != NULL && r.len == n && memcmp(r.data, want, n) == 0;
}

static const uint8_t *B(const char *s) { return (const uint8_t *)s; }

/* A fresh directory path below root_dir (not created). */
static const char *db_path(const char *name) {
    static char paths[64][320];
    static int next;
    char *p = paths[next++ % 64];
    snprintf(p, sizeof paths[0], "%s/%s", root_dir, name);
    return p;
}

static LightningDB *create_db(const char *name, int sync_mode) {
    LightningDBConfig *config = lightning_db_config_new();
    lightning_db_config_set_sync_mode(config, sync_mode);
    LightningDB *db = lightning_db_create(db_path(name), config);
    lightning_db_config_free(config);
    if (!db)
        fail_at(__FILE__, __LINE__, "create %s: %s", name, lightning_db_last_error_message());
    return db;
}

static int put_s(LightningDB *db, const char *k, const char *v) {
    return lightning_db_put(db, B(k), strlen(k), B(v), strlen(v));
}

/* The value of key `k` as a malloc'd C string, "<absent>", or "<error N>". */
static char *get_s(LightningDB *db, const char *k) {
    LightningDBResult r;
    LightningDBError err = lightning_db_get(db, B(k), strlen(k), &r);
    char *out = malloc(r.len + 32);
    if (err != Success)
        sprintf(out, "<error %d>", (int)err);
    else if (!r.data)
        strcpy(out, "<absent>");
    else {
        memcpy(out, r.data, r.len);
        out[r.len] = '\0';
    }
    lightning_db_free_result(r.data, r.len);
    return out;
}

#define CHECK_VALUE(db, k, want)                                                     \
    do {                                                                             \
        char *got_ = get_s(db, k);                                                   \
        if (strcmp(got_, want) == 0)                                                 \
            passed++;                                                                \
        else                                                                         \
            fail_at(__FILE__, __LINE__, "get(%s) = \"%s\", expected \"%s\"", k, got_, want); \
        free(got_);                                                                  \
    } while (0)

/* Runs this program again as `--child-MODE path`, optionally with RUST_LOG set
 * and stderr sent to a file; returns the child's exit status (or -1). */
static int run_child(const char *mode, const char *path, const char *rust_log,
                     const char *stderr_file) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (rust_log)
            setenv("RUST_LOG", rust_log, 1);
        else
            unsetenv("RUST_LOG");
        if (stderr_file) {
            int fd = open(stderr_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, 2) < 0)
                _exit(120);
            close(fd);
        }
        char arg[64];
        snprintf(arg, sizeof arg, "--child-%s", mode);
        execl(self_path, self_path, arg, path, (char *)NULL);
        _exit(121);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* What the child processes do; the exit status is the verdict. */
static int child_main(const char *mode, const char *path) {
    if (strcmp(mode, "--child-create") == 0) {
        /* The parent holds the database open for writing. */
        LightningDB *db = lightning_db_create(path, NULL);
        if (db) {
            lightning_db_free(db);
            return 1;
        }
        return lightning_db_last_error_code() == DatabaseLocked ? 0 : 2;
    }
    if (strcmp(mode, "--child-read-only") == 0) {
        LightningDBConfig *config = lightning_db_config_new();
        if (lightning_db_config_set_read_only(config, true) != Success)
            return 3;
        LightningDB *db = lightning_db_open(path, config);
        lightning_db_config_free(config);
        if (!db)
            return 4;
        char *v = get_s(db, "shared");
        int ok = strcmp(v, "by the parent") == 0;
        free(v);
        int denied = put_s(db, "x", "y") == InvalidArgument;
        lightning_db_free(db);
        return ok && denied ? 0 : 5;
    }
    if (strcmp(mode, "--child-log") == 0) {
        LightningDB *db = lightning_db_create(path, NULL);
        if (!db)
            return 6;
        lightning_db_free(db);
        return 0;
    }
    return 99;
}

/* ------------------------------------------------------------------------- */
/* The tests.                                                                 */

static void test_version_and_error_strings(void) {
    const char *v = lightning_db_version();
    CHECK(v != NULL && strlen(v) >= 5 && strchr(v, '.') != NULL);
    CHECK(strcmp(lightning_db_error_string(Success), "Success") == 0);
    CHECK(strcmp(lightning_db_error_string(NullPointer), "Null pointer") == 0);
    CHECK(strcmp(lightning_db_error_string(InvalidUtf8), "Invalid UTF-8") == 0);
    CHECK(strcmp(lightning_db_error_string(IoError), "I/O error") == 0);
    CHECK(strcmp(lightning_db_error_string(CorruptedData), "Corrupted data") == 0);
    CHECK(strcmp(lightning_db_error_string(InvalidArgument), "Invalid argument") == 0);
    CHECK(strcmp(lightning_db_error_string(OutOfMemory), "Out of memory") == 0);
    CHECK(strcmp(lightning_db_error_string(DatabaseLocked), "Database locked") == 0);
    CHECK(strcmp(lightning_db_error_string(TransactionConflict), "Transaction conflict") == 0);
    CHECK(strcmp(lightning_db_error_string(UnknownError), "Unknown error") == 0);
    /* Values outside the enum are answered, not undefined behaviour. */
    CHECK(strcmp(lightning_db_error_string(12345), "Unrecognised error code") == 0);
    CHECK(strcmp(lightning_db_error_string(-100), "Unrecognised error code") == 0);
}

/* The guide's example, as a test, plus a second run on the same directory. */
static void test_guide_flow_twice(void) {
    for (int run = 0; run < 2; run++) {
        LightningDB *db = lightning_db_create(db_path("guide"), NULL);
        CHECK(db != NULL);
        if (!db)
            return;
        OK(lightning_db_put(db, B("hello"), 5, B("world"), 5));
        LightningDBResult result;
        OK(lightning_db_get(db, B("hello"), 5, &result));
        CHECK(result_is(result, "world"));
        lightning_db_free_result(result.data, result.len);
        lightning_db_free(db);
    }
}

static void test_get_absent_and_empty_values(void) {
    LightningDB *db = create_db("absent", SyncOff);
    LightningDBResult r = {(uint8_t *)"garbage", 7};
    OK(lightning_db_get(db, B("nothing"), 7, &r));
    CHECK(r.data == NULL && r.len == 0);
    lightning_db_free_result(r.data, r.len);

    /* An empty value is present: non-NULL data, length 0, and must be freed. */
    OK(lightning_db_put(db, B("empty"), 5, B(""), 0));
    OK(lightning_db_get(db, B("empty"), 5, &r));
    CHECK(r.data != NULL && r.len == 0);
    lightning_db_free_result(r.data, r.len);
    /* NULL with length 0 is the empty value too. */
    OK(lightning_db_put(db, B("empty2"), 6, NULL, 0));
    OK(lightning_db_get(db, B("empty2"), 6, &r));
    CHECK(r.data != NULL && r.len == 0);
    lightning_db_free_result(r.data, r.len);

    /* Binary keys and values, with NUL bytes inside. */
    const uint8_t key[] = {0, 1, 2, 0, 255};
    const uint8_t value[] = {9, 0, 0, 9};
    OK(lightning_db_put(db, key, sizeof key, value, sizeof value));
    OK(lightning_db_get(db, key, sizeof key, &r));
    CHECK(r.len == sizeof value && memcmp(r.data, value, sizeof value) == 0);
    lightning_db_free_result(r.data, r.len);

    /* The largest key is accepted. */
    uint8_t *big = malloc(LIGHTNING_DB_MAX_KEY_SIZE);
    memset(big, 'k', LIGHTNING_DB_MAX_KEY_SIZE);
    OK(lightning_db_put(db, big, LIGHTNING_DB_MAX_KEY_SIZE, B("v"), 1));
    OK(lightning_db_get(db, big, LIGHTNING_DB_MAX_KEY_SIZE, &r));
    CHECK(result_is(r, "v"));
    lightning_db_free_result(r.data, r.len);
    free(big);

    /* A 1 MiB value round-trips. */
    size_t n = 1 << 20;
    uint8_t *large = malloc(n);
    for (size_t i = 0; i < n; i++)
        large[i] = (uint8_t)(i * 31 + 7);
    OK(lightning_db_put(db, B("large"), 5, large, n));
    OK(lightning_db_get(db, B("large"), 5, &r));
    CHECK(r.len == n && memcmp(r.data, large, n) == 0);
    lightning_db_free_result(r.data, r.len);
    free(large);
    lightning_db_free(db);
}

static void test_put_overwrite_delete_contains(void) {
    LightningDB *db = create_db("crud", SyncFull);
    bool found = true;
    OK(lightning_db_contains(db, B("k"), 1, &found));
    CHECK(!found);
    OK(put_s(db, "k", "v1"));
    OK(put_s(db, "k", "v2"));
    CHECK_VALUE(db, "k", "v2");
    OK(lightning_db_contains(db, B("k"), 1, &found));
    CHECK(found);
    OK(lightning_db_delete(db, B("k"), 1));
    CHECK_VALUE(db, "k", "<absent>");
    OK(lightning_db_contains(db, B("k"), 1, &found));
    CHECK(!found);
    /* Deleting an absent key is not an error. */
    OK(lightning_db_delete(db, B("k"), 1));
    OK(lightning_db_delete(db, B("never"), 5));
    /* lightning_db_delete_found says whether there was something to delete. */
    OK(put_s(db, "k", "v3"));
    found = false;
    OK(lightning_db_delete_found(db, B("k"), 1, &found));
    CHECK(found);
    CHECK_VALUE(db, "k", "<absent>");
    found = true;
    OK(lightning_db_delete_found(db, B("k"), 1, &found));
    CHECK(!found);
    found = true;
    EXPECT(lightning_db_delete_found(db, B("k"), 0, &found), InvalidArgument);
    CHECK(!found); /* written even on failure */
    lightning_db_free(db);

    /* Data survives closing and reopening, with lightning_db_open. */
    db = lightning_db_create(db_path("crud"), NULL);
    OK(put_s(db, "kept", "yes"));
    OK(lightning_db_close(db));
    db = lightning_db_open(db_path("crud"), NULL);
    CHECK(db != NULL);
    CHECK_VALUE(db, "kept", "yes");
    CHECK_VALUE(db, "k", "<absent>");
    OK(lightning_db_close(db));
}

static void test_null_pointers(void) {
    LightningDB *db = create_db("nulls", SyncOff);
    LightningDBResult r;
    bool found;
    uint64_t tx;
    size_t len;
    LightningDBStats stats;
    LightningDBIterator *it;

    EXPECT(lightning_db_put(NULL, B("k"), 1, B("v"), 1), NullPointer);
    EXPECT(lightning_db_put(db, NULL, 1, B("v"), 1), NullPointer);
    EXPECT(lightning_db_put(db, NULL, 0, B("v"), 1), NullPointer);
    EXPECT(lightning_db_put(db, B("k"), 1, NULL, 1), NullPointer);
    EXPECT(lightning_db_get(NULL, B("k"), 1, &r), NullPointer);
    EXPECT(lightning_db_get(db, NULL, 1, &r), NullPointer);
    CHECK(r.data == NULL && r.len == 0);
    EXPECT(lightning_db_get(db, B("k"), 1, NULL), NullPointer);
    EXPECT(lightning_db_delete(NULL, B("k"), 1), NullPointer);
    EXPECT(lightning_db_delete(db, NULL, 1), NullPointer);
    EXPECT(lightning_db_delete_found(NULL, B("k"), 1, &found), NullPointer);
    EXPECT(lightning_db_delete_found(db, NULL, 1, &found), NullPointer);
    EXPECT(lightning_db_delete_found(db, B("k"), 1, NULL), NullPointer);
    EXPECT(lightning_db_contains(NULL, B("k"), 1, &found), NullPointer);
    EXPECT(lightning_db_contains(db, NULL, 1, &found), NullPointer);
    EXPECT(lightning_db_contains(db, B("k"), 1, NULL), NullPointer);
    EXPECT(lightning_db_checkpoint(NULL), NullPointer);
    EXPECT(lightning_db_compact(NULL, NULL), NullPointer);
    EXPECT(lightning_db_backup(NULL, db_path("nulls-backup")), NullPointer);
    EXPECT(lightning_db_backup(db, NULL), NullPointer);
    EXPECT(lightning_db_verify(NULL, NULL), NullPointer);
    EXPECT(lightning_db_stats(NULL, &stats), NullPointer);
    EXPECT(lightning_db_stats(db, NULL), NullPointer);
    EXPECT(lightning_db_refresh(NULL), NullPointer);
    EXPECT(lightning_db_close(NULL), NullPointer);

    EXPECT(lightning_db_begin_transaction(NULL, &tx), NullPointer);
    EXPECT(lightning_db_begin_transaction(db, NULL), NullPointer);
    OK(lightning_db_begin_transaction(db, &tx));
    EXPECT(lightning_db_put_tx(NULL, tx, B("k"), 1, B("v"), 1), NullPointer);
    EXPECT(lightning_db_put_tx(db, tx, NULL, 1, B("v"), 1), NullPointer);
    EXPECT(lightning_db_put_tx(db, tx, B("k"), 1, NULL, 1), NullPointer);
    EXPECT(lightning_db_get_tx(NULL, tx, B("k"), 1, &r), NullPointer);
    EXPECT(lightning_db_get_tx(db, tx, NULL, 1, &r), NullPointer);
    EXPECT(lightning_db_get_tx(db, tx, B("k"), 1, NULL), NullPointer);
    EXPECT(lightning_db_delete_tx(NULL, tx, B("k"), 1), NullPointer);
    EXPECT(lightning_db_delete_tx(db, tx, NULL, 1), NullPointer);
    EXPECT(lightning_db_contains_tx(NULL, tx, B("k"), 1, &found), NullPointer);
    EXPECT(lightning_db_contains_tx(db, tx, NULL, 1, &found), NullPointer);
    EXPECT(lightning_db_contains_tx(db, tx, B("k"), 1, NULL), NullPointer);
    EXPECT(lightning_db_commit_transaction(NULL, tx), NullPointer);
    EXPECT(lightning_db_abort_transaction(NULL, tx), NullPointer);
    OK(lightning_db_abort_transaction(db, tx));

    LightningDBWriteBatch *batch = lightning_db_batch_new();
    EXPECT(lightning_db_batch_put(NULL, B("k"), 1, B("v"), 1), NullPointer);
    EXPECT(lightning_db_batch_put(batch, NULL, 1, B("v"), 1), NullPointer);
    EXPECT(lightning_db_batch_put(batch, B("k"), 1, NULL, 1), NullPointer);
    EXPECT(lightning_db_batch_delete(NULL, B("k"), 1), NullPointer);
    EXPECT(lightning_db_batch_delete(batch, NULL, 1), NullPointer);
    EXPECT(lightning_db_batch_len(NULL, &len), NullPointer);
    EXPECT(lightning_db_batch_len(batch, NULL), NullPointer);
    EXPECT(lightning_db_batch_clear(NULL), NullPointer);
    EXPECT(lightning_db_write_batch(NULL, batch), NullPointer);
    EXPECT(lightning_db_write_batch(db, NULL), NullPointer);
    lightning_db_batch_free(batch);

    EXPECT(lightning_db_iter_range(NULL, NULL, 0, NULL, 0, false, &it), NullPointer);
    CHECK(it == NULL);
    EXPECT(lightning_db_iter_range(db, NULL, 0, NULL, 0, false, NULL), NullPointer);
    EXPECT(lightning_db_iter_range(db, NULL, 3, NULL, 0, false, &it), NullPointer);
    EXPECT(lightning_db_iter_range(db, NULL, 0, NULL, 3, false, &it), NullPointer);
    EXPECT(lightning_db_iter_prefix(NULL, NULL, 0, false, &it), NullPointer);
    EXPECT(lightning_db_iter_prefix(db, NULL, 2, false, &it), NullPointer);
    EXPECT(lightning_db_iter_prefix(db, NULL, 0, false, NULL), NullPointer);
    EXPECT(lightning_db_iter_range_tx(NULL, 1, NULL, 0, NULL, 0, false, &it), NullPointer);
    EXPECT(lightning_db_iter_prefix_tx(NULL, 1, NULL, 0, false, &it), NullPointer);
    OK(lightning_db_iter_prefix(db, NULL, 0, false, &it));
    LightningDBResult k, v;
    bool has;
    EXPECT(lightning_db_iter_next(NULL, &k, &v, &has), NullPointer);
    EXPECT(lightning_db_iter_next(it, NULL, &v, &has), NullPointer);
    EXPECT(lightning_db_iter_next(it, &k, NULL, &has), NullPointer);
    EXPECT(lightning_db_iter_next(it, &k, &v, NULL), NullPointer);
    lightning_db_iter_free(it);

    LightningDBConfig *config = lightning_db_config_new();
    EXPECT(lightning_db_config_set_page_size(NULL, 4096), NullPointer);
    EXPECT(lightning_db_config_set_cache_size(NULL, 0), NullPointer);
    EXPECT(lightning_db_config_set_sync_mode(NULL, SyncOff), NullPointer);
    EXPECT(lightning_db_config_set_read_only(NULL, true), NullPointer);
    EXPECT(lightning_db_config_set_segment_size(NULL, 1 << 20), NullPointer);
    EXPECT(lightning_db_config_set_auto_compact(NULL, false), NullPointer);
    EXPECT(lightning_db_config_set_compaction_dead_ratio(NULL, 0.5), NullPointer);
    EXPECT(lightning_db_config_set_compaction_min_dead_bytes(NULL, 0), NullPointer);
    EXPECT(lightning_db_config_set_normal_sync_interval_ms(NULL, 100), NullPointer);

    CHECK(lightning_db_create(NULL, NULL) == NULL);
    EXPECT(lightning_db_last_error_code(), NullPointer);
    CHECK(lightning_db_open(NULL, config) == NULL);
    EXPECT(lightning_db_last_error_code(), NullPointer);
    CHECK(strstr(lightning_db_last_error_message(), "path is NULL") != NULL);

    /* The release functions accept NULL and leave the last error alone. */
    OK(put_s(db, "k", "v"));
    EXPECT(lightning_db_put(db, NULL, 1, B("v"), 1), NullPointer);
    lightning_db_free(NULL);
    lightning_db_config_free(NULL);
    lightning_db_free_result(NULL, 0);
    lightning_db_batch_free(NULL);
    lightning_db_iter_free(NULL);
    EXPECT(lightning_db_last_error_code(), NullPointer);

    lightning_db_config_free(config);
    lightning_db_free(db);
}

static void test_invalid_utf8_paths(void) {
    char bad[300];
    snprintf(bad, sizeof bad, "%s/bad-\xff\xfe-name", root_dir);
    CHECK(lightning_db_create(bad, NULL) == NULL);
    EXPECT(lightning_db_last_error_code(), InvalidUtf8);
    CHECK(lightning_db_open(bad, NULL) == NULL);
    EXPECT(lightning_db_last_error_code(), InvalidUtf8);
    /* Nothing was created under the bad name. */
    struct stat st;
    CHECK(stat(bad, &st) != 0);

    LightningDB *db = create_db("utf8", SyncOff);
    EXPECT(lightning_db_backup(db, bad), InvalidUtf8);
    lightning_db_free(db);

    /* Non-ASCII but valid UTF-8 is fine. */
    db = lightning_db_create(db_path("caf\xc3\xa9-\xe2\x9a\xa1"), NULL);
    CHECK(db != NULL);
    lightning_db_free(db);
}

static void test_invalid_arguments(void) {
    LightningDB *db = create_db("invalid", SyncOff);
    /* Keys: empty, too long. */
    EXPECT(lightning_db_put(db, B("x"), 0, B("v"), 1), InvalidArgument);
    CHECK(strstr(lightning_db_last_error_message(), "empty") != NULL);
    uint8_t *huge = calloc(1, LIGHTNING_DB_MAX_KEY_SIZE + 1);
    EXPECT(lightning_db_put(db, huge, LIGHTNING_DB_MAX_KEY_SIZE + 1, B("v"), 1), InvalidArgument);
    LightningDBResult r;
    EXPECT(lightning_db_get(db, huge, LIGHTNING_DB_MAX_KEY_SIZE + 1, &r), InvalidArgument);
    EXPECT(lightning_db_get(db, B("x"), 0, &r), InvalidArgument);
    EXPECT(lightning_db_delete(db, B("x"), 0), InvalidArgument);
    /* A value length beyond the limit is refused by number, before any read. */
    EXPECT(lightning_db_put(db, B("k"), 1, B("v"), (size_t)LIGHTNING_DB_MAX_VALUE_SIZE + 1),
           InvalidArgument);
    EXPECT(lightning_db_put(db, B("k"), 1, B("v"), SIZE_MAX), InvalidArgument);
    EXPECT(lightning_db_get(db, B("k"), SIZE_MAX, &r), InvalidArgument);
    LightningDBIterator *it;
    EXPECT(lightning_db_iter_prefix(db, huge, LIGHTNING_DB_MAX_KEY_SIZE + 1, false, &it),
           InvalidArgument);
    free(huge);

    /* Transactions: unknown ids, finished ids. */
    EXPECT(lightning_db_put_tx(db, 424242, B("k"), 1, B("v"), 1), InvalidArgument);
    CHECK(strstr(lightning_db_last_error_message(), "424242") != NULL);
    EXPECT(lightning_db_get_tx(db, 0, B("k"), 1, &r), InvalidArgument);
    EXPECT(lightning_db_commit_transaction(db, 77), InvalidArgument);
    EXPECT(lightning_db_abort_transaction(db, 77), InvalidArgument);
    EXPECT(lightning_db_iter_range_tx(db, 77, NULL, 0, NULL, 0, false, &it), InvalidArgument);
    CHECK(it == NULL);

    /* Backup into a directory that is not empty. */
    EXPECT(lightning_db_backup(db, db_path("invalid")), InvalidArgument);

    /* Options. */
    LightningDBConfig *config = lightning_db_config_new();
    EXPECT(lightning_db_config_set_page_size(config, 1000), InvalidArgument);
    EXPECT(lightning_db_config_set_page_size(config, 256), InvalidArgument);
    EXPECT(lightning_db_config_set_page_size(config, 131072), InvalidArgument);
    EXPECT(lightning_db_config_set_segment_size(config, 100), InvalidArgument);
    EXPECT(lightning_db_config_set_segment_size(config, 4095), InvalidArgument);
    /* The upper bound is exact: 2^31 - 1 bytes, not 2 GiB (found by random_c_api). */
    OK(lightning_db_config_set_segment_size(config, 2147483647u));
    EXPECT(lightning_db_config_set_segment_size(config, 2147483648u), InvalidArgument);
    EXPECT(lightning_db_config_set_sync_mode(config, 3), InvalidArgument);
    EXPECT(lightning_db_config_set_sync_mode(config, -1), InvalidArgument);
    /* The ratio is in (0, 1]; NaN is refused too. */
    EXPECT(lightning_db_config_set_compaction_dead_ratio(config, 0.0), InvalidArgument);
    EXPECT(lightning_db_config_set_compaction_dead_ratio(config, -0.5), InvalidArgument);
    EXPECT(lightning_db_config_set_compaction_dead_ratio(config, 1.5), InvalidArgument);
    EXPECT(lightning_db_config_set_compaction_dead_ratio(config, 0.0 / 0.0), InvalidArgument);
    OK(lightning_db_config_set_compaction_dead_ratio(config, 1.0));
    OK(lightning_db_config_set_compaction_min_dead_bytes(config, 0));
    EXPECT(lightning_db_config_set_normal_sync_interval_ms(config, 0), InvalidArgument);
    OK(lightning_db_config_set_normal_sync_interval_ms(config, 1));
    OK(lightning_db_config_set_read_only(config, true));
    CHECK(lightning_db_create(db_path("ro-create"), config) == NULL);
    EXPECT(lightning_db_last_error_code(), InvalidArgument);
    lightning_db_config_free(config);

    CHECK(lightning_db_create("", NULL) == NULL);
    EXPECT(lightning_db_last_error_code(), InvalidArgument);
    lightning_db_free(db);
}

static void test_io_errors(void) {
    /* open requires an existing database. */
    CHECK(lightning_db_open(db_path("does-not-exist"), NULL) == NULL);
    EXPECT(lightning_db_last_error_code(), IoError);
    CHECK(strstr(lightning_db_last_error_message(), "does-not-exist") != NULL);

    /* A path below a regular file cannot be a directory. */
    const char *file = db_path("plain-file");
    FILE *f = fopen(file, "w");
    fputs("not a database", f);
    fclose(f);
    char below[400];
    snprintf(below, sizeof below, "%s/db", file);
    CHECK(lightning_db_create(below, NULL) == NULL);
    EXPECT(lightning_db_last_error_code(), IoError);

    LightningDB *db = create_db("io", SyncOff);
    snprintf(below, sizeof below, "%s/backup", file);
    EXPECT(lightning_db_backup(db, below), IoError);
    lightning_db_free(db);
}

/* Flips one byte of the first occurrence of `marker` in `path`. */
static int corrupt_file(const char *path, const char *marker) {
    FILE *f = fopen(path, "r+b");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    int done = 0;
    if (fread(buf, 1, (size_t)n, f) == (size_t)n) {
        size_t m = strlen(marker);
        for (long i = 0; i + (long)m <= n; i++) {
            if (memcmp(buf + i, marker, m) == 0) {
                fseek(f, i + (long)m / 2, SEEK_SET);
                fputc(buf[i + m / 2] ^ 0x5a, f);
                done = 1;
                break;
            }
        }
    }
    free(buf);
    fclose(f);
    return done;
}

static void test_corrupted_data(void) {
    const char *path = db_path("corrupt");
    /* Small segments: the marker value lands in segment 1, and the commits after
     * it fill segment 1 and roll over into segment 2. */
    LightningDBConfig *config = lightning_db_config_new();
    OK(lightning_db_config_set_sync_mode(config, SyncOff));
    OK(lightning_db_config_set_segment_size(config, 4096));
    LightningDB *db = lightning_db_create(path, config);
    lightning_db_config_free(config);
    CHECK(db != NULL);
    if (!db)
        return;
    OK(put_s(db, "victim", "MARKER-VALUE-THAT-WILL-BE-DAMAGED"));
    char filler[200];
    memset(filler, 'f', sizeof filler - 1);
    filler[sizeof filler - 1] = 0;
    for (int i = 0; i < 20; i++) {
        char k[32];
        snprintf(k, sizeof k, "after-%02d", i);
        OK(put_s(db, k, i == 7 ? "fine" : filler));
    }
    /* Checkpoint: sealed segment 1 is now covered by the checkpoint, so the next
     * open does not replay (and check) it. */
    OK(lightning_db_checkpoint(db));
    OK(lightning_db_close(db));

    char seg[400];
    snprintf(seg, sizeof seg, "%s/0000000001.seg", path);
    CHECK(corrupt_file(seg, "MARKER-VALUE"));

    db = lightning_db_open(path, NULL);
    CHECK(db != NULL);
    if (!db)
        return;
    LightningDBResult r;
    EXPECT(lightning_db_get(db, B("victim"), 6, &r), CorruptedData);
    CHECK(r.data == NULL);
    CHECK_VALUE(db, "after-07", "fine");

    LightningDBVerifyReport report;
    memset(&report, 0xff, sizeof report);
    EXPECT(lightning_db_verify(db, &report), CorruptedData);
    CHECK(report.corruptions >= 1);
    CHECK(report.unreadable_keys == 1);
    CHECK(report.live_keys == 21);
    CHECK(strstr(lightning_db_last_error_message(), "0000000001.seg") != NULL);
    EXPECT(lightning_db_verify(db, NULL), CorruptedData);

    /* A page over the damaged entry delivers nothing and makes no iterator. */
    uint8_t page[4096];
    size_t count = 1, used = 1;
    LightningDBIterator *it = (LightningDBIterator *)page;
    EXPECT(lightning_db_range_page(db, NULL, 0, NULL, 0, true, page, sizeof page, 100, &count,
                                   &used, &it),
           CorruptedData);
    CHECK(count == 0 && used == 0 && it == NULL);

    /* A scan reports the damaged entry and moves on past it. */
    OK(lightning_db_iter_prefix(db, NULL, 0, true, &it));
    int entries = 0, errors = 0;
    for (int i = 0; i < 100; i++) {
        LightningDBResult k, v;
        bool has;
        LightningDBError err = lightning_db_iter_next(it, &k, &v, &has);
        if (err == CorruptedData) {
            errors++;
            CHECK(!has && k.data == NULL && v.data == NULL);
            continue;
        }
        CHECK(err == Success);
        if (!has)
            break;
        entries++;
        lightning_db_free_result(k.data, k.len);
        lightning_db_free_result(v.data, v.len);
    }
    CHECK(entries == 20);
    CHECK(errors == 1);
    lightning_db_iter_free(it);
    lightning_db_free(db);

    /* Damage in a segment that open must replay: open itself reports it. */
    const char *path2 = db_path("corrupt-replay");
    db = create_db("corrupt-replay", SyncOff);
    OK(put_s(db, "victim", "MARKER-VALUE-THAT-WILL-BE-DAMAGED"));
    OK(put_s(db, "later", "commit"));
    OK(lightning_db_close(db));
    snprintf(seg, sizeof seg, "%s/0000000001.seg", path2);
    CHECK(corrupt_file(seg, "MARKER-VALUE"));
    CHECK(lightning_db_open(path2, NULL) == NULL);
    EXPECT(lightning_db_last_error_code(), CorruptedData);
}

static void test_transactions(void) {
    LightningDB *db = create_db("tx", SyncFull);
    uint64_t tx;
    LightningDBResult r;
    bool found;
    OK(put_s(db, "base", "0"));
    OK(put_s(db, "doomed", "x"));

    OK(lightning_db_begin_transaction(db, &tx));
    CHECK(tx != 0);
    OK(lightning_db_put_tx(db, tx, B("a"), 1, B("1"), 1));
    OK(lightning_db_delete_tx(db, tx, B("doomed"), 6));
    /* Read-your-own-writes inside, nothing visible outside. */
    OK(lightning_db_get_tx(db, tx, B("a"), 1, &r));
    CHECK(result_is(r, "1"));
    lightning_db_free_result(r.data, r.len);
    OK(lightning_db_get_tx(db, tx, B("doomed"), 6, &r));
    CHECK(r.data == NULL);
    OK(lightning_db_contains_tx(db, tx, B("doomed"), 6, &found));
    CHECK(!found);
    OK(lightning_db_contains_tx(db, tx, B("base"), 4, &found));
    CHECK(found);
    CHECK_VALUE(db, "a", "<absent>");
    CHECK_VALUE(db, "doomed", "x");
    /* Snapshot: a commit made after begin is not seen by the transaction. */
    OK(put_s(db, "base", "changed"));
    OK(lightning_db_get_tx(db, tx, B("base"), 4, &r));
    CHECK(result_is(r, "0"));
    lightning_db_free_result(r.data, r.len);
    OK(lightning_db_commit_transaction(db, tx));
    CHECK_VALUE(db, "a", "1");
    CHECK_VALUE(db, "doomed", "<absent>");
    /* A finished id is unknown. */
    EXPECT(lightning_db_commit_transaction(db, tx), InvalidArgument);
    EXPECT(lightning_db_put_tx(db, tx, B("a"), 1, B("2"), 1), InvalidArgument);

    /* Abort discards. */
    OK(lightning_db_begin_transaction(db, &tx));
    OK(lightning_db_put_tx(db, tx, B("b"), 1, B("2"), 1));
    OK(lightning_db_abort_transaction(db, tx));
    CHECK_VALUE(db, "b", "<absent>");
    EXPECT(lightning_db_abort_transaction(db, tx), InvalidArgument);

    /* Conflict: both write "c"; the second committer fails and changes nothing. */
    uint64_t t1, t2;
    OK(lightning_db_begin_transaction(db, &t1));
    OK(lightning_db_begin_transaction(db, &t2));
    CHECK(t1 != t2);
    OK(lightning_db_put_tx(db, t1, B("c"), 1, B("one"), 3));
    OK(lightning_db_put_tx(db, t2, B("c"), 1, B("two"), 3));
    OK(lightning_db_put_tx(db, t2, B("d"), 1, B("two"), 3));
    OK(lightning_db_commit_transaction(db, t1));
    EXPECT(lightning_db_commit_transaction(db, t2), TransactionConflict);
    CHECK(strstr(lightning_db_last_error_message(), "conflict") != NULL ||
          strstr(lightning_db_last_error_message(), "changed") != NULL);
    CHECK_VALUE(db, "c", "one");
    CHECK_VALUE(db, "d", "<absent>");
    EXPECT(lightning_db_commit_transaction(db, t2), InvalidArgument);

    /* A plain put to a key a transaction writes also makes it conflict. */
    OK(lightning_db_begin_transaction(db, &t1));
    OK(lightning_db_put_tx(db, t1, B("e"), 1, B("tx"), 2));
    OK(put_s(db, "e", "direct"));
    EXPECT(lightning_db_commit_transaction(db, t1), TransactionConflict);
    CHECK_VALUE(db, "e", "direct");

    /* The guide's pattern: many puts in one transaction, one commit. */
    LightningDBStats before, after;
    OK(lightning_db_stats(db, &before));
    OK(lightning_db_begin_transaction(db, &tx));
    for (int i = 0; i < 1000; i++) {
        char k[32], v[32];
        int kl = snprintf(k, sizeof k, "bulk-%04d", i);
        int vl = snprintf(v, sizeof v, "value-%d", i);
        OK(lightning_db_put_tx(db, tx, B(k), (size_t)kl, B(v), (size_t)vl));
    }
    OK(lightning_db_commit_transaction(db, tx));
    OK(lightning_db_stats(db, &after));
    CHECK(after.commits == before.commits + 1);
    CHECK(after.live_keys == before.live_keys + 1000);
    CHECK_VALUE(db, "bulk-0999", "value-999");

    /* Closing discards open transactions; their ids die with the handle. */
    OK(lightning_db_begin_transaction(db, &tx));
    OK(lightning_db_put_tx(db, tx, B("never"), 5, B("seen"), 4));
    OK(lightning_db_close(db));
    db = lightning_db_open(db_path("tx"), NULL);
    CHECK_VALUE(db, "never", "<absent>");
    EXPECT(lightning_db_commit_transaction(db, tx), InvalidArgument);
    lightning_db_free(db);
}

static void test_write_batch(void) {
    LightningDB *db = create_db("batch", SyncFull);
    OK(put_s(db, "gone", "soon"));
    LightningDBWriteBatch *batch = lightning_db_batch_new();
    CHECK(batch != NULL);
    size_t len = 99;
    OK(lightning_db_batch_len(batch, &len));
    CHECK(len == 0);
    OK(lightning_db_batch_put(batch, B("x"), 1, B("1"), 1));
    OK(lightning_db_batch_put(batch, B("y"), 1, B("2"), 1));
    OK(lightning_db_batch_put(batch, B("x"), 1, B("3"), 1)); /* later wins */
    OK(lightning_db_batch_delete(batch, B("gone"), 4));
    OK(lightning_db_batch_put(batch, B("e"), 1, NULL, 0));
    OK(lightning_db_batch_len(batch, &len));
    CHECK(len == 5);

    LightningDBStats before, after;
    OK(lightning_db_stats(db, &before));
    OK(lightning_db_write_batch(db, batch));
    OK(lightning_db_stats(db, &after));
    CHECK(after.commits == before.commits + 1); /* one atomic commit */
    CHECK_VALUE(db, "x", "3");
    CHECK_VALUE(db, "y", "2");
    CHECK_VALUE(db, "gone", "<absent>");
    CHECK_VALUE(db, "e", "");

    /* A batch holding a bad key applies nothing. */
    OK(lightning_db_batch_clear(batch));
    OK(lightning_db_batch_len(batch, &len));
    CHECK(len == 0);
    OK(lightning_db_batch_put(batch, B("z"), 1, B("no"), 2));
    OK(lightning_db_batch_put(batch, B("z"), 0, B("empty key"), 9));
    EXPECT(lightning_db_write_batch(db, batch), InvalidArgument);
    CHECK_VALUE(db, "z", "<absent>");
    /* An empty batch is fine. */
    OK(lightning_db_batch_clear(batch));
    OK(lightning_db_write_batch(db, batch));

    /* A batch of 100 KiB: the engine syncs it on a thread of its own, beside its
       index updates; under valgrind that thread must leave nothing behind. */
    static char big_value[2048];
    memset(big_value, 'b', sizeof big_value);
    char key[16];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "big-%02d", i);
        OK(lightning_db_batch_put(batch, B(key), strlen(key), B(big_value), sizeof big_value));
    }
    OK(lightning_db_stats(db, &before));
    OK(lightning_db_write_batch(db, batch));
    OK(lightning_db_stats(db, &after));
    CHECK(after.commits == before.commits + 1);
    CHECK(after.fsyncs >= before.fsyncs + 1); /* SyncFull: durable on return */
    LightningDBResult r;
    OK(lightning_db_get(db, B("big-49"), 6, &r));
    CHECK(r.len == sizeof big_value && r.data && memcmp(r.data, big_value, r.len) == 0);
    lightning_db_free_result(r.data, r.len);
    OK(lightning_db_batch_clear(batch));

    lightning_db_batch_free(batch);
    /* A freed batch is detected. */
    EXPECT(lightning_db_batch_put(batch, B("k"), 1, B("v"), 1), InvalidArgument);
    EXPECT(lightning_db_write_batch(db, batch), InvalidArgument);
    lightning_db_batch_free(batch);
    EXPECT(lightning_db_last_error_code(), InvalidArgument);
    lightning_db_free(db);
}

/* Reads every entry of `it` into "k=v,k=v," form (keys and values as text). */
static char *drain(LightningDBIterator *it) {
    size_t cap = 4096, used = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    for (;;) {
        LightningDBResult k, v;
        bool has;
        LightningDBError err = lightning_db_iter_next(it, &k, &v, &has);
        if (err != Success) {
            used += (size_t)snprintf(out + used, cap - used, "<error %d>", (int)err);
            break;
        }
        if (!has) {
            if (k.data || v.data)
                used += (size_t)snprintf(out + used, cap - used, "<end not NULL>");
            break;
        }
        if (used + k.len + v.len + 3 >= cap) {
            cap = (cap + k.len + v.len) * 2;
            out = realloc(out, cap);
        }
        memcpy(out + used, k.data, k.len);
        used += k.len;
        out[used++] = '=';
        memcpy(out + used, v.data, v.len);
        used += v.len;
        out[used++] = ',';
        out[used] = '\0';
        lightning_db_free_result(k.data, k.len);
        lightning_db_free_result(v.data, v.len);
    }
    return out;
}

#define CHECK_SCAN(it, want)                                                         \
    do {                                                                             \
        char *got_ = drain(it);                                                      \
        if (strcmp(got_, want) == 0)                                                 \
            passed++;                                                                \
        else                                                                         \
            fail_at(__FILE__, __LINE__, "scan gave \"%s\", expected \"%s\"", got_, want); \
        free(got_);                                                                  \
        lightning_db_iter_free(it);                                                  \
    } while (0)

static void test_iterators(void) {
    LightningDB *db = create_db("iter", SyncOff);
    const char *keys[] = {"a", "b1", "b2", "b3", "c", "d"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        OK(put_s(db, keys[i], keys[i]));
    LightningDBIterator *it;

    OK(lightning_db_iter_range(db, NULL, 0, NULL, 0, false, &it));
    CHECK_SCAN(it, "a=a,b1=b1,b2=b2,b3=b3,c=c,d=d,");
    OK(lightning_db_iter_range(db, NULL, 0, NULL, 0, true, &it));
    CHECK_SCAN(it, "d=d,c=c,b3=b3,b2=b2,b1=b1,a=a,");
    /* [start, end): start included, end excluded. */
    OK(lightning_db_iter_range(db, B("b1"), 2, B("c"), 1, false, &it));
    CHECK_SCAN(it, "b1=b1,b2=b2,b3=b3,");
    OK(lightning_db_iter_range(db, B("b1"), 2, B("c"), 1, true, &it));
    CHECK_SCAN(it, "b3=b3,b2=b2,b1=b1,");
    OK(lightning_db_iter_range(db, B("b2"), 2, NULL, 0, false, &it));
    CHECK_SCAN(it, "b2=b2,b3=b3,c=c,d=d,");
    OK(lightning_db_iter_range(db, NULL, 0, B("b2"), 2, true, &it));
    CHECK_SCAN(it, "b1=b1,a=a,");
    /* An empty or inverted range yields nothing. */
    OK(lightning_db_iter_range(db, B("c"), 1, B("b"), 1, false, &it));
    CHECK_SCAN(it, "");
    OK(lightning_db_iter_prefix(db, B("b"), 1, false, &it));
    CHECK_SCAN(it, "b1=b1,b2=b2,b3=b3,");
    OK(lightning_db_iter_prefix(db, B("b"), 1, true, &it));
    CHECK_SCAN(it, "b3=b3,b2=b2,b1=b1,");
    OK(lightning_db_iter_prefix(db, B("zz"), 2, false, &it));
    CHECK_SCAN(it, "");
    OK(lightning_db_iter_prefix(db, NULL, 0, false, &it));
    CHECK_SCAN(it, "a=a,b1=b1,b2=b2,b3=b3,c=c,d=d,");

    /* The end is sticky, and NULL/false is written at the end. */
    OK(lightning_db_iter_prefix(db, B("a"), 1, false, &it));
    LightningDBResult k, v;
    bool has = false;
    OK(lightning_db_iter_next(it, &k, &v, &has));
    CHECK(has && result_is(k, "a") && result_is(v, "a"));
    lightning_db_free_result(k.data, k.len);
    lightning_db_free_result(v.data, v.len);
    for (int i = 0; i < 3; i++) {
        has = true;
        OK(lightning_db_iter_next(it, &k, &v, &has));
        CHECK(!has && k.data == NULL && k.len == 0 && v.data == NULL && v.len == 0);
    }
    lightning_db_iter_free(it);

    /* A scan reads a snapshot: later writes do not disturb it. */
    OK(lightning_db_iter_prefix(db, B("b"), 1, false, &it));
    OK(put_s(db, "b0", "new"));
    OK(lightning_db_delete(db, B("b2"), 2));
    CHECK_SCAN(it, "b1=b1,b2=b2,b3=b3,");
    OK(lightning_db_iter_prefix(db, B("b"), 1, false, &it));
    CHECK_SCAN(it, "b0=new,b1=b1,b3=b3,");

    /* More entries than one internal page (256), both directions. */
    for (int i = 0; i < 600; i++) {
        char key[16];
        int kl = snprintf(key, sizeof key, "p%04d", i);
        OK(lightning_db_put(db, B(key), (size_t)kl, B("v"), 1));
    }
    for (int reverse = 0; reverse < 2; reverse++) {
        OK(lightning_db_iter_prefix(db, B("p"), 1, reverse, &it));
        int count = 0, ordered = 1;
        char prev[16] = "";
        for (;;) {
            OK(lightning_db_iter_next(it, &k, &v, &has));
            if (!has)
                break;
            char cur[16];
            snprintf(cur, sizeof cur, "%.*s", (int)k.len, k.data);
            if (count > 0 && (reverse ? strcmp(prev, cur) <= 0 : strcmp(prev, cur) >= 0))
                ordered = 0;
            strcpy(prev, cur);
            count++;
            lightning_db_free_result(k.data, k.len);
            lightning_db_free_result(v.data, v.len);
        }
        CHECK(count == 600);
        CHECK(ordered);
        lightning_db_iter_free(it);
    }

    /* A transaction's view: its snapshot with its own writes. */
    uint64_t tx;
    OK(lightning_db_begin_transaction(db, &tx));
    OK(lightning_db_put_tx(db, tx, B("b2"), 2, B("tx"), 2));
    OK(lightning_db_delete_tx(db, tx, B("b1"), 2));
    OK(put_s(db, "b4", "after begin"));
    OK(lightning_db_iter_prefix_tx(db, tx, B("b"), 1, false, &it));
    CHECK_SCAN(it, "b0=new,b2=tx,b3=b3,");
    OK(lightning_db_iter_prefix_tx(db, tx, B("b"), 1, true, &it));
    CHECK_SCAN(it, "b3=b3,b2=tx,b0=new,");
    OK(lightning_db_iter_range_tx(db, tx, B("b1"), 2, B("b3"), 2, false, &it));
    CHECK_SCAN(it, "b2=tx,");
    OK(lightning_db_iter_range_tx(db, tx, NULL, 0, B("b1"), 2, true, &it));
    LightningDBIterator *outlives;
    OK(lightning_db_iter_prefix_tx(db, tx, B("b3"), 2, false, &outlives));
    OK(lightning_db_abort_transaction(db, tx));
    CHECK_SCAN(it, "b0=new,a=a,");
    /* An iterator stays usable after its transaction ends. */
    CHECK_SCAN(outlives, "b3=b3,");

    /* After the database is closed its iterators fail, but must still be freed. */
    OK(lightning_db_iter_prefix(db, B("p"), 1, false, &it));
    lightning_db_free(db);
    EXPECT(lightning_db_iter_next(it, &k, &v, &has), InvalidArgument);
    CHECK(!has);
    lightning_db_iter_free(it);
    /* A freed iterator is detected. */
    EXPECT(lightning_db_iter_next(it, &k, &v, &has), InvalidArgument);
    lightning_db_iter_free(it);
    EXPECT(lightning_db_last_error_code(), InvalidArgument);
}

/* Found by random_c_api: once the database is closed, every iter_next fails with
 * InvalidArgument, also for an iterator that has nothing left to read and for a
 * transaction's iterator whose remaining entries are the transaction's own writes
 * (held by the iterator, not read from the database). */
static void test_iterators_after_close(void) {
    LightningDB *db = create_db("iter-closed", SyncOff);
    OK(put_s(db, "a", "1"));
    LightningDBIterator *empty, *ended, *own_writes;
    OK(lightning_db_iter_prefix(db, B("zz"), 2, false, &empty));
    OK(lightning_db_iter_prefix(db, B("a"), 1, false, &ended));
    LightningDBResult k, v;
    bool has;
    OK(lightning_db_iter_next(ended, &k, &v, &has));
    CHECK(has && result_is(k, "a") && result_is(v, "1"));
    lightning_db_free_result(k.data, k.len);
    lightning_db_free_result(v.data, v.len);
    uint64_t tx;
    OK(lightning_db_begin_transaction(db, &tx));
    OK(lightning_db_put_tx(db, tx, B("t1"), 2, B("own"), 3));
    OK(lightning_db_put_tx(db, tx, B("t2"), 2, B("own"), 3));
    OK(lightning_db_iter_prefix_tx(db, tx, B("t"), 1, false, &own_writes));
    OK(lightning_db_close(db));

    LightningDBIterator *its[] = {empty, ended, own_writes};
    for (size_t i = 0; i < sizeof its / sizeof its[0]; i++) {
        for (int round = 0; round < 3; round++) {
            has = true;
            LightningDBError err = lightning_db_iter_next(its[i], &k, &v, &has);
            EXPECT(err, InvalidArgument);
            CHECK(!has && k.data == NULL && k.len == 0 && v.data == NULL && v.len == 0);
            lightning_db_free_result(k.data, k.len);
            lightning_db_free_result(v.data, v.len);
        }
        CHECK(strstr(lightning_db_last_error_message(), "closed") != NULL);
        lightning_db_iter_free(its[i]);
        /* Freeing it is no misuse: the last error is left as it was. */
        EXPECT(lightning_db_last_error_code(), InvalidArgument);
    }
}

static void test_config(void) {
    LightningDBConfig *config = lightning_db_config_new();
    CHECK(config != NULL);
    OK(lightning_db_config_set_page_size(config, 512));
    OK(lightning_db_config_set_page_size(config, 65536));
    OK(lightning_db_config_set_page_size(config, 8192));
    OK(lightning_db_config_set_cache_size(config, 0));
    OK(lightning_db_config_set_sync_mode(config, SyncFull));
    OK(lightning_db_config_set_sync_mode(config, SyncNormal));
    OK(lightning_db_config_set_sync_mode(config, SyncOff));
    OK(lightning_db_config_set_segment_size(config, 4096));
    OK(lightning_db_config_set_auto_compact(config, false));
    OK(lightning_db_config_set_read_only(config, false));
    /* A refused value leaves the config as it was (still valid). */
    EXPECT(lightning_db_config_set_page_size(config, 3), InvalidArgument);
    LightningDB *db = lightning_db_create(db_path("config"), config);
    CHECK(db != NULL);
    /* The config was copied: freeing it does not affect the database. */
    lightning_db_config_free(config);

    /* cache 0: every read the cache would serve (records of 1 KiB and more) is
     * a miss; 4096-byte segments: writes roll over. */
    char value[1500];
    memset(value, 'v', sizeof value);
    for (int i = 0; i < 20; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "k%02d", i);
        OK(lightning_db_put(db, B(k), (size_t)kl, B(value), sizeof value));
    }
    CHECK_VALUE(db, "zzz", "<absent>");
    LightningDBResult r;
    OK(lightning_db_get(db, B("k05"), 3, &r));
    lightning_db_free_result(r.data, r.len);
    OK(lightning_db_get(db, B("k05"), 3, &r));
    lightning_db_free_result(r.data, r.len);
    LightningDBStats s;
    OK(lightning_db_stats(db, &s));
    CHECK(s.cache_hits == 0);
    CHECK(s.cache_misses == 2);
    CHECK(s.segments >= 5);
    CHECK(s.live_keys == 20);
    /* SyncOff: commits make no fsync of their own. */
    CHECK(s.fsyncs < s.segments + 2);
    lightning_db_free(db);

    /* With the default cache, a value of 1 KiB or more read often is soon served
     * from it (the engine may admit a value only after some misses: how many is
     * its policy). A small one is read from the map past the cache, and neither
     * hits nor misses it. */
    db = lightning_db_create(db_path("config-cache"), NULL);
    OK(lightning_db_put(db, B("k"), 1, B(value), sizeof value));
    OK(put_s(db, "small", "v"));
    for (int i = 0; i < 64; i++) {
        OK(lightning_db_get(db, B("k"), 1, &r));
        CHECK(r.len == sizeof value);
        lightning_db_free_result(r.data, r.len);
        CHECK_VALUE(db, "small", "v");
    }
    OK(lightning_db_stats(db, &s));
    CHECK(s.cache_hits >= 32);
    CHECK(s.cache_hits + s.cache_misses == 64);
    /* SyncFull: every commit is synced before it returns. */
    CHECK(s.fsyncs >= s.commits);
    lightning_db_free(db);

    /* A freed config is detected by the setters and by create. */
    EXPECT(lightning_db_config_set_cache_size(config, 1), InvalidArgument);
    CHECK(lightning_db_create(db_path("config-freed"), config) == NULL);
    EXPECT(lightning_db_last_error_code(), InvalidArgument);
    lightning_db_config_free(config);
    EXPECT(lightning_db_last_error_code(), InvalidArgument);
}

static void test_read_only_and_refresh(void) {
    const char *path = db_path("readonly");
    LightningDB *writer = create_db("readonly", SyncFull);
    OK(put_s(writer, "first", "1"));
    LightningDBConfig *config = lightning_db_config_new();
    OK(lightning_db_config_set_read_only(config, true));
    LightningDB *reader = lightning_db_open(path, config);
    CHECK(reader != NULL);
    lightning_db_config_free(config);
    CHECK_VALUE(reader, "first", "1");
    EXPECT(put_s(reader, "x", "y"), InvalidArgument);
    EXPECT(lightning_db_delete(reader, B("first"), 5), InvalidArgument);
    bool found = true;
    EXPECT(lightning_db_delete_found(reader, B("first"), 5, &found), InvalidArgument);
    CHECK(!found);
    CHECK_VALUE(reader, "first", "1");
    EXPECT(lightning_db_checkpoint(reader), InvalidArgument);
    EXPECT(lightning_db_compact(reader, NULL), InvalidArgument);
    uint64_t tx;
    OK(lightning_db_begin_transaction(reader, &tx));
    EXPECT(lightning_db_put_tx(reader, tx, B("x"), 1, B("y"), 1), InvalidArgument);
    OK(lightning_db_abort_transaction(reader, tx));

    OK(put_s(writer, "second", "2"));
    CHECK_VALUE(reader, "second", "<absent>");
    OK(lightning_db_refresh(reader));
    CHECK_VALUE(reader, "second", "2");
    OK(lightning_db_refresh(writer)); /* a no-op for the writer */
    lightning_db_free(reader);
    lightning_db_free(writer);
}

static void test_maintenance(void) {
    LightningDBConfig *config = lightning_db_config_new();
    OK(lightning_db_config_set_segment_size(config, 8192));
    OK(lightning_db_config_set_auto_compact(config, false));
    OK(lightning_db_config_set_sync_mode(config, SyncOff));
    LightningDB *db = lightning_db_create(db_path("maint"), config);
    lightning_db_config_free(config);
    char value[500];
    memset(value, 'x', sizeof value);
    /* Every key written 5 times: most of the data is dead. */
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 40; i++) {
            char k[16];
            int kl = snprintf(k, sizeof k, "key%02d", i);
            value[0] = (char)('0' + round);
            OK(lightning_db_put(db, B(k), (size_t)kl, B(value), sizeof value));
        }
    }
    OK(lightning_db_checkpoint(db));
    LightningDBStats before, after;
    OK(lightning_db_stats(db, &before));
    CHECK(before.checkpoints == 1);
    CHECK(before.live_keys == 40);
    CHECK(before.last_seq >= 200);
    CHECK(before.total_bytes > before.live_bytes);

    LightningDBCompactionReport report;
    memset(&report, 0, sizeof report);
    OK(lightning_db_compact(db, &report));
    CHECK(report.segments_before > report.segments_after);
    CHECK(report.bytes_after < report.bytes_before);
    /* Segments holding only live records (the last round's) are left as they are. */
    CHECK(report.records_copied > 0 && report.records_copied <= 40);
    /* Nothing dead is left: a second compaction has nothing to do. */
    LightningDBCompactionReport again;
    memset(&again, 0xff, sizeof again);
    OK(lightning_db_compact(db, &again));
    CHECK(again.segments_before == 0 && again.records_copied == 0);
    OK(lightning_db_compact(db, NULL));
    OK(lightning_db_stats(db, &after));
    CHECK(after.compactions == 1);
    CHECK(after.total_bytes < before.total_bytes);
    CHECK(after.live_keys == 40);
    LightningDBResult r;
    OK(lightning_db_get(db, B("key17"), 5, &r));
    CHECK(r.len == sizeof value && r.data[0] == '4');
    lightning_db_free_result(r.data, r.len);

    LightningDBVerifyReport vr;
    memset(&vr, 0xff, sizeof vr);
    OK(lightning_db_verify(db, &vr));
    CHECK(vr.corruptions == 0 && vr.unreadable_keys == 0);
    CHECK(vr.live_keys == 40);
    CHECK(vr.records >= 40 && vr.segments >= 1 && vr.bytes > 0);
    OK(lightning_db_verify(db, NULL));

    /* A backup opens as a database with the same contents. */
    const char *copy = db_path("maint-backup");
    OK(lightning_db_backup(db, copy));
    OK(put_s(db, "after-backup", "not in the copy"));
    lightning_db_free(db);
    LightningDB *restored = lightning_db_open(copy, NULL);
    CHECK(restored != NULL);
    OK(lightning_db_stats(restored, &after));
    CHECK(after.live_keys == 40);
    CHECK_VALUE(restored, "after-backup", "<absent>");
    OK(lightning_db_verify(restored, NULL));
    lightning_db_free(restored);
}

static void test_stale_handles(void) {
    LightningDB *db = create_db("stale", SyncOff);
    OK(put_s(db, "k", "v"));
    lightning_db_free(db);
    /* Every use of the freed handle is an error, never a crash. */
    EXPECT(put_s(db, "k", "v"), InvalidArgument);
    CHECK(strstr(lightning_db_last_error_message(), "not a live LightningDB") != NULL);
    LightningDBResult r;
    EXPECT(lightning_db_get(db, B("k"), 1, &r), InvalidArgument);
    CHECK(r.data == NULL);
    uint64_t tx;
    EXPECT(lightning_db_begin_transaction(db, &tx), InvalidArgument);
    EXPECT(lightning_db_checkpoint(db), InvalidArgument);
    LightningDBStats s;
    EXPECT(lightning_db_stats(db, &s), InvalidArgument);
    EXPECT(lightning_db_close(db), InvalidArgument);
    /* A double free is detected and ignored, and harms no other handle. */
    LightningDB *other = create_db("stale-other", SyncOff);
    OK(put_s(other, "x", "y"));
    lightning_db_free(db);
    EXPECT(lightning_db_last_error_code(), InvalidArgument);
    CHECK_VALUE(other, "x", "y");

    /* A new handle never reuses the old value. */
    LightningDB *again = lightning_db_open(db_path("stale"), NULL);
    CHECK(again != NULL && again != db);
    CHECK_VALUE(again, "k", "v");
    EXPECT(lightning_db_get(db, B("k"), 1, &r), InvalidArgument);
    /* Close, then anything: detected. */
    OK(lightning_db_close(again));
    EXPECT(lightning_db_close(again), InvalidArgument);
    lightning_db_free(again);
    EXPECT(lightning_db_last_error_code(), InvalidArgument);

    /* Pointers that were never handles: invented values, a stack address, a
     * handle of another type. None is dereferenced. */
    int on_stack = 0;
    LightningDB *invented[] = {(LightningDB *)(uintptr_t)0xdeadbee0u,
                               (LightningDB *)(uintptr_t)1, (LightningDB *)&on_stack};
    for (size_t i = 0; i < sizeof invented / sizeof invented[0]; i++) {
        EXPECT(put_s(invented[i], "k", "v"), InvalidArgument);
        EXPECT(lightning_db_get(invented[i], B("k"), 1, &r), InvalidArgument);
        lightning_db_free(invented[i]);
        EXPECT(lightning_db_last_error_code(), InvalidArgument);
    }
    LightningDBConfig *config = lightning_db_config_new();
    EXPECT(put_s((LightningDB *)config, "k", "v"), InvalidArgument);
    LightningDBWriteBatch *batch = lightning_db_batch_new();
    EXPECT(lightning_db_config_set_cache_size((LightningDBConfig *)batch, 1), InvalidArgument);
    lightning_db_iter_free((LightningDBIterator *)batch);
    EXPECT(lightning_db_last_error_code(), InvalidArgument);
    EXPECT(lightning_db_batch_clear(batch), Success); /* still alive */
    lightning_db_batch_free(batch);
    lightning_db_config_free(config);
    lightning_db_config_free(config);
    EXPECT(lightning_db_last_error_code(), InvalidArgument);

    /* After all that misuse the other handle still works. */
    CHECK_VALUE(other, "x", "y");
    OK(lightning_db_close(other));
}

static void test_last_error_message(void) {
    LightningDB *db = create_db("lasterr", SyncOff);
    EXPECT(lightning_db_put(db, B("k"), 0, B("v"), 1), InvalidArgument);
    const char *msg = lightning_db_last_error_message();
    CHECK(strstr(msg, "lightning_db_put") != NULL);
    CHECK(strstr(msg, "empty") != NULL);
    /* Reading the code, the message or a code's name changes nothing. */
    EXPECT(lightning_db_last_error_code(), InvalidArgument);
    lightning_db_error_string(Success);
    lightning_db_version();
    CHECK(strstr(lightning_db_last_error_message(), "lightning_db_put") != NULL);
    /* A success clears it. */
    OK(put_s(db, "k", "v"));
    CHECK(strcmp(lightning_db_last_error_message(), "") == 0);
    EXPECT(lightning_db_last_error_code(), Success);
    lightning_db_free(db);
}

/* ---- threads ---- */

struct worker {
    LightningDB *db;
    int id;
    int errors;
};

enum { THREADS = 8, OPS = 60 };

static void *worker_main(void *arg) {
    struct worker *w = arg;
    char k[32], v[32];
    for (int i = 0; i < OPS; i++) {
        int kl = snprintf(k, sizeof k, "t%d-%03d", w->id, i);
        int vl = snprintf(v, sizeof v, "v%d-%d", w->id, i);
        if (lightning_db_put(w->db, B(k), (size_t)kl, B(v), (size_t)vl) != Success)
            w->errors++;
        LightningDBResult r;
        if (lightning_db_get(w->db, B(k), (size_t)kl, &r) != Success || r.len != (size_t)vl ||
            memcmp(r.data, v, (size_t)vl) != 0)
            w->errors++;
        lightning_db_free_result(r.data, r.len);
        /* Each thread's own failures stay in its own last-error slot. */
        if (lightning_db_put(w->db, B(k), 0, B(v), 1) != InvalidArgument ||
            strstr(lightning_db_last_error_message(), "lightning_db_put") == NULL)
            w->errors++;
    }
    /* A transaction per thread over its own keys, and a shared counter key
     * updated with retries on conflict. */
    for (int attempt = 0; attempt < 1000; attempt++) {
        uint64_t tx;
        if (lightning_db_begin_transaction(w->db, &tx) != Success) {
            w->errors++;
            break;
        }
        LightningDBResult r;
        long n = 0;
        if (lightning_db_get_tx(w->db, tx, B("counter"), 7, &r) != Success)
            w->errors++;
        if (r.data) {
            char buf[32];
            snprintf(buf, sizeof buf, "%.*s", (int)r.len, r.data);
            n = strtol(buf, NULL, 10);
        }
        lightning_db_free_result(r.data, r.len);
        int vl = snprintf(v, sizeof v, "%ld", n + 1);
        if (lightning_db_put_tx(w->db, tx, B("counter"), 7, B(v), (size_t)vl) != Success)
            w->errors++;
        LightningDBError err = lightning_db_commit_transaction(w->db, tx);
        if (err == Success)
            break;
        if (err != TransactionConflict) {
            w->errors++;
            break;
        }
    }
    /* A scan of its own keys. */
    int kl = snprintf(k, sizeof k, "t%d-", w->id);
    LightningDBIterator *it;
    if (lightning_db_iter_prefix(w->db, B(k), (size_t)kl, false, &it) != Success) {
        w->errors++;
        return NULL;
    }
    int count = 0;
    for (;;) {
        LightningDBResult key, value;
        bool has;
        if (lightning_db_iter_next(it, &key, &value, &has) != Success) {
            w->errors++;
            break;
        }
        if (!has)
            break;
        count++;
        lightning_db_free_result(key.data, key.len);
        lightning_db_free_result(value.data, value.len);
    }
    lightning_db_iter_free(it);
    if (count != OPS)
        w->errors++;
    return NULL;
}

static void test_one_handle_many_threads(void) {
    LightningDB *db = create_db("threads", SyncFull);
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){db, i, 0};
        CHECK(pthread_create(&threads[i], NULL, worker_main, &workers[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(workers[i].errors == 0);
    }
    LightningDBStats s;
    OK(lightning_db_stats(db, &s));
    CHECK(s.live_keys == THREADS * OPS + 1);
    char want[16];
    snprintf(want, sizeof want, "%d", THREADS);
    CHECK_VALUE(db, "counter", want); /* no lost update */
    lightning_db_free(db);
}

struct racer {
    LightningDB *db;
    int unexpected;
    int after_free;
};

static void *racer_main(void *arg) {
    struct racer *r = arg;
    /* Runs until it has seen the handle gone for a while; once it is freed every
     * call fails, so this ends. The cap only guards against a broken library. */
    for (long i = 0; i < 100000000L; i++) {
        LightningDBResult res;
        LightningDBError err = lightning_db_get(r->db, B("k"), 1, &res);
        lightning_db_free_result(res.data, res.len);
        if (err == InvalidArgument)
            r->after_free++;
        else if (err != Success)
            r->unexpected++;
        if (r->after_free > 50)
            break;
    }
    return NULL;
}

/* Freeing a handle while other threads are inside calls on it: they get
 * InvalidArgument afterwards, nothing crashes or leaks (the sanitizers watch). */
static void test_free_while_in_use(void) {
    LightningDB *db = create_db("race", SyncOff);
    OK(put_s(db, "k", "v"));
    pthread_t threads[4];
    struct racer racers[4];
    for (int i = 0; i < 4; i++) {
        racers[i] = (struct racer){db, 0, 0};
        pthread_create(&threads[i], NULL, racer_main, &racers[i]);
    }
    usleep(20000);
    lightning_db_free(db);
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK(racers[i].unexpected == 0);
        CHECK(racers[i].after_free > 0);
    }
    /* The lock was released by the free: the database opens again at once. */
    db = lightning_db_open(db_path("race"), NULL);
    CHECK(db != NULL);
    CHECK_VALUE(db, "k", "v");
    lightning_db_free(db);
}

/* ---- processes ---- */

static void test_second_process_is_locked_out(void) {
    const char *path = db_path("locked");
    LightningDB *db = create_db("locked", SyncFull);
    OK(put_s(db, "shared", "by the parent"));
    /* The same process, a second handle: DatabaseLocked. */
    CHECK(lightning_db_create(path, NULL) == NULL);
    EXPECT(lightning_db_last_error_code(), DatabaseLocked);
    CHECK(strstr(lightning_db_last_error_message(), "open for writing") != NULL);
    CHECK(lightning_db_open(path, NULL) == NULL);
    EXPECT(lightning_db_last_error_code(), DatabaseLocked);
    /* Another process, for writing: DatabaseLocked (the child checks the code). */
    CHECK(run_child("create", path, NULL, NULL) == 0);
    /* Another process, read-only: allowed, and it sees the parent's commits. */
    CHECK(run_child("read-only", path, NULL, NULL) == 0);
    lightning_db_free(db);
    /* Once the writer is gone, another process may write. */
    CHECK(run_child("log", path, NULL, NULL) == 0);
}

static int file_contains(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static void test_rust_log_prints_the_engine_log(void) {
    const char *path = db_path("logging");
    const char *log = db_path("logging.stderr");
    CHECK(run_child("log", path, "lightning_db=debug", log) == 0);
    CHECK(file_contains(log, "lightning_db"));
    CHECK(file_contains(log, "opened"));
    /* Without RUST_LOG the library prints nothing. */
    CHECK(run_child("log", path, NULL, log) == 0);
    struct stat st;
    CHECK(stat(log, &st) == 0 && st.st_size == 0);
}

/* ------------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

struct test {
    const char *name;
    void (*run)(void);
};

/* The lending calls: a value copied into the caller's buffer, entries lent by
 * the iterator or packed into pages, a batch packed into one buffer. */
static void test_lending_calls(void) {
    LightningDB *db = create_db("lending", SyncOff);
    /* A packed batch: three puts (one with an empty value) and a delete. */
    uint8_t ops[128], *p = ops;
    const char *keys[] = {"a", "b", "c", "b"};
    const char *vals[] = {"alpha", "", "gamma", NULL};
    for (int i = 0; i < 4; i++) {
        uint32_t kl = (uint32_t)strlen(keys[i]), vl = vals[i] ? (uint32_t)strlen(vals[i]) : 0;
        *p = vals[i] ? LIGHTNING_DB_PACKED_PUT : LIGHTNING_DB_PACKED_DELETE;
        memcpy(p + 1, &kl, 4);
        memcpy(p + 5, &vl, 4);
        memcpy(p + 9, keys[i], kl);
        if (vl)
            memcpy(p + 9 + kl, vals[i], vl);
        p += 9 + kl + vl;
    }
    size_t len = (size_t)(p - ops);
    /* Malformed: one operation too many, a byte too many, an unknown operation. */
    EXPECT(lightning_db_write_packed(db, ops, len, 5), InvalidArgument);
    CHECK(strstr(lightning_db_last_error_message(), "operation 4") != NULL);
    EXPECT(lightning_db_write_packed(db, ops, len + 1, 4), InvalidArgument);
    ops[0] = 7;
    EXPECT(lightning_db_write_packed(db, ops, len, 4), InvalidArgument);
    CHECK(strstr(lightning_db_last_error_message(), "unknown operation 7") != NULL);
    EXPECT(lightning_db_write_packed(db, NULL, 3, 0), NullPointer);
    CHECK_VALUE(db, "a", "<absent>"); /* nothing of the refused batches was written */
    ops[0] = LIGHTNING_DB_PACKED_PUT;
    OK(lightning_db_write_packed(db, ops, len, 4));
    OK(lightning_db_write_packed(db, NULL, 0, 0));
    CHECK_VALUE(db, "a", "alpha");
    CHECK_VALUE(db, "b", "<absent>");
    CHECK_VALUE(db, "c", "gamma");
    OK(put_s(db, "e", ""));

    /* get_into: fits, too small (nothing copied, length told), absent, empty. */
    uint8_t buf[8];
    size_t vlen = 0;
    memset(buf, '#', sizeof buf);
    OK(lightning_db_get_into(db, B("a"), 1, buf, sizeof buf, &vlen));
    CHECK(vlen == 5 && memcmp(buf, "alpha", 5) == 0);
    memset(buf, '#', sizeof buf);
    OK(lightning_db_get_into(db, B("a"), 1, buf, 3, &vlen));
    CHECK(vlen == 5 && buf[0] == '#');
    OK(lightning_db_get_into(db, B("a"), 1, NULL, 0, &vlen));
    CHECK(vlen == 5);
    OK(lightning_db_get_into(db, B("zz"), 2, buf, sizeof buf, &vlen));
    CHECK(vlen == LIGHTNING_DB_NO_VALUE);
    OK(lightning_db_get_into(db, B("e"), 1, NULL, 0, &vlen));
    CHECK(vlen == 0);
    EXPECT(lightning_db_get_into(db, B("a"), 1, NULL, 4, &vlen), NullPointer);
    CHECK(vlen == LIGHTNING_DB_NO_VALUE);
    EXPECT(lightning_db_get_into(db, B("a"), 1, buf, 4, NULL), NullPointer);
    EXPECT(lightning_db_get_into(db, B(""), 0, buf, 4, &vlen), InvalidArgument);

    /* get_tx_into sees the transaction's own writes. */
    uint64_t tx;
    OK(lightning_db_begin_transaction(db, &tx));
    OK(lightning_db_put_tx(db, tx, B("a"), 1, B("A!"), 2));
    OK(lightning_db_get_tx_into(db, tx, B("a"), 1, buf, sizeof buf, &vlen));
    CHECK(vlen == 2 && memcmp(buf, "A!", 2) == 0);
    OK(lightning_db_get_into(db, B("a"), 1, buf, sizeof buf, &vlen));
    CHECK(vlen == 5);
    EXPECT(lightning_db_get_tx_into(db, tx + 100, B("a"), 1, buf, sizeof buf, &vlen),
           InvalidArgument);
    CHECK(vlen == LIGHTNING_DB_NO_VALUE);
    OK(lightning_db_abort_transaction(db, tx));

    /* A borrowed step lends the entry until the next step. */
    LightningDBIterator *it;
    OK(lightning_db_iter_prefix(db, NULL, 0, false, &it));
    const uint8_t *k, *v;
    size_t kl, vl;
    bool has;
    OK(lightning_db_iter_next_borrowed(it, &k, &kl, &v, &vl, &has));
    CHECK(has && kl == 1 && k[0] == 'a' && vl == 5 && memcmp(v, "alpha", 5) == 0);
    /* Then a page too small for the next entry ("c" = "gamma": 8 + 1 + 5 bytes):
     * it is kept, and the size it needs is told. */
    uint8_t page[64];
    size_t count, used;
    OK(lightning_db_iter_next_page(it, page, 10, 4, &count, &used));
    CHECK(count == 0 && used == 14);
    EXPECT(lightning_db_iter_next_page(it, page, sizeof page, 0, &count, &used), InvalidArgument);
    OK(lightning_db_iter_next_page(it, page, sizeof page, 4, &count, &used));
    CHECK(count == 2 && used == 14 + 9);
    uint32_t l32;
    memcpy(&l32, page, 4);
    CHECK(l32 == 1 && page[8] == 'c' && memcmp(page + 9, "gamma", 5) == 0);
    memcpy(&l32, page + 18, 4);
    CHECK(l32 == 0 && page[22] == 'e');
    OK(lightning_db_iter_next_page(it, page, sizeof page, 4, &count, &used));
    CHECK(count == 0 && used == 0);
    OK(lightning_db_iter_next_borrowed(it, &k, &kl, &v, &vl, &has));
    CHECK(!has && k == NULL && kl == 0 && v == NULL && vl == 0);
    EXPECT(lightning_db_iter_next_borrowed(it, NULL, &kl, &v, &vl, &has), NullPointer);
    EXPECT(lightning_db_iter_next_page(it, page, 4, 1, NULL, &used), NullPointer);
    lightning_db_iter_free(it);

    /* Reverse, one entry per page; after close every step fails. */
    OK(lightning_db_iter_range(db, B("b"), 1, NULL, 0, true, &it));
    OK(lightning_db_iter_next_page(it, page, sizeof page, 1, &count, &used));
    CHECK(count == 1 && page[8] == 'e');
    OK(lightning_db_close(db));
    EXPECT(lightning_db_iter_next_page(it, page, sizeof page, 1, &count, &used), InvalidArgument);
    CHECK(count == 0 && used == 0);
    EXPECT(lightning_db_iter_next_borrowed(it, &k, &kl, &v, &vl, &has), InvalidArgument);
    lightning_db_iter_free(it);
    EXPECT(lightning_db_get_into(db, B("a"), 1, buf, sizeof buf, &vlen), InvalidArgument);

    /* Releasing a database's only handle closes it: it opens again at once. */
    const char *path = db_path("released");
    db = lightning_db_create(path, NULL);
    CHECK(db != NULL);
    OK(put_s(db, "kept", "yes"));
    lightning_db_release(db);
    CHECK(lightning_db_last_error_code() == Success);
    EXPECT(put_s(db, "x", "y"), InvalidArgument); /* the handle is gone */
    lightning_db_release(db);                       /* twice: detected, ignored */
    CHECK(lightning_db_last_error_code() == InvalidArgument);
    lightning_db_release(NULL);
    db = lightning_db_open(path, NULL);
    CHECK(db != NULL);
    CHECK_VALUE(db, "kept", "yes");
    lightning_db_free(db);
}

/* The entries of a page, as "key=value,..." (for the checks below). */
static const char *page_text(const uint8_t *page, size_t count, size_t used) {
    static char text[512];
    size_t at = 0, n = 0;
    text[0] = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t kl, vl;
        memcpy(&kl, page + at, 4);
        memcpy(&vl, page + at + 4, 4);
        n += (size_t)snprintf(text + n, sizeof text - n, "%s%.*s=%.*s", i ? "," : "", (int)kl,
                              (const char *)page + at + 8, (int)vl,
                              (const char *)page + at + 8 + kl);
        at += 8 + kl + vl;
    }
    if (at != used)
        snprintf(text + n, sizeof text - n, " (entries span %zu bytes, %zu used)", at, used);
    return text;
}

#define CHECK_PAGE(page, count, used, want)                                                    \
    do {                                                                                       \
        const char *got_ = page_text(page, count, used);                                       \
        if (strcmp(got_, want) != 0)                                                           \
            fail_at(__FILE__, __LINE__, "page holds \"%s\", expected \"%s\"", got_, want);     \
        else                                                                                   \
            passed++;                                                                          \
    } while (0)

static void test_range_page(void) {
    LightningDB *db = create_db("range-page", SyncOff);
    const char *keys[] = {"a", "b", "c", "d", "e"};
    const char *vals[] = {"1", "22", "333", "4444", "55555"};
    for (int i = 0; i < 5; i++)
        OK(put_s(db, keys[i], vals[i]));
    uint8_t page[256];
    size_t count, used;
    LightningDBIterator *rest = (LightningDBIterator *)page; /* a value that must be replaced */

    /* The whole range fits: no iterator is made. */
    OK(lightning_db_range_page(db, NULL, 0, NULL, 0, false, page, sizeof page, 10, &count, &used,
                               &rest));
    CHECK(count == 5 && rest == NULL);
    CHECK_PAGE(page, count, used, "a=1,b=22,c=333,d=4444,e=55555");

    /* max_entries ends the page; without `rest` nothing is kept. */
    OK(lightning_db_range_page(db, NULL, 0, NULL, 0, false, page, sizeof page, 2, &count, &used,
                               NULL));
    CHECK(count == 2 && used == 10 + 11);
    CHECK_PAGE(page, count, used, "a=1,b=22");

    /* With `rest`: an iterator over the entries after the page, read from the
     * snapshot of the page, not from the commits made since. */
    OK(lightning_db_range_page(db, B("b"), 1, NULL, 0, false, page, sizeof page, 1, &count, &used,
                               &rest));
    CHECK(count == 1 && rest != NULL);
    CHECK_PAGE(page, count, used, "b=22");
    OK(put_s(db, "cc", "new"));
    OK(lightning_db_delete(db, B("d"), 1));
    OK(lightning_db_iter_next_page(rest, page, sizeof page, 10, &count, &used));
    CHECK_PAGE(page, count, used, "c=333,d=4444,e=55555");
    OK(lightning_db_iter_next_page(rest, page, sizeof page, 10, &count, &used));
    CHECK(count == 0 && used == 0);
    lightning_db_iter_free(rest);

    /* A full page that ends the range: the entry read ahead shows the end. */
    OK(lightning_db_range_page(db, B("c"), 1, NULL, 0, false, page, sizeof page, 3, &count, &used,
                               &rest));
    CHECK(count == 3 && rest == NULL);
    CHECK_PAGE(page, count, used, "c=333,cc=new,e=55555");

    /* Reverse, within [b, e). */
    OK(lightning_db_range_page(db, B("b"), 1, B("e"), 1, true, page, sizeof page, 10, &count,
                               &used, &rest));
    CHECK(rest == NULL);
    CHECK_PAGE(page, count, used, "cc=new,c=333,b=22");

    /* In a transaction: its own writes are seen, and the rest outlives it. */
    uint64_t tx;
    OK(lightning_db_begin_transaction(db, &tx));
    OK(lightning_db_put_tx(db, tx, B("bb"), 2, B("tx"), 2));
    OK(lightning_db_delete_tx(db, tx, B("c"), 1));
    OK(lightning_db_range_page_tx(db, tx, B("b"), 1, NULL, 0, false, page, sizeof page, 2, &count,
                                  &used, &rest));
    CHECK(count == 2 && rest != NULL);
    CHECK_PAGE(page, count, used, "b=22,bb=tx");
    OK(lightning_db_abort_transaction(db, tx));
    OK(lightning_db_iter_next_page(rest, page, sizeof page, 10, &count, &used));
    CHECK_PAGE(page, count, used, "cc=new,e=55555");
    lightning_db_iter_free(rest);
    rest = (LightningDBIterator *)page;
    EXPECT(lightning_db_range_page_tx(db, tx, NULL, 0, NULL, 0, false, page, sizeof page, 2,
                                      &count, &used, &rest),
           InvalidArgument); /* the transaction has ended */
    CHECK(count == 0 && used == 0 && rest == NULL);

    /* An entry that does not fit after others is kept for the iterator. */
    OK(lightning_db_range_page(db, NULL, 0, NULL, 0, false, page, 10 + 11 + 5, 10, &count, &used,
                               &rest));
    CHECK(count == 2 && used == 21 && rest != NULL);
    const uint8_t *k, *v;
    size_t kl, vl;
    bool has;
    OK(lightning_db_iter_next_borrowed(rest, &k, &kl, &v, &vl, &has));
    CHECK(has && kl == 1 && k[0] == 'c' && vl == 3 && memcmp(v, "333", 3) == 0);
    lightning_db_iter_free(rest);

    /* A first entry larger than the page: its size is told, and it is kept. */
    OK(lightning_db_range_page(db, B("e"), 1, NULL, 0, false, page, 10, 10, &count, &used, NULL));
    CHECK(count == 0 && used == 14);
    OK(lightning_db_range_page(db, B("e"), 1, NULL, 0, false, NULL, 0, 10, &count, &used, &rest));
    CHECK(count == 0 && used == 14 && rest != NULL);
    OK(lightning_db_iter_next_page(rest, page, 14, 10, &count, &used));
    CHECK_PAGE(page, count, used, "e=55555");
    OK(lightning_db_iter_next_page(rest, page, sizeof page, 10, &count, &used));
    CHECK(count == 0 && used == 0);
    lightning_db_iter_free(rest);

    /* An empty range. */
    rest = (LightningDBIterator *)page;
    OK(lightning_db_range_page(db, B("x"), 1, NULL, 0, false, page, sizeof page, 10, &count,
                               &used, &rest));
    CHECK(count == 0 && used == 0 && rest == NULL);

    /* Refused arguments deliver nothing and make no iterator. */
    rest = (LightningDBIterator *)page;
    EXPECT(lightning_db_range_page(db, NULL, 0, NULL, 0, false, page, sizeof page, 0, &count,
                                   &used, &rest),
           InvalidArgument);
    CHECK(count == 0 && used == 0 && rest == NULL);
    EXPECT(lightning_db_range_page(db, NULL, 0, NULL, 0, false, NULL, 8, 1, &count, &used, NULL),
           NullPointer);
    EXPECT(lightning_db_range_page(db, NULL, 0, NULL, 0, false, page, 8, 1, NULL, &used, NULL),
           NullPointer);
    EXPECT(lightning_db_range_page(db, NULL, 0, NULL, 0, false, page, 8, 1, &count, NULL, NULL),
           NullPointer);
    EXPECT(lightning_db_range_page(db, NULL, 5, NULL, 0, false, page, 8, 1, &count, &used, NULL),
           NullPointer);
    EXPECT(lightning_db_range_page(NULL, NULL, 0, NULL, 0, false, page, 8, 1, &count, &used, NULL),
           NullPointer);

    /* After close: refused; an iterator made before it fails at its next step. */
    OK(lightning_db_range_page(db, NULL, 0, NULL, 0, false, page, sizeof page, 1, &count, &used,
                               &rest));
    CHECK(rest != NULL);
    OK(lightning_db_close(db));
    EXPECT(lightning_db_range_page(db, NULL, 0, NULL, 0, false, page, sizeof page, 1, &count,
                                   &used, NULL),
           InvalidArgument);
    CHECK(count == 0 && used == 0);
    EXPECT(lightning_db_iter_next_page(rest, page, sizeof page, 1, &count, &used),
           InvalidArgument);
    lightning_db_iter_free(rest);
    lightning_db_free(db);
}

static void test_range_first(void) {
    LightningDB *db = create_db("range-first", SyncOff);
    const char *keys[] = {"a", "b", "c", "d", "e"};
    const char *vals[] = {"1", "22", "333", "4444", "55555"};
    for (int i = 0; i < 5; i++)
        OK(put_s(db, keys[i], vals[i]));
    uint8_t page[256];
    size_t count, used;
    LightningDBIterator *unfit = (LightningDBIterator *)page; /* a value that must be replaced */

    /* The range goes on past max_entries: no iterator, where range_page makes one. */
    OK(lightning_db_range_first(db, B("b"), 1, NULL, 0, false, page, sizeof page, 2, &count,
                                &used, &unfit));
    CHECK(count == 2 && unfit == NULL);
    CHECK_PAGE(page, count, used, "b=22,c=333");

    /* The range ends before max_entries: no iterator either. */
    unfit = (LightningDBIterator *)page;
    OK(lightning_db_range_first(db, B("d"), 1, NULL, 0, false, page, sizeof page, 10, &count,
                                &used, &unfit));
    CHECK(count == 2 && unfit == NULL);
    CHECK_PAGE(page, count, used, "d=4444,e=55555");

    /* Reverse, within [b, e). */
    OK(lightning_db_range_first(db, B("b"), 1, B("e"), 1, true, page, sizeof page, 2, &count,
                                &used, &unfit));
    CHECK(unfit == NULL);
    CHECK_PAGE(page, count, used, "d=4444,c=333");

    /* An entry asked for that does not fit after others: the iterator starts
     * with it, and reads on from the page's snapshot. */
    OK(lightning_db_range_first(db, NULL, 0, NULL, 0, false, page, 10 + 11 + 5, 4, &count, &used,
                                &unfit));
    CHECK(count == 2 && used == 21 && unfit != NULL);
    CHECK_PAGE(page, count, used, "a=1,b=22");
    OK(lightning_db_delete(db, B("c"), 1));
    OK(lightning_db_iter_next_page(unfit, page, sizeof page, 10, &count, &used));
    CHECK_PAGE(page, count, used, "c=333,d=4444,e=55555");
    lightning_db_iter_free(unfit);

    /* A first entry larger than the page: its size is told, and it is kept. */
    OK(lightning_db_range_first(db, B("e"), 1, NULL, 0, false, page, 10, 1, &count, &used,
                                &unfit));
    CHECK(count == 0 && used == 14 && unfit != NULL);
    OK(lightning_db_iter_next_page(unfit, page, 14, 10, &count, &used));
    CHECK_PAGE(page, count, used, "e=55555");
    lightning_db_iter_free(unfit);
    OK(lightning_db_range_first(db, B("e"), 1, NULL, 0, false, page, 10, 1, &count, &used, NULL));
    CHECK(count == 0 && used == 14);

    /* In a transaction: its own writes are seen; an iterator outlives it. */
    uint64_t tx;
    OK(lightning_db_begin_transaction(db, &tx));
    OK(lightning_db_put_tx(db, tx, B("bb"), 2, B("tx"), 2));
    OK(lightning_db_range_first_tx(db, tx, B("b"), 1, NULL, 0, false, page, sizeof page, 3,
                                   &count, &used, &unfit));
    CHECK(count == 3 && unfit == NULL);
    CHECK_PAGE(page, count, used, "b=22,bb=tx,d=4444");
    OK(lightning_db_range_first_tx(db, tx, B("b"), 1, NULL, 0, false, page, 10 + 8, 3, &count,
                                   &used, &unfit));
    CHECK(count == 1 && unfit != NULL);
    OK(lightning_db_abort_transaction(db, tx));
    OK(lightning_db_iter_next_page(unfit, page, sizeof page, 2, &count, &used));
    CHECK_PAGE(page, count, used, "bb=tx,d=4444");
    lightning_db_iter_free(unfit);
    unfit = (LightningDBIterator *)page;
    EXPECT(lightning_db_range_first_tx(db, tx, NULL, 0, NULL, 0, false, page, sizeof page, 2,
                                       &count, &used, &unfit),
           InvalidArgument); /* the transaction has ended */
    CHECK(count == 0 && used == 0 && unfit == NULL);

    /* Refused arguments deliver nothing and make no iterator. */
    unfit = (LightningDBIterator *)page;
    EXPECT(lightning_db_range_first(db, NULL, 0, NULL, 0, false, page, sizeof page, 0, &count,
                                    &used, &unfit),
           InvalidArgument);
    CHECK(count == 0 && used == 0 && unfit == NULL);
    EXPECT(lightning_db_range_first(db, NULL, 0, NULL, 0, false, NULL, 8, 1, &count, &used, NULL),
           NullPointer);
    EXPECT(lightning_db_range_first(db, NULL, 0, NULL, 0, false, page, 8, 1, NULL, &used, NULL),
           NullPointer);
    EXPECT(lightning_db_range_first(NULL, NULL, 0, NULL, 0, false, page, 8, 1, &count, &used,
                                    NULL),
           NullPointer);
    OK(lightning_db_close(db));
    EXPECT(lightning_db_range_first(db, NULL, 0, NULL, 0, false, page, sizeof page, 1, &count,
                                    &used, NULL),
           InvalidArgument);
    lightning_db_free(db);
}

static const struct test tests[] = {
    {"version_and_error_strings", test_version_and_error_strings},
    {"guide_flow_twice", test_guide_flow_twice},
    {"get_absent_and_empty_values", test_get_absent_and_empty_values},
    {"put_overwrite_delete_contains", test_put_overwrite_delete_contains},
    {"null_pointers", test_null_pointers},
    {"lending_calls", test_lending_calls},
    {"range_page", test_range_page},
    {"range_first", test_range_first},
    {"invalid_utf8_paths", test_invalid_utf8_paths},
    {"invalid_arguments", test_invalid_arguments},
    {"io_errors", test_io_errors},
    {"corrupted_data", test_corrupted_data},
    {"transactions", test_transactions},
    {"write_batch", test_write_batch},
    {"iterators", test_iterators},
    {"iterators_after_close", test_iterators_after_close},
    {"config", test_config},
    {"read_only_and_refresh", test_read_only_and_refresh},
    {"maintenance", test_maintenance},
    {"stale_handles", test_stale_handles},
    {"last_error_message", test_last_error_message},
    {"one_handle_many_threads", test_one_handle_many_threads},
    {"free_while_in_use", test_free_while_in_use},
    {"second_process_is_locked_out", test_second_process_is_locked_out},
    {"rust_log_prints_the_engine_log", test_rust_log_prints_the_engine_log},
};

int main(int argc, char **argv) {
    self_path = argv[0];
    if (argc == 3 && strncmp(argv[1], "--child-", 8) == 0)
        return child_main(argv[1], argv[2]);

    const char *tmp = getenv("TMPDIR");
    snprintf(root_dir, sizeof root_dir, "%s/lightning-db-c-test-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(root_dir)) {
        perror("mkdtemp");
        return 2;
    }
    /* The test of RUST_LOG needs a child that starts without it. */
    unsetenv("RUST_LOG");

    int ran = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int selected = argc == 1;
        for (int a = 1; a < argc; a++)
            selected |= strcmp(argv[a], tests[i].name) == 0;
        if (!selected)
            continue;
        current_test = tests[i].name;
        int failed_before = failed;
        tests[i].run();
        /* Leak detectors cannot see a forgotten handle (the library still refers
         * to it), so every test must leave none behind. */
        size_t live = lightning_db_live_handle_count();
        if (live != 0)
            fail_at(__FILE__, __LINE__, "the test left %zu handle(s) unreleased", live);
        ran++;
        printf("%s %s\n", failed == failed_before ? "ok  " : "FAIL", tests[i].name);
        fflush(stdout);
    }
    if (ran == 0) {
        fprintf(stderr, "no test selected\n");
        return 2;
    }
    nftw(root_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
