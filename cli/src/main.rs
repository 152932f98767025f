//! `lightning-db`: inspect, verify, back up, dump and load Lightning DB databases,
//! and import from SQLite, over the engine's public Rust API.

mod commands;
mod dumpfile;
mod encoding;
mod failure;
mod progress;
mod sqlite;
mod transfer;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::encoding::Encoding;
use crate::failure::Failure;
use crate::progress::Ui;

const EXAMPLES: &str = "\
Examples:
  lightning-db put ./mydb greeting 'hello world'
  lightning-db get ./mydb greeting
  lightning-db scan ./mydb --prefix user: --limit 10
  lightning-db verify ./mydb
  lightning-db dump ./mydb -o mydb.dump && lightning-db load ./copy mydb.dump
  lightning-db import-sqlite old.db ./mydb --table mytable

Exit codes: 0 success; 1 the command failed (the message says why); 2 bad
arguments. verify: 0 clean, 1 damaged, 2 could not run.";

#[derive(Parser)]
#[command(
    name = "lightning-db",
    version,
    about = "Inspect, verify, back up, dump and load Lightning DB databases, and import from SQLite",
    after_help = EXAMPLES,
    propagate_version = true
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// Keys and values on the command line and on output are hex
    #[arg(long, global = true, conflicts_with = "base64")]
    hex: bool,
    /// Keys and values on the command line and on output are base64
    #[arg(long, global = true)]
    base64: bool,
    /// No progress bars and no summary lines; errors are still printed
    #[arg(short, long, global = true)]
    quiet: bool,
}

impl Global {
    fn encoding(&self) -> Encoding {
        if self.hex {
            Encoding::Hex
        } else if self.base64 {
            Encoding::Base64
        } else {
            Encoding::Text
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Keys, live bytes, segments, disk usage, last commit, checkpoint
    #[command(after_help = "Example:\n  lightning-db stats ./mydb --json")]
    Stats {
        /// The database directory
        db: PathBuf,
        /// One JSON object instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Read every record and check every checksum; exit 0 clean, 1 damaged, 2 could not run
    #[command(
        after_help = "Example:\n  lightning-db verify ./mydb || echo \"damaged or unreadable: $?\""
    )]
    Verify {
        /// The database directory
        db: PathBuf,
    },
    /// Print the value of a key (exit 1 if it is absent)
    #[command(
        after_help = "Examples:\n  lightning-db get ./mydb greeting\n  lightning-db get ./mydb --hex 00ff -o value.bin"
    )]
    Get {
        /// The database directory
        db: PathBuf,
        key: String,
        /// Write the value's exact bytes to this file instead of printing it
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Set a key to a value (creates the database if there is none)
    #[command(
        after_help = "Examples:\n  lightning-db put ./mydb greeting 'hello world'\n  lightning-db put ./mydb photo --value-file photo.jpg\n  echo -n 00ff | lightning-db put ./mydb --hex 01 --value-file -"
    )]
    Put {
        /// The database directory
        db: PathBuf,
        key: String,
        /// The value (or --value-file)
        #[arg(required_unless_present = "value_file", conflicts_with = "value_file")]
        value: Option<String>,
        /// Take the value's raw bytes from this file, or from stdin with `-`
        #[arg(long, value_name = "FILE")]
        value_file: Option<PathBuf>,
    },
    /// Delete a key (exit 1 if it is absent)
    #[command(after_help = "Example:\n  lightning-db delete ./mydb greeting")]
    Delete {
        /// The database directory
        db: PathBuf,
        key: String,
    },
    /// List keys and values in key order, one `KEY<TAB>VALUE` line each
    #[command(
        after_help = "Examples:\n  lightning-db scan ./mydb --prefix user: --keys-only\n  lightning-db scan ./mydb --from a --to m --reverse --limit 5\n\nIn the default text form, tab, newline, backslash, control characters and bytes that\nare not UTF-8 are written as \\t, \\n, \\\\ and \\xHH, so every entry is one line."
    )]
    Scan {
        /// The database directory
        db: PathBuf,
        /// Only keys starting with this
        #[arg(long, conflicts_with_all = ["from", "to"])]
        prefix: Option<String>,
        /// First key (inclusive)
        #[arg(long)]
        from: Option<String>,
        /// End key (exclusive)
        #[arg(long)]
        to: Option<String>,
        /// Largest key first
        #[arg(long)]
        reverse: bool,
        /// At most this many entries
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        /// Print keys only
        #[arg(long)]
        keys_only: bool,
    },
    /// Sync and write a checkpoint of the index, so the next open is fast
    #[command(after_help = "Example:\n  lightning-db checkpoint ./mydb")]
    Checkpoint {
        /// The database directory
        db: PathBuf,
    },
    /// Rewrite live data and drop dead records; prints space before and after
    #[command(after_help = "Example:\n  lightning-db compact ./mydb")]
    Compact {
        /// The database directory
        db: PathBuf,
    },
    /// Copy a consistent snapshot to DEST (must not exist or be empty); works while another process writes
    #[command(after_help = "Example:\n  lightning-db backup ./mydb ./mydb-2026-12-04")]
    Backup {
        /// The database directory
        db: PathBuf,
        /// Where the copy goes: a new or empty directory
        dest: PathBuf,
    },
    /// Write every entry in the db_dump/mdb_dump text format (loads with mdb_load)
    #[command(
        after_help = "Examples:\n  lightning-db dump ./mydb -o mydb.dump\n  mkdir lmdb-env && lightning-db dump ./mydb --mapsize 1073741824 | mdb_load lmdb-env"
    )]
    Dump {
        /// The database directory
        db: PathBuf,
        /// Write to this file instead of stdout
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Printable form (format=print): readable bytes as they are
        #[arg(short, long)]
        printable: bool,
        /// Add a `mapsize=BYTES` header line, which mdb_load uses as the LMDB map
        /// size (LMDB's default of 1 MiB holds only a small database)
        #[arg(long, value_name = "BYTES")]
        mapsize: Option<u64>,
    },
    /// Load a db_dump/mdb_dump text file (ours, mdb_dump's, db_dump's) into DB
    #[command(
        after_help = "Examples:\n  lightning-db load ./copy mydb.dump\n  mdb_dump ./lmdb-env | lightning-db load ./mydb\n\nAll or nothing: into a new database (a path that does not exist, or an empty\ndirectory) the load commits in batches into a directory beside it, moved into place at\nthe end. Into an existing database every entry is one commit (held in memory, at most\n1 GiB) unless --batch-size N commits every N entries; a failure then keeps the\nbatches before it."
    )]
    Load {
        /// The database directory
        db: PathBuf,
        /// The dump; stdin when absent or `-`
        file: Option<PathBuf>,
        /// Commit every N entries (see below)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        batch_size: Option<u64>,
    },
    /// Copy a table (or a query's rows) of a SQLite file into DB, one key and value per row
    #[command(
        name = "import-sqlite",
        after_help = "Examples:\n  lightning-db import-sqlite old.db ./mydb --table mytable\n  lightning-db import-sqlite old.db ./mydb --table users --key-column email --value-column profile\n  lightning-db import-sqlite old.db ./mydb --query \"SELECT 'user:' || id, json_object('name', name) FROM users\"\n\nText and blobs are copied as their bytes, numbers as their decimal text; a NULL key or\nvalue stops the import with its row number. All or nothing, in batches, into a new\ndatabase; into an existing one, one commit unless --batch-size N (as for load)."
    )]
    ImportSqlite {
        /// The SQLite file to read (opened read-only)
        sqlite_file: PathBuf,
        /// The database directory (created if there is none)
        db: PathBuf,
        /// The table to copy
        #[arg(long, required_unless_present = "query", conflicts_with = "query")]
        table: Option<String>,
        /// The column holding the keys
        #[arg(long, default_value = "key", conflicts_with = "query")]
        key_column: String,
        /// The column holding the values
        #[arg(long, default_value = "value", conflicts_with = "query")]
        value_column: String,
        /// A query of two columns, key and value, instead of --table
        #[arg(long)]
        query: Option<String>,
        /// Commit every N rows (as for load)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        batch_size: Option<u64>,
    },
    /// Print a shell completion script
    #[command(
        after_help = "Example:\n  lightning-db completions bash > ~/.local/share/bash-completion/completions/lightning-db"
    )]
    Completions { shell: clap_complete::Shell },
    /// Create a small database in DB and show what the tool does with it
    #[command(
        after_help = "Example:\n  cargo run --release -p lightning-db-cli -- demo ./demo-db"
    )]
    Demo {
        /// The database directory
        db: PathBuf,
    },
}

fn main() -> ExitCode {
    // A bug must still end in one line, not a trace (RUST_BACKTRACE or not).
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "lightning-db: internal error{place}: {}",
            what.replace('\n', " ")
        );
    }));
    let cli = Cli::parse();
    let ui = Ui {
        quiet: cli.global.quiet,
    };
    let enc = cli.global.encoding();
    match run(cli.command, enc, ui) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("lightning-db: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

fn run(command: Command, enc: Encoding, ui: Ui) -> Result<u8, Failure> {
    use commands as c;
    match command {
        Command::Stats { db, json } => c::stats(&db, json),
        Command::Verify { db } => return Ok(c::verify(&db, ui)),
        Command::Get { db, key, output } => c::get(&db, &key, output.as_deref(), enc),
        Command::Put {
            db,
            key,
            value,
            value_file,
        } => c::put(&db, &key, value.as_deref(), value_file.as_deref(), enc),
        Command::Delete { db, key } => c::delete(&db, &key, enc),
        Command::Scan {
            db,
            prefix,
            from,
            to,
            reverse,
            limit,
            keys_only,
        } => c::scan(
            &db,
            c::ScanArgs {
                prefix,
                from,
                to,
                reverse,
                limit,
                keys_only,
            },
            enc,
        ),
        Command::Checkpoint { db } => c::checkpoint(&db, ui),
        Command::Compact { db } => c::compact(&db, ui),
        Command::Backup { db, dest } => c::backup(&db, &dest, ui),
        Command::Dump {
            db,
            output,
            printable,
            mapsize,
        } => transfer::dump(&db, output.as_deref(), printable, mapsize, ui),
        Command::Load {
            db,
            file,
            batch_size,
        } => transfer::load(&db, file.as_deref(), batch_size, ui),
        Command::ImportSqlite {
            sqlite_file,
            db,
            table,
            key_column,
            value_column,
            query,
            batch_size,
        } => sqlite::import(
            &sqlite_file,
            &db,
            sqlite::Source {
                table,
                key_column,
                value_column,
                query,
            },
            batch_size,
            ui,
        ),
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics on a failed write.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "lightning-db", &mut script);
            c::write_stdout(&script, "completions")
        }
        Command::Demo { db } => c::demo(&db),
    }
    .map(|()| 0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
