using System;
using System.Text;
using LightningDB;

/// <summary>The second process of the tests: opens a database and reports what it sees or
/// the error it got, so that the tests can check what another process is allowed.</summary>
public static class Reader
{
    public static int Main(string[] args)
    {
        string mode = args[0], path = args[1], key = args[2];
        try
        {
            var options = new LightningDbOptions { ReadOnly = mode == "read" };
            using (var db = LightningDb.Open(path, options))
            {
                if (mode == "write")
                {
                    db.Put(key, "from the second process");
                }
                Console.WriteLine("value:" + (db.GetString(key) ?? "<none>"));
            }
            return 0;
        }
        catch (LightningDbException e)
        {
            Console.WriteLine("error:" + e.Code);
            return 3;
        }
    }
}
