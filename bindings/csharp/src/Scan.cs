using System;
using System.Collections;
using System.Collections.Generic;
using LightningDB.Interop;
using NativeDb = LightningDB.Interop.LightningDB;

namespace LightningDB
{
    /// <summary>An ordered scan over a snapshot taken when it was made: commits after that are not
    /// seen. Read it once, with <c>foreach</c> (which releases it at the end or on <c>break</c>) or
    /// with <see cref="TryNext"/>; dispose it when stopping early. Not thread-safe.</summary>
    public sealed unsafe class Scan : IEnumerable<KeyValuePair<byte[], byte[]>>, IDisposable
    {
        // Entries come from the library a page at a time (lightning_db_iter_next_page): one
        // call across the boundary for many entries. Pages start small, so that a short
        // range or an early break reads little ahead, and grow for long scans.
        private const int FirstPageEntries = 16;
        private const int MaxPageEntries = 4096;
        private const int FirstPageBytes = 4096;
        private const int MaxPageBytes = 256 * 1024;

        private readonly IteratorHandle _iterator;
        private byte[] _page;
        private int _pageEntries = FirstPageEntries;
        private int _pageBytes = FirstPageBytes;
        private int _position;
        private int _left;
        private bool _ended;
        private bool _enumerated;
        private bool _disposed;

        private Scan(IteratorHandle iterator, bool empty)
        {
            _iterator = iterator;
            _ended = empty;
        }

        internal static Scan Range(LightningDb database, Transaction tx, KeyBound start, KeyBound end, bool reverse)
        {
            byte[] s = start.AsStart();
            byte[] e = end.AsEnd();
            NativeDb* db = database.Db;
            ulong id = tx == null ? 0 : tx.Id;
            if (e != null && e.Length == 0)
            {
                // Keys before the empty key: none. The C ABI would read an empty end as no
                // bound at all. Make the iterator anyway so that a closed database is still
                // reported here, as for any scan.
                e = null;
                Scan none = Open(db, tx != null, id, s, e, reverse);
                none.ReleaseIterator();
                none._ended = true;
                return none;
            }
            return Open(db, tx != null, id, s, e, reverse);
        }

        private static Scan Open(NativeDb* db, bool inTransaction, ulong tx, byte[] s, byte[] e, bool reverse)
        {
            var handle = new IteratorHandle();
            LightningDBIterator* iterator;
            LightningDBError rc;
            fixed (byte* sp = s)
            fixed (byte* ep = e)
            {
                UIntPtr sl = (UIntPtr)(s == null ? 0 : s.Length);
                UIntPtr el = (UIntPtr)(e == null ? 0 : e.Length);
                rc = inTransaction
                    ? NativeMethods.lightning_db_iter_range_tx(db, tx, sp, sl, ep, el, reverse, &iterator)
                    : NativeMethods.lightning_db_iter_range(db, sp, sl, ep, el, reverse, &iterator);
            }
            Native.Check(rc);
            handle.Set((IntPtr)iterator);
            return new Scan(handle, false);
        }

        internal static Scan Prefix(LightningDb database, Transaction tx, byte[] prefix, bool reverse)
        {
            NativeDb* db = database.Db;
            var handle = new IteratorHandle();
            LightningDBIterator* iterator;
            LightningDBError rc;
            fixed (byte* p = prefix)
            {
                rc = tx != null
                    ? NativeMethods.lightning_db_iter_prefix_tx(db, tx.Id, p, (UIntPtr)prefix.Length, reverse, &iterator)
                    : NativeMethods.lightning_db_iter_prefix(db, p, (UIntPtr)prefix.Length, reverse, &iterator);
            }
            Native.Check(rc);
            handle.Set((IntPtr)iterator);
            return new Scan(handle, false);
        }

        /// <summary>Reads the next entry: true with its key and value, or false at the end.</summary>
        /// <exception cref="ObjectDisposedException">The scan was disposed.</exception>
        /// <exception cref="InvalidArgumentException">Its database was closed.</exception>
        /// <exception cref="CorruptedDataException">A stored value failed its checksum; a later
        /// call moves on to the following entry.</exception>
        public bool TryNext(out byte[] key, out byte[] value)
        {
            if (_disposed)
            {
                throw new ObjectDisposedException(nameof(Scan));
            }
            if (_left == 0 && !FetchPage())
            {
                key = null;
                value = null;
                return false;
            }
            int keyLength = ReadU32(_position);
            int valueLength = ReadU32(_position + 4);
            key = new byte[keyLength];
            value = new byte[valueLength];
            Buffer.BlockCopy(_page, _position + 8, key, 0, keyLength);
            Buffer.BlockCopy(_page, _position + 8 + keyLength, value, 0, valueLength);
            _position += 8 + keyLength + valueLength;
            _left--;
            return true;
        }

        private bool FetchPage()
        {
            if (_ended)
            {
                return false;
            }
            if (_page == null || _page.Length < _pageBytes)
            {
                _page = new byte[_pageBytes];
            }
            LightningDBIterator* iterator = (LightningDBIterator*)_iterator.DangerousGetHandle();
            while (true)
            {
                UIntPtr count;
                UIntPtr used;
                LightningDBError rc;
                fixed (byte* buffer = _page)
                {
                    rc = NativeMethods.lightning_db_iter_next_page(iterator, buffer, (UIntPtr)_page.Length,
                        (UIntPtr)_pageEntries, &count, &used);
                }
                Native.Check(rc);
                if ((ulong)count > 0)
                {
                    _left = (int)(ulong)count;
                    _position = 0;
                    if (_pageEntries < MaxPageEntries)
                    {
                        _pageEntries *= 2;
                        _pageBytes = Math.Min(MaxPageBytes, _pageBytes * 2);
                    }
                    return true;
                }
                if ((ulong)used == 0)
                {
                    // The end: release the native iterator now rather than at Dispose.
                    _ended = true;
                    ReleaseIterator();
                    return false;
                }
                // The next entry alone needs `used` bytes; it was not consumed.
                _page = new byte[checked((int)(ulong)used)];
            }
        }

        private int ReadU32(int at)
        {
            return _page[at] | (_page[at + 1] << 8) | (_page[at + 2] << 16) | (_page[at + 3] << 24);
        }

        private void ReleaseIterator()
        {
            _iterator.Dispose();
        }

        /// <summary>Releases the native iterator; later reads throw
        /// <see cref="ObjectDisposedException"/>. Idempotent.</summary>
        public void Dispose()
        {
            _disposed = true;
            _left = 0;
            _iterator.Dispose();
        }

        /// <summary>The entries not yet read, in order; the scan is released when the
        /// enumeration ends or is disposed (a <c>foreach</c> does both). A scan can be
        /// enumerated once.</summary>
        public IEnumerator<KeyValuePair<byte[], byte[]>> GetEnumerator()
        {
            if (_enumerated)
            {
                throw new InvalidOperationException("a scan can be enumerated only once; start a new scan");
            }
            _enumerated = true;
            return new Enumerator(this);
        }

        IEnumerator IEnumerable.GetEnumerator()
        {
            return GetEnumerator();
        }

        private sealed class Enumerator : IEnumerator<KeyValuePair<byte[], byte[]>>
        {
            private readonly Scan _scan;
            private KeyValuePair<byte[], byte[]> _current;

            internal Enumerator(Scan scan)
            {
                _scan = scan;
            }

            public KeyValuePair<byte[], byte[]> Current { get { return _current; } }

            object IEnumerator.Current { get { return _current; } }

            public bool MoveNext()
            {
                byte[] key, value;
                if (_scan.TryNext(out key, out value))
                {
                    _current = new KeyValuePair<byte[], byte[]>(key, value);
                    return true;
                }
                _scan.Dispose();
                return false;
            }

            public void Reset()
            {
                throw new NotSupportedException("a scan reads its snapshot once; start a new scan");
            }

            public void Dispose()
            {
                _scan.Dispose();
            }
        }
    }
}
