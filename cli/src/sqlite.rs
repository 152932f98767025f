//! `import-sqlite`: the integration guide's SQLite migration as one command.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::failure::{Failure, Outcome};
use crate::progress::Ui;
use crate::transfer::Loader;

pub struct Source {
    pub table: Option<String>,
    pub key_column: String,
    pub value_column: String,
    pub query: Option<String>,
}

/// An SQL identifier, quoted so any table or column name works as written.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The bytes a column stores: text and blobs as they are, numbers as their
/// decimal text (what `sqlite3` prints and the guide's `str.encode()` gives).
fn bytes_of(v: ValueRef<'_>) -> Option<std::borrow::Cow<'_, [u8]>> {
    use std::borrow::Cow;
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(Cow::Owned(i.to_string().into_bytes())),
        ValueRef::Real(f) => Some(Cow::Owned(f.to_string().into_bytes())),
        ValueRef::Text(t) => Some(Cow::Borrowed(t)),
        ValueRef::Blob(b) => Some(Cow::Borrowed(b)),
    }
}

pub fn import(
    sqlite_file: &Path,
    db_path: &Path,
    source: Source,
    batch_size: Option<u64>,
    ui: Ui,
) -> Outcome<()> {
    let name = sqlite_file.display().to_string();
    // Read-only: an import never changes the SQLite file, and a missing file is an
    // error rather than a new empty database.
    let conn = Connection::open_with_flags(
        sqlite_file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Failure::new(format!("open {name}: {e}")))?;
    let sql = match (&source.query, &source.table) {
        (Some(q), _) => q.clone(),
        (None, Some(t)) => {
            // SQLite reads a double-quoted name that matches no column as a string
            // literal, so a mistyped column would import that text as every key;
            // check the names against the table's columns first.
            let all = conn
                .prepare(&format!("SELECT * FROM {}", ident(t)))
                .map_err(|e| Failure::new(format!("{name}: {e}")))?;
            let columns: Vec<String> = all.column_names().map(|c| c.to_string()).collect();
            for wanted in [&source.key_column, &source.value_column] {
                if !columns.iter().any(|c| c.eq_ignore_ascii_case(wanted)) {
                    return Err(Failure::new(format!(
                        "{name}: no such column: {wanted} in table {t} (its columns: {})",
                        columns.join(", ")
                    )));
                }
            }
            format!(
                "SELECT {}, {} FROM {}",
                ident(&source.key_column),
                ident(&source.value_column),
                ident(t)
            )
        }
        (None, None) => return Err(Failure::usage("give --table or --query")),
    };
    let sql_err = |e: rusqlite::Error| Failure::new(format!("{name}: {e} (in: {sql})"));
    let mut stmt = conn.prepare(&sql).map_err(sql_err)?;
    if stmt.column_count() != 2 {
        return Err(Failure::usage(format!(
            "{name}: the query returns {} columns; it must return two, the key and the value",
            stmt.column_count()
        )));
    }
    // A count first, for the bar; SQLite answers it from the table's b-tree.
    let total: i64 = conn
        .query_row(&format!("SELECT count(*) FROM ({sql})"), [], |r| r.get(0))
        .map_err(sql_err)?;
    let total = total.max(0) as u64;
    let mut loader = Loader::open(db_path, batch_size)?;
    let bar = ui.items(total, "import", "rows");
    let mut rows = stmt.query([]).map_err(sql_err)?;
    let mut row_no = 0u64;
    while let Some(row) = rows.next().map_err(|e| loader.explain(sql_err(e)))? {
        row_no += 1;
        let place = || format!("{name}: row {row_no}");
        let column = |i: usize, what: &str| -> Outcome<_> {
            let v = row.get_ref(i).map_err(sql_err)?;
            bytes_of(v).ok_or_else(|| Failure::new(format!("{}: the {what} is NULL", place())))
        };
        let step = column(0, "key").and_then(|key| {
            let value = column(1, "value")?;
            loader.add(&key, &value, place)
        });
        step.map_err(|f| loader.explain(f))?;
        if row_no % 1024 == 0 {
            bar.set_position(row_no);
        }
    }
    bar.set_message("committing");
    let (entries, commits) = loader.finish()?;
    bar.finish_and_clear();
    ui.say(format!(
        "imported {entries} rows from {name} into {} in {commits} commit(s)",
        db_path.display()
    ));
    Ok(())
}
