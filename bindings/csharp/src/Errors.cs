using System;

namespace LightningDB
{
    /// <summary>The error codes of Lightning DB: the same codes, with the same meaning,
    /// as the C API's <c>LightningDBError</c> and every other language binding.</summary>
    public enum ErrorCode
    {
        /// <summary>A required pointer or handle was null.</summary>
        NullPointer = -1,
        /// <summary>A path or string was not valid UTF-8.</summary>
        InvalidUtf8 = -2,
        /// <summary>The operating system reported an error (not found, permission, disk full...).</summary>
        IoError = -3,
        /// <summary>Stored data failed its checksum or is inconsistent; nothing wrong was returned.</summary>
        CorruptedData = -4,
        /// <summary>An argument was out of range (empty or oversized key, bad option), a write
        /// to a read-only database, or use of a closed database or finished transaction.</summary>
        InvalidArgument = -5,
        /// <summary>Memory could not be allocated.</summary>
        OutOfMemory = -6,
        /// <summary>Another handle or process has the database open for writing.</summary>
        DatabaseLocked = -7,
        /// <summary>A key written by the transaction was changed by a commit after it began;
        /// nothing of the transaction was written.</summary>
        TransactionConflict = -8,
        /// <summary>An internal error the library caught at its boundary.</summary>
        Unknown = -99,
    }

    /// <summary>An error reported by Lightning DB: its <see cref="Code"/> and the library's
    /// message. The codes callers usually handle have their own subclasses.</summary>
    [Serializable]
    public class LightningDbException : Exception
    {
        /// <summary>Creates an exception with a code and the library's message.</summary>
        public LightningDbException(ErrorCode code, string message) : base(message)
        {
            Code = code;
        }

        /// <summary>What went wrong, as a code shared with every binding.</summary>
        public ErrorCode Code { get; }

        internal static LightningDbException For(ErrorCode code, string message)
        {
            switch (code)
            {
                case ErrorCode.TransactionConflict: return new TransactionConflictException(message);
                case ErrorCode.DatabaseLocked: return new DatabaseLockedException(message);
                case ErrorCode.CorruptedData: return new CorruptedDataException(message);
                case ErrorCode.InvalidArgument: return new InvalidArgumentException(message);
                case ErrorCode.IoError: return new IoErrorException(message);
                default: return new LightningDbException(code, message);
            }
        }
    }

    /// <summary>The transaction's writes conflict with a commit made after it began; nothing
    /// of it was applied. Retry by beginning a new transaction.</summary>
    [Serializable]
    public class TransactionConflictException : LightningDbException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public TransactionConflictException(string message) : base(ErrorCode.TransactionConflict, message) { }
    }

    /// <summary>Another handle, in this process or another, has the database open for writing.</summary>
    [Serializable]
    public class DatabaseLockedException : LightningDbException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public DatabaseLockedException(string message) : base(ErrorCode.DatabaseLocked, message) { }
    }

    /// <summary>Stored data failed its checksum or is inconsistent; the message names the file
    /// and offset. No damaged bytes were returned.</summary>
    [Serializable]
    public class CorruptedDataException : LightningDbException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public CorruptedDataException(string message) : base(ErrorCode.CorruptedData, message) { }
    }

    /// <summary>An argument the library refused (empty or oversized key, bad option), a write to
    /// a read-only database, or use of a closed database or finished transaction.</summary>
    [Serializable]
    public class InvalidArgumentException : LightningDbException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public InvalidArgumentException(string message) : base(ErrorCode.InvalidArgument, message) { }
    }

    /// <summary>The operating system reported an error: a missing directory, a permission, a
    /// full disk.</summary>
    [Serializable]
    public class IoErrorException : LightningDbException
    {
        /// <summary>Creates the exception with the library's message.</summary>
        public IoErrorException(string message) : base(ErrorCode.IoError, message) { }
    }
}
