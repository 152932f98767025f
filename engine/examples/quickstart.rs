//! The README's first command: create a database, write, read, scan, run a
//! transaction, checkpoint and print the statistics.
//!
//! `cargo run --release -p lightning-db --example quickstart [DIR]`

use lightning_db::{Config, Database, KeyRange, WriteBatch};

fn main() -> Result<(), lightning_db::Error> {
    env_logger::init();
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "./quickstart-db".into());
    let db = Database::create(&dir, Config::default())?;
    println!("opened {dir} ({} keys already there)", db.len()?);

    db.put(b"hello", b"world")?;
    let value = db.get(b"hello")?.expect("just written");
    println!("get hello -> {}", String::from_utf8_lossy(&value));

    let mut batch = WriteBatch::new();
    for i in 0..5 {
        batch.put(format!("fruit:{i}"), format!("value {i}"));
    }
    db.write(&batch)?;

    println!("prefix scan fruit:");
    for item in db.prefix(b"fruit:")? {
        let (k, v) = item?;
        println!(
            "  {} = {}",
            String::from_utf8_lossy(&k),
            String::from_utf8_lossy(&v)
        );
    }
    println!("reverse range [fruit:1, fruit:4):");
    for item in db.range(KeyRange::between("fruit:1", "fruit:4"))?.rev() {
        let (k, _) = item?;
        println!("  {}", String::from_utf8_lossy(&k));
    }

    let mut tx = db.begin()?;
    let old = tx.get(b"hello")?;
    tx.put(b"hello", b"transactional world")?;
    tx.delete(b"fruit:0")?;
    tx.commit()?;
    println!(
        "transaction replaced {:?} with {:?}",
        old.map(|v| String::from_utf8_lossy(&v).into_owned()),
        String::from_utf8_lossy(&db.get(b"hello")?.unwrap())
    );

    db.checkpoint()?;
    let report = db.verify()?;
    println!(
        "verify: {} records, clean: {}",
        report.records,
        report.is_clean()
    );
    println!("{:#?}", db.stats()?);
    db.close()?;
    Ok(())
}
