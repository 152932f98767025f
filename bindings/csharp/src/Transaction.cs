using System;
using LightningDB.Interop;
using NativeDb = LightningDB.Interop.LightningDB;

namespace LightningDB
{
    /// <summary>A transaction: reads see the snapshot taken when it began plus its own writes;
    /// <see cref="Commit"/> applies every write atomically or fails with
    /// <see cref="TransactionConflictException"/> if a key it writes was written by a commit
    /// after it began. Disposing it without committing rolls it back.</summary>
    public sealed unsafe class Transaction : IDisposable
    {
        private readonly LightningDb _db;
        private readonly ulong _id;
        private bool _finished;
        private bool _disposed;

        internal Transaction(LightningDb db, ulong id)
        {
            _db = db;
            _id = id;
        }

        internal ulong Id
        {
            get
            {
                if (_disposed) throw new ObjectDisposedException(nameof(Transaction));
                if (_finished)
                {
                    // The library knows only that no transaction has this id any more; this
                    // is the object API's message, the one every other binding reports.
                    throw new InvalidArgumentException("the transaction is finished (committed or rolled back)");
                }
                return _id;
            }
        }

        /// <summary>Buffers a put of <paramref name="value"/> under <paramref name="key"/>.</summary>
        /// <exception cref="InvalidArgumentException">Empty or oversized key, finished
        /// transaction, closed database.</exception>
        public void Put(byte[] key, byte[] value)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            if (value == null) throw new ArgumentNullException(nameof(value));
            ulong id = Id;
            NativeDb* db = _db.Db;
            fixed (byte* k = key.Length == 0 ? Native.NonNullEmpty : key)
            fixed (byte* v = value)
            {
                Native.Check(NativeMethods.lightning_db_put_tx(db, id, k, (UIntPtr)key.Length, v, (UIntPtr)value.Length));
            }
        }

        /// <summary>Buffers a put of UTF-8 strings.</summary>
        public void Put(string key, string value)
        {
            Put(Native.Utf8(key, nameof(key)), Native.Utf8(value, nameof(value)));
        }

        /// <summary>The value of <paramref name="key"/> as this transaction sees it, or null.</summary>
        public byte[] Get(byte[] key)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            return _db.GetValue(key, Id, true);
        }

        /// <summary>The value of the UTF-8 encoding of <paramref name="key"/>, or null.</summary>
        public byte[] Get(string key)
        {
            return Get(Native.Utf8(key, nameof(key)));
        }

        /// <summary>Reads <paramref name="key"/> as this transaction sees it.</summary>
        public bool TryGet(byte[] key, out byte[] value)
        {
            value = Get(key);
            return value != null;
        }

        /// <summary>Buffers a delete of <paramref name="key"/> (absent keys are fine).</summary>
        public void Delete(byte[] key)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            ulong id = Id;
            NativeDb* db = _db.Db;
            fixed (byte* k = key.Length == 0 ? Native.NonNullEmpty : key)
            {
                Native.Check(NativeMethods.lightning_db_delete_tx(db, id, k, (UIntPtr)key.Length));
            }
        }

        /// <summary>Buffers a delete of the UTF-8 encoding of <paramref name="key"/>.</summary>
        public void Delete(string key)
        {
            Delete(Native.Utf8(key, nameof(key)));
        }

        /// <summary>Whether this transaction sees <paramref name="key"/>.</summary>
        public bool ContainsKey(byte[] key)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            ulong id = Id;
            NativeDb* db = _db.Db;
            bool found;
            fixed (byte* k = key.Length == 0 ? Native.NonNullEmpty : key)
            {
                Native.Check(NativeMethods.lightning_db_contains_tx(db, id, k, (UIntPtr)key.Length, &found));
            }
            return found;
        }

        /// <summary>Whether this transaction sees the UTF-8 encoding of <paramref name="key"/>.</summary>
        public bool ContainsKey(string key)
        {
            return ContainsKey(Native.Utf8(key, nameof(key)));
        }

        /// <summary>Scans the keys this transaction sees that begin with the UTF-8 encoding of
        /// <paramref name="prefix"/>.</summary>
        public Scan ScanPrefix(string prefix, bool reverse = false)
        {
            return ScanPrefix(Native.Utf8(prefix, nameof(prefix)), reverse);
        }

        /// <summary>Scans what this transaction sees (its snapshot with its writes so far)
        /// between two bounds.</summary>
        public Scan Scan(KeyBound start, KeyBound end, bool reverse = false)
        {
            return LightningDB.Scan.Range(_db, this, start, end, reverse);
        }

        /// <summary>Scans what this transaction sees from <paramref name="start"/> (included) to
        /// <paramref name="end"/> (excluded); null bounds are open.</summary>
        public Scan Scan(byte[] start = null, byte[] end = null, bool reverse = false)
        {
            return Scan(start == null ? KeyBound.Unbounded : KeyBound.Included(start),
                        end == null ? KeyBound.Unbounded : KeyBound.Excluded(end), reverse);
        }

        /// <summary>Scans the keys this transaction sees that begin with <paramref name="prefix"/>.</summary>
        public Scan ScanPrefix(byte[] prefix, bool reverse = false)
        {
            if (prefix == null) throw new ArgumentNullException(nameof(prefix));
            return LightningDB.Scan.Prefix(_db, this, prefix, reverse);
        }

        /// <summary>Applies every buffered write atomically. The transaction is finished whatever
        /// the outcome; using it again is an <see cref="InvalidArgumentException"/>.</summary>
        /// <exception cref="TransactionConflictException">A key it writes was written after it
        /// began; nothing was applied.</exception>
        public void Commit()
        {
            ulong id = Id;
            NativeDb* db = _db.Db;
            LightningDBError rc = NativeMethods.lightning_db_commit_transaction(db, id);
            _finished = true;
            Native.Check(rc);
        }

        /// <summary>Discards the transaction and its writes.</summary>
        /// <exception cref="InvalidArgumentException">It was already finished.</exception>
        public void Rollback()
        {
            ulong id = Id;
            NativeDb* db = _db.Db;
            LightningDBError rc = NativeMethods.lightning_db_abort_transaction(db, id);
            _finished = true;
            Native.Check(rc);
        }

        /// <summary>Rolls the transaction back unless it was committed or rolled back; later
        /// calls throw <see cref="ObjectDisposedException"/>.</summary>
        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            if (!_finished)
            {
                _finished = true;
                try
                {
                    NativeDb* db = _db.Db;
                    // The outcome is irrelevant: a closed database already discarded it.
                    NativeMethods.lightning_db_abort_transaction(db, _id);
                }
                catch (ObjectDisposedException)
                {
                }
                catch (InvalidArgumentException)
                {
                    // The database was closed, which discarded the transaction already.
                }
            }
        }
    }
}
