using System;
using System.Runtime.InteropServices;
using System.Text;
using LightningDB.Interop;

namespace LightningDB
{
    /// <summary>What every call shares: turning a return code into an exception, and the
    /// conversions of arguments to the C ABI's types.</summary>
    internal static unsafe class Native
    {
        /// <summary>Pinned in place of an empty array: the C ABI reads a NULL key as a missing
        /// argument (NullPointer), while an empty key is an invalid one (InvalidArgument), the
        /// error every other binding gives.</summary>
        internal static readonly byte[] NonNullEmpty = new byte[1];

        internal static void Check(LightningDBError rc)
        {
            if (rc != LightningDBError.Success)
            {
                throw Error(rc);
            }
        }

        /// <summary>The exception for a failed call; reads the message the call left on this
        /// thread, so it must run right after the call, on the same thread.</summary>
        internal static LightningDbException Error(LightningDBError rc)
        {
            return LightningDbException.For((ErrorCode)(int)rc, LastMessage());
        }

        /// <summary>For calls that return a handle (NULL on failure) rather than a code.</summary>
        internal static void ThrowLast()
        {
            LightningDBError rc = NativeMethods.lightning_db_last_error_code();
            throw Error(rc == LightningDBError.Success ? LightningDBError.UnknownError : rc);
        }

        internal static string LastMessage()
        {
            return FromUtf8(NativeMethods.lightning_db_last_error_message());
        }

        internal static string FromUtf8(byte* text)
        {
            if (text == null)
            {
                return "";
            }
            int length = 0;
            while (text[length] != 0)
            {
                length++;
            }
            return Encoding.UTF8.GetString(text, length);
        }

        /// <summary>A path as the C ABI takes it: NUL-terminated UTF-8.</summary>
        internal static byte[] Path(string path, string name)
        {
            if (path == null)
            {
                throw new ArgumentNullException(name);
            }
            if (path.IndexOf('\0') >= 0)
            {
                // C would read the path only up to the NUL: a different directory.
                throw new ArgumentException("a path cannot contain a NUL character", name);
            }
            int length = Encoding.UTF8.GetByteCount(path);
            byte[] bytes = new byte[length + 1];
            Encoding.UTF8.GetBytes(path, 0, path.Length, bytes, 0);
            return bytes;
        }

        internal static byte[] Utf8(string text, string name)
        {
            if (text == null)
            {
                throw new ArgumentNullException(name);
            }
            return Encoding.UTF8.GetBytes(text);
        }

        internal static UIntPtr Size(long value, string name)
        {
            if (value < 0)
            {
                throw new InvalidArgumentException(name + " must not be negative, got " + value);
            }
            return new UIntPtr((ulong)value);
        }

        internal static ulong U64(long value, string name)
        {
            if (value < 0)
            {
                throw new InvalidArgumentException(name + " must not be negative, got " + value);
            }
            return (ulong)value;
        }

        internal static byte[] Copy(byte* data, int length)
        {
            byte[] copy = new byte[length];
            if (length > 0)
            {
                Marshal.Copy((IntPtr)data, copy, 0, length);
            }
            return copy;
        }

        /// <summary>Copies a buffer the library handed over, then releases it.</summary>
        internal static byte[] Take(LightningDBResult result)
        {
            if (result.data == null)
            {
                return null;
            }
            try
            {
                return Copy(result.data, checked((int)(ulong)result.len));
            }
            finally
            {
                NativeMethods.lightning_db_free_result(result.data, result.len);
            }
        }
    }

    /// <summary>An open database's token. The C ABI's handles are keys into a table of live
    /// objects, not addresses, so a stale one is refused by the library rather than
    /// dereferenced: the SafeHandle is here for release on dispose or finalization.</summary>
    internal sealed class DatabaseHandle : SafeHandle
    {
        // Set once lightning_db_close has run: the token is finished and must not be freed.
        internal volatile bool Closed;

        internal DatabaseHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        internal void Set(IntPtr token) { SetHandle(token); }

        protected override unsafe bool ReleaseHandle()
        {
            if (!Closed)
            {
                NativeMethods.lightning_db_free((LightningDB.Interop.LightningDB*)handle);
            }
            return true;
        }
    }

    /// <summary>A native scan's token, released with lightning_db_iter_free.</summary>
    internal sealed class IteratorHandle : SafeHandle
    {
        internal IteratorHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        internal void Set(IntPtr token) { SetHandle(token); }

        protected override unsafe bool ReleaseHandle()
        {
            NativeMethods.lightning_db_iter_free((LightningDBIterator*)handle);
            return true;
        }
    }
}
