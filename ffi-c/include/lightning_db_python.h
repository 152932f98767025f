#ifndef LIGHTNING_DB_PYTHON_H
#define LIGHTNING_DB_PYTHON_H

/*
 * GENERATED FILE, DO NOT EDIT. Made by tools/generate (cbindgen) from
 * ffi-c/src/python/; regenerate with ci/generate.
 *
 * The Python layer's fast path into liblightning_db_ffi: not part of the C
 * API (see lightning_db_ffi.h), listed so that ci/check-symbols can hold
 * bindings/python/src/lightning_db/_native.py to these names and arities.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LIGHTNING_DB_FAST_NOT_FOUND -100

int64_t lightning_db_fast_cursor_next_page(const Cursor *cursor,
                                           int max_items,
                                           uint8_t *buf,
                                           int cap);

void lightning_db_fast_cursor_release(const Cursor *cursor);

const Transaction *lightning_db_fast_db_begin(const LightningDB *db);

int lightning_db_fast_db_contains(const LightningDB *db, const uint8_t *key, int key_len);

int lightning_db_fast_db_delete(const LightningDB *db, const uint8_t *key, int key_len);

void *lightning_db_fast_db_functions_py(const LightningDB *db);

int64_t lightning_db_fast_db_get(const LightningDB *db,
                                 const uint8_t *key,
                                 int key_len,
                                 uint8_t *buf,
                                 int cap);

int64_t lightning_db_fast_db_len(const LightningDB *db);

int lightning_db_fast_db_put(const LightningDB *db,
                             const uint8_t *key,
                             int key_len,
                             const uint8_t *value,
                             int value_len);

const Cursor *lightning_db_fast_db_scan(const LightningDB *db,
                                        int start_kind,
                                        const uint8_t *start,
                                        int start_len,
                                        int end_kind,
                                        const uint8_t *end,
                                        int end_len,
                                        int reverse);

const Cursor *lightning_db_fast_db_scan_prefix(const LightningDB *db,
                                               const uint8_t *prefix,
                                               int prefix_len,
                                               int reverse);

int lightning_db_fast_db_write(const LightningDB *db,
                               const uint8_t *data,
                               int data_len,
                               const uint8_t *lens,
                               int op_count);

int lightning_db_fast_db_write_py(const LightningDB *db, void *ops);

int lightning_db_fast_last_error(uint8_t *buf, int cap);

int lightning_db_fast_last_error_code(void);

int lightning_db_fast_py_api_names(uint8_t *buf, int cap);

int lightning_db_fast_py_init(const size_t *api, int count);

int lightning_db_fast_scan_close_py(void *capsule);

int64_t lightning_db_fast_take_value(uint8_t *buf, int cap);

int lightning_db_fast_tx_commit(const Transaction *tx);

int lightning_db_fast_tx_contains(const Transaction *tx, const uint8_t *key, int key_len);

int lightning_db_fast_tx_delete(const Transaction *tx, const uint8_t *key, int key_len);

void *lightning_db_fast_tx_functions_py(const Transaction *tx);

int64_t lightning_db_fast_tx_get(const Transaction *tx,
                                 const uint8_t *key,
                                 int key_len,
                                 uint8_t *buf,
                                 int cap);

int lightning_db_fast_tx_put(const Transaction *tx,
                             const uint8_t *key,
                             int key_len,
                             const uint8_t *value,
                             int value_len);

void lightning_db_fast_tx_release(const Transaction *tx);

int lightning_db_fast_tx_rollback(const Transaction *tx);

const Cursor *lightning_db_fast_tx_scan(const Transaction *tx,
                                        int start_kind,
                                        const uint8_t *start,
                                        int start_len,
                                        int end_kind,
                                        const uint8_t *end,
                                        int end_len,
                                        int reverse);

const Cursor *lightning_db_fast_tx_scan_prefix(const Transaction *tx,
                                               const uint8_t *prefix,
                                               int prefix_len,
                                               int reverse);

#endif  /* LIGHTNING_DB_PYTHON_H */
