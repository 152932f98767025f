using System.Runtime.CompilerServices;

// The tests count the library's live handles (lightning_db_live_handle_count) to prove
// that scans and databases release their native objects.
[assembly: InternalsVisibleTo("LightningDB.Tests")]

// The benchmark times the bare lending get (NativeMethods.lightning_db_get_into on the
// database's own handle) beside LightningDb.Get, to show what the C# layer adds.
[assembly: InternalsVisibleTo("Bench")]
