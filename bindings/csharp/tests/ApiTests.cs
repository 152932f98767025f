using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading;
using LightningDB.Interop;
using NUnit.Framework;

namespace LightningDB.Tests
{
    [TestFixture]
    public class ApiTests
    {
        private string _dir;

        [SetUp]
        public void MakeDirectory()
        {
            _dir = Path.Combine(Path.GetTempPath(), "ldb-cs-api-" + Guid.NewGuid().ToString("N"));
        }

        [TearDown]
        public void RemoveDirectory()
        {
            if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
        }

        private static byte[] B(string s) { return Encoding.UTF8.GetBytes(s); }
        private static string S(byte[] b) { return b == null ? null : Encoding.UTF8.GetString(b); }
        private static long LiveHandles() { return (long)(ulong)NativeMethods.lightning_db_live_handle_count(); }

        private static List<string> Keys(IEnumerable<KeyValuePair<byte[], byte[]>> scan)
        {
            return scan.Select(kv => S(kv.Key)).ToList();
        }

        private LightningDb Letters()
        {
            var db = LightningDb.Create(_dir);
            foreach (var k in new[] { "a", "b", "c", "d", "e" }) db.Put(k, k.ToUpperInvariant());
            return db;
        }

        [Test]
        public void VersionIsTheLibrarys()
        {
            StringAssert.IsMatch(@"^\d+\.\d+\.\d+", LightningDb.Version);
        }

        [Test]
        public void PutGetOverwriteAndTheStringOverloads()
        {
            using (var db = LightningDb.Create(_dir))
            {
                Assert.IsNull(db.Get(B("k")));
                db.Put(B("k"), B("v1"));
                db.Put("k", "v2");
                Assert.AreEqual("v2", S(db.Get(B("k"))));
                Assert.AreEqual("v2", db.GetString("k"));
                Assert.AreEqual("v2", S(db.Get("k")));
                Assert.IsNull(db.GetString("absent"));
                Assert.AreEqual(Path.GetFullPath(_dir), Path.GetFullPath(db.Path));
            }
        }

        [Test]
        public void TryGetAndTheIndexer()
        {
            using (var db = LightningDb.Create(_dir))
            {
                byte[] value;
                Assert.IsFalse(db.TryGet(B("k"), out value));
                Assert.IsNull(value);
                db[B("k")] = B("v");
                Assert.IsTrue(db.TryGet(B("k"), out value));
                Assert.AreEqual("v", S(value));
                Assert.AreEqual("v", S(db[B("k")]));
                Assert.IsNull(db[B("other")]);
            }
        }

        [Test]
        public void AnEmptyValueIsAValueNotNull()
        {
            using (var db = LightningDb.Create(_dir))
            {
                db.Put(B("e"), new byte[0]);
                byte[] value = db.Get(B("e"));
                Assert.IsNotNull(value);
                Assert.AreEqual(0, value.Length);
                Assert.IsTrue(db.ContainsKey("e"));
            }
        }

        [Test]
        public void ValuesLargerThanTheReadBufferComeBackWhole()
        {
            using (var db = LightningDb.Create(_dir))
            {
                var big = new byte[3 * 1024 * 1024 + 7];
                new Random(1).NextBytes(big);
                var exact = new byte[64 * 1024];
                new Random(2).NextBytes(exact);
                db.Put(B("big"), big);
                db.Put(B("exact"), exact);
                db.Put(B("small"), B("s"));
                CollectionAssert.AreEqual(big, db.Get(B("big")));
                CollectionAssert.AreEqual(exact, db.Get(B("exact")));
                Assert.AreEqual("s", db.GetString("small"));
                var all = db.Scan().ToList();
                Assert.AreEqual(3, all.Count);
                CollectionAssert.AreEqual(big, all[0].Value);
                CollectionAssert.AreEqual(exact, all[1].Value);
                using (var tx = db.BeginTransaction())
                {
                    CollectionAssert.AreEqual(big, tx.Get(B("big")));
                }
            }
        }

        [Test]
        public void DeleteSaysWhetherTheKeyWasThere()
        {
            using (var db = LightningDb.Create(_dir))
            {
                db.Put("k", "v");
                Assert.IsTrue(db.ContainsKey(B("k")));
                Assert.IsTrue(db.Delete("k"));
                Assert.IsFalse(db.Delete(B("k")));
                Assert.IsFalse(db.ContainsKey("k"));
                Assert.AreEqual(0, db.Count);
            }
        }

        [Test]
        public void NullArgumentsAreArgumentNullExceptions()
        {
            using (var db = LightningDb.Create(_dir))
            {
                Assert.Throws<ArgumentNullException>(() => db.Put((byte[])null, B("v")));
                Assert.Throws<ArgumentNullException>(() => db.Put(B("k"), null));
                Assert.Throws<ArgumentNullException>(() => db.Get((byte[])null));
                Assert.Throws<ArgumentNullException>(() => new WriteBatch().Put((string)null, "v"));
                Assert.Throws<ArgumentNullException>(() => LightningDb.Open(null));
                Assert.Throws<ArgumentException>(() => LightningDb.Create(_dir + "\0x"));
            }
        }

        [Test]
        public void BadKeysAndOptionsAreInvalidArgumentExceptions()
        {
            var e = Assert.Throws<InvalidArgumentException>(() => LightningDb.Create(_dir, new LightningDbOptions { PageSize = 1000 }));
            Assert.AreEqual(ErrorCode.InvalidArgument, e.Code);
            StringAssert.Contains("page size", e.Message);
            Assert.Throws<InvalidArgumentException>(() => LightningDb.Create(_dir, new LightningDbOptions { CacheSize = -1 }));
            Assert.Throws<InvalidArgumentException>(() => LightningDb.Create(_dir, new LightningDbOptions { CompactionDeadRatio = 1.5 }));
            Assert.Throws<InvalidArgumentException>(() => LightningDb.Create(_dir, new LightningDbOptions { NormalSyncIntervalMs = 0 }));
            Assert.Throws<InvalidArgumentException>(() => LightningDb.Create(_dir, new LightningDbOptions { ReadOnly = true }));
            using (var db = LightningDb.Create(_dir, new LightningDbOptions { SyncMode = SyncMode.Off, SegmentSize = 1 << 20, CacheSize = 0 }))
            {
                StringAssert.Contains("empty", Assert.Throws<InvalidArgumentException>(() => db.Put(new byte[0], B("v"))).Message);
                Assert.Throws<InvalidArgumentException>(() => db.Get(new byte[0]));
                StringAssert.Contains("16385", Assert.Throws<InvalidArgumentException>(() => db.Put(new byte[16385], B("v"))).Message);
                db.Put(new byte[LightningDb.MaxKeySize], B("largest"));
                Assert.AreEqual("largest", S(db.Get(new byte[LightningDb.MaxKeySize])));
            }
        }

        [Test]
        public void OpeningAMissingDatabaseIsAnIoError()
        {
            var e = Assert.Throws<IoErrorException>(() => LightningDb.Open(_dir));
            Assert.AreEqual(ErrorCode.IoError, e.Code);
            Assert.IsInstanceOf<LightningDbException>(e);
        }

        [Test]
        public void ASecondWriterIsDatabaseLocked()
        {
            using (LightningDb.Create(_dir))
            {
                var e = Assert.Throws<DatabaseLockedException>(() => LightningDb.Create(_dir));
                Assert.AreEqual(ErrorCode.DatabaseLocked, e.Code);
            }
            using (LightningDb.Open(_dir)) { }
        }

        [Test]
        public void ConflictingTransactionsAndTheirOutcome()
        {
            using (var db = LightningDb.Create(_dir))
            {
                db.Put("n", "0");
                using (var t1 = db.BeginTransaction())
                using (var t2 = db.BeginTransaction())
                {
                    t1.Put("n", "1");
                    t2.Put("n", "2");
                    Assert.AreEqual("1", S(t1.Get("n")));
                    Assert.AreEqual("0", db.GetString("n"));
                    t1.Commit();
                    var e = Assert.Throws<TransactionConflictException>(() => t2.Commit());
                    Assert.AreEqual(ErrorCode.TransactionConflict, e.Code);
                }
                Assert.AreEqual("1", db.GetString("n"));
            }
        }

        [Test]
        public void DamagedDataIsCorruptedDataNeverWrongBytes()
        {
            byte[] value = Enumerable.Repeat((byte)'Q', 300).ToArray();
            // Small segments: the value's segment is sealed and covered by the checkpoint, so
            // opening does not read it and the damage is met by the get.
            var options = new LightningDbOptions { SegmentSize = 4096 };
            using (var db = LightningDb.Create(_dir, options))
            {
                db.Put(B("target"), value);
                var filler = new WriteBatch();
                for (int i = 0; i < 100; i++) filler.Put("filler" + i.ToString("D3"), new string('f', 100));
                db.Write(filler);
                db.Put(B("after"), B("x"));
                db.Checkpoint();
            }
            // Flip one byte inside the stored value, in whichever segment file holds it.
            bool damaged = false;
            foreach (string file in Directory.GetFiles(_dir))
            {
                byte[] bytes = File.ReadAllBytes(file);
                for (int i = 0; i + value.Length <= bytes.Length && !damaged; i++)
                {
                    if (bytes[i] == 'Q' && bytes.Skip(i).Take(value.Length).All(b => b == 'Q'))
                    {
                        bytes[i + 150] ^= 0xFF;
                        File.WriteAllBytes(file, bytes);
                        damaged = true;
                    }
                }
            }
            Assert.IsTrue(damaged, "the value's bytes were found on disk");
            using (var db = LightningDb.Open(_dir, options))
            {
                var e = Assert.Throws<CorruptedDataException>(() => db.Get(B("target")));
                Assert.AreEqual(ErrorCode.CorruptedData, e.Code);
                Assert.AreEqual("x", db.GetString("after"));
                VerifyReport report = db.Verify();
                Assert.IsFalse(report.IsClean);
                Assert.AreEqual(1, report.UnreadableKeys);
                Assert.IsNotEmpty(report.Problems);
            }
        }

        [Test]
        public void ABatchIsAllOrNothing()
        {
            using (var db = LightningDb.Create(_dir))
            {
                db.Put("gone", "x");
                var batch = new WriteBatch().Put("a", "1").Put(B("b"), B("2")).Delete("gone");
                Assert.AreEqual(3, batch.Count);
                db.Write(batch);
                Assert.AreEqual(new[] { "a", "b" }, Keys(db.Scan()));
                batch.Clear();
                Assert.AreEqual(0, batch.Count);
                batch.Put("c", "3").Put(new byte[0], B("empty key")).Put("d", "4");
                StringAssert.Contains("empty", Assert.Throws<InvalidArgumentException>(() => db.Write(batch)).Message);
                Assert.AreEqual(new[] { "a", "b" }, Keys(db.Scan()));
                var many = new WriteBatch();
                for (int i = 0; i < 5000; i++) many.Put("m" + i.ToString("D5"), new string('v', i % 300));
                db.Write(many);
                Assert.AreEqual(5002, db.Count);
                Assert.AreEqual(new string('v', 4999 % 300), db.GetString("m04999"));
            }
        }

        [Test]
        public void RangesWithEveryKindOfBoundInBothDirections()
        {
            using (var db = Letters())
            {
                Assert.AreEqual(new[] { "a", "b", "c", "d", "e" }, Keys(db.Scan()));
                Assert.AreEqual(new[] { "e", "d", "c", "b", "a" }, Keys(db.Scan(reverse: true)));
                Assert.AreEqual(new[] { "b", "c" }, Keys(db.Scan(B("b"), B("d"))));
                Assert.AreEqual(new[] { "c", "b" }, Keys(db.Scan(B("b"), B("d"), true)));
                Assert.AreEqual(new[] { "b", "c", "d" }, Keys(db.Scan(KeyBound.Included(B("b")), KeyBound.Included(B("d")))));
                Assert.AreEqual(new[] { "c" }, Keys(db.Scan(KeyBound.Excluded(B("b")), KeyBound.Excluded(B("d")))));
                Assert.AreEqual(new[] { "d", "c" }, Keys(db.Scan(KeyBound.Excluded(B("b")), KeyBound.Included(B("d")), true)));
                Assert.AreEqual(new[] { "c", "d", "e" }, Keys(db.Scan(KeyBound.Excluded(B("b")), KeyBound.Unbounded)));
                Assert.AreEqual(new[] { "b", "a" }, Keys(db.Scan(KeyBound.Unbounded, KeyBound.Excluded(B("c")), true)));
                Assert.AreEqual(new string[0], Keys(db.Scan(KeyBound.Unbounded, KeyBound.Excluded(new byte[0]))));
                Assert.AreEqual(new string[0], Keys(db.Scan(B("d"), B("b"))));
            }
        }

        [Test]
        public void PrefixScansInBothDirections()
        {
            using (var db = LightningDb.Create(_dir))
            {
                foreach (var k in new[] { "app", "apple", "apply", "b", "ap" }) db.Put(k, "v");
                db.Put(new byte[] { 0x61, 0x70, 0xFF }, B("high"));
                Assert.AreEqual(new[] { "app", "apple", "apply" }, Keys(db.ScanPrefix("app")));
                Assert.AreEqual(new[] { "apply", "apple", "app" }, Keys(db.ScanPrefix(B("app"), true)));
                Assert.AreEqual(3, db.ScanPrefix(new byte[] { 0x61, 0x70, 0xFF }).Concat(db.ScanPrefix("appl")).Count());
                Assert.AreEqual(6, db.ScanPrefix(new byte[0]).Count());
            }
        }

        [Test]
        public void AScanReadsTheSnapshotOfItsStart()
        {
            using (var db = Letters())
            using (var scan = db.Scan())
            {
                db.Put("aa", "new");
                db.Delete("e");
                Assert.AreEqual(new[] { "a", "b", "c", "d", "e" }, Keys(scan));
            }
        }

        [Test]
        public void AnEarlyBreakReleasesTheNativeIterator()
        {
            using (var db = LightningDb.Create(_dir))
            {
                var batch = new WriteBatch();
                for (int i = 0; i < 2000; i++) batch.Put("k" + i.ToString("D4"), "v");
                db.Write(batch);
                long before = LiveHandles();
                int seen = 0;
                foreach (var kv in db.Scan())
                {
                    Assert.AreEqual(before + 1, LiveHandles(), "the scan holds one native iterator");
                    if (++seen == 3) break;
                }
                Assert.AreEqual(before, LiveHandles(), "released by the break");
                int all = 0;
                foreach (var kv in db.Scan()) all++;
                Assert.AreEqual(2000, all);
                Assert.AreEqual(before, LiveHandles(), "released at the end");
                var disposed = db.Scan();
                disposed.Dispose();
                Assert.AreEqual(before, LiveHandles(), "released by Dispose");
            }
        }

        [Test]
        public void AScanIsReadOnceAndNotAfterDispose()
        {
            using (var db = Letters())
            {
                var scan = db.Scan();
                byte[] key, value;
                Assert.IsTrue(scan.TryNext(out key, out value));
                Assert.AreEqual("a", S(key));
                Assert.AreEqual("A", S(value));
                Assert.AreEqual(new[] { "b", "c", "d", "e" }, Keys(scan));
                Assert.Throws<InvalidOperationException>(() => scan.GetEnumerator());
                Assert.Throws<ObjectDisposedException>(() => scan.TryNext(out key, out value));
                var fresh = db.Scan();
                Assert.IsTrue(fresh.TryNext(out key, out value));
                fresh.Dispose();
                fresh.Dispose();
                Assert.Throws<ObjectDisposedException>(() => fresh.TryNext(out key, out value));
            }
        }

        [Test]
        public void AScanOfAClosedDatabaseFailsWithoutCrashing()
        {
            var db = Letters();
            var scan = db.Scan();
            db.Close();
            byte[] key, value;
            StringAssert.Contains("closed", Assert.Throws<InvalidArgumentException>(() => scan.TryNext(out key, out value)).Message);
            scan.Dispose();
            db.Dispose();
        }

        [Test]
        public void DisposeClosesAndLaterUseIsObjectDisposed()
        {
            long before = LiveHandles();
            var db = LightningDb.Create(_dir);
            db.Put("k", "v");
            Assert.AreEqual(before + 1, LiveHandles());
            db.Dispose();
            Assert.AreEqual(before, LiveHandles());
            db.Dispose();
            Assert.Throws<ObjectDisposedException>(() => db.Get(B("k")));
            Assert.Throws<ObjectDisposedException>(() => db.Put("k", "v"));
            Assert.Throws<ObjectDisposedException>(() => db.Scan());
            Assert.Throws<ObjectDisposedException>(() => db.BeginTransaction());
            Assert.Throws<ObjectDisposedException>(() => db.Close());
            using (var again = LightningDb.Open(_dir))
            {
                Assert.AreEqual("v", again.GetString("k"), "the lock was released and the data kept");
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private void OpenAndForget()
        {
            var db = LightningDb.Create(_dir);
            db.Put("k", "v");
            db.Scan().TryNext(out _, out _);
        }

        [Test]
        public void AForgottenDatabaseIsClosedByTheGarbageCollector()
        {
            long before = LiveHandles();
            OpenAndForget();
            Assert.AreEqual(before + 2, LiveHandles(), "a database and a scan");
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Assert.AreEqual(before, LiveHandles(), "both released by their SafeHandles");
            using (var db = LightningDb.Create(_dir))
            {
                Assert.AreEqual("v", db.GetString("k"), "the writer lock was released");
            }
        }

        [Test]
        public void CloseThenEveryCallSaysClosed()
        {
            var db = LightningDb.Create(_dir);
            db.Close();
            StringAssert.Contains("closed", Assert.Throws<InvalidArgumentException>(() => db.Get(B("k"))).Message);
            StringAssert.Contains("closed", Assert.Throws<InvalidArgumentException>(() => db.Close()).Message);
            db.Dispose();
            Assert.Throws<ObjectDisposedException>(() => db.Get(B("k")));
        }

        [Test]
        public void ATransactionDisposedWithoutCommitRollsBack()
        {
            using (var db = LightningDb.Create(_dir))
            {
                using (var tx = db.BeginTransaction())
                {
                    tx.Put("a", "1");
                    tx.Put(B("b"), B("2"));
                    tx.Delete("b");
                    Assert.IsTrue(tx.ContainsKey(B("a")));
                    Assert.IsFalse(tx.ContainsKey(B("b")));
                    Assert.AreEqual(new[] { "a" }, Keys(tx.Scan()));
                    Assert.AreEqual(new[] { "a" }, Keys(tx.ScanPrefix(B("a"))));
                    Assert.AreEqual(new[] { "a" }, Keys(tx.ScanPrefix("a", reverse: true)));
                    Assert.IsTrue(tx.ContainsKey("a"));
                    Assert.AreEqual("1", S(tx.Get("a")));
                }
                Assert.IsNull(db.Get(B("a")));
                var done = db.BeginTransaction();
                done.Put("c", "3");
                done.Commit();
                StringAssert.Contains("finished", Assert.Throws<InvalidArgumentException>(() => done.Put("d", "4")).Message);
                done.Dispose();
                Assert.Throws<ObjectDisposedException>(() => done.Get(B("c")));
                Assert.AreEqual("3", db.GetString("c"));
                var rolled = db.BeginTransaction();
                rolled.Put("e", "5");
                rolled.Rollback();
                Assert.Throws<InvalidArgumentException>(() => rolled.Commit());
                Assert.IsNull(db.Get(B("e")));
            }
        }

        [Test]
        public void MaintenanceCalls()
        {
            using (var db = LightningDb.Create(_dir, new LightningDbOptions { SyncMode = SyncMode.Normal, SegmentSize = 4096, AutoCompact = false }))
            {
                for (int round = 0; round < 2; round++)
                {
                    var batch = new WriteBatch();
                    for (int i = 0; i < 300; i++) batch.Put("k" + i.ToString("D3"), "round" + round);
                    db.Write(batch);
                }
                Stats stats = db.GetStats();
                Assert.AreEqual(300, stats.LiveKeys);
                Assert.AreEqual(2, stats.Commits);
                Assert.Greater(stats.Segments, 1);
                CompactionReport report = db.Compact();
                Assert.Less(report.BytesAfter, report.BytesBefore);
                db.Checkpoint();
                VerifyReport verify = db.Verify();
                Assert.IsTrue(verify.IsClean);
                Assert.AreEqual(300, verify.LiveKeys);
                Assert.AreEqual("", verify.Problems);
                string copy = _dir + "-copy";
                try
                {
                    db.Backup(copy);
                    using (var backup = LightningDb.Open(copy))
                    {
                        Assert.AreEqual("round1", backup.GetString("k299"));
                    }
                    Assert.Throws<InvalidArgumentException>(() => db.Backup(copy));
                }
                finally
                {
                    Directory.Delete(copy, true);
                }
            }
        }

        [Test]
        public void AReadOnlyHandleBesideTheWriterSeesCommitsAfterRefresh()
        {
            using (var writer = LightningDb.Create(_dir))
            {
                writer.Put("a", "1");
                using (var reader = LightningDb.Open(_dir, new LightningDbOptions { ReadOnly = true }))
                {
                    Assert.AreEqual("1", reader.GetString("a"));
                    StringAssert.Contains("read-only", Assert.Throws<InvalidArgumentException>(() => reader.Put("b", "2")).Message);
                    writer.Put("b", "2");
                    reader.Refresh();
                    Assert.AreEqual("2", reader.GetString("b"));
                }
            }
        }

        private static string RunSecondProcess(string mode, string path, string key)
        {
            string reader = Path.Combine(Path.GetDirectoryName(typeof(ApiTests).Assembly.Location), "Reader.exe");
            var info = new ProcessStartInfo("mono", string.Format("\"{0}\" {1} \"{2}\" {3}", reader, mode, path, key))
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
            };
            using (var process = Process.Start(info))
            {
                string output = process.StandardOutput.ReadToEnd().Trim();
                Assert.IsTrue(process.WaitForExit(60000), "the second process finished");
                return output;
            }
        }

        [Test]
        public void ASecondProcessReadsWhileThisOneWrites()
        {
            using (var db = LightningDb.Create(_dir))
            {
                db.Put("shared", "written by the first process");
                Assert.AreEqual("value:written by the first process", RunSecondProcess("read", _dir, "shared"));
                Assert.AreEqual("error:DatabaseLocked", RunSecondProcess("write", _dir, "shared"));
            }
            Assert.AreEqual("value:from the second process", RunSecondProcess("write", _dir, "shared"));
        }

        [Test]
        public void ThreadsReadConcurrentlyWhileOneWrites()
        {
            using (var db = LightningDb.Create(_dir, new LightningDbOptions { SyncMode = SyncMode.Off }))
            {
                var batch = new WriteBatch();
                for (int i = 0; i < 1000; i++) batch.Put("k" + i.ToString("D4"), "v" + i);
                db.Write(batch);
                var errors = new List<Exception>();
                var threads = new List<Thread>();
                for (int t = 0; t < 4; t++)
                {
                    int seed = t;
                    threads.Add(new Thread(() =>
                    {
                        try
                        {
                            var random = new Random(seed);
                            for (int n = 0; n < 5000; n++)
                            {
                                int i = random.Next(1000);
                                string value = db.GetString("k" + i.ToString("D4"));
                                if (value != "v" + i) throw new Exception("k" + i + " read " + value);
                                if (n % 500 == 0 && db.Scan(B("k0100"), B("k0110")).Count() != 10) throw new Exception("range");
                            }
                        }
                        catch (Exception e)
                        {
                            lock (errors) errors.Add(e);
                        }
                    }));
                }
                threads.Add(new Thread(() =>
                {
                    try
                    {
                        for (int n = 0; n < 500; n++) db.Put("w" + n, "x");
                    }
                    catch (Exception e)
                    {
                        lock (errors) errors.Add(e);
                    }
                }));
                threads.ForEach(t => t.Start());
                threads.ForEach(t => t.Join());
                Assert.IsEmpty(errors, string.Join("\n", errors));
                Assert.AreEqual(1500, db.Count);
            }
        }
    }
}
