#include <stdio.h>
#include <string.h>
#include "lightning_db_ffi.h"

int main() {
    // Create database
    LightningDB* db = lightning_db_create("./mydb", NULL);
    if (!db) {
        fprintf(stderr, "Failed to create database\n");
        return 1;
    }
    
    // Store data
    const char* key = "hello";
    const char* value = "world";
    LightningDBError err = lightning_db_put(
        db,
        (const uint8_t*)key, strlen(key),
        (const uint8_t*)value, strlen(value)
    );
    
    if (err != Success) {
        fprintf(stderr, "Put failed: %s\n", lightning_db_error_string(err));
        lightning_db_free(db);
        return 1;
    }
    
    // Retrieve data
    LightningDBResult result;
    err = lightning_db_get(
        db,
        (const uint8_t*)key, strlen(key),
        &result
    );
    
    if (err == Success && result.data) {
        printf("Value: %.*s\n", (int)result.len, result.data);
        lightning_db_free_result(result.data, result.len);
    }
    
    // Clean up
    lightning_db_free(db);
    return 0;
}
