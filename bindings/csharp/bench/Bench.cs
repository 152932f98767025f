using System;
using System.Collections.Generic;
using System.Data;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using LightningDB;
using Mono.Data.Sqlite;

/// <summary>The C# benchmark: Lightning DB next to Mono.Data.Sqlite in one run, and the cost
/// of a bare P/Invoke as the floor. Random 24-byte keys and 150-byte values; every commit
/// durable in both stores (SyncMode.Full; SQLite WAL with synchronous=FULL). Prints a table
/// of operations per second; asserts nothing about speed.
///
///   mono Bench.exe [keys] [engine-get-ops-per-second] [c-get-into-ops-per-second]
///
/// ci/bench-csharp builds and runs it, and passes the reference rates bindings/csharp/bench/engine-get
/// measures in the same run: the Rust engine's own get, and lightning_db_get_into called from Rust.</summary>
public static unsafe class Bench
{
    [DllImport("lightning_db_ffi", EntryPoint = "lightning_db_last_error_code")]
    private static extern int LastErrorCode();

    private const int SinglePuts = 1000;
    private const int BatchSize = 1000;
    private const int Ranges = 20000;
    // As engine-get: 40 untimed rounds (which would leave all but 0.5% of the
    // values cached if they were of 1 KiB or more: one miss in eight is
    // admitted), then the best of 5.
    private const int WarmRounds = 40;
    private const int TimedGetRounds = 5;

    private static double Rate(long n, Action run, int repeat = 3)
    {
        double best = double.MaxValue;
        for (int i = 0; i < repeat; i++)
        {
            var watch = Stopwatch.StartNew();
            run();
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        return n / best;
    }

    public static int Main(string[] args)
    {
        int n = args.Length > 0 ? int.Parse(args[0]) : 200000;
        double engineGet = args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 0;
        double cGet = args.Length > 2 ? double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 0;
        var random = new Random(42);
        var keys = new byte[n][];
        var values = new byte[n][];
        for (int i = 0; i < n; i++)
        {
            keys[i] = new byte[24];
            random.NextBytes(keys[i]);
            values[i] = new byte[150];
            random.NextBytes(values[i]);
        }
        var lookups = new byte[n][];
        for (int i = 0; i < n; i++) lookups[i] = keys[random.Next(n)];
        var starts = new byte[Ranges][];
        for (int i = 0; i < Ranges; i++) starts[i] = keys[random.Next(n)];

        string root = Path.Combine(Path.GetTempPath(), "ldb-cs-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        try
        {
            var ours = RunLightning(Path.Combine(root, "lightning"), keys, values, lookups, starts);
            var sqlite = RunSqlite(Path.Combine(root, "sqlite.db"), keys, values, lookups, starts);
            double floor = Rate(10000000, () => { for (int i = 0; i < 10000000; i++) LastErrorCode(); });

            Console.WriteLine("Lightning DB {0} from C# ({1} {2}), {3:N0} random 24-byte keys, 150-byte values",
                LightningDb.Version, Type.GetType("Mono.Runtime") != null ? "Mono" : ".NET", Environment.Version, n);
            Console.WriteLine();
            Console.WriteLine("| operations per second | Lightning DB (C#) | Mono.Data.Sqlite | Lightning ÷ SQLite |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var row in new[] { "get", "put (1 durable commit each)", "batched put (1,000 per commit)", "range of 10", "full scan (entries)" })
            {
                Console.WriteLine("| {0} | {1:N0} | {2:N0} | {3:F1} |", row, ours[row], sqlite[row], ours[row] / sqlite[row]);
            }
            Console.WriteLine();
            Console.WriteLine("bare P/Invoke (lightning_db_last_error_code): {0:F3} µs a call", 1e6 / floor);
            Console.WriteLine("get through LightningDb.Get: {0:N0} /s; the bare P/Invoke of lightning_db_get_into it wraps: {1:N0} /s",
                ours["get"], ours["get, bare lightning_db_get_into"]);
            if (engineGet > 0 && cGet > 0)
            {
                Console.WriteLine();
                Console.WriteLine("Gets, best of {0} after {1} untimed rounds:", TimedGetRounds, WarmRounds);
                Console.WriteLine();
                Console.WriteLine("| get path | µs per get | ÷ engine |");
                Console.WriteLine("|---|---:|---:|");
                Action<string, double> line = (what, rate) =>
                    Console.WriteLine("| {0} | {1:F3} | {2:F2} |", what, 1e6 / rate, engineGet / rate);
                line("the engine's own Database::get (Rust)", engineGet);
                line("lightning_db_get_into from Rust, value copied to a Vec", cGet);
                line("lightning_db_get_into by bare P/Invoke, no managed array", ours["get, bare lightning_db_get_into"]);
                line("LightningDb.Get", ours["get"]);
            }
        }
        finally
        {
            Directory.Delete(root, true);
        }
        return 0;
    }

    private static Dictionary<string, double> RunLightning(string path, byte[][] keys, byte[][] values, byte[][] lookups, byte[][] starts)
    {
        var r = new Dictionary<string, double>();
        int n = keys.Length;
        using (var db = LightningDb.Create(path + "-single"))
        {
            r["put (1 durable commit each)"] = Rate(SinglePuts, () => { for (int i = 0; i < SinglePuts; i++) db.Put(keys[i], values[i]); }, 1);
        }
        using (var db = LightningDb.Create(path))
        {
            r["batched put (1,000 per commit)"] = Rate(n, () =>
            {
                var batch = new WriteBatch();
                for (int i = 0; i < n; i++)
                {
                    batch.Put(keys[i], values[i]);
                    if (batch.Count == BatchSize) { db.Write(batch); batch.Clear(); }
                }
                if (batch.Count > 0) db.Write(batch);
            }, 1);
            // The reference rates (engine-get) are taken with every value in the cache:
            // fill it the same way before timing.
            for (int w = 0; w < WarmRounds; w++)
            {
                for (int i = 0; i < n; i++) db.Get(lookups[i]);
            }
            r["get"] = Rate(n, () =>
            {
                for (int i = 0; i < n; i++) if (db.Get(lookups[i]) == null) throw new Exception("missing key");
            }, TimedGetRounds);
            r["get, bare lightning_db_get_into"] = Rate(n, () =>
            {
                var buffer = new byte[4096];
                LightningDB.Interop.LightningDB* handle = db.Db;
                for (int i = 0; i < n; i++)
                {
                    UIntPtr length;
                    fixed (byte* k = lookups[i])
                    fixed (byte* b = buffer)
                    {
                        LightningDB.Interop.NativeMethods.lightning_db_get_into(handle, k, (UIntPtr)24, b, (UIntPtr)buffer.Length, &length);
                    }
                    if ((ulong)length != 150) throw new Exception("missing key");
                }
            }, TimedGetRounds);
            r["range of 10"] = Rate(starts.Length, () =>
            {
                byte[] key, value;
                for (int i = 0; i < starts.Length; i++)
                {
                    using (var scan = db.Scan(starts[i]))
                    {
                        for (int j = 0; j < 10 && scan.TryNext(out key, out value); j++) { }
                    }
                }
            });
            r["full scan (entries)"] = Rate(n, () =>
            {
                int count = 0;
                foreach (var kv in db.Scan()) count++;
                if (count != n) throw new Exception("scan saw " + count);
            });
        }
        return r;
    }

    private static Dictionary<string, double> RunSqlite(string path, byte[][] keys, byte[][] values, byte[][] lookups, byte[][] starts)
    {
        var r = new Dictionary<string, double>();
        int n = keys.Length;
        Func<string, SqliteConnection> open = file =>
        {
            var c = new SqliteConnection("Data Source=" + file);
            c.Open();
            Exec(c, "PRAGMA journal_mode=WAL");
            Exec(c, "PRAGMA synchronous=FULL");
            Exec(c, "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID");
            return c;
        };
        using (var c = open(path + "-single"))
        using (var put = Command(c, "INSERT OR REPLACE INTO kv VALUES (@k, @v)", "@k", "@v"))
        {
            r["put (1 durable commit each)"] = Rate(SinglePuts, () =>
            {
                for (int i = 0; i < SinglePuts; i++)
                {
                    put.Parameters[0].Value = keys[i];
                    put.Parameters[1].Value = values[i];
                    put.ExecuteNonQuery();
                }
            }, 1);
        }
        using (var c = open(path))
        {
            using (var put = Command(c, "INSERT OR REPLACE INTO kv VALUES (@k, @v)", "@k", "@v"))
            {
                r["batched put (1,000 per commit)"] = Rate(n, () =>
                {
                    for (int i = 0; i < n; i += BatchSize)
                    {
                        using (var tx = c.BeginTransaction())
                        {
                            for (int j = i; j < Math.Min(n, i + BatchSize); j++)
                            {
                                put.Parameters[0].Value = keys[j];
                                put.Parameters[1].Value = values[j];
                                put.ExecuteNonQuery();
                            }
                            tx.Commit();
                        }
                    }
                }, 1);
            }
            using (var get = Command(c, "SELECT v FROM kv WHERE k = @k", "@k"))
            {
                r["get"] = Rate(n, () =>
                {
                    for (int i = 0; i < n; i++)
                    {
                        get.Parameters[0].Value = lookups[i];
                        if (!(get.ExecuteScalar() is byte[])) throw new Exception("missing key");
                    }
                });
            }
            using (var range = Command(c, "SELECT k, v FROM kv WHERE k >= @k ORDER BY k LIMIT 10", "@k"))
            {
                r["range of 10"] = Rate(starts.Length, () =>
                {
                    for (int i = 0; i < starts.Length; i++)
                    {
                        range.Parameters[0].Value = starts[i];
                        using (var reader = range.ExecuteReader())
                        {
                            while (reader.Read()) { reader.GetValue(0); reader.GetValue(1); }
                        }
                    }
                });
            }
            using (var scan = Command(c, "SELECT k, v FROM kv ORDER BY k"))
            {
                r["full scan (entries)"] = Rate(n, () =>
                {
                    int count = 0;
                    using (var reader = scan.ExecuteReader())
                    {
                        while (reader.Read()) { reader.GetValue(0); reader.GetValue(1); count++; }
                    }
                    if (count != n) throw new Exception("scan saw " + count);
                });
            }
        }
        return r;
    }

    private static void Exec(SqliteConnection c, string sql)
    {
        using (var command = c.CreateCommand())
        {
            command.CommandText = sql;
            command.ExecuteNonQuery();
        }
    }

    private static SqliteCommand Command(SqliteConnection c, string sql, params string[] parameters)
    {
        var command = c.CreateCommand();
        command.CommandText = sql;
        foreach (string p in parameters) command.Parameters.Add(new SqliteParameter(p, DbType.Binary));
        command.Prepare();
        return command;
    }
}
