using System;
using System.IO;
using LightningDB;

// Compiled by ci/test-csharp against the LightningDB.dll of the installed package only, and
// run with no LD_LIBRARY_PATH: the native library must be found through the package.
public static class Program
{
    public static int Main(string[] args)
    {
        string path = args[0];
        using (var db = LightningDb.Create(path))
        {
            db.Put("hello", "world");
            using (var tx = db.BeginTransaction())
            {
                tx.Put("k", db.GetString("hello"));
                tx.Commit();
            }
            foreach (var kv in db.ScanPrefix("k"))
            {
                Console.WriteLine(System.Text.Encoding.UTF8.GetString(kv.Value));
            }
        }
        Console.WriteLine("LightningDB " + LightningDb.Version + " from the package");
        return 0;
    }
}
