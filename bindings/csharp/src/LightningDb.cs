using System;
using System.Collections.Generic;
using LightningDB.Interop;
using NativeDb = LightningDB.Interop.LightningDB;

namespace LightningDB
{
    /// <summary>An open Lightning DB database: an embedded, crash-safe, transactional key-value
    /// store. Keys are 1 to 16384 bytes, values 0 to 256 MiB. One instance is meant to be shared
    /// by every thread of a process. Dispose it (<c>using var db = LightningDb.Open(path);</c>)
    /// to close the database and release the writer lock.</summary>
    public sealed unsafe partial class LightningDb : IDisposable
    {
        /// <summary>The longest key accepted, in bytes.</summary>
        public const int MaxKeySize = 16384;

        /// <summary>The longest value accepted, in bytes (256 MiB).</summary>
        public const int MaxValueSize = 268435456;

        private readonly DatabaseHandle _handle;

        private LightningDb(DatabaseHandle handle, string path)
        {
            _handle = handle;
            Path = path;
        }

        /// <summary>The directory the database was opened from, as given.</summary>
        public string Path { get; }

        /// <summary>The version of the native library, e.g. "0.1.0".</summary>
        public static string Version
        {
            get { return Native.FromUtf8(NativeMethods.lightning_db_version()); }
        }

        /// <summary>Opens the database in directory <paramref name="path"/>, creating the directory
        /// and an empty database if there is none; opening an existing database is not an
        /// error.</summary>
        /// <param name="path">The database directory.</param>
        /// <param name="options">Options; null means the defaults. A read-only option is refused
        /// (use <see cref="Open"/>).</param>
        /// <exception cref="DatabaseLockedException">Another handle has it open for writing.</exception>
        /// <exception cref="InvalidArgumentException">An option is out of range.</exception>
        /// <exception cref="IoErrorException">The directory cannot be created or read.</exception>
        public static LightningDb Create(string path, LightningDbOptions options = null)
        {
            return OpenWith(path, options, create: true);
        }

        /// <summary>Opens an existing database in directory <paramref name="path"/>.</summary>
        /// <param name="path">The database directory.</param>
        /// <param name="options">Options; null means the defaults.</param>
        /// <exception cref="IoErrorException">There is no database at <paramref name="path"/>.</exception>
        /// <exception cref="DatabaseLockedException">Another handle has it open for writing.</exception>
        /// <exception cref="InvalidArgumentException">An option is out of range.</exception>
        /// <exception cref="CorruptedDataException">The files are damaged beyond a torn tail.</exception>
        public static LightningDb Open(string path, LightningDbOptions options = null)
        {
            return OpenWith(path, options, create: false);
        }

        private static LightningDb OpenWith(string path, LightningDbOptions options, bool create)
        {
            byte[] cpath = Native.Path(path, "path");
            LightningDBConfig* config = options == null ? null : options.ToNative();
            var handle = new DatabaseHandle();
            try
            {
                NativeDb* db;
                fixed (byte* p = cpath)
                {
                    db = create ? NativeMethods.lightning_db_create(p, config)
                                : NativeMethods.lightning_db_open(p, config);
                }
                if (db == null)
                {
                    Native.ThrowLast();
                }
                handle.Set((IntPtr)db);
            }
            finally
            {
                NativeMethods.lightning_db_config_free(config);
            }
            return new LightningDb(handle, path);
        }

        /// <summary>The native token; ObjectDisposedException once disposed. A token made stale
        /// by a concurrent Dispose is refused by the library (InvalidArgument), never used.</summary>
        internal NativeDb* Db
        {
            get
            {
                if (_handle.IsClosed)
                {
                    throw new ObjectDisposedException(nameof(LightningDb));
                }
                if (_handle.Closed)
                {
                    // lightning_db_close released the token, so the library would only say it
                    // does not know it; this is the engine's own error for a closed handle,
                    // the one every other binding reports.
                    throw new InvalidArgumentException("the database is closed");
                }
                return (NativeDb*)_handle.DangerousGetHandle();
            }
        }

        /// <summary>Closes the database: syncs, releases the writer lock; transactions not yet
        /// committed are discarded and open scans fail from then on. Later calls on this instance
        /// throw <see cref="InvalidArgumentException"/> (as in every binding) until it is disposed,
        /// then <see cref="ObjectDisposedException"/>.</summary>
        /// <exception cref="InvalidArgumentException">It was already closed.</exception>
        /// <exception cref="IoErrorException">The final sync failed.</exception>
        public void Close()
        {
            NativeDb* db = Db;
            // The token is released whatever the outcome (a failed final sync included).
            LightningDBError rc = NativeMethods.lightning_db_close(db);
            _handle.Closed = true;
            Native.Check(rc);
        }

        /// <summary>Closes the database if it is open and releases the handle. Idempotent.</summary>
        public void Dispose()
        {
            _handle.Dispose();
        }

        /// <summary>Stores <paramref name="value"/> under <paramref name="key"/>, replacing any
        /// previous value, as one durable commit.</summary>
        /// <exception cref="InvalidArgumentException">Empty or oversized key, oversized value,
        /// read-only or closed database.</exception>
        public void Put(byte[] key, byte[] value)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            if (value == null) throw new ArgumentNullException(nameof(value));
            NativeDb* db = Db;
            fixed (byte* k = key.Length == 0 ? Native.NonNullEmpty : key)
            fixed (byte* v = value)
            {
                Native.Check(NativeMethods.lightning_db_put(db, k, (UIntPtr)key.Length, v, (UIntPtr)value.Length));
            }
        }

        /// <summary>Stores the UTF-8 encoding of <paramref name="value"/> under the UTF-8 encoding
        /// of <paramref name="key"/>.</summary>
        public void Put(string key, string value)
        {
            Put(Native.Utf8(key, nameof(key)), Native.Utf8(value, nameof(value)));
        }

        /// <summary>The value stored under <paramref name="key"/>, or null if there is none (an
        /// empty value is an empty array, not null).</summary>
        /// <exception cref="InvalidArgumentException">Empty or oversized key, closed database.</exception>
        /// <exception cref="CorruptedDataException">The stored value failed its checksum.</exception>
        public byte[] Get(byte[] key)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            return GetValue(key);
        }

        /// <summary>The value under the UTF-8 encoding of <paramref name="key"/>, or null.</summary>
        public byte[] Get(string key)
        {
            return Get(Native.Utf8(key, nameof(key)));
        }

        /// <summary>The value under <paramref name="key"/> decoded as UTF-8, or null.</summary>
        public string GetString(string key)
        {
            byte[] value = Get(key);
            return value == null ? null : System.Text.Encoding.UTF8.GetString(value);
        }

        /// <summary>Reads the value under <paramref name="key"/>: true and the value if it is
        /// stored, false and null if not.</summary>
        public bool TryGet(byte[] key, out byte[] value)
        {
            value = Get(key);
            return value != null;
        }

        /// <summary>Gets the value under <paramref name="key"/> (null if none) or stores one
        /// (as <see cref="Put(byte[], byte[])"/>).</summary>
        public byte[] this[byte[] key]
        {
            get { return Get(key); }
            set { Put(key, value); }
        }

        /// <summary>Removes <paramref name="key"/>; true if it was stored. Removing an absent key
        /// writes nothing.</summary>
        /// <exception cref="InvalidArgumentException">Empty or oversized key, read-only or closed
        /// database.</exception>
        public bool Delete(byte[] key)
        {
            return AnswerAboutKey(key, delete: true);
        }

        /// <summary>Removes the UTF-8 encoding of <paramref name="key"/>; true if it was stored.</summary>
        public bool Delete(string key)
        {
            return Delete(Native.Utf8(key, nameof(key)));
        }

        /// <summary>Whether <paramref name="key"/> is stored (without reading its value).</summary>
        /// <exception cref="InvalidArgumentException">Empty or oversized key, closed database.</exception>
        public bool ContainsKey(byte[] key)
        {
            return AnswerAboutKey(key, delete: false);
        }

        /// <summary>The two calls answering yes or no about one key: lightning_db_delete_found
        /// (whether the delete removed a value) or lightning_db_contains.</summary>
        private bool AnswerAboutKey(byte[] key, bool delete)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            NativeDb* db = Db;
            bool found;
            fixed (byte* k = key.Length == 0 ? Native.NonNullEmpty : key)
            {
                Native.Check(delete
                    ? NativeMethods.lightning_db_delete_found(db, k, (UIntPtr)key.Length, &found)
                    : NativeMethods.lightning_db_contains(db, k, (UIntPtr)key.Length, &found));
            }
            return found;
        }

        /// <summary>Whether the UTF-8 encoding of <paramref name="key"/> is stored.</summary>
        public bool ContainsKey(string key)
        {
            return ContainsKey(Native.Utf8(key, nameof(key)));
        }

        /// <summary>The number of keys stored.</summary>
        /// <exception cref="InvalidArgumentException">The database is closed.</exception>
        public long Count
        {
            get { return (long)GetStats().LiveKeys; }
        }

        /// <summary>Applies every operation of <paramref name="batch"/> atomically, as one commit:
        /// after a crash all of them are there or none. On any error nothing is applied. The
        /// batch is left as it was.</summary>
        /// <exception cref="InvalidArgumentException">An empty or oversized key in the batch,
        /// read-only or closed database.</exception>
        public void Write(WriteBatch batch)
        {
            if (batch == null) throw new ArgumentNullException(nameof(batch));
            batch.WriteTo(this);
        }

        /// <summary>Begins a transaction: it reads the snapshot of the latest commit plus its own
        /// writes, and applies its writes atomically at <see cref="Transaction.Commit"/>.
        /// Disposing it without committing rolls it back.</summary>
        /// <exception cref="InvalidArgumentException">The database is closed.</exception>
        public Transaction BeginTransaction()
        {
            NativeDb* db = Db;
            ulong id;
            Native.Check(NativeMethods.lightning_db_begin_transaction(db, &id));
            return new Transaction(this, id);
        }

        /// <summary>Scans the keys from <paramref name="start"/> (included) to
        /// <paramref name="end"/> (excluded) over a snapshot taken now; null bounds are open.
        /// Dispose the scan, or read it to the end in a <c>foreach</c>, to release it.</summary>
        public Scan Scan(byte[] start = null, byte[] end = null, bool reverse = false)
        {
            return Scan(start == null ? KeyBound.Unbounded : KeyBound.Included(start),
                        end == null ? KeyBound.Unbounded : KeyBound.Excluded(end), reverse);
        }

        /// <summary>Scans the keys between two bounds, each included, excluded or unbounded, in
        /// ascending order or, with <paramref name="reverse"/>, descending.</summary>
        /// <exception cref="InvalidArgumentException">A bound is longer than
        /// <see cref="MaxKeySize"/>, or the database is closed.</exception>
        public Scan Scan(KeyBound start, KeyBound end, bool reverse = false)
        {
            return LightningDB.Scan.Range(this, null, start, end, reverse);
        }

        /// <summary>Scans the keys that begin with <paramref name="prefix"/> (every key if it is
        /// empty), ascending or, with <paramref name="reverse"/>, descending.</summary>
        public Scan ScanPrefix(byte[] prefix, bool reverse = false)
        {
            if (prefix == null) throw new ArgumentNullException(nameof(prefix));
            return LightningDB.Scan.Prefix(this, null, prefix, reverse);
        }

        /// <summary>Scans the keys that begin with the UTF-8 encoding of <paramref name="prefix"/>.</summary>
        public Scan ScanPrefix(string prefix, bool reverse = false)
        {
            return ScanPrefix(Native.Utf8(prefix, nameof(prefix)), reverse);
        }

        /// <summary>Syncs everything and saves a checkpoint of the index, so that the next open
        /// starts from it and a plain copy of the directory opens as a consistent database.</summary>
        public void Checkpoint()
        {
            Native.Check(NativeMethods.lightning_db_checkpoint(Db));
        }

        /// <summary>Rewrites the live data of segments holding dead values into new ones and
        /// removes the old, reclaiming the space; readers and writers continue meanwhile.</summary>
        public CompactionReport Compact()
        {
            LightningDBCompactionReport report;
            Native.Check(NativeMethods.lightning_db_compact(Db, &report));
            return new CompactionReport(report);
        }

        /// <summary>Writes a consistent copy of the database into <paramref name="destination"/>
        /// (which must not exist or be empty) while readers and writers continue.</summary>
        public void Backup(string destination)
        {
            byte[] path = Native.Path(destination, nameof(destination));
            NativeDb* db = Db;
            fixed (byte* p = path)
            {
                Native.Check(NativeMethods.lightning_db_backup(db, p));
            }
        }

        /// <summary>Reads every record and checks every checksum. Damage is reported in the
        /// result (<see cref="VerifyReport.IsClean"/> false, <see cref="VerifyReport.Problems"/>),
        /// not thrown.</summary>
        public VerifyReport Verify()
        {
            LightningDBVerifyReport report;
            LightningDBError rc = NativeMethods.lightning_db_verify(Db, &report);
            if (rc == LightningDBError.CorruptedData)
            {
                return new VerifyReport(report, Native.LastMessage());
            }
            Native.Check(rc);
            return new VerifyReport(report, "");
        }

        /// <summary>The database's counters and sizes.</summary>
        public Stats GetStats()
        {
            LightningDBStats stats;
            Native.Check(NativeMethods.lightning_db_stats(Db, &stats));
            return new Stats(stats);
        }

        /// <summary>For a read-only handle: loads the commits the writer made since it was opened
        /// or last refreshed. For a writable handle: does nothing.</summary>
        public void Refresh()
        {
            Native.Check(NativeMethods.lightning_db_refresh(Db));
        }
    }

    /// <summary>One bound of a key range: a key included or excluded, or no bound.</summary>
    public struct KeyBound
    {
        private KeyBound(byte[] key, bool inclusive)
        {
            Key = key;
            IsInclusive = inclusive;
        }

        /// <summary>The bound's key; null when unbounded.</summary>
        public byte[] Key { get; }

        /// <summary>Whether the key itself is in the range.</summary>
        public bool IsInclusive { get; }

        /// <summary>No bound on this side.</summary>
        public static KeyBound Unbounded { get { return default(KeyBound); } }

        /// <summary>Keys from (or up to) <paramref name="key"/>, including it.</summary>
        public static KeyBound Included(byte[] key)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            return new KeyBound(key, true);
        }

        /// <summary>Keys after (or before) <paramref name="key"/>, excluding it.</summary>
        public static KeyBound Excluded(byte[] key)
        {
            if (key == null) throw new ArgumentNullException(nameof(key));
            return new KeyBound(key, false);
        }

        /// <summary>The C ABI's bounds are start-included and end-excluded; the other kinds are
        /// the same sets with the key's immediate successor (the key followed by a zero byte).</summary>
        internal byte[] AsStart()
        {
            return Key == null ? null : IsInclusive ? Key : Successor(Key);
        }

        internal byte[] AsEnd()
        {
            return Key == null ? null : IsInclusive ? Successor(Key) : Key;
        }

        private static byte[] Successor(byte[] key)
        {
            byte[] next = new byte[key.Length + 1];
            Buffer.BlockCopy(key, 0, next, 0, key.Length);
            return next;
        }
    }
}
