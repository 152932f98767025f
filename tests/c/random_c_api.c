/*
 * A seeded randomized test of the C API (lightning_db_ffi.h): a long random
 * sequence of calls drawn from the whole header, many of them with bad
 * arguments (NULL handles, keys, values and out-pointers; empty and oversized
 * keys; oversized values; NULL with a non-zero length; released, invented and
 * wrongly typed handles; finished and invented transaction ids; double releases),
 * checked against a model kept in C of what every database, transaction, batch and
 * iterator must hold.
 *
 * Every call is checked: a bad argument must give the documented code (for a call
 * with several bad arguments, the code of one of them) and change nothing; a good
 * call must behave exactly as the model says (values byte for byte, absent keys
 * as NULL/0, scans in order, transaction conflicts exactly when snapshot isolation
 * says, the last error code and message of the thread following each call). Every
 * returned buffer is released with lightning_db_free_result and every handle with
 * its release function, so LeakSanitizer (ci/test-c runs this under ASan + UBSan)
 * and lightning_db_live_handle_count() see any leak.
 *
 * Only valid memory is ever passed where the API may read: an oversized key or
 * value points to a real buffer of at least that length (the value one is a
 * reserved, never touched mapping), so a wrong length the API fails to reject
 * would show as a wrong code, never as a test-made overflow.
 *
 * Usage: random_c_api [SEED [OPS]], or the environment variables
 * LDB_C_RANDOM_SEED and LDB_C_RANDOM_OPS (arguments win). Without a seed one is
 * taken from the clock. The seed is printed first; the same seed and OPS replay
 * the same run. LDB_C_RANDOM_TRACE=1 prints every step. On a mismatch the program
 * prints it with the last steps and exits with status 1. The last line is
 *   random C API: N calls (M with bad arguments), seed S, 0 mismatches
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lightning_db_ffi.h"

#define DEFAULT_OPS 250000 /* 15-40 s under ASan, depending on the disk's fsync time */

/* ------------------------------------------------------------------------- */
/* Every function of the header, for counting. ci/test-c checks that each     */
/* function of the header is listed here; the end of a run checks that each   */
/* was called.                                                                 */

#define FUNCTIONS(X)                                                                     \
    X(version) X(error_string) X(last_error_code) X(last_error_message)                  \
    X(live_handle_count) X(config_new) X(config_set_page_size) X(config_set_cache_size)  \
    X(config_set_sync_mode) X(config_set_read_only) X(config_set_segment_size)           \
    X(config_set_auto_compact) X(config_free) X(create) X(open) X(close) X(free) X(put)  \
    X(get) X(delete) X(contains) X(free_result) X(batch_new) X(batch_put)                \
    X(batch_delete) X(batch_len) X(batch_clear) X(write_batch) X(batch_free)             \
    X(checkpoint) X(compact) X(backup) X(verify) X(stats) X(refresh)                     \
    X(begin_transaction) X(put_tx) X(get_tx) X(delete_tx) X(contains_tx)                 \
    X(commit_transaction) X(abort_transaction) X(iter_range) X(iter_prefix)              \
    X(iter_range_tx) X(iter_prefix_tx) X(iter_next) X(iter_free)                         \
    X(get_into) X(get_tx_into) X(iter_next_borrowed) X(iter_next_page) X(range_page)      \
    X(range_page_tx) X(range_first) X(range_first_tx) X(write_packed) X(release)         \
    X(delete_found)                                                                      \
    X(config_set_compaction_dead_ratio) X(config_set_compaction_min_dead_bytes)          \
    X(config_set_normal_sync_interval_ms)

#define F_ENUM(n) F_##n,
#define F_NAME(n) "lightning_db_" #n,
enum { FUNCTIONS(F_ENUM) NFUNCS };
static const char *const fn_name[NFUNCS] = {FUNCTIONS(F_NAME)};
static uint64_t n_calls[NFUNCS], n_bad[NFUNCS];
/* How often some outcomes worth having were reached. */
static uint64_t n_conflicts, n_closed_iter_calls, n_commits_applied;

/* Calls lightning_db_<n> and counts the call. */
#define CALL(n, args) (n_calls[F_##n]++, lightning_db_##n args)

/* ------------------------------------------------------------------------- */
/* Run state, random numbers, trace.                                          */

static uint64_t seed, total_ops, step;
static char root_dir[256];
static bool trace;

static uint64_t rs[4];
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t rnd(void) { /* xoshiro256** */
    uint64_t r = rotl(rs[1] * 5, 7) * 9, t = rs[1] << 17;
    rs[2] ^= rs[0];
    rs[3] ^= rs[1];
    rs[1] ^= rs[2];
    rs[0] ^= rs[3];
    rs[2] ^= t;
    rs[3] = rotl(rs[3], 45);
    return r;
}
static void seed_rng(uint64_t s) { /* splitmix64 */
    for (int i = 0; i < 4; i++) {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        rs[i] = z ^ (z >> 31);
    }
}
static uint64_t below(uint64_t n) { return n ? rnd() % n : 0; }
static bool one_in(uint64_t n) { return below(n) == 0; }

/* The last steps, shown on a mismatch. */
#define TRACE_N 48
static char trace_ring[TRACE_N][400];
static uint64_t notes;
static void note(const char *fmt, ...) {
    char *line = trace_ring[notes++ % TRACE_N];
    int n = snprintf(line, sizeof trace_ring[0], "[%" PRIu64 "] ", step);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof trace_ring[0] - (size_t)n, fmt, ap);
    va_end(ap);
    if (trace)
        printf("%s\n", line);
}

static uint64_t total_calls(void) {
    uint64_t n = 0;
    for (int i = 0; i < NFUNCS; i++)
        n += n_calls[i];
    return n;
}
static uint64_t total_bad(void) {
    uint64_t n = 0;
    for (int i = 0; i < NFUNCS; i++)
        n += n_bad[i];
    return n;
}

static void summary(int mismatches) {
    printf("random C API: %" PRIu64 " calls (%" PRIu64 " with bad arguments), seed %" PRIu64
           ", %d mismatches\n",
           total_calls(), total_bad(), seed, mismatches);
    fflush(stdout);
}

static void mismatch(const char *fmt, ...) {
    fflush(stdout);
    fprintf(stderr, "MISMATCH at step %" PRIu64 " (seed %" PRIu64 "): ", step, seed);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nlast steps:\n");
    uint64_t first = notes > TRACE_N ? notes - TRACE_N : 0;
    for (uint64_t i = first; i < notes; i++)
        fprintf(stderr, "  %s\n", trace_ring[i % TRACE_N]);
    fprintf(stderr, "replay: random_c_api %" PRIu64 " %" PRIu64 " (databases kept in %s)\n", seed,
            total_ops, root_dir);
    summary(1);
    exit(1);
}

/* ------------------------------------------------------------------------- */
/* Result codes and the faults of a call.                                     */

static int code_bit(int c) {
    switch (c) {
    case Success: return 0;
    case NullPointer: return 1;
    case InvalidUtf8: return 2;
    case IoError: return 3;
    case CorruptedData: return 4;
    case InvalidArgument: return 5;
    case OutOfMemory: return 6;
    case DatabaseLocked: return 7;
    case TransactionConflict: return 8;
    case UnknownError: return 9;
    default: return 10;
    }
}
#define S(c) (1u << code_bit(c))

static const char *code_name(int c) {
    static const char *const names[] = {"Success",         "NullPointer",  "InvalidUtf8",
                                        "IoError",         "CorruptedData", "InvalidArgument",
                                        "OutOfMemory",     "DatabaseLocked", "TransactionConflict",
                                        "UnknownError",    "(not a LightningDBError)"};
    return names[code_bit(c)];
}

static const char *codes_str(unsigned set) {
    static char buf[200];
    buf[0] = '\0';
    for (int b = 0; b <= 10; b++) {
        if (!(set & (1u << b)))
            continue;
        static const int codes[] = {0, -1, -2, -3, -4, -5, -6, -7, -8, -99, 12345};
        if (buf[0])
            strcat(buf, " or ");
        strcat(buf, code_name(codes[b]));
    }
    return buf;
}

/* The bad arguments of one call: the codes they may give, and what they are. */
typedef struct {
    unsigned codes;
    int n;
    char what[300];
} Faults;

static void fault(Faults *f, unsigned codes, const char *fmt, ...) {
    size_t used = strlen(f->what);
    if (used > 0 && used + 2 < sizeof f->what) {
        strcat(f->what, "; ");
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->what + used, sizeof f->what - used, fmt, ap);
    va_end(ap);
    f->codes |= codes;
    f->n++;
}

/* Which of `slots` arguments of a call are bad: none for about 2 calls in 3,
 * else one, sometimes two. */
static unsigned fault_mask(int slots) {
    if (below(100) >= 34)
        return 0;
    unsigned m = 1u << below((uint64_t)slots);
    if (slots > 1 && below(100) < 20)
        m |= 1u << below((uint64_t)slots);
    return m;
}

/* The last error of the thread must follow the call that just returned `got`. */
static void check_last_error(int fn, int got) {
    int last = CALL(last_error_code, ());
    const char *msg = CALL(last_error_message, ());
    if (last != got)
        mismatch("%s returned %s but lightning_db_last_error_code() is %s", fn_name[fn],
                 code_name(got), code_name(last));
    if (!msg)
        mismatch("lightning_db_last_error_message() returned NULL after %s", fn_name[fn]);
    if (got == Success && msg[0] != '\0')
        mismatch("after a successful %s the last error message is \"%s\", not \"\"", fn_name[fn],
                 msg);
    if (got != Success && strncmp(msg, fn_name[fn], strlen(fn_name[fn])) != 0)
        mismatch("after a failed %s the last error message \"%s\" does not name the function",
                 fn_name[fn], msg);
}

/* Checks a code. `ok` is what the call must return if no argument is bad. With
 * bad arguments, one of their codes is expected (or a code of `ok` other than
 * Success: a write to a read-only handle with a NULL key may report either). */
static int check(int fn, int got, const Faults *f, unsigned ok, const char *ctx) {
    unsigned want = f->n ? (f->codes | (ok & ~S(Success))) : ok;
    if (!(want & S(Success)) && want != S(TransactionConflict))
        n_bad[fn]++;
    note("%s(%s)%s%s -> %s", fn_name[fn], ctx, f->n ? " BAD: " : "", f->what, code_name(got));
    if (!(S(got) & want))
        mismatch("%s(%s)%s%s returned %s, expected %s; detail: \"%s\"", fn_name[fn], ctx,
                 f->n ? " with bad arguments: " : "", f->what, code_name(got), codes_str(want),
                 lightning_db_last_error_message());
    if (got != Success || one_in(4))
        check_last_error(fn, got);
    return got;
}

/* For the functions returning a handle (NULL on failure). */
static int check_handle(int fn, const void *h, const Faults *f, unsigned ok, const char *ctx) {
    int last = CALL(last_error_code, ());
    if (h && last != Success)
        mismatch("%s(%s) returned a handle but the last error is %s", fn_name[fn], ctx,
                 code_name(last));
    if (!h && last == Success)
        mismatch("%s(%s) returned NULL but the last error is Success", fn_name[fn], ctx);
    return check(fn, h ? Success : last, f, ok, ctx);
}

/* For the release functions: a detected misuse is InvalidArgument in the last
 * error; anything else leaves the last error as it was (`before`). */
static void check_release(int fn, bool misuse, int before, const char *ctx) {
    int last = CALL(last_error_code, ());
    note("%s(%s)%s -> last error %s", fn_name[fn], ctx, misuse ? " MISUSE" : "", code_name(last));
    if (misuse) {
        n_bad[fn]++;
        if (last != InvalidArgument)
            mismatch("%s(%s), a misuse, left the last error %s, not InvalidArgument", fn_name[fn],
                     ctx, code_name(last));
        check_last_error(fn, InvalidArgument);
    } else if (last != before) {
        mismatch("%s(%s) changed the last error from %s to %s", fn_name[fn], ctx,
                 code_name(before), code_name(last));
    }
}

/* ------------------------------------------------------------------------- */
/* Keys: a fixed universe, sorted as the database sorts (bytewise, shorter     */
/* first on a tie). Writes use only these keys, so the model is complete.     */

#define NK_MAX 400
static uint8_t *ukey[NK_MAX];
static size_t ulen[NK_MAX];
static int nkeys;
static int short_keys[NK_MAX], nshort;

static int keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

static int cmp_idx(const void *x, const void *y) {
    int a = *(const int *)x, b = *(const int *)y;
    return keycmp(ukey[a], ulen[a], ukey[b], ulen[b]);
}

static void add_key(const void *k, size_t l) {
    ukey[nkeys] = malloc(l);
    memcpy(ukey[nkeys], k, l);
    ulen[nkeys] = l;
    nkeys++;
}

static void add_filled(char c, size_t l, char last) {
    char *k = malloc(l);
    memset(k, c, l);
    k[l - 1] = last;
    add_key(k, l);
    free(k);
}

/* The universe index of key k, or -1. */
static int find_key(const uint8_t *k, size_t l) {
    int lo = 0, hi = nkeys - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = keycmp(ukey[mid], ulen[mid], k, l);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static void make_universe(void) {
    char k[16];
    /* 300 three- and four-byte keys under 20 two-byte prefixes under 4 one-byte ones. */
    for (int i = 0; i < 300; i++) {
        int n = snprintf(k, sizeof k, "%c%c%d", 'a' + i % 4, 'a' + (i / 4) % 5, i / 20);
        add_key(k, (size_t)n);
    }
    for (int i = 0; i < 4; i++) {
        k[0] = (char)('a' + i);
        add_key(k, 1);
        for (int j = 0; j < 5; j++) {
            k[1] = (char)('a' + j);
            add_key(k, 2);
        }
    }
    /* Bytes that strings would not hold, and the edges of prefix scans. */
    static const uint8_t bin[][4] = {{1, 0}, {2, 0, 0}, {2, 0, 'a'}, {1, 0xff},
                                     {2, 0xff, 0xff}, {2, 0xff, 0}, {2, 'a', 0xff},
                                     {3, 'a', 0xff, 0xff}, {2, 'a', 0}, {3, 'b', 0xff, 'x'}};
    for (size_t i = 0; i < sizeof bin / sizeof bin[0]; i++)
        add_key(bin[i] + 1, bin[i][0]);
    /* Long keys, up to the longest allowed. */
    add_filled('L', 100, 'L');
    add_filled('L', 255, 'L');
    add_filled('L', 256, 'x');
    add_filled('a', 1000, 'z');
    add_filled('M', LIGHTNING_DB_MAX_KEY_SIZE - 1, 'M');
    add_filled('M', LIGHTNING_DB_MAX_KEY_SIZE, 'M');
    add_filled('M', LIGHTNING_DB_MAX_KEY_SIZE, 'N');

    int order[NK_MAX];
    for (int i = 0; i < nkeys; i++)
        order[i] = i;
    qsort(order, (size_t)nkeys, sizeof order[0], cmp_idx);
    uint8_t *k2[NK_MAX];
    size_t l2[NK_MAX];
    for (int i = 0; i < nkeys; i++) {
        k2[i] = ukey[order[i]];
        l2[i] = ulen[order[i]];
    }
    for (int i = 0; i < nkeys; i++) {
        ukey[i] = k2[i];
        ulen[i] = l2[i];
        if (i > 0 && keycmp(ukey[i - 1], ulen[i - 1], ukey[i], ulen[i]) >= 0) {
            fprintf(stderr, "key universe not strictly ordered at %d\n", i);
            exit(2);
        }
        if (ulen[i] <= 16)
            short_keys[nshort++] = i;
    }
}

/* Mostly short keys; now and then any key, long ones included. */
static int pick_key(void) {
    return one_in(40) ? (int)below((uint64_t)nkeys) : short_keys[below((uint64_t)nshort)];
}

static const uint8_t alphabet[] = {0x00, 'a', 'b', 'c', 'd', 'e', 'L', 0xff};

/* A key to read: usually one of the universe, else a few random bytes (which may
 * or may not be one). Sets *p and *l; returns the universe index or -1. */
static int read_key(uint8_t buf[8], const uint8_t **p, size_t *l) {
    if (!one_in(10)) {
        int k = pick_key();
        *p = ukey[k];
        *l = ulen[k];
        return k;
    }
    size_t n = 1 + below(6);
    for (size_t i = 0; i < n; i++)
        buf[i] = alphabet[below(sizeof alphabet)];
    *p = buf;
    *l = n;
    return find_key(buf, n);
}

/* ------------------------------------------------------------------------- */
/* Values: immutable, reference counted, shared by the models.                */

typedef struct Val {
    int rc;
    size_t len;
    uint8_t data[];
} Val;

static Val *val_new(void) {
    uint64_t r = below(1000);
    size_t len = r < 100 ? 0
                 : r < 600 ? 1 + below(16)
                 : r < 900 ? 17 + below(284)
                 : r < 995 ? 301 + below(4700)
                           : 5001 + below(60000);
    Val *v = malloc(sizeof *v + len + 1);
    v->rc = 1;
    v->len = len;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t x = rnd();
        memcpy(v->data + i, &x, len - i < 8 ? len - i : 8);
    }
    return v;
}
static Val *val_ref(Val *v) {
    if (v)
        v->rc++;
    return v;
}
static void val_unref(Val *v) {
    if (v && --v->rc == 0)
        free(v);
}
static void set_slot(Val **slot, Val *v) {
    Val *old = *slot;
    *slot = val_ref(v);
    val_unref(old);
}
static void copy_view(Val **to, Val *const *from) {
    for (int k = 0; k < nkeys; k++)
        set_slot(&to[k], from[k]);
}
static void clear_view(Val **view) {
    for (int k = 0; k < nkeys; k++)
        set_slot(&view[k], NULL);
}
static int view_count(Val *const *view) {
    int n = 0;
    for (int k = 0; k < nkeys; k++)
        n += view[k] != NULL;
    return n;
}

/* A returned buffer holds exactly `want` (NULL: must be NULL/0). */
static void check_bytes(const char *what, const uint8_t *data, size_t len, const Val *want,
                        const char *ctx) {
    if (!want) {
        if (data || len)
            mismatch("%s (%s): expected nothing (NULL/0), got %p/%zu", what, ctx, (void *)data,
                     len);
        return;
    }
    if (!data)
        mismatch("%s (%s): expected %zu bytes, got NULL/%zu", what, ctx, want->len, len);
    if (len != want->len || (len && memcmp(data, want->data, len) != 0))
        mismatch("%s (%s): expected %zu bytes, got %zu different bytes", what, ctx, want->len, len);
}

static void release(LightningDBResult r) {
    if (r.data || one_in(8))
        CALL(free_result, (r.data, r.len));
}

/* ------------------------------------------------------------------------- */
/* The model.                                                                 */

#define NSTORES 2
typedef struct {
    char path[320];
    bool exists;
    Val *m[NK_MAX];              /* what the database holds */
    uint64_t seq;                /* commits made */
    uint64_t last_write[NK_MAX]; /* the commit that last wrote each key */
    int writer;                  /* the open writable handle, or -1 */
    /* Segment files may have been removed (compaction; recovery at a writer's
     * open) since a read-only handle with an older epoch loaded its snapshot. */
    uint64_t removal_epoch;
    bool auto_compacting; /* the writer may compact in the background */
} Store;
static Store stores[NSTORES];

#define MAXDB 6
typedef struct {
    bool used;
    LightningDB *h;
    int store;
    bool ro;
    Val *rov[NK_MAX]; /* a read-only handle's view: the store as of open/refresh */
    uint64_t max_id;  /* the highest transaction id issued */
    uint64_t epoch;   /* read-only: the store's removal_epoch at open/refresh */
    uint64_t finished[16];
    int nfinished;
} DbH;
static DbH dbs[MAXDB];

#define MAXTX 8
typedef struct {
    bool used;
    int db;
    uint64_t id;
    Val *snap[NK_MAX];
    uint64_t snap_seq;
    uint8_t w[NK_MAX]; /* 0: not written, 1: put, 2: delete */
    Val *wv[NK_MAX];
    int nwrites;
} Tx;
static Tx txs[MAXTX];

#define MAXBATCH 3
typedef struct {
    int key; /* -1: the empty key */
    bool del;
    Val *v;
} BOp;
typedef struct {
    bool used;
    LightningDBWriteBatch *h;
    BOp *ops;
    int n, cap;
    int poison; /* operations with the empty key, refused when written */
} Batch;
static Batch batches[MAXBATCH];

#define MAXITER 8
typedef struct {
    bool used;
    LightningDBIterator *h;
    int db; /* -1 once its database is closed */
    int n, pos;
    int *keys;
    Val **vals;
} Iter;
static Iter iters[MAXITER];

#define MAXCFG 3
typedef struct {
    bool used;
    LightningDBConfig *h;
    bool ro, auto_compact;
} Cfg;
static Cfg cfgs[MAXCFG];

static Val **view_of(int di) { return dbs[di].ro ? dbs[di].rov : stores[dbs[di].store].m; }

static Val *tx_view(const Tx *t, int k) {
    if (k < 0)
        return NULL;
    return t->w[k] == 1 ? t->wv[k] : t->w[k] == 2 ? NULL : t->snap[k];
}

static void store_commit(Store *s, const int *keys, int n) {
    s->seq++;
    for (int i = 0; i < n; i++)
        s->last_write[keys[i]] = s->seq;
}

/* Released handles, for reuse as stale arguments. */
enum { K_DB, K_CFG, K_BATCH, K_ITER };
#define NDEAD 64
static void *dead[NDEAD];
static int dead_kind[NDEAD];
static unsigned ndead;
static void add_dead(void *h, int kind) {
    dead[ndead % NDEAD] = h;
    dead_kind[ndead % NDEAD] = kind;
    ndead++;
}
static void *pick_dead(int kind) {
    unsigned n = ndead < NDEAD ? ndead : NDEAD;
    if (!n)
        return NULL;
    for (int t = 0; t < 8; t++) {
        unsigned i = (unsigned)below(n);
        if (dead_kind[i] == kind)
            return dead[i];
    }
    return dead[below(n)];
}

static int anchor;
static void *invented(void) {
    switch (below(6)) {
    case 0: return (void *)(uintptr_t)0xdeadbee0u;
    case 1: return (void *)(uintptr_t)1;
    case 2: return (void *)(uintptr_t)0x18;
    case 3: return &anchor;
    case 4: return (void *)~(uintptr_t)15;
    default: return (void *)(uintptr_t)(0x7f0000000000ull + 16 * below(1u << 20));
    }
}

static void *other_live(int kind) {
    void *c[MAXDB + MAXCFG + MAXBATCH + MAXITER];
    int n = 0;
    for (int i = 0; i < MAXDB; i++)
        if (kind != K_DB && dbs[i].used)
            c[n++] = dbs[i].h;
    for (int i = 0; i < MAXCFG; i++)
        if (kind != K_CFG && cfgs[i].used)
            c[n++] = cfgs[i].h;
    for (int i = 0; i < MAXBATCH; i++)
        if (kind != K_BATCH && batches[i].used)
            c[n++] = batches[i].h;
    for (int i = 0; i < MAXITER; i++)
        if (kind != K_ITER && iters[i].used)
            c[n++] = iters[i].h;
    return n ? c[below((uint64_t)n)] : NULL;
}

/* A bad handle: NULL (unless `null_ok`), released, of another type, invented. */
static void *bad_handle(Faults *f, int kind, const char *what, bool null_ok) {
    void *h;
    switch (below(null_ok ? 3 : 4)) {
    case 3: fault(f, S(NullPointer), "%s NULL", what); return NULL;
    case 0:
        if ((h = pick_dead(kind))) {
            fault(f, S(InvalidArgument), "%s %p already released", what, h);
            return h;
        }
        /* fall through */
    case 1:
        if ((h = other_live(kind))) {
            fault(f, S(InvalidArgument), "%s %p is a live handle of another type", what, h);
            return h;
        }
        /* fall through */
    default:
        h = invented();
        fault(f, S(InvalidArgument), "%s %p never issued", what, h);
        return h;
    }
}

static LightningDB *db_arg(Faults *f, bool bad, int di) {
    return bad ? bad_handle(f, K_DB, "db", false) : dbs[di].h;
}

/* Big enough for every oversized key or bound passed. */
#define BIG_KEY_BUF (4 * LIGHTNING_DB_MAX_KEY_SIZE)
static uint8_t *bigbuf;
/* A reserved, never touched mapping longer than the longest value allowed. */
#define HUGE_EXTRA (1u << 20)
static uint8_t *hugebuf;

static void key_arg(Faults *f, bool bad, bool empty_is_bad, const uint8_t **p, size_t *l) {
    if (!bad)
        return;
    switch (below(empty_is_bad ? 4 : 3)) {
    case 0: {
        static const size_t lens[] = {0, 1, 3, LIGHTNING_DB_MAX_KEY_SIZE + 1, SIZE_MAX};
        size_t n = lens[below(5)];
        *p = NULL;
        *l = n;
        fault(f, S(NullPointer) | (n > LIGHTNING_DB_MAX_KEY_SIZE ? S(InvalidArgument) : 0),
              "key NULL with length %zu", n);
        return;
    }
    case 1:
        *p = bigbuf;
        *l = LIGHTNING_DB_MAX_KEY_SIZE + 1 + below(16);
        fault(f, S(InvalidArgument), "key of %zu bytes", *l);
        return;
    case 2:
        *p = bigbuf;
        *l = LIGHTNING_DB_MAX_KEY_SIZE + 1 + below(BIG_KEY_BUF - LIGHTNING_DB_MAX_KEY_SIZE - 1);
        fault(f, S(InvalidArgument), "key of %zu bytes", *l);
        return;
    default:
        *l = 0;
        fault(f, S(InvalidArgument), "empty key (non-NULL, length 0)");
        return;
    }
}

static void value_arg(Faults *f, bool bad, const Val *v, const uint8_t **p, size_t *l) {
    static const uint8_t one_byte = 'x';
    *p = v->data;
    *l = v->len;
    if (v->len == 0) /* the empty value: NULL, or any pointer, with length 0 */
        *p = one_in(2) ? NULL : one_in(2) ? &one_byte : v->data;
    if (!bad)
        return;
    if (hugebuf && one_in(3)) {
        *p = hugebuf;
        *l = (size_t)LIGHTNING_DB_MAX_VALUE_SIZE + 1 + below(HUGE_EXTRA);
        fault(f, S(InvalidArgument), "value of %zu bytes", *l);
        return;
    }
    size_t lens[] = {v->len ? v->len : 1, 1 + below(100), (size_t)LIGHTNING_DB_MAX_VALUE_SIZE + 1,
                     SIZE_MAX};
    size_t n = lens[below(4)];
    *p = NULL;
    *l = n;
    fault(f, S(NullPointer) | (n > LIGHTNING_DB_MAX_VALUE_SIZE ? S(InvalidArgument) : 0),
          "value NULL with length %zu", n);
}

/* A transaction id that is not open on handle `di`. */
static uint64_t bad_txid(Faults *f, int di) {
    DbH *d = &dbs[di];
    uint64_t id;
    if (d->nfinished && one_in(2)) {
        id = d->finished[below((uint64_t)(d->nfinished < 16 ? d->nfinished : 16))];
        fault(f, S(InvalidArgument), "tx id %" PRIu64 " already finished", id);
        return id;
    }
    switch (below(3)) {
    case 0: id = 0; break;
    case 1: id = UINT64_MAX - below(4); break;
    default: id = d->max_id + 1 + below(1000); break;
    }
    fault(f, S(InvalidArgument), "tx id %" PRIu64 " never issued", id);
    return id;
}

static bool tx_live_on(int di, uint64_t id) {
    for (int i = 0; i < MAXTX; i++)
        if (txs[i].used && txs[i].db == di && txs[i].id == id)
            return true;
    return false;
}

/* The database argument of a call on transaction `t` with id `id`: sometimes
 * another open handle, on which that id is not open (ids are per handle). */
static LightningDB *tx_db_arg(Faults *f, bool bad, const Tx *t, uint64_t id) {
    if (!bad)
        return dbs[t->db].h;
    if (one_in(3)) {
        for (int tries = 0; tries < 4; tries++) {
            int dj = (int)below(MAXDB);
            if (dj != t->db && dbs[dj].used && !tx_live_on(dj, id)) {
                fault(f, S(InvalidArgument), "db #%d, which has no transaction %" PRIu64, dj, id);
                return dbs[dj].h;
            }
        }
    }
    return bad_handle(f, K_DB, "db", false);
}

/* A range bound or prefix: NULL/0 (none), non-NULL/0 (empty), a key or the
 * start of one, or random bytes; if bad, NULL with a length or oversized. */
typedef struct {
    const uint8_t *p;
    size_t l;
    uint8_t buf[8];
} Bound;

static void bound_arg(Faults *f, bool bad, Bound *b, bool is_prefix, const char *what) {
    uint64_t r = below(10);
    if (r < 2) {
        b->p = NULL;
        b->l = 0;
    } else if (r == 2) {
        b->p = b->buf;
        b->l = 0;
    } else if (r < 7) {
        int k = pick_key();
        b->p = ukey[k];
        b->l = is_prefix ? 1 + below(ulen[k]) : ulen[k];
    } else {
        b->l = 1 + below(3);
        for (size_t i = 0; i < b->l; i++)
            b->buf[i] = alphabet[below(sizeof alphabet)];
        b->p = b->buf;
    }
    if (!bad)
        return;
    if (one_in(2)) {
        size_t n = one_in(4) ? SIZE_MAX : 1 + below(5);
        b->p = NULL;
        b->l = n;
        fault(f, S(NullPointer) | (n > LIGHTNING_DB_MAX_KEY_SIZE ? S(InvalidArgument) : 0),
              "%s NULL with length %zu", what, n);
    } else {
        b->p = bigbuf;
        b->l = LIGHTNING_DB_MAX_KEY_SIZE + 1 + below(100);
        fault(f, S(InvalidArgument), "%s of %zu bytes", what, b->l);
    }
}

static bool in_range(int k, const Bound *start, const Bound *end) {
    if (start->p && keycmp(ukey[k], ulen[k], start->p, start->l) < 0)
        return false;
    if (end->p && keycmp(ukey[k], ulen[k], end->p, end->l) >= 0)
        return false;
    return true;
}

static bool has_prefix(int k, const Bound *prefix) {
    if (!prefix->p || prefix->l == 0)
        return true;
    return ulen[k] >= prefix->l && memcmp(ukey[k], prefix->p, prefix->l) == 0;
}

/* ------------------------------------------------------------------------- */
/* Picking live things.                                                       */

static int pick_used(const bool *used, size_t stride, int n) {
    int c[16], m = 0;
    for (int i = 0; i < n; i++)
        if (*(const bool *)((const char *)used + stride * (size_t)i))
            c[m++] = i;
    return m ? c[below((uint64_t)m)] : -1;
}
#define PICK(arr, n) pick_used(&(arr)[0].used, sizeof(arr)[0], n)
#define FREE_SLOT(arr, n) free_slot(&(arr)[0].used, sizeof(arr)[0], n)
static int free_slot(const bool *used, size_t stride, int n) {
    for (int i = 0; i < n; i++)
        if (!*(const bool *)((const char *)used + stride * (size_t)i))
            return i;
    return -1;
}
static int count_used(const bool *used, size_t stride, int n) {
    int m = 0;
    for (int i = 0; i < n; i++)
        m += *(const bool *)((const char *)used + stride * (size_t)i);
    return m;
}
#define COUNT(arr, n) count_used(&(arr)[0].used, sizeof(arr)[0], n)

static int pick_db(void) { return PICK(dbs, MAXDB); }

/* For writes: mostly a writable handle. */
static int pick_db_for_write(void) {
    if (!one_in(8)) {
        int c[NSTORES], n = 0;
        for (int s = 0; s < NSTORES; s++)
            if (stores[s].writer >= 0)
                c[n++] = stores[s].writer;
        if (n)
            return c[below((uint64_t)n)];
    }
    return pick_db();
}

static int ro_count(void) {
    int n = 0;
    for (int i = 0; i < MAXDB; i++)
        n += dbs[i].used && dbs[i].ro;
    return n;
}

static size_t expected_live_handles(void) {
    return (size_t)(COUNT(dbs, MAXDB) + COUNT(cfgs, MAXCFG) + COUNT(batches, MAXBATCH) +
                    COUNT(iters, MAXITER));
}

static void check_live_handles(void) {
    size_t live = CALL(live_handle_count, ());
    if (live != expected_live_handles())
        mismatch("lightning_db_live_handle_count() = %zu, expected %zu", live,
                 expected_live_handles());
}

/* ------------------------------------------------------------------------- */
/* Checks with good arguments.                                                */

static const Faults no_faults;

/* Key k (a universe index) reads as the handle's view says. */
static void check_key(int di, int k, const char *why) {
    LightningDBResult r;
    check(F_get, CALL(get, (dbs[di].h, ukey[k], ulen[k], &r)), &no_faults, S(Success), why);
    check_bytes("value", r.data, r.len, view_of(di)[k], why);
    release(r);
}

static void check_tx_key(const Tx *t, int k, const char *why) {
    LightningDBResult r;
    check(F_get_tx, CALL(get_tx, (dbs[t->db].h, t->id, ukey[k], ulen[k], &r)), &no_faults,
          S(Success), why);
    check_bytes("value in transaction", r.data, r.len, tx_view(t, k), why);
    release(r);
}

/* The whole content of handle `h` is `view`, by a full scan, and the stats agree. */
static void scan_check(LightningDB *h, Val *const *view, const char *why) {
    LightningDBIterator *it = NULL;
    bool rev = one_in(2);
    check(F_iter_prefix, CALL(iter_prefix, (h, NULL, 0, rev, &it)), &no_faults, S(Success), why);
    for (int i = 0; i < nkeys; i++) {
        int k = rev ? nkeys - 1 - i : i;
        if (!view[k])
            continue;
        LightningDBResult kr, vr;
        bool has = false;
        check(F_iter_next, CALL(iter_next, (it, &kr, &vr, &has)), &no_faults, S(Success), why);
        if (!has)
            mismatch("%s: the scan ended before key #%d", why, k);
        if (kr.len != ulen[k] || !kr.data || memcmp(kr.data, ukey[k], ulen[k]) != 0)
            mismatch("%s: the scan gave a %zu-byte key where key #%d (%zu bytes) was expected", why,
                     kr.len, k, ulen[k]);
        check_bytes("scanned value", vr.data, vr.len, view[k], why);
        release(kr);
        release(vr);
    }
    LightningDBResult kr, vr;
    bool has = true;
    check(F_iter_next, CALL(iter_next, (it, &kr, &vr, &has)), &no_faults, S(Success), why);
    if (has || kr.data || vr.data)
        mismatch("%s: the scan did not end after the last key", why);
    int before = CALL(last_error_code, ());
    CALL(iter_free, (it));
    check_release(F_iter_free, false, before, why);

    LightningDBStats st;
    check(F_stats, CALL(stats, (h, &st)), &no_faults, S(Success), why);
    if (st.live_keys != (uint64_t)view_count(view))
        mismatch("%s: stats.live_keys = %" PRIu64 ", expected %d", why, st.live_keys,
                 view_count(view));
}

/* ------------------------------------------------------------------------- */
/* Releasing model objects.                                                   */

static void drop_tx(int ti) {
    Tx *t = &txs[ti];
    clear_view(t->snap);
    clear_view(t->wv);
    memset(t->w, 0, sizeof t->w);
    t->used = false;
}

static void finish_tx(int ti) {
    Tx *t = &txs[ti];
    DbH *d = &dbs[t->db];
    d->finished[d->nfinished++ % 16] = t->id;
    drop_tx(ti);
}

static void drop_iter(int ii) {
    Iter *it = &iters[ii];
    for (int i = 0; i < it->n; i++)
        val_unref(it->vals[i]);
    free(it->keys);
    free(it->vals);
    add_dead(it->h, K_ITER);
    memset(it, 0, sizeof *it);
}

static void drop_batch_ops(Batch *b) {
    for (int i = 0; i < b->n; i++)
        val_unref(b->ops[i].v);
    b->n = 0;
    b->poison = 0;
}

/* The handle was closed or freed. */
static void release_db(int di) {
    DbH *d = &dbs[di];
    add_dead(d->h, K_DB);
    if (!d->ro && stores[d->store].writer == di) {
        Store *s = &stores[d->store];
        s->writer = -1;
        if (s->auto_compacting)
            s->removal_epoch++;
        s->auto_compacting = false;
    }
    for (int i = 0; i < MAXTX; i++)
        if (txs[i].used && txs[i].db == di)
            drop_tx(i); /* discarded by the close; the ids die with the handle */
    for (int i = 0; i < MAXITER; i++)
        if (iters[i].used && iters[i].db == di)
            iters[i].db = -1;
    clear_view(d->rov);
    d->used = false;
    d->nfinished = 0;
    d->max_id = 0;
}

/* ------------------------------------------------------------------------- */
/* Configs.                                                                    */

static LightningDBConfig *config_new_checked(void) {
    LightningDBConfig *c = CALL(config_new, ());
    check_handle(F_config_new, c, &no_faults, S(Success), "");
    return c;
}

static void config_free_checked(LightningDBConfig *c) {
    int before = CALL(last_error_code, ());
    CALL(config_free, (c));
    check_release(F_config_free, false, before, "config");
    add_dead(c, K_CFG);
}

/* A config for opening, with random valid options. */
static LightningDBConfig *open_config(bool ro, bool *auto_compact, char *desc, size_t desc_len) {
    LightningDBConfig *c = config_new_checked();
    static const int syncs[] = {SyncOff, SyncOff, SyncOff, SyncOff, SyncOff, SyncOff,
                                SyncOff, SyncOff, SyncOff, SyncOff, SyncOff, SyncOff,
                                SyncOff, SyncOff, SyncOff, SyncNormal, SyncNormal, SyncNormal,
                                SyncFull};
    static const uint64_t segs[] = {4096, 65536, 65536, 1 << 20, 1 << 20, 64 << 20};
    static const size_t pages[] = {512, 4096, 4096, 65536};
    static const size_t caches[] = {0, 1 << 20, 64 << 20};
    int sync = syncs[below(sizeof syncs / sizeof syncs[0])];
    uint64_t seg = segs[below(6)];
    size_t page = pages[below(4)];
    size_t cache = caches[below(3)];
    bool ac = one_in(2);
    *auto_compact = ac;
    check(F_config_set_sync_mode, CALL(config_set_sync_mode, (c, sync)), &no_faults, S(Success),
          "");
    check(F_config_set_segment_size, CALL(config_set_segment_size, (c, seg)), &no_faults,
          S(Success), "");
    check(F_config_set_page_size, CALL(config_set_page_size, (c, page)), &no_faults, S(Success),
          "");
    check(F_config_set_cache_size, CALL(config_set_cache_size, (c, cache)), &no_faults,
          S(Success), "");
    check(F_config_set_auto_compact, CALL(config_set_auto_compact, (c, ac)), &no_faults,
          S(Success), "");
    if (ro || one_in(4))
        check(F_config_set_read_only, CALL(config_set_read_only, (c, ro)), &no_faults, S(Success),
              "");
    snprintf(desc, desc_len, "sync %d, segment %" PRIu64 ", page %zu, cache %zu%s%s", sync, seg,
             page, cache, ac ? ", auto compaction" : "", ro ? ", read-only" : "");
    return c;
}

static void op_config(void) {
    uint64_t r = below(10);
    int ci = PICK(cfgs, MAXCFG);
    if (r < 2 || ci < 0) {
        int slot = FREE_SLOT(cfgs, MAXCFG);
        if (slot < 0)
            return;
        cfgs[slot].h = config_new_checked();
        cfgs[slot].used = true;
        cfgs[slot].ro = false;
        cfgs[slot].auto_compact = true;
        /* Mostly without a sync per commit, so that runs stay short on slow disks. */
        if (!one_in(4))
            check(F_config_set_sync_mode, CALL(config_set_sync_mode, (cfgs[slot].h, SyncOff)),
                  &no_faults, S(Success), "");
        return;
    }
    if (r >= 8) { /* release: the config, or a misuse */
        int before = CALL(last_error_code, ());
        Faults f = {0};
        void *h = cfgs[ci].h;
        bool misuse = false, null = false;
        if (one_in(3)) {
            h = bad_handle(&f, K_CFG, "config", true);
            misuse = true;
        } else if (one_in(10)) {
            h = NULL;
            null = true;
        }
        CALL(config_free, (h));
        check_release(F_config_free, misuse, before, misuse ? f.what : null ? "NULL" : "config");
        if (!misuse && !null) {
            add_dead(cfgs[ci].h, K_CFG);
            cfgs[ci].used = false;
        }
        return;
    }
    /* A setter with a valid or invalid value, on the config or a bad handle. */
    Faults f = {0};
    LightningDBConfig *h = fault_mask(1) ? bad_handle(&f, K_CFG, "config", false) : cfgs[ci].h;
    bool valid = true;
    char ctx[120];
    int got, fn;
    switch (below(9)) {
    case 0: {
        static const size_t good[] = {512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
        static const size_t bad[] = {0, 1, 3, 256, 511, 513, 1000, 4097, 131072, SIZE_MAX};
        valid = one_in(2);
        size_t v = valid ? good[below(8)] : bad[below(10)];
        snprintf(ctx, sizeof ctx, "page size %zu", v);
        fn = F_config_set_page_size;
        got = CALL(config_set_page_size, (h, v));
        break;
    }
    case 1: {
        static const size_t vals[] = {0, 1, 4096, 1 << 20, 64 << 20, SIZE_MAX};
        size_t v = vals[below(6)];
        snprintf(ctx, sizeof ctx, "cache size %zu", v);
        fn = F_config_set_cache_size;
        got = CALL(config_set_cache_size, (h, v));
        break;
    }
    case 2: {
        static const int bad[] = {-1, 3, 100, INT_MIN, INT_MAX};
        valid = !one_in(3);
        int v = valid ? (int)below(3) : bad[below(5)];
        snprintf(ctx, sizeof ctx, "sync mode %d", v);
        fn = F_config_set_sync_mode;
        got = CALL(config_set_sync_mode, (h, v));
        break;
    }
    case 3: {
        bool v = one_in(3);
        snprintf(ctx, sizeof ctx, "read only %d", v);
        fn = F_config_set_read_only;
        got = CALL(config_set_read_only, (h, v));
        if (got == Success)
            cfgs[ci].ro = v;
        break;
    }
    case 4: {
        /* 4096 to 2147483647 bytes */
        static const uint64_t good[] = {4096, 4097, 65536, 1 << 20, 64 << 20, (1ull << 31) - 1};
        static const uint64_t bad[] = {0, 1, 4095, 1ull << 31, 1ull << 32, UINT64_MAX};
        valid = one_in(2);
        uint64_t v = valid ? good[below(6)] : bad[below(6)];
        snprintf(ctx, sizeof ctx, "segment size %" PRIu64, v);
        fn = F_config_set_segment_size;
        got = CALL(config_set_segment_size, (h, v));
        break;
    }
    case 5: {
        /* (0, 1] */
        static const double good[] = {1e-9, 0.25, 0.5, 1.0};
        static const double bad[] = {0.0, -0.0, -0.5, 1.0000001, 2.0, 1e300, -1e300};
        valid = one_in(2);
        double v = valid ? good[below(4)] : one_in(8) ? NAN : bad[below(7)];
        snprintf(ctx, sizeof ctx, "compaction dead ratio %g", v);
        fn = F_config_set_compaction_dead_ratio;
        got = CALL(config_set_compaction_dead_ratio, (h, v));
        break;
    }
    case 6: {
        /* any number of bytes */
        static const uint64_t any[] = {0, 1, 16 << 20, UINT64_MAX};
        uint64_t v = any[below(4)];
        snprintf(ctx, sizeof ctx, "compaction min dead bytes %" PRIu64, v);
        fn = F_config_set_compaction_min_dead_bytes;
        got = CALL(config_set_compaction_min_dead_bytes, (h, v));
        break;
    }
    case 7: {
        /* at least 1 ms */
        static const uint64_t good[] = {1, 100, 60000, UINT64_MAX};
        valid = !one_in(3);
        uint64_t v = valid ? good[below(4)] : 0;
        snprintf(ctx, sizeof ctx, "normal sync interval %" PRIu64 " ms", v);
        fn = F_config_set_normal_sync_interval_ms;
        got = CALL(config_set_normal_sync_interval_ms, (h, v));
        break;
    }
    default: {
        bool v = one_in(2);
        snprintf(ctx, sizeof ctx, "auto compact %d", v);
        fn = F_config_set_auto_compact;
        got = CALL(config_set_auto_compact, (h, v));
        if (got == Success)
            cfgs[ci].auto_compact = v;
        break;
    }
    }
    check(fn, got, &f, valid ? S(Success) : S(InvalidArgument), ctx);
}

/* ------------------------------------------------------------------------- */
/* Opening and closing.                                                        */

static char bad_utf8_path[300], below_file_path[300];
static uint64_t backups;

static const char *bad_path(Faults *f) {
    switch (below(3)) {
    case 0: fault(f, S(NullPointer), "path NULL"); return NULL;
    case 1: fault(f, S(InvalidArgument), "path empty"); return "";
    default: fault(f, S(InvalidUtf8), "path not UTF-8"); return bad_utf8_path;
    }
}

static int register_db(LightningDB *h, int si, bool ro, bool auto_compact) {
    int di = FREE_SLOT(dbs, MAXDB);
    if (di < 0)
        mismatch("internal: no free database slot");
    DbH *d = &dbs[di];
    d->used = true;
    d->h = h;
    d->store = si;
    d->ro = ro;
    d->max_id = 0;
    d->nfinished = 0;
    if (ro) {
        copy_view(d->rov, stores[si].m);
        d->epoch = stores[si].removal_epoch;
    } else {
        stores[si].writer = di;
        stores[si].removal_epoch++;
        stores[si].auto_compacting = auto_compact;
    }
    return di;
}

static void op_open(void) {
    int si = (int)below(NSTORES);
    Store *s = &stores[si];
    bool create = one_in(2);
    LightningDBConfig *cfg = NULL, *temp = NULL;
    bool cfg_ro = false, auto_compact = true;
    char desc[160] = "defaults";
    uint64_t r = below(20);
    int ci = PICK(cfgs, MAXCFG);
    if (r == 0) {
        cfg = NULL;
    } else if (r <= 4 && ci >= 0 && !(cfgs[ci].ro && ro_count() >= 2)) {
        cfg = cfgs[ci].h;
        cfg_ro = cfgs[ci].ro;
        auto_compact = cfgs[ci].auto_compact;
        snprintf(desc, sizeof desc, "config #%d%s", ci, cfg_ro ? " (read-only)" : "");
    } else {
        cfg_ro = !create && ro_count() < 2 && one_in(3);
        temp = cfg = open_config(cfg_ro, &auto_compact, desc, sizeof desc);
    }

    Faults f = {0};
    unsigned m = fault_mask(2);
    const char *path = s->path;
    if (m & 1)
        path = bad_path(&f);
    if (m & 2)
        cfg = bad_handle(&f, K_CFG, "config", true);

    unsigned ok;
    if (cfg_ro)
        ok = create ? S(InvalidArgument) : s->exists ? S(Success) : S(IoError);
    else if (s->writer >= 0)
        ok = S(DatabaseLocked);
    else if (!create && !s->exists)
        ok = S(IoError);
    else
        ok = S(Success);

    char ctx[300];
    snprintf(ctx, sizeof ctx, "store %d, %s", si, desc);
    LightningDB *h = create ? CALL(create, (path, cfg)) : CALL(open, (path, cfg));
    int got = check_handle(create ? F_create : F_open, h, &f, ok, ctx);
    /* The options were copied: the config may be freed at once. */
    if (temp)
        config_free_checked(temp);
    if (got != Success)
        return;
    if (!cfg_ro)
        s->exists = true;
    int di = register_db(h, si, cfg_ro, auto_compact);
    /* What was committed before is there: all of it, or a sample and the count. */
    const char *why = cfg_ro ? "after read-only open" : "after open";
    if (one_in(4)) {
        scan_check(h, view_of(di), why);
    } else {
        for (int i = 0; i < 4; i++)
            check_key(di, pick_key(), why);
        LightningDBStats st;
        check(F_stats, CALL(stats, (h, &st)), &no_faults, S(Success), why);
        if (st.live_keys != (uint64_t)view_count(view_of(di)))
            mismatch("%s: stats.live_keys = %" PRIu64 ", expected %d", why, st.live_keys,
                     view_count(view_of(di)));
    }
}

/* Opening what is not there, or where a writer is not allowed. */
static void op_open_elsewhere(void) {
    Faults f = {0};
    char path[320];
    LightningDB *h;
    int fn;
    const char *ctx;
    if (one_in(2)) {
        snprintf(path, sizeof path, "%s/missing-%" PRIu64, root_dir, below(1000));
        fn = F_open;
        ctx = "a directory with no database";
        h = CALL(open, (path, NULL));
        check_handle(fn, h, &f, S(IoError), ctx);
    } else {
        fn = F_create;
        ctx = "below a regular file";
        h = CALL(create, (below_file_path, NULL));
        check_handle(fn, h, &f, S(IoError), ctx);
    }
    if (h)
        mismatch("%s(%s) opened a database", fn_name[fn], ctx);
}

static void op_close(void) {
    int di = pick_db();
    if (di < 0) {
        op_open();
        return;
    }
    Faults f = {0};
    bool bad = fault_mask(1) != 0;
    char ctx[64];
    snprintf(ctx, sizeof ctx, "db #%d%s", di, dbs[di].ro ? " (read-only)" : "");
    if (one_in(2)) {
        LightningDB *h = bad ? bad_handle(&f, K_DB, "db", false) : dbs[di].h;
        int got = check(F_close, CALL(close, (h)), &f, S(Success), ctx);
        if (got == Success)
            release_db(di);
    } else {
        int before = CALL(last_error_code, ());
        bool null = bad && one_in(4);
        LightningDB *h = null ? NULL : bad ? bad_handle(&f, K_DB, "db", true) : dbs[di].h;
        /* release drops the handle without closing: the database closes when
         * its last owner goes, which is this handle unless an iterator still
         * reads it (then it would stay open, which the model does not follow). */
        bool iterated = false;
        for (int i = 0; i < MAXITER; i++)
            iterated |= iters[i].used && iters[i].db == di;
        if (!iterated && one_in(3)) {
            CALL(release, (h));
            check_release(F_release, bad && !null, before, bad ? (null ? "NULL" : f.what) : ctx);
        } else {
            CALL(free, (h));
            check_release(F_free, bad && !null, before, bad ? (null ? "NULL" : f.what) : ctx);
        }
        if (!bad)
            release_db(di);
    }
}

static void op_refresh(void) {
    int di = pick_db();
    if (di < 0) {
        op_open();
        return;
    }
    Faults f = {0};
    LightningDB *h = db_arg(&f, fault_mask(1), di);
    int got = check(F_refresh, CALL(refresh, (h)), &f, S(Success),
                    dbs[di].ro ? "read-only" : "writer");
    if (got == Success && dbs[di].ro) {
        copy_view(dbs[di].rov, stores[dbs[di].store].m);
        dbs[di].epoch = stores[dbs[di].store].removal_epoch;
    }
}

/* ------------------------------------------------------------------------- */
/* Point operations.                                                          */

static void op_put(void) {
    int di = pick_db_for_write();
    if (di < 0) {
        op_open();
        return;
    }
    Store *s = &stores[dbs[di].store];
    int k = pick_key();
    Val *v = val_new();
    Faults f = {0};
    unsigned m = fault_mask(3);
    LightningDB *h = db_arg(&f, m & 1, di);
    const uint8_t *kp = ukey[k], *vp;
    size_t kl = ulen[k], vl;
    key_arg(&f, m & 2, true, &kp, &kl);
    value_arg(&f, m & 4, v, &vp, &vl);
    char ctx[100];
    snprintf(ctx, sizeof ctx, "db #%d, key #%d, %zu-byte value", di, k, v->len);
    int got = check(F_put, CALL(put, (h, kp, kl, vp, vl)), &f,
                    dbs[di].ro ? S(InvalidArgument) : S(Success), ctx);
    if (got == Success) {
        set_slot(&s->m[k], v);
        store_commit(s, &k, 1);
    } else {
        check_key(di, k, "after a failed put");
    }
    val_unref(v);
}

static void op_get(void) {
    int di = pick_db();
    if (di < 0) {
        op_open();
        return;
    }
    uint8_t buf[8];
    const uint8_t *kp;
    size_t kl;
    int k = read_key(buf, &kp, &kl);
    Faults f = {0};
    unsigned m = fault_mask(3);
    LightningDB *h = db_arg(&f, m & 1, di);
    key_arg(&f, m & 2, true, &kp, &kl);
    static uint8_t sentinel;
    LightningDBResult r = {&sentinel, 12345}, *rp = &r;
    if (m & 4) {
        rp = NULL;
        fault(&f, S(NullPointer), "result NULL");
    }
    char ctx[64];
    snprintf(ctx, sizeof ctx, "db #%d, key #%d", di, k);
    int got = check(F_get, CALL(get, (h, kp, kl, rp)), &f, S(Success), ctx);
    if (!rp)
        return;
    if (got == Success) {
        check_bytes("value", r.data, r.len, k >= 0 ? view_of(di)[k] : NULL, ctx);
        release(r);
    } else if (r.data || r.len) {
        mismatch("a failed get left the result %p/%zu, not NULL/0", (void *)r.data, r.len);
    }
}

static void op_delete(void) {
    int di = pick_db_for_write();
    if (di < 0) {
        op_open();
        return;
    }
    Store *s = &stores[dbs[di].store];
    int k = pick_key();
    /* Half the deletes through lightning_db_delete_found, which also reports
     * whether the key was there. */
    bool reporting = one_in(2);
    Faults f = {0};
    unsigned m = fault_mask(reporting ? 3 : 2);
    LightningDB *h = db_arg(&f, m & 1, di);
    const uint8_t *kp = ukey[k];
    size_t kl = ulen[k];
    key_arg(&f, m & 2, true, &kp, &kl);
    bool found = !one_in(2), *fp = &found;
    if (reporting && (m & 4)) {
        fp = NULL;
        fault(&f, S(NullPointer), "found NULL");
    }
    bool present = s->m[k] != NULL;
    char ctx[64];
    snprintf(ctx, sizeof ctx, "db #%d, key #%d (%s)", di, k, present ? "present" : "absent");
    int want = dbs[di].ro ? S(InvalidArgument) : S(Success);
    int got = reporting ? check(F_delete_found, CALL(delete_found, (h, kp, kl, fp)), &f, want, ctx)
                        : check(F_delete, CALL(delete, (h, kp, kl)), &f, want, ctx);
    if (reporting && fp && found != (got == Success && present))
        mismatch("delete_found(%s) returned %d and reported found = %d", ctx, got, found);
    if (got == Success) {
        if (present) { /* deleting an absent key writes nothing */
            set_slot(&s->m[k], NULL);
            store_commit(s, &k, 1);
        }
    } else {
        check_key(di, k, "after a failed delete");
    }
}

static void op_contains(void) {
    int di = pick_db();
    if (di < 0) {
        op_open();
        return;
    }
    uint8_t buf[8];
    const uint8_t *kp;
    size_t kl;
    int k = read_key(buf, &kp, &kl);
    Faults f = {0};
    unsigned m = fault_mask(3);
    LightningDB *h = db_arg(&f, m & 1, di);
    key_arg(&f, m & 2, true, &kp, &kl);
    bool found = !one_in(2), *fp = &found;
    if (m & 4) {
        fp = NULL;
        fault(&f, S(NullPointer), "found NULL");
    }
    char ctx[64];
    snprintf(ctx, sizeof ctx, "db #%d, key #%d", di, k);
    int got = check(F_contains, CALL(contains, (h, kp, kl, fp)), &f, S(Success), ctx);
    if (got == Success && found != (k >= 0 && view_of(di)[k] != NULL))
        mismatch("contains(%s) = %d, expected %d", ctx, found, !found);
}

/* ------------------------------------------------------------------------- */
/* Transactions.                                                              */

static void op_commit_or_abort(bool commit);

static void op_begin(void) {
    int di = pick_db();
    if (di < 0) {
        op_open();
        return;
    }
    int ti = FREE_SLOT(txs, MAXTX);
    if (ti < 0) {
        op_commit_or_abort(one_in(2));
        return;
    }
    Faults f = {0};
    unsigned m = fault_mask(2);
    LightningDB *h = db_arg(&f, m & 1, di);
    uint64_t id = 0xdeadbeef, *idp = &id;
    if (m & 2) {
        idp = NULL;
        fault(&f, S(NullPointer), "tx_id NULL");
    }
    char ctx[64];
    snprintf(ctx, sizeof ctx, "db #%d", di);
    int got = check(F_begin_transaction, CALL(begin_transaction, (h, idp)), &f, S(Success), ctx);
    if (got != Success)
        return;
    DbH *d = &dbs[di];
    if (id <= d->max_id)
        mismatch("begin_transaction gave id %" PRIu64 " after id %" PRIu64 " on the same handle",
                 id, d->max_id);
    d->max_id = id;
    Tx *t = &txs[ti];
    t->used = true;
    t->db = di;
    t->id = id;
    copy_view(t->snap, view_of(di));
    t->snap_seq = stores[d->store].seq;
    t->nwrites = 0;
    note("  transaction %" PRIu64 " is tx slot %d", id, ti);
}

static int pick_tx_or_begin(void) {
    int ti = PICK(txs, MAXTX);
    if (ti < 0)
        op_begin();
    return ti;
}

static void op_put_or_delete_tx(bool put) {
    int ti = pick_tx_or_begin();
    if (ti < 0)
        return;
    Tx *t = &txs[ti];
    int k = pick_key();
    Val *v = put ? val_new() : NULL;
    Faults f = {0};
    unsigned m = fault_mask(put ? 4 : 3);
    uint64_t id = (m & 2) ? bad_txid(&f, t->db) : t->id;
    LightningDB *h = tx_db_arg(&f, m & 1, t, id);
    const uint8_t *kp = ukey[k], *vp = NULL;
    size_t kl = ulen[k], vl = 0;
    key_arg(&f, m & 4, true, &kp, &kl);
    if (put)
        value_arg(&f, m & 8, v, &vp, &vl);
    char ctx[100];
    snprintf(ctx, sizeof ctx, "tx %" PRIu64 " on db #%d, key #%d", t->id, t->db, k);
    unsigned ok = dbs[t->db].ro ? S(InvalidArgument) : S(Success);
    int got = put ? check(F_put_tx, CALL(put_tx, (h, id, kp, kl, vp, vl)), &f, ok, ctx)
                  : check(F_delete_tx, CALL(delete_tx, (h, id, kp, kl)), &f, ok, ctx);
    if (got == Success) {
        if (!t->w[k])
            t->nwrites++;
        t->w[k] = put ? 1 : 2;
        set_slot(&t->wv[k], v);
    } else {
        check_tx_key(t, k, "after a failed write in a transaction");
    }
    val_unref(v);
}

static void op_put_tx(void) { op_put_or_delete_tx(true); }
static void op_delete_tx(void) { op_put_or_delete_tx(false); }

static void op_get_or_contains_tx(bool get) {
    int ti = pick_tx_or_begin();
    if (ti < 0)
        return;
    Tx *t = &txs[ti];
    uint8_t buf[8];
    const uint8_t *kp;
    size_t kl;
    int k = read_key(buf, &kp, &kl);
    Faults f = {0};
    unsigned m = fault_mask(4);
    uint64_t id = (m & 2) ? bad_txid(&f, t->db) : t->id;
    LightningDB *h = tx_db_arg(&f, m & 1, t, id);
    key_arg(&f, m & 4, true, &kp, &kl);
    char ctx[100];
    snprintf(ctx, sizeof ctx, "tx %" PRIu64 " on db #%d, key #%d", t->id, t->db, k);
    if (get) {
        static uint8_t sentinel;
        LightningDBResult r = {&sentinel, 999}, *rp = &r;
        if (m & 8) {
            rp = NULL;
            fault(&f, S(NullPointer), "result NULL");
        }
        int got = check(F_get_tx, CALL(get_tx, (h, id, kp, kl, rp)), &f, S(Success), ctx);
        if (!rp)
            return;
        if (got == Success) {
            check_bytes("value in transaction", r.data, r.len, tx_view(t, k), ctx);
            release(r);
        } else if (r.data || r.len) {
            mismatch("a failed get_tx left the result %p/%zu, not NULL/0", (void *)r.data, r.len);
        }
    } else {
        bool found = !one_in(2), *fp = &found;
        if (m & 8) {
            fp = NULL;
            fault(&f, S(NullPointer), "found NULL");
        }
        int got = check(F_contains_tx, CALL(contains_tx, (h, id, kp, kl, fp)), &f, S(Success), ctx);
        if (got == Success && found != (tx_view(t, k) != NULL))
            mismatch("contains_tx(%s) = %d, expected %d", ctx, found, !found);
    }
}

static void op_get_tx(void) { op_get_or_contains_tx(true); }
static void op_contains_tx(void) { op_get_or_contains_tx(false); }

static void op_commit_or_abort(bool commit) {
    int ti = pick_tx_or_begin();
    if (ti < 0)
        return;
    Tx *t = &txs[ti];
    DbH *d = &dbs[t->db];
    Store *s = &stores[d->store];
    Faults f = {0};
    unsigned m = fault_mask(2);
    uint64_t id = (m & 2) ? bad_txid(&f, t->db) : t->id;
    LightningDB *h = tx_db_arg(&f, m & 1, t, id);
    unsigned ok = S(Success);
    int conflict_key = -1, written[NK_MAX], nw = 0;
    for (int k = 0; k < nkeys; k++) {
        if (!t->w[k])
            continue;
        written[nw++] = k;
        if (s->last_write[k] > t->snap_seq && conflict_key < 0)
            conflict_key = k;
    }
    if (commit) {
        if (d->ro) /* undocumented: committing a transaction with no writes on a read-only
                      handle; either answer is fine as long as the id is finished */
            ok = S(Success) | S(InvalidArgument);
        else if (nw > 0 && conflict_key >= 0)
            ok = S(TransactionConflict);
    }
    char ctx[160];
    snprintf(ctx, sizeof ctx, "tx %" PRIu64 " on db #%d, %d writes%s", t->id, t->db, nw,
             conflict_key >= 0 ? ", one of them to a key written since its snapshot" : "");
    int got = commit ? check(F_commit_transaction, CALL(commit_transaction, (h, id)), &f, ok, ctx)
                     : check(F_abort_transaction, CALL(abort_transaction, (h, id)), &f, ok, ctx);
    if (f.n) { /* the call never reached the transaction: it is still open */
        if (nw)
            check_tx_key(t, written[below((uint64_t)nw)], "after a refused commit/abort");
        return;
    }
    int di = t->db;
    n_conflicts += got == TransactionConflict;
    if (commit && got == Success && nw > 0) {
        n_commits_applied++;
        for (int i = 0; i < nw; i++)
            set_slot(&s->m[written[i]], t->w[written[i]] == 1 ? t->wv[written[i]] : NULL);
        store_commit(s, written, nw);
    }
    int probe = nw ? written[below((uint64_t)nw)] : -1;
    finish_tx(ti);
    if (probe >= 0)
        check_key(di, probe, got == Success ? "after a commit/abort" : "after a conflict");
    /* The id is finished whatever the outcome. */
    Faults none = {0};
    check(F_abort_transaction, CALL(abort_transaction, (d->h, id)), &none, S(InvalidArgument),
          "the id just finished");
}

static void op_commit(void) { op_commit_or_abort(true); }
static void op_abort(void) { op_commit_or_abort(false); }

/* ------------------------------------------------------------------------- */
/* Write batches.                                                             */

static void op_batch_new(void) {
    int bi = FREE_SLOT(batches, MAXBATCH);
    if (bi < 0)
        return;
    LightningDBWriteBatch *h = CALL(batch_new, ());
    check_handle(F_batch_new, h, &no_faults, S(Success), "");
    batches[bi].used = true;
    batches[bi].h = h;
    batches[bi].n = 0;
    batches[bi].poison = 0;
}

static int pick_batch_or_new(void) {
    int bi = PICK(batches, MAXBATCH);
    if (bi < 0)
        op_batch_new();
    return bi;
}

static void check_batch_len(int bi, const char *why) {
    size_t len = 424242;
    check(F_batch_len, CALL(batch_len, (batches[bi].h, &len)), &no_faults, S(Success), why);
    if (len != (size_t)batches[bi].n)
        mismatch("%s: batch_len = %zu, expected %d", why, len, batches[bi].n);
}

static void op_batch_put_or_delete(bool put) {
    int bi = pick_batch_or_new();
    if (bi < 0)
        return;
    Batch *b = &batches[bi];
    int k = pick_key();
    Val *v = put ? val_new() : NULL;
    Faults f = {0};
    unsigned m = fault_mask(put ? 3 : 2);
    LightningDBWriteBatch *h = (m & 1) ? bad_handle(&f, K_BATCH, "batch", false) : b->h;
    const uint8_t *kp = ukey[k], *vp = NULL;
    size_t kl = ulen[k], vl = 0;
    /* An empty key is accepted here and refused when the batch is written. */
    bool poison = !(m & 2) && one_in(50);
    if (poison)
        kl = 0;
    key_arg(&f, m & 2, false, &kp, &kl);
    if (put)
        value_arg(&f, m & 4, v, &vp, &vl);
    char ctx[100];
    snprintf(ctx, sizeof ctx, "batch #%d, key #%d%s", bi, k, poison ? " with length 0" : "");
    int got = put ? check(F_batch_put, CALL(batch_put, (h, kp, kl, vp, vl)), &f, S(Success), ctx)
                  : check(F_batch_delete, CALL(batch_delete, (h, kp, kl)), &f, S(Success), ctx);
    if (poison)
        n_bad[put ? F_batch_put : F_batch_delete]++;
    if (got == Success) {
        if (b->n == b->cap) {
            b->cap = b->cap ? 2 * b->cap : 16;
            b->ops = realloc(b->ops, (size_t)b->cap * sizeof *b->ops);
        }
        b->ops[b->n].key = poison ? -1 : k;
        b->ops[b->n].del = !put;
        b->ops[b->n].v = val_ref(v);
        b->n++;
        b->poison += poison;
    } else {
        check_batch_len(bi, "after a refused batch operation");
    }
    val_unref(v);
}

static void op_batch_put(void) { op_batch_put_or_delete(true); }
static void op_batch_delete(void) { op_batch_put_or_delete(false); }

static void op_batch_len(void) {
    int bi = pick_batch_or_new();
    if (bi < 0)
        return;
    Faults f = {0};
    unsigned m = fault_mask(2);
    LightningDBWriteBatch *h = (m & 1) ? bad_handle(&f, K_BATCH, "batch", false) : batches[bi].h;
    size_t len = 424242, *lp = &len;
    if (m & 2) {
        lp = NULL;
        fault(&f, S(NullPointer), "len NULL");
    }
    int got = check(F_batch_len, CALL(batch_len, (h, lp)), &f, S(Success), "");
    if (got == Success && len != (size_t)batches[bi].n)
        mismatch("batch_len = %zu, expected %d", len, batches[bi].n);
}

static void op_batch_clear(void) {
    int bi = pick_batch_or_new();
    if (bi < 0)
        return;
    Faults f = {0};
    LightningDBWriteBatch *h =
        fault_mask(1) ? bad_handle(&f, K_BATCH, "batch", false) : batches[bi].h;
    int got = check(F_batch_clear, CALL(batch_clear, (h)), &f, S(Success), "");
    if (got == Success)
        drop_batch_ops(&batches[bi]);
    if (one_in(3))
        check_batch_len(bi, "after batch_clear");
}

static void op_write_batch(void) {
    int bi = pick_batch_or_new();
    if (bi < 0)
        return;
    int di = pick_db_for_write();
    if (di < 0) {
        op_open();
        return;
    }
    Batch *b = &batches[bi];
    Store *s = &stores[dbs[di].store];
    Faults f = {0};
    unsigned m = fault_mask(2);
    LightningDB *h = db_arg(&f, m & 1, di);
    LightningDBWriteBatch *bh = (m & 2) ? bad_handle(&f, K_BATCH, "batch", false) : b->h;
    unsigned ok;
    if (dbs[di].ro) /* an empty batch on a read-only handle: either answer */
        ok = b->n ? S(InvalidArgument) : S(Success) | S(InvalidArgument);
    else
        ok = b->poison ? S(InvalidArgument) : S(Success);
    char ctx[100];
    snprintf(ctx, sizeof ctx, "batch #%d of %d operations (%d with an empty key), db #%d%s", bi,
             b->n, b->poison, di, dbs[di].ro ? " (read-only)" : "");
    int got = check(F_write_batch, CALL(write_batch, (h, bh)), &f, ok, ctx);
    int probe = -1;
    if (got == Success && !dbs[di].ro && b->n > 0) {
        int *keys = malloc((size_t)b->n * sizeof *keys);
        for (int i = 0; i < b->n; i++) {
            keys[i] = b->ops[i].key;
            set_slot(&s->m[keys[i]], b->ops[i].del ? NULL : b->ops[i].v);
        }
        store_commit(s, keys, b->n);
        free(keys);
    }
    for (int i = 0; i < b->n && probe < 0; i++)
        if (b->ops[(i + b->n / 2) % b->n].key >= 0)
            probe = b->ops[(i + b->n / 2) % b->n].key;
    if (probe >= 0)
        check_key(di, probe, got == Success ? "after write_batch" : "after a refused write_batch");
    if (one_in(4))
        check_batch_len(bi, "after write_batch (the batch is left unchanged)");
}

static void op_batch_free(void) {
    int bi = PICK(batches, MAXBATCH);
    if (bi < 0) {
        op_batch_new();
        return;
    }
    int before = CALL(last_error_code, ());
    Faults f = {0};
    bool misuse = one_in(3), null = !misuse && one_in(10);
    LightningDBWriteBatch *h =
        misuse ? bad_handle(&f, K_BATCH, "batch", true) : null ? NULL : batches[bi].h;
    CALL(batch_free, (h));
    check_release(F_batch_free, misuse, before, misuse ? f.what : null ? "NULL" : "batch");
    if (!misuse && !null) {
        drop_batch_ops(&batches[bi]);
        free(batches[bi].ops);
        add_dead(batches[bi].h, K_BATCH);
        memset(&batches[bi], 0, sizeof batches[bi]);
    }
}

/* ------------------------------------------------------------------------- */
/* Iterators.                                                                 */

static void op_iter_free(void);

static void op_iter_new(void) {
    int ii = FREE_SLOT(iters, MAXITER);
    if (ii < 0) {
        op_iter_free();
        return;
    }
    int kind = (int)below(4); /* range, prefix, range_tx, prefix_tx */
    int ti = kind >= 2 ? PICK(txs, MAXTX) : -1;
    if (kind >= 2 && ti < 0)
        kind -= 2;
    int di = ti >= 0 ? txs[ti].db : pick_db();
    if (di < 0) {
        op_open();
        return;
    }
    bool is_tx = kind >= 2, is_prefix = kind % 2 == 1;
    bool reverse = one_in(2);
    Faults f = {0};
    unsigned m = fault_mask(5); /* db, tx id, bound 1, bound 2, out */
    uint64_t id = 0;
    LightningDB *h;
    if (is_tx) {
        id = (m & 2) ? bad_txid(&f, di) : txs[ti].id;
        h = tx_db_arg(&f, m & 1, &txs[ti], id);
    } else {
        h = db_arg(&f, m & 1, di);
    }
    Bound b1, b2;
    bound_arg(&f, m & 4, &b1, is_prefix, is_prefix ? "prefix" : "start");
    bound_arg(&f, (m & 8) && !is_prefix, &b2, false, "end");
    LightningDBIterator *it = (LightningDBIterator *)&anchor, **itp = &it;
    if (m & 16) {
        itp = NULL;
        fault(&f, S(NullPointer), "iter NULL");
    }
    char ctx[200];
    snprintf(ctx, sizeof ctx, "%s%s%s on db #%d, bounds %zu/%zu bytes%s", is_tx ? "tx " : "",
             is_prefix ? "prefix" : "range", reverse ? " reversed" : "", di, b1.l, b2.l,
             is_tx ? "" : "");
    int got, fn;
    if (kind == 0) {
        fn = F_iter_range;
        got = CALL(iter_range, (h, b1.p, b1.l, b2.p, b2.l, reverse, itp));
    } else if (kind == 1) {
        fn = F_iter_prefix;
        got = CALL(iter_prefix, (h, b1.p, b1.l, reverse, itp));
    } else if (kind == 2) {
        fn = F_iter_range_tx;
        got = CALL(iter_range_tx, (h, id, b1.p, b1.l, b2.p, b2.l, reverse, itp));
    } else {
        fn = F_iter_prefix_tx;
        got = CALL(iter_prefix_tx, (h, id, b1.p, b1.l, reverse, itp));
    }
    check(fn, got, &f, S(Success), ctx);
    if (got != Success) {
        if (itp && it != NULL)
            mismatch("a failed %s left *iter %p, not NULL", fn_name[fn], (void *)it);
        return;
    }
    if (!it)
        mismatch("%s succeeded with *iter NULL", fn_name[fn]);
    Iter *x = &iters[ii];
    x->used = true;
    x->h = it;
    x->db = di;
    x->pos = 0;
    x->n = 0;
    x->keys = malloc((size_t)nkeys * sizeof *x->keys);
    x->vals = malloc((size_t)nkeys * sizeof *x->vals);
    Val *const *view = view_of(di);
    for (int i = 0; i < nkeys; i++) {
        int k = reverse ? nkeys - 1 - i : i;
        Val *v = is_tx ? tx_view(&txs[ti], k) : view[k];
        if (!v)
            continue;
        if (is_prefix ? !has_prefix(k, &b1) : !in_range(k, &b1, &b2))
            continue;
        x->keys[x->n] = k;
        x->vals[x->n] = val_ref(v);
        x->n++;
    }
    note("  iterator slot %d: %d entries expected", ii, x->n);
}

static void op_iter_next(void) {
    int ii = PICK(iters, MAXITER);
    if (ii < 0) {
        op_iter_new();
        return;
    }
    Iter *x = &iters[ii];
    if (x->db < 0 && one_in(2)) { /* worth a few calls, not many: release it */
        int before = CALL(last_error_code, ());
        CALL(iter_free, (x->h));
        check_release(F_iter_free, false, before, "iterator of a closed database");
        drop_iter(ii);
        return;
    }
    Faults f = {0};
    unsigned m = fault_mask(4);
    LightningDBIterator *h = (m & 1) ? bad_handle(&f, K_ITER, "iter", false) : x->h;
    static uint8_t sentinel;
    LightningDBResult kr = {&sentinel, 111}, vr = {&sentinel, 222};
    LightningDBResult *kp = &kr, *vp = &vr;
    bool has = true, *hp = &has;
    if (m & 2) {
        kp = NULL;
        fault(&f, S(NullPointer), "key NULL");
    }
    if (m & 4) {
        vp = NULL;
        fault(&f, S(NullPointer), "value NULL");
    }
    if (m & 8) {
        hp = NULL;
        fault(&f, S(NullPointer), "has_entry NULL");
    }
    char ctx[100];
    snprintf(ctx, sizeof ctx, "iterator slot %d at %d of %d%s", ii, x->pos, x->n,
             x->db < 0 ? ", its database closed" : "");
    /* Once its database is closed an iterator fails with InvalidArgument. */
    unsigned ok = x->db < 0 ? S(InvalidArgument) : S(Success);
    n_closed_iter_calls += x->db < 0 && !(m & 1);
    int got = check(F_iter_next, CALL(iter_next, (h, kp, vp, hp)), &f, ok, ctx);
    if (got == Success && x->pos < x->n) {
        int k = x->keys[x->pos];
        if (!has)
            mismatch("iter_next (%s): no entry, expected key #%d", ctx, k);
        if (kr.len != ulen[k] || !kr.data || memcmp(kr.data, ukey[k], ulen[k]) != 0)
            mismatch("iter_next (%s): a %zu-byte key, expected key #%d", ctx, kr.len, k);
        check_bytes("value from iter_next", vr.data, vr.len, x->vals[x->pos], ctx);
        release(kr);
        release(vr);
        x->pos++;
        return;
    }
    /* The end, or a failure: all the outputs given are written, with nothing. */
    if ((kp && (kr.data || kr.len)) || (vp && (vr.data || vr.len)) || (hp && has))
        mismatch("iter_next (%s) returned %s with key %p/%zu, value %p/%zu, has_entry %d", ctx,
                 code_name(got), (void *)(kp ? kr.data : NULL), kp ? kr.len : 0,
                 (void *)(vp ? vr.data : NULL), vp ? vr.len : 0, hp ? has : 0);
}

static void op_iter_free(void) {
    int ii = PICK(iters, MAXITER);
    if (ii < 0) {
        op_iter_new();
        return;
    }
    int before = CALL(last_error_code, ());
    Faults f = {0};
    bool misuse = one_in(3), null = !misuse && one_in(10);
    LightningDBIterator *h =
        misuse ? bad_handle(&f, K_ITER, "iter", true) : null ? NULL : iters[ii].h;
    CALL(iter_free, (h));
    check_release(F_iter_free, misuse, before, misuse ? f.what : null ? "NULL" : "iterator");
    if (!misuse && !null)
        drop_iter(ii);
}

/* ------------------------------------------------------------------------- */
/* Maintenance and information.                                               */

/* An engine issue, tolerated and counted: verify and backup of a read-only handle
 * open the segment files of its snapshot again by path, so once the writer has
 * removed one of them (compaction, or recovery when a writer opens) they fail with
 * IoError (No such file or directory), although the snapshot itself still reads
 * fine. Only then is IoError accepted. */
static uint64_t stale_ro_failures;

static unsigned stale_ro_tolerance(int di) {
    const DbH *d = &dbs[di];
    const Store *s = &stores[d->store];
    return d->ro && (d->epoch != s->removal_epoch || s->auto_compacting) ? S(IoError) : 0;
}

static void count_stale_ro_failure(int got, const char *what) {
    if (got != IoError)
        return;
    const char *msg = lightning_db_last_error_message();
    if (!strstr(msg, "No such file or directory"))
        mismatch("%s of a read-only handle failed with IoError \"%s\"", what, msg);
    stale_ro_failures++;
}

static void op_checkpoint(void) {
    int di = pick_db_for_write();
    if (di < 0) {
        op_open();
        return;
    }
    Faults f = {0};
    LightningDB *h = db_arg(&f, fault_mask(1), di);
    check(F_checkpoint, CALL(checkpoint, (h)), &f, dbs[di].ro ? S(InvalidArgument) : S(Success),
          dbs[di].ro ? "read-only" : "writer");
}

static void op_compact(void) {
    int di = pick_db_for_write();
    if (di < 0) {
        op_open();
        return;
    }
    Faults f = {0};
    LightningDB *h = db_arg(&f, fault_mask(1), di);
    LightningDBCompactionReport report, *rp = one_in(3) ? NULL : &report; /* NULL: allowed */
    int got = check(F_compact, CALL(compact, (h, rp)), &f,
                    dbs[di].ro ? S(InvalidArgument) : S(Success),
                    dbs[di].ro ? "read-only" : "writer");
    if (got == Success)
        stores[dbs[di].store].removal_epoch++;
    if (one_in(4))
        check_key(di, pick_key(), "after compact");
}

static void op_verify(void) {
    int di = pick_db();
    if (di < 0) {
        op_open();
        return;
    }
    Faults f = {0};
    LightningDB *h = db_arg(&f, fault_mask(1), di);
    LightningDBVerifyReport report, *rp = one_in(4) ? NULL : &report; /* NULL: allowed */
    memset(&report, 0xff, sizeof report);
    int got = check(F_verify, CALL(verify, (h, rp)), &f, S(Success) | stale_ro_tolerance(di),
                    dbs[di].ro ? "read-only" : "writer");
    if (!f.n)
        count_stale_ro_failure(got, "verify");
    if (got == Success && rp &&
        (report.corruptions != 0 || report.unreadable_keys != 0 ||
         report.live_keys != (uint64_t)view_count(view_of(di))))
        mismatch("verify: %" PRIu64 " corruptions, %" PRIu64 " unreadable, %" PRIu64
                 " live keys (expected %d)",
                 report.corruptions, report.unreadable_keys, report.live_keys,
                 view_count(view_of(di)));
}

static void op_stats(void) {
    int di = pick_db();
    if (di < 0) {
        op_open();
        return;
    }
    Faults f = {0};
    unsigned m = fault_mask(2);
    LightningDB *h = db_arg(&f, m & 1, di);
    LightningDBStats st, *sp = &st;
    if (m & 2) {
        sp = NULL;
        fault(&f, S(NullPointer), "stats NULL");
    }
    int got = check(F_stats, CALL(stats, (h, sp)), &f, S(Success),
                    dbs[di].ro ? "read-only" : "writer");
    if (got == Success && st.live_keys != (uint64_t)view_count(view_of(di)))
        mismatch("stats.live_keys = %" PRIu64 ", expected %d", st.live_keys,
                 view_count(view_of(di)));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}
static void rm_rf(const char *path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void op_backup(void) {
    int di = pick_db();
    if (di < 0) {
        op_open();
        return;
    }
    const Store *s = &stores[dbs[di].store];
    char dest[340];
    snprintf(dest, sizeof dest, "%s/backup-%" PRIu64, root_dir, backups++);
    const char *dp = dest;
    unsigned ok = S(Success);
    uint64_t r = below(8);
    if (r == 0) {
        dp = s->path; /* not empty */
        ok = S(InvalidArgument);
    } else if (r == 1) {
        dp = below_file_path;
        ok = S(IoError);
    }
    Faults f = {0};
    unsigned m = fault_mask(2);
    LightningDB *h = db_arg(&f, m & 1, di);
    if (m & 2)
        dp = bad_path(&f);
    char ctx[100];
    snprintf(ctx, sizeof ctx, "db #%d%s into %s", di, dbs[di].ro ? " (read-only)" : "",
             ok == S(Success)   ? "a new directory"
             : ok == S(IoError) ? "a path below a file"
                                : "a database");
    if (ok == S(Success))
        ok |= stale_ro_tolerance(di);
    int got = check(F_backup, CALL(backup, (h, dp)), &f, ok, ctx);
    if (!f.n && dp == dest)
        count_stale_ro_failure(got, "backup");
    if (got != Success) {
        if (dp == dest)
            rm_rf(dest);
        return;
    }
    /* The copy opens and holds what the handle saw. */
    LightningDB *copy = CALL(open, (dest, NULL));
    check_handle(F_open, copy, &no_faults, S(Success), "the backup");
    scan_check(copy, view_of(di), "the backup");
    check(F_close, CALL(close, (copy)), &no_faults, S(Success), "the backup");
    add_dead(copy, K_DB);
    rm_rf(dest);
}

static void op_misc(void) {
    int before = CALL(last_error_code, ());
    switch (below(4)) {
    case 0: {
        const char *v = CALL(version, ());
        if (!v || !v[0])
            mismatch("lightning_db_version() is NULL or empty");
        note("version %s", v);
        break;
    }
    case 1: {
        static const int known[] = {0, -1, -2, -3, -4, -5, -6, -7, -8, -99};
        static const int unknown[] = {1, -9, -10, -98, -100, 99, INT_MIN, INT_MAX};
        bool is_known = one_in(2);
        int c = is_known ? known[below(10)] : one_in(3) ? (int)rnd() : unknown[below(8)];
        if (!is_known)
            for (int i = 0; i < 10; i++)
                is_known |= c == known[i];
        const char *s = CALL(error_string, (c));
        note("error_string(%d) = %s", c, s ? s : "NULL");
        if (!s || !s[0])
            mismatch("lightning_db_error_string(%d) is NULL or empty", c);
        if ((strcmp(s, "Unrecognised error code") == 0) == is_known)
            mismatch("lightning_db_error_string(%d) = \"%s\"", c, s);
        break;
    }
    case 2: check_live_handles(); break;
    default: {
        const char *msg = CALL(last_error_message, ());
        if (!msg || (before == Success) != (msg[0] == '\0'))
            mismatch("last error %s with message \"%s\"", code_name(before), msg ? msg : "(NULL)");
        break;
    }
    }
    int after = CALL(last_error_code, ());
    if (after != before)
        mismatch("an information function changed the last error from %s to %s",
                 code_name(before), code_name(after));
}


/* ------------------------------------------------------------------------- */
/* The lending calls: caller buffers, borrowed entries, pages, packed batches. */

/* A buffer capacity for get_into: none (NULL/0), too small, or ample. */
static size_t pick_cap(uint8_t **buf) {
    static uint8_t *ample;
    if (!ample)
        ample = malloc(70000);
    switch (below(4)) {
    case 0:
        *buf = one_in(2) ? NULL : ample;
        return 0;
    case 1:
        *buf = ample;
        return below(20);
    default:
        *buf = ample;
        return 70000;
    }
}

/* What get_into reported against the model's value `want`. */
static void check_into(const char *what, size_t vlen, const uint8_t *buf, size_t cap,
                       const Val *want, const char *ctx) {
    if (!want) {
        if (vlen != LIGHTNING_DB_NO_VALUE)
            mismatch("%s (%s): absent key reported as %zu bytes", what, ctx, vlen);
        return;
    }
    if (vlen != want->len)
        mismatch("%s (%s): length %zu, expected %zu", what, ctx, vlen, want->len);
    else if (vlen <= cap && vlen && memcmp(buf, want->data, vlen) != 0)
        mismatch("%s (%s): %zu different bytes", what, ctx, vlen);
}

static void op_get_into(void) {
    int di = pick_db();
    if (di < 0) {
        op_open();
        return;
    }
    uint8_t kbuf[8];
    const uint8_t *kp;
    size_t kl;
    int k = read_key(kbuf, &kp, &kl);
    Faults f = {0};
    unsigned m = fault_mask(3);
    LightningDB *h = db_arg(&f, m & 1, di);
    key_arg(&f, m & 2, true, &kp, &kl);
    uint8_t *buf;
    size_t cap = pick_cap(&buf), vlen = 12345, *vp = &vlen;
    if (m & 4) {
        if (one_in(2)) {
            vp = NULL;
            fault(&f, S(NullPointer), "value_len NULL");
        } else {
            buf = NULL;
            cap = 1 + below(100);
            fault(&f, S(NullPointer), "buf NULL with capacity %zu", cap);
        }
    }
    char ctx[64];
    snprintf(ctx, sizeof ctx, "db #%d, key #%d, capacity %zu", di, k, cap);
    int got = check(F_get_into, CALL(get_into, (h, kp, kl, buf, cap, vp)), &f, S(Success), ctx);
    if (!vp)
        return;
    if (got == Success)
        check_into("get_into", vlen, buf, cap, k >= 0 ? view_of(di)[k] : NULL, ctx);
    else if (vlen != LIGHTNING_DB_NO_VALUE)
        mismatch("a failed get_into left value_len %zu, not LIGHTNING_DB_NO_VALUE", vlen);
}

static void op_get_tx_into(void) {
    int ti = pick_tx_or_begin();
    if (ti < 0)
        return;
    Tx *t = &txs[ti];
    uint8_t kbuf[8];
    const uint8_t *kp;
    size_t kl;
    int k = read_key(kbuf, &kp, &kl);
    Faults f = {0};
    unsigned m = fault_mask(4);
    uint64_t id = (m & 2) ? bad_txid(&f, t->db) : t->id;
    LightningDB *h = tx_db_arg(&f, m & 1, t, id);
    key_arg(&f, m & 4, true, &kp, &kl);
    uint8_t *buf;
    size_t cap = pick_cap(&buf), vlen = 999, *vp = &vlen;
    if (m & 8) {
        vp = NULL;
        fault(&f, S(NullPointer), "value_len NULL");
    }
    char ctx[100];
    snprintf(ctx, sizeof ctx, "tx %" PRIu64 " on db #%d, key #%d, capacity %zu", t->id, t->db, k,
             cap);
    int got = check(F_get_tx_into, CALL(get_tx_into, (h, id, kp, kl, buf, cap, vp)), &f,
                    S(Success), ctx);
    if (!vp)
        return;
    if (got == Success)
        check_into("get_tx_into", vlen, buf, cap, tx_view(t, k), ctx);
    else if (vlen != LIGHTNING_DB_NO_VALUE)
        mismatch("a failed get_tx_into left value_len %zu, not LIGHTNING_DB_NO_VALUE", vlen);
}

static void op_iter_next_borrowed(void) {
    int ii = PICK(iters, MAXITER);
    if (ii < 0) {
        op_iter_new();
        return;
    }
    Iter *x = &iters[ii];
    Faults f = {0};
    unsigned m = fault_mask(3);
    LightningDBIterator *h = (m & 1) ? bad_handle(&f, K_ITER, "iter", false) : x->h;
    static const uint8_t sentinel;
    const uint8_t *key = &sentinel, *value = &sentinel, **kp = &key;
    size_t kl = 7, vl = 7;
    bool has = true, *hp = &has;
    if (m & 2) {
        kp = NULL;
        fault(&f, S(NullPointer), "key NULL");
    }
    if (m & 4) {
        hp = NULL;
        fault(&f, S(NullPointer), "has_entry NULL");
    }
    char ctx[100];
    snprintf(ctx, sizeof ctx, "iterator slot %d at %d of %d%s", ii, x->pos, x->n,
             x->db < 0 ? ", its database closed" : "");
    unsigned ok = x->db < 0 ? S(InvalidArgument) : S(Success);
    int got = check(F_iter_next_borrowed, CALL(iter_next_borrowed, (h, kp, &kl, &value, &vl, hp)),
                    &f, ok, ctx);
    if (got == Success && x->pos < x->n) {
        int k = x->keys[x->pos];
        if (!has)
            mismatch("iter_next_borrowed (%s): no entry, expected key #%d", ctx, k);
        if (kl != ulen[k] || !key || memcmp(key, ukey[k], ulen[k]) != 0)
            mismatch("iter_next_borrowed (%s): a %zu-byte key, expected key #%d", ctx, kl, k);
        check_bytes("value from iter_next_borrowed", vl ? value : (value ? value : NULL), vl,
                    x->vals[x->pos], ctx);
        x->pos++;
        return;
    }
    if ((kp && (key || kl)) || value || vl || (hp && has))
        mismatch("iter_next_borrowed (%s) returned %s with an entry", ctx, code_name(got));
}

/* The caller's page of a page call: a shared buffer of 200,000 bytes, a capacity
 * (often too small for one entry) and a maximum number of entries; `*count_out`
 * is NULL (a fault) when `bad_count`, and the maximum 0 (a fault) when `bad_max`. */
static uint8_t *page_args(Faults *f, bool bad_count, bool bad_max, size_t *cap, size_t *max,
                          size_t *count, size_t **count_out) {
    static uint8_t *page;
    if (!page)
        page = malloc(200000);
    *cap = one_in(4) ? below(64) : below(200000);
    *max = 1 + below(12);
    *count = 77;
    *count_out = count;
    if (bad_count) {
        *count_out = NULL;
        fault(f, S(NullPointer), "count NULL");
    }
    if (bad_max) {
        *max = 0;
        fault(f, S(InvalidArgument), "max_entries 0");
    }
    return page;
}

/* Checks a page that a call `fn` filled with `count` entries (`used` bytes, of
 * `cap`, at most `max` entries) against the entries `x` expects from its
 * position, and moves `x` past them. */
static void check_page(const char *fn, Iter *x, const uint8_t *page, size_t cap, size_t max,
                       size_t count, size_t used, const char *ctx) {
    if (count > max)
        mismatch("%s (%s): %zu entries, more than %zu", fn, ctx, count, max);
    if (count == 0) {
        if (x->pos >= x->n) {
            if (used)
                mismatch("%s (%s): at the end, yet %zu bytes needed", fn, ctx, used);
            return;
        }
        int k = x->keys[x->pos];
        size_t need = LIGHTNING_DB_PAGE_ENTRY_HEADER + ulen[k] + x->vals[x->pos]->len;
        if (used != need || need <= cap)
            mismatch("%s (%s): reported %zu bytes needed, expected %zu", fn, ctx, used, need);
        return;
    }
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        if (x->pos >= x->n) {
            mismatch("%s (%s): entry %zu past the end of the scan", fn, ctx, i);
            return;
        }
        uint32_t kl, vl;
        memcpy(&kl, page + at, 4);
        memcpy(&vl, page + at + 4, 4);
        int k = x->keys[x->pos];
        if (kl != ulen[k] || memcmp(page + at + 8, ukey[k], kl) != 0)
            mismatch("%s (%s): entry %zu has a %u-byte key, expected key #%d", fn, ctx, i, kl, k);
        else
            check_bytes(fn, page + at + 8 + kl, vl, x->vals[x->pos], ctx);
        at += 8 + (size_t)kl + vl;
        x->pos++;
    }
    if (at != used)
        mismatch("%s (%s): %zu bytes used, entries span %zu", fn, ctx, used, at);
    if (x->pos < x->n && count < max) { /* stopped early: the next entry must not fit */
        int k = x->keys[x->pos];
        if (used + 8 + ulen[k] + x->vals[x->pos]->len <= cap)
            mismatch("%s (%s): stopped after %zu entries with room left", fn, ctx, count);
    }
}

static void op_iter_next_page(void) {
    int ii = PICK(iters, MAXITER);
    if (ii < 0) {
        op_iter_new();
        return;
    }
    Iter *x = &iters[ii];
    Faults f = {0};
    unsigned m = fault_mask(3);
    LightningDBIterator *h = (m & 1) ? bad_handle(&f, K_ITER, "iter", false) : x->h;
    size_t cap, max, count, used = 77, *cp;
    uint8_t *page = page_args(&f, m & 2, m & 4, &cap, &max, &count, &cp);
    char ctx[120];
    snprintf(ctx, sizeof ctx, "iterator slot %d at %d of %d, capacity %zu, max %zu%s", ii, x->pos,
             x->n, cap, max, x->db < 0 ? ", its database closed" : "");
    unsigned ok = x->db < 0 ? S(InvalidArgument) : S(Success);
    int got = check(F_iter_next_page, CALL(iter_next_page, (h, page, cap, max, cp, &used)), &f, ok,
                    ctx);
    if (got != Success || !cp) {
        if ((cp && count) || used)
            mismatch("iter_next_page (%s) failed with %zu entries, %zu bytes", ctx,
                     cp ? count : 0, used);
        return;
    }
    check_page("iter_next_page", x, page, cap, max, count, used, ctx);
}

/* The first page of a range in one call, of the database or of a transaction,
 * and the iterator over the rest (range_page) or over what did not fit of the
 * entries asked for (range_first). */
static void op_range_page(void) {
    int ti = one_in(2) ? PICK(txs, MAXTX) : -1;
    int di = ti >= 0 ? txs[ti].db : pick_db();
    if (di < 0) {
        op_open();
        return;
    }
    int ii = FREE_SLOT(iters, MAXITER); /* where the rest goes, if asked for */
    bool want_rest = ii >= 0 && !one_in(3), reverse = one_in(2), first = one_in(2);
    Faults f = {0};
    unsigned m = fault_mask(ti >= 0 ? 6 : 5); /* db, start, end, count, max_entries, tx id */
    uint64_t id = 0;
    LightningDB *h;
    if (ti >= 0) {
        id = (m & 32) ? bad_txid(&f, di) : txs[ti].id;
        h = tx_db_arg(&f, m & 1, &txs[ti], id);
    } else {
        h = db_arg(&f, m & 1, di);
    }
    Bound b1, b2;
    bound_arg(&f, m & 2, &b1, false, "start");
    bound_arg(&f, m & 4, &b2, false, "end");
    size_t cap, max, count, used = 77, *cp;
    uint8_t *page = page_args(&f, m & 8, m & 16, &cap, &max, &count, &cp);
    LightningDBIterator *rest = (LightningDBIterator *)&anchor, **rp = want_rest ? &rest : NULL;
    char ctx[160];
    snprintf(ctx, sizeof ctx, "%srange%s on db #%d, bounds %zu/%zu bytes, capacity %zu, max %zu%s",
             ti >= 0 ? "tx " : "", reverse ? " reversed" : "", di, b1.l, b2.l, cap, max,
             want_rest ? (first ? ", unfit" : ", rest") : "");
    int fn;
    int got;
    if (first) {
        fn = ti >= 0 ? F_range_first_tx : F_range_first;
        got = ti >= 0 ? CALL(range_first_tx, (h, id, b1.p, b1.l, b2.p, b2.l, reverse, page, cap,
                                              max, cp, &used, rp))
                      : CALL(range_first, (h, b1.p, b1.l, b2.p, b2.l, reverse, page, cap, max, cp,
                                           &used, rp));
    } else {
        fn = ti >= 0 ? F_range_page_tx : F_range_page;
        got = ti >= 0 ? CALL(range_page_tx, (h, id, b1.p, b1.l, b2.p, b2.l, reverse, page, cap,
                                             max, cp, &used, rp))
                      : CALL(range_page, (h, b1.p, b1.l, b2.p, b2.l, reverse, page, cap, max, cp,
                                          &used, rp));
    }
    check(fn, got, &f, S(Success), ctx);
    if (got != Success || !cp) {
        if ((cp && count) || used || (rp && rest))
            mismatch("%s (%s) failed with %zu entries, %zu bytes, rest %p", fn_name[fn], ctx,
                     cp ? count : 0, used, rp ? (void *)rest : NULL);
        return;
    }
    /* What the range holds, in the order asked. */
    Iter x = {0};
    x.keys = malloc((size_t)nkeys * sizeof *x.keys);
    x.vals = malloc((size_t)nkeys * sizeof *x.vals);
    Val *const *view = view_of(di);
    for (int i = 0; i < nkeys; i++) {
        int k = reverse ? nkeys - 1 - i : i;
        Val *v = ti >= 0 ? tx_view(&txs[ti], k) : view[k];
        if (v && in_range(k, &b1, &b2)) {
            x.keys[x.n] = k;
            x.vals[x.n] = val_ref(v);
            x.n++;
        }
    }
    check_page(fn_name[fn], &x, page, cap, max, count, used, ctx);
    /* range_page: an iterator whenever entries are left; range_first: only for
     * an entry asked for that did not fit. */
    bool more = x.pos < x.n && (!first || (size_t)x.pos < max);
    if (rp && more != (rest != NULL))
        mismatch("%s (%s): %d of %d entries delivered, yet rest is %p", fn_name[fn], ctx, x.pos,
                 x.n, (void *)rest);
    if (rp && rest) {
        x.used = true;
        x.h = rest;
        x.db = di;
        iters[ii] = x;
        note("  iterator slot %d: the rest of a page, %d of %d entries delivered", ii, x.pos, x.n);
    } else {
        for (int i = 0; i < x.n; i++)
            val_unref(x.vals[i]);
        free(x.keys);
        free(x.vals);
    }
}

static void put_u32(uint8_t *p, size_t v) {
    uint32_t x = (uint32_t)v;
    memcpy(p, &x, 4);
}

static void op_write_packed(void) {
    int di = pick_db_for_write();
    if (di < 0) {
        op_open();
        return;
    }
    Store *s = &stores[dbs[di].store];
    int n = (int)below(20);
    int keys[20];
    Val *vals[20];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        keys[i] = pick_key();
        vals[i] = one_in(4) ? NULL : val_new();
        len += 9 + ulen[keys[i]] + (vals[i] ? vals[i]->len : 0);
    }
    uint8_t *ops = malloc(len + 16), *p = ops;
    for (int i = 0; i < n; i++) {
        size_t vl = vals[i] ? vals[i]->len : 0;
        *p = vals[i] ? LIGHTNING_DB_PACKED_PUT : LIGHTNING_DB_PACKED_DELETE;
        put_u32(p + 1, ulen[keys[i]]);
        put_u32(p + 5, vl);
        memcpy(p + 9, ukey[keys[i]], ulen[keys[i]]);
        if (vl)
            memcpy(p + 9 + ulen[keys[i]], vals[i]->data, vl);
        p += 9 + ulen[keys[i]] + vl;
    }
    Faults f = {0};
    unsigned m = fault_mask(2);
    LightningDB *h = db_arg(&f, m & 1, di);
    size_t count = (size_t)n, plen = len;
    const uint8_t *pp = ops;
    if (m & 2) {
        switch (below(4)) {
        case 0:
            count = n + 1;
            fault(&f, S(InvalidArgument), "count %zu, one more than packed", count);
            break;
        case 1:
            if (len) {
                plen = below(len);
                fault(&f, S(InvalidArgument), "buffer cut to %zu of %zu bytes", plen, len);
            } else {
                pp = NULL;
                plen = 1;
                fault(&f, S(NullPointer), "ops NULL with length 1");
            }
            break;
        case 2:
            ops[len] = 9;
            plen = len + 1;
            fault(&f, S(InvalidArgument), "one byte after the last operation");
            break;
        default:
            if (n) {
                ops[0] = (uint8_t)(3 + below(250));
                fault(&f, S(InvalidArgument), "unknown operation %u", ops[0]);
            } else {
                pp = NULL;
                plen = 5;
                fault(&f, S(NullPointer), "ops NULL with length 5");
            }
        }
    }
    unsigned ok = dbs[di].ro ? (n ? S(InvalidArgument) : S(Success) | S(InvalidArgument))
                             : S(Success);
    char ctx[100];
    snprintf(ctx, sizeof ctx, "db #%d, %d packed operations%s", di, n,
             dbs[di].ro ? " (read-only)" : "");
    int got = check(F_write_packed, CALL(write_packed, (h, pp, plen, count)), &f, ok, ctx);
    if (got == Success && !dbs[di].ro && n > 0) {
        for (int i = 0; i < n; i++)
            set_slot(&s->m[keys[i]], vals[i]);
        store_commit(s, keys, n);
    }
    if (n)
        check_key(di, keys[n / 2], got == Success ? "after write_packed"
                                                  : "after a refused write_packed");
    for (int i = 0; i < n; i++)
        val_unref(vals[i]);
    free(ops);
}

static void op_full_check(void) {
    int di = pick_db();
    if (di < 0) {
        op_open();
        return;
    }
    scan_check(dbs[di].h, view_of(di), "full check");
    check_live_handles();
}

/* ------------------------------------------------------------------------- */

static const struct {
    void (*run)(void);
    int weight;
} op_table[] = {
    {op_put, 140},          {op_get, 110},
    {op_delete, 50},        {op_contains, 30},
    {op_begin, 30},         {op_put_tx, 60},
    {op_get_tx, 35},        {op_delete_tx, 25},
    {op_contains_tx, 15},   {op_commit, 30},
    {op_abort, 15},         {op_batch_new, 10},
    {op_batch_put, 40},     {op_batch_delete, 15},
    {op_batch_len, 8},      {op_batch_clear, 6},
    {op_write_batch, 20},   {op_batch_free, 8},
    {op_iter_new, 35},      {op_iter_next, 120},
    {op_iter_free, 20},     {op_open, 8},
    {op_open_elsewhere, 1}, {op_close, 8},
    {op_refresh, 5},        {op_checkpoint, 4},
    {op_compact, 2},        {op_verify, 2},
    {op_backup, 1},         {op_stats, 8},
    {op_config, 15},        {op_misc, 10},
    {op_full_check, 2},     {op_get_into, 60},
    {op_get_tx_into, 20},   {op_iter_next_borrowed, 60},
    {op_iter_next_page, 40}, {op_range_page, 30},
    {op_write_packed, 20},
};

static uint64_t parse_u64(const char *s, const char *what) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || !*s || *end) {
        fprintf(stderr, "random_c_api: %s \"%s\" is not a number\n", what, s);
        exit(2);
    }
    return (uint64_t)v;
}

int main(int argc, char **argv) {
    const char *seed_text = argc > 1 ? argv[1] : getenv("LDB_C_RANDOM_SEED");
    const char *ops_text = argc > 2 ? argv[2] : getenv("LDB_C_RANDOM_OPS");
    if (argc > 3) {
        fprintf(stderr, "usage: %s [SEED [OPS]]\n", argv[0]);
        return 2;
    }
    if (seed_text && *seed_text) {
        seed = parse_u64(seed_text, "seed");
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_sec * 1000003u) ^ (uint64_t)ts.tv_nsec ^
               ((uint64_t)getpid() << 32);
        seed %= 1000000000000ull;
    }
    total_ops = ops_text && *ops_text ? parse_u64(ops_text, "ops") : DEFAULT_OPS;
    const char *tr = getenv("LDB_C_RANDOM_TRACE");
    trace = tr && *tr && strcmp(tr, "0") != 0;
    printf("random C API: seed %" PRIu64 ", %" PRIu64 " steps (replay: %s %" PRIu64
           " %" PRIu64 ")\n",
           seed, total_ops, argv[0], seed, total_ops);
    fflush(stdout);
    seed_rng(seed);

    const char *tmp = getenv("TMPDIR");
    snprintf(root_dir, sizeof root_dir, "%s/lightning-db-c-random-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root_dir)) {
        perror("mkdtemp");
        return 2;
    }
    for (int s = 0; s < NSTORES; s++) {
        snprintf(stores[s].path, sizeof stores[s].path, "%s/db-%c", root_dir, 'a' + s);
        stores[s].writer = -1;
    }
    snprintf(bad_utf8_path, sizeof bad_utf8_path, "%s/bad-\xff\xfe-name", root_dir);
    char plain_file[280];
    snprintf(plain_file, sizeof plain_file, "%s/plain-file", root_dir);
    FILE *pf = fopen(plain_file, "w");
    if (!pf || fputs("not a database\n", pf) < 0 || fclose(pf) != 0) {
        perror(plain_file);
        return 2;
    }
    snprintf(below_file_path, sizeof below_file_path, "%s/below", plain_file);

    bigbuf = malloc(BIG_KEY_BUF);
    memset(bigbuf, 'K', BIG_KEY_BUF);
    void *map = mmap(NULL, (size_t)LIGHTNING_DB_MAX_VALUE_SIZE + 1 + HUGE_EXTRA, PROT_READ,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    hugebuf = map == MAP_FAILED ? NULL : map;
    if (!hugebuf)
        printf("note: no mapping for oversized values (%s); those cases are skipped\n",
               strerror(errno));
    make_universe();

    int total_weight = 0;
    for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++)
        total_weight += op_table[i].weight;

    time_t started = time(NULL);
    for (step = 0; step < total_ops; step++) {
        int r = (int)below((uint64_t)total_weight);
        size_t i = 0;
        while (r >= op_table[i].weight)
            r -= op_table[i++].weight;
        op_table[i].run();
        if (step % 1000 == 999)
            check_live_handles();
        if (step % 20000 == 19999 && !trace) {
            printf("  %" PRIu64 " steps, %" PRIu64 " calls, %lds\n", step + 1, total_calls(),
                   (long)(time(NULL) - started));
            fflush(stdout);
        }
    }

    /* Release everything, then reopen each database once more: it holds what the
     * model says, and nothing is left behind. */
    note("final release");
    for (int i = 0; i < MAXITER; i++)
        if (iters[i].used) {
            int before = CALL(last_error_code, ());
            CALL(iter_free, (iters[i].h));
            check_release(F_iter_free, false, before, "final");
            drop_iter(i);
        }
    for (int i = 0; i < MAXBATCH; i++)
        if (batches[i].used) {
            int before = CALL(last_error_code, ());
            CALL(batch_free, (batches[i].h));
            check_release(F_batch_free, false, before, "final");
            drop_batch_ops(&batches[i]);
            free(batches[i].ops);
            memset(&batches[i], 0, sizeof batches[i]);
        }
    for (int i = 0; i < MAXCFG; i++)
        if (cfgs[i].used) {
            config_free_checked(cfgs[i].h);
            cfgs[i].used = false;
        }
    for (int i = 0; i < MAXDB; i++)
        if (dbs[i].used) {
            check(F_close, CALL(close, (dbs[i].h)), &no_faults, S(Success), "final");
            release_db(i);
        }
    for (int s = 0; s < NSTORES; s++) {
        if (!stores[s].exists)
            continue;
        LightningDB *h = CALL(open, (stores[s].path, NULL));
        check_handle(F_open, h, &no_faults, S(Success), "final reopen");
        scan_check(h, stores[s].m, "final reopen");
        LightningDBVerifyReport vr;
        check(F_verify, CALL(verify, (h, &vr)), &no_faults, S(Success), "final");
        check(F_close, CALL(close, (h)), &no_faults, S(Success), "final");
    }
    size_t live = CALL(live_handle_count, ());
    if (live != 0)
        mismatch("%zu handle(s) still live after releasing everything", live);

    /* Every function of the header was called (in a run long enough to). */
    if (total_ops >= 20000) {
        for (int i = 0; i < NFUNCS; i++)
            if (n_calls[i] == 0)
                mismatch("%s was never called", fn_name[i]);
    }

    for (int s = 0; s < NSTORES; s++)
        clear_view(stores[s].m);
    for (int i = 0; i < nkeys; i++)
        free(ukey[i]);
    free(bigbuf);
    if (hugebuf)
        munmap(hugebuf, (size_t)LIGHTNING_DB_MAX_VALUE_SIZE + 1 + HUGE_EXTRA);
    rm_rf(root_dir);

    printf("calls per function (with bad arguments):\n");
    for (int i = 0; i < NFUNCS; i++)
        printf("  %-40s %10" PRIu64 " (%" PRIu64 ")\n", fn_name[i], n_calls[i], n_bad[i]);
    printf("%" PRIu64 " steps in %lds\n", total_ops, (long)(time(NULL) - started));
    printf("transactions: %" PRIu64 " commits applied, %" PRIu64 " conflicts; %" PRIu64
           " iter_next calls on iterators of closed databases\n",
           n_commits_applied, n_conflicts, n_closed_iter_calls);
    if (stale_ro_failures)
        printf("known engine issue: %" PRIu64 " verify/backup call(s) on a read-only handle failed "
               "because the writer had removed a segment file of its snapshot\n",
               stale_ro_failures);
    summary(0);
    return 0;
}
