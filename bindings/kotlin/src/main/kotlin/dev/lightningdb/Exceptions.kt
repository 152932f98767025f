package dev.lightningdb

import dev.lightningdb.generated.LightningDbException as Generated

/**
 * Every failure of Lightning DB. Unchecked, so Java callers need no `throws` clauses;
 * [message] is the library's own message and [code] the C API's error code
 * (`LightningDBError`: -1 to -8, -99), the same number in every language.
 *
 * Sealed: a `when` over the subclasses is exhaustive.
 */
sealed class LightningDBException(message: String, val code: Int) : RuntimeException(message)

/** Code -1: a required argument was null. */
class NullArgumentException(message: String) : LightningDBException(message, -1)

/** Code -2: a path or string was not valid UTF-8. */
class InvalidUtf8Exception(message: String) : LightningDBException(message, -2)

/** Code -3: the operating system reported an error (not found, permission, disk full...). */
class StorageIOException(message: String) : LightningDBException(message, -3)

/** Code -4: stored data failed its checksum or is inconsistent; no damaged bytes were returned. */
class CorruptedDataException(message: String) : LightningDBException(message, -4)

/**
 * Code -5: a bad argument (empty or oversized key, bad config), a write to a read-only
 * database, or use of a closed database, cursor or finished transaction.
 */
class InvalidArgumentException(message: String) : LightningDBException(message, -5)

/** Code -6: memory could not be allocated. */
class OutOfMemoryException(message: String) : LightningDBException(message, -6)

/** Code -7: another handle or process holds the database open for writing. */
class DatabaseLockedException(message: String) : LightningDBException(message, -7)

/**
 * Code -8: a key the transaction wrote was changed by a commit after it began; nothing of
 * the transaction was written. Retry it from the start.
 */
class TransactionConflictException(message: String) : LightningDBException(message, -8)

/** Code -99: anything else, including a bug caught at the library's boundary. */
class UnknownErrorException(message: String) : LightningDBException(message, -99)

/** The exception of a C API error [code] with the library's [message]. */
internal fun exceptionOf(code: Int, message: String): LightningDBException = when (code) {
    -1 -> NullArgumentException(message)
    -2 -> InvalidUtf8Exception(message)
    -3 -> StorageIOException(message)
    -4 -> CorruptedDataException(message)
    -5 -> InvalidArgumentException(message)
    -6 -> OutOfMemoryException(message)
    -7 -> DatabaseLockedException(message)
    -8 -> TransactionConflictException(message)
    else -> UnknownErrorException(message)
}

/** The generated API's error as this layer's, keeping the library's message. */
internal fun translate(e: Generated): LightningDBException = when (e) {
    is Generated.NullPointer -> NullArgumentException(e.detail)
    is Generated.InvalidUtf8 -> InvalidUtf8Exception(e.detail)
    is Generated.IoException -> StorageIOException(e.detail)
    is Generated.CorruptedData -> CorruptedDataException(e.detail)
    is Generated.InvalidArgument -> InvalidArgumentException(e.detail)
    is Generated.OutOfMemory -> OutOfMemoryException(e.detail)
    is Generated.DatabaseLocked -> DatabaseLockedException(e.detail)
    is Generated.TransactionConflict -> TransactionConflictException(e.detail)
    is Generated.Unknown -> UnknownErrorException(e.detail)
}

/** Runs a call of the generated API, rethrowing its errors as this layer's. */
internal inline fun <T> generated(call: () -> T): T =
    try {
        call()
    } catch (e: Generated) {
        throw translate(e).also { it.initCause(e) }
    }
