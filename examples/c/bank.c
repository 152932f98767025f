/*
 * A small bank on Lightning DB: the C API beyond the guide's first example.
 *
 * - options (sync mode, cache size) through a LightningDBConfig;
 * - a write batch to open accounts atomically;
 * - transactions that move money, retried on TransactionConflict, from several
 *   threads sharing one database handle;
 * - the guide's bulk-load pattern (many puts, one commit);
 * - prefix and range scans, forward and reverse;
 * - statistics, verification, a checkpoint and a backup;
 * - error detail with lightning_db_last_error_message().
 *
 * Build it like the guide's example (from a directory holding the header and the
 * library):
 *   gcc -o bank bank.c -L. -llightning_db_ffi -lpthread -ldl -lm
 * Run: ./bank [DIR]   (default ./bankdb; runs again on the same directory)
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lightning_db_ffi.h"

#define ACCOUNTS 5
#define TELLERS 4
#define TRANSFERS_PER_TELLER 25

static const uint8_t *B(const char *s) { return (const uint8_t *)s; }

/* Prints the failed call, its code and the library's detail, and exits. */
static void check(LightningDBError err, const char *what) {
    if (err != Success) {
        fprintf(stderr, "%s failed: %s (%d): %s\n", what, lightning_db_error_string(err),
                (int)err, lightning_db_last_error_message());
        exit(1);
    }
}

static void account_key(char *buf, size_t size, int n) { snprintf(buf, size, "account:%02d", n); }

/* Reads an integer balance inside transaction `tx`. */
static long read_balance(LightningDB *db, uint64_t tx, const char *key) {
    LightningDBResult r;
    check(lightning_db_get_tx(db, tx, B(key), strlen(key), &r), "get_tx");
    char text[32] = "0";
    if (r.data)
        snprintf(text, sizeof text, "%.*s", (int)r.len, (const char *)r.data);
    lightning_db_free_result(r.data, r.len);
    return strtol(text, NULL, 10);
}

static void write_balance(LightningDB *db, uint64_t tx, const char *key, long balance) {
    char text[32];
    int n = snprintf(text, sizeof text, "%ld", balance);
    check(lightning_db_put_tx(db, tx, B(key), strlen(key), B(text), (size_t)n), "put_tx");
}

struct teller {
    LightningDB *db;
    unsigned seed;
    int conflicts;
};

/* Moves 1 from one account to another, TRANSFERS_PER_TELLER times, retrying
 * each transfer whose transaction conflicts with another teller's. */
static void *teller_main(void *arg) {
    struct teller *t = arg;
    for (int i = 0; i < TRANSFERS_PER_TELLER; i++) {
        int from = rand_r(&t->seed) % ACCOUNTS;
        int to = (from + 1 + rand_r(&t->seed) % (ACCOUNTS - 1)) % ACCOUNTS;
        char from_key[32], to_key[32];
        account_key(from_key, sizeof from_key, from);
        account_key(to_key, sizeof to_key, to);
        for (;;) {
            uint64_t tx;
            check(lightning_db_begin_transaction(t->db, &tx), "begin_transaction");
            write_balance(t->db, tx, from_key, read_balance(t->db, tx, from_key) - 1);
            write_balance(t->db, tx, to_key, read_balance(t->db, tx, to_key) + 1);
            LightningDBError err = lightning_db_commit_transaction(t->db, tx);
            if (err == Success)
                break;
            if (err != TransactionConflict)
                check(err, "commit_transaction");
            t->conflicts++; /* nothing was applied: try again on a fresh snapshot */
        }
    }
    return NULL;
}

/* Prints every entry of an iterator, then frees it. */
static void print_scan(const char *title, LightningDBIterator *it) {
    printf("%s:\n", title);
    LightningDBResult key, value;
    bool has_entry;
    LightningDBError err;
    while ((err = lightning_db_iter_next(it, &key, &value, &has_entry)) == Success && has_entry) {
        printf("  %.*s = %.*s\n", (int)key.len, (const char *)key.data, (int)value.len,
               (const char *)value.data);
        lightning_db_free_result(key.data, key.len);
        lightning_db_free_result(value.data, value.len);
    }
    check(err, "iter_next");
    lightning_db_iter_free(it);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "./bankdb";
    printf("Lightning DB %s\n", lightning_db_version());

    LightningDBConfig *config = lightning_db_config_new();
    check(lightning_db_config_set_sync_mode(config, SyncNormal), "set_sync_mode");
    check(lightning_db_config_set_cache_size(config, 8 * 1024 * 1024), "set_cache_size");
    LightningDB *db = lightning_db_create(dir, config);
    lightning_db_config_free(config); /* create copied it */
    if (!db) {
        fprintf(stderr, "cannot open %s: %s\n", dir, lightning_db_last_error_message());
        return 1;
    }

    /* Open the accounts, 100 each, in one atomic batch (again on a re-run: the
     * balances start over). */
    LightningDBWriteBatch *batch = lightning_db_batch_new();
    for (int i = 0; i < ACCOUNTS; i++) {
        char key[32];
        account_key(key, sizeof key, i);
        check(lightning_db_batch_put(batch, B(key), strlen(key), B("100"), 3), "batch_put");
    }
    check(lightning_db_batch_put(batch, B("bank:name"), 9, B("Lightning Savings"), 17),
          "batch_put");
    check(lightning_db_write_batch(db, batch), "write_batch");
    lightning_db_batch_free(batch);

    /* Tellers on several threads, one shared handle. */
    pthread_t threads[TELLERS];
    struct teller tellers[TELLERS];
    for (int i = 0; i < TELLERS; i++) {
        tellers[i] = (struct teller){db, 1234u + (unsigned)i, 0};
        pthread_create(&threads[i], NULL, teller_main, &tellers[i]);
    }
    int conflicts = 0;
    for (int i = 0; i < TELLERS; i++) {
        pthread_join(threads[i], NULL);
        conflicts += tellers[i].conflicts;
    }
    printf("%d transfers done (%d retried after a conflict)\n", TELLERS * TRANSFERS_PER_TELLER,
           conflicts);

    /* The guide's bulk pattern: many puts in one transaction, one commit. */
    uint64_t tx_id;
    check(lightning_db_begin_transaction(db, &tx_id), "begin_transaction");
    for (int i = 0; i < 1000; i++) {
        char key[32], value[32];
        int kl = snprintf(key, sizeof key, "log:%04d", i);
        int vl = snprintf(value, sizeof value, "entry %d", i);
        check(lightning_db_put_tx(db, tx_id, B(key), (size_t)kl, B(value), (size_t)vl), "put_tx");
    }
    check(lightning_db_commit_transaction(db, tx_id), "commit_transaction");

    /* Scans: the accounts in order, then backwards; a range of the log. */
    LightningDBIterator *it;
    check(lightning_db_iter_prefix(db, B("account:"), 8, false, &it), "iter_prefix");
    long total = 0;
    LightningDBResult key, value;
    bool has_entry;
    while (lightning_db_iter_next(it, &key, &value, &has_entry) == Success && has_entry) {
        char text[32];
        snprintf(text, sizeof text, "%.*s", (int)value.len, (const char *)value.data);
        total += strtol(text, NULL, 10);
        lightning_db_free_result(key.data, key.len);
        lightning_db_free_result(value.data, value.len);
    }
    lightning_db_iter_free(it);
    printf("total of all balances: %ld (money is neither made nor lost)\n", total);

    check(lightning_db_iter_prefix(db, B("account:"), 8, true, &it), "iter_prefix");
    print_scan("accounts, last first", it);
    check(lightning_db_iter_range(db, B("log:0100"), 8, B("log:0103"), 8, false, &it),
          "iter_range");
    print_scan("log entries 100 to 102", it);

    /* A mistake, and what the library says about it. */
    LightningDBError err = lightning_db_put(db, B(""), 0, B("x"), 1);
    printf("empty key -> %s: %s\n", lightning_db_error_string(err),
           lightning_db_last_error_message());

    /* Maintenance. */
    check(lightning_db_checkpoint(db), "checkpoint");
    LightningDBVerifyReport report;
    check(lightning_db_verify(db, &report), "verify");
    printf("verified %" PRIu64 " records in %" PRIu64 " segment(s): %" PRIu64 " damaged\n",
           report.records, report.segments, report.corruptions);
    LightningDBStats stats;
    check(lightning_db_stats(db, &stats), "stats");
    printf("%" PRIu64 " keys, %" PRIu64 " live bytes of %" PRIu64 " on disk, %" PRIu64
           " commits and %" PRIu64 " fsyncs by this run\n",
           stats.live_keys, stats.live_bytes, stats.total_bytes, stats.commits, stats.fsyncs);

    check(lightning_db_close(db), "close");
    return total == ACCOUNTS * 100 ? 0 : 1;
}
