using System;
using LightningDB.Interop;
using NativeDb = LightningDB.Interop.LightningDB;

namespace LightningDB
{
    /// <summary>Puts and deletes applied together by <see cref="LightningDb.Write"/>: atomically,
    /// in order, as one commit. Reusable: <see cref="Clear"/> empties it. Not thread-safe.</summary>
    public sealed unsafe class WriteBatch
    {
        private const byte OpPut = 1;
        private const byte OpDelete = 2;

        // The operations already in the packed form lightning_db_write_packed takes:
        // [u8 op][u32 key_len][u32 value_len][key][value], lengths little-endian. Writing
        // the batch is then one call with one buffer, however many operations it holds.
        private byte[] _ops = new byte[256];
        private int _length;

        /// <summary>The number of operations in the batch.</summary>
        public int Count { get; private set; }

        /// <summary>Adds a put of <paramref name="value"/> under <paramref name="key"/>. Keys are
        /// checked when the batch is written.</summary>
        public WriteBatch Put(byte[] key, byte[] value)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            if (value == null) throw new ArgumentNullException(nameof(value));
            Append(OpPut, key, value);
            return this;
        }

        /// <summary>Adds a put of UTF-8 strings.</summary>
        public WriteBatch Put(string key, string value)
        {
            return Put(Native.Utf8(key, nameof(key)), Native.Utf8(value, nameof(value)));
        }

        /// <summary>Adds a delete of <paramref name="key"/>.</summary>
        public WriteBatch Delete(byte[] key)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            Append(OpDelete, key, null);
            return this;
        }

        /// <summary>Adds a delete of the UTF-8 encoding of <paramref name="key"/>.</summary>
        public WriteBatch Delete(string key)
        {
            return Delete(Native.Utf8(key, nameof(key)));
        }

        /// <summary>Removes every operation, keeping the memory for reuse.</summary>
        public void Clear()
        {
            _length = 0;
            Count = 0;
        }

        private void Append(byte op, byte[] key, byte[] value)
        {
            int valueLength = value == null ? 0 : value.Length;
            int needed = checked(_length + 9 + key.Length + valueLength);
            if (needed > _ops.Length)
            {
                Array.Resize(ref _ops, Math.Max(needed, (int)Math.Min(int.MaxValue, 2L * _ops.Length)));
            }
            _ops[_length] = op;
            WriteU32(_length + 1, key.Length);
            WriteU32(_length + 5, valueLength);
            Buffer.BlockCopy(key, 0, _ops, _length + 9, key.Length);
            if (valueLength > 0)
            {
                Buffer.BlockCopy(value, 0, _ops, _length + 9 + key.Length, valueLength);
            }
            _length = needed;
            Count++;
        }

        private void WriteU32(int at, int value)
        {
            _ops[at] = (byte)value;
            _ops[at + 1] = (byte)(value >> 8);
            _ops[at + 2] = (byte)(value >> 16);
            _ops[at + 3] = (byte)(value >> 24);
        }

        internal void WriteTo(LightningDb database)
        {
            NativeDb* db = database.Db;
            fixed (byte* ops = _ops)
            {
                Native.Check(NativeMethods.lightning_db_write_packed(db, ops, (UIntPtr)_length, (UIntPtr)Count));
            }
        }
    }
}
