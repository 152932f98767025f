using System;
using LightningDB.Interop;
using NativeDb = LightningDB.Interop.LightningDB;

namespace LightningDB
{
    public sealed unsafe partial class LightningDb
    {
        /// <summary>LIGHTNING_DB_NO_VALUE of the C ABI: the reported length of an absent key.</summary>
        private static readonly UIntPtr NoValue = new UIntPtr(ulong.MaxValue);

        // Values up to this size are read into a per-thread buffer and copied out at their
        // exact length; larger ones are read straight into an array of their own, which
        // costs a second call (the first one learns the length) but no second copy.
        private const int ThreadBufferSize = 64 * 1024;

        [ThreadStatic]
        private static byte[] t_buffer;

        /// <summary>A get through the lending call: one call, one copy into a reused buffer,
        /// nothing allocated by the library, nothing to free.</summary>
        internal byte[] GetValue(byte[] key, ulong tx = 0, bool inTransaction = false)
        {
            fixed (byte* k = key.Length == 0 ? Native.NonNullEmpty : key)
            {
                return GetValue(k, key.Length, tx, inTransaction);
            }
        }

        internal byte[] GetValue(byte* k, int keyLength, ulong tx, bool inTransaction)
        {
            byte[] buffer = t_buffer ?? (t_buffer = new byte[ThreadBufferSize]);
            NativeDb* db = Db;
            while (true)
            {
                UIntPtr length;
                LightningDBError rc;
                fixed (byte* b = buffer)
                {
                    rc = inTransaction
                        ? NativeMethods.lightning_db_get_tx_into(db, tx, k, (UIntPtr)keyLength, b, (UIntPtr)buffer.Length, &length)
                        : NativeMethods.lightning_db_get_into(db, k, (UIntPtr)keyLength, b, (UIntPtr)buffer.Length, &length);
                }
                Native.Check(rc);
                if (length == NoValue)
                {
                    return null;
                }
                ulong n = (ulong)length;
                if (n <= (ulong)buffer.Length)
                {
                    if (buffer != t_buffer && n == (ulong)buffer.Length)
                    {
                        return buffer;
                    }
                    byte[] value = new byte[(int)n];
                    Buffer.BlockCopy(buffer, 0, value, 0, (int)n);
                    return value;
                }
                // Too small: read again into an array of exactly the reported length (the
                // value may have changed meanwhile; the loop handles that too).
                buffer = new byte[checked((int)n)];
            }
        }
    }
}
