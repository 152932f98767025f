//! One module per engine: its durable configuration (printed beside the table)
//! and its implementation of `Store`.

pub mod fjall;
pub mod lightning;
pub mod lmdb;
pub mod redb;
pub mod rocksdb;
pub mod sled;
pub mod sqlite;

/// Every engine in the order of the table's columns; ours first.
pub const ENGINES: [&str; 7] = [
    "lightning",
    "lmdb",
    "redb",
    "rocksdb",
    "sled",
    "fjall",
    "sqlite",
];

pub fn title(engine: &str) -> &'static str {
    match engine {
        "lightning" => "Lightning DB",
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
        "lmdb" => lmdb::CONFIG,
        "redb" => redb::CONFIG,
        "rocksdb" => rocksdb::CONFIG,
        "sled" => sled::CONFIG,
        "fjall" => fjall::CONFIG,
        "sqlite" => sqlite::CONFIG,
        _ => "?",
    }
}
