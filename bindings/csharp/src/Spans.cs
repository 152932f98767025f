#if NETCOREAPP
using System;
using LightningDB.Interop;
using NativeDb = LightningDB.Interop.LightningDB;

namespace LightningDB
{
    // ReadOnlySpan<byte> overloads, for the .NET targets only: netstandard2.0 would need the
    // System.Memory package, and Mono's mcs (which builds the binding here) has no Span.
    public sealed unsafe partial class LightningDb
    {
        /// <summary>Stores <paramref name="value"/> under <paramref name="key"/> without copying
        /// either into an array first.</summary>
        public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
        {
            NativeDb* db = Db;
            fixed (byte* k = key.IsEmpty ? Native.NonNullEmpty : key)
            fixed (byte* v = value)
            {
                Native.Check(NativeMethods.lightning_db_put(db, k, (UIntPtr)key.Length, v, (UIntPtr)value.Length));
            }
        }

        /// <summary>The value stored under <paramref name="key"/>, or null.</summary>
        public byte[] Get(ReadOnlySpan<byte> key)
        {
            fixed (byte* k = key.IsEmpty ? Native.NonNullEmpty : key)
            {
                return GetValue(k, key.Length, 0, false);
            }
        }

        /// <summary>Whether <paramref name="key"/> is stored.</summary>
        public bool ContainsKey(ReadOnlySpan<byte> key)
        {
            NativeDb* db = Db;
            bool found;
            fixed (byte* k = key.IsEmpty ? Native.NonNullEmpty : key)
            {
                Native.Check(NativeMethods.lightning_db_contains(db, k, (UIntPtr)key.Length, &found));
            }
            return found;
        }
    }
}
#endif
