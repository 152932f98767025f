//! dump and load: round trips, malformed input, batches, and both directions
//! through LMDB's own mdb_load and mdb_dump (Debian's lmdb-utils,
//! ci/install-deps-cli).

mod common;

use std::path::Path;

use common::*;

/// Binary keys (every byte value, a 0xff run, a key at the size limit), empty
/// values, 1 MiB values and plain text.
fn awkward_entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut entries = vec![
        (vec![0u8], vec![]),
        (vec![0xff; 40], b"ff key".to_vec()),
        ((0..=255u8).collect(), (0..=255u8).rev().collect()),
        (
            b"text key".to_vec(),
            b"text value with \\ backslash\n and newline".to_vec(),
        ),
        (b"empty".to_vec(), vec![]),
        (
            vec![b'k'; lightning_db::MAX_KEY_SIZE],
            b"longest key".to_vec(),
        ),
    ];
    for i in 0..3u8 {
        let big: Vec<u8> = (0..1 << 20).map(|j: u32| (j as u8) ^ i).collect();
        entries.push((vec![b'b', b'i', b'g', i], big));
    }
    for i in 0..500u32 {
        entries.push((format!("n{i:05}").into_bytes(), i.to_le_bytes().to_vec()));
    }
    entries.sort();
    entries
}

fn dump_to(db: &Path, file: &Path, extra: &[&str]) {
    let mut args = vec!["dump", p(db), "-o", p(file)];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn dump_then_load_round_trips_binary_keys_empty_and_large_values() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    let entries = awkward_entries();
    make_db(&a, &entries);
    for (form, extra) in [("hex", &[][..]), ("printable", &["-p"][..])] {
        let dump = dir.path().join(format!("a.{form}.dump"));
        dump_to(&a, &dump, extra);
        let target = if form == "hex" { &b } else { &c };
        let o = run(&["load", p(target), p(&dump)]);
        assert!(o.status.success(), "{form}: {}", stderr(&o));
        assert_eq!(
            stdout(&o),
            format!(
                "loaded {} keys from {} into {} in 1 commit(s)\n",
                entries.len(),
                p(&dump),
                p(target)
            )
        );
        assert!(read_all(target) == entries, "{form} round trip differs");
        // And the dump of the copy is the same file.
        let again = dir.path().join(format!("again.{form}.dump"));
        dump_to(target, &again, extra);
        assert!(std::fs::read(&dump).unwrap() == std::fs::read(&again).unwrap());
    }
    // The hex form is exactly the format: header, one space before each line.
    let text = std::fs::read_to_string(dir.path().join("a.hex.dump")).unwrap();
    assert!(
        text.starts_with("VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 00\n \n"),
        "{}",
        &text[..80]
    );
    assert!(text.ends_with("DATA=END\n"));
    let printable = std::fs::read_to_string(dir.path().join("a.printable.dump")).unwrap();
    assert!(printable.contains("\n text key\n text value with \\\\ backslash\\0a and newline\n"));
}

#[test]
fn dump_to_stdout_and_load_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    make_db(
        &a,
        &[(b"k".to_vec(), b"v".to_vec()), (b"k2".to_vec(), vec![])],
    );
    let dump = run(&["dump", p(&a)]);
    assert!(dump.status.success());
    assert_eq!(
        stdout(&dump),
        "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6b\n 76\n 6b32\n \nDATA=END\n"
    );
    // No progress characters when stderr is not a terminal.
    assert_eq!(stderr(&dump), "");
    let o = cmd()
        .args(["load", p(&b)])
        .write_stdin(dump.stdout.clone())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    assert_eq!(read_all(&b), read_all(&a));
    // --quiet: nothing on stdout either.
    let o = cmd()
        .args(["load", "-q", p(&b), "-"])
        .write_stdin(dump.stdout)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("", ""));
}

#[test]
fn a_malformed_dump_is_refused_with_its_line_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        ("hello\n", "line 1: not a db_dump/mdb_dump file"),
        ("", "empty input"),
        (
            "VERSION=3\nformat=bytevalue\n",
            "line 2: file ends inside the header",
        ),
        (
            "VERSION=3\nformat=base85\nHEADER=END\nDATA=END\n",
            "line 2: unknown format",
        ),
        (
            "VERSION=3\nduplicates=1\nHEADER=END\nDATA=END\n",
            "line 2: a database with duplicate keys",
        ),
        (
            "VERSION=3\nHEADER=END\n 6b\n 76\n 6b32\n 7g\nDATA=END\n",
            "line 6: bad hex",
        ),
        (
            "VERSION=3\nHEADER=END\n 6b\n 76\n 6b3\n 76\nDATA=END\n",
            "line 5: odd number of hex digits",
        ),
        (
            "VERSION=3\nHEADER=END\n 6b\n 76\n6b32\n 76\nDATA=END\n",
            "line 5: expected a data line starting with a space",
        ),
        (
            "VERSION=3\nHEADER=END\n 6b\n 76\n 6b32\nDATA=END\n",
            "line 6: a key without a value",
        ),
        (
            "VERSION=3\nHEADER=END\n 6b\n 76\n 6b32\n 76\n",
            "line 6: file ends before DATA=END",
        ),
        (
            "VERSION=3\nHEADER=END\n 6b\n 76\n \n 76\nDATA=END\n",
            "line 5: empty key",
        ),
        (
            "VERSION=3\nformat=print\nHEADER=END\n a\\\n v\nDATA=END\n",
            "line 4: backslash at column 3",
        ),
        (
            "VERSION=3\nHEADER=END\n 6b\n 76\nDATA=END\nVERSION=3\n",
            "line 6: more than one database",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let db = dir.path().join(format!("db{i}"));
        let file = dir.path().join(format!("bad{i}.dump"));
        std::fs::write(&file, text).unwrap();
        assert_fails(&run(&["load", p(&db), p(&file)]), 1, needle);
        // All or nothing: the good entries before the bad line are not there.
        if db.exists() {
            assert!(read_all(&db).is_empty(), "case {i} wrote entries");
        }
    }
    assert_fails(
        &run(&[
            "load",
            p(&dir.path().join("x")),
            p(&dir.path().join("absent.dump")),
        ]),
        1,
        "No such file",
    );
}

/// The entries in the directory `dir` other than `keep`, to catch a staging
/// directory left behind.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

#[test]
fn a_new_database_loads_in_batches_and_still_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("VERSION=3\nformat=bytevalue\nHEADER=END\n");
    for i in 0..10u8 {
        text += &format!(" 6b{i:02x}\n 76\n");
    }
    let good = dir.path().join("good.dump");
    std::fs::write(&good, format!("{text}DATA=END\n")).unwrap();
    let bad = dir.path().join("bad.dump");
    std::fs::write(&bad, format!("{text} zz\n 76\nDATA=END\n")).unwrap();

    // A new database: batches of 4 into a directory beside it, moved into place.
    let db = dir.path().join("db");
    let o = run(&["load", p(&db), p(&good), "--batch-size", "4"]);
    assert!(o.status.success());
    assert!(stdout(&o).ends_with("in 3 commit(s)\n"), "{}", stdout(&o));
    assert_eq!(read_all(&db).len(), 10);
    // A bad line after two committed batches: no database and no staging left.
    let fresh = dir.path().join("fresh");
    let o = run(&["load", p(&fresh), p(&bad), "--batch-size", "4"]);
    assert_fails(&o, 1, "line 24: bad hex");
    assert!(stderr(&o).contains("nothing was written"), "{}", stderr(&o));
    assert!(!fresh.exists());
    assert_eq!(
        leftovers(dir.path(), &["good.dump", "bad.dump", "db"]),
        Vec::<String>::new()
    );
    // An existing empty directory counts as new.
    std::fs::create_dir(&fresh).unwrap();
    cmd()
        .args(["load", "-q", p(&fresh), p(&good)])
        .assert()
        .success();
    assert_eq!(read_all(&fresh).len(), 10);
}

#[test]
fn batch_size_into_an_existing_database_keeps_the_batches_before_a_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("VERSION=3\nformat=bytevalue\nHEADER=END\n");
    for i in 0..10u8 {
        text += &format!(" 6b{i:02x}\n 76\n");
    }
    let bad = dir.path().join("bad.dump");
    std::fs::write(&bad, format!("{text} zz\n 76\nDATA=END\n")).unwrap();
    let db = dir.path().join("db");
    make_db(&db, &[(b"old".to_vec(), b"kept".to_vec())]);
    // Without --batch-size: one commit, so nothing of it lands.
    assert_fails(&run(&["load", p(&db), p(&bad)]), 1, "nothing was written");
    assert_eq!(read_all(&db).len(), 1);
    let o = run(&["load", p(&db), p(&bad), "--batch-size", "4"]);
    assert_fails(&o, 1, "line 24: bad hex");
    assert!(
        stderr(&o).contains("the 8 entries of the 2 batches before it stay committed"),
        "{}",
        stderr(&o)
    );
    assert_eq!(read_all(&db).len(), 1 + 8);
    let o = run(&["load", p(&db), p(&bad), "--batch-size", "0"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_full_disk_while_dumping_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let entries: Vec<_> = (0..20_000u32)
        .map(|i| (format!("k{i}").into_bytes(), vec![7u8; 100]))
        .collect();
    make_db(&db, &entries);
    // /dev/full fails every write with ENOSPC, as a full disk does.
    let o = run(&["dump", p(&db), "-o", "/dev/full"]);
    assert_fails(&o, 1, "No space left on device");
    assert!(stderr(&o).contains("incomplete"));
    let o = std::process::Command::new(BIN)
        .args(["dump", p(&db)])
        .stdout(
            std::fs::File::options()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .output()
        .unwrap();
    assert_fails(&o, 1, "No space left on device");
}

fn lmdb_tool(name: &str) -> std::process::Command {
    let path = Path::new("/usr/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run ci/install-deps-cli (Debian package lmdb-utils)",
        path.display()
    );
    std::process::Command::new(path)
}

/// Loads `dump` into a new LMDB environment with LMDB's own mdb_load.
fn mdb_load(dump: &Path, env: &Path) {
    std::fs::create_dir(env).unwrap();
    let o = lmdb_tool("mdb_load")
        .arg("-f")
        .arg(dump)
        .arg(env)
        .output()
        .unwrap();
    assert!(o.status.success(), "mdb_load: {}", stderr(&o));
}

/// LMDB's own mdb_dump of `env`, loaded here into `db`.
fn load_mdb_dump(env: &Path, printable: bool, db: &Path) {
    let mut mdb_dump = lmdb_tool("mdb_dump");
    if printable {
        mdb_dump.arg("-p");
    }
    let text = mdb_dump.arg(env).output().unwrap();
    assert!(text.status.success(), "mdb_dump: {}", stderr(&text));
    // LMDB's header has lines of its own (mapsize, db_pagesize, ...).
    assert!(String::from_utf8_lossy(&text.stdout).contains("\ndb_pagesize="));
    let o = cmd()
        .args(["load", p(db)])
        .write_stdin(text.stdout)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "load of mdb_dump output: {}",
        stderr(&o)
    );
}

#[test]
fn our_dump_loads_into_lmdb_and_lmdbs_dump_loads_here() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = awkward_entries();
    // LMDB's keys are at most 511 bytes (its default build).
    entries.retain(|(k, _)| k.len() <= 511);
    // The printable form (-p) without backslash bytes: LMDB 0.9.24 gets those
    // wrong both ways. Its mdb_dump -p writes a backslash byte undoubled, and its
    // mdb_load turns an escaped backslash that follows another escape into a
    // stale byte (`\00\\` loads as 00 30). A backslash as Berkeley DB's
    // db_dump -p and this dump write it (`\\`) is right; LMDB only misreads it.
    // The hex form, which both tools write by default, carries every byte.
    let plain: Vec<_> = entries
        .iter()
        .filter(|(k, v)| !k.contains(&b'\\') && !v.contains(&b'\\'))
        .cloned()
        .collect();
    assert!(
        plain.len() + 2 <= entries.len(),
        "the backslash entries are left out only here"
    );

    for (form, set) in [("hex", &entries), ("printable", &plain)] {
        let printable = form == "printable";
        let ours = dir.path().join(format!("ours-{form}"));
        make_db(&ours, set);
        // Ours -> LMDB's mdb_load (the map must hold 3 MiB of values).
        let dump = dir.path().join(format!("ours.{form}.dump"));
        let mut args = vec!["--mapsize", "67108864"];
        if printable {
            args.push("-p");
        }
        dump_to(&ours, &dump, &args);
        let env = dir.path().join(format!("lmdb-{form}"));
        mdb_load(&dump, &env);
        // LMDB's mdb_dump, in the same form -> ours: every entry comes back.
        let back = dir.path().join(format!("back-{form}"));
        load_mdb_dump(&env, printable, &back);
        assert!(
            read_all(&back) == *set,
            "{form}: round trip through LMDB differs"
        );
    }
}
