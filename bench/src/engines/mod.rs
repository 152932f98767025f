//! One module per engine: its durable configuration (printed beside the table)
//! and its implementation of `Store`. Every engine but `lightning` is behind the
//! cargo feature of its name, so that a run against one peer builds only that
//! peer.

#[cfg(feature = "fjall")]
pub mod fjall;
pub mod lightning;
#[cfg(feature = "lightning-c")]
pub mod lightning_c;
#[cfg(feature = "lmdb")]
pub mod lmdb;
#[cfg(feature = "redb")]
pub mod redb;
#[cfg(feature = "rocksdb")]
pub mod rocksdb;
#[cfg(feature = "sled")]
pub mod sled;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// Every engine in the order of the table's columns; ours first. Each but
/// `lightning` is also the name of the cargo feature that builds it.
pub const ENGINES: [&str; 8] = [
    "lightning",
    "lightning-c",
    "lmdb",
    "redb",
    "rocksdb",
    "sled",
    "fjall",
    "sqlite",
];

/// Whether each engine is compiled into this binary (a table rather than a
/// match, which clippy would find trivial with every feature on).
const COMPILED: [(&str, bool); 8] = [
    ("lightning", true),
    ("lightning-c", cfg!(feature = "lightning-c")),
    ("lmdb", cfg!(feature = "lmdb")),
    ("redb", cfg!(feature = "redb")),
    ("rocksdb", cfg!(feature = "rocksdb")),
    ("sled", cfg!(feature = "sled")),
    ("fjall", cfg!(feature = "fjall")),
    ("sqlite", cfg!(feature = "sqlite")),
];

/// Whether `engine` (a name from `ENGINES`) is compiled into this binary.
pub fn compiled(engine: &str) -> bool {
    COMPILED.iter().any(|&(e, on)| e == engine && on)
}

/// Lightning DB itself, through whichever interface: the engines whose rows
/// include the checkpoint open and that are not counted as peers.
pub fn is_lightning(engine: &str) -> bool {
    engine == "lightning" || engine == "lightning-c"
}

pub fn title(engine: &str) -> &'static str {
    match engine {
        "lightning" => "Lightning DB",
        "lightning-c" => "Lightning DB (C ABI)",
        "lmdb" => "LMDB",
        "redb" => "redb",
        "rocksdb" => "RocksDB",
        "sled" => "sled",
        "fjall" => "fjall",
        "sqlite" => "SQLite",
        _ => "?",
    }
}

pub fn config(engine: &str) -> &'static str {
    match engine {
        "lightning" => lightning::CONFIG,
        #[cfg(feature = "lightning-c")]
        "lightning-c" => lightning_c::CONFIG,
        #[cfg(feature = "lmdb")]
        "lmdb" => lmdb::CONFIG,
        #[cfg(feature = "redb")]
        "redb" => redb::CONFIG,
        #[cfg(feature = "rocksdb")]
        "rocksdb" => rocksdb::CONFIG,
        #[cfg(feature = "sled")]
        "sled" => sled::CONFIG,
        #[cfg(feature = "fjall")]
        "fjall" => fjall::CONFIG,
        #[cfg(feature = "sqlite")]
        "sqlite" => sqlite::CONFIG,
        _ => "?",
    }
}
