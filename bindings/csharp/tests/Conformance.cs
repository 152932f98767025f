using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using NUnit.Framework;

namespace LightningDB.Tests
{
    /// <summary>Plays every scenario of tests/conformance/scenarios.json (format in its README)
    /// through the public C# API: the same calls give the same results and errors as in every
    /// other language.</summary>
    [TestFixture]
    public class Conformance
    {
        private static Dictionary<string, object> Load()
        {
            string path = Environment.GetEnvironmentVariable("LIGHTNING_DB_SCENARIOS");
            if (string.IsNullOrEmpty(path))
            {
                // bindings/csharp/build/tests -> the repository root
                string dir = Path.GetDirectoryName(typeof(Conformance).Assembly.Location);
                path = Path.Combine(dir, "..", "..", "..", "..", "tests", "conformance", "scenarios.json");
            }
            var file = (Dictionary<string, object>)Json.Parse(File.ReadAllText(path));
            if (Convert.ToInt32(file["format"]) != 1)
            {
                throw new InvalidDataException("unknown scenarios format " + file["format"]);
            }
            return file;
        }

        public static IEnumerable<TestCaseData> Scenarios()
        {
            foreach (Dictionary<string, object> scenario in (List<object>)Load()["scenarios"])
            {
                yield return new TestCaseData(scenario).SetName("Scenario: " + (string)scenario["name"]);
            }
        }

        [Test]
        public void EveryScenarioIsPlayed()
        {
            // NUnit 2.6 reports a broken TestCaseSource as one error; this keeps the count honest.
            Assert.That(((List<object>)Load()["scenarios"]).Count, Is.GreaterThan(0));
        }

        [TestCaseSource("Scenarios")]
        public void Play(Dictionary<string, object> scenario)
        {
            new Runner(scenario).Run();
        }

        private sealed class Runner
        {
            private readonly Dictionary<string, object> _scenario;
            private readonly string _root;
            private readonly Dictionary<string, LightningDb> _dbs = new Dictionary<string, LightningDb>();
            private readonly Dictionary<string, KeyValuePair<string, LightningDbOptions>> _opened =
                new Dictionary<string, KeyValuePair<string, LightningDbOptions>>();
            private readonly Dictionary<string, Transaction> _txs = new Dictionary<string, Transaction>();
            private readonly Dictionary<string, Scan> _cursors = new Dictionary<string, Scan>();
            private readonly List<IDisposable> _all = new List<IDisposable>();

            internal Runner(Dictionary<string, object> scenario)
            {
                _scenario = scenario;
                _root = Path.Combine(Path.GetTempPath(), "ldb-cs-" + Guid.NewGuid().ToString("N"));
                Directory.CreateDirectory(_root);
            }

            internal void Run()
            {
                var steps = (List<object>)_scenario["steps"];
                try
                {
                    for (int i = 0; i < steps.Count; i++)
                    {
                        var step = (Dictionary<string, object>)steps[i];
                        try
                        {
                            Step(step);
                        }
                        catch (Exception e)
                        {
                            throw new AssertionException(string.Format("scenario '{0}', step {1} {2}: {3}",
                                _scenario["name"], i, Describe(step), e is AssertionException ? e.Message : e.ToString()));
                        }
                    }
                }
                finally
                {
                    for (int i = _all.Count - 1; i >= 0; i--)
                    {
                        _all[i].Dispose();
                    }
                    Directory.Delete(_root, true);
                }
            }

            private static string Describe(Dictionary<string, object> step)
            {
                return "{" + string.Join(", ", step.Select(kv => kv.Key + ": " + Show(kv.Value))) + "}";
            }

            private static string Show(object value)
            {
                var list = value as List<object>;
                if (list != null) return "[" + string.Join(", ", list.Select(Show)) + "]";
                var dict = value as Dictionary<string, object>;
                if (dict != null) return "{" + string.Join(", ", dict.Select(kv => kv.Key + ": " + Show(kv.Value))) + "}";
                if (value is string) return "\"" + ((string)value).Replace("\0", "\\0") + "\"";
                return value == null ? "null" : value.ToString();
            }

            private void Step(Dictionary<string, object> step)
            {
                string op = (string)step["op"];
                object expectedError;
                step.TryGetValue("expect_error", out expectedError);
                object result;
                try
                {
                    result = Do(op, step);
                }
                catch (LightningDbException e)
                {
                    if (expectedError == null)
                    {
                        throw new AssertionException("unexpected " + e.GetType().Name + " (" + e.Code + "): " + e.Message);
                    }
                    Assert.AreEqual((string)expectedError, e.Code.ToString(), "error code; message: " + e.Message);
                    object contains;
                    if (step.TryGetValue("error_contains", out contains))
                    {
                        StringAssert.Contains((string)contains, e.Message);
                    }
                    return;
                }
                if (expectedError != null)
                {
                    throw new AssertionException("expected " + expectedError + ", the call succeeded");
                }
                Check(op, step, result);
            }

            private void Check(string op, Dictionary<string, object> step, object result)
            {
                object expected;
                bool hasExpect = step.TryGetValue("expect", out expected);
                var pairs = result as List<KeyValuePair<byte[], byte[]>>;
                if (pairs != null)
                {
                    object count, first, last;
                    if (step.TryGetValue("expect_count", out count))
                        Assert.AreEqual(Convert.ToInt32(count), pairs.Count, "number of pairs");
                    if (step.TryGetValue("expect_first", out first))
                        AssertPair((List<object>)first, pairs.First());
                    if (step.TryGetValue("expect_last", out last))
                        AssertPair((List<object>)last, pairs.Last());
                    if (hasExpect)
                    {
                        var want = (List<object>)expected;
                        Assert.AreEqual(want.Count, pairs.Count, "number of pairs");
                        for (int i = 0; i < want.Count; i++) AssertPair((List<object>)want[i], pairs[i]);
                    }
                    return;
                }
                if (!hasExpect) return;
                var stats = result as Stats;
                var verify = result as VerifyReport;
                if (stats != null || verify != null)
                {
                    foreach (var field in (Dictionary<string, object>)expected)
                    {
                        object actual = result.GetType().GetProperty(Pascal(field.Key)).GetValue(result, null);
                        if (field.Value is bool) Assert.AreEqual(field.Value, actual, field.Key);
                        else Assert.AreEqual(Convert.ToUInt64(field.Value), Convert.ToUInt64(actual), field.Key);
                    }
                }
                else if (op == "get" || op == "tx_get")
                {
                    if (expected == null) Assert.IsNull(result, "value");
                    else
                    {
                        Assert.IsNotNull(result, "value");
                        AssertBytes(Bytes(expected), (byte[])result, "value");
                    }
                }
                else if (expected is bool)
                {
                    Assert.AreEqual(expected, result);
                }
                else if (expected is double)
                {
                    Assert.AreEqual(Convert.ToInt64(expected), Convert.ToInt64(result));
                }
                else
                {
                    throw new AssertionException("cannot compare the result of " + op);
                }
            }

            private static string Pascal(string snake)
            {
                return string.Concat(snake.Split('_').Select(w => char.ToUpperInvariant(w[0]) + w.Substring(1)));
            }

            private static void AssertPair(List<object> want, KeyValuePair<byte[], byte[]> got)
            {
                AssertBytes(Bytes(want[0]), got.Key, "key");
                AssertBytes(Bytes(want[1]), got.Value, "value of " + Hex(got.Key));
            }

            private static void AssertBytes(byte[] want, byte[] got, string what)
            {
                if (!want.SequenceEqual(got))
                {
                    throw new AssertionException(what + ": expected " + Hex(want) + ", got " + Hex(got));
                }
            }

            private static string Hex(byte[] bytes)
            {
                if (bytes.Length > 40) return bytes.Length + " bytes starting " + BitConverter.ToString(bytes, 0, 16);
                return "0x" + BitConverter.ToString(bytes).Replace("-", "").ToLowerInvariant();
            }

            internal static byte[] Bytes(object spec)
            {
                var text = spec as string;
                if (text != null) return Encoding.UTF8.GetBytes(text);
                var obj = (Dictionary<string, object>)spec;
                object hex, fill;
                if (obj.TryGetValue("hex", out hex))
                {
                    string h = (string)hex;
                    var bytes = new byte[h.Length / 2];
                    for (int i = 0; i < bytes.Length; i++) bytes[i] = Convert.ToByte(h.Substring(2 * i, 2), 16);
                    return bytes;
                }
                if (obj.TryGetValue("fill", out fill))
                {
                    var bytes = new byte[Convert.ToInt32(obj["len"])];
                    byte b = Convert.ToByte(fill);
                    for (int i = 0; i < bytes.Length; i++) bytes[i] = b;
                    return bytes;
                }
                throw new InvalidDataException("not a byte string: " + Show(spec));
            }

            private static string Str(Dictionary<string, object> step, string field, string otherwise)
            {
                object value;
                return step.TryGetValue(field, out value) && value != null ? (string)value : otherwise;
            }

            private static LightningDbOptions Options(object spec)
            {
                if (spec == null) return null;
                var options = new LightningDbOptions();
                foreach (var field in (Dictionary<string, object>)spec)
                {
                    switch (field.Key)
                    {
                        case "page_size": options.PageSize = Convert.ToInt32(field.Value); break;
                        case "cache_size": options.CacheSize = Convert.ToInt64(field.Value); break;
                        case "sync_mode": options.SyncMode = (SyncMode)Enum.Parse(typeof(SyncMode), (string)field.Value); break;
                        case "read_only": options.ReadOnly = (bool)field.Value; break;
                        case "segment_size": options.SegmentSize = Convert.ToInt64(field.Value); break;
                        case "auto_compact": options.AutoCompact = (bool)field.Value; break;
                        case "compaction_dead_ratio": options.CompactionDeadRatio = Convert.ToDouble(field.Value); break;
                        case "compaction_min_dead_bytes": options.CompactionMinDeadBytes = Convert.ToInt64(field.Value); break;
                        case "normal_sync_interval_ms": options.NormalSyncIntervalMs = Convert.ToInt64(field.Value); break;
                        default: throw new InvalidDataException("unknown config field " + field.Key);
                    }
                }
                return options;
            }

            private static KeyBound Bound(Dictionary<string, object> step, string field)
            {
                object spec;
                if (!step.TryGetValue(field, out spec) || spec == null) return KeyBound.Unbounded;
                var obj = (Dictionary<string, object>)spec;
                object key;
                if (obj.TryGetValue("included", out key)) return KeyBound.Included(Bytes(key));
                return KeyBound.Excluded(Bytes(obj["excluded"]));
            }

            private static bool Flag(Dictionary<string, object> step, string field)
            {
                object value;
                return step.TryGetValue(field, out value) && (bool)value;
            }

            private LightningDb Db(Dictionary<string, object> step)
            {
                return _dbs[Str(step, "db", "main")];
            }

            private Transaction Tx(Dictionary<string, object> step)
            {
                return _txs[(string)step["tx"]];
            }

            private LightningDb OpenDb(string name, string path, LightningDbOptions options, bool create)
            {
                string full = Path.Combine(_root, path);
                LightningDb db = create ? LightningDb.Create(full, options) : LightningDb.Open(full, options);
                _all.Add(db);
                _dbs[name] = db;
                _opened[name] = new KeyValuePair<string, LightningDbOptions>(path, options);
                return db;
            }

            private object ScanResult(Dictionary<string, object> step, Scan scan)
            {
                object cursor;
                if (step.TryGetValue("cursor", out cursor))
                {
                    _all.Add(scan);
                    _cursors[(string)cursor] = scan;
                    return null;
                }
                using (scan)
                {
                    return scan.ToList();
                }
            }

            private object Do(string op, Dictionary<string, object> step)
            {
                object config;
                if (!step.TryGetValue("config", out config)) _scenario.TryGetValue("config", out config);
                switch (op)
                {
                    case "create":
                    case "open":
                        OpenDb(Str(step, "db", "main"), Str(step, "path", "db"), Options(config), op == "create");
                        return null;
                    case "close":
                        Db(step).Close();
                        return null;
                    case "reopen":
                    {
                        string name = Str(step, "db", "main");
                        _dbs[name].Close();
                        var last = _opened[name];
                        OpenDb(name, last.Key, last.Value, false);
                        return null;
                    }
                    case "put": Db(step).Put(Bytes(step["key"]), Bytes(step["value"])); return null;
                    case "get": return Db(step).Get(Bytes(step["key"]));
                    case "delete": return Db(step).Delete(Bytes(step["key"]));
                    case "contains": return Db(step).ContainsKey(Bytes(step["key"]));
                    case "len": return Db(step).Count;
                    case "write":
                    {
                        var batch = new WriteBatch();
                        foreach (Dictionary<string, object> o in (List<object>)step["ops"])
                        {
                            object put;
                            if (o.TryGetValue("put", out put))
                            {
                                var pair = (List<object>)put;
                                batch.Put(Bytes(pair[0]), Bytes(pair[1]));
                            }
                            else
                            {
                                batch.Delete(Bytes(o["delete"]));
                            }
                        }
                        Db(step).Write(batch);
                        return null;
                    }
                    case "fill":
                    {
                        var batch = new WriteBatch();
                        int count = Convert.ToInt32(step["count"]);
                        string kp = (string)step["key_prefix"], vp = (string)step["value_prefix"];
                        for (int i = 0; i < count; i++)
                        {
                            batch.Put(kp + i.ToString("D5"), vp + i.ToString("D5"));
                        }
                        Db(step).Write(batch);
                        return null;
                    }
                    case "scan":
                        return ScanResult(step, Db(step).Scan(Bound(step, "start"), Bound(step, "end"), Flag(step, "reverse")));
                    case "scan_prefix":
                        return ScanResult(step, Db(step).ScanPrefix(Bytes(step["prefix"]), Flag(step, "reverse")));
                    case "tx_scan":
                        return ScanResult(step, Tx(step).Scan(Bound(step, "start"), Bound(step, "end"), Flag(step, "reverse")));
                    case "tx_scan_prefix":
                        return ScanResult(step, Tx(step).ScanPrefix(Bytes(step["prefix"]), Flag(step, "reverse")));
                    case "next":
                    {
                        Scan scan = _cursors[(string)step["cursor"]];
                        int count = Convert.ToInt32(step["count"]);
                        var got = new List<KeyValuePair<byte[], byte[]>>();
                        byte[] key, value;
                        while (got.Count < count && scan.TryNext(out key, out value))
                        {
                            got.Add(new KeyValuePair<byte[], byte[]>(key, value));
                        }
                        return got;
                    }
                    case "begin":
                    {
                        Transaction tx = Db(step).BeginTransaction();
                        _all.Add(tx);
                        _txs[(string)step["tx"]] = tx;
                        return null;
                    }
                    case "tx_get": return Tx(step).Get(Bytes(step["key"]));
                    case "tx_put": Tx(step).Put(Bytes(step["key"]), Bytes(step["value"])); return null;
                    case "tx_delete": Tx(step).Delete(Bytes(step["key"])); return null;
                    case "tx_contains": return Tx(step).ContainsKey(Bytes(step["key"]));
                    case "commit": Tx(step).Commit(); return null;
                    case "rollback": Tx(step).Rollback(); return null;
                    case "checkpoint": Db(step).Checkpoint(); return null;
                    case "compact": Db(step).Compact(); return null;
                    case "verify": return Db(step).Verify();
                    case "stats": return Db(step).GetStats();
                    case "backup": Db(step).Backup(Path.Combine(_root, (string)step["dest"])); return null;
                    default: throw new InvalidDataException("unknown op " + op);
                }
            }
        }
    }
}
