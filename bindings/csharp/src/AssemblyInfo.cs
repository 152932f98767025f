using System.Runtime.CompilerServices;

// The tests count the library's live handles (lightning_db_live_handle_count) to prove
// that scans and databases release their native objects.
[assembly: InternalsVisibleTo("LightningDB.Tests")]
