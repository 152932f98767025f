//! import-sqlite from a real SQLite file the test makes.

mod common;

use common::*;

fn make_sqlite(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE mytable (key TEXT PRIMARY KEY, value TEXT);
         CREATE TABLE \"odd name\" (\"the key\" BLOB, n INTEGER, r REAL);
         CREATE TABLE nulls (key TEXT, value TEXT);
         INSERT INTO nulls VALUES ('a', 'x'), ('b', NULL);",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..5000 {
        tx.execute(
            "INSERT INTO mytable VALUES (?1, ?2)",
            (format!("user:{i:05}"), format!("{{\"id\":{i}}}")),
        )
        .unwrap();
    }
    tx.execute(
        "INSERT INTO \"odd name\" VALUES (?1, 42, 1.5)",
        (vec![0u8, 0xff],),
    )
    .unwrap();
    tx.commit().unwrap();
}

#[test]
fn the_guides_migration_is_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("old.db");
    make_sqlite(&sqlite);
    let db = dir.path().join("new.ldb");
    let o = run(&["import-sqlite", p(&sqlite), p(&db), "--table", "mytable"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "imported 5000 rows from {} into {} in 1 commit(s)\n",
            p(&sqlite),
            p(&db)
        )
    );
    assert_eq!(stderr(&o), "", "no progress output when not on a terminal");
    let all = read_all(&db);
    assert_eq!(all.len(), 5000);
    assert_eq!(all[42], (b"user:00042".to_vec(), b"{\"id\":42}".to_vec()));
    // The SQLite file is read, not changed.
    let conn = rusqlite::Connection::open(&sqlite).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM mytable", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 5000);
}

#[test]
fn columns_queries_blobs_and_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("old.db");
    make_sqlite(&sqlite);
    let db = dir.path().join("db");
    let o = run(&[
        "import-sqlite",
        p(&sqlite),
        p(&db),
        "--table",
        "odd name",
        "--key-column",
        "the key",
        "--value-column",
        "n",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_all(&db), vec![(vec![0u8, 0xff], b"42".to_vec())]);

    let db2 = dir.path().join("db2");
    let o = run(&[
        "import-sqlite",
        p(&sqlite),
        p(&db2),
        "--batch-size",
        "1000",
        "--query",
        "SELECT 'id:' || substr(key, 6), r FROM mytable, \"odd name\" WHERE key < 'user:00003'",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).ends_with("in 1 commit(s)\n"));
    cmd()
        .args(["scan", p(&db2)])
        .assert()
        .success()
        .stdout("id:00000\t1.5\nid:00001\t1.5\nid:00002\t1.5\n");
}

#[test]
fn sqlite_errors_are_one_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("old.db");
    make_sqlite(&sqlite);
    let db = dir.path().join("db");
    let (s, d) = (p(&sqlite), p(&db));
    assert_fails(
        &run(&["import-sqlite", s, d, "--table", "nulls"]),
        1,
        "row 2: the value is NULL; nothing was written",
    );
    if db.exists() {
        assert!(read_all(&db).is_empty());
    }
    assert_fails(
        &run(&["import-sqlite", s, d, "--table", "missing"]),
        1,
        "no such table: missing",
    );
    assert_fails(
        &run(&[
            "import-sqlite",
            s,
            d,
            "--table",
            "mytable",
            "--key-column",
            "nope",
        ]),
        1,
        "no such column",
    );
    assert_fails(
        &run(&["import-sqlite", s, d, "--query", "SELECT key FROM mytable"]),
        2,
        "must return two",
    );
    let absent = dir.path().join("absent.db");
    assert_fails(
        &run(&["import-sqlite", p(&absent), d, "--table", "t"]),
        1,
        "unable to open database file",
    );
    assert!(
        !absent.exists(),
        "a missing SQLite file must not be created"
    );
    let not_sqlite = dir.path().join("text.db");
    std::fs::write(
        &not_sqlite,
        "this is not a database, just text that is long enough to look like a header",
    )
    .unwrap();
    assert_fails(
        &run(&["import-sqlite", p(&not_sqlite), d, "--table", "t"]),
        1,
        "file is not a database",
    );
    // --table is required unless --query is given, and they exclude each other.
    assert_eq!(run(&["import-sqlite", s, d]).status.code(), Some(2));
    assert_eq!(
        run(&[
            "import-sqlite",
            s,
            d,
            "--table",
            "t",
            "--query",
            "SELECT 1, 2"
        ])
        .status
        .code(),
        Some(2)
    );
}
